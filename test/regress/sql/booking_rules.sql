--
-- Booking rules, prices, the state machine and the refund policy
-- (extension/booking.c), at fixed points in time
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
SET datestyle = 'ISO, YMD';

-- check(zone, hours, starts, ends) at "now" = 2026-01-05 12:00 UTC
CREATE FUNCTION pg_temp.chk(zone text, hours jsonb, s timestamptz, e timestamptz,
                            now timestamptz DEFAULT '2026-01-05 12:00+00') RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.try(format('SELECT workon.booking_check(%L, %L, %L, %L, %L)', zone, hours, s, e, now))
$$;

\set always '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}'
\set office '{"mon":[["08:00","12:00"],["13:00","18:00"]],"tue":[["08:00","18:00"]],"fri":[["22:00","24:00"]],"sat":[["00:00","06:00"]]}'

-- opening hours validation
SELECT h, pg_temp.try(format('SELECT workon.opening_hours_check(%L)', h)) AS result
  FROM unnest(ARRAY[
	'{}',
	'{"mon":[]}',
	:'office',
	'{"mon":[["08:00","12:00"],["12:00","14:00"]]}',
	'[]',
	'{"monday":[["08:00","12:00"]]}',
	'{"mon":"08:00-12:00"}',
	'{"mon":[["08:00"]]}',
	'{"mon":[["08:00","12:00","13:00"]]}',
	'{"mon":[[8,12]]}',
	'{"mon":[["8:00","12:00"]]}',
	'{"mon":[["24:00","24:00"]]}',
	'{"mon":[["08:00","24:01"]]}',
	'{"mon":[["08:60","12:00"]]}',
	'{"tue":[["12:00","08:00"]]}',
	'{"wed":[["10:00","10:00"]]}',
	'{"thu":[["08:00","12:00"],["11:00","14:00"]]}',
	'{"fri":[["13:00","14:00"],["08:00","12:00"]]}']::text[]) AS h;
SELECT pg_temp.try('SELECT workon.opening_hours_check(NULL)');

-- the rules, each at its boundary
SELECT label, pg_temp.chk('Europe/Berlin', :'always', s, e) AS result
  FROM (VALUES
	('ok: 30 minutes', '2026-01-06 09:00+00'::timestamptz, '2026-01-06 09:30+00'::timestamptz),
	('ok: on the grid at :15 and :45', '2026-01-06 09:15+00', '2026-01-06 09:45+00'),
	('29 minutes is too short... and off-grid', '2026-01-06 09:00+00', '2026-01-06 09:29+00'),
	('15 minutes', '2026-01-06 09:00+00', '2026-01-06 09:15+00'),
	('start off the grid', '2026-01-06 09:05+00', '2026-01-06 10:00+00'),
	('start with seconds', '2026-01-06 09:00:01+00', '2026-01-06 10:00+00'),
	('end off the grid', '2026-01-06 09:00+00', '2026-01-06 10:10+00'),
	('end before start', '2026-01-06 10:00+00', '2026-01-06 09:00+00'),
	('end equals start', '2026-01-06 10:00+00', '2026-01-06 10:00+00'),
	('start in the past', '2026-01-05 11:00+00', '2026-01-05 13:00+00'),
	('start now', '2026-01-05 12:00+00', '2026-01-05 13:00+00'),
	('start 15 min from now', '2026-01-05 12:15+00', '2026-01-05 13:00+00'),
	('start exactly 180 days ahead', '2026-07-04 12:00+00', '2026-07-04 13:00+00'),
	('start 180 days + 15 min ahead', '2026-07-04 12:15+00', '2026-07-04 13:00+00'),
	('a week', '2026-01-06 00:00+00', '2026-01-13 00:00+00'),
	('end far beyond the horizon', '2026-01-06 00:00+00', '2027-01-13 00:00+00'),
	('infinite end', '2026-01-06 00:00+00', 'infinity')) AS v(label, s, e);
SELECT pg_temp.try($$SELECT workon.booking_check('Europe/Berlin', '{}', NULL, '2026-01-06 10:00+00', now())$$) AS no_start,
       pg_temp.try($$SELECT workon.booking_check('Europe/Berlin', '{}', '2026-01-06 10:00+00', NULL, now())$$) AS no_end;

-- opening hours in the space's zone (Berlin is UTC+1 in January)
SELECT label, pg_temp.chk('Europe/Berlin', :'office', s, e, n) AS result
  FROM (VALUES
	('mon 08:00-12:00 local', '2026-01-05 07:00+00'::timestamptz, '2026-01-05 11:00+00'::timestamptz, '2026-01-01 00:00+00'::timestamptz),
	('mon 07:45-09:00 local: starts before opening', '2026-01-05 06:45+00', '2026-01-05 08:00+00', '2026-01-01'),
	('mon 11:00-12:15 local: ends after closing', '2026-01-05 10:00+00', '2026-01-05 11:15+00', '2026-01-01'),
	('mon 11:00-14:00 local: over the lunch break', '2026-01-05 10:00+00', '2026-01-05 13:00+00', '2026-01-01'),
	('wed: closed', '2026-01-07 09:00+00', '2026-01-07 10:00+00', '2026-01-01'),
	('overnight fri 22:00 - sat 06:00 local', '2026-01-09 21:00+00', '2026-01-10 05:00+00', '2026-01-01'),
	('overnight past 06:00 local', '2026-01-09 21:00+00', '2026-01-10 05:15+00', '2026-01-01'),
	('tue 17:30 - wed 00:00 local: tue closes 18:00', '2026-01-06 16:30+00', '2026-01-06 23:00+00', '2026-01-01'))
	AS v(label, s, e, n)
 ORDER BY label;
-- the same instants are outside the hours when read in New York
SELECT pg_temp.chk('America/New_York', :'office', '2026-01-05 07:00+00', '2026-01-05 11:00+00', '2026-01-01') AS new_york;

-- DST: Europe/Berlin springs forward on 2026-03-29 (02:00 -> 03:00) and falls
-- back on 2026-10-25 (03:00 -> 02:00); America/New_York on 2026-03-08 and
-- 2026-11-01 (at 02:00 local)
\set night '{"sat":[["22:00","24:00"]],"sun":[["00:00","06:00"]]}'
SELECT zone, day, o.starts_at, o.ends_at, o.ends_at - o.starts_at AS length
  FROM (VALUES ('Europe/Berlin', '2026-03-28'::date), ('Europe/Berlin', '2026-10-24'),
               ('America/New_York', '2026-03-07'), ('America/New_York', '2026-10-31')) AS v(zone, day)
 CROSS JOIN LATERAL workon.opening_intervals(zone, :'night', day::timestamp AT TIME ZONE 'UTC',
                                             (day + 2)::timestamp AT TIME ZONE 'UTC') AS o
 ORDER BY zone, day;
-- a whole spring-forward day is 23 hours, a fall-back day 25
SELECT zone, day, o.ends_at - o.starts_at AS length
  FROM (VALUES ('Europe/Berlin', '2026-03-29'::date), ('Europe/Berlin', '2026-10-25'),
               ('America/New_York', '2026-03-08'), ('America/New_York', '2026-11-01')) AS v(zone, day)
 CROSS JOIN LATERAL workon.opening_intervals(zone, '{"sun":[["00:00","24:00"]]}',
                                             (day - 1)::timestamp AT TIME ZONE 'UTC',
                                             (day + 2)::timestamp AT TIME ZONE 'UTC') AS o
 ORDER BY zone, day;
-- overnight bookings across the DST night: local 22:00 to 06:00 is 7 hours
-- in spring and 9 in autumn, and both fit the hours exactly
SELECT zone, s, e, pg_temp.chk(zone, :'night', s, e, s - interval '30 days') AS result,
       workon.booking_price(zone, 1000, 100000, s, e) AS price
  FROM (VALUES
	('Europe/Berlin', '2026-03-28 21:00+00'::timestamptz, '2026-03-29 04:00+00'::timestamptz),
	('Europe/Berlin', '2026-10-24 20:00+00', '2026-10-25 05:00+00'),
	('Europe/Berlin', '2026-03-28 21:00+00', '2026-03-29 05:00+00'),
	('America/New_York', '2026-03-08 03:00+00', '2026-03-08 10:00+00'),
	('America/New_York', '2026-10-31 02:00+00', '2026-11-01 11:00+00')) AS v(zone, s, e)
 ORDER BY zone, s, e;

-- prices: per calendar day of the space's zone, min(hours x hourly, daily),
-- each day rounded half up, summed
SELECT label, workon.booking_price(zone, hourly, daily, s, e) AS price_cents
  FROM (VALUES
	('1 h at 900', 'Europe/Berlin', 900::bigint, 4500::bigint, '2026-01-06 09:00+00'::timestamptz, '2026-01-06 10:00+00'::timestamptz),
	('45 min at 1001: 750.75 -> 751', 'Europe/Berlin', 1001, 100000, '2026-01-06 09:00+00', '2026-01-06 09:45+00'),
	('15 min at 1002: 250.5 -> 251 (half up)', 'Europe/Berlin', 1002, 100000, '2026-01-06 09:00+00', '2026-01-06 09:15+00'),
	('15 min at 1001: 250.25 -> 250', 'Europe/Berlin', 1001, 100000, '2026-01-06 09:00+00', '2026-01-06 09:15+00'),
	('30 min at 1: 0.5 -> 1', 'Europe/Berlin', 1, 100000, '2026-01-06 09:00+00', '2026-01-06 09:30+00'),
	('daily cap: 8 h at 900 capped at 4500', 'Europe/Berlin', 900, 4500, '2026-01-06 08:00+00', '2026-01-06 16:00+00'),
	('exactly the cap: 5 h at 900', 'Europe/Berlin', 900, 4500, '2026-01-06 08:00+00', '2026-01-06 13:00+00'),
	('4 h 45 min at 900 = 4275, under the cap', 'Europe/Berlin', 900, 4500, '2026-01-06 08:00+00', '2026-01-06 12:45+00'),
	('two days, each capped', 'Europe/Berlin', 900, 4500, '2026-01-06 06:00+00', '2026-01-07 17:00+00'),
	('local midnight splits: 22:00-02:00 Berlin = 2 h + 2 h, cap 1500/day', 'Europe/Berlin', 1000, 1500, '2026-01-06 21:00+00', '2026-01-07 01:00+00'),
	('the same hours in UTC: one day of 4 h capped', 'UTC', 1000, 1500, '2026-01-06 21:00+00', '2026-01-07 01:00+00'),
	('a full week: 7 x daily', 'Europe/Berlin', 1000, 4500, '2026-01-05 23:00+00', '2026-01-12 23:00+00'),
	('spring-forward day in full: 23 h', 'Europe/Berlin', 100, 100000, '2026-03-28 23:00+00', '2026-03-29 22:00+00'),
	('fall-back day in full: 25 h', 'Europe/Berlin', 100, 100000, '2026-10-24 22:00+00', '2026-10-25 23:00+00'),
	('New York spring-forward day: 23 h', 'America/New_York', 100, 100000, '2026-03-08 05:00+00', '2026-03-09 04:00+00'),
	('New York fall-back day: 25 h', 'America/New_York', 100, 100000, '2026-11-01 04:00+00', '2026-11-02 05:00+00'),
	('free space', 'Europe/Berlin', 0, 0, '2026-01-06 09:00+00', '2026-01-06 17:00+00')) AS v(label, zone, hourly, daily, s, e);
SELECT pg_temp.try($$SELECT workon.booking_price('UTC', 9223372036854775807, 9223372036854775807, '2026-01-06 09:00+00', '2026-01-06 10:00+00')$$) AS overflow;

-- the state machine
SELECT f AS "from", string_agg(t, ', ' ORDER BY t) FILTER (WHERE workon.booking_transition_allowed(f, t)) AS allowed_to
  FROM unnest(ARRAY['pending_payment', 'confirmed', 'expired', 'cancelled', 'completed']) AS f,
       unnest(ARRAY['pending_payment', 'confirmed', 'expired', 'cancelled', 'completed', 'bogus']) AS t
 GROUP BY f ORDER BY f;

-- the refund policy
SELECT label, r.*
  FROM (VALUES
	('48 h before', '2026-01-08 12:00+00'::timestamptz, '2026-01-06 12:00+00'::timestamptz, 4500::bigint),
	('exactly 24 h before', '2026-01-08 12:00+00', '2026-01-07 12:00+00', 4500),
	('24 h minus 1 s before', '2026-01-08 12:00+00', '2026-01-07 12:00:01+00', 4500),
	('1 min before, 50 % of 4501 = 2250.5 -> 2251', '2026-01-08 12:00+00', '2026-01-08 11:59+00', 4501),
	('nothing paid', '2026-01-08 12:00+00', '2026-01-08 11:00+00', 0)) AS v(label, s, c, paid)
 CROSS JOIN LATERAL workon.booking_refund(s, c, paid) AS r;
SELECT pg_temp.try($$SELECT workon.booking_refund('2026-01-08 12:00+00', '2026-01-08 12:00+00', 100)$$) AS at_start,
       pg_temp.try($$SELECT workon.booking_refund('2026-01-08 12:00+00', '2026-01-09 12:00+00', 100)$$) AS after_start;
