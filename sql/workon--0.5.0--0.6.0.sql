/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

-- e-mail addresses: invisible, control and bidirectional characters are refused
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
	-- characters that show as nothing or as a blank, or turn the text around: control
	-- (Cc), format (Cf: zero widths, joiners, bidirectional controls, BOM, tags),
	-- separators and other spaces, fillers and variation selectors; an address with
	-- one would look like another account's
	IF v_email ~ ('[\u0001-\u001F\u007F-\u00A0\u00AD\u034F\u0600-\u0605\u061C\u06DD\u070F\u08E2'
				  '\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F'
				  '\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB'
				  '\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3'
				  '\U0001D173-\U0001D17A\U000E0000-\U000E0FFF]') THEN
		RAISE EXCEPTION 'email must not contain invisible, control or bidirectional characters'
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
'The email address without surrounding blanks if it looks like one (local@domain.tld, at most 254 characters, no invisible, control or bidirectional characters); error 22023 with field "email" otherwise';

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
