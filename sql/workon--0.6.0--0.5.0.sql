/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- The way back: ALTER EXTENSION workon UPDATE TO '0.5.0' undoes what
-- workon--0.5.0--0.6.0.sql did, where no data would be lost. Each concern
-- appends the reverse of its 0.6.0 change below (drop what it added, in the
-- reverse order of its creation); where going back would lose data (rows of
-- a table 0.5.0 does not have, values of a column it does not have), it
-- raises instead, naming what would be lost, and nothing changes (the update
-- is one transaction). The pg_dump block stays last.
--

-- routes: the lane column (the shipped slow routes get it back from the 0.6.0 script)
DO $lane$
BEGIN
	IF EXISTS (SELECT 1 FROM workon.routes
				WHERE lane <> 'fast'
				  AND (method, path) NOT IN (('POST', '/api/v1/auth/register'), ('POST', '/api/v1/auth/login'),
											 ('POST', '/api/v1/auth/password/reset'), ('POST', '/api/v1/me/password')))
	THEN
		RAISE EXCEPTION 'workon 0.5.0 has no workon.routes.lane: routes of your own are in the slow lane'
			USING HINT = 'UPDATE workon.routes SET lane = ''fast'' first, or stay on 0.6.0';
	END IF;
END
$lane$;
ALTER TABLE workon.routes DROP COLUMN lane;

-- pg_dump: the shipped route and error rows are those of 0.5.0 again
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
