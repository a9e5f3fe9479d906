/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

--
-- The audit log: the names of the changed columns (sql/src/04_audit.sql)
--
ALTER TABLE workon.audit_log ADD COLUMN IF NOT EXISTS changed text[];

COMMENT ON COLUMN workon.audit_log.changed IS
'The names of the columns the change set or changed (updated_at aside), secrets included by name only';

CREATE OR REPLACE FUNCTION workon.audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old		jsonb;
	v_new		jsonb;
	v_hidden	text[] := TG_ARGV || ARRAY['updated_at'];
	v_changed	text[];
	v_row		jsonb;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		v_old := pg_catalog.to_jsonb(OLD) - 'updated_at';
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_new := pg_catalog.to_jsonb(NEW) - 'updated_at';
	END IF;
	-- what changed, secrets by name: every column an insert sets or a
	-- delete removes, the columns an update changes (an update of secrets
	-- alone, such as a rehash of a password, is not logged)
	SELECT pg_catalog.array_agg(k.key ORDER BY k.key) INTO v_changed
	  FROM pg_catalog.jsonb_object_keys(COALESCE(v_new, v_old)) AS k(key)
	 WHERE (v_old -> k.key) IS DISTINCT FROM (v_new -> k.key)
	   AND (TG_OP = 'UPDATE' OR COALESCE(v_new, v_old) -> k.key <> 'null');
	IF TG_OP = 'UPDATE' AND (v_changed IS NULL OR v_changed <@ TG_ARGV) THEN
		RETURN NULL;			-- nothing an auditor may see changed
	END IF;

	v_row := COALESCE(v_new, v_old) - v_hidden;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, before, after, changed)
	VALUES (workon.current_user_id(), pg_catalog.lower(TG_OP), TG_TABLE_NAME,
			COALESCE(v_row ->> 'id', v_row ->> 'kid', v_row ->> 'name'),
			v_old - v_hidden, v_new - v_hidden, v_changed);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.audit_row() IS
'Trigger: writes the change to workon.audit_log with the names of the columns it set or changed (changed); trigger arguments name columns whose values are left out (secrets: named in changed when something else changed too); updates that change only those and updated_at are not logged';

-- sql/src/60_stats.sql
--
-- Occupancy per local day (extension/stats.c)
--
CREATE FUNCTION workon.space_occupancy(timezone text, opening_hours jsonb,
									   first_day date, last_day date,
									   starts timestamptz[], ends timestamptz[])
RETURNS TABLE (day date, open_seconds bigint, booked_seconds bigint)
AS 'MODULE_PATHNAME', 'space_occupancy'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_occupancy(text, jsonb, date, date, timestamptz[], timestamptz[]) IS
'One row per calendar day of the zone from first_day to last_day (at most 400): the seconds the opening hours are open that day (a DST day has 23 or 25 hours; an opening through midnight counts on each side for its own day) and the seconds of the bookings [starts[i], ends[i]) inside the open periods';

CREATE FUNCTION workon.jsonb_compact(value jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'jsonb_compact'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.jsonb_compact(jsonb) IS
'The text of a jsonb value with no blanks between its tokens ({"a":1,"b":[1,2]}), as the API answers';

-- what the stats read by time
CREATE INDEX bookings_ends_at_idx ON workon.bookings (ends_at);
CREATE INDEX payments_succeeded_at_idx ON workon.payments (succeeded_at)
	WHERE status = 'succeeded';
CREATE INDEX refunds_settled_at_idx
	ON workon.refunds ((COALESCE(stripe_status_at, created_at)))
	WHERE status = 'succeeded';
CREATE INDEX users_created_at_idx ON workon.users (created_at);

--
-- The window of a report: ?from=&to=
--
CREATE FUNCTION workon.stats_bound(value text, field text, is_end boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF value IS NULL THEN
		RETURN NULL;
	ELSIF value ~ '^\d{4}-\d{2}-\d{2}$' THEN
		-- a date: the start of that UTC day, or for "to" its end
		RETURN (value::date + CASE WHEN is_end THEN 1 ELSE 0 END)::timestamp AT TIME ZONE 'UTC';
	ELSIF value ~ '^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$' THEN
		RETURN value::timestamptz;
	END IF;
	RAISE EXCEPTION '% must be an RFC 3339 time with an offset or a date (YYYY-MM-DD)', field
		USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
EXCEPTION
	WHEN datetime_field_overflow OR invalid_datetime_format THEN
		RAISE EXCEPTION '% is not a valid time', field
			USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
END
$$;

COMMENT ON FUNCTION workon.stats_bound(text, text, boolean) IS
'A bound of a report window: an RFC 3339 time with an offset, or a date (YYYY-MM-DD: the start of that UTC day; for the end bound, the start of the next one); 22023 naming field otherwise';

--
-- The report
--
CREATE FUNCTION workon.booking_counts(statuses text[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.jsonb_build_object(
		'total', COALESCE(pg_catalog.cardinality($1), 0),
		'by_status', pg_catalog.jsonb_object_agg(st.status,
			(SELECT pg_catalog.count(*) FROM pg_catalog.unnest($1) AS x(s) WHERE x.s = st.status)))
	  FROM pg_catalog.unnest(ARRAY['pending_payment', 'confirmed', 'expired', 'cancelled', 'completed']) AS st(status)
$$;

COMMENT ON FUNCTION workon.booking_counts(text[]) IS
'{"total", "by_status": {"pending_payment", "confirmed", "expired", "cancelled", "completed"}}: how many of the statuses there are, of each';

CREATE FUNCTION workon.stats_report("from" text, "to" text, space_id uuid, city text,
									host_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_to		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."to", ''), 'to', true),
										pg_catalog.now());
	v_from		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."from", ''), 'from', false),
										v_to - interval '30 days');
	v_city		text := pg_catalog.lower(NULLIF(pg_catalog.btrim(stats_report.city), ''));
	v_spaces	uuid[];
	v_report	jsonb;
BEGIN
	IF v_to <= v_from THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	IF v_to - v_from > interval '366 days' THEN
		RAISE EXCEPTION 'the window from..to must be at most 366 days'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;

	-- the spaces the report is about
	SELECT pg_catalog.array_agg(s.id) INTO v_spaces
	  FROM workon.spaces AS s
	 WHERE (stats_report.space_id IS NULL OR s.id = stats_report.space_id)
	   AND (v_city IS NULL OR s.city_key = v_city)
	   AND (stats_report.host_id IS NULL OR s.host_id = stats_report.host_id);
	v_spaces := COALESCE(v_spaces, '{}');

	WITH b AS MATERIALIZED (
		-- the bookings that overlap the window, and the local days at its
		-- ends (in_window: the window itself)
		SELECT b.space_id, b.starts_at, b.ends_at,
			   CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
					THEN 'expired' ELSE b.status END AS status,
			   b.ends_at > v_from AND b.starts_at < v_to AS in_window
		  FROM workon.bookings AS b
		 WHERE b.ends_at > v_from - interval '2 days' AND b.starts_at < v_to + interval '2 days'
		   AND b.space_id = ANY (v_spaces)
	), occ AS (
		SELECT s.id, s.name, s.city, s.timezone, o.day, o.open_seconds, o.booked_seconds
		  FROM workon.spaces AS s
		  LEFT JOIN LATERAL (
			SELECT pg_catalog.array_agg(b.starts_at) AS starts, pg_catalog.array_agg(b.ends_at) AS ends
			  FROM b
			 WHERE b.space_id = s.id AND b.status IN ('confirmed', 'completed')) AS sb ON true
		 CROSS JOIN LATERAL workon.space_occupancy(
			s.timezone, s.opening_hours,
			(v_from AT TIME ZONE s.timezone)::date,
			((v_to - interval '1 microsecond') AT TIME ZONE s.timezone)::date,
			COALESCE(sb.starts, '{}'), COALESCE(sb.ends, '{}')) AS o
		 WHERE s.id = ANY (v_spaces)
	), rev AS (
		SELECT d.day, d.currency, pg_catalog.sum(d.paid) AS paid, pg_catalog.sum(d.refunded) AS refunded
		  FROM (SELECT (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
					   COALESCE(p.received_currency, p.currency) AS currency,
					   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded
				  FROM workon.payments AS p
				  JOIN workon.bookings AS bk ON bk.id = p.booking_id
				 WHERE p.status = 'succeeded'
				   AND p.succeeded_at >= v_from AND p.succeeded_at < v_to
				   AND bk.space_id = ANY (v_spaces)
				UNION ALL
				SELECT (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
					   r.currency, 0, r.amount_cents
				  FROM workon.refunds AS r
				  JOIN workon.bookings AS bk ON bk.id = r.booking_id
				 WHERE r.status = 'succeeded'
				   AND COALESCE(r.stripe_status_at, r.created_at) >= v_from
				   AND COALESCE(r.stripe_status_at, r.created_at) < v_to
				   AND bk.space_id = ANY (v_spaces)) AS d
		 GROUP BY d.day, d.currency
	)
	SELECT pg_catalog.jsonb_build_object(
		'from', v_from,
		'to', v_to,
		'bookings', (SELECT workon.booking_counts(pg_catalog.array_agg(b.status))
					   FROM b
					  WHERE b.starts_at >= v_from AND b.starts_at < v_to),
		'revenue', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							'day', rev.day, 'currency', rev.currency,
							'paid_cents', rev.paid, 'refunded_cents', rev.refunded,
							'net_cents', rev.paid - rev.refunded)
						ORDER BY rev.day, rev.currency), '[]')
					  FROM rev),
		'occupancy', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							'space_id', o.id, 'name', o.name, 'timezone', o.timezone,
							'open_hours', pg_catalog.round(o.open_s / 3600.0, 2), 'booked_hours', pg_catalog.round(o.booked_s / 3600.0, 2),
							'occupancy', CASE WHEN o.open_s > 0 THEN pg_catalog.round(o.booked_s::numeric / o.open_s, 4) END,
							'days', o.days)
						ORDER BY o.name, o.id), '[]')
						FROM (SELECT occ.id, occ.name, occ.timezone,
									 pg_catalog.sum(occ.open_seconds) AS open_s,
									 pg_catalog.sum(occ.booked_seconds) AS booked_s,
									 pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
										'day', occ.day,
										'open_hours', pg_catalog.round(occ.open_seconds / 3600.0, 2),
										'booked_hours', pg_catalog.round(occ.booked_seconds / 3600.0, 2),
										'occupancy', CASE WHEN occ.open_seconds > 0
														  THEN pg_catalog.round(occ.booked_seconds::numeric / occ.open_seconds, 4) END)
									   ORDER BY occ.day) AS days
								FROM occ
							   GROUP BY occ.id, occ.name, occ.timezone) AS o),
		'top_spaces', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							'space_id', t.id, 'name', t.name, 'city', t.city,
							'bookings', t.n, 'booked_hours', pg_catalog.round(t.booked_s / 3600.0, 2))
						ORDER BY t.n DESC, t.booked_s DESC, t.id), '[]')
						 FROM (SELECT s.id, s.name, s.city, pg_catalog.count(*) AS n,
									  pg_catalog.sum(EXTRACT(epoch FROM LEAST(b.ends_at, v_to) - GREATEST(b.starts_at, v_from)))::bigint AS booked_s
								 FROM b
								 JOIN workon.spaces AS s ON s.id = b.space_id
								WHERE b.status IN ('confirmed', 'completed') AND b.in_window
								GROUP BY s.id, s.name, s.city
								ORDER BY n DESC, booked_s DESC, s.id
								LIMIT 10) AS t))
	  INTO v_report;

	IF stats_report.host_id IS NULL THEN
		-- who joined: the whole marketplace's, for admins only
		v_report := v_report || pg_catalog.jsonb_build_object('new_users',
			(SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('day', n.day, 'count', n.count)
												  ORDER BY n.day), '[]')
			   FROM (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, pg_catalog.count(*) AS count
					   FROM workon.users AS u
					  WHERE u.created_at >= v_from AND u.created_at < v_to
					  GROUP BY 1) AS n));
	END IF;
	RETURN v_report;
END
$$;

COMMENT ON FUNCTION workon.stats_report(text, text, uuid, text, uuid) IS
'The numbers of GET /api/v1/admin/stats and /api/v1/host/stats (host_id: only that host''s spaces, and no new_users) as JSON; see workon.admin_stats';

CREATE FUNCTION workon.csv_field(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	-- quoted when needed (RFC 4180); a text a spreadsheet would run as a
	-- formula (=, +, -, @ first) is prefixed with an apostrophe
	SELECT CASE
		WHEN $1 IS NULL THEN ''
		WHEN $1 ~ '^[=+@-]' AND $1 !~ '^-?[0-9.]+$' THEN '"''' || pg_catalog.replace($1, '"', '""') || '"'
		WHEN $1 ~ '[",\r\n]' THEN '"' || pg_catalog.replace($1, '"', '""') || '"'
		ELSE $1 END
$$;

COMMENT ON FUNCTION workon.csv_field(text) IS
'A CSV field (RFC 4180): NULL is empty, a value with a comma, quote or line break is quoted, one starting with =, +, - or @ (not a number) gets an apostrophe first so that spreadsheets do not run it';

CREATE FUNCTION workon.stats_csv(report jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'table,day,space_id,name,status,currency,count,paid_cents,refunded_cents,net_cents,open_hours,booked_hours,occupancy' || E'\r\n'
		|| COALESCE(pg_catalog.string_agg(
			   (SELECT pg_catalog.string_agg(workon.csv_field(u.f), ',' ORDER BY u.n)
				  FROM pg_catalog.unnest(r.f) WITH ORDINALITY AS u(f, n)) || E'\r\n', '' ORDER BY r.k1, r.k2), '')
	  FROM (
		SELECT 1 AS k1, st.ord::text AS k2,
			   ARRAY['bookings', NULL, NULL, NULL, st.status, NULL, $1 -> 'bookings' -> 'by_status' ->> st.status,
					 NULL, NULL, NULL, NULL, NULL, NULL] AS f
		  FROM pg_catalog.unnest(ARRAY['pending_payment', 'confirmed', 'expired', 'cancelled', 'completed'])
			   WITH ORDINALITY AS st(status, ord)
		UNION ALL
		SELECT 2, pg_catalog.lpad(r.n::text, 10, '0'),
			   ARRAY['revenue', r.v ->> 'day', NULL, NULL, NULL, r.v ->> 'currency', NULL,
					 r.v ->> 'paid_cents', r.v ->> 'refunded_cents', r.v ->> 'net_cents', NULL, NULL, NULL]
		  FROM pg_catalog.jsonb_array_elements($1 -> 'revenue') WITH ORDINALITY AS r(v, n)
		UNION ALL
		SELECT 3, pg_catalog.lpad(s.n::text, 10, '0') || pg_catalog.lpad(d.n::text, 10, '0'),
			   ARRAY['occupancy', d.v ->> 'day', s.v ->> 'space_id', s.v ->> 'name', NULL, NULL, NULL,
					 NULL, NULL, NULL, d.v ->> 'open_hours', d.v ->> 'booked_hours', d.v ->> 'occupancy']
		  FROM pg_catalog.jsonb_array_elements($1 -> 'occupancy') WITH ORDINALITY AS s(v, n),
			   pg_catalog.jsonb_array_elements(s.v -> 'days') WITH ORDINALITY AS d(v, n)
		UNION ALL
		SELECT 4, pg_catalog.lpad(t.n::text, 10, '0'),
			   ARRAY['top_spaces', NULL, t.v ->> 'space_id', t.v ->> 'name', NULL, NULL, t.v ->> 'bookings',
					 NULL, NULL, NULL, NULL, t.v ->> 'booked_hours', NULL]
		  FROM pg_catalog.jsonb_array_elements($1 -> 'top_spaces') WITH ORDINALITY AS t(v, n)
		UNION ALL
		SELECT 5, pg_catalog.lpad(u.n::text, 10, '0'),
			   ARRAY['new_users', u.v ->> 'day', NULL, NULL, NULL, NULL, u.v ->> 'count',
					 NULL, NULL, NULL, NULL, NULL, NULL]
		  FROM pg_catalog.jsonb_array_elements(COALESCE($1 -> 'new_users', '[]')) WITH ORDINALITY AS u(v, n)
	  ) AS r
$$;

COMMENT ON FUNCTION workon.stats_csv(jsonb) IS
'A report of workon.stats_report as one CSV table (CRLF lines, a header row): column "table" says which part a row is from (bookings, revenue, occupancy, top_spaces, new_users) and the other columns (day, space_id, name, status, currency, count, paid_cents, refunded_cents, net_cents, open_hours, booked_hours, occupancy) are filled as that part has them, empty otherwise; occupancy rows are per space per day';

CREATE FUNCTION workon.stats_answer("from" text, "to" text, space_id uuid, city text,
									host_id uuid, format text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_report	jsonb;
BEGIN
	IF NULLIF(stats_answer.format, '') NOT IN ('json', 'csv') THEN
		RAISE EXCEPTION 'format must be json or csv'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'format';
	END IF;
	v_report := workon.stats_report(stats_answer."from", stats_answer."to", stats_answer.space_id,
									stats_answer.city, stats_answer.host_id);
	IF stats_answer.format = 'csv' THEN
		PERFORM workon.set_response(NULL, '{"Content-Type": "text/csv; charset=utf-8",
											"Content-Disposition": "attachment; filename=\"stats.csv\""}');
		RETURN workon.stats_csv(v_report);
	END IF;
	RETURN workon.jsonb_compact(v_report);
END
$$;

COMMENT ON FUNCTION workon.stats_answer(text, text, uuid, text, uuid, text) IS
'The body of a stats route: the report of workon.stats_report as JSON (format json, the default), or as CSV (format csv: text/csv, as an attachment stats.csv); 22023 naming format for another';

CREATE FUNCTION workon.require_admin()
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	IF workon.current_role() IS DISTINCT FROM 'admin' THEN
		RAISE EXCEPTION 'admins only'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.require_admin() IS
'42501 unless the caller acts as an admin: the first line of a SECURITY DEFINER handler for admins, whoever may execute it';

--
-- Route handlers
--
CREATE FUNCTION workon.admin_stats("from" text DEFAULT NULL, "to" text DEFAULT NULL,
								   space_id uuid DEFAULT NULL, city text DEFAULT NULL,
								   format text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.require_admin();
	RETURN workon.stats_answer(admin_stats."from", admin_stats."to", admin_stats.space_id,
							   admin_stats.city, NULL, admin_stats.format);
END
$$;

COMMENT ON FUNCTION workon.admin_stats(text, text, uuid, text, text) IS
'GET /api/v1/admin/stats?from=&to=&space_id=&city=&format= (admins): the marketplace''s numbers over [from, to) — bounds RFC 3339 with an offset or dates (YYYY-MM-DD, UTC days, "to" inclusive), default the last 30 days, at most 366 days, 400 validation_failed naming the field otherwise — optionally of one space or one city: {"from", "to", "bookings": {"total", "by_status": {status: count}} (bookings starting in the window, a lapsed hold counted as expired), "revenue": [{"day", "currency", "paid_cents", "refunded_cents", "net_cents"}] (per UTC day and currency: payments that succeeded minus refunds that succeeded, partial ones included), "occupancy": [{"space_id", "name", "timezone", "open_hours", "booked_hours", "occupancy", "days": [{"day", "open_hours", "booked_hours", "occupancy"}]}] (per calendar day of the space''s zone that the window touches: hours of confirmed and completed bookings inside the opening hours over the opening hours, DST-correct; occupancy null on a closed day), "top_spaces": [{"space_id", "name", "city", "bookings", "booked_hours"}] (the 10 with most confirmed and completed bookings), "new_users": [{"day", "count"}]}. format=csv: the same as one CSV table (text/csv) whose column "table" names the part (workon.stats_csv)';

CREATE FUNCTION workon.host_stats("from" text DEFAULT NULL, "to" text DEFAULT NULL,
								  space_id uuid DEFAULT NULL, city text DEFAULT NULL,
								  format text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF workon.current_user_id() IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	RETURN workon.stats_answer(host_stats."from", host_stats."to", host_stats.space_id,
							   host_stats.city, workon.current_user_id(), host_stats.format);
END
$$;

COMMENT ON FUNCTION workon.host_stats(text, text, uuid, text, text) IS
'GET /api/v1/host/stats?from=&to=&space_id=&city=&format= (hosts): what GET /api/v1/admin/stats gives, of the caller''s own spaces only (another host''s space_id gives an empty report) and without new_users';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/admin/stats', 'workon.admin_stats(text,text,uuid,text,text)',
	 'admin', 200, 'none', true, 'The marketplace''s numbers: bookings, revenue, occupancy, new users, top spaces'),
	('GET', '/api/v1/host/stats', 'workon.host_stats(text,text,uuid,text,text)',
	 'host', 200, 'none', true, 'The numbers of the caller''s own spaces');

GRANT EXECUTE ON FUNCTION workon.admin_stats(text, text, uuid, text, text)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION workon.host_stats(text, text, uuid, text, text)
	TO workon_host, workon_admin;

-- sql/src/61_admin.sql
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
		'before', a.before,
		'after', a.after)
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

GRANT EXECUTE ON FUNCTION
	workon.audit_cursor_id(bigint),
	workon.audit_cursor_row(uuid),
	workon.audit_json(workon.audit_log),
	workon.admin_user_json(workon.users),
	workon.admin_audit(uuid, text, text, text, timestamptz, timestamptz, integer, text),
	workon.admin_users_list(text, text, integer, text),
	workon.admin_user_get(uuid)
	TO workon_admin;

--
-- 13_browser_sessions: browser sessions: the auth routes for a web page, which must not keep a
-- refresh token where scripts can read it.  The refresh token travels in an
-- HttpOnly, SameSite=Strict cookie scoped to /api/v1/auth/session (Secure
-- unless the client is on a loopback address, so that development over
-- http://localhost works); the body carries the access token only, which the
-- page keeps in memory.  The tokens, their families and their rules are those
-- of 12_sessions: these routes only move the refresh token into the cookie.
--
CREATE FUNCTION workon.session_cookie(token text, meta jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ip		text := session_cookie.meta ->> 'ip';
	v_loopback	boolean := false;
BEGIN
	IF v_ip IS NOT NULL THEN
		BEGIN
			v_loopback := v_ip::inet <<= '127.0.0.0/8'::inet OR v_ip::inet = '::1'::inet
						  OR v_ip::inet <<= '::ffff:127.0.0.0/104'::inet;
		EXCEPTION WHEN invalid_text_representation THEN
			v_loopback := false;
		END;
	END IF;
	RETURN 'workon_refresh=' || COALESCE(session_cookie.token, '')
		   || '; Path=/api/v1/auth/session; HttpOnly; SameSite=Strict; Max-Age='
		   || CASE WHEN session_cookie.token IS NULL THEN 0 ELSE workon.token_ttl('refresh') END
		   || CASE WHEN v_loopback THEN '' ELSE '; Secure' END;
END
$$;

COMMENT ON FUNCTION workon.session_cookie(text, jsonb) IS
'The Set-Cookie value carrying a refresh token (NULL: one that clears the cookie): workon_refresh, Path=/api/v1/auth/session, HttpOnly, SameSite=Strict, Max-Age of workon.jwt_refresh_ttl, Secure unless meta.ip is a loopback address';

CREATE FUNCTION workon.session_cookie_token(meta jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.substr(pg_catalog.btrim(c), 16)
	  FROM pg_catalog.regexp_split_to_table(COALESCE(session_cookie_token.meta #>> '{headers,cookie}', ''), ';') AS c
	 WHERE pg_catalog.btrim(c) LIKE 'workon\_refresh=%'
	 LIMIT 1;
$$;

COMMENT ON FUNCTION workon.session_cookie_token(jsonb) IS
'The refresh token of the request''s workon_refresh cookie (meta.headers.cookie), or NULL';

-- a token answer for the browser: the refresh token into the cookie, out of the body
CREATE FUNCTION workon.session_browser(answer json, meta jsonb)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF session_browser.answer -> 'error' IS NOT NULL THEN
		-- token_reused: the family is revoked; the cookie goes too
		PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object(
			'Set-Cookie', workon.session_cookie(NULL, session_browser.meta)));
		RETURN session_browser.answer;
	END IF;
	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object(
		'Set-Cookie', workon.session_cookie(session_browser.answer ->> 'refresh_token', session_browser.meta)));
	-- row_to_json: compact, like every answer
	RETURN (SELECT pg_catalog.row_to_json(t)
			  FROM (SELECT session_browser.answer -> 'user' AS "user",
						   session_browser.answer ->> 'access_token' AS access_token,
						   session_browser.answer ->> 'token_type' AS token_type,
						   (session_browser.answer ->> 'expires_in')::integer AS expires_in) AS t);
END
$$;

COMMENT ON FUNCTION workon.session_browser(json, jsonb) IS
'A token answer of 12_sessions made a browser''s: its refresh token set as the workon_refresh cookie and left out of the body (an error answer clears the cookie)';

CREATE FUNCTION workon.auth_session_register(email text DEFAULT NULL, password text DEFAULT NULL,
											 name text DEFAULT NULL, role text DEFAULT NULL,
											 meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.session_browser(workon.auth_register(email, password, name, role), meta);
$$;

COMMENT ON FUNCTION workon.auth_session_register(text, text, text, text, jsonb) IS
'POST /api/v1/auth/session/register: workon.auth_register for a browser: {user, access_token, token_type, expires_in} and the refresh token as the workon_refresh cookie';

CREATE FUNCTION workon.auth_session_login(email text DEFAULT NULL, password text DEFAULT NULL,
										  meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.session_browser(workon.auth_login(email, password), meta);
$$;

COMMENT ON FUNCTION workon.auth_session_login(text, text, jsonb) IS
'POST /api/v1/auth/session/login: workon.auth_login for a browser: {user, access_token, token_type, expires_in} and the refresh token as the workon_refresh cookie';

CREATE FUNCTION workon.auth_session_refresh(meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		text := workon.session_cookie_token(auth_session_refresh.meta);
BEGIN
	IF v_token IS NULL OR v_token = '' THEN
		RAISE EXCEPTION 'no session cookie'
			USING ERRCODE = 'WOA03';
	END IF;
	RETURN workon.session_browser(workon.auth_refresh(v_token), auth_session_refresh.meta);
END
$$;

COMMENT ON FUNCTION workon.auth_session_refresh(jsonb) IS
'POST /api/v1/auth/session/refresh: workon.auth_refresh with the workon_refresh cookie''s token (the same rotation, reuse and grace rules): a new access token in the body and the new refresh token as the cookie; no cookie, or an unknown, revoked or expired token: WOA03 invalid_refresh_token';

CREATE FUNCTION workon.auth_session_logout(meta jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		workon.refresh_tokens;
BEGIN
	SELECT * INTO v_token
	  FROM workon.refresh_tokens AS t
	 WHERE t.token_hash = workon.refresh_token_hash(workon.session_cookie_token(auth_session_logout.meta))
	   AND t.revoked_at IS NULL
	   FOR UPDATE;
	IF FOUND THEN
		PERFORM workon.refresh_family_revoke(v_token, 'logout');
	END IF;
	PERFORM workon.set_response(204, pg_catalog.jsonb_build_object(
		'Set-Cookie', workon.session_cookie(NULL, auth_session_logout.meta)));
END
$$;

COMMENT ON FUNCTION workon.auth_session_logout(jsonb) IS
'POST /api/v1/auth/session/logout: revokes the family of the workon_refresh cookie''s token when it is live and clears the cookie; 204 whether or not there was a session';

INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, summary) VALUES
	('POST', '/api/v1/auth/session/register', 'workon.auth_session_register(text,text,text,text,jsonb)',
	 'none', 201, 'json', 'auth', 'Register (browser): the refresh token as an HttpOnly cookie'),
	('POST', '/api/v1/auth/session/login', 'workon.auth_session_login(text,text,jsonb)',
	 'none', 200, 'json', 'auth', 'Log in (browser): the refresh token as an HttpOnly cookie'),
	('POST', '/api/v1/auth/session/refresh', 'workon.auth_session_refresh(jsonb)',
	 'none', 200, 'json', 'default', 'A new access token for the refresh cookie (browser)'),
	('POST', '/api/v1/auth/session/logout', 'workon.auth_session_logout(jsonb)',
	 'none', 204, 'json', 'default', 'End the browser session and clear its cookie');

GRANT EXECUTE ON FUNCTION
	workon.auth_session_register(text, text, text, text, jsonb),
	workon.auth_session_login(text, text, jsonb),
	workon.auth_session_refresh(jsonb),
	workon.auth_session_logout(jsonb)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- 33_outbox_admin: the outbox as admins see it over HTTP: outbound calls by state (the dead
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

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOQ01', 409, 'outbox_call_replaced');

GRANT EXECUTE ON FUNCTION
	workon.admin_outbox_list(text, text, integer, text),
	workon.admin_outbox_retry(bigint)
	TO workon_admin;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- pg_dump: the shipped route and error rows now include those above
DO $dump$
BEGIN
	PERFORM pg_catalog.pg_extension_config_dump('workon.routes',
		(SELECT 'WHERE (method, path) NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('(%L, %L)', r.method, r.path),
										 ', ' ORDER BY r.method, r.path)
				|| ')'
		   FROM workon.routes AS r));
	PERFORM pg_catalog.pg_extension_config_dump('workon.errors',
		(SELECT 'WHERE sqlstate NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('%L', e.sqlstate),
										 ', ' ORDER BY e.sqlstate)
				|| ')'
		   FROM workon.errors AS e));
END
$dump$;
