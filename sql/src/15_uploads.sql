/* sql/src/15_uploads.sql -- uploaded files: signed URLs, checks on content, avatars (space photos: 20_spaces.sql) */

--
-- A file is uploaded in two steps: POST /api/v1/uploads declares it
-- (filename, content type, size) and gets a signed URL; PUT of the bytes to
-- that URL stores them once they are found to be what was declared.  Its
-- bytes live in a table of their own (workon.upload_data), so that pg_dump
-- keeps them and a metadata query never reads them.  Downloads go through
-- a signed URL too, or, for a file attached to something published (a
-- photo of a published space), through its stable public URL without a
-- signature.  Signing, verification and the checks on content are C
-- (extension/upload.c); the rules of who sees what are here.
--

--
-- Signatures and checks (extension/upload.c)
--
CREATE FUNCTION workon.url_signature(key bytea, method text, path text, expires bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'url_signature'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.url_signature(bytea, text, text, bigint) IS
'The sig parameter of a signed URL: unpadded base64url HMAC-SHA256 under key (at least 32 bytes) of "METHOD\npath\nexpires" (expires in Unix seconds)';

-- not strict: a URL without expires or sig is not signed
CREATE FUNCTION workon.url_signature_check(keys bytea[], method text, path text, expires bigint,
										   sig text, now timestamptz DEFAULT pg_catalog.now())
RETURNS void
AS 'MODULE_PATHNAME', 'url_signature_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.url_signature_check(bytea[], text, text, bigint, text, timestamptz) IS
'Error WOU01 invalid_url_signature unless sig is the signature of method, path and expires under one of the keys (constant-time comparison) and expires is not before now; the message says which (not signed, does not match, expired)';

CREATE FUNCTION workon.file_type(bytes bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'file_type'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.file_type(bytea) IS
'What the bytes are by their magic: image/jpeg, image/png, image/webp or application/pdf; NULL for anything else';

CREATE FUNCTION workon.file_check(bytes bytea, content_type text)
RETURNS void
AS 'MODULE_PATHNAME', 'file_check'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.file_check(bytea, text) IS
'Accepts an uploaded file: at most workon.upload_max_bytes (else WOU02 payload_too_large), a JPEG, PNG, WebP or PDF by its content and of the declared content_type, without markup (<script, <html, <!doctype, ...) in its first kilobyte (else WOU03 unsupported_media_type)';

CREATE FUNCTION workon.content_disposition(disposition text, filename text)
RETURNS text
AS 'MODULE_PATHNAME', 'content_disposition'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.content_disposition(text, text) IS
'A Content-Disposition header value per RFC 6266: inline or attachment, an ASCII filename fallback and filename* with the UTF-8 name percent-encoded';

--
-- URL signing keys: derived from SIGNED_URL_SECRET, seeded by the front end
-- at start; a random one until then.  Several are valid while one is being
-- rolled.  Read only by the SECURITY DEFINER functions below.
--
CREATE TABLE workon.signed_url_keys (
	id			text PRIMARY KEY,
	key			bytea NOT NULL
				CONSTRAINT signed_url_keys_key_check CHECK (pg_catalog.length(key) >= 32),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz
);

COMMENT ON TABLE workon.signed_url_keys IS
'Keys signed URLs are signed with: the newest without expires_at signs, all unexpired ones verify; a key replaced by another seeded one stays valid for an hour (longer than any signed URL lives)';

ALTER TABLE workon.signed_url_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.signed_url_keys FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.seed_signed_url_secret(secret text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key		bytea;
	v_id		text;
BEGIN
	IF seed_signed_url_secret.secret IS NULL OR pg_catalog.length(seed_signed_url_secret.secret) < 32 THEN
		RAISE EXCEPTION 'signed URL secret must be at least 32 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;
	v_key := workon.hmac_sha256(pg_catalog.convert_to(seed_signed_url_secret.secret, 'UTF8'),
								pg_catalog.convert_to('workon signed url key', 'UTF8'));
	v_id := 'seed-' || pg_catalog.left(pg_catalog.encode(
		workon.hmac_sha256(v_key, pg_catalog.convert_to('workon signed url key id', 'UTF8')), 'hex'), 20);

	-- the others stay valid for an hour, the seeded one for good
	UPDATE workon.signed_url_keys AS k
	   SET expires_at = pg_catalog.now() + interval '1 hour'
	 WHERE k.id <> v_id AND k.expires_at IS NULL;
	INSERT INTO workon.signed_url_keys AS k (id, key)
	VALUES (v_id, v_key)
	ON CONFLICT (id) DO UPDATE SET expires_at = NULL, created_at = pg_catalog.now()
		WHERE k.expires_at IS NOT NULL;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'signed_url_keys', v_id);
	END IF;
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION workon.seed_signed_url_secret(text) IS
'Idempotent, for the front end at start with SIGNED_URL_SECRET (at least 32 characters): URLs are signed with a key derived from it; a previously seeded different key stays valid for an hour. Returns true when the signing key changed';

CREATE FUNCTION workon.signed_url(method text, path text, ttl integer DEFAULT 900)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key		bytea;
	v_expires	bigint := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint
						  + signed_url.ttl;
BEGIN
	SELECT k.key INTO v_key
	  FROM workon.signed_url_keys AS k
	 WHERE k.expires_at IS NULL
	 ORDER BY k.created_at DESC, k.id
	 LIMIT 1;
	IF NOT FOUND THEN
		-- no SIGNED_URL_SECRET seeded (development): a random key
		v_key := pg_catalog.decode(pg_catalog.md5(pg_catalog.gen_random_uuid()::text)
								   || pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 'hex');
		INSERT INTO workon.signed_url_keys (id, key)
		VALUES ('random-' || pg_catalog.left(pg_catalog.encode(
					workon.hmac_sha256(v_key, pg_catalog.convert_to('workon signed url key id', 'UTF8')), 'hex'), 20),
				v_key);
	END IF;
	RETURN signed_url.path || '?expires=' || v_expires
		|| '&sig=' || workon.url_signature(v_key, signed_url.method, signed_url.path, v_expires);
END
$$;

COMMENT ON FUNCTION workon.signed_url(text, text, integer) IS
'path with the query expires (now + ttl seconds) and sig of a URL signed for method with the current key';

CREATE FUNCTION workon.signed_url_verify(method text, path text, expires bigint, sig text)
RETURNS void
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.url_signature_check(
		ARRAY(SELECT k.key FROM workon.signed_url_keys AS k
			   WHERE k.expires_at IS NULL OR k.expires_at > pg_catalog.now()),
		signed_url_verify.method, signed_url_verify.path,
		signed_url_verify.expires, signed_url_verify.sig)
$$;

COMMENT ON FUNCTION workon.signed_url_verify(text, text, bigint, text) IS
'workon.url_signature_check with the valid keys: error WOU01 unless the URL of method and path with query expires and sig was signed by workon.signed_url and has not expired';

--
-- Uploads and their bytes
--
CREATE TABLE workon.uploads (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	owner_id	uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	filename	text NOT NULL
				CONSTRAINT uploads_filename_check
				CHECK (pg_catalog.length(filename) BETWEEN 1 AND 255
					   AND filename !~ '[[:cntrl:]/\\]'),
	content_type text NOT NULL
				CONSTRAINT uploads_content_type_check
				CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')),
	size		bigint NOT NULL
				CONSTRAINT uploads_size_check CHECK (size > 0),
	sha256		bytea
				CONSTRAINT uploads_sha256_check CHECK (pg_catalog.length(sha256) = 32),
	state		text NOT NULL DEFAULT 'pending'
				CONSTRAINT uploads_state_check CHECK (state IN ('pending', 'stored')),
	store		text NOT NULL DEFAULT 'postgres'
				CONSTRAINT uploads_store_check CHECK (store IN ('postgres', 's3')),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	stored_at	timestamptz,
	s3_key		text
				CONSTRAINT uploads_s3_key_key UNIQUE
				CONSTRAINT uploads_s3_key_check CHECK (s3_key ~ '^uploads/[0-9a-f]{64}$'),
	CONSTRAINT uploads_stored_check
		CHECK ((state = 'stored') = (sha256 IS NOT NULL AND stored_at IS NOT NULL)),
	CONSTRAINT uploads_store_key_check
		CHECK ((store = 's3') = (s3_key IS NOT NULL))
);

COMMENT ON TABLE workon.uploads IS
'Uploaded files: owner, filename, content_type (checked on the bytes), size (declared while pending, actual once stored), sha256 of the bytes, state pending (URL handed out) or stored, store where the bytes are (postgres: workon.upload_data; s3: the bucket, under s3_key, a random name unrelated to the id)';

CREATE INDEX uploads_owner_id_idx ON workon.uploads (owner_id);
CREATE INDEX uploads_pending_created_at_idx ON workon.uploads (created_at) WHERE state = 'pending';

-- The bytes; stored uncompressed (images and PDFs are compressed already),
-- so a range of them is read without reading the rest.
CREATE TABLE workon.upload_data (
	upload_id	uuid PRIMARY KEY REFERENCES workon.uploads (id) ON DELETE CASCADE,
	bytes		bytea NOT NULL
);

ALTER TABLE workon.upload_data ALTER COLUMN bytes SET STORAGE EXTERNAL;

COMMENT ON TABLE workon.upload_data IS
'The bytes of uploads kept in PostgreSQL (store postgres); read and written only through the upload functions';

ALTER TABLE workon.upload_data ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.upload_data FORCE ROW LEVEL SECURITY;

CREATE TRIGGER uploads_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.uploads
	FOR EACH ROW WHEN (NOT workon.restoring('workon.uploads'))
	EXECUTE FUNCTION workon.audit_row();

-- A user's avatar: public, like a photo of a published space.  A table of
-- its own, not a column of users, so that users and uploads do not refer to
-- each other (pg_dump restores their rows in order).
CREATE TABLE workon.user_avatars (
	user_id		uuid PRIMARY KEY REFERENCES workon.users (id) ON DELETE CASCADE,
	upload_id	uuid NOT NULL REFERENCES workon.uploads (id)
				CONSTRAINT user_avatars_upload_id_key UNIQUE,
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.user_avatars IS
'Each user''s avatar: an image they uploaded, public at its URL; replaced or removed, the file is deleted';

ALTER TABLE workon.user_avatars ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.user_avatars FORCE ROW LEVEL SECURITY;

-- avatars are public
CREATE POLICY user_avatars_visible ON workon.user_avatars
	FOR SELECT
	USING (true);

GRANT SELECT ON workon.user_avatars
	TO workon_anon, workon_member, workon_host, workon_admin;

CREATE TRIGGER user_avatars_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.user_avatars
	FOR EACH ROW WHEN (NOT workon.restoring('workon.user_avatars'))
	EXECUTE FUNCTION workon.audit_row();

CREATE FUNCTION workon.upload_public(id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- PL/pgSQL: space_photos is created with the spaces (20_spaces.sql)
	RETURN EXISTS (SELECT FROM workon.space_photos AS p
					 JOIN workon.spaces AS s ON s.id = p.space_id
					WHERE p.upload_id = upload_public.id AND s.published)
		OR EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = upload_public.id)
		-- the cover of a published blog post (50_posts.sql)
		OR EXISTS (SELECT FROM workon.posts AS bp
					WHERE bp.cover_upload_id = upload_public.id AND bp.published_at <= pg_catalog.now());
END
$$;

COMMENT ON FUNCTION workon.upload_public(uuid) IS
'True when the upload is attached to something published (a photo of a published space, a user''s avatar, the cover of a published blog post): anyone may download it at its public URL';

ALTER TABLE workon.uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.uploads FORCE ROW LEVEL SECURITY;

-- Owners and admins see uploads, everyone sees public ones
CREATE POLICY uploads_visible ON workon.uploads
	FOR SELECT
	USING (owner_id = workon.current_user_id()
		   OR workon.current_role() = 'admin'
		   OR workon.upload_public(id));

GRANT SELECT ON workon.uploads
	TO workon_anon, workon_member, workon_host, workon_admin;

-- A file no longer attached to anything is deleted with its bytes
CREATE FUNCTION workon.upload_release()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid := OLD.upload_id;
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.upload_id = NEW.upload_id THEN
		RETURN NULL;
	END IF;
	DELETE FROM workon.uploads AS u
	 WHERE u.id = v_id
	   AND NOT EXISTS (SELECT FROM workon.space_photos AS p WHERE p.upload_id = v_id)
	   AND NOT EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = v_id)
	   AND NOT EXISTS (SELECT FROM workon.posts AS bp WHERE bp.cover_upload_id = v_id);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.upload_release() IS
'Trigger: a photo removed from its space (or deleted with it) and an avatar replaced or removed are deleted with their bytes';

CREATE TRIGGER user_avatars_release
	AFTER UPDATE OR DELETE ON workon.user_avatars
	FOR EACH ROW WHEN (NOT workon.restoring('workon.user_avatars'))
	EXECUTE FUNCTION workon.upload_release();

-- The object of a file in the bucket that is deleted (or rekeyed by a new
-- PUT) is deleted by the front end: an outbox row of kind s3
CREATE FUNCTION workon.upload_s3_forget()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.s3_key IS NOT DISTINCT FROM NEW.s3_key THEN
		RETURN NULL;
	END IF;
	-- PL/pgSQL: the outbox is created later (31_outbox.sql)
	INSERT INTO workon.outbox (kind, purpose, method, path, params, idempotency_key)
	VALUES ('s3', 's3_delete', 'DELETE', '/' || OLD.s3_key, '{}', 's3-delete-' || OLD.s3_key)
	ON CONFLICT (idempotency_key) DO NOTHING;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.upload_s3_forget() IS
'Trigger: an upload of the S3 store deleted, or given a new key by another PUT, queues the deletion of its object (outbox kind s3, purpose s3_delete, DELETE /<key>)';

CREATE TRIGGER uploads_s3_forget
	AFTER UPDATE OF s3_key OR DELETE ON workon.uploads
	FOR EACH ROW WHEN (OLD.s3_key IS NOT NULL AND NOT workon.restoring('workon.uploads'))
	EXECUTE FUNCTION workon.upload_s3_forget();

--
-- The API representation
--
CREATE FUNCTION workon.upload_path(id uuid)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT '/api/v1/uploads/' || upload_path.id || '/content'
$$;

COMMENT ON FUNCTION workon.upload_path(uuid) IS
'The path an upload''s bytes are sent to and read from; with no query it is the file''s public URL';

CREATE FUNCTION workon.upload_json(u workon.uploads)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build(
		'id', u.id,
		'owner_id', u.owner_id,
		'filename', u.filename,
		'content_type', u.content_type,
		'size', u.size,
		'state', u.state,
		'sha256', pg_catalog.encode(u.sha256, 'hex'),
		'created_at', u.created_at,
		'public', workon.upload_public(u.id),
		'download_url', CASE WHEN u.state = 'stored' THEN
						    workon.signed_url('GET', workon.upload_path(u.id))
						END)
$$;

COMMENT ON FUNCTION workon.upload_json(workon.uploads) IS
'The API representation of an upload, with a fresh signed download_url once its bytes are stored';

--
-- Clean-up: uploads never finished
--
CREATE FUNCTION workon.uploads_cleanup()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_count		integer;
BEGIN
	DELETE FROM workon.uploads AS u
	 WHERE u.id IN (SELECT p.id FROM workon.uploads AS p
					 WHERE p.state = 'pending'
					   AND p.created_at < pg_catalog.now() - interval '1 day'
					 ORDER BY p.created_at
					 LIMIT 1000
					   FOR UPDATE SKIP LOCKED);
	GET DIAGNOSTICS v_count = ROW_COUNT;
	RETURN v_count;
END
$$;

COMMENT ON FUNCTION workon.uploads_cleanup() IS
'Deletes uploads still pending a day after they were declared (at most 1000 per call; POST /api/v1/uploads calls it too, so no job is needed); returns how many';

--
-- Route handlers
--
CREATE FUNCTION workon.upload_create(filename text DEFAULT NULL, content_type text DEFAULT NULL,
									 size bigint DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_id		uuid;
	v_url		text;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF upload_create.filename IS NULL OR pg_catalog.btrim(upload_create.filename) = '' THEN
		RAISE EXCEPTION 'filename is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'filename';
	END IF;
	IF pg_catalog.length(upload_create.filename) > 255
	   OR upload_create.filename ~ '[[:cntrl:]/\\]' THEN
		RAISE EXCEPTION 'filename must be at most 255 characters, without control characters or path separators'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'filename';
	END IF;
	IF upload_create.content_type IS NULL THEN
		RAISE EXCEPTION 'content_type is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'content_type';
	END IF;
	IF upload_create.content_type NOT IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf') THEN
		RAISE EXCEPTION 'content_type must be one of image/jpeg, image/png, image/webp, application/pdf'
			USING ERRCODE = 'WOU03', COLUMN = 'content_type';
	END IF;
	IF upload_create.size IS NULL OR upload_create.size < 1 THEN
		RAISE EXCEPTION 'size must be a number of bytes, at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'size';
	END IF;
	IF upload_create.size > pg_catalog.current_setting('workon.upload_max_bytes')::bigint THEN
		RAISE EXCEPTION 'size must be at most % bytes', pg_catalog.current_setting('workon.upload_max_bytes')
			USING ERRCODE = 'WOU02', COLUMN = 'size';
	END IF;

	PERFORM workon.uploads_cleanup();

	INSERT INTO workon.uploads (owner_id, filename, content_type, size)
	VALUES (v_user, upload_create.filename, upload_create.content_type, upload_create.size)
	RETURNING id INTO v_id;
	v_url := workon.signed_url('PUT', workon.upload_path(v_id));

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/uploads/' || v_id));
	RETURN workon.json_build(
		'id', v_id,
		'upload_url', v_url,
		'expires_at', pg_catalog.to_timestamp(pg_catalog.substring(v_url, 'expires=([0-9]+)')::bigint));
END
$$;

COMMENT ON FUNCTION workon.upload_create(text, text, bigint) IS
'POST /api/v1/uploads (member): declares a file (filename, content_type one of image/jpeg, image/png, image/webp, application/pdf, size in bytes) and returns {id, upload_url, expires_at}: PUT the bytes to upload_url (signed, valid 15 minutes, once); WOU02 payload_too_large above workon.upload_max_bytes, WOU03 unsupported_media_type for another type. An upload never finished is deleted after a day';

CREATE FUNCTION workon.upload_put(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL,
								  body bytea DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
BEGIN
	PERFORM workon.signed_url_verify('PUT', workon.upload_path(upload_put.id),
									 upload_put.expires, upload_put.sig);

	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_put.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v.state <> 'pending' THEN
		RAISE EXCEPTION 'upload URL was used already'
			USING ERRCODE = 'WOU04',
				  HINT = 'Declare a new upload to send another file.';
	END IF;
	PERFORM workon.file_check(COALESCE(upload_put.body, ''::bytea), v.content_type);
	-- the URL was signed for the declared size: no more bytes than that
	-- (fewer are stored, and the size recorded is theirs)
	IF pg_catalog.length(upload_put.body) > v.size THEN
		RAISE EXCEPTION 'file is larger than the % bytes declared', v.size
			USING ERRCODE = 'WOU02',
				  HINT = 'Declare a new upload of the file''s size.';
	END IF;

	IF pg_catalog.current_setting('workon.upload_store') = 's3' THEN
		-- checked: the front end writes the bytes to the bucket under a new
		-- random key, then confirms with workon.upload_s3_stored(key)
		UPDATE workon.uploads AS u
		   SET store = 's3', size = pg_catalog.length(upload_put.body),
			   sha256 = pg_catalog.sha256(upload_put.body),
			   s3_key = 'uploads/' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
							pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, 'UTF8')), 'hex')
		 WHERE u.id = v.id
		RETURNING * INTO v;
		PERFORM workon.set_response(202);
		PERFORM workon.set_store_transfer('put', v.s3_key, v.sha256, v.content_type);
		RETURN NULL;
	END IF;

	INSERT INTO workon.upload_data (upload_id, bytes) VALUES (v.id, upload_put.body);
	UPDATE workon.uploads AS u
	   SET state = 'stored', size = pg_catalog.length(upload_put.body),
		   sha256 = pg_catalog.sha256(upload_put.body), stored_at = pg_catalog.now(),
		   store = 'postgres', s3_key = NULL
	 WHERE u.id = v.id
	RETURNING * INTO v;

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/uploads/' || v.id));
	RETURN workon.upload_json(v);
END
$$;

COMMENT ON FUNCTION workon.upload_put(uuid, bigint, text, bytea) IS
'PUT /api/v1/uploads/{id}/content?expires=&sig= (the signed upload_url; no token needed): stores the bytes once and returns the upload with a download_url; WOU01 invalid_url_signature for a URL not signed for this upload and PUT or expired, WOU04 upload_url_used once stored, WOU02 payload_too_large above workon.upload_max_bytes or the size declared (fewer bytes are stored and their size recorded), WOU03 unsupported_media_type when the bytes are not of the declared type or carry markup. With workon.upload_store = s3 the checked upload gets a random bucket key and the answer is the front end''s store transfer (status 202, workon.set_store_transfer put with the key, SHA-256 and content type): it writes the bytes there, then workon.upload_s3_stored(key) answers';

CREATE FUNCTION workon.upload_get(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
BEGIN
	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_get.id;
	IF NOT FOUND
	   OR NOT (v.owner_id = workon.current_user_id()
			   OR workon.current_role() = 'admin'
			   OR workon.upload_public(v.id)) THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN workon.upload_json(v);
END
$$;

COMMENT ON FUNCTION workon.upload_get(uuid) IS
'GET /api/v1/uploads/{id} (member): the upload with a fresh signed download_url (its owner, admins, anyone for a public file); P0002 otherwise';

CREATE FUNCTION workon.upload_content(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL,
									  meta jsonb DEFAULT NULL)
RETURNS bytea
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
	v_bytes		bytea;
	v_cache		text;
	v_etag		text;
	v_headers	jsonb;
	v_range		text[];
	v_first		bigint;
	v_last		bigint;
BEGIN
	IF upload_content.expires IS NOT NULL OR upload_content.sig IS NOT NULL THEN
		PERFORM workon.signed_url_verify('GET', workon.upload_path(upload_content.id),
										 upload_content.expires, upload_content.sig);
		-- private: kept by the browser until the URL expires, never by shared caches
		v_cache := 'private, max-age=' || GREATEST(0, upload_content.expires
						- pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint);
	ELSIF workon.upload_public(upload_content.id) THEN
		-- public: its bytes never change; a day bounds how long a file
		-- unpublished since stays in caches
		v_cache := 'public, max-age=86400';
	ELSE
		PERFORM workon.signed_url_verify('GET', workon.upload_path(upload_content.id), NULL, NULL);
	END IF;

	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_content.id AND u.state = 'stored';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	v_etag := '"' || pg_catalog.encode(v.sha256, 'hex') || '"';
	v_headers := pg_catalog.jsonb_build_object(
		'Content-Type', v.content_type,
		'Content-Disposition', workon.content_disposition(
			CASE WHEN v.content_type LIKE 'image/%' THEN 'inline' ELSE 'attachment' END, v.filename),
		'Cache-Control', v_cache,
		'ETag', v_etag,
		'X-Content-Type-Options', 'nosniff',
		'Content-Security-Policy', 'default-src ''none''; frame-ancestors ''none''; sandbox');

	-- If-None-Match (a list of tags, weak comparison, or *): 304 from the
	-- metadata, no byte read
	IF EXISTS (SELECT FROM pg_catalog.regexp_split_to_table(
							   upload_content.meta #>> '{headers,if-none-match}', ',') AS t(tag)
				WHERE pg_catalog.regexp_replace(pg_catalog.btrim(t.tag, E' \t'), '^W/', '') IN ('*', v_etag)) THEN
		PERFORM workon.set_response(304, v_headers);
		RETURN NULL;
	END IF;

	-- in the bucket: the front end redirects to a presigned URL of the key
	-- (the bucket answers Range itself)
	IF v.store = 's3' THEN
		PERFORM workon.set_response(200, v_headers);
		PERFORM workon.set_store_transfer('get', v.s3_key);
		RETURN NULL;
	END IF;

	-- Range: one range of bytes (a-b, a-, -n), when If-Range is absent or the
	-- ETag; several ranges, another unit or a malformed value get the whole
	-- file (the front end adds Accept-Ranges to a 200). Only the range is
	-- read: the bytes are stored uncompressed (STORAGE EXTERNAL), so
	-- substring fetches only the TOAST chunks it needs
	v_range := pg_catalog.regexp_match(pg_catalog.btrim(upload_content.meta #>> '{headers,range}', E' \t'),
									   '^[Bb][Yy][Tt][Ee][Ss]=[ \t]*([0-9]{0,18})-([0-9]{0,18})$');
	IF v_range IS NOT NULL AND v_range <> '{"",""}'
	   AND COALESCE(pg_catalog.btrim(upload_content.meta #>> '{headers,if-range}', E' \t') = v_etag, true)
	   AND NOT (v_range[1] <> '' AND v_range[2] <> '' AND v_range[2]::bigint < v_range[1]::bigint) THEN
		IF v_range[1] = '' THEN
			-- the last n bytes
			v_first := GREATEST(v.size - v_range[2]::bigint, 0);
			v_last := CASE WHEN v_range[2]::bigint = 0 THEN -1 ELSE v.size - 1 END;
		ELSE
			v_first := v_range[1]::bigint;
			v_last := LEAST(COALESCE(NULLIF(v_range[2], '')::bigint, v.size - 1), v.size - 1);
		END IF;
		IF v_first >= v.size OR v_last < v_first THEN
			PERFORM workon.set_response(416, v_headers || pg_catalog.jsonb_build_object(
				'Content-Range', 'bytes */' || v.size));
			RETURN NULL;
		END IF;
		SELECT pg_catalog.substr(d.bytes, (v_first + 1)::integer, (v_last - v_first + 1)::integer) INTO v_bytes
		  FROM workon.upload_data AS d WHERE d.upload_id = v.id;
		PERFORM workon.set_response(206, v_headers || pg_catalog.jsonb_build_object(
			'Content-Range', 'bytes ' || v_first || '-' || v_last || '/' || v.size));
		RETURN v_bytes;
	END IF;

	SELECT d.bytes INTO v_bytes FROM workon.upload_data AS d WHERE d.upload_id = v.id;
	PERFORM workon.set_response(200, v_headers);
	RETURN v_bytes;
END
$$;

COMMENT ON FUNCTION workon.upload_content(uuid, bigint, text, jsonb) IS
'GET /api/v1/uploads/{id}/content: the bytes, with a signed URL (expires, sig; from download_url) or, for a public file, without; Content-Type, Content-Disposition (inline for images, attachment for PDFs), ETag (the SHA-256), Cache-Control (private until the URL expires, public for a day), nosniff and a sandboxing Content-Security-Policy; WOU01 invalid_url_signature for an unsigned URL of a private file or a bad signature. meta.headers (the front end passes them): If-None-Match matching the ETag is 304 without reading the bytes; Range of one byte range (a-b, a-, -n; If-Range, when sent, equal to the ETag) is 206 with Content-Range and only that part read, 416 with Content-Range bytes */size when it starts past the end; several ranges or a malformed one get the whole file. A file in the bucket (store s3) has no bytes here: the handler asks the front end for a store transfer get of its key (workon.set_store_transfer: a redirect to a presigned URL, to which Range goes)';

CREATE FUNCTION workon.upload_s3_stored(key text)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
BEGIN
	UPDATE workon.uploads AS u
	   SET state = 'stored', stored_at = pg_catalog.now()
	 WHERE u.s3_key = upload_s3_stored.key AND u.store = 's3' AND u.state = 'pending'
	RETURNING * INTO v;
	IF NOT FOUND THEN
		-- stored already, or another PUT of the same URL took a new key meanwhile
		RAISE EXCEPTION 'upload URL was used already'
			USING ERRCODE = 'WOU04',
				  HINT = 'Declare a new upload to send another file.';
	END IF;
	RETURN workon.upload_json(v);
END
$$;

COMMENT ON FUNCTION workon.upload_s3_stored(text) IS
'For the front end (workon_authenticator) once the bucket took the bytes workon.upload_put checked under key: the upload is stored; returns it with a download_url. WOU04 upload_url_used when no pending upload has that key';

CREATE FUNCTION workon.avatar_set(upload_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF avatar_set.upload_id IS NOT NULL
	   AND NOT EXISTS (SELECT FROM workon.uploads AS u
					    WHERE u.id = avatar_set.upload_id AND u.owner_id = v_user
						  AND u.state = 'stored' AND u.content_type LIKE 'image/%'
						  AND NOT EXISTS (SELECT FROM workon.space_photos AS p WHERE p.upload_id = u.id)) THEN
		RAISE EXCEPTION 'upload_id must name a stored image of yours that is not a space''s photo'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_id';
	END IF;
	IF avatar_set.upload_id IS NULL THEN
		DELETE FROM workon.user_avatars AS a WHERE a.user_id = v_user;
	ELSE
		INSERT INTO workon.user_avatars AS a (user_id, upload_id)
		VALUES (v_user, avatar_set.upload_id)
		ON CONFLICT (user_id) DO UPDATE SET upload_id = EXCLUDED.upload_id, updated_at = pg_catalog.now()
			WHERE a.upload_id <> EXCLUDED.upload_id;
	END IF;
	RETURN workon.json_build(
		'avatar_upload_id', avatar_set.upload_id,
		'avatar_url', workon.upload_path(avatar_set.upload_id));
END
$$;

COMMENT ON FUNCTION workon.avatar_set(uuid) IS
'PUT /api/v1/me/avatar {upload_id} (member): the caller''s avatar, a stored image they uploaded, public at avatar_url; null removes it. The avatar it replaces is deleted';

--
-- Routes and errors
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('POST', '/api/v1/uploads', 'workon.upload_create(text,text,bigint)',
	 'member', 201, 'json', false, 'Declare a file upload and get its signed upload URL'),
	('GET', '/api/v1/uploads/{id}', 'workon.upload_get(uuid)',
	 'member', 200, 'none', false, 'Get an upload with a fresh download URL'),
	('PUT', '/api/v1/uploads/{id}/content', 'workon.upload_put(uuid,bigint,text,bytea)',
	 'none', 201, 'bytes', false, 'Send the bytes of a file to its signed upload URL'),
	('GET', '/api/v1/uploads/{id}/content', 'workon.upload_content(uuid,bigint,text,jsonb)',
	 'none', 200, 'none', true, 'Download a file (signed URL, or public URL of a public file)'),
	('PUT', '/api/v1/me/avatar', 'workon.avatar_set(uuid)',
	 'member', 200, 'json', false, 'Set or remove my avatar');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/uploads', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"filename": {"type": "string", "minLength": 1}, "content_type": {"type": "string", "enum": ["image/jpeg", "image/png", "image/webp", "application/pdf"]}, "size": {"type": "integer", "minimum": 1, "description": "bytes; at most workon.upload_max_bytes"}}, "required": ["filename", "content_type", "size"]},
		"responses": {"201": {"type": "object", "additionalProperties": false, "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "upload_url": {"type": "string", "description": "PUT the bytes there: signed, valid 15 minutes, once"}, "expires_at": {"$ref": "#/components/schemas/Timestamp"}}, "required": ["id", "upload_url", "expires_at"]}}}'),
	('GET', '/api/v1/uploads/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Upload"}}}'),
	('PUT', '/api/v1/uploads/{id}/content', '{"responses": {"201": {"$ref": "#/components/schemas/Upload"}}}'),
	('GET', '/api/v1/uploads/{id}/content', '{"query": {"expires": {"type": "integer", "description": "of a signed URL (download_url)"}, "sig": {"type": "string"}}}'),
	('PUT', '/api/v1/me/avatar', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"upload_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}], "description": "a stored image of the caller; null removes the avatar"}}, "required": ["upload_id"]},
		"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"avatar_upload_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "avatar_url": {"type": ["string", "null"]}}, "required": ["avatar_upload_id", "avatar_url"]}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOU01', 403, 'invalid_url_signature'),
	('WOU02', 413, 'payload_too_large'),
	('WOU03', 415, 'unsupported_media_type'),
	('WOU04', 409, 'upload_url_used');

--
-- Settings and privileges
--
-- The front end passes UPLOAD_MAX_BYTES
GRANT SET ON PARAMETER workon.upload_max_bytes TO workon_authenticator;
-- and UPLOAD_STORE
GRANT SET ON PARAMETER workon.upload_store TO workon_authenticator;

GRANT EXECUTE ON FUNCTION
	workon.upload_put(uuid, bigint, text, bytea),
	workon.upload_content(uuid, bigint, text, jsonb),
	workon.upload_public(uuid),
	workon.upload_path(uuid),
	workon.file_type(bytea),
	workon.content_disposition(text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.upload_create(text, text, bigint),
	workon.upload_get(uuid),
	workon.avatar_set(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.seed_signed_url_secret(text),
	workon.uploads_cleanup(),
	workon.upload_s3_stored(text)
	TO workon_authenticator;

--
-- pg_dump: uploads, their bytes, photos and keys are data
--
SELECT pg_catalog.pg_extension_config_dump('workon.uploads', '');
SELECT pg_catalog.pg_extension_config_dump('workon.upload_data', '');
SELECT pg_catalog.pg_extension_config_dump('workon.user_avatars', '');
SELECT pg_catalog.pg_extension_config_dump('workon.signed_url_keys', '');
