/* sql/src/01_restore.sql -- triggers skip the rows a pg_dump restore loads */

--
-- Restoring a pg_dump (extension/restore.c)
--
-- A restore creates the tables with CREATE EXTENSION, triggers included,
-- then loads each table's rows with COPY ... FROM stdin.  Rows that come
-- back from a dump already are what the triggers made of them: the audit
-- triggers would log them again (and take audit_log ids that the restored
-- rows still need), the checks of spaces would judge historic rows by
-- today's rules, the outbox would be announced again.  Those triggers are
-- skipped for rows a restore loads (extension/restore.c: a top-level COPY
-- FROM into that very table in a session whose session user and current
-- role are superusers, who could disable the triggers anyway; no API role
-- and no ordinary SQL caller can meet that).  Foreign keys are still
-- checked: pg_dump loads the tables in foreign-key order, and the one
-- self-reference (refresh_tokens.parent_id) is checked at the end of the
-- table's COPY, whatever the order of its rows.  Triggers that only keep
-- caches and listeners up to date (jwt_keys_changed, routes_notify) run.
--
CREATE FUNCTION workon.restoring(rel regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'restoring'
LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION workon.restoring(regclass) IS
'True while rel''s rows are loaded by a superuser''s top-level COPY FROM into rel, as pg_dump''s output does: triggers acting on live writes (audit, checks, outbox notifications) skip those rows';

-- The triggers' WHEN clauses run as the role that writes: every API role
-- and the front end's login role may ask (the answer is about their own
-- statement, and false for them).  A role a DBA lets write these tables
-- needs EXECUTE on it too, as on the other functions the triggers call.
GRANT EXECUTE ON FUNCTION workon.restoring(regclass)
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

