/* sql/src/31_outbox.sql -- calls to the outside, written in the transaction of the change */

--
-- The outbox: calls to the outside, written in the transaction of the
-- change, performed by the HTTP front end
--
CREATE TABLE workon.outbox (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind		text NOT NULL
				CONSTRAINT outbox_kind_check CHECK (kind IN ('stripe', 'email', 's3')),
	purpose		text NOT NULL
				CONSTRAINT outbox_purpose_check
				CHECK (purpose IN ('payment_intent', 'checkout_session', 'refund',
								   'payment_intent_cancel', 'checkout_session_expire', 'email',
								   's3_delete')),
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
	payment_id	uuid REFERENCES workon.payments (id) ON DELETE RESTRICT,
	refund_id	uuid REFERENCES workon.refunds (id) ON DELETE RESTRICT,
	booking_id	uuid REFERENCES workon.bookings (id) ON DELETE RESTRICT,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	sending_until timestamptz
);

COMMENT ON TABLE workon.outbox IS
'Outbound calls: kind stripe (performed by the HTTP front end: method, path, params as form fields, idempotency_key), s3 (performed by the front end with UPLOAD_STORE=s3: method DELETE, path /<key> of an object of the bucket) or email (queued: params {to, template, data}); status pending (due at next_attempt_at), done, failed (the provider refused: last_error) or dead (8 attempts); purpose and payment_id, refund_id, booking_id name what the answer updates';

COMMENT ON COLUMN workon.outbox.sending_until IS
'Set while a claimer is sending the row (the end of its lease), cleared by its result or error: a client waiting on a row someone else sends waits for its result instead of sending it again';

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
	FOR EACH ROW WHEN (NOT workon.restoring('workon.outbox'))
	EXECUTE FUNCTION workon.outbox_notify();

ALTER TABLE workon.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.outbox FORCE ROW LEVEL SECURITY;

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

--
-- The outbox, for the front end: claiming rows, their answers, retries
--
-- the schedule of retries (extension/payment.c)
CREATE FUNCTION workon.outbox_backoff(attempts integer)
RETURNS double precision
AS 'MODULE_PATHNAME', 'outbox_backoff'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.outbox_backoff(integer) IS
'Seconds before the next attempt of an outbound call after the given number of attempts: 1 s doubling per attempt, at most 600 s, times a random factor in [0.75, 1.25) (still at most 600 s)';

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
		IF status = 201 THEN
			headers := pg_catalog.jsonb_build_object('Location', '/api/v1/payments/' || v_pay.id);
		END IF;
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
		   next_attempt_at = pg_catalog.now() + interval '60 seconds',
		   sending_until = pg_catalog.now() + interval '60 seconds'
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
		   next_attempt_at = pg_catalog.now() + interval '60 seconds',
		   sending_until = pg_catalog.now() + interval '60 seconds'
	 WHERE o.id = p_id AND o.status = 'pending'
	   AND (o.sending_until IS NULL OR o.sending_until <= pg_catalog.now())
	RETURNING o.id, o.kind, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim_id(bigint) IS
'For the front end, after a handler named the row with workon.wait_for_outbox(): the row if it is still pending and nobody is sending it (whatever its retry time), leased for 60 seconds; no row once it is done, failed or dead, or while another claimer sends it (that client waits for the row''s result instead: one call to the provider, workon.outbox_sending)';

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

CREATE FUNCTION workon.outbox_error(p_id bigint, p_error text)
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
-- Privileges
--
GRANT EXECUTE ON FUNCTION workon.outbox_retry(bigint)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.outbox_claim(text[], integer),
	workon.outbox_claim_id(bigint),
	workon.outbox_sending(bigint),
	workon.outbox_result(bigint, integer, jsonb),
	workon.outbox_error(bigint, text),
	workon.outbox_error(bigint, text, double precision)
	TO workon_authenticator;

-- pg_dump: the outbox is data
SELECT pg_catalog.pg_extension_config_dump('workon.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('workon.outbox_id_seq', '');
