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
