/* sql/workon.sql -- installed as workon--0.1.0.sql */

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
AS 'MODULE_PATHNAME', 'dispatch'
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
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.users IS
'People using workon; role is member, host or admin';

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
	city_key	text NOT NULL GENERATED ALWAYS AS (pg_catalog.lower(city)) STORED
);

COMMENT ON TABLE workon.spaces IS
'Bookable workspaces (desks, offices, meeting rooms, event spaces) listed by hosts; visible to everyone once published, always to their host and admins';

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
	v_page		json;
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
	 * One index-ordered scan; the row past the page only says whether there
	 * is more.  Two spellings of the query so that each has a plan of its
	 * own: with a city, the per-city index does the filtering too.
	 */
	IF v_city IS NULL THEN
		SELECT workon.json_build(
				   'data', COALESCE(pg_catalog.json_agg(p.space ORDER BY p.n)
									FILTER (WHERE p.n <= v_limit),
									'[]'::json),
				   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
									  (pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id))
									   FILTER (WHERE p.n = v_limit))[1]
								  END)
		  INTO v_page
		  FROM (SELECT workon.space_json(s) AS space, s.created_at, s.id,
					   pg_catalog.row_number() OVER (ORDER BY s.created_at DESC, s.id DESC) AS n
				  FROM workon.spaces AS s
				 WHERE s.published
				   AND (s.created_at, s.id) < (v_after_ts, v_after_id)
				   AND (v_kind IS NULL OR s.kind = v_kind)
				   AND s.capacity >= v_min
				 ORDER BY s.created_at DESC, s.id DESC
				 LIMIT v_limit + 1) AS p;
	ELSE
		SELECT workon.json_build(
				   'data', COALESCE(pg_catalog.json_agg(p.space ORDER BY p.n)
									FILTER (WHERE p.n <= v_limit),
									'[]'::json),
				   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
									  (pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id))
									   FILTER (WHERE p.n = v_limit))[1]
								  END)
		  INTO v_page
		  FROM (SELECT workon.space_json(s) AS space, s.created_at, s.id,
					   pg_catalog.row_number() OVER (ORDER BY s.created_at DESC, s.id DESC) AS n
				  FROM workon.spaces AS s
				 WHERE s.published
				   AND s.city_key = v_city
				   AND (s.created_at, s.id) < (v_after_ts, v_after_id)
				   AND (v_kind IS NULL OR s.kind = v_kind)
				   AND s.capacity >= v_min
				 ORDER BY s.created_at DESC, s.id DESC
				 LIMIT v_limit + 1) AS p;
	END IF;

	RETURN v_page;
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
	SELECT workon.space_json(s) INTO v_space
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
	workon.json_build("any")
	TO workon_anon, workon_member, workon_host, workon_admin;

-- checked whenever a space is written
GRANT EXECUTE ON FUNCTION workon.valid_timezone(text)
	TO workon_host, workon_admin;

-- route handlers, per the auth column of workon.routes
GRANT EXECUTE ON FUNCTION
	workon.spaces_list(text, text, integer, integer, text),
	workon.space_get(uuid)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- pg_dump: keep the data of users and spaces.  The route and error rows
-- shipped here are recreated by CREATE EXTENSION, so only rows added later
-- are dumped (an update script that ships more rows calls this again).
--
SELECT pg_catalog.pg_extension_config_dump('workon.users', '');
SELECT pg_catalog.pg_extension_config_dump('workon.spaces', '');

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
