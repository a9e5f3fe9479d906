/* sql/src/40_messages.sql -- conversations and messages (their events: 39_events.sql) */

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
-- Conversations and messages: the API
--
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
	 'member', 200, 'none', 'Mark a conversation read', false);

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/conversations', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"space_id": {"$ref": "#/components/schemas/Uuid"}}, "required": ["space_id"]},
		"responses": {"201": {"$ref": "#/components/schemas/Conversation"}, "200": {"$ref": "#/components/schemas/Conversation"}}}'),
	('GET', '/api/v1/conversations', '{"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/ConversationPage"}}}'),
	('GET', '/api/v1/conversations/{id}/messages', '{"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/MessagePage"}}}'),
	('POST', '/api/v1/conversations/{id}/messages', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000, "description": "trimmed"}}, "required": ["body"]},
		"responses": {"201": {"$ref": "#/components/schemas/Message"}}}'),
	('POST', '/api/v1/conversations/{id}/read', '{"responses": {"200": {"$ref": "#/components/schemas/Conversation"}}}');

GRANT EXECUTE ON FUNCTION
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

SELECT pg_catalog.pg_extension_config_dump('workon.conversations', '');
SELECT pg_catalog.pg_extension_config_dump('workon.messages', '');
