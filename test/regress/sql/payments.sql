--
-- Payments: the payment and refund state machines, POST /payment and
-- /checkout through the outbox, the outbox functions of the front end,
-- GET /payments/{id} and who sees payments, refunds of cancelled bookings.
-- Times are relative to now(), on the 15-minute grid.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx p
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

-- one API request, the way the front end makes it: as its login role,
-- through workon.dispatch (which switches to the caller's API role)
CREATE FUNCTION pg_temp.http(token text, handler regprocedure, params jsonb, req_body text DEFAULT NULL)
RETURNS TABLE (status int, headers jsonb, body jsonb, outbox_id bigint) LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL ROLE workon_authenticator;
	BEGIN
		RETURN QUERY SELECT d.status, d.headers::jsonb, d.body::jsonb, d.outbox_id
					   FROM workon.dispatch(handler, params, '{}', req_body, token, '{}') AS d;
	EXCEPTION WHEN OTHERS THEN
		RETURN QUERY SELECT -1, NULL::jsonb, pg_catalog.jsonb_build_object('error', SQLSTATE || ' ' || SQLERRM),
							NULL::bigint;
	END;
	RESET ROLE;
END
$$;

INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('c0000000-0000-4000-8000-000000000001', :'h1', 'Always Open', 'desk', 'Berlin', 'Street 1', 1, 'UTC',
        1000, 6000, 'eur',
        '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}',
        true);
\set space 'c0000000-0000-4000-8000-000000000001'
SELECT date_trunc('hour', now()) + interval '3 days' AS t0 \gset

-- a member's hold of 90 minutes, slot n (3 hours apart): 1500 cents
CREATE FUNCTION pg_temp.book(token text, n int) RETURNS uuid LANGUAGE sql AS $$
	SELECT (h.body ->> 'id')::uuid
	  FROM pg_temp.http(token, 'workon.booking_create(uuid,timestamptz,timestamptz)', '{}',
						pg_catalog.json_build_object(
							'space_id', 'c0000000-0000-4000-8000-000000000001',
							'starts_at', pg_catalog.date_trunc('hour', pg_catalog.now()) + interval '3 days' + n * interval '3 hours',
							'ends_at', pg_catalog.date_trunc('hour', pg_catalog.now()) + interval '3 days' + n * interval '3 hours' + interval '90 minutes')::text) AS h
$$;

--
-- The state machines, in C and as enforced on the tables
--
SELECT f AS "from", string_agg(t, ', ' ORDER BY t) AS "to"
  FROM unnest(ARRAY['requires_payment_method', 'requires_confirmation', 'requires_action',
                    'processing', 'requires_capture', 'succeeded', 'canceled']) AS f,
       unnest(ARRAY['requires_payment_method', 'requires_confirmation', 'requires_action',
                    'processing', 'requires_capture', 'succeeded', 'canceled']) AS t
 WHERE workon.payment_transition_allowed(f, t)
 GROUP BY f ORDER BY f;
SELECT f AS "from", string_agg(t, ', ' ORDER BY t) AS "to"
  FROM unnest(ARRAY['pending', 'requires_action', 'succeeded', 'failed', 'canceled']) AS f,
       unnest(ARRAY['pending', 'requires_action', 'succeeded', 'failed', 'canceled']) AS t
 WHERE workon.refund_transition_allowed(f, t)
 GROUP BY f ORDER BY f;
SELECT workon.payment_transition_allowed('succeeded', 'bogus') AS bogus_target,
       workon.payment_transition_allowed('bogus', 'succeeded') AS bogus_source;

-- every pair tried on the tables by the superuser, the strongest writer:
-- the trigger allows exactly what the C function allows
CREATE FUNCTION pg_temp.transition(tbl text, id uuid, target text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('UPDATE workon.%I SET status = %L WHERE id = %L', tbl, target, id);
	RAISE EXCEPTION 'undo' USING ERRCODE = 'P0099';
EXCEPTION
	WHEN SQLSTATE 'P0099' THEN RETURN 'allowed';
	WHEN SQLSTATE 'WOC03' THEN RETURN 'refused';
END
$$;
INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency, cancelled_at)
SELECT :'space', :'m2', :'t0'::timestamptz - n * interval '1 day', :'t0'::timestamptz - n * interval '1 day' + interval '1 hour',
       'cancelled', 1000, 'eur', now()
  FROM generate_series(1, 7) AS n;
INSERT INTO workon.payments (booking_id, user_id, method, status, amount_cents, currency)
SELECT b.id, :'m2', 'payment_intent', s.status, 1000, 'eur'
  FROM (SELECT id, row_number() OVER (ORDER BY starts_at) AS n FROM workon.bookings WHERE user_id = :'m2') AS b
  JOIN (SELECT status, row_number() OVER () AS n
          FROM unnest(ARRAY['requires_payment_method', 'requires_confirmation', 'requires_action',
                            'processing', 'requires_capture', 'succeeded', 'canceled']) AS status) AS s
    ON s.n = b.n;
INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, status, reason)
SELECT p.id, p.booking_id, 100, 'eur', s.status, 'requested_by_customer'
  FROM (SELECT id, booking_id, row_number() OVER (ORDER BY id) AS n FROM workon.payments) AS p
  JOIN (SELECT status, row_number() OVER () AS n
          FROM unnest(ARRAY['pending', 'requires_action', 'succeeded', 'failed', 'canceled']) AS status) AS s
    ON s.n = p.n;
SELECT count(*) AS payment_pairs,
       count(*) FILTER (WHERE (pg_temp.transition('payments', p.id, t) = 'allowed')
                              IS DISTINCT FROM (p.status <> t AND workon.payment_transition_allowed(p.status, t))
                        AND p.status <> t) AS payment_disagreements,
       count(*) FILTER (WHERE p.status <> t AND pg_temp.transition('payments', p.id, t) = 'refused') AS payment_refused
  FROM workon.payments AS p,
       unnest(ARRAY['requires_payment_method', 'requires_confirmation', 'requires_action',
                    'processing', 'requires_capture', 'succeeded', 'canceled']) AS t;
SELECT count(*) AS refund_pairs,
       count(*) FILTER (WHERE (pg_temp.transition('refunds', r.id, t) = 'allowed')
                              IS DISTINCT FROM workon.refund_transition_allowed(r.status, t)
                        AND r.status <> t) AS refund_disagreements,
       count(*) FILTER (WHERE r.status <> t AND pg_temp.transition('refunds', r.id, t) = 'refused') AS refund_refused
  FROM workon.refunds AS r,
       unnest(ARRAY['pending', 'requires_action', 'succeeded', 'failed', 'canceled']) AS t;
-- the error
SELECT pg_temp.try(format('UPDATE workon.payments SET status = %L WHERE status = %L', 'processing', 'succeeded')) AS succeeded_to_processing,
       pg_temp.try(format('UPDATE workon.refunds SET status = %L WHERE status = %L', 'pending', 'failed')) AS failed_to_pending;
-- API roles do not write payments at all
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT pg_temp.try($$UPDATE workon.payments SET status = 'succeeded'$$) AS admin_updates,
       pg_temp.try($$INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, reason) SELECT id, booking_id, 1, 'eur', 'stripe' FROM workon.payments LIMIT 1$$) AS admin_inserts;
ROLLBACK;
-- the test rows are records: nothing cascades, the superuser removes them table by table
DELETE FROM workon.refunds WHERE booking_id IN (SELECT id FROM workon.bookings WHERE user_id = :'m2');
DELETE FROM workon.payments WHERE user_id = :'m2';
DELETE FROM workon.bookings WHERE user_id = :'m2';

--
-- POST /api/v1/bookings/{id}/payment
--
SELECT pg_temp.book(:'m1_token', 0) AS b1 \gset
SELECT status, outbox_id IS NOT NULL AS waits, headers, body ->> 'status' AS payment_status,
       body ->> 'amount_cents' AS amount_cents, body ->> 'currency' AS currency,
       body ->> 'stripe_payment_intent_id' AS pi, body ->> 'client_secret' AS client_secret
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b1'));
SELECT id AS o1, kind, purpose, method, path, status, attempts,
       idempotency_key = 'workon:payment_intent:' || payment_id || ':1' AS key_from_payment,
       params - 'metadata[booking_id]' - 'metadata[payment_id]' AS params,
       params ->> 'metadata[booking_id]' = :'b1' AS booking_in_metadata
  FROM workon.outbox WHERE booking_id = :'b1' \gset
SELECT :'kind' AS kind, :'purpose' AS purpose, :'method' AS method, :'path' AS path, :'status' AS status,
       :'attempts' AS attempts, :'key_from_payment' AS key_from_payment, :'params' AS params,
       :'booking_in_metadata' AS booking_in_metadata;
-- the response names that row
SELECT outbox_id = :o1 AS names_row, status
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b1'));
-- while it is in flight a repeat waits on the same row: no second call
SELECT count(*) AS outbox_rows FROM workon.outbox WHERE booking_id = :'b1';
-- others: 404 (the space's host and admins too: paying is the member's)
SELECT who, h.status, h.body #>> '{error}' AS error
  FROM (VALUES ('m2', :'m2_token'), ('h1', :'h1_token'), ('a1', :'a1_token')) AS v(who, tok),
       pg_temp.http(tok, 'workon.payment_create(uuid)', jsonb_build_object('id', :'b1')) AS h;
SELECT h.status, h.body #>> '{error}' AS error
  FROM pg_temp.http(NULL, 'workon.payment_create(uuid)', jsonb_build_object('id', :'b1')) AS h;
SELECT h.status, h.body #>> '{error}' AS error
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', gen_random_uuid())) AS h;

-- the front end claims it and Stripe answers
SET ROLE workon_authenticator;
SELECT id = :o1 AS same_row, method, path, idempotency_key LIKE 'workon:payment_intent:%:1' AS key, attempts
  FROM workon.outbox_claim_id(:o1);
SELECT * FROM workon.outbox_result(:o1, 200, '{"id":"pi_test_1","object":"payment_intent","status":"requires_payment_method","client_secret":"pi_test_1_secret_fake","amount":1500,"currency":"eur"}')
  \gset r_
SELECT :r_status AS status, :'r_body'::jsonb ->> 'stripe_payment_intent_id' AS pi,
       :'r_body'::jsonb ->> 'client_secret' AS client_secret, :'r_body'::jsonb ->> 'status' AS payment_status;
-- idempotent: a second answer for a finished row changes nothing
SELECT status, body ->> 'stripe_payment_intent_id' AS pi
  FROM workon.outbox_result(:o1, 200, '{"id":"pi_other","status":"succeeded","client_secret":"x"}');
SELECT count(*) AS rows FROM workon.outbox_claim_id(:o1);
RESET ROLE;
SELECT status, stripe_payment_intent_id, client_secret FROM workon.payments WHERE booking_id = :'b1';
SELECT status, attempts, response_status FROM workon.outbox WHERE id = :o1;
-- a repeat: 200, the same payment, no new call
SELECT h.status, h.headers, h.outbox_id, h.body ->> 'stripe_payment_intent_id' AS pi, h.body ->> 'client_secret' AS client_secret
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b1')) AS h;
SELECT count(*) AS outbox_rows FROM workon.outbox WHERE booking_id = :'b1' AND kind = 'stripe';
-- the other method is refused for this booking
SELECT h.status, h.body #>> '{error}' AS error
  FROM pg_temp.http(:'m1_token', 'workon.checkout_create(uuid,text,text)', jsonb_build_object('id', :'b1'),
                    '{"success_url":"https://example.com/ok","cancel_url":"https://example.com/no"}') AS h;

-- Stripe refuses: 502 for the waiting client, the next POST starts over
-- with a new idempotency key
SELECT pg_temp.book(:'m1_token', 1) AS b2 \gset
SELECT h.outbox_id AS o2
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b2')) AS h \gset
SET ROLE workon_authenticator;
SELECT count(*) AS claimed FROM workon.outbox_claim_id(:o2);
SELECT status, headers, body
  FROM workon.outbox_result(:o2, 400, '{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least 0.50 eur"}}');
RESET ROLE;
SELECT status, last_error FROM workon.outbox WHERE id = :o2;
SELECT status, stripe_payment_intent_id, last_error, generation FROM workon.payments WHERE booking_id = :'b2';
SELECT h.status, h.outbox_id > :o2 AS new_row
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b2')) AS h;
SELECT status, right(idempotency_key, 2) AS generation FROM workon.outbox WHERE booking_id = :'b2' ORDER BY id;

-- a payment needs a booking pending payment
UPDATE workon.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = :'b2';
SELECT pg_temp.book(:'m1_token', 2) AS b3 \gset
UPDATE workon.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = :'b3';
SELECT h.status, h.body #>> '{error}' AS error
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b3')) AS h;
SELECT count(*) AS payments_of_b3 FROM workon.payments WHERE booking_id = :'b3';
SELECT code, status FROM workon.errors WHERE sqlstate = 'WOC06';

--
-- The outbox functions: claim, lease, backoff, dead, idempotency
--
SELECT pg_temp.book(:'m1_token', 3) AS b4 \gset
SELECT h.outbox_id AS o4
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b4')) AS h \gset
-- a row a client waits on is leased to it for 30 s: the background worker
-- leaves it alone
SELECT next_attempt_at BETWEEN now() + interval '20 seconds' AND now() + interval '30 seconds' AS leased_to_client
  FROM workon.outbox WHERE id = :o4;
SET ROLE workon_authenticator;
SELECT count(*) AS claimed FROM workon.outbox_claim('{stripe}', 16);
RESET ROLE;
UPDATE workon.outbox SET next_attempt_at = now() - interval '1 second' WHERE status = 'pending';
SET ROLE workon_authenticator;
-- due rows of the kind asked for, oldest first, leased for 60 s
SELECT id = :o4 AS is_o4, kind, attempts FROM workon.outbox_claim('{stripe}', 16) ORDER BY id;
SELECT count(*) AS claimed_again FROM workon.outbox_claim('{stripe}', 16);
SELECT count(*) AS emails_are_not_claimed FROM workon.outbox_claim('{email}', 0);
RESET ROLE;
SELECT next_attempt_at BETWEEN now() + interval '50 seconds' AND now() + interval '60 seconds' AS leased_60s
  FROM workon.outbox WHERE id = :o4;
-- a lease that ran out: due again
UPDATE workon.outbox SET next_attempt_at = now() - interval '1 second' WHERE id = :o4;
SET ROLE workon_authenticator;
SELECT id = :o4 AS is_o4, attempts FROM workon.outbox_claim('{stripe}', 1);
-- network errors: 503 with Retry-After, next attempt after the backoff
SELECT status, headers ? 'Retry-After' AS retry_after, body #>> '{error,code}' AS code
  FROM workon.outbox_error(:o4, 'connect: connection refused');
RESET ROLE;
SELECT status, attempts, last_error,
       next_attempt_at - updated_at BETWEEN interval '1.5 seconds' AND interval '2.5 seconds' AS backoff_2s
  FROM workon.outbox WHERE id = :o4;
-- the schedule: 1 s doubling, at most 10 minutes, 0.75..1.25 jitter
SELECT n, min(workon.outbox_backoff(n)) >= 0.75 * least(2 ^ (n - 1), 600) AS low_ok,
       max(workon.outbox_backoff(n)) <= least(1.25 * 2 ^ (n - 1), 600) AS high_ok
  FROM generate_series(1, 12) AS n, generate_series(1, 50) GROUP BY n ORDER BY n;
SELECT pg_temp.try('SELECT workon.outbox_backoff(0)') AS zero_attempts;
-- dead after 8 attempts
UPDATE workon.outbox SET attempts = 8 WHERE id = :o4;
SET ROLE workon_authenticator;
SELECT status, headers, body #>> '{error,code}' AS code FROM workon.outbox_error(:o4, 'timeout');
SELECT count(*) AS claim_dead FROM workon.outbox_claim_id(:o4);
RESET ROLE;
SELECT status, attempts, last_error FROM workon.outbox WHERE id = :o4;
-- the payment can start over: a new call
SELECT h.status, h.outbox_id > :o4 AS new_row
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b4')) AS h;
-- admins can bring a dead row back, unless a newer call replaced it
SELECT h.outbox_id AS o4b
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b4')) AS h \gset
UPDATE workon.outbox SET status = 'dead', attempts = 8 WHERE id = :o4b;
SELECT pg_temp.try(format('SELECT workon.outbox_retry(%s)', :o4b)) AS superuser_without_token;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.outbox_retry(%s)', :o4)) AS replaced_row,
       pg_temp.try(format('SELECT workon.outbox_retry(%s)', :o4b)) AS newest_row,
       pg_temp.try(format('SELECT workon.outbox_retry(%s)', :o4b)) AS not_dead_any_more;
COMMIT;
SELECT id = :o4b AS newest, status, attempts FROM workon.outbox WHERE booking_id = :'b4' ORDER BY id;
-- idempotency keys are unique
SELECT pg_temp.try(format($$INSERT INTO workon.outbox (kind, purpose, path, params, idempotency_key) SELECT kind, purpose, path, params, idempotency_key FROM workon.outbox WHERE id = %s$$, :o4)) AS same_key;
SELECT workon.outbox_enqueue('stripe', 'refund', '/v1/refunds', '{}', 'workon:test:key') AS k1 \gset
SELECT workon.outbox_enqueue('stripe', 'refund', '/v1/refunds', '{"x":"y"}', 'workon:test:key') = :k1 AS same_row,
       (SELECT params FROM workon.outbox WHERE id = :k1) AS params_kept;
DELETE FROM workon.outbox WHERE id = :k1;
-- several kinds at once: due rows of any of them, each with its kind
SELECT workon.outbox_enqueue('stripe', 'refund', '/v1/refunds', '{}', 'workon:test:kinds') AS ks \gset
SELECT workon.email_enqueue(:'m1', 'refund', '{}', 'test:kinds') AS ke \gset
UPDATE workon.outbox SET next_attempt_at = now() - interval '1 second' WHERE id IN (:ks, :ke);
SET ROLE workon_authenticator;
SELECT count(*) AS no_kinds FROM workon.outbox_claim('{}', 16);
SELECT count(*) AS other_kinds FROM workon.outbox_claim('{webhook_test}', 16);
SELECT count(*) AS null_kinds FROM workon.outbox_claim(NULL, 16);
SELECT id = :ks AS stripe_row, id = :ke AS email_row, kind, method, path, attempts
  FROM workon.outbox_claim('{stripe,email}', 16) WHERE id IN (:ks, :ke) ORDER BY id;
-- a row being sent is not claimed again until its sender reports (then at
-- once, whatever its retry time): one send at a time
SELECT count(*) AS claimed_while_sending, workon.outbox_sending(:ke) AS sending FROM workon.outbox_claim_id(:ke);
SELECT status FROM workon.outbox_error(:ke, 'connection reset');
SELECT workon.outbox_sending(:ke) AS sending_after_error;
SELECT id = :ke AS email_row, kind, path, attempts FROM workon.outbox_claim_id(:ke);
RESET ROLE;
DELETE FROM workon.outbox WHERE id IN (:ks, :ke);
-- bad calls
SET ROLE workon_authenticator;
SELECT pg_temp.try(format('SELECT * FROM workon.outbox_result(%s, 500, %L)', :o4, '{}')) AS status_500,
       pg_temp.try('SELECT * FROM workon.outbox_result(-1, 200, ''{}'')') AS unknown_row,
       pg_temp.try(format('SELECT * FROM workon.outbox_result(%s, 200, %L)', :o4, '[]')) AS not_an_object;
-- the outbox itself is not readable, even by the front end
SELECT pg_temp.try('SELECT count(*) FROM workon.outbox') AS authenticator_reads;
RESET ROLE;
-- every new row is announced
SELECT tgname, pg_get_triggerdef(oid) LIKE '%AFTER INSERT%' AS after_insert
  FROM pg_trigger WHERE tgrelid = 'workon.outbox'::regclass AND tgname = 'outbox_notify';

--
-- POST /api/v1/bookings/{id}/checkout
--
SELECT pg_temp.book(:'m1_token', 4) AS b5 \gset
SELECT label, h.status, h.body #>> '{error}' AS error
  FROM (VALUES
	('no urls', '{}'),
	('not a url', '{"success_url":"ok","cancel_url":"https://example.com/no"}'),
	('javascript', '{"success_url":"https://example.com/ok","cancel_url":"javascript:alert(1)"}'),
	('unknown field', '{"success_url":"https://example.com/ok","cancel_url":"https://example.com/no","mode":"setup"}')) AS v(label, b),
	pg_temp.http(:'m1_token', 'workon.checkout_create(uuid,text,text)', jsonb_build_object('id', :'b5'), b) AS h;
SELECT h.status, h.outbox_id AS o5, h.body - 'payment_id' AS body
  FROM pg_temp.http(:'m1_token', 'workon.checkout_create(uuid,text,text)', jsonb_build_object('id', :'b5'),
                    '{"success_url":"https://example.com/ok?s={CHECKOUT_SESSION_ID}","cancel_url":"https://example.com/no"}') AS h \gset
SELECT :status AS status, :'body' AS body;
SELECT path, params - 'metadata[booking_id]' - 'metadata[payment_id]' - 'client_reference_id'
                    - 'payment_intent_data[metadata][booking_id]' - 'payment_intent_data[metadata][payment_id]' AS params,
       params ->> 'metadata[booking_id]' = :'b5' AND params ->> 'client_reference_id' = :'b5'
       AND params ->> 'payment_intent_data[metadata][booking_id]' = :'b5' AS booking_in_metadata
  FROM workon.outbox WHERE id = :o5;
SET ROLE workon_authenticator;
SELECT count(*) FROM workon.outbox_claim_id(:o5);
SELECT status, body FROM workon.outbox_result(:o5, 200, '{"id":"cs_test_5","object":"checkout.session","url":"https://checkout.stripe.test/c/pay/cs_test_5","payment_intent":null,"status":"open"}');
RESET ROLE;
SELECT h.status, h.body
  FROM pg_temp.http(:'m1_token', 'workon.checkout_create(uuid,text,text)', jsonb_build_object('id', :'b5'),
                    '{"success_url":"https://example.com/ok","cancel_url":"https://example.com/no"}') AS h;
SELECT h.status, h.body #>> '{error}' AS error
  FROM pg_temp.http(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b5')) AS h;
SELECT h.status, h.body #>> '{error}' AS error
  FROM pg_temp.http(:'m2_token', 'workon.checkout_create(uuid,text,text)', jsonb_build_object('id', :'b5'),
                    '{"success_url":"https://example.com/ok","cancel_url":"https://example.com/no"}') AS h;

--
-- GET /api/v1/payments/{id}, and who sees payments and refunds
--
SELECT id AS p1 FROM workon.payments WHERE booking_id = :'b1' \gset
SELECT who, h.status, h.body ->> 'status' AS payment_status, h.body ? 'client_secret' AS has_secret_key,
       h.body ->> 'client_secret' AS client_secret, h.body -> 'refunds' AS refunds, h.body #>> '{error}' AS error
  FROM (VALUES ('member who pays', :'m1_token'), ('other member', :'m2_token'), ('space host', :'h1_token'),
               ('other host', :'h2_token'), ('admin', :'a1_token'), ('anonymous', NULL)) AS v(who, tok),
       pg_temp.http(tok, 'workon.payment_get(uuid)', jsonb_build_object('id', :'p1')) AS h;
CREATE FUNCTION pg_temp.visible(token text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v text;
BEGIN
	IF token IS NULL THEN
		SET LOCAL ROLE workon_anon;
	ELSE
		PERFORM workon.authenticate(token);
	END IF;
	BEGIN
		SELECT count(*) || ' payments' INTO v FROM workon.payments;
	EXCEPTION WHEN insufficient_privilege THEN
		v := 'no access to payments';
	END;
	BEGIN
		v := v || ', ' || (SELECT count(*) FROM workon.refunds) || ' refunds';
	EXCEPTION WHEN insufficient_privilege THEN
		v := v || ', no access to refunds';
	END;
	BEGIN
		PERFORM client_secret FROM workon.payments;
		v := v || ', reads client_secret';
	EXCEPTION WHEN insufficient_privilege THEN
		NULL;
	END;
	RESET ROLE;
	RETURN v;
END
$$;
SELECT pg_temp.book(:'m2_token', 7) AS b8 \gset
SELECT status FROM pg_temp.http(:'m2_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'b8'));
SELECT count(*) AS payments_in_all FROM workon.payments;
SELECT who, pg_temp.visible(tok) AS sees
  FROM (VALUES ('member who pays', :'m1_token'), ('other member', :'m2_token'), ('space host', :'h1_token'),
               ('other host', :'h2_token'), ('admin', :'a1_token'), ('anonymous', NULL)) AS v(who, tok);

--
-- Cancelling: a paid booking's refund goes to Stripe in the same transaction
--
-- b1 is paid: Stripe says so
SELECT workon.seed_stripe_webhook_secret('whsec_test_not_a_real_secret_0123456789');
CREATE FUNCTION pg_temp.deliver(event jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t bigint := floor(extract(epoch FROM now()))::bigint;
BEGIN
	RETURN workon.stripe_webhook(event::text, jsonb_build_object('headers', jsonb_build_object('stripe-signature',
		format('t=%s,v1=%s', t, workon.stripe_signature(event::text, 'whsec_test_not_a_real_secret_0123456789', t)))));
END
$$;
SELECT pg_temp.deliver(jsonb_build_object('id', 'evt_p1', 'type', 'payment_intent.succeeded',
	'created', floor(extract(epoch FROM now()))::bigint,
	'data', jsonb_build_object('object', jsonb_build_object('id', 'pi_test_1', 'object', 'payment_intent',
		'status', 'succeeded', 'amount_received', 1500, 'currency', 'eur',
		'metadata', jsonb_build_object('booking_id', :'b1')))));
SELECT b.status, p.status AS payment_status, p.amount_received_cents
  FROM workon.bookings b JOIN workon.payments p ON p.booking_id = b.id WHERE b.id = :'b1';
SELECT h.status, h.body ->> 'status' AS booking_status, h.body -> 'refund' AS refund
  FROM pg_temp.http(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'b1')) AS h;
SELECT r.amount_cents, r.currency, r.status, r.reason, o.path, o.status AS call,
       o.params - 'metadata[booking_id]' - 'metadata[payment_id]' - 'metadata[refund_id]' AS params,
       o.idempotency_key = 'workon:refund:' || r.id AS key_from_refund
  FROM workon.refunds r JOIN workon.outbox o ON o.refund_id = r.id WHERE r.booking_id = :'b1';
-- the cancellation's mail tells of the refund: no refund mail of its own
SELECT kind, params ->> 'template' AS template, params ->> 'to' AS "to", params ->> 'subject' AS subject,
       substring(params ->> 'text' FROM '(?:Paid|Refund): [^\n]*') AS amount
  FROM workon.outbox WHERE booking_id = :'b1' AND kind = 'email' ORDER BY id;
-- Stripe takes the refund, then reports the charge refunded: nothing twice
SELECT id AS ro FROM workon.outbox WHERE booking_id = :'b1' AND purpose = 'refund' \gset
SET ROLE workon_authenticator;
SELECT count(*) FROM workon.outbox_claim_id(:ro);
SELECT status, body ->> 'status' AS refund_status, body ->> 'stripe_refund_id' AS stripe_refund_id
  FROM workon.outbox_result(:ro, 200, '{"id":"re_test_1","object":"refund","status":"succeeded","amount":1500}');
RESET ROLE;
SELECT pg_temp.deliver(jsonb_build_object('id', 'evt_p1_refunded', 'type', 'charge.refunded',
	'created', floor(extract(epoch FROM now()))::bigint,
	'data', jsonb_build_object('object', jsonb_build_object('id', 'ch_test_1', 'object', 'charge',
		'payment_intent', 'pi_test_1', 'amount', 1500, 'amount_captured', 1500, 'amount_refunded', 1500,
		'currency', 'eur', 'refunded', true))));
SELECT amount_cents, status, reason, stripe_refund_id FROM workon.refunds WHERE booking_id = :'b1';
SELECT b.status, b.refund_percent, b.refund_cents, p.status AS payment_status, p.refunded_cents
  FROM workon.bookings b JOIN workon.payments p ON p.booking_id = b.id WHERE b.id = :'b1';
-- a refund Stripe refuses ends failed
SELECT pg_temp.book(:'m1_token', 5) AS b6 \gset
INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency, stripe_payment_intent_id)
VALUES (:'b6', :'m1', 'payment_intent', 1500, 'eur', 'pi_test_6');
SELECT pg_temp.deliver(jsonb_build_object('id', 'evt_p6', 'type', 'payment_intent.succeeded',
	'created', floor(extract(epoch FROM now()))::bigint,
	'data', jsonb_build_object('object', jsonb_build_object('id', 'pi_test_6', 'object', 'payment_intent',
		'amount_received', 1500, 'currency', 'eur'))));
SELECT (h.body -> 'refund') AS refund
  FROM pg_temp.http(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'b6')) AS h;
SELECT id AS ro6 FROM workon.outbox WHERE booking_id = :'b6' AND purpose = 'refund' \gset
SET ROLE workon_authenticator;
SELECT status, body #>> '{error,code}' AS code, body #>> '{error,message}' AS message
  FROM workon.outbox_result(:ro6, 400, '{"error":{"code":"charge_already_refunded","message":"Charge has already been refunded."}}');
RESET ROLE;
SELECT status, failure_reason FROM workon.refunds WHERE booking_id = :'b6';
-- cancelling an unpaid booking with a payment under way cancels it at Stripe
SELECT pg_temp.book(:'m1_token', 6) AS b7 \gset
INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency, stripe_payment_intent_id)
VALUES (:'b7', :'m1', 'payment_intent', 1500, 'eur', 'pi_test_7');
SELECT (h.body -> 'refund') AS refund
  FROM pg_temp.http(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'b7')) AS h;
SELECT purpose, path, params FROM workon.outbox WHERE booking_id = :'b7';
SELECT id AS o7 FROM workon.outbox WHERE booking_id = :'b7' \gset
SET ROLE workon_authenticator;
SELECT count(*) FROM workon.outbox_claim_id(:o7);
SELECT status, headers, body FROM workon.outbox_result(:o7, 200, '{"id":"pi_test_7","object":"payment_intent","status":"canceled"}');
RESET ROLE;
-- a checkout under way: its session is expired at Stripe
SELECT (h.body -> 'refund') AS refund
  FROM pg_temp.http(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'b5')) AS h;
SELECT purpose, path, params FROM workon.outbox WHERE booking_id = :'b5' AND purpose <> 'checkout_session';

-- a payment of another amount never confirmed the booking: cancelling it
-- gives all of it back
SELECT pg_temp.book(:'m1_token', 8) AS b9 \gset
INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency, stripe_payment_intent_id)
VALUES (:'b9', :'m1', 'payment_intent', 1500, 'eur', 'pi_test_9');
SELECT pg_temp.deliver(jsonb_build_object('id', 'evt_p9', 'type', 'payment_intent.succeeded',
	'created', floor(extract(epoch FROM now()))::bigint,
	'data', jsonb_build_object('object', jsonb_build_object('id', 'pi_test_9', 'object', 'payment_intent',
		'amount_received', 1000, 'currency', 'eur'))));
SELECT b.status, b.flags, p.status AS payment_status, p.flags AS payment_flags
  FROM workon.bookings b JOIN workon.payments p ON p.booking_id = b.id WHERE b.id = :'b9';
SELECT h.body ->> 'status' AS status, (h.body -> 'refund') AS refund
  FROM pg_temp.http(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'b9')) AS h;
SELECT r.amount_cents, r.status, r.reason, o.path
  FROM workon.refunds r JOIN workon.outbox o ON o.refund_id = r.id WHERE r.booking_id = :'b9';

-- the audit log has the payments, without client secrets
SELECT entity, count(*) > 0 AS logged, bool_or(after ? 'client_secret') AS secrets_logged
  FROM workon.audit_log WHERE entity IN ('payments', 'refunds') GROUP BY entity ORDER BY entity;

-- records are never deleted by cascade: the superuser empties their tables
TRUNCATE workon.outbox, workon.stripe_events, workon.refunds, workon.payments, workon.reviews, workon.bookings;
DELETE FROM workon.stripe_webhook_secrets;
DELETE FROM workon.spaces WHERE host_id = :'h1';
DELETE FROM workon.users WHERE id IN (:'m1', :'m2', :'h1', :'h2', :'a1');
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
