/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- The way back: ALTER EXTENSION workon UPDATE TO '0.5.0' undoes what
-- workon--0.5.0--0.6.0.sql did, where no data would be lost. Each concern
-- appends the reverse of its 0.6.0 change below (drop what it added, in the
-- reverse order of its creation); where going back would lose data (rows of
-- a table 0.5.0 does not have, values of a column it does not have), it
-- raises instead, naming what would be lost, and nothing changes (the update
-- is one transaction). The pg_dump block stays last.
--

-- Rows that would be lost: every table of the extension that 0.5.0 does not
-- have must be empty (a table whose rows may go without loss, a cache say, is
-- added to the list below by its concern). One error names them all.
DO $lost$
DECLARE
	t regclass;
	n bigint;
	lost text[] := '{}';
BEGIN
	FOR t IN
		SELECT c.oid::regclass
		  FROM pg_catalog.pg_depend AS d
		  JOIN pg_catalog.pg_class AS c ON c.oid = d.objid
		 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension AS e WHERE e.extname = 'workon')
		   AND d.deptype = 'e'
		   AND c.relkind IN ('r', 'p')
		   AND c.relname NOT IN (
				-- the tables of 0.5.0
				'account_tokens', 'audit_log', 'bookings', 'conversations', 'email_templates',
				'errors', 'events', 'idempotency_keys', 'jwt_keys', 'message_email_marks',
				'messages', 'outbox', 'payments', 'refresh_tokens', 'refunds', 'routes',
				'secrets', 'signed_url_keys', 'socket_presence', 'space_photos', 'spaces',
				'stripe_events', 'stripe_webhook_secrets', 'upload_data', 'uploads',
				'user_avatars', 'users'
				-- tables of 0.6.0 whose rows may be dropped
				)
		 ORDER BY c.relname
	LOOP
		EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', t) INTO n;
		IF n > 0 THEN
			lost := lost || pg_catalog.format('%s rows in %s', n, t);
		END IF;
	END LOOP;
	IF pg_catalog.cardinality(lost) > 0 THEN
		RAISE EXCEPTION 'workon cannot go back to 0.5.0 without losing data: %',
			pg_catalog.array_to_string(lost, ', ')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = '0.5.0 has no such tables; nothing was changed.',
				HINT = 'Keep 0.6.0 (the shim of 0.5.0 works with it), or delete those rows first if they may go.';
	END IF;
END
$lost$;

--
-- Each concern appends the reverse of its 0.6.0 change below.
--

-- The space of payments and refunds (33_space_keys): derived from their
-- booking, so nothing is lost
DROP TRIGGER refunds_space ON workon.refunds;
DROP TRIGGER payments_space ON workon.payments;
DROP FUNCTION workon.booking_space_fill();
ALTER TABLE workon.refunds DROP COLUMN space_id;
ALTER TABLE workon.payments DROP COLUMN space_id;

-- pg_dump: the shipped route and error rows are those of 0.5.0 again: the
-- rows the filter named as shipped that are still there (a DBA's own rows stay
-- out of it, so pg_dump keeps them)
DO $dump$
DECLARE
	cond text;
	shipped text;
BEGIN
	SELECT e.extcondition[pg_catalog.array_position(e.extconfig, 'workon.routes'::pg_catalog.regclass)]
	  INTO cond FROM pg_catalog.pg_extension AS e WHERE e.extname = 'workon';
	EXECUTE 'SELECT pg_catalog.string_agg(pg_catalog.format(''(%L, %L)'', r.method, r.path), '', '' ORDER BY r.method, r.path)
			   FROM workon.routes AS r
			  WHERE (r.method, r.path) NOT IN (SELECT method, path FROM workon.routes ' || cond || ')'
	   INTO shipped;
	PERFORM pg_catalog.pg_extension_config_dump('workon.routes', 'WHERE (method, path) NOT IN (' || shipped || ')');
	SELECT e.extcondition[pg_catalog.array_position(e.extconfig, 'workon.errors'::pg_catalog.regclass)]
	  INTO cond FROM pg_catalog.pg_extension AS e WHERE e.extname = 'workon';
	EXECUTE 'SELECT pg_catalog.string_agg(pg_catalog.format(''%L'', x.sqlstate), '', '' ORDER BY x.sqlstate)
			   FROM workon.errors AS x
			  WHERE x.sqlstate NOT IN (SELECT sqlstate FROM workon.errors ' || cond || ')'
	   INTO shipped;
	PERFORM pg_catalog.pg_extension_config_dump('workon.errors', 'WHERE sqlstate NOT IN (' || shipped || ')');
END
$dump$;
