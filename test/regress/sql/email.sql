--
-- E-mail: templates rendered in both languages (escaped in HTML, verbatim in
-- text), amounts and times per locale, admins' templates, the notifications'
-- outbox rows and their delivery states, and the account flows: password
-- reset and e-mail verification tokens (keyed hashes, lifetimes, single
-- use), password change, PATCH /me.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx e
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

-- one request through dispatch: status and body, or the error
CREATE FUNCTION pg_temp.req(fn text, payload text DEFAULT NULL, token text DEFAULT NULL,
                            params jsonb DEFAULT '{}', query jsonb DEFAULT '{}')
RETURNS TABLE (status int, body jsonb, error text)
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	col text;
BEGIN
	RETURN QUERY SELECT d.status, d.body::jsonb, NULL::text
		FROM workon.dispatch(fn::regprocedure, params, query, payload, token, '{}') AS d;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME;
	RETURN QUERY SELECT NULL::int, NULL::jsonb,
		st || ' ' || msg || CASE WHEN col <> '' THEN ' [field: ' || col || ']' ELSE '' END;
END
$$;
-- the mails queued to an address, oldest first
CREATE FUNCTION pg_temp.mails(addr text)
RETURNS TABLE (template text, locale text, subject text, key text, status text)
LANGUAGE sql AS $$
	SELECT o.params ->> 'template', o.params ->> 'locale', o.params ->> 'subject',
		   regexp_replace(o.idempotency_key, '[0-9a-f-]{36}', '<id>'), o.status
	  FROM workon.outbox o WHERE o.kind = 'email' AND o.params ->> 'to' = addr ORDER BY o.id
$$;
-- the token of the link in the last mail of a template to an address
CREATE FUNCTION pg_temp.mailed_token(addr text, tpl text) RETURNS text LANGUAGE sql AS $$
	SELECT substring(o.params ->> 'text' FROM 'token=([A-Za-z0-9_-]+)')
	  FROM workon.outbox o
	 WHERE o.kind = 'email' AND o.params ->> 'to' = addr AND o.params ->> 'template' = tpl
	 ORDER BY o.id DESC LIMIT 1
$$;

--
-- Formatting
--
SELECT workon.email_money(123456, 'eur', 'fr') AS fr, workon.email_money(123456, 'eur', 'en') AS en,
       workon.email_money(-1050, 'usd', 'fr') AS fr_usd, workon.email_money(1050, 'usd', 'en') AS en_usd,
       workon.email_money(1500, 'jpy', 'en') AS jpy, workon.email_money(5, 'CHF', 'en') AS chf,
       workon.email_money(100000000, 'chf', 'fr') AS fr_chf;
-- the French digit groups and the space before the symbol do not break
SELECT encode(convert_to(workon.email_money(123456, 'eur', 'fr'), 'UTF8'), 'hex') AS fr_bytes;
-- local time of the space's zone, DST included; "1er" in French
SELECT workon.email_time('2026-12-07 13:30Z', 'Europe/Paris', 'fr') AS paris_winter,
       workon.email_time('2026-07-01 13:30Z', 'Europe/Paris', 'fr') AS paris_summer,
       workon.email_time('2026-12-01 00:05Z', 'America/New_York', 'en') AS new_york,
       workon.email_time('2026-06-01 12:00Z', 'UTC', 'en') AS noon,
       workon.email_time('2026-06-01 00:00Z', 'UTC', 'en') AS midnight;
SELECT pg_temp.try($$SELECT workon.email_money(1, 'eu', 'fr')$$);
SELECT pg_temp.try($$SELECT workon.email_money(1, 'eur', 'de')$$);
SELECT pg_temp.try($$SELECT workon.email_time('infinity', 'UTC', 'en')$$);

--
-- Rendering: placeholders, escaping
--
SELECT workon.email_render('Hi {{name}}: {{n}} {{b}} {{missing}}{{ spaced }} {{Upper}} {{a', 
                           '{"name": "<b>Tom & \"Jerry\"</b> l''ami", "n": 12.50, "b": true}', false) AS text,
       workon.email_render('Hi {{name}}: {{n}} {{b}} {{missing}}{{ spaced }} {{Upper}} {{a',
                           '{"name": "<b>Tom & \"Jerry\"</b> l''ami", "n": 12.50, "b": true}', true) AS html;
SELECT workon.email_placeholders('{{a}} {{b_2}} {{a}} {single} }}') AS names;
SELECT pg_temp.try($$SELECT workon.email_placeholders('ok {{x}} then {{ x }}')$$);
SELECT pg_temp.try($$SELECT workon.email_render('{{x}}', '[1]', true)$$);
-- every shipped template, both languages, with its placeholders
SELECT key, string_agg(locale, ',' ORDER BY locale) AS locales,
       array_to_string(workon.email_template_placeholders(key), ' ') AS placeholders
  FROM workon.email_templates WHERE NOT custom GROUP BY key ORDER BY key;

-- a user whose name is markup, in each language
UPDATE workon.users SET name = '<script>alert(1)</script>', locale = 'fr' WHERE id = :'m1';
UPDATE workon.users SET name = '<script>alert(1)</script>', locale = 'en' WHERE id = :'m2';
SELECT workon.email_send(:'m1', 'password_changed', '{}', 'regress:1') AS mail_fr \gset
SELECT workon.email_send(:'m2', 'password_changed', '{}', 'regress:2') AS mail_en \gset
SELECT o.params ->> 'locale' AS locale, o.params ->> 'subject' AS subject,
       o.params ->> 'to' AS "to", o.idempotency_key,
       split_part(o.params ->> 'text', E'\n', 1) AS text_line,
       split_part(o.params ->> 'html', E'\n', 1) AS html_line,
       o.params ->> 'html' LIKE '%<script>%' AS html_has_script
  FROM workon.outbox o WHERE o.id IN (:mail_fr, :mail_en) ORDER BY o.id;
-- once per key
SELECT workon.email_send(:'m1', 'password_changed', '{}', 'regress:1') = :mail_fr AS same_row;
SELECT pg_temp.try($$SELECT workon.email_send(gen_random_uuid(), 'password_changed', '{}', 'regress:3')$$) AS unknown_user;
SELECT pg_temp.try($$SELECT workon.email_send('$$ || :'m1' || $$', 'no_such_mail', '{}', 'regress:3')$$);
-- the default language: DEFAULT_LOCALE
UPDATE workon.users SET locale = NULL WHERE id = :'m1';
SET workon.default_locale = 'fr';
SELECT workon.email_send(:'m1', 'password_changed', '{}', 'regress:4') IS NOT NULL AS queued;
SELECT params ->> 'locale' AS locale, params ->> 'subject' AS subject FROM workon.outbox WHERE idempotency_key = 'email:regress:4';
SELECT pg_temp.try($$SET workon.default_locale = 'de'$$);
RESET workon.default_locale;
UPDATE workon.users SET name = 'M1', locale = NULL WHERE id = :'m1';
UPDATE workon.users SET name = 'M2', locale = NULL WHERE id = :'m2';

-- a booking's values: the space, local times, amounts
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, published)
VALUES ('00000000-0000-0000-0000-0000000000e1', :'h1', 'Loft <Rivoli> & Co', 'desk', 'Paris',
        '1 rue de Rivoli', 4, 'Europe/Paris', 1250, 9000, 'eur', true);
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, price_cents, currency)
VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000e1', :'m1',
        '2030-07-01 07:00Z', '2030-07-01 09:00Z', 'confirmed', 2500, 'eur');
SELECT key, jsonb_pretty(workon.email_values(u, d, loc)) AS vals
  FROM workon.users u,
       (VALUES ('en', '{"booking_id": "00000000-0000-0000-0000-0000000000b1", "amount_cents": 2500, "currency": "eur", "refund_cents": 1250}'::jsonb),
               ('fr', '{"booking_id": "00000000-0000-0000-0000-0000000000b1", "amount_cents": 2500, "refund_cents": 1250, "error": "Your card was declined."}'::jsonb)) AS v(loc, d),
       LATERAL (SELECT loc AS key) k
 WHERE u.id = :'m1' ORDER BY key;
UPDATE workon.users SET locale = 'fr' WHERE id = :'m1';
SELECT workon.email_enqueue(:'m1', 'booking_confirmed',
                            '{"booking_id": "00000000-0000-0000-0000-0000000000b1", "amount_cents": 2500, "currency": "eur"}',
                            'booking_confirmed:regress', '00000000-0000-0000-0000-0000000000b1') AS confirmed \gset
SELECT params ->> 'subject' AS subject, params ->> 'text' AS text, params ->> 'html' AS html,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(params) k) AS params
  FROM workon.outbox WHERE id = :confirmed;
UPDATE workon.users SET locale = NULL WHERE id = :'m1';

--
-- Admins' templates
--
SELECT pg_temp.try($$SELECT workon.email_template_set('password_changed', 'en', 'Changed, {{name}}', 'Hi {{name}} {{email}}', '<p>{{name}}</p>')$$);
SELECT key, locale, custom, subject FROM workon.email_templates WHERE key = 'password_changed' ORDER BY locale, custom;
SELECT workon.email_send(:'m2', 'password_changed', '{}', 'regress:5') AS custom_mail \gset
SELECT params ->> 'subject' AS subject, params ->> 'text' AS text FROM workon.outbox WHERE id = :custom_mail;
-- refused: unknown key or placeholder, malformed placeholder, missing part, two-line subject, locale
SELECT pg_temp.try($$SELECT workon.email_template_set('nope', 'en', 's', 't', 'h')$$);
SELECT pg_temp.try($$SELECT workon.email_template_set('password_changed', 'en', 's {{link}}', 't', 'h')$$);
SELECT pg_temp.try($$SELECT workon.email_template_set('password_changed', 'en', 's', 't {{name', 'h')$$);
SELECT pg_temp.try($$SELECT workon.email_template_set('password_changed', 'en', 's', 't', 'h {{ Name }}')$$);
SELECT pg_temp.try($$SELECT workon.email_template_set('password_changed', 'en', 's', NULL, 'h')$$);
SELECT pg_temp.try($$SELECT workon.email_template_set('password_changed', 'en', E'two\nlines', 't', 'h')$$);
SELECT pg_temp.try($$SELECT workon.email_template_set('password_changed', 'de', 's', 't', 'h')$$);
-- the shipped rows are out of reach of the API roles
SET ROLE workon_admin;
SELECT pg_temp.try($$UPDATE workon.email_templates SET subject = 'x'$$);
SELECT count(*) > 0 AS admins_read FROM workon.email_templates;
RESET ROLE;
SET ROLE workon_member;
SELECT pg_temp.try($$SELECT count(*) FROM workon.email_templates$$);
RESET ROLE;
-- through the API
SELECT status, error, jsonb_array_length(body -> 'data') AS templates,
       (SELECT t ->> 'custom' FROM jsonb_array_elements(body -> 'data') t
         WHERE t ->> 'key' = 'password_changed' AND t ->> 'locale' = 'en') AS password_changed_en_custom
  FROM pg_temp.req('workon.admin_email_templates()', NULL, :'a1_token');
SELECT status, error FROM pg_temp.req('workon.admin_email_templates()', NULL, :'m1_token');
SELECT status, body ->> 'subject' AS subject, body -> 'placeholders' AS placeholders, error
  FROM pg_temp.req('workon.email_template_set(text,text,text,text,text)',
                   '{"subject": "Mot de passe changé, {{name}}", "text": "{{name}}", "html": "<p>{{name}}</p>"}',
                   :'a1_token', '{"key": "password_changed", "locale": "fr"}');
SELECT status, error FROM pg_temp.req('workon.email_template_reset(text,text)', NULL, :'a1_token',
                                      '{"key": "password_changed", "locale": "fr"}');
SELECT pg_temp.try($$SELECT workon.email_template_reset('password_changed', 'fr')$$);
SELECT workon.email_template_reset('password_changed', 'en');
SELECT count(*) AS custom_left FROM workon.email_templates WHERE custom;

--
-- Password reset
--
SELECT workon.auth_register('reset@example.com', 'first long password', 'Rosa') IS NOT NULL AS registered;
SELECT id AS rosa FROM workon.users WHERE email = 'reset@example.com' \gset
SELECT workon.auth_login('reset@example.com', 'first long password')::json ->> 'refresh_token' AS rosa_refresh \gset
-- an unknown address: the same answer, nothing stored or sent
SELECT count(*) AS tokens_before FROM workon.account_tokens \gset
SELECT status, body, error FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "nobody@example.com"}');
SELECT count(*) - :tokens_before AS new_tokens FROM workon.account_tokens;
SELECT count(*) AS mails FROM workon.outbox WHERE params ->> 'to' = 'nobody@example.com';
SELECT status, error FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "not an address"}');
SELECT status, error FROM pg_temp.req('workon.auth_password_forgot(text)', '{}');
-- a known one, in any case
SELECT status, body, error FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "RESET@example.com"}');
SELECT * FROM pg_temp.mails('reset@example.com');
SELECT pg_temp.mailed_token('reset@example.com', 'password_reset') AS reset1 \gset
-- stored only as a keyed hash; the link is in the mail only
SELECT purpose, length(token_hash) AS hash_bytes, token_hash <> sha256(convert_to(:'reset1', 'UTF8')) AS keyed,
       expires_at - created_at AS lifetime, used_at IS NULL AS unused, email
  FROM workon.account_tokens WHERE user_id = :'rosa' AND purpose = 'password_reset';
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(o.params) k) AS params, o.params ->> 'private' AS private,
       o.params ->> 'text' LIKE '%http://localhost:8080/reset-password?token=' || :'reset1' || '%' AS link_in_text,
       o.params ->> 'html' LIKE '%href="http://localhost:8080/reset-password?token=' || :'reset1' || '"%' AS link_in_html,
       o.params::text LIKE '%' || encode(t.token_hash, 'hex') || '%' AS hash_in_mail
  FROM workon.outbox o, workon.account_tokens t
 WHERE o.params ->> 'to' = 'reset@example.com' AND o.params ->> 'template' = 'password_reset'
   AND t.user_id = :'rosa' AND t.purpose = 'password_reset';
-- a weak password does not use the token up; a missing token
SELECT status, error FROM pg_temp.req('workon.auth_password_reset(text,text)',
                                      json_build_object('token', :'reset1', 'password', 'short')::text);
SELECT status, error FROM pg_temp.req('workon.auth_password_reset(text,text)', '{"password": "a brand new password"}');
SELECT status, error FROM pg_temp.req('workon.auth_password_reset(text,text)',
                                      '{"token": "not-a-token", "password": "a brand new password"}');
-- used: the new password works, every session is revoked, a mail says so
SELECT status, body, error FROM pg_temp.req('workon.auth_password_reset(text,text)',
                                            json_build_object('token', :'reset1', 'password', 'a brand new password')::text);
SELECT pg_temp.try($$SELECT workon.auth_login('reset@example.com', 'first long password')$$) AS old_password;
SELECT workon.auth_login('reset@example.com', 'a brand new password') IS NOT NULL AS new_password;
SELECT pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'rosa_refresh')) AS old_session;
SELECT email_verified_at IS NOT NULL AS verified_by_reset FROM workon.users WHERE id = :'rosa';
-- single use
SELECT status, error FROM pg_temp.req('workon.auth_password_reset(text,text)',
                                      json_build_object('token', :'reset1', 'password', 'yet another password')::text);
-- one hour: an older token has expired
SELECT status FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "reset@example.com"}');
SELECT pg_temp.mailed_token('reset@example.com', 'password_reset') AS reset2 \gset
UPDATE workon.account_tokens SET created_at = created_at - interval '61 minutes',
                                 expires_at = expires_at - interval '61 minutes'
 WHERE token_hash = workon.account_token_hash(:'reset2');
SELECT status, error FROM pg_temp.req('workon.auth_password_reset(text,text)',
                                      json_build_object('token', :'reset2', 'password', 'yet another password')::text);
-- a new link voids the older ones once used
SELECT status FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "reset@example.com"}');
SELECT pg_temp.mailed_token('reset@example.com', 'password_reset') AS reset3 \gset
SELECT status FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "reset@example.com"}');
SELECT pg_temp.mailed_token('reset@example.com', 'password_reset') AS reset4 \gset
SELECT status FROM pg_temp.req('workon.auth_password_reset(text,text)',
                               json_build_object('token', :'reset4', 'password', 'yet another password')::text);
SELECT status, error FROM pg_temp.req('workon.auth_password_reset(text,text)',
                                      json_build_object('token', :'reset3', 'password', 'and one more password')::text);
-- a reset token is not a verification token
SELECT status FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "reset@example.com"}');
SELECT status, error FROM pg_temp.req('workon.auth_verify_email(text)',
                                      json_build_object('token', pg_temp.mailed_token('reset@example.com', 'password_reset'))::text);
-- at most five reset mails an hour to one account; the answer stays 202
SELECT count(*) AS sent_this_hour FROM workon.account_tokens
 WHERE user_id = :'rosa' AND purpose = 'password_reset' AND created_at > now() - interval '1 hour';
SELECT status FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "reset@example.com"}');
SELECT status FROM pg_temp.req('workon.auth_password_forgot(text)', '{"email": "reset@example.com"}');
SELECT count(*) AS sent_this_hour FROM workon.account_tokens
 WHERE user_id = :'rosa' AND purpose = 'password_reset' AND created_at > now() - interval '1 hour';
SELECT template, key, count(*) FROM pg_temp.mails('reset@example.com') GROUP BY 1, 2 ORDER BY 1, 2;

--
-- E-mail verification
--
SELECT workon.auth_register('verify@example.com', 'verify long password', 'Vera') ::json -> 'user' AS vera_user \gset
SELECT :'vera_user'::jsonb ->> 'email_verified' AS verified, :'vera_user'::jsonb ->> 'locale' AS locale;
SELECT :'vera_user'::jsonb ->> 'id' AS vera \gset
SELECT workon.auth_login('verify@example.com', 'verify long password')::json ->> 'access_token' AS vera_token \gset
SELECT * FROM pg_temp.mails('verify@example.com');
SELECT pg_temp.mailed_token('verify@example.com', 'email_verification') AS verify1 \gset
SELECT expires_at - created_at AS lifetime FROM workon.account_tokens WHERE token_hash = workon.account_token_hash(:'verify1');
-- a second link; the first stays good until used
SELECT status, error FROM pg_temp.req('workon.auth_verify_email_resend()', NULL, :'vera_token');
SELECT status, error FROM pg_temp.req('workon.auth_verify_email_resend()');
SELECT pg_temp.mailed_token('verify@example.com', 'email_verification') AS verify2 \gset
-- expired after 24 hours
UPDATE workon.account_tokens SET created_at = created_at - interval '25 hours',
                                 expires_at = expires_at - interval '25 hours'
 WHERE token_hash = workon.account_token_hash(:'verify2');
SELECT status, error FROM pg_temp.req('workon.auth_verify_email(text)', json_build_object('token', :'verify2')::text);
SELECT status, body, error FROM pg_temp.req('workon.auth_verify_email(text)', json_build_object('token', :'verify1')::text);
SELECT status, body ->> 'email_verified' AS verified FROM pg_temp.req('workon.me()', NULL, :'vera_token');
-- single use; and nothing more to send
SELECT status, error FROM pg_temp.req('workon.auth_verify_email(text)', json_build_object('token', :'verify1')::text);
SELECT status, error FROM pg_temp.req('workon.auth_verify_email_resend()', NULL, :'vera_token');
SELECT status, error FROM pg_temp.req('workon.auth_verify_email(text)', '{}');
-- a token mailed to an address the user no longer has is void
UPDATE workon.users SET email_verified_at = NULL WHERE id = :'vera';
SELECT status FROM pg_temp.req('workon.auth_verify_email_resend()', NULL, :'vera_token');
SELECT pg_temp.mailed_token('verify@example.com', 'email_verification') AS verify3 \gset
UPDATE workon.users SET email = 'vera@example.com' WHERE id = :'vera';
SELECT status, error FROM pg_temp.req('workon.auth_verify_email(text)', json_build_object('token', :'verify3')::text);

--
-- PATCH /me, POST /me/password
--
SELECT status, body ->> 'name' AS name, body ->> 'locale' AS locale, body ->> 'email_verified' AS verified, error
  FROM pg_temp.req('workon.me_update(text,text)', '{"name": "  Vera V.  ", "locale": "fr"}', :'vera_token');
SELECT status, body ->> 'name' AS name, body ->> 'locale' AS locale
  FROM pg_temp.req('workon.me_update(text,text)', '{}', :'vera_token');
SELECT status, error FROM pg_temp.req('workon.me_update(text,text)', '{"locale": "de"}', :'vera_token');
SELECT status, error FROM pg_temp.req('workon.me_update(text,text)', '{"name": " "}', :'vera_token');
SELECT status, error FROM pg_temp.req('workon.me_update(text,text)', json_build_object('name', repeat('x', 201))::text, :'vera_token');
SELECT status, error FROM pg_temp.req('workon.me_update(text,text)', '{"name": "Anon"}');
SELECT status, json_object_keys(body::json) AS me_keys FROM pg_temp.req('workon.me()', NULL, :'vera_token');
SELECT workon.auth_login('vera@example.com', 'verify long password')::json ->> 'refresh_token' AS vera_refresh \gset
SELECT status, error FROM pg_temp.req('workon.me_password(text,text)',
                                      '{"current_password": "wrong password!!", "password": "vera new password"}', :'vera_token');
SELECT status, error FROM pg_temp.req('workon.me_password(text,text)', '{"password": "vera new password"}', :'vera_token');
SELECT status, error FROM pg_temp.req('workon.me_password(text,text)',
                                      '{"current_password": "verify long password", "password": "vera@example.com"}', :'vera_token');
SELECT status, body, error FROM pg_temp.req('workon.me_password(text,text)',
                                            '{"current_password": "verify long password", "password": "vera new password"}', :'vera_token');
SELECT workon.auth_login('vera@example.com', 'vera new password') IS NOT NULL AS new_password;
SELECT pg_temp.try(format('SELECT workon.auth_refresh(%L)', :'vera_refresh')) AS old_session;
SELECT template, locale, subject FROM pg_temp.mails('vera@example.com');

--
-- Delivery states of a mail
--
-- a delivered mail that held a one-time link keeps no body
SELECT id AS reset_mail FROM workon.outbox
 WHERE params ->> 'to' = 'reset@example.com' AND params ->> 'template' = 'password_reset' ORDER BY id LIMIT 1 \gset
SELECT status FROM workon.outbox_result(:reset_mail, 200, '{"id": "re_1"}');
SELECT status, response_status, params ->> 'text' AS text, params ->> 'subject' AS subject
  FROM workon.outbox WHERE id = :reset_mail;
-- captured: kept whole
SELECT id AS verify_mail FROM workon.outbox
 WHERE params ->> 'to' = 'verify@example.com' AND params ->> 'template' = 'email_verification' ORDER BY id LIMIT 1 \gset
SELECT workon.email_captured(:verify_mail);
SELECT status, response_status, params ->> 'text' LIKE '%token=%' AS body_kept FROM workon.outbox WHERE id = :verify_mail;
-- 429 with Retry-After: the later of the backoff and the provider's wish
SELECT workon.outbox_error(:mail_en, 'HTTP 429', 120) IS NOT NULL AS reported;
SELECT status, next_attempt_at - now() BETWEEN interval '119 seconds' AND interval '121 seconds' AS retry_after_honoured,
       last_error FROM workon.outbox WHERE id = :mail_en;
SELECT workon.outbox_error(:mail_en, 'HTTP 503', NULL) IS NOT NULL AS reported;
SELECT next_attempt_at - now() < interval '2 seconds' AS backoff FROM workon.outbox WHERE id = :mail_en;
-- a mail dies after 20 attempts (a Stripe call after 8)
UPDATE workon.outbox SET attempts = 19 WHERE id = :mail_en;
SELECT workon.outbox_error(:mail_en, 'HTTP 500', NULL) IS NOT NULL AS reported;
SELECT status FROM workon.outbox WHERE id = :mail_en;
UPDATE workon.outbox SET attempts = 20 WHERE id = :mail_en;
SELECT workon.outbox_error(:mail_en, 'HTTP 500', NULL) IS NOT NULL AS reported;
SELECT status, last_error FROM workon.outbox WHERE id = :mail_en;
-- a 4xx other than 429: dead at once, with the provider's reason
SELECT status FROM workon.outbox_result(:mail_fr, 422, '{"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."}');
SELECT status, response_status, last_error FROM workon.outbox WHERE id = :mail_fr;

--
-- Admins: GET /admin/emails[/{id}], retry
--
SELECT status, error, jsonb_array_length(body -> 'data') AS n, body ->> 'next_cursor' IS NOT NULL AS more,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(body -> 'data' -> 0) k) AS keys
  FROM pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'a1_token', '{}', '{"limit": "2"}');
SELECT status, (SELECT array_agg(m ->> 'template' || ' ' || (m ->> 'status') ORDER BY (m ->> 'id')::bigint) FROM jsonb_array_elements(body -> 'data') m) AS dead
  FROM pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'a1_token', '{}', '{"status": "dead"}');
SELECT status, jsonb_array_length(body -> 'data') AS to_vera
  FROM pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'a1_token', '{}', '{"to": "VERA@example.com"}');
SELECT status, error FROM pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'a1_token', '{}', '{"status": "sent"}');
SELECT status, error FROM pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'a1_token', '{}', '{"cursor": "x1"}');
SELECT status, error FROM pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'m1_token');
-- pages do not overlap
WITH p1 AS (SELECT body FROM pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'a1_token', '{}', '{"limit": "3"}')),
     p2 AS (SELECT r.body FROM p1, pg_temp.req('workon.admin_emails_list(text,text,integer,text)', NULL, :'a1_token', '{}',
                                               jsonb_build_object('limit', '3', 'cursor', p1.body ->> 'next_cursor')) r)
SELECT (SELECT max((m ->> 'id')::bigint) FROM p2, jsonb_array_elements(p2.body -> 'data') m)
     < (SELECT min((m ->> 'id')::bigint) FROM p1, jsonb_array_elements(p1.body -> 'data') m) AS older_next;
SELECT status, body ->> 'subject' AS subject, body ->> 'text' IS NOT NULL AS has_text,
       body ->> 'html' LIKE '%&lt;script&gt;%' AS html_escaped, body ->> 'status' AS mail_status, error
  FROM pg_temp.req('workon.admin_email_get(bigint)', NULL, :'a1_token', jsonb_build_object('id', :mail_fr));
SELECT status, error FROM pg_temp.req('workon.admin_email_get(bigint)', NULL, :'a1_token', '{"id": 999999}');
SELECT status, body ->> 'status' AS mail_status, body ->> 'attempts' AS attempts, error
  FROM pg_temp.req('workon.admin_email_retry(bigint)', NULL, :'a1_token', jsonb_build_object('id', :mail_fr));
SELECT status, error FROM pg_temp.req('workon.admin_email_retry(bigint)', NULL, :'a1_token', jsonb_build_object('id', :mail_fr));
SELECT status, error FROM pg_temp.req('workon.admin_email_retry(bigint)', NULL, :'m1_token', jsonb_build_object('id', :mail_fr));

-- what the shim claims of a mail
SELECT c.method, c.path, c.idempotency_key, c.params ->> 'to' AS "to", c.params ? 'html' AS rendered
  FROM workon.outbox_claim_id(:mail_fr) AS c;

-- a session that has not loaded the module yet renders and queues mail too
\c
SELECT workon.email_send(:'m1', 'password_changed', '{}', 'regress:new-session') IS NOT NULL AS queued;
SELECT params ->> 'locale' AS locale, params ->> 'text' LIKE '%http://localhost:8080/forgot-password%' AS link
  FROM workon.outbox WHERE idempotency_key = 'email:regress:new-session';
