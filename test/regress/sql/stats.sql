--
-- The marketplace's numbers: occupancy per local day (DST, overnight
-- openings), revenue with partial refunds, bookings by status, new users,
-- top spaces; the window's bounds; CSV; hosts see their own spaces only
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
SET workon.scrypt_log_n = 10;
SELECT workon.seed_jwt_key(repeat('s', 48)) IS NOT NULL AS seeded;

-- occupancy by the C rules: Berlin springs forward on Sunday 2026-03-29
-- (02:00 -> 03:00); Saturday opens 08:00 to midnight and on through
-- Sunday 04:00 (an opening through the night), Sunday again 10:00-12:00
SELECT * FROM workon.space_occupancy('Europe/Berlin',
	'{"sat": [["08:00", "24:00"]], "sun": [["00:00", "04:00"], ["10:00", "12:00"]]}',
	'2026-03-27', '2026-03-30',
	ARRAY['2026-03-28 22:00+00', '2026-03-29 09:00+00']::timestamptz[],
	ARRAY['2026-03-29 03:00+00', '2026-03-29 12:00+00']::timestamptz[]);
-- autumn: the night of 2026-10-25 has 25 hours; open all Sunday
SELECT * FROM workon.space_occupancy('Europe/Berlin', '{"sun": [["00:00", "24:00"]]}',
	'2026-10-24', '2026-10-25', ARRAY['2026-10-24 22:00+00']::timestamptz[],
	ARRAY['2026-10-25 02:00+00']::timestamptz[]);
-- the same as hours, one array element a day (what the report uses)
SELECT * FROM workon.space_occupancy_hours('Europe/Berlin',
	'{"sat": [["08:00", "24:00"]], "sun": [["00:00", "04:00"], ["10:00", "12:00"]]}',
	'2026-03-27', '2026-03-30',
	ARRAY['2026-03-28 22:00+00', '2026-03-29 09:20+00']::timestamptz[],
	ARRAY['2026-03-29 03:00+00', '2026-03-29 12:00+00']::timestamptz[]);
-- a booking outside the opening hours counts only where it is open
SELECT * FROM workon.space_occupancy('UTC', '{"mon": [["09:00", "17:00"]]}',
	'2026-06-01', '2026-06-01', ARRAY['2026-06-01 06:00+00']::timestamptz[],
	ARRAY['2026-06-01 10:00+00']::timestamptz[]);
-- malformed input
SELECT pg_temp.try($$SELECT * FROM workon.space_occupancy('UTC', '{"mon": 1}', '2026-06-01', '2026-06-01', '{}', '{}')$$);
SELECT pg_temp.try($$SELECT * FROM workon.space_occupancy('UTC', '{}', '2026-01-01', '2027-06-01', '{}', '{}')$$);
SELECT pg_temp.try($$SELECT * FROM workon.space_occupancy('UTC', '{}', '2026-01-01', '2026-01-02', '{2026-01-01 00:00+00}', '{}')$$);

-- a marketplace: two hosts, a member
SELECT workon.create_user('stats.host@example.com', 'stats host password', 'Stats Host', 'host') AS host \gset
SELECT workon.create_user('stats.other@example.com', 'stats other password', 'Other Host', 'host') AS other \gset
SELECT workon.create_user('stats.member@example.com', 'stats member password', 'Stats Member', 'member') AS member \gset
SELECT workon.create_user('stats.admin@example.com', 'stats admin password', 'Stats Admin', 'admin') AS admin \gset
UPDATE workon.users SET created_at = '2026-03-28 12:00+00' WHERE id IN (:'host', :'member');
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
						   hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('5a000000-0000-4000-8000-000000000001', :'host', 'Night Desk', 'desk', 'Berlin', 'Street 1', 1,
		'Europe/Berlin', 1000, 6000, 'eur',
		'{"sat": [["08:00", "24:00"]], "sun": [["00:00", "04:00"], ["10:00", "12:00"]]}', true),
	   ('5a000000-0000-4000-8000-000000000002', :'other', 'Day Room', 'meeting_room', 'Paris', 'Rue 2', 4,
		'Europe/Paris', 2000, 9000, 'eur', '{"sat": [["09:00", "17:00"]]}', true);
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, price_cents, currency,
							 cancelled_at, refund_percent, refund_cents)
VALUES ('5b000000-0000-4000-8000-000000000001', '5a000000-0000-4000-8000-000000000001', :'member',
		'2026-03-28 22:00+00', '2026-03-29 03:00+00', 'confirmed', 5000, 'eur', NULL, NULL, NULL),
	   ('5b000000-0000-4000-8000-000000000002', '5a000000-0000-4000-8000-000000000001', :'member',
		'2026-03-29 09:00+00', '2026-03-29 12:00+00', 'completed', 2000, 'eur', NULL, NULL, NULL),
	   ('5b000000-0000-4000-8000-000000000003', '5a000000-0000-4000-8000-000000000001', :'member',
		'2026-03-28 08:00+00', '2026-03-28 10:00+00', 'cancelled', 2000, 'eur', '2026-03-28 07:00+00', 50, 1000),
	   ('5b000000-0000-4000-8000-000000000004', '5a000000-0000-4000-8000-000000000002', :'member',
		'2026-03-28 09:00+00', '2026-03-28 13:00+00', 'confirmed', 8000, 'eur', NULL, NULL, NULL);
INSERT INTO workon.payments (id, booking_id, user_id, method, status, amount_cents, currency,
							 amount_received_cents, received_currency, succeeded_at)
VALUES ('5c000000-0000-4000-8000-000000000001', '5b000000-0000-4000-8000-000000000001', :'member',
		'payment_intent', 'succeeded', 5000, 'eur', 5000, 'eur', '2026-03-27 10:00+00'),
	   ('5c000000-0000-4000-8000-000000000002', '5b000000-0000-4000-8000-000000000002', :'member',
		'payment_intent', 'succeeded', 2000, 'eur', 2000, 'eur', '2026-03-27 11:00+00'),
	   ('5c000000-0000-4000-8000-000000000003', '5b000000-0000-4000-8000-000000000003', :'member',
		'payment_intent', 'succeeded', 2000, 'eur', 2000, 'eur', '2026-03-27 12:00+00'),
	   ('5c000000-0000-4000-8000-000000000004', '5b000000-0000-4000-8000-000000000004', :'member',
		'checkout', 'succeeded', 8000, 'eur', 8000, 'eur', '2026-03-28 08:00+00');
-- a partial refund (50 % of a cancellation) on the 28th, and a refund that failed
INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, status, reason, stripe_status_at)
VALUES ('5c000000-0000-4000-8000-000000000003', '5b000000-0000-4000-8000-000000000003', 1000, 'eur',
		'succeeded', 'requested_by_customer', '2026-03-28 07:05+00'),
	   ('5c000000-0000-4000-8000-000000000001', '5b000000-0000-4000-8000-000000000001', 700, 'eur',
		'failed', 'requested_by_customer', '2026-03-28 07:05+00');

SELECT workon.auth_login('stats.admin@example.com', 'stats admin password') ->> 'access_token' AS admin_token \gset
SELECT workon.auth_login('stats.host@example.com', 'stats host password') ->> 'access_token' AS host_token \gset
SELECT workon.auth_login('stats.member@example.com', 'stats member password') ->> 'access_token' AS member_token \gset

CREATE FUNCTION pg_temp.call(handler text, query jsonb, token text)
RETURNS TABLE (status int, content_type text, body text)
LANGUAGE sql AS $$
	SELECT d.status, d.headers::jsonb ->> 'Content-Type', d.body
	  FROM workon.dispatch(handler::regprocedure, '{}', query, NULL, token, '{}') AS d
$$;

-- the admin's report of the weekend
SELECT jsonb_pretty(body::jsonb - 'new_users' - 'occupancy') AS report
  FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-27", "to": "2026-03-29"}', :'admin_token');
SELECT o ->> 'name' AS space, o ->> 'open_hours' AS open_hours, o ->> 'booked_hours' AS booked_hours,
	   o ->> 'occupancy' AS occupancy, o ->> 'first_day' AS first_day, o -> 'daily_open_hours' AS daily_open,
	   o -> 'daily_booked_hours' AS daily_booked
  FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-27", "to": "2026-03-29"}', :'admin_token') AS c,
	   jsonb_array_elements(c.body::jsonb -> 'occupancy') AS o
 WHERE o ->> 'space_id' LIKE '5a000000-%';
SELECT n ->> 'day' AS day, n ->> 'count' AS new_users
  FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-27", "to": "2026-03-29"}', :'admin_token') AS c,
	   jsonb_array_elements(c.body::jsonb -> 'new_users') AS n;
-- a city, a space
SELECT body::jsonb -> 'bookings' AS paris, jsonb_array_length(body::jsonb -> 'occupancy') AS spaces
  FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-27", "to": "2026-03-29", "city": "PARIS"}', :'admin_token');
SELECT body::jsonb -> 'revenue' AS night_desk_revenue
  FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-27T00:00:00Z", "to": "2026-03-30T00:00:00+02:00", "space_id": "5a000000-0000-4000-8000-000000000001"}', :'admin_token');

-- CSV: one table, a column naming the part (the occupancy rows of this
-- file's spaces; earlier files leave spaces of their own)
SELECT content_type, string_agg(l, E'\n' ORDER BY n) AS body
  FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-28", "to": "2026-03-28", "format": "csv"}', :'admin_token') AS c,
	   regexp_split_to_table(c.body, E'\n') WITH ORDINALITY AS t(l, n)
 WHERE l NOT LIKE 'occupancy,%' OR l LIKE 'occupancy,%,5a000000-%'
 GROUP BY content_type;
SELECT workon.csv_field(v) FROM unnest(ARRAY['plain', 'a,b', 'say "hi"', '=SUM(A1)', '-12.5', NULL]) AS v;

-- a host: own spaces only, no new users; another host's space is an empty report
SELECT jsonb_pretty(body::jsonb - 'occupancy' - 'from' - 'to') AS host_report
  FROM pg_temp.call('workon.host_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-27", "to": "2026-03-29"}', :'host_token');
SELECT body::jsonb -> 'bookings' ->> 'total' AS total, body::jsonb -> 'occupancy' AS occupancy
  FROM pg_temp.call('workon.host_stats(text,text,uuid,text,text)',
					'{"from": "2026-03-27", "to": "2026-03-29", "space_id": "5a000000-0000-4000-8000-000000000002"}', :'host_token');
-- a member may not; a host may not see the admin's report
SELECT pg_temp.try(format($$SELECT * FROM pg_temp.call('workon.host_stats(text,text,uuid,text,text)', '{}', %L)$$, :'member_token'));
SELECT pg_temp.try(format($$SELECT * FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)', '{}', %L)$$, :'host_token'));

-- the window: default the last 30 days, at most 366, bounds named when wrong
SELECT (body::jsonb ->> 'to')::timestamptz - (body::jsonb ->> 'from')::timestamptz AS default_window
  FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)', '{}', :'admin_token');
SELECT q, pg_temp.try(format($$SELECT * FROM pg_temp.call('workon.admin_stats(text,text,uuid,text,text)', %L, %L)$$, q, :'admin_token'))
  FROM (VALUES ('{"from": "yesterday"}'), ('{"from": "2026-02-30"}'), ('{"to": "2026-03-01T10:00:00"}'),
			   ('{"from": "2026-03-02", "to": "2026-03-01"}'), ('{"from": "2025-01-01", "to": "2026-03-01"}'),
			   ('{"format": "xml"}'), ('{"space_id": "nope"}')) AS v(q);
