--
-- ALTER EXTENSION workon UPDATE from the oldest released version: data kept,
-- and the result is the same schema as a fresh install
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS workon CASCADE;
DROP EXTENSION IF EXISTS btree_gist;
CREATE EXTENSION workon VERSION '0.1.0' CASCADE;
RESET client_min_messages;
-- role settings outlive the extension: start without the ones 0.4.1 makes
ALTER ROLE workon_authenticator RESET ALL;
SELECT extversion FROM pg_extension WHERE extname = 'workon';

INSERT INTO workon.users (id, email, name, role)
VALUES ('d1000000-0000-4000-8000-000000000001', 'old.host@example.com', 'Old Host', 'host');
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, published)
VALUES ('d2000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000001',
        'Old Desk', 'desk', 'Berlin', 'Somewhere 1', 1, 'Europe/Berlin', 500, 2500, 'eur', true);
-- 0.1.0 refuses every token
SELECT * FROM workon.dispatch('workon.space_get(uuid)'::regprocedure,
                              '{"id":"d2000000-0000-4000-8000-000000000001"}', '{}', NULL, 'x.y.z', '{}');

-- 0.1.0 -> 0.2.0 -> 0.3.0 -> 0.4.0 -> 0.4.1 -> 0.5.0 -> 0.6.0
ALTER EXTENSION workon UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'workon';

-- every update script on the way was applied
SELECT to_regclass('workon.bookings') IS NOT NULL AS has_bookings,
       to_regclass('workon.payments') IS NOT NULL AS has_payments,
       (SELECT setconfig FROM pg_db_role_setting
         WHERE setrole = 'workon_authenticator'::regrole AND setdatabase = 0) AS authenticator_settings;

-- data kept
SELECT u.email, u.role, u.password_hash IS NULL AS no_password, s.name
  FROM workon.users u JOIN workon.spaces s ON s.host_id = u.id;
SELECT body::json->>'name' AS name
  FROM workon.dispatch('workon.space_get(uuid)'::regprocedure,
                       '{"id":"d2000000-0000-4000-8000-000000000001"}', '{}', NULL, NULL, '{}');
-- tokens are verified now
SELECT * FROM workon.dispatch('workon.space_get(uuid)'::regprocedure,
                              '{"id":"d2000000-0000-4000-8000-000000000001"}', '{}', NULL, 'x.y.z', '{}');

-- the schema, as catalog listings
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/listing.sql
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.listing();
SELECT count(*) > 100 AS listed FROM upgraded;

-- a fresh install of the current version in place of it
SET client_min_messages = warning;
DROP EXTENSION workon CASCADE;
DROP EXTENSION btree_gist;
CREATE EXTENSION workon CASCADE;
RESET client_min_messages;

CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.listing();

-- differences: none
(SELECT 'only after upgrade' AS side, * FROM upgraded EXCEPT SELECT 'only after upgrade', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh EXCEPT SELECT 'only in fresh install', * FROM upgraded)
ORDER BY 1, 2, 3;
