--
-- The route table and the error map read by the HTTP front end
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;

SELECT method, path, handler, auth, status, body, summary
  FROM workon.routes ORDER BY path, method;

-- what the front end decides from the route row: which rate limits apply,
-- whether the handler only reads, the outbox kind a request may wait on, an
-- extra metric family
SELECT method, path, rate_limit, read_only, outbound, metric
  FROM workon.routes ORDER BY path, method;
-- the GET routes are the ones that only read
SELECT method, path, read_only FROM workon.routes WHERE read_only <> (method = 'GET');
-- a route that may wait on the outbox is one whose handler can queue a row
SELECT method, path FROM workon.routes WHERE outbound IS NOT NULL AND (read_only OR method = 'GET');

-- the front end's queries, as its login role
SET ROLE workon_authenticator;
SELECT q.method, q.path, q.handler::oid::regprocedure AS handler, q.auth, q.status, q.body,
       q.rate_limit, q.read_only, q.outbound, q.metric
  FROM (SELECT method, path, handler::oid::int8, auth, status, body, rate_limit, read_only, outbound, metric
          FROM workon.routes ORDER BY path, method)
       AS q(method, path, handler, auth, status, body, rate_limit, read_only, outbound, metric);
SELECT sqlstate, status, code FROM workon.errors ORDER BY status, sqlstate;
RESET ROLE;

-- every handler is a plain function in schema workon
SELECT r.method, r.path
  FROM workon.routes r JOIN pg_proc p ON p.oid = r.handler
 WHERE p.pronamespace <> 'workon'::regnamespace OR p.prokind <> 'f' OR p.proretset;
SELECT count(*) AS dangling_handlers
  FROM workon.routes r WHERE NOT EXISTS (SELECT FROM pg_proc p WHERE p.oid = r.handler);

-- handler signatures: every argument named, every optional one DEFAULT NULL
SELECT r.handler::oid::regproc AS handler, pg_get_function_arguments(r.handler) AS arguments
  FROM workon.routes r ORDER BY r.path, r.method;
SELECT r.handler, d AS non_null_default
  FROM workon.routes r JOIN pg_proc p ON p.oid = r.handler,
       regexp_split_to_table(pg_get_expr(p.proargdefaults, 0), ', ') AS d
 WHERE d !~ '^NULL::';
SELECT r.handler
  FROM workon.routes r JOIN pg_proc p ON p.oid = r.handler
 WHERE p.pronargs > 0
   AND (p.proargnames IS NULL OR '' = ANY (p.proargnames));

-- EXECUTE is granted exactly per the auth column: none = everyone,
-- member = member host admin, host = host admin, admin = admin; never the
-- authenticator itself
SELECT r.method, r.path, r.auth,
       string_agg(replace(x.r, 'workon_', ''), ' ' ORDER BY x.o)
           FILTER (WHERE has_function_privilege(x.r, r.handler, 'EXECUTE')) AS granted
  FROM workon.routes r,
       unnest(ARRAY['workon_anon', 'workon_member', 'workon_host', 'workon_admin',
                    'workon_authenticator']) WITH ORDINALITY AS x(r, o)
 GROUP BY r.method, r.path, r.auth
 ORDER BY r.path, r.method;
SELECT r.method, r.path, r.auth, x.r AS role,
       has_function_privilege(x.r, r.handler, 'EXECUTE') AS granted
  FROM workon.routes r,
       unnest(ARRAY['workon_anon', 'workon_member', 'workon_host', 'workon_admin',
                    'workon_authenticator']) AS x(r)
 WHERE has_function_privilege(x.r, r.handler, 'EXECUTE') IS DISTINCT FROM
       CASE r.auth
           WHEN 'none' THEN x.r <> 'workon_authenticator'
           WHEN 'member' THEN x.r IN ('workon_member', 'workon_host', 'workon_admin')
           WHEN 'host' THEN x.r IN ('workon_host', 'workon_admin')
           WHEN 'admin' THEN x.r = 'workon_admin'
       END;

-- the error map covers every SQLSTATE workon raises itself
SELECT s AS unmapped
  FROM unnest(ARRAY['22023', '22P02', '22003', '28000', 'WO401', 'WO404', 'P0002', '42501']) AS s
 WHERE NOT EXISTS (SELECT FROM workon.errors e WHERE e.sqlstate IN (s, left(s, 2)));

--
-- Any change to routes or errors sends NOTIFY workon_routes, once per
-- statement.  A second session listens.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\set channel workon_routes
\i :abs_srcdir/fixture/listener.sql

UPDATE workon.routes SET summary = summary;
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary)
VALUES ('POST', '/api/v1/regress', 'workon.space_get(uuid)', 'admin', 201, 'json', 'test'),
       ('PUT', '/api/v1/regress', 'workon.space_get(uuid)', 'admin', 200, 'json', 'test');
DELETE FROM workon.routes WHERE path = '/api/v1/regress';
UPDATE workon.routes SET summary = summary WHERE false;
BEGIN;
CREATE TEMP TABLE saved_routes AS SELECT * FROM workon.routes;
TRUNCATE workon.routes;
INSERT INTO workon.routes SELECT * FROM saved_routes;
COMMIT;
UPDATE workon.errors SET code = code WHERE sqlstate = '22';
SELECT * FROM pg_temp.notifications(7);

-- nothing is sent for a rolled-back change
BEGIN;
DELETE FROM workon.routes;
ROLLBACK;
SELECT pg_sleep(0.1);
SELECT * FROM pg_temp.notifications(0);

-- the routes are unchanged
SELECT method, path, handler FROM workon.routes ORDER BY path, method;

--
-- Malformed rows are refused
--
\set VERBOSITY terse
INSERT INTO workon.routes VALUES ('FETCH', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('get', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', 'api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api//x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/{Id}', 'workon.space_get(uuid)', 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'root', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'none', 500, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'xml', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.no_such_function(uuid)', 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', NULL, 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/spaces', 'workon.space_get(uuid)', 'none', 200, 'none', 'x');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x', 'strict');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x', NULL);
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x', 'default', NULL);
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x', 'default', true, 'sms');
INSERT INTO workon.routes VALUES ('GET', '/api/v1/x', 'workon.space_get(uuid)', 'none', 200, 'none', 'x', 'default', true, NULL, 'requests');
INSERT INTO workon.errors VALUES ('2', 400, 'x');
INSERT INTO workon.errors VALUES ('22p02', 400, 'x');
INSERT INTO workon.errors VALUES ('22P02', 200, 'x');
INSERT INTO workon.errors VALUES ('22P02', 400, 'Bad-Code');
INSERT INTO workon.errors VALUES ('22', 400, 'validation_failed');
\set VERBOSITY default

-- ... and none of them was announced
SELECT pg_sleep(0.1);
SELECT * FROM pg_temp.notifications(0);

SELECT dblink_disconnect('listener');
