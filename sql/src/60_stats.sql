/* sql/src/60_stats.sql -- the marketplace's numbers: bookings, revenue, occupancy, new users */

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

CREATE FUNCTION workon.space_occupancy_hours(timezone text, opening_hours jsonb,
											 first_day date, last_day date,
											 starts timestamptz[], ends timestamptz[],
											 OUT open_hours float8[], OUT booked_hours float8[])
RETURNS record
AS 'MODULE_PATHNAME', 'space_occupancy_hours'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_occupancy_hours(text, jsonb, date, date, timestamptz[], timestamptz[]) IS
'What workon.space_occupancy computes, as two arrays of hours rounded to the hundredth, one element a day from first_day on (for reports over many spaces and days)';

CREATE FUNCTION workon.jsonb_compact(value jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'jsonb_compact'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.jsonb_compact(jsonb) IS
'The text of a jsonb value with no blanks between its tokens ({"a":1,"b":[1,2]}), as the API answers';

-- what the stats read by time
-- (covering: the report's window is an index-only scan)
CREATE INDEX bookings_ends_at_idx ON workon.bookings (ends_at)
	INCLUDE (starts_at, space_id, status, hold_expires_at);
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
RETURNS json
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
	v_all		boolean;
	v_d1		date;
	v_d2		date;
	v_rollup	boolean;
	v_report	json;
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
	v_all := stats_report.space_id IS NULL AND v_city IS NULL AND stats_report.host_id IS NULL;

	-- a window of whole UTC days reads the rollup (sql/src/62_stats_rollup.sql);
	-- another one the rows
	v_d1 := (v_from AT TIME ZONE 'UTC')::date;
	v_d2 := (v_to AT TIME ZONE 'UTC')::date;
	v_rollup := v_from = v_d1::timestamp AT TIME ZONE 'UTC' AND v_to = v_d2::timestamp AT TIME ZONE 'UTC';

	-- the changes not yet folded into the rollup are added to it
	-- (sql/src/62_stats_rollup.sql); read here, not into a variable, whose
	-- value a custom plan would carry as a constant through the planner
	WITH changes AS MATERIALIZED (
		SELECT pg_catalog.array_agg(c) AS a FROM workon.stats_booking_changes AS c
	), b AS MATERIALIZED (
		-- the bookings that overlap the window
		SELECT b.space_id, b.starts_at, b.ends_at,
			   CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
					THEN 'expired' ELSE b.status END AS status
		  FROM workon.bookings AS b
		 WHERE NOT v_rollup
		   AND b.ends_at > v_from AND b.starts_at < v_to
		   AND (v_all OR b.space_id = ANY (v_spaces))
	), u AS MATERIALIZED (
		-- per space: the rollup's bookings by status, and for the top spaces
		-- the confirmed and completed ones in the window (those running
		-- into its first day included) and their time in it
		SELECT t.space_id,
			   pg_catalog.sum(t.pending_payment) AS pending_payment, pg_catalog.sum(t.confirmed) AS confirmed,
			   pg_catalog.sum(t.expired) AS expired, pg_catalog.sum(t.cancelled) AS cancelled,
			   pg_catalog.sum(t.completed) AS completed,
			   pg_catalog.sum(t.confirmed + t.completed)
				   + COALESCE(pg_catalog.sum(t.running) FILTER (WHERE t.day = v_d1), 0) AS n,
			   (pg_catalog.sum(t.booked_microseconds) / 1000000.0)::bigint AS booked_s
		  FROM (SELECT * FROM workon.stats_utc_days
				UNION ALL
				SELECT p.* FROM changes CROSS JOIN LATERAL workon.stats_utc_shares(changes.a) AS p) AS t
		 WHERE v_rollup AND t.day >= v_d1 AND t.day < v_d2
		   AND (v_all OR t.space_id = ANY (v_spaces))
		 GROUP BY t.space_id
	), counts AS (
		SELECT b.status, pg_catalog.count(*) AS n
		  FROM b
		 WHERE b.starts_at >= v_from
		 GROUP BY b.status
		UNION ALL
		SELECT x.status, x.n
		  FROM (SELECT pg_catalog.sum(u.pending_payment) AS pending_payment, pg_catalog.sum(u.confirmed) AS confirmed,
					   pg_catalog.sum(u.expired) AS expired, pg_catalog.sum(u.cancelled) AS cancelled,
					   pg_catalog.sum(u.completed) AS completed
				  FROM u) AS t
		 CROSS JOIN LATERAL (VALUES ('pending_payment', t.pending_payment), ('confirmed', t.confirmed),
								   ('expired', t.expired), ('cancelled', t.cancelled),
								   ('completed', t.completed)) AS x(status, n)
		UNION ALL
		-- the rollup has the stored status: a lapsed hold counts as expired
		SELECT x.status, x.n
		  FROM (SELECT pg_catalog.count(*) AS n
				  FROM workon.bookings AS b
				 WHERE v_rollup AND b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
				   AND b.starts_at >= v_from AND b.starts_at < v_to
				   AND (v_all OR b.space_id = ANY (v_spaces))) AS l
		 CROSS JOIN LATERAL (VALUES ('pending_payment', -l.n), ('expired', l.n)) AS x(status, n)
	), pending_local AS MATERIALIZED (
		-- per space, so that each space finds its own at once
		SELECT p.space_id, pg_catalog.array_agg(p.day) AS days, pg_catalog.array_agg(p.booked_microseconds) AS us
		  FROM changes CROSS JOIN LATERAL workon.stats_local_shares(changes.a) AS p
		 GROUP BY p.space_id
	), occ AS (
		-- the booked time per local day: always the rollup's, whole days
		-- (space_occupancy_days adds up the numbers of a day)
		SELECT s.id, s.name, s.timezone, d.first_day, o.daily_open_hours, o.daily_booked_hours,
			   o.open_hours AS open_h, o.booked_hours AS booked_h
		  FROM workon.spaces AS s
		 CROSS JOIN LATERAL (SELECT (v_from AT TIME ZONE s.timezone)::date AS first_day,
									((v_to - interval '1 microsecond') AT TIME ZONE s.timezone)::date AS last_day) AS d
		 CROSS JOIN LATERAL (SELECT pg_catalog.array_agg(l.day) AS days,
									pg_catalog.array_agg(l.booked_microseconds) AS us
							   FROM workon.stats_local_days AS l
							  WHERE l.space_id = s.id AND l.day >= d.first_day AND l.day <= d.last_day) AS sb
		  LEFT JOIN pending_local AS p ON p.space_id = s.id
		 CROSS JOIN LATERAL workon.space_occupancy_days(
			s.timezone, s.opening_hours, d.first_day, d.last_day,
			COALESCE(sb.days, '{}') || COALESCE(p.days, '{}'), COALESCE(sb.us, '{}') || COALESCE(p.us, '{}')) AS o
		 WHERE s.id = ANY (v_spaces)
	), rev AS (
		SELECT d.day, d.currency, pg_catalog.sum(d.paid) AS paid, pg_catalog.sum(d.refunded) AS refunded
		  FROM (SELECT (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
					   COALESCE(p.received_currency, p.currency) AS currency,
					   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded, 1 AS n
				  FROM workon.payments AS p
				 WHERE NOT v_rollup AND p.status = 'succeeded'
				   AND p.succeeded_at >= v_from AND p.succeeded_at < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = p.booking_id AND bk.space_id = ANY (v_spaces)))
				UNION ALL
				SELECT (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
					   r.currency, 0, r.amount_cents, 1
				  FROM workon.refunds AS r
				 WHERE NOT v_rollup AND r.status = 'succeeded'
				   AND COALESCE(r.stripe_status_at, r.created_at) >= v_from
				   AND COALESCE(r.stripe_status_at, r.created_at) < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = r.booking_id AND bk.space_id = ANY (v_spaces)))
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.n
				  FROM workon.stats_revenue_days AS m
				 WHERE v_rollup AND NOT v_all AND m.day >= v_d1 AND m.day < v_d2
				   AND m.space_id = ANY (v_spaces)
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.n
				  FROM workon.stats_revenue_totals AS m
				 WHERE v_rollup AND v_all AND m.day >= v_d1 AND m.day < v_d2
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.sign
				  FROM workon.stats_money_changes AS m
				 WHERE v_rollup AND m.day >= v_d1 AND m.day < v_d2
				   AND (v_all OR m.space_id = ANY (v_spaces))) AS d
		 GROUP BY d.day, d.currency
		HAVING pg_catalog.sum(d.n) > 0
	), top AS (
		-- per space: the confirmed and completed bookings in the window, and
		-- their time in it
		SELECT b.space_id, pg_catalog.count(*) AS n,
			   pg_catalog.sum(EXTRACT(epoch FROM LEAST(b.ends_at, v_to) - GREATEST(b.starts_at, v_from)))::bigint AS booked_s
		  FROM b
		 WHERE b.status IN ('confirmed', 'completed')
		 GROUP BY b.space_id
		UNION ALL
		SELECT u.space_id, u.n, u.booked_s
		  FROM u
	)
	SELECT workon.json_build(
		'from', v_from,
		'to', v_to,
		'bookings', (SELECT workon.json_build(
							'total', COALESCE(pg_catalog.sum(c.n), 0),
							'by_status', workon.json_build(
								'pending_payment', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'pending_payment'), 0),
								'confirmed', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'confirmed'), 0),
								'expired', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'expired'), 0),
								'cancelled', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'cancelled'), 0),
								'completed', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'completed'), 0)))
					   FROM counts AS c),
		'revenue', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'day', rev.day, 'currency', rev.currency,
							'paid_cents', rev.paid, 'refunded_cents', rev.refunded,
							'net_cents', rev.paid - rev.refunded)
						ORDER BY rev.day, rev.currency), '{}'))
					  FROM rev),
		'occupancy', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', o.id, 'name', o.name, 'timezone', o.timezone,
							'open_hours', pg_catalog.round(o.open_h::numeric, 2),
							'booked_hours', pg_catalog.round(o.booked_h::numeric, 2),
							'occupancy', CASE WHEN o.open_h > 0 THEN pg_catalog.round((o.booked_h / o.open_h)::numeric, 4) END,
							'first_day', o.first_day,
							'daily_open_hours', o.daily_open_hours,
							'daily_booked_hours', o.daily_booked_hours)
						ORDER BY o.name, o.id), '{}'))
						FROM occ AS o),
		'top_spaces', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', t.id, 'name', t.name, 'city', t.city,
							'bookings', t.n, 'booked_hours', pg_catalog.round(t.booked_s / 3600.0, 2))
						ORDER BY t.n DESC, t.booked_s DESC, t.id), '{}'))
						 FROM (SELECT s.id, s.name, s.city, top.n, top.booked_s
								 FROM top
								 JOIN workon.spaces AS s ON s.id = top.space_id
								WHERE top.n > 0
								ORDER BY top.n DESC, top.booked_s DESC, s.id
								LIMIT 10) AS t),
		-- who joined: the whole marketplace's, for admins only
		'new_users', CASE WHEN stats_report.host_id IS NULL THEN
			(SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(
						workon.json_build('day', n.day, 'count', n.count) ORDER BY n.day), '{}'))
			   FROM (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, pg_catalog.count(*) AS count
					   FROM workon.users AS u
					  WHERE u.created_at >= v_from AND u.created_at < v_to
					  GROUP BY 1) AS n) END)
	  INTO v_report;

	RETURN v_report;
END
$$;

COMMENT ON FUNCTION workon.stats_report(text, text, uuid, text, uuid) IS
'The numbers of GET /api/v1/admin/stats and /api/v1/host/stats (host_id: only that host''s spaces, and new_users null) as compact JSON; see workon.admin_stats';

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
			   ARRAY['occupancy', pg_catalog.to_char((s.v ->> 'first_day')::date + (d.n::integer - 1), 'YYYY-MM-DD'), s.v ->> 'space_id', s.v ->> 'name',
					 NULL, NULL, NULL, NULL, NULL, NULL, d.v #>> '{}', s.v -> 'daily_booked_hours' ->> (d.n::integer - 1),
					 CASE WHEN d.v::numeric > 0
						  THEN pg_catalog.round((s.v -> 'daily_booked_hours' ->> (d.n::integer - 1))::numeric / d.v::numeric, 4)::text END]
		  FROM pg_catalog.jsonb_array_elements($1 -> 'occupancy') WITH ORDINALITY AS s(v, n),
			   pg_catalog.jsonb_array_elements(s.v -> 'daily_open_hours') WITH ORDINALITY AS d(v, n)
		UNION ALL
		SELECT 4, pg_catalog.lpad(t.n::text, 10, '0'),
			   ARRAY['top_spaces', NULL, t.v ->> 'space_id', t.v ->> 'name', NULL, NULL, t.v ->> 'bookings',
					 NULL, NULL, NULL, NULL, t.v ->> 'booked_hours', NULL]
		  FROM pg_catalog.jsonb_array_elements($1 -> 'top_spaces') WITH ORDINALITY AS t(v, n)
		UNION ALL
		SELECT 5, pg_catalog.lpad(u.n::text, 10, '0'),
			   ARRAY['new_users', u.v ->> 'day', NULL, NULL, NULL, NULL, u.v ->> 'count',
					 NULL, NULL, NULL, NULL, NULL, NULL]
		  FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof($1 -> 'new_users') = 'array' THEN $1 -> 'new_users' ELSE '[]' END) WITH ORDINALITY AS u(v, n)
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
	v_report	json;
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
		RETURN workon.stats_csv(v_report::jsonb);
	END IF;
	RETURN v_report::text;
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
'GET /api/v1/admin/stats?from=&to=&space_id=&city=&format= (admins): the marketplace''s numbers over [from, to) — bounds RFC 3339 with an offset or dates (YYYY-MM-DD, UTC days, "to" inclusive), default the last 30 days, at most 366 days, 400 validation_failed naming the field otherwise — optionally of one space or one city: {"from", "to", "bookings": {"total", "by_status": {status: count}} (bookings starting in the window, a lapsed hold counted as expired), "revenue": [{"day", "currency", "paid_cents", "refunded_cents", "net_cents"}] (per UTC day and currency: payments that succeeded minus refunds that succeeded, partial ones included), "occupancy": [{"space_id", "name", "timezone", "open_hours", "booked_hours", "occupancy", "first_day", "daily_open_hours": [...], "daily_booked_hours": [...]}] (hours of confirmed and completed bookings inside the opening hours over the opening hours, DST-correct, over the window and per calendar day of the space''s zone that the window touches, one number a day from first_day on; occupancy null when closed), "top_spaces": [{"space_id", "name", "city", "bookings", "booked_hours"}] (the 10 with most confirmed and completed bookings), "new_users": [{"day", "count"}]}. format=csv: the same as one CSV table (text/csv) whose column "table" names the part (workon.stats_csv). Never behind the committed rows: the changes the stats rollup has not folded yet (at most about a second''s) are added';

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
'GET /api/v1/host/stats?from=&to=&space_id=&city=&format= (hosts): what GET /api/v1/admin/stats gives, of the caller''s own spaces only (another host''s space_id gives an empty report), new_users null';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/admin/stats', 'workon.admin_stats(text,text,uuid,text,text)',
	 'admin', 200, 'none', true, 'The marketplace''s numbers: bookings, revenue, occupancy, new users, top spaces'),
	('GET', '/api/v1/host/stats', 'workon.host_stats(text,text,uuid,text,text)',
	 'host', 200, 'none', true, 'The numbers of the caller''s own spaces');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/stats', '{"query": {"from": {"type": "string", "description": "RFC 3339 with an offset, or a date (UTC day); default 30 days ago"}, "to": {"type": "string", "description": "the same; a date is included; at most 366 days after from"}, "format": {"type": "string", "enum": ["json", "csv"]}}, "responses": {"200": {"$ref": "#/components/schemas/StatsReport"}}}'),
	('GET', '/api/v1/host/stats', '{"query": {"from": {"type": "string", "description": "RFC 3339 with an offset, or a date (UTC day); default 30 days ago"}, "to": {"type": "string", "description": "the same; a date is included; at most 366 days after from"}, "format": {"type": "string", "enum": ["json", "csv"]}}, "responses": {"200": {"$ref": "#/components/schemas/StatsReport"}}}');

GRANT EXECUTE ON FUNCTION workon.admin_stats(text, text, uuid, text, text)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION workon.host_stats(text, text, uuid, text, text)
	TO workon_host, workon_admin;
