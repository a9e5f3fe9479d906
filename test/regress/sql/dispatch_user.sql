--
-- workon.dispatch() names the verified token's user in the result column
-- user_id (the HTTP front end keys its rate limits on it); no header says it
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET workon.scrypt_log_n = 10;
SELECT workon.seed_jwt_key(repeat('u', 48)) IS NOT NULL AS seeded;
SELECT workon.create_user('dispatch.user@example.com', 'a long enough password', 'Dispatch User', 'member') IS NOT NULL AS created;
SELECT workon.auth_login('dispatch.user@example.com', 'a long enough password') ->> 'access_token' AS token \gset

-- with a valid token: the token's sub, the user's id; no headers
SELECT d.user_id = (SELECT id FROM workon.users WHERE email = 'dispatch.user@example.com') AS names_the_user,
       d.headers IS NULL AS no_headers, d.body::jsonb ->> 'email' AS email
  FROM workon.dispatch('workon.me()'::regprocedure, '{}', '{}', NULL, :'token', '{}') AS d;

-- anonymous: no user, no headers
SELECT d.user_id IS NULL AS no_user, d.headers IS NULL AS no_headers
  FROM workon.dispatch('workon.spaces_list(text,text,integer,integer,text)'::regprocedure, '{}', '{"limit":"1"}', NULL, NULL, '{}') AS d;

-- the headers are the handler's own
CREATE FUNCTION workon.test_dispatch_user_headers() RETURNS json LANGUAGE plpgsql AS $$
BEGIN
	PERFORM workon.set_response(201, '{"x-a": "b", "cache-control": "no-store"}');
	RETURN '{"ok": true}';
END $$;
GRANT EXECUTE ON FUNCTION workon.test_dispatch_user_headers() TO workon_member;
SELECT d.status, d.headers::jsonb AS headers, d.user_id IS NOT NULL AS has_user
  FROM workon.dispatch('workon.test_dispatch_user_headers()'::regprocedure, '{}', '{}', NULL, :'token', '{}') AS d;
DROP FUNCTION workon.test_dispatch_user_headers();

-- a refused token: an error, no result row
SELECT count(*) FROM workon.dispatch('workon.me()'::regprocedure, '{}', '{}', NULL, :'token' || 'x', '{}');
