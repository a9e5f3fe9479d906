/* sql/src/62_stats_rollup.sql -- the stats' rollup: bookings, booked time and revenue per space per day */

--
-- The admin's report (workon.stats_report) over 90 days of a large
-- marketplace would read every booking, payment and refund of the window;
-- it reads these sums instead.  A change to a booking, payment or refund
-- costs its transaction one row appended to a queue
-- (workon.stats_booking_changes, stats_money_changes: the old row's share
-- goes, the new row's comes); workon.stats_fold() moves the committed
-- changes into the sums, many at once, and the report adds the changes
-- still queued, so it is never behind the rows it could see.  Every sum is
-- what the report computes from the rows (the pg_regress test stats_rollup
-- compares them).  Rows whose sums went back to zero stay (the report
-- skips them).
--
CREATE TABLE workon.stats_local_days (
	space_id	uuid NOT NULL,
	day			date NOT NULL,
	booked_microseconds bigint NOT NULL,
	PRIMARY KEY (space_id, day)
);

COMMENT ON TABLE workon.stats_local_days IS
'Occupancy rollup: per space and calendar day of the space''s zone, the microseconds of its confirmed and completed bookings inside its current opening hours (workon.space_booked_microseconds, booking by booking); rebuilt for a space when its zone or opening hours change';

CREATE TABLE workon.stats_utc_days (
	space_id	uuid NOT NULL,
	day			date NOT NULL,
	pending_payment integer NOT NULL DEFAULT 0,
	confirmed	integer NOT NULL DEFAULT 0,
	expired		integer NOT NULL DEFAULT 0,
	cancelled	integer NOT NULL DEFAULT 0,
	completed	integer NOT NULL DEFAULT 0,
	booked_microseconds bigint NOT NULL DEFAULT 0,
	running		integer NOT NULL DEFAULT 0,
	PRIMARY KEY (day, space_id)
);

COMMENT ON TABLE workon.stats_utc_days IS
'Bookings rollup: per UTC day and space, the bookings starting that day by stored status, the microseconds of confirmed and completed bookings inside the day, and running: how many confirmed and completed bookings started before the day and end after its start';

CREATE TABLE workon.stats_revenue_days (
	day			date NOT NULL,
	space_id	uuid NOT NULL,
	currency	text NOT NULL,
	paid_cents	bigint NOT NULL DEFAULT 0,
	refunded_cents bigint NOT NULL DEFAULT 0,
	n			integer NOT NULL DEFAULT 0,
	PRIMARY KEY (space_id, day, currency)
);

COMMENT ON TABLE workon.stats_revenue_days IS
'Revenue rollup: per UTC day, space and currency, the payments that succeeded that day (paid_cents), the refunds that succeeded that day (refunded_cents), and n how many of them there are';

CREATE TABLE workon.stats_revenue_totals (
	day			date NOT NULL,
	currency	text NOT NULL,
	paid_cents	bigint NOT NULL DEFAULT 0,
	refunded_cents bigint NOT NULL DEFAULT 0,
	n			integer NOT NULL DEFAULT 0,
	PRIMARY KEY (day, currency)
);

COMMENT ON TABLE workon.stats_revenue_totals IS
'What workon.stats_revenue_days sums over all spaces: per UTC day and currency (the report of the whole marketplace)';

CREATE TABLE workon.stats_booking_changes (
	space_id	uuid NOT NULL,
	starts_at	timestamptz NOT NULL,
	ends_at		timestamptz NOT NULL,
	status		text NOT NULL,
	sign		integer NOT NULL
);

COMMENT ON TABLE workon.stats_booking_changes IS
'Bookings'' changes not yet in the rollup: a booking''s values whose share is added (sign 1) or taken away (sign -1), appended by the bookings'' triggers, taken out by workon.stats_fold';

CREATE TABLE workon.stats_money_changes (
	day			date NOT NULL,
	space_id	uuid NOT NULL,
	currency	text NOT NULL,
	paid_cents	bigint NOT NULL,
	refunded_cents bigint NOT NULL,
	sign		integer NOT NULL
);

COMMENT ON TABLE workon.stats_money_changes IS
'Succeeded payments'' and refunds'' changes not yet in the revenue rollup: the share of stats_revenue_days that is added (sign 1, the cents as they are) or taken away (sign -1, the cents negated), appended by the triggers of payments and refunds, taken out by workon.stats_fold';

-- derived, but dumped with the rows they sum: a restore loads both and the
-- triggers skip restored rows
SELECT pg_catalog.pg_extension_config_dump('workon.stats_local_days', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_utc_days', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_revenue_days', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_revenue_totals', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_booking_changes', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_money_changes', '');

-- the bookings on hold, for the report's lapsed holds
CREATE INDEX bookings_pending_starts_at_idx ON workon.bookings (starts_at)
	INCLUDE (space_id, hold_expires_at) WHERE status = 'pending_payment';

CREATE FUNCTION workon.space_booked_microseconds(timezone text, opening_hours jsonb,
												 first_day date, last_day date,
												 starts timestamptz[], ends timestamptz[])
RETURNS TABLE (day date, booked_microseconds bigint)
AS 'MODULE_PATHNAME', 'space_booked_microseconds'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_booked_microseconds(text, jsonb, date, date, timestamptz[], timestamptz[]) IS
'The booked time of workon.space_occupancy in microseconds (before it is cut to seconds), only of the days that have some (at most 400 days at once)';

CREATE FUNCTION workon.space_occupancy_days(timezone text, opening_hours jsonb,
											first_day date, last_day date,
											days date[], booked_microseconds bigint[],
											OUT daily_open_hours json, OUT daily_booked_hours json,
											OUT open_hours float8, OUT booked_hours float8)
RETURNS record
AS 'MODULE_PATHNAME', 'space_occupancy_days'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_occupancy_days(text, jsonb, date, date, date[], bigint[]) IS
'What the report makes of workon.space_occupancy_hours, from the booked microseconds already summed per day (days[i] has booked_microseconds[i]; other days none): the two arrays of hours as JSON (as array_to_json writes them) and their sums; the report over workon.stats_local_days';

CREATE FUNCTION workon.booking_local_days(timezone text, opening_hours jsonb,
										  starts_at timestamptz, ends_at timestamptz)
RETURNS TABLE (day date, booked_microseconds bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	-- the local days of the booking, 400 at a time (neither STRICT nor SET
	-- search_path: the query is inlined into the trigger's, whose plan is
	-- kept; NULL arguments give no rows)
	SELECT o.day, o.booked_microseconds
	  FROM (SELECT ($3 AT TIME ZONE $1)::date AS first_day,
				   (($4 - interval '1 microsecond') AT TIME ZONE $1)::date AS last_day) AS d
	 CROSS JOIN LATERAL pg_catalog.generate_series(0, (d.last_day - d.first_day) / 400) AS c(k)
	 CROSS JOIN LATERAL workon.space_booked_microseconds($1, $2, d.first_day + c.k * 400,
			LEAST(d.last_day, d.first_day + c.k * 400 + 399), ARRAY[$3], ARRAY[$4]) AS o
$$;

COMMENT ON FUNCTION workon.booking_local_days(text, jsonb, timestamptz, timestamptz) IS
'The microseconds of the booking [starts_at, ends_at) inside the opening hours, per calendar day of the zone that has some: one booking''s share of workon.stats_local_days';

--
-- A booking's share
--
CREATE FUNCTION workon.stats_utc_shares(changes workon.stats_booking_changes[])
RETURNS TABLE (space_id uuid, day date, pending_payment integer, confirmed integer, expired integer,
			   cancelled integer, completed integer, booked_microseconds bigint, running integer)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	-- (neither STRICT nor SET search_path: inlined into the callers' queries)
	-- each change's status on the day it starts; for the booked ones their
	-- time in each UTC day and the days they run into
	SELECT c.space_id, g.day,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'pending_payment' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'confirmed' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'expired' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'cancelled' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'completed' THEN c.sign ELSE 0 END)::integer,
		   COALESCE(pg_catalog.sum(c.sign * (EXTRACT(epoch FROM LEAST(c.ends_at, (g.day + 1)::timestamp AT TIME ZONE 'UTC')
															- GREATEST(c.starts_at, g.day::timestamp AT TIME ZONE 'UTC'))
											  * 1000000)::bigint) FILTER (WHERE c.booked), 0)::bigint,
		   pg_catalog.sum(CASE WHEN c.booked AND g.day > c.first_day THEN c.sign ELSE 0 END)::integer
	  FROM (SELECT x.space_id, x.starts_at, x.ends_at, x.status, x.sign,
				   (x.starts_at AT TIME ZONE 'UTC')::date AS first_day,
				   x.status IN ('confirmed', 'completed') AS booked
			  FROM pg_catalog.unnest($1) AS x) AS c
	 CROSS JOIN LATERAL (SELECT d::date AS day
						   FROM pg_catalog.generate_series(c.first_day,
								CASE WHEN c.booked THEN ((c.ends_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date
									 ELSE c.first_day END, interval '1 day') AS d) AS g
	 GROUP BY g.day, c.space_id
	 ORDER BY g.day, c.space_id
$$;

COMMENT ON FUNCTION workon.stats_utc_shares(workon.stats_booking_changes[]) IS
'What the changes add to workon.stats_utc_days, summed per UTC day and space';

CREATE FUNCTION workon.stats_local_shares(changes workon.stats_booking_changes[])
RETURNS TABLE (space_id uuid, day date, booked_microseconds bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	-- (as stats_utc_shares) the booked ones' time inside the space's opening
	-- hours per local day, from the same C code as the report
	SELECT c.space_id, o.day, pg_catalog.sum(c.sign * o.booked_microseconds)::bigint
	  FROM pg_catalog.unnest($1) AS c
	  JOIN workon.spaces AS s ON s.id = c.space_id
	 CROSS JOIN LATERAL workon.booking_local_days(s.timezone, s.opening_hours, c.starts_at, c.ends_at) AS o
	 WHERE c.status IN ('confirmed', 'completed')
	 GROUP BY c.space_id, o.day
	 ORDER BY c.space_id, o.day
$$;

COMMENT ON FUNCTION workon.stats_local_shares(workon.stats_booking_changes[]) IS
'What the changes add to workon.stats_local_days, summed per space and local day (the space''s current zone and opening hours)';

CREATE FUNCTION workon.stats_bookings_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- the old row's share goes, the new row's comes: one statement, folded later
	IF TG_OP = 'INSERT' THEN
		INSERT INTO workon.stats_booking_changes (space_id, starts_at, ends_at, status, sign)
		VALUES (NEW.space_id, NEW.starts_at, NEW.ends_at, NEW.status, 1);
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO workon.stats_booking_changes (space_id, starts_at, ends_at, status, sign)
		VALUES (OLD.space_id, OLD.starts_at, OLD.ends_at, OLD.status, -1),
			   (NEW.space_id, NEW.starts_at, NEW.ends_at, NEW.status, 1);
	ELSE
		INSERT INTO workon.stats_booking_changes (space_id, starts_at, ends_at, status, sign)
		VALUES (OLD.space_id, OLD.starts_at, OLD.ends_at, OLD.status, -1);
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_bookings_rollup() IS
'Trigger of bookings: queues the move of the row''s share of the stats rollup from its old values to its new ones (workon.stats_booking_changes)';

CREATE TRIGGER bookings_stats_rollup
	AFTER INSERT OR DELETE ON workon.bookings
	FOR EACH ROW WHEN (NOT workon.restoring('workon.bookings'))
	EXECUTE FUNCTION workon.stats_bookings_rollup();

CREATE TRIGGER bookings_stats_rollup_update
	AFTER UPDATE ON workon.bookings
	FOR EACH ROW WHEN ((OLD.space_id, OLD.starts_at, OLD.ends_at, OLD.status)
					   IS DISTINCT FROM (NEW.space_id, NEW.starts_at, NEW.ends_at, NEW.status))
	EXECUTE FUNCTION workon.stats_bookings_rollup();

--
-- Revenue: a payment's or a refund's share
--
CREATE FUNCTION workon.stats_add_money(booking_id uuid, at timestamptz, currency text,
									   paid bigint, refunded bigint, sign integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	-- queued for workon.stats_fold: the row of a day's revenue of all
	-- spaces is written by the fold alone, so payments do not queue on it.
	-- PL/pgSQL: its plan is kept for the session; no SET search_path (the
	-- trigger that calls it sets it)
	INSERT INTO workon.stats_money_changes (day, space_id, currency, paid_cents, refunded_cents, sign)
	SELECT (stats_add_money.at AT TIME ZONE 'UTC')::date, b.space_id, stats_add_money.currency,
		   sign * paid, sign * refunded, sign
	  FROM workon.bookings AS b
	 WHERE b.id = stats_add_money.booking_id;
END
$$;

COMMENT ON FUNCTION workon.stats_add_money(uuid, timestamptz, text, bigint, bigint, integer) IS
'Queues the addition (sign 1) or removal (sign -1) of a succeeded payment''s or refund''s share of workon.stats_revenue_days and stats_revenue_totals (workon.stats_money_changes)';

CREATE FUNCTION workon.stats_money_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_row		jsonb;
	v_sign		integer;
BEGIN
	-- the old row's share goes, the new row's comes
	FOR v_row, v_sign IN
		SELECT r.j, r.s
		  FROM (VALUES (CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END, -1),
					   (CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END, 1)) AS r(j, s)
		 WHERE r.j ->> 'status' = 'succeeded'
	LOOP
		IF TG_TABLE_NAME = 'payments' THEN
			CONTINUE WHEN v_row ->> 'succeeded_at' IS NULL;
			PERFORM workon.stats_add_money((v_row ->> 'booking_id')::uuid, (v_row ->> 'succeeded_at')::timestamptz,
										   COALESCE(v_row ->> 'received_currency', v_row ->> 'currency'),
										   COALESCE(v_row ->> 'amount_received_cents', v_row ->> 'amount_cents')::bigint,
										   0, v_sign);
		ELSE
			PERFORM workon.stats_add_money((v_row ->> 'booking_id')::uuid,
										   COALESCE(v_row ->> 'stripe_status_at', v_row ->> 'created_at')::timestamptz,
										   v_row ->> 'currency', 0, (v_row ->> 'amount_cents')::bigint, v_sign);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_money_rollup() IS
'Trigger of payments and refunds: queues the move of a succeeded one''s share of the revenue rollup: a payment on the UTC day of succeeded_at in the currency and amount received (else the ones asked), a refund on the UTC day of stripe_status_at (else created_at)';

CREATE TRIGGER payments_stats_rollup
	AFTER INSERT OR DELETE ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments'))
	EXECUTE FUNCTION workon.stats_money_rollup();

CREATE TRIGGER payments_stats_rollup_update
	AFTER UPDATE ON workon.payments
	FOR EACH ROW WHEN ((OLD.booking_id, OLD.status, OLD.succeeded_at, OLD.currency, OLD.received_currency,
						OLD.amount_cents, OLD.amount_received_cents)
					   IS DISTINCT FROM (NEW.booking_id, NEW.status, NEW.succeeded_at, NEW.currency,
										 NEW.received_currency, NEW.amount_cents, NEW.amount_received_cents))
	EXECUTE FUNCTION workon.stats_money_rollup();

CREATE TRIGGER refunds_stats_rollup
	AFTER INSERT OR DELETE ON workon.refunds
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refunds'))
	EXECUTE FUNCTION workon.stats_money_rollup();

CREATE TRIGGER refunds_stats_rollup_update
	AFTER UPDATE ON workon.refunds
	FOR EACH ROW WHEN ((OLD.booking_id, OLD.status, OLD.stripe_status_at, OLD.created_at, OLD.currency,
						OLD.amount_cents)
					   IS DISTINCT FROM (NEW.booking_id, NEW.status, NEW.stripe_status_at, NEW.created_at,
										 NEW.currency, NEW.amount_cents))
	EXECUTE FUNCTION workon.stats_money_rollup();

--
-- Folding the queued changes into the sums
--
CREATE FUNCTION workon.stats_fold()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_bookings	integer;
	v_money		integer;
BEGIN
	-- one fold at a time (an advisory lock: neither the queues' writers nor
	-- their vacuum are held up); the changes of transactions still running
	-- stay for the next one.  Each queue in one statement: the changes it
	-- takes out are what it adds (and never in a variable, whose value a
	-- custom plan would carry as a constant through the planner)
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.stats_booking_changes'::regclass::oid::bigint);
	WITH d AS (
		DELETE FROM workon.stats_booking_changes AS c RETURNING c
	), a AS (
		SELECT pg_catalog.array_agg(d.c) AS changes FROM d
	), u AS (
		INSERT INTO workon.stats_utc_days AS t (space_id, day, pending_payment, confirmed, expired,
												cancelled, completed, booked_microseconds, running)
		SELECT p.* FROM a CROSS JOIN LATERAL workon.stats_utc_shares(a.changes) AS p
		ON CONFLICT (day, space_id) DO UPDATE
		   SET pending_payment = t.pending_payment + EXCLUDED.pending_payment,
			   confirmed = t.confirmed + EXCLUDED.confirmed,
			   expired = t.expired + EXCLUDED.expired,
			   cancelled = t.cancelled + EXCLUDED.cancelled,
			   completed = t.completed + EXCLUDED.completed,
			   booked_microseconds = t.booked_microseconds + EXCLUDED.booked_microseconds,
			   running = t.running + EXCLUDED.running
	), l AS (
		INSERT INTO workon.stats_local_days AS t (space_id, day, booked_microseconds)
		SELECT p.* FROM a CROSS JOIN LATERAL workon.stats_local_shares(a.changes) AS p
		ON CONFLICT (space_id, day) DO UPDATE
		   SET booked_microseconds = t.booked_microseconds + EXCLUDED.booked_microseconds
	)
	SELECT pg_catalog.count(*) INTO v_bookings FROM d;

	WITH d AS (
		DELETE FROM workon.stats_money_changes AS c RETURNING c.*
	), r AS (
		INSERT INTO workon.stats_revenue_days AS t (day, space_id, currency, paid_cents, refunded_cents, n)
		SELECT d.day, d.space_id, d.currency, pg_catalog.sum(d.paid_cents), pg_catalog.sum(d.refunded_cents),
			   pg_catalog.sum(d.sign)
		  FROM d
		 GROUP BY d.space_id, d.day, d.currency
		 ORDER BY d.space_id, d.day, d.currency
		ON CONFLICT ON CONSTRAINT stats_revenue_days_pkey DO UPDATE
		   SET paid_cents = t.paid_cents + EXCLUDED.paid_cents,
			   refunded_cents = t.refunded_cents + EXCLUDED.refunded_cents,
			   n = t.n + EXCLUDED.n
	), s AS (
		INSERT INTO workon.stats_revenue_totals AS t (day, currency, paid_cents, refunded_cents, n)
		SELECT d.day, d.currency, pg_catalog.sum(d.paid_cents), pg_catalog.sum(d.refunded_cents),
			   pg_catalog.sum(d.sign)
		  FROM d
		 GROUP BY d.day, d.currency
		 ORDER BY d.day, d.currency
		ON CONFLICT ON CONSTRAINT stats_revenue_totals_pkey DO UPDATE
		   SET paid_cents = t.paid_cents + EXCLUDED.paid_cents,
			   refunded_cents = t.refunded_cents + EXCLUDED.refunded_cents,
			   n = t.n + EXCLUDED.n
	)
	SELECT pg_catalog.count(*) INTO v_money FROM d;
	RETURN v_bookings + v_money;
END
$$;

COMMENT ON FUNCTION workon.stats_fold() IS
'Moves the committed changes of workon.stats_booking_changes and stats_money_changes into the rollup, summed per row of the rollup, and says how many changes it took; the shim calls it every second, pg_cron may too (the report adds the changes still queued, so this only keeps the queues short)';

-- the front end's own call, outside any request
GRANT EXECUTE ON FUNCTION workon.stats_fold() TO workon_authenticator;

--
-- Rebuilding from the rows
--
CREATE FUNCTION workon.stats_rebuild_local_days(space_ids uuid[])
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM workon.stats_local_days WHERE space_id = ANY ($1);
	INSERT INTO workon.stats_local_days (space_id, day, booked_microseconds)
	SELECT b.space_id, o.day, pg_catalog.sum(o.booked_microseconds)
	  FROM workon.bookings AS b
	  JOIN workon.spaces AS s ON s.id = b.space_id
	 CROSS JOIN LATERAL workon.booking_local_days(s.timezone, s.opening_hours, b.starts_at, b.ends_at) AS o
	 WHERE b.space_id = ANY ($1) AND b.status IN ('confirmed', 'completed')
	 GROUP BY b.space_id, o.day
	 ORDER BY b.space_id, o.day;
$$;

COMMENT ON FUNCTION workon.stats_rebuild_local_days(uuid[]) IS
'Recomputes workon.stats_local_days of the spaces from their bookings';

CREATE FUNCTION workon.stats_spaces_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- after the bookings' writers in flight, before the next ones: their
	-- queued changes are folded, then the space's days computed again (the
	-- fold's lock first, as the fold takes it)
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.stats_booking_changes'::regclass::oid::bigint);
	LOCK TABLE workon.stats_booking_changes IN SHARE ROW EXCLUSIVE MODE;
	PERFORM workon.stats_fold();
	PERFORM workon.stats_rebuild_local_days(ARRAY[NEW.id]);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_spaces_rollup() IS
'Trigger of spaces: a new zone or new opening hours change the local days and the booked time inside the opening hours, so the space''s occupancy rollup is computed again';

CREATE TRIGGER spaces_stats_rollup
	AFTER UPDATE OF timezone, opening_hours ON workon.spaces
	FOR EACH ROW WHEN ((OLD.timezone, OLD.opening_hours) IS DISTINCT FROM (NEW.timezone, NEW.opening_hours))
	EXECUTE FUNCTION workon.stats_spaces_rollup();

CREATE FUNCTION workon.stats_rollup_rebuild()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- one writer at a time: the triggers wait until the sums are whole; the
	-- queued changes are in the rows the sums are computed from
	LOCK TABLE workon.stats_booking_changes, workon.stats_money_changes IN EXCLUSIVE MODE;
	LOCK TABLE workon.stats_local_days, workon.stats_utc_days, workon.stats_revenue_days,
		workon.stats_revenue_totals IN EXCLUSIVE MODE;
	DELETE FROM workon.stats_booking_changes;
	DELETE FROM workon.stats_money_changes;
	TRUNCATE workon.stats_local_days, workon.stats_utc_days, workon.stats_revenue_days,
		workon.stats_revenue_totals;
	PERFORM workon.stats_rebuild_local_days(ARRAY(SELECT s.id FROM workon.spaces AS s));

	WITH b AS (
		SELECT b.space_id, b.starts_at, b.ends_at, b.status,
			   (b.starts_at AT TIME ZONE 'UTC')::date AS first_day,
			   b.status IN ('confirmed', 'completed') AS booked
		  FROM workon.bookings AS b
	)
	INSERT INTO workon.stats_utc_days (space_id, day, pending_payment, confirmed, expired,
									   cancelled, completed, booked_microseconds, running)
	SELECT b.space_id, g.day,
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'pending_payment'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'confirmed'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'expired'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'cancelled'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'completed'),
		   COALESCE(pg_catalog.sum((EXTRACT(epoch FROM LEAST(b.ends_at, (g.day + 1)::timestamp AT TIME ZONE 'UTC')
												  - GREATEST(b.starts_at, g.day::timestamp AT TIME ZONE 'UTC'))
									* 1000000)::bigint) FILTER (WHERE b.booked), 0),
		   pg_catalog.count(*) FILTER (WHERE b.booked AND g.day > b.first_day)
	  FROM b
	 CROSS JOIN LATERAL (SELECT d::date AS day
						   FROM pg_catalog.generate_series(b.first_day,
								CASE WHEN b.booked THEN ((b.ends_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date
									 ELSE b.first_day END, interval '1 day') AS d) AS g
	 GROUP BY g.day, b.space_id
	 -- in the order the report reads them: a window's days are few pages
	 ORDER BY g.day, b.space_id;

	INSERT INTO workon.stats_revenue_days (day, space_id, currency, paid_cents, refunded_cents, n)
	SELECT m.day, b.space_id, m.currency, pg_catalog.sum(m.paid), pg_catalog.sum(m.refunded), pg_catalog.count(*)
	  FROM (SELECT p.booking_id, (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
				   COALESCE(p.received_currency, p.currency) AS currency,
				   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded
			  FROM workon.payments AS p
			 WHERE p.status = 'succeeded' AND p.succeeded_at IS NOT NULL
			UNION ALL
			SELECT r.booking_id, (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
				   r.currency, 0, r.amount_cents
			  FROM workon.refunds AS r
			 WHERE r.status = 'succeeded') AS m
	  JOIN workon.bookings AS b ON b.id = m.booking_id
	 GROUP BY m.day, b.space_id, m.currency
	 ORDER BY b.space_id, m.day, m.currency;
	INSERT INTO workon.stats_revenue_totals (day, currency, paid_cents, refunded_cents, n)
	SELECT r.day, r.currency, pg_catalog.sum(r.paid_cents), pg_catalog.sum(r.refunded_cents), pg_catalog.sum(r.n)
	  FROM workon.stats_revenue_days AS r
	 GROUP BY r.day, r.currency;
END
$$;

COMMENT ON FUNCTION workon.stats_rollup_rebuild() IS
'Recomputes the whole stats rollup (workon.stats_local_days, stats_utc_days, stats_revenue_days, stats_revenue_totals) from the bookings, payments and refunds, and empties the queues of changes: after loading rows with the triggers off, and by the update that adds the rollup';

CREATE FUNCTION workon.stats_truncate_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.stats_rollup_rebuild();
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_truncate_rollup() IS
'Trigger of TRUNCATE on bookings, payments and refunds (no row triggers run): the rollup is computed again from the rows that are left';

CREATE TRIGGER bookings_stats_truncate
	AFTER TRUNCATE ON workon.bookings
	FOR EACH STATEMENT EXECUTE FUNCTION workon.stats_truncate_rollup();

CREATE TRIGGER payments_stats_truncate
	AFTER TRUNCATE ON workon.payments
	FOR EACH STATEMENT EXECUTE FUNCTION workon.stats_truncate_rollup();

CREATE TRIGGER refunds_stats_truncate
	AFTER TRUNCATE ON workon.refunds
	FOR EACH STATEMENT EXECUTE FUNCTION workon.stats_truncate_rollup();
