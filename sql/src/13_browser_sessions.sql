--
-- Browser sessions: the auth routes for a web page, which must not keep a
-- refresh token where scripts can read it.  The refresh token travels in an
-- HttpOnly, SameSite=Strict cookie scoped to /api/v1/auth/session (Secure
-- unless the client is on a loopback address, so that development over
-- http://localhost works); the body carries the access token only, which the
-- page keeps in memory.  The tokens, their families and their rules are those
-- of 12_sessions: these routes only move the refresh token into the cookie.
--
CREATE FUNCTION workon.session_cookie(token text, meta jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ip		text := session_cookie.meta ->> 'ip';
	v_loopback	boolean := false;
BEGIN
	IF v_ip IS NOT NULL THEN
		BEGIN
			v_loopback := v_ip::inet <<= '127.0.0.0/8'::inet OR v_ip::inet = '::1'::inet
						  OR v_ip::inet <<= '::ffff:127.0.0.0/104'::inet;
		EXCEPTION WHEN invalid_text_representation THEN
			v_loopback := false;
		END;
	END IF;
	RETURN 'workon_refresh=' || COALESCE(session_cookie.token, '')
		   || '; Path=/api/v1/auth/session; HttpOnly; SameSite=Strict; Max-Age='
		   || CASE WHEN session_cookie.token IS NULL THEN 0 ELSE workon.token_ttl('refresh') END
		   || CASE WHEN v_loopback THEN '' ELSE '; Secure' END;
END
$$;

COMMENT ON FUNCTION workon.session_cookie(text, jsonb) IS
'The Set-Cookie value carrying a refresh token (NULL: one that clears the cookie): workon_refresh, Path=/api/v1/auth/session, HttpOnly, SameSite=Strict, Max-Age of workon.jwt_refresh_ttl, Secure unless meta.ip is a loopback address';

CREATE FUNCTION workon.session_cookie_token(meta jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.substr(pg_catalog.btrim(c), 16)
	  FROM pg_catalog.regexp_split_to_table(COALESCE(session_cookie_token.meta #>> '{headers,cookie}', ''), ';') AS c
	 WHERE pg_catalog.btrim(c) LIKE 'workon\_refresh=%'
	 LIMIT 1;
$$;

COMMENT ON FUNCTION workon.session_cookie_token(jsonb) IS
'The refresh token of the request''s workon_refresh cookie (meta.headers.cookie), or NULL';

-- a token answer for the browser: the refresh token into the cookie, out of the body
CREATE FUNCTION workon.session_browser(answer json, meta jsonb)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF session_browser.answer -> 'error' IS NOT NULL THEN
		-- token_reused: the family is revoked; the cookie goes too
		PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object(
			'Set-Cookie', workon.session_cookie(NULL, session_browser.meta)));
		RETURN session_browser.answer;
	END IF;
	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object(
		'Set-Cookie', workon.session_cookie(session_browser.answer ->> 'refresh_token', session_browser.meta)));
	-- row_to_json: compact, like every answer
	RETURN (SELECT pg_catalog.row_to_json(t)
			  FROM (SELECT session_browser.answer -> 'user' AS "user",
						   session_browser.answer ->> 'access_token' AS access_token,
						   session_browser.answer ->> 'token_type' AS token_type,
						   (session_browser.answer ->> 'expires_in')::integer AS expires_in) AS t);
END
$$;

COMMENT ON FUNCTION workon.session_browser(json, jsonb) IS
'A token answer of 12_sessions made a browser''s: its refresh token set as the workon_refresh cookie and left out of the body (an error answer clears the cookie)';

CREATE FUNCTION workon.auth_session_register(email text DEFAULT NULL, password text DEFAULT NULL,
											 name text DEFAULT NULL, role text DEFAULT NULL,
											 meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.session_browser(workon.auth_register(email, password, name, role), meta);
$$;

COMMENT ON FUNCTION workon.auth_session_register(text, text, text, text, jsonb) IS
'POST /api/v1/auth/session/register: workon.auth_register for a browser: {user, access_token, token_type, expires_in} and the refresh token as the workon_refresh cookie';

CREATE FUNCTION workon.auth_session_login(email text DEFAULT NULL, password text DEFAULT NULL,
										  meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.session_browser(workon.auth_login(email, password), meta);
$$;

COMMENT ON FUNCTION workon.auth_session_login(text, text, jsonb) IS
'POST /api/v1/auth/session/login: workon.auth_login for a browser: {user, access_token, token_type, expires_in} and the refresh token as the workon_refresh cookie';

CREATE FUNCTION workon.auth_session_refresh(meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		text := workon.session_cookie_token(auth_session_refresh.meta);
BEGIN
	IF v_token IS NULL OR v_token = '' THEN
		RAISE EXCEPTION 'no session cookie'
			USING ERRCODE = 'WOA03';
	END IF;
	RETURN workon.session_browser(workon.auth_refresh(v_token), auth_session_refresh.meta);
END
$$;

COMMENT ON FUNCTION workon.auth_session_refresh(jsonb) IS
'POST /api/v1/auth/session/refresh: workon.auth_refresh with the workon_refresh cookie''s token (the same rotation, reuse and grace rules): a new access token in the body and the new refresh token as the cookie; no cookie, or an unknown, revoked or expired token: WOA03 invalid_refresh_token';

CREATE FUNCTION workon.auth_session_logout(meta jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		workon.refresh_tokens;
BEGIN
	SELECT * INTO v_token
	  FROM workon.refresh_tokens AS t
	 WHERE t.token_hash = workon.refresh_token_hash(workon.session_cookie_token(auth_session_logout.meta))
	   AND t.revoked_at IS NULL
	   FOR UPDATE;
	IF FOUND THEN
		PERFORM workon.refresh_family_revoke(v_token, 'logout');
	END IF;
	PERFORM workon.set_response(204, pg_catalog.jsonb_build_object(
		'Set-Cookie', workon.session_cookie(NULL, auth_session_logout.meta)));
END
$$;

COMMENT ON FUNCTION workon.auth_session_logout(jsonb) IS
'POST /api/v1/auth/session/logout: revokes the family of the workon_refresh cookie''s token when it is live and clears the cookie; 204 whether or not there was a session';

INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, summary) VALUES
	('POST', '/api/v1/auth/session/register', 'workon.auth_session_register(text,text,text,text,jsonb)',
	 'none', 201, 'json', 'auth', 'Register (browser): the refresh token as an HttpOnly cookie'),
	('POST', '/api/v1/auth/session/login', 'workon.auth_session_login(text,text,jsonb)',
	 'none', 200, 'json', 'auth', 'Log in (browser): the refresh token as an HttpOnly cookie'),
	('POST', '/api/v1/auth/session/refresh', 'workon.auth_session_refresh(jsonb)',
	 'none', 200, 'json', 'default', 'A new access token for the refresh cookie (browser)'),
	('POST', '/api/v1/auth/session/logout', 'workon.auth_session_logout(jsonb)',
	 'none', 204, 'json', 'default', 'End the browser session and clear its cookie');


INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/auth/session/register', '{
		"body": {"$ref": "#/components/schemas/Registration"},
		"responses": {"201": {"$ref": "#/components/schemas/BrowserSession"}}}'),
	('POST', '/api/v1/auth/session/login', '{
		"body": {"$ref": "#/components/schemas/Credentials"},
		"responses": {"200": {"$ref": "#/components/schemas/BrowserSession"}}}'),
	('POST', '/api/v1/auth/session/refresh', '{"responses": {"200": {"$ref": "#/components/schemas/BrowserSession"}}}'),
	('POST', '/api/v1/auth/session/logout', '{}');

GRANT EXECUTE ON FUNCTION
	workon.auth_session_register(text, text, text, text, jsonb),
	workon.auth_session_login(text, text, jsonb),
	workon.auth_session_refresh(jsonb),
	workon.auth_session_logout(jsonb)
	TO workon_anon, workon_member, workon_host, workon_admin;
