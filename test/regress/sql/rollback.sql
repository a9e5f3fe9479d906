--
-- ALTER EXTENSION workon UPDATE TO the previous release: where no data would
-- be lost the schema is that of a fresh install of the previous release and
-- every row stays; where rows would be lost the update refuses and nothing
-- changes
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS workon CASCADE;
DROP EXTENSION IF EXISTS btree_gist;
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/listing.sql

-- a fresh 0.5.0: its catalog, and the columns of its tables (walked up from
-- 0.1.0: CREATE EXTENSION ... VERSION '0.5.0' alone would take the shortest
-- path, the install of 0.6.0 and the way back, and compare the way back with
-- itself)
CREATE EXTENSION workon VERSION '0.1.0' CASCADE;
ALTER EXTENSION workon UPDATE TO '0.5.0';
CREATE TEMP TABLE fresh_050 AS SELECT * FROM pg_temp.listing();
-- (not the shipped rows of routes and errors, which are the version's own, nor the
-- spaces' stored documents, a cache each version writes in its own shape)
CREATE TEMP TABLE columns_050 AS
SELECT c.relname AS tbl, pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'workon'::regnamespace AND c.relkind = 'r'
   AND c.relname NOT IN ('routes', 'errors')
   AND (c.relname, a.attname) <> ('spaces', 'doc')
 GROUP BY c.relname;
DROP EXTENSION workon CASCADE;
DROP EXTENSION btree_gist;

-- the rows of every table of 0.5.0, as far as 0.5.0 has columns for them
CREATE FUNCTION pg_temp.rows() RETURNS TABLE (tbl text, n bigint, digest text)
LANGUAGE plpgsql AS $f$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM columns_050 ORDER BY 1 LOOP
		tbl := r.tbl;
		EXECUTE format('SELECT count(*), md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L))
		                  FROM (SELECT %s FROM workon.%I) t', E'\n', '', r.cols, r.tbl)
		   INTO n, digest;
		RETURN NEXT;
	END LOOP;
END
$f$;

-- a fresh install of the current version, with data
CREATE EXTENSION workon CASCADE;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'workon';
INSERT INTO workon.users (id, email, name, role) VALUES
	('d1000000-0000-4000-8000-000000000001', 'back.host@example.com', 'Back Host', 'host'),
	('d1000000-0000-4000-8000-000000000002', 'back.member@example.com', 'Back Member', 'member');
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, published)
VALUES ('d2000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000001',
        'Back Desk', 'desk', 'Berlin', 'Somewhere 1', 1, 'Europe/Berlin', 500, 2500, 'eur', true);
INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency)
VALUES ('d2000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000002',
        date_trunc('day', now()) + interval '3 days 9 hours', date_trunc('day', now()) + interval '3 days 11 hours',
        'confirmed', 1000, 'eur');
INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency)
SELECT id, user_id, 'payment_intent', price_cents, currency FROM workon.bookings;
-- 0.6.0 gives a payment its booking's space
SELECT p.space_id = b.space_id AS payment_has_space
  FROM workon.payments p JOIN workon.bookings b ON b.id = p.booking_id;
INSERT INTO workon.conversations (space_id, member_id, host_id)
VALUES ('d2000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000002',
        'd1000000-0000-4000-8000-000000000001');
-- a DBA's route
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary)
VALUES ('GET', '/api/v1/back', 'workon.health()', 'none', 200, 'none', 'A route of our own');
INSERT INTO workon.errors (sqlstate, status, code) VALUES ('WOZ99', 418, 'our_own');
CREATE TEMP TABLE rows_060 AS SELECT * FROM pg_temp.rows();
SELECT count(*) > 20 AS tables, sum(n) AS rows FROM rows_060;

-- back to 0.5.0
ALTER EXTENSION workon UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'workon';
CREATE TEMP TABLE rolled_back AS SELECT * FROM pg_temp.listing();
-- the catalog of a fresh 0.5.0, the DBA's route aside (pg_dump still keeps it),
-- and audit_log.changed: the names of the fields each audit row changed are
-- kept, not lost (0.5.0 writes NULL there; going forward again keeps them)
(SELECT 'only after rollback' AS side, * FROM rolled_back EXCEPT SELECT 'only after rollback', * FROM fresh_050)
UNION ALL
(SELECT 'only in fresh 0.5.0', * FROM fresh_050 EXCEPT SELECT 'only in fresh 0.5.0', * FROM rolled_back)
ORDER BY 1, 2, 3;
-- every row kept
(SELECT 'changed' AS what, * FROM rows_060 EXCEPT SELECT 'changed', * FROM pg_temp.rows())
UNION ALL
(SELECT 'now', * FROM pg_temp.rows() EXCEPT SELECT 'now', * FROM rows_060)
ORDER BY 1, 2;

-- and forward again: every row still there
ALTER EXTENSION workon UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'workon';
(SELECT 'changed' AS what, * FROM rows_060 EXCEPT SELECT 'changed', * FROM pg_temp.rows())
UNION ALL
(SELECT 'now', * FROM pg_temp.rows() EXCEPT SELECT 'now', * FROM rows_060)
ORDER BY 1, 2;
-- the space of the payment, dropped on the way back, is filled in again
SELECT p.space_id = b.space_id AS payment_has_space
  FROM workon.payments p JOIN workon.bookings b ON b.id = p.booking_id;
SELECT body::json->>'name' AS name
  FROM workon.dispatch('workon.space_get(uuid)'::regprocedure,
                       '{"id":"d2000000-0000-4000-8000-000000000001"}', '{}', NULL, NULL, '{}');

-- refused: rows in a table of the extension that 0.5.0 does not have
CREATE TABLE workon.rollback_probe (id int PRIMARY KEY, note text);
ALTER EXTENSION workon ADD TABLE workon.rollback_probe;
INSERT INTO workon.rollback_probe VALUES (1, 'kept'), (2, 'kept too');
ALTER EXTENSION workon UPDATE TO '0.5.0';
-- nothing changed
SELECT extversion FROM pg_extension WHERE extname = 'workon';
SELECT count(*) FROM workon.rollback_probe;
-- once they may go, the way back is open
DELETE FROM workon.rollback_probe;
ALTER EXTENSION workon UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'workon';

SET client_min_messages = warning;
DROP EXTENSION workon CASCADE;
DROP EXTENSION btree_gist;
RESET client_min_messages;
