/* sql/workon--0.4.1--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- What the HTTP front end must know about a route is data of workon.routes:
-- its rate-limit class, whether its handler only reads, the outbox kind a
-- request may wait on, an extra metric family.
--
ALTER TABLE workon.routes
	ADD COLUMN rate_limit text NOT NULL DEFAULT 'default'
		CONSTRAINT routes_rate_limit_check
		CHECK (rate_limit IN ('default', 'auth', 'exempt')),
	ADD COLUMN read_only boolean NOT NULL DEFAULT false,
	ADD COLUMN outbound text
		CONSTRAINT routes_outbound_check CHECK (outbound IN ('stripe', 'email')),
	ADD COLUMN metric text
		CONSTRAINT routes_metric_check CHECK (metric IN ('webhooks'));

COMMENT ON TABLE workon.routes IS
'HTTP routes: method and path template, handler function, declared auth need (enforced by GRANT EXECUTE), success status, body mode (none, json, raw) and a one-line summary; for the front end: rate_limit (default: the per-user or per-address budget, auth: the stricter per-address budget of login and registration too, exempt: none), read_only (the handler never writes), outbound (the outbox kind a request may wait on) and metric (an extra family its requests are counted in); any change sends NOTIFY workon_routes';

UPDATE workon.routes SET rate_limit = 'auth'
 WHERE (method, path) IN (('POST', '/api/v1/auth/register'), ('POST', '/api/v1/auth/login'));
UPDATE workon.routes SET rate_limit = 'exempt', metric = 'webhooks'
 WHERE (method, path) IN (('POST', '/api/webhooks/stripe'), ('POST', '/api/v1/webhooks/stripe'));
UPDATE workon.routes SET outbound = 'stripe'
 WHERE (method, path) IN (('POST', '/api/v1/bookings/{id}/payment'),
						  ('POST', '/api/v1/bookings/{id}/checkout'));
UPDATE workon.routes SET read_only = true
 WHERE (method, path) IN (('GET', '/api/v1/spaces'), ('GET', '/api/v1/spaces/{id}'),
						  ('GET', '/api/v1/spaces/{id}/availability'), ('GET', '/api/v1/me'),
						  ('GET', '/api/v1/bookings'), ('GET', '/api/v1/bookings/{id}'),
						  ('GET', '/api/v1/payments/{id}'));

--
-- workon.dispatch returns the caller and the outbox row to wait for as
-- columns (no x-workon-user header any more); handlers name that row with
-- workon.wait_for_outbox() (no X-Workon-Outbox header any more)
--
DROP FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb);

CREATE FUNCTION workon.dispatch(handler oid, params jsonb, query jsonb,
								request_body text, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body text, user_id uuid, outbox_id int8)
AS 'MODULE_PATHNAME', 'dispatch_0_5'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb) IS
'Serves one API request: authenticates the token, switches to the caller''s API role for the transaction, binds the route handler''s arguments by name from path params, query and body, calls it, and returns the response row: status and headers as the handler set them (NULL otherwise), the body, the caller''s user id (NULL when anonymous) and the outbox row the front end is to wait for (workon.wait_for_outbox)';

REVOKE ALL ON FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb)
	TO workon_authenticator;

CREATE FUNCTION workon.wait_for_outbox(id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'wait_for_outbox'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.wait_for_outbox(bigint) IS
'Called by a route handler that queued an outbox row: the response status becomes 202 and workon.dispatch() returns the row''s id as outbox_id; the front end waits until the row is delivered and answers with workon.outbox_response(id). Outside workon.dispatch() it does nothing, like workon.set_response()';

REVOKE ALL ON FUNCTION workon.wait_for_outbox(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.wait_for_outbox(bigint)
	TO workon_anon, workon_member, workon_host, workon_admin;

CREATE OR REPLACE FUNCTION workon.payment_create(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pay		workon.payments := workon.payment_for_booking(payment_create.id, 'payment_intent');
	v_outbox	bigint;
BEGIN
	IF v_pay.stripe_payment_intent_id IS NOT NULL THEN
		PERFORM workon.set_response(200);
		RETURN workon.payment_json(v_pay, true);
	END IF;
	v_outbox := workon.payment_call(v_pay, 'payment_intent', '/v1/payment_intents',
		pg_catalog.jsonb_build_object(
			'amount', v_pay.amount_cents::text,
			'currency', v_pay.currency,
			'automatic_payment_methods[enabled]', 'true'));
	PERFORM workon.wait_for_outbox(v_outbox);
	RETURN workon.payment_json(v_pay, true);
END
$$;

COMMENT ON FUNCTION workon.payment_create(uuid) IS
'POST /api/v1/bookings/{id}/payment (the member who booked): starts paying a booking pending payment with a Stripe PaymentIntent of its price, metadata booking_id. Answers 201 {id, status, amount_cents, currency, stripe_payment_intent_id, client_secret, ...} once Stripe created the PaymentIntent (the request waits for Stripe''s answer); a repeat answers 200 with the same payment and never creates a second PaymentIntent. 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

CREATE OR REPLACE FUNCTION workon.checkout_create(id uuid, success_url text DEFAULT NULL,
									   cancel_url text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pay		workon.payments;
	v_space		text;
	v_outbox	bigint;
BEGIN
	IF checkout_create.success_url IS NULL OR checkout_create.success_url !~ '^https?://[^\s]+$'
	   OR pg_catalog.length(checkout_create.success_url) > 2048 THEN
		RAISE EXCEPTION 'success_url must be an http or https URL'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'success_url';
	END IF;
	IF checkout_create.cancel_url IS NULL OR checkout_create.cancel_url !~ '^https?://[^\s]+$'
	   OR pg_catalog.length(checkout_create.cancel_url) > 2048 THEN
		RAISE EXCEPTION 'cancel_url must be an http or https URL'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cancel_url';
	END IF;
	v_pay := workon.payment_for_booking(checkout_create.id, 'checkout');
	IF v_pay.checkout_session_id IS NOT NULL THEN
		PERFORM workon.set_response(200);
		RETURN workon.json_build('checkout_session_id', v_pay.checkout_session_id,
								 'url', v_pay.checkout_url);
	END IF;
	SELECT s.name INTO v_space
	  FROM workon.bookings AS b JOIN workon.spaces AS s ON s.id = b.space_id
	 WHERE b.id = v_pay.booking_id;
	v_outbox := workon.payment_call(v_pay, 'checkout_session', '/v1/checkout/sessions',
		pg_catalog.jsonb_build_object(
			'mode', 'payment',
			'success_url', checkout_create.success_url,
			'cancel_url', checkout_create.cancel_url,
			'client_reference_id', v_pay.booking_id::text,
			'line_items[0][quantity]', '1',
			'line_items[0][price_data][currency]', v_pay.currency,
			'line_items[0][price_data][unit_amount]', v_pay.amount_cents::text,
			'line_items[0][price_data][product_data][name]', v_space,
			'payment_intent_data[metadata][booking_id]', v_pay.booking_id::text,
			'payment_intent_data[metadata][payment_id]', v_pay.id::text));
	PERFORM workon.wait_for_outbox(v_outbox);
	RETURN workon.json_build('checkout_session_id', NULL, 'url', NULL, 'payment_id', v_pay.id);
END
$$;

COMMENT ON FUNCTION workon.checkout_create(uuid, text, text) IS
'POST /api/v1/bookings/{id}/checkout {success_url, cancel_url} (the member who booked): a Stripe Checkout Session for the booking''s price, booking id in the session''s metadata and in its PaymentIntent''s (payment_intent_data[metadata][booking_id]). Answers 201 {checkout_session_id, url} once Stripe created it (the request waits for Stripe''s answer); a repeat answers 200 with the same session. 400 for a missing or non-http(s) URL, 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

--
-- The outbox worker claims rows of every kind it has a transport for, and
-- learns each row's kind
--
DROP FUNCTION workon.outbox_claim(text, integer);
DROP FUNCTION workon.outbox_claim_id(bigint);

CREATE FUNCTION workon.outbox_claim(p_kinds text[], p_limit integer)
RETURNS TABLE (id bigint, kind text, method text, path text, params jsonb,
			   idempotency_key text, attempts integer)
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH due AS (
		SELECT o.id
		  FROM workon.outbox AS o
		 WHERE o.kind = ANY (p_kinds) AND o.status = 'pending'
		   AND o.next_attempt_at <= pg_catalog.now()
		 ORDER BY o.next_attempt_at, o.id
		 LIMIT LEAST(GREATEST(p_limit, 0), 1000)
		   FOR UPDATE SKIP LOCKED)
	UPDATE workon.outbox AS o
	   SET attempts = o.attempts + 1,
		   next_attempt_at = pg_catalog.now() + interval '60 seconds'
	  FROM due
	 WHERE o.id = due.id
	RETURNING o.id, o.kind, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim(text[], integer) IS
'For the front end: up to p_limit (at most 1000) due pending outbox rows of the given kinds (those it has a transport for), oldest first, skipping rows others hold; each is leased for 60 seconds (attempts + 1, next_attempt_at = now + 60 s), so a row whose claimer dies comes back by itself';

CREATE FUNCTION workon.outbox_claim_id(p_id bigint)
RETURNS TABLE (id bigint, kind text, method text, path text, params jsonb,
			   idempotency_key text, attempts integer)
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.outbox AS o
	   SET attempts = o.attempts + 1,
		   next_attempt_at = pg_catalog.now() + interval '60 seconds'
	 WHERE o.id = p_id AND o.status = 'pending'
	RETURNING o.id, o.kind, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim_id(bigint) IS
'For the front end, after a handler named the row with workon.wait_for_outbox(): the row if it is still pending, whatever its lease (the idempotency key makes a second send harmless), leased again; no row once it is done, failed or dead';

REVOKE ALL ON FUNCTION workon.outbox_claim(text[], integer), workon.outbox_claim_id(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	workon.outbox_claim(text[], integer),
	workon.outbox_claim_id(bigint)
	TO workon_authenticator;

--
-- The OpenAPI document: routes that are never rate limited do not list 429
--
CREATE OR REPLACE FUNCTION workon.openapi()
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
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
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

		responses := jsonb_build_object(r.status::text,
			CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
				 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
										 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
				 ELSE jsonb_build_object('description', r.summary,
										 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for, with Content-Range"},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag"},
					 "416": {"description": "Range Not Satisfiable"}}'::jsonb;
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
		IF r.body <> 'none' THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
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
								|| 'method_not_allowed, rate_limited, headers_too_large, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object", "description": "field: the offending parameter or field"}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
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

--
-- Uploads (sql/src/15_uploads.sql): signed URLs, checks on content, the
-- bytes in a table of their own, avatars; photos of spaces
-- (sql/src/20_spaces.sql).  A route may take its body as bytes.
--
ALTER TABLE workon.routes
	DROP CONSTRAINT routes_body_check,
	ADD CONSTRAINT routes_body_check CHECK (body IN ('none', 'json', 'raw', 'bytes'));

COMMENT ON TABLE workon.routes IS
'HTTP routes: method and path template, handler function, declared auth need (enforced by GRANT EXECUTE), success status, body mode (none, json, raw: text as sent, bytes: binary, up to UPLOAD_MAX_BYTES) and a one-line summary; for the front end: rate_limit (default: the per-user or per-address budget, auth: the stricter per-address budget of login and registration too, exempt: none), read_only (the handler never writes), outbound (the outbox kind a request may wait on) and metric (an extra family its requests are counted in); any change sends NOTIFY workon_routes';

-- the same, for requests and responses that are bytes: routes of body mode
-- bytes, handlers returning bytea; the front end reads the row in binary
CREATE FUNCTION workon.dispatch_bytes(handler oid, params jsonb, query jsonb,
									  request_body bytea, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body bytea, user_id uuid, outbox_id int8)
AS 'MODULE_PATHNAME', 'dispatch_bytes'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.dispatch_bytes(oid, jsonb, jsonb, bytea, text, jsonb) IS
'workon.dispatch for bytes: the request body is bytea (a handler''s bytea "body" argument takes it as it is; other handlers get it as text, checked to be valid in the database encoding) and the response body is bytea (a bytea result as it is, any other as its text)';

GRANT EXECUTE ON FUNCTION workon.dispatch_bytes(oid, jsonb, jsonb, bytea, text, jsonb)
	TO workon_authenticator;

--
-- A file is uploaded in two steps: POST /api/v1/uploads declares it
-- (filename, content type, size) and gets a signed URL; PUT of the bytes to
-- that URL stores them once they are found to be what was declared.  Its
-- bytes live in a table of their own (workon.upload_data), so that pg_dump
-- keeps them and a metadata query never reads them.  Downloads go through
-- a signed URL too, or, for a file attached to something published (a
-- photo of a published space), through its stable public URL without a
-- signature.  Signing, verification and the checks on content are C
-- (extension/upload.c); the rules of who sees what are here.
--

--
-- Signatures and checks (extension/upload.c)
--
CREATE FUNCTION workon.url_signature(key bytea, method text, path text, expires bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'url_signature'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.url_signature(bytea, text, text, bigint) IS
'The sig parameter of a signed URL: unpadded base64url HMAC-SHA256 under key (at least 32 bytes) of "METHOD\npath\nexpires" (expires in Unix seconds)';

-- not strict: a URL without expires or sig is not signed
CREATE FUNCTION workon.url_signature_check(keys bytea[], method text, path text, expires bigint,
										   sig text, now timestamptz DEFAULT pg_catalog.now())
RETURNS void
AS 'MODULE_PATHNAME', 'url_signature_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.url_signature_check(bytea[], text, text, bigint, text, timestamptz) IS
'Error WOU01 invalid_url_signature unless sig is the signature of method, path and expires under one of the keys (constant-time comparison) and expires is not before now; the message says which (not signed, does not match, expired)';

CREATE FUNCTION workon.file_type(bytes bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'file_type'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.file_type(bytea) IS
'What the bytes are by their magic: image/jpeg, image/png, image/webp or application/pdf; NULL for anything else';

CREATE FUNCTION workon.file_check(bytes bytea, content_type text)
RETURNS void
AS 'MODULE_PATHNAME', 'file_check'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.file_check(bytea, text) IS
'Accepts an uploaded file: at most workon.upload_max_bytes (else WOU02 payload_too_large), a JPEG, PNG, WebP or PDF by its content and of the declared content_type, without markup (<script, <html, <!doctype, ...) in its first kilobyte (else WOU03 unsupported_media_type)';

CREATE FUNCTION workon.content_disposition(disposition text, filename text)
RETURNS text
AS 'MODULE_PATHNAME', 'content_disposition'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.content_disposition(text, text) IS
'A Content-Disposition header value per RFC 6266: inline or attachment, an ASCII filename fallback and filename* with the UTF-8 name percent-encoded';

--
-- URL signing keys: derived from SIGNED_URL_SECRET, seeded by the front end
-- at start; a random one until then.  Several are valid while one is being
-- rolled.  Read only by the SECURITY DEFINER functions below.
--
CREATE TABLE workon.signed_url_keys (
	id			text PRIMARY KEY,
	key			bytea NOT NULL
				CONSTRAINT signed_url_keys_key_check CHECK (pg_catalog.length(key) >= 32),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz
);

COMMENT ON TABLE workon.signed_url_keys IS
'Keys signed URLs are signed with: the newest without expires_at signs, all unexpired ones verify; a key replaced by another seeded one stays valid for an hour (longer than any signed URL lives)';

ALTER TABLE workon.signed_url_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.signed_url_keys FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.seed_signed_url_secret(secret text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key		bytea;
	v_id		text;
BEGIN
	IF seed_signed_url_secret.secret IS NULL OR pg_catalog.length(seed_signed_url_secret.secret) < 32 THEN
		RAISE EXCEPTION 'signed URL secret must be at least 32 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;
	v_key := workon.hmac_sha256(pg_catalog.convert_to(seed_signed_url_secret.secret, 'UTF8'),
								pg_catalog.convert_to('workon signed url key', 'UTF8'));
	v_id := 'seed-' || pg_catalog.left(pg_catalog.encode(
		workon.hmac_sha256(v_key, pg_catalog.convert_to('workon signed url key id', 'UTF8')), 'hex'), 20);

	-- the others stay valid for an hour, the seeded one for good
	UPDATE workon.signed_url_keys AS k
	   SET expires_at = pg_catalog.now() + interval '1 hour'
	 WHERE k.id <> v_id AND k.expires_at IS NULL;
	INSERT INTO workon.signed_url_keys AS k (id, key)
	VALUES (v_id, v_key)
	ON CONFLICT (id) DO UPDATE SET expires_at = NULL, created_at = pg_catalog.now()
		WHERE k.expires_at IS NOT NULL;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'signed_url_keys', v_id);
	END IF;
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION workon.seed_signed_url_secret(text) IS
'Idempotent, for the front end at start with SIGNED_URL_SECRET (at least 32 characters): URLs are signed with a key derived from it; a previously seeded different key stays valid for an hour. Returns true when the signing key changed';

CREATE FUNCTION workon.signed_url(method text, path text, ttl integer DEFAULT 900)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key		bytea;
	v_expires	bigint := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint
						  + signed_url.ttl;
BEGIN
	SELECT k.key INTO v_key
	  FROM workon.signed_url_keys AS k
	 WHERE k.expires_at IS NULL
	 ORDER BY k.created_at DESC, k.id
	 LIMIT 1;
	IF NOT FOUND THEN
		-- no SIGNED_URL_SECRET seeded (development): a random key
		v_key := pg_catalog.decode(pg_catalog.md5(pg_catalog.gen_random_uuid()::text)
								   || pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 'hex');
		INSERT INTO workon.signed_url_keys (id, key)
		VALUES ('random-' || pg_catalog.left(pg_catalog.encode(
					workon.hmac_sha256(v_key, pg_catalog.convert_to('workon signed url key id', 'UTF8')), 'hex'), 20),
				v_key);
	END IF;
	RETURN signed_url.path || '?expires=' || v_expires
		|| '&sig=' || workon.url_signature(v_key, signed_url.method, signed_url.path, v_expires);
END
$$;

COMMENT ON FUNCTION workon.signed_url(text, text, integer) IS
'path with the query expires (now + ttl seconds) and sig of a URL signed for method with the current key';

CREATE FUNCTION workon.signed_url_verify(method text, path text, expires bigint, sig text)
RETURNS void
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.url_signature_check(
		ARRAY(SELECT k.key FROM workon.signed_url_keys AS k
			   WHERE k.expires_at IS NULL OR k.expires_at > pg_catalog.now()),
		signed_url_verify.method, signed_url_verify.path,
		signed_url_verify.expires, signed_url_verify.sig)
$$;

COMMENT ON FUNCTION workon.signed_url_verify(text, text, bigint, text) IS
'workon.url_signature_check with the valid keys: error WOU01 unless the URL of method and path with query expires and sig was signed by workon.signed_url and has not expired';

--
-- Uploads and their bytes
--
CREATE TABLE workon.uploads (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	owner_id	uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	filename	text NOT NULL
				CONSTRAINT uploads_filename_check
				CHECK (pg_catalog.length(filename) BETWEEN 1 AND 255
					   AND filename !~ '[[:cntrl:]/\\]'),
	content_type text NOT NULL
				CONSTRAINT uploads_content_type_check
				CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')),
	size		bigint NOT NULL
				CONSTRAINT uploads_size_check CHECK (size > 0),
	sha256		bytea
				CONSTRAINT uploads_sha256_check CHECK (pg_catalog.length(sha256) = 32),
	state		text NOT NULL DEFAULT 'pending'
				CONSTRAINT uploads_state_check CHECK (state IN ('pending', 'stored')),
	store		text NOT NULL DEFAULT 'postgres'
				CONSTRAINT uploads_store_check CHECK (store IN ('postgres', 's3')),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	stored_at	timestamptz,
	s3_key		text
				CONSTRAINT uploads_s3_key_key UNIQUE
				CONSTRAINT uploads_s3_key_check CHECK (s3_key ~ '^uploads/[0-9a-f]{64}$'),
	CONSTRAINT uploads_stored_check
		CHECK ((state = 'stored') = (sha256 IS NOT NULL AND stored_at IS NOT NULL)),
	CONSTRAINT uploads_store_key_check
		CHECK ((store = 's3') = (s3_key IS NOT NULL))
);

COMMENT ON TABLE workon.uploads IS
'Uploaded files: owner, filename, content_type (checked on the bytes), size (declared while pending, actual once stored), sha256 of the bytes, state pending (URL handed out) or stored, store where the bytes are (postgres: workon.upload_data; s3: the bucket, under s3_key, a random name unrelated to the id)';

CREATE INDEX uploads_owner_id_idx ON workon.uploads (owner_id);
CREATE INDEX uploads_pending_created_at_idx ON workon.uploads (created_at) WHERE state = 'pending';

-- The bytes; stored uncompressed (images and PDFs are compressed already),
-- so a range of them is read without reading the rest.
CREATE TABLE workon.upload_data (
	upload_id	uuid PRIMARY KEY REFERENCES workon.uploads (id) ON DELETE CASCADE,
	bytes		bytea NOT NULL
);

ALTER TABLE workon.upload_data ALTER COLUMN bytes SET STORAGE EXTERNAL;

COMMENT ON TABLE workon.upload_data IS
'The bytes of uploads kept in PostgreSQL (store postgres); read and written only through the upload functions';

ALTER TABLE workon.upload_data ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.upload_data FORCE ROW LEVEL SECURITY;

CREATE TRIGGER uploads_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.uploads
	FOR EACH ROW WHEN (NOT workon.restoring('workon.uploads'))
	EXECUTE FUNCTION workon.audit_row();

-- A user's avatar: public, like a photo of a published space.  A table of
-- its own, not a column of users, so that users and uploads do not refer to
-- each other (pg_dump restores their rows in order).
CREATE TABLE workon.user_avatars (
	user_id		uuid PRIMARY KEY REFERENCES workon.users (id) ON DELETE CASCADE,
	upload_id	uuid NOT NULL REFERENCES workon.uploads (id)
				CONSTRAINT user_avatars_upload_id_key UNIQUE,
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.user_avatars IS
'Each user''s avatar: an image they uploaded, public at its URL; replaced or removed, the file is deleted';

ALTER TABLE workon.user_avatars ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.user_avatars FORCE ROW LEVEL SECURITY;

-- avatars are public
CREATE POLICY user_avatars_visible ON workon.user_avatars
	FOR SELECT
	USING (true);

GRANT SELECT ON workon.user_avatars
	TO workon_anon, workon_member, workon_host, workon_admin;

CREATE TRIGGER user_avatars_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.user_avatars
	FOR EACH ROW WHEN (NOT workon.restoring('workon.user_avatars'))
	EXECUTE FUNCTION workon.audit_row();

CREATE FUNCTION workon.upload_public(id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- PL/pgSQL: space_photos is created with the spaces (20_spaces.sql)
	RETURN EXISTS (SELECT FROM workon.space_photos AS p
					 JOIN workon.spaces AS s ON s.id = p.space_id
					WHERE p.upload_id = upload_public.id AND s.published)
		OR EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = upload_public.id);
END
$$;

COMMENT ON FUNCTION workon.upload_public(uuid) IS
'True when the upload is attached to something published (a photo of a published space, a user''s avatar): anyone may download it at its public URL';

ALTER TABLE workon.uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.uploads FORCE ROW LEVEL SECURITY;

-- Owners and admins see uploads, everyone sees public ones
CREATE POLICY uploads_visible ON workon.uploads
	FOR SELECT
	USING (owner_id = workon.current_user_id()
		   OR workon.current_role() = 'admin'
		   OR workon.upload_public(id));

GRANT SELECT ON workon.uploads
	TO workon_anon, workon_member, workon_host, workon_admin;

-- A file no longer attached to anything is deleted with its bytes
CREATE FUNCTION workon.upload_release()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid := OLD.upload_id;
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.upload_id = NEW.upload_id THEN
		RETURN NULL;
	END IF;
	DELETE FROM workon.uploads AS u
	 WHERE u.id = v_id
	   AND NOT EXISTS (SELECT FROM workon.space_photos AS p WHERE p.upload_id = v_id)
	   AND NOT EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = v_id);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.upload_release() IS
'Trigger: a photo removed from its space (or deleted with it) and an avatar replaced or removed are deleted with their bytes';

CREATE TRIGGER user_avatars_release
	AFTER UPDATE OR DELETE ON workon.user_avatars
	FOR EACH ROW WHEN (NOT workon.restoring('workon.user_avatars'))
	EXECUTE FUNCTION workon.upload_release();

-- The object of a file in the bucket that is deleted (or rekeyed by a new
-- PUT) is deleted by the front end: an outbox row of kind s3
CREATE FUNCTION workon.upload_s3_forget()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.s3_key IS NOT DISTINCT FROM NEW.s3_key THEN
		RETURN NULL;
	END IF;
	-- PL/pgSQL: the outbox is created later (31_outbox.sql)
	INSERT INTO workon.outbox (kind, purpose, method, path, params, idempotency_key)
	VALUES ('s3', 's3_delete', 'DELETE', '/' || OLD.s3_key, '{}', 's3-delete-' || OLD.s3_key)
	ON CONFLICT (idempotency_key) DO NOTHING;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.upload_s3_forget() IS
'Trigger: an upload of the S3 store deleted, or given a new key by another PUT, queues the deletion of its object (outbox kind s3, purpose s3_delete, DELETE /<key>)';

CREATE TRIGGER uploads_s3_forget
	AFTER UPDATE OF s3_key OR DELETE ON workon.uploads
	FOR EACH ROW WHEN (OLD.s3_key IS NOT NULL AND NOT workon.restoring('workon.uploads'))
	EXECUTE FUNCTION workon.upload_s3_forget();

-- the outbox takes the deletions of bucket objects
ALTER TABLE workon.outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE workon.outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('stripe', 'email', 's3'));
ALTER TABLE workon.outbox DROP CONSTRAINT outbox_purpose_check;
ALTER TABLE workon.outbox ADD CONSTRAINT outbox_purpose_check
	CHECK (purpose IN ('payment_intent', 'checkout_session', 'refund',
					   'payment_intent_cancel', 'checkout_session_expire', 'email',
					   's3_delete'));
COMMENT ON TABLE workon.outbox IS
'Outbound calls: kind stripe (performed by the HTTP front end: method, path, params as form fields, idempotency_key), s3 (performed by the front end with UPLOAD_STORE=s3: method DELETE, path /<key> of an object of the bucket) or email (queued: params {to, template, data}); status pending (due at next_attempt_at), done, failed (the provider refused: last_error) or dead (8 attempts); purpose and payment_id, refund_id, booking_id name what the answer updates';

--
-- The API representation
--
CREATE FUNCTION workon.upload_path(id uuid)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT '/api/v1/uploads/' || upload_path.id || '/content'
$$;

COMMENT ON FUNCTION workon.upload_path(uuid) IS
'The path an upload''s bytes are sent to and read from; with no query it is the file''s public URL';

CREATE FUNCTION workon.upload_json(u workon.uploads)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build(
		'id', u.id,
		'owner_id', u.owner_id,
		'filename', u.filename,
		'content_type', u.content_type,
		'size', u.size,
		'state', u.state,
		'sha256', pg_catalog.encode(u.sha256, 'hex'),
		'created_at', u.created_at,
		'public', workon.upload_public(u.id),
		'download_url', CASE WHEN u.state = 'stored' THEN
						    workon.signed_url('GET', workon.upload_path(u.id))
						END)
$$;

COMMENT ON FUNCTION workon.upload_json(workon.uploads) IS
'The API representation of an upload, with a fresh signed download_url once its bytes are stored';

--
-- Clean-up: uploads never finished
--
CREATE FUNCTION workon.uploads_cleanup()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_count		integer;
BEGIN
	DELETE FROM workon.uploads AS u
	 WHERE u.id IN (SELECT p.id FROM workon.uploads AS p
					 WHERE p.state = 'pending'
					   AND p.created_at < pg_catalog.now() - interval '1 day'
					 ORDER BY p.created_at
					 LIMIT 1000
					   FOR UPDATE SKIP LOCKED);
	GET DIAGNOSTICS v_count = ROW_COUNT;
	RETURN v_count;
END
$$;

COMMENT ON FUNCTION workon.uploads_cleanup() IS
'Deletes uploads still pending a day after they were declared (at most 1000 per call; POST /api/v1/uploads calls it too, so no job is needed); returns how many';

--
-- Route handlers
--
CREATE FUNCTION workon.upload_create(filename text DEFAULT NULL, content_type text DEFAULT NULL,
									 size bigint DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_id		uuid;
	v_url		text;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF upload_create.filename IS NULL OR pg_catalog.btrim(upload_create.filename) = '' THEN
		RAISE EXCEPTION 'filename is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'filename';
	END IF;
	IF pg_catalog.length(upload_create.filename) > 255
	   OR upload_create.filename ~ '[[:cntrl:]/\\]' THEN
		RAISE EXCEPTION 'filename must be at most 255 characters, without control characters or path separators'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'filename';
	END IF;
	IF upload_create.content_type IS NULL THEN
		RAISE EXCEPTION 'content_type is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'content_type';
	END IF;
	IF upload_create.content_type NOT IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf') THEN
		RAISE EXCEPTION 'content_type must be one of image/jpeg, image/png, image/webp, application/pdf'
			USING ERRCODE = 'WOU03', COLUMN = 'content_type';
	END IF;
	IF upload_create.size IS NULL OR upload_create.size < 1 THEN
		RAISE EXCEPTION 'size must be a number of bytes, at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'size';
	END IF;
	IF upload_create.size > pg_catalog.current_setting('workon.upload_max_bytes')::bigint THEN
		RAISE EXCEPTION 'size must be at most % bytes', pg_catalog.current_setting('workon.upload_max_bytes')
			USING ERRCODE = 'WOU02', COLUMN = 'size';
	END IF;

	PERFORM workon.uploads_cleanup();

	INSERT INTO workon.uploads (owner_id, filename, content_type, size)
	VALUES (v_user, upload_create.filename, upload_create.content_type, upload_create.size)
	RETURNING id INTO v_id;
	v_url := workon.signed_url('PUT', workon.upload_path(v_id));

	RETURN workon.json_build(
		'id', v_id,
		'upload_url', v_url,
		'expires_at', pg_catalog.to_timestamp(pg_catalog.substring(v_url, 'expires=([0-9]+)')::bigint));
END
$$;

COMMENT ON FUNCTION workon.upload_create(text, text, bigint) IS
'POST /api/v1/uploads (member): declares a file (filename, content_type one of image/jpeg, image/png, image/webp, application/pdf, size in bytes) and returns {id, upload_url, expires_at}: PUT the bytes to upload_url (signed, valid 15 minutes, once); WOU02 payload_too_large above workon.upload_max_bytes, WOU03 unsupported_media_type for another type. An upload never finished is deleted after a day';

CREATE FUNCTION workon.upload_put(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL,
								  body bytea DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
BEGIN
	PERFORM workon.signed_url_verify('PUT', workon.upload_path(upload_put.id),
									 upload_put.expires, upload_put.sig);

	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_put.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v.state <> 'pending' THEN
		RAISE EXCEPTION 'upload URL was used already'
			USING ERRCODE = 'WOU04',
				  HINT = 'Declare a new upload to send another file.';
	END IF;
	PERFORM workon.file_check(COALESCE(upload_put.body, ''::bytea), v.content_type);

	IF pg_catalog.current_setting('workon.upload_store') = 's3' THEN
		-- checked: the front end writes the bytes to the bucket under a new
		-- random key, then confirms with workon.upload_s3_stored(key)
		UPDATE workon.uploads AS u
		   SET store = 's3', size = pg_catalog.length(upload_put.body),
			   sha256 = pg_catalog.sha256(upload_put.body),
			   s3_key = 'uploads/' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
							pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, 'UTF8')), 'hex')
		 WHERE u.id = v.id
		RETURNING * INTO v;
		PERFORM workon.set_response(202, pg_catalog.jsonb_build_object(
			'X-Workon-S3', 'PUT ' || v.s3_key || ' ' || pg_catalog.encode(v.sha256, 'hex') || ' ' || v.content_type));
		RETURN NULL;
	END IF;

	INSERT INTO workon.upload_data (upload_id, bytes) VALUES (v.id, upload_put.body);
	UPDATE workon.uploads AS u
	   SET state = 'stored', size = pg_catalog.length(upload_put.body),
		   sha256 = pg_catalog.sha256(upload_put.body), stored_at = pg_catalog.now(),
		   store = 'postgres', s3_key = NULL
	 WHERE u.id = v.id
	RETURNING * INTO v;

	RETURN workon.upload_json(v);
END
$$;

COMMENT ON FUNCTION workon.upload_put(uuid, bigint, text, bytea) IS
'PUT /api/v1/uploads/{id}/content?expires=&sig= (the signed upload_url; no token needed): stores the bytes once and returns the upload with a download_url; WOU01 invalid_url_signature for a URL not signed for this upload and PUT or expired, WOU04 upload_url_used once stored, WOU02 payload_too_large, WOU03 unsupported_media_type when the bytes are not of the declared type or carry markup. With workon.upload_store = s3 the checked upload gets a random bucket key and the answer is the front end''s directive (status 202, header X-Workon-S3 "PUT <key> <sha256 hex> <content type>"): it writes the bytes there, then workon.upload_s3_stored(key) answers';

CREATE FUNCTION workon.upload_get(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
BEGIN
	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_get.id;
	IF NOT FOUND
	   OR NOT (v.owner_id = workon.current_user_id()
			   OR workon.current_role() = 'admin'
			   OR workon.upload_public(v.id)) THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN workon.upload_json(v);
END
$$;

COMMENT ON FUNCTION workon.upload_get(uuid) IS
'GET /api/v1/uploads/{id} (member): the upload with a fresh signed download_url (its owner, admins, anyone for a public file); P0002 otherwise';

CREATE FUNCTION workon.upload_content(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL)
RETURNS bytea
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
	v_bytes		bytea;
	v_cache		text;
BEGIN
	IF upload_content.expires IS NOT NULL OR upload_content.sig IS NOT NULL THEN
		PERFORM workon.signed_url_verify('GET', workon.upload_path(upload_content.id),
										 upload_content.expires, upload_content.sig);
		-- private: kept by the browser until the URL expires, never by shared caches
		v_cache := 'private, max-age=' || GREATEST(0, upload_content.expires
						- pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint);
	ELSIF workon.upload_public(upload_content.id) THEN
		-- public: its bytes never change; a day bounds how long a file
		-- unpublished since stays in caches
		v_cache := 'public, max-age=86400';
	ELSE
		PERFORM workon.signed_url_verify('GET', workon.upload_path(upload_content.id), NULL, NULL);
	END IF;

	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_content.id AND u.state = 'stored';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	SELECT d.bytes INTO v_bytes FROM workon.upload_data AS d WHERE d.upload_id = v.id;

	-- in the bucket: the front end redirects to a presigned URL of the key
	PERFORM workon.set_response(200, pg_catalog.jsonb_build_object(
		'Content-Type', v.content_type,
		'Content-Disposition', workon.content_disposition(
			CASE WHEN v.content_type LIKE 'image/%' THEN 'inline' ELSE 'attachment' END, v.filename),
		'Cache-Control', v_cache,
		'ETag', '"' || pg_catalog.encode(v.sha256, 'hex') || '"',
		'X-Content-Type-Options', 'nosniff',
		'Content-Security-Policy', 'default-src ''none''; frame-ancestors ''none''; sandbox')
		|| CASE WHEN v.store = 's3' THEN pg_catalog.jsonb_build_object('X-Workon-S3', 'GET ' || v.s3_key)
				ELSE '{}'::jsonb END);
	RETURN v_bytes;
END
$$;

COMMENT ON FUNCTION workon.upload_content(uuid, bigint, text) IS
'GET /api/v1/uploads/{id}/content: the bytes, with a signed URL (expires, sig; from download_url) or, for a public file, without; Content-Type, Content-Disposition (inline for images, attachment for PDFs), ETag (the SHA-256), Cache-Control (private until the URL expires, public for a day), nosniff and a sandboxing Content-Security-Policy; WOU01 invalid_url_signature for an unsigned URL of a private file or a bad signature. A file in the bucket (store s3) has no bytes here: the headers carry the front end''s directive X-Workon-S3 "GET <key>" (a redirect to a presigned URL)';

CREATE FUNCTION workon.upload_s3_stored(key text)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
BEGIN
	UPDATE workon.uploads AS u
	   SET state = 'stored', stored_at = pg_catalog.now()
	 WHERE u.s3_key = upload_s3_stored.key AND u.store = 's3' AND u.state = 'pending'
	RETURNING * INTO v;
	IF NOT FOUND THEN
		-- stored already, or another PUT of the same URL took a new key meanwhile
		RAISE EXCEPTION 'upload URL was used already'
			USING ERRCODE = 'WOU04',
				  HINT = 'Declare a new upload to send another file.';
	END IF;
	RETURN workon.upload_json(v);
END
$$;

COMMENT ON FUNCTION workon.upload_s3_stored(text) IS
'For the front end (workon_authenticator) once the bucket took the bytes workon.upload_put checked under key: the upload is stored; returns it with a download_url. WOU04 upload_url_used when no pending upload has that key';

CREATE FUNCTION workon.avatar_set(upload_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF avatar_set.upload_id IS NOT NULL
	   AND NOT EXISTS (SELECT FROM workon.uploads AS u
					    WHERE u.id = avatar_set.upload_id AND u.owner_id = v_user
						  AND u.state = 'stored' AND u.content_type LIKE 'image/%'
						  AND NOT EXISTS (SELECT FROM workon.space_photos AS p WHERE p.upload_id = u.id)) THEN
		RAISE EXCEPTION 'upload_id must name a stored image of yours that is not a space''s photo'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_id';
	END IF;
	IF avatar_set.upload_id IS NULL THEN
		DELETE FROM workon.user_avatars AS a WHERE a.user_id = v_user;
	ELSE
		INSERT INTO workon.user_avatars AS a (user_id, upload_id)
		VALUES (v_user, avatar_set.upload_id)
		ON CONFLICT (user_id) DO UPDATE SET upload_id = EXCLUDED.upload_id, updated_at = pg_catalog.now()
			WHERE a.upload_id <> EXCLUDED.upload_id;
	END IF;
	RETURN workon.json_build(
		'avatar_upload_id', avatar_set.upload_id,
		'avatar_url', workon.upload_path(avatar_set.upload_id));
END
$$;

COMMENT ON FUNCTION workon.avatar_set(uuid) IS
'PUT /api/v1/me/avatar {upload_id} (member): the caller''s avatar, a stored image they uploaded, public at avatar_url; null removes it. The avatar it replaces is deleted';

--
-- Routes and errors
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('POST', '/api/v1/uploads', 'workon.upload_create(text,text,bigint)',
	 'member', 201, 'json', false, 'Declare a file upload and get its signed upload URL'),
	('GET', '/api/v1/uploads/{id}', 'workon.upload_get(uuid)',
	 'member', 200, 'none', false, 'Get an upload with a fresh download URL'),
	('PUT', '/api/v1/uploads/{id}/content', 'workon.upload_put(uuid,bigint,text,bytea)',
	 'none', 201, 'bytes', false, 'Send the bytes of a file to its signed upload URL'),
	('GET', '/api/v1/uploads/{id}/content', 'workon.upload_content(uuid,bigint,text)',
	 'none', 200, 'none', true, 'Download a file (signed URL, or public URL of a public file)'),
	('PUT', '/api/v1/me/avatar', 'workon.avatar_set(uuid)',
	 'member', 200, 'json', false, 'Set or remove my avatar');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOU01', 403, 'invalid_url_signature'),
	('WOU02', 413, 'payload_too_large'),
	('WOU03', 415, 'unsupported_media_type'),
	('WOU04', 409, 'upload_url_used');

--
-- Settings and privileges
--
-- The front end passes UPLOAD_MAX_BYTES
GRANT SET ON PARAMETER workon.upload_max_bytes TO workon_authenticator;
-- and UPLOAD_STORE
GRANT SET ON PARAMETER workon.upload_store TO workon_authenticator;

GRANT EXECUTE ON FUNCTION
	workon.upload_put(uuid, bigint, text, bytea),
	workon.upload_content(uuid, bigint, text),
	workon.upload_public(uuid),
	workon.upload_path(uuid),
	workon.file_type(bytea),
	workon.content_disposition(text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.upload_create(text, text, bigint),
	workon.upload_get(uuid),
	workon.avatar_set(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.seed_signed_url_secret(text),
	workon.uploads_cleanup(),
	workon.upload_s3_stored(text)
	TO workon_authenticator;

--
-- pg_dump: uploads, their bytes, photos and keys are data
--
SELECT pg_catalog.pg_extension_config_dump('workon.uploads', '');
SELECT pg_catalog.pg_extension_config_dump('workon.upload_data', '');
SELECT pg_catalog.pg_extension_config_dump('workon.user_avatars', '');
SELECT pg_catalog.pg_extension_config_dump('workon.signed_url_keys', '');

--
-- Photos: ordered, the first (position 0) is the cover; uploads
-- (15_uploads.sql) attached to the space
--
CREATE TABLE workon.space_photos (
	upload_id	uuid PRIMARY KEY REFERENCES workon.uploads (id),
	space_id	uuid NOT NULL REFERENCES workon.spaces (id) ON DELETE CASCADE,
	position	integer NOT NULL
				CONSTRAINT space_photos_position_check CHECK (position BETWEEN 0 AND 19),
	CONSTRAINT space_photos_space_id_position_key UNIQUE (space_id, position)
		DEFERRABLE INITIALLY IMMEDIATE
);

COMMENT ON TABLE workon.space_photos IS
'Photos of a space, at most 20, in order (position 0 is the cover); a file is a photo of one space at most; a photo of a published space is public';

CREATE TRIGGER space_photos_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.space_photos
	FOR EACH ROW WHEN (NOT workon.restoring('workon.space_photos'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.space_photos ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.space_photos FORCE ROW LEVEL SECURITY;

-- Photos are seen with their space
CREATE POLICY space_photos_visible ON workon.space_photos
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.spaces AS s WHERE s.id = space_photos.space_id));

GRANT SELECT ON workon.space_photos
	TO workon_anon, workon_member, workon_host, workon_admin;

CREATE TRIGGER space_photos_release
	AFTER DELETE ON workon.space_photos
	FOR EACH ROW WHEN (NOT workon.restoring('workon.space_photos'))
	EXECUTE FUNCTION workon.upload_release();

CREATE FUNCTION workon.space_photos_json(space_id uuid)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.json_agg(
			   workon.json_build('id', u.id,
								 'url', workon.upload_path(u.id),
								 'content_type', u.content_type)
			   ORDER BY p.position), '[]')
	  FROM workon.space_photos AS p
	  JOIN workon.uploads AS u ON u.id = p.upload_id
	 WHERE p.space_id = space_photos_json.space_id
$$;

COMMENT ON FUNCTION workon.space_photos_json(uuid) IS
'The photos of a space in order (the first is the cover) as [{id, url, content_type}], url its stable public URL (served while the space is published)';

CREATE OR REPLACE FUNCTION workon.space_json(s workon.spaces)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', s.id,
		'host_id', s.host_id,
		'name', s.name,
		'kind', s.kind,
		'city', s.city,
		'address', s.address,
		'capacity', s.capacity,
		'timezone', s.timezone,
		'hourly_rate_cents', s.hourly_rate_cents,
		'daily_rate_cents', s.daily_rate_cents,
		'currency', s.currency,
		'opening_hours', s.opening_hours,
		'published', s.published,
		'photos', workon.space_photos_json(s.id),
		'created_at', s.created_at,
		'updated_at', s.updated_at)
$$;

-- the stored documents list their photos (none yet); updated_at stays
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces SET doc = NULL;
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_set_updated_at;

CREATE FUNCTION workon.space_photos_set(id uuid, upload_ids jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_space		workon.spaces;
	v_user		uuid := workon.current_user_id();
	v_admin		boolean := workon.current_role() = 'admin';
	v_ids		uuid[];
	v_bad		uuid;
BEGIN
	-- the caller's view of the space decides, as for any change of it
	SELECT * INTO v_space FROM workon.spaces AS s
	 WHERE s.id = space_photos_set.id
	   AND (s.published OR v_admin OR s.host_id = v_user)
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT v_admin AND v_space.host_id IS DISTINCT FROM v_user THEN
		RAISE EXCEPTION 'only the space''s host or an admin may change it'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF space_photos_set.upload_ids IS NULL THEN
		RAISE EXCEPTION 'upload_ids is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;
	IF pg_catalog.jsonb_typeof(space_photos_set.upload_ids) <> 'array' THEN
		RAISE EXCEPTION 'upload_ids must be an array of upload ids'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;
	BEGIN
		v_ids := ARRAY(SELECT x::uuid FROM pg_catalog.jsonb_array_elements_text(space_photos_set.upload_ids) AS x);
	EXCEPTION WHEN invalid_text_representation THEN
		RAISE EXCEPTION 'upload_ids must be an array of upload ids'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END;
	IF pg_catalog.cardinality(v_ids) > 20 THEN
		RAISE EXCEPTION 'a space has at most 20 photos'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;
	IF (SELECT pg_catalog.count(DISTINCT x) <> pg_catalog.count(*) OR pg_catalog.count(x) <> pg_catalog.count(*)
		  FROM pg_catalog.unnest(v_ids) AS x) THEN
		RAISE EXCEPTION 'upload_ids must not repeat an id or hold null'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;

	-- each photo: a stored image of the space's host (admins: of anyone),
	-- not a photo of another space
	SELECT x INTO v_bad
	  FROM pg_catalog.unnest(v_ids) AS x
	 WHERE NOT EXISTS (SELECT FROM workon.uploads AS u
						WHERE u.id = x AND u.state = 'stored'
						  AND u.content_type LIKE 'image/%'
						  AND (u.owner_id = v_user OR v_admin)
						  AND NOT EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = u.id)
						  AND NOT EXISTS (SELECT FROM workon.space_photos AS p
										   WHERE p.upload_id = u.id
											 AND p.space_id <> v_space.id))
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'upload % is not a stored image of yours that can be a photo of this space', v_bad
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;

	-- photos left out are released (and deleted); the others take their
	-- new places, checked for uniqueness once the statement is done
	DELETE FROM workon.space_photos AS p
	 WHERE p.space_id = v_space.id AND p.upload_id <> ALL (v_ids);
	INSERT INTO workon.space_photos AS p (upload_id, space_id, position)
	SELECT x.upload_id, v_space.id, (x.n - 1)::integer
	  FROM pg_catalog.unnest(v_ids) WITH ORDINALITY AS x (upload_id, n)
	ON CONFLICT (upload_id) DO UPDATE SET position = EXCLUDED.position
		WHERE p.position IS DISTINCT FROM EXCLUDED.position;

	-- the space's document lists its photos
	UPDATE workon.spaces AS s SET published = s.published WHERE s.id = v_space.id
	RETURNING * INTO v_space;
	RETURN v_space.doc;
END
$$;

COMMENT ON FUNCTION workon.space_photos_set(uuid, jsonb) IS
'PUT /api/v1/spaces/{id}/photos {upload_ids: [...]} (its host, admin): the photos of the space in order, the first the cover, at most 20: stored images of the host; photos left out are deleted. Returns the space, whose photos list their public URLs; 22023 naming upload_ids for anything invalid';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('PUT', '/api/v1/spaces/{id}/photos', 'workon.space_photos_set(uuid,jsonb)',
	 'host', 200, 'json', false, 'Set the photos of a space in order (the first is the cover)');

GRANT EXECUTE ON FUNCTION workon.space_photos_json(uuid)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.space_photos_set(uuid, jsonb)
	TO workon_host, workon_admin;
SELECT pg_catalog.pg_extension_config_dump('workon.space_photos', '');

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- pg_dump: the shipped route and error rows now include those above
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
