--
-- Every invalid field of a request at once: the error names the first (its
-- COLUMN), its detail lists all of them ({"fields":[{"field","message"}]}),
-- which the front end answers as details.field and details.fields
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx f
\i :abs_srcdir/fixture/people.sql
\i :abs_srcdir/fixture/try_detail.sql
\set ON_ERROR_ROLLBACK on

SELECT pg_temp.try($$SELECT workon.raise_invalid('{}', '{}')$$) AS none_invalid,
       pg_temp.try($$SELECT workon.raise_invalid('{a,b}', '{"a is \"odd\"","b is required"}')$$) AS two;

-- registration: email, password, name and role together
SELECT pg_temp.try($$SELECT workon.auth_register('not-an-email', 'short', '  ', 'king')$$) AS register_all_bad,
       pg_temp.try($$SELECT workon.auth_register('ok@example.com', 'short', 'Ana')$$) AS register_password_only,
       pg_temp.try($$SELECT workon.auth_register(NULL, NULL, NULL)$$) AS register_nothing;

-- spaces: the types of the body, then the values, every field
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try($$SELECT workon.space_create('{"name": 7, "capacity": "2", "published": "yes"}')$$) AS types;
SELECT pg_temp.try($$SELECT workon.space_create('{"name": "", "kind": "castle", "capacity": 0, "timezone": "Mars/Olympus", "currency": "euro", "opening_hours": {"mon": [["20:00", "08:00"]]}}')$$) AS values;
SELECT workon.space_create('{"name": "Fine", "kind": "desk", "city": "Oslo", "address": "Gate 1", "capacity": 2, "timezone": "Europe/Oslo", "hourly_rate_cents": 100, "daily_rate_cents": 600, "currency": "nok"}')::json->>'id' AS s \gset
SELECT pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'s', '{"capacity": -1, "city": " ", "language": "xx"}')) AS patch;
COMMIT;

-- bookings: every missing field
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try($$SELECT workon.booking_create()$$) AS booking_nothing,
       pg_temp.try($$SELECT workon.booking_create(starts_at => now())$$) AS booking_two_missing;
COMMIT;

-- bookings: the times judged on their own, both at once, with a missing space
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try($$SELECT workon.booking_create(starts_at => '2020-01-01 10:07+00', ends_at => '2020-01-01 10:00+00')$$) AS booking_all_bad,
       pg_temp.try($$SELECT workon.booking_create(starts_at => now() + interval '1 day', ends_at => now() + interval '2 day 1 minute')$$) AS booking_space_and_grid;
COMMIT;

-- each time's first broken rule, starts_at first; the opening hours only when the rest holds
SELECT p.* FROM workon.booking_problems(NULL, NULL, NULL, NULL, '2030-01-01 00:00+00') AS p;
SELECT p.* FROM workon.booking_problems(NULL, NULL, '2030-01-01 10:05+00', '2030-01-01 10:20+00', '2030-01-01 00:00+00') AS p;
SELECT p.* FROM workon.booking_problems(NULL, NULL, '2029-12-31 10:00+00', '2030-09-01 10:00+00', '2030-01-01 00:00+00') AS p;
SELECT p.* FROM workon.booking_problems(NULL, NULL, '2030-01-02 10:00+00', '2030-01-02 11:00+00', '2030-01-01 00:00+00') AS p;
SELECT p.* FROM workon.booking_problems('UTC', '{"wed": [["09:00", "10:30"]]}', '2030-01-02 10:00+00', '2030-01-02 11:00+00', '2030-01-01 00:00+00') AS p;
SELECT p.* FROM workon.booking_problems('UTC', '{"wed": [["09:00", "12:00"]]}', '2030-01-02 10:00+00', '2030-01-02 11:00+00', '2030-01-01 00:00+00') AS p;

-- the shapes of a request's fields, all judged before any is converted: the
-- front end's call of the booking route, with the SQLSTATE, the first field and the detail
CREATE FUNCTION pg_temp.book(payload text, token text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	col text;
	det text;
BEGIN
	PERFORM workon.dispatch('workon.booking_create(uuid,timestamptz,timestamptz)'::regprocedure,
							'{}', '{}', payload, token, '{"request_id":"r-1","method":"POST"}');
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME, det = PG_EXCEPTION_DETAIL;
	RETURN st || ' ' || msg || ' [field: ' || col || '] ' || det;
END
$$;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT pg_temp.book('{"space_id": "nope", "starts_at": 7, "ends_at": "2030-02-30T10:00:00Z"}', :'m1_token') AS all_three;
SELECT pg_temp.book('{"space_id": {"id": 1}, "starts_at": "2030-01-01T10:00:00+01:00", "ends_at": "tomorrow"}', :'m1_token') AS two;
SELECT pg_temp.book('{"space_id": "{0a0b0c0d-0e0f-1011-1213-141516171819}", "starts_at": "2030-01-01T24:00:01Z", "ends_at": "2030-01-01T10:00:00+16:00"}', :'m1_token') AS braces_ok_times_out_of_range;
SELECT pg_temp.book('{"space_id": "0a0b0c0d0e0f10111213141516171819", "starts_at": "2099-01-01T10:00:00Z", "ends_at": "2099-01-01 11:00:00.5+01"}', :'m1_token') AS well_formed;
COMMIT;
