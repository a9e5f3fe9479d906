/* sql/src/11_keys.sql -- access tokens: signing, the key table, seeding, rotation, verification */

--
-- Signing and verifying primitives (extension/jwt.c)
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

--
-- JWT keys are cached per backend: changes of workon.jwt_keys invalidate the
-- caches (the C code reads the keys as the table's owner, so
-- workon.jwt_verify needs no SECURITY DEFINER).
--
CREATE FUNCTION workon.jwt_keys_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'jwt_keys_changed'
LANGUAGE C;

COMMENT ON FUNCTION workon.jwt_keys_changed() IS
'Trigger: every backend drops its cached JWT keys once a change of workon.jwt_keys commits';

CREATE TRIGGER jwt_keys_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.jwt_keys
	FOR EACH STATEMENT EXECUTE FUNCTION workon.jwt_keys_changed();

--
-- Seeding from the front end's configuration, rotation, verification
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
LANGUAGE C VOLATILE STRICT;

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

-- The settings the front end passes along (JWT_ISSUER, JWT_AUDIENCE,
-- JWT_ACCESS_TTL, JWT_REFRESH_TTL) may be set by its login role, and
-- otherwise by superusers only.
GRANT SET ON PARAMETER workon.jwt_issuer, workon.jwt_audience,
	workon.jwt_access_ttl, workon.jwt_refresh_ttl
	TO workon_authenticator;

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

--
-- Privileges
--
-- the front end seeds its key at start
GRANT EXECUTE ON FUNCTION workon.seed_jwt_key(text)
	TO workon_authenticator;

-- the keys, to the front end only (HS256 secrets included)
GRANT EXECUTE ON FUNCTION workon.jwt_verification_keys()
	TO workon_authenticator;

-- verifying a token, for SQL callers and the front end
GRANT EXECUTE ON FUNCTION
	workon.authenticate(text),
	workon.jwt_verify(text),
	workon.jwt_public_keys()
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

-- pg_dump: keys are data
SELECT pg_catalog.pg_extension_config_dump('workon.jwt_keys', '');
