--
-- Accounts and sessions: register, login, refresh (rotation, reuse, grace),
-- logout, me, role changes; through the SQL functions and workon.dispatch()
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET workon.scrypt_log_n = 10;
SELECT workon.seed_jwt_key(repeat('a', 48)) IS NOT NULL AS seeded;

-- errors as the front end sees them
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	col text;
	r json;
BEGIN
	EXECUTE sql INTO r;
	RETURN coalesce(r::text, 'ok');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME;
	RETURN st || ' ' || coalesce((SELECT e.code FROM workon.errors e WHERE e.sqlstate IN (st, left(st, 2)) ORDER BY length(e.sqlstate) DESC LIMIT 1), '?')
		|| ' ' || msg || CASE WHEN col <> '' THEN ' [field: ' || col || ']' ELSE '' END;
END
$$;
-- one request through dispatch: status and body, or the error
CREATE FUNCTION pg_temp.req(fn text, payload text DEFAULT NULL, token text DEFAULT NULL,
                            params jsonb DEFAULT '{}')
RETURNS TABLE (status int, body json, error text)
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	col text;
BEGIN
	RETURN QUERY SELECT d.status, d.body::json, NULL::text
		FROM workon.dispatch(fn::regprocedure, params, '{}', payload, token, '{}') AS d;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME;
	RETURN QUERY SELECT NULL::int, NULL::json,
		st || ' ' || msg || CASE WHEN col <> '' THEN ' [field: ' || col || ']' ELSE '' END;
END
$$;

--
-- Register
--
SELECT workon.auth_register('Ana@Example.com', 'correct horse battery', 'Ana') AS r \gset
SELECT json_object_keys(:'r'::json) AS response_keys;
SELECT :'r'::json->'user'->>'email' AS email, :'r'::json->'user'->>'role' AS role,
       :'r'::json->'user'->>'name' AS name, :'r'::json->>'token_type' AS token_type,
       :'r'::json->>'expires_in' AS expires_in,
       :'r'::json->>'refresh_token' ~ '^[A-Za-z0-9_-]{43}$' AS refresh_format,
       workon.jwt_verify(:'r'::json->>'access_token')->>'sub' = :'r'::json->'user'->>'id' AS sub_is_user,
       workon.jwt_verify(:'r'::json->>'access_token')->>'role' AS token_role;
-- compact JSON, like every answer
SELECT :'r' !~ '" : |, "' AS compact;
SELECT :'r'::json->'user'->>'id' AS ana \gset
-- stored: scrypt hash, refresh token hashed only
SELECT password_hash LIKE '$scrypt$ln=10,r=8,p=1$%' AS hashed FROM workon.users WHERE id = :'ana';
SELECT count(*) AS tokens, bool_and(length(token_hash) = 32) AS hmac_sha256,
       bool_and(expires_at - created_at = interval '30 days') AS lifetime
  FROM workon.refresh_tokens WHERE user_id = :'ana';
SELECT pg_temp.try($$SELECT workon.auth_register('ana@example.COM', 'another long one', 'Ana 2')$$);
SELECT pg_temp.try($$SELECT workon.auth_register('bo@example.com', 'another long one', 'Bo', 'host')$$)::json->'user'->>'role' AS host_role;
SELECT pg_temp.try(sql) AS refused
  FROM (VALUES ($$SELECT workon.auth_register('eve@example.com', 'another long one', 'Eve', 'admin')$$),
               ($$SELECT workon.auth_register('eve@example.com', 'another long one', 'Eve', 'owner')$$),
               ($$SELECT workon.auth_register('eve@example.com', 'password1', 'Eve')$$),
               ($$SELECT workon.auth_register('eve@example.com', 'short', 'Eve')$$),
               ($$SELECT workon.auth_register('eve@example.com', 'EVE@example.com', 'Eve')$$),
               ($$SELECT workon.auth_register('eve@example.com', NULL, 'Eve')$$),
               ($$SELECT workon.auth_register('not-an-email', 'another long one', 'Eve')$$),
               ($$SELECT workon.auth_register('eve@localhost', 'another long one', 'Eve')$$),
               ($$SELECT workon.auth_register('eve @example.com', 'another long one', 'Eve')$$),
               ($$SELECT workon.auth_register(NULL, 'another long one', 'Eve')$$),
               ($$SELECT workon.auth_register('eve@example.com', 'another long one', '  ')$$),
               ($$SELECT workon.auth_register('eve@example.com', 'another long one', NULL)$$)) AS v(sql);

--
-- Login
--
SELECT workon.auth_login(' ANA@example.com ', 'correct horse battery')::json->'user'->>'id' = :'ana' AS logged_in;
SELECT pg_temp.try($$SELECT workon.auth_login('ana@example.com', 'correct horse batterY')$$) AS wrong_password,
       pg_temp.try($$SELECT workon.auth_login('nobody@example.com', 'correct horse battery')$$) AS unknown_email;
SELECT pg_temp.try($$SELECT workon.auth_login(NULL, 'x')$$) AS no_email,
       pg_temp.try($$SELECT workon.auth_login('ana@example.com', NULL)$$) AS no_password;
-- a user without a password (created by a DBA without one) cannot log in
INSERT INTO workon.users (email, name) VALUES ('nopass@example.com', 'No Pass');
SELECT pg_temp.try($$SELECT workon.auth_login('nopass@example.com', 'anything at all')$$) AS no_password_set;
-- raising the cost rehashes at the next successful login, not at a failed one
SET workon.scrypt_log_n = 11;
SELECT pg_temp.try($$SELECT workon.auth_login('ana@example.com', 'wrong password!')$$) IS NOT NULL AS failed;
SELECT password_hash LIKE '$scrypt$ln=10,%' AS still_old FROM workon.users WHERE id = :'ana';
SELECT workon.auth_login('ana@example.com', 'correct horse battery') IS NOT NULL AS logged_in;
SELECT password_hash LIKE '$scrypt$ln=11,%' AS rehashed FROM workon.users WHERE id = :'ana';
SET workon.scrypt_log_n = 10;
-- the rehash is not an audited change
SELECT action, entity, entity_id = :'ana' AS ana, before IS NULL AS no_before,
       after ? 'password_hash' AS leaks_hash
  FROM workon.audit_log WHERE entity = 'users' ORDER BY id;

--
-- Refresh: rotation within a family
--
SELECT :'r'::json->>'refresh_token' AS rt1 \gset
SELECT workon.auth_refresh(:'rt1') AS r2 \gset
SELECT :'r2'::json->>'refresh_token' AS rt2 \gset
SELECT :'rt2' <> :'rt1' AS rotated, :'r2'::json->'user'->>'id' = :'ana' AS same_user,
       workon.jwt_verify(:'r2'::json->>'access_token')->>'sub' = :'ana' AS access_ok;
SELECT count(DISTINCT family_id) AS families, count(*) FILTER (WHERE used_at IS NOT NULL) AS used,
       count(*) FILTER (WHERE parent_id IS NOT NULL) AS children
  FROM workon.refresh_tokens WHERE user_id = :'ana'
   AND family_id = (SELECT family_id FROM workon.refresh_tokens WHERE token_hash = workon.refresh_token_hash(:'rt1'));
-- replayed within the grace period: a valid sibling pair
SELECT workon.auth_refresh(:'rt1') AS r2b \gset
SELECT :'r2b'::json->>'refresh_token' NOT IN (:'rt1', :'rt2') AS sibling,
       workon.jwt_verify(:'r2b'::json->>'access_token')->>'sub' = :'ana' AS access_ok;
-- replayed after it: 401 token_reused, the whole family revoked (committed)
UPDATE workon.refresh_tokens SET used_at = used_at - interval '11 seconds'
 WHERE token_hash = workon.refresh_token_hash(:'rt1');
SELECT * FROM pg_temp.req('workon.auth_refresh(text)', json_build_object('refresh_token', :'rt1')::text);
SELECT count(*) AS tokens, count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked
  FROM workon.refresh_tokens
 WHERE family_id = (SELECT family_id FROM workon.refresh_tokens WHERE token_hash = workon.refresh_token_hash(:'rt1'));
SELECT pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'rt2')) AS successor_revoked,
       pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'r2b'::json->>'refresh_token')) AS sibling_revoked;
-- access tokens already issued stay valid until they expire
SELECT workon.jwt_verify(:'r2'::json->>'access_token')->>'sub' = :'ana' AS access_still_valid;
-- other logins (families) are untouched
SELECT workon.auth_login('ana@example.com', 'correct horse battery') AS r3 \gset
SELECT workon.auth_refresh(:'r3'::json->>'refresh_token') IS NOT NULL AS other_family_ok;
-- the grace period is a setting (superuser only)
SET workon.refresh_grace = 0;
SELECT workon.auth_login('ana@example.com', 'correct horse battery')::json->>'refresh_token' AS rt4 \gset
SELECT workon.auth_refresh(:'rt4') IS NOT NULL AS first_use;
SELECT pg_sleep(0.01);
SELECT pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'rt4'))::json->'error'->>'code' AS without_grace;
RESET workon.refresh_grace;
-- unknown, expired, malformed
SELECT pg_temp.try($$SELECT workon.auth_refresh('x')$$) AS unknown,
       pg_temp.try($$SELECT workon.auth_refresh('')$$) AS empty,
       pg_temp.try($$SELECT workon.auth_refresh(NULL)$$) AS missing;
SELECT workon.auth_login('ana@example.com', 'correct horse battery')::json->>'refresh_token' AS rt5 \gset
UPDATE workon.refresh_tokens SET created_at = now() - interval '31 days', expires_at = now() - interval '1 day'
 WHERE token_hash = workon.refresh_token_hash(:'rt5');
SELECT pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'rt5')) AS expired;

--
-- Logout
--
SELECT workon.auth_login('ana@example.com', 'correct horse battery')::json->>'refresh_token' AS rt6 \gset
SELECT workon.auth_refresh(:'rt6')::json->>'refresh_token' AS rt7 \gset
SELECT * FROM pg_temp.req('workon.auth_logout(text)', json_build_object('refresh_token', :'rt7')::text);
SELECT pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'rt7')) AS after_logout,
       pg_temp.try(format('SELECT workon.auth_logout(%L)', :'rt7')) AS logout_again,
       pg_temp.try(format('SELECT workon.auth_logout(%L)', :'rt6')) AS family_gone,
       pg_temp.try($$SELECT workon.auth_logout('unknown')$$) AS unknown;

--
-- Through dispatch, as the HTTP front end calls it
--
SELECT status, body->'user'->>'email' AS email, body->>'token_type' AS token_type, error
  FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"cy@example.com","password":"a quite long one","name":"Cy"}');
SELECT status, error FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"CY@example.com","password":"a quite long one","name":"Cy"}');
SELECT status, error FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"dee@example.com","password":"a quite long one","name":"Dee","role":"admin"}');
SELECT status, error FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"dee@example.com","password":"a quite long one","name":"Dee","is_admin":true}');
SELECT body->>'access_token' AS cy_token FROM pg_temp.req('workon.auth_login(text,text)',
                   '{"email":"cy@example.com","password":"a quite long one"}') \gset
SELECT status, error FROM pg_temp.req('workon.auth_login(text,text)',
                   '{"email":"cy@example.com","password":"a quite long two"}');
SELECT status, body->>'email' AS email, body->>'role' AS role, error
  FROM pg_temp.req('workon.me()', token => :'cy_token');
SELECT status, error FROM pg_temp.req('workon.me()');
SELECT status, error FROM pg_temp.req('workon.me()', token => :'cy_token' || 'x');
SELECT status, error FROM pg_temp.req('workon.me()', token => 'garbage');
-- Strict input: an address with an invisible, control or bidirectional character is not
-- taken as a look-alike of cy@example.com, at registration or for a reset mail
SELECT label, status, error
  FROM (VALUES ('U+200B', U&'cy\200B@example.com'), ('U+200D', U&'c\200Dy@example.com'),
               ('U+202E', U&'\202Ecy@example.com'), ('U+2066', U&'cy@example.com\2066'),
               ('U+FEFF', U&'\FEFFcy@example.com'), ('U+00AD', U&'cy\00AD@example.com'),
               ('U+2060', U&'cy@exa\2060mple.com'), ('U+E0041', U&'cy\+0E0041@example.com'),
               ('U+0085', U&'cy\0085@example.com'), ('U+00A0', U&'cy\00A0@example.com'),
               ('U+0007', U&'cy\0007@example.com')) AS v(label, e),
       pg_temp.req('workon.auth_register(text,text,text,text)',
                   json_build_object('email', e, 'password', 'a quite long one', 'name', 'Look')::text);
SELECT count(*) AS look_alikes FROM workon.users WHERE email LIKE '%@exa%' AND email <> 'cy@example.com' AND name = 'Look';
SELECT status, error FROM pg_temp.req('workon.auth_password_forgot(text)', json_build_object('email', U&'cy\200B@example.com')::text);
SELECT pg_temp.try($$SELECT workon.create_user(U&'root\202E@example.com', 'root password long', 'Root', 'admin')$$);
-- a password (or any text field) that is not a JSON string: 400, never its JSON text
SELECT status, error FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"num@example.com","password":123456789012,"name":"Num"}');
SELECT status, error FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"num@example.com","password":{"a":"a quite long one"},"name":"Num"}');
SELECT status, error FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"num@example.com","password":["a quite long one"],"name":"Num"}');
SELECT status, error FROM pg_temp.req('workon.auth_register(text,text,text,text)',
                   '{"email":"num@example.com","password":true,"name":"Num"}');
SELECT count(*) AS num_users FROM workon.users WHERE email = 'num@example.com';
SELECT status, error FROM pg_temp.req('workon.auth_login(text,text)', '{"email":"cy@example.com","password":12345678}');
SELECT status, error FROM pg_temp.req('workon.auth_login(text,text)', '{"email":["cy@example.com"],"password":"a quite long one"}');
SELECT status, error FROM pg_temp.req('workon.auth_password_reset(text,text)', '{"token":"abc","password":{"p":1}}');
SELECT status, error FROM pg_temp.req('workon.me_password(text,text)',
                   '{"current_password":"a quite long one","password":123456789012}', :'cy_token');
SELECT status, error FROM pg_temp.req('workon.me_password(text,text)',
                   '{"current_password":["a quite long one"],"password":"another long one"}', :'cy_token');
-- claims and role for the request
BEGIN;
SELECT status FROM workon.dispatch('workon.me()'::regprocedure, '{}', '{}', NULL, :'cy_token', '{}');
SELECT current_user, workon.current_role(), workon.current_user_id() IS NOT NULL AS has_user,
       workon.claims()->>'iss' AS iss;
ROLLBACK;

--
-- Admins change roles; audited; the old token keeps its role until it expires
--
SELECT workon.create_user('root@example.com', 'root password long', 'Root', 'admin') AS root \gset
SELECT workon.auth_login('root@example.com', 'root password long')::json->>'access_token' AS root_token \gset
SELECT id AS cy FROM workon.users WHERE email = 'cy@example.com' \gset
SELECT status, body->>'role' AS role, error
  FROM pg_temp.req('workon.admin_user_update(uuid,text,boolean)', '{"role":"host"}', :'root_token',
                   json_build_object('id', :'cy')::jsonb);
SELECT status, error
  FROM pg_temp.req('workon.admin_user_update(uuid,text,boolean)', '{"role":"superuser"}', :'root_token',
                   json_build_object('id', :'cy')::jsonb);
SELECT status, error
  FROM pg_temp.req('workon.admin_user_update(uuid,text,boolean)', '{"role":"host"}', :'root_token',
                   '{"id":"00000000-0000-4000-8000-000000000000"}');
SELECT status, error
  FROM pg_temp.req('workon.admin_user_update(uuid,text,boolean)', '{"role":"admin"}', :'cy_token',
                   json_build_object('id', :'cy')::jsonb);
SELECT status, error
  FROM pg_temp.req('workon.admin_user_update(uuid,text,boolean)', '{"role":"admin"}', NULL,
                   json_build_object('id', :'cy')::jsonb);
SELECT action, actor_id = :'root' AS by_root, before->>'role' AS before, after->>'role' AS after
  FROM workon.audit_log WHERE entity = 'users' AND entity_id = :'cy' ORDER BY id;
SELECT body->>'role' AS me_shows_current_role FROM pg_temp.req('workon.me()', token => :'cy_token');
SELECT workon.jwt_verify(:'cy_token')->>'role' AS old_token_claim;

--
-- SQL callers: workon.authenticate() does what dispatch does
--
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'root_token')->>'role' AS role;
SELECT current_user, workon.current_role(), workon.current_user_id() = :'root' AS is_root;
SELECT count(*) > 1 AS admin_sees_users FROM workon.users;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate('garbage');
ROLLBACK;
CREATE ROLE regress_outsider;
GRANT USAGE ON SCHEMA workon TO regress_outsider;
GRANT EXECUTE ON FUNCTION workon.authenticate(text) TO regress_outsider;
BEGIN;
SET LOCAL SESSION AUTHORIZATION regress_outsider;
SELECT workon.authenticate(:'root_token');
ROLLBACK;
REVOKE ALL ON FUNCTION workon.authenticate(text) FROM regress_outsider;
REVOKE ALL ON SCHEMA workon FROM regress_outsider;
DROP ROLE regress_outsider;

--
-- The first admin and DBA-created users
--
SELECT workon.ensure_admin('Boss@Example.com', 'boss password long') AS boss \gset
SELECT role, name FROM workon.users WHERE id = :'boss';
SELECT workon.ensure_admin('boss@example.com', 'another password!') = :'boss' AS same_user;
SELECT workon.auth_login('boss@example.com', 'boss password long') IS NOT NULL AS password_unchanged;
SELECT pg_temp.try($$SELECT workon.create_user('boss@example.com', 'boss password long', 'B', 'admin')$$);
SELECT pg_temp.try($$SELECT workon.ensure_admin('weak@example.com', 'password')$$);

DELETE FROM workon.users WHERE email NOT IN (SELECT email FROM workon.users u JOIN workon.spaces s ON s.host_id = u.id);
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
