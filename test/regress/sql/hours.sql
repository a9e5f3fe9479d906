--
-- Hours that can be booked: availability windows on the 15-minute grid of
-- the space's zone, date-only bounds read in that zone, opening hours on the
-- grid, no publishing without opening hours
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx h
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

-- the grid of the zone's local time (Kathmandu is UTC+05:45)
SELECT z, t, workon.grid_align(t, z, true) AS up, workon.grid_align(t, z, false) AS down
  FROM (VALUES ('Europe/Berlin'), ('Asia/Kathmandu')) AS zs(z),
       (VALUES (timestamptz '2027-01-10 10:07:30+00'), (timestamptz '2027-01-10 10:15:00+00')) AS ts(t)
 ORDER BY z, t;
-- dates of the zone: from the start of the date; as an end, through it
SELECT v, z, workon.window_bound(v, 'from', z, false) AS as_from, workon.window_bound(v, 'to', z, true) AS as_to
  FROM (VALUES ('2027-01-10'), ('2027-07-10'), ('2027-01-10T09:00:00+01:00'), ('2027-01-10T09:00:00Z')) AS vs(v),
       (VALUES ('Europe/Berlin'), ('America/New_York')) AS zs(z)
 ORDER BY v, z;
SELECT v, pg_temp.try(format('SELECT workon.window_bound(%L, %L, %L, false)', v, 'from', 'UTC')) AS result
  FROM unnest(ARRAY['2027-01-10 09:00', 'tomorrow', '2027-02-30', '10/01/2027', 'infinity']) AS v;

-- a space in Berlin, open 08:00-20:00 every day
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_create('{"name": "Grid Room", "kind": "meeting_room", "city": "Berlin", "address": "Allee 1", "capacity": 4, "timezone": "Europe/Berlin", "hourly_rate_cents": 1000, "daily_rate_cents": 6000, "currency": "eur", "published": true, "opening_hours": {"mon": [["08:00","20:00"]], "tue": [["08:00","20:00"]], "wed": [["08:00","20:00"]], "thu": [["08:00","20:00"]], "fri": [["08:00","20:00"]], "sat": [["08:00","20:00"]], "sun": [["08:00","20:00"]]}}')::json->>'id' AS g \gset
COMMIT;

SET ROLE workon_anon;
-- date-only bounds: the dates in Berlin, to included
SELECT a->>'from' AS "from", a->>'to' AS "to", a->'open'->0 AS first_open, json_array_length(a->'open') AS open_days
  FROM workon.space_availability_window(:'g', '2027-01-10', '2027-01-11') AS a;
-- a time off the grid starts the window at the next quarter hour, an end
-- off the grid at the previous one
SELECT a->>'from' AS "from", a->>'to' AS "to", a->'free'->0 AS first_free
  FROM workon.space_availability_window(:'g', '2027-01-10T09:07:00+01:00', '2027-01-10T12:52:59+01:00') AS a;
-- the default window starts now, on the grid
SELECT (a->>'from')::timestamptz >= now() AS not_before_now,
       (a->>'from')::timestamptz < now() + interval '15 minutes' AS within_a_quarter,
       extract(epoch FROM (a->>'from')::timestamptz)::bigint % 900 = 0 AS on_the_grid,
       (a->>'to')::timestamptz - (a->>'from')::timestamptz AS length
  FROM workon.space_availability_window(:'g') AS a;
SELECT b.label, pg_temp.try(b.sql) AS result
  FROM (VALUES
	('not a time', format('SELECT workon.space_availability_window(%L, %L)', :'g', 'soon')),
	('two months', format('SELECT workon.space_availability_window(%L, %L, %L)', :'g', '2027-01-10', '2027-03-10')),
	('backwards', format('SELECT workon.space_availability_window(%L, %L, %L)', :'g', '2027-01-10', '2027-01-09')),
	('unknown space', $$SELECT workon.space_availability_window('00000000-0000-4000-8000-000000000000')$$)) AS b(label, sql);
RESET ROLE;

-- opening hours on the grid; a space without any is not published
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'g', '{"opening_hours": {"mon": [["08:07","20:00"]], "fri": [["08:00","19:59"]]}}')) AS off_grid,
       pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'g', '{"opening_hours": {"mon": [["08:15","19:45"]]}}')) AS on_grid,
       pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'g', '{"opening_hours": {}}')) AS published_without_hours,
       pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'g', '{"opening_hours": {}, "published": false}')) AS unpublished_without_hours,
       pg_temp.try(format('SELECT workon.space_update(%L, %L)', :'g', '{"published": true}')) AS publish_without_hours,
       pg_temp.try($$SELECT workon.space_create('{"name": "Empty", "kind": "desk", "city": "Berlin", "address": "Allee 2", "capacity": 1, "timezone": "Europe/Berlin", "hourly_rate_cents": 100, "daily_rate_cents": 600, "currency": "eur", "published": true}')$$) AS create_published_without_hours,
       pg_temp.try($$SELECT workon.space_create('{"name": "Empty", "kind": "desk", "city": "Berlin", "address": "Allee 2", "capacity": 1, "timezone": "Europe/Berlin", "hourly_rate_cents": 100, "daily_rate_cents": 600, "currency": "eur", "opening_hours": {"sun": []}, "published": true}')$$) AS create_published_with_empty_days;
COMMIT;
SELECT code FROM workon.errors WHERE sqlstate = 'WOR02';
-- hours written before the grid rule stay, and the space can still be changed
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_check;
UPDATE workon.spaces SET opening_hours = '{"mon": [["08:07","20:00"]]}' WHERE id = :'g';
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_check;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_update(:'g', '{"name": "Grid Room 2", "published": true}')::json->>'name' AS renamed;
COMMIT;
