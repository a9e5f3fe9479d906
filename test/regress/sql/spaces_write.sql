--
-- Spaces: create, change, delete (hosts and admins), validation with field
-- names, availability, the audit log
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx s
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

\set good '{"name":"Canal Desk","kind":"desk","city":"Berlin","address":"Ufer 1","capacity":2,"timezone":"Europe/Berlin","hourly_rate_cents":900,"daily_rate_cents":4500,"currency":"EUR","opening_hours":{"mon":[["08:00","20:00"]],"sat":[["22:00","24:00"]],"sun":[["00:00","06:00"]]}}'

-- a host creates a space: unpublished, theirs, currency lower-cased
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_create(:'good') AS s1 \gset
SELECT (:'s1'::jsonb - 'id' - 'created_at' - 'updated_at' - 'host_id') AS space,
       (:'s1'::json->>'host_id')::uuid = :'h1' AS host_is_caller;
COMMIT;
SELECT :'s1'::json->>'id' AS s1_id \gset

-- validation: every field, with its name
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT change, pg_temp.try(format('SELECT workon.space_create(%L::jsonb || %L::jsonb)', :'good', change)) AS result
  FROM unnest(ARRAY[
	'{"name":""}', '{"name":null}', '{"name":7}', '{"kind":"castle"}', '{"city":" "}', '{"address":null}',
	'{"capacity":0}', '{"capacity":1.5}', '{"capacity":"2"}', '{"capacity":99999999999}',
	'{"timezone":"Mars/Olympus"}', '{"timezone":"UTC+3"}',
	'{"hourly_rate_cents":-1}', '{"daily_rate_cents":100000000001}', '{"currency":"euro"}',
	'{"published":"yes"}', '{"opening_hours":[]}', '{"opening_hours":{"mon":[["20:00","08:00"]]}}',
	'{"opening_hours":{"funday":[]}}', '{"opening_hours":{"tue":[["08:00","12:00"],["11:00","13:00"]]}}',
	'{"colour":"blue"}', '{"host_id":"not-a-uuid"}', '{"id":"00000000-0000-4000-8000-000000000000"}']::text[]) AS change;
SELECT pg_temp.try($$SELECT workon.space_create('[1,2]')$$) AS array_body,
       pg_temp.try($$SELECT workon.space_create(NULL)$$) AS no_body,
       pg_temp.try(format('SELECT workon.space_create(%L::jsonb - %L)', :'good', 'timezone')) AS no_timezone,
       pg_temp.try(format('SELECT workon.space_create(%L::jsonb || jsonb_build_object(%L, %L))', :'good', 'host_id', :'h2')) AS host_names_another_host;
ROLLBACK;

-- members may not create spaces; admins may, for a host
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.space_create(%L)', :'good')) AS member;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT (workon.space_create(:'good'::jsonb || jsonb_build_object('host_id', :'h2', 'published', true))::json->>'host_id')::uuid = :'h2' AS admin_for_h2;
SELECT pg_temp.try(format('SELECT workon.space_create(%L::jsonb || jsonb_build_object(%L, %L))', :'good', 'host_id', :'m1')) AS admin_for_member;
COMMIT;

-- unpublished: only its host and admins see it
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.space_get(%L)', :'s1_id')) AS other_host_get,
       pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'s1_id', '{"name":"Mine now"}')) AS other_host_patch,
       pg_temp.try(format('SELECT workon.space_delete(%L)', :'s1_id')) AS other_host_delete;
ROLLBACK;

-- PATCH: only the fields given; null is not "absent"
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_update(:'s1_id', '{"name":"Canal Desk XL","capacity":4,"published":true}')::jsonb
       - 'id' - 'created_at' - 'updated_at' - 'host_id' AS patched;
SELECT pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'s1_id', replace(b, 'H2', :'h2'))) AS result, b
  FROM unnest(ARRAY['{"name":null}', '{"opening_hours":null}', '{"capacity":-3}', '{"host_id":"H2"}',
                    '{"created_at":"2020-01-01T00:00:00Z"}', '{"timezone":"Nowhere"}', '{}']) AS b;
COMMIT;

-- a published space seen by another host: 403 for writes
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'s1_id', '{"name":"Mine now"}')) AS other_host_patch;
ROLLBACK;

-- availability: opening hours in the space's zone, busy and free periods;
-- Monday 2030-01-07 (Berlin UTC+1) and the overnight Saturday 2030-01-12/13
INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency)
VALUES (:'s1_id', :'m1', '2030-01-07 09:00+00', '2030-01-07 10:30+00', 'confirmed', 0, 'eur');
BEGIN;
SET LOCAL ROLE workon_anon;
SELECT workon.space_availability(:'s1_id', '2030-01-07 00:00+00', '2030-01-14 00:00+00')::jsonb - 'space_id' AS availability;
SELECT pg_temp.try(format('SELECT workon.space_availability(%L, %L, %L)', :'s1_id', '2030-01-01', '2030-03-01')) AS too_long,
       pg_temp.try(format('SELECT workon.space_availability(%L, %L, %L)', :'s1_id', '2030-01-02', '2030-01-01')) AS backwards,
       pg_temp.try(format('SELECT workon.space_availability(%L)', 'b0000000-0000-4000-8000-0000000000ff')) AS unknown;
ROLLBACK;

-- DELETE: refused while a booking is ahead; allowed once it is cancelled
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.space_delete(%L)', :'s1_id')) AS with_future_booking;
ROLLBACK;
UPDATE workon.bookings SET status = 'cancelled' WHERE space_id = :'s1_id';
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.space_delete(%L)', :'s1_id')) AS after_cancellation;
COMMIT;
-- cancelled bookings are history: the space is archived (unpublished), not deleted
SELECT count(*) AS left_over, bool_and(archived_at IS NOT NULL AND NOT published) AS archived
  FROM workon.spaces WHERE id = :'s1_id';

-- the audit log: every change of spaces, by whom
SELECT a.action, a.entity, u.email AS actor, a.before->>'name' AS before_name, a.after->>'name' AS after_name
  FROM workon.audit_log AS a LEFT JOIN workon.users AS u ON u.id = a.actor_id
 WHERE a.entity = 'spaces' ORDER BY a.id;

-- routes
SELECT method, path, handler, auth, status, body FROM workon.routes
 WHERE path LIKE '/api/v1/spaces%' OR path LIKE '/api/v1/bookings%' ORDER BY path, method;
SELECT * FROM workon.errors WHERE sqlstate LIKE 'WOC%' ORDER BY sqlstate;

-- records are never deleted by cascade: the superuser empties their tables
TRUNCATE workon.outbox, workon.stripe_events, workon.refunds, workon.payments, workon.reviews, workon.bookings;
DELETE FROM workon.spaces WHERE host_id IN (:'h1', :'h2');
DELETE FROM workon.users WHERE id IN (:'m1', :'h1', :'h2', :'a1');
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
