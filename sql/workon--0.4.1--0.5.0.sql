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
 E'<p>Bonjour {{name}},</p>\n<p>Le mot de passe de votre compte workon ({{email}}) vient d''être modifié, et toutes les sessions ont été fermées.</p>\n<p>Si ce n''était pas vous, <a href="{{app_url}}/forgot-password">choisissez tout de suite un nouveau mot de passe</a>.</p>\n<p>workon</p>\n');

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
	ELSIF v_pay.id IS NOT NULL AND v_pay.status NOT IN ('succeeded', 'canceled') THEN
		-- stop a payment under way; should it succeed anyway, it is refunded
		IF v_pay.stripe_payment_intent_id IS NOT NULL THEN
			PERFORM workon.outbox_enqueue('stripe', 'payment_intent_cancel',
										  '/v1/payment_intents/' || v_pay.stripe_payment_intent_id || '/cancel',
										  '{}'::jsonb, 'workon:payment_intent_cancel:' || v_pay.id,
										  v_pay.id, NULL, v_booking.id);
		ELSIF v_pay.checkout_session_id IS NOT NULL THEN
			PERFORM workon.outbox_enqueue('stripe', 'checkout_session_expire',
										  '/v1/checkout/sessions/' || v_pay.checkout_session_id || '/expire',
										  '{}'::jsonb, 'workon:checkout_session_expire:' || v_pay.id,
										  v_pay.id, NULL, v_booking.id);
		END IF;
	END IF;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_cancel(uuid) IS
'POST /api/v1/bookings/{id}/cancel (its member, admin): status cancelled with refund {amount_cents, currency, percent} by workon.booking_refund of what was paid (0 unless confirmed and paid); a paid booking''s refund is a refund row and a Stripe refund call in the same transaction, a payment under way is cancelled at Stripe, a confirmed or paid booking''s member gets a booking_cancelled mail with the refund, a payment that succeeded without confirming the booking (another amount) is refunded in full; WOC04 cannot_cancel once started, WOC03 invalid_transition unless pending (live hold) or confirmed, P0002 for bookings the caller cannot see, 42501 for the space''s host';

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
				PERFORM workon.payment_apply(v_pay.id);
			END IF;
			UPDATE workon.outbox AS o
			   SET status = 'done', response_status = p_http_status, last_error = NULL
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
				   response_status = p_http_status, last_error = pg_catalog.left(v_error, 1000)
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
'For the front end: the provider answered an outbox row with a 2xx or 4xx status and a JSON body. 2xx applies the answer (payment <- PaymentIntent id, client_secret, status; checkout <- session id and url; refund <- refund id and status) and marks the row done (a delivered mail that held a one-time link keeps no body); 4xx marks it failed with the provider''s error code and message (a mail: dead, for an admin to retry) (the payment can start over with a new idempotency key; a refund is failed). A row no longer pending changes nothing. Returns the HTTP response for a client waiting on the row (workon.outbox_response)';

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
			   SET status = 'dead', last_error = pg_catalog.left(p_error, 1000)
			 WHERE o.id = v_o.id;
		ELSE
			UPDATE workon.outbox AS o
			   SET next_attempt_at = pg_catalog.now()
									 + pg_catalog.make_interval(secs => GREATEST(
										 workon.outbox_backoff(GREATEST(o.attempts, 1)),
										 LEAST(COALESCE(p_retry_after, 0), 3600))),
				   last_error = pg_catalog.left(p_error, 1000)
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
