/* sql/workon--0.3.0--0.4.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.4.0'" to load this file. \quit

--
-- ==== 0.4.0: payments (Stripe) ====
--
-- Payments follow Stripe's PaymentIntent lifecycle and refunds Stripe's
-- Refund lifecycle, both enforced by triggers (extension/payment.c).
-- Calls to Stripe are outbox rows written in the same transaction as the
-- change, performed by the HTTP front end with an idempotency key; its
-- answer comes back through workon.outbox_result().  Webhook deliveries are
-- verified in C (extension/webhook.c), stored once per event id and folded
-- into the payment in one canonical order, so that the end state does not
-- depend on the order they arrived in.
--

--
-- State machines and schedules (extension/payment.c)
--
CREATE FUNCTION workon.payment_transition_allowed("from" text, "to" text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'payment_transition_allowed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.payment_transition_allowed(text, text) IS
'The payment state machine (Stripe PaymentIntent): requires_payment_method, requires_confirmation, requires_action and processing may go to any other status, requires_capture to processing, succeeded or canceled; succeeded and canceled are final';

CREATE FUNCTION workon.refund_transition_allowed("from" text, "to" text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'refund_transition_allowed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.refund_transition_allowed(text, text) IS
'The refund state machine (Stripe Refund): pending and requires_action may go to any other status, succeeded only to failed; failed and canceled are final';

CREATE FUNCTION workon.stripe_event_precedence(type text)
RETURNS integer
AS 'MODULE_PATHNAME', 'stripe_event_precedence'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_event_precedence(text) IS
'Rank of a Stripe event type among events of one payment created in the same second (progress, failure, success, cancellation, refund, dispute); 100 for types that are not applied';

CREATE FUNCTION workon.outbox_backoff(attempts integer)
RETURNS double precision
AS 'MODULE_PATHNAME', 'outbox_backoff'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.outbox_backoff(integer) IS
'Seconds before the next attempt of an outbound call after the given number of attempts: 1 s doubling per attempt, at most 600 s, times a random factor in [0.75, 1.25) (still at most 600 s)';

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
-- Payments
--
CREATE TABLE workon.payments (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	booking_id	uuid NOT NULL REFERENCES workon.bookings (id) ON DELETE CASCADE
				CONSTRAINT payments_booking_id_key UNIQUE,
	user_id		uuid NOT NULL REFERENCES workon.users (id),
	method		text NOT NULL
				CONSTRAINT payments_method_check CHECK (method IN ('payment_intent', 'checkout')),
	status		text NOT NULL DEFAULT 'requires_payment_method'
				CONSTRAINT payments_status_check
				CHECK (status IN ('requires_payment_method', 'requires_confirmation', 'requires_action',
								  'processing', 'requires_capture', 'succeeded', 'canceled')),
	amount_cents bigint NOT NULL
				CONSTRAINT payments_amount_cents_check CHECK (amount_cents >= 0),
	currency	text NOT NULL
				CONSTRAINT payments_currency_check CHECK (currency ~ '^[a-z]{3}$'),
	stripe_payment_intent_id text
				CONSTRAINT payments_stripe_payment_intent_id_key UNIQUE,
	client_secret text,
	checkout_session_id text
				CONSTRAINT payments_checkout_session_id_key UNIQUE,
	checkout_url text,
	generation	integer NOT NULL DEFAULT 1,
	amount_received_cents bigint,
	received_currency text,
	refunded_cents bigint NOT NULL DEFAULT 0
				CONSTRAINT payments_refunded_cents_check CHECK (refunded_cents >= 0),
	last_error	text,
	flags		text[] NOT NULL DEFAULT '{}',
	succeeded_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.payments IS
'One payment per booking, following its Stripe PaymentIntent (status); method payment_intent (client-side confirmation with client_secret) or checkout (a Checkout Session); generation counts fresh starts after Stripe refused a call; amount_received_cents and received_currency as Stripe reported them; refunded_cents as Stripe reported them; flags such as amount_mismatch, disputed';

CREATE INDEX payments_user_id_idx ON workon.payments (user_id);

CREATE TRIGGER payments_set_updated_at
	BEFORE UPDATE ON workon.payments
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.state_transition()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_allowed	boolean;
BEGIN
	IF TG_TABLE_NAME = 'payments' THEN
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
'Trigger of payments and refunds (argument: the noun for messages): refuses status changes their state machines (workon.payment_transition_allowed, workon.refund_transition_allowed) do not allow, whoever writes; error WOC03 invalid_transition';

CREATE TRIGGER payments_transition
	BEFORE UPDATE ON workon.payments
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.state_transition('payment');

CREATE TRIGGER payments_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.payments
	FOR EACH ROW EXECUTE FUNCTION workon.audit_row('client_secret');

ALTER TABLE workon.payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.payments FORCE ROW LEVEL SECURITY;

-- A payment is seen by whoever sees its booking: its member, the space's
-- host, admins.  Writes go through the payment functions only.
CREATE POLICY payments_visible ON workon.payments
	FOR SELECT
	USING (user_id = workon.current_user_id()
		   OR workon.current_role() = 'admin'
		   OR EXISTS (SELECT FROM workon.bookings AS b
					   JOIN workon.spaces AS s ON s.id = b.space_id
					   WHERE b.id = booking_id AND s.host_id = workon.current_user_id()));

-- the client secret is for the paying member only, through the API
GRANT SELECT (id, booking_id, user_id, method, status, amount_cents, currency,
			  stripe_payment_intent_id, checkout_session_id, amount_received_cents,
			  received_currency, refunded_cents, last_error, flags, succeeded_at,
			  created_at, updated_at)
	ON workon.payments TO workon_member, workon_host, workon_admin;

--
-- Refunds
--
CREATE TABLE workon.refunds (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	payment_id	uuid NOT NULL REFERENCES workon.payments (id) ON DELETE CASCADE,
	booking_id	uuid NOT NULL REFERENCES workon.bookings (id) ON DELETE CASCADE,
	amount_cents bigint NOT NULL
				CONSTRAINT refunds_amount_cents_check CHECK (amount_cents > 0),
	currency	text NOT NULL
				CONSTRAINT refunds_currency_check CHECK (currency ~ '^[a-z]{3}$'),
	status		text NOT NULL DEFAULT 'pending'
				CONSTRAINT refunds_status_check
				CHECK (status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
	reason		text NOT NULL
				CONSTRAINT refunds_reason_check
				CHECK (reason IN ('requested_by_customer', 'slot_unavailable', 'booking_cancelled',
								  'stripe')),
	stripe_refund_id text
				CONSTRAINT refunds_stripe_refund_id_key UNIQUE,
	failure_reason text,
	stripe_status_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.refunds IS
'Refunds of payments, following their Stripe Refund (status; stripe_status_at is the time of the refund event that set it); reason requested_by_customer (a cancellation), slot_unavailable (paid after the hold expired and the slot was taken), booking_cancelled (paid after the booking was cancelled) or stripe (made in Stripe itself, seen in charge.refunded)';

CREATE INDEX refunds_payment_id_idx ON workon.refunds (payment_id);
CREATE INDEX refunds_booking_id_idx ON workon.refunds (booking_id);

CREATE TRIGGER refunds_set_updated_at
	BEFORE UPDATE ON workon.refunds
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE TRIGGER refunds_transition
	BEFORE UPDATE ON workon.refunds
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.state_transition('refund');

CREATE TRIGGER refunds_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.refunds
	FOR EACH ROW EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.refunds FORCE ROW LEVEL SECURITY;

CREATE POLICY refunds_visible ON workon.refunds
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.payments AS p WHERE p.id = payment_id));

GRANT SELECT ON workon.refunds TO workon_member, workon_host, workon_admin;

-- Bookings carry flags too (disputed, amount_mismatch)
ALTER TABLE workon.bookings ADD COLUMN flags text[] NOT NULL DEFAULT '{}';

COMMENT ON COLUMN workon.bookings.flags IS
'Marks for the operators: disputed (a chargeback was opened), amount_mismatch (a payment of another amount or currency arrived)';

--
-- Outbox: calls to the outside, written in the transaction of the change
--
CREATE TABLE workon.outbox (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind		text NOT NULL
				CONSTRAINT outbox_kind_check CHECK (kind IN ('stripe', 'email')),
	purpose		text NOT NULL
				CONSTRAINT outbox_purpose_check
				CHECK (purpose IN ('payment_intent', 'checkout_session', 'refund',
								   'payment_intent_cancel', 'checkout_session_expire', 'email')),
	method		text NOT NULL DEFAULT 'POST',
	path		text NOT NULL,
	params		jsonb NOT NULL
				CONSTRAINT outbox_params_check CHECK (pg_catalog.jsonb_typeof(params) = 'object'),
	idempotency_key text NOT NULL
				CONSTRAINT outbox_idempotency_key_key UNIQUE,
	status		text NOT NULL DEFAULT 'pending'
				CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'done', 'failed', 'dead')),
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_error	text,
	response_status integer,
	payment_id	uuid REFERENCES workon.payments (id) ON DELETE CASCADE,
	refund_id	uuid REFERENCES workon.refunds (id) ON DELETE CASCADE,
	booking_id	uuid REFERENCES workon.bookings (id) ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.outbox IS
'Outbound calls: kind stripe (performed by the HTTP front end: method, path, params as form fields, idempotency_key) or email (queued: params {to, template, data}); status pending (due at next_attempt_at), done, failed (the provider refused: last_error) or dead (8 attempts); purpose and payment_id, refund_id, booking_id name what the answer updates';

CREATE INDEX outbox_due_idx ON workon.outbox (kind, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_payment_id_idx ON workon.outbox (payment_id);
CREATE INDEX outbox_refund_id_idx ON workon.outbox (refund_id);
CREATE INDEX outbox_booking_id_idx ON workon.outbox (booking_id);

CREATE TRIGGER outbox_set_updated_at
	BEFORE UPDATE ON workon.outbox
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.outbox_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_outbox', NEW.kind || ':' || NEW.id);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.outbox_notify() IS
'Trigger: NOTIFY workon_outbox, ''<kind>:<id>'' for every new outbox row, so the front end performs it at once';

CREATE TRIGGER outbox_notify
	AFTER INSERT ON workon.outbox
	FOR EACH ROW EXECUTE FUNCTION workon.outbox_notify();

ALTER TABLE workon.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.outbox FORCE ROW LEVEL SECURITY;

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
	payment_id	uuid REFERENCES workon.payments (id) ON DELETE SET NULL,
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

--
-- Booking state machine: an expired hold comes back to life only when its
-- payment succeeded (and the slot is still free: the exclusion constraint)
--
CREATE OR REPLACE FUNCTION workon.booking_transition()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT workon.booking_transition_allowed(OLD.status, NEW.status)
	   AND NOT (OLD.status = 'expired' AND NEW.status = 'confirmed'
				AND EXISTS (SELECT FROM workon.payments AS p
							 WHERE p.booking_id = NEW.id AND p.status = 'succeeded')) THEN
		RAISE EXCEPTION 'a booking cannot go from % to %', OLD.status, NEW.status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.booking_transition() IS
'Trigger: refuses status changes the booking state machine (workon.booking_transition_allowed) does not allow, whoever writes, except expired -> confirmed for a booking whose payment succeeded; error WOC03 invalid_transition';

--
-- API representations
--
CREATE FUNCTION workon.payment_json(p workon.payments, with_secret boolean DEFAULT false)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', p.id,
		'booking_id', p.booking_id,
		'method', p.method,
		'status', p.status,
		'amount_cents', p.amount_cents,
		'currency', p.currency,
		'stripe_payment_intent_id', p.stripe_payment_intent_id,
		'client_secret', CASE WHEN with_secret THEN p.client_secret END,
		'checkout_session_id', p.checkout_session_id,
		'amount_received_cents', p.amount_received_cents,
		'refunded_cents', p.refunded_cents,
		'last_error', p.last_error,
		'flags', pg_catalog.to_json(p.flags),
		'succeeded_at', p.succeeded_at,
		'created_at', p.created_at,
		'updated_at', p.updated_at)
$$;

COMMENT ON FUNCTION workon.payment_json(workon.payments, boolean) IS
'The API representation of a payment; client_secret only when asked for (the paying member, when the payment is created)';

CREATE FUNCTION workon.refund_json(r workon.refunds)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', r.id,
		'payment_id', r.payment_id,
		'booking_id', r.booking_id,
		'amount_cents', r.amount_cents,
		'currency', r.currency,
		'status', r.status,
		'reason', r.reason,
		'stripe_refund_id', r.stripe_refund_id,
		'failure_reason', r.failure_reason,
		'created_at', r.created_at,
		'updated_at', r.updated_at)
$$;

COMMENT ON FUNCTION workon.refund_json(workon.refunds) IS
'The API representation of a refund';

--
-- Writing to the outbox
--
CREATE FUNCTION workon.outbox_enqueue(p_kind text, p_purpose text, p_path text, p_params jsonb,
									  p_idempotency_key text, p_payment_id uuid DEFAULT NULL,
									  p_refund_id uuid DEFAULT NULL, p_booking_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		bigint;
BEGIN
	INSERT INTO workon.outbox (kind, purpose, path, params, idempotency_key,
							   payment_id, refund_id, booking_id)
	VALUES (p_kind, p_purpose, p_path, p_params, p_idempotency_key,
			p_payment_id, p_refund_id, p_booking_id)
	ON CONFLICT (idempotency_key) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		SELECT o.id INTO v_id FROM workon.outbox AS o WHERE o.idempotency_key = p_idempotency_key;
	END IF;
	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.outbox_enqueue(text, text, text, jsonb, text, uuid, uuid, uuid) IS
'Queues an outbound call once per idempotency key (a second call with the same key returns the first row''s id and changes nothing)';

CREATE FUNCTION workon.email_enqueue(p_user_id uuid, p_template text, p_data jsonb, p_key text,
									 p_booking_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.outbox_enqueue('email', 'email', 'email:' || p_template,
								 pg_catalog.jsonb_build_object('to', u.email, 'template', p_template,
															   'data', p_data),
								 'email:' || p_key, NULL, NULL, p_booking_id)
	  FROM workon.users AS u
	 WHERE u.id = p_user_id
$$;

COMMENT ON FUNCTION workon.email_enqueue(uuid, text, jsonb, text, uuid) IS
'Queues an e-mail to a user (outbox kind email, params {to, template, data}) once per key; templates booking_confirmed, payment_failed, refund';

--
-- Refunds: a refund row and its Stripe call
--
CREATE FUNCTION workon.refund_start(p_payment workon.payments, p_amount bigint, p_reason text)
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
	PERFORM workon.email_enqueue(p_payment.user_id, 'refund',
								 pg_catalog.jsonb_build_object('booking_id', p_payment.booking_id,
															   'refund_id', v_refund.id,
															   'amount_cents', p_amount,
															   'currency', v_refund.currency,
															   'reason', p_reason),
								 'refund:' || v_refund.id, p_payment.booking_id);
	RETURN v_refund;
END
$$;

COMMENT ON FUNCTION workon.refund_start(workon.payments, bigint, text) IS
'Starts a refund of a paid payment: a pending refund row, its POST /v1/refunds outbox row (idempotency key from the refund id, amount, the PaymentIntent, metadata booking_id, payment_id, refund_id) and the refund e-mail, in the caller''s transaction';

--
-- Folding Stripe events into a payment and its booking
--
CREATE FUNCTION workon.payment_apply(p_payment_id uuid)
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
			ELSIF v_next = 'requires_payment_method' THEN
				v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ',
										   o #>> '{last_payment_error,code}',
										   o #>> '{last_payment_error,message}'), ''),
									NULLIF(pg_catalog.split_part(e.type, '.', 3), ''),
									pg_catalog.split_part(e.type, '.', 2));
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
	END IF;
	v_ok := v_pay.status = 'succeeded'
			AND v_pay.amount_received_cents IS NOT DISTINCT FROM v_booking.price_cents
			AND v_pay.received_currency IS NOT DISTINCT FROM v_booking.currency;
	IF v_pay.status = 'succeeded' AND NOT v_ok THEN
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
'Folds the stored Stripe events of a payment, in canonical order (created, then workon.stripe_event_precedence, then id), into its state and applies it to the payment and its booking in the caller''s transaction: a final status is never left; succeeded with the booking''s amount and currency confirms the booking (an expired hold too if its slot is still free) and queues the confirmation e-mail, otherwise flags amount_mismatch; a payment for a booking that cannot be had any more is refunded in full; canceled cancels a pending booking; charge.refunded settles refunds (what our refunds do not cover is one refund row of reason stripe) and cancels a confirmed booking, its refund what Stripe refunded; charge.dispute.created flags the booking. The result depends on the set of events, not on the order they arrived in';

--
-- Route handlers: payments
--
CREATE FUNCTION workon.payment_for_booking(p_booking_id uuid, p_method text)
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
	IF FOUND AND (v_pay.stripe_payment_intent_id IS NOT NULL OR v_pay.checkout_session_id IS NOT NULL) THEN
		RETURN v_pay;			-- answered before: the same payment
	END IF;
	IF workon.booking_status(v_booking) <> 'pending_payment' THEN
		RAISE EXCEPTION 'only a booking pending payment can be paid; this one is %',
						workon.booking_status(v_booking)
			USING ERRCODE = 'WOC06';
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
'The payment of one of the caller''s bookings, created (status requires_payment_method, the booking''s price) if missing: P0002 for a booking that is not the caller''s; WOC06 booking_not_payable when the booking is not pending payment (and has no payment started) or is being paid with the other method';

-- The outbox row of a payment's Stripe call: the one in flight, else a new
-- one (a fresh generation after a refused or abandoned one)
CREATE FUNCTION workon.payment_call(p_pay workon.payments, p_purpose text, p_path text,
									p_params jsonb)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		bigint;
	v_gen		integer := p_pay.generation;
BEGIN
	SELECT o.id INTO v_id
	  FROM workon.outbox AS o
	 WHERE o.payment_id = p_pay.id AND o.purpose = p_purpose AND o.status = 'pending';
	IF FOUND THEN
		RETURN v_id;
	END IF;
	IF EXISTS (SELECT FROM workon.outbox AS o
				WHERE o.payment_id = p_pay.id AND o.purpose = p_purpose) THEN
		v_gen := v_gen + 1;
		UPDATE workon.payments AS p SET generation = v_gen WHERE p.id = p_pay.id;
	END IF;
	v_id := workon.outbox_enqueue('stripe', p_purpose, p_path,
								  p_params || pg_catalog.jsonb_build_object(
									  'metadata[booking_id]', p_pay.booking_id::text,
									  'metadata[payment_id]', p_pay.id::text),
								  pg_catalog.format('workon:%s:%s:%s', p_purpose, p_pay.id, v_gen),
								  p_pay.id, NULL, p_pay.booking_id);
	-- leased to the client that waits on it: the background worker sends it
	-- only if that client goes away
	UPDATE workon.outbox AS o
	   SET next_attempt_at = pg_catalog.now() + interval '30 seconds'
	 WHERE o.id = v_id AND o.attempts = 0;
	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.payment_call(workon.payments, text, text, jsonb) IS
'The pending outbox row of a payment''s Stripe call of that purpose, or a new one with metadata booking_id and payment_id and the idempotency key workon:<purpose>:<payment id>:<generation> (a new generation after a refused or dead call), leased for 30 seconds to the client that waits on it';

CREATE FUNCTION workon.payment_create(id uuid)
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
	PERFORM workon.set_response(202, pg_catalog.jsonb_build_object('X-Workon-Outbox', v_outbox::text));
	RETURN workon.payment_json(v_pay, true);
END
$$;

COMMENT ON FUNCTION workon.payment_create(uuid) IS
'POST /api/v1/bookings/{id}/payment (the member who booked): starts paying a booking pending payment with a Stripe PaymentIntent of its price, metadata booking_id. Answers 201 {id, status, amount_cents, currency, stripe_payment_intent_id, client_secret, ...} once Stripe created the PaymentIntent (the handler returns 202 with X-Workon-Outbox for the front end to wait on); a repeat answers 200 with the same payment and never creates a second PaymentIntent. 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

CREATE FUNCTION workon.checkout_create(id uuid, success_url text DEFAULT NULL,
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
	PERFORM workon.set_response(202, pg_catalog.jsonb_build_object('X-Workon-Outbox', v_outbox::text));
	RETURN workon.json_build('checkout_session_id', NULL, 'url', NULL, 'payment_id', v_pay.id);
END
$$;

COMMENT ON FUNCTION workon.checkout_create(uuid, text, text) IS
'POST /api/v1/bookings/{id}/checkout {success_url, cancel_url} (the member who booked): a Stripe Checkout Session for the booking''s price, booking id in the session''s metadata and in its PaymentIntent''s (payment_intent_data[metadata][booking_id]). Answers 201 {checkout_session_id, url} once Stripe created it (202 with X-Workon-Outbox for the front end to wait on); a repeat answers 200 with the same session. 400 for a missing or non-http(s) URL, 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

CREATE FUNCTION workon.payment_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_pay		workon.payments;
BEGIN
	/*
	 * Definer's rights because client_secret is not granted to API roles;
	 * the visibility rule of the policy payments_visible, applied here.
	 */
	SELECT p.* INTO v_pay
	  FROM workon.payments AS p
	  JOIN workon.bookings AS b ON b.id = p.booking_id
	  JOIN workon.spaces AS s ON s.id = b.space_id
	 WHERE p.id = payment_get.id
	   AND (p.user_id = v_user OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'payment not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN (workon.payment_json(v_pay)::jsonb
			|| pg_catalog.jsonb_build_object('refunds',
				(SELECT COALESCE(pg_catalog.jsonb_agg(workon.refund_json(r)::jsonb
													  ORDER BY r.created_at, r.id),
								 '[]'::jsonb)
				   FROM workon.refunds AS r WHERE r.payment_id = v_pay.id)))::json;
END
$$;

COMMENT ON FUNCTION workon.payment_get(uuid) IS
'GET /api/v1/payments/{id}: a payment (without client_secret) and its refunds, seen by the member who pays, the space''s host and admins; 404 for anyone else';

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
-- The outbox, for the front end
--
CREATE FUNCTION workon.outbox_response(p_id bigint, OUT status integer, OUT headers jsonb,
									   OUT body jsonb)
RETURNS record
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
	v_pay		workon.payments;
	v_refund	workon.refunds;
BEGIN
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;
	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = v_o.payment_id;
	SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.id = v_o.refund_id;

	IF v_o.status = 'done' THEN
		status := CASE WHEN v_o.purpose IN ('payment_intent', 'checkout_session') THEN 201 ELSE 200 END;
		body := CASE v_o.purpose
				WHEN 'payment_intent' THEN workon.payment_json(v_pay, true)::jsonb
				WHEN 'checkout_session' THEN pg_catalog.jsonb_build_object(
					'checkout_session_id', v_pay.checkout_session_id, 'url', v_pay.checkout_url)
				WHEN 'refund' THEN workon.refund_json(v_refund)::jsonb
				ELSE '{}'::jsonb END;
	ELSIF v_o.status = 'failed' THEN
		status := 502;
		body := pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
			'code', 'payment_provider_error',
			'message', COALESCE(v_o.last_error, 'the payment provider refused the request'),
			'details', '{}'::jsonb));
	ELSE
		status := 503;
		headers := pg_catalog.jsonb_build_object('Retry-After',
			CASE WHEN v_o.status = 'dead' THEN '60'
				 ELSE GREATEST(1, pg_catalog.ceil(EXTRACT(epoch FROM v_o.next_attempt_at - pg_catalog.now())))::bigint::text END);
		body := pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
			'code', 'unavailable',
			'message', 'the payment provider could not be reached; try again later',
			'details', '{}'::jsonb));
	END IF;
END
$$;

COMMENT ON FUNCTION workon.outbox_response(bigint) IS
'The HTTP response for a client waiting on an outbox row: done -> 201 payment (with client_secret) or {checkout_session_id, url}, 200 refund; failed (the provider refused) -> 502 payment_provider_error; pending again or dead -> 503 unavailable with Retry-After';

CREATE FUNCTION workon.outbox_claim(p_kind text, p_limit integer)
RETURNS TABLE (id bigint, method text, path text, params jsonb, idempotency_key text,
			   attempts integer)
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH due AS (
		SELECT o.id
		  FROM workon.outbox AS o
		 WHERE o.kind = p_kind AND o.status = 'pending' AND o.next_attempt_at <= pg_catalog.now()
		 ORDER BY o.next_attempt_at, o.id
		 LIMIT LEAST(GREATEST(p_limit, 0), 1000)
		   FOR UPDATE SKIP LOCKED)
	UPDATE workon.outbox AS o
	   SET attempts = o.attempts + 1,
		   next_attempt_at = pg_catalog.now() + interval '60 seconds'
	  FROM due
	 WHERE o.id = due.id
	RETURNING o.id, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim(text, integer) IS
'For the front end: up to p_limit (at most 1000) due pending outbox rows of a kind, oldest first, skipping rows others hold; each is leased for 60 seconds (attempts + 1, next_attempt_at = now + 60 s), so a row whose claimer dies comes back by itself';

CREATE FUNCTION workon.outbox_claim_id(p_id bigint)
RETURNS TABLE (id bigint, method text, path text, params jsonb, idempotency_key text,
			   attempts integer)
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.outbox AS o
	   SET attempts = o.attempts + 1,
		   next_attempt_at = pg_catalog.now() + interval '60 seconds'
	 WHERE o.id = p_id AND o.status = 'pending'
	RETURNING o.id, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim_id(bigint) IS
'For the front end, after a handler answered 202 with X-Workon-Outbox: the row if it is still pending, whatever its lease (the idempotency key makes a second send harmless), leased again; no row once it is done, failed or dead';

CREATE FUNCTION workon.outbox_result(p_id bigint, p_http_status integer, p_body jsonb)
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
		ELSE
			v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ', p_body #>> '{error,code}',
															p_body #>> '{error,message}'), ''),
								'HTTP ' || p_http_status);
			UPDATE workon.outbox AS o
			   SET status = 'failed', response_status = p_http_status, last_error = v_error
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
'For the front end: the provider answered an outbox row with a 2xx or 4xx status and a JSON body. 2xx applies the answer (payment <- PaymentIntent id, client_secret, status; checkout <- session id and url; refund <- refund id and status) and marks the row done; 4xx marks it failed with the provider''s error code and message (the payment can start over with a new idempotency key; a refund is failed). A row no longer pending changes nothing. Returns the HTTP response for a client waiting on the row (workon.outbox_response)';

CREATE FUNCTION workon.outbox_error(p_id bigint, p_error text)
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
			   SET status = 'dead', last_error = pg_catalog.left(p_error, 1000)
			 WHERE o.id = v_o.id;
		ELSE
			UPDATE workon.outbox AS o
			   SET next_attempt_at = pg_catalog.now()
									 + pg_catalog.make_interval(secs => workon.outbox_backoff(GREATEST(o.attempts, 1))),
				   last_error = pg_catalog.left(p_error, 1000)
			 WHERE o.id = v_o.id;
		END IF;
	END IF;
	RETURN QUERY SELECT r.status, r.headers, r.body FROM workon.outbox_response(p_id) AS r;
END
$$;

COMMENT ON FUNCTION workon.outbox_error(bigint, text) IS
'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts (last_error kept; the payment or refund stays pending and can be started again). A row no longer pending changes nothing. Returns the HTTP response for a waiting client: 503 unavailable with Retry-After';

CREATE FUNCTION workon.outbox_retry(id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
BEGIN
	IF workon.current_role() IS DISTINCT FROM 'admin' THEN
		RAISE EXCEPTION 'only admins may retry outbound calls'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = outbox_retry.id AND o.status = 'dead' FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no dead outbox row %', outbox_retry.id
			USING ERRCODE = 'no_data_found';
	END IF;
	-- a payment that started over must not be created twice
	IF EXISTS (SELECT FROM workon.outbox AS o
				WHERE o.payment_id = v_o.payment_id AND o.purpose = v_o.purpose AND o.id > v_o.id) THEN
		RAISE EXCEPTION 'outbox row % was replaced by a newer call', v_o.id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE workon.outbox AS o
	   SET status = 'pending', attempts = 0, next_attempt_at = pg_catalog.now()
	 WHERE o.id = v_o.id;
END
$$;

COMMENT ON FUNCTION workon.outbox_retry(bigint) IS
'For admins: a dead outbox row is pending again, due now, with a fresh count of attempts (same idempotency key); 55000 when a newer call of the same payment and purpose replaced it';

--
-- Cancelling a paid booking refunds it through Stripe
--
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
'POST /api/v1/bookings/{id}/cancel (its member, admin): status cancelled with refund {amount_cents, currency, percent} by workon.booking_refund of what was paid (0 unless confirmed and paid); a paid booking''s refund is a refund row and a Stripe refund call in the same transaction, a payment under way is cancelled at Stripe, a payment that succeeded without confirming the booking (another amount) is refunded in full; WOC04 cannot_cancel once started, WOC03 invalid_transition unless pending (live hold) or confirmed, P0002 for bookings the caller cannot see, 42501 for the space''s host';

--
-- Routes and errors
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary) VALUES
	('POST', '/api/v1/bookings/{id}/payment', 'workon.payment_create(uuid)',
	 'member', 201, 'none', 'Pay for a booking with a Stripe PaymentIntent'),
	('POST', '/api/v1/bookings/{id}/checkout', 'workon.checkout_create(uuid,text,text)',
	 'member', 201, 'json', 'Pay for a booking with Stripe Checkout'),
	('GET', '/api/v1/payments/{id}', 'workon.payment_get(uuid)',
	 'member', 200, 'none', 'Get a payment and its refunds'),
	('POST', '/api/webhooks/stripe', 'workon.stripe_webhook(text,jsonb)',
	 'none', 200, 'raw', 'Stripe webhook endpoint'),
	('POST', '/api/v1/webhooks/stripe', 'workon.stripe_webhook(text,jsonb)',
	 'none', 200, 'raw', 'Stripe webhook endpoint');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOB01', 400, 'invalid_signature'),
	('WOC06', 409, 'booking_not_payable');

--
-- Function privileges of the payments
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	workon.stripe_webhook(text, jsonb),
	workon.stripe_signature_verify(text, text, text, integer, timestamptz),
	workon.payment_transition_allowed(text, text),
	workon.refund_transition_allowed(text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.payment_create(uuid),
	workon.checkout_create(uuid, text, text),
	workon.payment_get(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.outbox_retry(bigint)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.outbox_claim(text, integer),
	workon.outbox_claim_id(bigint),
	workon.outbox_result(bigint, integer, jsonb),
	workon.outbox_error(bigint, text),
	workon.seed_stripe_webhook_secret(text)
	TO workon_authenticator;

--
-- pg_dump: payments, refunds, the outbox, events and secrets are data
--
SELECT pg_catalog.pg_extension_config_dump('workon.payments', '');
SELECT pg_catalog.pg_extension_config_dump('workon.refunds', '');
SELECT pg_catalog.pg_extension_config_dump('workon.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('workon.outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stripe_events', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stripe_webhook_secrets', '');

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

-- ==== end of 0.4.0: payments (Stripe) ====

--
-- 0.4.0 edge: the OpenAPI document, generated from the route table
--

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
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary,
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
				 "429": {"$ref": "#/components/responses/RateLimited"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
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

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';

REVOKE ALL ON FUNCTION workon.openapi_schema(regtype), workon.openapi_builtin_paths(), workon.openapi() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.openapi_schema(regtype), workon.openapi_builtin_paths(), workon.openapi()
	TO workon_authenticator, workon_anon, workon_member, workon_host, workon_admin;

-- ==== 0.4.0: restoring a pg_dump ====
--
-- A restore creates the tables with CREATE EXTENSION, triggers included,
-- then loads each table's rows with COPY ... FROM stdin.  Rows that come
-- back from a dump already are what the triggers made of them: the audit
-- triggers would log them again (and take audit_log ids that the restored
-- rows still need), the checks of spaces would judge historic rows by
-- today's rules, the outbox would be announced again.  Those triggers are
-- skipped for rows a restore loads (extension/restore.c: a top-level COPY
-- FROM into that very table in a session whose session user and current
-- role are superusers, who could disable the triggers anyway; no API role
-- and no ordinary SQL caller can meet that).  Foreign keys are still
-- checked: pg_dump loads the tables in foreign-key order, and the one
-- self-reference (refresh_tokens.parent_id) is checked at the end of the
-- table's COPY, whatever the order of its rows.  Triggers that only keep
-- caches and listeners up to date (jwt_keys_changed, routes_notify) run.
--
CREATE FUNCTION workon.restoring(rel regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'restoring'
LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION workon.restoring(regclass) IS
'True while rel''s rows are loaded by a superuser''s top-level COPY FROM into rel, as pg_dump''s output does: triggers acting on live writes (audit, checks, outbox notifications) skip those rows';

-- The triggers' WHEN clauses run as the role that writes: every API role
-- and the front end's login role may ask (the answer is about their own
-- statement, and false for them).  A role a DBA lets write these tables
-- needs EXECUTE on it too, as on the other functions the triggers call.
REVOKE ALL ON FUNCTION workon.restoring(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.restoring(regclass)
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

DROP TRIGGER users_audit ON workon.users;
CREATE TRIGGER users_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.users
	FOR EACH ROW WHEN (NOT workon.restoring('workon.users'))
	EXECUTE FUNCTION workon.audit_row('password_hash');

DROP TRIGGER spaces_audit ON workon.spaces;
CREATE TRIGGER spaces_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.audit_row('doc');

DROP TRIGGER spaces_check ON workon.spaces;
CREATE TRIGGER spaces_check
	BEFORE INSERT OR UPDATE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.space_check();

DROP TRIGGER spaces_write_doc ON workon.spaces;
CREATE TRIGGER spaces_write_doc
	BEFORE INSERT OR UPDATE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.spaces_write_doc();

DROP TRIGGER bookings_audit ON workon.bookings;
CREATE TRIGGER bookings_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.bookings
	FOR EACH ROW WHEN (NOT workon.restoring('workon.bookings'))
	EXECUTE FUNCTION workon.audit_row();

DROP TRIGGER payments_audit ON workon.payments;
CREATE TRIGGER payments_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments'))
	EXECUTE FUNCTION workon.audit_row('client_secret');

DROP TRIGGER refunds_audit ON workon.refunds;
CREATE TRIGGER refunds_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.refunds
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refunds'))
	EXECUTE FUNCTION workon.audit_row();

DROP TRIGGER outbox_notify ON workon.outbox;
CREATE TRIGGER outbox_notify
	AFTER INSERT ON workon.outbox
	FOR EACH ROW WHEN (NOT workon.restoring('workon.outbox'))
	EXECUTE FUNCTION workon.outbox_notify();

-- ==== end of 0.4.0: restoring a pg_dump ====
