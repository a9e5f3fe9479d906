--
-- CREATE EXTENSION installs everything: objects, roles, privileges
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS workon;
DROP EXTENSION IF EXISTS btree_gist;
RESET client_min_messages;

CREATE EXTENSION workon CASCADE;

SELECT e.extname, e.extversion, n.nspname AS schema, e.extrelocatable
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname IN ('workon', 'btree_gist')
 ORDER BY 1;

-- the installed version is the one the control file offers
SELECT name, default_version, installed_version
  FROM pg_available_extensions WHERE name = 'workon';

-- members of the extension
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'workon')
   AND deptype = 'e'
 ORDER BY 1;

-- roles: created if missing, only the authenticator logs in
SELECT rolname, rolcanlogin, rolinherit, rolsuper, rolcreaterole, rolbypassrls
  FROM pg_roles WHERE rolname LIKE 'workon\_%' ORDER BY 1;

SELECT r.rolname AS role, m.rolname AS member
  FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.roleid
  JOIN pg_roles m ON m.oid = a.member
 WHERE r.rolname LIKE 'workon\_%'
 ORDER BY 1, 2;

-- the authenticator's statements never have their parameters (bodies, tokens,
-- seeded secrets) written to the server log
SELECT r.rolname, d.setdatabase = 0 AS every_database, d.setconfig
  FROM pg_db_role_setting d JOIN pg_roles r ON r.oid = d.setrole
 WHERE r.rolname LIKE 'workon\_%';

-- schema: usage for the API roles and the authenticator, nothing for PUBLIC
SELECT r AS role, has_schema_privilege(r, 'workon', 'USAGE') AS usage,
       has_schema_privilege(r, 'workon', 'CREATE') AS "create"
  FROM unnest(ARRAY['workon_anon', 'workon_member', 'workon_host',
                    'workon_admin', 'workon_authenticator']) AS r;
SELECT count(*) AS public_grants
  FROM pg_namespace, aclexplode(nspacl) a
 WHERE nspname = 'workon' AND a.grantee = 0;

-- no function is executable by PUBLIC
SELECT p.oid::regprocedure AS public_function
  FROM pg_proc p
 WHERE p.pronamespace = 'workon'::regnamespace
   AND (p.proacl IS NULL
        OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0));

-- who may execute what (the authenticator does not inherit)
SELECT p.oid::regprocedure AS function,
       coalesce(string_agg(replace(r, 'workon_', ''), ' ' ORDER BY o)
                FILTER (WHERE has_function_privilege(r, p.oid, 'EXECUTE')), '-') AS roles
  FROM pg_proc p,
       unnest(ARRAY['workon_anon', 'workon_member', 'workon_host', 'workon_admin',
                    'workon_authenticator']) WITH ORDINALITY AS x(r, o)
 WHERE p.pronamespace = 'workon'::regnamespace
 GROUP BY p.oid
 ORDER BY p.oid::regprocedure::text;

-- table privileges
SELECT c.relname,
       coalesce(string_agg(replace(r, 'workon_', '') || ':' || priv, ' ' ORDER BY o, priv)
                FILTER (WHERE has_table_privilege(r, c.oid, priv)), '-') AS privileges
  FROM pg_class c,
       unnest(ARRAY['workon_anon', 'workon_member', 'workon_host', 'workon_admin',
                    'workon_authenticator']) WITH ORDINALITY AS x(r, o),
       unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS priv
 WHERE c.relnamespace = 'workon'::regnamespace AND c.relkind = 'r'
 GROUP BY c.relname
 ORDER BY 1;

-- row-level security is on, and forced, where people's data lives
SELECT relname, relrowsecurity, relforcerowsecurity
  FROM pg_class
 WHERE relnamespace = 'workon'::regnamespace AND relkind = 'r'
 ORDER BY 1;

-- every function and table is documented
SELECT p.oid::regprocedure::text AS undocumented
  FROM pg_proc p
 WHERE p.pronamespace = 'workon'::regnamespace
   AND obj_description(p.oid, 'pg_proc') IS NULL
UNION ALL
SELECT c.oid::regclass::text
  FROM pg_class c
 WHERE c.relnamespace = 'workon'::regnamespace AND c.relkind = 'r'
   AND obj_description(c.oid, 'pg_class') IS NULL;

-- volatility, strictness and parallel safety of the C functions
SELECT p.oid::regprocedure AS function, p.provolatile, p.proisstrict, p.proparallel
  FROM pg_proc p
 WHERE p.pronamespace = 'workon'::regnamespace
   AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
 ORDER BY p.oid::regprocedure::text;

-- pg_dump keeps users and spaces, and the routes and errors added later
SELECT c.relname, coalesce(nullif(x.cond, ''), '(all rows)') AS dumped
  FROM pg_extension e,
       unnest(e.extconfig, e.extcondition) AS x(tab, cond)
  JOIN pg_class c ON c.oid = x.tab
 WHERE e.extname = 'workon'
 ORDER BY 1;

-- health
SELECT h->>'server_version' ~ '^[0-9]+\.[0-9]+$' AS server_version_ok,
       h->'extension' AS extension,
       h->>'database' = current_database() AS database_ok
  FROM workon.health() AS h;

-- the "workon." settings prefix is reserved
SET workon.no_such_setting = 1;
