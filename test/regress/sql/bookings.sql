--
-- Bookings: holds, conflicts, expiry, the state machine, cancellation and
-- who sees what.  Times are relative to now(), on the 15-minute grid.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx b
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

-- an always-open space in UTC and an unpublished one
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('b0000000-0000-4000-8000-000000000001', :'h1', 'Always Open', 'desk', 'Berlin', 'Street 1', 1, 'UTC',
        1000, 6000, 'eur',
        '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}',
        true),
       ('b0000000-0000-4000-8000-000000000002', :'h1', 'Hidden', 'desk', 'Berlin', 'Street 2', 1, 'UTC',
        1000, 6000, 'eur', '{"mon":[["00:00","24:00"]]}', false);
\set space 'b0000000-0000-4000-8000-000000000001'
-- the base of every slot: the next full hour, two days ahead
SELECT date_trunc('hour', now()) + interval '2 days' AS t0 \gset

-- a member books: a hold of 15 minutes, priced
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.booking_create(:'space', :'t0', :'t0'::timestamptz + interval '90 minutes') AS b1 \gset
SELECT :'b1'::json->>'status' AS status, :'b1'::json->'price' AS price,
       (:'b1'::json->>'user_id')::uuid = :'m1' AS mine,
       (:'b1'::json->>'hold_expires_at')::timestamptz = now() + interval '15 minutes' AS hold_15_min,
       (:'b1'::json->>'starts_at')::timestamptz = :'t0' AS starts_at;
COMMIT;
SELECT (:'b1'::json->>'id') AS b1_id \gset

-- overlapping slots are refused, touching ones are not
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT label, pg_temp.try(format('SELECT workon.booking_create(%L, %L, %L)', :'space', s, e)) AS result
  FROM (VALUES
	('same slot', :'t0'::timestamptz, :'t0'::timestamptz + interval '90 minutes'),
	('overlaps the start', :'t0'::timestamptz - interval '30 minutes', :'t0'::timestamptz + interval '15 minutes'),
	('overlaps the end', :'t0'::timestamptz + interval '75 minutes', :'t0'::timestamptz + interval '120 minutes'),
	('inside', :'t0'::timestamptz + interval '30 minutes', :'t0'::timestamptz + interval '60 minutes'),
	('around', :'t0'::timestamptz - interval '1 hour', :'t0'::timestamptz + interval '3 hours'),
	('touches the start', :'t0'::timestamptz - interval '1 hour', :'t0'::timestamptz),
	('touches the end', :'t0'::timestamptz + interval '90 minutes', :'t0'::timestamptz + interval '150 minutes'),
	('overlaps both touching ones', :'t0'::timestamptz - interval '15 minutes', :'t0'::timestamptz + interval '105 minutes'),
	('rule: too short', :'t0'::timestamptz + interval '10 hours', :'t0'::timestamptz + interval '615 minutes'),
	('rule: in the past', :'t0'::timestamptz - interval '3 days', :'t0'::timestamptz - interval '2 days'),
	('rule: beyond 180 days', :'t0'::timestamptz + interval '200 days', :'t0'::timestamptz + interval '201 days')) AS v(label, s, e);
SELECT pg_temp.try(format('SELECT workon.booking_create(%L, %L, %L)', 'b0000000-0000-4000-8000-000000000002', :'t0', :'t0'::timestamptz + interval '1 hour')) AS unpublished_space,
       pg_temp.try(format('SELECT workon.booking_create(%L, %L, %L)', 'b0000000-0000-4000-8000-0000000000ff', :'t0', :'t0'::timestamptz + interval '1 hour')) AS unknown_space,
       pg_temp.try(format('SELECT workon.booking_create(NULL, %L, %L)', :'t0', :'t0'::timestamptz + interval '1 hour')) AS no_space;
COMMIT;

-- an expired hold frees its slot at once, and reads as expired before that
UPDATE workon.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = :'b1_id';
SELECT status, workon.booking_status(b) AS effective FROM workon.bookings AS b WHERE id = :'b1_id';
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT workon.booking_create(:'space', :'t0'::timestamptz + interval '30 minutes', :'t0'::timestamptz + interval '60 minutes')::json->>'id' AS b2_id \gset
SELECT workon.booking_get(:'b2_id')::json->>'status' AS status;
COMMIT;
SELECT u.email, b.status FROM workon.bookings b JOIN workon.users u ON u.id = b.user_id
 WHERE b.space_id = :'space' ORDER BY b.created_at, u.email;

-- the state machine holds for any writer, superusers included
SELECT pg_temp.try(format($$UPDATE workon.bookings SET status = 'pending_payment' WHERE id = %L$$, :'b1_id')) AS expired_to_pending,
       pg_temp.try(format($$UPDATE workon.bookings SET status = 'confirmed' WHERE id = %L$$, :'b1_id')) AS expired_to_confirmed,
       pg_temp.try(format($$UPDATE workon.bookings SET status = 'completed' WHERE id = %L$$, :'b2_id')) AS pending_to_completed;
UPDATE workon.bookings SET status = 'confirmed' WHERE id = :'b2_id';
SELECT pg_temp.try(format($$UPDATE workon.bookings SET status = 'pending_payment' WHERE id = %L$$, :'b2_id')) AS confirmed_to_pending,
       pg_temp.try(format($$UPDATE workon.bookings SET status = 'expired' WHERE id = %L$$, :'b2_id')) AS confirmed_to_expired,
       pg_temp.try(format($$UPDATE workon.bookings SET status = 'bogus' WHERE id = %L$$, :'b2_id')) AS bogus;
-- the database refuses overlaps whoever writes
SELECT pg_temp.try(format($$INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency)
                           VALUES (%L, %L, %L, %L, 'confirmed', 0, 'eur')$$,
                          :'space', :'m1', :'t0'::timestamptz + interval '45 minutes', :'t0'::timestamptz + interval '2 hours')) AS direct_overlap;

-- who sees what
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.booking_get(%L)', :'b2_id')) AS m1_gets_b2,
       json_array_length(workon.bookings_list()::json->'data') AS m1_lists,
       pg_temp.try(format('SELECT workon.booking_cancel(%L)', :'b2_id')) AS m1_cancels_b2;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.booking_get(:'b2_id')::json->>'status' AS host_gets_b2,
       json_array_length(workon.bookings_list()::json->'data') AS host_lists_own,
       (SELECT count(*) FROM workon.bookings) AS host_sees_rows,
       pg_temp.try(format('SELECT workon.booking_cancel(%L)', :'b2_id')) AS host_cancels_b2;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.booking_get(:'b2_id')::json->>'status' AS admin_gets_b2,
       json_array_length(workon.bookings_list()::json->'data') AS admin_lists,
       json_array_length(workon.bookings_list("limit" => 1)::json->'data') AS page_of_one,
       workon.bookings_list("limit" => 1)::json->>'next_cursor' IS NOT NULL AS has_more;
ROLLBACK;
BEGIN;
SET LOCAL ROLE workon_anon;
SELECT pg_temp.try(format('SELECT workon.booking_get(%L)', :'b2_id')) AS anon;
ROLLBACK;
-- no direct writes for API roles
SELECT r, has_table_privilege(r, 'workon.bookings', 'INSERT') AS ins, has_table_privilege(r, 'workon.bookings', 'UPDATE') AS upd,
       has_table_privilege(r, 'workon.bookings', 'SELECT') AS sel
  FROM unnest(ARRAY['workon_anon', 'workon_member', 'workon_host', 'workon_admin']) AS r;

-- cancellation: 100 % at least 24 h ahead, 50 % under 24 h, 409 once started
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, hold_expires_at, price_cents, currency) VALUES
	('b1000000-0000-4000-8000-000000000001', :'space', :'m1', date_trunc('hour', now()) + interval '3 hours',
	 date_trunc('hour', now()) + interval '4 hours', 'confirmed', NULL, 1000, 'eur'),
	('b1000000-0000-4000-8000-000000000002', :'space', :'m1', date_trunc('hour', now()) - interval '1 hour',
	 date_trunc('hour', now()) + interval '1 hour', 'confirmed', NULL, 2000, 'eur');
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT workon.booking_cancel(:'b2_id')::jsonb - 'id' - 'user_id' - 'space_id' - 'starts_at' - 'ends_at'
       - 'hold_expires_at' - 'created_at' - 'updated_at' - 'cancelled_at' AS cancelled_48h_ahead;
SELECT pg_temp.try(format('SELECT workon.booking_cancel(%L)', :'b2_id')) AS twice;
COMMIT;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.booking_cancel('b1000000-0000-4000-8000-000000000001')::json->'refund' AS refund_3h_ahead;
SELECT pg_temp.try($$SELECT workon.booking_cancel('b1000000-0000-4000-8000-000000000002')$$) AS started;
SELECT pg_temp.try(format('SELECT workon.booking_cancel(%L)', :'b1_id')) AS expired_hold;
COMMIT;
SELECT id = :'b2_id' AS is_b2, status, refund_percent, refund_cents, cancelled_at IS NOT NULL AS cancelled
  FROM workon.bookings WHERE status = 'cancelled' ORDER BY is_b2;

-- a cancelled slot is free again
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.booking_create(:'space', :'t0'::timestamptz + interval '30 minutes', :'t0'::timestamptz + interval '1 hour')::json->>'status' AS rebooked;
COMMIT;

-- the audit log has every change of the bookings
SELECT action, before->>'status' AS before, after->>'status' AS after, actor_id = :'m1' AS by_m1, actor_id = :'m2' AS by_m2
  FROM workon.audit_log WHERE entity = 'bookings' ORDER BY id;

-- the hold lasts workon.booking_hold_minutes
SET workon.booking_hold_minutes = 30;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT (workon.booking_create(:'space', :'t0'::timestamptz + interval '1 day', :'t0'::timestamptz + interval '25 hours')::json->>'hold_expires_at')::timestamptz
       = now() + interval '30 minutes' AS hold_30_min;
ROLLBACK;
RESET workon.booking_hold_minutes;
SELECT has_parameter_privilege('workon_authenticator', 'workon.booking_hold_minutes', 'SET') AS front_end_sets_it,
       has_parameter_privilege('workon_member', 'workon.booking_hold_minutes', 'SET') AS member_sets_it;

-- records are never deleted by cascade: the superuser empties their tables
TRUNCATE workon.outbox, workon.stripe_events, workon.refunds, workon.payments, workon.reviews, workon.bookings;
DELETE FROM workon.spaces WHERE host_id = :'h1';
DELETE FROM workon.users WHERE id IN (:'m1', :'m2', :'h1', :'a1');
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
