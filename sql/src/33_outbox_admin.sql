--
-- The outbox as admins see it over HTTP: outbound calls by state (the dead
-- ones above all: a provider refused them, or could not be reached after
-- every retry) and a retry of a dead one.  A row's params are left out: a
-- mail's holds its rendered text with one-time links, a Stripe call's the
-- request sent.
--
CREATE FUNCTION workon.outbox_row_json(o workon.outbox)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build(
		'id', o.id,
		'kind', o.kind,
		'purpose', o.purpose,
		'method', o.method,
		'path', o.path,
		'status', o.status,
		'attempts', o.attempts,
		'next_attempt_at', o.next_attempt_at,
		'last_error', o.last_error,
		'response_status', o.response_status,
		'booking_id', o.booking_id,
		'payment_id', o.payment_id,
		'refund_id', o.refund_id,
		'created_at', o.created_at,
		'updated_at', o.updated_at)
$$;

COMMENT ON FUNCTION workon.outbox_row_json(workon.outbox) IS
'An outbound call as admins see it: {id, kind, purpose, method, path, status, attempts, next_attempt_at, last_error, response_status, booking_id, payment_id, refund_id, created_at, updated_at}, without its params';

CREATE FUNCTION workon.admin_outbox_list(status text DEFAULT NULL, kind text DEFAULT NULL,
										 "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit		integer := COALESCE(admin_outbox_list."limit", 20);
	v_page		json[];
BEGIN
	-- the first bad parameter, by name
	IF v_limit NOT BETWEEN 1 AND 100 OR NULLIF(admin_outbox_list.status, '') NOT IN ('pending', 'done', 'failed', 'dead')
	   OR NULLIF(admin_outbox_list.kind, '') NOT IN ('stripe', 'email', 's3')
	   OR NULLIF(admin_outbox_list.cursor, '') !~ '^[0-9]{1,18}$' THEN
		RAISE EXCEPTION '%', CASE
			WHEN v_limit NOT BETWEEN 1 AND 100 THEN 'limit must be between 1 and 100'
			WHEN NULLIF(admin_outbox_list.status, '') NOT IN ('pending', 'done', 'failed', 'dead')
				THEN 'status must be one of pending, done, failed, dead'
			WHEN NULLIF(admin_outbox_list.kind, '') NOT IN ('stripe', 'email', 's3') THEN 'kind must be one of stripe, email, s3'
			ELSE 'invalid cursor' END
			USING ERRCODE = 'invalid_parameter_value', COLUMN = CASE
				WHEN v_limit NOT BETWEEN 1 AND 100 THEN 'limit'
				WHEN NULLIF(admin_outbox_list.status, '') NOT IN ('pending', 'done', 'failed', 'dead') THEN 'status'
				WHEN NULLIF(admin_outbox_list.kind, '') NOT IN ('stripe', 'email', 's3') THEN 'kind'
				ELSE 'cursor' END;
	END IF;

	-- one row more than the page says whether there is a next one (the cursor: the last id shown)
	v_page := ARRAY(SELECT workon.outbox_row_json(o)
					  FROM workon.outbox AS o
					 WHERE o.id < COALESCE(NULLIF(admin_outbox_list.cursor, '')::bigint, 9223372036854775807)
					   AND o.status = COALESCE(NULLIF(admin_outbox_list.status, ''), o.status)
					   AND o.kind = COALESCE(NULLIF(admin_outbox_list.kind, ''), o.kind)
					 ORDER BY o.id DESC
					 LIMIT v_limit + 1);
	RETURN workon.json_build(
		'data', pg_catalog.to_json(v_page[1:v_limit]),
		'next_cursor', CASE WHEN pg_catalog.cardinality(v_page) > v_limit THEN v_page[v_limit] ->> 'id' END);
END
$$;

COMMENT ON FUNCTION workon.admin_outbox_list(text, text, integer, text) IS
'GET /api/v1/admin/outbox?status=&kind= (admins): outbound calls, newest first, as {"data": [...], "next_cursor": ...} of workon.outbox_row_json (no params); status pending, done, failed or dead, kind stripe, email or s3; limit 1..100 (default 20)';

CREATE FUNCTION workon.admin_outbox_retry(id bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		PERFORM workon.outbox_retry(admin_outbox_retry.id);
	EXCEPTION WHEN object_not_in_prerequisite_state THEN
		RAISE EXCEPTION 'this call was replaced by a newer one of the same payment'
			USING ERRCODE = 'WOQ01';
	END;
	RETURN (SELECT workon.outbox_row_json(o) FROM workon.outbox AS o WHERE o.id = admin_outbox_retry.id);
END
$$;

COMMENT ON FUNCTION workon.admin_outbox_retry(bigint) IS
'POST /api/v1/admin/outbox/{id}/retry (admins; audited): a dead outbound call is pending again, due now, with fresh attempts and the same idempotency key (workon.outbox_retry); answers the call. P0002 not_found unless it is dead, WOQ01 outbox_call_replaced (409) when a newer call of the same payment and purpose replaced it';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/admin/outbox', 'workon.admin_outbox_list(text,text,integer,text)',
	 'admin', 200, 'none', true, 'List outbound calls (Stripe, e-mail, the file store) by state'),
	('POST', '/api/v1/admin/outbox/{id}/retry', 'workon.admin_outbox_retry(bigint)',
	 'admin', 200, 'none', false, 'Send a dead outbound call again');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/outbox', '{
		"query": {"status": {"type": "string", "enum": ["pending", "done", "failed", "dead"]}, "kind": {"type": "string", "enum": ["stripe", "email", "s3"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/OutboxPage"}}}'),
	('POST', '/api/v1/admin/outbox/{id}/retry', '{"responses": {"200": {"$ref": "#/components/schemas/OutboxCall"}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOQ01', 409, 'outbox_call_replaced');

GRANT EXECUTE ON FUNCTION
	workon.admin_outbox_list(text, text, integer, text),
	workon.admin_outbox_retry(bigint)
	TO workon_admin;
