--
-- Records are never lost: a space with booking history is archived, not
-- deleted, and nothing cascades over bookings, payments, refunds, outbound
-- calls, webhook events or the audit log; a cancelled booking keeps no live
-- PaymentIntent whatever the order of cancel, create and its answer; a
-- booking is paid once (one sender per outbound call, a paid booking is not
-- payable); the newest snapshot of a paid object decides.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx r
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

-- one API request as the front end makes it
CREATE FUNCTION pg_temp.http(token text, handler regprocedure, params jsonb, req_body text DEFAULT NULL)
RETURNS TABLE (status int, headers jsonb, body jsonb) LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL ROLE workon_authenticator;
	BEGIN
		RETURN QUERY SELECT d.status, d.headers::jsonb, d.body::jsonb
					   FROM workon.dispatch(handler, params, '{}', req_body, token, '{}') AS d;
	EXCEPTION WHEN OTHERS THEN
		RETURN QUERY SELECT -1, NULL::jsonb, pg_catalog.jsonb_build_object('error', SQLSTATE || ' ' || SQLERRM);
	END;
	RESET ROLE;
END
$$;
-- status and error (or the named field of the body)
CREATE FUNCTION pg_temp.call(token text, handler regprocedure, params jsonb, req_body text DEFAULT NULL,
							 field text DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(h.status, 200) || ' ' || coalesce(h.body ->> 'error', h.body ->> field, '')
	  FROM pg_temp.http(token, handler, params, req_body) AS h
$$;

\set always '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}'
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('f0000000-0000-4000-8000-000000000001', :'h1', 'Kept Room', 'desk', 'Porto', 'Rua 1', 1, 'UTC',
        1000, 6000, 'eur', :'always', true),
       ('f0000000-0000-4000-8000-000000000002', :'h1', 'Empty Room', 'desk', 'Porto', 'Rua 2', 1, 'UTC',
        1000, 6000, 'eur', :'always', true),
       ('f0000000-0000-4000-8000-000000000003', :'h1', 'Busy Room', 'desk', 'Porto', 'Rua 3', 1, 'UTC',
        1000, 6000, 'eur', :'always', true);
\set kept 'f0000000-0000-4000-8000-000000000001'
\set empty 'f0000000-0000-4000-8000-000000000002'
\set busy 'f0000000-0000-4000-8000-000000000003'

-- a hold of 90 minutes of a space, slot n (3 hours apart, 3 days ahead)
CREATE FUNCTION pg_temp.book(token text, space uuid, n int) RETURNS uuid LANGUAGE sql AS $$
	SELECT (h.body ->> 'id')::uuid
	  FROM pg_temp.http(token, 'workon.booking_create(uuid,timestamptz,timestamptz)', '{}',
						json_build_object(
							'space_id', space,
							'starts_at', date_trunc('hour', now()) + interval '3 days' + n * interval '3 hours',
							'ends_at', date_trunc('hour', now()) + interval '3 days' + n * interval '3 hours'
									   + interval '90 minutes')::text) AS h
$$;
-- POST .../payment, then Stripe's answer through the outbox as the front end reports it
CREATE FUNCTION pg_temp.pay(token text, booking uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_outbox bigint;
BEGIN
	PERFORM pg_temp.http(token, 'workon.payment_create(uuid)', jsonb_build_object('id', booking));
	SELECT o.id INTO v_outbox FROM workon.outbox o
	 WHERE o.booking_id = booking AND o.purpose = 'payment_intent' ORDER BY o.id DESC LIMIT 1;
	RETURN v_outbox;
END
$$;
CREATE FUNCTION pg_temp.answer(outbox bigint, pi text) RETURNS int LANGUAGE sql AS $$
	SELECT r.status FROM workon.outbox_result(outbox, 200,
		jsonb_build_object('id', pi, 'object', 'payment_intent', 'status', 'requires_payment_method',
						   'client_secret', pi || '_secret_fake')) AS r
$$;
-- the webhook secret and a signed delivery
SELECT workon.seed_stripe_webhook_secret('whsec_test_not_a_real_secret_0123456789');
CREATE FUNCTION pg_temp.deliver(id text, type text, at int, obj jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t bigint := floor(extract(epoch FROM now()))::bigint;
	ev text := jsonb_build_object('id', id, 'object', 'event', 'type', type, 'created', 1700000000 + at,
								  'livemode', false, 'data', jsonb_build_object('object', obj))::text;
BEGIN
	RETURN workon.stripe_webhook(ev, jsonb_build_object('headers', jsonb_build_object('stripe-signature',
		format('t=%s,v1=%s', t, workon.stripe_signature(ev, 'whsec_test_not_a_real_secret_0123456789', t)))));
END
$$;
CREATE FUNCTION pg_temp.succeeded(pi text, booking uuid, amount int, currency text DEFAULT 'eur') RETURNS jsonb
LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', pi, 'object', 'payment_intent', 'status', 'succeeded', 'amount', 1500,
							  'amount_received', amount, 'currency', currency,
							  'metadata', jsonb_build_object('booking_id', booking))
$$;
-- what became of a booking, its payment, refunds and Stripe calls
CREATE FUNCTION pg_temp.state(booking uuid) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' | ',
		'booking ' || b.status || CASE WHEN b.flags <> '{}' THEN ' ' || b.flags::text ELSE '' END,
		'payment ' || p.status || coalesce(' received ' || p.amount_received_cents || ' ' || p.received_currency, '')
			|| CASE WHEN p.flags <> '{}' THEN ' ' || p.flags::text ELSE '' END,
		(SELECT 'refunds ' || string_agg(r.amount_cents || ' ' || r.status, ', ' ORDER BY r.created_at)
		   FROM workon.refunds r WHERE r.booking_id = b.id),
		(SELECT 'calls ' || string_agg(o.purpose || ' ' || o.status, ', ' ORDER BY o.id)
		   FROM workon.outbox o WHERE o.booking_id = b.id AND o.kind = 'stripe'))
	  FROM workon.bookings b LEFT JOIN workon.payments p ON p.booking_id = b.id
	 WHERE b.id = booking
$$;

--
-- 1. A space with booking history is archived, never erased
--

-- booking a: paid and cancelled, its refund done; booking b: paid and
-- cancelled, its refund still queued
SELECT pg_temp.book(:'m1_token', :'kept', 1) AS ba \gset
SELECT pg_temp.answer(pg_temp.pay(:'m1_token', :'ba'), 'pi_kept_a') AS answered;
SELECT pg_temp.deliver('evt_kept_a', 'payment_intent.succeeded', 1, pg_temp.succeeded('pi_kept_a', :'ba', 1500));
SELECT pg_temp.book(:'m1_token', :'kept', 2) AS bb \gset
SELECT pg_temp.answer(pg_temp.pay(:'m1_token', :'bb'), 'pi_kept_b') AS answered;
SELECT pg_temp.deliver('evt_kept_b', 'payment_intent.succeeded', 1, pg_temp.succeeded('pi_kept_b', :'bb', 1500));
SELECT pg_temp.call(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'ba'), NULL, 'status') AS cancel_a,
       pg_temp.call(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'bb'), NULL, 'status') AS cancel_b;
SELECT o.id AS refund_a FROM workon.outbox o WHERE o.booking_id = :'ba' AND o.purpose = 'refund' \gset
SELECT status FROM workon.outbox_claim_id(:refund_a) JOIN workon.outbox_result(:refund_a, 200, '{"id":"re_kept_a","object":"refund","status":"succeeded"}') ON true;
SELECT pg_temp.state(:'ba') AS a, pg_temp.state(:'bb') AS b;
SELECT (SELECT p.id FROM workon.payments p WHERE p.booking_id = :'bb') AS pay_b \gset
SELECT count(*) AS audit_rows_before FROM workon.audit_log \gset

-- the host deletes it: 204, the space archived (unpublished), everything kept
SELECT pg_temp.call(:'h1_token', 'workon.space_delete(uuid)', jsonb_build_object('id', :'kept')) AS delete_kept;
SELECT published, archived_at IS NOT NULL AS archived, doc ->> 'archived_at' IS NOT NULL AS archived_in_doc
  FROM workon.spaces WHERE id = :'kept';
SELECT pg_temp.state(:'ba') AS a, pg_temp.state(:'bb') AS b;
SELECT count(*) > :audit_rows_before AS audit_only_grew FROM workon.audit_log;
-- the queued refund is still due for the front end
SELECT count(*) AS refund_b_claimable
  FROM workon.outbox_claim('{stripe}', 100) AS c JOIN workon.outbox o ON o.id = c.id
 WHERE o.booking_id = :'bb' AND o.purpose = 'refund';
-- the member still sees booking and payment; the host sees the space, the public does not
SELECT pg_temp.call(:'m1_token', 'workon.booking_get(uuid)', jsonb_build_object('id', :'bb'), NULL, 'status') AS member_booking,
       pg_temp.call(:'m1_token', 'workon.payment_get(uuid)', jsonb_build_object('id', :'pay_b'), NULL, 'status') AS member_payment,
       pg_temp.call(:'h1_token', 'workon.space_get(uuid)', jsonb_build_object('id', :'kept'), NULL, 'name') AS host_space,
       pg_temp.call(:'a1_token', 'workon.space_get(uuid)', jsonb_build_object('id', :'kept'), NULL, 'name') AS admin_space,
       pg_temp.call(NULL, 'workon.space_get(uuid)', jsonb_build_object('id', :'kept')) AS public_space,
       pg_temp.call(:'m2_token', 'workon.space_get(uuid)', jsonb_build_object('id', :'kept')) AS other_member_space;
SELECT count(*) AS in_public_list
  FROM pg_temp.http(NULL, 'workon.spaces_list(text,text,integer,integer,text)', '{}') AS h,
       jsonb_array_elements(h.body -> 'data') AS s
 WHERE s ->> 'id' = :'kept';
-- not bookable, not changeable, not to be published again; deleting again is a no-op
SELECT pg_temp.call(:'h1_token', 'workon.booking_create(uuid,timestamptz,timestamptz)', '{}',
		json_build_object('space_id', :'kept', 'starts_at', date_trunc('hour', now()) + interval '4 days',
						  'ends_at', date_trunc('hour', now()) + interval '4 days 1 hour')::text) AS host_books,
       pg_temp.call(:'m1_token', 'workon.booking_create(uuid,timestamptz,timestamptz)', '{}',
		json_build_object('space_id', :'kept', 'starts_at', date_trunc('hour', now()) + interval '4 days',
						  'ends_at', date_trunc('hour', now()) + interval '4 days 1 hour')::text) AS member_books,
       pg_temp.call(:'h1_token', 'workon.space_update(uuid,jsonb)', jsonb_build_object('id', :'kept'), '{"published":true}') AS republish,
       pg_temp.call(:'a1_token', 'workon.space_update(uuid,jsonb)', jsonb_build_object('id', :'kept'), '{"name":"New"}') AS admin_rename,
       pg_temp.call(:'h1_token', 'workon.space_delete(uuid)', jsonb_build_object('id', :'kept')) AS delete_again;
SELECT pg_temp.try(format('UPDATE workon.spaces SET published = true WHERE id = %L', :'kept')) AS superuser_republish;
-- nor are its photos (PUT /api/v1/spaces/{id}/photos)
SELECT pg_temp.call(:'h1_token', 'workon.space_photos_set(uuid,jsonb)', jsonb_build_object('id', :'kept'), '{"upload_ids":[]}') AS set_photos;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try(format('UPDATE workon.spaces SET archived_at = NULL WHERE id = %L', :'kept')) AS host_unarchives;
ROLLBACK;

-- a space without any booking is still deleted
SELECT pg_temp.call(:'h1_token', 'workon.space_delete(uuid)', jsonb_build_object('id', :'empty')) AS delete_empty;
SELECT count(*) AS empty_left FROM workon.spaces WHERE id = :'empty';
-- live bookings still block it
SELECT pg_temp.book(:'m2_token', :'busy', 1) IS NOT NULL AS busy_held;
SELECT pg_temp.call(:'h1_token', 'workon.space_delete(uuid)', jsonb_build_object('id', :'busy')) AS delete_busy;

-- nothing cascades over records, whoever deletes: the superuser is refused too
SELECT pg_temp.try(format('DELETE FROM workon.spaces WHERE id = %L', :'kept')) AS delete_space_row,
       pg_temp.try(format('DELETE FROM workon.bookings WHERE id = %L', :'bb')) AS delete_booking_row,
       pg_temp.try(format('DELETE FROM workon.payments WHERE booking_id = %L', :'bb')) AS delete_payment_row,
       pg_temp.try(format('DELETE FROM workon.refunds WHERE booking_id = %L', :'bb')) AS delete_refund_row;
SELECT c.conrelid::regclass AS "table", a.attname AS "column", c.confrelid::regclass AS refers_to,
       CASE c.confdeltype WHEN 'r' THEN 'restrict' WHEN 'a' THEN 'no action' WHEN 'c' THEN 'cascade'
                          WHEN 'n' THEN 'set null' ELSE c.confdeltype::text END AS on_delete
  FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
 WHERE c.contype = 'f'
   AND c.conrelid IN ('workon.bookings'::regclass, 'workon.payments'::regclass, 'workon.refunds'::regclass,
                      'workon.outbox'::regclass, 'workon.stripe_events'::regclass)
 ORDER BY "table"::text, "column";

-- the audit log is append-only for everything but a superuser's own session
CREATE FUNCTION pg_temp.audit_write(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL SESSION AUTHORIZATION workon_authenticator;
	RETURN pg_temp.try(sql);
END
$$;
CREATE FUNCTION workon.test_audit_erase() RETURNS void LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$ DELETE FROM workon.audit_log $$;
CREATE FUNCTION workon.test_audit_change() RETURNS void LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$ UPDATE workon.audit_log SET action = 'nothing' $$;
GRANT EXECUTE ON FUNCTION workon.test_audit_erase(), workon.test_audit_change() TO workon_authenticator;
BEGIN;
SELECT pg_temp.audit_write('SELECT workon.test_audit_erase()') AS definer_erase,
       pg_temp.audit_write('SELECT workon.test_audit_change()') AS definer_change;
ROLLBACK;
DROP FUNCTION workon.test_audit_erase(), workon.test_audit_change();
SELECT count(*) > :audit_rows_before AS audit_kept FROM workon.audit_log;

--
-- 2. A cancelled booking ends with no live PaymentIntent
--

-- the create call was queued and never sent: abandoned at cancel, never sent later
SELECT pg_temp.book(:'m1_token', :'busy', 2) AS c1 \gset
SELECT pg_temp.pay(:'m1_token', :'c1') AS c1_call \gset
SELECT pg_temp.call(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'c1'), NULL, 'status') AS cancel;
SELECT pg_temp.state(:'c1') AS queued_then_cancelled,
       (SELECT last_error FROM workon.outbox WHERE id = :c1_call) AS why;
SELECT count(*) AS claim_id_rows FROM workon.outbox_claim_id(:c1_call);
SELECT count(*) AS background_rows FROM workon.outbox_claim('{stripe}', 100) AS c WHERE c.id = :c1_call;

-- the create call was being sent when the booking was cancelled: Stripe's
-- answer is kept and the PaymentIntent cancelled at once
SELECT pg_temp.book(:'m1_token', :'busy', 3) AS c2 \gset
SELECT pg_temp.pay(:'m1_token', :'c2') AS c2_call \gset
SELECT count(*) AS claimed FROM workon.outbox_claim_id(:c2_call);
SELECT pg_temp.call(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'c2'), NULL, 'status') AS cancel;
SELECT pg_temp.state(:'c2') AS in_flight_then_cancelled;
SELECT pg_temp.answer(:c2_call, 'pi_late_c2') AS answered;
SELECT pg_temp.state(:'c2') AS answered_after_cancel,
       (SELECT o.path FROM workon.outbox o WHERE o.booking_id = :'c2' AND o.purpose = 'payment_intent_cancel') AS cancel_call;

-- the create failed without an answer (it may have reached Stripe), then the
-- booking was cancelled: the retry's answer is cancelled too
SELECT pg_temp.book(:'m1_token', :'busy', 4) AS c3 \gset
SELECT pg_temp.pay(:'m1_token', :'c3') AS c3_call \gset
SELECT count(*) AS claimed FROM workon.outbox_claim_id(:c3_call);
SELECT status FROM workon.outbox_error(:c3_call, 'timeout');
SELECT pg_temp.call(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'c3'), NULL, 'status') AS cancel;
SELECT pg_temp.state(:'c3') AS failed_then_cancelled;
SELECT count(*) AS retried FROM workon.outbox_claim_id(:c3_call);
SELECT pg_temp.answer(:c3_call, 'pi_late_c3') AS answered;
SELECT pg_temp.state(:'c3') AS retried_after_cancel;

--
-- 3. Paying: one sender per call, a paid booking is not payable
--
SELECT pg_temp.book(:'m1_token', :'busy', 5) AS d1 \gset
SELECT pg_temp.pay(:'m1_token', :'d1') AS d1_call \gset
-- a second request for the same booking waits on the same row
SELECT pg_temp.pay(:'m1_token', :'d1') = :d1_call AS same_row;
SELECT count(*) AS first_claim FROM workon.outbox_claim_id(:d1_call);
SELECT count(*) AS second_claim_while_sending FROM workon.outbox_claim_id(:d1_call);
SELECT count(*) AS background_while_sending FROM workon.outbox_claim('{stripe}', 100) AS c WHERE c.id = :d1_call;
-- the sender failed without an answer: a waiting client may send it at once
SELECT status FROM workon.outbox_error(:d1_call, 'connection reset');
SELECT count(*) AS claim_after_error FROM workon.outbox_claim_id(:d1_call);
SELECT pg_temp.answer(:d1_call, 'pi_once_d1') AS answered;
SELECT pg_temp.call(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'d1'), NULL, 'stripe_payment_intent_id') AS repeat_pending;
SELECT pg_temp.deliver('evt_once_d1', 'payment_intent.succeeded', 1, pg_temp.succeeded('pi_once_d1', :'d1', 1500));
SELECT pg_temp.state(:'d1') AS paid;
SELECT pg_temp.call(:'m1_token', 'workon.payment_create(uuid)', jsonb_build_object('id', :'d1')) AS repeat_confirmed,
       pg_temp.call(:'m1_token', 'workon.checkout_create(uuid,text,text)', jsonb_build_object('id', :'d1'),
					'{"success_url":"https://example.com/ok","cancel_url":"https://example.com/no"}') AS checkout_confirmed;

--
-- 4. Contradicting snapshots of one PaymentIntent: the newest decides
--
SELECT pg_temp.book(:'m1_token', :'busy', 6) AS e1 \gset
SELECT pg_temp.answer(pg_temp.pay(:'m1_token', :'e1'), 'pi_snap_e1') AS answered;
SELECT pg_temp.deliver('evt_snap_e1_a', 'payment_intent.succeeded', 10, pg_temp.succeeded('pi_snap_e1', :'e1', 900));
SELECT pg_temp.state(:'e1') AS wrong_amount;
SELECT pg_temp.deliver('evt_snap_e1_b', 'payment_intent.succeeded', 20, pg_temp.succeeded('pi_snap_e1', :'e1', 1500));
SELECT pg_temp.state(:'e1') AS newer_right_amount;
-- an older contradicting snapshot arriving late changes nothing
SELECT pg_temp.deliver('evt_snap_e1_c', 'payment_intent.succeeded', 5, pg_temp.succeeded('pi_snap_e1', :'e1', 700, 'usd'));
SELECT pg_temp.state(:'e1') AS older_wrong_amount_late;
-- the same three in the other order end the same
SELECT pg_temp.book(:'m1_token', :'busy', 7) AS e2 \gset
SELECT pg_temp.answer(pg_temp.pay(:'m1_token', :'e2'), 'pi_snap_e2') AS answered;
SELECT pg_temp.deliver('evt_snap_e2_b', 'payment_intent.succeeded', 20, pg_temp.succeeded('pi_snap_e2', :'e2', 1500));
SELECT pg_temp.deliver('evt_snap_e2_c', 'payment_intent.succeeded', 5, pg_temp.succeeded('pi_snap_e2', :'e2', 700, 'usd'));
SELECT pg_temp.deliver('evt_snap_e2_a', 'payment_intent.succeeded', 10, pg_temp.succeeded('pi_snap_e2', :'e2', 900));
SELECT pg_temp.state(:'e2') AS other_order;

--
-- 5. Disabled users: no login, no refresh
--
SELECT workon.auth_login('rm2@example.com', 'member two password')::json ->> 'refresh_token' AS m2_refresh \gset
UPDATE workon.users SET disabled = true WHERE id = :'m2';
SELECT pg_temp.try($$SELECT workon.auth_login('rm2@example.com', 'member two password')$$) AS login_disabled,
       pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'m2_refresh')) AS refresh_disabled;
UPDATE workon.users SET disabled = false WHERE id = :'m2';
SELECT workon.auth_refresh(:'m2_refresh')::json ->> 'token_type' AS refresh_enabled_again;

--
-- 6. A token acts with what workon.users says now: deleted and disabled
-- users are refused (28000, a 401 for the front end), a role change counts
-- from the next request, through workon.dispatch and workon.authenticate
--
SELECT pg_temp.call(:'h2_token', 'workon.me()', '{}', NULL, 'role') AS host_before;
UPDATE workon.users SET role = 'member' WHERE id = :'h2';
SELECT pg_temp.call(:'h2_token', 'workon.me()', '{}', NULL, 'role') AS demoted_me,
       pg_temp.call(:'h2_token', 'workon.space_create(jsonb)', '{}', '{"name":"No"}') AS demoted_creates;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h2_token') ->> 'sub' = :'h2' AS authenticated;
SELECT workon.current_role() AS sql_caller_role, current_user AS api_role;
ROLLBACK;
UPDATE workon.users SET role = 'host' WHERE id = :'h2';
SELECT pg_temp.call(:'h2_token', 'workon.me()', '{}', NULL, 'role') AS promoted_again;
-- an admin demoted in the same transaction as the next call sees it at once
BEGIN;
UPDATE workon.users SET role = 'member' WHERE id = :'a1';
SELECT pg_temp.call(:'a1_token', 'workon.admin_user_update(uuid,text,boolean)', jsonb_build_object('id', :'m1'), '{"role":"host"}') AS demoted_admin;
ROLLBACK;
SELECT pg_temp.call(:'a1_token', 'workon.me()', '{}', NULL, 'role') AS admin_again;
-- disabled, then enabled
SELECT coalesce(max(id), 0) AS events_before FROM workon.events \gset
UPDATE workon.users SET disabled = true WHERE id = :'m2';
SELECT pg_temp.call(:'m2_token', 'workon.me()', '{}') AS disabled_me,
       pg_temp.call(:'m2_token', 'workon.spaces_list(text,text,integer,integer,text)', '{}') AS disabled_public_route,
       pg_temp.try(format('SELECT workon.authenticate(%L)', :'m2_token')) AS disabled_authenticate;
UPDATE workon.users SET disabled = false WHERE id = :'m2';
-- the realtime front end closes the disabled user's sockets at once; enabling closes nothing
SELECT e.data ->> 'reason' AS reason, e.data ->> 'close_code' AS close_code
  FROM workon.events e
 WHERE e.id > :events_before AND e.type = 'session.revoked' AND e.recipients = ARRAY[:'m2'::uuid]
 ORDER BY e.id;
SELECT pg_temp.call(:'m2_token', 'workon.me()', '{}', NULL, 'role') AS enabled_me;
-- an admin disables and enables an account (not their own) with PATCH /admin/users/{id}
SELECT pg_temp.call(:'a1_token', 'workon.admin_user_update(uuid,text,boolean)', jsonb_build_object('id', :'m2'),
					'{"disabled":true}', 'disabled') AS admin_disables;
SELECT pg_temp.call(:'m2_token', 'workon.me()', '{}') AS disabled_by_admin_me;
SELECT pg_temp.call(:'a1_token', 'workon.admin_user_update(uuid,text,boolean)', jsonb_build_object('id', :'m2'),
					'{"disabled":false}', 'disabled') AS admin_enables,
       pg_temp.call(:'a1_token', 'workon.admin_user_update(uuid,text,boolean)', jsonb_build_object('id', :'a1'),
					'{"disabled":true}') AS admin_disables_self,
       pg_temp.call(:'a1_token', 'workon.admin_user_update(uuid,text,boolean)', jsonb_build_object('id', :'m2'),
					'{}') AS nothing_to_change;
SELECT pg_temp.call(:'m2_token', 'workon.me()', '{}', NULL, 'role') AS enabled_by_admin_me;
-- deleted (a user without records)
SELECT workon.create_user('rgone@example.com', 'gone user password', 'Gone', 'member') AS gone \gset
SELECT workon.auth_login('rgone@example.com', 'gone user password')::json ->> 'access_token' AS gone_token \gset
SELECT pg_temp.call(:'gone_token', 'workon.me()', '{}', NULL, 'role') AS before_delete;
DELETE FROM workon.refresh_tokens WHERE user_id = :'gone';
DELETE FROM workon.users WHERE id = :'gone';
SELECT pg_temp.call(:'gone_token', 'workon.me()', '{}') AS deleted_me,
       pg_temp.call(:'gone_token', 'workon.booking_create(uuid,timestamptz,timestamptz)', '{}',
		json_build_object('space_id', :'busy', 'starts_at', date_trunc('hour', now()) + interval '5 days',
						  'ends_at', date_trunc('hour', now()) + interval '5 days 1 hour')::text) AS deleted_books;

-- clean up (records are emptied by the superuser, whole tables at once)
TRUNCATE workon.outbox, workon.stripe_events, workon.refunds, workon.payments, workon.reviews, workon.bookings;
DELETE FROM workon.stripe_webhook_secrets;
DELETE FROM workon.spaces WHERE host_id = :'h1';
DELETE FROM workon.users WHERE id IN (:'m1', :'m2', :'h1', :'h2', :'a1');
DELETE FROM workon.audit_log;
DELETE FROM workon.jwt_keys;
