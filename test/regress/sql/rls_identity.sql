--
-- Who sees which identity data, per API role
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET workon.scrypt_log_n = 10;
\set ON_ERROR_ROLLBACK on
SELECT workon.seed_jwt_key(repeat('r', 48)) IS NOT NULL AS seeded;

SELECT workon.create_user('m1@example.com', 'member one password', 'M1', 'member') AS m1 \gset
SELECT workon.create_user('m2@example.com', 'member two password', 'M2', 'member') AS m2 \gset
SELECT workon.create_user('h1@example.com', 'host one password', 'H1', 'host') AS h1 \gset
SELECT workon.create_user('a1@example.com', 'admin one password', 'A1', 'admin') AS a1 \gset
SELECT workon.auth_login('m1@example.com', 'member one password')::json->>'access_token' AS m1_token \gset
SELECT workon.auth_login('h1@example.com', 'host one password')::json->>'access_token' AS h1_token \gset
SELECT workon.auth_login('a1@example.com', 'admin one password')::json->>'access_token' AS a1_token \gset

-- a member sees only themself, an admin everyone, anon nothing
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') IS NOT NULL AS member;
SELECT email FROM workon.users ORDER BY email;
SELECT workon.user_json(:'m2') AS other_user;
SELECT password_hash FROM workon.users;
UPDATE workon.users SET role = 'admin' WHERE id = :'m1';
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') IS NOT NULL AS host;
SELECT email FROM workon.users ORDER BY email;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') IS NOT NULL AS admin;
SELECT email FROM workon.users WHERE email LIKE '__@example.com' ORDER BY email;
SELECT password_hash FROM workon.users;
ROLLBACK;
BEGIN;
SET LOCAL ROLE workon_anon;
SELECT email FROM workon.users;
ROLLBACK;

-- refresh tokens, keys, secrets and the audit log: no direct access at all
DO $$
DECLARE
	r text;
	t text;
BEGIN
	FOREACH r IN ARRAY ARRAY['workon_anon', 'workon_member', 'workon_host', 'workon_admin', 'workon_authenticator'] LOOP
		FOREACH t IN ARRAY ARRAY['workon.refresh_tokens', 'workon.jwt_keys', 'workon.secrets', 'workon.audit_log'] LOOP
			IF has_table_privilege(r, t, 'SELECT') OR has_table_privilege(r, t, 'INSERT')
			   OR has_table_privilege(r, t, 'UPDATE') OR has_table_privilege(r, t, 'DELETE') THEN
				RAISE NOTICE '% can access %', r, t;
			END IF;
		END LOOP;
	END LOOP;
END
$$;
SELECT relname, relrowsecurity, relforcerowsecurity
  FROM pg_class
 WHERE oid IN ('workon.users'::regclass, 'workon.refresh_tokens'::regclass, 'workon.jwt_keys'::regclass,
               'workon.secrets'::regclass, 'workon.audit_log'::regclass)
 ORDER BY 1;
-- functions that hand out tokens or keys are not callable by API roles
SELECT f, string_agg(r, ' ' ORDER BY r) FILTER (WHERE has_function_privilege(r, f, 'EXECUTE')) AS callers
  FROM unnest(ARRAY['workon.jwt_issue(uuid,text)', 'workon.jwt_sign(jsonb,text,text,bytea)',
                    'workon.session_issue(uuid,uuid,uuid)', 'workon.create_user(text,text,text,text)',
                    'workon.rotate_jwt_key(text)', 'workon.retire_jwt_key(text)',
                    'workon.refresh_token_hash(text)', 'workon.jwt_generate_key(text)',
                    'workon.seed_jwt_key(text)', 'workon.ensure_admin(text,text)']) AS f,
       unnest(ARRAY['workon_anon', 'workon_member', 'workon_host', 'workon_admin', 'workon_authenticator']) AS r
 GROUP BY f ORDER BY f;

DELETE FROM workon.users WHERE id IN (:'m1', :'m2', :'h1', :'a1');
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
