--
-- A new message left unread is mailed: after workon.message_email_delay,
-- once per conversation and recipient per delay, only for messages no
-- earlier mail named, never for read ones, never while the recipient has a
-- live socket; rendered in their language with values escaped in HTML.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx n
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('d7000000-0000-4000-8000-000000000001', :'h1', 'Desk <One> & Co', 'desk', 'Lyon', 'Rue 1', 1, 'UTC',
        1000, 6000, 'eur', '{"mon":[["00:00","24:00"]]}', true);
UPDATE workon.users SET locale = 'fr' WHERE id = :'h1';
UPDATE workon.users SET name = 'Ann <script>' WHERE id = :'m1';
SELECT body::json->>'id' AS conv
  FROM workon.dispatch('workon.conversation_open(uuid)'::regprocedure, '{}', '{}',
                       '{"space_id":"d7000000-0000-4000-8000-000000000001"}', :'m1_token', NULL) \gset

CREATE FUNCTION pg_temp.post(token text, conv uuid, body text) RETURNS text LANGUAGE sql AS $$
	SELECT d.body::json->>'body' FROM workon.dispatch('workon.message_post(uuid,jsonb)'::regprocedure,
										 jsonb_build_object('id', conv), '{}',
										 json_build_object('body', body)::text, token, NULL) AS d
$$;
-- time passes for a conversation: its messages, and its last mail, are older
CREATE FUNCTION pg_temp.wait(conv uuid, minutes int) RETURNS void LANGUAGE sql AS $$
	UPDATE workon.messages SET created_at = created_at - make_interval(mins => minutes) WHERE conversation_id = conv;
	UPDATE workon.conversations SET last_message_at = last_message_at - make_interval(mins => minutes) WHERE id = conv;
	UPDATE workon.message_email_marks SET mailed_at = mailed_at - make_interval(mins => minutes) WHERE conversation_id = conv;
$$;
CREATE FUNCTION pg_temp.mails() RETURNS TABLE (n bigint, "to" text, locale text, subject text) LANGUAGE sql AS $$
	SELECT row_number() OVER (ORDER BY o.id), o.params->>'to', o.params->>'locale', o.params->>'subject'
	  FROM workon.outbox AS o WHERE o.kind = 'email' AND o.params->>'template' = 'message_unread' ORDER BY o.id
$$;

SET workon.message_email_delay = '10min';
SET ROLE workon_authenticator;
SELECT workon.message_emails_send() AS none_yet;
RESET ROLE;

-- a message to the host, unread for the delay: one mail, in the host's language
SELECT pg_temp.post(:'m1_token', :'conv', E'Is the desk free <b>Monday</b>?\nThanks & see you');
SELECT workon.message_emails_send() AS too_recent;
SELECT pg_temp.wait(:'conv', 9);
SELECT workon.message_emails_send() AS nine_minutes;
SELECT pg_temp.wait(:'conv', 2);
SELECT workon.message_emails_send() AS eleven_minutes;
SELECT * FROM pg_temp.mails();
SELECT replace(o.params->>'text', :'conv', '<conv>') AS text, replace(o.params->>'html', :'conv', '<conv>') AS html,
       o.idempotency_key = format('email:message_unread:%s:%s:1', :'conv', :'h1') AS key
  FROM workon.outbox AS o WHERE o.params->>'template' = 'message_unread';
-- once: asked again at once, or a delay later with nothing new
SELECT workon.message_emails_send() AS asked_again;
SELECT pg_temp.wait(:'conv', 30);
SELECT workon.message_emails_send() AS nothing_new;

-- a new message: not before the delay after the last mail and after itself
SELECT pg_temp.post(:'m1_token', :'conv', 'Also Tuesday?');
SELECT workon.message_emails_send() AS new_message_too_recent;
SELECT pg_temp.wait(:'conv', 11);
SELECT workon.message_emails_send() AS second_mail;
SELECT n, subject FROM pg_temp.mails() WHERE n = 2;
SELECT o.params->>'text' LIKE '%(non lus : 2)%Also Tuesday?%' AS names_the_unread
  FROM workon.outbox AS o WHERE o.params->>'template' = 'message_unread' ORDER BY o.id DESC LIMIT 1;
-- the last mail was minutes ago: a message posted and aged past the delay
-- still waits until the delay after that mail
SELECT pg_temp.post(:'m1_token', :'conv', 'Hello?');
UPDATE workon.messages SET created_at = created_at - interval '11 minutes' WHERE body = 'Hello?';
UPDATE workon.conversations SET last_message_at = last_message_at - interval '11 minutes' WHERE id = :'conv';
SELECT workon.message_emails_send() AS within_a_delay_of_the_last_mail;
UPDATE workon.message_email_marks SET mailed_at = mailed_at - interval '11 minutes';
SELECT workon.message_emails_send() AS a_delay_after_the_last_mail;

-- read messages are never mailed
SELECT pg_temp.post(:'h1_token', :'conv', 'Yes, both days');
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') IS NOT NULL AS m1;
SELECT workon.conversation_read(:'conv')::json->>'unread_count' AS unread;
COMMIT;
SELECT pg_temp.wait(:'conv', 60);
SELECT workon.message_emails_send() AS read_by_the_member;

-- a recipient with a live socket (reported by a front end) is not mailed,
-- nor for a minute after the last report
SELECT pg_temp.post(:'h1_token', :'conv', 'Booked for you <3');
SELECT pg_temp.wait(:'conv', 11);
SET ROLE workon_authenticator;
SELECT workon.message_emails_send(ARRAY[:'m1', :'m1']::uuid[]) AS member_online;
RESET ROLE;
SELECT user_id = :'m1' AS present, until > now() AS still FROM workon.socket_presence;
SELECT workon.message_emails_send() AS not_reported_since;
UPDATE workon.socket_presence SET until = now() - interval '1 second';
SELECT workon.message_emails_send() AS gone;
SELECT n, "to" LIKE 'nm1@%' AS to_member, locale, subject FROM pg_temp.mails() WHERE n = 4;
SELECT o.params->>'html' LIKE '%Booked for you &lt;3%' AS escaped, o.params->>'text' LIKE '%Booked for you <3%' AS verbatim
  FROM workon.outbox AS o WHERE o.params->>'template' = 'message_unread' ORDER BY o.id DESC LIMIT 1;
SELECT count(*) AS presence_left FROM workon.socket_presence;

-- a disabled recipient is not mailed; messages a day past the delay are not either
SELECT pg_temp.post(:'m1_token', :'conv', 'Still there?');
UPDATE workon.users SET disabled = true WHERE id = :'h1';
SELECT pg_temp.wait(:'conv', 11);
SELECT workon.message_emails_send() AS disabled;
UPDATE workon.users SET disabled = false WHERE id = :'h1';
SELECT pg_temp.wait(:'conv', 24 * 60);
SELECT workon.message_emails_send() AS too_old;

-- only the front end calls it
SET ROLE workon_member;
SELECT pg_temp.try('SELECT workon.message_emails_send()') AS member;
RESET ROLE;
SELECT count(*) AS mails FROM pg_temp.mails();
RESET workon.message_email_delay;
