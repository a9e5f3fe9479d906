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
		END IF;

		responses := jsonb_build_object(r.status::text,
			CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
				 ELSE jsonb_build_object('description', r.summary,
										 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
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
		IF r.auth <> 'none' THEN
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
