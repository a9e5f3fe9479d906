/* sql/src/05_api.sql -- the route table, the error map, request dispatch, health */

--
-- Route table and error map, read by the HTTP front end.  Each concern's
-- file adds its routes and the errors its functions raise; the rows below
-- are the SQLSTATEs any handler may meet.  pg_dump keeps only rows added
-- after the install (99_finish.sql).
--
CREATE TABLE workon.routes (
	method		text NOT NULL
				CONSTRAINT routes_method_check
				CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
	path		text NOT NULL
				CONSTRAINT routes_path_check
				CHECK (path ~ '^(/[^/{}]+|/\{[a-z_][a-z0-9_]*\})+$'),
	handler		regprocedure NOT NULL,
	auth		text NOT NULL
				CONSTRAINT routes_auth_check
				CHECK (auth IN ('none', 'member', 'host', 'admin')),
	status		integer NOT NULL
				CONSTRAINT routes_status_check CHECK (status BETWEEN 200 AND 299),
	body		text NOT NULL
				CONSTRAINT routes_body_check CHECK (body IN ('none', 'json', 'raw', 'websocket', 'bytes')),
	summary		text NOT NULL,
	rate_limit	text NOT NULL DEFAULT 'default'
				CONSTRAINT routes_rate_limit_check
				CHECK (rate_limit IN ('default', 'auth', 'exempt')),
	read_only	boolean NOT NULL DEFAULT false,
	outbound	text
				CONSTRAINT routes_outbound_check CHECK (outbound IN ('stripe', 'email')),
	metric		text
				CONSTRAINT routes_metric_check CHECK (metric IN ('webhooks')),
	lane		text NOT NULL DEFAULT 'fast'
				CONSTRAINT routes_lane_check CHECK (lane IN ('fast', 'slow')),
	PRIMARY KEY (method, path)
);

COMMENT ON COLUMN workon.routes.lane IS
'For the front end: fast (the default) runs on the pipelined connections; slow (slow by design: password hashing, exports) on connections of its own with their own concurrency cap, so it never holds up the fast statements';

COMMENT ON TABLE workon.routes IS
'HTTP routes: method and path template, handler function, declared auth need (enforced by GRANT EXECUTE), success status, body mode (none, json, raw: text as sent, bytes: binary, up to UPLOAD_MAX_BYTES; websocket: the front end upgrades the request once the handler answered 200) and a one-line summary; for the front end: rate_limit (default: the per-user or per-address budget, auth: the stricter per-address budget of login and registration too, exempt: none), read_only (the handler never writes), outbound (the outbox kind a request may wait on) and metric (an extra family its requests are counted in); any change sends NOTIFY workon_routes';

-- The JSON Schemas of a route's request and answers, for the OpenAPI document
-- (workon.openapi()): each file declares them beside its routes.
CREATE TABLE workon.route_schemas (
	method		text NOT NULL,
	path		text NOT NULL,
	schemas		jsonb NOT NULL
				CONSTRAINT route_schemas_schemas_check
				CHECK (jsonb_typeof(schemas) = 'object'
					   AND schemas - ARRAY['body', 'query', 'path', 'responses'] = '{}'
					   AND jsonb_typeof(coalesce(schemas -> 'query', '{}')) = 'object'
					   AND jsonb_typeof(coalesce(schemas -> 'path', '{}')) = 'object'
					   AND jsonb_typeof(coalesce(schemas -> 'responses', '{}')) = 'object'),
	PRIMARY KEY (method, path)
);

COMMENT ON TABLE workon.route_schemas IS
'JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of a route: body (the JSON request body), query and path (by parameter name), responses (by status: the schema of its application/json body; a status the route table does not imply is added); "$ref": "#/components/schemas/<name>" names a schema of workon.openapi_components(). workon.openapi() publishes those of the routes of workon.routes (no foreign key: the route table may be truncated and reloaded); a route without a row keeps the schemas derived from its handler''s arguments and an empty response schema';

CREATE TABLE workon.errors (
	sqlstate	text PRIMARY KEY
				CONSTRAINT errors_sqlstate_check
				CHECK (sqlstate ~ '^[0-9A-Z]{2}([0-9A-Z]{3})?$'),
	status		integer NOT NULL
				CONSTRAINT errors_status_check CHECK (status BETWEEN 400 AND 599),
	code		text NOT NULL
				CONSTRAINT errors_code_check
				CHECK (code ~ '^[a-z][a-z0-9_]*$')
);

COMMENT ON TABLE workon.errors IS
'Map from SQLSTATE (5 characters, or a 2-character class) to HTTP status and API error code; any change sends NOTIFY workon_routes';

CREATE FUNCTION workon.routes_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_routes',
								 TG_TABLE_NAME || ':' || pg_catalog.lower(TG_OP));
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.routes_notify() IS
'Trigger: NOTIFY workon_routes (payload "<table>:<operation>") so the HTTP front end reloads routes and errors';

CREATE TRIGGER routes_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.routes
	FOR EACH STATEMENT EXECUTE FUNCTION workon.routes_notify();

CREATE TRIGGER errors_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.errors
	FOR EACH STATEMENT EXECUTE FUNCTION workon.routes_notify();

-- errors any handler may meet
INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('22', 400, 'validation_failed'),
	('23502', 400, 'validation_failed'),
	('23514', 400, 'validation_failed'),
	('23505', 409, 'conflict'),
	('23503', 409, 'conflict'),
	('23P01', 409, 'conflict'),
	('28000', 401, 'unauthorized'),
	('WO401', 401, 'unauthorized'),
	('42501', 403, 'forbidden'),
	('P0002', 404, 'not_found'),
	('WO404', 404, 'not_found'),
	('WO405', 405, 'method_not_allowed'),
	('40001', 503, 'unavailable'),
	('40P01', 503, 'unavailable'),
	('57014', 503, 'unavailable'),
	('08', 503, 'unavailable'),
	('57P01', 503, 'unavailable'),
	('57P02', 503, 'unavailable'),
	('57P03', 503, 'unavailable'),
	('53', 503, 'unavailable'),
	('25006', 503, 'unavailable');

GRANT SELECT ON workon.routes, workon.errors TO workon_authenticator;
GRANT SELECT ON workon.route_schemas TO workon_authenticator;

--
-- Request dispatch (extension/dispatch.c)
--
CREATE FUNCTION workon.dispatch(handler oid, params jsonb, query jsonb,
								request_body text, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body text, user_id uuid, outbox_id int8)
AS 'MODULE_PATHNAME', 'dispatch_0_5'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb) IS
'Serves one API request: authenticates the token, switches to the caller''s API role for the transaction, binds the route handler''s arguments by name from path params, query and body, calls it, and returns the response row: status and headers as the handler set them (NULL otherwise), the body, the caller''s user id (NULL when anonymous) and the outbox row the front end is to wait for (workon.wait_for_outbox)';

-- the same, for requests and responses that are bytes: routes of body mode
-- bytes, handlers returning bytea; the front end reads the row in binary
CREATE FUNCTION workon.dispatch_bytes(handler oid, params jsonb, query jsonb,
									  request_body bytea, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body bytea, user_id uuid, outbox_id int8,
			   store_op text, store_key text, store_sha256 bytea, store_content_type text)
AS 'MODULE_PATHNAME', 'dispatch_bytes'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.dispatch_bytes(oid, jsonb, jsonb, bytea, text, jsonb) IS
'workon.dispatch for bytes: the request body is bytea (a handler''s bytea "body" argument takes it as it is; other handlers get it as text, checked to be valid in the database encoding) and the response body is bytea (a bytea result as it is, any other as its text); store_op, store_key, store_sha256 and store_content_type are the file store transfer the handler asked the front end for (workon.set_store_transfer), NULL otherwise';
CREATE FUNCTION workon.set_store_transfer(op text, key text, sha256 bytea DEFAULT NULL,
										  content_type text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'set_store_transfer'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.set_store_transfer(text, text, bytea, text) IS
'Called by a route handler of workon.dispatch_bytes() whose file is in the S3 store: the front end moves the bytes. op get: redirect to a presigned URL of key; op put: write the request body (its sha256 and content_type) to key, then answer with workon.upload_s3_stored(key). workon.dispatch_bytes() returns them as store_op, store_key, store_sha256, store_content_type; inside workon.dispatch() it is an error, outside any dispatch it does nothing';


CREATE FUNCTION workon.set_response(status int4, headers jsonb DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'set_response'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.set_response(int4, jsonb) IS
'Called by a route handler: sets the response status and/or extra response headers (JSON object of strings) of the request being dispatched; NULL leaves a part unchanged';

CREATE FUNCTION workon.wait_for_outbox(id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'wait_for_outbox'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.wait_for_outbox(bigint) IS
'Called by a route handler that queued an outbox row: the response status becomes 202 and workon.dispatch() returns the row''s id as outbox_id; the front end waits until the row is delivered and answers with workon.outbox_response(id). Outside workon.dispatch() it does nothing, like workon.set_response()';

--
-- Every invalid field of a request at once
--
CREATE FUNCTION workon.raise_invalid(fields text[], messages text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF pg_catalog.cardinality(raise_invalid.fields) > 0 THEN
		RAISE EXCEPTION '%', raise_invalid.messages[1]
			USING ERRCODE = 'invalid_parameter_value', COLUMN = raise_invalid.fields[1],
				  DETAIL = '{"fields":['
						   || (SELECT pg_catalog.string_agg(workon.json_build('field', x.f, 'message', x.m)::text, ','
															ORDER BY x.n)
								 FROM ROWS FROM (pg_catalog.unnest(raise_invalid.fields),
												pg_catalog.unnest(raise_invalid.messages))
									  WITH ORDINALITY AS x (f, m, n))
						   || ']}';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.raise_invalid(text[], text[]) IS
'Raises 22023 for the invalid fields of a request, if any: the first field and its message are the error''s COLUMN and message, and its DETAIL is {"fields":[{"field","message"},...]} with all of them in order, which the front end answers as details.field and details.fields';

--
-- Health
--
CREATE FUNCTION workon.health()
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
	SELECT pg_catalog.jsonb_build_object(
		'server_version', pg_catalog.split_part(pg_catalog.current_setting('server_version'), ' ', 1),
		'extension', pg_catalog.jsonb_build_object(
			'installed', (SELECT e.extversion
							FROM pg_catalog.pg_extension AS e
						   WHERE e.extname = 'workon'),
			'available', (SELECT a.default_version
							FROM pg_catalog.pg_available_extensions AS a
						   WHERE a.name = 'workon')),
		'database', pg_catalog.current_database())
$$;

COMMENT ON FUNCTION workon.health() IS
'Diagnostics for GET /api/v1/health: server version, installed and available extension version, database name';

--
-- Privileges
--
GRANT EXECUTE ON FUNCTION
	workon.dispatch(oid, jsonb, jsonb, text, text, jsonb),
	workon.dispatch_bytes(oid, jsonb, jsonb, bytea, text, jsonb),
	workon.health()
	TO workon_authenticator;
GRANT EXECUTE ON FUNCTION
	workon.raise_invalid(text[], text[]),
	workon.set_response(int4, jsonb),
	workon.wait_for_outbox(bigint),
	workon.set_store_transfer(text, text, bytea, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
