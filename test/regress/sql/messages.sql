--
-- Conversations and messages: opening, posting, paging, reading, who sees
-- what; the realtime events they, bookings and payments write, and why a
-- reader that resumes from an event id never misses one.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx c
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('c0000000-0000-4000-8000-000000000001', :'h1', 'Talk Desk', 'desk', 'Lyon', 'Rue 1', 1, 'UTC',
        1000, 6000, 'eur',
        '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}',
        true),
       ('c0000000-0000-4000-8000-000000000002', :'h2', 'Hidden Desk', 'desk', 'Lyon', 'Rue 2', 1, 'UTC',
        1000, 6000, 'eur', '{"mon":[["00:00","24:00"]]}', false);
\set space 'c0000000-0000-4000-8000-000000000001'
SELECT workon.events_publish() AS head0 \gset

-- a member opens a conversation with the host: the route's 201 (no status
-- set), then the same one (200)
SELECT status, body::json->>'member_id' = :'m1' AS member, body::json->>'host_id' = :'h1' AS host,
       body::json->'last_message' AS last_message, body::json->'unread_count' AS unread
  FROM workon.dispatch('workon.conversation_open(uuid)'::regprocedure, '{}', '{}',
                       format('{"space_id":"%s"}', :'space'), :'m1_token', NULL);
SELECT status FROM workon.dispatch('workon.conversation_open(uuid)'::regprocedure, '{}', '{}',
                                   format('{"space_id":"%s"}', :'space'), :'m1_token', NULL);
SELECT id AS conv FROM workon.conversations WHERE member_id = :'m1' \gset
SELECT count(*) AS conversations FROM workon.conversations;

-- refusals: the host with themselves, unknown and unseen spaces, no space
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.conversation_open(%L)', :'space')) AS own_space;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.conversation_open(%L)', 'c0000000-0000-4000-8000-000000000002')) AS unpublished,
       pg_temp.try(format('SELECT workon.conversation_open(%L)', 'c0000000-0000-4000-8000-0000000000ff')) AS unknown,
       pg_temp.try('SELECT workon.conversation_open(NULL)') AS missing;
COMMIT;

-- posting: the body is trimmed, 1 to 4,000 characters, named in every refusal
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.message_post(:'conv', '{"body":"  Is the desk free on Monday?\n "}') AS msg1 \gset
SELECT :'msg1'::json->>'body' AS body, :'msg1'::json->>'sender_id' = :'m1' AS sender,
       :'msg1'::json->>'conversation_id' = :'conv' AS conversation;
SELECT label, pg_temp.try(format('SELECT workon.message_post(%L, %L)', :'conv', b)) AS result
  FROM (VALUES
	('empty', '{"body":""}'),
	('blank', '{"body":" \n\t "}'),
	('4001 characters', json_build_object('body', repeat('é', 4001))::text),
	('a number', '{"body":42}'),
	('null', '{"body":null}'),
	('missing', '{}'),
	('an extra field', '{"body":"hi","urgent":true}'),
	('not an object', '"hi"'),
	('4000 characters and spaces', json_build_object('body', '  ' || repeat('é', 4000) || '  ')::text)) AS v(label, b);
SELECT pg_temp.try(format('SELECT workon.message_post(%L, NULL)', :'conv')) AS no_body;
COMMIT;

-- the host answers; a stranger, an admin writing, an unknown id: not found
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.message_post(:'conv', '{"body":"Yes, all day."}')::json->>'body' AS answer;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.message_post(%L, %L)', :'conv', '{"body":"hi"}')) AS stranger_posts,
       pg_temp.try(format('SELECT workon.messages_list(%L)', :'conv')) AS stranger_reads,
       pg_temp.try(format('SELECT workon.conversation_read(%L)', :'conv')) AS stranger_marks,
       (SELECT count(*) FROM workon.conversations) AS stranger_sees_conversations,
       (SELECT count(*) FROM workon.messages) AS stranger_sees_messages,
       workon.conversations_list()::text AS stranger_list;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.message_post(%L, %L)', :'conv', '{"body":"hi"}')) AS admin_posts,
       json_array_length(workon.messages_list(:'conv')->'data') AS admin_reads,
       (SELECT count(*) FROM workon.messages) AS admin_sees_messages,
       pg_temp.try(format('SELECT workon.messages_list(%L)', 'c0000000-0000-4000-8000-0000000000ff')) AS unknown;
COMMIT;

-- unread counts: what the other one wrote since they last read; reading
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT c->>'id' = :'conv' AS conv, c->'unread_count' AS host_unread, c->'last_message'->>'body' AS last
  FROM json_array_elements(workon.conversations_list()->'data') AS c;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT c->'unread_count' AS member_unread FROM json_array_elements(workon.conversations_list()->'data') AS c;
SELECT workon.conversation_read(:'conv')->'unread_count' AS after_read;
SELECT workon.conversation_read(:'conv')->'unread_count' AS read_again;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT c->'unread_count' AS host_still_unread FROM json_array_elements(workon.conversations_list()->'data') AS c;
COMMIT;

-- paging: newest first, cursors walk every message once
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT count(*) AS posted FROM generate_series(1, 5) AS n,
       LATERAL workon.message_post(:'conv', json_build_object('body', 'note ' || n)::jsonb);
SELECT workon.messages_list(:'conv', 3) AS p1 \gset
SELECT workon.messages_list(:'conv', 3, :'p1'::json->>'next_cursor') AS p2 \gset
SELECT (SELECT string_agg(m->>'body', ' | ') FROM json_array_elements(:'p1'::json->'data') AS m) AS page1,
       (SELECT string_agg(m->>'body', ' | ') FROM json_array_elements(:'p2'::json->'data') AS m) AS page2,
       :'p2'::json->>'next_cursor' IS NOT NULL AS more;
SELECT pg_temp.try(format('SELECT workon.messages_list(%L, 0)', :'conv')) AS limit_0,
       pg_temp.try(format('SELECT workon.messages_list(%L, 3, %L)', :'conv', 'nope')) AS bad_cursor;
COMMIT;
SELECT seq, sender_id = :'m1' AS from_member, left(body, 30) AS body, char_length(body) FROM workon.messages WHERE conversation_id = :'conv' ORDER BY seq;
SELECT last_seq, member_read_seq, host_read_seq FROM workon.conversations WHERE id = :'conv';
-- the audit: the conversation opened, each message, each read that moved a
-- marker; posting moves its sender's marker too, and is audited as the
-- message only
SELECT entity, action, count(*) AS rows, array_agg(DISTINCT array_to_string(changed, ',')) AS changed
  FROM workon.audit_log
 WHERE entity_id = :'conv' OR entity_id IN (SELECT id::text FROM workon.messages WHERE conversation_id = :'conv')
 GROUP BY 1, 2 ORDER BY 1, 2;

-- events: message.created for both participants, conversation.read, in the
-- order published; a stranger has none; the API roles cannot publish
SELECT workon.events_publish() > :head0 AS published;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT e->>'type' AS type, left(e->'data'->>'body', 30) AS body, (e->>'id')::bigint > :head0 AS after_head
  FROM json_array_elements(workon.events_since(:head0)->'data') AS e;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT workon.events_since(:head0)->'data' AS stranger_events;
SELECT pg_temp.try('SELECT workon.events_publish()') AS member_publishes,
       pg_temp.try('SELECT workon.events_since(-1)') AS negative_since,
       pg_temp.try('SELECT workon.events_since(0, 1001)') AS limit_1001;
COMMIT;

-- bookings and payments: booking.updated and payment.updated for the member
-- and the host, whoever writes
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.booking_create(:'space', date_trunc('hour', now()) + interval '2 days',
                             date_trunc('hour', now()) + interval '2 days 1 hour')->>'id' AS booking \gset
COMMIT;
INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency)
VALUES (:'booking', :'m1', 'payment_intent', 1000, 'eur');
UPDATE workon.bookings SET status = 'cancelled' WHERE id = :'booking';
UPDATE workon.bookings SET updated_at = now() WHERE id = :'booking';
SELECT workon.events_publish() AS head1 \gset
SELECT e.type, e.data->>'status' AS status, e.recipients @> ARRAY[:'m1', :'h1']::uuid[] AS both,
       cardinality(e.recipients) AS n, e.data->>'client_secret' IS NOT NULL AS secret_shown
  FROM workon.events AS e
 WHERE e.type IN ('booking.updated', 'payment.updated') AND :'booking' IN (e.data->>'id', e.data->>'booking_id')
 ORDER BY e.pos;

-- Never miss an event.  A transaction that wrote its event first (a smaller
-- id) but commits last is published after the faster one: a reader resuming
-- from the faster one's id still gets it.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT dblink_connect('slow', format('dbname=%s user=%s port=%s host=%s', current_database(), current_user,
       current_setting('port'), split_part(current_setting('unix_socket_directories'), ',', 1))) AS connected;
SELECT dblink_exec('slow', 'BEGIN');
SELECT dblink_exec('slow', format($$INSERT INTO workon.events (type, recipients, data)
                                   VALUES ('message.created', ARRAY[%L]::uuid[], '{"n": "slow"}')$$, :'m1'));
INSERT INTO workon.events (type, recipients, data) VALUES ('message.created', ARRAY[:'m1']::uuid[], '{"n": "fast"}');
SELECT workon.events_publish() AS head2 \gset
SELECT data->>'n' AS n, pos = :head2 AS published FROM workon.events WHERE data->>'n' IS NOT NULL ORDER BY id;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.events_since(:head1) AS seen \gset
SELECT e->'data'->>'n' AS first_read FROM json_array_elements(:'seen'::json->'data') AS e;
COMMIT;
SELECT dblink_exec('slow', 'COMMIT');
SELECT dblink_disconnect('slow');
SELECT workon.events_publish() = :head2 + 1 AS slow_published;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT e->'data'->>'n' AS resumed_read FROM json_array_elements(workon.events_since((:'seen'::json->>'cursor')::bigint)->'data') AS e;
COMMIT;
SELECT (SELECT id FROM workon.events WHERE data->>'n' = 'slow') < (SELECT id FROM workon.events WHERE data->>'n' = 'fast') AS slow_took_its_id_first,
       (SELECT pos FROM workon.events WHERE data->>'n' = 'slow') > (SELECT pos FROM workon.events WHERE data->>'n' = 'fast') AS slow_comes_after;

-- the shim's publisher: events_publish_batch(false) never queues behind
-- another publisher (head NULL: try again), numbers in batches, and a batch
-- that numbered events sends NOTIFY workon_events_published with the new head
SELECT dblink_connect('other', format('dbname=%s user=%s port=%s host=%s', current_database(), current_user,
       current_setting('port'), split_part(current_setting('unix_socket_directories'), ',', 1))) AS connected;
SELECT dblink_exec('other', 'LISTEN workon_events_published');
INSERT INTO workon.events (type, recipients, data) VALUES ('message.created', ARRAY[:'m1']::uuid[], '{"n": "batch"}');
SELECT dblink_exec('other', 'BEGIN');
SELECT * FROM dblink('other', 'SELECT head IS NOT NULL, published, more FROM workon.events_publish_batch(false)')
	AS t(got_lock boolean, published integer, more boolean);
SET ROLE workon_authenticator;
SELECT head IS NULL AS busy, published, more FROM workon.events_publish_batch(false);
SELECT workon.events_head() = :head2 + 1 AS not_yet_visible;
RESET ROLE;
SELECT dblink_exec('other', 'COMMIT');
SELECT notify_name, extra::bigint = :head2 + 2 AS payload_is_head
  FROM dblink_get_notify('other');
SELECT head = :head2 + 2 AS head, published, more FROM workon.events_publish_batch(false);
SELECT notify_name FROM dblink_get_notify('other');
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try('SELECT workon.events_publish_batch()') AS member_publishes;
SELECT pg_temp.try('SELECT workon.events_publish_frames()') AS member_publishes_frames;
COMMIT;

-- the shim's publisher calls events_publish_frames(false): it numbers the
-- same way, returns the events it numbered as events_fanout gives them, and
-- sends no NOTIFY (the shim announces the new head once it has committed)
INSERT INTO workon.events (type, recipients, data)
SELECT 'message.created', ARRAY[:'m1']::uuid[], json_build_object('n', 'frames ' || i) FROM generate_series(1, 2) AS i;
SELECT dblink_exec('other', 'BEGIN');
CREATE TEMP TABLE published AS
SELECT * FROM dblink('other', 'SELECT head, more, pos, recipients, frame, close_code FROM workon.events_publish_frames(false)')
	AS t(head bigint, more boolean, pos bigint, recipients uuid[], frame text, close_code integer);
SELECT pos - :head2 AS pos, head - :head2 AS head, more, frame::json->'data'->>'n' AS n, close_code FROM published ORDER BY pos;
SET ROLE workon_authenticator;
SELECT head IS NULL AS busy, more, pos, frame FROM workon.events_publish_frames(false);
RESET ROLE;
SELECT dblink_exec('other', 'COMMIT');
SELECT count(*) AS notifications FROM dblink_get_notify('other');
SELECT count(*) AS rows, count(*) FILTER (WHERE (f.recipients, f.frame, f.close_code) IS NOT DISTINCT FROM (p.recipients, p.frame, p.close_code)) AS as_fanout_gives
  FROM workon.events_fanout(:head2 + 2) AS f FULL JOIN published AS p USING (pos);
SET ROLE workon_authenticator;
SELECT head = :head2 + 4 AS head, more, pos, frame FROM workon.events_publish_frames(false);
RESET ROLE;
DROP TABLE published;
SELECT dblink_disconnect('other');

-- publishing a few events behind a long log reads them through the indexes:
-- no sequential scan of workon.events (a day of events is kept, and the
-- publisher runs after every write)
BEGIN;
INSERT INTO workon.events (type, recipients, data)
SELECT 'message.created', ARRAY[:'m1']::uuid[], '{}' FROM generate_series(1, 30000);
SELECT published FROM workon.events_publish_batch(false);
SELECT published FROM workon.events_publish_batch(false);
SELECT published FROM workon.events_publish_batch(false);
ANALYZE workon.events;
INSERT INTO workon.events (type, recipients, data)
SELECT 'message.created', ARRAY[:'m1']::uuid[], '{}' FROM generate_series(1, 3);
SELECT seq_scan AS seq_before FROM pg_stat_xact_all_tables WHERE relid = 'workon.events'::regclass \gset
SELECT published FROM workon.events_publish_batch(false);
SELECT seq_scan - :seq_before AS seq_scans FROM pg_stat_xact_all_tables WHERE relid = 'workon.events'::regclass;
ROLLBACK;

-- the front end's view: recipients and frames; a role change closes sockets
UPDATE workon.users SET role = 'host' WHERE id = :'m2';
SELECT workon.events_publish() AS head3 \gset
SET ROLE workon_authenticator;
SELECT pos = :head3 AS last, recipients = ARRAY[:'m2']::uuid[] AS m2, frame, close_code
  FROM workon.events_fanout(:head3 - 1);
SELECT pos = :head2 AS fast, frame::json->>'type' AS type, frame::json->>'id' = pos::text AS id_is_pos,
       frame = (frame::jsonb)::text AS not_compact, frame LIKE '{"type":"message.created","id":"%' AS compact, close_code
  FROM workon.events_fanout(:head2 - 1, 1);
SELECT workon.events_head() = :head3 AS head;
RESET ROLE;

-- retention: events older than workon.event_retention go, the newest stays
UPDATE workon.events SET created_at = now() - interval '2 days';
SET workon.event_retention = '1d';
SELECT workon.events_cleanup() > 0 AS cleaned;
SELECT count(*) AS kept, max(pos) = :head3 AS newest_kept FROM workon.events;
SELECT workon.events_publish() = :head3 AS head_unchanged;
RESET workon.event_retention;

-- a disabled account's sockets close with 4403; enabled again, nothing to close
UPDATE workon.users SET disabled = true WHERE id = :'h2';
UPDATE workon.users SET disabled = false WHERE id = :'h2';
SELECT workon.events_publish() AS head4 \gset
SET ROLE workon_authenticator;
SELECT pos = :head4 AS last, recipients = ARRAY[:'h2']::uuid[] AS h2, frame, close_code
  FROM workon.events_fanout(:head4 - 1);
RESET ROLE;
SELECT data->>'reason' AS reason FROM workon.events WHERE pos = :head4;
