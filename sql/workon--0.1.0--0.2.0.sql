/* sql/workon--0.1.0--0.2.0.sql -- identity: accounts, passwords, tokens, keys */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.2.0'" to load this file. \quit

--
-- Users get a password
--
ALTER TABLE workon.users ADD COLUMN password_hash text;

COMMENT ON COLUMN workon.users.password_hash IS
'scrypt hash of the password (see workon.password_hash()); NULL: the user cannot log in with a password';

--
-- Dispatch verifies tokens now (a new C entry point; "dispatch" keeps
-- meaning what 0.1.0 declared)
--
CREATE OR REPLACE FUNCTION workon.dispatch(handler oid, params jsonb, query jsonb,
										   request_body text, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body text)
AS 'MODULE_PATHNAME', 'dispatch_0_2'
LANGUAGE C VOLATILE;

--
-- Passwords (extension/password.c)
--
CREATE FUNCTION workon.password_hash(password text)
RETURNS text
AS 'MODULE_PATHNAME', 'password_hash'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.password_hash(text) IS
'New stored hash of a password: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash> (unpadded base64url), with the parameters of workon.scrypt_log_n, workon.scrypt_r and workon.scrypt_p and a random salt';

-- not strict: a NULL stored hash costs the same work as a real one
CREATE FUNCTION workon.password_verify(password text, stored text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'password_verify'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.password_verify(text, text) IS
'True if the password matches the stored hash (constant-time comparison); a NULL or unreadable stored hash takes the same time and is false';

CREATE FUNCTION workon.password_needs_rehash(stored text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'password_needs_rehash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.password_needs_rehash(text) IS
'True if the stored hash was made with scrypt parameters below the current settings (or is unreadable)';

-- not strict: a NULL password is an error, a NULL email skips that rule
CREATE FUNCTION workon.password_check(password text, email text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'password_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.password_check(text, text) IS
'The password rules: 8 to 128 characters, not a common password, not the email address; error 22023 with field "password" otherwise';

--
-- Tokens (extension/jwt.c)
--
CREATE FUNCTION workon.jwt_sign(claims jsonb, alg text, kid text, key bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'jwt_sign'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.jwt_sign(jsonb, text, text, bytea) IS
'Compact JWS of the claims, header {"alg","typ":"JWT","kid"}; alg HS256 (key: the secret, at least 32 bytes) or ES256 (key: PKCS #8 DER P-256 private key)';

CREATE FUNCTION workon.jwt_verify_signature(token text, alg text, key bytea)
RETURNS boolean
AS 'MODULE_PATHNAME', 'jwt_verify_signature'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.jwt_verify_signature(text, text, bytea) IS
'True if the token is well formed, its header names alg and its signature is valid for key; claims are not checked. Malformed token or other algorithm: error 28000';

CREATE FUNCTION workon.jwt_generate_key(alg text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'jwt_generate_key'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.jwt_generate_key(text) IS
'New key material: 64 random bytes for HS256, a PKCS #8 DER P-256 private key for ES256';

CREATE FUNCTION workon.jwt_public_key_pem(key bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'jwt_public_key_pem'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.jwt_public_key_pem(bytea) IS
'Public key (SubjectPublicKeyInfo PEM) of ES256 key material';

CREATE FUNCTION workon.jwt_claims(sub uuid, role text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'jwt_claims'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.jwt_claims(uuid, text) IS
'Claims of a new access token: sub, role, iat, exp (iat + workon.jwt_access_ttl), iss (workon.jwt_issuer), aud (workon.jwt_audience), jti';

CREATE FUNCTION workon.token_ttl(kind text)
RETURNS integer
AS 'MODULE_PATHNAME', 'token_ttl'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.token_ttl(text) IS
'Seconds: access (workon.jwt_access_ttl), refresh (workon.jwt_refresh_ttl) or refresh_grace (workon.refresh_grace)';

CREATE FUNCTION workon.hmac_sha256(key bytea, data bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hmac_sha256'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.hmac_sha256(bytea, bytea) IS
'HMAC-SHA256 of data with key';

CREATE FUNCTION workon.random_token(nbytes integer DEFAULT 32)
RETURNS text
AS 'MODULE_PATHNAME', 'random_token'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.random_token(integer) IS
'nbytes (16 to 64) random bytes in unpadded base64url';

--
-- Signing keys.  Several are valid at once: new tokens are signed with the
-- active key activated last, tokens of any active key verify.  Key
-- material is read only by the extension's own SECURITY DEFINER functions.
--
CREATE TABLE workon.jwt_keys (
	kid			text PRIMARY KEY
				CONSTRAINT jwt_keys_kid_check
				CHECK (kid ~ '^[A-Za-z0-9._-]{1,64}$'),
	alg			text NOT NULL
				CONSTRAINT jwt_keys_alg_check
				CHECK (alg IN ('HS256', 'ES256')),
	secret		bytea NOT NULL
				CONSTRAINT jwt_keys_secret_check
				CHECK (alg <> 'HS256' OR pg_catalog.length(secret) >= 32),
	seeded		boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	activated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	retired_at	timestamptz
);

COMMENT ON TABLE workon.jwt_keys IS
'Access token keys: kid (the header''s lookup key), alg (the only algorithm the key accepts), secret (HS256 secret or ES256 PKCS #8 DER private key), seeded (from the front end''s JWT_SECRET), activated_at (newest active signs), retired_at (no longer verifies)';

ALTER TABLE workon.jwt_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.jwt_keys FORCE ROW LEVEL SECURITY;

-- Secrets that are not signing keys: the refresh token pepper
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
-- Audit log, written by the database itself
--
CREATE TABLE workon.audit_log (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	actor_id	uuid,
	action		text NOT NULL,
	entity		text NOT NULL,
	entity_id	text,
	before		jsonb,
	after		jsonb
);

COMMENT ON TABLE workon.audit_log IS
'State changes: who (actor_id, the authenticated user; NULL for SQL callers without a token), what (action, entity, entity_id) and the row before and after (secrets left out)';

CREATE INDEX audit_log_at_idx ON workon.audit_log (at DESC, id DESC);

ALTER TABLE workon.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.audit_log FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_before	jsonb;
	v_after		jsonb;
	v_hidden	text[] := TG_ARGV || ARRAY['updated_at'];
BEGIN
	IF TG_OP <> 'INSERT' THEN
		v_before := pg_catalog.to_jsonb(OLD) - v_hidden;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_after := pg_catalog.to_jsonb(NEW) - v_hidden;
	END IF;
	IF TG_OP = 'UPDATE' AND v_before = v_after THEN
		RETURN NULL;			-- nothing an auditor sees changed
	END IF;

	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, before, after)
	VALUES (workon.current_user_id(), pg_catalog.lower(TG_OP), TG_TABLE_NAME,
			COALESCE(v_after, v_before) ->> 'id', v_before, v_after);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.audit_row() IS
'Trigger: writes the change to workon.audit_log; trigger arguments name columns left out (secrets); updates that change only those and updated_at are not logged';

CREATE TRIGGER users_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.users
	FOR EACH ROW EXECUTE FUNCTION workon.audit_row('password_hash');

--
-- Users: the API representation, validation, creation
--
CREATE FUNCTION workon.user_json(user_id uuid)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'id', u.id,
		'email', u.email,
		'name', u.name,
		'role', u.role,
		'created_at', u.created_at,
		'updated_at', u.updated_at)
	  FROM workon.users AS u
	 WHERE u.id = $1
$$;

COMMENT ON FUNCTION workon.user_json(uuid) IS
'The API representation of a user, {"id","email","name","role","created_at","updated_at"}; NULL if the caller may not see the user';

CREATE FUNCTION workon.check_email(email text)
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

CREATE FUNCTION workon.create_user(email text, password text, name text,
								   role text DEFAULT 'member')
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_email		text := workon.check_email(create_user.email);
	v_name		text := pg_catalog.btrim(create_user.name);
	v_id		uuid;
BEGIN
	IF v_name IS NULL OR v_name = '' THEN
		RAISE EXCEPTION 'name is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(v_name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF create_user.role IS NULL OR create_user.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	PERFORM workon.password_check(create_user.password, v_email);

	IF EXISTS (SELECT FROM workon.users AS u
				WHERE pg_catalog.lower(u.email) = pg_catalog.lower(v_email)) THEN
		RAISE EXCEPTION 'email is already registered'
			USING ERRCODE = 'WOC01', COLUMN = 'email';
	END IF;

	BEGIN
		INSERT INTO workon.users (email, name, role, password_hash)
		VALUES (v_email, v_name, create_user.role,
				workon.password_hash(create_user.password))
		RETURNING id INTO v_id;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'email is already registered'
			USING ERRCODE = 'WOC01', COLUMN = 'email';
	END;

	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.create_user(text, text, text, text) IS
'Creates a user of any role (member, host, admin) with a password, for DBAs: SELECT workon.create_user(''ana@example.com'', ''a long passphrase'', ''Ana'', ''admin''); email, name, password and role are validated (22023 naming the field), a taken email (case-insensitive) is WOC01 email_taken';

CREATE FUNCTION workon.ensure_admin(email text, password text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	SELECT u.id INTO v_id
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(ensure_admin.email));
	IF FOUND THEN
		RETURN v_id;			-- never touches an existing user
	END IF;

	BEGIN
		RETURN workon.create_user(ensure_admin.email, ensure_admin.password,
								  'Administrator', 'admin');
	EXCEPTION WHEN SQLSTATE 'WOC01' THEN
		-- created concurrently (two front ends starting at once)
		SELECT u.id INTO v_id
		  FROM workon.users AS u
		 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(ensure_admin.email));
		RETURN v_id;
	END;
END
$$;

COMMENT ON FUNCTION workon.ensure_admin(text, text) IS
'The first admin (ADMIN_EMAIL, ADMIN_PASSWORD at start): creates an admin with that email if no user has it, and otherwise changes nothing (neither password nor role); returns the user''s id';

--
-- Keys and secrets: seeding from the front end's configuration, rotation
--
CREATE FUNCTION workon.seed_jwt_key(secret text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_secret	bytea := pg_catalog.convert_to(seed_jwt_key.secret, 'UTF8');
	v_kid		text;
	v_key		workon.jwt_keys;
BEGIN
	IF seed_jwt_key.secret IS NULL OR pg_catalog.length(seed_jwt_key.secret) < 32 THEN
		RAISE EXCEPTION 'JWT secret must be at least 32 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;

	-- a name for the key that does not reveal it
	v_kid := 'seed-' || pg_catalog.left(pg_catalog.encode(
		workon.hmac_sha256(v_secret, pg_catalog.convert_to('workon jwt key id', 'UTF8')),
		'hex'), 20);

	INSERT INTO workon.jwt_keys (kid, alg, secret, seeded)
	VALUES (v_kid, 'HS256', v_secret, true)
	ON CONFLICT (kid) DO NOTHING;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'jwt_keys', v_kid);
		RETURN v_kid;
	END IF;

	SELECT * INTO v_key FROM workon.jwt_keys AS k WHERE k.kid = v_kid FOR UPDATE;
	IF v_key.retired_at IS NOT NULL THEN
		RAISE WARNING 'JWT key "%" seeded from this secret was retired; it stays retired', v_kid
			USING HINT = 'Configure a new secret, or sign with the newest active key.';
	ELSIF EXISTS (SELECT FROM workon.jwt_keys AS k
				   WHERE k.retired_at IS NULL AND k.activated_at > v_key.activated_at) THEN
		UPDATE workon.jwt_keys AS k SET activated_at = pg_catalog.now() WHERE k.kid = v_kid;
	END IF;

	RETURN v_kid;
END
$$;

COMMENT ON FUNCTION workon.seed_jwt_key(text) IS
'Idempotent, for the front end at start with JWT_SECRET (at least 32 characters): the HS256 key of that secret, kid derived from an HMAC of it, inserted if missing and made the signing key; returns the kid. A retired key stays retired';

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

CREATE FUNCTION workon.rotate_jwt_key(alg text DEFAULT 'HS256')
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_kid		text := pg_catalog.lower(rotate_jwt_key.alg) || '-' || workon.random_token(16);
BEGIN
	IF rotate_jwt_key.alg IS NULL OR rotate_jwt_key.alg NOT IN ('HS256', 'ES256') THEN
		RAISE EXCEPTION 'alg must be HS256 or ES256'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'alg';
	END IF;

	INSERT INTO workon.jwt_keys (kid, alg, secret)
	VALUES (v_kid, rotate_jwt_key.alg, workon.jwt_generate_key(rotate_jwt_key.alg));
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
	VALUES (workon.current_user_id(), 'rotate', 'jwt_keys', v_kid);

	RETURN v_kid;
END
$$;

COMMENT ON FUNCTION workon.rotate_jwt_key(text) IS
'Generates a key (HS256 by default, or ES256) that signs every new token from now on; tokens of older keys keep verifying until workon.retire_jwt_key(kid). Returns the new kid';

CREATE FUNCTION workon.retire_jwt_key(kid text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE workon.jwt_keys AS k
	   SET retired_at = pg_catalog.now()
	 WHERE k.kid = retire_jwt_key.kid AND k.retired_at IS NULL;
	IF NOT FOUND THEN
		IF NOT EXISTS (SELECT FROM workon.jwt_keys AS k WHERE k.kid = retire_jwt_key.kid) THEN
			RAISE EXCEPTION 'JWT key "%" does not exist', retire_jwt_key.kid
				USING ERRCODE = 'no_data_found';
		END IF;
		RETURN;
	END IF;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
	VALUES (workon.current_user_id(), 'retire', 'jwt_keys', retire_jwt_key.kid);
END
$$;

COMMENT ON FUNCTION workon.retire_jwt_key(text) IS
'Retires a key: tokens signed with it no longer verify and it no longer signs. Retiring a retired key does nothing';

CREATE FUNCTION workon.jwt_public_keys()
RETURNS TABLE (kid text, alg text, public_key text, created_at timestamptz)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.kid, k.alg, workon.jwt_public_key_pem(k.secret), k.created_at
	  FROM workon.jwt_keys AS k
	 WHERE k.alg = 'ES256' AND k.retired_at IS NULL
	 ORDER BY k.activated_at DESC, k.created_at DESC, k.kid
$$;

COMMENT ON FUNCTION workon.jwt_public_keys() IS
'Public keys (PEM) of the active ES256 keys, for verifying access tokens outside the database; HS256 keys are secret and not listed';

CREATE FUNCTION workon.jwt_verify(token text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'jwt_verify'
LANGUAGE C VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION workon.jwt_verify(text) IS
'Claims of a valid access token (active key named by kid, its algorithm, signature, exp, nbf/iat with 30 s leeway, iss, aud, sub, role); error 28000 naming the failed check otherwise';

CREATE FUNCTION workon.jwt_issue(user_id uuid, role text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key		workon.jwt_keys;
BEGIN
	SELECT * INTO v_key
	  FROM workon.jwt_keys AS k
	 WHERE k.retired_at IS NULL
	 ORDER BY k.activated_at DESC, k.created_at DESC, k.kid
	 LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no active JWT signing key'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Call workon.seed_jwt_key(secret) or workon.rotate_jwt_key().';
	END IF;

	RETURN workon.jwt_sign(workon.jwt_claims(jwt_issue.user_id, jwt_issue.role),
						   v_key.alg, v_key.kid, v_key.secret);
END
$$;

COMMENT ON FUNCTION workon.jwt_issue(uuid, text) IS
'A new access token for the user and role, signed with the newest active key; for the extension''s own functions only';

CREATE FUNCTION workon.authenticate(token text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'authenticate'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.authenticate(text) IS
'For SQL callers: verifies an access token, switches to the API role of its role claim until the end of the transaction (the session user must be a member of it) and makes its claims those of workon.claims(); returns the claims, error 28000 otherwise';

--
-- Sessions: refresh tokens and the token response
--
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

	RETURN pg_catalog.json_build_object(
		'user', workon.user_json(session_issue.user_id),
		'access_token', workon.jwt_issue(session_issue.user_id, v_role),
		'refresh_token', v_token,
		'token_type', 'Bearer',
		'expires_in', workon.token_ttl('access'));
END
$$;

COMMENT ON FUNCTION workon.session_issue(uuid, uuid, uuid) IS
'The token response {user, access_token, refresh_token, token_type, expires_in} with a new refresh token in the family (a new family when NULL); the role is read from workon.users';

--
-- Route handlers: identity
--
CREATE FUNCTION workon.auth_register(email text DEFAULT NULL, password text DEFAULT NULL,
									 name text DEFAULT NULL, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF auth_register.role IS NOT NULL AND auth_register.role NOT IN ('member', 'host') THEN
		RAISE EXCEPTION 'role must be member or host'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF auth_register.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	RETURN workon.session_issue(
		workon.create_user(auth_register.email, auth_register.password,
						   auth_register.name, COALESCE(auth_register.role, 'member')));
END
$$;

COMMENT ON FUNCTION workon.auth_register(text, text, text, text) IS
'POST /api/v1/auth/register: a new member (or host) and its tokens; 22023 naming the field for a bad email, name, role or weak password, WOC01 email_taken';

CREATE FUNCTION workon.auth_login(email text DEFAULT NULL, password text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
	v_hash		text;
BEGIN
	IF auth_login.email IS NULL OR pg_catalog.btrim(auth_login.email) = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF auth_login.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	SELECT u.id, u.password_hash INTO v_id, v_hash
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(auth_login.email));

	-- the same work and the same answer for an unknown email
	IF NOT workon.password_verify(auth_login.password, v_hash) OR v_id IS NULL THEN
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
'POST /api/v1/auth/login: tokens for the user with that email (case-insensitive) and password; WOA01 invalid_credentials alike for an unknown email and a wrong password. Rehashes the password when its scrypt parameters are below the current ones';

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
		RETURN pg_catalog.json_build_object('error', pg_catalog.json_build_object(
			'code', 'token_reused',
			'message', 'refresh token already used; all sessions of this login are revoked',
			'details', pg_catalog.json_build_object()));
	END IF;
	-- else: replayed within the grace period (two tabs at once): a sibling

	RETURN workon.session_issue(v_token.user_id, v_token.family_id, v_token.id);
END
$$;

COMMENT ON FUNCTION workon.auth_refresh(text) IS
'POST /api/v1/auth/refresh: a new token pair for a refresh token, which is used up. A used one replayed within workon.refresh_grace seconds of its rotation gets a new pair of the same family; later, the family is revoked and the result is status 401 with the error body {"error":{"code":"token_reused",...}} (returned, not raised, so that the revocation commits). Unknown, revoked or expired: WOA03 invalid_refresh_token';

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

CREATE FUNCTION workon.me()
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		json := workon.user_json(workon.current_user_id());
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_user;
END
$$;

COMMENT ON FUNCTION workon.me() IS
'GET /api/v1/me: the authenticated user';

CREATE FUNCTION workon.admin_user_update(id uuid, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_id		uuid;
BEGIN
	IF admin_user_update.role IS NULL
	   OR admin_user_update.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;

	UPDATE workon.users AS u
	   SET role = admin_user_update.role
	 WHERE u.id = admin_user_update.id
	RETURNING u.id INTO v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	RETURN workon.user_json(v_id);
END
$$;

COMMENT ON FUNCTION workon.admin_user_update(uuid, text) IS
'PATCH /api/v1/admin/users/{id}: changes a user''s role (admins only; audited). The user''s access tokens keep their role until they expire; the next refresh carries the new one';

--
-- Row-level security and privileges of the identity tables
--
GRANT SELECT (id, email, name, role, created_at, updated_at) ON workon.users
	TO workon_member, workon_host, workon_admin;
GRANT UPDATE (role) ON workon.users TO workon_admin;

-- The settings the front end passes along (JWT_ISSUER, JWT_AUDIENCE,
-- JWT_ACCESS_TTL, JWT_REFRESH_TTL) may be set by its login role, and
-- otherwise by superusers only.
GRANT SET ON PARAMETER workon.jwt_issuer, workon.jwt_audience,
	workon.jwt_access_ttl, workon.jwt_refresh_ttl
	TO workon_authenticator;

INSERT INTO workon.routes (method, path, handler, auth, status, body, summary) VALUES
	('POST', '/api/v1/auth/register', 'workon.auth_register(text,text,text,text)',
	 'none', 201, 'json', 'Register a member or host'),
	('POST', '/api/v1/auth/login', 'workon.auth_login(text,text)',
	 'none', 200, 'json', 'Log in with email and password'),
	('POST', '/api/v1/auth/refresh', 'workon.auth_refresh(text)',
	 'none', 200, 'json', 'Exchange a refresh token for a new token pair'),
	('POST', '/api/v1/auth/logout', 'workon.auth_logout(text)',
	 'none', 204, 'json', 'Revoke a refresh token and its family'),
	('GET', '/api/v1/me', 'workon.me()',
	 'member', 200, 'none', 'The authenticated user'),
	('PATCH', '/api/v1/admin/users/{id}', 'workon.admin_user_update(uuid,text)',
	 'admin', 200, 'json', 'Change a user''s role');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOA01', 401, 'invalid_credentials'),
	('WOA02', 401, 'token_reused'),
	('WOA03', 401, 'invalid_refresh_token'),
	('WOC01', 409, 'email_taken');

--
-- Function privileges: nothing for PUBLIC, then exactly what each role needs
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- identity: the front end seeds keys and the first admin at start
GRANT EXECUTE ON FUNCTION
	workon.seed_jwt_key(text),
	workon.seed_refresh_secret(text),
	workon.ensure_admin(text, text)
	TO workon_authenticator;

-- verifying a token, for SQL callers and the front end
GRANT EXECUTE ON FUNCTION
	workon.authenticate(text),
	workon.jwt_verify(text),
	workon.jwt_public_keys()
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

-- route handlers: identity
GRANT EXECUTE ON FUNCTION
	workon.auth_register(text, text, text, text),
	workon.auth_login(text, text),
	workon.auth_refresh(text),
	workon.auth_logout(text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.me(),
	workon.user_json(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.admin_user_update(uuid, text)
	TO workon_admin;

--
-- Spaces keep their API representation (spaces.doc), so lists only copy it
--
CREATE FUNCTION workon.json_trusted(text)
RETURNS json
AS 'MODULE_PATHNAME', 'json_trusted'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.json_trusted(text) IS
'JSON text the extension assembled itself from JSON it built, as json without parsing it again (text::json would); not for text from outside';

REVOKE ALL ON FUNCTION workon.json_trusted(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.json_trusted(text)
	TO workon_anon, workon_member, workon_host, workon_admin;

ALTER TABLE workon.spaces ADD COLUMN doc json;

COMMENT ON COLUMN workon.spaces.doc IS
'The API representation of the space (workon.space_json, times in UTC), kept by the trigger spaces_write_doc so that reads only copy it';

CREATE FUNCTION workon.spaces_write_doc()
RETURNS trigger
LANGUAGE plpgsql
SET TimeZone = 'UTC'
AS $$
BEGIN
	NEW.doc := workon.space_json(NEW);
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.spaces_write_doc() IS
'Trigger: stores the API representation of a space in spaces.doc on every write (after spaces_set_updated_at, trigger names fire in order)';

REVOKE ALL ON FUNCTION workon.spaces_write_doc() FROM PUBLIC;

CREATE TRIGGER spaces_write_doc
	BEFORE INSERT OR UPDATE ON workon.spaces
	FOR EACH ROW EXECUTE FUNCTION workon.spaces_write_doc();

-- existing spaces get their document without a new updated_at
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces SET doc = NULL;
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_set_updated_at;

CREATE OR REPLACE FUNCTION workon.spaces_list(
	city text DEFAULT NULL,
	kind text DEFAULT NULL,
	min_capacity integer DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
	v_city		text := pg_catalog.lower(NULLIF(spaces_list.city, ''));
	v_kind		text := NULLIF(spaces_list.kind, '');
	v_min		integer := COALESCE(spaces_list.min_capacity, 1);
	v_limit		integer := COALESCE(spaces_list."limit", 20);
	-- the position after which the page starts; "before everything" by default
	v_after_ts	timestamptz := 'infinity';
	v_after_id	uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	v_docs		text[];
	v_ts		timestamptz[];
	v_ids		uuid[];
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF v_kind NOT IN ('desk', 'private_office', 'meeting_room', 'event_space') THEN
		RAISE EXCEPTION 'kind must be one of desk, private_office, meeting_room, event_space'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'kind';
	END IF;
	IF v_min < 1 THEN
		RAISE EXCEPTION 'min_capacity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'min_capacity';
	END IF;
	IF spaces_list.cursor <> '' THEN
		SELECT c.ts, c.id INTO v_after_ts, v_after_id
		  FROM workon.cursor_decode(spaces_list.cursor) AS c;
	END IF;

	/*
	 * One index-ordered scan of at most limit + 1 rows; the row past the
	 * page only says whether there is more.  The stored documents are
	 * copied, not rebuilt.  The aggregates read the ordered subquery in its
	 * order (a plain aggregate over a subquery scan does not reorder; an
	 * ORDER BY inside the aggregate would sort again).  Two spellings of the
	 * query so that each has a plan of its own: with a city, the per-city
	 * index does the filtering too.
	 */
	IF v_city IS NULL THEN
		SELECT pg_catalog.array_agg(p.doc::text), pg_catalog.array_agg(p.created_at),
			   pg_catalog.array_agg(p.id)
		  INTO v_docs, v_ts, v_ids
		  FROM (SELECT s.doc, s.created_at, s.id
				  FROM workon.spaces AS s
				 WHERE s.published
				   AND (s.created_at, s.id) < (v_after_ts, v_after_id)
				   AND (v_kind IS NULL OR s.kind = v_kind)
				   AND s.capacity >= v_min
				 ORDER BY s.created_at DESC, s.id DESC
				 LIMIT v_limit + 1) AS p;
	ELSE
		SELECT pg_catalog.array_agg(p.doc::text), pg_catalog.array_agg(p.created_at),
			   pg_catalog.array_agg(p.id)
		  INTO v_docs, v_ts, v_ids
		  FROM (SELECT s.doc, s.created_at, s.id
				  FROM workon.spaces AS s
				 WHERE s.published
				   AND s.city_key = v_city
				   AND (s.created_at, s.id) < (v_after_ts, v_after_id)
				   AND (v_kind IS NULL OR s.kind = v_kind)
				   AND s.capacity >= v_min
				 ORDER BY s.created_at DESC, s.id DESC
				 LIMIT v_limit + 1) AS p;
	END IF;

	RETURN workon.json_build(
		'data', workon.json_trusted(
			'[' || COALESCE(pg_catalog.array_to_string(v_docs[1:v_limit], ','), '') || ']'),
		'next_cursor', CASE WHEN pg_catalog.cardinality(v_docs) > v_limit THEN
						   workon.cursor_encode(v_ts[v_limit], v_ids[v_limit])
					   END);
END
$$;

CREATE OR REPLACE FUNCTION workon.space_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
	v_space		json;
BEGIN
	SELECT s.doc INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = space_get.id;

	IF v_space IS NULL THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	RETURN v_space;
END
$$;

--
-- pg_dump: the new tables, and the route and error rows shipped up to now
--
SELECT pg_catalog.pg_extension_config_dump('workon.jwt_keys', '');
SELECT pg_catalog.pg_extension_config_dump('workon.secrets', '');
SELECT pg_catalog.pg_extension_config_dump('workon.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log_id_seq', '');

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
