/* sql/src/41_message_emails.sql -- a new message left unread is mailed to its recipient */

--
-- A new message left unread is mailed (workon.message_emails_send)
--
-- The front end calls workon.message_emails_send(connected) periodically
-- with the users that have a live socket on it.  A message unread by its
-- recipient for workon.message_email_delay (MESSAGE_EMAIL_DELAY) is mailed
-- to them, at most once per conversation per delay, and never while they
-- have a live socket (on any front end: each one reports its users, who
-- count as present a minute after its last report, or the delay when it is
-- shorter, at least 5 seconds; the front end reports more often).  The front end does not
-- know which conversation a socket shows (clients send only auth and ping),
-- so any live socket of the recipient holds their mails back.
--
CREATE TABLE workon.socket_presence (
	user_id		uuid PRIMARY KEY REFERENCES workon.users (id) ON DELETE CASCADE,
	until		timestamptz NOT NULL
);

COMMENT ON TABLE workon.socket_presence IS
'Users with a live WebSocket, as the front ends last reported them (workon.message_emails_send): present until until; their unread messages are not mailed meanwhile';

CREATE TABLE workon.message_email_marks (
	conversation_id uuid NOT NULL REFERENCES workon.conversations (id) ON DELETE CASCADE,
	user_id		uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	mailed_seq	bigint NOT NULL,
	mailed_at	timestamptz NOT NULL,
	PRIMARY KEY (conversation_id, user_id)
);

COMMENT ON TABLE workon.message_email_marks IS
'The last new-message mail of a conversation to a participant: the messages up to mailed_seq were in it, sent at mailed_at (the next one waits a delay after it and names later messages only)';

-- only workon.message_emails_send reads and writes them
ALTER TABLE workon.socket_presence ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.socket_presence FORCE ROW LEVEL SECURITY;
ALTER TABLE workon.message_email_marks ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.message_email_marks FORCE ROW LEVEL SECURITY;

CREATE INDEX conversations_last_message_at_idx ON workon.conversations (last_message_at);

CREATE FUNCTION workon.message_emails_send(connected uuid[] DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the setting's default repeated: a session may not have loaded the module
	v_delay		interval := COALESCE(NULLIF(pg_catalog.current_setting('workon.message_email_delay', true), ''),
									 '10min')::interval;
	v_now		timestamptz := pg_catalog.now();
	v_count		integer := 0;
	r			record;
BEGIN
	INSERT INTO workon.socket_presence AS p (user_id, until)
	SELECT DISTINCT u.id, v_now + LEAST(interval '1 minute', GREATEST(v_delay, interval '5 seconds'))
	  FROM workon.users AS u
	 WHERE u.id = ANY (COALESCE(message_emails_send.connected, '{}'))
	ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until;
	DELETE FROM workon.socket_presence AS p WHERE p.until <= v_now;

	-- one front end at a time mails; the others only reported their users
	IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('workon.message_emails_send')) THEN
		RETURN 0;
	END IF;

	FOR r IN
		SELECT c.id AS conversation_id, c.last_seq, x.user_id, x.read_seq,
			   c.last_seq - x.read_seq AS unread,
			   o.name AS sender_name, s.name AS space_name,
			   (SELECT m.body FROM workon.messages AS m
				 WHERE m.conversation_id = c.id AND m.seq = c.last_seq) AS last_body
		  FROM workon.conversations AS c
		 CROSS JOIN LATERAL (VALUES (c.member_id, c.member_read_seq, c.host_id),
									(c.host_id, c.host_read_seq, c.member_id)) AS x (user_id, read_seq, other_id)
		  JOIN workon.users AS u ON u.id = x.user_id AND NOT u.disabled
		  JOIN workon.users AS o ON o.id = x.other_id
		  LEFT JOIN workon.spaces AS s ON s.id = c.space_id
		  LEFT JOIN workon.message_email_marks AS k ON k.conversation_id = c.id AND k.user_id = x.user_id
		 -- messages older than a day past the delay are never mailed (after an update, say)
		 WHERE c.last_message_at <= v_now - v_delay
		   AND c.last_message_at > v_now - v_delay - interval '1 day'
		   AND x.read_seq < c.last_seq
		   AND (k.mailed_at IS NULL OR k.mailed_at <= v_now - v_delay)
		   AND NOT EXISTS (SELECT FROM workon.socket_presence AS p
							WHERE p.user_id = x.user_id AND p.until > v_now)
		   AND EXISTS (SELECT FROM workon.messages AS m
						WHERE m.conversation_id = c.id
						  AND m.seq > GREATEST(x.read_seq, COALESCE(k.mailed_seq, 0))
						  AND m.created_at <= v_now - v_delay
						  AND m.created_at > v_now - v_delay - interval '1 day')
		 ORDER BY c.last_message_at
		 LIMIT 1000
	LOOP
		PERFORM workon.email_send(r.user_id, 'message_unread',
			pg_catalog.jsonb_build_object(
				'conversation_id', r.conversation_id,
				'sender_name', r.sender_name,
				'space_name', COALESCE(r.space_name, ''),
				'unread_count', r.unread,
				'excerpt', CASE WHEN pg_catalog.char_length(r.last_body) > 280
								THEN pg_catalog.left(r.last_body, 279) || '…' ELSE r.last_body END,
				'link', workon.app_url() || '/conversations/' || r.conversation_id),
			'message_unread:' || r.conversation_id || ':' || r.user_id || ':' || r.last_seq);
		INSERT INTO workon.message_email_marks AS k (conversation_id, user_id, mailed_seq, mailed_at)
		VALUES (r.conversation_id, r.user_id, r.last_seq, v_now)
		ON CONFLICT (conversation_id, user_id)
		DO UPDATE SET mailed_seq = EXCLUDED.mailed_seq, mailed_at = EXCLUDED.mailed_at;
		v_count := v_count + 1;
	END LOOP;
	RETURN v_count;
END
$$;

COMMENT ON FUNCTION workon.message_emails_send(uuid[]) IS
'For the front end, called periodically with the users that have a live socket on it (present for a minute after, or the delay when shorter, at least 5 seconds): queues a message_unread mail to each participant with a message unread for workon.message_email_delay (MESSAGE_EMAIL_DELAY, 10 minutes), at most one per conversation and participant per delay and only for messages not in an earlier one, none while they are present, none for messages older than a day past the delay; returns how many were queued (0 while another front end is at it)';

--
-- Privileges: the front end's own call, outside any request
--
GRANT EXECUTE ON FUNCTION workon.message_emails_send(uuid[])
	TO workon_authenticator;
GRANT SET ON PARAMETER workon.message_email_delay TO workon_authenticator;
