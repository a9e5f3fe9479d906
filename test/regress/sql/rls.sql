--
-- Row-level security: who sees which rows
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';

TRUNCATE workon.users, workon.spaces, workon.bookings, workon.reviews, workon.posts, workon.post_slugs, workon.refresh_tokens, workon.account_tokens,
	workon.conversations, workon.messages, workon.events, workon.socket_presence, workon.message_email_marks,
	workon.payments, workon.refunds, workon.outbox, workon.stripe_events,
	workon.uploads, workon.upload_data, workon.space_photos, workon.user_avatars;
INSERT INTO workon.users (id, email, name, role) VALUES
	('00000000-0000-4000-8000-000000000001', 'hana@example.com', 'Hana Host', 'host'),
	('00000000-0000-4000-8000-000000000002', 'ivo@example.com', 'Ivo Member', 'member');
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, published, created_at)
VALUES ('b0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001',
        'Open Desk', 'desk', 'Berlin', 'Street 1', 1, 'Europe/Berlin', 900, 4500, 'eur', true, '2024-03-01'),
       ('b0000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001',
        'Hidden Desk', 'desk', 'Berlin', 'Street 2', 1, 'Europe/Berlin', 900, 4500, 'eur', false, '2024-03-02');

SELECT tablename, policyname, permissive, roles, cmd, qual, with_check
  FROM pg_policies WHERE schemaname = 'workon' ORDER BY 1, 2;

-- outside a request, and not in an API role: no caller
SELECT workon.claims(), workon.current_user_id(), workon.current_role();

-- anonymous: published spaces only, no claims, no users
SET ROLE workon_anon;
SELECT workon.claims(), workon.current_user_id(), workon.current_role();
SELECT name FROM workon.spaces ORDER BY name;
SELECT count(*) FROM workon.spaces WHERE NOT published;
SELECT name FROM workon.spaces WHERE id = 'b0000000-0000-4000-8000-000000000002';
SELECT workon.space_get('b0000000-0000-4000-8000-000000000001')->>'name' AS name;
\set VERBOSITY terse
SELECT workon.space_get('b0000000-0000-4000-8000-000000000002');
SELECT * FROM workon.users;
INSERT INTO workon.spaces (host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency)
VALUES ('00000000-0000-4000-8000-000000000001', 'Sneaky', 'desk', 'Berlin', 'x', 1, 'UTC', 1, 1, 'eur');
UPDATE workon.spaces SET published = true;
DELETE FROM workon.spaces;
SELECT * FROM workon.routes;
SELECT workon.dispatch(0, '{}', '{}', NULL, NULL, '{}');
\set VERBOSITY default
RESET ROLE;

-- the same over dispatch: the request runs as workon_anon
SELECT status, body::json->>'name' AS name
  FROM workon.dispatch('workon.space_get(uuid)'::regprocedure,
                       '{"id":"b0000000-0000-4000-8000-000000000001"}', '{}', NULL, NULL, '{}');
\set VERBOSITY terse
SELECT status, body
  FROM workon.dispatch('workon.space_get(uuid)'::regprocedure,
                       '{"id":"b0000000-0000-4000-8000-000000000002"}', '{}', NULL, NULL, '{}');
\set VERBOSITY default

-- members see what anonymous callers see
SET ROLE workon_member;
SELECT workon.current_role(), workon.current_user_id();
SELECT name FROM workon.spaces ORDER BY name;
RESET ROLE;

-- a host without claims is no particular host: published only, no writes
SET ROLE workon_host;
SELECT workon.current_role(), workon.current_user_id();
SELECT name FROM workon.spaces ORDER BY name;
\set VERBOSITY terse
UPDATE workon.spaces SET name = 'Renamed';
\set VERBOSITY default
RESET ROLE;

-- admins see every space
SET ROLE workon_admin;
SELECT workon.current_role(), workon.current_user_id();
SELECT name, published FROM workon.spaces ORDER BY name;
SELECT workon.space_get('b0000000-0000-4000-8000-000000000002')->>'name' AS name;
RESET ROLE;

-- the authenticator reads nothing by itself
SET ROLE workon_authenticator;
SELECT has_table_privilege('workon.spaces', 'SELECT') AS spaces,
       has_table_privilege('workon.users', 'SELECT') AS users,
       has_function_privilege('workon.current_role()', 'EXECUTE') AS current_role;
RESET ROLE;

-- the table owner is subject to the policies as well (FORCE)
SELECT relname, relrowsecurity, relforcerowsecurity
  FROM pg_class WHERE oid IN ('workon.users'::regclass, 'workon.spaces'::regclass)
 ORDER BY 1;
