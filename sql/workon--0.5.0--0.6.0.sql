/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

--
-- The HTTP front end's view of the keys: it verifies a token's signature
-- itself only to choose whose rate-limit budget a request counts against
-- (the database still verifies every token).  It gets the active keys
-- (HS256 secrets, ES256 public keys) and reloads them on NOTIFY
-- workon_jwt_keys, sent by every change of the table.
--
CREATE FUNCTION workon.jwt_verification_keys()
RETURNS TABLE (kid text, alg text, secret bytea, public_key text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.kid, k.alg,
		   CASE WHEN k.alg = 'HS256' THEN k.secret END,
		   CASE WHEN k.alg = 'ES256' THEN workon.jwt_public_key_pem(k.secret) END
	  FROM workon.jwt_keys AS k
	 WHERE k.retired_at IS NULL
	 ORDER BY k.kid
$$;

COMMENT ON FUNCTION workon.jwt_verification_keys() IS
'For the front end''s login role only: the active keys, kid, alg, secret (HS256) or public_key (ES256 PEM), so that it can tell whose token a request carries before calling the database (its rate limits); changes are announced by NOTIFY workon_jwt_keys';

CREATE FUNCTION workon.jwt_keys_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_jwt_keys', '');
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.jwt_keys_notify() IS
'Trigger: NOTIFY workon_jwt_keys so the HTTP front end reloads workon.jwt_verification_keys()';

CREATE TRIGGER jwt_keys_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.jwt_keys
	FOR EACH STATEMENT EXECUTE FUNCTION workon.jwt_keys_notify();

GRANT EXECUTE ON FUNCTION workon.jwt_verification_keys()
	TO workon_authenticator;

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
