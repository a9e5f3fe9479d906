/* sql/workon.sql -- installed as workon--0.4.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION workon" to load this file. \quit

--
-- Roles
--
-- Roles belong to the cluster, not to a database: create them only if
-- they are missing, so that a second database can install workon too.
-- workon_authenticator is the login role of the HTTP front end; it holds
-- no privileges of its own besides calling workon.dispatch(), which
-- switches it to one of the four API roles for each request.
--
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['workon_anon', 'workon_member', 'workon_host',
							 'workon_admin', 'workon_authenticator']
	LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			BEGIN
				IF r = 'workon_authenticator' THEN
					EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN NOINHERIT', r);
				ELSE
					EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
				END IF;
			EXCEPTION WHEN duplicate_object THEN
				NULL;			-- created concurrently by another database
			END;
		END IF;
	END LOOP;

	FOREACH r IN ARRAY ARRAY['workon_anon', 'workon_member', 'workon_host',
							 'workon_admin']
	LOOP
		IF NOT EXISTS (SELECT
					   FROM pg_catalog.pg_auth_members m
					   WHERE m.roleid = pg_catalog.to_regrole(r)
						 AND m.member = pg_catalog.to_regrole('workon_authenticator'))
		THEN
			EXECUTE pg_catalog.format('GRANT %I TO workon_authenticator', r);
		END IF;
	END LOOP;
END
$roles$;

REVOKE ALL ON SCHEMA workon FROM PUBLIC;
GRANT USAGE ON SCHEMA workon
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

--
-- Restoring a pg_dump (extension/restore.c, since 0.4.0)
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
REVOKE ALL ON FUNCTION workon.restoring(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.restoring(regclass)
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

--
-- Caller identity (extension/claims.c)
--
CREATE FUNCTION workon.claims()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'claims'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION workon.claims() IS
'Verified token claims of the request being served in this transaction; NULL for anonymous requests and outside workon.dispatch()';

CREATE FUNCTION workon.current_user_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'current_user_id'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION workon.current_user_id() IS
'Id of the authenticated user of the current request ("sub" claim); NULL for anonymous callers';

CREATE FUNCTION workon.current_role()
RETURNS text
AS 'MODULE_PATHNAME', 'current_role'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION workon.current_role() IS
'API role of the caller: anon, member, host or admin (from the current request, else from the current role workon_*); NULL otherwise';

--
-- Pagination cursors (extension/cursor.c)
--
CREATE FUNCTION workon.cursor_encode(timestamptz, uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'cursor_encode'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.cursor_encode(timestamptz, uuid) IS
'Opaque list cursor naming the row (created_at, id) a page ended with';

CREATE FUNCTION workon.cursor_decode(cursor text, OUT ts timestamptz, OUT id uuid)
RETURNS record
AS 'MODULE_PATHNAME', 'cursor_decode'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.cursor_decode(text) IS
'Position (created_at, id) named by a list cursor; error 22023 "invalid cursor" (field "cursor") if malformed';

--
-- Time zones (extension/timezone.c)
--
CREATE FUNCTION workon.valid_timezone(text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'valid_timezone'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.valid_timezone(text) IS
'True if the argument names a zone of the IANA time zone database, e.g. Europe/Berlin; false for anything else, POSIX rules such as UTC+3 included';

--
-- Request dispatch (extension/dispatch.c)
--
CREATE FUNCTION workon.dispatch(handler oid, params jsonb, query jsonb,
								request_body text, token text, meta jsonb)
RETURNS TABLE (status int4, headers text, body text)
AS 'MODULE_PATHNAME', 'dispatch_0_2'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.dispatch(oid, jsonb, jsonb, text, text, jsonb) IS
'Serves one API request: authenticates the token, switches to the caller''s API role for the transaction, binds the route handler''s arguments by name from path params, query and body, calls it, and returns the response row';

CREATE FUNCTION workon.set_response(status int4, headers jsonb DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'set_response'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.set_response(int4, jsonb) IS
'Called by a route handler: sets the response status and/or extra response headers (JSON object of strings) of the request being dispatched; NULL leaves a part unchanged';

--
-- JSON on hot paths (extension/json.c)
--
CREATE FUNCTION workon.json_build(VARIADIC "any")
RETURNS json
AS 'MODULE_PATHNAME', 'json_build'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.json_build("any") IS
'json_build_object() for hot paths: same arguments and values, compact output, type lookups and constant keys cached per call site';

CREATE FUNCTION workon.json_trusted(text)
RETURNS json
AS 'MODULE_PATHNAME', 'json_trusted'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.json_trusted(text) IS
'JSON text the extension assembled itself from JSON it built, as json without parsing it again (text::json would); not for text from outside';

--
-- Shared trigger functions
--
CREATE FUNCTION workon.set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	NEW.updated_at := pg_catalog.now();
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.set_updated_at() IS
'Trigger: stamps updated_at on every update';

--
-- Users
--
CREATE TABLE workon.users (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	email		text NOT NULL
				CONSTRAINT users_email_check
				CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	name		text NOT NULL
				CONSTRAINT users_name_check
				CHECK (pg_catalog.btrim(name) <> ''),
	role		text NOT NULL DEFAULT 'member'
				CONSTRAINT users_role_check
				CHECK (role IN ('member', 'host', 'admin')),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	password_hash text
);

COMMENT ON TABLE workon.users IS
'People using workon; role is member, host or admin';

COMMENT ON COLUMN workon.users.password_hash IS
'scrypt hash of the password (see workon.password_hash()); NULL: the user cannot log in with a password';

CREATE UNIQUE INDEX users_email_key ON workon.users (pg_catalog.lower(email));

CREATE TRIGGER users_set_updated_at
	BEFORE UPDATE ON workon.users
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

ALTER TABLE workon.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.users FORCE ROW LEVEL SECURITY;

-- A user sees their own row; admins see everyone.
CREATE POLICY users_self_or_admin ON workon.users
	USING (id = workon.current_user_id()
		   OR workon.current_role() = 'admin');

--
-- Spaces
--
CREATE TABLE workon.spaces (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	host_id		uuid NOT NULL REFERENCES workon.users (id),
	name		text NOT NULL
				CONSTRAINT spaces_name_check
				CHECK (pg_catalog.btrim(name) <> ''),
	kind		text NOT NULL
				CONSTRAINT spaces_kind_check
				CHECK (kind IN ('desk', 'private_office', 'meeting_room', 'event_space')),
	city		text NOT NULL
				CONSTRAINT spaces_city_check
				CHECK (pg_catalog.btrim(city) <> ''),
	address		text NOT NULL,
	capacity	integer NOT NULL
				CONSTRAINT spaces_capacity_check CHECK (capacity > 0),
	timezone	text NOT NULL
				CONSTRAINT spaces_timezone_check
				CHECK (workon.valid_timezone(timezone)),
	hourly_rate_cents bigint NOT NULL
				CONSTRAINT spaces_hourly_rate_cents_check
				CHECK (hourly_rate_cents >= 0),
	daily_rate_cents bigint NOT NULL
				CONSTRAINT spaces_daily_rate_cents_check
				CHECK (daily_rate_cents >= 0),
	currency	text NOT NULL
				CONSTRAINT spaces_currency_check
				CHECK (currency ~ '^[a-z]{3}$'),
	opening_hours jsonb NOT NULL DEFAULT '{}'
				CONSTRAINT spaces_opening_hours_check
				CHECK (pg_catalog.jsonb_typeof(opening_hours) = 'object'),
	published	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
				CONSTRAINT spaces_created_at_check
				CHECK (pg_catalog.isfinite(created_at)),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	city_key	text NOT NULL GENERATED ALWAYS AS (pg_catalog.lower(city)) STORED,
	doc			json
);

COMMENT ON TABLE workon.spaces IS
'Bookable workspaces (desks, offices, meeting rooms, event spaces) listed by hosts; visible to everyone once published, always to their host and admins';

COMMENT ON COLUMN workon.spaces.doc IS
'The API representation of the space (workon.space_json, times in UTC), kept by the trigger spaces_write_doc so that reads only copy it';

COMMENT ON COLUMN workon.spaces.city_key IS
'lower(city), for case-insensitive city filters; a plain column because row-level security keeps non-leakproof expressions such as lower() out of index conditions';

-- The public list: published spaces, newest first, keyset-paginated; and
-- the same per city.
CREATE INDEX spaces_published_created_at_idx
	ON workon.spaces (created_at DESC, id DESC) WHERE published;
CREATE INDEX spaces_published_city_created_at_idx
	ON workon.spaces (city_key, created_at DESC, id DESC) WHERE published;
CREATE INDEX spaces_host_id_idx ON workon.spaces (host_id);

CREATE TRIGGER spaces_set_updated_at
	BEFORE UPDATE ON workon.spaces
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

ALTER TABLE workon.spaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.spaces FORCE ROW LEVEL SECURITY;

-- Everyone sees published spaces; hosts see their own, admins all.
CREATE POLICY spaces_visible ON workon.spaces
	FOR SELECT
	USING (published
		   OR workon.current_role() = 'admin'
		   OR host_id = workon.current_user_id());

-- Hosts change their own spaces, admins any.
CREATE POLICY spaces_owner_writes ON workon.spaces
	FOR ALL
	TO workon_host, workon_admin
	USING (workon.current_role() = 'admin'
		   OR host_id = workon.current_user_id())
	WITH CHECK (workon.current_role() = 'admin'
				OR host_id = workon.current_user_id());

GRANT SELECT ON workon.spaces
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- The space object of the API
--
CREATE FUNCTION workon.space_json(s workon.spaces)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', s.id,
		'host_id', s.host_id,
		'name', s.name,
		'kind', s.kind,
		'city', s.city,
		'address', s.address,
		'capacity', s.capacity,
		'timezone', s.timezone,
		'hourly_rate_cents', s.hourly_rate_cents,
		'daily_rate_cents', s.daily_rate_cents,
		'currency', s.currency,
		'opening_hours', s.opening_hours,
		'published', s.published,
		'created_at', s.created_at,
		'updated_at', s.updated_at)
$$;

COMMENT ON FUNCTION workon.space_json(workon.spaces) IS
'The API representation of a space';

CREATE FUNCTION workon.spaces_write_doc()
RETURNS trigger
LANGUAGE plpgsql
SET TimeZone = 'UTC'
AS $$
BEGIN
	NEW.doc := workon.space_json(NEW);
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.spaces_write_doc() IS
'Trigger: stores the API representation of a space in spaces.doc on every write (after spaces_set_updated_at, trigger names fire in order)';

CREATE TRIGGER spaces_write_doc
	BEFORE INSERT OR UPDATE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.spaces_write_doc();

--
-- Route handlers: spaces
--
CREATE FUNCTION workon.spaces_list(
	city text DEFAULT NULL,
	kind text DEFAULT NULL,
	min_capacity integer DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
	v_city		text := pg_catalog.lower(NULLIF(spaces_list.city, ''));
	v_kind		text := NULLIF(spaces_list.kind, '');
	v_min		integer := COALESCE(spaces_list.min_capacity, 1);
	v_limit		integer := COALESCE(spaces_list."limit", 20);
	-- the position after which the page starts; "before everything" by default
	v_after_ts	timestamptz := 'infinity';
	v_after_id	uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	v_docs		text[];
	v_ts		timestamptz[];
	v_ids		uuid[];
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF v_kind NOT IN ('desk', 'private_office', 'meeting_room', 'event_space') THEN
		RAISE EXCEPTION 'kind must be one of desk, private_office, meeting_room, event_space'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'kind';
	END IF;
	IF v_min < 1 THEN
		RAISE EXCEPTION 'min_capacity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'min_capacity';
	END IF;
	IF spaces_list.cursor <> '' THEN
		SELECT c.ts, c.id INTO v_after_ts, v_after_id
		  FROM workon.cursor_decode(spaces_list.cursor) AS c;
	END IF;

	/*
	 * One index-ordered scan of at most limit + 1 rows; the row past the
	 * page only says whether there is more.  The stored documents are
	 * copied, not rebuilt.  The aggregates read the ordered subquery in its
	 * order (a plain aggregate over a subquery scan does not reorder; an
	 * ORDER BY inside the aggregate would sort again).  Two spellings of the
	 * query so that each has a plan of its own: with a city, the per-city
	 * index does the filtering too.
	 */
	IF v_city IS NULL THEN
		SELECT pg_catalog.array_agg(p.doc::text), pg_catalog.array_agg(p.created_at),
			   pg_catalog.array_agg(p.id)
		  INTO v_docs, v_ts, v_ids
		  FROM (SELECT s.doc, s.created_at, s.id
				  FROM workon.spaces AS s
				 WHERE s.published
				   AND (s.created_at, s.id) < (v_after_ts, v_after_id)
				   AND (v_kind IS NULL OR s.kind = v_kind)
				   AND s.capacity >= v_min
				 ORDER BY s.created_at DESC, s.id DESC
				 LIMIT v_limit + 1) AS p;
	ELSE
		SELECT pg_catalog.array_agg(p.doc::text), pg_catalog.array_agg(p.created_at),
			   pg_catalog.array_agg(p.id)
		  INTO v_docs, v_ts, v_ids
		  FROM (SELECT s.doc, s.created_at, s.id
				  FROM workon.spaces AS s
				 WHERE s.published
				   AND s.city_key = v_city
				   AND (s.created_at, s.id) < (v_after_ts, v_after_id)
				   AND (v_kind IS NULL OR s.kind = v_kind)
				   AND s.capacity >= v_min
				 ORDER BY s.created_at DESC, s.id DESC
				 LIMIT v_limit + 1) AS p;
	END IF;

	RETURN workon.json_build(
		'data', workon.json_trusted(
			'[' || COALESCE(pg_catalog.array_to_string(v_docs[1:v_limit], ','), '') || ']'),
		'next_cursor', CASE WHEN pg_catalog.cardinality(v_docs) > v_limit THEN
						   workon.cursor_encode(v_ts[v_limit], v_ids[v_limit])
					   END);
END
$$;

COMMENT ON FUNCTION workon.spaces_list(text, text, integer, integer, text) IS
'GET /api/v1/spaces: published spaces, newest first, as {"data": [...], "next_cursor": ...}; filters city (case-insensitive), kind, min_capacity; limit 1..100 (default 20); an empty city, kind or cursor counts as not given';

CREATE FUNCTION workon.space_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
	v_space		json;
BEGIN
	SELECT s.doc INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = space_get.id;

	IF v_space IS NULL THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	RETURN v_space;
END
$$;

COMMENT ON FUNCTION workon.space_get(uuid) IS
'GET /api/v1/spaces/{id}: one space; P0002 "space not found" if it does not exist or the caller may not see it';

--
-- Route table and error map, read by the HTTP front end
--
CREATE TABLE workon.routes (
	method		text NOT NULL
				CONSTRAINT routes_method_check
				CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
	path		text NOT NULL
				CONSTRAINT routes_path_check
				CHECK (path ~ '^(/[^/{}]+|/\{[a-z_][a-z0-9_]*\})+$'),
	handler		regprocedure NOT NULL,
	auth		text NOT NULL
				CONSTRAINT routes_auth_check
				CHECK (auth IN ('none', 'member', 'host', 'admin')),
	status		integer NOT NULL
				CONSTRAINT routes_status_check CHECK (status BETWEEN 200 AND 299),
	body		text NOT NULL
				CONSTRAINT routes_body_check CHECK (body IN ('none', 'json', 'raw')),
	summary		text NOT NULL,
	PRIMARY KEY (method, path)
);

COMMENT ON TABLE workon.routes IS
'HTTP routes: method and path template, handler function, declared auth need (enforced by GRANT EXECUTE), success status, body mode (none, json, raw) and a one-line summary; any change sends NOTIFY workon_routes';

CREATE TABLE workon.errors (
	sqlstate	text PRIMARY KEY
				CONSTRAINT errors_sqlstate_check
				CHECK (sqlstate ~ '^[0-9A-Z]{2}([0-9A-Z]{3})?$'),
	status		integer NOT NULL
				CONSTRAINT errors_status_check CHECK (status BETWEEN 400 AND 599),
	code		text NOT NULL
				CONSTRAINT errors_code_check
				CHECK (code ~ '^[a-z][a-z0-9_]*$')
);

COMMENT ON TABLE workon.errors IS
'Map from SQLSTATE (5 characters, or a 2-character class) to HTTP status and API error code; any change sends NOTIFY workon_routes';

CREATE FUNCTION workon.routes_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_routes',
								 TG_TABLE_NAME || ':' || pg_catalog.lower(TG_OP));
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.routes_notify() IS
'Trigger: NOTIFY workon_routes (payload "<table>:<operation>") so the HTTP front end reloads routes and errors';

CREATE TRIGGER routes_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.routes
	FOR EACH STATEMENT EXECUTE FUNCTION workon.routes_notify();

CREATE TRIGGER errors_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.errors
	FOR EACH STATEMENT EXECUTE FUNCTION workon.routes_notify();

INSERT INTO workon.routes (method, path, handler, auth, status, body, summary) VALUES
	('GET', '/api/v1/spaces', 'workon.spaces_list(text,text,integer,integer,text)',
	 'none', 200, 'none', 'List published spaces'),
	('GET', '/api/v1/spaces/{id}', 'workon.space_get(uuid)',
	 'none', 200, 'none', 'Get a space');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('22', 400, 'validation_failed'),
	('23502', 400, 'validation_failed'),
	('23514', 400, 'validation_failed'),
	('23505', 409, 'conflict'),
	('23503', 409, 'conflict'),
	('23P01', 409, 'conflict'),
	('28000', 401, 'unauthorized'),
	('WO401', 401, 'unauthorized'),
	('42501', 403, 'forbidden'),
	('P0002', 404, 'not_found'),
	('WO404', 404, 'not_found'),
	('WO405', 405, 'method_not_allowed'),
	('40001', 503, 'unavailable'),
	('40P01', 503, 'unavailable'),
	('57014', 503, 'unavailable'),
	('08', 503, 'unavailable'),
	('57P01', 503, 'unavailable'),
	('57P02', 503, 'unavailable'),
	('57P03', 503, 'unavailable'),
	('53', 503, 'unavailable'),
	('25006', 503, 'unavailable');

GRANT SELECT ON workon.routes, workon.errors TO workon_authenticator;

--
-- Health
--
CREATE FUNCTION workon.health()
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
	SELECT pg_catalog.jsonb_build_object(
		'server_version', pg_catalog.split_part(pg_catalog.current_setting('server_version'), ' ', 1),
		'extension', pg_catalog.jsonb_build_object(
			'installed', (SELECT e.extversion
							FROM pg_catalog.pg_extension AS e
						   WHERE e.extname = 'workon'),
			'available', (SELECT a.default_version
							FROM pg_catalog.pg_available_extensions AS a
						   WHERE a.name = 'workon')),
		'database', pg_catalog.current_database())
$$;

COMMENT ON FUNCTION workon.health() IS
'Diagnostics for GET /api/v1/health: server version, installed and available extension version, database name';

--
-- Passwords (extension/password.c)
--
CREATE FUNCTION workon.password_hash(password text)
RETURNS text
AS 'MODULE_PATHNAME', 'password_hash'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.password_hash(text) IS
'New stored hash of a password: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash> (unpadded base64url), with the parameters of workon.scrypt_log_n, workon.scrypt_r and workon.scrypt_p and a random salt';

-- not strict: a NULL stored hash costs the same work as a real one
CREATE FUNCTION workon.password_verify(password text, stored text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'password_verify'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.password_verify(text, text) IS
'True if the password matches the stored hash (constant-time comparison); a NULL or unreadable stored hash takes the same time and is false';

CREATE FUNCTION workon.password_needs_rehash(stored text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'password_needs_rehash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.password_needs_rehash(text) IS
'True if the stored hash was made with scrypt parameters below the current settings (or is unreadable)';

-- not strict: a NULL password is an error, a NULL email skips that rule
CREATE FUNCTION workon.password_check(password text, email text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'password_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.password_check(text, text) IS
'The password rules: 8 to 128 characters, not a common password, not the email address; error 22023 with field "password" otherwise';

--
-- Tokens (extension/jwt.c)
--
CREATE FUNCTION workon.jwt_sign(claims jsonb, alg text, kid text, key bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'jwt_sign'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.jwt_sign(jsonb, text, text, bytea) IS
'Compact JWS of the claims, header {"alg","typ":"JWT","kid"}; alg HS256 (key: the secret, at least 32 bytes) or ES256 (key: PKCS #8 DER P-256 private key)';

CREATE FUNCTION workon.jwt_verify_signature(token text, alg text, key bytea)
RETURNS boolean
AS 'MODULE_PATHNAME', 'jwt_verify_signature'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.jwt_verify_signature(text, text, bytea) IS
'True if the token is well formed, its header names alg and its signature is valid for key; claims are not checked. Malformed token or other algorithm: error 28000';

CREATE FUNCTION workon.jwt_generate_key(alg text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'jwt_generate_key'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.jwt_generate_key(text) IS
'New key material: 64 random bytes for HS256, a PKCS #8 DER P-256 private key for ES256';

CREATE FUNCTION workon.jwt_public_key_pem(key bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'jwt_public_key_pem'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.jwt_public_key_pem(bytea) IS
'Public key (SubjectPublicKeyInfo PEM) of ES256 key material';

CREATE FUNCTION workon.jwt_claims(sub uuid, role text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'jwt_claims'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.jwt_claims(uuid, text) IS
'Claims of a new access token: sub, role, iat, exp (iat + workon.jwt_access_ttl), iss (workon.jwt_issuer), aud (workon.jwt_audience), jti';

CREATE FUNCTION workon.token_ttl(kind text)
RETURNS integer
AS 'MODULE_PATHNAME', 'token_ttl'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.token_ttl(text) IS
'Seconds: access (workon.jwt_access_ttl), refresh (workon.jwt_refresh_ttl) or refresh_grace (workon.refresh_grace)';

CREATE FUNCTION workon.hmac_sha256(key bytea, data bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hmac_sha256'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.hmac_sha256(bytea, bytea) IS
'HMAC-SHA256 of data with key';

CREATE FUNCTION workon.random_token(nbytes integer DEFAULT 32)
RETURNS text
AS 'MODULE_PATHNAME', 'random_token'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.random_token(integer) IS
'nbytes (16 to 64) random bytes in unpadded base64url';

--
-- Signing keys.  Several are valid at once: new tokens are signed with the
-- active key activated last, tokens of any active key verify.  Key
-- material is read only by the extension's own SECURITY DEFINER functions.
--
CREATE TABLE workon.jwt_keys (
	kid			text PRIMARY KEY
				CONSTRAINT jwt_keys_kid_check
				CHECK (kid ~ '^[A-Za-z0-9._-]{1,64}$'),
	alg			text NOT NULL
				CONSTRAINT jwt_keys_alg_check
				CHECK (alg IN ('HS256', 'ES256')),
	secret		bytea NOT NULL
				CONSTRAINT jwt_keys_secret_check
				CHECK (alg <> 'HS256' OR pg_catalog.length(secret) >= 32),
	seeded		boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	activated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	retired_at	timestamptz
);

COMMENT ON TABLE workon.jwt_keys IS
'Access token keys: kid (the header''s lookup key), alg (the only algorithm the key accepts), secret (HS256 secret or ES256 PKCS #8 DER private key), seeded (from the front end''s JWT_SECRET), activated_at (newest active signs), retired_at (no longer verifies)';

ALTER TABLE workon.jwt_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.jwt_keys FORCE ROW LEVEL SECURITY;

-- Secrets that are not signing keys: the refresh token pepper
CREATE TABLE workon.secrets (
	name		text PRIMARY KEY
				CONSTRAINT secrets_name_check CHECK (name IN ('refresh_pepper')),
	value		bytea NOT NULL
				CONSTRAINT secrets_value_check CHECK (pg_catalog.length(value) >= 32),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.secrets IS
'Server secrets: refresh_pepper, the HMAC key refresh tokens are stored under (random until workon.seed_refresh_secret() derives it from JWT_REFRESH_SECRET)';

ALTER TABLE workon.secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.secrets FORCE ROW LEVEL SECURITY;

--
-- Refresh tokens: opaque, stored as HMAC-SHA256 under the pepper, rotated
-- on every use within a family that is revoked as a whole.
--
CREATE TABLE workon.refresh_tokens (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	family_id	uuid NOT NULL,
	user_id		uuid NOT NULL REFERENCES workon.users (id) ON DELETE CASCADE,
	parent_id	uuid REFERENCES workon.refresh_tokens (id) ON DELETE CASCADE,
	token_hash	bytea NOT NULL
				CONSTRAINT refresh_tokens_token_hash_key UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	revoked_at	timestamptz,
	CONSTRAINT refresh_tokens_expires_at_check CHECK (expires_at > created_at)
);

COMMENT ON TABLE workon.refresh_tokens IS
'Refresh tokens (hashed): one family per login, a new row per rotation (parent_id the token it replaced); used_at set when rotated, revoked_at when the family was logged out or a used token was replayed';

CREATE INDEX refresh_tokens_family_id_idx ON workon.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON workon.refresh_tokens (user_id);
CREATE INDEX refresh_tokens_parent_id_idx ON workon.refresh_tokens (parent_id);

ALTER TABLE workon.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.refresh_tokens FORCE ROW LEVEL SECURITY;

--
-- Audit log, written by the database itself
--
CREATE TABLE workon.audit_log (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	actor_id	uuid,
	action		text NOT NULL,
	entity		text NOT NULL,
	entity_id	text,
	before		jsonb,
	after		jsonb
);

COMMENT ON TABLE workon.audit_log IS
'State changes: who (actor_id, the authenticated user; NULL for SQL callers without a token), what (action, entity, entity_id) and the row before and after (secrets left out)';

CREATE INDEX audit_log_at_idx ON workon.audit_log (at DESC, id DESC);

ALTER TABLE workon.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.audit_log FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_before	jsonb;
	v_after		jsonb;
	v_hidden	text[] := TG_ARGV || ARRAY['updated_at'];
BEGIN
	IF TG_OP <> 'INSERT' THEN
		v_before := pg_catalog.to_jsonb(OLD) - v_hidden;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_after := pg_catalog.to_jsonb(NEW) - v_hidden;
	END IF;
	IF TG_OP = 'UPDATE' AND v_before = v_after THEN
		RETURN NULL;			-- nothing an auditor sees changed
	END IF;

	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, before, after)
	VALUES (workon.current_user_id(), pg_catalog.lower(TG_OP), TG_TABLE_NAME,
			COALESCE(v_after, v_before) ->> 'id', v_before, v_after);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.audit_row() IS
'Trigger: writes the change to workon.audit_log; trigger arguments name columns left out (secrets); updates that change only those and updated_at are not logged';

CREATE TRIGGER users_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.users
	FOR EACH ROW WHEN (NOT workon.restoring('workon.users'))
	EXECUTE FUNCTION workon.audit_row('password_hash');

--
-- Users: the API representation, validation, creation
--
CREATE FUNCTION workon.user_json(user_id uuid)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'id', u.id,
		'email', u.email,
		'name', u.name,
		'role', u.role,
		'created_at', u.created_at,
		'updated_at', u.updated_at)
	  FROM workon.users AS u
	 WHERE u.id = $1
$$;

COMMENT ON FUNCTION workon.user_json(uuid) IS
'The API representation of a user, {"id","email","name","role","created_at","updated_at"}; NULL if the caller may not see the user';

CREATE FUNCTION workon.check_email(email text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	v_email		text := pg_catalog.btrim(check_email.email);
BEGIN
	IF v_email IS NULL OR v_email = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF pg_catalog.length(v_email) > 254
	   OR v_email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:].]+(\.[^@[:space:][:cntrl:].]+)+$' THEN
		RAISE EXCEPTION 'email is not a valid address'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	RETURN v_email;
END
$$;

COMMENT ON FUNCTION workon.check_email(text) IS
'The email address without surrounding blanks if it looks like one (local@domain.tld, at most 254 characters); error 22023 with field "email" otherwise';

CREATE FUNCTION workon.create_user(email text, password text, name text,
								   role text DEFAULT 'member')
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_email		text := workon.check_email(create_user.email);
	v_name		text := pg_catalog.btrim(create_user.name);
	v_id		uuid;
BEGIN
	IF v_name IS NULL OR v_name = '' THEN
		RAISE EXCEPTION 'name is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(v_name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF create_user.role IS NULL OR create_user.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	PERFORM workon.password_check(create_user.password, v_email);

	IF EXISTS (SELECT FROM workon.users AS u
				WHERE pg_catalog.lower(u.email) = pg_catalog.lower(v_email)) THEN
		RAISE EXCEPTION 'email is already registered'
			USING ERRCODE = 'WOC01', COLUMN = 'email';
	END IF;

	BEGIN
		INSERT INTO workon.users (email, name, role, password_hash)
		VALUES (v_email, v_name, create_user.role,
				workon.password_hash(create_user.password))
		RETURNING id INTO v_id;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'email is already registered'
			USING ERRCODE = 'WOC01', COLUMN = 'email';
	END;

	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.create_user(text, text, text, text) IS
'Creates a user of any role (member, host, admin) with a password, for DBAs: SELECT workon.create_user(''ana@example.com'', ''a long passphrase'', ''Ana'', ''admin''); email, name, password and role are validated (22023 naming the field), a taken email (case-insensitive) is WOC01 email_taken';

CREATE FUNCTION workon.ensure_admin(email text, password text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	SELECT u.id INTO v_id
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(ensure_admin.email));
	IF FOUND THEN
		RETURN v_id;			-- never touches an existing user
	END IF;

	BEGIN
		RETURN workon.create_user(ensure_admin.email, ensure_admin.password,
								  'Administrator', 'admin');
	EXCEPTION WHEN SQLSTATE 'WOC01' THEN
		-- created concurrently (two front ends starting at once)
		SELECT u.id INTO v_id
		  FROM workon.users AS u
		 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(ensure_admin.email));
		RETURN v_id;
	END;
END
$$;

COMMENT ON FUNCTION workon.ensure_admin(text, text) IS
'The first admin (ADMIN_EMAIL, ADMIN_PASSWORD at start): creates an admin with that email if no user has it, and otherwise changes nothing (neither password nor role); returns the user''s id';

--
-- Keys and secrets: seeding from the front end's configuration, rotation
--
CREATE FUNCTION workon.seed_jwt_key(secret text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_secret	bytea := pg_catalog.convert_to(seed_jwt_key.secret, 'UTF8');
	v_kid		text;
	v_key		workon.jwt_keys;
BEGIN
	IF seed_jwt_key.secret IS NULL OR pg_catalog.length(seed_jwt_key.secret) < 32 THEN
		RAISE EXCEPTION 'JWT secret must be at least 32 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;

	-- a name for the key that does not reveal it
	v_kid := 'seed-' || pg_catalog.left(pg_catalog.encode(
		workon.hmac_sha256(v_secret, pg_catalog.convert_to('workon jwt key id', 'UTF8')),
		'hex'), 20);

	INSERT INTO workon.jwt_keys (kid, alg, secret, seeded)
	VALUES (v_kid, 'HS256', v_secret, true)
	ON CONFLICT (kid) DO NOTHING;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'jwt_keys', v_kid);
		RETURN v_kid;
	END IF;

	SELECT * INTO v_key FROM workon.jwt_keys AS k WHERE k.kid = v_kid FOR UPDATE;
	IF v_key.retired_at IS NOT NULL THEN
		RAISE WARNING 'JWT key "%" seeded from this secret was retired; it stays retired', v_kid
			USING HINT = 'Configure a new secret, or sign with the newest active key.';
	ELSIF EXISTS (SELECT FROM workon.jwt_keys AS k
				   WHERE k.retired_at IS NULL AND k.activated_at > v_key.activated_at) THEN
		UPDATE workon.jwt_keys AS k SET activated_at = pg_catalog.now() WHERE k.kid = v_kid;
	END IF;

	RETURN v_kid;
END
$$;

COMMENT ON FUNCTION workon.seed_jwt_key(text) IS
'Idempotent, for the front end at start with JWT_SECRET (at least 32 characters): the HS256 key of that secret, kid derived from an HMAC of it, inserted if missing and made the signing key; returns the kid. A retired key stays retired';

CREATE FUNCTION workon.seed_refresh_secret(secret text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pepper	bytea;
BEGIN
	IF seed_refresh_secret.secret IS NULL OR pg_catalog.length(seed_refresh_secret.secret) < 32 THEN
		RAISE EXCEPTION 'refresh secret must be at least 32 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;

	v_pepper := workon.hmac_sha256(pg_catalog.convert_to(seed_refresh_secret.secret, 'UTF8'),
								   pg_catalog.convert_to('workon refresh token pepper', 'UTF8'));

	INSERT INTO workon.secrets AS s (name, value)
	VALUES ('refresh_pepper', v_pepper)
	ON CONFLICT (name) DO UPDATE
		SET value = EXCLUDED.value, updated_at = pg_catalog.now()
		WHERE s.value IS DISTINCT FROM EXCLUDED.value;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'secrets', 'refresh_pepper');
	END IF;
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION workon.seed_refresh_secret(text) IS
'Idempotent, for the front end at start with JWT_REFRESH_SECRET (at least 32 characters): refresh tokens are stored as HMAC-SHA256 under a key derived from it, so a stolen table of hashes is useless without the secret. Returns true when the key changed, which ends every refresh token issued before';

CREATE FUNCTION workon.rotate_jwt_key(alg text DEFAULT 'HS256')
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_kid		text := pg_catalog.lower(rotate_jwt_key.alg) || '-' || workon.random_token(16);
BEGIN
	IF rotate_jwt_key.alg IS NULL OR rotate_jwt_key.alg NOT IN ('HS256', 'ES256') THEN
		RAISE EXCEPTION 'alg must be HS256 or ES256'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'alg';
	END IF;

	INSERT INTO workon.jwt_keys (kid, alg, secret)
	VALUES (v_kid, rotate_jwt_key.alg, workon.jwt_generate_key(rotate_jwt_key.alg));
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
	VALUES (workon.current_user_id(), 'rotate', 'jwt_keys', v_kid);

	RETURN v_kid;
END
$$;

COMMENT ON FUNCTION workon.rotate_jwt_key(text) IS
'Generates a key (HS256 by default, or ES256) that signs every new token from now on; tokens of older keys keep verifying until workon.retire_jwt_key(kid). Returns the new kid';

CREATE FUNCTION workon.retire_jwt_key(kid text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE workon.jwt_keys AS k
	   SET retired_at = pg_catalog.now()
	 WHERE k.kid = retire_jwt_key.kid AND k.retired_at IS NULL;
	IF NOT FOUND THEN
		IF NOT EXISTS (SELECT FROM workon.jwt_keys AS k WHERE k.kid = retire_jwt_key.kid) THEN
			RAISE EXCEPTION 'JWT key "%" does not exist', retire_jwt_key.kid
				USING ERRCODE = 'no_data_found';
		END IF;
		RETURN;
	END IF;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
	VALUES (workon.current_user_id(), 'retire', 'jwt_keys', retire_jwt_key.kid);
END
$$;

COMMENT ON FUNCTION workon.retire_jwt_key(text) IS
'Retires a key: tokens signed with it no longer verify and it no longer signs. Retiring a retired key does nothing';

CREATE FUNCTION workon.jwt_public_keys()
RETURNS TABLE (kid text, alg text, public_key text, created_at timestamptz)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.kid, k.alg, workon.jwt_public_key_pem(k.secret), k.created_at
	  FROM workon.jwt_keys AS k
	 WHERE k.alg = 'ES256' AND k.retired_at IS NULL
	 ORDER BY k.activated_at DESC, k.created_at DESC, k.kid
$$;

COMMENT ON FUNCTION workon.jwt_public_keys() IS
'Public keys (PEM) of the active ES256 keys, for verifying access tokens outside the database; HS256 keys are secret and not listed';

CREATE FUNCTION workon.jwt_verify(token text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'jwt_verify'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.jwt_verify(text) IS
'Claims of a valid access token (active key named by kid, its algorithm, signature, exp, nbf/iat with 30 s leeway, iss, aud, sub, role); error 28000 naming the failed check otherwise';

CREATE FUNCTION workon.jwt_issue(user_id uuid, role text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key		workon.jwt_keys;
BEGIN
	SELECT * INTO v_key
	  FROM workon.jwt_keys AS k
	 WHERE k.retired_at IS NULL
	 ORDER BY k.activated_at DESC, k.created_at DESC, k.kid
	 LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no active JWT signing key'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Call workon.seed_jwt_key(secret) or workon.rotate_jwt_key().';
	END IF;

	RETURN workon.jwt_sign(workon.jwt_claims(jwt_issue.user_id, jwt_issue.role),
						   v_key.alg, v_key.kid, v_key.secret);
END
$$;

COMMENT ON FUNCTION workon.jwt_issue(uuid, text) IS
'A new access token for the user and role, signed with the newest active key; for the extension''s own functions only';

CREATE FUNCTION workon.authenticate(token text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'authenticate'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.authenticate(text) IS
'For SQL callers: verifies an access token, switches to the API role of its role claim until the end of the transaction (the session user must be a member of it) and makes its claims those of workon.claims(); returns the claims, error 28000 otherwise';

--
-- Sessions: refresh tokens and the token response
--
CREATE FUNCTION workon.refresh_token_hash(token text)
RETURNS bytea
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pepper	bytea;
BEGIN
	SELECT s.value INTO v_pepper FROM workon.secrets AS s WHERE s.name = 'refresh_pepper';
	IF NOT FOUND THEN
		-- no JWT_REFRESH_SECRET seeded yet: a random pepper
		INSERT INTO workon.secrets (name, value)
		VALUES ('refresh_pepper', workon.jwt_generate_key('HS256'))
		ON CONFLICT (name) DO NOTHING;
		SELECT s.value INTO v_pepper FROM workon.secrets AS s WHERE s.name = 'refresh_pepper';
	END IF;
	RETURN workon.hmac_sha256(v_pepper, pg_catalog.convert_to(refresh_token_hash.token, 'UTF8'));
END
$$;

COMMENT ON FUNCTION workon.refresh_token_hash(text) IS
'How a refresh token is stored: HMAC-SHA256 under the refresh pepper';

CREATE FUNCTION workon.session_issue(user_id uuid, family_id uuid DEFAULT NULL,
									 parent_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_role		text;
	v_token		text := workon.random_token(32);
BEGIN
	SELECT u.role INTO v_role FROM workon.users AS u WHERE u.id = session_issue.user_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = 'WOA03';
	END IF;

	INSERT INTO workon.refresh_tokens (family_id, user_id, parent_id, token_hash, expires_at)
	VALUES (COALESCE(session_issue.family_id, pg_catalog.gen_random_uuid()),
			session_issue.user_id, session_issue.parent_id,
			workon.refresh_token_hash(v_token),
			pg_catalog.now() + pg_catalog.make_interval(secs => workon.token_ttl('refresh')));

	RETURN pg_catalog.json_build_object(
		'user', workon.user_json(session_issue.user_id),
		'access_token', workon.jwt_issue(session_issue.user_id, v_role),
		'refresh_token', v_token,
		'token_type', 'Bearer',
		'expires_in', workon.token_ttl('access'));
END
$$;

COMMENT ON FUNCTION workon.session_issue(uuid, uuid, uuid) IS
'The token response {user, access_token, refresh_token, token_type, expires_in} with a new refresh token in the family (a new family when NULL); the role is read from workon.users';

--
-- Route handlers: identity
--
CREATE FUNCTION workon.auth_register(email text DEFAULT NULL, password text DEFAULT NULL,
									 name text DEFAULT NULL, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF auth_register.role IS NOT NULL AND auth_register.role NOT IN ('member', 'host') THEN
		RAISE EXCEPTION 'role must be member or host'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF auth_register.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	RETURN workon.session_issue(
		workon.create_user(auth_register.email, auth_register.password,
						   auth_register.name, COALESCE(auth_register.role, 'member')));
END
$$;

COMMENT ON FUNCTION workon.auth_register(text, text, text, text) IS
'POST /api/v1/auth/register: a new member (or host) and its tokens; 22023 naming the field for a bad email, name, role or weak password, WOC01 email_taken';

CREATE FUNCTION workon.auth_login(email text DEFAULT NULL, password text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
	v_hash		text;
BEGIN
	IF auth_login.email IS NULL OR pg_catalog.btrim(auth_login.email) = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF auth_login.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	SELECT u.id, u.password_hash INTO v_id, v_hash
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(auth_login.email));

	-- the same work and the same answer for an unknown email
	IF NOT workon.password_verify(auth_login.password, v_hash) OR v_id IS NULL THEN
		RAISE EXCEPTION 'invalid email or password'
			USING ERRCODE = 'WOA01';
	END IF;

	IF workon.password_needs_rehash(v_hash) THEN
		UPDATE workon.users AS u
		   SET password_hash = workon.password_hash(auth_login.password)
		 WHERE u.id = v_id;
	END IF;

	RETURN workon.session_issue(v_id);
END
$$;

COMMENT ON FUNCTION workon.auth_login(text, text) IS
'POST /api/v1/auth/login: tokens for the user with that email (case-insensitive) and password; WOA01 invalid_credentials alike for an unknown email and a wrong password. Rehashes the password when its scrypt parameters are below the current ones';

CREATE FUNCTION workon.refresh_token_lock(refresh_token text)
RETURNS workon.refresh_tokens
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		workon.refresh_tokens;
BEGIN
	IF refresh_token_lock.refresh_token IS NULL OR refresh_token_lock.refresh_token = '' THEN
		RAISE EXCEPTION 'refresh_token is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'refresh_token';
	END IF;

	-- the row lock serializes concurrent uses of one token
	SELECT * INTO v_token
	  FROM workon.refresh_tokens AS t
	 WHERE t.token_hash = workon.refresh_token_hash(refresh_token_lock.refresh_token)
	   FOR UPDATE;
	IF NOT FOUND OR v_token.revoked_at IS NOT NULL OR v_token.expires_at <= pg_catalog.now() THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = 'WOA03';
	END IF;
	RETURN v_token;
END
$$;

COMMENT ON FUNCTION workon.refresh_token_lock(text) IS
'The live (not revoked, not expired) refresh token row for a presented token, locked FOR UPDATE; 22023 when none is given, WOA03 invalid_refresh_token otherwise';

CREATE FUNCTION workon.refresh_family_revoke(token workon.refresh_tokens, reason text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.refresh_tokens AS t
	   SET revoked_at = pg_catalog.now()
	 WHERE t.family_id = token.family_id AND t.revoked_at IS NULL;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, after)
	VALUES (token.user_id, 'revoke', 'refresh_token_family', token.family_id::text,
			pg_catalog.jsonb_build_object('reason', reason));
$$;

COMMENT ON FUNCTION workon.refresh_family_revoke(workon.refresh_tokens, text) IS
'Revokes every live token of the family of token, with an audit_log row giving the reason';

CREATE FUNCTION workon.auth_refresh(refresh_token text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the row lock serializes concurrent refreshes of one token
	v_token		workon.refresh_tokens := workon.refresh_token_lock(auth_refresh.refresh_token);
BEGIN

	IF v_token.used_at IS NULL THEN
		UPDATE workon.refresh_tokens AS t SET used_at = pg_catalog.now() WHERE t.id = v_token.id;
	ELSIF pg_catalog.now() - v_token.used_at
		  > pg_catalog.make_interval(secs => workon.token_ttl('refresh_grace')) THEN
		/*
		 * Replayed after the grace period: stolen, or a client gone wrong.
		 * The whole family is revoked, and that must be committed, so the
		 * refusal is a 401 response rather than an error.
		 */
		PERFORM workon.refresh_family_revoke(v_token, 'token_reused');
		PERFORM workon.set_response(401, NULL);
		RETURN pg_catalog.json_build_object('error', pg_catalog.json_build_object(
			'code', 'token_reused',
			'message', 'refresh token already used; all sessions of this login are revoked',
			'details', pg_catalog.json_build_object()));
	END IF;
	-- else: replayed within the grace period (two tabs at once): a sibling

	RETURN workon.session_issue(v_token.user_id, v_token.family_id, v_token.id);
END
$$;

COMMENT ON FUNCTION workon.auth_refresh(text) IS
'POST /api/v1/auth/refresh: a new token pair for a refresh token, which is used up. A used one replayed within workon.refresh_grace seconds of its rotation gets a new pair of the same family; later, the family is revoked and the result is status 401 with the error body {"error":{"code":"token_reused",...}} (returned, not raised, so that the revocation commits). Unknown, revoked or expired: WOA03 invalid_refresh_token';

CREATE FUNCTION workon.auth_logout(refresh_token text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.refresh_family_revoke(workon.refresh_token_lock(auth_logout.refresh_token), 'logout');
END
$$;

COMMENT ON FUNCTION workon.auth_logout(text) IS
'POST /api/v1/auth/logout: revokes the family of the refresh token (no access token needed); WOA03 invalid_refresh_token if it is unknown, revoked or expired';

CREATE FUNCTION workon.me()
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		json := workon.user_json(workon.current_user_id());
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_user;
END
$$;

COMMENT ON FUNCTION workon.me() IS
'GET /api/v1/me: the authenticated user';

CREATE FUNCTION workon.admin_user_update(id uuid, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_id		uuid;
BEGIN
	IF admin_user_update.role IS NULL
	   OR admin_user_update.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;

	UPDATE workon.users AS u
	   SET role = admin_user_update.role
	 WHERE u.id = admin_user_update.id
	RETURNING u.id INTO v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	RETURN workon.user_json(v_id);
END
$$;

COMMENT ON FUNCTION workon.admin_user_update(uuid, text) IS
'PATCH /api/v1/admin/users/{id}: changes a user''s role (admins only; audited). The user''s access tokens keep their role until they expire; the next refresh carries the new one';

--
-- Row-level security and privileges of the identity tables
--
GRANT SELECT (id, email, name, role, created_at, updated_at) ON workon.users
	TO workon_member, workon_host, workon_admin;
GRANT UPDATE (role) ON workon.users TO workon_admin;

-- The settings the front end passes along (JWT_ISSUER, JWT_AUDIENCE,
-- JWT_ACCESS_TTL, JWT_REFRESH_TTL) may be set by its login role, and
-- otherwise by superusers only.
GRANT SET ON PARAMETER workon.jwt_issuer, workon.jwt_audience,
	workon.jwt_access_ttl, workon.jwt_refresh_ttl
	TO workon_authenticator;

INSERT INTO workon.routes (method, path, handler, auth, status, body, summary) VALUES
	('POST', '/api/v1/auth/register', 'workon.auth_register(text,text,text,text)',
	 'none', 201, 'json', 'Register a member or host'),
	('POST', '/api/v1/auth/login', 'workon.auth_login(text,text)',
	 'none', 200, 'json', 'Log in with email and password'),
	('POST', '/api/v1/auth/refresh', 'workon.auth_refresh(text)',
	 'none', 200, 'json', 'Exchange a refresh token for a new token pair'),
	('POST', '/api/v1/auth/logout', 'workon.auth_logout(text)',
	 'none', 204, 'json', 'Revoke a refresh token and its family'),
	('GET', '/api/v1/me', 'workon.me()',
	 'member', 200, 'none', 'The authenticated user'),
	('PATCH', '/api/v1/admin/users/{id}', 'workon.admin_user_update(uuid,text)',
	 'admin', 200, 'json', 'Change a user''s role');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOA01', 401, 'invalid_credentials'),
	('WOA02', 401, 'token_reused'),
	('WOA03', 401, 'invalid_refresh_token'),
	('WOC01', 409, 'email_taken');

--
-- Function privileges: nothing for PUBLIC, then exactly what each role needs
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- the HTTP front end
GRANT EXECUTE ON FUNCTION
	workon.dispatch(oid, jsonb, jsonb, text, text, jsonb),
	workon.health()
	TO workon_authenticator;

-- used by route handlers and row-level security policies, which run as the
-- API role
GRANT EXECUTE ON FUNCTION
	workon.claims(),
	workon.current_user_id(),
	workon.current_role(),
	workon.cursor_encode(timestamptz, uuid),
	workon.cursor_decode(text),
	workon.set_response(int4, jsonb),
	workon.space_json(workon.spaces),
	workon.json_build("any"),
	workon.json_trusted(text)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- checked whenever a space is written
GRANT EXECUTE ON FUNCTION workon.valid_timezone(text)
	TO workon_host, workon_admin;

-- route handlers, per the auth column of workon.routes
GRANT EXECUTE ON FUNCTION
	workon.spaces_list(text, text, integer, integer, text),
	workon.space_get(uuid)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- identity: the front end seeds keys and the first admin at start
GRANT EXECUTE ON FUNCTION
	workon.seed_jwt_key(text),
	workon.seed_refresh_secret(text),
	workon.ensure_admin(text, text)
	TO workon_authenticator;

-- verifying a token, for SQL callers and the front end
GRANT EXECUTE ON FUNCTION
	workon.authenticate(text),
	workon.jwt_verify(text),
	workon.jwt_public_keys()
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

-- route handlers: identity
GRANT EXECUTE ON FUNCTION
	workon.auth_register(text, text, text, text),
	workon.auth_login(text, text),
	workon.auth_refresh(text),
	workon.auth_logout(text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.me(),
	workon.user_json(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.admin_user_update(uuid, text)
	TO workon_admin;

--
-- pg_dump: keep the data of users and spaces.  The route and error rows
-- shipped are recreated by CREATE EXTENSION, so only rows added later are
-- dumped: the filter is set once every shipped row is in (after the routes
-- of payments below; an update script that ships rows sets it again).
--
SELECT pg_catalog.pg_extension_config_dump('workon.users', '');
SELECT pg_catalog.pg_extension_config_dump('workon.spaces', '');
SELECT pg_catalog.pg_extension_config_dump('workon.jwt_keys', '');
SELECT pg_catalog.pg_extension_config_dump('workon.secrets', '');
SELECT pg_catalog.pg_extension_config_dump('workon.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log_id_seq', '');

--
-- Spaces and bookings
--
-- (Kept in the order the update from 0.2.0 creates them, so that a fresh
-- install and an updated one are the same.)
--

--
-- Booking rules (extension/booking.c)
--
CREATE FUNCTION workon.opening_hours_check(opening_hours jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'opening_hours_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.opening_hours_check(jsonb) IS
'Validates opening hours: an object mapping mon..sun to sorted, non-overlapping lists of ["HH:MM","HH:MM"] intervals ("24:00" ends a day); error 22023 naming the field (opening_hours or opening_hours.<day>) otherwise. Not strict: NULL is refused';

CREATE FUNCTION workon.opening_intervals(timezone text, opening_hours jsonb,
										 "from" timestamptz, "to" timestamptz)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz)
AS 'MODULE_PATHNAME', 'opening_intervals'
LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION workon.opening_intervals(text, jsonb, timestamptz, timestamptz) IS
'The open periods of a space within [from, to): its opening hours in its time zone (DST included) as instants, periods that touch (across midnight too) merged, clipped to the window (at most 400 days)';

-- not strict: a missing starts_at or ends_at is an error naming the field
CREATE FUNCTION workon.booking_check(timezone text, opening_hours jsonb,
									 starts_at timestamptz, ends_at timestamptz,
									 now timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'booking_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_check(text, jsonb, timestamptz, timestamptz, timestamptz) IS
'The rules of a new booking at time "now": ends after it starts, both ends on the 15-minute grid, at least 30 minutes, starts in the future and at most 180 days ahead, inside the opening hours (space''s zone, DST included, overnight across touching intervals). The first rule broken is error 22023 naming the rule, field starts_at or ends_at';

CREATE FUNCTION workon.booking_price(timezone text, hourly_rate_cents bigint,
									 daily_rate_cents bigint,
									 starts_at timestamptz, ends_at timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'booking_price'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_price(text, bigint, bigint, timestamptz, timestamptz) IS
'Price in cents: for each calendar day of the zone, min(elapsed hours x hourly rate, daily rate) rounded half up to the cent, summed (exact integer arithmetic)';

CREATE FUNCTION workon.booking_transition_allowed("from" text, "to" text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'booking_transition_allowed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_transition_allowed(text, text) IS
'The booking state machine: pending_payment -> confirmed | expired | cancelled, confirmed -> cancelled | completed; everything else is false';

CREATE FUNCTION workon.booking_refund(starts_at timestamptz, cancelled_at timestamptz,
									  paid_cents bigint,
									  OUT percent integer, OUT amount_cents bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'booking_refund'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_refund(timestamptz, timestamptz, bigint) IS
'The cancellation policy: 100 % of what was paid when cancelled at least 24 hours before the start, 50 % (rounded half up) later; error WOC04 cannot_cancel from the start on';

-- The front end passes BOOKING_HOLD_MINUTES
GRANT SET ON PARAMETER workon.booking_hold_minutes TO workon_authenticator;

--
-- Spaces: validation of every write
--
CREATE FUNCTION workon.space_check()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF NEW.name IS NULL OR pg_catalog.btrim(NEW.name) = '' THEN
		RAISE EXCEPTION 'name is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(NEW.name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF NEW.kind IS NULL OR NEW.kind NOT IN ('desk', 'private_office', 'meeting_room', 'event_space') THEN
		RAISE EXCEPTION 'kind must be one of desk, private_office, meeting_room, event_space'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'kind';
	END IF;
	IF NEW.city IS NULL OR pg_catalog.btrim(NEW.city) = '' THEN
		RAISE EXCEPTION 'city is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'city';
	END IF;
	IF NEW.address IS NULL OR pg_catalog.btrim(NEW.address) = '' THEN
		RAISE EXCEPTION 'address is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'address';
	END IF;
	IF NEW.capacity IS NULL OR NEW.capacity < 1 THEN
		RAISE EXCEPTION 'capacity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'capacity';
	END IF;
	IF NEW.timezone IS NULL OR NOT workon.valid_timezone(NEW.timezone) THEN
		RAISE EXCEPTION 'timezone must name an IANA time zone such as Europe/Berlin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'timezone';
	END IF;
	IF NEW.hourly_rate_cents IS NULL OR NEW.hourly_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'hourly_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'hourly_rate_cents';
	END IF;
	IF NEW.daily_rate_cents IS NULL OR NEW.daily_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'daily_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'daily_rate_cents';
	END IF;
	NEW.currency := pg_catalog.lower(NEW.currency);
	IF NEW.currency IS NULL OR NEW.currency !~ '^[a-z]{3}$' THEN
		RAISE EXCEPTION 'currency must be a three-letter ISO 4217 code such as eur'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'currency';
	END IF;
	PERFORM workon.opening_hours_check(NEW.opening_hours);
	IF NEW.published IS NULL THEN
		RAISE EXCEPTION 'published must be true or false'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'published';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.space_check() IS
'Trigger: validates a space on every insert and update, error 22023 naming the field; lower-cases the currency';

CREATE TRIGGER spaces_check
	BEFORE INSERT OR UPDATE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.space_check();

CREATE TRIGGER spaces_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.audit_row('doc');

GRANT INSERT (host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents,
			  daily_rate_cents, currency, opening_hours, published),
	  UPDATE (name, kind, city, address, capacity, timezone, hourly_rate_cents,
			  daily_rate_cents, currency, opening_hours, published),
	  DELETE
	ON workon.spaces TO workon_host, workon_admin;

--
-- Bookings
--
CREATE TABLE workon.bookings (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	space_id	uuid NOT NULL REFERENCES workon.spaces (id) ON DELETE CASCADE,
	user_id		uuid NOT NULL REFERENCES workon.users (id),
	starts_at	timestamptz NOT NULL,
	ends_at		timestamptz NOT NULL,
	status		text NOT NULL DEFAULT 'pending_payment'
				CONSTRAINT bookings_status_check
				CHECK (status IN ('pending_payment', 'confirmed', 'expired', 'cancelled', 'completed')),
	hold_expires_at timestamptz,
	price_cents	bigint NOT NULL
				CONSTRAINT bookings_price_cents_check CHECK (price_cents >= 0),
	currency	text NOT NULL
				CONSTRAINT bookings_currency_check CHECK (currency ~ '^[a-z]{3}$'),
	cancelled_at timestamptz,
	refund_percent integer
				CONSTRAINT bookings_refund_percent_check CHECK (refund_percent BETWEEN 0 AND 100),
	refund_cents bigint
				CONSTRAINT bookings_refund_cents_check CHECK (refund_cents >= 0),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT bookings_period_check
		CHECK (ends_at > starts_at AND pg_catalog.isfinite(starts_at) AND pg_catalog.isfinite(ends_at)),
	CONSTRAINT bookings_hold_check
		CHECK (status <> 'pending_payment' OR hold_expires_at IS NOT NULL),
	-- No double booking: a slot is taken by a confirmed booking or a hold.
	-- Holds past their expiry are marked expired before a new booking of
	-- the slot is inserted, in the same transaction.
	CONSTRAINT bookings_no_overlap
		EXCLUDE USING gist (space_id WITH =,
							pg_catalog.tstzrange(starts_at, ends_at, '[)') WITH &&)
		WHERE (status IN ('pending_payment', 'confirmed'))
);

COMMENT ON TABLE workon.bookings IS
'Bookings of spaces: pending_payment (a hold until hold_expires_at), confirmed, expired, cancelled (refund_percent, refund_cents) or completed; no two confirmed bookings or holds of a space overlap';

CREATE INDEX bookings_user_id_created_at_idx ON workon.bookings (user_id, created_at DESC, id DESC);
CREATE INDEX bookings_created_at_idx ON workon.bookings (created_at DESC, id DESC);
CREATE INDEX bookings_space_id_starts_at_idx ON workon.bookings (space_id, starts_at);

CREATE TRIGGER bookings_set_updated_at
	BEFORE UPDATE ON workon.bookings
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.booking_transition()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT workon.booking_transition_allowed(OLD.status, NEW.status)
	   AND NOT (OLD.status = 'expired' AND NEW.status = 'confirmed'
				AND EXISTS (SELECT FROM workon.payments AS p
							 WHERE p.booking_id = NEW.id AND p.status = 'succeeded')) THEN
		RAISE EXCEPTION 'a booking cannot go from % to %', OLD.status, NEW.status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.booking_transition() IS
'Trigger: refuses status changes the booking state machine (workon.booking_transition_allowed) does not allow, whoever writes, except expired -> confirmed for a booking whose payment succeeded; error WOC03 invalid_transition';

CREATE TRIGGER bookings_transition
	BEFORE UPDATE ON workon.bookings
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.booking_transition();

CREATE TRIGGER bookings_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.bookings
	FOR EACH ROW WHEN (NOT workon.restoring('workon.bookings'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.bookings ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.bookings FORCE ROW LEVEL SECURITY;

-- A booking is seen by its member, the space's host and admins.  Writes go
-- through the booking functions only.
CREATE POLICY bookings_visible ON workon.bookings
	FOR SELECT
	USING (user_id = workon.current_user_id()
		   OR workon.current_role() = 'admin'
		   OR EXISTS (SELECT FROM workon.spaces AS s
					   WHERE s.id = space_id AND s.host_id = workon.current_user_id()));

GRANT SELECT ON workon.bookings TO workon_member, workon_host, workon_admin;

CREATE FUNCTION workon.booking_status(b workon.bookings)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
				THEN 'expired' ELSE b.status END
$$;

COMMENT ON FUNCTION workon.booking_status(workon.bookings) IS
'Effective status of a booking: a pending_payment hold past hold_expires_at is expired';

CREATE FUNCTION workon.booking_json(b workon.bookings)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', b.id,
		'space_id', b.space_id,
		'user_id', b.user_id,
		'starts_at', b.starts_at,
		'ends_at', b.ends_at,
		'status', workon.booking_status(b),
		'price', workon.json_build('amount_cents', b.price_cents, 'currency', b.currency),
		'hold_expires_at', b.hold_expires_at,
		'refund', CASE WHEN b.refund_percent IS NOT NULL THEN
					  workon.json_build('amount_cents', b.refund_cents,
										'currency', b.currency,
										'percent', b.refund_percent)
				  END,
		'cancelled_at', b.cancelled_at,
		'created_at', b.created_at,
		'updated_at', b.updated_at)
$$;

COMMENT ON FUNCTION workon.booking_json(workon.bookings) IS
'The API representation of a booking';

--
-- Route handlers: spaces (writes and availability)
--
CREATE FUNCTION workon.space_body_check(body jsonb, allowed text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	k			text;
	v			jsonb;
	t			text;
BEGIN
	IF space_body_check.body IS NULL OR pg_catalog.jsonb_typeof(space_body_check.body) <> 'object' THEN
		RAISE EXCEPTION 'request body must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k, v IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(space_body_check.body) AS e ORDER BY e.key
	LOOP
		IF NOT k = ANY (space_body_check.allowed) THEN
			RAISE EXCEPTION 'unknown parameter'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k,
					  DETAIL = pg_catalog.format('Parameter "%s" is not taken here.', k);
		END IF;
		t := pg_catalog.jsonb_typeof(v);
		CONTINUE WHEN t = 'null';
		IF k IN ('name', 'kind', 'city', 'address', 'timezone', 'currency', 'host_id') AND t <> 'string' THEN
			RAISE EXCEPTION '% must be a string', k
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k IN ('capacity', 'hourly_rate_cents', 'daily_rate_cents')
			  AND (t <> 'number' OR v::numeric <> pg_catalog.trunc(v::numeric)
				   OR v::numeric NOT BETWEEN -2147483648 AND 2147483647 AND k = 'capacity'
				   OR v::numeric NOT BETWEEN -9223372036854775808 AND 9223372036854775807) THEN
			RAISE EXCEPTION '% must be an integer', k
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k = 'published' AND t <> 'boolean' THEN
			RAISE EXCEPTION 'published must be true or false'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k = 'host_id'
			  AND v #>> '{}' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
			RAISE EXCEPTION 'host_id must be a UUID'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		END IF;
	END LOOP;
END
$$;

COMMENT ON FUNCTION workon.space_body_check(jsonb, text[]) IS
'Checks a space request body: a JSON object of allowed keys whose values have the right JSON types (null allowed); error 22023 naming the field otherwise';

CREATE FUNCTION workon.space_create(body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces;
BEGIN
	PERFORM workon.space_body_check(space_create.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published', 'host_id']);
	v := pg_catalog.jsonb_populate_record(NULL::workon.spaces, space_create.body);

	IF v.host_id IS NOT NULL THEN
		IF workon.current_role() IS DISTINCT FROM 'admin' AND v.host_id IS DISTINCT FROM workon.current_user_id() THEN
			RAISE EXCEPTION 'host_id may be set by admins only'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'host_id';
		END IF;
		IF NOT EXISTS (SELECT FROM workon.users AS u
						WHERE u.id = v.host_id AND u.role IN ('host', 'admin')) THEN
			RAISE EXCEPTION 'host_id must name a host'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'host_id';
		END IF;
	END IF;
	v.host_id := COALESCE(v.host_id, workon.current_user_id());
	IF v.host_id IS NULL THEN
		RAISE EXCEPTION 'host_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'host_id';
	END IF;

	INSERT INTO workon.spaces AS s (host_id, name, kind, city, address, capacity, timezone,
									hourly_rate_cents, daily_rate_cents, currency,
									opening_hours, published)
	VALUES (v.host_id, v.name, v.kind, v.city, v.address, v.capacity, v.timezone,
			v.hourly_rate_cents, v.daily_rate_cents, v.currency,
			COALESCE(v.opening_hours, '{}'), COALESCE(v.published, false))
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_create(jsonb) IS
'POST /api/v1/spaces (host, admin): a new space of the caller (admins may name another host with host_id); opening_hours defaults to {} (closed), published to false; 22023 naming the field for anything invalid';

CREATE FUNCTION workon.space_writable(id uuid)
RETURNS workon.spaces
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v			workon.spaces;
BEGIN
	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_writable.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF workon.current_role() IS DISTINCT FROM 'admin'
	   AND v.host_id IS DISTINCT FROM workon.current_user_id() THEN
		RAISE EXCEPTION 'only the space''s host or an admin may change it'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN v;
END
$$;

COMMENT ON FUNCTION workon.space_writable(uuid) IS
'The space if the caller may change it (its host, an admin); P0002 if the caller cannot see it, 42501 if they see but may not change it';

CREATE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces := workon.space_writable(space_update.id);
BEGIN
	PERFORM workon.space_body_check(space_update.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published']);

	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_update.id FOR UPDATE;
	-- fields present in the body replace the stored ones (null included)
	v := pg_catalog.jsonb_populate_record(v, space_update.body);

	UPDATE workon.spaces AS s
	   SET name = v.name, kind = v.kind, city = v.city, address = v.address,
		   capacity = v.capacity, timezone = v.timezone,
		   hourly_rate_cents = v.hourly_rate_cents, daily_rate_cents = v.daily_rate_cents,
		   currency = v.currency, opening_hours = v.opening_hours, published = v.published
	 WHERE s.id = space_update.id
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_update(uuid, jsonb) IS
'PATCH /api/v1/spaces/{id} (its host, admin): changes the fields present in the body; a field given as null is refused if the space needs it. Existing bookings keep their price';

CREATE FUNCTION workon.space_delete(id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	PERFORM workon.space_writable(space_delete.id);
	-- serializes with bookings being made (their foreign key check)
	PERFORM FROM workon.spaces AS s WHERE s.id = space_delete.id FOR UPDATE;

	IF EXISTS (SELECT FROM workon.bookings AS b
				WHERE b.space_id = space_delete.id
				  AND b.ends_at > pg_catalog.now()
				  AND (b.status = 'confirmed'
					   OR (b.status = 'pending_payment' AND b.hold_expires_at > pg_catalog.now()))) THEN
		RAISE EXCEPTION 'space has future bookings'
			USING ERRCODE = 'WOC05',
				  HINT = 'Unpublish it instead, or wait until its bookings have ended.';
	END IF;

	DELETE FROM workon.spaces AS s WHERE s.id = space_delete.id;
END
$$;

COMMENT ON FUNCTION workon.space_delete(uuid) IS
'DELETE /api/v1/spaces/{id} (its host, admin): deletes the space and its past, cancelled and expired bookings (the audit log keeps them); WOC05 has_future_bookings while a confirmed booking or live hold has not ended';

CREATE FUNCTION workon.space_busy(space_id uuid, "from" timestamptz, "to" timestamptz)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.lower(r), pg_catalog.upper(r)
	  FROM pg_catalog.unnest((
		SELECT pg_catalog.range_agg(pg_catalog.tstzrange(GREATEST(b.starts_at, $2),
														 LEAST(b.ends_at, $3)))
		  FROM workon.bookings AS b
		 WHERE b.space_id = $1
		   AND b.starts_at < $3 AND b.ends_at > $2
		   AND (b.status = 'confirmed'
				OR (b.status = 'pending_payment' AND b.hold_expires_at > pg_catalog.now()))
		   AND EXISTS (SELECT FROM workon.spaces AS s
						WHERE s.id = $1
						  AND (s.published OR s.host_id = workon.current_user_id()
							   OR workon.current_role() = 'admin')))) AS r
	 ORDER BY 1
$$;

COMMENT ON FUNCTION workon.space_busy(uuid, timestamptz, timestamptz) IS
'Busy periods (confirmed bookings and live holds, merged, clipped) of a space the caller may see, within [from, to); no booking details';

CREATE FUNCTION workon.periods_json(periods tstzmultirange)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT COALESCE(pg_catalog.json_agg(workon.json_build('starts_at', pg_catalog.lower(r),
														   'ends_at', pg_catalog.upper(r))
										ORDER BY pg_catalog.lower(r)),
					'[]'::json)
	  FROM pg_catalog.unnest($1) AS r
$$;

COMMENT ON FUNCTION workon.periods_json(tstzmultirange) IS
'A multirange as a JSON list of {"starts_at","ends_at"}';

CREATE FUNCTION workon.space_availability(id uuid, "from" timestamptz DEFAULT NULL,
										  "to" timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_from		timestamptz := COALESCE(space_availability."from", pg_catalog.now());
	v_to		timestamptz := COALESCE(space_availability."to", v_from + interval '7 days');
	v			workon.spaces;
	v_open		tstzmultirange;
	v_busy		tstzmultirange;
BEGIN
	IF NOT pg_catalog.isfinite(v_from) THEN
		RAISE EXCEPTION 'from must be a finite time'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'from';
	END IF;
	IF NOT pg_catalog.isfinite(v_to) OR v_to <= v_from THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	IF v_to - v_from > interval '31 days' THEN
		RAISE EXCEPTION 'the window from..to must be at most 31 days'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;

	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_availability.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	SELECT COALESCE(pg_catalog.range_agg(pg_catalog.tstzrange(o.starts_at, o.ends_at)), '{}')
	  INTO v_open
	  FROM workon.opening_intervals(v.timezone, v.opening_hours, v_from, v_to) AS o;
	SELECT COALESCE(pg_catalog.range_agg(pg_catalog.tstzrange(b.starts_at, b.ends_at)), '{}')
	  INTO v_busy
	  FROM workon.space_busy(v.id, v_from, v_to) AS b;

	RETURN workon.json_build(
		'space_id', v.id,
		'timezone', v.timezone,
		'from', v_from,
		'to', v_to,
		'open', workon.periods_json(v_open),
		'busy', workon.periods_json(v_busy),
		'free', workon.periods_json(v_open - v_busy));
END
$$;

COMMENT ON FUNCTION workon.space_availability(uuid, timestamptz, timestamptz) IS
'GET /api/v1/spaces/{id}/availability?from=&to=: {space_id, timezone, from, to, open, busy, free}, each a list of {starts_at, ends_at}: opening hours (space''s zone, DST included), confirmed bookings and live holds, and open minus busy; window default now..+7 days, at most 31 days';

--
-- Route handlers: bookings
--
CREATE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
									  starts_at timestamptz DEFAULT NULL,
									  ends_at timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_now		timestamptz := pg_catalog.now();
	v_space		workon.spaces;
	v_booking	workon.bookings;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF booking_create.space_id IS NULL THEN
		RAISE EXCEPTION 'space_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;

	-- the visibility rule of workon.spaces (this function bypasses it)
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = booking_create.space_id
	   AND (s.published OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	PERFORM workon.booking_check(v_space.timezone, v_space.opening_hours,
								 booking_create.starts_at, booking_create.ends_at, v_now);

	/*
	 * One booking of a space at a time, so that concurrent requests for a
	 * slot queue up instead of deadlocking on the exclusion constraint;
	 * then holds past their expiry give their slot up.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
											 pg_catalog.hashtext(v_space.id::text));
	UPDATE workon.bookings AS b
	   SET status = 'expired'
	 WHERE b.space_id = v_space.id
	   AND b.status = 'pending_payment'
	   AND b.hold_expires_at <= v_now
	   AND pg_catalog.tstzrange(b.starts_at, b.ends_at, '[)')
		   OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(booking_create.starts_at, booking_create.ends_at, '[)');

	BEGIN
		INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status,
									 hold_expires_at, price_cents, currency)
		VALUES (v_space.id, v_user, booking_create.starts_at, booking_create.ends_at,
				'pending_payment',
				v_now + pg_catalog.current_setting('workon.booking_hold_minutes')::interval,
				workon.booking_price(v_space.timezone, v_space.hourly_rate_cents,
									 v_space.daily_rate_cents,
									 booking_create.starts_at, booking_create.ends_at),
				v_space.currency)
		RETURNING * INTO v_booking;
	EXCEPTION WHEN exclusion_violation THEN
		RAISE EXCEPTION 'the space is already booked for part of that time'
			USING ERRCODE = 'WOC02';
	END;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_create(uuid, timestamptz, timestamptz) IS
'POST /api/v1/bookings: a hold (pending_payment until hold_expires_at, workon.booking_hold_minutes from now) of a space the caller can see; the rules of workon.booking_check (22023 naming the rule), the price of workon.booking_price; P0002 for an unknown or unseen space; WOC02 booking_conflict if a confirmed booking or live hold overlaps';

CREATE FUNCTION workon.booking_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_booking	json;
BEGIN
	SELECT workon.booking_json(b) INTO v_booking
	  FROM workon.bookings AS b
	 WHERE b.id = booking_get.id;
	IF v_booking IS NULL THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_booking;
END
$$;

COMMENT ON FUNCTION workon.booking_get(uuid) IS
'GET /api/v1/bookings/{id}: one booking, seen by its member, the space''s host and admins; P0002 for anyone else';

CREATE FUNCTION workon.bookings_list("limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_limit		integer := COALESCE(bookings_list."limit", 20);
	v_all		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_user		uuid := workon.current_user_id();
	v_after_ts	timestamptz := 'infinity';
	v_after_id	uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF bookings_list.cursor <> '' THEN
		SELECT c.ts, c.id INTO v_after_ts, v_after_id
		  FROM workon.cursor_decode(bookings_list.cursor) AS c;
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.json_agg(p.booking ORDER BY p.n)
								FILTER (WHERE p.n <= v_limit),
								'[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id))
								   FILTER (WHERE p.n = v_limit))[1]
							  END)
	  INTO v_page
	  FROM (SELECT workon.booking_json(b) AS booking, b.created_at, b.id,
				   pg_catalog.row_number() OVER (ORDER BY b.created_at DESC, b.id DESC) AS n
			  FROM workon.bookings AS b
			 WHERE (v_all OR b.user_id = v_user)
			   AND (b.created_at, b.id) < (v_after_ts, v_after_id)
			 ORDER BY b.created_at DESC, b.id DESC
			 LIMIT v_limit + 1) AS p;

	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.bookings_list(integer, text) IS
'GET /api/v1/bookings: the caller''s bookings (admins: all), newest first, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20)';

CREATE FUNCTION workon.booking_cancel(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_admin		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_booking	workon.bookings;
	v_pay		workon.payments;
	v_status	text;
	v_paid		bigint := 0;
	v_refund	record;
	v_reason	text := 'requested_by_customer';
BEGIN
	SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = booking_cancel.id FOR UPDATE;
	-- the visibility rule of workon.bookings (this function bypasses it)
	IF NOT FOUND
	   OR NOT (v_admin OR v_booking.user_id = v_user
			   OR EXISTS (SELECT FROM workon.spaces AS s
						   WHERE s.id = v_booking.space_id AND s.host_id = v_user)) THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT (v_admin OR v_booking.user_id = v_user) THEN
		RAISE EXCEPTION 'only the member who booked or an admin may cancel a booking'
			USING ERRCODE = 'insufficient_privilege';
	END IF;

	v_status := workon.booking_status(v_booking);
	IF NOT workon.booking_transition_allowed(v_status, 'cancelled') THEN
		RAISE EXCEPTION 'a booking cannot go from % to cancelled', v_status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking.id FOR UPDATE;
	IF v_pay.status = 'succeeded' THEN
		v_paid := GREATEST(v_pay.amount_received_cents - v_pay.refunded_cents, 0);
	END IF;
	SELECT * INTO v_refund FROM workon.booking_refund(v_booking.starts_at, pg_catalog.now(), v_paid);
	IF v_status <> 'confirmed' AND v_paid > 0 THEN
		-- paid without confirming it (another amount): all of it back
		v_refund.percent := 100;
		v_refund.amount_cents := v_paid;
		v_reason := 'booking_cancelled';
	END IF;

	UPDATE workon.bookings AS b
	   SET status = 'cancelled', cancelled_at = pg_catalog.now(),
		   refund_percent = v_refund.percent, refund_cents = v_refund.amount_cents
	 WHERE b.id = v_booking.id
	RETURNING * INTO v_booking;

	IF v_refund.amount_cents > 0 THEN
		PERFORM workon.refund_start(v_pay, v_refund.amount_cents, v_reason);
	ELSIF v_pay.id IS NOT NULL AND v_pay.status NOT IN ('succeeded', 'canceled') THEN
		-- stop a payment under way; should it succeed anyway, it is refunded
		IF v_pay.stripe_payment_intent_id IS NOT NULL THEN
			PERFORM workon.outbox_enqueue('stripe', 'payment_intent_cancel',
										  '/v1/payment_intents/' || v_pay.stripe_payment_intent_id || '/cancel',
										  '{}'::jsonb, 'workon:payment_intent_cancel:' || v_pay.id,
										  v_pay.id, NULL, v_booking.id);
		ELSIF v_pay.checkout_session_id IS NOT NULL THEN
			PERFORM workon.outbox_enqueue('stripe', 'checkout_session_expire',
										  '/v1/checkout/sessions/' || v_pay.checkout_session_id || '/expire',
										  '{}'::jsonb, 'workon:checkout_session_expire:' || v_pay.id,
										  v_pay.id, NULL, v_booking.id);
		END IF;
	END IF;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_cancel(uuid) IS
'POST /api/v1/bookings/{id}/cancel (its member, admin): status cancelled with refund {amount_cents, currency, percent} by workon.booking_refund of what was paid (0 unless confirmed and paid); a paid booking''s refund is a refund row and a Stripe refund call in the same transaction, a payment under way is cancelled at Stripe, a payment that succeeded without confirming the booking (another amount) is refunded in full; WOC04 cannot_cancel once started, WOC03 invalid_transition unless pending (live hold) or confirmed, P0002 for bookings the caller cannot see, 42501 for the space''s host';

--
-- Routes and errors
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary) VALUES
	('POST', '/api/v1/spaces', 'workon.space_create(jsonb)',
	 'host', 201, 'json', 'Create a space'),
	('PATCH', '/api/v1/spaces/{id}', 'workon.space_update(uuid,jsonb)',
	 'host', 200, 'json', 'Change a space'),
	('DELETE', '/api/v1/spaces/{id}', 'workon.space_delete(uuid)',
	 'host', 204, 'none', 'Delete a space without future bookings'),
	('GET', '/api/v1/spaces/{id}/availability',
	 'workon.space_availability(uuid,timestamptz,timestamptz)',
	 'none', 200, 'none', 'Open, busy and free periods of a space'),
	('POST', '/api/v1/bookings', 'workon.booking_create(uuid,timestamptz,timestamptz)',
	 'member', 201, 'json', 'Book a space (a hold until paid)'),
	('GET', '/api/v1/bookings', 'workon.bookings_list(integer,text)',
	 'member', 200, 'none', 'My bookings (admins: all)'),
	('GET', '/api/v1/bookings/{id}', 'workon.booking_get(uuid)',
	 'member', 200, 'none', 'Get a booking'),
	('POST', '/api/v1/bookings/{id}/cancel', 'workon.booking_cancel(uuid)',
	 'member', 200, 'none', 'Cancel a booking');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOC02', 409, 'booking_conflict'),
	('WOC03', 409, 'invalid_transition'),
	('WOC04', 409, 'cannot_cancel'),
	('WOC05', 409, 'has_future_bookings');

--
-- Function privileges of this release
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	workon.opening_intervals(text, jsonb, timestamptz, timestamptz),
	workon.space_busy(uuid, timestamptz, timestamptz),
	workon.periods_json(tstzmultirange),
	workon.space_availability(uuid, timestamptz, timestamptz),
	workon.booking_price(text, bigint, bigint, timestamptz, timestamptz)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.booking_check(text, jsonb, timestamptz, timestamptz, timestamptz),
	workon.booking_transition_allowed(text, text),
	workon.booking_refund(timestamptz, timestamptz, bigint),
	workon.booking_status(workon.bookings),
	workon.booking_json(workon.bookings),
	workon.booking_create(uuid, timestamptz, timestamptz),
	workon.booking_get(uuid),
	workon.bookings_list(integer, text),
	workon.booking_cancel(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.opening_hours_check(jsonb),
	workon.space_body_check(jsonb, text[]),
	workon.space_writable(uuid),
	workon.space_create(jsonb),
	workon.space_update(uuid, jsonb),
	workon.space_delete(uuid)
	TO workon_host, workon_admin;

--
-- pg_dump: bookings are data
--
SELECT pg_catalog.pg_extension_config_dump('workon.bookings', '');

--
-- JWT keys are cached per backend: changes of workon.jwt_keys invalidate the
-- caches (the C code reads the keys as the table's owner, so
-- workon.jwt_verify needs no SECURITY DEFINER).
--
CREATE FUNCTION workon.jwt_keys_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'jwt_keys_changed'
LANGUAGE C;

COMMENT ON FUNCTION workon.jwt_keys_changed() IS
'Trigger: every backend drops its cached JWT keys once a change of workon.jwt_keys commits';

REVOKE ALL ON FUNCTION workon.jwt_keys_changed() FROM PUBLIC;

CREATE TRIGGER jwt_keys_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.jwt_keys
	FOR EACH STATEMENT EXECUTE FUNCTION workon.jwt_keys_changed();


--
-- ==== 0.4.0: payments (Stripe) ====
--
-- Payments follow Stripe's PaymentIntent lifecycle and refunds Stripe's
-- Refund lifecycle, both enforced by triggers (extension/payment.c).
-- Calls to Stripe are outbox rows written in the same transaction as the
-- change, performed by the HTTP front end with an idempotency key; its
-- answer comes back through workon.outbox_result().  Webhook deliveries are
-- verified in C (extension/webhook.c), stored once per event id and folded
-- into the payment in one canonical order, so that the end state does not
-- depend on the order they arrived in.
--

--
-- State machines and schedules (extension/payment.c)
--
CREATE FUNCTION workon.payment_transition_allowed("from" text, "to" text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'payment_transition_allowed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.payment_transition_allowed(text, text) IS
'The payment state machine (Stripe PaymentIntent): requires_payment_method, requires_confirmation, requires_action and processing may go to any other status, requires_capture to processing, succeeded or canceled; succeeded and canceled are final';

CREATE FUNCTION workon.refund_transition_allowed("from" text, "to" text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'refund_transition_allowed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.refund_transition_allowed(text, text) IS
'The refund state machine (Stripe Refund): pending and requires_action may go to any other status, succeeded only to failed; failed and canceled are final';

CREATE FUNCTION workon.stripe_event_precedence(type text)
RETURNS integer
AS 'MODULE_PATHNAME', 'stripe_event_precedence'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_event_precedence(text) IS
'Rank of a Stripe event type among events of one payment created in the same second (progress, failure, success, cancellation, refund, dispute); 100 for types that are not applied';

CREATE FUNCTION workon.outbox_backoff(attempts integer)
RETURNS double precision
AS 'MODULE_PATHNAME', 'outbox_backoff'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.outbox_backoff(integer) IS
'Seconds before the next attempt of an outbound call after the given number of attempts: 1 s doubling per attempt, at most 600 s, times a random factor in [0.75, 1.25) (still at most 600 s)';

--
-- Webhook signatures (extension/webhook.c)
--
CREATE FUNCTION workon.stripe_signature_verify(payload text, header text, secret text,
											   tolerance integer DEFAULT 300,
											   now timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'stripe_signature_verify'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_signature_verify(text, text, text, integer, timestamptz) IS
'True when a Stripe-Signature header ("t=<unix time>,v1=<hex>[,v1=<hex>...]") carries a v1 HMAC-SHA256 of "<t>.<payload>" under the secret (any v1 may match; constant-time comparison) and t is within tolerance seconds (0..86400) of now, either way; false otherwise';

-- not strict: a missing header or body is an invalid signature
CREATE FUNCTION workon.stripe_signature_check(payload text, header text, secrets text[],
											  tolerance integer DEFAULT 300,
											  now timestamptz DEFAULT pg_catalog.now())
RETURNS void
AS 'MODULE_PATHNAME', 'stripe_signature_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_signature_check(text, text, text[], integer, timestamptz) IS
'workon.stripe_signature_verify with several secrets (during a rotation any may match); a delivery that does not verify is error WOB01 invalid_signature whose detail says why (malformed header, no matching signature, timestamp out of tolerance, no secret)';

CREATE FUNCTION workon.stripe_signature(payload text, secret text, t bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'stripe_signature'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.stripe_signature(text, text, bigint) IS
'The v1 signature (hex HMAC-SHA256 of "<t>.<payload>") Stripe sends for a payload at Unix time t: for tests and replay tools';

--
-- Webhook secrets: several are valid at once while one is being rolled
--
CREATE TABLE workon.stripe_webhook_secrets (
	id			text PRIMARY KEY,
	secret		text NOT NULL
				CONSTRAINT stripe_webhook_secrets_secret_check CHECK (pg_catalog.length(secret) >= 16),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at	timestamptz
);

COMMENT ON TABLE workon.stripe_webhook_secrets IS
'Stripe webhook signing secrets: id derived from an HMAC of the secret, expires_at set (24 hours ahead) when another secret is seeded, so deliveries signed with the previous one still verify during the rotation';

ALTER TABLE workon.stripe_webhook_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.stripe_webhook_secrets FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.seed_stripe_webhook_secret(p_secret text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		text;
BEGIN
	IF p_secret IS NULL OR pg_catalog.length(p_secret) < 16 THEN
		RAISE EXCEPTION 'Stripe webhook secret must be at least 16 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'secret';
	END IF;
	v_id := 'seed-' || pg_catalog.left(pg_catalog.encode(
		workon.hmac_sha256(pg_catalog.convert_to(p_secret, 'UTF8'),
						   pg_catalog.convert_to('workon stripe webhook secret id', 'UTF8')),
		'hex'), 20);

	-- the others stay valid for a day, the seeded one for good
	UPDATE workon.stripe_webhook_secrets AS s
	   SET expires_at = pg_catalog.now() + interval '24 hours'
	 WHERE s.id <> v_id AND s.expires_at IS NULL;
	INSERT INTO workon.stripe_webhook_secrets AS s (id, secret)
	VALUES (v_id, p_secret)
	ON CONFLICT (id) DO UPDATE SET expires_at = NULL WHERE s.expires_at IS NOT NULL;
	IF FOUND THEN
		INSERT INTO workon.audit_log (actor_id, action, entity, entity_id)
		VALUES (workon.current_user_id(), 'seed', 'stripe_webhook_secrets', v_id);
	END IF;
END
$$;

COMMENT ON FUNCTION workon.seed_stripe_webhook_secret(text) IS
'Idempotent, for the front end at start with STRIPE_WEBHOOK_SECRET (at least 16 characters): stores the secret webhooks are verified with; a previously seeded different secret stays valid for 24 more hours';

--
-- Payments
--
CREATE TABLE workon.payments (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	booking_id	uuid NOT NULL REFERENCES workon.bookings (id) ON DELETE CASCADE
				CONSTRAINT payments_booking_id_key UNIQUE,
	user_id		uuid NOT NULL REFERENCES workon.users (id),
	method		text NOT NULL
				CONSTRAINT payments_method_check CHECK (method IN ('payment_intent', 'checkout')),
	status		text NOT NULL DEFAULT 'requires_payment_method'
				CONSTRAINT payments_status_check
				CHECK (status IN ('requires_payment_method', 'requires_confirmation', 'requires_action',
								  'processing', 'requires_capture', 'succeeded', 'canceled')),
	amount_cents bigint NOT NULL
				CONSTRAINT payments_amount_cents_check CHECK (amount_cents >= 0),
	currency	text NOT NULL
				CONSTRAINT payments_currency_check CHECK (currency ~ '^[a-z]{3}$'),
	stripe_payment_intent_id text
				CONSTRAINT payments_stripe_payment_intent_id_key UNIQUE,
	client_secret text,
	checkout_session_id text
				CONSTRAINT payments_checkout_session_id_key UNIQUE,
	checkout_url text,
	generation	integer NOT NULL DEFAULT 1,
	amount_received_cents bigint,
	received_currency text,
	refunded_cents bigint NOT NULL DEFAULT 0
				CONSTRAINT payments_refunded_cents_check CHECK (refunded_cents >= 0),
	last_error	text,
	flags		text[] NOT NULL DEFAULT '{}',
	succeeded_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.payments IS
'One payment per booking, following its Stripe PaymentIntent (status); method payment_intent (client-side confirmation with client_secret) or checkout (a Checkout Session); generation counts fresh starts after Stripe refused a call; amount_received_cents and received_currency as Stripe reported them; refunded_cents as Stripe reported them; flags such as amount_mismatch, disputed';

CREATE INDEX payments_user_id_idx ON workon.payments (user_id);

CREATE TRIGGER payments_set_updated_at
	BEFORE UPDATE ON workon.payments
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.state_transition()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_allowed	boolean;
BEGIN
	IF TG_TABLE_NAME = 'payments' THEN
		v_allowed := workon.payment_transition_allowed(OLD.status, NEW.status);
	ELSE
		v_allowed := workon.refund_transition_allowed(OLD.status, NEW.status);
	END IF;
	IF NOT v_allowed THEN
		RAISE EXCEPTION 'a % cannot go from % to %', TG_ARGV[0], OLD.status, NEW.status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.state_transition() IS
'Trigger of payments and refunds (argument: the noun for messages): refuses status changes their state machines (workon.payment_transition_allowed, workon.refund_transition_allowed) do not allow, whoever writes; error WOC03 invalid_transition';

CREATE TRIGGER payments_transition
	BEFORE UPDATE ON workon.payments
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.state_transition('payment');

CREATE TRIGGER payments_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments'))
	EXECUTE FUNCTION workon.audit_row('client_secret');

ALTER TABLE workon.payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.payments FORCE ROW LEVEL SECURITY;

-- A payment is seen by whoever sees its booking: its member, the space's
-- host, admins.  Writes go through the payment functions only.
CREATE POLICY payments_visible ON workon.payments
	FOR SELECT
	USING (user_id = workon.current_user_id()
		   OR workon.current_role() = 'admin'
		   OR EXISTS (SELECT FROM workon.bookings AS b
					   JOIN workon.spaces AS s ON s.id = b.space_id
					   WHERE b.id = booking_id AND s.host_id = workon.current_user_id()));

-- the client secret is for the paying member only, through the API
GRANT SELECT (id, booking_id, user_id, method, status, amount_cents, currency,
			  stripe_payment_intent_id, checkout_session_id, amount_received_cents,
			  received_currency, refunded_cents, last_error, flags, succeeded_at,
			  created_at, updated_at)
	ON workon.payments TO workon_member, workon_host, workon_admin;

--
-- Refunds
--
CREATE TABLE workon.refunds (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	payment_id	uuid NOT NULL REFERENCES workon.payments (id) ON DELETE CASCADE,
	booking_id	uuid NOT NULL REFERENCES workon.bookings (id) ON DELETE CASCADE,
	amount_cents bigint NOT NULL
				CONSTRAINT refunds_amount_cents_check CHECK (amount_cents > 0),
	currency	text NOT NULL
				CONSTRAINT refunds_currency_check CHECK (currency ~ '^[a-z]{3}$'),
	status		text NOT NULL DEFAULT 'pending'
				CONSTRAINT refunds_status_check
				CHECK (status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
	reason		text NOT NULL
				CONSTRAINT refunds_reason_check
				CHECK (reason IN ('requested_by_customer', 'slot_unavailable', 'booking_cancelled',
								  'stripe')),
	stripe_refund_id text
				CONSTRAINT refunds_stripe_refund_id_key UNIQUE,
	failure_reason text,
	stripe_status_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.refunds IS
'Refunds of payments, following their Stripe Refund (status; stripe_status_at is the time of the refund event that set it); reason requested_by_customer (a cancellation), slot_unavailable (paid after the hold expired and the slot was taken), booking_cancelled (paid after the booking was cancelled) or stripe (made in Stripe itself, seen in charge.refunded)';

CREATE INDEX refunds_payment_id_idx ON workon.refunds (payment_id);
CREATE INDEX refunds_booking_id_idx ON workon.refunds (booking_id);

CREATE TRIGGER refunds_set_updated_at
	BEFORE UPDATE ON workon.refunds
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE TRIGGER refunds_transition
	BEFORE UPDATE ON workon.refunds
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.state_transition('refund');

CREATE TRIGGER refunds_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.refunds
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refunds'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.refunds FORCE ROW LEVEL SECURITY;

CREATE POLICY refunds_visible ON workon.refunds
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.payments AS p WHERE p.id = payment_id));

GRANT SELECT ON workon.refunds TO workon_member, workon_host, workon_admin;

-- Bookings carry flags too (disputed, amount_mismatch)
ALTER TABLE workon.bookings ADD COLUMN flags text[] NOT NULL DEFAULT '{}';

COMMENT ON COLUMN workon.bookings.flags IS
'Marks for the operators: disputed (a chargeback was opened), amount_mismatch (a payment of another amount or currency arrived)';

--
-- Outbox: calls to the outside, written in the transaction of the change
--
CREATE TABLE workon.outbox (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind		text NOT NULL
				CONSTRAINT outbox_kind_check CHECK (kind IN ('stripe', 'email')),
	purpose		text NOT NULL
				CONSTRAINT outbox_purpose_check
				CHECK (purpose IN ('payment_intent', 'checkout_session', 'refund',
								   'payment_intent_cancel', 'checkout_session_expire', 'email')),
	method		text NOT NULL DEFAULT 'POST',
	path		text NOT NULL,
	params		jsonb NOT NULL
				CONSTRAINT outbox_params_check CHECK (pg_catalog.jsonb_typeof(params) = 'object'),
	idempotency_key text NOT NULL
				CONSTRAINT outbox_idempotency_key_key UNIQUE,
	status		text NOT NULL DEFAULT 'pending'
				CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'done', 'failed', 'dead')),
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_error	text,
	response_status integer,
	payment_id	uuid REFERENCES workon.payments (id) ON DELETE CASCADE,
	refund_id	uuid REFERENCES workon.refunds (id) ON DELETE CASCADE,
	booking_id	uuid REFERENCES workon.bookings (id) ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.outbox IS
'Outbound calls: kind stripe (performed by the HTTP front end: method, path, params as form fields, idempotency_key) or email (queued: params {to, template, data}); status pending (due at next_attempt_at), done, failed (the provider refused: last_error) or dead (8 attempts); purpose and payment_id, refund_id, booking_id name what the answer updates';

CREATE INDEX outbox_due_idx ON workon.outbox (kind, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_payment_id_idx ON workon.outbox (payment_id);
CREATE INDEX outbox_refund_id_idx ON workon.outbox (refund_id);
CREATE INDEX outbox_booking_id_idx ON workon.outbox (booking_id);

CREATE TRIGGER outbox_set_updated_at
	BEFORE UPDATE ON workon.outbox
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.outbox_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_outbox', NEW.kind || ':' || NEW.id);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.outbox_notify() IS
'Trigger: NOTIFY workon_outbox, ''<kind>:<id>'' for every new outbox row, so the front end performs it at once';

CREATE TRIGGER outbox_notify
	AFTER INSERT ON workon.outbox
	FOR EACH ROW WHEN (NOT workon.restoring('workon.outbox'))
	EXECUTE FUNCTION workon.outbox_notify();

ALTER TABLE workon.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.outbox FORCE ROW LEVEL SECURITY;

--
-- Stripe events, stored once per id
--
CREATE TABLE workon.stripe_events (
	id			text PRIMARY KEY,
	type		text NOT NULL,
	created		timestamptz NOT NULL,
	precedence	integer NOT NULL,
	livemode	boolean NOT NULL DEFAULT false,
	object		jsonb NOT NULL,
	booking_id	uuid,
	payment_intent_id text,
	checkout_session_id text,
	payment_id	uuid REFERENCES workon.payments (id) ON DELETE SET NULL,
	received_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.stripe_events IS
'Verified Stripe webhook events, one row per event id (a redelivery has no second effect): type, created (Stripe''s time), precedence (workon.stripe_event_precedence), data.object, and what it names (booking from metadata, PaymentIntent, Checkout Session) and the payment it was matched to; events of unknown types are kept and not applied';

CREATE INDEX stripe_events_payment_id_idx ON workon.stripe_events (payment_id, created, precedence, id);
CREATE INDEX stripe_events_payment_intent_id_idx ON workon.stripe_events (payment_intent_id)
	WHERE payment_id IS NULL;
CREATE INDEX stripe_events_checkout_session_id_idx ON workon.stripe_events (checkout_session_id)
	WHERE payment_id IS NULL;

ALTER TABLE workon.stripe_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.stripe_events FORCE ROW LEVEL SECURITY;

--
-- API representations
--
CREATE FUNCTION workon.payment_json(p workon.payments, with_secret boolean DEFAULT false)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', p.id,
		'booking_id', p.booking_id,
		'method', p.method,
		'status', p.status,
		'amount_cents', p.amount_cents,
		'currency', p.currency,
		'stripe_payment_intent_id', p.stripe_payment_intent_id,
		'client_secret', CASE WHEN with_secret THEN p.client_secret END,
		'checkout_session_id', p.checkout_session_id,
		'amount_received_cents', p.amount_received_cents,
		'refunded_cents', p.refunded_cents,
		'last_error', p.last_error,
		'flags', pg_catalog.to_json(p.flags),
		'succeeded_at', p.succeeded_at,
		'created_at', p.created_at,
		'updated_at', p.updated_at)
$$;

COMMENT ON FUNCTION workon.payment_json(workon.payments, boolean) IS
'The API representation of a payment; client_secret only when asked for (the paying member, when the payment is created)';

CREATE FUNCTION workon.refund_json(r workon.refunds)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', r.id,
		'payment_id', r.payment_id,
		'booking_id', r.booking_id,
		'amount_cents', r.amount_cents,
		'currency', r.currency,
		'status', r.status,
		'reason', r.reason,
		'stripe_refund_id', r.stripe_refund_id,
		'failure_reason', r.failure_reason,
		'created_at', r.created_at,
		'updated_at', r.updated_at)
$$;

COMMENT ON FUNCTION workon.refund_json(workon.refunds) IS
'The API representation of a refund';

--
-- Writing to the outbox
--
CREATE FUNCTION workon.outbox_enqueue(p_kind text, p_purpose text, p_path text, p_params jsonb,
									  p_idempotency_key text, p_payment_id uuid DEFAULT NULL,
									  p_refund_id uuid DEFAULT NULL, p_booking_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		bigint;
BEGIN
	INSERT INTO workon.outbox (kind, purpose, path, params, idempotency_key,
							   payment_id, refund_id, booking_id)
	VALUES (p_kind, p_purpose, p_path, p_params, p_idempotency_key,
			p_payment_id, p_refund_id, p_booking_id)
	ON CONFLICT (idempotency_key) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		SELECT o.id INTO v_id FROM workon.outbox AS o WHERE o.idempotency_key = p_idempotency_key;
	END IF;
	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.outbox_enqueue(text, text, text, jsonb, text, uuid, uuid, uuid) IS
'Queues an outbound call once per idempotency key (a second call with the same key returns the first row''s id and changes nothing)';

CREATE FUNCTION workon.email_enqueue(p_user_id uuid, p_template text, p_data jsonb, p_key text,
									 p_booking_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.outbox_enqueue('email', 'email', 'email:' || p_template,
								 pg_catalog.jsonb_build_object('to', u.email, 'template', p_template,
															   'data', p_data),
								 'email:' || p_key, NULL, NULL, p_booking_id)
	  FROM workon.users AS u
	 WHERE u.id = p_user_id
$$;

COMMENT ON FUNCTION workon.email_enqueue(uuid, text, jsonb, text, uuid) IS
'Queues an e-mail to a user (outbox kind email, params {to, template, data}) once per key; templates booking_confirmed, payment_failed, refund';

--
-- Refunds: a refund row and its Stripe call
--
CREATE FUNCTION workon.refund_start(p_payment workon.payments, p_amount bigint, p_reason text)
RETURNS workon.refunds
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_refund	workon.refunds;
	v_params	jsonb;
BEGIN
	INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, reason)
	VALUES (p_payment.id, p_payment.booking_id, p_amount,
			COALESCE(p_payment.received_currency, p_payment.currency), p_reason)
	RETURNING * INTO v_refund;

	v_params := pg_catalog.jsonb_build_object(
		'payment_intent', p_payment.stripe_payment_intent_id,
		'amount', p_amount::text,
		'metadata[booking_id]', p_payment.booking_id::text,
		'metadata[payment_id]', p_payment.id::text,
		'metadata[refund_id]', v_refund.id::text,
		'metadata[reason]', p_reason);
	IF p_reason = 'requested_by_customer' THEN
		v_params := v_params || '{"reason": "requested_by_customer"}';
	END IF;
	PERFORM workon.outbox_enqueue('stripe', 'refund', '/v1/refunds', v_params,
								  'workon:refund:' || v_refund.id, p_payment.id, v_refund.id,
								  p_payment.booking_id);
	PERFORM workon.email_enqueue(p_payment.user_id, 'refund',
								 pg_catalog.jsonb_build_object('booking_id', p_payment.booking_id,
															   'refund_id', v_refund.id,
															   'amount_cents', p_amount,
															   'currency', v_refund.currency,
															   'reason', p_reason),
								 'refund:' || v_refund.id, p_payment.booking_id);
	RETURN v_refund;
END
$$;

COMMENT ON FUNCTION workon.refund_start(workon.payments, bigint, text) IS
'Starts a refund of a paid payment: a pending refund row, its POST /v1/refunds outbox row (idempotency key from the refund id, amount, the PaymentIntent, metadata booking_id, payment_id, refund_id) and the refund e-mail, in the caller''s transaction';

--
-- Folding Stripe events into a payment and its booking
--
CREATE FUNCTION workon.payment_apply(p_payment_id uuid)
RETURNS workon.payments
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pay		workon.payments;
	v_booking	workon.bookings;
	e			workon.stripe_events;
	o			jsonb;
	-- the fold
	v_status	text;
	v_next		text;
	v_amount	bigint;
	v_currency	text;
	v_pi		text;
	v_error		text;
	v_refunded	bigint := 0;
	v_disputed	boolean := false;
	v_succeeded_at timestamptz;
	-- applying it
	v_flags		text[];
	v_ok		boolean;
	v_covered	bigint;
	v_rest		bigint;
	r			workon.refunds;
BEGIN
	-- locks in the order every writer takes them: booking, then payment
	SELECT b.* INTO v_booking
	  FROM workon.bookings AS b JOIN workon.payments AS p ON p.booking_id = b.id
	 WHERE p.id = p_payment_id
	   FOR UPDATE OF b;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = p_payment_id FOR UPDATE;

	/*
	 * The fold, in canonical order: a final status (succeeded, canceled) is
	 * never left; among the others the last one wins.  A refund implies
	 * that the payment succeeded, whatever arrived first.
	 */
	FOR e IN SELECT * FROM workon.stripe_events AS se
			  WHERE se.payment_id = v_pay.id
			  ORDER BY se.created, se.precedence, se.id
	LOOP
		o := e.object;
		v_pi := COALESCE(v_pi, e.payment_intent_id);
		v_next := CASE e.type
				  WHEN 'payment_intent.requires_action' THEN 'requires_action'
				  WHEN 'payment_intent.processing' THEN 'processing'
				  WHEN 'payment_intent.amount_capturable_updated' THEN 'requires_capture'
				  WHEN 'payment_intent.payment_failed' THEN 'requires_payment_method'
				  WHEN 'checkout.session.async_payment_failed' THEN 'requires_payment_method'
				  -- unpaid: an asynchronous method, wait for its outcome
				  WHEN 'checkout.session.completed' THEN
					  CASE WHEN o ->> 'payment_status' IN ('paid', 'no_payment_required')
						   THEN 'succeeded' ELSE 'processing' END
				  WHEN 'checkout.session.async_payment_succeeded' THEN 'succeeded'
				  WHEN 'payment_intent.succeeded' THEN 'succeeded'
				  WHEN 'payment_intent.canceled' THEN 'canceled'
				  -- a refunded charge was paid
				  WHEN 'charge.refunded' THEN 'succeeded'
				  END;
		IF v_next IS NOT NULL AND v_status IS DISTINCT FROM 'succeeded'
		   AND v_status IS DISTINCT FROM 'canceled' THEN
			v_status := v_next;
			IF v_next = 'succeeded' THEN
				v_amount := COALESCE(o ->> 'amount_received', o ->> 'amount_total',
									 o ->> 'amount_captured')::bigint;
				v_currency := pg_catalog.lower(o ->> 'currency');
				v_succeeded_at := e.created;
			ELSIF v_next = 'requires_payment_method' THEN
				v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ',
										   o #>> '{last_payment_error,code}',
										   o #>> '{last_payment_error,message}'), ''),
									NULLIF(pg_catalog.split_part(e.type, '.', 3), ''),
									pg_catalog.split_part(e.type, '.', 2));
			END IF;
		END IF;
		IF e.type = 'charge.refunded' THEN
			v_refunded := GREATEST(v_refunded, COALESCE((o ->> 'amount_refunded')::bigint, 0));
		ELSIF e.type = 'charge.dispute.created' THEN
			v_disputed := true;
		END IF;
	END LOOP;

	-- the payment: a final status stays final whatever the events say
	v_flags := v_pay.flags;
	IF v_status IS NOT NULL AND v_status <> v_pay.status
	   AND workon.payment_transition_allowed(v_pay.status, v_status) THEN
		v_pay.status := v_status;
		IF v_status = 'succeeded' THEN
			v_pay.amount_received_cents := v_amount;
			v_pay.received_currency := v_currency;
			v_pay.succeeded_at := v_succeeded_at;
		END IF;
	ELSIF v_status IS NOT NULL AND v_status <> v_pay.status THEN
		v_flags := v_flags || 'conflicting_events'::text;
	END IF;
	v_ok := v_pay.status = 'succeeded'
			AND v_pay.amount_received_cents IS NOT DISTINCT FROM v_booking.price_cents
			AND v_pay.received_currency IS NOT DISTINCT FROM v_booking.currency;
	IF v_pay.status = 'succeeded' AND NOT v_ok THEN
		v_flags := v_flags || 'amount_mismatch'::text;
	END IF;
	IF v_disputed THEN
		v_flags := v_flags || 'disputed'::text;
	END IF;
	v_flags := ARRAY(SELECT DISTINCT f FROM pg_catalog.unnest(v_flags) AS f ORDER BY f);

	UPDATE workon.payments AS p
	   SET status = v_pay.status,
		   stripe_payment_intent_id = COALESCE(p.stripe_payment_intent_id, v_pi),
		   amount_received_cents = v_pay.amount_received_cents,
		   received_currency = v_pay.received_currency,
		   succeeded_at = v_pay.succeeded_at,
		   refunded_cents = GREATEST(p.refunded_cents, v_refunded),
		   last_error = COALESCE(v_error, p.last_error),
		   flags = v_flags
	 WHERE p.id = v_pay.id
	RETURNING * INTO v_pay;

	-- the booking
	v_flags := ARRAY(SELECT f FROM pg_catalog.unnest(v_flags) AS f
					  WHERE f IN ('amount_mismatch', 'disputed'));
	IF NOT v_booking.flags @> v_flags THEN
		UPDATE workon.bookings AS b
		   SET flags = ARRAY(SELECT DISTINCT f FROM pg_catalog.unnest(b.flags || v_flags) AS f ORDER BY f)
		 WHERE b.id = v_booking.id
		RETURNING * INTO v_booking;
	END IF;

	IF v_ok AND v_booking.status = 'pending_payment' THEN
		-- a hold past its expiry still holds its slot until it is marked
		-- expired, so the slot is free
		UPDATE workon.bookings AS b SET status = 'confirmed'
		 WHERE b.id = v_booking.id
		RETURNING * INTO v_booking;
	ELSIF v_ok AND v_booking.status = 'expired' THEN
		-- queue up with bookings of the space, as workon.booking_create does
		PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
												 pg_catalog.hashtext(v_booking.space_id::text));
		BEGIN
			UPDATE workon.bookings AS b SET status = 'confirmed'
			 WHERE b.id = v_booking.id
			RETURNING * INTO v_booking;
		EXCEPTION WHEN exclusion_violation THEN
			NULL;				-- the slot went to someone else: refunded below
		END;
	END IF;
	IF v_ok AND v_booking.status = 'confirmed' THEN
		PERFORM workon.email_enqueue(v_pay.user_id, 'booking_confirmed',
									 pg_catalog.jsonb_build_object(
										 'booking_id', v_booking.id,
										 'space_id', v_booking.space_id,
										 'starts_at', v_booking.starts_at,
										 'ends_at', v_booking.ends_at,
										 'amount_cents', v_pay.amount_received_cents,
										 'currency', v_pay.received_currency),
									 'booking_confirmed:' || v_booking.id, v_booking.id);
	END IF;

	-- paid for a booking that cannot be had: all of it back, once
	IF v_pay.status = 'succeeded' AND v_pay.amount_received_cents > 0
	   AND v_booking.status IN ('expired', 'cancelled')
	   AND v_pay.refunded_cents = 0
	   AND NOT EXISTS (SELECT FROM workon.refunds AS rf WHERE rf.payment_id = v_pay.id) THEN
		PERFORM workon.refund_start(v_pay, v_pay.amount_received_cents,
									CASE v_booking.status WHEN 'expired' THEN 'slot_unavailable'
														  ELSE 'booking_cancelled' END);
	END IF;

	IF v_pay.status = 'canceled' AND v_booking.status = 'pending_payment' THEN
		UPDATE workon.bookings AS b
		   SET status = 'cancelled', cancelled_at = pg_catalog.now()
		 WHERE b.id = v_booking.id
		RETURNING * INTO v_booking;
	END IF;

	/*
	 * Refunds Stripe reports (charge.refunded carries the charge's total):
	 * what our own refunds do not cover yet settles the pending ones,
	 * oldest first; the rest was refunded in Stripe itself, one row per
	 * payment that grows with the total (so that two reports in either
	 * order leave the same rows).
	 */
	IF v_pay.refunded_cents > 0 THEN
		SELECT COALESCE(pg_catalog.sum(rf.amount_cents), 0) INTO v_covered
		  FROM workon.refunds AS rf
		 WHERE rf.payment_id = v_pay.id AND rf.status = 'succeeded' AND rf.reason <> 'stripe';
		v_rest := v_pay.refunded_cents - v_covered;
		FOR r IN SELECT * FROM workon.refunds AS rf
				  WHERE rf.payment_id = v_pay.id AND rf.status IN ('pending', 'requires_action')
				  ORDER BY rf.created_at, rf.id
		LOOP
			EXIT WHEN v_rest < r.amount_cents;
			UPDATE workon.refunds AS rf SET status = 'succeeded' WHERE rf.id = r.id;
			v_rest := v_rest - r.amount_cents;
		END LOOP;
		IF v_rest > 0 THEN
			UPDATE workon.refunds AS rf SET amount_cents = v_rest
			 WHERE rf.payment_id = v_pay.id AND rf.reason = 'stripe' AND rf.amount_cents < v_rest;
			IF NOT FOUND AND NOT EXISTS (SELECT FROM workon.refunds AS rf
										  WHERE rf.payment_id = v_pay.id AND rf.reason = 'stripe') THEN
				INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, status, reason)
				VALUES (v_pay.id, v_pay.booking_id, v_rest,
						COALESCE(v_pay.received_currency, v_pay.currency), 'succeeded', 'stripe')
				RETURNING * INTO r;
				PERFORM workon.email_enqueue(v_pay.user_id, 'refund',
											 pg_catalog.jsonb_build_object('booking_id', v_pay.booking_id,
																		   'refund_id', r.id,
																		   'amount_cents', r.amount_cents,
																		   'currency', r.currency,
																		   'reason', r.reason),
											 'refund:' || r.id, v_pay.booking_id);
			END IF;
		END IF;
		-- the booking ends cancelled, its refund what Stripe refunded
		IF v_booking.status = 'confirmed'
		   OR (v_booking.status = 'cancelled' AND v_booking.refund_cents IS DISTINCT FROM v_pay.refunded_cents
			   AND COALESCE(v_booking.refund_cents, 0) < v_pay.refunded_cents) THEN
			UPDATE workon.bookings AS b
			   SET status = 'cancelled', cancelled_at = COALESCE(b.cancelled_at, pg_catalog.now()),
				   refund_cents = v_pay.refunded_cents,
				   refund_percent = LEAST(100, (v_pay.refunded_cents * 100
												+ v_pay.amount_received_cents / 2)
											   / GREATEST(v_pay.amount_received_cents, 1))
			 WHERE b.id = v_booking.id
			RETURNING * INTO v_booking;
		END IF;
	END IF;

	RETURN v_pay;
END
$$;

COMMENT ON FUNCTION workon.payment_apply(uuid) IS
'Folds the stored Stripe events of a payment, in canonical order (created, then workon.stripe_event_precedence, then id), into its state and applies it to the payment and its booking in the caller''s transaction: a final status is never left; succeeded with the booking''s amount and currency confirms the booking (an expired hold too if its slot is still free) and queues the confirmation e-mail, otherwise flags amount_mismatch; a payment for a booking that cannot be had any more is refunded in full; canceled cancels a pending booking; charge.refunded settles refunds (what our refunds do not cover is one refund row of reason stripe) and cancels a confirmed booking, its refund what Stripe refunded; charge.dispute.created flags the booking. The result depends on the set of events, not on the order they arrived in';

--
-- Route handlers: payments
--
CREATE FUNCTION workon.payment_for_booking(p_booking_id uuid, p_method text)
RETURNS workon.payments
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_booking	workon.bookings;
	v_pay		workon.payments;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = p_booking_id FOR UPDATE;
	IF NOT FOUND OR v_booking.user_id <> v_user THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking.id FOR UPDATE;
	IF FOUND AND v_pay.method <> p_method THEN
		RAISE EXCEPTION 'this booking is being paid with %', pg_catalog.replace(v_pay.method, '_', ' ')
			USING ERRCODE = 'WOC06',
				  HINT = CASE v_pay.method WHEN 'checkout' THEN 'Use POST /api/v1/bookings/{id}/checkout.'
										   ELSE 'Use POST /api/v1/bookings/{id}/payment.' END;
	END IF;
	IF FOUND AND (v_pay.stripe_payment_intent_id IS NOT NULL OR v_pay.checkout_session_id IS NOT NULL) THEN
		RETURN v_pay;			-- answered before: the same payment
	END IF;
	IF workon.booking_status(v_booking) <> 'pending_payment' THEN
		RAISE EXCEPTION 'only a booking pending payment can be paid; this one is %',
						workon.booking_status(v_booking)
			USING ERRCODE = 'WOC06';
	END IF;
	IF v_pay.id IS NULL THEN
		INSERT INTO workon.payments (booking_id, user_id, method, amount_cents, currency)
		VALUES (v_booking.id, v_user, p_method, v_booking.price_cents, v_booking.currency)
		RETURNING * INTO v_pay;
	END IF;
	RETURN v_pay;
END
$$;

COMMENT ON FUNCTION workon.payment_for_booking(uuid, text) IS
'The payment of one of the caller''s bookings, created (status requires_payment_method, the booking''s price) if missing: P0002 for a booking that is not the caller''s; WOC06 booking_not_payable when the booking is not pending payment (and has no payment started) or is being paid with the other method';

-- The outbox row of a payment's Stripe call: the one in flight, else a new
-- one (a fresh generation after a refused or abandoned one)
CREATE FUNCTION workon.payment_call(p_pay workon.payments, p_purpose text, p_path text,
									p_params jsonb)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		bigint;
	v_gen		integer := p_pay.generation;
BEGIN
	SELECT o.id INTO v_id
	  FROM workon.outbox AS o
	 WHERE o.payment_id = p_pay.id AND o.purpose = p_purpose AND o.status = 'pending';
	IF FOUND THEN
		RETURN v_id;
	END IF;
	IF EXISTS (SELECT FROM workon.outbox AS o
				WHERE o.payment_id = p_pay.id AND o.purpose = p_purpose) THEN
		v_gen := v_gen + 1;
		UPDATE workon.payments AS p SET generation = v_gen WHERE p.id = p_pay.id;
	END IF;
	v_id := workon.outbox_enqueue('stripe', p_purpose, p_path,
								  p_params || pg_catalog.jsonb_build_object(
									  'metadata[booking_id]', p_pay.booking_id::text,
									  'metadata[payment_id]', p_pay.id::text),
								  pg_catalog.format('workon:%s:%s:%s', p_purpose, p_pay.id, v_gen),
								  p_pay.id, NULL, p_pay.booking_id);
	-- leased to the client that waits on it: the background worker sends it
	-- only if that client goes away
	UPDATE workon.outbox AS o
	   SET next_attempt_at = pg_catalog.now() + interval '30 seconds'
	 WHERE o.id = v_id AND o.attempts = 0;
	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.payment_call(workon.payments, text, text, jsonb) IS
'The pending outbox row of a payment''s Stripe call of that purpose, or a new one with metadata booking_id and payment_id and the idempotency key workon:<purpose>:<payment id>:<generation> (a new generation after a refused or dead call), leased for 30 seconds to the client that waits on it';

CREATE FUNCTION workon.payment_create(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pay		workon.payments := workon.payment_for_booking(payment_create.id, 'payment_intent');
	v_outbox	bigint;
BEGIN
	IF v_pay.stripe_payment_intent_id IS NOT NULL THEN
		PERFORM workon.set_response(200);
		RETURN workon.payment_json(v_pay, true);
	END IF;
	v_outbox := workon.payment_call(v_pay, 'payment_intent', '/v1/payment_intents',
		pg_catalog.jsonb_build_object(
			'amount', v_pay.amount_cents::text,
			'currency', v_pay.currency,
			'automatic_payment_methods[enabled]', 'true'));
	PERFORM workon.set_response(202, pg_catalog.jsonb_build_object('X-Workon-Outbox', v_outbox::text));
	RETURN workon.payment_json(v_pay, true);
END
$$;

COMMENT ON FUNCTION workon.payment_create(uuid) IS
'POST /api/v1/bookings/{id}/payment (the member who booked): starts paying a booking pending payment with a Stripe PaymentIntent of its price, metadata booking_id. Answers 201 {id, status, amount_cents, currency, stripe_payment_intent_id, client_secret, ...} once Stripe created the PaymentIntent (the handler returns 202 with X-Workon-Outbox for the front end to wait on); a repeat answers 200 with the same payment and never creates a second PaymentIntent. 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

CREATE FUNCTION workon.checkout_create(id uuid, success_url text DEFAULT NULL,
									   cancel_url text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pay		workon.payments;
	v_space		text;
	v_outbox	bigint;
BEGIN
	IF checkout_create.success_url IS NULL OR checkout_create.success_url !~ '^https?://[^\s]+$'
	   OR pg_catalog.length(checkout_create.success_url) > 2048 THEN
		RAISE EXCEPTION 'success_url must be an http or https URL'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'success_url';
	END IF;
	IF checkout_create.cancel_url IS NULL OR checkout_create.cancel_url !~ '^https?://[^\s]+$'
	   OR pg_catalog.length(checkout_create.cancel_url) > 2048 THEN
		RAISE EXCEPTION 'cancel_url must be an http or https URL'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cancel_url';
	END IF;
	v_pay := workon.payment_for_booking(checkout_create.id, 'checkout');
	IF v_pay.checkout_session_id IS NOT NULL THEN
		PERFORM workon.set_response(200);
		RETURN workon.json_build('checkout_session_id', v_pay.checkout_session_id,
								 'url', v_pay.checkout_url);
	END IF;
	SELECT s.name INTO v_space
	  FROM workon.bookings AS b JOIN workon.spaces AS s ON s.id = b.space_id
	 WHERE b.id = v_pay.booking_id;
	v_outbox := workon.payment_call(v_pay, 'checkout_session', '/v1/checkout/sessions',
		pg_catalog.jsonb_build_object(
			'mode', 'payment',
			'success_url', checkout_create.success_url,
			'cancel_url', checkout_create.cancel_url,
			'client_reference_id', v_pay.booking_id::text,
			'line_items[0][quantity]', '1',
			'line_items[0][price_data][currency]', v_pay.currency,
			'line_items[0][price_data][unit_amount]', v_pay.amount_cents::text,
			'line_items[0][price_data][product_data][name]', v_space,
			'payment_intent_data[metadata][booking_id]', v_pay.booking_id::text,
			'payment_intent_data[metadata][payment_id]', v_pay.id::text));
	PERFORM workon.set_response(202, pg_catalog.jsonb_build_object('X-Workon-Outbox', v_outbox::text));
	RETURN workon.json_build('checkout_session_id', NULL, 'url', NULL, 'payment_id', v_pay.id);
END
$$;

COMMENT ON FUNCTION workon.checkout_create(uuid, text, text) IS
'POST /api/v1/bookings/{id}/checkout {success_url, cancel_url} (the member who booked): a Stripe Checkout Session for the booking''s price, booking id in the session''s metadata and in its PaymentIntent''s (payment_intent_data[metadata][booking_id]). Answers 201 {checkout_session_id, url} once Stripe created it (202 with X-Workon-Outbox for the front end to wait on); a repeat answers 200 with the same session. 400 for a missing or non-http(s) URL, 404 for bookings of others, 409 booking_not_payable unless the booking is pending payment';

CREATE FUNCTION workon.payment_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_pay		workon.payments;
BEGIN
	/*
	 * Definer's rights because client_secret is not granted to API roles;
	 * the visibility rule of the policy payments_visible, applied here.
	 */
	SELECT p.* INTO v_pay
	  FROM workon.payments AS p
	  JOIN workon.bookings AS b ON b.id = p.booking_id
	  JOIN workon.spaces AS s ON s.id = b.space_id
	 WHERE p.id = payment_get.id
	   AND (p.user_id = v_user OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'payment not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN (workon.payment_json(v_pay)::jsonb
			|| pg_catalog.jsonb_build_object('refunds',
				(SELECT COALESCE(pg_catalog.jsonb_agg(workon.refund_json(r)::jsonb
													  ORDER BY r.created_at, r.id),
								 '[]'::jsonb)
				   FROM workon.refunds AS r WHERE r.payment_id = v_pay.id)))::json;
END
$$;

COMMENT ON FUNCTION workon.payment_get(uuid) IS
'GET /api/v1/payments/{id}: a payment (without client_secret) and its refunds, seen by the member who pays, the space''s host and admins; 404 for anyone else';

--
-- Refund events: the refund row follows its Stripe Refund
--
CREATE FUNCTION workon.refund_apply(p_event workon.stripe_events)
RETURNS workon.refunds
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o			jsonb := p_event.object;
	v_refund	workon.refunds;
	v_status	text := o ->> 'status';
BEGIN
	SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.stripe_refund_id = o ->> 'id' FOR UPDATE;
	IF NOT FOUND AND o #>> '{metadata,refund_id}' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		SELECT * INTO v_refund FROM workon.refunds AS r
		 WHERE r.id = (o #>> '{metadata,refund_id}')::uuid AND r.stripe_refund_id IS NULL
		   FOR UPDATE;
	END IF;
	IF v_refund.id IS NULL THEN
		RETURN NULL;			-- not ours: charge.refunded accounts for it
	END IF;

	/*
	 * The state machine keeps final states; among the others an older
	 * event does not undo a newer one.
	 */
	IF v_status IS DISTINCT FROM v_refund.status
	   AND workon.refund_transition_allowed(v_refund.status, v_status)
	   AND (v_status IN ('succeeded', 'failed', 'canceled')
			OR v_refund.stripe_status_at IS NULL OR p_event.created >= v_refund.stripe_status_at) THEN
		v_refund.status := v_status;
		v_refund.stripe_status_at := p_event.created;
	END IF;
	UPDATE workon.refunds AS r
	   SET stripe_refund_id = o ->> 'id',
		   status = v_refund.status,
		   stripe_status_at = v_refund.stripe_status_at,
		   failure_reason = COALESCE(o ->> 'failure_reason', r.failure_reason)
	 WHERE r.id = v_refund.id
	RETURNING * INTO v_refund;
	RETURN v_refund;
END
$$;

COMMENT ON FUNCTION workon.refund_apply(workon.stripe_events) IS
'Applies a refund.created, refund.updated, refund.failed or charge.refund.updated event to the refund it names (by Stripe refund id, else metadata.refund_id): its status when the refund state machine allows it and no newer event set a non-final one; failure_reason. Refunds that are not ours are left to charge.refunded';

--
-- Route handler: Stripe webhooks
--
CREATE FUNCTION workon.stripe_webhook(body text, meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_event		jsonb;
	v_obj		jsonb;
	v_id		text;
	v_type		text;
	v_booking	uuid;
	v_pi		text;
	v_cs		text;
	v_pay		workon.payments;
BEGIN
	-- nothing is looked at before the signature holds
	PERFORM workon.stripe_signature_check(
		stripe_webhook.body,
		stripe_webhook.meta #>> '{headers,stripe-signature}',
		ARRAY(SELECT s.secret FROM workon.stripe_webhook_secrets AS s
			   WHERE s.expires_at IS NULL OR s.expires_at > pg_catalog.now()
			   ORDER BY s.created_at DESC));

	BEGIN
		v_event := stripe_webhook.body::jsonb;
	EXCEPTION WHEN invalid_text_representation THEN
		RAISE EXCEPTION 'webhook body must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END;
	v_obj := v_event #> '{data,object}';
	IF pg_catalog.jsonb_typeof(v_event) IS DISTINCT FROM 'object'
	   OR pg_catalog.jsonb_typeof(v_event -> 'id') IS DISTINCT FROM 'string'
	   OR pg_catalog.jsonb_typeof(v_event -> 'type') IS DISTINCT FROM 'string'
	   OR pg_catalog.jsonb_typeof(v_event -> 'created') IS DISTINCT FROM 'number'
	   OR pg_catalog.jsonb_typeof(v_obj) IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION 'webhook body must be a Stripe event: id, type, created and data.object'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;
	v_id := v_event ->> 'id';
	v_type := v_event ->> 'type';

	-- what it names: our booking (metadata), its PaymentIntent, its session
	IF v_obj #>> '{metadata,booking_id}' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		v_booking := (v_obj #>> '{metadata,booking_id}')::uuid;
	END IF;
	IF v_type LIKE 'payment\_intent.%' THEN
		v_pi := v_obj ->> 'id';
	ELSIF pg_catalog.jsonb_typeof(v_obj -> 'payment_intent') = 'object' THEN
		v_pi := v_obj #>> '{payment_intent,id}';
	ELSE
		v_pi := v_obj ->> 'payment_intent';
	END IF;
	IF v_type LIKE 'checkout.session.%' THEN
		v_cs := v_obj ->> 'id';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking;
	IF NOT FOUND AND v_pi IS NOT NULL THEN
		SELECT * INTO v_pay FROM workon.payments AS p WHERE p.stripe_payment_intent_id = v_pi;
	END IF;
	IF v_pay.id IS NULL AND v_cs IS NOT NULL THEN
		SELECT * INTO v_pay FROM workon.payments AS p WHERE p.checkout_session_id = v_cs;
	END IF;

	/*
	 * Deliveries for one payment take turns from here, in the order every
	 * writer locks: booking first.  Without it two of them deadlock: each
	 * row written below takes a key-share lock on the payment (and the
	 * booking) through its foreign key, which the other's FOR UPDATE in
	 * payment_apply then waits for.
	 */
	IF v_pay.id IS NOT NULL THEN
		PERFORM FROM workon.bookings AS b WHERE b.id = v_pay.booking_id FOR UPDATE;
	END IF;

	INSERT INTO workon.stripe_events (id, type, created, precedence, livemode, object,
									  booking_id, payment_intent_id, checkout_session_id, payment_id)
	VALUES (v_id, v_type, pg_catalog.to_timestamp((v_event ->> 'created')::numeric::double precision),
			workon.stripe_event_precedence(v_type),
			COALESCE((v_event ->> 'livemode')::boolean, false), v_obj,
			v_booking, v_pi, v_cs, v_pay.id)
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN
		RETURN '{"received":true}'::json;		-- seen before: no second effect
	END IF;

	IF v_type IN ('refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated') THEN
		PERFORM workon.refund_apply(e)
		   FROM workon.stripe_events AS e WHERE e.id = v_id;
	ELSIF v_pay.id IS NOT NULL AND workon.stripe_event_precedence(v_type) < 100 THEN
		IF v_type IN ('payment_intent.payment_failed', 'checkout.session.async_payment_failed') THEN
			PERFORM workon.email_enqueue(v_pay.user_id, 'payment_failed',
										 pg_catalog.jsonb_build_object(
											 'booking_id', v_pay.booking_id,
											 'payment_id', v_pay.id,
											 'error', v_obj #>> '{last_payment_error,message}'),
										 'payment_failed:' || v_id, v_pay.booking_id);
		END IF;
		PERFORM workon.payment_apply(v_pay.id);
	END IF;
	RETURN '{"received":true}'::json;
END
$$;

COMMENT ON FUNCTION workon.stripe_webhook(text, jsonb) IS
'POST /api/webhooks/stripe and /api/v1/webhooks/stripe (raw body; meta.headers.stripe-signature): verifies the delivery against the stored webhook secrets (400 invalid_signature and no effect otherwise, the event id not used up), stores the event once per id and applies it with workon.payment_apply (refund events with workon.refund_apply) in the same transaction; answers 200 {"received":true}. Handled: payment_intent.succeeded, .payment_failed (the booking stays payable, the error is recorded, an e-mail queued), .canceled, .processing, .requires_action, .amount_capturable_updated, checkout.session.completed, .async_payment_succeeded, .async_payment_failed, charge.refunded, charge.dispute.created, refund.created, refund.updated, refund.failed, charge.refund.updated; other types are stored and ignored';

--
-- The outbox, for the front end
--
CREATE FUNCTION workon.outbox_response(p_id bigint, OUT status integer, OUT headers jsonb,
									   OUT body jsonb)
RETURNS record
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
	v_pay		workon.payments;
	v_refund	workon.refunds;
BEGIN
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;
	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = v_o.payment_id;
	SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.id = v_o.refund_id;

	IF v_o.status = 'done' THEN
		status := CASE WHEN v_o.purpose IN ('payment_intent', 'checkout_session') THEN 201 ELSE 200 END;
		body := CASE v_o.purpose
				WHEN 'payment_intent' THEN workon.payment_json(v_pay, true)::jsonb
				WHEN 'checkout_session' THEN pg_catalog.jsonb_build_object(
					'checkout_session_id', v_pay.checkout_session_id, 'url', v_pay.checkout_url)
				WHEN 'refund' THEN workon.refund_json(v_refund)::jsonb
				ELSE '{}'::jsonb END;
	ELSIF v_o.status = 'failed' THEN
		status := 502;
		body := pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
			'code', 'payment_provider_error',
			'message', COALESCE(v_o.last_error, 'the payment provider refused the request'),
			'details', '{}'::jsonb));
	ELSE
		status := 503;
		headers := pg_catalog.jsonb_build_object('Retry-After',
			CASE WHEN v_o.status = 'dead' THEN '60'
				 ELSE GREATEST(1, pg_catalog.ceil(EXTRACT(epoch FROM v_o.next_attempt_at - pg_catalog.now())))::bigint::text END);
		body := pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
			'code', 'unavailable',
			'message', 'the payment provider could not be reached; try again later',
			'details', '{}'::jsonb));
	END IF;
END
$$;

COMMENT ON FUNCTION workon.outbox_response(bigint) IS
'The HTTP response for a client waiting on an outbox row: done -> 201 payment (with client_secret) or {checkout_session_id, url}, 200 refund; failed (the provider refused) -> 502 payment_provider_error; pending again or dead -> 503 unavailable with Retry-After';

CREATE FUNCTION workon.outbox_claim(p_kind text, p_limit integer)
RETURNS TABLE (id bigint, method text, path text, params jsonb, idempotency_key text,
			   attempts integer)
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH due AS (
		SELECT o.id
		  FROM workon.outbox AS o
		 WHERE o.kind = p_kind AND o.status = 'pending' AND o.next_attempt_at <= pg_catalog.now()
		 ORDER BY o.next_attempt_at, o.id
		 LIMIT LEAST(GREATEST(p_limit, 0), 1000)
		   FOR UPDATE SKIP LOCKED)
	UPDATE workon.outbox AS o
	   SET attempts = o.attempts + 1,
		   next_attempt_at = pg_catalog.now() + interval '60 seconds'
	  FROM due
	 WHERE o.id = due.id
	RETURNING o.id, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim(text, integer) IS
'For the front end: up to p_limit (at most 1000) due pending outbox rows of a kind, oldest first, skipping rows others hold; each is leased for 60 seconds (attempts + 1, next_attempt_at = now + 60 s), so a row whose claimer dies comes back by itself';

CREATE FUNCTION workon.outbox_claim_id(p_id bigint)
RETURNS TABLE (id bigint, method text, path text, params jsonb, idempotency_key text,
			   attempts integer)
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE workon.outbox AS o
	   SET attempts = o.attempts + 1,
		   next_attempt_at = pg_catalog.now() + interval '60 seconds'
	 WHERE o.id = p_id AND o.status = 'pending'
	RETURNING o.id, o.method, o.path, o.params, o.idempotency_key, o.attempts
$$;

COMMENT ON FUNCTION workon.outbox_claim_id(bigint) IS
'For the front end, after a handler answered 202 with X-Workon-Outbox: the row if it is still pending, whatever its lease (the idempotency key makes a second send harmless), leased again; no row once it is done, failed or dead';

CREATE FUNCTION workon.outbox_result(p_id bigint, p_http_status integer, p_body jsonb)
RETURNS TABLE (status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
	v_pay		workon.payments;
	v_refund	workon.refunds;
	v_error		text;
	v_status	text;
BEGIN
	IF p_http_status IS NULL OR NOT (p_http_status BETWEEN 200 AND 299 OR p_http_status BETWEEN 400 AND 499) THEN
		RAISE EXCEPTION 'http status must be 2xx or 4xx; report others with workon.outbox_error()'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'p_http_status';
	END IF;
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;

	IF v_o.status = 'pending' THEN
		PERFORM FROM workon.bookings AS b WHERE b.id = v_o.booking_id FOR UPDATE;
		SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = v_o.payment_id FOR UPDATE;
		SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.id = v_o.refund_id FOR UPDATE;
		IF p_http_status < 300 THEN
			IF pg_catalog.jsonb_typeof(p_body) IS DISTINCT FROM 'object' THEN
				RAISE EXCEPTION 'the answer must be a JSON object'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = 'p_body';
			END IF;
			IF v_o.purpose = 'payment_intent' THEN
				UPDATE workon.payments AS p
				   SET stripe_payment_intent_id = p_body ->> 'id',
					   client_secret = p_body ->> 'client_secret',
					   last_error = NULL
				 WHERE p.id = v_pay.id
				RETURNING * INTO v_pay;
			ELSIF v_o.purpose = 'checkout_session' THEN
				UPDATE workon.payments AS p
				   SET checkout_session_id = p_body ->> 'id',
					   checkout_url = p_body ->> 'url',
					   stripe_payment_intent_id = COALESCE(p.stripe_payment_intent_id,
														   p_body ->> 'payment_intent'),
					   last_error = NULL
				 WHERE p.id = v_pay.id
				RETURNING * INTO v_pay;
			ELSIF v_o.purpose = 'refund' THEN
				-- Stripe's status at creation, unless a newer event set one
				v_status := p_body ->> 'status';
				UPDATE workon.refunds AS r
				   SET stripe_refund_id = p_body ->> 'id',
					   status = CASE WHEN workon.refund_transition_allowed(r.status, v_status)
										  AND (r.stripe_status_at IS NULL
											   OR v_status IN ('succeeded', 'failed', 'canceled'))
									 THEN v_status ELSE r.status END,
					   failure_reason = COALESCE(p_body ->> 'failure_reason', r.failure_reason)
				 WHERE r.id = v_refund.id;
			END IF;

			IF v_o.purpose IN ('payment_intent', 'checkout_session') THEN
				-- events that came before the answer belong to this payment
				UPDATE workon.stripe_events AS e
				   SET payment_id = v_pay.id
				 WHERE e.payment_id IS NULL
				   AND (e.payment_intent_id = v_pay.stripe_payment_intent_id
						OR e.checkout_session_id = v_pay.checkout_session_id);
				-- Stripe's status at creation, unless events moved it on
				v_status := p_body ->> 'status';
				IF v_o.purpose = 'payment_intent'
				   AND NOT EXISTS (SELECT FROM workon.stripe_events AS e WHERE e.payment_id = v_pay.id)
				   AND workon.payment_transition_allowed(v_pay.status, v_status)
				   AND v_status NOT IN ('succeeded', 'canceled') THEN
					UPDATE workon.payments AS p SET status = v_status WHERE p.id = v_pay.id;
				END IF;
				PERFORM workon.payment_apply(v_pay.id);
			END IF;
			UPDATE workon.outbox AS o
			   SET status = 'done', response_status = p_http_status, last_error = NULL
			 WHERE o.id = v_o.id;
		ELSE
			v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ', p_body #>> '{error,code}',
															p_body #>> '{error,message}'), ''),
								'HTTP ' || p_http_status);
			UPDATE workon.outbox AS o
			   SET status = 'failed', response_status = p_http_status, last_error = v_error
			 WHERE o.id = v_o.id;
			IF v_o.purpose IN ('payment_intent', 'checkout_session') THEN
				UPDATE workon.payments AS p SET last_error = v_error WHERE p.id = v_pay.id;
			ELSIF v_o.purpose = 'refund' THEN
				UPDATE workon.refunds AS r SET status = 'failed', failure_reason = v_error
				 WHERE r.id = v_refund.id AND r.status IN ('pending', 'requires_action');
			END IF;
		END IF;
	END IF;

	RETURN QUERY SELECT r.status, r.headers, r.body FROM workon.outbox_response(p_id) AS r;
END
$$;

COMMENT ON FUNCTION workon.outbox_result(bigint, integer, jsonb) IS
'For the front end: the provider answered an outbox row with a 2xx or 4xx status and a JSON body. 2xx applies the answer (payment <- PaymentIntent id, client_secret, status; checkout <- session id and url; refund <- refund id and status) and marks the row done; 4xx marks it failed with the provider''s error code and message (the payment can start over with a new idempotency key; a refund is failed). A row no longer pending changes nothing. Returns the HTTP response for a client waiting on the row (workon.outbox_response)';

CREATE FUNCTION workon.outbox_error(p_id bigint, p_error text)
RETURNS TABLE (status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
BEGIN
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_o.status = 'pending' THEN
		IF v_o.attempts >= 8 THEN
			UPDATE workon.outbox AS o
			   SET status = 'dead', last_error = pg_catalog.left(p_error, 1000)
			 WHERE o.id = v_o.id;
		ELSE
			UPDATE workon.outbox AS o
			   SET next_attempt_at = pg_catalog.now()
									 + pg_catalog.make_interval(secs => workon.outbox_backoff(GREATEST(o.attempts, 1))),
				   last_error = pg_catalog.left(p_error, 1000)
			 WHERE o.id = v_o.id;
		END IF;
	END IF;
	RETURN QUERY SELECT r.status, r.headers, r.body FROM workon.outbox_response(p_id) AS r;
END
$$;

COMMENT ON FUNCTION workon.outbox_error(bigint, text) IS
'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts (last_error kept; the payment or refund stays pending and can be started again). A row no longer pending changes nothing. Returns the HTTP response for a waiting client: 503 unavailable with Retry-After';

CREATE FUNCTION workon.outbox_retry(id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
BEGIN
	IF workon.current_role() IS DISTINCT FROM 'admin' THEN
		RAISE EXCEPTION 'only admins may retry outbound calls'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = outbox_retry.id AND o.status = 'dead' FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no dead outbox row %', outbox_retry.id
			USING ERRCODE = 'no_data_found';
	END IF;
	-- a payment that started over must not be created twice
	IF EXISTS (SELECT FROM workon.outbox AS o
				WHERE o.payment_id = v_o.payment_id AND o.purpose = v_o.purpose AND o.id > v_o.id) THEN
		RAISE EXCEPTION 'outbox row % was replaced by a newer call', v_o.id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE workon.outbox AS o
	   SET status = 'pending', attempts = 0, next_attempt_at = pg_catalog.now()
	 WHERE o.id = v_o.id;
END
$$;

COMMENT ON FUNCTION workon.outbox_retry(bigint) IS
'For admins: a dead outbox row is pending again, due now, with a fresh count of attempts (same idempotency key); 55000 when a newer call of the same payment and purpose replaced it';

--
-- Routes and errors
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary) VALUES
	('POST', '/api/v1/bookings/{id}/payment', 'workon.payment_create(uuid)',
	 'member', 201, 'none', 'Pay for a booking with a Stripe PaymentIntent'),
	('POST', '/api/v1/bookings/{id}/checkout', 'workon.checkout_create(uuid,text,text)',
	 'member', 201, 'json', 'Pay for a booking with Stripe Checkout'),
	('GET', '/api/v1/payments/{id}', 'workon.payment_get(uuid)',
	 'member', 200, 'none', 'Get a payment and its refunds'),
	('POST', '/api/webhooks/stripe', 'workon.stripe_webhook(text,jsonb)',
	 'none', 200, 'raw', 'Stripe webhook endpoint'),
	('POST', '/api/v1/webhooks/stripe', 'workon.stripe_webhook(text,jsonb)',
	 'none', 200, 'raw', 'Stripe webhook endpoint');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOB01', 400, 'invalid_signature'),
	('WOC06', 409, 'booking_not_payable');

--
-- Function privileges of the payments
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	workon.stripe_webhook(text, jsonb),
	workon.stripe_signature_verify(text, text, text, integer, timestamptz),
	workon.payment_transition_allowed(text, text),
	workon.refund_transition_allowed(text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.payment_create(uuid),
	workon.checkout_create(uuid, text, text),
	workon.payment_get(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.outbox_retry(bigint)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.outbox_claim(text, integer),
	workon.outbox_claim_id(bigint),
	workon.outbox_result(bigint, integer, jsonb),
	workon.outbox_error(bigint, text),
	workon.seed_stripe_webhook_secret(text)
	TO workon_authenticator;

--
-- pg_dump: payments, refunds, the outbox, events and secrets are data; of
-- routes and errors only the rows not shipped with the extension
--
SELECT pg_catalog.pg_extension_config_dump('workon.payments', '');
SELECT pg_catalog.pg_extension_config_dump('workon.refunds', '');
SELECT pg_catalog.pg_extension_config_dump('workon.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('workon.outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stripe_events', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stripe_webhook_secrets', '');

DO $dump$
BEGIN
	PERFORM pg_catalog.pg_extension_config_dump('workon.routes',
		(SELECT 'WHERE (method, path) NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('(%L, %L)', r.method, r.path),
										 ', ' ORDER BY r.method, r.path)
				|| ')'
		   FROM workon.routes AS r));
	PERFORM pg_catalog.pg_extension_config_dump('workon.errors',
		(SELECT 'WHERE sqlstate NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('%L', e.sqlstate),
										 ', ' ORDER BY e.sqlstate)
				|| ')'
		   FROM workon.errors AS e));
END
$dump$;

-- ==== end of 0.4.0: payments (Stripe) ====

--
-- 0.4.0 edge: the OpenAPI document, generated from the route table
--

-- The JSON Schema of an argument type, for the OpenAPI document
CREATE FUNCTION workon.openapi_schema(typ regtype)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	elem regtype;
BEGIN
	SELECT t.typelem::regtype INTO elem
	  FROM pg_type t WHERE t.oid = typ AND t.typcategory = 'A';
	IF elem IS NOT NULL THEN
		RETURN jsonb_build_object('type', 'array', 'items', workon.openapi_schema(elem));
	END IF;
	RETURN CASE typ
		WHEN 'uuid'::regtype THEN '{"type": "string", "format": "uuid"}'
		WHEN 'text'::regtype THEN '{"type": "string"}'
		WHEN 'character varying'::regtype THEN '{"type": "string"}'
		WHEN 'smallint'::regtype THEN '{"type": "integer", "format": "int32"}'
		WHEN 'integer'::regtype THEN '{"type": "integer", "format": "int32"}'
		WHEN 'bigint'::regtype THEN '{"type": "integer", "format": "int64"}'
		WHEN 'numeric'::regtype THEN '{"type": "number"}'
		WHEN 'double precision'::regtype THEN '{"type": "number"}'
		WHEN 'boolean'::regtype THEN '{"type": "boolean"}'
		WHEN 'timestamp with time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
		WHEN 'date'::regtype THEN '{"type": "string", "format": "date"}'
		WHEN 'jsonb'::regtype THEN '{"type": "object"}'
		WHEN 'json'::regtype THEN '{"type": "object"}'
		ELSE '{"type": "string"}'
	END::jsonb;
END
$$;

COMMENT ON FUNCTION workon.openapi_schema(regtype) IS
'The JSON Schema of a handler argument type in the OpenAPI document (uuid, text, integers, numeric, boolean, timestamptz, date, json, arrays; anything else a string)';

-- The paths the HTTP front end serves itself, with no route in workon.routes
CREATE FUNCTION workon.openapi_builtin_paths()
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT '{
  "/healthz": {"get": {"operationId": "healthz", "tags": ["operations"], "summary": "Liveness: never touches the database", "security": [],
    "responses": {"200": {"description": "{\"status\":\"ok\"}", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/readyz": {"get": {"operationId": "readyz", "tags": ["operations"], "summary": "Readiness: the database answers", "security": [],
    "responses": {"200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "not_ready, with the database check''s error", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/api/health": {"get": {"operationId": "api_health", "tags": ["operations"], "summary": "Health as the existing deployments probe it", "security": [],
    "responses": {"200": {"description": "healthy", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "unhealthy", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/api/v1/health": {"get": {"operationId": "v1_health", "tags": ["operations"], "summary": "Full diagnostic: versions, environment, uptime, database latency, pool", "security": [],
    "responses": {"200": {"description": "diagnostic", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "the database does not answer", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/metrics": {"get": {"operationId": "metrics", "tags": ["operations"], "summary": "Prometheus metrics (text format 0.0.4)", "security": [],
    "responses": {"200": {"description": "requests by route and status, latency histogram, pool, rate-limited, webhooks", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
  "/api/v1/openapi.json": {"get": {"operationId": "openapi", "tags": ["operations"], "summary": "This document (outside production, or with ENABLE_SWAGGER_PROD=true)", "security": [],
    "responses": {"200": {"description": "OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "404": {"$ref": "#/components/responses/Error"}}}},
  "/docs": {"get": {"operationId": "docs", "tags": ["operations"], "summary": "A page rendering this document (outside production, or with ENABLE_SWAGGER_PROD=true)", "security": [],
    "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                  "404": {"$ref": "#/components/responses/Error"}}}}
}'::jsonb
$$;

COMMENT ON FUNCTION workon.openapi_builtin_paths() IS
'The OpenAPI path items of what the HTTP front end serves itself: health probes, metrics, the document and its docs page';

/*
 * workon.openapi() returns jsonb
 *
 * The OpenAPI 3.1 document of the HTTP API, generated on every call from
 * workon.routes and the handlers' catalog entries: summary from the route,
 * description from COMMENT ON FUNCTION, parameters and request body fields
 * from the argument names and types (path template names are path
 * parameters; on a route without a JSON body the other arguments are query
 * parameters; with one, they are the body's fields, or the whole body for an
 * argument named "body"; "meta" is the request meta, never a parameter).
 */
CREATE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   obj_description(p.oid, 'pg_proc') AS description,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', workon.openapi_schema(a.typ));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', workon.openapi_schema(a.typ));
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', '{"type": "string"}'::jsonb);
			END IF;
		END LOOP;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		END IF;

		responses := jsonb_build_object(r.status::text,
			CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
				 ELSE jsonb_build_object('description', r.summary,
										 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		IF r.status = 200 AND r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN
			-- the handler may return nothing
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "429": {"$ref": "#/components/responses/RateLimited"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.auth <> 'none' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body <> 'none' THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object", "description": "field: the offending parameter or field"}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';

REVOKE ALL ON FUNCTION workon.openapi_schema(regtype), workon.openapi_builtin_paths(), workon.openapi() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workon.openapi_schema(regtype), workon.openapi_builtin_paths(), workon.openapi()
	TO workon_authenticator, workon_anon, workon_member, workon_host, workon_admin;

--
-- ==== 0.4.1: request parameters stay out of the server log ====
--
-- The front end passes each request's body (a password at login), its
-- bearer token and, at start, the secrets it seeds (JWT_SECRET and the
-- like) as parameters of its statements.  With log_min_duration_statement
-- or log_statement on, PostgreSQL writes a statement's parameters into its
-- log ("DETAIL: parameters: $1 = ..."), and after an error too when
-- log_parameter_max_length_on_error is set.  Its login role never has them
-- logged; the statements are still logged, with their $n placeholders.  A
-- DBA who needs the values for a while can ALTER ROLE workon_authenticator
-- RESET them.  Role settings belong to the cluster, like the role: a second
-- database's install sets the same values again.
--
ALTER ROLE workon_authenticator SET log_parameter_max_length = 0;
ALTER ROLE workon_authenticator SET log_parameter_max_length_on_error = 0;

-- ==== end of 0.4.1 ====
