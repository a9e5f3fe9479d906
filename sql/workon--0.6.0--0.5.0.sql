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

-- e-mail addresses: 0.5.0's check (nothing stored changes)
CREATE OR REPLACE FUNCTION workon.check_email(email text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	v_email		text := pg_catalog.btrim(check_email.email);
BEGIN
	IF v_email IS NULL OR v_email = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF pg_catalog.length(v_email) > 254
	   OR v_email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:].]+(\.[^@[:space:][:cntrl:].]+)+$' THEN
		RAISE EXCEPTION 'email is not a valid address'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	RETURN v_email;
END
$$;

COMMENT ON FUNCTION workon.check_email(text) IS
'The email address without surrounding blanks if it looks like one (local@domain.tld, at most 254 characters); error 22023 with field "email" otherwise';

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
