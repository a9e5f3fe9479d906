--
-- Spaces: the table, GET /api/v1/spaces and GET /api/v1/spaces/{id}
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
SET datestyle = 'ISO, YMD';

TRUNCATE workon.users, workon.spaces, workon.bookings, workon.reviews, workon.posts, workon.post_slugs, workon.refresh_tokens, workon.account_tokens,
	workon.conversations, workon.messages, workon.events, workon.socket_presence, workon.message_email_marks,
	workon.payments, workon.refunds, workon.outbox, workon.stripe_events,
	workon.uploads, workon.upload_data, workon.space_photos, workon.user_avatars;
INSERT INTO workon.users (id, email, name, role, created_at, updated_at) VALUES
	('00000000-0000-4000-8000-000000000001', 'hana@example.com', 'Hana Host', 'host', '2024-01-01', '2024-01-01'),
	('00000000-0000-4000-8000-000000000002', 'ivo@example.com', 'Ivo Host', 'host', '2024-01-01', '2024-01-01'),
	('00000000-0000-4000-8000-000000000003', 'ada@example.com', 'Ada Admin', 'admin', '2024-01-01', '2024-01-01');
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours,
                           published, created_at, updated_at)
SELECT ('a0000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid,
       ('00000000-0000-4000-8000-00000000000' || h)::uuid,
       name, kind, city, 'Street ' || n, capacity, tz, hourly, daily, 'eur',
       '{"mon":[["08:00","20:00"]]}', published, created_at, created_at
  FROM (VALUES
	(1, 1, 'Mitte Desk', 'desk', 'Berlin', 1, 'Europe/Berlin', 900, 4500, true, '2024-03-01 09:00+00'::timestamptz),
	(2, 1, 'Kreuzberg Office', 'private_office', 'Berlin', 6, 'Europe/Berlin', 3000, 18000, true, '2024-03-02 09:00+00'),
	(3, 1, 'Prenzlauer Room', 'meeting_room', 'BERLIN', 12, 'Europe/Berlin', 5000, 30000, true, '2024-03-03 09:00+00'),
	(4, 2, 'Spree Hall', 'event_space', 'Berlin', 120, 'Europe/Berlin', 20000, 150000, true, '2024-03-04 09:00+00'),
	(5, 2, 'Marais Desk', 'desk', 'Paris', 1, 'Europe/Paris', 1000, 5000, true, '2024-03-05 09:00+00'),
	(6, 2, 'Bastille Office', 'private_office', 'Paris', 4, 'Europe/Paris', 2500, 15000, true, '2024-03-06 09:00+00'),
	(7, 1, 'Alfama Room', 'meeting_room', 'Lisbon', 8, 'Europe/Lisbon', 4000, 24000, true, '2024-03-07 09:00+00'),
	(8, 1, 'Secret Loft', 'event_space', 'Berlin', 40, 'Europe/Berlin', 10000, 60000, false, '2024-03-08 09:00+00'),
	(9, 2, 'Belem Desk', 'desk', 'Lisbon', 1, 'Europe/Lisbon', 800, 4000, true, '2024-03-09 12:00+00'),
	(10, 2, 'Chiado Desk', 'desk', 'Lisbon', 2, 'Europe/Lisbon', 850, 4200, true, '2024-03-09 12:00+00'),
	(11, 2, 'Draft Desk', 'desk', 'Paris', 1, 'Europe/Paris', 700, 3500, false, '2024-03-10 09:00+00'),
	(12, 1, 'Oeiras Office', 'private_office', 'Lisbon', 3, 'Europe/Lisbon', 2000, 12000, true, '2024-03-11 09:00+00'))
	AS v(n, h, name, kind, city, capacity, tz, hourly, daily, published, created_at);

-- a page as names, plus whether there is more
CREATE FUNCTION pg_temp.names(page json) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(e->>'name', ', '), '(none)')
	       || CASE WHEN page->>'next_cursor' IS NOT NULL THEN ' ...' ELSE '' END
	  FROM json_array_elements(page->'data') AS e
$$;

SET ROLE workon_anon;

--
-- The list: published only, newest first (id breaks ties)
--
SELECT pg_temp.names(workon.spaces_list());
SELECT json_typeof(p->'data') AS data, p->'next_cursor' AS next_cursor
  FROM workon.spaces_list() AS p;
-- the space object
SELECT jsonb_pretty((workon.spaces_list("limit" => 1)->'data'->0)::jsonb);
SELECT json_object_keys(workon.spaces_list("limit" => 1)->'data'->0);

-- filters
SELECT pg_temp.names(workon.spaces_list(city => 'Berlin'));
SELECT pg_temp.names(workon.spaces_list(city => 'berlin'));
SELECT pg_temp.names(workon.spaces_list(city => 'PARIS'));
SELECT pg_temp.names(workon.spaces_list(city => 'Porto'));
SELECT pg_temp.names(workon.spaces_list(kind => 'desk'));
SELECT pg_temp.names(workon.spaces_list(kind => 'event_space'));
SELECT pg_temp.names(workon.spaces_list(min_capacity => 6));
SELECT pg_temp.names(workon.spaces_list(min_capacity => 1));
SELECT pg_temp.names(workon.spaces_list(city => 'lisbon', kind => 'desk', min_capacity => 2));
-- empty means not given
SELECT pg_temp.names(workon.spaces_list(city => '', kind => '', cursor => ''));

--
-- Pagination: walk every page, no row twice, none missing
--
CREATE FUNCTION pg_temp.walk(lim int, city text DEFAULT NULL, kind text DEFAULT NULL)
RETURNS TABLE (page int, names text)
LANGUAGE sql AS $$
	WITH RECURSIVE pages(n, p) AS (
		SELECT 1, workon.spaces_list(city => city, kind => kind, "limit" => lim)
		UNION ALL
		SELECT n + 1, workon.spaces_list(city => city, kind => kind, "limit" => lim,
		                                 cursor => p->>'next_cursor')
		  FROM pages WHERE p->>'next_cursor' IS NOT NULL AND n < 50
	)
	SELECT n, pg_temp.names(p) FROM pages ORDER BY n
$$;
SELECT * FROM pg_temp.walk(3);
SELECT * FROM pg_temp.walk(5);
SELECT * FROM pg_temp.walk(10);
SELECT * FROM pg_temp.walk(2, city => 'Lisbon');
SELECT * FROM pg_temp.walk(1, kind => 'desk');
WITH RECURSIVE pages(n, p) AS (
	SELECT 1, workon.spaces_list("limit" => 1)
	UNION ALL
	SELECT n + 1, workon.spaces_list("limit" => 1, cursor => p->>'next_cursor')
	  FROM pages WHERE p->>'next_cursor' IS NOT NULL AND n < 50
)
SELECT count(*) AS pages, count(e->>'id') AS rows, count(DISTINCT e->>'id') AS distinct_rows
  FROM pages, json_array_elements(p->'data') AS e;
SELECT pg_temp.names(workon.spaces_list("limit" => 100));

-- a cursor stays a position: rows that appear or go away do not shift the
-- next page
SELECT workon.spaces_list("limit" => 3)->>'next_cursor' AS after_belem \gset
RESET ROLE;
UPDATE workon.spaces SET published = false WHERE name = 'Belem Desk';
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, published,
                           created_at, updated_at)
VALUES ('a0000000-0000-4000-8000-000000000099', '00000000-0000-4000-8000-000000000001',
        'Newest Desk', 'desk', 'Berlin', 'Street 99', 1, 'Europe/Berlin', 100, 500, 'eur',
        true, '2024-04-01 00:00+00', '2024-04-01 00:00+00');
SET ROLE workon_anon;
SELECT pg_temp.names(workon.spaces_list("limit" => 3, cursor => :'after_belem'));
SELECT pg_temp.names(workon.spaces_list("limit" => 3));
RESET ROLE;
UPDATE workon.spaces SET published = true WHERE name = 'Belem Desk';
DELETE FROM workon.spaces WHERE name = 'Newest Desk';
SET ROLE workon_anon;

--
-- One space
--
SELECT workon.space_get('a0000000-0000-4000-8000-000000000007')->>'name' AS name;
SELECT workon.space_get('a0000000-0000-4000-8000-000000000007')::jsonb
       = (workon.spaces_list(city => 'Lisbon', kind => 'meeting_room')->'data'->0)::jsonb AS same_as_in_list;

--
-- Malformed input
--
SELECT q, pg_temp.try(q) AS result
  FROM (VALUES ('SELECT workon.spaces_list("limit" => 0)'),
               ('SELECT workon.spaces_list("limit" => 101)'),
               ('SELECT workon.spaces_list("limit" => -1)'),
               ('SELECT workon.spaces_list(kind => ''castle'')'),
               ('SELECT workon.spaces_list(kind => ''DESK'')'),
               ('SELECT workon.spaces_list(kind => ''desk '')'),
               ('SELECT workon.spaces_list(min_capacity => 0)'),
               ('SELECT workon.spaces_list(min_capacity => -5)'),
               ('SELECT workon.spaces_list(cursor => ''garbage'')'),
               ('SELECT workon.spaces_list(cursor => ''AQACsYyOougAJqV2UhMXTtWiwyJpWUj9h'')'),
               ('SELECT workon.space_get(''a0000000-0000-4000-8000-0000000000ff'')'),
               ('SELECT workon.space_get(NULL)')) AS v(q);
-- nothing is read as SQL or as a pattern
SELECT pg_temp.names(workon.spaces_list(city => $$'; drop table workon.spaces; --$$));
SELECT pg_temp.names(workon.spaces_list(city => $$Berlin' OR '1'='1$$));
SELECT pg_temp.names(workon.spaces_list(city => 'Berl%'));
SELECT pg_temp.names(workon.spaces_list(city => '_erlin'));
SELECT pg_temp.names(workon.spaces_list(city => repeat('x', 10000)));
SELECT pg_temp.names(workon.spaces_list(city => E'Berlin\n'));
SELECT pg_temp.names(workon.spaces_list(min_capacity => 2147483647));
SELECT count(*) AS published_spaces FROM workon.spaces;
-- unpublished spaces do not exist for anonymous callers
SELECT pg_temp.try('SELECT workon.space_get(''a0000000-0000-4000-8000-000000000008'')');
SELECT count(*) AS unpublished_in_list
  FROM json_array_elements(workon.spaces_list("limit" => 100)->'data') AS e
 WHERE e->>'name' IN ('Secret Loft', 'Draft Desk');

RESET ROLE;

--
-- The same over dispatch, as the HTTP front end calls it
--
CREATE FUNCTION pg_temp.http(fn text, params jsonb, query jsonb)
RETURNS TABLE (status int, body text)
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	col text;
BEGIN
	RETURN QUERY SELECT d.status, d.body
		FROM workon.dispatch(fn::regprocedure, params, query, NULL, NULL,
		                     '{"request_id":"r-1","method":"GET","path":"/api/v1/spaces"}') AS d;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME;
	RETURN QUERY SELECT NULL::int,
		st || ' ' || msg || CASE WHEN col <> '' THEN ' [field: ' || col || ']' ELSE '' END;
END
$$;
SELECT 'workon.spaces_list(text,text,integer,integer,text)' AS list,
       'workon.space_get(uuid)' AS get \gset

SELECT status, pg_temp.names(body::json)
  FROM pg_temp.http(:'list', '{}', '{"city":"Paris","limit":"1"}');
SELECT status, pg_temp.names(body::json)
  FROM pg_temp.http(:'list', '{}', '{"kind":"desk","min_capacity":"2"}');
SELECT status, body::json->>'name' AS name
  FROM pg_temp.http(:'get', '{"id":"a0000000-0000-4000-8000-000000000004"}', '{}');
SELECT status, body::json->>'name' AS name
  FROM pg_temp.http(:'get', '{"id":"A0000000-0000-4000-8000-000000000004"}', '{}');

SELECT v.fn, v.params, v.query, r.body AS error
  FROM (VALUES (1, 'list', '{}', '{"limit":"abc"}'),
               (2, 'list', '{}', '{"limit":"1e2"}'),
               (3, 'list', '{}', '{"limit":""}'),
               (4, 'list', '{}', '{"limit":"0"}'),
               (5, 'list', '{}', '{"limit":"101"}'),
               (6, 'list', '{}', '{"limit":"99999999999"}'),
               (7, 'list', '{}', '{"kind":"castle"}'),
               (8, 'list', '{}', '{"min_capacity":"-1"}'),
               (9, 'list', '{}', '{"min_capacity":"two"}'),
               (10, 'list', '{}', '{"cursor":"not-a-cursor"}'),
               (11, 'list', '{}', '{"sort":"name"}'),
               (12, 'list', '{}', '{"City":"Berlin"}'),
               (13, 'get', '{"id":"a0000000-0000-4000-8000-000000000008"}', '{}'),
               (14, 'get', '{"id":"a0000000-0000-4000-8000-0000000000ff"}', '{}'),
               (15, 'get', '{"id":"not-a-uuid"}', '{}'),
               (16, 'get', '{"id":"a0000000-0000-4000-8000-00000000000"}', '{}'),
               (17, 'get', '{"id":"a0000000-0000-4000-8000-000000000004"}', '{"fields":"name"}'))
       AS v(n, fn, params, query),
       LATERAL pg_temp.http(CASE v.fn WHEN 'list' THEN :'list' ELSE :'get' END,
                            v.params::jsonb, v.query::jsonb) AS r
 ORDER BY v.n;

--
-- The table refuses bad spaces
--
CREATE FUNCTION pg_temp.space(kind text DEFAULT 'desk', city text DEFAULT 'Berlin',
                              capacity int DEFAULT 1, timezone text DEFAULT 'Europe/Berlin',
                              hourly bigint DEFAULT 100, daily bigint DEFAULT 500,
                              currency text DEFAULT 'eur', opening_hours jsonb DEFAULT '{}',
                              host uuid DEFAULT '00000000-0000-4000-8000-000000000001',
                              name text DEFAULT 'Test')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
BEGIN
	INSERT INTO workon.spaces (host_id, name, kind, city, address, capacity, timezone,
	                           hourly_rate_cents, daily_rate_cents, currency, opening_hours)
	VALUES (host, name, kind, city, 'Street 1', capacity, timezone, hourly, daily,
	        currency, opening_hours);
	RAISE EXCEPTION USING ERRCODE = 'U0001', MESSAGE = 'inserted';	-- and undone
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN CASE WHEN st = 'U0001' THEN 'ok' ELSE st || ' ' || msg END;
END
$$;
SELECT pg_temp.space();
SELECT pg_temp.space(kind => 'castle');
SELECT pg_temp.space(city => ' ');
SELECT pg_temp.space(name => '');
SELECT pg_temp.space(capacity => 0);
SELECT pg_temp.space(timezone => 'Mars/Olympus_Mons');
SELECT pg_temp.space(timezone => 'UTC+3');
SELECT pg_temp.space(timezone => 'europe/berlin');
SELECT pg_temp.space(hourly => -1);
SELECT pg_temp.space(daily => -1);
SELECT pg_temp.space(currency => 'EUR');
SELECT pg_temp.space(currency => 'euro');
SELECT pg_temp.space(opening_hours => '[]');
SELECT pg_temp.space(opening_hours => 'null');
SELECT pg_temp.space(host => '00000000-0000-4000-8000-0000000000ff');
SELECT pg_temp.try($$INSERT INTO workon.users (email, name) VALUES ('HANA@example.com', 'Other Hana')$$);
SELECT pg_temp.try($$INSERT INTO workon.users (email, name) VALUES ('no-at-sign', 'X')$$);
SELECT pg_temp.try($$INSERT INTO workon.users (email, name, role) VALUES ('x@example.com', 'X', 'owner')$$);
SELECT pg_temp.try($$INSERT INTO workon.users (email, name) VALUES ('x@example.com', '  ')$$);
SELECT pg_temp.try($$UPDATE workon.spaces SET city_key = 'x'$$);
SELECT pg_temp.try($$DELETE FROM workon.users WHERE name = 'Hana Host'$$);

-- city_key follows city; updated_at follows updates
BEGIN;
UPDATE workon.spaces SET city = 'MUNSTER' WHERE name = 'Mitte Desk';
SELECT city, city_key = lower(city) AS city_key_ok, updated_at = now() AS updated_now,
       created_at = '2024-03-01 09:00+00' AS created_kept
  FROM workon.spaces WHERE name = 'Mitte Desk';
ROLLBACK;
