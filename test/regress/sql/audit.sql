--
-- The audit log is complete: every route that changes state, called as its
-- role would call it, writes audit rows naming the actor, the action, the
-- entity and the changed fields, never a secret.  Every route of
-- workon.routes that is not read_only needs a sample call below: a new one
-- without a sample fails here.  Then GET /api/v1/admin/audit and the log's
-- append-only rule.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx w
\i :abs_srcdir/fixture/people.sql
SELECT workon.seed_signed_url_secret(repeat('k', 40)) AS url_key_seeded;
SELECT workon.seed_stripe_webhook_secret('whsec_test_not_a_real_secret_0123456789') IS NULL AS webhook_secret_seeded;
\set png '\\x89504e470d0a1a0a0000000d4948445200000001'
CREATE TEMP TABLE walk_mark AS SELECT COALESCE(max(id), 0) AS mark FROM workon.audit_log;
CREATE TEMP TABLE walk_result (ord int, method text, path text, rows_written bigint, actor_named boolean,
							   fields_named boolean);
GRANT SELECT ON walk_mark TO PUBLIC;

-- what the samples work on: a space of h1 open all week, two uploads of
-- h1 and m1 with their signed URLs, refresh tokens, a dead mail
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
						   hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('5d000000-0000-4000-8000-000000000001', :'h1', 'Walk Desk', 'desk', 'Lyon', 'Rue 1', 2, 'UTC',
		1000, 6000, 'eur', '{"mon": [["00:00", "24:00"]], "tue": [["00:00", "24:00"]], "wed": [["00:00", "24:00"]],
		"thu": [["00:00", "24:00"]], "fri": [["00:00", "24:00"]], "sat": [["00:00", "24:00"]], "sun": [["00:00", "24:00"]]}', true),
	   ('5d000000-0000-4000-8000-000000000002', :'h1', 'Walk Room', 'meeting_room', 'Lyon', 'Rue 2', 2, 'UTC',
		1000, 6000, 'eur', '{}', false);
-- a booking of m1 that ended three days ago, to be reviewed
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, price_cents, currency)
VALUES ('5d100000-0000-4000-8000-000000000001', '5d000000-0000-4000-8000-000000000001', :'m1',
		date_trunc('hour', now()) - interval '3 days', date_trunc('hour', now()) - interval '3 days' + interval '1 hour',
		'confirmed', 1000, 'eur');
SELECT workon.auth_login('wm2@example.com', 'member two password') ->> 'refresh_token' AS refresh_a,
	   workon.auth_login('wm2@example.com', 'member two password') ->> 'refresh_token' AS refresh_b \gset
INSERT INTO workon.outbox (kind, purpose, path, params, idempotency_key, status)
VALUES ('email', 'email', '/email', '{"to": "wm1@example.com", "template": "welcome"}', 'walk-dead-mail', 'dead')
RETURNING id AS dead_mail \gset
INSERT INTO workon.outbox (kind, purpose, path, params, idempotency_key, status)
VALUES ('stripe', 'refund', '/v1/refunds', '{}', 'walk-dead-call', 'dead')
RETURNING id AS dead_call \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') IS NOT NULL AS h1;
SELECT workon.upload_create('photo.png', 'image/png', 20) AS hu \gset
COMMIT;
SELECT :'hu'::json ->> 'id' AS hu_id, substring(:'hu'::json ->> 'upload_url', 'expires=([0-9]+)') AS hu_expires,
	   substring(:'hu'::json ->> 'upload_url', 'sig=(.*)$') AS hu_sig \gset
SELECT workon.upload_put(:'hu_id', :'hu_expires', :'hu_sig', :'png') IS NOT NULL AS host_photo_stored;
UPDATE walk_mark SET mark = (SELECT max(id) FROM workon.audit_log);

-- one sample call per state-changing route, in order, as its role
-- (NULL: anonymous); they run as the shim runs them
CREATE TEMP TABLE walk (ord int, method text, path text, token text, call text);
INSERT INTO walk VALUES
	(1, 'POST', '/api/v1/auth/register', NULL,
	 $$workon.auth_register('wnew@example.com', 'a new member password', 'New One', 'member')$$),
	(2, 'POST', '/api/v1/auth/login', NULL, $$workon.auth_login('wm2@example.com', 'member two password')$$),
	(3, 'POST', '/api/v1/auth/refresh', NULL, format('workon.auth_refresh(%L)', :'refresh_a')),
	(4, 'POST', '/api/v1/auth/logout', NULL, format('workon.auth_logout(%L)', :'refresh_b')),
	(5, 'PATCH', '/api/v1/me', :'m1_token', $$workon.me_update('Member One', 'fr')$$),
	(6, 'POST', '/api/v1/me/password', :'m2_token', $$workon.me_password('member two password', 'member two new password')$$),
	(7, 'POST', '/api/v1/auth/password/forgot', NULL, $$workon.auth_password_forgot('wm1@example.com')$$),
	(8, 'POST', '/api/v1/auth/password/reset', NULL,
	 $$workon.auth_password_reset((SELECT pg_temp.mailed_token('wm1@example.com', 'password_reset')), 'member one new password')$$),
	(9, 'POST', '/api/v1/auth/verify-email/resend', :'h2_token', $$workon.auth_verify_email_resend()$$),
	(10, 'POST', '/api/v1/auth/verify-email', NULL,
	 $$workon.auth_verify_email((SELECT pg_temp.mailed_token('wh2@example.com', 'email_verification')))$$),
	(11, 'PATCH', '/api/v1/admin/users/{id}', :'a1_token', format('workon.admin_user_update(%L, %L)', :'m2', 'host')),
	(12, 'POST', '/api/v1/uploads', :'m1_token', $$workon.upload_create('me.png', 'image/png', 20)$$),
	(13, 'PUT', '/api/v1/uploads/{id}/content', NULL,
	 $$workon.upload_put((SELECT pg_temp.walk_upload() ->> 'id')::uuid, (pg_temp.walk_upload() ->> 'expires')::bigint,
						 pg_temp.walk_upload() ->> 'sig', '\x89504e470d0a1a0a0000000d4948445200000001')$$),
	(14, 'PUT', '/api/v1/me/avatar', :'m1_token', $$workon.avatar_set((pg_temp.walk_upload() ->> 'id')::uuid)$$),
	(15, 'POST', '/api/v1/spaces', :'h1_token',
	 $${"name": "New Desk", "kind": "desk", "city": "Lyon", "address": "Rue 3", "capacity": 1, "timezone": "UTC",
		"hourly_rate_cents": 100, "daily_rate_cents": 600, "currency": "eur"}$$),
	(16, 'PATCH', '/api/v1/spaces/{id}', :'h1_token',
	 $$workon.space_update('5d000000-0000-4000-8000-000000000001', '{"capacity": 3}')$$),
	(17, 'PUT', '/api/v1/spaces/{id}/photos', :'h1_token',
	 format('workon.space_photos_set(%L, %L)', '5d000000-0000-4000-8000-000000000001', jsonb_build_array(:'hu_id'))),
	(18, 'DELETE', '/api/v1/spaces/{id}', :'h1_token', $$workon.space_delete('5d000000-0000-4000-8000-000000000002')$$),
	(19, 'POST', '/api/v1/bookings', :'m1_token',
	 $$workon.booking_create('5d000000-0000-4000-8000-000000000001', date_trunc('day', now()) + interval '2 days 9 hours',
							 date_trunc('day', now()) + interval '2 days 10 hours')$$),
	(20, 'POST', '/api/v1/bookings/{id}/payment', :'m1_token',
	 $$workon.payment_create((SELECT id FROM workon.bookings WHERE starts_at = date_trunc('day', now()) + interval '2 days 9 hours'))$$),
	(21, 'POST', '/api/webhooks/stripe', NULL, $$pg_temp.walk_event('evt_walk_1', 'payment_intent.processing')$$),
	(22, 'POST', '/api/v1/webhooks/stripe', NULL, $$pg_temp.walk_event('evt_walk_2', 'payment_intent.requires_action')$$),
	(23, 'POST', '/api/v1/bookings', :'m1_token',
	 $$workon.booking_create('5d000000-0000-4000-8000-000000000001', date_trunc('day', now()) + interval '3 days 9 hours',
							 date_trunc('day', now()) + interval '3 days 10 hours')$$),
	(24, 'POST', '/api/v1/bookings/{id}/checkout', :'m1_token',
	 $$workon.checkout_create((SELECT id FROM workon.bookings WHERE starts_at = date_trunc('day', now()) + interval '3 days 9 hours'),
							  'https://example.com/ok', 'https://example.com/back')$$),
	(25, 'POST', '/api/v1/bookings', :'m1_token',
	 $$workon.booking_create('5d000000-0000-4000-8000-000000000001', date_trunc('day', now()) + interval '4 days 9 hours',
							 date_trunc('day', now()) + interval '4 days 10 hours')$$),
	(26, 'POST', '/api/v1/bookings/{id}/cancel', :'m1_token',
	 $$workon.booking_cancel((SELECT id FROM workon.bookings WHERE starts_at = date_trunc('day', now()) + interval '4 days 9 hours'))$$),
	(27, 'POST', '/api/v1/conversations', :'m1_token', $$workon.conversation_open('5d000000-0000-4000-8000-000000000001')$$),
	(28, 'POST', '/api/v1/conversations/{id}/messages', :'m1_token',
	 $$workon.message_post((SELECT id FROM workon.conversations WHERE space_id = '5d000000-0000-4000-8000-000000000001'), '{"body": "hello"}')$$),
	(29, 'POST', '/api/v1/conversations/{id}/read', :'h1_token',
	 $$workon.conversation_read((SELECT id FROM workon.conversations WHERE space_id = '5d000000-0000-4000-8000-000000000001'))$$),
	(30, 'PUT', '/api/v1/admin/email-templates/{key}/{locale}', :'a1_token',
	 $$workon.email_template_set('booking_confirmed', 'en', 'Booked', 'Your booking is confirmed.', '<p>Your booking is confirmed.</p>')$$),
	(31, 'DELETE', '/api/v1/admin/email-templates/{key}/{locale}', :'a1_token', $$workon.email_template_reset('booking_confirmed', 'en')$$),
	(32, 'POST', '/api/v1/admin/emails/{id}/retry', :'a1_token', format('workon.admin_email_retry(%s)', :dead_mail)),
	(33, 'POST', '/api/v1/auth/session/register', NULL,
	 $$workon.auth_session_register('wsess@example.com', 'a session member password', 'Session One', 'member', '{"ip": "127.0.0.1"}')$$),
	(34, 'POST', '/api/v1/auth/session/login', NULL,
	 $$workon.auth_session_login('wsess@example.com', 'a session member password', '{"ip": "127.0.0.1"}')$$),
	(35, 'POST', '/api/v1/auth/session/refresh', NULL,
	 $$workon.auth_session_refresh(jsonb_build_object('headers', jsonb_build_object('cookie', 'workon_refresh='
		|| (workon.auth_login('wsess@example.com', 'a session member password') ->> 'refresh_token'))))$$),
	(36, 'POST', '/api/v1/auth/session/logout', NULL,
	 $$workon.auth_session_logout(jsonb_build_object('headers', jsonb_build_object('cookie', 'workon_refresh='
		|| (workon.auth_login('wsess@example.com', 'a session member password') ->> 'refresh_token'))))$$),
	(37, 'POST', '/api/v1/admin/outbox/{id}/retry', :'a1_token', format('workon.admin_outbox_retry(%s)', :dead_call)),
	(38, 'POST', '/api/v1/admin/posts', :'a1_token',
	 $$workon.post_create('{"title": "Walk Post", "markdown": "Hello *walk*"}')$$),
	(39, 'PATCH', '/api/v1/admin/posts/{id}', :'a1_token',
	 $$workon.post_update((SELECT id FROM workon.posts WHERE slug = 'walk-post'), '{"title": "Walk Post, again"}')$$),
	(40, 'DELETE', '/api/v1/admin/posts/{id}', :'a1_token',
	 $$workon.post_delete((SELECT id FROM workon.posts WHERE slug = 'walk-post'))$$),
	(41, 'POST', '/api/v1/spaces/{id}/reviews', :'m1_token',
	 $$workon.review_create('5d000000-0000-4000-8000-000000000001',
							'{"booking_id": "5d100000-0000-4000-8000-000000000001", "rating": 4, "body": "Quiet"}')$$),
	(42, 'PATCH', '/api/v1/reviews/{id}', :'m1_token',
	 $$workon.review_update((SELECT id FROM workon.reviews WHERE booking_id = '5d100000-0000-4000-8000-000000000001'), '{"rating": 5}')$$),
	(43, 'POST', '/api/v1/reviews/{id}/answer', :'h1_token',
	 $$workon.review_answer((SELECT id FROM workon.reviews WHERE booking_id = '5d100000-0000-4000-8000-000000000001'), '{"body": "Thanks"}')$$),
	(44, 'POST', '/api/v1/admin/reviews/{id}/hide', :'a1_token',
	 $$workon.review_hide((SELECT id FROM workon.reviews WHERE booking_id = '5d100000-0000-4000-8000-000000000001'), 'walk')$$),
	(45, 'DELETE', '/api/v1/admin/reviews/{id}/hide', :'a1_token',
	 $$workon.review_show((SELECT id FROM workon.reviews WHERE booking_id = '5d100000-0000-4000-8000-000000000001'))$$);
UPDATE walk SET call = format('workon.space_create(%L)', call) WHERE ord = 15;

CREATE FUNCTION pg_temp.mailed_token(addr text, tpl text) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
	SELECT substring(o.params ->> 'text' FROM 'token=([A-Za-z0-9_-]+)')
	  FROM workon.outbox o
	 WHERE o.kind = 'email' AND o.params ->> 'to' = addr AND o.params ->> 'template' = tpl
	 ORDER BY o.id DESC LIMIT 1
$$;
-- the newest upload of m1 and its signed URL's parts
CREATE FUNCTION pg_temp.walk_upload() RETURNS jsonb LANGUAGE sql SECURITY DEFINER AS $$
	SELECT jsonb_build_object('id', u.id, 'expires', substring(s, 'expires=([0-9]+)'), 'sig', substring(s, 'sig=(.*)$'))
	  FROM workon.uploads u
	 CROSS JOIN LATERAL workon.signed_url('PUT', workon.upload_path(u.id)) AS s
	 WHERE u.owner_id = (SELECT id FROM workon.users WHERE email = 'wm1@example.com')
	 ORDER BY u.created_at DESC LIMIT 1
$$;
-- a Stripe event about the walk's payment, signed now
CREATE FUNCTION pg_temp.walk_event(id text, type text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	t bigint := floor(extract(epoch FROM now()))::bigint;
	b uuid := (SELECT bk.id FROM workon.bookings bk WHERE bk.starts_at = date_trunc('day', now()) + interval '2 days 9 hours');
	ev text := jsonb_build_object('id', id, 'type', type, 'created', t, 'livemode', false,
		'data', jsonb_build_object('object', jsonb_build_object('id', 'pi_walk', 'object', 'payment_intent',
			'amount', 1000, 'currency', 'eur', 'status', replace(type, 'payment_intent.', ''),
			'metadata', jsonb_build_object('booking_id', b))))::text;
BEGIN
	RETURN workon.stripe_webhook(ev, jsonb_build_object('headers', jsonb_build_object('stripe-signature',
		format('t=%s,v1=%s', t, workon.stripe_signature(ev, 'whsec_test_not_a_real_secret_0123456789', t)))));
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.mailed_token(text, text), pg_temp.walk_upload(), pg_temp.walk_event(text, text) TO PUBLIC;

-- every route that may change state has a sample (a new route needs one
-- here); a GET changes nothing by definition
SELECT r.method, r.path AS route_without_sample
  FROM workon.routes r
 WHERE NOT r.read_only AND r.method <> 'GET'
   AND NOT EXISTS (SELECT FROM walk w WHERE w.method = r.method AND w.path = r.path)
 ORDER BY r.path, r.method;

-- the walk: each call in a transaction of its own, as the shim makes them,
-- then what it wrote to the log
\set ECHO none
\o /dev/null
SELECT 'BEGIN',
	   'SET LOCAL SESSION AUTHORIZATION workon_authenticator',
	   CASE WHEN token IS NULL THEN 'SET LOCAL ROLE workon_anon'
			ELSE format('SELECT workon.authenticate(%L)', token) END,
	   format('SELECT %s', call),
	   'COMMIT',
	   format($$INSERT INTO walk_result
				SELECT %s, %L, %L, count(*),
					   %L OR bool_and(a.actor_id IS NOT NULL),
					   bool_and(a.changed IS NOT NULL OR a.action IN ('seed', 'revoke'))
				  FROM workon.audit_log a WHERE a.id > (SELECT mark FROM walk_mark)$$,
			  ord, method, path, token IS NULL),
	   'UPDATE walk_mark SET mark = (SELECT max(id) FROM workon.audit_log)'
  FROM walk ORDER BY ord
\gexec
\o
\set ECHO all
SELECT ord, method, path, rows_written > 0 AS audited, actor_named, fields_named
  FROM walk_result ORDER BY ord;

-- what a few calls wrote: the entity, the action and the fields
SELECT a.entity, a.action, a.changed
  FROM workon.audit_log a
 WHERE a.entity IN ('users', 'refresh_tokens', 'account_tokens') AND a.action = 'update'
   AND a.id > (SELECT min(id) FROM workon.audit_log WHERE entity = 'users' AND after ->> 'email' = 'wnew@example.com')
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- never a secret: no password hash, token hash, client secret, key or
-- template body, in any row
SELECT a.entity, k AS secret_key_in_log
  FROM workon.audit_log a,
	   LATERAL (SELECT jsonb_object_keys(COALESCE(a.after, a.before, '{}')) AS k) AS keys
 WHERE k IN ('password_hash', 'token_hash', 'client_secret', 'secret', 'key', 'value', 'params', 'object')
 GROUP BY 1, 2;
SELECT count(*) AS rows_with_a_token
  FROM workon.audit_log a
 WHERE a.after::text LIKE '%' || :'refresh_a' || '%' OR a.before::text LIKE '%' || :'refresh_a' || '%';

-- SQL callers' changes are logged too, without an actor
UPDATE workon.users SET name = 'Renamed In SQL' WHERE id = :'m1';
SELECT actor_id IS NULL AS no_actor, action, entity, changed, before ->> 'name' AS was, after ->> 'name' AS now
  FROM workon.audit_log WHERE entity_id = :'m1' ORDER BY id DESC LIMIT 1;

--
-- GET /api/v1/admin/audit
--
CREATE FUNCTION pg_temp.audit(query jsonb, token text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT d.body::jsonb FROM workon.dispatch('workon.admin_audit(uuid,text,text,text,timestamptz,timestamptz,integer,text)'::regprocedure,
											  '{}', query, NULL, token, '{}') AS d
$$;
-- by entity id, newest first
SELECT e ->> 'action' AS action, e ->> 'entity' AS entity, e -> 'changed' AS changed, e ->> 'actor_id' = :'a1' AS by_a1
  FROM jsonb_array_elements(pg_temp.audit(jsonb_build_object('entity_id', :'m2'), :'a1_token') -> 'data') AS e;
-- by actor and entity, paged with the cursor
SELECT pg_temp.audit(jsonb_build_object('actor', :'m1', 'entity', 'bookings', 'limit', 2), :'a1_token') AS p1 \gset
SELECT jsonb_array_length(:'p1'::jsonb -> 'data') AS page1, :'p1'::jsonb ->> 'next_cursor' IS NOT NULL AS more;
SELECT jsonb_array_length(p -> 'data') AS page2, p -> 'next_cursor' AS next_cursor,
	   (p -> 'data' -> 0 ->> 'id')::bigint < (:'p1'::jsonb -> 'data' -> 1 ->> 'id')::bigint AS older
  FROM pg_temp.audit(jsonb_build_object('actor', :'m1', 'entity', 'bookings', 'limit', 2,
										'cursor', :'p1'::jsonb ->> 'next_cursor'), :'a1_token') AS p;
SELECT count(*) AS deletes
  FROM jsonb_array_elements(pg_temp.audit('{"action": "delete", "entity": "spaces"}', :'a1_token') -> 'data');
SELECT jsonb_array_length(pg_temp.audit(jsonb_build_object('from', now() + interval '1 hour'), :'a1_token') -> 'data') AS future;
-- admins only; bad filters
SELECT pg_temp.try(format($$SELECT pg_temp.audit('{}', %L)$$, :'h1_token'));
SELECT q, pg_temp.try(format($$SELECT pg_temp.audit(%L, %L)$$, q, :'a1_token'))
  FROM (VALUES ('{"action": "DROP TABLE"}'), ('{"actor": "x"}'), ('{"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}'),
			   ('{"limit": 0}'), ('{"cursor": "nope"}')) AS v(q);

-- the log stays append-only, whatever the role
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') IS NOT NULL AS admin;
SELECT pg_temp.try('DELETE FROM workon.audit_log');
SELECT pg_temp.try('UPDATE workon.audit_log SET action = ''x''');
COMMIT;
