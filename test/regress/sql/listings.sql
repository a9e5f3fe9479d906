--
-- Listings: words searched in each space's language, ranked; orders by
-- price, capacity, newest with their cursors; a host's own spaces in any
-- state; bookings filtered (mine, and those on my spaces)
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx l
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

CREATE FUNCTION pg_temp.names(page json) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(e->>'name', ', '), '(none)')
	       || CASE WHEN page->>'next_cursor' IS NOT NULL THEN ' ...' ELSE '' END
	  FROM json_array_elements(page->'data') AS e
$$;
CREATE FUNCTION pg_temp.body(name text, city text, tz text, description text, hourly int, capacity int,
                             published boolean) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('name', name, 'kind', 'desk', 'city', city, 'address', 'Street 1',
	                          'capacity', capacity, 'timezone', tz, 'hourly_rate_cents', hourly,
	                          'daily_rate_cents', hourly * 6, 'currency', 'eur', 'published', published,
	                          'description', description,
	                          'opening_hours', '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}'::jsonb)
$$;

-- h1's spaces: a language of their zone unless the host names one
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT s->>'name' AS name, s->>'language' AS language, s->>'description' AS description
  FROM (VALUES
	(workon.space_create(pg_temp.body('Zebrawood Loft', 'Leeds', 'Europe/London', 'A quiet loft; running water, standing desks', 1500, 4, true))::jsonb),
	(workon.space_create(pg_temp.body('Canal Corner', 'Leeds', 'Europe/London', 'Quiet desks by the canal, zebrawood tables', 1100, 8, true))::jsonb),
	(workon.space_create(pg_temp.body('Bureau du Canal', 'Paris', 'Europe/Paris', 'Des bureaux calmes près du canal, idéal pour travailler', 900, 10, true))::jsonb),
	(workon.space_create(pg_temp.body('Werkstatt Mitte', 'Berlin', 'Europe/Berlin', 'Ruhige Arbeitsplätze an großen Tischen', 1200, 2, true))::jsonb),
	(workon.space_create(pg_temp.body('Hidden Zebrawood Room', 'Leeds', 'Europe/London', 'not published yet', 100, 1, false))::jsonb),
	(workon.space_create(pg_temp.body('Lisbon Desk', 'Lisboa', 'Europe/Lisbon', 'Secretárias tranquilas', 700, 3, true) || '{"language":"en"}')::jsonb)
  ) AS v(s);
SELECT pg_temp.try(format('SELECT workon.space_create(%L)', pg_temp.body('X', 'Leeds', 'UTC', '', 1, 1, false) || '{"language":"xx"}')) AS unknown_language,
       pg_temp.try(format('SELECT workon.space_create(%L)', pg_temp.body('X', 'Leeds', 'UTC', '', 1, 1, false) || '{"language":7}')) AS language_not_a_string,
       pg_temp.try(format('SELECT workon.space_create(%L)', pg_temp.body('X', 'Leeds', 'UTC', repeat('a', 5001), 1, 1, false))) AS description_too_long;
COMMIT;
-- one after the other, so that newest first is one order
UPDATE workon.spaces SET created_at = timestamptz '2030-01-01 00:00+00' + v.n * interval '1 minute'
  FROM (VALUES (1, 'Zebrawood Loft'), (2, 'Canal Corner'), (3, 'Bureau du Canal'), (4, 'Werkstatt Mitte'),
               (5, 'Hidden Zebrawood Room'), (6, 'Lisbon Desk')) AS v(n, name)
 WHERE spaces.name = v.name;

SET ROLE workon_anon;

--
-- Words: published spaces only, each in its language (stems), ranked
-- (a word of the name before one of the description)
--
SELECT pg_temp.names(workon.spaces_search(q => 'zebrawood'));
SELECT pg_temp.names(workon.spaces_search(q => 'runs'));             -- english stem of running
SELECT pg_temp.names(workon.spaces_search(q => 'calme bureau')); -- french stems of calmes, bureaux
SELECT pg_temp.names(workon.spaces_search(q => 'ruhig Tisch'));        -- german stems of Ruhige, Tischen
SELECT pg_temp.names(workon.spaces_search(q => 'canal -zebrawood'));  -- websearch syntax
SELECT pg_temp.names(workon.spaces_search(q => '"canal corner"'));
SELECT pg_temp.names(workon.spaces_search(q => 'canal', city => 'paris'));
SELECT pg_temp.names(workon.spaces_search(q => 'the'));                -- only a stop word
SELECT pg_temp.names(workon.spaces_search(q => '   '));               -- blank: the plain list
-- a language named by the host: the Lisbon desk is read in English, then
-- in Portuguese (tranquilo and tranquilas share a Portuguese stem)
SELECT pg_temp.names(workon.spaces_search(q => 'tranquilo')) AS in_english;
RESET ROLE;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_update(id, '{"language":"pt"}')::json->>'language' AS language
  FROM workon.spaces WHERE name = 'Lisbon Desk';
COMMIT;
SET ROLE workon_anon;
SELECT pg_temp.names(workon.spaces_search(q => 'tranquilo')) AS in_portuguese;

--
-- Orders and their cursors
--
SELECT pg_temp.names(workon.spaces_search(q => 'quiet or calme or ruhig or lisboa', sort => 'price'));
SELECT pg_temp.names(workon.spaces_search(q => 'quiet or calme or ruhig or lisboa', sort => 'capacity'));
SELECT pg_temp.names(workon.spaces_search(q => 'quiet or calme or ruhig or lisboa', sort => 'newest'));
SELECT pg_temp.names(workon.spaces_search(q => 'quiet or calme or ruhig or lisboa', sort => 'capacity', kind => 'desk', min_capacity => 4));
-- walking the price order two at a time gives the same list
WITH RECURSIVE pages(n, page) AS (
	SELECT 1, workon.spaces_search(q => 'quiet or calme or ruhig or lisboa', sort => 'price', "limit" => 2)
	UNION ALL
	SELECT n + 1, workon.spaces_search(q => 'quiet or calme or ruhig or lisboa', sort => 'price', "limit" => 2,
	                                   cursor => page->>'next_cursor')
	  FROM pages WHERE page->>'next_cursor' IS NOT NULL
)
SELECT n, pg_temp.names(page) FROM pages ORDER BY n;
-- the same by relevance, one at a time
WITH RECURSIVE pages(n, page) AS (
	SELECT 1, workon.spaces_search(q => 'zebrawood', "limit" => 1)
	UNION ALL
	SELECT n + 1, workon.spaces_search(q => 'zebrawood', "limit" => 1, cursor => page->>'next_cursor')
	  FROM pages WHERE page->>'next_cursor' IS NOT NULL
)
SELECT n, pg_temp.names(page) FROM pages ORDER BY n;
SELECT workon.spaces_search(q => 'quiet', sort => 'price', "limit" => 1)->>'next_cursor' AS price_cursor \gset
SELECT workon.spaces_list("limit" => 1)->>'next_cursor' AS newest_cursor \gset

-- malformed input, each naming its field
SELECT pg_temp.try(sql) AS result, regexp_replace(sql, 'cursor => ''[^'']{30,}''', 'cursor => <the other order''s>') AS sql
  FROM unnest(ARRAY[
	$$SELECT workon.spaces_search(sort => 'cheapest')$$,
	$$SELECT workon.spaces_search(sort => 'relevance')$$,
	$$SELECT workon.spaces_search(q => repeat('a', 201))$$,
	$$SELECT workon.spaces_search(q => 'quiet', "limit" => 0)$$,
	$$SELECT workon.spaces_search(q => 'quiet', kind => 'castle')$$,
	$$SELECT workon.spaces_search(q => 'quiet', min_capacity => 0)$$,
	$$SELECT workon.spaces_search(q => 'quiet', cursor => 'nope')$$,
	format('SELECT workon.spaces_search(q => %L, sort => %L, cursor => %L)', 'quiet', 'capacity', :'price_cursor'),
	format('SELECT workon.spaces_search(q => %L, sort => %L, cursor => %L)', 'quiet', 'price', :'newest_cursor')]) AS sql;
RESET ROLE;

-- the words are indexed (GIN on the stored vector)
SELECT indexdef FROM pg_indexes WHERE schemaname = 'workon' AND indexname = 'spaces_search_idx';

--
-- A host's own spaces, in any state; bookings on them
--
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT (workon.booking_create(s.id, date_trunc('day', now()) + interval '2 days 10 hours',
                              date_trunc('day', now()) + interval '2 days 11 hours')::json->>'id') AS b1
  FROM workon.spaces AS s WHERE s.name = 'Zebrawood Loft' \gset
SELECT (workon.booking_create(s.id, date_trunc('day', now()) + interval '3 days 10 hours',
                              date_trunc('day', now()) + interval '3 days 12 hours')::json->>'id') AS b2
  FROM workon.spaces AS s WHERE s.name = 'Bureau du Canal' \gset
SELECT workon.booking_cancel(:'b1')::json->>'status' AS cancelled;
COMMIT;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT (workon.booking_create(s.id, date_trunc('day', now()) + interval '4 days 10 hours',
                              date_trunc('day', now()) + interval '4 days 11 hours')::json->>'id') AS b3
  FROM workon.spaces AS s WHERE s.name = 'Bureau du Canal' \gset
COMMIT;
-- the Loft, booked once, is archived when deleted
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_delete(id) FROM workon.spaces WHERE name = 'Zebrawood Loft';
COMMIT;

BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT e->>'name' AS name, e->>'published' AS published, e->>'archived_at' IS NOT NULL AS archived
  FROM json_array_elements(workon.host_spaces_list()->'data') AS e;
SELECT n, pg_temp.names(page) FROM (
	SELECT 1 AS n, workon.host_spaces_list("limit" => 4) AS page
) AS p1;
SELECT pg_temp.names(workon.host_spaces_list("limit" => 4,
	cursor => workon.host_spaces_list("limit" => 4)->>'next_cursor')) AS second_page;
-- bookings on my spaces: both members', newest first, with filters
SELECT json_array_length(workon.host_bookings_list()->'data') AS all_mine,
       (SELECT string_agg(e->>'status', ', ' ORDER BY e->>'status') FROM json_array_elements(workon.host_bookings_list()->'data') AS e) AS statuses,
       json_array_length(workon.host_bookings_list(status => 'cancelled')->'data') AS cancelled,
       json_array_length(workon.host_bookings_list(status => 'pending_payment')->'data') AS pending,
       json_array_length(workon.host_bookings_list(space_id => (SELECT id FROM workon.spaces WHERE name = 'Bureau du Canal'))->'data') AS of_the_bureau,
       json_array_length(workon.host_bookings_list("from" => date_trunc('day', now()) + interval '3 days 11 hours',
                                                   "to" => date_trunc('day', now()) + interval '5 days')->'data') AS overlapping_from_day_3,
       json_array_length(workon.host_bookings_list("limit" => 2)->'data') AS first_page,
       workon.host_bookings_list("limit" => 2)->>'next_cursor' IS NOT NULL AS has_more;
SELECT pg_temp.try(sql) AS result, sql
  FROM unnest(ARRAY[
	$$SELECT workon.host_bookings_list(status => 'paid')$$,
	$$SELECT workon.host_bookings_list("from" => '2030-01-02', "to" => '2030-01-01')$$,
	$$SELECT workon.host_bookings_list(cursor => 'nope')$$]) AS sql;
COMMIT;

-- another host sees none of them; an admin sees them all; a member may not ask
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h2_token') AS c \gset
SELECT pg_temp.names(workon.host_spaces_list()) AS h2_spaces,
       json_array_length(workon.host_bookings_list()->'data') AS h2_bookings;
COMMIT;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT json_array_length(workon.host_bookings_list(space_id => (SELECT id FROM workon.spaces WHERE name = 'Bureau du Canal'))->'data') AS admin_sees;
COMMIT;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try('SELECT workon.host_spaces_list()') AS member_host_spaces,
       pg_temp.try('SELECT workon.host_bookings_list()') AS member_host_bookings;
-- my bookings, filtered
SELECT json_array_length(workon.bookings_search()->'data') AS mine,
       json_array_length(workon.bookings_search(status => 'cancelled')->'data') AS cancelled,
       json_array_length(workon.bookings_search(status => 'confirmed')->'data') AS confirmed,
       json_array_length(workon.bookings_search(space_id => (SELECT id FROM workon.spaces WHERE name = 'Bureau du Canal'))->'data') AS of_the_bureau,
       json_array_length(workon.bookings_search("from" => date_trunc('day', now()) + interval '3 days')->'data') AS from_day_3,
       json_array_length(workon.bookings_search("to" => date_trunc('day', now()) + interval '3 days')->'data') AS before_day_3;
SELECT pg_temp.try($$SELECT workon.bookings_search(status => 'paid')$$) AS bad_status;
COMMIT;
