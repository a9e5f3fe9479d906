/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

-- routes: the lane a route's statement runs in (the front end's slow lane)
ALTER TABLE workon.routes ADD COLUMN lane text NOT NULL DEFAULT 'fast'
	CONSTRAINT routes_lane_check CHECK (lane IN ('fast', 'slow'));

COMMENT ON COLUMN workon.routes.lane IS
'For the front end: fast (the default) runs on the pipelined connections; slow (slow by design: password hashing, exports) on connections of its own with their own concurrency cap, so it never holds up the fast statements';

UPDATE workon.routes SET lane = 'slow'
 WHERE (method, path) IN (('POST', '/api/v1/auth/register'), ('POST', '/api/v1/auth/login'),
						  ('POST', '/api/v1/auth/password/reset'), ('POST', '/api/v1/me/password'));

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- pg_dump: the shipped route and error rows now include those above
DO $dump$
BEGIN
	PERFORM pg_catalog.pg_extension_config_dump('workon.routes',
		(SELECT 'WHERE (method, path) NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('(%L, %L)', r.method, r.path),
										 ', ' ORDER BY r.method, r.path)
				|| ')'
		   FROM workon.routes AS r));
	PERFORM pg_catalog.pg_extension_config_dump('workon.errors',
		(SELECT 'WHERE sqlstate NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('%L', e.sqlstate),
										 ', ' ORDER BY e.sqlstate)
				|| ')'
		   FROM workon.errors AS e));
END
$dump$;
