/* sql/src/99_finish.sql -- what holds once every object and shipped row is in */

--
-- No function is executable by PUBLIC: each file granted what its roles
-- need.
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

--
-- pg_dump: the route and error rows shipped are recreated by CREATE
-- EXTENSION, so only rows added later are dumped.  The filter names every
-- shipped row, so it is set here, once all are in (an update script that
-- ships rows sets it again).
--
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
