/* sql/src/40_messages.sql -- conversations, messages and the realtime event log */

--
-- Conversations: a member and the host of a space, one per (space, member)
--
-- Posting a message locks its conversation row (last_seq + 1), so the
-- messages of a conversation are numbered in commit order and a read
-- marker (the seq read up to) is exact: a message either is read or it
-- is not, whatever commits around it.
--
CREATE TABLE workon.conversations (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	space_id	uuid REFERENCES workon.spaces (id) ON DELETE SET NULL,
	member_id	uuid NOT NULL REFERENCES workon.users (id),
	host_id		uuid NOT NULL REFERENCES workon.users (id),
	last_seq	bigint NOT NULL DEFAULT 0,
	member_read_seq bigint NOT NULL DEFAULT 0,
	host_read_seq bigint NOT NULL DEFAULT 0,
	last_message_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT conversations_participants_check CHECK (member_id <> host_id),
	CONSTRAINT conversations_read_seq_check
		CHECK (member_read_seq BETWEEN 0 AND last_seq AND host_read_seq BETWEEN 0 AND last_seq),
	CONSTRAINT conversations_space_id_member_id_key UNIQUE (space_id, member_id)
);

COMMENT ON TABLE workon.conversations IS
'A member and the host of a space talking about it (one per space and member); last_seq numbers its messages, member_read_seq and host_read_seq say what each participant has read';

CREATE INDEX conversations_member_id_idx ON workon.conversations (member_id);
CREATE INDEX conversations_host_id_idx ON workon.conversations (host_id);

CREATE TRIGGER conversations_set_updated_at
	BEFORE UPDATE ON workon.conversations
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

-- opening a conversation and reading it are audited; a message posted is
-- audited as the message (the update that numbers it moves the sender's
-- read marker too, and is not audited)
CREATE TRIGGER conversations_audit
	AFTER INSERT ON workon.conversations
	FOR EACH ROW WHEN (NOT workon.restoring('workon.conversations'))
	EXECUTE FUNCTION workon.audit_row();

CREATE TRIGGER conversations_read_audit
	AFTER UPDATE OF member_read_seq, host_read_seq ON workon.conversations
	FOR EACH ROW WHEN (OLD.last_seq = NEW.last_seq AND NOT workon.restoring('workon.conversations'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.conversations FORCE ROW LEVEL SECURITY;

-- Its two participants see a conversation, admins too.  Writes go through
-- the conversation functions only.
CREATE POLICY conversations_visible ON workon.conversations
	FOR SELECT
	USING (member_id = workon.current_user_id()
		   OR host_id = workon.current_user_id()
		   OR workon.current_role() = 'admin');

GRANT SELECT ON workon.conversations TO workon_member, workon_host, workon_admin;

CREATE TABLE workon.messages (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	conversation_id uuid NOT NULL REFERENCES workon.conversations (id) ON DELETE CASCADE,
	seq			bigint NOT NULL,
	sender_id	uuid NOT NULL REFERENCES workon.users (id),
	body		text NOT NULL
				CONSTRAINT messages_body_check
				CHECK (pg_catalog.char_length(body) BETWEEN 1 AND 4000),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	CONSTRAINT messages_conversation_id_seq_key UNIQUE (conversation_id, seq)
);

COMMENT ON TABLE workon.messages IS
'Messages of a conversation: seq in commit order within it, body of 1 to 4,000 characters (trimmed)';

CREATE INDEX messages_conversation_id_created_at_idx
	ON workon.messages (conversation_id, created_at DESC, id DESC);

ALTER TABLE workon.messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.messages FORCE ROW LEVEL SECURITY;

-- A message is seen by whoever sees its conversation.
CREATE POLICY messages_visible ON workon.messages
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.conversations AS c WHERE c.id = conversation_id));

GRANT SELECT ON workon.messages TO workon_member, workon_host, workon_admin;

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
-- Conversations and messages: the API
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

CREATE FUNCTION workon.space_seen(space_id uuid)
RETURNS workon.spaces
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_space		workon.spaces;
BEGIN
	IF space_seen.space_id IS NULL THEN
		RAISE EXCEPTION 'space_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;
	-- the visibility rule of workon.spaces, for callers that bypass it
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = space_seen.space_id
	   AND (s.published OR s.host_id = workon.current_user_id() OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_space;
END
$$;

COMMENT ON FUNCTION workon.space_seen(uuid) IS
'The space space_id if the caller may see it (published, theirs, or an admin); 22023 naming space_id when NULL, P0002 space not found otherwise';

CREATE FUNCTION workon.message_json(m workon.messages)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', m.id,
		'conversation_id', m.conversation_id,
		'sender_id', m.sender_id,
		'body', m.body,
		'created_at', m.created_at)
$$;

COMMENT ON FUNCTION workon.message_json(workon.messages) IS
'The API representation of a message';

CREATE FUNCTION workon.conversation_json(c workon.conversations, viewer uuid)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'id', c.id,
		'space_id', c.space_id,
		'member_id', c.member_id,
		'host_id', c.host_id,
		'last_message', (SELECT workon.message_json(m) FROM workon.messages AS m
						  WHERE m.conversation_id = c.id AND m.seq = c.last_seq),
		'unread_count', (SELECT pg_catalog.count(*) FROM workon.messages AS m
						  WHERE m.conversation_id = c.id
							AND m.seq > CASE WHEN viewer = c.member_id THEN c.member_read_seq
											 WHEN viewer = c.host_id THEN c.host_read_seq
											 ELSE c.last_seq END
							AND m.sender_id <> viewer),
		'last_message_at', c.last_message_at,
		'created_at', c.created_at)
$$;

COMMENT ON FUNCTION workon.conversation_json(workon.conversations, uuid) IS
'The API representation of a conversation as one viewer sees it: its last message and the viewer''s unread count (0 for others than the participants)';

-- The conversation for id, locked when asked, if the caller is one of its
-- participants (admins: any, for reading); P0002 otherwise.
CREATE FUNCTION workon.conversation_find(id uuid, for_write boolean)
RETURNS workon.conversations
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_conv		workon.conversations;
BEGIN
	IF for_write THEN
		SELECT * INTO v_conv FROM workon.conversations AS c WHERE c.id = conversation_find.id FOR UPDATE;
	ELSE
		SELECT * INTO v_conv FROM workon.conversations AS c WHERE c.id = conversation_find.id;
	END IF;
	IF NOT FOUND
	   OR NOT (v_user IN (v_conv.member_id, v_conv.host_id)
			   OR (NOT for_write AND workon.current_role() = 'admin')) THEN
		RAISE EXCEPTION 'conversation not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_conv;
END
$$;

COMMENT ON FUNCTION workon.conversation_find(uuid, boolean) IS
'The conversation if the caller takes part in it (for_write false: or is an admin), locked for_write; P0002 conversation not found otherwise';

CREATE FUNCTION workon.conversation_open(space_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_space		workon.spaces := workon.space_seen(conversation_open.space_id);
	v_conv		workon.conversations;
BEGIN
	IF v_space.host_id = v_user THEN
		RAISE EXCEPTION 'the host of a space cannot open a conversation about it with themselves'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;

	INSERT INTO workon.conversations AS c (space_id, member_id, host_id)
	VALUES (v_space.id, v_user, v_space.host_id)
	ON CONFLICT ON CONSTRAINT conversations_space_id_member_id_key DO NOTHING
	RETURNING * INTO v_conv;
	IF NOT FOUND THEN
		SELECT * INTO v_conv FROM workon.conversations AS c
		 WHERE c.space_id = v_space.id AND c.member_id = v_user;
		PERFORM workon.set_response(200);
	END IF;
	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/conversations/' || v_conv.id || '/messages'));
	RETURN workon.conversation_json(v_conv, v_user);
END
$$;

COMMENT ON FUNCTION workon.conversation_open(uuid) IS
'POST /api/v1/conversations: the caller''s conversation with the host of a space the caller can see, created (201) or the existing one (200); 22023 naming space_id for the space''s own host, P0002 for an unknown or unseen space';

-- The pieces every keyset-paginated list shares: its bounds (limit 1..100,
-- default 20, and where the cursor says the previous page ended) and its
-- page ({"data": [...], "next_cursor": ...} from at most limit + 1 rows).
CREATE FUNCTION workon.list_bounds("limit" integer, cursor text,
								   OUT lim integer, OUT after_ts timestamptz, OUT after_id uuid)
RETURNS record
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	lim := COALESCE(list_bounds."limit", 20);
	IF lim < 1 OR lim > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	after_ts := 'infinity';
	after_id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	IF list_bounds.cursor <> '' THEN
		SELECT c.ts, c.id INTO after_ts, after_id FROM workon.cursor_decode(list_bounds.cursor) AS c;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.list_bounds(integer, text) IS
'Bounds of a page of a list: limit 1..100 (default 20; 22023 naming limit otherwise) and the (created_at, id) the cursor names (none: from the start)';

CREATE FUNCTION workon.list_page(items json[], cursors text[], lim integer)
RETURNS json
LANGUAGE sql IMMUTABLE
AS $$
	SELECT workon.json_build(
		'data', pg_catalog.array_to_json(COALESCE(items[1:lim], '{}')),
		'next_cursor', CASE WHEN pg_catalog.cardinality(items) > lim THEN cursors[lim] END)
$$;

COMMENT ON FUNCTION workon.list_page(json[], text[], integer) IS
'A page of a list from at most lim + 1 items in list order and their cursors: {"data": the first lim, "next_cursor": the cursor of the last one if there are more}';

CREATE FUNCTION workon.conversations_list("limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(conversations_list."limit", conversations_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.conversation_json(p.conv, v_user) ORDER BY p.active_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.active_at, p.id) ORDER BY p.active_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT c AS conv, c.id, COALESCE(c.last_message_at, c.created_at) AS active_at
			  FROM workon.conversations AS c
			 WHERE (c.member_id = v_user OR c.host_id = v_user)
			   AND (COALESCE(c.last_message_at, c.created_at), c.id) < (v.after_ts, v.after_id)
			 ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.conversations_list(integer, text) IS
'GET /api/v1/conversations: the caller''s conversations, most recently active first, each with its last message and the caller''s unread count, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20)';

CREATE FUNCTION workon.messages_list(id uuid, "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_conv		workon.conversations := workon.conversation_find(messages_list.id, false);
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(messages_list."limit", messages_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.message_json(m.msg) ORDER BY m.created_at DESC, m.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(m.created_at, m.id) ORDER BY m.created_at DESC, m.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT m AS msg, m.created_at, m.id FROM workon.messages AS m
			 WHERE m.conversation_id = v_conv.id
			   AND (m.created_at, m.id) < (v.after_ts, v.after_id)
			 ORDER BY m.created_at DESC, m.id DESC
			 LIMIT v.lim + 1) AS m;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.messages_list(uuid, integer, text) IS
'GET /api/v1/conversations/{id}/messages: its messages, newest first, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20); P0002 unless the caller takes part in it or is an admin';

CREATE FUNCTION workon.message_post(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_conv		workon.conversations;
	v_text		text;
	v_extra		text;
	v_msg		workon.messages;
BEGIN
	v_extra := (SELECT k FROM pg_catalog.jsonb_object_keys(
					CASE pg_catalog.jsonb_typeof(message_post.body)
						WHEN 'object' THEN message_post.body - 'body' ELSE '{}' END) AS k
				 ORDER BY k LIMIT 1);
	IF v_extra IS NOT NULL THEN
		RAISE EXCEPTION 'unknown parameter'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = v_extra;
	END IF;
	IF pg_catalog.jsonb_typeof(message_post.body -> 'body') IS DISTINCT FROM 'string' THEN
		RAISE EXCEPTION 'body must be a string of 1 to 4000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;
	v_text := pg_catalog.regexp_replace(message_post.body ->> 'body', '^\s+|\s+$', '', 'g');
	IF pg_catalog.char_length(v_text) NOT BETWEEN 1 AND 4000 THEN
		RAISE EXCEPTION 'body must be a string of 1 to 4000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;

	v_conv := workon.conversation_find(message_post.id, true);
	UPDATE workon.conversations AS c
	   SET last_seq = c.last_seq + 1,
		   last_message_at = pg_catalog.clock_timestamp(),
		   member_read_seq = CASE WHEN v_user = c.member_id THEN c.last_seq + 1 ELSE c.member_read_seq END,
		   host_read_seq = CASE WHEN v_user = c.host_id THEN c.last_seq + 1 ELSE c.host_read_seq END
	 WHERE c.id = v_conv.id
	RETURNING * INTO v_conv;

	INSERT INTO workon.messages (conversation_id, seq, sender_id, body, created_at)
	VALUES (v_conv.id, v_conv.last_seq, v_user, v_text, v_conv.last_message_at)
	RETURNING * INTO v_msg;

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/conversations/' || v_conv.id || '/messages'));
	RETURN workon.message_json(v_msg);
END
$$;

COMMENT ON FUNCTION workon.message_post(uuid, jsonb) IS
'POST /api/v1/conversations/{id}/messages {body}: a message from the caller (a participant), body trimmed, 1 to 4,000 characters (22023 naming body otherwise); what the sender wrote counts as read by them; P0002 for others';

CREATE FUNCTION workon.message_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- workon.event_emit's insert, written out: one statement per message
	-- instead of a call that runs it (the participants are two and never
	-- NULL; in uuid order, as event_emit gives them)
	INSERT INTO workon.events (type, recipients, data)
	SELECT 'message.created',
		   CASE WHEN c.member_id < c.host_id THEN ARRAY[c.member_id, c.host_id]
				ELSE ARRAY[c.host_id, c.member_id] END,
		   workon.message_json(NEW)
	  FROM workon.conversations AS c
	 WHERE c.id = NEW.conversation_id;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.message_event() IS
'Trigger: a new message is a message.created event for both participants of its conversation';

CREATE TRIGGER messages_event
	AFTER INSERT ON workon.messages
	FOR EACH ROW WHEN (NOT workon.restoring('workon.messages'))
	EXECUTE FUNCTION workon.message_event();

CREATE TRIGGER messages_audit
	AFTER INSERT ON workon.messages
	FOR EACH ROW WHEN (NOT workon.restoring('workon.messages'))
	EXECUTE FUNCTION workon.audit_row('body');

CREATE FUNCTION workon.conversation_read(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_conv		workon.conversations := workon.conversation_find(conversation_read.id, true);
	v_before	bigint;
BEGIN
	v_before := CASE WHEN v_user = v_conv.member_id THEN v_conv.member_read_seq
					 ELSE v_conv.host_read_seq END;
	IF v_before < v_conv.last_seq THEN
		IF v_user = v_conv.member_id THEN
			UPDATE workon.conversations AS c SET member_read_seq = c.last_seq
			 WHERE c.id = v_conv.id RETURNING * INTO v_conv;
		ELSE
			UPDATE workon.conversations AS c SET host_read_seq = c.last_seq
			 WHERE c.id = v_conv.id RETURNING * INTO v_conv;
		END IF;
		PERFORM workon.event_emit('conversation.read', ARRAY[v_conv.member_id, v_conv.host_id],
								  workon.json_build(
									  'conversation_id', v_conv.id,
									  'user_id', v_user,
									  'last_read_message_id',
									  (SELECT m.id FROM workon.messages AS m
										WHERE m.conversation_id = v_conv.id AND m.seq = v_conv.last_seq)));
	END IF;
	RETURN workon.conversation_json(v_conv, v_user);
END
$$;

COMMENT ON FUNCTION workon.conversation_read(uuid) IS
'POST /api/v1/conversations/{id}/read: every message of the conversation so far is read by the caller (a participant); a conversation.read event for both when that changed anything; P0002 for others';

--
-- Routes, privileges, dump
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary, read_only) VALUES
	('POST', '/api/v1/conversations', 'workon.conversation_open(uuid)',
	 'member', 201, 'json', 'Open a conversation with the host of a space (the existing one: 200)', false),
	('GET', '/api/v1/conversations', 'workon.conversations_list(integer,text)',
	 'member', 200, 'none', 'My conversations with their last message and unread count', true),
	('GET', '/api/v1/conversations/{id}/messages', 'workon.messages_list(uuid,integer,text)',
	 'member', 200, 'none', 'Messages of a conversation, newest first', true),
	('POST', '/api/v1/conversations/{id}/messages', 'workon.message_post(uuid,jsonb)',
	 'member', 201, 'json', 'Post a message', false),
	('POST', '/api/v1/conversations/{id}/read', 'workon.conversation_read(uuid)',
	 'member', 200, 'none', 'Mark a conversation read', false),
	('GET', '/api/v1/events', 'workon.events_since(bigint,integer)',
	 'member', 200, 'none', 'My realtime events after an id (what a socket would have received)', true),
	('GET', '/api/v1/ws', 'workon.ws_open(bigint,integer)',
	 'member', 200, 'websocket', 'A WebSocket of my realtime events (?since=: first what I missed after that event id)', true);

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/conversations', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"space_id": {"$ref": "#/components/schemas/Uuid"}}, "required": ["space_id"]},
		"responses": {"201": {"$ref": "#/components/schemas/Conversation"}, "200": {"$ref": "#/components/schemas/Conversation"}}}'),
	('GET', '/api/v1/conversations', '{"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/ConversationPage"}}}'),
	('GET', '/api/v1/conversations/{id}/messages', '{"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/MessagePage"}}}'),
	('POST', '/api/v1/conversations/{id}/messages', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000, "description": "trimmed"}}, "required": ["body"]},
		"responses": {"201": {"$ref": "#/components/schemas/Message"}}}'),
	('POST', '/api/v1/conversations/{id}/read', '{"responses": {"200": {"$ref": "#/components/schemas/Conversation"}}}'),
	('GET', '/api/v1/events', '{"query": {"since": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}, "responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}, "next_cursor": {"type": ["string", "null"]}, "cursor": {"type": "string", "description": "the last id returned, else since: pass it as since"}}, "required": ["data", "next_cursor", "cursor"]}}}'),
	('GET', '/api/v1/ws', '{"query": {"since": {"type": "integer", "minimum": 0, "description": "replay the events after this id first"}}}');

GRANT EXECUTE ON FUNCTION
	workon.event_frame(workon.events),
	workon.events_since(bigint, integer),
	workon.ws_open(bigint, integer),
	workon.caller_id(),
	workon.space_seen(uuid),
	workon.message_json(workon.messages),
	workon.conversation_json(workon.conversations, uuid),
	workon.conversation_find(uuid, boolean),
	workon.conversation_open(uuid),
	workon.list_bounds(integer, text),
	workon.list_page(json[], text[], integer),
	workon.conversations_list(integer, text),
	workon.messages_list(uuid, integer, text),
	workon.message_post(uuid, jsonb),
	workon.conversation_read(uuid)
	TO workon_member, workon_host, workon_admin;

-- the front end's own calls, outside any request
GRANT EXECUTE ON FUNCTION
	workon.events_publish(),
	workon.events_publish_batch(boolean),
	workon.events_publish_frames(boolean),
	workon.events_fanout(bigint, integer),
	workon.events_head()
	TO workon_authenticator;

SELECT pg_catalog.pg_extension_config_dump('workon.conversations', '');
SELECT pg_catalog.pg_extension_config_dump('workon.messages', '');
SELECT pg_catalog.pg_extension_config_dump('workon.events', '');
SELECT pg_catalog.pg_extension_config_dump('workon.events_id_seq', '');
