--
-- The stats rollup (sql/src/62_stats_rollup.sql): after a mix of writes
-- (create, confirm, cancel, expire, complete, move, payments and refunds,
-- a DST day, overnight and multi-day bookings, new opening hours) the sums
-- the triggers queued and workon.stats_fold folded equal a recomputation
-- from the rows, the report over them equals what the C rules compute from
-- the bookings, and the report is the same before and after a fold
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql

-- the rollup's rows that are not all zero, against a recomputation from the
-- rows (workon.stats_rollup_rebuild, which then holds the recomputation)
CREATE FUNCTION pg_temp.rollup_differences()
RETURNS TABLE (rollup text, side text, row_text text)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM workon.stats_fold();
	CREATE TEMP TABLE kept_local AS SELECT * FROM workon.stats_local_days WHERE booked_microseconds <> 0;
	CREATE TEMP TABLE kept_utc AS SELECT * FROM workon.stats_utc_days
	 WHERE (pending_payment, confirmed, expired, cancelled, completed, booked_microseconds, running) <> (0, 0, 0, 0, 0, 0, 0);
	CREATE TEMP TABLE kept_rev AS SELECT * FROM workon.stats_revenue_days WHERE n <> 0;
	CREATE TEMP TABLE kept_tot AS SELECT * FROM workon.stats_revenue_totals WHERE n <> 0;
	PERFORM workon.stats_rollup_rebuild();
	DELETE FROM workon.stats_local_days WHERE booked_microseconds = 0;
	DELETE FROM workon.stats_utc_days
	 WHERE (pending_payment, confirmed, expired, cancelled, completed, booked_microseconds, running) = (0, 0, 0, 0, 0, 0, 0);
	DELETE FROM workon.stats_revenue_days WHERE n = 0;
	DELETE FROM workon.stats_revenue_totals WHERE n = 0;
	RETURN QUERY
		(SELECT 'local', 'kept', k::text FROM (TABLE kept_local EXCEPT SELECT * FROM workon.stats_local_days) AS k
		 UNION ALL
		 SELECT 'local', 'recomputed', k::text FROM (SELECT * FROM workon.stats_local_days EXCEPT TABLE kept_local) AS k
		 UNION ALL
		 SELECT 'utc', 'kept', k::text FROM (TABLE kept_utc EXCEPT SELECT * FROM workon.stats_utc_days) AS k
		 UNION ALL
		 SELECT 'utc', 'recomputed', k::text FROM (SELECT * FROM workon.stats_utc_days EXCEPT TABLE kept_utc) AS k
		 UNION ALL
		 SELECT 'revenue', 'kept', k::text FROM (TABLE kept_rev EXCEPT SELECT * FROM workon.stats_revenue_days) AS k
		 UNION ALL
		 SELECT 'revenue', 'recomputed', k::text FROM (SELECT * FROM workon.stats_revenue_days EXCEPT TABLE kept_rev) AS k
		 UNION ALL
		 SELECT 'totals', 'kept', k::text FROM (TABLE kept_tot EXCEPT SELECT * FROM workon.stats_revenue_totals) AS k
		 UNION ALL
		 SELECT 'totals', 'recomputed', k::text FROM (SELECT * FROM workon.stats_revenue_totals EXCEPT TABLE kept_tot) AS k)
		ORDER BY 1, 2, 3;
	DROP TABLE kept_local, kept_utc, kept_rev, kept_tot;
END
$$;

-- the report's occupancy of every space against the C rules applied to the
-- confirmed and completed bookings directly; its counts against the rows
CREATE FUNCTION pg_temp.report_differences(from_day text, to_day text)
RETURNS TABLE (part text, space text, report json, direct json)
LANGUAGE sql AS $$
	WITH r AS (SELECT workon.stats_report(from_day, to_day, NULL, NULL, NULL)::jsonb AS j),
	o AS (SELECT e FROM r, jsonb_array_elements(r.j -> 'occupancy') AS e),
	d AS (
		SELECT s.name, h.open_hours, h.booked_hours
		  FROM workon.spaces AS s
		 CROSS JOIN LATERAL (SELECT (from_day::date::timestamp AT TIME ZONE 'UTC' AT TIME ZONE s.timezone)::date AS f,
									(((to_day::date + 1)::timestamp AT TIME ZONE 'UTC' - interval '1 microsecond') AT TIME ZONE s.timezone)::date AS l) AS w
		 CROSS JOIN LATERAL workon.space_occupancy_hours(s.timezone, s.opening_hours, w.f, w.l,
				COALESCE((SELECT array_agg(b.starts_at) FROM workon.bookings AS b
						   WHERE b.space_id = s.id AND b.status IN ('confirmed', 'completed')), '{}'),
				COALESCE((SELECT array_agg(b.ends_at) FROM workon.bookings AS b
						   WHERE b.space_id = s.id AND b.status IN ('confirmed', 'completed')), '{}')) AS h
	)
	SELECT 'occupancy', d.name, (o.e -> 'daily_booked_hours')::json, array_to_json(d.booked_hours)
	  FROM d JOIN o ON o.e ->> 'name' = d.name
	 WHERE o.e -> 'daily_booked_hours' <> to_jsonb(d.booked_hours)
		OR o.e -> 'daily_open_hours' <> to_jsonb(d.open_hours)
	UNION ALL
	SELECT 'bookings', NULL, (r.j -> 'bookings')::json, c.j
	  FROM r, (SELECT json_build_object('total', count(*), 'by_status', (SELECT json_object_agg(st, (
					SELECT count(*) FROM workon.bookings AS b
					 WHERE b.starts_at >= from_day::date::timestamp AT TIME ZONE 'UTC'
					   AND b.starts_at < (to_day::date + 1)::timestamp AT TIME ZONE 'UTC'
					   AND CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= now()
								THEN 'expired' ELSE b.status END = st))
					FROM unnest(ARRAY['pending_payment', 'confirmed', 'expired', 'cancelled', 'completed']) AS st)) AS j
				 FROM workon.bookings AS b
				WHERE b.starts_at >= from_day::date::timestamp AT TIME ZONE 'UTC'
				  AND b.starts_at < (to_day::date + 1)::timestamp AT TIME ZONE 'UTC') AS c
	 WHERE r.j -> 'bookings' <> c.j::jsonb
$$;

-- the report with changes queued equals the report once they are folded
CREATE FUNCTION pg_temp.fold_keeps_report()
RETURNS TABLE (folded boolean, same_report boolean, same_space_report boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_all	jsonb := workon.stats_report('2026-03-25', '2026-04-01', NULL, NULL, NULL)::jsonb;
	v_one	jsonb := workon.stats_report('2026-03-25', '2026-04-01', '5e700000-0000-4000-8000-000000000002', NULL, NULL)::jsonb;
	v_n		integer := workon.stats_fold();
BEGIN
	RETURN QUERY
		SELECT v_n > 0, v_all = workon.stats_report('2026-03-25', '2026-04-01', NULL, NULL, NULL)::jsonb,
			   v_one = workon.stats_report('2026-03-25', '2026-04-01', '5e700000-0000-4000-8000-000000000002', NULL, NULL)::jsonb;
END
$$;

SELECT workon.create_user('rollup.host@example.com', 'rollup host password', 'Rollup Host', 'host') AS host \gset
SELECT workon.create_user('rollup.member@example.com', 'rollup member password', 'Rollup Member', 'member') AS member \gset
-- Berlin: open Saturday 08:00 through the night to Sunday 04:00 (the night
-- of the spring DST change), Sunday 10:00-12:00; New York: weekdays 09-17
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
						   hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('5e700000-0000-4000-8000-000000000001', :'host', 'Rollup Night', 'desk', 'Berlin', 'Street 1', 1,
		'Europe/Berlin', 1000, 6000, 'eur',
		'{"sat": [["08:00", "24:00"]], "sun": [["00:00", "04:00"], ["10:00", "12:00"]]}', true),
	   ('5e700000-0000-4000-8000-000000000002', :'host', 'Rollup Day', 'meeting_room', 'New York', 'Ave 2', 4,
		'America/New_York', 2000, 9000, 'usd',
		'{"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}', true);

-- created (holds), then confirmed, cancelled, expired; an overnight booking
-- over the DST change, a multi-day one, one that gets moved
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, hold_expires_at, price_cents, currency)
VALUES ('5f700000-0000-4000-8000-000000000001', '5e700000-0000-4000-8000-000000000001', :'member',
		'2026-03-28 22:00+00', '2026-03-29 03:00+00', 'pending_payment', now() + interval '1 hour', 5000, 'eur'),
	   ('5f700000-0000-4000-8000-000000000002', '5e700000-0000-4000-8000-000000000001', :'member',
		'2026-03-29 09:00+00', '2026-03-29 12:00+00', 'pending_payment', now() + interval '1 hour', 2000, 'eur'),
	   ('5f700000-0000-4000-8000-000000000003', '5e700000-0000-4000-8000-000000000001', :'member',
		'2026-03-28 08:00+00', '2026-03-28 10:00+00', 'pending_payment', now() + interval '1 hour', 2000, 'eur'),
	   ('5f700000-0000-4000-8000-000000000004', '5e700000-0000-4000-8000-000000000002', :'member',
		'2026-03-27 20:00+00', '2026-03-30 15:30+00', 'pending_payment', now() + interval '1 hour', 30000, 'usd'),
	   ('5f700000-0000-4000-8000-000000000005', '5e700000-0000-4000-8000-000000000002', :'member',
		'2026-03-26 13:00+00', '2026-03-26 14:00+00', 'pending_payment', now() + interval '1 hour', 2000, 'usd'),
	   ('5f700000-0000-4000-8000-000000000006', '5e700000-0000-4000-8000-000000000002', :'member',
		'2026-03-31 13:00+00', '2026-03-31 14:00+00', 'pending_payment', now() + interval '1 hour', 2000, 'usd'),
	   -- a hold that lapsed and was never marked: the report counts it as expired
	   ('5f700000-0000-4000-8000-000000000007', '5e700000-0000-4000-8000-000000000002', :'member',
		'2026-03-30 17:00+00', '2026-03-30 18:00+00', 'pending_payment', now() - interval '1 hour', 2000, 'usd');
-- a booking's transaction only queues its change
SELECT count(*) AS queued FROM workon.stats_booking_changes
 WHERE space_id IN ('5e700000-0000-4000-8000-000000000001', '5e700000-0000-4000-8000-000000000002');
SELECT * FROM pg_temp.fold_keeps_report();
SELECT count(*) AS queued FROM workon.stats_booking_changes;
SELECT day, pending_payment, confirmed, booked_microseconds, running FROM workon.stats_utc_days
 WHERE space_id IN ('5e700000-0000-4000-8000-000000000001', '5e700000-0000-4000-8000-000000000002') ORDER BY space_id, day;
SELECT count(*) AS local_rows FROM workon.stats_local_days WHERE space_id IN ('5e700000-0000-4000-8000-000000000001', '5e700000-0000-4000-8000-000000000002');

UPDATE workon.bookings SET status = 'confirmed', hold_expires_at = NULL
 WHERE id IN ('5f700000-0000-4000-8000-000000000001', '5f700000-0000-4000-8000-000000000002',
			  '5f700000-0000-4000-8000-000000000003', '5f700000-0000-4000-8000-000000000004',
			  '5f700000-0000-4000-8000-000000000005');
UPDATE workon.bookings SET status = 'expired' WHERE id = '5f700000-0000-4000-8000-000000000006';
UPDATE workon.bookings SET status = 'cancelled', cancelled_at = '2026-03-27 07:00+00', refund_percent = 50, refund_cents = 1000
 WHERE id = '5f700000-0000-4000-8000-000000000003';
UPDATE workon.bookings SET status = 'completed' WHERE id = '5f700000-0000-4000-8000-000000000002';
-- moved an hour later (a DBA's fix)
UPDATE workon.bookings SET starts_at = starts_at + interval '1 hour', ends_at = ends_at + interval '1 hour'
 WHERE id = '5f700000-0000-4000-8000-000000000005';
SELECT * FROM pg_temp.fold_keeps_report();
SELECT s.name, l.day, l.booked_microseconds / 1e6 / 3600 AS booked_hours
  FROM workon.stats_local_days AS l JOIN workon.spaces AS s ON s.id = l.space_id
 WHERE l.booked_microseconds <> 0 AND l.space_id IN ('5e700000-0000-4000-8000-000000000001', '5e700000-0000-4000-8000-000000000002') ORDER BY s.name, l.day;

-- payments succeed (one in another currency than asked), a partial refund
-- goes from pending to succeeded, another fails
INSERT INTO workon.payments (id, booking_id, user_id, method, status, amount_cents, currency)
VALUES ('5d700000-0000-4000-8000-000000000001', '5f700000-0000-4000-8000-000000000001', :'member', 'payment_intent', 'requires_payment_method', 5000, 'eur'),
	   ('5d700000-0000-4000-8000-000000000002', '5f700000-0000-4000-8000-000000000003', :'member', 'payment_intent', 'requires_payment_method', 2000, 'eur'),
	   ('5d700000-0000-4000-8000-000000000003', '5f700000-0000-4000-8000-000000000004', :'member', 'checkout', 'requires_payment_method', 30000, 'usd');
UPDATE workon.payments SET status = 'succeeded', succeeded_at = '2026-03-27 10:00+00'
 WHERE id IN ('5d700000-0000-4000-8000-000000000001', '5d700000-0000-4000-8000-000000000002');
UPDATE workon.payments SET status = 'succeeded', succeeded_at = '2026-03-28 23:30+00',
	   amount_received_cents = 27000, received_currency = 'eur'
 WHERE id = '5d700000-0000-4000-8000-000000000003';
INSERT INTO workon.refunds (id, payment_id, booking_id, amount_cents, currency, status, reason)
VALUES ('5d800000-0000-4000-8000-000000000001', '5d700000-0000-4000-8000-000000000002', '5f700000-0000-4000-8000-000000000003',
		1000, 'eur', 'pending', 'requested_by_customer'),
	   ('5d800000-0000-4000-8000-000000000002', '5d700000-0000-4000-8000-000000000001', '5f700000-0000-4000-8000-000000000001',
		700, 'eur', 'pending', 'requested_by_customer');
UPDATE workon.refunds SET status = 'succeeded', stripe_status_at = '2026-03-28 07:05+00'
 WHERE id = '5d800000-0000-4000-8000-000000000001';
UPDATE workon.refunds SET status = 'failed', stripe_status_at = '2026-03-28 07:05+00'
 WHERE id = '5d800000-0000-4000-8000-000000000002';
SELECT count(*) AS queued FROM workon.stats_money_changes
 WHERE space_id IN ('5e700000-0000-4000-8000-000000000001', '5e700000-0000-4000-8000-000000000002');
SELECT * FROM pg_temp.fold_keeps_report();
SELECT space_id, day, currency, paid_cents, refunded_cents, n FROM workon.stats_revenue_days
 WHERE space_id IN ('5e700000-0000-4000-8000-000000000001', '5e700000-0000-4000-8000-000000000002') ORDER BY space_id, day, currency;

SELECT * FROM pg_temp.rollup_differences();
SELECT * FROM pg_temp.report_differences('2026-03-25', '2026-04-01');
SELECT * FROM pg_temp.report_differences('2026-03-29', '2026-03-29');

-- new opening hours: the space's booked time is computed again
UPDATE workon.spaces SET opening_hours = '{"sat": [["00:00", "24:00"]], "sun": [["00:00", "24:00"]]}'
 WHERE id = '5e700000-0000-4000-8000-000000000001';
SELECT l.day, l.booked_microseconds / 1e6 / 3600 AS booked_hours
  FROM workon.stats_local_days AS l
 WHERE l.space_id = '5e700000-0000-4000-8000-000000000001' AND l.booked_microseconds <> 0 ORDER BY l.day;
SELECT * FROM pg_temp.rollup_differences();
SELECT * FROM pg_temp.report_differences('2026-03-25', '2026-04-01');

-- the report over whole UTC days reads the rollup; a window of other
-- bounds reads the rows: both agree where they overlap the same bookings
SELECT workon.stats_report('2026-03-28', '2026-03-28', NULL, NULL, NULL) -> 'top_spaces' AS rollup_top,
	   workon.stats_report('2026-03-28T00:00:00+00:00', '2026-03-28T23:59:59.999999+00:00', NULL, NULL, NULL) -> 'top_spaces' AS rows_top;
SELECT workon.stats_report('2026-03-28', '2026-03-28', NULL, NULL, NULL) -> 'revenue' AS rollup_revenue,
	   workon.stats_report('2026-03-28T00:00:00+00:00', '2026-03-28T23:59:59.999999+00:00', NULL, NULL, NULL) -> 'revenue' AS rows_revenue;
-- one space's report reads its own rows of the rollup
SELECT workon.stats_report('2026-03-25', '2026-04-01', '5e700000-0000-4000-8000-000000000002', NULL, NULL) -> 'revenue' AS one_space_revenue;

