/* sql/src/35_email.sql -- e-mail: templates, rendering, queueing, captured and sent mail (the account flows that mail: 36_accounts.sql) */

--
-- E-mail: templates kept as data, rendered in the recipient's language by
-- extension/email.c; the notifications and the account flows that need a
-- mailbox (password reset, e-mail verification, password change).  A mail
-- is an outbox row of kind email written in the transaction of the change,
-- its subject, text and HTML already rendered; the HTTP front end delivers
-- it (Resend) or, in development, records it as sent (capture).
--

--
-- Rendering (extension/email.c)
--
CREATE FUNCTION workon.email_render(template text, vals jsonb, html boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'email_render'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_render(text, jsonb, boolean) IS
'A template with each {{name}} replaced by the member name of vals: verbatim when html is false, HTML-escaped (& < > " '') when true; a missing or null value renders as nothing, malformed placeholders are copied';

CREATE FUNCTION workon.email_placeholders(template text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'email_placeholders'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_placeholders(text) IS
'The names of a template''s placeholders {{name}}, each once, in order; 22023 for a "{{" that does not start one';

CREATE FUNCTION workon.email_money(cents bigint, currency text, locale text)
RETURNS text
AS 'MODULE_PATHNAME', 'email_money'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_money(bigint, text, text) IS
'An amount in minor units as the locale writes it: en "€1,234.50", fr "1 234,50 €" (zero-decimal currencies such as jpy without decimals; a currency without a known symbol by its code)';

CREATE FUNCTION workon.email_time("at" timestamptz, timezone text, locale text)
RETURNS text
AS 'MODULE_PATHNAME', 'email_time'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.email_time(timestamptz, text, text) IS
'An instant as the local time of a zone, as the locale writes it: en "Monday, December 7, 2026, 2:30 PM", fr "lundi 7 décembre 2026 à 14:30"';

--
-- Templates
--
CREATE TABLE workon.email_templates (
	key			text NOT NULL
				CONSTRAINT email_templates_key_check CHECK (key ~ '^[a-z][a-z0-9_]*$'),
	locale		text NOT NULL
				CONSTRAINT email_templates_locale_check CHECK (locale IN ('fr', 'en')),
	custom		boolean NOT NULL DEFAULT true,
	subject		text NOT NULL
				CONSTRAINT email_templates_subject_check
				CHECK (pg_catalog.btrim(subject) <> '' AND subject !~ '[[:cntrl:]]'
					   AND workon.email_placeholders(subject) IS NOT NULL),
	text		text NOT NULL
				CONSTRAINT email_templates_text_check
				CHECK (workon.email_placeholders(text) IS NOT NULL),
	html		text NOT NULL
				CONSTRAINT email_templates_html_check
				CHECK (workon.email_placeholders(html) IS NOT NULL),
	updated_at	timestamptz,
	PRIMARY KEY (key, locale, custom)
);

COMMENT ON TABLE workon.email_templates IS
'E-mail templates per key and locale (fr, en): subject, plain text and HTML with {{name}} placeholders (workon.email_render). The rows shipped with the extension have custom false and no updated_at; an admin''s replacement (workon.email_template_set) is the row with custom true, used instead, and the only one pg_dump keeps; changes of replacements are audited';

ALTER TABLE workon.email_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.email_templates FORCE ROW LEVEL SECURITY;

CREATE POLICY email_templates_admin ON workon.email_templates
	FOR SELECT
	TO workon_admin
	USING (true);

GRANT SELECT ON workon.email_templates TO workon_admin;

INSERT INTO workon.email_templates (key, locale, custom, subject, text, html) VALUES
('booking_confirmed', 'en', false,
 'Your booking at {{space_name}} is confirmed',
 E'Hello {{name}},\n\nYour booking at {{space_name}} is confirmed.\n\nFrom: {{starts_at}}\nTo: {{ends_at}}\n(local time, {{timezone}})\nAddress: {{space_address}}, {{space_city}}\nPaid: {{amount}}\n\nBooking reference: {{booking_id}}\n\nSee you soon,\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Your booking at <strong>{{space_name}}</strong> is confirmed.</p>\n<table>\n<tr><td>From</td><td>{{starts_at}}</td></tr>\n<tr><td>To</td><td>{{ends_at}}</td></tr>\n<tr><td>Address</td><td>{{space_address}}, {{space_city}}</td></tr>\n<tr><td>Paid</td><td>{{amount}}</td></tr>\n</table>\n<p>Times are local ({{timezone}}). Booking reference: {{booking_id}}</p>\n<p>See you soon,<br>workon</p>\n'),
('booking_confirmed', 'fr', false,
 'Votre réservation à {{space_name}} est confirmée',
 E'Bonjour {{name}},\n\nVotre réservation à {{space_name}} est confirmée.\n\nDu : {{starts_at}}\nAu : {{ends_at}}\n(heure locale, {{timezone}})\nAdresse : {{space_address}}, {{space_city}}\nPayé : {{amount}}\n\nRéférence : {{booking_id}}\n\nÀ bientôt,\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Votre réservation à <strong>{{space_name}}</strong> est confirmée.</p>\n<table>\n<tr><td>Du</td><td>{{starts_at}}</td></tr>\n<tr><td>Au</td><td>{{ends_at}}</td></tr>\n<tr><td>Adresse</td><td>{{space_address}}, {{space_city}}</td></tr>\n<tr><td>Payé</td><td>{{amount}}</td></tr>\n</table>\n<p>Heures locales ({{timezone}}). Référence : {{booking_id}}</p>\n<p>À bientôt,<br>workon</p>\n'),
('booking_cancelled', 'en', false,
 'Your booking at {{space_name}} is cancelled',
 E'Hello {{name}},\n\nYour booking at {{space_name}} on {{starts_at}} ({{timezone}}) is cancelled.\n\nRefund: {{refund_amount}} ({{refund_percent}}% of what you paid). A refund reaches your account within a few days.\n\nBooking reference: {{booking_id}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Your booking at <strong>{{space_name}}</strong> on {{starts_at}} ({{timezone}}) is cancelled.</p>\n<p>Refund: <strong>{{refund_amount}}</strong> ({{refund_percent}}% of what you paid). A refund reaches your account within a few days.</p>\n<p>Booking reference: {{booking_id}}</p>\n<p>workon</p>\n'),
('booking_cancelled', 'fr', false,
 'Votre réservation à {{space_name}} est annulée',
 E'Bonjour {{name}},\n\nVotre réservation à {{space_name}} le {{starts_at}} ({{timezone}}) est annulée.\n\nRemboursement : {{refund_amount}} ({{refund_percent}} % de ce que vous avez payé). Un remboursement arrive sur votre compte sous quelques jours.\n\nRéférence : {{booking_id}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Votre réservation à <strong>{{space_name}}</strong> le {{starts_at}} ({{timezone}}) est annulée.</p>\n<p>Remboursement : <strong>{{refund_amount}}</strong> ({{refund_percent}} % de ce que vous avez payé). Un remboursement arrive sur votre compte sous quelques jours.</p>\n<p>Référence : {{booking_id}}</p>\n<p>workon</p>\n'),
('payment_failed', 'en', false,
 'Your payment for {{space_name}} did not go through',
 E'Hello {{name}},\n\nYour payment of {{price}} for {{space_name}} on {{starts_at}} ({{timezone}}) did not go through: {{error}}\n\nYour booking is held for a little while: you can pay again from your bookings.\n\nBooking reference: {{booking_id}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Your payment of {{price}} for <strong>{{space_name}}</strong> on {{starts_at}} ({{timezone}}) did not go through: {{error}}</p>\n<p>Your booking is held for a little while: you can pay again from your bookings.</p>\n<p>Booking reference: {{booking_id}}</p>\n<p>workon</p>\n'),
('payment_failed', 'fr', false,
 'Votre paiement pour {{space_name}} n''a pas abouti',
 E'Bonjour {{name}},\n\nVotre paiement de {{price}} pour {{space_name}} le {{starts_at}} ({{timezone}}) n''a pas abouti : {{error}}\n\nVotre réservation est retenue encore un moment : vous pouvez payer à nouveau depuis vos réservations.\n\nRéférence : {{booking_id}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Votre paiement de {{price}} pour <strong>{{space_name}}</strong> le {{starts_at}} ({{timezone}}) n''a pas abouti : {{error}}</p>\n<p>Votre réservation est retenue encore un moment : vous pouvez payer à nouveau depuis vos réservations.</p>\n<p>Référence : {{booking_id}}</p>\n<p>workon</p>\n'),
('refund', 'en', false,
 'A refund of {{amount}} is on its way',
 E'Hello {{name}},\n\nWe are refunding {{amount}} for your booking at {{space_name}} on {{starts_at}} ({{timezone}}). It reaches your account within a few days.\n\nBooking reference: {{booking_id}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>We are refunding <strong>{{amount}}</strong> for your booking at {{space_name}} on {{starts_at}} ({{timezone}}). It reaches your account within a few days.</p>\n<p>Booking reference: {{booking_id}}</p>\n<p>workon</p>\n'),
('refund', 'fr', false,
 'Un remboursement de {{amount}} est en route',
 E'Bonjour {{name}},\n\nNous vous remboursons {{amount}} pour votre réservation à {{space_name}} le {{starts_at}} ({{timezone}}). Il arrive sur votre compte sous quelques jours.\n\nRéférence : {{booking_id}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Nous vous remboursons <strong>{{amount}}</strong> pour votre réservation à {{space_name}} le {{starts_at}} ({{timezone}}). Il arrive sur votre compte sous quelques jours.</p>\n<p>Référence : {{booking_id}}</p>\n<p>workon</p>\n'),
('password_reset', 'en', false,
 'Reset your workon password',
 E'Hello {{name}},\n\nSomeone asked to reset the password of your workon account. To choose a new one, open this link within {{expires_minutes}} minutes:\n\n{{link}}\n\nIf it was not you, ignore this e-mail: your password stays as it is.\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>Someone asked to reset the password of your workon account. To choose a new one, open this link within {{expires_minutes}} minutes:</p>\n<p><a href="{{link}}">Choose a new password</a></p>\n<p>If it was not you, ignore this e-mail: your password stays as it is.</p>\n<p>workon</p>\n'),
('password_reset', 'fr', false,
 'Réinitialisez votre mot de passe workon',
 E'Bonjour {{name}},\n\nQuelqu''un a demandé à réinitialiser le mot de passe de votre compte workon. Pour en choisir un nouveau, ouvrez ce lien dans les {{expires_minutes}} minutes :\n\n{{link}}\n\nSi ce n''était pas vous, ignorez cet e-mail : votre mot de passe reste inchangé.\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Quelqu''un a demandé à réinitialiser le mot de passe de votre compte workon. Pour en choisir un nouveau, ouvrez ce lien dans les {{expires_minutes}} minutes :</p>\n<p><a href="{{link}}">Choisir un nouveau mot de passe</a></p>\n<p>Si ce n''était pas vous, ignorez cet e-mail : votre mot de passe reste inchangé.</p>\n<p>workon</p>\n'),
('email_verification', 'en', false,
 'Confirm your e-mail address',
 E'Hello {{name}},\n\nTo confirm that {{email}} is your address, open this link within {{expires_hours}} hours:\n\n{{link}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>To confirm that {{email}} is your address, open this link within {{expires_hours}} hours:</p>\n<p><a href="{{link}}">Confirm my address</a></p>\n<p>workon</p>\n'),
('email_verification', 'fr', false,
 'Confirmez votre adresse e-mail',
 E'Bonjour {{name}},\n\nPour confirmer que {{email}} est bien votre adresse, ouvrez ce lien dans les {{expires_hours}} heures :\n\n{{link}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Pour confirmer que {{email}} est bien votre adresse, ouvrez ce lien dans les {{expires_hours}} heures :</p>\n<p><a href="{{link}}">Confirmer mon adresse</a></p>\n<p>workon</p>\n'),
('password_changed', 'en', false,
 'Your workon password was changed',
 E'Hello {{name}},\n\nThe password of your workon account ({{email}}) was just changed, and every session was logged out.\n\nIf it was not you, choose a new password at once: {{app_url}}/forgot-password\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>The password of your workon account ({{email}}) was just changed, and every session was logged out.</p>\n<p>If it was not you, <a href="{{app_url}}/forgot-password">choose a new password</a> at once.</p>\n<p>workon</p>\n'),
('password_changed', 'fr', false,
 'Votre mot de passe workon a été modifié',
 E'Bonjour {{name}},\n\nLe mot de passe de votre compte workon ({{email}}) vient d''être modifié, et toutes les sessions ont été fermées.\n\nSi ce n''était pas vous, choisissez tout de suite un nouveau mot de passe : {{app_url}}/forgot-password\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>Le mot de passe de votre compte workon ({{email}}) vient d''être modifié, et toutes les sessions ont été fermées.</p>\n<p>Si ce n''était pas vous, <a href="{{app_url}}/forgot-password">choisissez tout de suite un nouveau mot de passe</a>.</p>\n<p>workon</p>\n'),
('message_unread', 'en', false,
 'New message from {{sender_name}} about {{space_name}}',
 E'Hello {{name}},\n\n{{sender_name}} wrote to you about {{space_name}} ({{unread_count}} unread):\n\n{{excerpt}}\n\nRead and answer: {{link}}\n\nworkon\n',
 E'<p>Hello {{name}},</p>\n<p>{{sender_name}} wrote to you about <strong>{{space_name}}</strong> ({{unread_count}} unread):</p>\n<blockquote style="white-space: pre-wrap">{{excerpt}}</blockquote>\n<p><a href="{{link}}">Read and answer</a></p>\n<p>workon</p>\n'),
('message_unread', 'fr', false,
 'Nouveau message de {{sender_name}} à propos de {{space_name}}',
 E'Bonjour {{name}},\n\n{{sender_name}} vous a écrit à propos de {{space_name}} (non lus : {{unread_count}}) :\n\n{{excerpt}}\n\nLire et répondre : {{link}}\n\nworkon\n',
 E'<p>Bonjour {{name}},</p>\n<p>{{sender_name}} vous a écrit à propos de <strong>{{space_name}}</strong> (non lus : {{unread_count}}) :</p>\n<blockquote style="white-space: pre-wrap">{{excerpt}}</blockquote>\n<p><a href="{{link}}">Lire et répondre</a></p>\n<p>workon</p>\n');

-- admins' changes are audited; the shipped rows are not
CREATE TRIGGER email_templates_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.email_templates
	FOR EACH ROW WHEN (NOT workon.restoring('workon.email_templates'))
	EXECUTE FUNCTION workon.audit_row();

-- The settings' defaults are repeated here: a session that has not loaded
-- the module yet knows workon.* settings only when they were set.
CREATE FUNCTION workon.user_locale(locale text)
RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT COALESCE(locale, pg_catalog.current_setting('workon.default_locale', true), 'en')
$$;

COMMENT ON FUNCTION workon.user_locale(text) IS
'The language of a user''s e-mails: their locale (workon.users.locale), else workon.default_locale (DEFAULT_LOCALE, en by default)';

CREATE FUNCTION workon.app_url()
RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT pg_catalog.rtrim(COALESCE(NULLIF(pg_catalog.current_setting('workon.app_url', true), ''),
									 'http://localhost:8080'), '/')
$$;

COMMENT ON FUNCTION workon.app_url() IS
'The base of the links in e-mails without a trailing slash: workon.app_url (APP_URL, http://localhost:8080 by default)';

CREATE FUNCTION workon.email_message(p_key text, p_locale text, p_vals jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_t			workon.email_templates;
BEGIN
	SELECT * INTO v_t
	  FROM workon.email_templates AS t
	 WHERE t.key = p_key AND t.locale IN (p_locale, 'en')
	 ORDER BY t.locale = p_locale DESC, t.custom DESC
	 LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'e-mail template "%" does not exist', p_key
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN pg_catalog.jsonb_build_object(
		'subject', pg_catalog.regexp_replace(workon.email_render(v_t.subject, p_vals, false),
											 '[[:cntrl:]]+', ' ', 'g'),
		'text', workon.email_render(v_t.text, p_vals, false),
		'html', workon.email_render(v_t.html, p_vals, true));
END
$$;

COMMENT ON FUNCTION workon.email_message(text, text, jsonb) IS
'{subject, text, html} of a template (the admin''s replacement if any, else the shipped one; en when the locale has none) rendered with the values: HTML-escaped in html, verbatim in text, control characters of the subject made spaces';

CREATE FUNCTION workon.email_values(p_user workon.users, p_data jsonb, p_locale text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_vals		jsonb;
	v_booking	workon.bookings;
	v_space		workon.spaces;
	v_currency	text := p_data ->> 'currency';
BEGIN
	-- the caller's scalars as they are, then what is formatted here
	SELECT COALESCE(pg_catalog.jsonb_object_agg(d.key, d.value), '{}')
	  INTO v_vals
	  FROM pg_catalog.jsonb_each(p_data) AS d
	 WHERE pg_catalog.jsonb_typeof(d.value) IN ('string', 'number', 'boolean');
	v_vals := v_vals || pg_catalog.jsonb_build_object(
		'name', p_user.name,
		'email', p_user.email,
		'app_url', workon.app_url());

	IF p_data ? 'booking_id' THEN
		SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = (p_data ->> 'booking_id')::uuid;
		SELECT * INTO v_space FROM workon.spaces AS s WHERE s.id = v_booking.space_id;
		IF v_space.id IS NOT NULL THEN
			v_currency := COALESCE(v_currency, v_booking.currency);
			v_vals := v_vals || pg_catalog.jsonb_build_object(
				'space_name', v_space.name,
				'space_city', v_space.city,
				'space_address', v_space.address,
				'timezone', v_space.timezone,
				'starts_at', workon.email_time(v_booking.starts_at, v_space.timezone, p_locale),
				'ends_at', workon.email_time(v_booking.ends_at, v_space.timezone, p_locale),
				'price', workon.email_money(v_booking.price_cents, v_booking.currency, p_locale));
		END IF;
	END IF;
	IF v_currency IS NOT NULL AND p_data ? 'amount_cents' THEN
		v_vals := v_vals || pg_catalog.jsonb_build_object('amount',
			workon.email_money((p_data ->> 'amount_cents')::bigint, v_currency, p_locale));
	END IF;
	IF v_currency IS NOT NULL AND p_data ? 'refund_cents' THEN
		v_vals := v_vals || pg_catalog.jsonb_build_object('refund_amount',
			workon.email_money((p_data ->> 'refund_cents')::bigint, v_currency, p_locale));
	END IF;
	RETURN v_vals;
END
$$;

COMMENT ON FUNCTION workon.email_values(workon.users, jsonb, text) IS
'The values of a template for a user: the scalars of data, name, email, app_url, and formatted for the locale: a booking''s space (space_name, space_city, space_address, timezone), its starts_at and ends_at in the space''s zone and its price; amount from amount_cents, refund_amount from refund_cents (in data''s currency, else the booking''s)';

--
-- Queueing a mail
--
CREATE FUNCTION workon.email_send(p_user_id uuid, p_template text, p_data jsonb, p_key text,
								  p_booking_id uuid DEFAULT NULL, p_private jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
	v_locale	text;
	v_msg		jsonb;
BEGIN
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = p_user_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	v_locale := workon.user_locale(v_user.locale);
	v_msg := workon.email_message(p_template, v_locale,
								  workon.email_values(v_user, p_data || COALESCE(p_private, '{}'), v_locale));
	RETURN workon.outbox_enqueue('email', 'email', 'email:' || p_template,
								 v_msg || pg_catalog.jsonb_build_object(
									 'to', v_user.email, 'template', p_template, 'locale', v_locale)
									   || CASE WHEN p_private IS NOT NULL THEN '{"private": "true"}'::jsonb
											   ELSE '{}' END,
								 'email:' || p_key, NULL, NULL, p_booking_id);
END
$$;

COMMENT ON FUNCTION workon.email_send(uuid, text, jsonb, text, uuid, jsonb) IS
'Queues a mail to a user once per key (idempotency key email:<key>): outbox kind email, params {to, subject, text, html, template, locale} (strings) rendered now in the user''s language from p_data and p_private; with p_private (a one-time link) params.private is "true" and a delivered mail''s text and HTML are blanked';

CREATE FUNCTION workon.email_enqueue(p_user_id uuid, p_template text, p_data jsonb, p_key text,
									 p_booking_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.email_send(p_user_id, p_template, p_data, p_key, p_booking_id)
$$;

COMMENT ON FUNCTION workon.email_enqueue(uuid, text, jsonb, text, uuid) IS
'Queues a notification to a user once per key, rendered in their language (workon.email_send); templates booking_confirmed, booking_cancelled, payment_failed, refund';

CREATE FUNCTION workon.email_captured(p_id bigint)
RETURNS void
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.outbox AS o
	   SET status = 'done', response_status = NULL, last_error = NULL
	 WHERE o.id = p_id AND o.kind = 'email' AND o.status = 'pending';
$$;

COMMENT ON FUNCTION workon.email_captured(bigint) IS
'For the front end with EMAIL_TRANSPORT=capture: a mail counts as sent without leaving the database (status done, response_status NULL), kept whole for admins at GET /api/v1/admin/emails/{id}';

--
-- Route handlers: captured and sent mail, templates (admins)
--
CREATE FUNCTION workon.email_json(o workon.outbox, whole boolean DEFAULT false)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT CASE WHEN whole THEN (m::jsonb || pg_catalog.jsonb_build_object(
									'text', o.params ->> 'text', 'html', o.params ->> 'html'))::json
				ELSE m END
	  FROM workon.json_build(
			'id', o.id,
			'to', o.params ->> 'to',
			'subject', o.params ->> 'subject',
			'template', o.params ->> 'template',
			'locale', o.params ->> 'locale',
			'status', o.status,
			'attempts', o.attempts,
			'last_error', o.last_error,
			'response_status', o.response_status,
			'idempotency_key', o.idempotency_key,
			'booking_id', o.booking_id,
			'created_at', o.created_at,
			'updated_at', o.updated_at) AS m
$$;

COMMENT ON FUNCTION workon.email_json(workon.outbox, boolean) IS
'The API representation of a mail (an outbox row of kind email): recipient, subject, template, locale, delivery status; with its text and HTML when whole';

CREATE FUNCTION workon.admin_emails_list(status text DEFAULT NULL, "to" text DEFAULT NULL,
										 "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit		integer := COALESCE(admin_emails_list."limit", 20);
	v_status	text := NULLIF(admin_emails_list.status, '');
	v_to		text := pg_catalog.lower(NULLIF(admin_emails_list."to", ''));
	v_before	bigint := 9223372036854775807;
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF v_status NOT IN ('pending', 'done', 'dead') THEN
		RAISE EXCEPTION 'status must be one of pending, done, dead'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'status';
	END IF;
	IF admin_emails_list.cursor <> '' THEN
		IF admin_emails_list.cursor !~ '^[0-9]{1,18}$' THEN
			RAISE EXCEPTION 'invalid cursor'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cursor';
		END IF;
		v_before := admin_emails_list.cursor::bigint;
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.email_json(p.mail) ORDER BY p.n)
																   FILTER (WHERE p.n <= v_limit)), '[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.array_agg((p.mail).id::text) FILTER (WHERE p.n = v_limit))[1]
							  END)
	  INTO v_page
	  FROM (SELECT o AS mail, pg_catalog.row_number() OVER (ORDER BY o.id DESC) AS n
			  FROM workon.outbox AS o
			 WHERE o.kind = 'email' AND o.id < v_before
			   AND (v_status IS NULL OR o.status = v_status)
			   AND (v_to IS NULL OR pg_catalog.lower(o.params ->> 'to') = v_to)
			 ORDER BY o.id DESC
			 LIMIT v_limit + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_emails_list(text, text, integer, text) IS
'GET /api/v1/admin/emails: mails, newest first, as {"data": [...], "next_cursor": ...}, without their bodies; filters status (pending, done, dead) and to (the address, case-insensitive); limit 1..100 (default 20)';

CREATE FUNCTION workon.admin_email_get(id bigint)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_mail		json;
BEGIN
	SELECT workon.email_json(o, true) INTO v_mail
	  FROM workon.outbox AS o
	 WHERE o.id = admin_email_get.id AND o.kind = 'email';
	IF v_mail IS NULL THEN
		RAISE EXCEPTION 'e-mail not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_mail;
END
$$;

COMMENT ON FUNCTION workon.admin_email_get(bigint) IS
'GET /api/v1/admin/emails/{id}: one mail with its rendered text and HTML (blanked once delivered when it held a one-time link)';

CREATE FUNCTION workon.admin_email_retry(id bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM workon.outbox AS o
					WHERE o.id = admin_email_retry.id AND o.kind = 'email') THEN
		RAISE EXCEPTION 'e-mail not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM workon.outbox_retry(admin_email_retry.id);
	RETURN workon.admin_email_get(admin_email_retry.id);
END
$$;

COMMENT ON FUNCTION workon.admin_email_retry(bigint) IS
'POST /api/v1/admin/emails/{id}/retry: a dead mail is sent again (pending, due now, fresh attempts, same idempotency key); P0002 if there is no dead mail with that id';

CREATE FUNCTION workon.email_template_placeholders(p_key text)
RETURNS text[]
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.array_agg(DISTINCT p.name ORDER BY p.name)
	  FROM workon.email_templates AS t,
		   pg_catalog.unnest(workon.email_placeholders(t.subject)
							 || workon.email_placeholders(t.text)
							 || workon.email_placeholders(t.html)) AS p(name)
	 WHERE t.key = p_key AND NOT t.custom
$$;

COMMENT ON FUNCTION workon.email_template_placeholders(text) IS
'The placeholders a template of that key may use: those of its shipped templates';

CREATE FUNCTION workon.email_template_json(t workon.email_templates)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'key', t.key,
		'locale', t.locale,
		'custom', t.custom,
		'subject', t.subject,
		'text', t.text,
		'html', t.html,
		'placeholders', pg_catalog.to_json(workon.email_template_placeholders(t.key)),
		'updated_at', t.updated_at)
$$;

COMMENT ON FUNCTION workon.email_template_json(workon.email_templates) IS
'The API representation of a template, with the placeholders its key may use';

CREATE FUNCTION workon.admin_email_templates()
RETURNS json
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build('data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.email_template_json(t)
																						ORDER BY t.key, t.locale)), '[]'))
	  FROM (SELECT DISTINCT ON (t.key, t.locale) t.*
			  FROM workon.email_templates AS t
			 ORDER BY t.key, t.locale, t.custom DESC) AS t
$$;

COMMENT ON FUNCTION workon.admin_email_templates() IS
'GET /api/v1/admin/email-templates: the template in use for each key and locale ({"data": [...]}; custom true for an admin''s replacement)';

CREATE FUNCTION workon.email_template_set(key text, locale text, subject text, text text, html text)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_allowed	text[] := workon.email_template_placeholders(email_template_set.key);
	v_part		record;
	v_names		text[];
	v_name		text;
	v_t			workon.email_templates;
BEGIN
	IF v_allowed IS NULL THEN
		RAISE EXCEPTION 'e-mail template "%" does not exist', email_template_set.key
			USING ERRCODE = 'no_data_found';
	END IF;
	IF email_template_set.locale IS NULL OR email_template_set.locale NOT IN ('fr', 'en') THEN
		RAISE EXCEPTION 'locale must be fr or en'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'locale';
	END IF;
	FOR v_part IN SELECT * FROM (VALUES ('subject', email_template_set.subject),
										('text', email_template_set.text),
										('html', email_template_set.html)) AS p(field, value) LOOP
		IF v_part.value IS NULL OR pg_catalog.btrim(v_part.value) = '' THEN
			RAISE EXCEPTION '% is required', v_part.field
				USING ERRCODE = 'invalid_parameter_value', COLUMN = v_part.field;
		END IF;
		IF v_part.field = 'subject' AND v_part.value ~ '[[:cntrl:]]' THEN
			RAISE EXCEPTION 'subject must be one line of text'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'subject';
		END IF;
		BEGIN
			v_names := workon.email_placeholders(v_part.value);
		EXCEPTION WHEN invalid_parameter_value THEN
			RAISE EXCEPTION '%', SQLERRM
				USING ERRCODE = 'invalid_parameter_value', COLUMN = v_part.field;
		END;
		FOREACH v_name IN ARRAY v_names LOOP
			IF NOT v_name = ANY (v_allowed) THEN
				RAISE EXCEPTION 'unknown placeholder {{%}}', v_name
					USING ERRCODE = 'invalid_parameter_value', COLUMN = v_part.field,
						  HINT = 'The placeholders of this template: '
								 || pg_catalog.array_to_string(v_allowed, ', ') || '.';
			END IF;
		END LOOP;
	END LOOP;

	INSERT INTO workon.email_templates AS t (key, locale, custom, subject, text, html, updated_at)
	VALUES (email_template_set.key, email_template_set.locale, true, email_template_set.subject,
			email_template_set.text, email_template_set.html, pg_catalog.now())
	ON CONFLICT ON CONSTRAINT email_templates_pkey DO UPDATE
		SET subject = EXCLUDED.subject, text = EXCLUDED.text, html = EXCLUDED.html,
			updated_at = pg_catalog.now()
	RETURNING * INTO v_t;
	RETURN workon.email_template_json(v_t);
END
$$;

COMMENT ON FUNCTION workon.email_template_set(text, text, text, text, text) IS
'PUT /api/v1/admin/email-templates/{key}/{locale} {subject, text, html}, and for DBAs in SQL: replaces the template of a key and locale (the shipped one stays, for workon.email_template_reset); placeholders limited to those of the shipped templates of the key. P0002 for an unknown key, 22023 naming the field for a missing part, a subject of more than one line, a malformed or unknown placeholder';

CREATE FUNCTION workon.email_template_reset(key text, locale text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM workon.email_templates AS t
	 WHERE t.key = email_template_reset.key AND t.locale = email_template_reset.locale AND t.custom;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no replaced e-mail template "%" in "%"', email_template_reset.key,
						email_template_reset.locale
			USING ERRCODE = 'no_data_found';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.email_template_reset(text, text) IS
'DELETE /api/v1/admin/email-templates/{key}/{locale}, and for DBAs in SQL: drops an admin''s replacement, so the shipped template is used again; P0002 if there is none';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, read_only, summary) VALUES
	('GET', '/api/v1/admin/emails', 'workon.admin_emails_list(text,text,integer,text)',
	 'admin', 200, 'none', 'default', true, 'Mails sent, captured, pending or dead'),
	('GET', '/api/v1/admin/emails/{id}', 'workon.admin_email_get(bigint)',
	 'admin', 200, 'none', 'default', true, 'One mail with its text and HTML'),
	('POST', '/api/v1/admin/emails/{id}/retry', 'workon.admin_email_retry(bigint)',
	 'admin', 200, 'none', 'default', false, 'Send a dead mail again'),
	('GET', '/api/v1/admin/email-templates', 'workon.admin_email_templates()',
	 'admin', 200, 'none', 'default', true, 'The e-mail templates in use'),
	('PUT', '/api/v1/admin/email-templates/{key}/{locale}',
	 'workon.email_template_set(text,text,text,text,text)',
	 'admin', 200, 'json', 'default', false, 'Replace an e-mail template'),
	('DELETE', '/api/v1/admin/email-templates/{key}/{locale}',
	 'workon.email_template_reset(text,text)',
	 'admin', 204, 'none', 'default', false, 'Use the shipped e-mail template again');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/emails', '{
		"query": {"status": {"type": "string", "enum": ["pending", "done", "dead"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/EmailPage"}}}'),
	('GET', '/api/v1/admin/emails/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Email"}}}'),
	('POST', '/api/v1/admin/emails/{id}/retry', '{"responses": {"200": {"$ref": "#/components/schemas/Email"}}}'),
	('GET', '/api/v1/admin/email-templates', '{"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/EmailTemplate"}}}, "required": ["data"]}}}'),
	('PUT', '/api/v1/admin/email-templates/{key}/{locale}', '{
		"path": {"locale": {"type": "string", "enum": ["en", "fr"]}},
		"body": {"type": "object", "additionalProperties": false, "properties": {"subject": {"type": "string", "minLength": 1, "description": "one line"}, "text": {"type": "string", "minLength": 1}, "html": {"type": "string", "minLength": 1}}, "required": ["subject", "text", "html"]},
		"responses": {"200": {"$ref": "#/components/schemas/EmailTemplate"}}}'),
	('DELETE', '/api/v1/admin/email-templates/{key}/{locale}', '{"path": {"locale": {"type": "string", "enum": ["en", "fr"]}}}');

GRANT EXECUTE ON FUNCTION workon.user_locale(text)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.admin_emails_list(text, text, integer, text),
	workon.admin_email_get(bigint),
	workon.admin_email_retry(bigint),
	workon.admin_email_templates(),
	workon.email_template_set(text, text, text, text, text),
	workon.email_template_reset(text, text),
	workon.email_template_json(workon.email_templates),
	workon.email_json(workon.outbox, boolean),
	workon.email_placeholders(text),
	workon.email_render(text, jsonb, boolean),
	workon.email_money(bigint, text, text),
	workon.email_time(timestamptz, text, text)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION workon.email_captured(bigint)
	TO workon_authenticator;

GRANT SET ON PARAMETER workon.default_locale, workon.app_url
	TO workon_authenticator;

SELECT pg_catalog.pg_extension_config_dump('workon.email_templates', 'WHERE custom');
