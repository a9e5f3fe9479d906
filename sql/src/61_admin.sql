/* sql/src/61_admin.sql -- the admin's view: the audit trail, users */

--
-- The audit log, complete: the tables of sessions, account tokens, keys,
-- the outbox and Stripe events are audited too (their secrets left out),
-- and a change of a secret alone is logged by name (workon.audit_row)
--
CREATE TRIGGER refresh_tokens_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.refresh_tokens
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refresh_tokens'))
	EXECUTE FUNCTION workon.audit_row('token_hash');

CREATE TRIGGER account_tokens_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.account_tokens
	FOR EACH ROW WHEN (NOT workon.restoring('workon.account_tokens'))
	EXECUTE FUNCTION workon.audit_row('token_hash');

CREATE TRIGGER outbox_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.outbox
	FOR EACH ROW WHEN (NOT workon.restoring('workon.outbox'))
	EXECUTE FUNCTION workon.audit_row('params');

CREATE TRIGGER stripe_events_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.stripe_events
	FOR EACH ROW WHEN (NOT workon.restoring('workon.stripe_events'))
	EXECUTE FUNCTION workon.audit_row('object');

CREATE TRIGGER secrets_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.secrets
	FOR EACH ROW WHEN (NOT workon.restoring('workon.secrets'))
	EXECUTE FUNCTION workon.audit_row('value');

CREATE TRIGGER jwt_keys_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.jwt_keys
	FOR EACH ROW WHEN (NOT workon.restoring('workon.jwt_keys'))
	EXECUTE FUNCTION workon.audit_row('secret');

CREATE TRIGGER signed_url_keys_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.signed_url_keys
	FOR EACH ROW WHEN (NOT workon.restoring('workon.signed_url_keys'))
	EXECUTE FUNCTION workon.audit_row('key');

CREATE TRIGGER stripe_webhook_secrets_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.stripe_webhook_secrets
	FOR EACH ROW WHEN (NOT workon.restoring('workon.stripe_webhook_secrets'))
	EXECUTE FUNCTION workon.audit_row('secret');

-- the filters of GET /api/v1/admin/audit, newest first
CREATE INDEX audit_log_entity_id_idx ON workon.audit_log (entity_id, at DESC, id DESC);
CREATE INDEX audit_log_actor_id_idx ON workon.audit_log (actor_id, at DESC, id DESC);
CREATE INDEX audit_log_entity_idx ON workon.audit_log (entity, at DESC, id DESC);

--
-- GET /api/v1/admin/audit
--
CREATE FUNCTION workon.audit_cursor_id(id bigint)
RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT pg_catalog.lpad(pg_catalog.to_hex($1), 32, '0')::uuid
$$;

COMMENT ON FUNCTION workon.audit_cursor_id(bigint) IS
'An audit row''s id as the uuid part of a list cursor (workon.cursor_encode), and back with workon.audit_cursor_row';

CREATE FUNCTION workon.audit_cursor_row(id uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT ('x' || pg_catalog.right(pg_catalog.replace($1::text, '-', ''), 16))::bit(64)::bigint
$$;

COMMENT ON FUNCTION workon.audit_cursor_row(uuid) IS
'The audit row id a list cursor''s uuid part stands for (workon.audit_cursor_id)';

CREATE FUNCTION workon.audit_times(entity text, data jsonb)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN pg_catalog.jsonb_typeof($2) = 'object' THEN
		COALESCE((SELECT pg_catalog.jsonb_object_agg(e.key,
					CASE WHEN e.key = ANY (c.cols) AND pg_catalog.jsonb_typeof(e.value) = 'string'
							  AND (e.value #>> '{}') ~ '^\d{4}-'
						 THEN pg_catalog.to_jsonb(pg_catalog.to_char(
								  (e.value #>> '{}')::timestamptz AT TIME ZONE 'UTC',
								  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
						 ELSE e.value END)
					FROM pg_catalog.jsonb_each($2) AS e,
						 (SELECT pg_catalog.array_agg(a.attname::text) AS cols
							FROM pg_catalog.pg_attribute AS a
						   WHERE a.attrelid = pg_catalog.to_regclass('workon.' || pg_catalog.quote_ident($1))
							 AND a.atttypid = 'pg_catalog.timestamptz'::pg_catalog.regtype
							 AND a.attnum > 0 AND NOT a.attisdropped) AS c), '{}')
		ELSE $2 END
$$;

COMMENT ON FUNCTION workon.audit_times(text, jsonb) IS
'An audit row''s copy of a row of table workon.<entity> with the values of its timestamptz columns in the API''s one form of time (RFC 3339, UTC, six fractional digits, Z), as workon.json_build writes them; the trigger stores them as to_jsonb does (the session''s offset, varying digits)';

CREATE FUNCTION workon.audit_json(a workon.audit_log)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', a.id::text,
		'at', a.at,
		'actor_id', a.actor_id,
		'action', a.action,
		'entity', a.entity,
		'entity_id', a.entity_id,
		'changed', COALESCE(a.changed, '{}'),
		'before', workon.audit_times(a.entity, a.before),
		'after', workon.audit_times(a.entity, a.after))
$$;

COMMENT ON FUNCTION workon.audit_json(workon.audit_log) IS
'The API representation of an audit row: {"id" (a string), "at", "actor_id" (null: a SQL caller or the front end without a user), "action" (insert, update, delete; seed, revoke), "entity" (the table), "entity_id", "changed" (the names of the fields that changed, secrets included by name), "before", "after" (the row without its secrets)}';

CREATE FUNCTION workon.admin_audit(actor uuid DEFAULT NULL, entity text DEFAULT NULL,
								   entity_id text DEFAULT NULL, action text DEFAULT NULL,
								   "from" timestamptz DEFAULT NULL, "to" timestamptz DEFAULT NULL,
								   "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			record;
	v_after_id	bigint;
	v_page		json;
BEGIN
	PERFORM workon.require_admin();
	IF admin_audit.action !~ '^[a-z_]{1,40}$' THEN
		RAISE EXCEPTION 'action must be an action name such as insert, update, delete'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'action';
	END IF;
	IF NOT pg_catalog.isfinite(admin_audit."from") THEN
		RAISE EXCEPTION 'from must be a finite time'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'from';
	END IF;
	IF NOT pg_catalog.isfinite(admin_audit."to") OR admin_audit."to" <= admin_audit."from" THEN
		RAISE EXCEPTION 'to must be a finite time after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	SELECT * INTO v FROM workon.list_bounds(admin_audit."limit", admin_audit.cursor);
	v_after_id := CASE WHEN v.after_ts = 'infinity' THEN 9223372036854775807
					   ELSE workon.audit_cursor_row(v.after_id) END;

	SELECT workon.list_page(pg_catalog.array_agg(workon.audit_json(p.a) ORDER BY p.at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.at, workon.audit_cursor_id(p.id))
												 ORDER BY p.at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT a, a.at, a.id
			  FROM workon.audit_log AS a
			 WHERE (admin_audit.actor IS NULL OR a.actor_id = admin_audit.actor)
			   AND (admin_audit.entity IS NULL OR a.entity = admin_audit.entity)
			   AND (admin_audit.entity_id IS NULL OR a.entity_id = admin_audit.entity_id)
			   AND (admin_audit.action IS NULL OR a.action = admin_audit.action)
			   AND (admin_audit."from" IS NULL OR a.at >= admin_audit."from")
			   AND (admin_audit."to" IS NULL OR a.at < admin_audit."to")
			   AND (a.at, a.id) < (v.after_ts, v_after_id)
			 ORDER BY a.at DESC, a.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_audit(uuid, text, text, text, timestamptz, timestamptz, integer, text) IS
'GET /api/v1/admin/audit?actor=&entity=&entity_id=&action=&from=&to= (admins): the audit log, newest first, as {"data": [...], "next_cursor": ...} of workon.audit_json rows; actor a user id, entity a table name (users, spaces, bookings, payments, refunds, ...), action insert, update, delete (or seed, revoke: rows the functions that seed keys and revoke sessions write), [from, to) a time window; limit 1..100 (default 20)';

--
-- GET /api/v1/admin/users, GET /api/v1/admin/users/{id}
--
CREATE INDEX users_created_at_id_idx ON workon.users (created_at DESC, id DESC);

CREATE FUNCTION workon.admin_user_json(u workon.users)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_trusted(pg_catalog.rtrim(workon.user_json(u.id)::text, '}')
							   || ',"disabled":' || u.disabled::text || '}')
$$;

COMMENT ON FUNCTION workon.admin_user_json(workon.users) IS
'A user as admins see it: workon.user_json with disabled';

CREATE FUNCTION workon.admin_users_list(q text DEFAULT NULL, role text DEFAULT NULL,
										"limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_q			text := NULLIF(pg_catalog.btrim(admin_users_list.q), '');
	v_pattern	text;
	v			record;
	v_page		json;
BEGIN
	PERFORM workon.require_admin();
	IF admin_users_list.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF pg_catalog.length(v_q) > 200 THEN
		RAISE EXCEPTION 'q must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'q';
	END IF;
	-- a substring, case-insensitive; LIKE's own characters match themselves
	v_pattern := '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
					 pg_catalog.lower(v_q), '\', '\\'), '%', '\%'), '_', '\_') || '%';
	SELECT * INTO v FROM workon.list_bounds(admin_users_list."limit", admin_users_list.cursor);

	SELECT workon.list_page(pg_catalog.array_agg(workon.admin_user_json(p.u) ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT u, u.created_at, u.id
			  FROM workon.users AS u
			 WHERE (v_q IS NULL OR pg_catalog.lower(u.email) LIKE v_pattern
					OR pg_catalog.lower(u.name) LIKE v_pattern)
			   AND (admin_users_list.role IS NULL OR u.role = admin_users_list.role)
			   AND (u.created_at, u.id) < (v.after_ts, v.after_id)
			 ORDER BY u.created_at DESC, u.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_users_list(text, text, integer, text) IS
'GET /api/v1/admin/users?q=&role= (admins): users, newest first, as {"data": [...], "next_cursor": ...}, each with disabled; q a case-insensitive part of the e-mail address or the name, role member, host or admin; limit 1..100 (default 20)';

CREATE FUNCTION workon.admin_user_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
BEGIN
	PERFORM workon.require_admin();
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = admin_user_get.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	RETURN workon.json_trusted(pg_catalog.rtrim(workon.admin_user_json(v_user)::text, '}')
		|| ',"bookings":' || (
			SELECT workon.jsonb_compact(workon.booking_counts(pg_catalog.array_agg(workon.booking_status(b))))
			  FROM workon.bookings AS b
			 WHERE b.user_id = v_user.id)
		|| ',"spending":' || (
			SELECT COALESCE(pg_catalog.json_agg(workon.json_build(
						'currency', t.currency, 'paid_cents', t.paid, 'refunded_cents', t.refunded,
						'net_cents', t.paid - t.refunded) ORDER BY t.currency), '[]')::text
			  FROM (SELECT d.currency, pg_catalog.sum(d.paid) AS paid, pg_catalog.sum(d.refunded) AS refunded
					  FROM (SELECT COALESCE(p.received_currency, p.currency) AS currency,
								   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded
							  FROM workon.payments AS p
							 WHERE p.user_id = v_user.id AND p.status = 'succeeded'
							UNION ALL
							SELECT r.currency, 0, r.amount_cents
							  FROM workon.refunds AS r
							  JOIN workon.payments AS p ON p.id = r.payment_id
							 WHERE p.user_id = v_user.id AND r.status = 'succeeded') AS d
					 GROUP BY d.currency) AS t)
		|| ',"spaces":' || (SELECT pg_catalog.count(*) FROM workon.spaces AS s WHERE s.host_id = v_user.id)::text
		|| '}');
END
$$;

COMMENT ON FUNCTION workon.admin_user_get(uuid) IS
'GET /api/v1/admin/users/{id} (admins): the user with disabled, "bookings": {"total", "by_status": {status: count}} (theirs as a member), "spending": [{"currency", "paid_cents", "refunded_cents", "net_cents"}] (payments that succeeded, refunds that succeeded) and "spaces" (how many they host); P0002 for an unknown id';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/admin/audit',
	 'workon.admin_audit(uuid,text,text,text,timestamptz,timestamptz,integer,text)',
	 'admin', 200, 'none', true, 'The audit log, newest first'),
	('GET', '/api/v1/admin/users', 'workon.admin_users_list(text,text,integer,text)',
	 'admin', 200, 'none', true, 'Users, searched by e-mail or name and role'),
	('GET', '/api/v1/admin/users/{id}', 'workon.admin_user_get(uuid)',
	 'admin', 200, 'none', true, 'One user with their bookings and spending');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/audit', '{"query": {"action": {"type": "string", "enum": ["insert", "update", "delete", "seed", "revoke"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/AuditPage"}}}'),
	('GET', '/api/v1/admin/users', '{"query": {"role": {"$ref": "#/components/schemas/Role"}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/AdminUserPage"}}}'),
	('GET', '/api/v1/admin/users/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/AdminUserDetail"}}}');

GRANT EXECUTE ON FUNCTION
	workon.audit_cursor_id(bigint),
	workon.audit_cursor_row(uuid),
	workon.audit_times(text, jsonb),
	workon.audit_json(workon.audit_log),
	workon.admin_user_json(workon.users),
	workon.admin_audit(uuid, text, text, text, timestamptz, timestamptz, integer, text),
	workon.admin_users_list(text, text, integer, text),
	workon.admin_user_get(uuid)
	TO workon_admin;
