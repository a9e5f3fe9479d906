--
-- Key rotation: several keys valid at once, the newest signs
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
DELETE FROM workon.jwt_keys;
DELETE FROM workon.audit_log;

CREATE FUNCTION pg_temp.kid(token text) RETURNS text LANGUAGE sql AS $$
	SELECT convert_from(decode(rpad(translate(split_part(token, '.', 1), '-_', '+/'),
	       (length(split_part(token, '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb->>'kid'
$$;
CREATE FUNCTION pg_temp.check(token text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM workon.jwt_verify(token);
	RETURN 'valid';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;

-- no key, no token
\set VERBOSITY terse
SELECT workon.jwt_issue('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'member');
\set VERBOSITY default

-- the front end's secret: idempotent, kid derived but not revealing
SELECT workon.seed_jwt_key('too short');
SELECT workon.seed_jwt_key(repeat('s', 48)) AS seed_kid \gset
SELECT workon.seed_jwt_key(repeat('s', 48)) = :'seed_kid' AS idempotent,
       :'seed_kid' ~ '^seed-[0-9a-f]{20}$' AS kid_format,
       position('sss' IN :'seed_kid') = 0 AS not_the_secret;
SELECT count(*) AS keys, bool_and(seeded) AS seeded, min(alg) AS alg FROM workon.jwt_keys;
SELECT workon.jwt_issue('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'member') AS t1 \gset
SELECT pg_temp.kid(:'t1') = :'seed_kid' AS signed_with_seed, pg_temp.check(:'t1');

-- rotation: the new key signs, the old one still verifies
SELECT workon.rotate_jwt_key() AS k2 \gset
SELECT :'k2' ~ '^hs256-[A-Za-z0-9_-]{22}$' AS rotated_kid;
SELECT workon.jwt_issue('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'member') AS t2 \gset
SELECT pg_temp.kid(:'t2') = :'k2' AS signed_with_new, pg_temp.check(:'t1') AS old_token, pg_temp.check(:'t2') AS new_token;
SELECT workon.rotate_jwt_key('ES256') AS k3 \gset
SELECT workon.jwt_issue('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'host') AS t3 \gset
SELECT pg_temp.kid(:'t3') = :'k3' AS signed_with_es256, pg_temp.check(:'t3') AS es_token;
SELECT count(*) AS public_keys, bool_and(public_key LIKE '-----BEGIN PUBLIC KEY-----%') AS pem
  FROM workon.jwt_public_keys();

-- seeding again makes the seeded key the signing key again
SELECT workon.seed_jwt_key(repeat('s', 48)) = :'seed_kid' AS reseeded;
SELECT pg_temp.kid(workon.jwt_issue('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'member')) = :'seed_kid' AS seed_signs;

-- verified tokens are cached per session: the cache answers only while the
-- settings a token was checked against stay the same, and can be turned off
SELECT pg_temp.check(:'t2') AS cached, pg_temp.check(:'t2') AS cached_again;
SET workon.jwt_audience = 'another-api';
SELECT pg_temp.check(:'t2') AS other_audience;
RESET workon.jwt_audience;
SET workon.jwt_issuer = 'another-issuer';
SELECT pg_temp.check(:'t2') AS other_issuer;
RESET workon.jwt_issuer;
SET workon.jwt_cache_size = 0;
SELECT pg_temp.check(:'t2') AS uncached, pg_temp.check('x' || :'t2') AS uncached_garbage;
RESET workon.jwt_cache_size;
SELECT pg_temp.check(:'t2') AS cached_again;

-- retiring: its tokens stop verifying, the others do not (cached or not)
SELECT workon.retire_jwt_key(:'seed_kid');
SELECT pg_temp.check(:'t1') AS retired_token, pg_temp.check(:'t2') AS k2_token, pg_temp.check(:'t3') AS k3_token;
SELECT pg_temp.kid(workon.jwt_issue('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'member')) = :'k3' AS newest_active_signs;
SELECT workon.retire_jwt_key(:'seed_kid');	-- again: nothing
SELECT workon.retire_jwt_key('nope');
-- a retired seeded key is not brought back
SELECT workon.seed_jwt_key(repeat('s', 48)) = :'seed_kid' AS seeded_again;
SELECT pg_temp.check(:'t1') AS still_retired;
SELECT workon.rotate_jwt_key('RS256');

-- the front end's view of the keys: the active ones only, an HS256 key's secret, an
-- ES256 key's public key (never its private key); for the login role only
SELECT v.kid = :'k2' AS k2, v.kid = :'k3' AS k3, v.alg,
       v.secret = k.secret AS hs256_secret, v.secret IS NULL AS no_secret,
       v.public_key = (SELECT p.public_key FROM workon.jwt_public_keys() AS p WHERE p.kid = v.kid) AS es256_public_key
  FROM workon.jwt_verification_keys() AS v JOIN workon.jwt_keys AS k USING (kid)
 ORDER BY v.alg;
SELECT count(*) FILTER (WHERE kid = :'seed_kid') AS retired_listed FROM workon.jwt_verification_keys();
SET ROLE workon_authenticator;
SELECT count(*) AS authenticator_sees FROM workon.jwt_verification_keys();
RESET ROLE;
SET ROLE workon_admin;
SELECT count(*) FROM workon.jwt_verification_keys();
RESET ROLE;

-- key changes are audited
SELECT action, entity FROM workon.audit_log WHERE entity = 'jwt_keys' ORDER BY id;

-- key material is out of reach of the API roles
SET ROLE workon_admin;
SELECT * FROM workon.jwt_keys;
SELECT workon.jwt_issue('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'admin');
SELECT workon.rotate_jwt_key();
SELECT workon.seed_jwt_key(repeat('x', 48));
SELECT count(*) AS public_keys FROM workon.jwt_public_keys();
RESET ROLE;

DELETE FROM workon.jwt_keys;
DELETE FROM workon.audit_log;
DELETE FROM workon.audit_log;
