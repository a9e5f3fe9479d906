/* sql/src/40_idempotency.sql -- Idempotency-Key: a POST sent again gets the first answer */

--
-- Idempotency keys: a POST sent again with the same Idempotency-Key gets the
-- answer of the first, stored in the transaction of its write
--
CREATE TABLE workon.idempotency_keys (
	scope		text NOT NULL,
	key			text NOT NULL,
	fingerprint	bytea NOT NULL,
	status		integer,
	headers		text,
	body		text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key)
);

COMMENT ON TABLE workon.idempotency_keys IS
'Answers of POST requests sent with an Idempotency-Key, per caller (scope: the user id; anonymous requests, whose answers carry credentials such as a token pair, are never stored), kept 24 hours: the request''s fingerprint (handler, parameters, body) and the status, headers and body the handler gave, written in the transaction of the request''s own changes';

CREATE INDEX idempotency_keys_created_at_idx ON workon.idempotency_keys (created_at);

ALTER TABLE workon.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.idempotency_keys FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.idempotency_begin(p_key text, p_fingerprint bytea, p_token text,
										 OUT scope text, OUT status integer, OUT headers text,
										 OUT body text, OUT replay boolean)
RETURNS record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_row		workon.idempotency_keys;
BEGIN
	IF p_key IS NULL OR pg_catalog.length(p_key) NOT BETWEEN 1 AND 255
	   OR p_key !~ '^[\x21-\x7e]+$' THEN
		RAISE EXCEPTION 'Idempotency-Key must be 1 to 255 visible ASCII characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'Idempotency-Key';
	END IF;
	replay := false;
	-- anonymous answers (a token pair, say) are not kept: scope NULL, the request just runs
	IF p_token IS NULL THEN
		RETURN;
	END IF;
	-- the caller's own keys (a bad token is refused here as by workon.dispatch)
	scope := workon.jwt_verify(p_token) ->> 'sub';
	-- one request per key at a time; the lock lasts until the answer is committed
	IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('workon.idempotency_keys'),
												pg_catalog.hashtext(scope || ' ' || p_key)) THEN
		RAISE EXCEPTION 'a request with this Idempotency-Key is still being processed'
			USING ERRCODE = 'WOI02', HINT = 'Retry once it has been answered.';
	END IF;
	SELECT * INTO v_row FROM workon.idempotency_keys AS k
	 WHERE k.scope = idempotency_begin.scope AND k.key = p_key
	   AND k.created_at > pg_catalog.now() - interval '24 hours';
	replay := FOUND;
	IF replay AND v_row.fingerprint <> p_fingerprint THEN
		RAISE EXCEPTION 'this Idempotency-Key was used for another request'
			USING ERRCODE = 'WOI01', HINT = 'Use a new key for a new request.';
	END IF;
	status := v_row.status;
	headers := v_row.headers;
	body := v_row.body;
END
$$;

COMMENT ON FUNCTION workon.idempotency_begin(text, bytea, text) IS
'For workon.dispatch_idempotent: the caller''s scope (user id of the token; NULL for an anonymous request, which is not kept) and, when the key was used in the last 24 hours for the same request, its stored answer (replay); WOI02 idempotency_key_in_use while another request with the key runs, WOI01 idempotency_key_reused for another request with the key, 22023 for a malformed key';

CREATE FUNCTION workon.idempotency_store(p_key text, p_fingerprint bytea,
										 p_status integer, p_headers text, p_body text)
RETURNS void
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO workon.idempotency_keys AS k (scope, key, fingerprint, status, headers, body)
	SELECT workon.current_user_id()::text, p_key, p_fingerprint, p_status, p_headers, p_body
	 WHERE workon.current_user_id() IS NOT NULL
	ON CONFLICT (scope, key) DO UPDATE
	   SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, headers = EXCLUDED.headers,
		   body = EXCLUDED.body, created_at = pg_catalog.now()
	 WHERE k.created_at <= pg_catalog.now() - interval '24 hours'
$$;

COMMENT ON FUNCTION workon.idempotency_store(text, bytea, integer, text, text) IS
'For workon.dispatch_idempotent, as the caller of the request: stores its answer under the caller''s key (a key older than 24 hours is reused)';

CREATE FUNCTION workon.dispatch_idempotent(handler oid, params jsonb, query jsonb,
										   request_body text, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body text, user_id uuid, outbox_id int8)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	-- a structured-field string ("...") or the bare key
	v_key		text := pg_catalog.regexp_replace(meta #>> '{headers,idempotency-key}', '^"(.*)"$', '\1');
	v_fingerprint bytea := pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.concat_ws(E'\n',
								handler::text, params::text, query::text, request_body), 'UTF8'));
	v_seen		record;
	r			record;
BEGIN
	SELECT * INTO v_seen FROM workon.idempotency_begin(v_key, v_fingerprint, token) AS b;
	IF v_seen.replay THEN
		RETURN QUERY SELECT v_seen.status, v_seen.headers, v_seen.body, v_seen.scope::uuid, NULL::int8;
		RETURN;
	END IF;
	SELECT * INTO r FROM workon.dispatch(handler, params, query, request_body, token, meta) AS d;
	-- an answer still waiting on an outbound call is not final: a retry asks the handler again
	IF r.outbox_id IS NULL AND v_seen.scope IS NOT NULL THEN
		PERFORM workon.idempotency_store(v_key, v_fingerprint, r.status, r.headers, r.body);
	END IF;
	RETURN QUERY SELECT r.status, r.headers, r.body, r.user_id, r.outbox_id;
END
$$;

COMMENT ON FUNCTION workon.dispatch_idempotent(oid, jsonb, jsonb, text, text, jsonb) IS
'workon.dispatch for a POST with an Idempotency-Key (meta.headers.idempotency-key; IETF httpapi draft): the same key and request within 24 hours get the stored answer without running the handler again (the answer is stored in the transaction of the request''s changes, so a retry after a lost answer is safe); another request with the key is WOI01 idempotency_key_reused (422), one while the first still runs WOI02 idempotency_key_in_use (409); per user: an anonymous request (login, registration, refresh: answers with credentials) only has its key checked and runs as usual';

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOI01', 422, 'idempotency_key_reused'),
	('WOI02', 409, 'idempotency_key_in_use');

REVOKE ALL ON FUNCTION workon.idempotency_begin(text, bytea, text), workon.idempotency_store(text, bytea, integer, text, text),
	workon.dispatch_idempotent(oid, jsonb, jsonb, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.idempotency_begin(text, bytea, text),
	workon.dispatch_idempotent(oid, jsonb, jsonb, text, text, jsonb) TO workon_authenticator;
-- the handler has switched to the caller's API role when the answer is stored
GRANT EXECUTE ON FUNCTION workon.idempotency_store(text, bytea, integer, text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- pg_dump: stored answers are data (a retry after a restore still finds them)
SELECT pg_catalog.pg_extension_config_dump('workon.idempotency_keys', '');
