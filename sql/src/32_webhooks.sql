/* sql/src/32_webhooks.sql -- Stripe webhooks: signatures, secrets, events, the webhook route */

--
-- Webhook signatures (extension/webhook.c)
--
CREATE FUNCTION workon.stripe_signature_verify(payload text, header text, secret text,
											   tolerance integer DEFAULT 300,
											   now timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'stripe_signature_verify'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_signature_verify(text, text, text, integer, timestamptz) IS
'True when a Stripe-Signature header ("t=<unix time>,v1=<hex>[,v1=<hex>...]") carries a v1 HMAC-SHA256 of "<t>.<payload>" under the secret (any v1 may match; constant-time comparison) and t is within tolerance seconds (0..86400) of now, either way; false otherwise';

-- not strict: a missing header or body is an invalid signature
CREATE FUNCTION workon.stripe_signature_check(payload text, header text, secrets text[],
											  tolerance integer DEFAULT 300,
											  now timestamptz DEFAULT pg_catalog.now())
RETURNS void
AS 'MODULE_PATHNAME', 'stripe_signature_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_signature_check(text, text, text[], integer, timestamptz) IS
'workon.stripe_signature_verify with several secrets (during a rotation any may match); a delivery that does not verify is error WOB01 invalid_signature whose detail says why (malformed header, no matching signature, timestamp out of tolerance, no secret)';

CREATE FUNCTION workon.stripe_signature(payload text, secret text, t bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'stripe_signature'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_signature(text, text, bigint) IS
'The v1 signature (hex HMAC-SHA256 of "<t>.<payload>") Stripe sends for a payload at Unix time t: for tests and replay tools';

--
-- Webhook secrets: several are valid at once while one is being rolled
--
CREATE TABLE workon.stripe_webhook_secrets (
	id			text PRIMARY KEY,
	secret		text NOT NULL
				CONSTRAINT stripe_webhook_secrets_secret_check CHECK (pg_catalog.length(secret) >= 16),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz
);

COMMENT ON TABLE workon.stripe_webhook_secrets IS
'Stripe webhook signing secrets: id derived from an HMAC of the secret, expires_at set (24 hours ahead) when another secret is seeded, so deliveries signed with the previous one still verify during the rotation';

ALTER TABLE workon.stripe_webhook_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.stripe_webhook_secrets FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.seed_stripe_webhook_secret(p_secret text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		text;
BEGIN
	IF p_secret IS NULL OR pg_catalog.length(p_secret) < 16 THEN
		RAISE EXCEPTION 'Stripe webhook secret must be at least 16 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;
	v_id := 'seed-' || pg_catalog.left(pg_catalog.encode(
		workon.hmac_sha256(pg_catalog.convert_to(p_secret, 'UTF8'),
						   pg_catalog.convert_to('workon stripe webhook secret id', 'UTF8')),
		'hex'), 20);

	-- the others stay valid for a day, the seeded one for good
	UPDATE workon.stripe_webhook_secrets AS s
	   SET expires_at = pg_catalog.now() + interval '24 hours'
	 WHERE s.id <> v_id AND s.expires_at IS NULL;
	INSERT INTO workon.stripe_webhook_secrets AS s (id, secret)
	VALUES (v_id, p_secret)
	ON CONFLICT (id) DO UPDATE SET expires_at = NULL WHERE s.expires_at IS NOT NULL;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'stripe_webhook_secrets', v_id);
	END IF;
END
$$;

COMMENT ON FUNCTION workon.seed_stripe_webhook_secret(text) IS
'Idempotent, for the front end at start with STRIPE_WEBHOOK_SECRET (at least 16 characters): stores the secret webhooks are verified with; a previously seeded different secret stays valid for 24 more hours';

--
-- Stripe events, stored once per id
--
CREATE TABLE workon.stripe_events (
	id			text PRIMARY KEY,
	type		text NOT NULL,
	created		timestamptz NOT NULL,
	precedence	integer NOT NULL,
	livemode	boolean NOT NULL DEFAULT false,
	object		jsonb NOT NULL,
	booking_id	uuid,
	payment_intent_id text,
	checkout_session_id text,
	payment_id	uuid REFERENCES workon.payments (id) ON DELETE RESTRICT,
	received_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.stripe_events IS
'Verified Stripe webhook events, one row per event id (a redelivery has no second effect): type, created (Stripe''s time), precedence (workon.stripe_event_precedence), data.object, and what it names (booking from metadata, PaymentIntent, Checkout Session) and the payment it was matched to; events of unknown types are kept and not applied';

CREATE INDEX stripe_events_payment_id_idx ON workon.stripe_events (payment_id, created, precedence, id);
CREATE INDEX stripe_events_payment_intent_id_idx ON workon.stripe_events (payment_intent_id)
	WHERE payment_id IS NULL;
CREATE INDEX stripe_events_checkout_session_id_idx ON workon.stripe_events (checkout_session_id)
	WHERE payment_id IS NULL;

ALTER TABLE workon.stripe_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.stripe_events FORCE ROW LEVEL SECURITY;

-- the canonical order of events (extension/payment.c)
CREATE FUNCTION workon.stripe_event_precedence(type text)
RETURNS integer
AS 'MODULE_PATHNAME', 'stripe_event_precedence'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_event_precedence(text) IS
'Rank of a Stripe event type among events of one payment created in the same second (progress, failure, success, cancellation, refund, dispute); 100 for types that are not applied';

--
-- Refund events: the refund row follows its Stripe Refund
--
CREATE FUNCTION workon.refund_apply(p_event workon.stripe_events)
RETURNS workon.refunds
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o			jsonb := p_event.object;
	v_refund	workon.refunds;
	v_status	text := o ->> 'status';
BEGIN
	SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.stripe_refund_id = o ->> 'id' FOR UPDATE;
	IF NOT FOUND AND o #>> '{metadata,refund_id}' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		SELECT * INTO v_refund FROM workon.refunds AS r
		 WHERE r.id = (o #>> '{metadata,refund_id}')::uuid AND r.stripe_refund_id IS NULL
		   FOR UPDATE;
	END IF;
	IF v_refund.id IS NULL THEN
		RETURN NULL;			-- not ours: charge.refunded accounts for it
	END IF;

	/*
	 * The state machine keeps final states; among the others an older
	 * event does not undo a newer one.
	 */
	IF v_status IS DISTINCT FROM v_refund.status
	   AND workon.refund_transition_allowed(v_refund.status, v_status)
	   AND (v_status IN ('succeeded', 'failed', 'canceled')
			OR v_refund.stripe_status_at IS NULL OR p_event.created >= v_refund.stripe_status_at) THEN
		v_refund.status := v_status;
		v_refund.stripe_status_at := p_event.created;
	END IF;
	UPDATE workon.refunds AS r
	   SET stripe_refund_id = o ->> 'id',
		   status = v_refund.status,
		   stripe_status_at = v_refund.stripe_status_at,
		   failure_reason = COALESCE(o ->> 'failure_reason', r.failure_reason)
	 WHERE r.id = v_refund.id
	RETURNING * INTO v_refund;
	RETURN v_refund;
END
$$;

COMMENT ON FUNCTION workon.refund_apply(workon.stripe_events) IS
'Applies a refund.created, refund.updated, refund.failed or charge.refund.updated event to the refund it names (by Stripe refund id, else metadata.refund_id): its status when the refund state machine allows it and no newer event set a non-final one; failure_reason. Refunds that are not ours are left to charge.refunded';

--
-- Route handler: Stripe webhooks
--
CREATE FUNCTION workon.stripe_webhook(body text, meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_event		jsonb;
	v_obj		jsonb;
	v_id		text;
	v_type		text;
	v_booking	uuid;
	v_pi		text;
	v_cs		text;
	v_pay		workon.payments;
BEGIN
	-- nothing is looked at before the signature holds
	PERFORM workon.stripe_signature_check(
		stripe_webhook.body,
		stripe_webhook.meta #>> '{headers,stripe-signature}',
		ARRAY(SELECT s.secret FROM workon.stripe_webhook_secrets AS s
			   WHERE s.expires_at IS NULL OR s.expires_at > pg_catalog.now()
			   ORDER BY s.created_at DESC));

	BEGIN
		v_event := stripe_webhook.body::jsonb;
	EXCEPTION WHEN invalid_text_representation THEN
		RAISE EXCEPTION 'webhook body must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END;
	v_obj := v_event #> '{data,object}';
	IF pg_catalog.jsonb_typeof(v_event) IS DISTINCT FROM 'object'
	   OR pg_catalog.jsonb_typeof(v_event -> 'id') IS DISTINCT FROM 'string'
	   OR pg_catalog.jsonb_typeof(v_event -> 'type') IS DISTINCT FROM 'string'
	   OR pg_catalog.jsonb_typeof(v_event -> 'created') IS DISTINCT FROM 'number'
	   OR pg_catalog.jsonb_typeof(v_obj) IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION 'webhook body must be a Stripe event: id, type, created and data.object'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;
	v_id := v_event ->> 'id';
	v_type := v_event ->> 'type';

	-- what it names: our booking (metadata), its PaymentIntent, its session
	IF v_obj #>> '{metadata,booking_id}' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		v_booking := (v_obj #>> '{metadata,booking_id}')::uuid;
	END IF;
	IF v_type LIKE 'payment\_intent.%' THEN
		v_pi := v_obj ->> 'id';
	ELSIF pg_catalog.jsonb_typeof(v_obj -> 'payment_intent') = 'object' THEN
		v_pi := v_obj #>> '{payment_intent,id}';
	ELSE
		v_pi := v_obj ->> 'payment_intent';
	END IF;
	IF v_type LIKE 'checkout.session.%' THEN
		v_cs := v_obj ->> 'id';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking;
	IF NOT FOUND AND v_pi IS NOT NULL THEN
		SELECT * INTO v_pay FROM workon.payments AS p WHERE p.stripe_payment_intent_id = v_pi;
	END IF;
	IF v_pay.id IS NULL AND v_cs IS NOT NULL THEN
		SELECT * INTO v_pay FROM workon.payments AS p WHERE p.checkout_session_id = v_cs;
	END IF;

	/*
	 * Deliveries for one payment take turns from here, in the order every
	 * writer locks: booking first.  Without it two of them deadlock: each
	 * row written below takes a key-share lock on the payment (and the
	 * booking) through its foreign key, which the other's FOR UPDATE in
	 * payment_apply then waits for.
	 */
	IF v_pay.id IS NOT NULL THEN
		PERFORM FROM workon.bookings AS b WHERE b.id = v_pay.booking_id FOR UPDATE;
	END IF;

	INSERT INTO workon.stripe_events (id, type, created, precedence, livemode, object,
									  booking_id, payment_intent_id, checkout_session_id, payment_id)
	VALUES (v_id, v_type, pg_catalog.to_timestamp((v_event ->> 'created')::numeric::double precision),
			workon.stripe_event_precedence(v_type),
			COALESCE((v_event ->> 'livemode')::boolean, false), v_obj,
			v_booking, v_pi, v_cs, v_pay.id)
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN
		RETURN '{"received":true}'::json;		-- seen before: no second effect
	END IF;

	IF v_type IN ('refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated') THEN
		PERFORM workon.refund_apply(e)
		   FROM workon.stripe_events AS e WHERE e.id = v_id;
	ELSIF v_pay.id IS NOT NULL AND workon.stripe_event_precedence(v_type) < 100 THEN
		IF v_type IN ('payment_intent.payment_failed', 'checkout.session.async_payment_failed') THEN
			PERFORM workon.email_enqueue(v_pay.user_id, 'payment_failed',
										 pg_catalog.jsonb_build_object(
											 'booking_id', v_pay.booking_id,
											 'payment_id', v_pay.id,
											 'error', v_obj #>> '{last_payment_error,message}'),
										 'payment_failed:' || v_id, v_pay.booking_id);
		END IF;
		PERFORM workon.payment_apply(v_pay.id);
	END IF;
	RETURN '{"received":true}'::json;
END
$$;

COMMENT ON FUNCTION workon.stripe_webhook(text, jsonb) IS
'POST /api/webhooks/stripe and /api/v1/webhooks/stripe (raw body; meta.headers.stripe-signature): verifies the delivery against the stored webhook secrets (400 invalid_signature and no effect otherwise, the event id not used up), stores the event once per id and applies it with workon.payment_apply (refund events with workon.refund_apply) in the same transaction; answers 200 {"received":true}. Handled: payment_intent.succeeded, .payment_failed (the booking stays payable, the error is recorded, an e-mail queued), .canceled, .processing, .requires_action, .amount_capturable_updated, checkout.session.completed, .async_payment_succeeded, .async_payment_failed, charge.refunded, charge.dispute.created, refund.created, refund.updated, refund.failed, charge.refund.updated; other types are stored and ignored';

--
-- Routes, errors, privileges
--
-- Stripe is never rate limited (its deliveries come in bursts and are
-- retried for days); deliveries are counted in workon_webhooks_total
INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, metric, summary) VALUES
	('POST', '/api/webhooks/stripe', 'workon.stripe_webhook(text,jsonb)',
	 'none', 200, 'raw', 'exempt', 'webhooks', 'Stripe webhook endpoint'),
	('POST', '/api/v1/webhooks/stripe', 'workon.stripe_webhook(text,jsonb)',
	 'none', 200, 'raw', 'exempt', 'webhooks', 'Stripe webhook endpoint');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/webhooks/stripe', '{"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"received": {"const": true}}, "required": ["received"]}}}'),
	('POST', '/api/v1/webhooks/stripe', '{"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"received": {"const": true}}, "required": ["received"]}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOB01', 400, 'invalid_signature');

GRANT EXECUTE ON FUNCTION
	workon.stripe_webhook(text, jsonb),
	workon.stripe_signature_verify(text, text, text, integer, timestamptz)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- the front end seeds the webhook secret at start
GRANT EXECUTE ON FUNCTION workon.seed_stripe_webhook_secret(text)
	TO workon_authenticator;

-- pg_dump: events and secrets are data
SELECT pg_catalog.pg_extension_config_dump('workon.stripe_events', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stripe_webhook_secrets', '');
