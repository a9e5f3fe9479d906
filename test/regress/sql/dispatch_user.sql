--
-- workon.dispatch() names the verified token's user in the result header
-- x-workon-user (the HTTP front end keys its rate limits on it and strips it)
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET workon.scrypt_log_n = 10;
SELECT workon.seed_jwt_key(repeat('u', 48)) IS NOT NULL AS seeded;
SELECT workon.create_user('dispatch.user@example.com', 'a long enough password', 'Dispatch User', 'member') IS NOT NULL AS created;
SELECT workon.auth_login('dispatch.user@example.com', 'a long enough password') ->> 'access_token' AS token \gset

-- with a valid token: the header is the token's sub, the user's id
SELECT d.headers::jsonb ->> 'x-workon-user' = (SELECT id::text FROM workon.users WHERE email = 'dispatch.user@example.com') AS names_the_user,
       d.body::jsonb ->> 'email' AS email
  FROM workon.dispatch('workon.me()'::regprocedure, '{}', '{}', NULL, :'token', '{}') AS d;

-- anonymous: no header at all
SELECT d.headers IS NULL AS no_headers
  FROM workon.dispatch('workon.spaces_list(text,text,integer,integer,text)'::regprocedure, '{}', '{"limit":"1"}', NULL, NULL, '{}') AS d;

-- merged with the headers a handler sets
CREATE FUNCTION workon.test_dispatch_user_headers() RETURNS json LANGUAGE plpgsql AS $$
BEGIN
	PERFORM workon.set_response(201, '{"x-a": "b", "cache-control": "no-store"}');
	RETURN '{"ok": true}';
END $$;
GRANT EXECUTE ON FUNCTION workon.test_dispatch_user_headers() TO workon_member;
SELECT d.status, (d.headers::jsonb - 'x-workon-user') AS handler_headers, d.headers::jsonb ? 'x-workon-user' AS has_user
  FROM workon.dispatch('workon.test_dispatch_user_headers()'::regprocedure, '{}', '{}', NULL, :'token', '{}') AS d;
DROP FUNCTION workon.test_dispatch_user_headers();

-- a refused token: an error, no result row to carry a header
SELECT count(*) FROM workon.dispatch('workon.me()'::regprocedure, '{}', '{}', NULL, :'token' || 'x', '{}');
