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
		'locale', workon.user_locale(u.locale),
		'created_at', u.created_at,
		'updated_at', u.updated_at)
	  FROM workon.users AS u
	 WHERE u.id = $1
$$;

COMMENT ON FUNCTION workon.user_json(uuid) IS
'The API representation of a user, {"id","email","name","role","email_verified","locale","created_at","updated_at"} (locale: the language of their e-mails); NULL if the caller may not see the user';

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
			IF v_o.kind = 'email' AND (v_o.params ->> 'private')::boolean THEN
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
'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx or 429). The row is due again after workon.outbox_backoff(attempts) seconds or the provider''s Retry-After (p_retry_after seconds, at most an hour; NULL: none) if longer, or dead after 8 attempts (a mail: 20, about two hours) (last_error kept; the payment or refund stays pending and can be started again). A row no longer pending changes nothing. Returns the HTTP response for a waiting client: 503 unavailable with Retry-After';

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
'For the front end: workon.outbox_error(p_id, p_error, NULL). An outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts (a mail: 20) (last_error kept; the payment or refund stays pending and can be started again). A row no longer pending changes nothing. Returns the HTTP response for a waiting client: 503 unavailable with Retry-After';

GRANT EXECUTE ON FUNCTION workon.outbox_error(bigint, text, double precision)
	TO workon_authenticator;
