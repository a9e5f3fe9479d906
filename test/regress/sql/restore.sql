--
-- Restoring a pg_dump: rows that a superuser's top-level COPY FROM loads
-- into a table skip that table's audit, checks and notifications (they
-- come back as those triggers left them); every other write, and every
-- COPY of anybody else, runs them.  test/http/dump.test.mjs restores
-- whole dumps.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
SET workon.scrypt_log_n = 10;
\set ON_ERROR_ROLLBACK on

-- audit rows written since the last call
CREATE TABLE pg_temp.mark (id bigint);
INSERT INTO pg_temp.mark SELECT coalesce(max(id), 0) FROM workon.audit_log;
CREATE FUNCTION pg_temp.audited() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	SELECT coalesce(string_agg(a.action || ' ' || a.entity || ' ' || coalesce(a.after ->> 'email', a.after ->> 'name', ''), ', ' ORDER BY a.id), 'nothing')
	  INTO r FROM workon.audit_log a WHERE a.id > (SELECT id FROM pg_temp.mark);
	UPDATE pg_temp.mark SET id = (SELECT coalesce(max(id), 0) FROM workon.audit_log);
	RETURN r;
END
$$;

-- a superuser's COPY FROM, as a restore does it: no audit rows
COPY workon.users (id, email, name, role) FROM stdin;
f0000000-0000-4000-8000-000000000001	restore1@example.com	Restore One	host
\.
SELECT pg_temp.audited() AS copy_by_superuser;
-- a space as it was dumped: doc and opening hours kept as they are, not
-- checked against today's rules (the table's own constraints still hold)
COPY workon.spaces (id, host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents, daily_rate_cents, currency, opening_hours, doc) FROM stdin;
f1000000-0000-4000-8000-000000000001	f0000000-0000-4000-8000-000000000001	Restored	desk	Berlin	Street 1	1	UTC	100	600	eur	{"funday": []}	{"as": "dumped"}
\.
SELECT pg_temp.audited() AS copy_of_a_space, doc, opening_hours
  FROM workon.spaces WHERE id = 'f1000000-0000-4000-8000-000000000001';
\set VERBOSITY terse
COPY workon.spaces (id, host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents, daily_rate_cents, currency) FROM stdin;
f1000000-0000-4000-8000-000000000002	f0000000-0000-4000-8000-000000000001	Bad	desk	Berlin	Street 1	0	UTC	100	600	eur
\.
\set VERBOSITY default
-- the same by INSERT: audited and checked
INSERT INTO workon.users (id, email, name, role)
VALUES ('f0000000-0000-4000-8000-000000000002', 'restore2@example.com', 'Restore Two', 'member');
SELECT pg_temp.audited() AS insert_by_superuser;
SELECT pg_temp.try($$INSERT INTO workon.spaces (host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents, daily_rate_cents, currency, opening_hours) VALUES ('f0000000-0000-4000-8000-000000000001', 'Live', 'desk', 'Berlin', 'Street 1', 1, 'UTC', 100, 600, 'eur', '{"funday": []}')$$)
       AS insert_is_checked;
-- and updates of restored rows are live writes
UPDATE workon.spaces SET opening_hours = '{}' WHERE id = 'f1000000-0000-4000-8000-000000000001';
SELECT pg_temp.audited() AS update_after_restore, doc ->> 'name' AS doc_rewritten
  FROM workon.spaces WHERE id = 'f1000000-0000-4000-8000-000000000001';

-- writes that are not rows of the COPY's own table run every trigger:
-- a function called from COPY (query) TO, another table's trigger
COPY (SELECT workon.create_user('restore3@example.com', 'restore three password', 'Restore Three', 'member') IS NOT NULL) TO stdout;
SELECT pg_temp.audited() AS function_under_copy_to;
CREATE TEMP TABLE staging (email text);
CREATE FUNCTION pg_temp.staging_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO workon.users (email, name) VALUES (NEW.email, 'Staged');
	RETURN NEW;
END
$$;
CREATE TRIGGER staging_insert AFTER INSERT ON pg_temp.staging
	FOR EACH ROW EXECUTE FUNCTION pg_temp.staging_insert();
COPY pg_temp.staging FROM stdin;
restore4@example.com
\.
SELECT pg_temp.audited() AS trigger_of_another_table;

-- nobody but a superuser session: a role with the privileges to COPY,
-- reached by SET ROLE or as the session's user, is audited
CREATE ROLE workon_test_loader BYPASSRLS;
GRANT USAGE ON SCHEMA workon TO workon_test_loader;
GRANT INSERT ON workon.users TO workon_test_loader;
GRANT EXECUTE ON FUNCTION workon.restoring(regclass) TO workon_test_loader;
SET ROLE workon_test_loader;
COPY workon.users (email, name) FROM stdin;
restore5@example.com	Loaded By Role
\.
RESET ROLE;
SELECT pg_temp.audited() AS copy_after_set_role;
SET SESSION AUTHORIZATION workon_test_loader;
COPY workon.users (email, name) FROM stdin;
restore6@example.com	Loaded By Session
\.
RESET SESSION AUTHORIZATION;
SELECT pg_temp.audited() AS copy_as_session_user;
-- the front end's login role and the API roles (which may not COPY into
-- the tables anyway) are answered false
SET SESSION AUTHORIZATION workon_authenticator;
SELECT workon.restoring('workon.users') AS authenticator_restoring;
SET ROLE workon_admin;
SELECT workon.restoring('workon.users') AS admin_restoring;
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT workon.restoring('workon.users') AS outside_copy;
SELECT workon.restoring(NULL) IS NULL AS null_is_null;

-- the triggers that skip restored rows, and those that always run
SELECT tgrelid::regclass AS "table", tgname, pg_get_triggerdef(oid) LIKE '%WHEN ((NOT workon.restoring(''' || tgrelid::regclass::text || '''::regclass)))%' AS skips_restored_rows
  FROM pg_trigger
 WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'workon'::regnamespace)
   AND pg_get_triggerdef(oid) ~ 'INSERT'
 ORDER BY 1::text, 2;

DELETE FROM workon.spaces WHERE id = 'f1000000-0000-4000-8000-000000000001';
DELETE FROM workon.users WHERE email LIKE 'restore_@example.com';
DROP OWNED BY workon_test_loader;
DROP ROLE workon_test_loader;
