--
-- Who wakes the realtime listeners.  A write through workon.dispatch in a
-- session with workon.notify = after_commit (the front end's) sends no
-- NOTIFY workon_events: it sets workon.events_pending for the transaction,
-- and the caller notifies after commit.  Every other writer (the default
-- setting, or a transaction that never went through dispatch) notifies in
-- its transaction as before.  A second session listens.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx k
\i :abs_srcdir/fixture/people.sql
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;

INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('c0000000-0000-4000-8000-0000000000a1', :'h1', 'Notify Desk', 'desk', 'Lyon', 'Rue 1', 1, 'UTC',
        1000, 6000, 'eur', '{"mon":[["00:00","24:00"]]}', true);
SELECT body::json->>'id' AS conv
  FROM workon.dispatch('workon.conversation_open(uuid)'::regprocedure, '{}', '{}',
                       '{"space_id":"c0000000-0000-4000-8000-0000000000a1"}', :'m1_token', NULL) \gset

\set channel workon_events
\i :abs_srcdir/fixture/listener.sql

-- the default: a message posted through dispatch notifies in its transaction
SHOW workon.notify;
SELECT status, current_setting('workon.events_pending') AS pending
  FROM workon.dispatch('workon.message_post(uuid,jsonb)'::regprocedure, json_build_object('id', :'conv')::jsonb, '{}',
                       '{"body":"first"}', :'m1_token', NULL);
SELECT * FROM pg_temp.notifications(1);

-- the front end's setting: no NOTIFY, the transaction says events are pending
SET workon.notify = after_commit;
SELECT status, current_setting('workon.events_pending') AS pending
  FROM workon.dispatch('workon.message_post(uuid,jsonb)'::regprocedure, json_build_object('id', :'conv')::jsonb, '{}',
                       '{"body":"second"}', :'h1_token', NULL);
-- ... for that transaction only
SELECT current_setting('workon.events_pending') AS pending_after_commit;
SELECT pg_sleep(0.2);
SELECT * FROM pg_temp.notifications(0);
SELECT count(*) AS messages FROM workon.messages WHERE conversation_id = :'conv';

-- a call that writes no event leaves it off
SELECT status, current_setting('workon.events_pending') AS pending
  FROM workon.dispatch('workon.conversation_open(uuid)'::regprocedure, '{}', '{}',
                       '{"space_id":"c0000000-0000-4000-8000-0000000000a1"}', :'m1_token', NULL);

-- a rolled-back call: nothing pending afterwards, nothing sent
BEGIN;
SELECT status FROM workon.dispatch('workon.message_post(uuid,jsonb)'::regprocedure, json_build_object('id', :'conv')::jsonb, '{}',
                                   '{"body":"undone"}', :'m1_token', NULL);
SELECT current_setting('workon.events_pending') AS pending_inside;
ROLLBACK;
SELECT current_setting('workon.events_pending') AS pending_after_rollback;

-- with the setting, a writer that does not go through dispatch still
-- notifies (the front end's outbox worker, say): a role change's event
UPDATE workon.users SET disabled = true WHERE id = :'m2';
SELECT current_setting('workon.events_pending') AS pending;
SELECT * FROM pg_temp.notifications(1);
UPDATE workon.users SET disabled = false WHERE id = :'m2';

-- in a transaction pooler's way: the setting local to the transaction
RESET workon.notify;
BEGIN;
SELECT set_config('workon.notify', 'after_commit', true) AS notify;
SELECT status, current_setting('workon.events_pending') AS pending
  FROM workon.dispatch('workon.message_post(uuid,jsonb)'::regprocedure, json_build_object('id', :'conv')::jsonb, '{}',
                       '{"body":"pooled"}', :'m1_token', NULL);
COMMIT;
SELECT pg_sleep(0.2);
SELECT * FROM pg_temp.notifications(0);
SHOW workon.notify;

-- and the default again: notified
SELECT status, current_setting('workon.events_pending') AS pending
  FROM workon.dispatch('workon.message_post(uuid,jsonb)'::regprocedure, json_build_object('id', :'conv')::jsonb, '{}',
                       '{"body":"third"}', :'h1_token', NULL);
SELECT * FROM pg_temp.notifications(1);

-- the events are all there, each published as usual
SELECT count(*) FILTER (WHERE type = 'message.created') AS created FROM workon.events
 WHERE data->>'conversation_id' = :'conv';

SET workon.notify = 'never';
SELECT dblink_disconnect('listener');
