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

-- the schema, as catalog listings (a function: a view would go with the
-- extension)
CREATE FUNCTION pg_temp.listing() RETURNS TABLE (kind text, item text)
LANGUAGE plpgsql AS $f$
BEGIN
	RETURN QUERY
SELECT 'function' AS kind,
       p.oid::regprocedure::text || ' ' || p.provolatile::text || p.proisstrict::text || p.prosecdef::text
       || coalesce(array_to_string(p.proconfig, ','), '') || ' ' || coalesce(p.probin || ':' || p.prosrc, md5(p.prosrc))
       || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
       || ' ' || coalesce(p.proacl::text, '') AS item
  FROM pg_proc p WHERE p.pronamespace = 'workon'::regnamespace
UNION ALL
SELECT 'column', c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
       || a.attnum || a.attnotnull::text || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || ' ' || coalesce(col_description(c.oid, a.attnum), '') || ' ' || coalesce(a.attacl::text, '')
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'workon'::regnamespace
UNION ALL
SELECT 'relation', c.relname || ' ' || c.relkind::text || c.relrowsecurity::text || c.relforcerowsecurity::text
       || ' ' || coalesce(c.relacl::text, '') || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '')
  FROM pg_class c WHERE c.relnamespace = 'workon'::regnamespace
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'workon'::regnamespace
UNION ALL
SELECT 'index', pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'workon'::regnamespace)
UNION ALL
SELECT 'policy', schemaname || '.' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text
       || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
  FROM pg_policies WHERE schemaname = 'workon'
UNION ALL
SELECT 'trigger', tgrelid::regclass::text || ' ' || pg_get_triggerdef(oid)
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'workon'::regnamespace)
UNION ALL
SELECT 'route', method || ' ' || path || ' ' || handler::text || ' ' || auth || ' ' || status || ' ' || body || ' ' || summary
       || ' ' || rate_limit || ' ' || read_only || ' ' || coalesce(outbound, '-') || ' ' || coalesce(metric, '-')
  FROM workon.routes
UNION ALL
SELECT 'error', sqlstate || ' ' || status || ' ' || code FROM workon.errors
UNION ALL
SELECT 'config', c.relname || ' ' || coalesce(e.extcondition[array_position(e.extconfig, c.oid)], '')
  FROM pg_extension e JOIN pg_class c ON c.oid = ANY (e.extconfig) WHERE e.extname = 'workon'
UNION ALL
SELECT 'member', pg_describe_object(classid, objid, objsubid)
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'workon');
END
$f$;
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
