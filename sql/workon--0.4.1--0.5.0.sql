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
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
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
		IF r.auth <> 'none' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw') THEN
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
	PERFORM workon.event_emit('session.revoked', ARRAY[OLD.id],
							  workon.json_build('close_code', 4401,
														   'reason', CASE TG_OP WHEN 'DELETE' THEN 'user removed'
																	 ELSE 'role changed' END));
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.user_event() IS
'Trigger: a user whose role changes or who is removed gets a session.revoked event: the front end closes their sockets (4401) at once';

CREATE TRIGGER users_event
	AFTER UPDATE OF role OR DELETE ON workon.users
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

-- the functions above are not PUBLIC's; the new shipped routes are not dumped
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

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
