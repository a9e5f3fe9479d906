--
-- Stripe webhooks: delivery and signature, every event type and their
-- interplay, duplicates, out-of-order events, amount and currency checks,
-- holds that expired, and a shuffled, duplicated replay of whole histories
-- that must end where the in-order delivery ends.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\i :abs_srcdir/fixture/try_detail.sql
SET workon.scrypt_log_n = 10;
\set ON_ERROR_ROLLBACK on

\set secret 'whsec_test_not_a_real_secret_0123456789'
SELECT workon.seed_stripe_webhook_secret(:'secret');
SELECT workon.create_user('wm1@example.com', 'member one password', 'M1', 'member') AS m1 \gset
SELECT workon.create_user('wm2@example.com', 'member two password', 'M2', 'member') AS m2 \gset
SELECT workon.create_user('wh1@example.com', 'host one password', 'H1', 'host') AS h1 \gset
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('e0000000-0000-4000-8000-000000000001', :'h1', 'Always Open', 'desk', 'Berlin', 'Street 1', 1, 'UTC',
        1000, 6000, 'eur',
        '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}',
        true);

-- a hold of member 1 (90 minutes, 1500 cents, slot n 3 hours apart) with
-- its payment, PaymentIntent pi_<tag> (or Checkout Session cs_<tag>)
CREATE FUNCTION pg_temp.scenario(tag text, n int, method text DEFAULT 'payment_intent') RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
	v_booking uuid;
	v_start timestamptz := date_trunc('hour', now()) + interval '3 days' + n * interval '3 hours';
BEGIN
	INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, hold_expires_at, price_cents, currency)
	SELECT 'e0000000-0000-4000-8000-000000000001', u.id, v_start, v_start + interval '90 minutes',
		   'pending_payment', now() + interval '15 minutes', 1500, 'eur'
	  FROM workon.users u WHERE u.email = 'wm1@example.com'
	RETURNING id INTO v_booking;
	INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency,
								 stripe_payment_intent_id, checkout_session_id)
	SELECT v_booking, b.user_id, method, 1500, 'eur',
		   CASE WHEN method = 'payment_intent' THEN 'pi_' || tag END,
		   CASE WHEN method = 'checkout' THEN 'cs_' || tag END
	  FROM workon.bookings b WHERE b.id = v_booking;
	RETURN v_booking;
END
$$;
CREATE FUNCTION pg_temp.booking_of(tag text) RETURNS uuid LANGUAGE sql AS $$
	SELECT booking_id FROM workon.payments
	 WHERE stripe_payment_intent_id = 'pi_' || tag OR checkout_session_id = 'cs_' || tag
$$;
-- events: created is 1700000000 + at
CREATE FUNCTION pg_temp.ev(id text, type text, at int, obj jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', id, 'object', 'event', 'type', type, 'created', 1700000000 + at,
							  'livemode', false, 'data', jsonb_build_object('object', obj))
$$;
CREATE FUNCTION pg_temp.pi(tag text, extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', 'pi_' || tag, 'object', 'payment_intent', 'amount', 1500,
							  'amount_received', 1500, 'currency', 'eur',
							  'metadata', jsonb_build_object('booking_id', pg_temp.booking_of(tag))) || extra
$$;
CREATE FUNCTION pg_temp.session(tag text, payment_status text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', 'cs_' || tag, 'object', 'checkout.session', 'payment_intent', 'pi_' || tag,
							  'amount_total', 1500, 'currency', 'eur', 'payment_status', payment_status,
							  'metadata', jsonb_build_object('booking_id', pg_temp.booking_of(tag)))
$$;
-- a charge carries no metadata of ours here: it is found by its PaymentIntent
CREATE FUNCTION pg_temp.charge(tag text, refunded bigint DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', 'ch_' || tag, 'object', 'charge', 'payment_intent', 'pi_' || tag,
							  'amount', 1500, 'amount_captured', 1500, 'amount_refunded', refunded,
							  'currency', 'eur', 'refunded', refunded >= 1500)
$$;
CREATE FUNCTION pg_temp.dispute(tag text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', 'dp_' || tag, 'object', 'dispute', 'payment_intent', 'pi_' || tag,
							  'charge', 'ch_' || tag, 'amount', 1500, 'currency', 'eur', 'reason', 'fraudulent')
$$;
-- a delivery, signed now with the secret
CREATE FUNCTION pg_temp.deliver(event jsonb, secret text DEFAULT 'whsec_test_not_a_real_secret_0123456789')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t bigint := floor(extract(epoch FROM now()))::bigint;
BEGIN
	RETURN workon.stripe_webhook(event::text, jsonb_build_object('headers', jsonb_build_object('stripe-signature',
		format('t=%s,v1=%s', t, workon.stripe_signature(event::text, secret, t)))));
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
-- everything a scenario led to, without ids and times
CREATE FUNCTION pg_temp.state(tag text) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' | ',
		'booking ' || b.status || CASE WHEN b.refund_cents IS NOT NULL THEN ' refund ' || b.refund_cents || ' (' || b.refund_percent || ' %)' ELSE '' END
			|| CASE WHEN b.flags <> '{}' THEN ' ' || b.flags::text ELSE '' END,
		'payment ' || p.status || coalesce(' received ' || p.amount_received_cents || ' ' || p.received_currency, '')
			|| CASE WHEN p.refunded_cents > 0 THEN ' refunded ' || p.refunded_cents ELSE '' END
			|| CASE WHEN p.flags <> '{}' THEN ' ' || p.flags::text ELSE '' END
			|| coalesce(' error "' || p.last_error || '"', ''),
		(SELECT 'refunds ' || string_agg(r.amount_cents || ' ' || r.status || ' ' || r.reason, ', ' ORDER BY r.amount_cents, r.reason)
		   FROM workon.refunds r WHERE r.payment_id = p.id),
		(SELECT 'calls ' || string_agg(o.path || ' ' || (o.params ->> 'amount'), ', ' ORDER BY o.path)
		   FROM workon.outbox o WHERE o.payment_id = p.id AND o.kind = 'stripe'),
		(SELECT 'emails ' || string_agg(o.params ->> 'template', ', ' ORDER BY o.params ->> 'template')
		   FROM workon.outbox o WHERE o.booking_id = b.id AND o.kind = 'email'))
	  FROM workon.bookings b JOIN workon.payments p ON p.booking_id = b.id
	 WHERE b.id = pg_temp.booking_of(tag)
$$;

--
-- Delivery through the route, as the anonymous caller the front end makes
-- of Stripe
--
SELECT pg_temp.scenario('d1', 0) AS d1 \gset
SELECT pg_temp.ev('evt_d1', 'payment_intent.succeeded', 1, pg_temp.pi('d1'))::text AS body \gset
SELECT floor(extract(epoch FROM now()))::bigint AS now_t \gset
SELECT format('{"headers":{"stripe-signature":"t=%s,v1=%s"}}', :now_t, workon.stripe_signature(:'body', :'secret', :now_t)) AS good_meta,
       format('{"headers":{"stripe-signature":"t=%s,v1=%s"}}', :now_t - 400, workon.stripe_signature(:'body', :'secret', :now_t - 400)) AS stale_meta,
       format('{"headers":{"stripe-signature":"t=%s,v1=%s"}}', :now_t, workon.stripe_signature(:'body', 'whsec_test_wrong_secret_000000000', :now_t)) AS wrong_meta
  \gset
CREATE FUNCTION pg_temp.http(body text, meta jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v text;
BEGIN
	SET LOCAL ROLE workon_authenticator;
	SELECT coalesce(d.status::text, 'default status') || ' ' || d.body INTO v
	  FROM workon.dispatch((SELECT handler FROM workon.routes WHERE method = 'POST' AND path = '/api/v1/webhooks/stripe'),
						   '{}', '{}', body, NULL, meta) AS d;
	RESET ROLE;
	RETURN v;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
SELECT label, pg_temp.http(b, m::jsonb) AS response
  FROM (VALUES
	('wrong secret', :'body', :'wrong_meta'),
	('stale', :'body', :'stale_meta'),
	('tampered body', replace(:'body', '1500', '1'), :'good_meta'),
	('no header', :'body', '{}'),
	('no meta', :'body', NULL)) AS v(label, b, m);
-- rejected deliveries leave nothing behind, and do not use up the event id
SELECT count(*) AS events_stored FROM workon.stripe_events;
SELECT pg_temp.state('d1');
SELECT pg_temp.http(:'body', :'good_meta') AS response;
SELECT pg_temp.state('d1');
-- the same delivery again: no second effect
SELECT pg_temp.http(:'body', :'good_meta') AS response;
SELECT count(*) AS events_stored, count(*) FILTER (WHERE payment_id IS NOT NULL) AS matched FROM workon.stripe_events;
SELECT count(*) AS confirmation_emails FROM workon.outbox WHERE booking_id = :'d1' AND params ->> 'template' = 'booking_confirmed';
-- signed but not an event
SELECT pg_temp.deliver('"just a string"'), pg_temp.deliver('{"id":"evt_x","type":"x"}'),
       pg_temp.deliver('{"id":1,"type":"x","created":1,"data":{"object":{}}}');
SELECT label, pg_temp.try(format('SELECT workon.stripe_webhook(%L, %L)', b, m)) AS result
  FROM (VALUES ('not json', 'not json', format('{"headers":{"stripe-signature":"t=%s,v1=%s"}}', :now_t, workon.stripe_signature('not json', :'secret', :now_t)))) AS v(label, b, m);
-- unknown types are stored and ignored
SELECT pg_temp.deliver(pg_temp.ev('evt_unknown', 'customer.created', 1, '{"id":"cus_1","object":"customer"}'));
SELECT pg_temp.deliver(pg_temp.ev('evt_d1_unknown', 'payment_intent.partially_funded', 2, pg_temp.pi('d1')));
SELECT id, type, payment_id IS NOT NULL AS matched FROM workon.stripe_events WHERE id IN ('evt_unknown', 'evt_d1_unknown') ORDER BY id;
SELECT pg_temp.state('d1');
-- events about payments we do not know are stored and change nothing
SELECT pg_temp.deliver(pg_temp.ev('evt_foreign', 'payment_intent.succeeded', 1,
	'{"id":"pi_foreign","object":"payment_intent","amount_received":100,"currency":"eur","metadata":{"booking_id":"e0000000-0000-4000-8000-0000000000ff"}}'));
SELECT id, payment_id IS NULL AS unmatched FROM workon.stripe_events WHERE id = 'evt_foreign';
-- the events are for the extension only
SELECT pg_temp.try('SET LOCAL ROLE workon_admin; SELECT count(*) FROM workon.stripe_events') AS admin_reads;

--
-- Every event type
--
SELECT pg_temp.scenario('t_ok', 1), pg_temp.scenario('t_fail', 2), pg_temp.scenario('t_cancel', 3),
       pg_temp.scenario('t_proc', 4), pg_temp.scenario('t_action', 5), pg_temp.scenario('t_capture', 6),
       pg_temp.scenario('t_cs_paid', 7, 'checkout'), pg_temp.scenario('t_cs_async', 8, 'checkout'),
       pg_temp.scenario('t_cs_fail', 9, 'checkout'), pg_temp.scenario('t_refund', 10),
       pg_temp.scenario('t_partial', 11), pg_temp.scenario('t_dispute', 12) \gset
SELECT e ->> 'id' AS not_received FROM (VALUES
	(pg_temp.ev('evt_t_ok', 'payment_intent.succeeded', 1, pg_temp.pi('t_ok'))),
	(pg_temp.ev('evt_t_fail', 'payment_intent.payment_failed', 1, pg_temp.pi('t_fail',
		'{"status":"requires_payment_method","last_payment_error":{"code":"card_declined","message":"Your card was declined."}}'))),
	(pg_temp.ev('evt_t_cancel', 'payment_intent.canceled', 1, pg_temp.pi('t_cancel', '{"status":"canceled"}'))),
	(pg_temp.ev('evt_t_proc', 'payment_intent.processing', 1, pg_temp.pi('t_proc', '{"status":"processing"}'))),
	(pg_temp.ev('evt_t_action', 'payment_intent.requires_action', 1, pg_temp.pi('t_action', '{"status":"requires_action"}'))),
	(pg_temp.ev('evt_t_capture', 'payment_intent.amount_capturable_updated', 1, pg_temp.pi('t_capture', '{"status":"requires_capture"}'))),
	(pg_temp.ev('evt_t_cs_paid', 'checkout.session.completed', 1, pg_temp.session('t_cs_paid', 'paid'))),
	(pg_temp.ev('evt_t_cs_async', 'checkout.session.completed', 1, pg_temp.session('t_cs_async', 'unpaid'))),
	(pg_temp.ev('evt_t_cs_fail', 'checkout.session.completed', 1, pg_temp.session('t_cs_fail', 'unpaid'))),
	(pg_temp.ev('evt_t_cs_fail_2', 'checkout.session.async_payment_failed', 2, pg_temp.session('t_cs_fail', 'unpaid'))),
	(pg_temp.ev('evt_t_refund', 'payment_intent.succeeded', 1, pg_temp.pi('t_refund'))),
	(pg_temp.ev('evt_t_refund_2', 'charge.refunded', 2, pg_temp.charge('t_refund', 1500))),
	(pg_temp.ev('evt_t_partial', 'payment_intent.succeeded', 1, pg_temp.pi('t_partial'))),
	(pg_temp.ev('evt_t_partial_2', 'charge.refunded', 2, pg_temp.charge('t_partial', 500))),
	(pg_temp.ev('evt_t_dispute', 'payment_intent.succeeded', 1, pg_temp.pi('t_dispute'))),
	(pg_temp.ev('evt_t_dispute_2', 'charge.dispute.created', 2, pg_temp.dispute('t_dispute')))) AS v(e)
 WHERE pg_temp.deliver(e) <> '{"received":true}';
SELECT tag, pg_temp.state(tag) FROM unnest(ARRAY['t_ok', 't_fail', 't_cancel', 't_proc', 't_action', 't_capture',
	't_cs_paid', 't_cs_async', 't_cs_fail', 't_refund', 't_partial', 't_dispute']) AS tag;
-- a cancelled hold gives its slot up at once
SELECT count(*) AS busy_after_cancel
  FROM workon.bookings b, workon.space_busy(b.space_id, b.starts_at, b.ends_at)
 WHERE b.id = pg_temp.booking_of('t_cancel');
-- a checkout payment learns its PaymentIntent from the session
SELECT checkout_session_id, stripe_payment_intent_id FROM workon.payments WHERE booking_id = pg_temp.booking_of('t_cs_paid');
-- the asynchronous one succeeds later; the failed one pays on a second try
SELECT pg_temp.deliver(pg_temp.ev('evt_t_cs_async_2', 'checkout.session.async_payment_succeeded', 5, pg_temp.session('t_cs_async', 'paid'))),
       pg_temp.deliver(pg_temp.ev('evt_t_fail_2', 'payment_intent.succeeded', 5, pg_temp.pi('t_fail')));
SELECT tag, pg_temp.state(tag) FROM unnest(ARRAY['t_cs_async', 't_fail']) AS tag;
-- the e-mails are rendered with what the template needs: the booking, Stripe's reason
SELECT params ->> 'to' AS "to", params ->> 'template' AS template, params ->> 'subject' AS subject,
       params ->> 'text' LIKE '%' || booking_id || '%' AS names_booking,
       params ->> 'text' LIKE '%did not go through: Your card was declined.%' AS tells_error
  FROM workon.outbox WHERE booking_id = pg_temp.booking_of('t_fail') ORDER BY id;

--
-- Duplicates and out-of-order events
--
SELECT pg_temp.scenario('o_late', 13), pg_temp.scenario('o_conflict', 14), pg_temp.scenario('o_refund_first', 15) \gset
-- an older event after a final one: nothing moves
SELECT pg_temp.deliver(pg_temp.ev('evt_o_late_2', 'payment_intent.succeeded', 5, pg_temp.pi('o_late'))),
       pg_temp.deliver(pg_temp.ev('evt_o_late_1', 'payment_intent.processing', 3, pg_temp.pi('o_late'))),
       pg_temp.deliver(pg_temp.ev('evt_o_late_0', 'payment_intent.payment_failed', 2, pg_temp.pi('o_late')));
SELECT pg_temp.state('o_late');
-- a newer non-final event after an older one does move it
SELECT pg_temp.scenario('o_newer', 16) \gset
SELECT pg_temp.deliver(pg_temp.ev('evt_o_newer_1', 'payment_intent.requires_action', 1, pg_temp.pi('o_newer'))),
       pg_temp.deliver(pg_temp.ev('evt_o_newer_3', 'payment_intent.processing', 3, pg_temp.pi('o_newer'))),
       pg_temp.deliver(pg_temp.ev('evt_o_newer_2', 'payment_intent.requires_action', 2, pg_temp.pi('o_newer')));
SELECT pg_temp.state('o_newer');
-- two final events that contradict each other: the first final state holds, flagged
SELECT pg_temp.deliver(pg_temp.ev('evt_o_conflict_2', 'payment_intent.succeeded', 2, pg_temp.pi('o_conflict'))),
       pg_temp.deliver(pg_temp.ev('evt_o_conflict_1', 'payment_intent.canceled', 1, pg_temp.pi('o_conflict')));
SELECT pg_temp.state('o_conflict');
-- the refund before the payment: it was paid, then refunded
SELECT pg_temp.deliver(pg_temp.ev('evt_o_refund_first_2', 'charge.refunded', 9, pg_temp.charge('o_refund_first', 1500)));
SELECT pg_temp.state('o_refund_first');
SELECT pg_temp.deliver(pg_temp.ev('evt_o_refund_first_1', 'payment_intent.succeeded', 4, pg_temp.pi('o_refund_first')));
SELECT pg_temp.state('o_refund_first');
-- duplicates: ten more deliveries of each event change nothing
CREATE TEMP TABLE before AS
	SELECT tag, pg_temp.state(tag) AS state FROM unnest(ARRAY['t_ok', 't_refund', 't_dispute', 'o_late']) AS tag;
SELECT count(*) AS redeliveries FROM workon.stripe_events e, generate_series(1, 10),
	LATERAL pg_temp.deliver(pg_temp.ev(e.id, e.type, (extract(epoch FROM e.created) - 1700000000)::int, e.object)) AS d
 WHERE e.id IN ('evt_t_ok', 'evt_t_refund', 'evt_t_refund_2', 'evt_t_dispute_2', 'evt_o_late_1', 'evt_o_late_2');
SELECT b.tag, b.state = pg_temp.state(b.tag) AS unchanged FROM before b ORDER BY tag;
-- an event that came before Stripe's answer to our call waits for it
SELECT workon.create_user('wm3@example.com', 'member three password', 'M3', 'member') AS m3 \gset
SELECT workon.seed_jwt_key(repeat('w', 48)) IS NOT NULL AS seeded;
SELECT workon.auth_login('wm3@example.com', 'member three password')::json->>'access_token' AS m3_token \gset
INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, hold_expires_at, price_cents, currency)
VALUES ('e0000000-0000-4000-8000-000000000001', :'m3', date_trunc('hour', now()) + interval '3 days' + 17 * interval '3 hours',
        date_trunc('hour', now()) + interval '3 days' + 17 * interval '3 hours' + interval '90 minutes',
        'pending_payment', now() + interval '15 minutes', 1500, 'eur')
RETURNING id AS early \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT outbox_id AS early_outbox
  FROM workon.dispatch('workon.payment_create(uuid)'::regprocedure, jsonb_build_object('id', :'early'), '{}', NULL, :'m3_token', '{}') \gset
COMMIT;
SELECT pg_temp.deliver(pg_temp.ev('evt_early', 'charge.dispute.created', 1, pg_temp.dispute('early')));
SELECT payment_id IS NULL AS waiting FROM workon.stripe_events WHERE id = 'evt_early';
SELECT status FROM workon.outbox_result(:early_outbox, 200, '{"id":"pi_early","object":"payment_intent","status":"requires_payment_method","client_secret":"pi_early_secret_fake"}');
SELECT payment_id IS NOT NULL AS matched FROM workon.stripe_events WHERE id = 'evt_early';
SELECT pg_temp.state('early');

--
-- Amounts and currencies that do not match the booking never confirm it
--
SELECT pg_temp.scenario('m_amount', 18), pg_temp.scenario('m_currency', 19), pg_temp.scenario('m_session', 20, 'checkout') \gset
SELECT pg_temp.deliver(pg_temp.ev('evt_m_amount', 'payment_intent.succeeded', 1, pg_temp.pi('m_amount', '{"amount_received":1000}'))),
       pg_temp.deliver(pg_temp.ev('evt_m_currency', 'payment_intent.succeeded', 1, pg_temp.pi('m_currency', '{"currency":"usd"}'))),
       pg_temp.deliver(pg_temp.ev('evt_m_session', 'checkout.session.completed', 1, pg_temp.session('m_session', 'paid') || '{"amount_total":15}'));
SELECT tag, pg_temp.state(tag) FROM unnest(ARRAY['m_amount', 'm_currency', 'm_session']) AS tag;

--
-- Paid after the hold expired
--
SELECT pg_temp.scenario('h_lapsed', 21), pg_temp.scenario('h_free', 22), pg_temp.scenario('h_taken', 23),
       pg_temp.scenario('h_cancelled', 24) \gset
-- a hold past its expiry, not yet marked: its slot is still its own
UPDATE workon.bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = pg_temp.booking_of('h_lapsed');
-- expired, slot free
UPDATE workon.bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = pg_temp.booking_of('h_free');
UPDATE workon.bookings SET status = 'expired' WHERE id = pg_temp.booking_of('h_free');
-- expired, slot taken by member 2
UPDATE workon.bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = pg_temp.booking_of('h_taken');
UPDATE workon.bookings SET status = 'expired' WHERE id = pg_temp.booking_of('h_taken');
INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency)
SELECT space_id, :'m2', starts_at + interval '30 minutes', ends_at + interval '30 minutes', 'confirmed', 1500, 'eur'
  FROM workon.bookings WHERE id = pg_temp.booking_of('h_taken');
-- cancelled by the member before the payment went through
UPDATE workon.bookings SET status = 'cancelled', cancelled_at = now(), refund_percent = 100, refund_cents = 0
 WHERE id = pg_temp.booking_of('h_cancelled');
SELECT pg_temp.deliver(pg_temp.ev('evt_' || tag, 'payment_intent.succeeded', 1, pg_temp.pi(tag)))
  FROM unnest(ARRAY['h_lapsed', 'h_free', 'h_taken', 'h_cancelled']) AS tag;
SELECT tag, pg_temp.state(tag) FROM unnest(ARRAY['h_lapsed', 'h_free', 'h_taken', 'h_cancelled']) AS tag;
SELECT o.params - 'metadata[booking_id]' - 'metadata[payment_id]' - 'metadata[refund_id]' AS params
  FROM workon.outbox o WHERE o.booking_id = pg_temp.booking_of('h_taken') AND o.purpose = 'refund';
-- expired -> confirmed is for paid bookings only, whoever writes
SELECT pg_temp.scenario('h_unpaid', 25) \gset
UPDATE workon.bookings SET status = 'expired' WHERE id = pg_temp.booking_of('h_unpaid');
SELECT pg_temp.try(format('UPDATE workon.bookings SET status = %L WHERE id = %L', 'confirmed', pg_temp.booking_of('h_unpaid'))) AS unpaid_revived;

--
-- Refund events move our refunds along the refund state machine
--
SELECT pg_temp.scenario('rf', 26) \gset
SELECT pg_temp.deliver(pg_temp.ev('evt_rf', 'payment_intent.succeeded', 1, pg_temp.pi('rf')));
SELECT (workon.refund_start(p, 1500, 'requested_by_customer')).id AS rf_refund
  FROM workon.payments p WHERE p.stripe_payment_intent_id = 'pi_rf' \gset
CREATE FUNCTION pg_temp.refund(status text, refund_id uuid, extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', 're_rf', 'object', 'refund', 'amount', 1500, 'currency', 'eur',
							  'payment_intent', 'pi_rf', 'status', status,
							  'metadata', jsonb_build_object('refund_id', refund_id)) || extra
$$;
CREATE FUNCTION pg_temp.refund_state() RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ', status, stripe_refund_id, failure_reason) FROM workon.refunds WHERE reason = 'requested_by_customer' AND payment_id = (SELECT id FROM workon.payments WHERE stripe_payment_intent_id = 'pi_rf')
$$;
SELECT step, pg_temp.deliver(e) AS delivered, pg_temp.refund_state() AS refund
  FROM (VALUES
	(1, pg_temp.ev('evt_rf_1', 'refund.updated', 5, pg_temp.refund('requires_action', :'rf_refund'))),
	(2, pg_temp.ev('evt_rf_2', 'refund.created', 3, pg_temp.refund('pending', :'rf_refund'))),
	(3, pg_temp.ev('evt_rf_3', 'refund.updated', 7, pg_temp.refund('succeeded', :'rf_refund'))),
	(4, pg_temp.ev('evt_rf_4', 'refund.updated', 6, pg_temp.refund('requires_action', :'rf_refund'))),
	(5, pg_temp.ev('evt_rf_5', 'refund.failed', 8, pg_temp.refund('failed', :'rf_refund', '{"failure_reason":"expired_or_canceled_card"}'))),
	(6, pg_temp.ev('evt_rf_6', 'refund.updated', 9, pg_temp.refund('succeeded', :'rf_refund')))) AS v(step, e)
 ORDER BY step;
-- a refund that is not ours is stored and left to charge.refunded
SELECT pg_temp.deliver(pg_temp.ev('evt_rf_foreign', 'refund.created', 1,
	'{"id":"re_foreign","object":"refund","status":"succeeded","payment_intent":"pi_rf","amount":100}'));
SELECT count(*) AS refunds_of_rf FROM workon.refunds r JOIN workon.payments p ON p.id = r.payment_id
 WHERE p.stripe_payment_intent_id = 'pi_rf';

--
-- Replays: whole histories delivered in order, then shuffled with
-- duplicates, end in the same state
--
CREATE FUNCTION pg_temp.history(s text) RETURNS TABLE (ord int, ev jsonb) LANGUAGE sql AS $$
	SELECT row_number() OVER ()::int, e FROM (VALUES
		-- progress, a failure, a second try that succeeds, a refund, a dispute
		(pg_temp.ev('evt_r1a_' || s, 'payment_intent.processing', 1, pg_temp.pi('r1_' || s))),
		(pg_temp.ev('evt_r1b_' || s, 'payment_intent.payment_failed', 2, pg_temp.pi('r1_' || s,
			'{"last_payment_error":{"code":"card_declined","message":"Your card was declined."}}'))),
		(pg_temp.ev('evt_r1c_' || s, 'payment_intent.requires_action', 3, pg_temp.pi('r1_' || s))),
		(pg_temp.ev('evt_r1d_' || s, 'payment_intent.succeeded', 4, pg_temp.pi('r1_' || s))),
		(pg_temp.ev('evt_r1e_' || s, 'charge.refunded', 10, pg_temp.charge('r1_' || s, 1500))),
		(pg_temp.ev('evt_r1f_' || s, 'charge.dispute.created', 12, pg_temp.dispute('r1_' || s))),
		-- abandoned
		(pg_temp.ev('evt_r2a_' || s, 'payment_intent.requires_action', 1, pg_temp.pi('r2_' || s))),
		(pg_temp.ev('evt_r2b_' || s, 'payment_intent.canceled', 2, pg_temp.pi('r2_' || s))),
		-- checkout with an asynchronous method
		(pg_temp.ev('evt_r3a_' || s, 'checkout.session.completed', 1, pg_temp.session('r3_' || s, 'unpaid'))),
		(pg_temp.ev('evt_r3b_' || s, 'checkout.session.async_payment_succeeded', 3, pg_temp.session('r3_' || s, 'paid'))),
		-- the wrong amount
		(pg_temp.ev('evt_r4a_' || s, 'payment_intent.succeeded', 1, pg_temp.pi('r4_' || s, '{"amount_received":1499}'))),
		-- one second: failure, success and a partial refund (precedence decides)
		(pg_temp.ev('evt_r5a_' || s, 'payment_intent.payment_failed', 1, pg_temp.pi('r5_' || s))),
		(pg_temp.ev('evt_r5b_' || s, 'payment_intent.succeeded', 1, pg_temp.pi('r5_' || s))),
		(pg_temp.ev('evt_r5c_' || s, 'charge.refunded', 1, pg_temp.charge('r5_' || s, 500))),
		-- two partial refunds, the charge's total growing
		(pg_temp.ev('evt_r6a_' || s, 'payment_intent.succeeded', 2, pg_temp.pi('r6_' || s))),
		(pg_temp.ev('evt_r6b_' || s, 'charge.refunded', 5, pg_temp.charge('r6_' || s, 500))),
		(pg_temp.ev('evt_r6c_' || s, 'charge.refunded', 6, pg_temp.charge('r6_' || s, 1500))),
		-- checkout, asynchronous failure
		(pg_temp.ev('evt_r7a_' || s, 'checkout.session.completed', 1, pg_temp.session('r7_' || s, 'unpaid'))),
		(pg_temp.ev('evt_r7b_' || s, 'checkout.session.async_payment_failed', 4, pg_temp.session('r7_' || s, 'unpaid'))),
		-- paid after the hold expired and the slot went to someone else
		(pg_temp.ev('evt_r8a_' || s, 'payment_intent.processing', 1, pg_temp.pi('r8_' || s))),
		(pg_temp.ev('evt_r8b_' || s, 'payment_intent.succeeded', 2, pg_temp.pi('r8_' || s))),
		(pg_temp.ev('evt_r8c_' || s, 'charge.dispute.created', 3, pg_temp.dispute('r8_' || s))),
		-- Stripe's own event types we do not apply
		(pg_temp.ev('evt_r9a_' || s, 'payment_intent.created', 0, pg_temp.pi('r9_' || s))),
		(pg_temp.ev('evt_r9b_' || s, 'charge.succeeded', 1, pg_temp.charge('r9_' || s))),
		(pg_temp.ev('evt_r9c_' || s, 'payment_intent.succeeded', 1, pg_temp.pi('r9_' || s))),
		(pg_temp.ev('evt_r9d_' || s, 'charge.updated', 2, pg_temp.charge('r9_' || s)))) AS v(e)
$$;
CREATE FUNCTION pg_temp.replay_setup(s text, base int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r text;
	i int := 0;
BEGIN
	FOREACH r IN ARRAY ARRAY['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9'] LOOP
		PERFORM pg_temp.scenario(r || '_' || s, base + i, CASE WHEN r IN ('r3', 'r7') THEN 'checkout' ELSE 'payment_intent' END);
		i := i + 1;
	END LOOP;
	UPDATE workon.bookings SET hold_expires_at = now() - interval '1 minute', status = 'expired'
	 WHERE id = pg_temp.booking_of('r8_' || s);
	INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency)
	SELECT b.space_id, u.id, b.starts_at, b.ends_at, 'confirmed', 1500, 'eur'
	  FROM workon.bookings b, workon.users u
	 WHERE b.id = pg_temp.booking_of('r8_' || s) AND u.email = 'wm2@example.com';
END
$$;
-- deliveries in the given order; returns how many were not received
CREATE FUNCTION pg_temp.replay(s text, seed text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	e jsonb;
	bad bigint := 0;
BEGIN
	FOR e IN
		SELECT h.ev FROM pg_temp.history(s) AS h,
			   generate_series(1, CASE WHEN seed IS NULL THEN 1 ELSE 1 + h.ord % 3 END) AS k
		 ORDER BY CASE WHEN seed IS NULL THEN lpad(h.ord::text, 4, '0')
					   WHEN seed = 'reverse' THEN lpad((1000 - h.ord)::text, 4, '0') || k
					   ELSE md5(seed || h.ord || ':' || k) END
	LOOP
		IF pg_temp.deliver(e) <> '{"received":true}' THEN
			bad := bad + 1;
		END IF;
	END LOOP;
	RETURN bad;
END
$$;
SELECT pg_temp.replay_setup(s, base) FROM (VALUES ('o', 100), ('rev', 110), ('s1', 120), ('s2', 130), ('s3', 140)) AS v(s, base);
SELECT s, pg_temp.replay(s, seed) AS not_received
  FROM (VALUES ('o', NULL), ('rev', 'reverse'), ('s1', 'one'), ('s2', 'two'), ('s3', 'three')) AS v(s, seed);
SELECT r AS history,
       pg_temp.state(r || '_rev') IS NOT DISTINCT FROM pg_temp.state(r || '_o')
       AND pg_temp.state(r || '_s1') IS NOT DISTINCT FROM pg_temp.state(r || '_o')
       AND pg_temp.state(r || '_s2') IS NOT DISTINCT FROM pg_temp.state(r || '_o')
       AND pg_temp.state(r || '_s3') IS NOT DISTINCT FROM pg_temp.state(r || '_o') AS same_end,
       pg_temp.state(r || '_o') AS in_order
  FROM unnest(ARRAY['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9']) AS r;
-- the replays were really out of order: the first delivery of each shuffle
SELECT seed, (SELECT h.ev ->> 'type' FROM pg_temp.history('o') AS h, generate_series(1, 1 + h.ord % 3) AS k
               ORDER BY md5(seed || h.ord || ':' || k) LIMIT 1) AS first_type
  FROM unnest(ARRAY['one', 'two', 'three']) AS seed;

-- records are never deleted by cascade: the superuser empties their tables
TRUNCATE workon.outbox, workon.stripe_events, workon.refunds, workon.payments, workon.reviews, workon.bookings;
DELETE FROM workon.stripe_webhook_secrets;
DELETE FROM workon.spaces WHERE host_id = :'h1';
DELETE FROM workon.users WHERE id IN (:'m1', :'m2', :'m3', :'h1');
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
