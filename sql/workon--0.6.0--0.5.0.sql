/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- The rollback of 0.6.0: each concern appends the reverse of its change in
-- workon--0.5.0--0.6.0.sql.
--

-- 13_browser_sessions: the browser session routes (their refresh tokens are
-- ordinary refresh tokens and stay valid for the bearer routes)
DELETE FROM workon.routes WHERE path IN ('/api/v1/auth/session/register', '/api/v1/auth/session/login',
										  '/api/v1/auth/session/refresh', '/api/v1/auth/session/logout');
DROP FUNCTION workon.auth_session_register(text, text, text, text, jsonb);
DROP FUNCTION workon.auth_session_login(text, text, jsonb);
DROP FUNCTION workon.auth_session_refresh(jsonb);
DROP FUNCTION workon.auth_session_logout(jsonb);
DROP FUNCTION workon.session_browser(json, jsonb);
DROP FUNCTION workon.session_cookie_token(jsonb);
DROP FUNCTION workon.session_cookie(text, jsonb);
