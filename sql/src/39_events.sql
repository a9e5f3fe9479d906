/* sql/src/39_events.sql -- the realtime event log: events, publishing and fan-out, the events of bookings, payments and users */

--
-- Realtime events
--
-- A change a client should learn of at once (a message, a read marker, a
-- booking's or a payment's status) writes an event in its own transaction:
-- type, recipients (user ids) and data.  Its public id, pos, is not taken
-- at insert: ids taken before commit become visible out of order, and a
-- reader that remembers "the highest id seen" would skip the event of a
-- slower transaction.  workon.events_publish_batch() numbers the
-- committed events that have no pos yet, under a lock, in transactions that
-- follow one another; so once a reader sees pos N, every pos below N is
-- visible to it too, and "pos > since" never skips an event.  Each shim has
-- one publisher, woken by NOTIFY workon_events (and a one-second poll); a
-- batch that numbered events sends NOTIFY workon_events_published, on which
-- every front end fans the published events out.
--
CREATE TABLE workon.events (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	type		text NOT NULL
				CONSTRAINT events_type_check
				CHECK (type IN ('message.created', 'conversation.read', 'booking.updated',
								'payment.updated', 'session.revoked')),
	recipients	uuid[] NOT NULL
				CONSTRAINT events_recipients_check CHECK (pg_catalog.cardinality(recipients) > 0),
	data		json NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	pos			bigint
				CONSTRAINT events_pos_key UNIQUE
);

COMMENT ON TABLE workon.events IS
'Realtime events: type, recipients and data, written in the transaction of the change; pos is the public cursor, given after commit by workon.events_publish(); kept workon.event_retention (24 h); session.revoked is for the front end (it closes the recipients'' sockets), never sent to clients';

CREATE INDEX events_unpublished_idx ON workon.events (id) WHERE pos IS NULL;

ALTER TABLE workon.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.events FORCE ROW LEVEL SECURITY;

-- A user reads the published events sent to them.
CREATE POLICY events_recipient ON workon.events
	FOR SELECT
	USING (pos IS NOT NULL AND recipients @> ARRAY[workon.current_user_id()]);

GRANT SELECT ON workon.events TO workon_member, workon_host, workon_admin;

-- C (events.c): a writer through workon.dispatch whose caller wakes the
-- listeners after commit (workon.notify = after_commit, as the front end
-- sets) does not NOTIFY; NOTIFY serializes the commits of its senders
CREATE FUNCTION workon.events_notify()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'events_notify';

COMMENT ON FUNCTION workon.events_notify() IS
'Trigger: NOTIFY workon_events (empty payload, one per transaction) so the front end publishes and fans out new events; in a transaction that called workon.dispatch with workon.notify = after_commit, sets workon.events_pending for the transaction instead (the caller notifies after commit)';

CREATE TRIGGER events_notify
	AFTER INSERT ON workon.events
	FOR EACH STATEMENT EXECUTE FUNCTION workon.events_notify();

-- PL/pgSQL, not SQL: a SQL function with SET or SECURITY DEFINER is parsed
-- and planned again on every call; PL/pgSQL keeps the plan for the session
CREATE FUNCTION workon.event_emit(p_type text, p_recipients uuid[], p_data json)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO workon.events (type, recipients, data)
	SELECT p_type, pg_catalog.array_agg(DISTINCT r), p_data
	  FROM pg_catalog.unnest(p_recipients) AS r
	 WHERE r IS NOT NULL
	HAVING pg_catalog.count(r) > 0;
END
$$;

COMMENT ON FUNCTION workon.event_emit(text, uuid[], json) IS
'Writes an event for the distinct non-NULL recipients (none: nothing written); for the extension''s own functions and triggers';

CREATE FUNCTION workon.events_cleanup()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the setting is the library's; a session that has not loaded it yet
	-- reads what ALTER DATABASE / ALTER SYSTEM gave, else the default
	v_cutoff	timestamptz := pg_catalog.now()
				- COALESCE(NULLIF(pg_catalog.current_setting('workon.event_retention', true), ''), '1d')::interval;
	v_deleted	bigint;
BEGIN
	-- one index probe when nothing is due (every publish calls this)
	IF NOT EXISTS (SELECT FROM (SELECT o.created_at FROM workon.events AS o
								 WHERE o.pos IS NOT NULL ORDER BY o.pos LIMIT 1) AS oldest
					WHERE oldest.created_at < v_cutoff) THEN
		RETURN 0;
	END IF;
	-- the newest published event stays: publishing counts on from its pos
	DELETE FROM workon.events AS e
	 WHERE e.id IN (SELECT o.id FROM workon.events AS o
					 WHERE o.pos IS NOT NULL
					   AND o.pos < (SELECT pg_catalog.max(m.pos) FROM workon.events AS m)
					 ORDER BY o.pos
					 LIMIT 10000)
	   AND e.created_at < v_cutoff;
	GET DIAGNOSTICS v_deleted = ROW_COUNT;
	RETURN v_deleted;
END
$$;

COMMENT ON FUNCTION workon.events_cleanup() IS
'Deletes published events older than workon.event_retention (default 24 h), oldest first, at most 10,000 a call; returns how many';

-- Numbering, for the two publishing calls below: under the publishers'
-- lock, the committed events without a pos get the next ones, at most
-- 10,000 a call (more: call again).  One publisher at a time, until it
-- commits; the statements below see what the previous one committed.
-- Without wait, a publisher that finds another at work returns at once
-- (head NULL): the caller tries again shortly instead of queueing behind
-- it.
-- The plans are pinned.  events_unpublished_idx keeps the entries of
-- published rows until a vacuum: a bitmap scan visits each of their heap
-- pages on every call, where a plain index scan marks them dead once and
-- skips them after; and with a few rows to number, a hash join read the
-- whole table (6 ms at 37,000 events) where a nested loop over the primary
-- key probes each row.
CREATE FUNCTION workon.events_number(wait boolean, OUT head bigint, OUT published integer, OUT more boolean)
RETURNS record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_bitmapscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
	events_number.published := 0;
	events_number.more := false;
	IF events_number.wait THEN
		PERFORM pg_catalog.pg_advisory_xact_lock('workon.events'::regclass::oid::bigint);
	ELSIF NOT pg_catalog.pg_try_advisory_xact_lock('workon.events'::regclass::oid::bigint) THEN
		RETURN;
	END IF;
	SELECT COALESCE(pg_catalog.max(e.pos), 0) INTO events_number.head FROM workon.events AS e;

	UPDATE workon.events AS e
	   SET pos = events_number.head + u.n
	  FROM (SELECT n.id, pg_catalog.row_number() OVER (ORDER BY n.id) AS n
			  FROM (SELECT x.id FROM workon.events AS x
					 WHERE x.pos IS NULL
					 ORDER BY x.id
					 LIMIT 10000) AS n) AS u
	 WHERE e.id = u.id;
	GET DIAGNOSTICS events_number.published = ROW_COUNT;
	events_number.head := events_number.head + events_number.published;
	events_number.more := events_number.published = 10000;

	PERFORM workon.events_cleanup();
END
$$;

COMMENT ON FUNCTION workon.events_number(boolean) IS
'Gives the committed events without a pos the next positions, at most 10,000 a call, one publisher at a time (without wait: head NULL when another is at work), and drops events past their retention; returns the newest pos, how many it numbered and whether more wait; for workon.events_publish_batch and workon.events_publish_frames';

CREATE FUNCTION workon.events_publish_batch(wait boolean DEFAULT false)
RETURNS TABLE (head bigint, published integer, more boolean)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			record;
BEGIN
	SELECT * INTO v FROM workon.events_number(events_publish_batch.wait) AS n;
	IF v.published > 0 THEN
		-- every front end fans out up to the new head, after this commit
		PERFORM pg_catalog.pg_notify('workon_events_published', v.head::text);
	END IF;
	RETURN QUERY SELECT v.head, v.published, v.more;
END
$$;

COMMENT ON FUNCTION workon.events_publish_batch(boolean) IS
'Gives the committed events without a pos the next positions, at most 10,000 a call (more: call again), one publisher at a time, and drops events past their retention; returns the newest pos and how many it numbered, and when it numbered any, NOTIFY workon_events_published with the new head as payload (after commit). Without wait, head is NULL when another publisher is at work (try again shortly). A cursor handed out is never followed by a smaller one';

-- The front end's publisher: the events it numbered come back with the
-- call, so that it fans them out to its own sockets without reading them
-- again.  It sends no NOTIFY: the lock every NOTIFY takes at commit would
-- be held through this transaction's WAL flush, and every writer's wake-up
-- would queue behind it.  The caller announces the new head once this has
-- committed (NOTIFY workon_events_published, in a transaction of its own).
CREATE FUNCTION workon.events_publish_frames(wait boolean DEFAULT false)
RETURNS TABLE (head bigint, more boolean, pos bigint, recipients uuid[], frame text, close_code integer)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			record;
BEGIN
	SELECT * INTO v FROM workon.events_number(events_publish_frames.wait) AS n;
	IF v.published > 0 THEN
		-- workon.events_fanout's query, written out: a plan kept for the
		-- session instead of one made on every call
		RETURN QUERY SELECT v.head, v.more, e.pos, e.recipients,
							CASE WHEN e.type <> 'session.revoked' THEN workon.event_frame(e) END,
							CASE WHEN e.type = 'session.revoked' THEN (e.data ->> 'close_code')::integer END
					   FROM workon.events AS e
					  WHERE e.pos > v.head - v.published
					  ORDER BY e.pos
					  LIMIT v.published;
	ELSE
		RETURN QUERY SELECT v.head, v.more, NULL::bigint, NULL::uuid[], NULL::text, NULL::integer;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.events_publish_frames(boolean) IS
'The front end''s publisher: numbers events as workon.events_publish_batch does, without its NOTIFY (the caller sends NOTIFY workon_events_published once this has committed), and returns one row per event it numbered, in order, as workon.events_fanout gives them (pos, recipients, frame, close_code), each with the new head and whether more wait; numbering none: one row with pos NULL (head NULL: another publisher is at work)';

CREATE FUNCTION workon.events_publish()
RETURNS bigint
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT b.head FROM workon.events_publish_batch(true) AS b
$$;

COMMENT ON FUNCTION workon.events_publish() IS
'workon.events_publish_batch(wait => true): waits for another publisher, numbers at most 10,000 committed events and returns the newest pos';

CREATE FUNCTION workon.event_frame(e workon.events)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build('type', e.type, 'id', e.pos::text, 'data', e.data)::text
$$;

COMMENT ON FUNCTION workon.event_frame(workon.events) IS
'The event as clients receive it: {"type": ..., "id": "<pos>", "data": {...}}';

CREATE FUNCTION workon.events_fanout(after bigint, "limit" integer DEFAULT 1000)
RETURNS TABLE (pos bigint, recipients uuid[], frame text, close_code integer)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.pos, e.recipients,
		   CASE WHEN e.type <> 'session.revoked' THEN workon.event_frame(e) END,
		   CASE WHEN e.type = 'session.revoked' THEN (e.data ->> 'close_code')::integer END
	  FROM workon.events AS e
	 WHERE e.pos > events_fanout.after
	 ORDER BY e.pos
	 LIMIT events_fanout."limit"
$$;

COMMENT ON FUNCTION workon.events_fanout(bigint, integer) IS
'For the front end: published events after a pos, in order, with their recipients and the frame to send, or a close code (4401, 4403) for the recipients'' sockets instead';

CREATE FUNCTION workon.events_head()
RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.max(e.pos), 0) FROM workon.events AS e
$$;

COMMENT ON FUNCTION workon.events_head() IS
'The newest published pos (0 if none): where a front end that starts fans out from';

CREATE FUNCTION workon.events_since(since bigint DEFAULT NULL, "limit" integer DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_limit		integer := COALESCE(events_since."limit", 100);
	v_user		uuid := workon.caller_id();
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 1000 THEN
		RAISE EXCEPTION 'limit must be between 1 and 1000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF events_since.since < 0 THEN
		RAISE EXCEPTION 'since must be an event id'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'since';
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(p.frame::json ORDER BY p.pos)
																   FILTER (WHERE p.n <= v_limit)), '[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.max(p.pos) FILTER (WHERE p.n <= v_limit))::text
							  END,
			   'cursor', COALESCE(pg_catalog.max(p.pos) FILTER (WHERE p.n <= v_limit),
								  events_since.since)::text)
	  INTO v_page
	  FROM (SELECT e.pos, workon.event_frame(e) AS frame,
				   pg_catalog.row_number() OVER (ORDER BY e.pos) AS n
			  FROM workon.events AS e
			 WHERE e.pos > COALESCE(events_since.since, 0)
			   AND e.type <> 'session.revoked'
			   AND e.recipients @> ARRAY[v_user]
			 ORDER BY e.pos
			 LIMIT v_limit + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.events_since(bigint, integer) IS
'GET /api/v1/events: the caller''s published events after the id since (default: all kept), oldest first, as {"data": [{"type", "id", "data"}], "next_cursor": ..., "cursor": the last id returned, else since}; limit 1..1000 (default 100)';

CREATE FUNCTION workon.ws_open(since bigint DEFAULT NULL, "limit" integer DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_claims	jsonb := workon.claims();
	v_page		json;
BEGIN
	IF v_claims IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF ws_open.since IS NOT NULL THEN
		v_page := workon.events_since(ws_open.since, ws_open."limit");
	END IF;
	RETURN workon.json_build(
		'user_id', v_claims ->> 'sub',
		'role', v_claims ->> 'role',
		'expires_at', (v_claims ->> 'exp')::bigint,
		'data', COALESCE(v_page -> 'data', '[]'::json),
		'next_cursor', v_page -> 'next_cursor',
		'cursor', v_page -> 'cursor',
		'head', workon.events_head());
END
$$;

COMMENT ON FUNCTION workon.ws_open(bigint, integer) IS
'GET /api/v1/ws (body kind websocket): checks the token before the upgrade and tells the front end whose socket it is (user_id, role, expires_at in Unix seconds) and the newest published event id (head: a front end that has not fanned out yet starts after it); with since, also the first page of events to replay (as workon.events_since); the front end calls it again on {"type":"auth"} and to page the replay';

--
-- Events of bookings and payments, whoever writes
--
CREATE FUNCTION workon.status_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status THEN
		RETURN NULL;
	END IF;
	-- workon.event_emit's insert, written out: one statement per booking
	-- instead of a call that runs it (the recipients are never all NULL)
	IF TG_TABLE_NAME = 'bookings' THEN
		INSERT INTO workon.events (type, recipients, data)
		SELECT 'booking.updated', pg_catalog.array_agg(DISTINCT r), workon.booking_json(NEW)
		  FROM pg_catalog.unnest(ARRAY[NEW.user_id,
									   (SELECT s.host_id FROM workon.spaces AS s WHERE s.id = NEW.space_id)]) AS r
		 WHERE r IS NOT NULL
		HAVING pg_catalog.count(r) > 0;
	ELSE
		INSERT INTO workon.events (type, recipients, data)
		SELECT 'payment.updated', pg_catalog.array_agg(DISTINCT r), workon.payment_json(NEW)
		  FROM pg_catalog.unnest(ARRAY[NEW.user_id,
									   (SELECT s.host_id FROM workon.bookings AS b
										  JOIN workon.spaces AS s ON s.id = b.space_id
										 WHERE b.id = NEW.booking_id)]) AS r
		 WHERE r IS NOT NULL
		HAVING pg_catalog.count(r) > 0;
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.status_event() IS
'Trigger of bookings and payments: one created or whose status changed is a booking.updated or payment.updated event (a payment without its client secret) for its member and the space''s host';

CREATE TRIGGER bookings_event
	AFTER INSERT OR UPDATE OF status ON workon.bookings
	FOR EACH ROW WHEN (NOT workon.restoring('workon.bookings'))
	EXECUTE FUNCTION workon.status_event();

CREATE TRIGGER payments_event
	AFTER INSERT OR UPDATE OF status ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments'))
	EXECUTE FUNCTION workon.status_event();

CREATE FUNCTION workon.user_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- an account enabled again has no socket to close
	IF TG_OP = 'UPDATE' AND NOT NEW.disabled AND NEW.role = OLD.role THEN
		RETURN NULL;
	END IF;
	-- 4403: the account is disabled; 4401: its tokens no longer say who it is
	PERFORM workon.event_emit('session.revoked', ARRAY[OLD.id],
							  workon.json_build(
								  'close_code', CASE WHEN TG_OP = 'UPDATE' AND NEW.disabled THEN 4403 ELSE 4401 END,
								  'reason', CASE WHEN TG_OP = 'DELETE' THEN 'user removed'
												 WHEN NEW.disabled THEN 'user disabled'
												 ELSE 'role changed' END));
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.user_event() IS
'Trigger: a user whose role changes, who is disabled or who is removed gets a session.revoked event: the front end closes their sockets at once, with 4403 for a disabled account and 4401 otherwise';

CREATE TRIGGER users_event
	AFTER UPDATE OF role, disabled OR DELETE ON workon.users
	FOR EACH ROW WHEN (NOT workon.restoring('workon.users'))
	EXECUTE FUNCTION workon.user_event();

--
-- The caller of the event and message routes
--
CREATE FUNCTION workon.caller_id()
RETURNS uuid
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	RETURN v_user;
END
$$;

COMMENT ON FUNCTION workon.caller_id() IS
'The authenticated caller''s id; WO401 authentication required for anonymous callers';

--
-- Routes, privileges, dump
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary, read_only) VALUES
	('GET', '/api/v1/events', 'workon.events_since(bigint,integer)',
	 'member', 200, 'none', 'My realtime events after an id (what a socket would have received)', true),
	('GET', '/api/v1/ws', 'workon.ws_open(bigint,integer)',
	 'member', 200, 'websocket', 'A WebSocket of my realtime events (?since=: first what I missed after that event id)', true);

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/events', '{"query": {"since": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}, "responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}, "next_cursor": {"type": ["string", "null"]}, "cursor": {"type": "string", "description": "the last id returned, else since: pass it as since"}}, "required": ["data", "next_cursor", "cursor"]}}}'),
	('GET', '/api/v1/ws', '{"query": {"since": {"type": "integer", "minimum": 0, "description": "replay the events after this id first"}}}');

GRANT EXECUTE ON FUNCTION
	workon.event_frame(workon.events),
	workon.events_since(bigint, integer),
	workon.ws_open(bigint, integer),
	workon.caller_id()
	TO workon_member, workon_host, workon_admin;

-- the front end's own calls, outside any request
GRANT EXECUTE ON FUNCTION
	workon.events_publish(),
	workon.events_publish_batch(boolean),
	workon.events_publish_frames(boolean),
	workon.events_fanout(bigint, integer),
	workon.events_head()
	TO workon_authenticator;

SELECT pg_catalog.pg_extension_config_dump('workon.events', '');
SELECT pg_catalog.pg_extension_config_dump('workon.events_id_seq', '');
