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
		RETURN pg_catalog.json_build_object('error', pg_catalog.json_build_object(
			'code', 'token_reused',
			'message', 'refresh token already used; all sessions of this login are revoked',
			'details', pg_catalog.json_build_object()));
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
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
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

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';

--
-- pg_dump: the shipped route and error rows changed; the filter is set
-- again, as sql/src/99_finish.sql sets it (keep this the last statement)
--
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
