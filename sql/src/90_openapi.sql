/* sql/src/90_openapi.sql -- the OpenAPI document, generated from the route table */

-- The JSON Schema of an argument type, for the OpenAPI document
CREATE FUNCTION workon.openapi_schema(typ regtype)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	elem regtype;
BEGIN
	SELECT t.typelem::regtype INTO elem
	  FROM pg_type t WHERE t.oid = typ AND t.typcategory = 'A';
	IF elem IS NOT NULL THEN
		RETURN jsonb_build_object('type', 'array', 'items', workon.openapi_schema(elem));
	END IF;
	RETURN CASE typ
		WHEN 'uuid'::regtype THEN '{"type": "string", "format": "uuid"}'
		WHEN 'text'::regtype THEN '{"type": "string"}'
		WHEN 'character varying'::regtype THEN '{"type": "string"}'
		WHEN 'smallint'::regtype THEN '{"type": "integer", "format": "int32"}'
		WHEN 'integer'::regtype THEN '{"type": "integer", "format": "int32"}'
		WHEN 'bigint'::regtype THEN '{"type": "integer", "format": "int64"}'
		WHEN 'numeric'::regtype THEN '{"type": "number"}'
		WHEN 'double precision'::regtype THEN '{"type": "number"}'
		WHEN 'boolean'::regtype THEN '{"type": "boolean"}'
		WHEN 'timestamp with time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
		WHEN 'date'::regtype THEN '{"type": "string", "format": "date"}'
		WHEN 'jsonb'::regtype THEN '{"type": "object"}'
		WHEN 'json'::regtype THEN '{"type": "object"}'
		ELSE '{"type": "string"}'
	END::jsonb;
END
$$;

COMMENT ON FUNCTION workon.openapi_schema(regtype) IS
'The JSON Schema of a handler argument type in the OpenAPI document (uuid, text, integers, numeric, boolean, timestamptz, date, json, arrays; anything else a string)';

-- The paths the HTTP front end serves itself, with no route in workon.routes
CREATE FUNCTION workon.openapi_builtin_paths()
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT '{
  "/healthz": {"get": {"operationId": "healthz", "tags": ["operations"], "summary": "Liveness: never touches the database", "security": [],
    "responses": {"200": {"description": "{\"status\":\"ok\"}", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/readyz": {"get": {"operationId": "readyz", "tags": ["operations"], "summary": "Readiness: the database answers", "security": [],
    "responses": {"200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "not_ready, with the database check''s error", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/api/health": {"get": {"operationId": "api_health", "tags": ["operations"], "summary": "Health as the existing deployments probe it", "security": [],
    "responses": {"200": {"description": "healthy", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "unhealthy", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/api/v1/health": {"get": {"operationId": "v1_health", "tags": ["operations"], "summary": "Full diagnostic: versions, environment, uptime, database latency, pool", "security": [],
    "responses": {"200": {"description": "diagnostic", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "the database does not answer", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/metrics": {"get": {"operationId": "metrics", "tags": ["operations"], "summary": "Prometheus metrics (text format 0.0.4)", "security": [],
    "responses": {"200": {"description": "requests by route and status, latency histogram, pool, rate-limited, webhooks", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
  "/api/v1/openapi.json": {"get": {"operationId": "openapi", "tags": ["operations"], "summary": "This document (outside production, or with ENABLE_SWAGGER_PROD=true)", "security": [],
    "responses": {"200": {"description": "OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "404": {"$ref": "#/components/responses/Error"}}}},
  "/docs": {"get": {"operationId": "docs", "tags": ["operations"], "summary": "A page rendering this document (outside production, or with ENABLE_SWAGGER_PROD=true)", "security": [],
    "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                  "404": {"$ref": "#/components/responses/Error"}}}}
}'::jsonb
$$;

COMMENT ON FUNCTION workon.openapi_builtin_paths() IS
'The OpenAPI path items of what the HTTP front end serves itself: health probes, metrics, the document and its docs page';

/*
 * workon.openapi() returns jsonb
 *
 * The OpenAPI 3.1 document of the HTTP API, generated on every call from
 * workon.routes and the handlers' catalog entries: summary from the route,
 * description from COMMENT ON FUNCTION, parameters and request body fields
 * from the argument names and types (path template names are path
 * parameters; on a route without a JSON body the other arguments are query
 * parameters; with one, they are the body's fields, or the whole body for an
 * argument named "body"; "meta" is the request meta, never a parameter).
 */
CREATE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit, rt.read_only,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
			   'format' = ANY (p.proargnames) AS has_format,
			   obj_description(p.oid, 'pg_proc') AS description,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', workon.openapi_schema(a.typ));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', workon.openapi_schema(a.typ));
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', '{"type": "string"}'::jsonb);
			END IF;
		END LOOP;
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb
												-- ?format=csv: the same as text/csv
												|| CASE WHEN r.has_format THEN '{"text/csv": {"schema": {"type": "string"}}}'::jsonb
														ELSE '{}' END) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for (bytes=a-b, a- or -n), with Content-Range: bytes a-b/size; only that part is read. Several ranges, another unit or a malformed Range get 200 and the whole file",
							 "headers": {"Content-Range": {"schema": {"type": "string"}}}},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s, that signs only the host: send Range (and If-None-Match, with the bucket''s ETag) to it"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag; answered from the file''s metadata"},
					 "416": {"description": "Range Not Satisfiable: the range starts past the end of the file; Content-Range: bytes */size",
							 "headers": {"Content-Range": {"schema": {"type": "string"}}}}}'::jsonb;
			op := jsonb_set(op, '{parameters}', coalesce(op -> 'parameters', '[]') || '[
				{"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "entity tags (or *): 304 when one is the file''s ETag"},
				{"name": "Range", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "one byte range, bytes=a-b, a- or -n: 206 with that part"},
				{"name": "If-Range", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "the ETag the client has: Range applies only when it is still the file''s"}]'::jsonb);
		END IF;
		IF r.status = 201 THEN
			-- what was created is named in Location
			responses := jsonb_set(responses, '{201,headers}',
				'{"Location": {"description": "The URL of what was created", "schema": {"type": "string"}}}');
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a strong ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.prosrc ~ 'workon\.public_cache\(' THEN
			-- the handler sets a strong ETag and Cache-Control for every reader
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the strong ETag of the answer (any reader; Cache-Control: public)"}}';
		END IF;
		IF r.prosrc ~ 'set_response\(301\M' THEN
			-- the handler answers a former address with the current one
			responses := responses || '{"301": {"description": "Moved Permanently: a former address; Location is the current one"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		IF r.status = 200 AND r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN
			-- the handler may return nothing
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		-- read replicas (the front end's DATABASE_REPLICA_URLS): an answer from the primary
		-- carries the position of its commit, a read_only route takes it back
		IF r.read_only THEN
			op := jsonb_set(op, '{parameters}', coalesce(op -> 'parameters', '[]') || '[
				{"name": "X-Workon-LSN", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "the X-Workon-LSN of this client''s last write: no read replica that has not replayed it answers"},
				{"name": "workon_lsn", "in": "cookie", "required": false, "schema": {"type": "string"},
				 "description": "the same, when there is no X-Workon-LSN header"}]'::jsonb);
		ELSIF responses ? r.status::text THEN
			responses := jsonb_set(responses, ARRAY[r.status::text, 'headers'],
				coalesce(responses #> ARRAY[r.status::text, 'headers'], '{}') || '{
				"X-Workon-LSN": {"$ref": "#/components/headers/X-Workon-LSN"},
				"Set-Cookie": {"description": "with read replicas: workon_lsn=<X-Workon-LSN>; Path=/; Max-Age=<seconds>; HttpOnly; SameSite=Lax", "schema": {"type": "string"}}}');
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object",
							"description": "field: the offending parameter or field (the first); fields: every invalid field of the request, where a route checks them all (registration, spaces, bookings)",
							"properties": {"field": {"type": "string"},
										   "fields": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
													  "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"X-Workon-LSN": {"description": "with read replicas: the WAL position of this request''s commit on the primary (0/3A2F1B8); sent back on reads, no replica that has not replayed it answers", "schema": {"type": "string"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';

GRANT EXECUTE ON FUNCTION workon.openapi_schema(regtype), workon.openapi_builtin_paths(), workon.openapi()
	TO workon_authenticator, workon_anon, workon_member, workon_host, workon_admin;
