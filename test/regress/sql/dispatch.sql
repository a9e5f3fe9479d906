--
-- workon.dispatch(): role switch, argument binding, errors, set_response,
-- wait_for_outbox
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';

-- handlers for this test only
CREATE FUNCTION workon.regress_echo(id uuid, n integer, flag boolean, tags jsonb,
                                    note text, day date, meta jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', id, 'n', n, 'flag', flag, 'tags', tags,
	                          'note', note, 'day', day, 'meta', meta)
$$;
CREATE FUNCTION workon.regress_body(body jsonb, note text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('body', body, 'note', note)
$$;
CREATE FUNCTION workon.regress_raw(body text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'raw:' || body $$;
CREATE FUNCTION workon.regress_who()
RETURNS json LANGUAGE sql STABLE AS $$
	SELECT json_build_object('current_user', current_user,
	                         'role', workon.current_role(),
	                         'user_id', workon.current_user_id(),
	                         'claims', workon.claims())
$$;
CREATE FUNCTION workon.regress_created(status int DEFAULT 201, headers jsonb DEFAULT NULL)
RETURNS json LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM workon.set_response(coalesce(status, 201), headers);
	RETURN '{"created":true}';
END
$$;
CREATE FUNCTION workon.regress_void() RETURNS void LANGUAGE sql AS $$ $$;
CREATE FUNCTION workon.regress_int() RETURNS integer LANGUAGE sql AS $$ SELECT 42 $$;
CREATE FUNCTION workon.regress_null() RETURNS json LANGUAGE sql AS $$ SELECT NULL::json $$;
CREATE FUNCTION workon.regress_strict(n integer) RETURNS text
LANGUAGE plpgsql STRICT AS $$ BEGIN RAISE EXCEPTION 'not reached'; END $$;
CREATE FUNCTION workon.regress_private() RETURNS text LANGUAGE sql AS $$ SELECT 'secret' $$;
CREATE FUNCTION workon.regress_set() RETURNS SETOF integer LANGUAGE sql AS $$ SELECT 1 $$;
CREATE PROCEDURE workon.regress_proc() LANGUAGE sql AS $$ $$;
CREATE FUNCTION workon.regress_unnamed(integer) RETURNS integer LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION workon.regress_fail() RETURNS json LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'handler failed' USING ERRCODE = 'check_violation', COLUMN = 'capacity';
END
$$;
CREATE FUNCTION public.regress_outside() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.regress_echo, workon.regress_body, workon.regress_raw,
	workon.regress_who, workon.regress_created, workon.regress_void, workon.regress_int,
	workon.regress_null, workon.regress_strict, workon.regress_set,
	workon.regress_unnamed, workon.regress_fail, public.regress_outside
	TO workon_anon;
GRANT EXECUTE ON PROCEDURE workon.regress_proc TO workon_anon;

-- one request, as the HTTP front end makes it; errors as the front end sees
-- them: SQLSTATE, message and field
CREATE FUNCTION pg_temp.req(fn text, params jsonb DEFAULT '{}', query jsonb DEFAULT '{}',
                            payload text DEFAULT NULL, token text DEFAULT NULL,
                            meta jsonb DEFAULT '{"request_id":"r-1","method":"GET"}')
RETURNS TABLE (status int, headers text, body text, error text)
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	col text;
BEGIN
	RETURN QUERY SELECT d.status, d.headers, d.body, NULL::text
		FROM workon.dispatch(fn::regprocedure, params, query, payload, token, meta) AS d;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME;
	RETURN QUERY SELECT NULL::int, NULL::text, NULL::text,
		st || ' ' || msg || CASE WHEN col <> '' THEN ' [field: ' || col || ']' ELSE '' END;
END
$$;

--
-- Binding by name: path params, else query, else body fields
--
SELECT * FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)',
	'{"id":"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f"}',
	'{"n":"5","note":"hello world"}',
	'{"flag":true,"tags":["a",{"b":1}],"day":"2024-02-29"}');
-- path beats query beats body
SELECT * FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)',
	'{"n":"1"}', '{"n":"2"}', '{"n":3}');
SELECT * FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)',
	'{}', '{"n":"2"}', '{"n":3}');
-- JSON scalars convert through their text; null and missing are NULL;
-- jsonb takes values as they are (a query value is a string)
SELECT * FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)',
	'{}', '{"tags":"[1,2]"}', '{"n":-7,"flag":"false","note":null}', meta => NULL);
SELECT * FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)',
	'{}', '{}', '{"note":12.50,"tags":null}');
-- no body, no arguments at all
SELECT * FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)',
	NULL, NULL, NULL, meta => NULL);
-- "body" takes the whole body, its fields still bind other arguments
SELECT * FROM pg_temp.req('workon.regress_body(jsonb,text)', '{}', '{}',
	'{"note":"n","anything":{"goes":[1]}}');
SELECT * FROM pg_temp.req('workon.regress_body(jsonb,text)', '{}', '{}', '[1,2,3]');
SELECT * FROM pg_temp.req('workon.regress_body(jsonb,text)', '{}', '{}', NULL);
-- a text "body" is the raw body, not parsed
SELECT * FROM pg_temp.req('workon.regress_raw(text)', '{}', '{}', 'not {json');
SELECT * FROM pg_temp.req('workon.regress_raw(text)', '{}', '{}', NULL);

--
-- Results: the handler's output function makes the body; NULL and void
-- make none; a strict handler is not called with a NULL argument
--
SELECT * FROM pg_temp.req('workon.regress_int()');
SELECT * FROM pg_temp.req('workon.regress_void()');
SELECT * FROM pg_temp.req('workon.regress_null()');
SELECT * FROM pg_temp.req('workon.regress_strict(integer)');
SELECT * FROM pg_temp.req('workon.regress_strict(integer)', query => '{"n":"1"}');
-- a real route
SELECT status, headers, body::json->'data' AS data, body::json->'next_cursor' AS next_cursor
  FROM workon.dispatch('workon.spaces_list(text,text,integer,integer,text)'::regprocedure,
                       '{}', '{"city":"Nowhere"}', NULL, NULL, '{}');

--
-- set_response: status and headers for this request only
--
SELECT * FROM pg_temp.req('workon.regress_created(integer,jsonb)');
SELECT * FROM pg_temp.req('workon.regress_created(integer,jsonb)',
	payload => '{"status":202,"headers":{"Location":"/api/v1/x/1","X-Count":"2"}}');
SELECT * FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"status":204,"headers":{}}');
-- the next request starts afresh
SELECT * FROM pg_temp.req('workon.regress_int()');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', query => '{"status":"99"}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', query => '{"status":"600"}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"headers":[]}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"headers":"Location: /x"}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"headers":{"X-N":1}}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"headers":{"X-N":null}}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"headers":{"Bad Name":"v"}}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"headers":{"":"v"}}');
SELECT error FROM pg_temp.req('workon.regress_created(integer,jsonb)', payload => '{"headers":{"X-A":"a\r\nSet-Cookie: x"}}');

--
-- wait_for_outbox: status 202 and the outbox row to wait for, for this
-- request only
--
CREATE FUNCTION workon.regress_wait(id bigint) RETURNS json LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM workon.wait_for_outbox(id);
	RETURN '{"waiting":true}';
END
$$;
GRANT EXECUTE ON FUNCTION workon.regress_wait TO workon_anon;
SELECT * FROM workon.dispatch('workon.regress_wait(bigint)'::regprocedure, '{}', '{"id":"7"}', NULL, NULL, '{}');
-- a NULL row (the function is strict): nothing to wait for
SELECT status, outbox_id FROM workon.dispatch('workon.regress_wait(bigint)'::regprocedure, '{}', '{}', NULL, NULL, '{}');
-- the next request starts afresh
SELECT status, outbox_id FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
-- outside workon.dispatch() it does nothing, like set_response
BEGIN;
SELECT workon.wait_for_outbox(9) AS outside, workon.set_response(418) AS set_outside;
SELECT status, outbox_id FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
COMMIT;
-- outside a request it only sets what the next request resets
SELECT workon.set_response(201, '{"X-A":"b"}');
SELECT * FROM pg_temp.req('workon.regress_int()');

--
-- Who is calling: anonymous requests run as workon_anon, without claims,
-- until the end of the transaction
--
SELECT * FROM pg_temp.req('workon.regress_who()');
BEGIN;
SELECT status, body FROM workon.dispatch('workon.regress_who()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
SELECT current_user, workon.current_role(), workon.current_user_id(), workon.claims();
COMMIT;
SELECT current_user, workon.current_role(), workon.current_user_id(), workon.claims();
-- a rolled-back savepoint takes the switch along
BEGIN;
SAVEPOINT s;
SELECT status FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
SELECT current_user, workon.current_role();
ROLLBACK TO SAVEPOINT s;
SELECT current_user, workon.current_role();
COMMIT;
-- a released one does not
BEGIN;
SAVEPOINT s;
SELECT status FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
RELEASE SAVEPOINT s;
SELECT current_user, workon.current_role();
ROLLBACK;
SELECT current_user, workon.current_role();

-- one request per transaction: afterwards the transaction runs as the API
-- role, which may not dispatch
BEGIN;
SELECT status, body FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
\set VERBOSITY terse
SELECT status, body FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
\set VERBOSITY default
ROLLBACK;

-- the front end's login role: member of the API roles, nothing of its own
SET SESSION AUTHORIZATION workon_authenticator;
SELECT status, body FROM workon.dispatch('workon.regress_who()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
SELECT current_user, session_user;
SELECT has_table_privilege('workon.spaces', 'SELECT') AS read_spaces,
       has_function_privilege('workon.spaces_list(text,text,integer,integer,text)', 'EXECUTE') AS call_handler;
RESET SESSION AUTHORIZATION;

-- a login role that is not a member of the API roles cannot dispatch
CREATE ROLE regress_outsider;
GRANT USAGE ON SCHEMA workon TO regress_outsider;
GRANT EXECUTE ON FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb) TO regress_outsider;
SET SESSION AUTHORIZATION regress_outsider;
SELECT * FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
RESET SESSION AUTHORIZATION;
REVOKE ALL ON FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb) FROM regress_outsider;
REVOKE ALL ON SCHEMA workon FROM regress_outsider;
DROP ROLE regress_outsider;

-- the handler cache follows changes to the function
SELECT * FROM pg_temp.req('workon.regress_int()');
CREATE OR REPLACE FUNCTION workon.regress_int() RETURNS integer LANGUAGE sql AS $$ SELECT 43 $$;
SELECT * FROM pg_temp.req('workon.regress_int()');
SELECT 'workon.regress_int()'::regprocedure::oid AS moved_fn \gset
ALTER FUNCTION workon.regress_int() SET SCHEMA public;
\set VERBOSITY terse
SELECT * FROM workon.dispatch(:moved_fn, '{}', '{}', NULL, NULL, '{}');
\set VERBOSITY default
ALTER FUNCTION public.regress_int() SET SCHEMA workon;
SELECT * FROM workon.dispatch(:moved_fn, '{}', '{}', NULL, NULL, '{}');

--
-- Malformed requests
--
-- a value that does not convert names its field
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"n":"abc"}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"n":""}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"n":"99999999999"}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', payload => '{"n":7.5}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', payload => '{"n":[1]}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', '{"id":"42"}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"flag":"maybe"}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"day":"2023-02-29"}');
-- parameters no argument takes
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"n":"1","bogus":"1"}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"meta":"x"}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', query => '{"body":"x"}');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', payload => '{"n":1,"extra":true}');
SELECT error FROM pg_temp.req('workon.regress_int()', query => '{"limit":"5"}');
SELECT error FROM pg_temp.req('workon.regress_body(jsonb,text)', query => '{"anything":"x"}');
-- a body that is not JSON, or not an object where fields are expected
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', payload => '{"n":');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', payload => '[1]');
SELECT error FROM pg_temp.req('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)', payload => '"text"');
SELECT error FROM pg_temp.req('workon.regress_body(jsonb,text)', payload => 'nope');
-- request objects that are not objects
SELECT error FROM pg_temp.req('workon.regress_int()', params => '[]');
SELECT error FROM pg_temp.req('workon.regress_int()', query => '"x"');
SELECT error FROM pg_temp.req('workon.regress_int()', meta => '1');
-- tokens are verified (see jwt.sql, auth.sql): malformed ones are refused
SELECT error FROM pg_temp.req('workon.regress_int()', token => 'eyJhbGciOiJIUzI1NiJ9.e30.x');
SELECT error FROM pg_temp.req('workon.regress_int()', token => '');
-- not a route handler
SELECT error FROM pg_temp.req('public.regress_outside()');
SELECT error FROM pg_temp.req('pg_catalog.now()');
SELECT * FROM workon.dispatch(0, '{}', '{}', NULL, NULL, '{}');
SELECT * FROM workon.dispatch(NULL, '{}', '{}', NULL, NULL, '{}');
SELECT error FROM pg_temp.req('workon.regress_set()');
SELECT error FROM pg_temp.req('workon.regress_proc()');
SELECT error FROM pg_temp.req('workon.regress_unnamed(integer)');
-- not allowed: anonymous callers are asked to authenticate
SELECT error FROM pg_temp.req('workon.regress_private()');
SELECT error FROM pg_temp.req('workon.health()');
-- errors of the handler come through as they are
SELECT error FROM pg_temp.req('workon.regress_fail()');
-- psql's view of the same
\set VERBOSITY terse
SELECT * FROM workon.dispatch('workon.regress_private()'::regprocedure, '{}', '{}', NULL, NULL, '{}');
SELECT * FROM workon.dispatch('workon.regress_int()'::regprocedure, '{}', '{}', NULL, 'token', '{}');
\set VERBOSITY default
SELECT * FROM workon.dispatch('workon.regress_echo(uuid,integer,boolean,jsonb,text,date,jsonb)'::regprocedure,
                              '{}', '{"n":"x"}', NULL, NULL, '{}');

-- times are RFC 3339 with an offset (or a date alone), nothing looser
CREATE FUNCTION workon.regress_at("at" timestamptz DEFAULT NULL) RETURNS text LANGUAGE sql AS $$ SELECT "at"::text $$;
GRANT EXECUTE ON FUNCTION workon.regress_at TO workon_anon;
SELECT format($$SELECT %L AS t, body, error FROM pg_temp.req('workon.regress_at(timestamptz)', query => %L)$$,
			  t, jsonb_build_object('at', t))
  FROM unnest(ARRAY['2027-01-01T09:00:00Z', '2027-01-01t09:00:00.25+01:00', '2027-01-01 09:00:00-05', '2027-01-01',
					'2027-01-01T09:00:00', '2027-01-01 09:00', 'tomorrow', 'epoch', 'infinity', '2027-01-01T09:00:00+1',
					'2027-01-01T09:00:00Z ', 'J2461407', '20270101T090000Z']) AS t \gexec
DROP FUNCTION workon.regress_at;

DROP FUNCTION workon.regress_echo, workon.regress_body, workon.regress_raw, workon.regress_who,
	workon.regress_created, workon.regress_wait, workon.regress_void, workon.regress_int, workon.regress_null,
	workon.regress_strict, workon.regress_private, workon.regress_set, workon.regress_unnamed,
	workon.regress_fail, public.regress_outside;
DROP PROCEDURE workon.regress_proc;
