/* sql/src/02_claims.sql -- who is calling: the verified claims of the request */

--
-- Caller identity (extension/claims.c)
--
CREATE FUNCTION workon.claims()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'claims'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION workon.claims() IS
'Verified token claims of the request being served in this transaction; NULL for anonymous requests and outside workon.dispatch()';

CREATE FUNCTION workon.current_user_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'current_user_id'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION workon.current_user_id() IS
'Id of the authenticated user of the current request ("sub" claim); NULL for anonymous callers';

CREATE FUNCTION workon.current_role()
RETURNS text
AS 'MODULE_PATHNAME', 'current_role'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION workon.current_role() IS
'API role of the caller: anon, member, host or admin (from the current request, else from the current role workon_*); NULL otherwise';

-- used by route handlers and row-level security policies, which run as the
-- API role
GRANT EXECUTE ON FUNCTION
	workon.claims(),
	workon.current_user_id(),
	workon.current_role()
	TO workon_anon, workon_member, workon_host, workon_admin;
