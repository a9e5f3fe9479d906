--
-- bench/stats-data.sql -- the data of the stats and audit bench (scripts/bench-stats.sh):
-- 20,000 users (100 hosts, an admin), 1,000 spaces in 8 zones, 1,000,000 bookings
-- (1,000 per space, one a day from 900 days ago to 100 days ahead, so none overlap),
-- a payment for each one that was paid and partial refunds of the cancelled ones, and
-- 100,000 audit rows. Run as the superuser in a database of its own; triggers are off
-- while it loads (session_replication_role = replica: no audit rows, no documents, no
-- events for the generated rows), so the rows are built to meet the constraints the
-- triggers and foreign keys would check. Variables: none.
--
\set ON_ERROR_STOP on
SET session_replication_role = replica;
SET synchronous_commit = off;

-- users: bench-host-N, bench-member-N, spread over two and a half years
INSERT INTO workon.users (id, email, name, role, created_at, updated_at)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
	   CASE WHEN g <= 100 THEN 'bench-host-' || g ELSE 'bench-member-' || g END || '@example.com',
	   CASE WHEN g <= 100 THEN 'Host ' || g ELSE 'Member ' || g END,
	   CASE WHEN g <= 100 THEN 'host' ELSE 'member' END,
	   now() - (g % 900) * interval '1 day', now() - (g % 900) * interval '1 day'
  FROM generate_series(1, 20000) AS g;

-- spaces: 10 per host, 8 zones, weekdays 08:00-20:00; every tenth also open on
-- Friday night through to Saturday 02:00
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
						   hourly_rate_cents, daily_rate_cents, currency, opening_hours, published,
						   created_at, updated_at)
SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(g), 12, '0'))::uuid,
	   ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 100), 12, '0'))::uuid,
	   'Bench space ' || g,
	   (ARRAY['desk', 'private_office', 'meeting_room', 'event_space'])[1 + g % 4],
	   (ARRAY['Paris', 'Berlin', 'London', 'New York', 'Tokyo', 'Sydney', 'Lisbon', 'Chicago'])[1 + g % 8],
	   g || ' Bench Street', 1 + g % 12,
	   (ARRAY['Europe/Paris', 'Europe/Berlin', 'Europe/London', 'America/New_York', 'Asia/Tokyo',
			  'Australia/Sydney', 'Europe/Lisbon', 'America/Chicago'])[1 + g % 8],
	   1000 + g % 7 * 100, 6000 + g % 7 * 500,
	   CASE g % 8 WHEN 2 THEN 'gbp' WHEN 3 THEN 'usd' WHEN 7 THEN 'usd' ELSE 'eur' END,
	   CASE WHEN g % 10 = 0 THEN
			'{"mon": [["08:00", "20:00"]], "tue": [["08:00", "20:00"]], "wed": [["08:00", "20:00"]],
			  "thu": [["08:00", "20:00"]], "fri": [["08:00", "20:00"], ["22:00", "24:00"]], "sat": [["00:00", "02:00"]]}'
	   ELSE '{"mon": [["08:00", "20:00"]], "tue": [["08:00", "20:00"]], "wed": [["08:00", "20:00"]],
			  "thu": [["08:00", "20:00"]], "fri": [["08:00", "20:00"]]}' END::jsonb,
	   true, now() - interval '950 days', now() - interval '950 days'
  FROM generate_series(1, 1000) AS g;

-- bookings: space s, day d (0..999) from 900 days ago; one a day per space, 1 to 3
-- hours from 09:00 to 14:00 UTC; the past mostly completed, some cancelled or
-- expired; the future confirmed, a few holds
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, hold_expires_at,
							 price_cents, currency, cancelled_at, refund_percent, refund_cents,
							 created_at, updated_at)
SELECT b.id, b.space_id, b.user_id, b.starts_at, b.starts_at + b.hours * interval '1 hour', b.status,
	   CASE WHEN b.status = 'pending_payment' THEN now() + interval '15 minutes' END,
	   b.hours * 1000, CASE b.s % 8 WHEN 2 THEN 'gbp' WHEN 3 THEN 'usd' WHEN 7 THEN 'usd' ELSE 'eur' END,
	   CASE WHEN b.status = 'cancelled' THEN b.starts_at - interval '2 days' END,
	   CASE WHEN b.status = 'cancelled' THEN 50 END,
	   CASE WHEN b.status = 'cancelled' THEN b.hours * 500 END,
	   b.starts_at - interval '7 days', b.starts_at - interval '7 days'
  FROM (SELECT s, ('00000000-0000-4000-a000-' || lpad(to_hex(s * 1000 + d), 12, '0'))::uuid AS id,
			   ('00000000-0000-4000-9000-' || lpad(to_hex(s), 12, '0'))::uuid AS space_id,
			   ('00000000-0000-4000-8000-' || lpad(to_hex(101 + (s * 7919 + d * 104729) % 19900), 12, '0'))::uuid AS user_id,
			   date_trunc('day', now()) - interval '900 days' + d * interval '1 day' + (9 + (s + d) % 3) * interval '1 hour' AS starts_at,
			   1 + (s * 31 + d) % 3 AS hours,
			   CASE WHEN d >= 900 THEN CASE WHEN (s + d) % 50 = 0 THEN 'pending_payment' ELSE 'confirmed' END
					WHEN (s * 13 + d) % 20 < 3 THEN 'cancelled'
					WHEN (s * 13 + d) % 20 = 3 THEN 'expired'
					WHEN d >= 880 THEN 'confirmed'
					ELSE 'completed' END AS status
		  FROM generate_series(1, 1000) AS s, generate_series(0, 999) AS d) AS b;

-- payments: one for every booking that was paid (not the holds, not the expired ones)
INSERT INTO workon.payments (id, booking_id, space_id, user_id, method, status, amount_cents, currency,
							 amount_received_cents, received_currency, succeeded_at, created_at, updated_at)
SELECT ('00000000-0000-4000-b000-' || right(b.id::text, 12))::uuid, b.id, b.space_id, b.user_id,
	   'payment_intent', 'succeeded', b.price_cents, b.currency, b.price_cents, b.currency,
	   b.created_at + interval '5 minutes', b.created_at, b.created_at
  FROM workon.bookings AS b
 WHERE b.status IN ('confirmed', 'completed', 'cancelled');

-- refunds: half of what was paid for each cancelled booking, settled when cancelled
INSERT INTO workon.refunds (payment_id, booking_id, space_id, amount_cents, currency, status, reason,
							stripe_status_at, created_at, updated_at)
SELECT ('00000000-0000-4000-b000-' || right(b.id::text, 12))::uuid, b.id, b.space_id, b.refund_cents, b.currency,
	   'succeeded', 'requested_by_customer', b.cancelled_at, b.cancelled_at, b.cancelled_at
  FROM workon.bookings AS b
 WHERE b.status = 'cancelled';

-- 100,000 audit rows about the bookings, spaces and users above, over 900 days
INSERT INTO workon.audit_log (at, actor_id, action, entity, entity_id, before, after, changed)
SELECT now() - (g % 900) * interval '1 day' - (g % 86400) * interval '1 second',
	   ('00000000-0000-4000-8000-' || lpad(to_hex(101 + g % 19900), 12, '0'))::uuid,
	   (ARRAY['insert', 'update', 'update', 'delete'])[1 + g % 4],
	   e.entity, e.entity_id,
	   CASE WHEN g % 4 <> 0 THEN jsonb_build_object('status', 'pending_payment') END,
	   CASE WHEN g % 4 <> 3 THEN jsonb_build_object('status', 'confirmed') END,
	   ARRAY['status']
  FROM generate_series(1, 100000) AS g
 CROSS JOIN LATERAL (
	SELECT CASE WHEN g % 10 < 8 THEN 'bookings' WHEN g % 10 = 8 THEN 'spaces' ELSE 'users' END AS entity,
		   CASE WHEN g % 10 < 8 THEN '00000000-0000-4000-a000-' || lpad(to_hex(1000 + g % 1000000), 12, '0')
				WHEN g % 10 = 8 THEN '00000000-0000-4000-9000-' || lpad(to_hex(1 + g % 1000), 12, '0')
				ELSE '00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 20000), 12, '0') END AS entity_id) AS e;

RESET session_replication_role;
-- the documents the spaces' trigger would have written
UPDATE workon.spaces AS s SET doc = workon.space_json(s);
-- the stats rollup the triggers would have kept (sql/src/62_stats_rollup.sql)
SELECT workon.stats_rollup_rebuild();
