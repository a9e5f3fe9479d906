/* sql/src/36_accounts.sql -- the account flows that need a mailbox: one-time tokens, password reset, e-mail verification, password and profile changes */

--
-- One-time tokens of the account flows, stored as keyed hashes
--
CREATE TABLE workon.account_tokens (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	purpose		text NOT NULL
				CONSTRAINT account_tokens_purpose_check
				CHECK (purpose IN ('password_reset', 'email_verification')),
	token_hash	bytea NOT NULL
				CONSTRAINT account_tokens_token_hash_key UNIQUE,
	email		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	CONSTRAINT account_tokens_expires_at_check CHECK (expires_at > created_at)
);

COMMENT ON TABLE workon.account_tokens IS
'Tokens mailed for a password reset (1 hour) or an e-mail verification (24 hours), stored as HMAC-SHA256 under the refresh pepper; email is the address it was sent to (a token for an address the user no longer has is void); used_at makes it single use';

CREATE INDEX account_tokens_user_id_idx ON workon.account_tokens (user_id, purpose, created_at);

ALTER TABLE workon.account_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.account_tokens FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.account_token_ttl(purpose text)
RETURNS interval
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT CASE purpose WHEN 'password_reset' THEN interval '1 hour'
						WHEN 'email_verification' THEN interval '24 hours' END
$$;

COMMENT ON FUNCTION workon.account_token_ttl(text) IS
'How long a mailed token is valid: password_reset 1 hour, email_verification 24 hours';

CREATE FUNCTION workon.account_token_hash(token text)
RETURNS bytea
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.refresh_token_hash('account:' || token)
$$;

COMMENT ON FUNCTION workon.account_token_hash(text) IS
'How a mailed token is stored: HMAC-SHA256 under the refresh pepper (JWT_REFRESH_SECRET), apart from refresh tokens by a prefix';

-- at most this many mails of one purpose to one user an hour
CREATE FUNCTION workon.account_token_issue(p_user workon.users, p_purpose text, p_token text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	-- one request at a time per user, so that the hourly count holds
	PERFORM FROM workon.users AS u WHERE u.id = p_user.id FOR UPDATE;
	IF (SELECT pg_catalog.count(*) FROM workon.account_tokens AS t
		 WHERE t.user_id = p_user.id AND t.purpose = p_purpose
		   AND t.created_at > pg_catalog.now() - interval '1 hour') >= 5 THEN
		RETURN NULL;
	END IF;
	INSERT INTO workon.account_tokens (user_id, purpose, token_hash, email, expires_at)
	VALUES (p_user.id, p_purpose, workon.account_token_hash(p_token), p_user.email,
			pg_catalog.now() + workon.account_token_ttl(p_purpose))
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.account_token_issue(workon.users, text, text) IS
'Stores the hash of a new token of the purpose for the user and returns its id; NULL (nothing stored) when five were issued to the user for that purpose within the hour';

CREATE FUNCTION workon.account_token_use(p_token text, p_purpose text)
RETURNS workon.account_tokens
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.account_tokens;
BEGIN
	IF p_token IS NULL OR p_token = '' THEN
		RAISE EXCEPTION 'token is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'token';
	END IF;
	SELECT * INTO v_t
	  FROM workon.account_tokens AS t
	 WHERE t.token_hash = workon.account_token_hash(p_token) AND t.purpose = p_purpose
	   FOR UPDATE;
	IF NOT FOUND OR v_t.used_at IS NOT NULL OR v_t.expires_at <= pg_catalog.now()
	   OR NOT EXISTS (SELECT FROM workon.users AS u
					   WHERE u.id = v_t.user_id AND pg_catalog.lower(u.email) = pg_catalog.lower(v_t.email)) THEN
		RAISE EXCEPTION 'invalid or expired token'
			USING ERRCODE = 'WOE01', COLUMN = 'token';
	END IF;
	UPDATE workon.account_tokens AS t SET used_at = pg_catalog.now()
	 WHERE t.id = v_t.id
	RETURNING * INTO v_t;
	RETURN v_t;
END
$$;

COMMENT ON FUNCTION workon.account_token_use(text, text) IS
'Uses up a mailed token of the purpose and returns its row; 22023 when none is given, WOE01 invalid_token when it is unknown, used, expired or for an address the user no longer has';

CREATE FUNCTION workon.user_sessions_revoke(p_user_id uuid, p_reason text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.refresh_tokens AS t
	   SET revoked_at = pg_catalog.now()
	 WHERE t.user_id = p_user_id AND t.revoked_at IS NULL;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, after)
	VALUES (p_user_id, 'revoke', 'refresh_tokens', p_user_id::text,
			pg_catalog.jsonb_build_object('reason', p_reason));
$$;

COMMENT ON FUNCTION workon.user_sessions_revoke(uuid, text) IS
'Revokes every live refresh token of every family of a user, with an audit_log row giving the reason';

CREATE FUNCTION workon.email_verification_send(p_user workon.users)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		text := workon.random_token(32);
	v_id		uuid := workon.account_token_issue(p_user, 'email_verification', v_token);
BEGIN
	IF v_id IS NOT NULL THEN
		PERFORM workon.email_send(p_user.id, 'email_verification',
			pg_catalog.jsonb_build_object('expires_hours', 24),
			'email_verification:' || v_id, NULL,
			pg_catalog.jsonb_build_object('token', v_token,
				'link', workon.app_url()
						|| '/verify-email?token=' || v_token));
	END IF;
END
$$;

COMMENT ON FUNCTION workon.email_verification_send(workon.users) IS
'Mails a user a link to verify their address (a token valid 24 hours); nothing after five within the hour';

--
-- Route handlers: the account flows
--
CREATE FUNCTION workon.auth_password_forgot(email text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_email		text := workon.check_email(auth_password_forgot.email);
	v_user		workon.users;
	v_token		text := workon.random_token(32);
	v_link		text := workon.app_url()
						|| '/reset-password?token=' || v_token;
	v_id		uuid;
BEGIN
	SELECT * INTO v_user
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(v_email);
	IF v_user.id IS NOT NULL AND v_user.password_hash IS NOT NULL THEN
		v_id := workon.account_token_issue(v_user, 'password_reset', v_token);
	END IF;
	IF v_id IS NULL THEN
		-- no account (or too many mails): the same work, nothing kept
		PERFORM workon.account_token_hash(v_token),
				workon.email_message('password_reset', workon.user_locale(NULL),
									 pg_catalog.jsonb_build_object('link', v_link));
		RETURN;
	END IF;
	PERFORM workon.email_send(v_user.id, 'password_reset',
							  pg_catalog.jsonb_build_object('expires_minutes', 60),
							  'password_reset:' || v_id, NULL,
							  pg_catalog.jsonb_build_object('token', v_token, 'link', v_link));
END
$$;

COMMENT ON FUNCTION workon.auth_password_forgot(text) IS
'POST /api/v1/auth/password/forgot: mails the account with that address (case-insensitive) a link to choose a new password, valid one hour; answers 202 alike, after the same work, for an unknown address (and sends nothing after five mails to one account within the hour); 22023 only for a malformed address';

CREATE FUNCTION workon.auth_password_reset(token text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.account_tokens;
BEGIN
	IF auth_password_reset.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;
	v_t := workon.account_token_use(auth_password_reset.token, 'password_reset');
	PERFORM workon.password_check(auth_password_reset.password, v_t.email);

	UPDATE workon.users AS u
	   SET password_hash = workon.password_hash(auth_password_reset.password),
		   email_verified_at = COALESCE(u.email_verified_at, pg_catalog.now())
	 WHERE u.id = v_t.user_id;
	-- the other links mailed for a reset are void now
	UPDATE workon.account_tokens AS t SET used_at = pg_catalog.now()
	 WHERE t.user_id = v_t.user_id AND t.purpose = 'password_reset' AND t.used_at IS NULL;
	PERFORM workon.user_sessions_revoke(v_t.user_id, 'password_reset');
	PERFORM workon.email_send(v_t.user_id, 'password_changed', '{}', 'password_changed:' || v_t.id);
END
$$;

COMMENT ON FUNCTION workon.auth_password_reset(text, text) IS
'POST /api/v1/auth/password/reset: a new password for the account of a mailed reset token (single use, one hour); every refresh token of the user is revoked, the address counts as verified, a password_changed mail is queued. WOE01 invalid_token for an unknown, used or expired token; 22023 naming the field for a missing token or a weak password (the token is not used up then)';

CREATE FUNCTION workon.auth_verify_email(token text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.account_tokens := workon.account_token_use(auth_verify_email.token,
																  'email_verification');
BEGIN
	UPDATE workon.users AS u
	   SET email_verified_at = COALESCE(u.email_verified_at, pg_catalog.now())
	 WHERE u.id = v_t.user_id;
END
$$;

COMMENT ON FUNCTION workon.auth_verify_email(text) IS
'POST /api/v1/auth/verify-email: marks the address of a mailed verification token (single use, 24 hours) verified; no access token needed. WOE01 invalid_token for an unknown, used or expired token, or one mailed to an address the user has since changed';

CREATE FUNCTION workon.auth_verify_email_resend()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
BEGIN
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = workon.current_user_id();
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_user.email_verified_at IS NOT NULL THEN
		RAISE EXCEPTION 'the e-mail address is already verified'
			USING ERRCODE = 'WOE02';
	END IF;
	PERFORM workon.email_verification_send(v_user);
END
$$;

COMMENT ON FUNCTION workon.auth_verify_email_resend() IS
'POST /api/v1/auth/verify-email/resend: mails the authenticated user a new verification link (202; nothing more after five within the hour); WOE02 email_already_verified';

CREATE FUNCTION workon.me_password(current_password text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
BEGIN
	IF me_password.current_password IS NULL THEN
		RAISE EXCEPTION 'current_password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'current_password';
	END IF;
	IF me_password.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = workon.current_user_id() FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT workon.password_verify(me_password.current_password, v_user.password_hash) THEN
		RAISE EXCEPTION 'current password is wrong'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'current_password';
	END IF;
	PERFORM workon.password_check(me_password.password, v_user.email);

	UPDATE workon.users AS u
	   SET password_hash = workon.password_hash(me_password.password)
	 WHERE u.id = v_user.id;
	PERFORM workon.user_sessions_revoke(v_user.id, 'password_changed');
	PERFORM workon.email_send(v_user.id, 'password_changed', '{}',
							  'password_changed:' || pg_catalog.gen_random_uuid());
END
$$;

COMMENT ON FUNCTION workon.me_password(text, text) IS
'POST /api/v1/me/password: changes the authenticated user''s password (204); every refresh token of the user is revoked (log in again) and a password_changed mail is queued. 22023 naming the field for a missing or wrong current_password or a weak password';

CREATE FUNCTION workon.me_update(name text DEFAULT NULL, locale text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_name		text := pg_catalog.btrim(me_update.name);
	v_id		uuid;
BEGIN
	IF me_update.name IS NOT NULL AND v_name = '' THEN
		RAISE EXCEPTION 'name must not be empty'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(v_name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF me_update.locale NOT IN ('fr', 'en') THEN
		RAISE EXCEPTION 'locale must be fr or en'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'locale';
	END IF;
	UPDATE workon.users AS u
	   SET name = COALESCE(v_name, u.name),
		   locale = COALESCE(me_update.locale, u.locale)
	 WHERE u.id = workon.current_user_id()
	RETURNING u.id INTO v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN workon.user_json(v_id);
END
$$;

COMMENT ON FUNCTION workon.me_update(text, text) IS
'PATCH /api/v1/me {name, locale}: changes the authenticated user''s name (1 to 200 characters) and the language of their e-mails (fr or en); a field left out stays as it is; 22023 naming the field otherwise';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, read_only, summary) VALUES
	('POST', '/api/v1/auth/password/forgot', 'workon.auth_password_forgot(text)',
	 'none', 202, 'json', 'auth', false, 'Mail a link to choose a new password'),
	('POST', '/api/v1/auth/password/reset', 'workon.auth_password_reset(text,text)',
	 'none', 204, 'json', 'auth', false, 'Choose a new password with a mailed token'),
	('POST', '/api/v1/auth/verify-email', 'workon.auth_verify_email(text)',
	 'none', 204, 'json', 'auth', false, 'Verify an e-mail address with a mailed token'),
	('POST', '/api/v1/auth/verify-email/resend', 'workon.auth_verify_email_resend()',
	 'member', 202, 'none', 'default', false, 'Mail a new verification link'),
	('POST', '/api/v1/me/password', 'workon.me_password(text,text)',
	 'member', 204, 'json', 'default', false, 'Change my password'),
	('PATCH', '/api/v1/me', 'workon.me_update(text,text)',
	 'member', 200, 'json', 'default', false, 'Change my name or language');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/auth/password/forgot', '{"body": {"type": "object", "additionalProperties": false, "properties": {"email": {"type": "string", "minLength": 3}}, "required": ["email"]}}'),
	('POST', '/api/v1/auth/password/reset', '{"body": {"type": "object", "additionalProperties": false, "properties": {"token": {"type": "string", "minLength": 1}, "password": {"type": "string", "minLength": 8, "maxLength": 128}}, "required": ["token", "password"]}}'),
	('POST', '/api/v1/auth/verify-email', '{"body": {"type": "object", "additionalProperties": false, "properties": {"token": {"type": "string", "minLength": 1}}, "required": ["token"]}}'),
	('POST', '/api/v1/auth/verify-email/resend', '{}'),
	('POST', '/api/v1/me/password', '{"body": {"type": "object", "additionalProperties": false, "properties": {"current_password": {"type": "string"}, "password": {"type": "string", "minLength": 8, "maxLength": 128}}, "required": ["current_password", "password"]}}');


INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('PATCH', '/api/v1/me', '{
		"body": {"type": "object", "additionalProperties": false,
				 "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "locale": {"type": "string", "enum": ["en", "fr"]}}},
		"responses": {"200": {"$ref": "#/components/schemas/User"}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOE01', 400, 'invalid_token'),
	('WOE02', 409, 'email_already_verified');

GRANT EXECUTE ON FUNCTION
	workon.auth_password_forgot(text),
	workon.auth_password_reset(text, text),
	workon.auth_verify_email(text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.auth_verify_email_resend(),
	workon.me_password(text, text),
	workon.me_update(text, text)
	TO workon_member, workon_host, workon_admin;

SELECT pg_catalog.pg_extension_config_dump('workon.account_tokens', '');

-- password hashing (scrypt: about half a second of a backend) is slow by design:
-- these routes run in the front end's slow lane
UPDATE workon.routes SET lane = 'slow'
 WHERE (method, path) IN (('POST', '/api/v1/auth/register'), ('POST', '/api/v1/auth/login'),
						  ('POST', '/api/v1/auth/password/reset'), ('POST', '/api/v1/me/password'));
