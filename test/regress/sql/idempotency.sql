--
-- Idempotency keys: workon.dispatch_idempotent, what the front end calls for
-- a POST with an Idempotency-Key: the same key and request within 24 hours
-- get the stored answer, another request with the key is WOI01, a request
-- while the first still runs is WOI02; the answer is stored in the
-- transaction of the request's own changes, per caller.  (A request while
-- another with the key runs, WOI02, needs two sessions: test/http/retries.)
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx i
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('d1000000-0000-4000-8000-000000000001', :'h1', 'Idem Room', 'desk', 'Porto', 'Rua 9', 1, 'UTC',
        1000, 6000, 'eur',
        '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}',
        true);
SELECT date_trunc('hour', now()) + interval '3 days' AS t0 \gset

-- a POST /api/v1/bookings as the front end sends it, with a key
CREATE FUNCTION pg_temp.post(token text, key text, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	SET LOCAL ROLE workon_authenticator;
	SELECT * INTO r FROM workon.dispatch_idempotent(
		'workon.booking_create(uuid,timestamptz,timestamptz)'::regprocedure, '{}', '{}',
		json_build_object('space_id', 'd1000000-0000-4000-8000-000000000001',
						  'starts_at', date_trunc('hour', now()) + interval '3 days' + n * interval '2 hours',
						  'ends_at', date_trunc('hour', now()) + interval '3 days' + n * interval '2 hours' + interval '1 hour')::text,
		token, json_build_object('headers', json_build_object('idempotency-key', key))::jsonb);
	RESET ROLE;
	RETURN coalesce(r.status::text, 'default') || ' ' || (r.body::json ->> 'id' IS NOT NULL)::text
		   || ' ' || coalesce((r.user_id = (SELECT id FROM workon.users WHERE email = 'im1@example.com'))::text, 'anon');
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.bookings() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM workon.bookings WHERE space_id = 'd1000000-0000-4000-8000-000000000001'
$$;

-- the first request books; the same again gets the stored answer, books nothing
SELECT pg_temp.post(:'m1_token', 'key-1', 1) AS first;
SELECT pg_temp.bookings() AS bookings;
SELECT pg_temp.post(:'m1_token', 'key-1', 1) AS again;
SELECT pg_temp.bookings() AS bookings;
SELECT count(*) AS stored, bool_and(k.body::json ->> 'id' = b.id::text) AS same_booking
  FROM workon.idempotency_keys k, workon.bookings b
 WHERE k.key = 'key-1' AND k.scope = :'m1' AND b.space_id = 'd1000000-0000-4000-8000-000000000001';
-- another request with the key
SELECT pg_temp.post(:'m1_token', 'key-1', 2) AS other_request;
-- another caller's key of the same name is theirs
SELECT pg_temp.post(:'m2_token', 'key-1', 2) AS other_caller;
SELECT pg_temp.bookings() AS bookings;
-- a refused request stores nothing: its retry runs again
SELECT pg_temp.post(:'m1_token', 'key-2', 2) AS refused;
SELECT count(*) AS stored_refusals FROM workon.idempotency_keys WHERE key = 'key-2';
-- after 24 hours a key is new again
UPDATE workon.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'key-1' AND scope = :'m1';
SELECT pg_temp.post(:'m1_token', 'key-1', 3) AS day_later;
SELECT pg_temp.bookings() AS bookings;
-- malformed keys, bad tokens
SELECT pg_temp.post(:'m1_token', '', 4) AS empty_key,
       pg_temp.post(:'m1_token', repeat('k', 256), 4) AS long_key,
       pg_temp.post(:'m1_token', E'line\nbreak', 4) AS control_key,
       pg_temp.post(:'m1_token', '"key-1"', 3) AS quoted_key,
       pg_temp.post('not.a.token', 'key-3', 4) AS bad_token;

-- anonymous requests are not kept (their answers carry credentials): each runs
CREATE FUNCTION pg_temp.login(key text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	SET LOCAL ROLE workon_authenticator;
	SELECT * INTO r FROM workon.dispatch_idempotent('workon.auth_login(text,text)'::regprocedure, '{}', '{}',
		'{"email":"im1@example.com","password":"member one password"}', NULL,
		json_build_object('headers', json_build_object('idempotency-key', key))::jsonb);
	RESET ROLE;
	RETURN r.body::json ->> 'refresh_token';
END
$$;
SELECT pg_temp.login('key-anon') <> pg_temp.login('key-anon') AS each_login_runs,
       (SELECT count(*) FROM workon.idempotency_keys WHERE key = 'key-anon') AS stored;

-- only the extension's functions see the stored answers
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT pg_temp.try('SELECT count(*) FROM workon.idempotency_keys') AS authenticator_reads;
SELECT workon.authenticate(:'m1_token') IS NOT NULL AS authenticated;
SELECT pg_temp.try('SELECT count(*) FROM workon.idempotency_keys') AS member_reads;
ROLLBACK;

TRUNCATE workon.outbox, workon.stripe_events, workon.refunds, workon.payments, workon.reviews, workon.bookings;
DELETE FROM workon.idempotency_keys;
DELETE FROM workon.spaces WHERE host_id = :'h1';
DELETE FROM workon.users WHERE id IN (:'m1', :'m2', :'h1', :'h2', :'a1');
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
