/* sql/src/12_sessions.sql -- refresh tokens, login, register, refresh, logout */

--
-- Secrets that are not signing keys: the refresh token pepper
--
CREATE TABLE workon.secrets (
	name		text PRIMARY KEY
				CONSTRAINT secrets_name_check CHECK (name IN ('refresh_pepper')),
	value		bytea NOT NULL
				CONSTRAINT secrets_value_check CHECK (pg_catalog.length(value) >= 32),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.secrets IS
'Server secrets: refresh_pepper, the HMAC key refresh tokens are stored under (random until workon.seed_refresh_secret() derives it from JWT_REFRESH_SECRET)';

ALTER TABLE workon.secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.secrets FORCE ROW LEVEL SECURITY;

--
-- Refresh tokens: opaque, stored as HMAC-SHA256 under the pepper, rotated
-- on every use within a family that is revoked as a whole.
--
CREATE TABLE workon.refresh_tokens (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	family_id	uuid NOT NULL,
	user_id		uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	parent_id	uuid REFERENCES workon.refresh_tokens (id) ON DELETE CASCADE,
	token_hash	bytea NOT NULL
				CONSTRAINT refresh_tokens_token_hash_key UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	revoked_at	timestamptz,
	CONSTRAINT refresh_tokens_expires_at_check CHECK (expires_at > created_at)
);

COMMENT ON TABLE workon.refresh_tokens IS
'Refresh tokens (hashed): one family per login, a new row per rotation (parent_id the token it replaced); used_at set when rotated, revoked_at when the family was logged out or a used token was replayed';

CREATE INDEX refresh_tokens_family_id_idx ON workon.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON workon.refresh_tokens (user_id);
CREATE INDEX refresh_tokens_parent_id_idx ON workon.refresh_tokens (parent_id);

ALTER TABLE workon.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.refresh_tokens FORCE ROW LEVEL SECURITY;

--
-- Sessions: the pepper, refresh tokens and the token response
--
CREATE FUNCTION workon.seed_refresh_secret(secret text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pepper	bytea;
BEGIN
	IF seed_refresh_secret.secret IS NULL OR pg_catalog.length(seed_refresh_secret.secret) < 32 THEN
		RAISE EXCEPTION 'refresh secret must be at least 32 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;

	v_pepper := workon.hmac_sha256(pg_catalog.convert_to(seed_refresh_secret.secret, 'UTF8'),
								   pg_catalog.convert_to('workon refresh token pepper', 'UTF8'));

	INSERT INTO workon.secrets AS s (name, value)
	VALUES ('refresh_pepper', v_pepper)
	ON CONFLICT (name) DO UPDATE
		SET value = EXCLUDED.value, updated_at = pg_catalog.now()
		WHERE s.value IS DISTINCT FROM EXCLUDED.value;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'secrets', 'refresh_pepper');
	END IF;
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION workon.seed_refresh_secret(text) IS
'Idempotent, for the front end at start with JWT_REFRESH_SECRET (at least 32 characters): refresh tokens are stored as HMAC-SHA256 under a key derived from it, so a stolen table of hashes is useless without the secret. Returns true when the key changed, which ends every refresh token issued before';

CREATE FUNCTION workon.refresh_token_hash(token text)
RETURNS bytea
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pepper	bytea;
BEGIN
	SELECT s.value INTO v_pepper FROM workon.secrets AS s WHERE s.name = 'refresh_pepper';
	IF NOT FOUND THEN
		-- no JWT_REFRESH_SECRET seeded yet: a random pepper
		INSERT INTO workon.secrets (name, value)
		VALUES ('refresh_pepper', workon.jwt_generate_key('HS256'))
		ON CONFLICT (name) DO NOTHING;
		SELECT s.value INTO v_pepper FROM workon.secrets AS s WHERE s.name = 'refresh_pepper';
	END IF;
	RETURN workon.hmac_sha256(v_pepper, pg_catalog.convert_to(refresh_token_hash.token, 'UTF8'));
END
$$;

COMMENT ON FUNCTION workon.refresh_token_hash(text) IS
'How a refresh token is stored: HMAC-SHA256 under the refresh pepper';

CREATE FUNCTION workon.session_issue(user_id uuid, family_id uuid DEFAULT NULL,
									 parent_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_role		text;
	v_token		text := workon.random_token(32);
BEGIN
	SELECT u.role INTO v_role FROM workon.users AS u WHERE u.id = session_issue.user_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = 'WOA03';
	END IF;

	INSERT INTO workon.refresh_tokens (family_id, user_id, parent_id, token_hash, expires_at)
	VALUES (COALESCE(session_issue.family_id, pg_catalog.gen_random_uuid()),
			session_issue.user_id, session_issue.parent_id,
			workon.refresh_token_hash(v_token),
			pg_catalog.now() + pg_catalog.make_interval(secs => workon.token_ttl('refresh')));

	-- row_to_json: compact, like every answer
	RETURN (SELECT pg_catalog.row_to_json(t)
			  FROM (SELECT workon.user_json(session_issue.user_id) AS "user",
						   workon.jwt_issue(session_issue.user_id, v_role) AS access_token,
						   v_token AS refresh_token,
						   'Bearer'::text AS token_type,
						   workon.token_ttl('access') AS expires_in) AS t);
END
$$;

COMMENT ON FUNCTION workon.session_issue(uuid, uuid, uuid) IS
'The token response {user, access_token, refresh_token, token_type, expires_in} with a new refresh token in the family (a new family when NULL); the role is read from workon.users';

--
-- Route handlers: register, log in, refresh, log out
--
CREATE FUNCTION workon.auth_register(email text DEFAULT NULL, password text DEFAULT NULL,
									 name text DEFAULT NULL, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	IF auth_register.role IS NOT NULL AND auth_register.role NOT IN ('member', 'host') THEN
		RAISE EXCEPTION 'role must be member or host'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF auth_register.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	v_id := workon.create_user(auth_register.email, auth_register.password,
							   auth_register.name, COALESCE(auth_register.role, 'member'));
	PERFORM workon.email_verification_send(u) FROM workon.users AS u WHERE u.id = v_id;
	PERFORM workon.set_response(NULL, '{"Location": "/api/v1/me"}');
	RETURN workon.session_issue(v_id);
EXCEPTION WHEN invalid_parameter_value THEN
	-- something is invalid: every invalid field at once
	PERFORM workon.register_check(auth_register.email, auth_register.password,
								  auth_register.name, auth_register.role);
	RAISE;
END
$$;

COMMENT ON FUNCTION workon.auth_register(text, text, text, text) IS
'POST /api/v1/auth/register: a new member (or host) and its tokens, and a mail to verify the address; 22023 naming the first invalid field of email, password, name and role (all of them in its detail, workon.register_check), WOC01 email_taken';

CREATE FUNCTION workon.register_check(email text, password text, name text, role text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_fields	text[] := '{}';
	v_messages	text[] := '{}';
	v_message	text;
BEGIN
	BEGIN
		PERFORM workon.check_email(register_check.email);
	EXCEPTION WHEN invalid_parameter_value THEN
		GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
		v_fields := v_fields || 'email'::text; v_messages := v_messages || v_message;
	END;
	IF register_check.password IS NULL THEN
		v_fields := v_fields || 'password'::text; v_messages := v_messages || 'password is required'::text;
	ELSE
		BEGIN
			PERFORM workon.password_check(register_check.password, pg_catalog.btrim(register_check.email));
		EXCEPTION WHEN invalid_parameter_value THEN
			GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
			v_fields := v_fields || 'password'::text; v_messages := v_messages || v_message;
		END;
	END IF;
	IF register_check.name IS NULL OR pg_catalog.btrim(register_check.name) = '' THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name is required'::text;
	ELSIF pg_catalog.length(pg_catalog.btrim(register_check.name)) > 200 THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name must be at most 200 characters'::text;
	END IF;
	IF register_check.role IS NOT NULL AND register_check.role NOT IN ('member', 'host') THEN
		v_fields := v_fields || 'role'::text; v_messages := v_messages || 'role must be member or host'::text;
	END IF;
	PERFORM workon.raise_invalid(v_fields, v_messages);
END
$$;

COMMENT ON FUNCTION workon.register_check(text, text, text, text) IS
'The checks of a registration, all of them: 22023 naming the first invalid field of email, password, name and role, every invalid one in its detail (workon.raise_invalid); nothing when all are valid';

CREATE FUNCTION workon.auth_login(email text DEFAULT NULL, password text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
	v_hash		text;
	v_disabled	boolean;
BEGIN
	IF auth_login.email IS NULL OR pg_catalog.btrim(auth_login.email) = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF auth_login.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	SELECT u.id, u.password_hash, u.disabled INTO v_id, v_hash, v_disabled
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(auth_login.email));

	-- the same work and the same answer for an unknown email (and a disabled account)
	IF NOT workon.password_verify(auth_login.password, v_hash) OR v_id IS NULL OR v_disabled THEN
		RAISE EXCEPTION 'invalid email or password'
			USING ERRCODE = 'WOA01';
	END IF;

	IF workon.password_needs_rehash(v_hash) THEN
		UPDATE workon.users AS u
		   SET password_hash = workon.password_hash(auth_login.password)
		 WHERE u.id = v_id;
	END IF;

	RETURN workon.session_issue(v_id);
END
$$;

COMMENT ON FUNCTION workon.auth_login(text, text) IS
'POST /api/v1/auth/login: tokens for the user with that email (case-insensitive) and password; WOA01 invalid_credentials alike for an unknown email, a wrong password and a disabled account. Rehashes the password when its scrypt parameters are below the current ones';

CREATE FUNCTION workon.refresh_token_lock(refresh_token text)
RETURNS workon.refresh_tokens
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		workon.refresh_tokens;
BEGIN
	IF refresh_token_lock.refresh_token IS NULL OR refresh_token_lock.refresh_token = '' THEN
		RAISE EXCEPTION 'refresh_token is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'refresh_token';
	END IF;

	-- the row lock serializes concurrent uses of one token
	SELECT * INTO v_token
	  FROM workon.refresh_tokens AS t
	 WHERE t.token_hash = workon.refresh_token_hash(refresh_token_lock.refresh_token)
	   FOR UPDATE;
	IF NOT FOUND OR v_token.revoked_at IS NOT NULL OR v_token.expires_at <= pg_catalog.now() THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = 'WOA03';
	END IF;
	RETURN v_token;
END
$$;

COMMENT ON FUNCTION workon.refresh_token_lock(text) IS
'The live (not revoked, not expired) refresh token row for a presented token, locked FOR UPDATE; 22023 when none is given, WOA03 invalid_refresh_token otherwise';

CREATE FUNCTION workon.refresh_family_revoke(token workon.refresh_tokens, reason text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.refresh_tokens AS t
	   SET revoked_at = pg_catalog.now()
	 WHERE t.family_id = token.family_id AND t.revoked_at IS NULL;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, after)
	VALUES (token.user_id, 'revoke', 'refresh_token_family', token.family_id::text,
			pg_catalog.jsonb_build_object('reason', reason));
$$;

COMMENT ON FUNCTION workon.refresh_family_revoke(workon.refresh_tokens, text) IS
'Revokes every live token of the family of token, with an audit_log row giving the reason';

CREATE FUNCTION workon.auth_refresh(refresh_token text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the row lock serializes concurrent refreshes of one token
	v_token		workon.refresh_tokens := workon.refresh_token_lock(auth_refresh.refresh_token);
BEGIN
	IF NOT EXISTS (SELECT FROM workon.users AS u WHERE u.id = v_token.user_id AND NOT u.disabled) THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = 'WOA03';
	END IF;

	IF v_token.used_at IS NULL THEN
		UPDATE workon.refresh_tokens AS t SET used_at = pg_catalog.now() WHERE t.id = v_token.id;
	ELSIF pg_catalog.now() - v_token.used_at
		  > pg_catalog.make_interval(secs => workon.token_ttl('refresh_grace')) THEN
		/*
		 * Replayed after the grace period: stolen, or a client gone wrong.
		 * The whole family is revoked, and that must be committed, so the
		 * refusal is a 401 response rather than an error.
		 */
		PERFORM workon.refresh_family_revoke(v_token, 'token_reused');
		PERFORM workon.set_response(401, NULL);
		RETURN '{"error":{"code":"token_reused","message":"refresh token already used; all sessions of this login are revoked","details":{}}}'::json;
	END IF;
	-- else: replayed within the grace period (two tabs at once): a sibling

	RETURN workon.session_issue(v_token.user_id, v_token.family_id, v_token.id);
END
$$;

COMMENT ON FUNCTION workon.auth_refresh(text) IS
'POST /api/v1/auth/refresh: a new token pair for a refresh token, which is used up. A used one replayed within workon.refresh_grace seconds of its rotation gets a new pair of the same family; later, the family is revoked and the result is status 401 with the error body {"error":{"code":"token_reused",...}} (returned, not raised, so that the revocation commits). Unknown, revoked or expired, or its user disabled: WOA03 invalid_refresh_token';

CREATE FUNCTION workon.auth_logout(refresh_token text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.refresh_family_revoke(workon.refresh_token_lock(auth_logout.refresh_token), 'logout');
END
$$;

COMMENT ON FUNCTION workon.auth_logout(text) IS
'POST /api/v1/auth/logout: revokes the family of the refresh token (no access token needed); WOA03 invalid_refresh_token if it is unknown, revoked or expired';

--
-- Routes, errors, privileges
--
-- registering and logging in also count against the stricter per-address
-- budget (guessing passwords, making accounts in bulk)
INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, summary) VALUES
	('POST', '/api/v1/auth/register', 'workon.auth_register(text,text,text,text)',
	 'none', 201, 'json', 'auth', 'Register a member or host'),
	('POST', '/api/v1/auth/login', 'workon.auth_login(text,text)',
	 'none', 200, 'json', 'auth', 'Log in with email and password'),
	('POST', '/api/v1/auth/refresh', 'workon.auth_refresh(text)',
	 'none', 200, 'json', 'default', 'Exchange a refresh token for a new token pair'),
	('POST', '/api/v1/auth/logout', 'workon.auth_logout(text)',
	 'none', 204, 'json', 'default', 'Revoke a refresh token and its family');


INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/auth/register', '{
		"body": {"$ref": "#/components/schemas/Registration"},
		"responses": {"201": {"$ref": "#/components/schemas/Session"}}}'),
	('POST', '/api/v1/auth/login', '{
		"body": {"$ref": "#/components/schemas/Credentials"},
		"responses": {"200": {"$ref": "#/components/schemas/Session"}}}'),
	('POST', '/api/v1/auth/refresh', '{
		"body": {"type": "object", "additionalProperties": false, "required": ["refresh_token"],
				 "properties": {"refresh_token": {"type": "string"}}},
		"responses": {"200": {"$ref": "#/components/schemas/Session"}}}'),
	('POST', '/api/v1/auth/logout', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"refresh_token": {"type": "string"}}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOA01', 401, 'invalid_credentials'),
	('WOA02', 401, 'token_reused'),
	('WOA03', 401, 'invalid_refresh_token');

-- the front end seeds the pepper at start
GRANT EXECUTE ON FUNCTION workon.seed_refresh_secret(text)
	TO workon_authenticator;

GRANT EXECUTE ON FUNCTION
	workon.auth_register(text, text, text, text),
	workon.auth_login(text, text),
	workon.auth_refresh(text),
	workon.auth_logout(text)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- pg_dump: the pepper and the refresh tokens are data
SELECT pg_catalog.pg_extension_config_dump('workon.secrets', '');
SELECT pg_catalog.pg_extension_config_dump('workon.refresh_tokens', '');
