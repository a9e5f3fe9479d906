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

-- body kind websocket: the front end upgrades the request (GET /api/v1/ws)
ALTER TABLE workon.routes
	DROP CONSTRAINT routes_body_check,
	ADD CONSTRAINT routes_body_check CHECK (body IN ('none', 'json', 'raw', 'websocket'));

COMMENT ON TABLE workon.routes IS
'HTTP routes: method and path template, handler function, declared auth need (enforced by GRANT EXECUTE), success status, body mode (none, json, raw; websocket: the front end upgrades the request once the handler answered 200) and a one-line summary; for the front end: rate_limit (default: the per-user or per-address budget, auth: the stricter per-address budget of login and registration too, exempt: none), read_only (the handler never writes), outbound (the outbox kind a request may wait on) and metric (an extra family its requests are counted in); any change sends NOTIFY workon_routes';

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
											 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		END IF;
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
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
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
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
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

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';

--
-- Records are never lost: a space with booking history is archived, not
-- deleted; nothing cascades over bookings, payments, refunds, outbound calls
-- or webhook events; the audit log is append-only
--
ALTER TABLE workon.spaces ADD COLUMN archived_at timestamptz;

COMMENT ON COLUMN workon.spaces.archived_at IS
'When DELETE archived the space instead of erasing it (it has booking history): unpublished for good, not bookable, not changeable; its bookings, payments and refunds are kept';

GRANT UPDATE (archived_at) ON workon.spaces TO workon_host, workon_admin;

ALTER TABLE workon.bookings
	DROP CONSTRAINT bookings_space_id_fkey,
	ADD CONSTRAINT bookings_space_id_fkey FOREIGN KEY (space_id)
		REFERENCES workon.spaces (id) ON DELETE RESTRICT;
ALTER TABLE workon.payments
	DROP CONSTRAINT payments_booking_id_fkey,
	ADD CONSTRAINT payments_booking_id_fkey FOREIGN KEY (booking_id)
		REFERENCES workon.bookings (id) ON DELETE RESTRICT;
ALTER TABLE workon.refunds
	DROP CONSTRAINT refunds_payment_id_fkey,
	ADD CONSTRAINT refunds_payment_id_fkey FOREIGN KEY (payment_id)
		REFERENCES workon.payments (id) ON DELETE RESTRICT,
	DROP CONSTRAINT refunds_booking_id_fkey,
	ADD CONSTRAINT refunds_booking_id_fkey FOREIGN KEY (booking_id)
		REFERENCES workon.bookings (id) ON DELETE RESTRICT;
ALTER TABLE workon.outbox
	DROP CONSTRAINT outbox_payment_id_fkey,
	ADD CONSTRAINT outbox_payment_id_fkey FOREIGN KEY (payment_id)
		REFERENCES workon.payments (id) ON DELETE RESTRICT,
	DROP CONSTRAINT outbox_refund_id_fkey,
	ADD CONSTRAINT outbox_refund_id_fkey FOREIGN KEY (refund_id)
		REFERENCES workon.refunds (id) ON DELETE RESTRICT,
	DROP CONSTRAINT outbox_booking_id_fkey,
	ADD CONSTRAINT outbox_booking_id_fkey FOREIGN KEY (booking_id)
		REFERENCES workon.bookings (id) ON DELETE RESTRICT;
ALTER TABLE workon.stripe_events
	DROP CONSTRAINT stripe_events_payment_id_fkey,
	ADD CONSTRAINT stripe_events_payment_id_fkey FOREIGN KEY (payment_id)
		REFERENCES workon.payments (id) ON DELETE RESTRICT;

CREATE FUNCTION workon.audit_log_append_only()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = SESSION_USER) THEN
		RAISE EXCEPTION 'the audit log is append-only'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

COMMENT ON FUNCTION workon.audit_log_append_only() IS
'Trigger: audit rows are never changed or deleted, whatever function runs (a superuser''s own session excepted: a DBA keeps the log''s retention)';

CREATE TRIGGER audit_log_append_only
	BEFORE UPDATE OR DELETE ON workon.audit_log
	FOR EACH ROW EXECUTE FUNCTION workon.audit_log_append_only();

REVOKE ALL ON FUNCTION workon.audit_log_append_only() FROM PUBLIC;

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
		'created_at', s.created_at,
		'updated_at', s.updated_at,
		'archived_at', s.archived_at)
$$;

COMMENT ON FUNCTION workon.space_json(workon.spaces) IS
'The API representation of a space';

CREATE OR REPLACE FUNCTION workon.space_check()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF NEW.name IS NULL OR pg_catalog.btrim(NEW.name) = '' THEN
		RAISE EXCEPTION 'name is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(NEW.name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF NEW.kind IS NULL OR NEW.kind NOT IN ('desk', 'private_office', 'meeting_room', 'event_space') THEN
		RAISE EXCEPTION 'kind must be one of desk, private_office, meeting_room, event_space'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'kind';
	END IF;
	IF NEW.city IS NULL OR pg_catalog.btrim(NEW.city) = '' THEN
		RAISE EXCEPTION 'city is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'city';
	END IF;
	IF NEW.address IS NULL OR pg_catalog.btrim(NEW.address) = '' THEN
		RAISE EXCEPTION 'address is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'address';
	END IF;
	IF NEW.capacity IS NULL OR NEW.capacity < 1 THEN
		RAISE EXCEPTION 'capacity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'capacity';
	END IF;
	IF NEW.timezone IS NULL OR NOT workon.valid_timezone(NEW.timezone) THEN
		RAISE EXCEPTION 'timezone must name an IANA time zone such as Europe/Berlin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'timezone';
	END IF;
	IF NEW.hourly_rate_cents IS NULL OR NEW.hourly_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'hourly_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'hourly_rate_cents';
	END IF;
	IF NEW.daily_rate_cents IS NULL OR NEW.daily_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'daily_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'daily_rate_cents';
	END IF;
	NEW.currency := pg_catalog.lower(NEW.currency);
	IF NEW.currency IS NULL OR NEW.currency !~ '^[a-z]{3}$' THEN
		RAISE EXCEPTION 'currency must be a three-letter ISO 4217 code such as eur'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'currency';
	END IF;
	PERFORM workon.opening_hours_check(NEW.opening_hours);
	IF NEW.published IS NULL THEN
		RAISE EXCEPTION 'published must be true or false'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'published';
	END IF;
	IF NEW.published AND NEW.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'an archived space cannot be published again'
			USING ERRCODE = 'WOR01', COLUMN = 'published';
	END IF;
	IF TG_OP = 'UPDATE' AND OLD.archived_at IS NOT NULL
	   AND NEW.archived_at IS DISTINCT FROM OLD.archived_at THEN
		RAISE EXCEPTION 'an archived space stays archived'
			USING ERRCODE = 'WOR01', COLUMN = 'archived_at';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.space_check() IS
'Trigger: validates a space on every insert and update, error 22023 naming the field; lower-cases the currency; WOR01 space_archived for publishing an archived space or un-archiving it';

CREATE OR REPLACE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces := workon.space_writable(space_update.id);
BEGIN
	PERFORM workon.space_body_check(space_update.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published']);

	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_update.id FOR UPDATE;
	IF v.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be changed'
			USING ERRCODE = 'WOR01';
	END IF;
	-- fields present in the body replace the stored ones (null included)
	v := pg_catalog.jsonb_populate_record(v, space_update.body);

	UPDATE workon.spaces AS s
	   SET name = v.name, kind = v.kind, city = v.city, address = v.address,
		   capacity = v.capacity, timezone = v.timezone,
		   hourly_rate_cents = v.hourly_rate_cents, daily_rate_cents = v.daily_rate_cents,
		   currency = v.currency, opening_hours = v.opening_hours, published = v.published
	 WHERE s.id = space_update.id
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_update(uuid, jsonb) IS
'PATCH /api/v1/spaces/{id} (its host, admin): changes the fields present in the body; a field given as null is refused if the space needs it. Existing bookings keep their price; WOR01 space_archived for an archived space';

CREATE OR REPLACE FUNCTION workon.space_delete(id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	PERFORM workon.space_writable(space_delete.id);
	-- serializes with bookings being made (their foreign key check)
	PERFORM FROM workon.spaces AS s WHERE s.id = space_delete.id FOR UPDATE;

	IF EXISTS (SELECT FROM workon.bookings AS b
				WHERE b.space_id = space_delete.id
				  AND b.ends_at > pg_catalog.now()
				  AND (b.status = 'confirmed'
					   OR (b.status = 'pending_payment' AND b.hold_expires_at > pg_catalog.now()))) THEN
		RAISE EXCEPTION 'space has future bookings'
			USING ERRCODE = 'WOC05',
				  HINT = 'Unpublish it instead, or wait until its bookings have ended.';
	END IF;

	-- bookings, their payments and refunds are records: the space is archived
	IF EXISTS (SELECT FROM workon.bookings AS b WHERE b.space_id = space_delete.id) THEN
		UPDATE workon.spaces AS s
		   SET published = false, archived_at = pg_catalog.now()
		 WHERE s.id = space_delete.id AND s.archived_at IS NULL;
	ELSE
		DELETE FROM workon.spaces AS s WHERE s.id = space_delete.id;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.space_delete(uuid) IS
'DELETE /api/v1/spaces/{id} (its host, admin): a space without bookings is deleted; one with booking history is archived (unpublished for good, not bookable, not changeable, still seen by its host and admins; its bookings, payments, refunds and outbound calls are kept); WOC05 has_future_bookings while a confirmed booking or live hold has not ended';

CREATE OR REPLACE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
									  starts_at timestamptz DEFAULT NULL,
									  ends_at timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_now		timestamptz := pg_catalog.now();
	v_space		workon.spaces;
	v_booking	workon.bookings;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF booking_create.space_id IS NULL THEN
		RAISE EXCEPTION 'space_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;

	-- the visibility rule of workon.spaces (this function bypasses it)
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = booking_create.space_id
	   AND (s.published OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be booked'
			USING ERRCODE = 'WOR01';
	END IF;

	PERFORM workon.booking_check(v_space.timezone, v_space.opening_hours,
								 booking_create.starts_at, booking_create.ends_at, v_now);

	/*
	 * One booking of a space at a time, so that concurrent requests for a
	 * slot queue up instead of deadlocking on the exclusion constraint;
	 * then holds past their expiry give their slot up.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
											 pg_catalog.hashtext(v_space.id::text));
	UPDATE workon.bookings AS b
	   SET status = 'expired'
	 WHERE b.space_id = v_space.id
	   AND b.status = 'pending_payment'
	   AND b.hold_expires_at <= v_now
	   AND pg_catalog.tstzrange(b.starts_at, b.ends_at, '[)')
		   OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(booking_create.starts_at, booking_create.ends_at, '[)');

	BEGIN
		INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status,
									 hold_expires_at, price_cents, currency)
		VALUES (v_space.id, v_user, booking_create.starts_at, booking_create.ends_at,
				'pending_payment',
				v_now + pg_catalog.current_setting('workon.booking_hold_minutes')::interval,
				workon.booking_price(v_space.timezone, v_space.hourly_rate_cents,
									 v_space.daily_rate_cents,
									 booking_create.starts_at, booking_create.ends_at),
				v_space.currency)
		RETURNING * INTO v_booking;
	EXCEPTION WHEN exclusion_violation THEN
		RAISE EXCEPTION 'the space is already booked for part of that time'
			USING ERRCODE = 'WOC02';
	END;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_create(uuid, timestamptz, timestamptz) IS
'POST /api/v1/bookings: a hold (pending_payment until hold_expires_at, workon.booking_hold_minutes from now) of a space the caller can see; the rules of workon.booking_check (22023 naming the rule), the price of workon.booking_price; P0002 for an unknown or unseen space, WOR01 space_archived for an archived one (its host, admins); WOC02 booking_conflict if a confirmed booking or live hold overlaps';

UPDATE workon.routes
   SET summary = 'Delete (or, with booking history, archive) a space without future bookings'
 WHERE method = 'DELETE' AND path = '/api/v1/spaces/{id}';

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOR01', 409, 'space_archived');

-- the stored documents of spaces gain archived_at (their triggers, as they
-- would stamp updated_at and log the rewrite, stay out of it)
DO $$
DECLARE
	v_tz		text := pg_catalog.current_setting('TimeZone');
BEGIN
	PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
	PERFORM pg_catalog.set_config('TimeZone', 'UTC', true);
	UPDATE workon.spaces AS s SET doc = workon.space_json(s);
	PERFORM pg_catalog.set_config('session_replication_role', 'origin', true);
	PERFORM pg_catalog.set_config('TimeZone', v_tz, true);
END
$$;

--
-- A cancelled booking keeps no live PaymentIntent: a create call never sent
-- is abandoned, one answered for a cancelled booking is cancelled at once
--
CREATE FUNCTION workon.payment_stop(p_pay workon.payments)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_pay.status IN ('succeeded', 'canceled') THEN
		RETURN;					-- nothing under way; a success is refunded by its caller
	END IF;
	-- a create call never sent is abandoned (sent or being sent: its answer stops it)
	UPDATE workon.outbox AS o
	   SET status = 'failed', last_error = 'abandoned: the booking was cancelled before the call was sent'
	 WHERE o.payment_id = p_pay.id AND o.purpose IN ('payment_intent', 'checkout_session')
	   AND o.status = 'pending' AND o.attempts = 0;
	-- should it succeed anyway, it is refunded (workon.payment_apply)
	IF p_pay.stripe_payment_intent_id IS NOT NULL THEN
		PERFORM workon.outbox_enqueue('stripe', 'payment_intent_cancel',
									  '/v1/payment_intents/' || p_pay.stripe_payment_intent_id || '/cancel',
									  '{}'::jsonb, 'workon:payment_intent_cancel:' || p_pay.id,
									  p_pay.id, NULL, p_pay.booking_id);
	ELSIF p_pay.checkout_session_id IS NOT NULL THEN
		PERFORM workon.outbox_enqueue('stripe', 'checkout_session_expire',
									  '/v1/checkout/sessions/' || p_pay.checkout_session_id || '/expire',
									  '{}'::jsonb, 'workon:checkout_session_expire:' || p_pay.id,
									  p_pay.id, NULL, p_pay.booking_id);
	END IF;
END
$$;

COMMENT ON FUNCTION workon.payment_stop(workon.payments) IS
'Stops a payment whose booking was cancelled, unless it succeeded or was canceled: its create call (PaymentIntent or Checkout Session) is abandoned if it was never sent (outbox row failed), a PaymentIntent Stripe created is cancelled and a Checkout Session expired (outbox calls); a create call sent or being sent is stopped when its answer arrives (workon.outbox_result)';

REVOKE ALL ON FUNCTION workon.payment_stop(workon.payments) FROM PUBLIC;

CREATE OR REPLACE FUNCTION workon.booking_cancel(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_admin		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_booking	workon.bookings;
	v_pay		workon.payments;
	v_status	text;
	v_paid		bigint := 0;
	v_refund	record;
	v_reason	text := 'requested_by_customer';
BEGIN
	SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = booking_cancel.id FOR UPDATE;
	-- the visibility rule of workon.bookings (this function bypasses it)
	IF NOT FOUND
	   OR NOT (v_admin OR v_booking.user_id = v_user
			   OR EXISTS (SELECT FROM workon.spaces AS s
						   WHERE s.id = v_booking.space_id AND s.host_id = v_user)) THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT (v_admin OR v_booking.user_id = v_user) THEN
		RAISE EXCEPTION 'only the member who booked or an admin may cancel a booking'
			USING ERRCODE = 'insufficient_privilege';
	END IF;

	v_status := workon.booking_status(v_booking);
	IF NOT workon.booking_transition_allowed(v_status, 'cancelled') THEN
		RAISE EXCEPTION 'a booking cannot go from % to cancelled', v_status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking.id FOR UPDATE;
	IF v_pay.status = 'succeeded' THEN
		v_paid := GREATEST(v_pay.amount_received_cents - v_pay.refunded_cents, 0);
	END IF;
	SELECT * INTO v_refund FROM workon.booking_refund(v_booking.starts_at, pg_catalog.now(), v_paid);
	IF v_status <> 'confirmed' AND v_paid > 0 THEN
		-- paid without confirming it (another amount): all of it back
		v_refund.percent := 100;
		v_refund.amount_cents := v_paid;
		v_reason := 'booking_cancelled';
	END IF;

	UPDATE workon.bookings AS b
	   SET status = 'cancelled', cancelled_at = pg_catalog.now(),
		   refund_percent = v_refund.percent, refund_cents = v_refund.amount_cents
	 WHERE b.id = v_booking.id
	RETURNING * INTO v_booking;

	IF v_refund.amount_cents > 0 THEN
		PERFORM workon.refund_start(v_pay, v_refund.amount_cents, v_reason);
	ELSIF v_pay.id IS NOT NULL THEN
		PERFORM workon.payment_stop(v_pay);
	END IF;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_cancel(uuid) IS
'POST /api/v1/bookings/{id}/cancel (its member, admin): status cancelled with refund {amount_cents, currency, percent} by workon.booking_refund of what was paid (0 unless confirmed and paid); a paid booking''s refund is a refund row and a Stripe refund call in the same transaction, a payment under way is stopped (workon.payment_stop), a payment that succeeded without confirming the booking (another amount) is refunded in full; WOC04 cannot_cancel once started, WOC03 invalid_transition unless pending (live hold) or confirmed, P0002 for bookings the caller cannot see, 42501 for the space''s host';

--
-- Paying: one sender per outbound call (the others wait for its result), a
-- confirmed booking is not payable; the newest snapshot of a paid
-- PaymentIntent decides
--
ALTER TABLE workon.outbox ADD COLUMN sending_until timestamptz;

COMMENT ON COLUMN workon.outbox.sending_until IS
'Set while a claimer is sending the row (the end of its lease), cleared by its result or error: a client waiting on a row someone else sends waits for its result instead of sending it again';

CREATE FUNCTION workon.outbox_sending(p_id bigint)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE((SELECT o.status = 'pending' AND o.sending_until > pg_catalog.now()
					   FROM workon.outbox AS o WHERE o.id = p_id), false)
$$;

COMMENT ON FUNCTION workon.outbox_sending(bigint) IS
'For the front end, when workon.outbox_claim_id() gave no row: true while another claimer is sending the row (wait and claim again), false once it is done, failed or dead (the request finds the result)';

REVOKE ALL ON FUNCTION workon.outbox_sending(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.outbox_sending(bigint) TO workon_authenticator;

CREATE OR REPLACE FUNCTION workon.outbox_claim(p_kinds text[], p_limit integer)
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
		   next_attempt_at = pg_catalog.now() + interval '60 seconds',
		   sending_until = pg_catalog.now() + interval '60 seconds'
	  FROM due
	 WHERE o.id = due.id
	RETURNING o.id, o.kind, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim(text[], integer) IS
'For the front end: up to p_limit (at most 1000) due pending outbox rows of the given kinds (those it has a transport for), oldest first, skipping rows others hold; each is leased for 60 seconds (attempts + 1, next_attempt_at = now + 60 s), so a row whose claimer dies comes back by itself';

CREATE OR REPLACE FUNCTION workon.outbox_claim_id(p_id bigint)
RETURNS TABLE (id bigint, kind text, method text, path text, params jsonb,
			   idempotency_key text, attempts integer)
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.outbox AS o
	   SET attempts = o.attempts + 1,
		   next_attempt_at = pg_catalog.now() + interval '60 seconds',
		   sending_until = pg_catalog.now() + interval '60 seconds'
	 WHERE o.id = p_id AND o.status = 'pending'
	   AND (o.sending_until IS NULL OR o.sending_until <= pg_catalog.now())
	RETURNING o.id, o.kind, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim_id(bigint) IS
'For the front end, after a handler named the row with workon.wait_for_outbox(): the row if it is still pending and nobody is sending it (whatever its retry time), leased for 60 seconds; no row once it is done, failed or dead, or while another claimer sends it (that client waits for the row''s result instead: one call to the provider, workon.outbox_sending)';

CREATE OR REPLACE FUNCTION workon.outbox_result(p_id bigint, p_http_status integer, p_body jsonb)
RETURNS TABLE (status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
	v_pay		workon.payments;
	v_refund	workon.refunds;
	v_error		text;
	v_status	text;
BEGIN
	IF p_http_status IS NULL OR NOT (p_http_status BETWEEN 200 AND 299 OR p_http_status BETWEEN 400 AND 499) THEN
		RAISE EXCEPTION 'http status must be 2xx or 4xx; report others with workon.outbox_error()'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'p_http_status';
	END IF;
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;

	IF v_o.status = 'pending' THEN
		PERFORM FROM workon.bookings AS b WHERE b.id = v_o.booking_id FOR UPDATE;
		SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = v_o.payment_id FOR UPDATE;
		SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.id = v_o.refund_id FOR UPDATE;
		IF p_http_status < 300 THEN
			IF pg_catalog.jsonb_typeof(p_body) IS DISTINCT FROM 'object' THEN
				RAISE EXCEPTION 'the answer must be a JSON object'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = 'p_body';
			END IF;
			IF v_o.purpose = 'payment_intent' THEN
				UPDATE workon.payments AS p
				   SET stripe_payment_intent_id = p_body ->> 'id',
					   client_secret = p_body ->> 'client_secret',
					   last_error = NULL
				 WHERE p.id = v_pay.id
				RETURNING * INTO v_pay;
			ELSIF v_o.purpose = 'checkout_session' THEN
				UPDATE workon.payments AS p
				   SET checkout_session_id = p_body ->> 'id',
					   checkout_url = p_body ->> 'url',
					   stripe_payment_intent_id = COALESCE(p.stripe_payment_intent_id,
														   p_body ->> 'payment_intent'),
					   last_error = NULL
				 WHERE p.id = v_pay.id
				RETURNING * INTO v_pay;
			ELSIF v_o.purpose = 'refund' THEN
				-- Stripe's status at creation, unless a newer event set one
				v_status := p_body ->> 'status';
				UPDATE workon.refunds AS r
				   SET stripe_refund_id = p_body ->> 'id',
					   status = CASE WHEN workon.refund_transition_allowed(r.status, v_status)
										  AND (r.stripe_status_at IS NULL
											   OR v_status IN ('succeeded', 'failed', 'canceled'))
									 THEN v_status ELSE r.status END,
					   failure_reason = COALESCE(p_body ->> 'failure_reason', r.failure_reason)
				 WHERE r.id = v_refund.id;
			END IF;

			IF v_o.purpose IN ('payment_intent', 'checkout_session') THEN
				-- events that came before the answer belong to this payment
				UPDATE workon.stripe_events AS e
				   SET payment_id = v_pay.id
				 WHERE e.payment_id IS NULL
				   AND (e.payment_intent_id = v_pay.stripe_payment_intent_id
						OR e.checkout_session_id = v_pay.checkout_session_id);
				-- Stripe's status at creation, unless events moved it on
				v_status := p_body ->> 'status';
				IF v_o.purpose = 'payment_intent'
				   AND NOT EXISTS (SELECT FROM workon.stripe_events AS e WHERE e.payment_id = v_pay.id)
				   AND workon.payment_transition_allowed(v_pay.status, v_status)
				   AND v_status NOT IN ('succeeded', 'canceled') THEN
					UPDATE workon.payments AS p SET status = v_status WHERE p.id = v_pay.id;
				END IF;
				v_pay := workon.payment_apply(v_pay.id);
				-- answered for a booking cancelled meanwhile: stopped at once
				IF EXISTS (SELECT FROM workon.bookings AS b
							WHERE b.id = v_pay.booking_id AND b.status = 'cancelled') THEN
					PERFORM workon.payment_stop(v_pay);
				END IF;
			END IF;
			UPDATE workon.outbox AS o
			   SET status = 'done', response_status = p_http_status, last_error = NULL,
				   sending_until = NULL
			 WHERE o.id = v_o.id;
		ELSE
			v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ', p_body #>> '{error,code}',
															p_body #>> '{error,message}'), ''),
								'HTTP ' || p_http_status);
			UPDATE workon.outbox AS o
			   SET status = 'failed', response_status = p_http_status, last_error = v_error,
				   sending_until = NULL
			 WHERE o.id = v_o.id;
			IF v_o.purpose IN ('payment_intent', 'checkout_session') THEN
				UPDATE workon.payments AS p SET last_error = v_error WHERE p.id = v_pay.id;
			ELSIF v_o.purpose = 'refund' THEN
				UPDATE workon.refunds AS r SET status = 'failed', failure_reason = v_error
				 WHERE r.id = v_refund.id AND r.status IN ('pending', 'requires_action');
			END IF;
		END IF;
	END IF;

	RETURN QUERY SELECT r.status, r.headers, r.body FROM workon.outbox_response(p_id) AS r;
END
$$;

COMMENT ON FUNCTION workon.outbox_result(bigint, integer, jsonb) IS
'For the front end: the provider answered an outbox row with a 2xx or 4xx status and a JSON body. 2xx applies the answer (payment <- PaymentIntent id, client_secret, status; checkout <- session id and url; refund <- refund id and status) and marks the row done, and a PaymentIntent or session created for a booking cancelled meanwhile is cancelled or expired at once (workon.payment_stop); 4xx marks it failed with the provider''s error code and message (the payment can start over with a new idempotency key; a refund is failed). A row no longer pending changes nothing. Returns the HTTP response for a client waiting on the row (workon.outbox_response)';

CREATE OR REPLACE FUNCTION workon.outbox_error(p_id bigint, p_error text)
RETURNS TABLE (status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
BEGIN
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_o.status = 'pending' THEN
		IF v_o.attempts >= 8 THEN
			UPDATE workon.outbox AS o
			   SET status = 'dead', last_error = pg_catalog.left(p_error, 1000), sending_until = NULL
			 WHERE o.id = v_o.id;
		ELSE
			UPDATE workon.outbox AS o
			   SET next_attempt_at = pg_catalog.now()
									 + pg_catalog.make_interval(secs => workon.outbox_backoff(GREATEST(o.attempts, 1))),
				   last_error = pg_catalog.left(p_error, 1000), sending_until = NULL
			 WHERE o.id = v_o.id;
		END IF;
	END IF;
	RETURN QUERY SELECT r.status, r.headers, r.body FROM workon.outbox_response(p_id) AS r;
END
$$;

COMMENT ON FUNCTION workon.outbox_error(bigint, text) IS
'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts (last_error kept; the payment or refund stays pending and can be started again). A row no longer pending changes nothing. Returns the HTTP response for a waiting client: 503 unavailable with Retry-After';

CREATE OR REPLACE FUNCTION workon.payment_for_booking(p_booking_id uuid, p_method text)
RETURNS workon.payments
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_booking	workon.bookings;
	v_pay		workon.payments;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = p_booking_id FOR UPDATE;
	IF NOT FOUND OR v_booking.user_id <> v_user THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking.id FOR UPDATE;
	IF FOUND AND v_pay.method <> p_method THEN
		RAISE EXCEPTION 'this booking is being paid with %', pg_catalog.replace(v_pay.method, '_', ' ')
			USING ERRCODE = 'WOC06',
				  HINT = CASE v_pay.method WHEN 'checkout' THEN 'Use POST /api/v1/bookings/{id}/checkout.'
										   ELSE 'Use POST /api/v1/bookings/{id}/payment.' END;
	END IF;
	IF workon.booking_status(v_booking) <> 'pending_payment' THEN
		RAISE EXCEPTION 'only a booking pending payment can be paid; this one is %',
						workon.booking_status(v_booking)
			USING ERRCODE = 'WOC06';
	END IF;
	IF v_pay.stripe_payment_intent_id IS NOT NULL OR v_pay.checkout_session_id IS NOT NULL THEN
		RETURN v_pay;			-- answered before: the same payment
	END IF;
	IF v_pay.id IS NULL THEN
		INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency)
		VALUES (v_booking.id, v_user, p_method, v_booking.price_cents, v_booking.currency)
		RETURNING * INTO v_pay;
	END IF;
	RETURN v_pay;
END
$$;

COMMENT ON FUNCTION workon.payment_for_booking(uuid, text) IS
'The payment of one of the caller''s bookings, created (status requires_payment_method, the booking''s price) if missing: P0002 for a booking that is not the caller''s; WOC06 booking_not_payable when the booking is not pending payment (a confirmed one too: it is paid) or is being paid with the other method';

CREATE OR REPLACE FUNCTION workon.payment_apply(p_payment_id uuid)
RETURNS workon.payments
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pay		workon.payments;
	v_booking	workon.bookings;
	e			workon.stripe_events;
	o			jsonb;
	-- the fold
	v_status	text;
	v_next		text;
	v_amount	bigint;
	v_currency	text;
	v_pi		text;
	v_error		text;
	v_refunded	bigint := 0;
	v_disputed	boolean := false;
	v_succeeded_at timestamptz;
	v_snapshot	bigint;
	v_mismatch	boolean := false;
	v_differ	boolean := false;
	-- applying it
	v_flags		text[];
	v_ok		boolean;
	v_covered	bigint;
	v_rest		bigint;
	r			workon.refunds;
BEGIN
	-- locks in the order every writer takes them: booking, then payment
	SELECT b.* INTO v_booking
	  FROM workon.bookings AS b JOIN workon.payments AS p ON p.booking_id = b.id
	 WHERE p.id = p_payment_id
	   FOR UPDATE OF b;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = p_payment_id FOR UPDATE;

	/*
	 * The fold, in canonical order: a final status (succeeded, canceled) is
	 * never left; among the others the last one wins.  A refund implies
	 * that the payment succeeded, whatever arrived first.
	 */
	FOR e IN SELECT * FROM workon.stripe_events AS se
			  WHERE se.payment_id = v_pay.id
			  ORDER BY se.created, se.precedence, se.id
	LOOP
		o := e.object;
		v_pi := COALESCE(v_pi, e.payment_intent_id);
		v_next := CASE e.type
				  WHEN 'payment_intent.requires_action' THEN 'requires_action'
				  WHEN 'payment_intent.processing' THEN 'processing'
				  WHEN 'payment_intent.amount_capturable_updated' THEN 'requires_capture'
				  WHEN 'payment_intent.payment_failed' THEN 'requires_payment_method'
				  WHEN 'checkout.session.async_payment_failed' THEN 'requires_payment_method'
				  -- unpaid: an asynchronous method, wait for its outcome
				  WHEN 'checkout.session.completed' THEN
					  CASE WHEN o ->> 'payment_status' IN ('paid', 'no_payment_required')
						   THEN 'succeeded' ELSE 'processing' END
				  WHEN 'checkout.session.async_payment_succeeded' THEN 'succeeded'
				  WHEN 'payment_intent.succeeded' THEN 'succeeded'
				  WHEN 'payment_intent.canceled' THEN 'canceled'
				  -- a refunded charge was paid
				  WHEN 'charge.refunded' THEN 'succeeded'
				  END;
		IF v_next IS NOT NULL AND v_status IS DISTINCT FROM 'succeeded'
		   AND v_status IS DISTINCT FROM 'canceled' THEN
			v_status := v_next;
			IF v_next = 'succeeded' THEN
				v_amount := COALESCE(o ->> 'amount_received', o ->> 'amount_total',
									 o ->> 'amount_captured')::bigint;
				v_currency := pg_catalog.lower(o ->> 'currency');
				v_succeeded_at := e.created;
				v_mismatch := (v_amount, v_currency)
							  IS DISTINCT FROM (v_booking.price_cents, v_booking.currency);
			ELSIF v_next = 'requires_payment_method' THEN
				v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ',
										   o #>> '{last_payment_error,code}',
										   o #>> '{last_payment_error,message}'), ''),
									NULLIF(pg_catalog.split_part(e.type, '.', 3), ''),
									pg_catalog.split_part(e.type, '.', 2));
			END IF;
		ELSIF v_next = 'succeeded' AND v_status = 'succeeded' THEN
			-- a newer snapshot of the paid object: its amount and currency
			-- decide, a disagreement is kept (as a flag, whatever the order)
			v_snapshot := COALESCE(o ->> 'amount_received', o ->> 'amount_total',
								   o ->> 'amount_captured')::bigint;
			IF v_snapshot IS NOT NULL THEN
				v_differ := v_differ OR (v_snapshot, pg_catalog.lower(o ->> 'currency'))
										IS DISTINCT FROM (v_amount, v_currency);
				v_amount := v_snapshot;
				v_currency := pg_catalog.lower(o ->> 'currency');
				v_mismatch := v_mismatch OR (v_amount, v_currency)
											IS DISTINCT FROM (v_booking.price_cents, v_booking.currency);
			END IF;
		END IF;
		IF e.type = 'charge.refunded' THEN
			v_refunded := GREATEST(v_refunded, COALESCE((o ->> 'amount_refunded')::bigint, 0));
		ELSIF e.type = 'charge.dispute.created' THEN
			v_disputed := true;
		END IF;
	END LOOP;

	-- the payment: a final status stays final whatever the events say
	v_flags := v_pay.flags;
	IF v_status IS NOT NULL AND v_status <> v_pay.status
	   AND workon.payment_transition_allowed(v_pay.status, v_status) THEN
		v_pay.status := v_status;
		IF v_status = 'succeeded' THEN
			v_pay.amount_received_cents := v_amount;
			v_pay.received_currency := v_currency;
			v_pay.succeeded_at := v_succeeded_at;
		END IF;
	ELSIF v_status IS NOT NULL AND v_status <> v_pay.status THEN
		v_flags := v_flags || 'conflicting_events'::text;
	ELSIF v_status = 'succeeded' AND v_pay.status = 'succeeded' THEN
		-- the newest snapshot of the paid object decides
		v_pay.amount_received_cents := v_amount;
		v_pay.received_currency := v_currency;
	END IF;
	IF v_differ THEN
		v_flags := v_flags || 'conflicting_events'::text;
	END IF;
	v_ok := v_pay.status = 'succeeded'
			AND v_pay.amount_received_cents IS NOT DISTINCT FROM v_booking.price_cents
			AND v_pay.received_currency IS NOT DISTINCT FROM v_booking.currency;
	IF v_pay.status = 'succeeded' AND (NOT v_ok OR v_mismatch) THEN
		v_flags := v_flags || 'amount_mismatch'::text;
	END IF;
	IF v_disputed THEN
		v_flags := v_flags || 'disputed'::text;
	END IF;
	v_flags := ARRAY(SELECT DISTINCT f FROM pg_catalog.unnest(v_flags) AS f ORDER BY f);

	UPDATE workon.payments AS p
	   SET status = v_pay.status,
		   stripe_payment_intent_id = COALESCE(p.stripe_payment_intent_id, v_pi),
		   amount_received_cents = v_pay.amount_received_cents,
		   received_currency = v_pay.received_currency,
		   succeeded_at = v_pay.succeeded_at,
		   refunded_cents = GREATEST(p.refunded_cents, v_refunded),
		   last_error = COALESCE(v_error, p.last_error),
		   flags = v_flags
	 WHERE p.id = v_pay.id
	RETURNING * INTO v_pay;

	-- the booking
	v_flags := ARRAY(SELECT f FROM pg_catalog.unnest(v_flags) AS f
					  WHERE f IN ('amount_mismatch', 'disputed'));
	IF NOT v_booking.flags @> v_flags THEN
		UPDATE workon.bookings AS b
		   SET flags = ARRAY(SELECT DISTINCT f FROM pg_catalog.unnest(b.flags || v_flags) AS f ORDER BY f)
		 WHERE b.id = v_booking.id
		RETURNING * INTO v_booking;
	END IF;

	IF v_ok AND v_booking.status = 'pending_payment' THEN
		-- a hold past its expiry still holds its slot until it is marked
		-- expired, so the slot is free
		UPDATE workon.bookings AS b SET status = 'confirmed'
		 WHERE b.id = v_booking.id
		RETURNING * INTO v_booking;
	ELSIF v_ok AND v_booking.status = 'expired' THEN
		-- queue up with bookings of the space, as workon.booking_create does
		PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
												 pg_catalog.hashtext(v_booking.space_id::text));
		BEGIN
			UPDATE workon.bookings AS b SET status = 'confirmed'
			 WHERE b.id = v_booking.id
			RETURNING * INTO v_booking;
		EXCEPTION WHEN exclusion_violation THEN
			NULL;				-- the slot went to someone else: refunded below
		END;
	END IF;
	IF v_ok AND v_booking.status = 'confirmed' THEN
		PERFORM workon.email_enqueue(v_pay.user_id, 'booking_confirmed',
									 pg_catalog.jsonb_build_object(
										 'booking_id', v_booking.id,
										 'space_id', v_booking.space_id,
										 'starts_at', v_booking.starts_at,
										 'ends_at', v_booking.ends_at,
										 'amount_cents', v_pay.amount_received_cents,
										 'currency', v_pay.received_currency),
									 'booking_confirmed:' || v_booking.id, v_booking.id);
	END IF;

	-- paid for a booking that cannot be had: all of it back, once
	IF v_pay.status = 'succeeded' AND v_pay.amount_received_cents > 0
	   AND v_booking.status IN ('expired', 'cancelled')
	   AND v_pay.refunded_cents = 0
	   AND NOT EXISTS (SELECT FROM workon.refunds AS rf WHERE rf.payment_id = v_pay.id) THEN
		PERFORM workon.refund_start(v_pay, v_pay.amount_received_cents,
									CASE v_booking.status WHEN 'expired' THEN 'slot_unavailable'
														  ELSE 'booking_cancelled' END);
	END IF;

	IF v_pay.status = 'canceled' AND v_booking.status = 'pending_payment' THEN
		UPDATE workon.bookings AS b
		   SET status = 'cancelled', cancelled_at = pg_catalog.now()
		 WHERE b.id = v_booking.id
		RETURNING * INTO v_booking;
	END IF;

	/*
	 * Refunds Stripe reports (charge.refunded carries the charge's total):
	 * what our own refunds do not cover yet settles the pending ones,
	 * oldest first; the rest was refunded in Stripe itself, one row per
	 * payment that grows with the total (so that two reports in either
	 * order leave the same rows).
	 */
	IF v_pay.refunded_cents > 0 THEN
		SELECT COALESCE(pg_catalog.sum(rf.amount_cents), 0) INTO v_covered
		  FROM workon.refunds AS rf
		 WHERE rf.payment_id = v_pay.id AND rf.status = 'succeeded' AND rf.reason <> 'stripe';
		v_rest := v_pay.refunded_cents - v_covered;
		FOR r IN SELECT * FROM workon.refunds AS rf
				  WHERE rf.payment_id = v_pay.id AND rf.status IN ('pending', 'requires_action')
				  ORDER BY rf.created_at, rf.id
		LOOP
			EXIT WHEN v_rest < r.amount_cents;
			UPDATE workon.refunds AS rf SET status = 'succeeded' WHERE rf.id = r.id;
			v_rest := v_rest - r.amount_cents;
		END LOOP;
		IF v_rest > 0 THEN
			UPDATE workon.refunds AS rf SET amount_cents = v_rest
			 WHERE rf.payment_id = v_pay.id AND rf.reason = 'stripe' AND rf.amount_cents < v_rest;
			IF NOT FOUND AND NOT EXISTS (SELECT FROM workon.refunds AS rf
										  WHERE rf.payment_id = v_pay.id AND rf.reason = 'stripe') THEN
				INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, status, reason)
				VALUES (v_pay.id, v_pay.booking_id, v_rest,
						COALESCE(v_pay.received_currency, v_pay.currency), 'succeeded', 'stripe')
				RETURNING * INTO r;
				PERFORM workon.email_enqueue(v_pay.user_id, 'refund',
											 pg_catalog.jsonb_build_object('booking_id', v_pay.booking_id,
																		   'refund_id', r.id,
																		   'amount_cents', r.amount_cents,
																		   'currency', r.currency,
																		   'reason', r.reason),
											 'refund:' || r.id, v_pay.booking_id);
			END IF;
		END IF;
		-- the booking ends cancelled, its refund what Stripe refunded
		IF v_booking.status = 'confirmed'
		   OR (v_booking.status = 'cancelled' AND v_booking.refund_cents IS DISTINCT FROM v_pay.refunded_cents
			   AND COALESCE(v_booking.refund_cents, 0) < v_pay.refunded_cents) THEN
			UPDATE workon.bookings AS b
			   SET status = 'cancelled', cancelled_at = COALESCE(b.cancelled_at, pg_catalog.now()),
				   refund_cents = v_pay.refunded_cents,
				   refund_percent = LEAST(100, (v_pay.refunded_cents * 100
												+ v_pay.amount_received_cents / 2)
											   / GREATEST(v_pay.amount_received_cents, 1))
			 WHERE b.id = v_booking.id
			RETURNING * INTO v_booking;
		END IF;
	END IF;

	RETURN v_pay;
END
$$;

COMMENT ON FUNCTION workon.payment_apply(uuid) IS
'Folds the stored Stripe events of a payment, in canonical order (created, then workon.stripe_event_precedence, then id), into its state and applies it to the payment and its booking in the caller''s transaction: a final status is never left, and among the snapshots of a paid object the newest decides the amount and currency received (a disagreement flags conflicting_events); succeeded with the booking''s amount and currency confirms the booking (an expired hold too if its slot is still free) and queues the confirmation e-mail, otherwise flags amount_mismatch; a payment for a booking that cannot be had any more is refunded in full; canceled cancels a pending booking; charge.refunded settles refunds (what our refunds do not cover is one refund row of reason stripe) and cancels a confirmed booking, its refund what Stripe refunded; charge.dispute.created flags the booking. The result depends on the set of events, not on the order they arrived in';

--
-- Users: disabled accounts, and a token acts with its user's current role
--
ALTER TABLE workon.users ADD COLUMN disabled boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN workon.users.disabled IS
'A disabled user cannot log in, refresh or use an access token (401 invalid_token on the next request)';

CREATE FUNCTION workon.users_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'users_changed'
LANGUAGE C;

COMMENT ON FUNCTION workon.users_changed() IS
'Trigger: a change of users'' roles or states (or a deletion) reaches every session''s cache of them (extension/users.c) when it commits, so that a token acts with its user''s current role from the next request on, and not at all once the user is disabled or deleted';

CREATE TRIGGER users_changed
	AFTER UPDATE OF role, disabled OR DELETE ON workon.users
	FOR EACH STATEMENT EXECUTE FUNCTION workon.users_changed();

REVOKE ALL ON FUNCTION workon.users_changed() FROM PUBLIC;

CREATE OR REPLACE FUNCTION workon.auth_login(email text DEFAULT NULL, password text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
	v_hash		text;
	v_disabled	boolean;
BEGIN
	IF auth_login.email IS NULL OR pg_catalog.btrim(auth_login.email) = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF auth_login.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	SELECT u.id, u.password_hash, u.disabled INTO v_id, v_hash, v_disabled
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(auth_login.email));

	-- the same work and the same answer for an unknown email (and a disabled account)
	IF NOT workon.password_verify(auth_login.password, v_hash) OR v_id IS NULL OR v_disabled THEN
		RAISE EXCEPTION 'invalid email or password'
			USING ERRCODE = 'WOA01';
	END IF;

	IF workon.password_needs_rehash(v_hash) THEN
		UPDATE workon.users AS u
		   SET password_hash = workon.password_hash(auth_login.password)
		 WHERE u.id = v_id;
	END IF;

	RETURN workon.session_issue(v_id);
END
$$;

COMMENT ON FUNCTION workon.auth_login(text, text) IS
'POST /api/v1/auth/login: tokens for the user with that email (case-insensitive) and password; WOA01 invalid_credentials alike for an unknown email, a wrong password and a disabled account. Rehashes the password when its scrypt parameters are below the current ones';

CREATE OR REPLACE FUNCTION workon.auth_refresh(refresh_token text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the row lock serializes concurrent refreshes of one token
	v_token		workon.refresh_tokens := workon.refresh_token_lock(auth_refresh.refresh_token);
BEGIN
	IF NOT EXISTS (SELECT FROM workon.users AS u WHERE u.id = v_token.user_id AND NOT u.disabled) THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = 'WOA03';
	END IF;

	IF v_token.used_at IS NULL THEN
		UPDATE workon.refresh_tokens AS t SET used_at = pg_catalog.now() WHERE t.id = v_token.id;
	ELSIF pg_catalog.now() - v_token.used_at
		  > pg_catalog.make_interval(secs => workon.token_ttl('refresh_grace')) THEN
		/*
		 * Replayed after the grace period: stolen, or a client gone wrong.
		 * The whole family is revoked, and that must be committed, so the
		 * refusal is a 401 response rather than an error.
		 */
		PERFORM workon.refresh_family_revoke(v_token, 'token_reused');
		PERFORM workon.set_response(401, NULL);
		RETURN '{"error":{"code":"token_reused","message":"refresh token already used; all sessions of this login are revoked","details":{}}}'::json;
	END IF;
	-- else: replayed within the grace period (two tabs at once): a sibling

	RETURN workon.session_issue(v_token.user_id, v_token.family_id, v_token.id);
END
$$;

COMMENT ON FUNCTION workon.auth_refresh(text) IS
'POST /api/v1/auth/refresh: a new token pair for a refresh token, which is used up. A used one replayed within workon.refresh_grace seconds of its rotation gets a new pair of the same family; later, the family is revoked and the result is status 401 with the error body {"error":{"code":"token_reused",...}} (returned, not raised, so that the revocation commits). Unknown, revoked or expired, or its user disabled: WOA03 invalid_refresh_token';

CREATE FUNCTION workon.admin_user_update(id uuid, role text DEFAULT NULL, disabled boolean DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_id		uuid;
	v_disabled	boolean;
BEGIN
	IF admin_user_update.role IS NULL AND admin_user_update.disabled IS NULL
	   OR admin_user_update.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF admin_user_update.disabled AND admin_user_update.id = workon.current_user_id() THEN
		RAISE EXCEPTION 'an admin cannot disable their own account'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'disabled';
	END IF;

	UPDATE workon.users AS u
	   SET role = COALESCE(admin_user_update.role, u.role),
		   disabled = COALESCE(admin_user_update.disabled, u.disabled)
	 WHERE u.id = admin_user_update.id
	RETURNING u.id, u.disabled INTO v_id, v_disabled;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	-- the user object with one member more, compact like every answer
	RETURN workon.json_trusted(pg_catalog.rtrim(workon.user_json(v_id)::text, '}')
							   || ',"disabled":' || v_disabled::text || '}');
END
$$;

COMMENT ON FUNCTION workon.admin_user_update(uuid, text, boolean) IS
'PATCH /api/v1/admin/users/{id} {role, disabled} (admins only; audited): changes a user''s role and/or disables or enables the account (not one''s own); the user''s next request acts with the new role, and a disabled user''s tokens, login and refresh are refused at once. Returns the user with disabled';

GRANT SELECT (disabled) ON workon.users TO workon_member, workon_host, workon_admin;
GRANT UPDATE (disabled) ON workon.users TO workon_admin;
REVOKE ALL ON FUNCTION workon.admin_user_update(uuid, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.admin_user_update(uuid, text, boolean) TO workon_admin;

UPDATE workon.routes
   SET handler = 'workon.admin_user_update(uuid,text,boolean)'::regprocedure,
	   summary = 'Change a user''s role, disable or enable the account'
 WHERE method = 'PATCH' AND path = '/api/v1/admin/users/{id}';

DROP FUNCTION workon.admin_user_update(uuid, text);

--
-- Idempotency keys: a POST sent again with the same Idempotency-Key gets the
-- answer of the first, stored in the transaction of its write
--
CREATE TABLE workon.idempotency_keys (
	scope		text NOT NULL,
	key			text NOT NULL,
	fingerprint	bytea NOT NULL,
	status		integer,
	headers		text,
	body		text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key)
);

COMMENT ON TABLE workon.idempotency_keys IS
'Answers of POST requests sent with an Idempotency-Key, per caller (scope: the user id; anonymous requests, whose answers carry credentials such as a token pair, are never stored), kept 24 hours: the request''s fingerprint (handler, parameters, body) and the status, headers and body the handler gave, written in the transaction of the request''s own changes';

CREATE INDEX idempotency_keys_created_at_idx ON workon.idempotency_keys (created_at);

ALTER TABLE workon.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.idempotency_keys FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.idempotency_begin(p_key text, p_fingerprint bytea, p_token text,
										 OUT scope text, OUT status integer, OUT headers text,
										 OUT body text, OUT replay boolean)
RETURNS record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_row		workon.idempotency_keys;
BEGIN
	IF p_key IS NULL OR pg_catalog.length(p_key) NOT BETWEEN 1 AND 255
	   OR p_key !~ '^[\x21-\x7e]+$' THEN
		RAISE EXCEPTION 'Idempotency-Key must be 1 to 255 visible ASCII characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'Idempotency-Key';
	END IF;
	replay := false;
	-- anonymous answers (a token pair, say) are not kept: scope NULL, the request just runs
	IF p_token IS NULL THEN
		RETURN;
	END IF;
	-- the caller's own keys (a bad token is refused here as by workon.dispatch)
	scope := workon.jwt_verify(p_token) ->> 'sub';
	-- one request per key at a time; the lock lasts until the answer is committed
	IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('workon.idempotency_keys'),
												pg_catalog.hashtext(scope || ' ' || p_key)) THEN
		RAISE EXCEPTION 'a request with this Idempotency-Key is still being processed'
			USING ERRCODE = 'WOI02', HINT = 'Retry once it has been answered.';
	END IF;
	SELECT * INTO v_row FROM workon.idempotency_keys AS k
	 WHERE k.scope = idempotency_begin.scope AND k.key = p_key
	   AND k.created_at > pg_catalog.now() - interval '24 hours';
	replay := FOUND;
	IF replay AND v_row.fingerprint <> p_fingerprint THEN
		RAISE EXCEPTION 'this Idempotency-Key was used for another request'
			USING ERRCODE = 'WOI01', HINT = 'Use a new key for a new request.';
	END IF;
	status := v_row.status;
	headers := v_row.headers;
	body := v_row.body;
END
$$;

COMMENT ON FUNCTION workon.idempotency_begin(text, bytea, text) IS
'For workon.dispatch_idempotent: the caller''s scope (user id of the token; NULL for an anonymous request, which is not kept) and, when the key was used in the last 24 hours for the same request, its stored answer (replay); WOI02 idempotency_key_in_use while another request with the key runs, WOI01 idempotency_key_reused for another request with the key, 22023 for a malformed key';

CREATE FUNCTION workon.idempotency_store(p_key text, p_fingerprint bytea,
										 p_status integer, p_headers text, p_body text)
RETURNS void
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO workon.idempotency_keys AS k (scope, key, fingerprint, status, headers, body)
	SELECT workon.current_user_id()::text, p_key, p_fingerprint, p_status, p_headers, p_body
	 WHERE workon.current_user_id() IS NOT NULL
	ON CONFLICT (scope, key) DO UPDATE
	   SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, headers = EXCLUDED.headers,
		   body = EXCLUDED.body, created_at = pg_catalog.now()
	 WHERE k.created_at <= pg_catalog.now() - interval '24 hours'
$$;

COMMENT ON FUNCTION workon.idempotency_store(text, bytea, integer, text, text) IS
'For workon.dispatch_idempotent, as the caller of the request: stores its answer under the caller''s key (a key older than 24 hours is reused)';

CREATE FUNCTION workon.dispatch_idempotent(handler oid, params jsonb, query jsonb,
										   request_body text, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body text, user_id uuid, outbox_id int8)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	-- a structured-field string ("...") or the bare key
	v_key		text := pg_catalog.regexp_replace(meta #>> '{headers,idempotency-key}', '^"(.*)"$', '\1');
	v_fingerprint bytea := pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.concat_ws(E'\n',
								handler::text, params::text, query::text, request_body), 'UTF8'));
	v_seen		record;
	r			record;
BEGIN
	SELECT * INTO v_seen FROM workon.idempotency_begin(v_key, v_fingerprint, token) AS b;
	IF v_seen.replay THEN
		RETURN QUERY SELECT v_seen.status, v_seen.headers, v_seen.body, v_seen.scope::uuid, NULL::int8;
		RETURN;
	END IF;
	SELECT * INTO r FROM workon.dispatch(handler, params, query, request_body, token, meta) AS d;
	-- an answer still waiting on an outbound call is not final: a retry asks the handler again
	IF r.outbox_id IS NULL AND v_seen.scope IS NOT NULL THEN
		PERFORM workon.idempotency_store(v_key, v_fingerprint, r.status, r.headers, r.body);
	END IF;
	RETURN QUERY SELECT r.status, r.headers, r.body, r.user_id, r.outbox_id;
END
$$;

COMMENT ON FUNCTION workon.dispatch_idempotent(oid, jsonb, jsonb, text, text, jsonb) IS
'workon.dispatch for a POST with an Idempotency-Key (meta.headers.idempotency-key; IETF httpapi draft): the same key and request within 24 hours get the stored answer without running the handler again (the answer is stored in the transaction of the request''s changes, so a retry after a lost answer is safe); another request with the key is WOI01 idempotency_key_reused (422), one while the first still runs WOI02 idempotency_key_in_use (409); per user: an anonymous request (login, registration, refresh: answers with credentials) only has its key checked and runs as usual';

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOI01', 422, 'idempotency_key_reused'),
	('WOI02', 409, 'idempotency_key_in_use');

REVOKE ALL ON FUNCTION workon.idempotency_begin(text, bytea, text), workon.idempotency_store(text, bytea, integer, text, text),
	workon.dispatch_idempotent(oid, jsonb, jsonb, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.idempotency_begin(text, bytea, text),
	workon.dispatch_idempotent(oid, jsonb, jsonb, text, text, jsonb) TO workon_authenticator;
-- the handler has switched to the caller's API role when the answer is stored
GRANT EXECUTE ON FUNCTION workon.idempotency_store(text, bytea, integer, text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- pg_dump: stored answers are data (a retry after a restore still finds them)
SELECT pg_catalog.pg_extension_config_dump('workon.idempotency_keys', '');

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
			   p.prosrc,
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
											 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for, with Content-Range"},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag"},
					 "416": {"description": "Range Not Satisfiable"}}'::jsonb;
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a weak ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
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

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';


--
-- Conversations, messages and realtime events (sql/src/40_messages.sql)
--
--
-- Conversations: a member and the host of a space, one per (space, member)
--
-- Posting a message locks its conversation row (last_seq + 1), so the
-- messages of a conversation are numbered in commit order and a read
-- marker (the seq read up to) is exact: a message either is read or it
-- is not, whatever commits around it.
--
CREATE TABLE workon.conversations (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	space_id	uuid REFERENCES workon.spaces (id) ON DELETE SET NULL,
	member_id	uuid NOT NULL REFERENCES workon.users (id),
	host_id		uuid NOT NULL REFERENCES workon.users (id),
	last_seq	bigint NOT NULL DEFAULT 0,
	member_read_seq bigint NOT NULL DEFAULT 0,
	host_read_seq bigint NOT NULL DEFAULT 0,
	last_message_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT conversations_participants_check CHECK (member_id <> host_id),
	CONSTRAINT conversations_read_seq_check
		CHECK (member_read_seq BETWEEN 0 AND last_seq AND host_read_seq BETWEEN 0 AND last_seq),
	CONSTRAINT conversations_space_id_member_id_key UNIQUE (space_id, member_id)
);

COMMENT ON TABLE workon.conversations IS
'A member and the host of a space talking about it (one per space and member); last_seq numbers its messages, member_read_seq and host_read_seq say what each participant has read';

CREATE INDEX conversations_member_id_idx ON workon.conversations (member_id);
CREATE INDEX conversations_host_id_idx ON workon.conversations (host_id);

CREATE TRIGGER conversations_set_updated_at
	BEFORE UPDATE ON workon.conversations
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

-- opening a conversation and reading it are audited; a message posted is
-- audited as the message
CREATE TRIGGER conversations_audit
	AFTER INSERT OR UPDATE OF member_read_seq, host_read_seq ON workon.conversations
	FOR EACH ROW WHEN (NOT workon.restoring('workon.conversations'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.conversations FORCE ROW LEVEL SECURITY;

-- Its two participants see a conversation, admins too.  Writes go through
-- the conversation functions only.
CREATE POLICY conversations_visible ON workon.conversations
	FOR SELECT
	USING (member_id = workon.current_user_id()
		   OR host_id = workon.current_user_id()
		   OR workon.current_role() = 'admin');

GRANT SELECT ON workon.conversations TO workon_member, workon_host, workon_admin;

CREATE TABLE workon.messages (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	conversation_id uuid NOT NULL REFERENCES workon.conversations (id) ON DELETE CASCADE,
	seq			bigint NOT NULL,
	sender_id	uuid NOT NULL REFERENCES workon.users (id),
	body		text NOT NULL
				CONSTRAINT messages_body_check
				CHECK (pg_catalog.char_length(body) BETWEEN 1 AND 4000),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	CONSTRAINT messages_conversation_id_seq_key UNIQUE (conversation_id, seq)
);

COMMENT ON TABLE workon.messages IS
'Messages of a conversation: seq in commit order within it, body of 1 to 4,000 characters (trimmed)';

CREATE INDEX messages_conversation_id_created_at_idx
	ON workon.messages (conversation_id, created_at DESC, id DESC);

ALTER TABLE workon.messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.messages FORCE ROW LEVEL SECURITY;

-- A message is seen by whoever sees its conversation.
CREATE POLICY messages_visible ON workon.messages
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.conversations AS c WHERE c.id = conversation_id));

GRANT SELECT ON workon.messages TO workon_member, workon_host, workon_admin;

--
-- Realtime events
--
-- A change a client should learn of at once (a message, a read marker, a
-- booking's or a payment's status) writes an event in its own transaction:
-- type, recipients (user ids) and data.  Its public id, pos, is not taken
-- at insert: ids taken before commit become visible out of order, and a
-- reader that remembers "the highest id seen" would skip the event of a
-- slower transaction.  workon.events_publish() numbers the committed
-- events that have no pos yet, under a lock, in transactions that follow
-- one another; so once a reader sees pos N, every pos below N is visible
-- to it too, and "pos > since" never skips an event.  The shim publishes
-- when NOTIFY workon_events wakes it (or on its poll), then fans the
-- published events out.
--
CREATE TABLE workon.events (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	type		text NOT NULL
				CONSTRAINT events_type_check
				CHECK (type IN ('message.created', 'conversation.read', 'booking.updated',
								'payment.updated', 'session.revoked')),
	recipients	uuid[] NOT NULL
				CONSTRAINT events_recipients_check CHECK (pg_catalog.cardinality(recipients) > 0),
	data		json NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	pos			bigint
				CONSTRAINT events_pos_key UNIQUE
);

COMMENT ON TABLE workon.events IS
'Realtime events: type, recipients and data, written in the transaction of the change; pos is the public cursor, given after commit by workon.events_publish(); kept workon.event_retention (24 h); session.revoked is for the front end (it closes the recipients'' sockets), never sent to clients';

CREATE INDEX events_unpublished_idx ON workon.events (id) WHERE pos IS NULL;

ALTER TABLE workon.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.events FORCE ROW LEVEL SECURITY;

-- A user reads the published events sent to them.
CREATE POLICY events_recipient ON workon.events
	FOR SELECT
	USING (pos IS NOT NULL AND recipients @> ARRAY[workon.current_user_id()]);

GRANT SELECT ON workon.events TO workon_member, workon_host, workon_admin;

CREATE FUNCTION workon.events_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_events', '');
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.events_notify() IS
'Trigger: NOTIFY workon_events (empty payload, one per transaction) so the front end publishes and fans out new events';

CREATE TRIGGER events_notify
	AFTER INSERT ON workon.events
	FOR EACH STATEMENT EXECUTE FUNCTION workon.events_notify();

CREATE FUNCTION workon.event_emit(p_type text, p_recipients uuid[], p_data json)
RETURNS void
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO workon.events (type, recipients, data)
	SELECT p_type, pg_catalog.array_agg(DISTINCT r), p_data
	  FROM pg_catalog.unnest(p_recipients) AS r
	 WHERE r IS NOT NULL
	HAVING pg_catalog.count(r) > 0
$$;

COMMENT ON FUNCTION workon.event_emit(text, uuid[], json) IS
'Writes an event for the distinct non-NULL recipients (none: nothing written); for the extension''s own functions and triggers';

CREATE FUNCTION workon.events_cleanup()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the setting is the library's; a session that has not loaded it yet
	-- reads what ALTER DATABASE / ALTER SYSTEM gave, else the default
	v_cutoff	timestamptz := pg_catalog.now()
				- COALESCE(NULLIF(pg_catalog.current_setting('workon.event_retention', true), ''), '1d')::interval;
	v_deleted	bigint;
BEGIN
	-- one index probe when nothing is due (every publish calls this)
	IF NOT EXISTS (SELECT FROM (SELECT o.created_at FROM workon.events AS o
								 WHERE o.pos IS NOT NULL ORDER BY o.pos LIMIT 1) AS oldest
					WHERE oldest.created_at < v_cutoff) THEN
		RETURN 0;
	END IF;
	-- the newest published event stays: publishing counts on from its pos
	DELETE FROM workon.events AS e
	 WHERE e.id IN (SELECT o.id FROM workon.events AS o
					 WHERE o.pos IS NOT NULL
					   AND o.pos < (SELECT pg_catalog.max(m.pos) FROM workon.events AS m)
					 ORDER BY o.pos
					 LIMIT 10000)
	   AND e.created_at < v_cutoff;
	GET DIAGNOSTICS v_deleted = ROW_COUNT;
	RETURN v_deleted;
END
$$;

COMMENT ON FUNCTION workon.events_cleanup() IS
'Deletes published events older than workon.event_retention (default 24 h), oldest first, at most 10,000 a call; returns how many';

CREATE FUNCTION workon.events_publish()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_head		bigint;
BEGIN
	-- one publisher at a time, until it commits; the statements below see
	-- what the previous one committed
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.events'::regclass::oid::bigint);
	SELECT COALESCE(pg_catalog.max(e.pos), 0) INTO v_head FROM workon.events AS e;

	UPDATE workon.events AS e
	   SET pos = v_head + u.n
	  FROM (SELECT n.id, pg_catalog.row_number() OVER (ORDER BY n.id) AS n
			  FROM (SELECT x.id FROM workon.events AS x
					 WHERE x.pos IS NULL
					 ORDER BY x.id
					 LIMIT 10000) AS n) AS u
	 WHERE e.id = u.id;
	SELECT COALESCE(pg_catalog.max(e.pos), 0) INTO v_head FROM workon.events AS e;

	PERFORM workon.events_cleanup();
	RETURN v_head;
END
$$;

COMMENT ON FUNCTION workon.events_publish() IS
'Gives the committed events without a pos the next positions (at most 10,000 a call), one publisher at a time, and drops events past their retention; returns the newest pos. The front end calls it when woken by NOTIFY workon_events; a cursor handed out is never followed by a smaller one';

CREATE FUNCTION workon.event_frame(e workon.events)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build('type', e.type, 'id', e.pos::text, 'data', e.data)::text
$$;

COMMENT ON FUNCTION workon.event_frame(workon.events) IS
'The event as clients receive it: {"type": ..., "id": "<pos>", "data": {...}}';

CREATE FUNCTION workon.events_fanout(after bigint, "limit" integer DEFAULT 1000)
RETURNS TABLE (pos bigint, recipients uuid[], frame text, close_code integer)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.pos, e.recipients,
		   CASE WHEN e.type <> 'session.revoked' THEN workon.event_frame(e) END,
		   CASE WHEN e.type = 'session.revoked' THEN (e.data ->> 'close_code')::integer END
	  FROM workon.events AS e
	 WHERE e.pos > events_fanout.after
	 ORDER BY e.pos
	 LIMIT events_fanout."limit"
$$;

COMMENT ON FUNCTION workon.events_fanout(bigint, integer) IS
'For the front end: published events after a pos, in order, with their recipients and the frame to send, or a close code (4401, 4403) for the recipients'' sockets instead';

CREATE FUNCTION workon.events_head()
RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.max(e.pos), 0) FROM workon.events AS e
$$;

COMMENT ON FUNCTION workon.events_head() IS
'The newest published pos (0 if none): where a front end that starts fans out from';

CREATE FUNCTION workon.events_since(since bigint DEFAULT NULL, "limit" integer DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_limit		integer := COALESCE(events_since."limit", 100);
	v_user		uuid := workon.caller_id();
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 1000 THEN
		RAISE EXCEPTION 'limit must be between 1 and 1000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF events_since.since < 0 THEN
		RAISE EXCEPTION 'since must be an event id'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'since';
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.json_agg(p.frame::json ORDER BY p.pos)
								FILTER (WHERE p.n <= v_limit), '[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.max(p.pos) FILTER (WHERE p.n <= v_limit))::text
							  END,
			   'cursor', COALESCE(pg_catalog.max(p.pos) FILTER (WHERE p.n <= v_limit),
								  events_since.since)::text)
	  INTO v_page
	  FROM (SELECT e.pos, workon.event_frame(e) AS frame,
				   pg_catalog.row_number() OVER (ORDER BY e.pos) AS n
			  FROM workon.events AS e
			 WHERE e.pos > COALESCE(events_since.since, 0)
			   AND e.type <> 'session.revoked'
			   AND e.recipients @> ARRAY[v_user]
			 ORDER BY e.pos
			 LIMIT v_limit + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.events_since(bigint, integer) IS
'GET /api/v1/events: the caller''s published events after the id since (default: all kept), oldest first, as {"data": [{"type", "id", "data"}], "next_cursor": ..., "cursor": the last id returned, else since}; limit 1..1000 (default 100)';

CREATE FUNCTION workon.ws_open(since bigint DEFAULT NULL, "limit" integer DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_claims	jsonb := workon.claims();
	v_page		json;
BEGIN
	IF v_claims IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF ws_open.since IS NOT NULL THEN
		v_page := workon.events_since(ws_open.since, ws_open."limit");
	END IF;
	RETURN workon.json_build(
		'user_id', v_claims ->> 'sub',
		'role', v_claims ->> 'role',
		'expires_at', (v_claims ->> 'exp')::bigint,
		'data', COALESCE(v_page -> 'data', '[]'::json),
		'next_cursor', v_page -> 'next_cursor',
		'cursor', v_page -> 'cursor',
		'head', workon.events_head());
END
$$;

COMMENT ON FUNCTION workon.ws_open(bigint, integer) IS
'GET /api/v1/ws (body kind websocket): checks the token before the upgrade and tells the front end whose socket it is (user_id, role, expires_at in Unix seconds) and the newest published event id (head: a front end that has not fanned out yet starts after it); with since, also the first page of events to replay (as workon.events_since); the front end calls it again on {"type":"auth"} and to page the replay';

--
-- Events of bookings and payments, whoever writes
--
CREATE FUNCTION workon.status_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status THEN
		RETURN NULL;
	END IF;
	IF TG_TABLE_NAME = 'bookings' THEN
		PERFORM workon.event_emit('booking.updated',
								  ARRAY[NEW.user_id,
										(SELECT s.host_id FROM workon.spaces AS s WHERE s.id = NEW.space_id)],
								  workon.booking_json(NEW));
	ELSE
		PERFORM workon.event_emit('payment.updated',
								  ARRAY[NEW.user_id,
										(SELECT s.host_id FROM workon.bookings AS b
										   JOIN workon.spaces AS s ON s.id = b.space_id
										  WHERE b.id = NEW.booking_id)],
								  workon.payment_json(NEW));
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.status_event() IS
'Trigger of bookings and payments: one created or whose status changed is a booking.updated or payment.updated event (a payment without its client secret) for its member and the space''s host';

CREATE TRIGGER bookings_event
	AFTER INSERT OR UPDATE OF status ON workon.bookings
	FOR EACH ROW WHEN (NOT workon.restoring('workon.bookings'))
	EXECUTE FUNCTION workon.status_event();

CREATE TRIGGER payments_event
	AFTER INSERT OR UPDATE OF status ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments'))
	EXECUTE FUNCTION workon.status_event();

CREATE FUNCTION workon.user_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- an account enabled again has no socket to close
	IF TG_OP = 'UPDATE' AND NOT NEW.disabled AND NEW.role = OLD.role THEN
		RETURN NULL;
	END IF;
	-- 4403: the account is disabled; 4401: its tokens no longer say who it is
	PERFORM workon.event_emit('session.revoked', ARRAY[OLD.id],
							  workon.json_build(
								  'close_code', CASE WHEN TG_OP = 'UPDATE' AND NEW.disabled THEN 4403 ELSE 4401 END,
								  'reason', CASE WHEN TG_OP = 'DELETE' THEN 'user removed'
												 WHEN NEW.disabled THEN 'user disabled'
												 ELSE 'role changed' END));
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.user_event() IS
'Trigger: a user whose role changes, who is disabled or who is removed gets a session.revoked event: the front end closes their sockets at once, with 4403 for a disabled account and 4401 otherwise';

CREATE TRIGGER users_event
	AFTER UPDATE OF role, disabled OR DELETE ON workon.users
	FOR EACH ROW WHEN (NOT workon.restoring('workon.users'))
	EXECUTE FUNCTION workon.user_event();

--
-- Conversations and messages: the API
--
CREATE FUNCTION workon.caller_id()
RETURNS uuid
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	RETURN v_user;
END
$$;

COMMENT ON FUNCTION workon.caller_id() IS
'The authenticated caller''s id; WO401 authentication required for anonymous callers';

CREATE FUNCTION workon.space_seen(space_id uuid)
RETURNS workon.spaces
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_space		workon.spaces;
BEGIN
	IF space_seen.space_id IS NULL THEN
		RAISE EXCEPTION 'space_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;
	-- the visibility rule of workon.spaces, for callers that bypass it
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = space_seen.space_id
	   AND (s.published OR s.host_id = workon.current_user_id() OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_space;
END
$$;

COMMENT ON FUNCTION workon.space_seen(uuid) IS
'The space space_id if the caller may see it (published, theirs, or an admin); 22023 naming space_id when NULL, P0002 space not found otherwise';

CREATE FUNCTION workon.message_json(m workon.messages)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', m.id,
		'conversation_id', m.conversation_id,
		'sender_id', m.sender_id,
		'body', m.body,
		'created_at', m.created_at)
$$;

COMMENT ON FUNCTION workon.message_json(workon.messages) IS
'The API representation of a message';

CREATE FUNCTION workon.conversation_json(c workon.conversations, viewer uuid)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'id', c.id,
		'space_id', c.space_id,
		'member_id', c.member_id,
		'host_id', c.host_id,
		'last_message', (SELECT workon.message_json(m) FROM workon.messages AS m
						  WHERE m.conversation_id = c.id AND m.seq = c.last_seq),
		'unread_count', (SELECT pg_catalog.count(*) FROM workon.messages AS m
						  WHERE m.conversation_id = c.id
							AND m.seq > CASE WHEN viewer = c.member_id THEN c.member_read_seq
											 WHEN viewer = c.host_id THEN c.host_read_seq
											 ELSE c.last_seq END
							AND m.sender_id <> viewer),
		'last_message_at', c.last_message_at,
		'created_at', c.created_at)
$$;

COMMENT ON FUNCTION workon.conversation_json(workon.conversations, uuid) IS
'The API representation of a conversation as one viewer sees it: its last message and the viewer''s unread count (0 for others than the participants)';

-- The conversation for id, locked when asked, if the caller is one of its
-- participants (admins: any, for reading); P0002 otherwise.
CREATE FUNCTION workon.conversation_find(id uuid, for_write boolean)
RETURNS workon.conversations
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_conv		workon.conversations;
BEGIN
	IF for_write THEN
		SELECT * INTO v_conv FROM workon.conversations AS c WHERE c.id = conversation_find.id FOR UPDATE;
	ELSE
		SELECT * INTO v_conv FROM workon.conversations AS c WHERE c.id = conversation_find.id;
	END IF;
	IF NOT FOUND
	   OR NOT (v_user IN (v_conv.member_id, v_conv.host_id)
			   OR (NOT for_write AND workon.current_role() = 'admin')) THEN
		RAISE EXCEPTION 'conversation not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_conv;
END
$$;

COMMENT ON FUNCTION workon.conversation_find(uuid, boolean) IS
'The conversation if the caller takes part in it (for_write false: or is an admin), locked for_write; P0002 conversation not found otherwise';

CREATE FUNCTION workon.conversation_open(space_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_space		workon.spaces := workon.space_seen(conversation_open.space_id);
	v_conv		workon.conversations;
BEGIN
	IF v_space.host_id = v_user THEN
		RAISE EXCEPTION 'the host of a space cannot open a conversation about it with themselves'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;

	INSERT INTO workon.conversations AS c (space_id, member_id, host_id)
	VALUES (v_space.id, v_user, v_space.host_id)
	ON CONFLICT ON CONSTRAINT conversations_space_id_member_id_key DO NOTHING
	RETURNING * INTO v_conv;
	IF NOT FOUND THEN
		SELECT * INTO v_conv FROM workon.conversations AS c
		 WHERE c.space_id = v_space.id AND c.member_id = v_user;
		PERFORM workon.set_response(200);
	END IF;
	RETURN workon.conversation_json(v_conv, v_user);
END
$$;

COMMENT ON FUNCTION workon.conversation_open(uuid) IS
'POST /api/v1/conversations: the caller''s conversation with the host of a space the caller can see, created (201) or the existing one (200); 22023 naming space_id for the space''s own host, P0002 for an unknown or unseen space';

-- The pieces every keyset-paginated list shares: its bounds (limit 1..100,
-- default 20, and where the cursor says the previous page ended) and its
-- page ({"data": [...], "next_cursor": ...} from at most limit + 1 rows).
CREATE FUNCTION workon.list_bounds("limit" integer, cursor text,
								   OUT lim integer, OUT after_ts timestamptz, OUT after_id uuid)
RETURNS record
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	lim := COALESCE(list_bounds."limit", 20);
	IF lim < 1 OR lim > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	after_ts := 'infinity';
	after_id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	IF list_bounds.cursor <> '' THEN
		SELECT c.ts, c.id INTO after_ts, after_id FROM workon.cursor_decode(list_bounds.cursor) AS c;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.list_bounds(integer, text) IS
'Bounds of a page of a list: limit 1..100 (default 20; 22023 naming limit otherwise) and the (created_at, id) the cursor names (none: from the start)';

CREATE FUNCTION workon.list_page(items json[], cursors text[], lim integer)
RETURNS json
LANGUAGE sql IMMUTABLE
AS $$
	SELECT workon.json_build(
		'data', pg_catalog.array_to_json(COALESCE(items[1:lim], '{}')),
		'next_cursor', CASE WHEN pg_catalog.cardinality(items) > lim THEN cursors[lim] END)
$$;

COMMENT ON FUNCTION workon.list_page(json[], text[], integer) IS
'A page of a list from at most lim + 1 items in list order and their cursors: {"data": the first lim, "next_cursor": the cursor of the last one if there are more}';

CREATE FUNCTION workon.conversations_list("limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(conversations_list."limit", conversations_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.conversation_json(p.conv, v_user) ORDER BY p.active_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.active_at, p.id) ORDER BY p.active_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT c AS conv, c.id, COALESCE(c.last_message_at, c.created_at) AS active_at
			  FROM workon.conversations AS c
			 WHERE (c.member_id = v_user OR c.host_id = v_user)
			   AND (COALESCE(c.last_message_at, c.created_at), c.id) < (v.after_ts, v.after_id)
			 ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.conversations_list(integer, text) IS
'GET /api/v1/conversations: the caller''s conversations, most recently active first, each with its last message and the caller''s unread count, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20)';

CREATE FUNCTION workon.messages_list(id uuid, "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_conv		workon.conversations := workon.conversation_find(messages_list.id, false);
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(messages_list."limit", messages_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.message_json(m.msg) ORDER BY m.created_at DESC, m.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(m.created_at, m.id) ORDER BY m.created_at DESC, m.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT m AS msg, m.created_at, m.id FROM workon.messages AS m
			 WHERE m.conversation_id = v_conv.id
			   AND (m.created_at, m.id) < (v.after_ts, v.after_id)
			 ORDER BY m.created_at DESC, m.id DESC
			 LIMIT v.lim + 1) AS m;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.messages_list(uuid, integer, text) IS
'GET /api/v1/conversations/{id}/messages: its messages, newest first, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20); P0002 unless the caller takes part in it or is an admin';

CREATE FUNCTION workon.message_post(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_conv		workon.conversations;
	v_text		text;
	v_extra		text;
	v_msg		workon.messages;
BEGIN
	v_extra := (SELECT k FROM pg_catalog.jsonb_object_keys(
					CASE pg_catalog.jsonb_typeof(message_post.body)
						WHEN 'object' THEN message_post.body - 'body' ELSE '{}' END) AS k
				 ORDER BY k LIMIT 1);
	IF v_extra IS NOT NULL THEN
		RAISE EXCEPTION 'unknown parameter'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = v_extra;
	END IF;
	IF pg_catalog.jsonb_typeof(message_post.body -> 'body') IS DISTINCT FROM 'string' THEN
		RAISE EXCEPTION 'body must be a string of 1 to 4000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;
	v_text := pg_catalog.regexp_replace(message_post.body ->> 'body', '^\s+|\s+$', '', 'g');
	IF pg_catalog.char_length(v_text) NOT BETWEEN 1 AND 4000 THEN
		RAISE EXCEPTION 'body must be a string of 1 to 4000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;

	v_conv := workon.conversation_find(message_post.id, true);
	UPDATE workon.conversations AS c
	   SET last_seq = c.last_seq + 1,
		   last_message_at = pg_catalog.clock_timestamp(),
		   member_read_seq = CASE WHEN v_user = c.member_id THEN c.last_seq + 1 ELSE c.member_read_seq END,
		   host_read_seq = CASE WHEN v_user = c.host_id THEN c.last_seq + 1 ELSE c.host_read_seq END
	 WHERE c.id = v_conv.id
	RETURNING * INTO v_conv;

	INSERT INTO workon.messages (conversation_id, seq, sender_id, body, created_at)
	VALUES (v_conv.id, v_conv.last_seq, v_user, v_text, v_conv.last_message_at)
	RETURNING * INTO v_msg;

	RETURN workon.message_json(v_msg);
END
$$;

COMMENT ON FUNCTION workon.message_post(uuid, jsonb) IS
'POST /api/v1/conversations/{id}/messages {body}: a message from the caller (a participant), body trimmed, 1 to 4,000 characters (22023 naming body otherwise); what the sender wrote counts as read by them; P0002 for others';

CREATE FUNCTION workon.message_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.event_emit('message.created',
							  (SELECT ARRAY[c.member_id, c.host_id] FROM workon.conversations AS c
								WHERE c.id = NEW.conversation_id),
							  workon.message_json(NEW));
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.message_event() IS
'Trigger: a new message is a message.created event for both participants of its conversation';

CREATE TRIGGER messages_event
	AFTER INSERT ON workon.messages
	FOR EACH ROW WHEN (NOT workon.restoring('workon.messages'))
	EXECUTE FUNCTION workon.message_event();

CREATE TRIGGER messages_audit
	AFTER INSERT ON workon.messages
	FOR EACH ROW WHEN (NOT workon.restoring('workon.messages'))
	EXECUTE FUNCTION workon.audit_row('body');

CREATE FUNCTION workon.conversation_read(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_conv		workon.conversations := workon.conversation_find(conversation_read.id, true);
	v_before	bigint;
BEGIN
	v_before := CASE WHEN v_user = v_conv.member_id THEN v_conv.member_read_seq
					 ELSE v_conv.host_read_seq END;
	IF v_before < v_conv.last_seq THEN
		IF v_user = v_conv.member_id THEN
			UPDATE workon.conversations AS c SET member_read_seq = c.last_seq
			 WHERE c.id = v_conv.id RETURNING * INTO v_conv;
		ELSE
			UPDATE workon.conversations AS c SET host_read_seq = c.last_seq
			 WHERE c.id = v_conv.id RETURNING * INTO v_conv;
		END IF;
		PERFORM workon.event_emit('conversation.read', ARRAY[v_conv.member_id, v_conv.host_id],
								  workon.json_build(
									  'conversation_id', v_conv.id,
									  'user_id', v_user,
									  'last_read_message_id',
									  (SELECT m.id FROM workon.messages AS m
										WHERE m.conversation_id = v_conv.id AND m.seq = v_conv.last_seq)));
	END IF;
	RETURN workon.conversation_json(v_conv, v_user);
END
$$;

COMMENT ON FUNCTION workon.conversation_read(uuid) IS
'POST /api/v1/conversations/{id}/read: every message of the conversation so far is read by the caller (a participant); a conversation.read event for both when that changed anything; P0002 for others';

--
-- Routes, privileges, dump
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary, read_only) VALUES
	('POST', '/api/v1/conversations', 'workon.conversation_open(uuid)',
	 'member', 201, 'json', 'Open a conversation with the host of a space (the existing one: 200)', false),
	('GET', '/api/v1/conversations', 'workon.conversations_list(integer,text)',
	 'member', 200, 'none', 'My conversations with their last message and unread count', true),
	('GET', '/api/v1/conversations/{id}/messages', 'workon.messages_list(uuid,integer,text)',
	 'member', 200, 'none', 'Messages of a conversation, newest first', true),
	('POST', '/api/v1/conversations/{id}/messages', 'workon.message_post(uuid,jsonb)',
	 'member', 201, 'json', 'Post a message', false),
	('POST', '/api/v1/conversations/{id}/read', 'workon.conversation_read(uuid)',
	 'member', 200, 'none', 'Mark a conversation read', false),
	('GET', '/api/v1/events', 'workon.events_since(bigint,integer)',
	 'member', 200, 'none', 'My realtime events after an id (what a socket would have received)', true),
	('GET', '/api/v1/ws', 'workon.ws_open(bigint,integer)',
	 'member', 200, 'websocket', 'A WebSocket of my realtime events (?since=: first what I missed after that event id)', true);

GRANT EXECUTE ON FUNCTION
	workon.event_frame(workon.events),
	workon.events_since(bigint, integer),
	workon.ws_open(bigint, integer),
	workon.caller_id(),
	workon.space_seen(uuid),
	workon.message_json(workon.messages),
	workon.conversation_json(workon.conversations, uuid),
	workon.conversation_find(uuid, boolean),
	workon.conversation_open(uuid),
	workon.list_bounds(integer, text),
	workon.list_page(json[], text[], integer),
	workon.conversations_list(integer, text),
	workon.messages_list(uuid, integer, text),
	workon.message_post(uuid, jsonb),
	workon.conversation_read(uuid)
	TO workon_member, workon_host, workon_admin;

-- the front end's own calls, outside any request
GRANT EXECUTE ON FUNCTION
	workon.events_publish(),
	workon.events_fanout(bigint, integer),
	workon.events_head()
	TO workon_authenticator;

SELECT pg_catalog.pg_extension_config_dump('workon.conversations', '');
SELECT pg_catalog.pg_extension_config_dump('workon.messages', '');
SELECT pg_catalog.pg_extension_config_dump('workon.events', '');
SELECT pg_catalog.pg_extension_config_dump('workon.events_id_seq', '');


--
-- ==== e-mail: notifications delivered, the account flows that need a mailbox ====
--
-- Users choose the language of their mails and prove their address.
--
ALTER TABLE workon.users
	ADD COLUMN locale text
		CONSTRAINT users_locale_check CHECK (locale IN ('fr', 'en')),
	ADD COLUMN email_verified_at timestamptz;

COMMENT ON COLUMN workon.users.locale IS
'Language of the user''s e-mails (fr, en); NULL: workon.default_locale';

COMMENT ON COLUMN workon.users.email_verified_at IS
'When the user proved the address is theirs (a verification or password reset link); NULL: not verified';

GRANT SELECT (locale, email_verified_at) ON workon.users
	TO workon_member, workon_host, workon_admin;

CREATE OR REPLACE FUNCTION workon.user_json(user_id uuid)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'id', u.id,
		'email', u.email,
		'name', u.name,
		'role', u.role,
		'email_verified', u.email_verified_at IS NOT NULL,
		-- workon.default_locale, whose default is en (a session that has not
		-- loaded the module yet knows the setting only when it was set)
		'locale', COALESCE(u.locale, pg_catalog.current_setting('workon.default_locale', true), 'en'),
		'created_at', u.created_at,
		'updated_at', u.updated_at)
	  FROM workon.users AS u
	 WHERE u.id = $1
$$;

COMMENT ON FUNCTION workon.user_json(uuid) IS
'The API representation of a user, {"id","email","name","role","email_verified","locale","created_at","updated_at"} (locale: the language of their e-mails, workon.default_locale unless they chose one); NULL if the caller may not see the user';

--
-- E-mail: templates kept as data, rendered in the recipient's language by
-- extension/email.c; the notifications and the account flows that need a
-- mailbox (password reset, e-mail verification, password change).  A mail
-- is an outbox row of kind email written in the transaction of the change,
-- its subject, text and HTML already rendered; the HTTP front end delivers
-- it (Resend) or, in development, records it as sent (capture).
--

--
-- Rendering (extension/email.c)
--
CREATE FUNCTION workon.email_render(template text, vals jsonb, html boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'email_render'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_render(text, jsonb, boolean) IS
'A template with each {{name}} replaced by the member name of vals: verbatim when html is false, HTML-escaped (& < > " '') when true; a missing or null value renders as nothing, malformed placeholders are copied';

CREATE FUNCTION workon.email_placeholders(template text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'email_placeholders'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_placeholders(text) IS
'The names of a template''s placeholders {{name}}, each once, in order; 22023 for a "{{" that does not start one';

CREATE FUNCTION workon.email_money(cents bigint, currency text, locale text)
RETURNS text
AS 'MODULE_PATHNAME', 'email_money'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_money(bigint, text, text) IS
'An amount in minor units as the locale writes it: en "€1,234.50", fr "1 234,50 €" (zero-decimal currencies such as jpy without decimals; a currency without a known symbol by its code)';

CREATE FUNCTION workon.email_time("at" timestamptz, timezone text, locale text)
RETURNS text
AS 'MODULE_PATHNAME', 'email_time'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_time(timestamptz, text, text) IS
'An instant as the local time of a zone, as the locale writes it: en "Monday, December 7, 2026, 2:30 PM", fr "lundi 7 décembre 2026 à 14:30"';

--
-- Templates
--
CREATE TABLE workon.email_templates (
	key			text NOT NULL
				CONSTRAINT email_templates_key_check CHECK (key ~ '^[a-z][a-z0-9_]*$'),
	locale		text NOT NULL
				CONSTRAINT email_templates_locale_check CHECK (locale IN ('fr', 'en')),
	custom		boolean NOT NULL DEFAULT true,
	subject		text NOT NULL
				CONSTRAINT email_templates_subject_check
				CHECK (pg_catalog.btrim(subject) <> '' AND subject !~ '[[:cntrl:]]'
					   AND workon.email_placeholders(subject) IS NOT NULL),
	text		text NOT NULL
				CONSTRAINT email_templates_text_check
				CHECK (workon.email_placeholders(text) IS NOT NULL),
	html		text NOT NULL
				CONSTRAINT email_templates_html_check
				CHECK (workon.email_placeholders(html) IS NOT NULL),
	updated_at	timestamptz,
	PRIMARY KEY (key, locale, custom)
);

COMMENT ON TABLE workon.email_templates IS
'E-mail templates per key and locale (fr, en): subject, plain text and HTML with {{name}} placeholders (workon.email_render). The rows shipped with the extension have custom false and no updated_at; an admin''s replacement (workon.email_template_set) is the row with custom true, used instead, and the only one pg_dump keeps; changes of replacements are audited';

ALTER TABLE workon.email_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.email_templates FORCE ROW LEVEL SECURITY;

CREATE POLICY email_templates_admin ON workon.email_templates
	FOR SELECT
	TO workon_admin
	USING (true);

GRANT SELECT ON workon.email_templates TO workon_admin;

INSERT INTO workon.email_templates (key, locale, custom, subject, text, html) VALUES
('booking_confirmed', 'en', false,
 'Your booking at {{space_name}} is confirmed',
 E'Hello {{name}},\n\nYour booking at {{space_name}} is confirmed.\n\nFrom: {{starts_at}}\nTo: {{ends_at}}\n(local time, {{timezone}})\nAddress: {{space_address}}, {{space_city}}\nPaid: {{amount}}\n\nBooking reference: {{booking_id}}\n\nSee you soon,\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Your booking at <strong>{{space_name}}</strong> is confirmed.</p>\n<table>\n<tr><td>From</td><td>{{starts_at}}</td></tr>\n<tr><td>To</td><td>{{ends_at}}</td></tr>\n<tr><td>Address</td><td>{{space_address}}, {{space_city}}</td></tr>\n<tr><td>Paid</td><td>{{amount}}</td></tr>\n</table>\n<p>Times are local ({{timezone}}). Booking reference: {{booking_id}}</p>\n<p>See you soon,<br>workon</p>\n'),
('booking_confirmed', 'fr', false,
 'Votre réservation à {{space_name}} est confirmée',
 E'Bonjour {{name}},\n\nVotre réservation à {{space_name}} est confirmée.\n\nDu : {{starts_at}}\nAu : {{ends_at}}\n(heure locale, {{timezone}})\nAdresse : {{space_address}}, {{space_city}}\nPayé : {{amount}}\n\nRéférence : {{booking_id}}\n\nÀ bientôt,\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Votre réservation à <strong>{{space_name}}</strong> est confirmée.</p>\n<table>\n<tr><td>Du</td><td>{{starts_at}}</td></tr>\n<tr><td>Au</td><td>{{ends_at}}</td></tr>\n<tr><td>Adresse</td><td>{{space_address}}, {{space_city}}</td></tr>\n<tr><td>Payé</td><td>{{amount}}</td></tr>\n</table>\n<p>Heures locales ({{timezone}}). Référence : {{booking_id}}</p>\n<p>À bientôt,<br>workon</p>\n'),
('booking_cancelled', 'en', false,
 'Your booking at {{space_name}} is cancelled',
 E'Hello {{name}},\n\nYour booking at {{space_name}} on {{starts_at}} ({{timezone}}) is cancelled.\n\nRefund: {{refund_amount}} ({{refund_percent}}% of what you paid). A refund reaches your account within a few days.\n\nBooking reference: {{booking_id}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Your booking at <strong>{{space_name}}</strong> on {{starts_at}} ({{timezone}}) is cancelled.</p>\n<p>Refund: <strong>{{refund_amount}}</strong> ({{refund_percent}}% of what you paid). A refund reaches your account within a few days.</p>\n<p>Booking reference: {{booking_id}}</p>\n<p>workon</p>\n'),
('booking_cancelled', 'fr', false,
 'Votre réservation à {{space_name}} est annulée',
 E'Bonjour {{name}},\n\nVotre réservation à {{space_name}} le {{starts_at}} ({{timezone}}) est annulée.\n\nRemboursement : {{refund_amount}} ({{refund_percent}} % de ce que vous avez payé). Un remboursement arrive sur votre compte sous quelques jours.\n\nRéférence : {{booking_id}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Votre réservation à <strong>{{space_name}}</strong> le {{starts_at}} ({{timezone}}) est annulée.</p>\n<p>Remboursement : <strong>{{refund_amount}}</strong> ({{refund_percent}} % de ce que vous avez payé). Un remboursement arrive sur votre compte sous quelques jours.</p>\n<p>Référence : {{booking_id}}</p>\n<p>workon</p>\n'),
('payment_failed', 'en', false,
 'Your payment for {{space_name}} did not go through',
 E'Hello {{name}},\n\nYour payment of {{price}} for {{space_name}} on {{starts_at}} ({{timezone}}) did not go through: {{error}}\n\nYour booking is held for a little while: you can pay again from your bookings.\n\nBooking reference: {{booking_id}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Your payment of {{price}} for <strong>{{space_name}}</strong> on {{starts_at}} ({{timezone}}) did not go through: {{error}}</p>\n<p>Your booking is held for a little while: you can pay again from your bookings.</p>\n<p>Booking reference: {{booking_id}}</p>\n<p>workon</p>\n'),
('payment_failed', 'fr', false,
 'Votre paiement pour {{space_name}} n''a pas abouti',
 E'Bonjour {{name}},\n\nVotre paiement de {{price}} pour {{space_name}} le {{starts_at}} ({{timezone}}) n''a pas abouti : {{error}}\n\nVotre réservation est retenue encore un moment : vous pouvez payer à nouveau depuis vos réservations.\n\nRéférence : {{booking_id}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Votre paiement de {{price}} pour <strong>{{space_name}}</strong> le {{starts_at}} ({{timezone}}) n''a pas abouti : {{error}}</p>\n<p>Votre réservation est retenue encore un moment : vous pouvez payer à nouveau depuis vos réservations.</p>\n<p>Référence : {{booking_id}}</p>\n<p>workon</p>\n'),
('refund', 'en', false,
 'A refund of {{amount}} is on its way',
 E'Hello {{name}},\n\nWe are refunding {{amount}} for your booking at {{space_name}} on {{starts_at}} ({{timezone}}). It reaches your account within a few days.\n\nBooking reference: {{booking_id}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>We are refunding <strong>{{amount}}</strong> for your booking at {{space_name}} on {{starts_at}} ({{timezone}}). It reaches your account within a few days.</p>\n<p>Booking reference: {{booking_id}}</p>\n<p>workon</p>\n'),
('refund', 'fr', false,
 'Un remboursement de {{amount}} est en route',
 E'Bonjour {{name}},\n\nNous vous remboursons {{amount}} pour votre réservation à {{space_name}} le {{starts_at}} ({{timezone}}). Il arrive sur votre compte sous quelques jours.\n\nRéférence : {{booking_id}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Nous vous remboursons <strong>{{amount}}</strong> pour votre réservation à {{space_name}} le {{starts_at}} ({{timezone}}). Il arrive sur votre compte sous quelques jours.</p>\n<p>Référence : {{booking_id}}</p>\n<p>workon</p>\n'),
('password_reset', 'en', false,
 'Reset your workon password',
 E'Hello {{name}},\n\nSomeone asked to reset the password of your workon account. To choose a new one, open this link within {{expires_minutes}} minutes:\n\n{{link}}\n\nIf it was not you, ignore this e-mail: your password stays as it is.\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Someone asked to reset the password of your workon account. To choose a new one, open this link within {{expires_minutes}} minutes:</p>\n<p><a href="{{link}}">Choose a new password</a></p>\n<p>If it was not you, ignore this e-mail: your password stays as it is.</p>\n<p>workon</p>\n'),
('password_reset', 'fr', false,
 'Réinitialisez votre mot de passe workon',
 E'Bonjour {{name}},\n\nQuelqu''un a demandé à réinitialiser le mot de passe de votre compte workon. Pour en choisir un nouveau, ouvrez ce lien dans les {{expires_minutes}} minutes :\n\n{{link}}\n\nSi ce n''était pas vous, ignorez cet e-mail : votre mot de passe reste inchangé.\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Quelqu''un a demandé à réinitialiser le mot de passe de votre compte workon. Pour en choisir un nouveau, ouvrez ce lien dans les {{expires_minutes}} minutes :</p>\n<p><a href="{{link}}">Choisir un nouveau mot de passe</a></p>\n<p>Si ce n''était pas vous, ignorez cet e-mail : votre mot de passe reste inchangé.</p>\n<p>workon</p>\n'),
('email_verification', 'en', false,
 'Confirm your e-mail address',
 E'Hello {{name}},\n\nTo confirm that {{email}} is your address, open this link within {{expires_hours}} hours:\n\n{{link}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>To confirm that {{email}} is your address, open this link within {{expires_hours}} hours:</p>\n<p><a href="{{link}}">Confirm my address</a></p>\n<p>workon</p>\n'),
('email_verification', 'fr', false,
 'Confirmez votre adresse e-mail',
 E'Bonjour {{name}},\n\nPour confirmer que {{email}} est bien votre adresse, ouvrez ce lien dans les {{expires_hours}} heures :\n\n{{link}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Pour confirmer que {{email}} est bien votre adresse, ouvrez ce lien dans les {{expires_hours}} heures :</p>\n<p><a href="{{link}}">Confirmer mon adresse</a></p>\n<p>workon</p>\n'),
('password_changed', 'en', false,
 'Your workon password was changed',
 E'Hello {{name}},\n\nThe password of your workon account ({{email}}) was just changed, and every session was logged out.\n\nIf it was not you, choose a new password at once: {{app_url}}/forgot-password\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>The password of your workon account ({{email}}) was just changed, and every session was logged out.</p>\n<p>If it was not you, <a href="{{app_url}}/forgot-password">choose a new password</a> at once.</p>\n<p>workon</p>\n'),
('password_changed', 'fr', false,
 'Votre mot de passe workon a été modifié',
 E'Bonjour {{name}},\n\nLe mot de passe de votre compte workon ({{email}}) vient d''être modifié, et toutes les sessions ont été fermées.\n\nSi ce n''était pas vous, choisissez tout de suite un nouveau mot de passe : {{app_url}}/forgot-password\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Le mot de passe de votre compte workon ({{email}}) vient d''être modifié, et toutes les sessions ont été fermées.</p>\n<p>Si ce n''était pas vous, <a href="{{app_url}}/forgot-password">choisissez tout de suite un nouveau mot de passe</a>.</p>\n<p>workon</p>\n'),
('message_unread', 'en', false,
 'New message from {{sender_name}} about {{space_name}}',
 E'Hello {{name}},\n\n{{sender_name}} wrote to you about {{space_name}} ({{unread_count}} unread):\n\n{{excerpt}}\n\nRead and answer: {{link}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>{{sender_name}} wrote to you about <strong>{{space_name}}</strong> ({{unread_count}} unread):</p>\n<blockquote style="white-space: pre-wrap">{{excerpt}}</blockquote>\n<p><a href="{{link}}">Read and answer</a></p>\n<p>workon</p>\n'),
('message_unread', 'fr', false,
 'Nouveau message de {{sender_name}} à propos de {{space_name}}',
 E'Bonjour {{name}},\n\n{{sender_name}} vous a écrit à propos de {{space_name}} (non lus : {{unread_count}}) :\n\n{{excerpt}}\n\nLire et répondre : {{link}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>{{sender_name}} vous a écrit à propos de <strong>{{space_name}}</strong> (non lus : {{unread_count}}) :</p>\n<blockquote style="white-space: pre-wrap">{{excerpt}}</blockquote>\n<p><a href="{{link}}">Lire et répondre</a></p>\n<p>workon</p>\n');

-- admins' changes are audited; the shipped rows are not
CREATE TRIGGER email_templates_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.email_templates
	FOR EACH ROW WHEN (NOT workon.restoring('workon.email_templates'))
	EXECUTE FUNCTION workon.audit_row();

-- The settings' defaults are repeated here: a session that has not loaded
-- the module yet knows workon.* settings only when they were set.
CREATE FUNCTION workon.user_locale(locale text)
RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT COALESCE(locale, pg_catalog.current_setting('workon.default_locale', true), 'en')
$$;

COMMENT ON FUNCTION workon.user_locale(text) IS
'The language of a user''s e-mails: their locale (workon.users.locale), else workon.default_locale (DEFAULT_LOCALE, en by default)';

CREATE FUNCTION workon.app_url()
RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT pg_catalog.rtrim(COALESCE(NULLIF(pg_catalog.current_setting('workon.app_url', true), ''),
									 'http://localhost:8080'), '/')
$$;

COMMENT ON FUNCTION workon.app_url() IS
'The base of the links in e-mails without a trailing slash: workon.app_url (APP_URL, http://localhost:8080 by default)';

CREATE FUNCTION workon.email_message(p_key text, p_locale text, p_vals jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.email_templates;
BEGIN
	SELECT * INTO v_t
	  FROM workon.email_templates AS t
	 WHERE t.key = p_key AND t.locale IN (p_locale, 'en')
	 ORDER BY t.locale = p_locale DESC, t.custom DESC
	 LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'e-mail template "%" does not exist', p_key
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN pg_catalog.jsonb_build_object(
		'subject', pg_catalog.regexp_replace(workon.email_render(v_t.subject, p_vals, false),
											 '[[:cntrl:]]+', ' ', 'g'),
		'text', workon.email_render(v_t.text, p_vals, false),
		'html', workon.email_render(v_t.html, p_vals, true));
END
$$;

COMMENT ON FUNCTION workon.email_message(text, text, jsonb) IS
'{subject, text, html} of a template (the admin''s replacement if any, else the shipped one; en when the locale has none) rendered with the values: HTML-escaped in html, verbatim in text, control characters of the subject made spaces';

CREATE FUNCTION workon.email_values(p_user workon.users, p_data jsonb, p_locale text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_vals		jsonb;
	v_booking	workon.bookings;
	v_space		workon.spaces;
	v_currency	text := p_data ->> 'currency';
BEGIN
	-- the caller's scalars as they are, then what is formatted here
	SELECT COALESCE(pg_catalog.jsonb_object_agg(d.key, d.value), '{}')
	  INTO v_vals
	  FROM pg_catalog.jsonb_each(p_data) AS d
	 WHERE pg_catalog.jsonb_typeof(d.value) IN ('string', 'number', 'boolean');
	v_vals := v_vals || pg_catalog.jsonb_build_object(
		'name', p_user.name,
		'email', p_user.email,
		'app_url', workon.app_url());

	IF p_data ? 'booking_id' THEN
		SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = (p_data ->> 'booking_id')::uuid;
		SELECT * INTO v_space FROM workon.spaces AS s WHERE s.id = v_booking.space_id;
		IF v_space.id IS NOT NULL THEN
			v_currency := COALESCE(v_currency, v_booking.currency);
			v_vals := v_vals || pg_catalog.jsonb_build_object(
				'space_name', v_space.name,
				'space_city', v_space.city,
				'space_address', v_space.address,
				'timezone', v_space.timezone,
				'starts_at', workon.email_time(v_booking.starts_at, v_space.timezone, p_locale),
				'ends_at', workon.email_time(v_booking.ends_at, v_space.timezone, p_locale),
				'price', workon.email_money(v_booking.price_cents, v_booking.currency, p_locale));
		END IF;
	END IF;
	IF v_currency IS NOT NULL AND p_data ? 'amount_cents' THEN
		v_vals := v_vals || pg_catalog.jsonb_build_object('amount',
			workon.email_money((p_data ->> 'amount_cents')::bigint, v_currency, p_locale));
	END IF;
	IF v_currency IS NOT NULL AND p_data ? 'refund_cents' THEN
		v_vals := v_vals || pg_catalog.jsonb_build_object('refund_amount',
			workon.email_money((p_data ->> 'refund_cents')::bigint, v_currency, p_locale));
	END IF;
	RETURN v_vals;
END
$$;

COMMENT ON FUNCTION workon.email_values(workon.users, jsonb, text) IS
'The values of a template for a user: the scalars of data, name, email, app_url, and formatted for the locale: a booking''s space (space_name, space_city, space_address, timezone), its starts_at and ends_at in the space''s zone and its price; amount from amount_cents, refund_amount from refund_cents (in data''s currency, else the booking''s)';

--
-- Queueing a mail
--
CREATE FUNCTION workon.email_send(p_user_id uuid, p_template text, p_data jsonb, p_key text,
								  p_booking_id uuid DEFAULT NULL, p_private jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
	v_locale	text;
	v_msg		jsonb;
BEGIN
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = p_user_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	v_locale := workon.user_locale(v_user.locale);
	v_msg := workon.email_message(p_template, v_locale,
								  workon.email_values(v_user, p_data || COALESCE(p_private, '{}'), v_locale));
	RETURN workon.outbox_enqueue('email', 'email', 'email:' || p_template,
								 v_msg || pg_catalog.jsonb_build_object(
									 'to', v_user.email, 'template', p_template, 'locale', v_locale)
									   || CASE WHEN p_private IS NOT NULL THEN '{"private": "true"}'::jsonb
											   ELSE '{}' END,
								 'email:' || p_key, NULL, NULL, p_booking_id);
END
$$;

COMMENT ON FUNCTION workon.email_send(uuid, text, jsonb, text, uuid, jsonb) IS
'Queues a mail to a user once per key (idempotency key email:<key>): outbox kind email, params {to, subject, text, html, template, locale} (strings) rendered now in the user''s language from p_data and p_private; with p_private (a one-time link) params.private is "true" and a delivered mail''s text and HTML are blanked';

CREATE OR REPLACE FUNCTION workon.email_enqueue(p_user_id uuid, p_template text, p_data jsonb, p_key text,
									 p_booking_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.email_send(p_user_id, p_template, p_data, p_key, p_booking_id)
$$;

COMMENT ON FUNCTION workon.email_enqueue(uuid, text, jsonb, text, uuid) IS
'Queues a notification to a user once per key, rendered in their language (workon.email_send); templates booking_confirmed, booking_cancelled, payment_failed, refund';

CREATE FUNCTION workon.email_captured(p_id bigint)
RETURNS void
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.outbox AS o
	   SET status = 'done', response_status = NULL, last_error = NULL
	 WHERE o.id = p_id AND o.kind = 'email' AND o.status = 'pending';
$$;

COMMENT ON FUNCTION workon.email_captured(bigint) IS
'For the front end with EMAIL_TRANSPORT=capture: a mail counts as sent without leaving the database (status done, response_status NULL), kept whole for admins at GET /api/v1/admin/emails/{id}';

--
-- One-time tokens of the account flows, stored as keyed hashes
--
CREATE TABLE workon.account_tokens (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	purpose		text NOT NULL
				CONSTRAINT account_tokens_purpose_check
				CHECK (purpose IN ('password_reset', 'email_verification')),
	token_hash	bytea NOT NULL
				CONSTRAINT account_tokens_token_hash_key UNIQUE,
	email		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	CONSTRAINT account_tokens_expires_at_check CHECK (expires_at > created_at)
);

COMMENT ON TABLE workon.account_tokens IS
'Tokens mailed for a password reset (1 hour) or an e-mail verification (24 hours), stored as HMAC-SHA256 under the refresh pepper; email is the address it was sent to (a token for an address the user no longer has is void); used_at makes it single use';

CREATE INDEX account_tokens_user_id_idx ON workon.account_tokens (user_id, purpose, created_at);

ALTER TABLE workon.account_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.account_tokens FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.account_token_ttl(purpose text)
RETURNS interval
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT CASE purpose WHEN 'password_reset' THEN interval '1 hour'
						WHEN 'email_verification' THEN interval '24 hours' END
$$;

COMMENT ON FUNCTION workon.account_token_ttl(text) IS
'How long a mailed token is valid: password_reset 1 hour, email_verification 24 hours';

CREATE FUNCTION workon.account_token_hash(token text)
RETURNS bytea
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.refresh_token_hash('account:' || token)
$$;

COMMENT ON FUNCTION workon.account_token_hash(text) IS
'How a mailed token is stored: HMAC-SHA256 under the refresh pepper (JWT_REFRESH_SECRET), apart from refresh tokens by a prefix';

-- at most this many mails of one purpose to one user an hour
CREATE FUNCTION workon.account_token_issue(p_user workon.users, p_purpose text, p_token text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	-- one request at a time per user, so that the hourly count holds
	PERFORM FROM workon.users AS u WHERE u.id = p_user.id FOR UPDATE;
	IF (SELECT pg_catalog.count(*) FROM workon.account_tokens AS t
		 WHERE t.user_id = p_user.id AND t.purpose = p_purpose
		   AND t.created_at > pg_catalog.now() - interval '1 hour') >= 5 THEN
		RETURN NULL;
	END IF;
	INSERT INTO workon.account_tokens (user_id, purpose, token_hash, email, expires_at)
	VALUES (p_user.id, p_purpose, workon.account_token_hash(p_token), p_user.email,
			pg_catalog.now() + workon.account_token_ttl(p_purpose))
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.account_token_issue(workon.users, text, text) IS
'Stores the hash of a new token of the purpose for the user and returns its id; NULL (nothing stored) when five were issued to the user for that purpose within the hour';

CREATE FUNCTION workon.account_token_use(p_token text, p_purpose text)
RETURNS workon.account_tokens
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.account_tokens;
BEGIN
	IF p_token IS NULL OR p_token = '' THEN
		RAISE EXCEPTION 'token is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'token';
	END IF;
	SELECT * INTO v_t
	  FROM workon.account_tokens AS t
	 WHERE t.token_hash = workon.account_token_hash(p_token) AND t.purpose = p_purpose
	   FOR UPDATE;
	IF NOT FOUND OR v_t.used_at IS NOT NULL OR v_t.expires_at <= pg_catalog.now()
	   OR NOT EXISTS (SELECT FROM workon.users AS u
					   WHERE u.id = v_t.user_id AND pg_catalog.lower(u.email) = pg_catalog.lower(v_t.email)) THEN
		RAISE EXCEPTION 'invalid or expired token'
			USING ERRCODE = 'WOE01', COLUMN = 'token';
	END IF;
	UPDATE workon.account_tokens AS t SET used_at = pg_catalog.now()
	 WHERE t.id = v_t.id
	RETURNING * INTO v_t;
	RETURN v_t;
END
$$;

COMMENT ON FUNCTION workon.account_token_use(text, text) IS
'Uses up a mailed token of the purpose and returns its row; 22023 when none is given, WOE01 invalid_token when it is unknown, used, expired or for an address the user no longer has';

CREATE FUNCTION workon.user_sessions_revoke(p_user_id uuid, p_reason text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.refresh_tokens AS t
	   SET revoked_at = pg_catalog.now()
	 WHERE t.user_id = p_user_id AND t.revoked_at IS NULL;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, after)
	VALUES (p_user_id, 'revoke', 'refresh_tokens', p_user_id::text,
			pg_catalog.jsonb_build_object('reason', p_reason));
$$;

COMMENT ON FUNCTION workon.user_sessions_revoke(uuid, text) IS
'Revokes every live refresh token of every family of a user, with an audit_log row giving the reason';

CREATE FUNCTION workon.email_verification_send(p_user workon.users)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		text := workon.random_token(32);
	v_id		uuid := workon.account_token_issue(p_user, 'email_verification', v_token);
BEGIN
	IF v_id IS NOT NULL THEN
		PERFORM workon.email_send(p_user.id, 'email_verification',
			pg_catalog.jsonb_build_object('expires_hours', 24),
			'email_verification:' || v_id, NULL,
			pg_catalog.jsonb_build_object('token', v_token,
				'link', workon.app_url()
						|| '/verify-email?token=' || v_token));
	END IF;
END
$$;

COMMENT ON FUNCTION workon.email_verification_send(workon.users) IS
'Mails a user a link to verify their address (a token valid 24 hours); nothing after five within the hour';

--
-- Route handlers: the account flows
--
CREATE FUNCTION workon.auth_password_forgot(email text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_email		text := workon.check_email(auth_password_forgot.email);
	v_user		workon.users;
	v_token		text := workon.random_token(32);
	v_link		text := workon.app_url()
						|| '/reset-password?token=' || v_token;
	v_id		uuid;
BEGIN
	SELECT * INTO v_user
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(v_email);
	IF v_user.id IS NOT NULL AND v_user.password_hash IS NOT NULL THEN
		v_id := workon.account_token_issue(v_user, 'password_reset', v_token);
	END IF;
	IF v_id IS NULL THEN
		-- no account (or too many mails): the same work, nothing kept
		PERFORM workon.account_token_hash(v_token),
				workon.email_message('password_reset', workon.user_locale(NULL),
									 pg_catalog.jsonb_build_object('link', v_link));
		RETURN;
	END IF;
	PERFORM workon.email_send(v_user.id, 'password_reset',
							  pg_catalog.jsonb_build_object('expires_minutes', 60),
							  'password_reset:' || v_id, NULL,
							  pg_catalog.jsonb_build_object('token', v_token, 'link', v_link));
END
$$;

COMMENT ON FUNCTION workon.auth_password_forgot(text) IS
'POST /api/v1/auth/password/forgot: mails the account with that address (case-insensitive) a link to choose a new password, valid one hour; answers 202 alike, after the same work, for an unknown address (and sends nothing after five mails to one account within the hour); 22023 only for a malformed address';

CREATE FUNCTION workon.auth_password_reset(token text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.account_tokens;
BEGIN
	IF auth_password_reset.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;
	v_t := workon.account_token_use(auth_password_reset.token, 'password_reset');
	PERFORM workon.password_check(auth_password_reset.password, v_t.email);

	UPDATE workon.users AS u
	   SET password_hash = workon.password_hash(auth_password_reset.password),
		   email_verified_at = COALESCE(u.email_verified_at, pg_catalog.now())
	 WHERE u.id = v_t.user_id;
	-- the other links mailed for a reset are void now
	UPDATE workon.account_tokens AS t SET used_at = pg_catalog.now()
	 WHERE t.user_id = v_t.user_id AND t.purpose = 'password_reset' AND t.used_at IS NULL;
	PERFORM workon.user_sessions_revoke(v_t.user_id, 'password_reset');
	PERFORM workon.email_send(v_t.user_id, 'password_changed', '{}', 'password_changed:' || v_t.id);
END
$$;

COMMENT ON FUNCTION workon.auth_password_reset(text, text) IS
'POST /api/v1/auth/password/reset: a new password for the account of a mailed reset token (single use, one hour); every refresh token of the user is revoked, the address counts as verified, a password_changed mail is queued. WOE01 invalid_token for an unknown, used or expired token; 22023 naming the field for a missing token or a weak password (the token is not used up then)';

CREATE FUNCTION workon.auth_verify_email(token text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.account_tokens := workon.account_token_use(auth_verify_email.token,
																  'email_verification');
BEGIN
	UPDATE workon.users AS u
	   SET email_verified_at = COALESCE(u.email_verified_at, pg_catalog.now())
	 WHERE u.id = v_t.user_id;
END
$$;

COMMENT ON FUNCTION workon.auth_verify_email(text) IS
'POST /api/v1/auth/verify-email: marks the address of a mailed verification token (single use, 24 hours) verified; no access token needed. WOE01 invalid_token for an unknown, used or expired token, or one mailed to an address the user has since changed';

CREATE FUNCTION workon.auth_verify_email_resend()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
BEGIN
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = workon.current_user_id();
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_user.email_verified_at IS NOT NULL THEN
		RAISE EXCEPTION 'the e-mail address is already verified'
			USING ERRCODE = 'WOE02';
	END IF;
	PERFORM workon.email_verification_send(v_user);
END
$$;

COMMENT ON FUNCTION workon.auth_verify_email_resend() IS
'POST /api/v1/auth/verify-email/resend: mails the authenticated user a new verification link (202; nothing more after five within the hour); WOE02 email_already_verified';

CREATE FUNCTION workon.me_password(current_password text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
BEGIN
	IF me_password.current_password IS NULL THEN
		RAISE EXCEPTION 'current_password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'current_password';
	END IF;
	IF me_password.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = workon.current_user_id() FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT workon.password_verify(me_password.current_password, v_user.password_hash) THEN
		RAISE EXCEPTION 'current password is wrong'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'current_password';
	END IF;
	PERFORM workon.password_check(me_password.password, v_user.email);

	UPDATE workon.users AS u
	   SET password_hash = workon.password_hash(me_password.password)
	 WHERE u.id = v_user.id;
	PERFORM workon.user_sessions_revoke(v_user.id, 'password_changed');
	PERFORM workon.email_send(v_user.id, 'password_changed', '{}',
							  'password_changed:' || pg_catalog.gen_random_uuid());
END
$$;

COMMENT ON FUNCTION workon.me_password(text, text) IS
'POST /api/v1/me/password: changes the authenticated user''s password (204); every refresh token of the user is revoked (log in again) and a password_changed mail is queued. 22023 naming the field for a missing or wrong current_password or a weak password';

CREATE FUNCTION workon.me_update(name text DEFAULT NULL, locale text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_name		text := pg_catalog.btrim(me_update.name);
	v_id		uuid;
BEGIN
	IF me_update.name IS NOT NULL AND v_name = '' THEN
		RAISE EXCEPTION 'name must not be empty'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(v_name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF me_update.locale NOT IN ('fr', 'en') THEN
		RAISE EXCEPTION 'locale must be fr or en'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'locale';
	END IF;
	UPDATE workon.users AS u
	   SET name = COALESCE(v_name, u.name),
		   locale = COALESCE(me_update.locale, u.locale)
	 WHERE u.id = workon.current_user_id()
	RETURNING u.id INTO v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN workon.user_json(v_id);
END
$$;

COMMENT ON FUNCTION workon.me_update(text, text) IS
'PATCH /api/v1/me {name, locale}: changes the authenticated user''s name (1 to 200 characters) and the language of their e-mails (fr or en); a field left out stays as it is; 22023 naming the field otherwise';

--
-- Route handlers: captured and sent mail, templates (admins)
--
CREATE FUNCTION workon.email_json(o workon.outbox, whole boolean DEFAULT false)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT CASE WHEN whole THEN (m::jsonb || pg_catalog.jsonb_build_object(
									'text', o.params ->> 'text', 'html', o.params ->> 'html'))::json
				ELSE m END
	  FROM workon.json_build(
			'id', o.id,
			'to', o.params ->> 'to',
			'subject', o.params ->> 'subject',
			'template', o.params ->> 'template',
			'locale', o.params ->> 'locale',
			'status', o.status,
			'attempts', o.attempts,
			'last_error', o.last_error,
			'response_status', o.response_status,
			'idempotency_key', o.idempotency_key,
			'booking_id', o.booking_id,
			'created_at', o.created_at,
			'updated_at', o.updated_at) AS m
$$;

COMMENT ON FUNCTION workon.email_json(workon.outbox, boolean) IS
'The API representation of a mail (an outbox row of kind email): recipient, subject, template, locale, delivery status; with its text and HTML when whole';

CREATE FUNCTION workon.admin_emails_list(status text DEFAULT NULL, "to" text DEFAULT NULL,
										 "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit		integer := COALESCE(admin_emails_list."limit", 20);
	v_status	text := NULLIF(admin_emails_list.status, '');
	v_to		text := pg_catalog.lower(NULLIF(admin_emails_list."to", ''));
	v_before	bigint := 9223372036854775807;
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF v_status NOT IN ('pending', 'done', 'dead') THEN
		RAISE EXCEPTION 'status must be one of pending, done, dead'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'status';
	END IF;
	IF admin_emails_list.cursor <> '' THEN
		IF admin_emails_list.cursor !~ '^[0-9]{1,18}$' THEN
			RAISE EXCEPTION 'invalid cursor'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cursor';
		END IF;
		v_before := admin_emails_list.cursor::bigint;
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.json_agg(workon.email_json(p.mail) ORDER BY p.n)
								FILTER (WHERE p.n <= v_limit), '[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.array_agg((p.mail).id::text) FILTER (WHERE p.n = v_limit))[1]
							  END)
	  INTO v_page
	  FROM (SELECT o AS mail, pg_catalog.row_number() OVER (ORDER BY o.id DESC) AS n
			  FROM workon.outbox AS o
			 WHERE o.kind = 'email' AND o.id < v_before
			   AND (v_status IS NULL OR o.status = v_status)
			   AND (v_to IS NULL OR pg_catalog.lower(o.params ->> 'to') = v_to)
			 ORDER BY o.id DESC
			 LIMIT v_limit + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_emails_list(text, text, integer, text) IS
'GET /api/v1/admin/emails: mails, newest first, as {"data": [...], "next_cursor": ...}, without their bodies; filters status (pending, done, dead) and to (the address, case-insensitive); limit 1..100 (default 20)';

CREATE FUNCTION workon.admin_email_get(id bigint)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_mail		json;
BEGIN
	SELECT workon.email_json(o, true) INTO v_mail
	  FROM workon.outbox AS o
	 WHERE o.id = admin_email_get.id AND o.kind = 'email';
	IF v_mail IS NULL THEN
		RAISE EXCEPTION 'e-mail not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_mail;
END
$$;

COMMENT ON FUNCTION workon.admin_email_get(bigint) IS
'GET /api/v1/admin/emails/{id}: one mail with its rendered text and HTML (blanked once delivered when it held a one-time link)';

CREATE FUNCTION workon.admin_email_retry(id bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM workon.outbox AS o
					WHERE o.id = admin_email_retry.id AND o.kind = 'email') THEN
		RAISE EXCEPTION 'e-mail not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM workon.outbox_retry(admin_email_retry.id);
	RETURN workon.admin_email_get(admin_email_retry.id);
END
$$;

COMMENT ON FUNCTION workon.admin_email_retry(bigint) IS
'POST /api/v1/admin/emails/{id}/retry: a dead mail is sent again (pending, due now, fresh attempts, same idempotency key); P0002 if there is no dead mail with that id';

CREATE FUNCTION workon.email_template_placeholders(p_key text)
RETURNS text[]
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.array_agg(DISTINCT p.name ORDER BY p.name)
	  FROM workon.email_templates AS t,
		   pg_catalog.unnest(workon.email_placeholders(t.subject)
							 || workon.email_placeholders(t.text)
							 || workon.email_placeholders(t.html)) AS p(name)
	 WHERE t.key = p_key AND NOT t.custom
$$;

COMMENT ON FUNCTION workon.email_template_placeholders(text) IS
'The placeholders a template of that key may use: those of its shipped templates';

CREATE FUNCTION workon.email_template_json(t workon.email_templates)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'key', t.key,
		'locale', t.locale,
		'custom', t.custom,
		'subject', t.subject,
		'text', t.text,
		'html', t.html,
		'placeholders', pg_catalog.to_json(workon.email_template_placeholders(t.key)),
		'updated_at', t.updated_at)
$$;

COMMENT ON FUNCTION workon.email_template_json(workon.email_templates) IS
'The API representation of a template, with the placeholders its key may use';

CREATE FUNCTION workon.admin_email_templates()
RETURNS json
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build('data', COALESCE(pg_catalog.json_agg(workon.email_template_json(t)
																  ORDER BY t.key, t.locale), '[]'))
	  FROM (SELECT DISTINCT ON (t.key, t.locale) t.*
			  FROM workon.email_templates AS t
			 ORDER BY t.key, t.locale, t.custom DESC) AS t
$$;

COMMENT ON FUNCTION workon.admin_email_templates() IS
'GET /api/v1/admin/email-templates: the template in use for each key and locale ({"data": [...]}; custom true for an admin''s replacement)';

CREATE FUNCTION workon.email_template_set(key text, locale text, subject text, text text, html text)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_allowed	text[] := workon.email_template_placeholders(email_template_set.key);
	v_part		record;
	v_names		text[];
	v_name		text;
	v_t			workon.email_templates;
BEGIN
	IF v_allowed IS NULL THEN
		RAISE EXCEPTION 'e-mail template "%" does not exist', email_template_set.key
			USING ERRCODE = 'no_data_found';
	END IF;
	IF email_template_set.locale IS NULL OR email_template_set.locale NOT IN ('fr', 'en') THEN
		RAISE EXCEPTION 'locale must be fr or en'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'locale';
	END IF;
	FOR v_part IN SELECT * FROM (VALUES ('subject', email_template_set.subject),
										('text', email_template_set.text),
										('html', email_template_set.html)) AS p(field, value) LOOP
		IF v_part.value IS NULL OR pg_catalog.btrim(v_part.value) = '' THEN
			RAISE EXCEPTION '% is required', v_part.field
				USING ERRCODE = 'invalid_parameter_value', COLUMN = v_part.field;
		END IF;
		IF v_part.field = 'subject' AND v_part.value ~ '[[:cntrl:]]' THEN
			RAISE EXCEPTION 'subject must be one line of text'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'subject';
		END IF;
		BEGIN
			v_names := workon.email_placeholders(v_part.value);
		EXCEPTION WHEN invalid_parameter_value THEN
			RAISE EXCEPTION '%', SQLERRM
				USING ERRCODE = 'invalid_parameter_value', COLUMN = v_part.field;
		END;
		FOREACH v_name IN ARRAY v_names LOOP
			IF NOT v_name = ANY (v_allowed) THEN
				RAISE EXCEPTION 'unknown placeholder {{%}}', v_name
					USING ERRCODE = 'invalid_parameter_value', COLUMN = v_part.field,
						  HINT = 'The placeholders of this template: '
								 || pg_catalog.array_to_string(v_allowed, ', ') || '.';
			END IF;
		END LOOP;
	END LOOP;

	INSERT INTO workon.email_templates AS t (key, locale, custom, subject, text, html, updated_at)
	VALUES (email_template_set.key, email_template_set.locale, true, email_template_set.subject,
			email_template_set.text, email_template_set.html, pg_catalog.now())
	ON CONFLICT ON CONSTRAINT email_templates_pkey DO UPDATE
		SET subject = EXCLUDED.subject, text = EXCLUDED.text, html = EXCLUDED.html,
			updated_at = pg_catalog.now()
	RETURNING * INTO v_t;
	RETURN workon.email_template_json(v_t);
END
$$;

COMMENT ON FUNCTION workon.email_template_set(text, text, text, text, text) IS
'PUT /api/v1/admin/email-templates/{key}/{locale} {subject, text, html}, and for DBAs in SQL: replaces the template of a key and locale (the shipped one stays, for workon.email_template_reset); placeholders limited to those of the shipped templates of the key. P0002 for an unknown key, 22023 naming the field for a missing part, a subject of more than one line, a malformed or unknown placeholder';

CREATE FUNCTION workon.email_template_reset(key text, locale text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM workon.email_templates AS t
	 WHERE t.key = email_template_reset.key AND t.locale = email_template_reset.locale AND t.custom;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no replaced e-mail template "%" in "%"', email_template_reset.key,
						email_template_reset.locale
			USING ERRCODE = 'no_data_found';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.email_template_reset(text, text) IS
'DELETE /api/v1/admin/email-templates/{key}/{locale}, and for DBAs in SQL: drops an admin''s replacement, so the shipped template is used again; P0002 if there is none';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, read_only, summary) VALUES
	('POST', '/api/v1/auth/password/forgot', 'workon.auth_password_forgot(text)',
	 'none', 202, 'json', 'auth', false, 'Mail a link to choose a new password'),
	('POST', '/api/v1/auth/password/reset', 'workon.auth_password_reset(text,text)',
	 'none', 204, 'json', 'auth', false, 'Choose a new password with a mailed token'),
	('POST', '/api/v1/auth/verify-email', 'workon.auth_verify_email(text)',
	 'none', 204, 'json', 'auth', false, 'Verify an e-mail address with a mailed token'),
	('POST', '/api/v1/auth/verify-email/resend', 'workon.auth_verify_email_resend()',
	 'member', 202, 'none', 'default', false, 'Mail a new verification link'),
	('POST', '/api/v1/me/password', 'workon.me_password(text,text)',
	 'member', 204, 'json', 'default', false, 'Change my password'),
	('PATCH', '/api/v1/me', 'workon.me_update(text,text)',
	 'member', 200, 'json', 'default', false, 'Change my name or language'),
	('GET', '/api/v1/admin/emails', 'workon.admin_emails_list(text,text,integer,text)',
	 'admin', 200, 'none', 'default', true, 'Mails sent, captured, pending or dead'),
	('GET', '/api/v1/admin/emails/{id}', 'workon.admin_email_get(bigint)',
	 'admin', 200, 'none', 'default', true, 'One mail with its text and HTML'),
	('POST', '/api/v1/admin/emails/{id}/retry', 'workon.admin_email_retry(bigint)',
	 'admin', 200, 'none', 'default', false, 'Send a dead mail again'),
	('GET', '/api/v1/admin/email-templates', 'workon.admin_email_templates()',
	 'admin', 200, 'none', 'default', true, 'The e-mail templates in use'),
	('PUT', '/api/v1/admin/email-templates/{key}/{locale}',
	 'workon.email_template_set(text,text,text,text,text)',
	 'admin', 200, 'json', 'default', false, 'Replace an e-mail template'),
	('DELETE', '/api/v1/admin/email-templates/{key}/{locale}',
	 'workon.email_template_reset(text,text)',
	 'admin', 204, 'none', 'default', false, 'Use the shipped e-mail template again');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOE01', 400, 'invalid_token'),
	('WOE02', 409, 'email_already_verified');

GRANT EXECUTE ON FUNCTION
	workon.auth_password_forgot(text),
	workon.auth_password_reset(text, text),
	workon.auth_verify_email(text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.auth_verify_email_resend(),
	workon.me_password(text, text),
	workon.me_update(text, text),
	workon.user_locale(text)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.admin_emails_list(text, text, integer, text),
	workon.admin_email_get(bigint),
	workon.admin_email_retry(bigint),
	workon.admin_email_templates(),
	workon.email_template_set(text, text, text, text, text),
	workon.email_template_reset(text, text),
	workon.email_template_json(workon.email_templates),
	workon.email_json(workon.outbox, boolean),
	workon.email_placeholders(text),
	workon.email_render(text, jsonb, boolean),
	workon.email_money(bigint, text, text),
	workon.email_time(timestamptz, text, text)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION workon.email_captured(bigint)
	TO workon_authenticator;

GRANT SET ON PARAMETER workon.default_locale, workon.app_url
	TO workon_authenticator;

SELECT pg_catalog.pg_extension_config_dump('workon.account_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('workon.email_templates', 'WHERE custom');

--
-- The mails of registration, cancellation and refunds; delivery answers of
-- the e-mail provider (a 4xx is a dead mail, Retry-After is honoured, a mail
-- lives 20 attempts)
--
CREATE OR REPLACE FUNCTION workon.auth_register(email text DEFAULT NULL, password text DEFAULT NULL,
									 name text DEFAULT NULL, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	IF auth_register.role IS NOT NULL AND auth_register.role NOT IN ('member', 'host') THEN
		RAISE EXCEPTION 'role must be member or host'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF auth_register.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	v_id := workon.create_user(auth_register.email, auth_register.password,
							   auth_register.name, COALESCE(auth_register.role, 'member'));
	PERFORM workon.email_verification_send(u) FROM workon.users AS u WHERE u.id = v_id;
	RETURN workon.session_issue(v_id);
END
$$;

COMMENT ON FUNCTION workon.auth_register(text, text, text, text) IS
'POST /api/v1/auth/register: a new member (or host) and its tokens, and a mail to verify the address; 22023 naming the field for a bad email, name, role or weak password, WOC01 email_taken';

CREATE OR REPLACE FUNCTION workon.booking_cancel(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_admin		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_booking	workon.bookings;
	v_pay		workon.payments;
	v_status	text;
	v_paid		bigint := 0;
	v_refund	record;
	v_reason	text := 'requested_by_customer';
BEGIN
	SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = booking_cancel.id FOR UPDATE;
	-- the visibility rule of workon.bookings (this function bypasses it)
	IF NOT FOUND
	   OR NOT (v_admin OR v_booking.user_id = v_user
			   OR EXISTS (SELECT FROM workon.spaces AS s
						   WHERE s.id = v_booking.space_id AND s.host_id = v_user)) THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT (v_admin OR v_booking.user_id = v_user) THEN
		RAISE EXCEPTION 'only the member who booked or an admin may cancel a booking'
			USING ERRCODE = 'insufficient_privilege';
	END IF;

	v_status := workon.booking_status(v_booking);
	IF NOT workon.booking_transition_allowed(v_status, 'cancelled') THEN
		RAISE EXCEPTION 'a booking cannot go from % to cancelled', v_status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking.id FOR UPDATE;
	IF v_pay.status = 'succeeded' THEN
		v_paid := GREATEST(v_pay.amount_received_cents - v_pay.refunded_cents, 0);
	END IF;
	SELECT * INTO v_refund FROM workon.booking_refund(v_booking.starts_at, pg_catalog.now(), v_paid);
	IF v_status <> 'confirmed' AND v_paid > 0 THEN
		-- paid without confirming it (another amount): all of it back
		v_refund.percent := 100;
		v_refund.amount_cents := v_paid;
		v_reason := 'booking_cancelled';
	END IF;

	UPDATE workon.bookings AS b
	   SET status = 'cancelled', cancelled_at = pg_catalog.now(),
		   refund_percent = v_refund.percent, refund_cents = v_refund.amount_cents
	 WHERE b.id = v_booking.id
	RETURNING * INTO v_booking;
	IF v_status = 'confirmed' OR v_paid > 0 THEN
		PERFORM workon.email_enqueue(v_booking.user_id, 'booking_cancelled',
									 pg_catalog.jsonb_build_object(
										 'booking_id', v_booking.id,
										 'refund_cents', v_refund.amount_cents,
										 'refund_percent', v_refund.percent,
										 'currency', COALESCE(v_pay.received_currency, v_booking.currency)),
									 'booking_cancelled:' || v_booking.id, v_booking.id);
	END IF;

	IF v_refund.amount_cents > 0 THEN
		PERFORM workon.refund_start(v_pay, v_refund.amount_cents, v_reason);
	ELSIF v_pay.id IS NOT NULL THEN
		PERFORM workon.payment_stop(v_pay);
	END IF;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_cancel(uuid) IS
'POST /api/v1/bookings/{id}/cancel (its member, admin): status cancelled with refund {amount_cents, currency, percent} by workon.booking_refund of what was paid (0 unless confirmed and paid); a paid booking''s refund is a refund row and a Stripe refund call in the same transaction, a payment under way is stopped (workon.payment_stop), a confirmed or paid booking''s member gets a booking_cancelled mail with the refund, a payment that succeeded without confirming the booking (another amount) is refunded in full; WOC04 cannot_cancel once started, WOC03 invalid_transition unless pending (live hold) or confirmed, P0002 for bookings the caller cannot see, 42501 for the space''s host';

CREATE OR REPLACE FUNCTION workon.refund_start(p_payment workon.payments, p_amount bigint, p_reason text)
RETURNS workon.refunds
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_refund	workon.refunds;
	v_params	jsonb;
BEGIN
	INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, reason)
	VALUES (p_payment.id, p_payment.booking_id, p_amount,
			COALESCE(p_payment.received_currency, p_payment.currency), p_reason)
	RETURNING * INTO v_refund;

	v_params := pg_catalog.jsonb_build_object(
		'payment_intent', p_payment.stripe_payment_intent_id,
		'amount', p_amount::text,
		'metadata[booking_id]', p_payment.booking_id::text,
		'metadata[payment_id]', p_payment.id::text,
		'metadata[refund_id]', v_refund.id::text,
		'metadata[reason]', p_reason);
	IF p_reason = 'requested_by_customer' THEN
		v_params := v_params || '{"reason": "requested_by_customer"}';
	END IF;
	PERFORM workon.outbox_enqueue('stripe', 'refund', '/v1/refunds', v_params,
								  'workon:refund:' || v_refund.id, p_payment.id, v_refund.id,
								  p_payment.booking_id);
	-- a cancellation's own mail tells of its refund
	PERFORM workon.email_enqueue(p_payment.user_id, 'refund',
								 pg_catalog.jsonb_build_object('booking_id', p_payment.booking_id,
															   'refund_id', v_refund.id,
															   'amount_cents', p_amount,
															   'currency', v_refund.currency,
															   'reason', p_reason),
								 'refund:' || v_refund.id, p_payment.booking_id)
	 WHERE p_reason <> 'requested_by_customer';
	RETURN v_refund;
END
$$;

COMMENT ON FUNCTION workon.refund_start(workon.payments, bigint, text) IS
'Starts a refund of a paid payment: a pending refund row, its POST /v1/refunds outbox row (idempotency key from the refund id, amount, the PaymentIntent, metadata booking_id, payment_id, refund_id) and the refund e-mail (but for a cancellation, whose mail tells of it), in the caller''s transaction';

CREATE OR REPLACE FUNCTION workon.outbox_result(p_id bigint, p_http_status integer, p_body jsonb)
RETURNS TABLE (status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
	v_pay		workon.payments;
	v_refund	workon.refunds;
	v_error		text;
	v_status	text;
BEGIN
	IF p_http_status IS NULL OR NOT (p_http_status BETWEEN 200 AND 299 OR p_http_status BETWEEN 400 AND 499) THEN
		RAISE EXCEPTION 'http status must be 2xx or 4xx; report others with workon.outbox_error()'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'p_http_status';
	END IF;
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;

	IF v_o.status = 'pending' THEN
		PERFORM FROM workon.bookings AS b WHERE b.id = v_o.booking_id FOR UPDATE;
		SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = v_o.payment_id FOR UPDATE;
		SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.id = v_o.refund_id FOR UPDATE;
		IF p_http_status < 300 THEN
			IF pg_catalog.jsonb_typeof(p_body) IS DISTINCT FROM 'object' THEN
				RAISE EXCEPTION 'the answer must be a JSON object'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = 'p_body';
			END IF;
			IF v_o.purpose = 'payment_intent' THEN
				UPDATE workon.payments AS p
				   SET stripe_payment_intent_id = p_body ->> 'id',
					   client_secret = p_body ->> 'client_secret',
					   last_error = NULL
				 WHERE p.id = v_pay.id
				RETURNING * INTO v_pay;
			ELSIF v_o.purpose = 'checkout_session' THEN
				UPDATE workon.payments AS p
				   SET checkout_session_id = p_body ->> 'id',
					   checkout_url = p_body ->> 'url',
					   stripe_payment_intent_id = COALESCE(p.stripe_payment_intent_id,
														   p_body ->> 'payment_intent'),
					   last_error = NULL
				 WHERE p.id = v_pay.id
				RETURNING * INTO v_pay;
			ELSIF v_o.purpose = 'refund' THEN
				-- Stripe's status at creation, unless a newer event set one
				v_status := p_body ->> 'status';
				UPDATE workon.refunds AS r
				   SET stripe_refund_id = p_body ->> 'id',
					   status = CASE WHEN workon.refund_transition_allowed(r.status, v_status)
										  AND (r.stripe_status_at IS NULL
											   OR v_status IN ('succeeded', 'failed', 'canceled'))
									 THEN v_status ELSE r.status END,
					   failure_reason = COALESCE(p_body ->> 'failure_reason', r.failure_reason)
				 WHERE r.id = v_refund.id;
			END IF;

			IF v_o.purpose IN ('payment_intent', 'checkout_session') THEN
				-- events that came before the answer belong to this payment
				UPDATE workon.stripe_events AS e
				   SET payment_id = v_pay.id
				 WHERE e.payment_id IS NULL
				   AND (e.payment_intent_id = v_pay.stripe_payment_intent_id
						OR e.checkout_session_id = v_pay.checkout_session_id);
				-- Stripe's status at creation, unless events moved it on
				v_status := p_body ->> 'status';
				IF v_o.purpose = 'payment_intent'
				   AND NOT EXISTS (SELECT FROM workon.stripe_events AS e WHERE e.payment_id = v_pay.id)
				   AND workon.payment_transition_allowed(v_pay.status, v_status)
				   AND v_status NOT IN ('succeeded', 'canceled') THEN
					UPDATE workon.payments AS p SET status = v_status WHERE p.id = v_pay.id;
				END IF;
				v_pay := workon.payment_apply(v_pay.id);
				-- answered for a booking cancelled meanwhile: stopped at once
				IF EXISTS (SELECT FROM workon.bookings AS b
							WHERE b.id = v_pay.booking_id AND b.status = 'cancelled') THEN
					PERFORM workon.payment_stop(v_pay);
				END IF;
			END IF;
			UPDATE workon.outbox AS o
			   SET status = 'done', response_status = p_http_status, last_error = NULL,
				   sending_until = NULL
			 WHERE o.id = v_o.id;
			-- a delivered one-time link is not kept
			IF v_o.kind = 'email' AND v_o.params ->> 'private' = 'true' THEN
				UPDATE workon.outbox AS o
				   SET params = o.params || '{"text": "(removed after delivery: it held a one-time link)", "html": "<p>(removed after delivery: it held a one-time link)</p>"}'
				 WHERE o.id = v_o.id;
			END IF;
		ELSE
			-- Stripe's {error: {code, message}}, Resend's {name, message}
			v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ', p_body #>> '{error,code}',
															p_body #>> '{error,message}'), ''),
								NULLIF(pg_catalog.concat_ws(': ', p_body ->> 'name', p_body ->> 'message'), ''),
								'HTTP ' || p_http_status);
			UPDATE workon.outbox AS o
			   SET status = CASE WHEN v_o.kind = 'email' THEN 'dead' ELSE 'failed' END,
				   response_status = p_http_status, last_error = pg_catalog.left(v_error, 1000),
				   sending_until = NULL
			 WHERE o.id = v_o.id;
			IF v_o.purpose IN ('payment_intent', 'checkout_session') THEN
				UPDATE workon.payments AS p SET last_error = v_error WHERE p.id = v_pay.id;
			ELSIF v_o.purpose = 'refund' THEN
				UPDATE workon.refunds AS r SET status = 'failed', failure_reason = v_error
				 WHERE r.id = v_refund.id AND r.status IN ('pending', 'requires_action');
			END IF;
		END IF;
	END IF;

	RETURN QUERY SELECT r.status, r.headers, r.body FROM workon.outbox_response(p_id) AS r;
END
$$;

COMMENT ON FUNCTION workon.outbox_result(bigint, integer, jsonb) IS
'For the front end: the provider answered an outbox row with a 2xx or 4xx status and a JSON body. 2xx applies the answer (payment <- PaymentIntent id, client_secret, status; checkout <- session id and url; refund <- refund id and status) and marks the row done (a delivered mail that held a one-time link keeps no body), and a PaymentIntent or session created for a booking cancelled meanwhile is cancelled or expired at once (workon.payment_stop); 4xx marks it failed with the provider''s error code and message (a mail: dead, for an admin to retry) (the payment can start over with a new idempotency key; a refund is failed). A row no longer pending changes nothing. Returns the HTTP response for a client waiting on the row (workon.outbox_response)';

CREATE FUNCTION workon.outbox_error(p_id bigint, p_error text, p_retry_after double precision)
RETURNS TABLE (status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
BEGIN
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_o.status = 'pending' THEN
		IF v_o.attempts >= (CASE v_o.kind WHEN 'email' THEN 20 ELSE 8 END) THEN
			UPDATE workon.outbox AS o
			   SET status = 'dead', last_error = pg_catalog.left(p_error, 1000), sending_until = NULL
			 WHERE o.id = v_o.id;
		ELSE
			UPDATE workon.outbox AS o
			   SET next_attempt_at = pg_catalog.now()
									 + pg_catalog.make_interval(secs => GREATEST(
										 workon.outbox_backoff(GREATEST(o.attempts, 1)),
										 LEAST(COALESCE(p_retry_after, 0), 3600))),
				   last_error = pg_catalog.left(p_error, 1000), sending_until = NULL
			 WHERE o.id = v_o.id;
		END IF;
	END IF;
	RETURN QUERY SELECT r.status, r.headers, r.body FROM workon.outbox_response(p_id) AS r;
END
$$;

COMMENT ON FUNCTION workon.outbox_error(bigint, text, double precision) IS
'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx or 429). The row is due again after workon.outbox_backoff(attempts) seconds or the provider''s Retry-After (p_retry_after seconds, at most an hour; NULL: none) if that is longer, or dead after 8 attempts (a mail: 20, about two hours) (last_error kept; the payment or refund stays pending and can be started again). A row no longer pending changes nothing. Returns the HTTP response for a waiting client: 503 unavailable with Retry-After';

CREATE OR REPLACE FUNCTION workon.outbox_error(p_id bigint, p_error text)
RETURNS TABLE (status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM workon.outbox_error(p_id, p_error, NULL);
END
$$;

COMMENT ON FUNCTION workon.outbox_error(bigint, text) IS
'For the front end: workon.outbox_error(p_id, p_error, NULL), without a Retry-After. An outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts (a mail: 20) (last_error kept; the payment or refund stays pending and can be started again). A row no longer pending changes nothing. Returns the HTTP response for a waiting client: 503 unavailable with Retry-After';

GRANT EXECUTE ON FUNCTION workon.outbox_error(bigint, text, double precision)
	TO workon_authenticator;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- the routes and errors shipped now are not dumped
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

-- ==== end of e-mail ====

--
-- Uploads (sql/src/15_uploads.sql): signed URLs, checks on content, the
-- bytes in a table of their own, avatars; photos of spaces
-- (sql/src/20_spaces.sql).  A route may take its body as bytes.
--
ALTER TABLE workon.routes
	DROP CONSTRAINT routes_body_check,
	ADD CONSTRAINT routes_body_check CHECK (body IN ('none', 'json', 'raw', 'websocket', 'bytes'));

COMMENT ON TABLE workon.routes IS
'HTTP routes: method and path template, handler function, declared auth need (enforced by GRANT EXECUTE), success status, body mode (none, json, raw: text as sent, bytes: binary, up to UPLOAD_MAX_BYTES; websocket: the front end upgrades the request once the handler answered 200) and a one-line summary; for the front end: rate_limit (default: the per-user or per-address budget, auth: the stricter per-address budget of login and registration too, exempt: none), read_only (the handler never writes), outbound (the outbox kind a request may wait on) and metric (an extra family its requests are counted in); any change sends NOTIFY workon_routes';

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


GRANT EXECUTE ON FUNCTION workon.dispatch_bytes(oid, jsonb, jsonb, bytea, text, jsonb)
	TO workon_authenticator;
REVOKE ALL ON FUNCTION workon.set_store_transfer(text, text, bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.set_store_transfer(text, text, bytea, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

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
	-- the URL was signed for the declared size: no more bytes than that
	-- (fewer are stored, and the size recorded is theirs)
	IF pg_catalog.length(upload_put.body) > v.size THEN
		RAISE EXCEPTION 'file is larger than the % bytes declared', v.size
			USING ERRCODE = 'WOU02',
				  HINT = 'Declare a new upload of the file''s size.';
	END IF;

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
		PERFORM workon.set_response(202);
		PERFORM workon.set_store_transfer('put', v.s3_key, v.sha256, v.content_type);
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
'PUT /api/v1/uploads/{id}/content?expires=&sig= (the signed upload_url; no token needed): stores the bytes once and returns the upload with a download_url; WOU01 invalid_url_signature for a URL not signed for this upload and PUT or expired, WOU04 upload_url_used once stored, WOU02 payload_too_large above workon.upload_max_bytes or the size declared (fewer bytes are stored and their size recorded), WOU03 unsupported_media_type when the bytes are not of the declared type or carry markup. With workon.upload_store = s3 the checked upload gets a random bucket key and the answer is the front end''s store transfer (status 202, workon.set_store_transfer put with the key, SHA-256 and content type): it writes the bytes there, then workon.upload_s3_stored(key) answers';

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
		'Content-Security-Policy', 'default-src ''none''; frame-ancestors ''none''; sandbox'));
	IF v.store = 's3' THEN
		PERFORM workon.set_store_transfer('get', v.s3_key);
	END IF;
	RETURN v_bytes;
END
$$;

COMMENT ON FUNCTION workon.upload_content(uuid, bigint, text) IS
'GET /api/v1/uploads/{id}/content: the bytes, with a signed URL (expires, sig; from download_url) or, for a public file, without; Content-Type, Content-Disposition (inline for images, attachment for PDFs), ETag (the SHA-256), Cache-Control (private until the URL expires, public for a day), nosniff and a sandboxing Content-Security-Policy; WOU01 invalid_url_signature for an unsigned URL of a private file or a bad signature. A file in the bucket (store s3) has no bytes here: the handler asks the front end for a store transfer get of its key (workon.set_store_transfer: a redirect to a presigned URL)';

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
		'updated_at', s.updated_at,
		'archived_at', s.archived_at)
$$;

COMMENT ON FUNCTION workon.space_json(workon.spaces) IS
'The API representation of a space';

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
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be changed'
			USING ERRCODE = 'WOR01';
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
'PUT /api/v1/spaces/{id}/photos {upload_ids: [...]} (its host, admin): the photos of the space in order, the first the cover, at most 20: stored images of the host; photos left out are deleted. Returns the space, whose photos list their public URLs; 22023 naming upload_ids for anything invalid; WOR01 space_archived for an archived space';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('PUT', '/api/v1/spaces/{id}/photos', 'workon.space_photos_set(uuid,jsonb)',
	 'host', 200, 'json', false, 'Set the photos of a space in order (the first is the cover)');

GRANT EXECUTE ON FUNCTION workon.space_photos_json(uuid)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.space_photos_set(uuid, jsonb)
	TO workon_host, workon_admin;
SELECT pg_catalog.pg_extension_config_dump('workon.space_photos', '');
-- one trigger function checks the moves of bookings, payments and refunds
CREATE OR REPLACE FUNCTION workon.state_transition()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_allowed	boolean;
BEGIN
	IF TG_TABLE_NAME = 'bookings' THEN
		v_allowed := workon.booking_transition_allowed(OLD.status, NEW.status)
			OR (OLD.status = 'expired' AND NEW.status = 'confirmed'
				AND EXISTS (SELECT FROM workon.payments AS p
							 WHERE p.booking_id = NEW.id AND p.status = 'succeeded'));
	ELSIF TG_TABLE_NAME = 'payments' THEN
		v_allowed := workon.payment_transition_allowed(OLD.status, NEW.status);
	ELSE
		v_allowed := workon.refund_transition_allowed(OLD.status, NEW.status);
	END IF;
	IF NOT v_allowed THEN
		RAISE EXCEPTION 'a % cannot go from % to %', TG_ARGV[0], OLD.status, NEW.status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.state_transition() IS
'Trigger of bookings, payments and refunds (argument: the noun for messages): refuses status changes their state machines (workon.booking_transition_allowed, workon.payment_transition_allowed, workon.refund_transition_allowed) do not allow, whoever writes, except a booking''s expired -> confirmed when its payment succeeded; error WOC03 invalid_transition';

DROP TRIGGER bookings_transition ON workon.bookings;
CREATE TRIGGER bookings_transition
	BEFORE UPDATE ON workon.bookings
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.state_transition('booking');
DROP FUNCTION workon.booking_transition();

-- bookings are paged like conversations and messages
CREATE OR REPLACE FUNCTION workon.bookings_list("limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_all		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_user		uuid := workon.current_user_id();
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(bookings_list."limit", bookings_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.booking_json(p.b) ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT b, b.created_at, b.id
			  FROM workon.bookings AS b
			 WHERE (v_all OR b.user_id = v_user)
			   AND (b.created_at, b.id) < (v.after_ts, v.after_id)
			 ORDER BY b.created_at DESC, b.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

--
-- A new message left unread is mailed (workon.message_emails_send)
--
-- The front end calls workon.message_emails_send(connected) periodically
-- with the users that have a live socket on it.  A message unread by its
-- recipient for workon.message_email_delay (MESSAGE_EMAIL_DELAY) is mailed
-- to them, at most once per conversation per delay, and never while they
-- have a live socket (on any front end: each one reports its users, who
-- count as present a minute after its last report, or the delay when it is
-- shorter, at least 5 seconds; the front end reports more often).  The front end does not
-- know which conversation a socket shows (clients send only auth and ping),
-- so any live socket of the recipient holds their mails back.
--
CREATE TABLE workon.socket_presence (
	user_id		uuid PRIMARY KEY REFERENCES workon.users (id) ON DELETE CASCADE,
	until		timestamptz NOT NULL
);

COMMENT ON TABLE workon.socket_presence IS
'Users with a live WebSocket, as the front ends last reported them (workon.message_emails_send): present until until; their unread messages are not mailed meanwhile';

CREATE TABLE workon.message_email_marks (
	conversation_id uuid NOT NULL REFERENCES workon.conversations (id) ON DELETE CASCADE,
	user_id		uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	mailed_seq	bigint NOT NULL,
	mailed_at	timestamptz NOT NULL,
	PRIMARY KEY (conversation_id, user_id)
);

COMMENT ON TABLE workon.message_email_marks IS
'The last new-message mail of a conversation to a participant: the messages up to mailed_seq were in it, sent at mailed_at (the next one waits a delay after it and names later messages only)';

-- only workon.message_emails_send reads and writes them
ALTER TABLE workon.socket_presence ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.socket_presence FORCE ROW LEVEL SECURITY;
ALTER TABLE workon.message_email_marks ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.message_email_marks FORCE ROW LEVEL SECURITY;

CREATE INDEX conversations_last_message_at_idx ON workon.conversations (last_message_at);

CREATE FUNCTION workon.message_emails_send(connected uuid[] DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the setting's default repeated: a session may not have loaded the module
	v_delay		interval := COALESCE(NULLIF(pg_catalog.current_setting('workon.message_email_delay', true), ''),
									 '10min')::interval;
	v_now		timestamptz := pg_catalog.now();
	v_count		integer := 0;
	r			record;
BEGIN
	INSERT INTO workon.socket_presence AS p (user_id, until)
	SELECT DISTINCT u.id, v_now + LEAST(interval '1 minute', GREATEST(v_delay, interval '5 seconds'))
	  FROM workon.users AS u
	 WHERE u.id = ANY (COALESCE(message_emails_send.connected, '{}'))
	ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until;
	DELETE FROM workon.socket_presence AS p WHERE p.until <= v_now;

	-- one front end at a time mails; the others only reported their users
	IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('workon.message_emails_send')) THEN
		RETURN 0;
	END IF;

	FOR r IN
		SELECT c.id AS conversation_id, c.last_seq, x.user_id, x.read_seq,
			   c.last_seq - x.read_seq AS unread,
			   o.name AS sender_name, s.name AS space_name,
			   (SELECT m.body FROM workon.messages AS m
				 WHERE m.conversation_id = c.id AND m.seq = c.last_seq) AS last_body
		  FROM workon.conversations AS c
		 CROSS JOIN LATERAL (VALUES (c.member_id, c.member_read_seq, c.host_id),
									(c.host_id, c.host_read_seq, c.member_id)) AS x (user_id, read_seq, other_id)
		  JOIN workon.users AS u ON u.id = x.user_id AND NOT u.disabled
		  JOIN workon.users AS o ON o.id = x.other_id
		  LEFT JOIN workon.spaces AS s ON s.id = c.space_id
		  LEFT JOIN workon.message_email_marks AS k ON k.conversation_id = c.id AND k.user_id = x.user_id
		 -- messages older than a day past the delay are never mailed (after an update, say)
		 WHERE c.last_message_at <= v_now - v_delay
		   AND c.last_message_at > v_now - v_delay - interval '1 day'
		   AND x.read_seq < c.last_seq
		   AND (k.mailed_at IS NULL OR k.mailed_at <= v_now - v_delay)
		   AND NOT EXISTS (SELECT FROM workon.socket_presence AS p
							WHERE p.user_id = x.user_id AND p.until > v_now)
		   AND EXISTS (SELECT FROM workon.messages AS m
						WHERE m.conversation_id = c.id
						  AND m.seq > GREATEST(x.read_seq, COALESCE(k.mailed_seq, 0))
						  AND m.created_at <= v_now - v_delay
						  AND m.created_at > v_now - v_delay - interval '1 day')
		 ORDER BY c.last_message_at
		 LIMIT 1000
	LOOP
		PERFORM workon.email_send(r.user_id, 'message_unread',
			pg_catalog.jsonb_build_object(
				'conversation_id', r.conversation_id,
				'sender_name', r.sender_name,
				'space_name', COALESCE(r.space_name, ''),
				'unread_count', r.unread,
				'excerpt', CASE WHEN pg_catalog.char_length(r.last_body) > 280
								THEN pg_catalog.left(r.last_body, 279) || '…' ELSE r.last_body END,
				'link', workon.app_url() || '/conversations/' || r.conversation_id),
			'message_unread:' || r.conversation_id || ':' || r.user_id || ':' || r.last_seq);
		INSERT INTO workon.message_email_marks AS k (conversation_id, user_id, mailed_seq, mailed_at)
		VALUES (r.conversation_id, r.user_id, r.last_seq, v_now)
		ON CONFLICT (conversation_id, user_id)
		DO UPDATE SET mailed_seq = EXCLUDED.mailed_seq, mailed_at = EXCLUDED.mailed_at;
		v_count := v_count + 1;
	END LOOP;
	RETURN v_count;
END
$$;

COMMENT ON FUNCTION workon.message_emails_send(uuid[]) IS
'For the front end, called periodically with the users that have a live socket on it (present for a minute after, or the delay when shorter, at least 5 seconds): queues a message_unread mail to each participant with a message unread for workon.message_email_delay (MESSAGE_EMAIL_DELAY, 10 minutes), at most one per conversation and participant per delay and only for messages not in an earlier one, none while they are present, none for messages older than a day past the delay; returns how many were queued (0 while another front end is at it)';

REVOKE ALL ON FUNCTION workon.message_emails_send(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.message_emails_send(uuid[]) TO workon_authenticator;
GRANT SET ON PARAMETER workon.message_email_delay TO workon_authenticator;

-- token responses are compact JSON like every other answer
CREATE OR REPLACE FUNCTION workon.session_issue(user_id uuid, family_id uuid DEFAULT NULL,
									 parent_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_role		text;
	v_token		text := workon.random_token(32);
BEGIN
	SELECT u.role INTO v_role FROM workon.users AS u WHERE u.id = session_issue.user_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = 'WOA03';
	END IF;

	INSERT INTO workon.refresh_tokens (family_id, user_id, parent_id, token_hash, expires_at)
	VALUES (COALESCE(session_issue.family_id, pg_catalog.gen_random_uuid()),
			session_issue.user_id, session_issue.parent_id,
			workon.refresh_token_hash(v_token),
			pg_catalog.now() + pg_catalog.make_interval(secs => workon.token_ttl('refresh')));

	-- row_to_json: compact, like every answer
	RETURN (SELECT pg_catalog.row_to_json(t)
			  FROM (SELECT workon.user_json(session_issue.user_id) AS "user",
						   workon.jwt_issue(session_issue.user_id, v_role) AS access_token,
						   v_token AS refresh_token,
						   'Bearer'::text AS token_type,
						   workon.token_ttl('access') AS expires_in) AS t);
END
$$;

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
