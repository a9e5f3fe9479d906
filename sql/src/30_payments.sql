/* sql/src/30_payments.sql -- payments and refunds (Stripe), the payment routes */

--
-- Payments follow Stripe's PaymentIntent lifecycle and refunds Stripe's
-- Refund lifecycle, both enforced by triggers (extension/payment.c).
-- Calls to Stripe are outbox rows written in the same transaction as the
-- change, performed by the HTTP front end with an idempotency key; its
-- answer comes back through workon.outbox_result() (31_outbox.sql).
-- Webhook deliveries are verified and stored once per event id
-- (32_webhooks.sql) and folded into the payment here, in one canonical
-- order, so that the end state does not depend on the order they arrived
-- in.
--

--
-- State machines (extension/payment.c)
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

--
-- Payments
--
CREATE TABLE workon.payments (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	booking_id	uuid NOT NULL REFERENCES workon.bookings (id) ON DELETE RESTRICT
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

CREATE TRIGGER payments_transition
	BEFORE UPDATE ON workon.payments
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.state_transition('payment');

CREATE TRIGGER payments_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments'))
	EXECUTE FUNCTION workon.audit_row('client_secret');

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
	payment_id	uuid NOT NULL REFERENCES workon.payments (id) ON DELETE RESTRICT,
	booking_id	uuid NOT NULL REFERENCES workon.bookings (id) ON DELETE RESTRICT,
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
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refunds'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.refunds FORCE ROW LEVEL SECURITY;

CREATE POLICY refunds_visible ON workon.refunds
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.payments AS p WHERE p.id = payment_id));

GRANT SELECT ON workon.refunds TO workon_member, workon_host, workon_admin;

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

-- Stopping a payment under way: its booking was cancelled
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
	PERFORM workon.wait_for_outbox(v_outbox);
	RETURN workon.payment_json(v_pay, true);
END
$$;

COMMENT ON FUNCTION workon.payment_create(uuid) IS
'POST /api/v1/bookings/{id}/payment (the member who booked): starts paying a booking pending payment with a Stripe PaymentIntent of its price, metadata booking_id. Answers 201 {id, status, amount_cents, currency, stripe_payment_intent_id, client_secret, ...} once Stripe created the PaymentIntent (the request waits for Stripe''s answer); a repeat answers 200 with the same payment and never creates a second PaymentIntent. 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

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
	PERFORM workon.wait_for_outbox(v_outbox);
	RETURN workon.json_build('checkout_session_id', NULL, 'url', NULL, 'payment_id', v_pay.id);
END
$$;

COMMENT ON FUNCTION workon.checkout_create(uuid, text, text) IS
'POST /api/v1/bookings/{id}/checkout {success_url, cancel_url} (the member who booked): a Stripe Checkout Session for the booking''s price, booking id in the session''s metadata and in its PaymentIntent''s (payment_intent_data[metadata][booking_id]). Answers 201 {checkout_session_id, url} once Stripe created it (the request waits for Stripe''s answer); a repeat answers 200 with the same session. 400 for a missing or non-http(s) URL, 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

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
-- Routes, errors, privileges
--
-- starting a payment waits for Stripe's answer (workon.wait_for_outbox)
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, outbound, summary) VALUES
	('POST', '/api/v1/bookings/{id}/payment', 'workon.payment_create(uuid)',
	 'member', 201, 'none', false, 'stripe', 'Pay for a booking with a Stripe PaymentIntent'),
	('POST', '/api/v1/bookings/{id}/checkout', 'workon.checkout_create(uuid,text,text)',
	 'member', 201, 'json', false, 'stripe', 'Pay for a booking with Stripe Checkout'),
	('GET', '/api/v1/payments/{id}', 'workon.payment_get(uuid)',
	 'member', 200, 'none', true, NULL, 'Get a payment and its refunds');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/bookings/{id}/payment', '{"responses": {"201": {"$ref": "#/components/schemas/Payment"}, "200": {"$ref": "#/components/schemas/Payment"}}}'),
	('POST', '/api/v1/bookings/{id}/checkout', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"success_url": {"type": "string", "pattern": "^https?://\\S+$"}, "cancel_url": {"type": "string", "pattern": "^https?://\\S+$"}}, "required": ["success_url", "cancel_url"]},
		"responses": {"201": {"type": "object", "properties": {"checkout_session_id": {"type": ["string", "null"]}, "url": {"type": ["string", "null"], "description": "Stripe Checkout page to send the member to"}, "payment_id": {"$ref": "#/components/schemas/Uuid"}}, "required": ["checkout_session_id", "url"]}, "200": {"type": "object", "properties": {"checkout_session_id": {"type": ["string", "null"]}, "url": {"type": ["string", "null"], "description": "Stripe Checkout page to send the member to"}, "payment_id": {"$ref": "#/components/schemas/Uuid"}}, "required": ["checkout_session_id", "url"]}}}'),
	('GET', '/api/v1/payments/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Payment"}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOC06', 409, 'booking_not_payable');

GRANT EXECUTE ON FUNCTION
	workon.payment_transition_allowed(text, text),
	workon.refund_transition_allowed(text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.payment_create(uuid),
	workon.checkout_create(uuid, text, text),
	workon.payment_get(uuid)
	TO workon_member, workon_host, workon_admin;

-- pg_dump: payments and refunds are data
SELECT pg_catalog.pg_extension_config_dump('workon.payments', '');
SELECT pg_catalog.pg_extension_config_dump('workon.refunds', '');
