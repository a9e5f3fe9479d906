/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

--
-- Every invalid field of a request at once (05_api.sql; register_check in
-- 12_sessions.sql)
--
CREATE FUNCTION workon.raise_invalid(fields text[], messages text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF pg_catalog.cardinality(raise_invalid.fields) > 0 THEN
		RAISE EXCEPTION '%', raise_invalid.messages[1]
			USING ERRCODE = 'invalid_parameter_value', COLUMN = raise_invalid.fields[1],
				  DETAIL = '{"fields":['
						   || (SELECT pg_catalog.string_agg(workon.json_build('field', x.f, 'message', x.m)::text, ','
															ORDER BY x.n)
								 FROM ROWS FROM (pg_catalog.unnest(raise_invalid.fields),
												pg_catalog.unnest(raise_invalid.messages))
									  WITH ORDINALITY AS x (f, m, n))
						   || ']}';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.raise_invalid(text[], text[]) IS
'Raises 22023 for the invalid fields of a request, if any: the first field and its message are the error''s COLUMN and message, and its DETAIL is {"fields":[{"field","message"},...]} with all of them in order, which the front end answers as details.field and details.fields';

GRANT EXECUTE ON FUNCTION workon.raise_invalid(text[], text[])
	TO workon_anon, workon_member, workon_host, workon_admin;

CREATE FUNCTION workon.register_check(email text, password text, name text, role text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_fields	text[] := '{}';
	v_messages	text[] := '{}';
	v_message	text;
BEGIN
	BEGIN
		PERFORM workon.check_email(register_check.email);
	EXCEPTION WHEN invalid_parameter_value THEN
		GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
		v_fields := v_fields || 'email'::text; v_messages := v_messages || v_message;
	END;
	IF register_check.password IS NULL THEN
		v_fields := v_fields || 'password'::text; v_messages := v_messages || 'password is required'::text;
	ELSE
		BEGIN
			PERFORM workon.password_check(register_check.password, pg_catalog.btrim(register_check.email));
		EXCEPTION WHEN invalid_parameter_value THEN
			GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
			v_fields := v_fields || 'password'::text; v_messages := v_messages || v_message;
		END;
	END IF;
	IF register_check.name IS NULL OR pg_catalog.btrim(register_check.name) = '' THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name is required'::text;
	ELSIF pg_catalog.length(pg_catalog.btrim(register_check.name)) > 200 THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name must be at most 200 characters'::text;
	END IF;
	IF register_check.role IS NOT NULL AND register_check.role NOT IN ('member', 'host') THEN
		v_fields := v_fields || 'role'::text; v_messages := v_messages || 'role must be member or host'::text;
	END IF;
	PERFORM workon.raise_invalid(v_fields, v_messages);
END
$$;

COMMENT ON FUNCTION workon.register_check(text, text, text, text) IS
'The checks of a registration, all of them: 22023 naming the first invalid field of email, password, name and role, every invalid one in its detail (workon.raise_invalid); nothing when all are valid';

--
-- Spaces: a description and a language; their words searched in it
-- (20_spaces.sql)
--
CREATE FUNCTION workon.space_language(timezone text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE
		WHEN $1 IN ('Europe/Berlin', 'Europe/Vienna', 'Europe/Zurich', 'Europe/Busingen') THEN 'de'
		WHEN $1 IN ('Europe/Paris', 'Europe/Monaco', 'Europe/Luxembourg', 'America/Montreal') THEN 'fr'
		WHEN $1 IN ('Europe/Lisbon', 'Atlantic/Madeira', 'Atlantic/Azores', 'America/Sao_Paulo') THEN 'pt'
		WHEN $1 IN ('Europe/Madrid', 'Atlantic/Canary', 'America/Mexico_City', 'America/Bogota',
					'America/Argentina/Buenos_Aires', 'America/Lima', 'America/Santiago') THEN 'es'
		WHEN $1 IN ('Europe/Rome', 'Europe/San_Marino', 'Europe/Vatican') THEN 'it'
		WHEN $1 IN ('Europe/Amsterdam', 'Europe/Brussels') THEN 'nl'
		WHEN $1 = 'Europe/Copenhagen' THEN 'da'
		WHEN $1 = 'Europe/Stockholm' THEN 'sv'
		WHEN $1 = 'Europe/Oslo' THEN 'no'
		WHEN $1 = 'Europe/Helsinki' THEN 'fi'
		WHEN $1 = 'Europe/Budapest' THEN 'hu'
		WHEN $1 = 'Europe/Bucharest' THEN 'ro'
		WHEN $1 = 'Europe/Moscow' THEN 'ru'
		WHEN $1 = 'Europe/Istanbul' THEN 'tr'
		ELSE 'en'
	END
$$;

COMMENT ON FUNCTION workon.space_language(text) IS
'The language a space is written in when its host names none: the main language of its time zone''s country for the zones of countries with one, else en';

CREATE FUNCTION workon.text_search_config(language text)
RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT (CASE $1
		WHEN 'da' THEN 'pg_catalog.danish' WHEN 'de' THEN 'pg_catalog.german'
		WHEN 'en' THEN 'pg_catalog.english' WHEN 'es' THEN 'pg_catalog.spanish'
		WHEN 'fi' THEN 'pg_catalog.finnish' WHEN 'fr' THEN 'pg_catalog.french'
		WHEN 'hu' THEN 'pg_catalog.hungarian' WHEN 'it' THEN 'pg_catalog.italian'
		WHEN 'nl' THEN 'pg_catalog.dutch' WHEN 'no' THEN 'pg_catalog.norwegian'
		WHEN 'pt' THEN 'pg_catalog.portuguese' WHEN 'ro' THEN 'pg_catalog.romanian'
		WHEN 'ru' THEN 'pg_catalog.russian' WHEN 'sv' THEN 'pg_catalog.swedish'
		WHEN 'tr' THEN 'pg_catalog.turkish' ELSE 'pg_catalog.simple' END)::pg_catalog.regconfig
$$;

COMMENT ON FUNCTION workon.text_search_config(text) IS
'The text search configuration of a language code of spaces (da, de, en, es, fi, fr, hu, it, nl, no, pt, ro, ru, sv, tr); simple for anything else';

CREATE FUNCTION workon.space_search_vector(language text, name text, city text, description text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.setweight(pg_catalog.to_tsvector(workon.text_search_config($1), COALESCE($2, '')), 'A')
		   || pg_catalog.setweight(pg_catalog.to_tsvector(workon.text_search_config($1), COALESCE($3, '')), 'B')
		   || pg_catalog.setweight(pg_catalog.to_tsvector(workon.text_search_config($1), COALESCE($4, '')), 'C')
$$;

COMMENT ON FUNCTION workon.space_search_vector(text, text, text, text) IS
'The words of a space for full-text search, in its language: name (weight A), city (B), description (C)';

ALTER TABLE workon.spaces
	ADD COLUMN description text NOT NULL DEFAULT ''
		CONSTRAINT spaces_description_check
		CHECK (pg_catalog.length(description) <= 5000),
	ADD COLUMN language text
		CONSTRAINT spaces_language_check
		CHECK (language IN ('da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
							'pt', 'ro', 'ru', 'sv', 'tr'));

CREATE OR REPLACE FUNCTION workon.space_check()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
	v_fields	text[] := '{}';
	v_messages	text[] := '{}';
	v_field		text;
	v_message	text;
BEGIN
	-- every invalid field at once (workon.raise_invalid): the first is the
	-- error's, all of them its detail
	IF NEW.name IS NULL OR pg_catalog.btrim(NEW.name) = '' THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name is required'::text;
	ELSIF pg_catalog.length(NEW.name) > 200 THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name must be at most 200 characters'::text;
	END IF;
	IF NEW.kind IS NULL OR NEW.kind NOT IN ('desk', 'private_office', 'meeting_room', 'event_space') THEN
		v_fields := v_fields || 'kind'::text;
		v_messages := v_messages || 'kind must be one of desk, private_office, meeting_room, event_space'::text;
	END IF;
	IF NEW.city IS NULL OR pg_catalog.btrim(NEW.city) = '' THEN
		v_fields := v_fields || 'city'::text; v_messages := v_messages || 'city is required'::text;
	END IF;
	IF NEW.address IS NULL OR pg_catalog.btrim(NEW.address) = '' THEN
		v_fields := v_fields || 'address'::text; v_messages := v_messages || 'address is required'::text;
	END IF;
	IF NEW.capacity IS NULL OR NEW.capacity < 1 THEN
		v_fields := v_fields || 'capacity'::text; v_messages := v_messages || 'capacity must be at least 1'::text;
	END IF;
	IF NEW.timezone IS NULL OR NOT workon.valid_timezone(NEW.timezone) THEN
		v_fields := v_fields || 'timezone'::text;
		v_messages := v_messages || 'timezone must name an IANA time zone such as Europe/Berlin'::text;
	END IF;
	IF NEW.hourly_rate_cents IS NULL OR NEW.hourly_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		v_fields := v_fields || 'hourly_rate_cents'::text;
		v_messages := v_messages || 'hourly_rate_cents must be between 0 and 100000000000'::text;
	END IF;
	IF NEW.daily_rate_cents IS NULL OR NEW.daily_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		v_fields := v_fields || 'daily_rate_cents'::text;
		v_messages := v_messages || 'daily_rate_cents must be between 0 and 100000000000'::text;
	END IF;
	NEW.currency := pg_catalog.lower(NEW.currency);
	IF NEW.currency IS NULL OR NEW.currency !~ '^[a-z]{3}$' THEN
		v_fields := v_fields || 'currency'::text;
		v_messages := v_messages || 'currency must be a three-letter ISO 4217 code such as eur'::text;
	END IF;
	BEGIN
		PERFORM workon.opening_hours_check(NEW.opening_hours);
		-- bookable as written: every time on the 15-minute grid (checked when
		-- the hours are written, so hours of older releases stay)
		IF TG_OP = 'INSERT' OR NEW.opening_hours IS DISTINCT FROM OLD.opening_hours THEN
			FOR v_field IN
				SELECT DISTINCT d.key, pg_catalog.array_position(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], d.key)
				  FROM pg_catalog.jsonb_each(NEW.opening_hours) AS d,
					   pg_catalog.jsonb_array_elements(d.value) AS i,
					   pg_catalog.jsonb_array_elements_text(i) AS t
				 WHERE pg_catalog.right(t, 2) NOT IN ('00', '15', '30', '45')
				 ORDER BY 2
			LOOP
				v_fields := v_fields || ('opening_hours.' || v_field);
				v_messages := v_messages || ('opening_hours.' || v_field
											 || ': times must be on the 15-minute grid (:00, :15, :30, :45)');
			END LOOP;
		END IF;
	EXCEPTION WHEN invalid_parameter_value THEN
		GET STACKED DIAGNOSTICS v_field = COLUMN_NAME, v_message = MESSAGE_TEXT;
		v_fields := v_fields || COALESCE(NULLIF(v_field, ''), 'opening_hours');
		v_messages := v_messages || v_message;
	END;
	IF NEW.description IS NULL OR pg_catalog.length(NEW.description) > 5000 THEN
		v_fields := v_fields || 'description'::text;
		v_messages := v_messages || 'description must be text of at most 5000 characters'::text;
	END IF;
	NEW.language := COALESCE(NEW.language, workon.space_language(NEW.timezone));
	IF NEW.language NOT IN ('da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
							'pt', 'ro', 'ru', 'sv', 'tr') THEN
		v_fields := v_fields || 'language'::text;
		v_messages := v_messages || 'language must be one of da, de, en, es, fi, fr, hu, it, nl, no, pt, ro, ru, sv, tr'::text;
	END IF;
	IF NEW.published IS NULL THEN
		v_fields := v_fields || 'published'::text; v_messages := v_messages || 'published must be true or false'::text;
	END IF;
	PERFORM workon.raise_invalid(v_fields, v_messages);
	IF NEW.published AND NEW.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'an archived space cannot be published again'
			USING ERRCODE = 'WOR01', COLUMN = 'published';
	END IF;
	IF TG_OP = 'UPDATE' AND OLD.archived_at IS NOT NULL
	   AND NEW.archived_at IS DISTINCT FROM OLD.archived_at THEN
		RAISE EXCEPTION 'an archived space stays archived'
			USING ERRCODE = 'WOR01', COLUMN = 'archived_at';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.space_check() IS
'Trigger: validates a space on every insert and update: error 22023 naming the first invalid field, every invalid one in its detail (workon.raise_invalid), opening hours written on the 15-minute grid; lower-cases the currency; WOR01 space_archived for publishing an archived space or un-archiving it';

CREATE OR REPLACE FUNCTION workon.space_json(s workon.spaces)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', s.id,
		'host_id', s.host_id,
		'name', s.name,
		'description', s.description,
		'kind', s.kind,
		'city', s.city,
		'address', s.address,
		'capacity', s.capacity,
		'timezone', s.timezone,
		'language', COALESCE(s.language, workon.space_language(s.timezone)),
		'hourly_rate_cents', s.hourly_rate_cents,
		'daily_rate_cents', s.daily_rate_cents,
		'currency', s.currency,
		'opening_hours', s.opening_hours,
		'published', s.published,
		'photos', workon.space_photos_json(s.id),
		'created_at', s.created_at,
		'updated_at', s.updated_at,
		'archived_at', s.archived_at)
$$;

COMMENT ON FUNCTION workon.space_json(workon.spaces) IS
'The API representation of a space';

CREATE OR REPLACE FUNCTION workon.space_body_check(body jsonb, allowed text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	k			text;
	v			jsonb;
	t			text;
	v_fields	text[] := '{}';
	v_messages	text[] := '{}';
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
		IF k IN ('name', 'kind', 'city', 'address', 'timezone', 'currency', 'host_id',
				 'description', 'language') AND t <> 'string' THEN
			v_fields := v_fields || k; v_messages := v_messages || (k || ' must be a string');
		ELSIF k IN ('capacity', 'hourly_rate_cents', 'daily_rate_cents')
			  AND (t <> 'number' OR v::numeric <> pg_catalog.trunc(v::numeric)
				   OR v::numeric NOT BETWEEN -2147483648 AND 2147483647 AND k = 'capacity'
				   OR v::numeric NOT BETWEEN -9223372036854775808 AND 9223372036854775807) THEN
			v_fields := v_fields || k; v_messages := v_messages || (k || ' must be an integer');
		ELSIF k = 'published' AND t <> 'boolean' THEN
			v_fields := v_fields || k; v_messages := v_messages || 'published must be true or false'::text;
		ELSIF k = 'host_id'
			  AND v #>> '{}' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
			v_fields := v_fields || k; v_messages := v_messages || 'host_id must be a UUID'::text;
		END IF;
	END LOOP;
	PERFORM workon.raise_invalid(v_fields, v_messages);
END
$$;

COMMENT ON FUNCTION workon.space_body_check(jsonb, text[]) IS
'Checks a space request body: a JSON object of allowed keys whose values have the right JSON types (null allowed); error 22023 naming the first wrong field, every wrong one in its detail (workon.raise_invalid)';

CREATE OR REPLACE FUNCTION workon.space_create(body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces;
BEGIN
	PERFORM workon.space_body_check(space_create.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published', 'host_id',
			  'description', 'language']);
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

	IF v.published THEN
		PERFORM workon.space_publishable(COALESCE(v.opening_hours, '{}'));
	END IF;
	INSERT INTO workon.spaces AS s (host_id, name, kind, city, address, capacity, timezone,
									hourly_rate_cents, daily_rate_cents, currency,
									opening_hours, published, description, language)
	VALUES (v.host_id, v.name, v.kind, v.city, v.address, v.capacity, v.timezone,
			v.hourly_rate_cents, v.daily_rate_cents, v.currency,
			COALESCE(v.opening_hours, '{}'), COALESCE(v.published, false),
			COALESCE(v.description, ''), v.language)
	RETURNING * INTO v;

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/spaces/' || v.id));
	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_create(jsonb) IS
'POST /api/v1/spaces (host, admin): a new space of the caller (admins may name another host with host_id); opening_hours defaults to {} (closed), published to false; 22023 naming the field for anything invalid; WOR02 no_opening_hours for a published space without opening hours';

CREATE OR REPLACE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces := workon.space_writable(space_update.id);
	v_new		workon.spaces;
BEGIN
	PERFORM workon.space_body_check(space_update.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published',
			  'description', 'language']);

	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_update.id FOR UPDATE;
	IF v.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be changed'
			USING ERRCODE = 'WOR01';
	END IF;
	-- fields present in the body replace the stored ones (null included)
	v_new := pg_catalog.jsonb_populate_record(v, space_update.body);
	IF v_new.published AND (NOT v.published OR v_new.opening_hours IS DISTINCT FROM v.opening_hours) THEN
		PERFORM workon.space_publishable(v_new.opening_hours);
	END IF;
	v := v_new;

	UPDATE workon.spaces AS s
	   SET name = v.name, kind = v.kind, city = v.city, address = v.address,
		   capacity = v.capacity, timezone = v.timezone,
		   hourly_rate_cents = v.hourly_rate_cents, daily_rate_cents = v.daily_rate_cents,
		   currency = v.currency, opening_hours = v.opening_hours, published = v.published,
		   description = v.description, language = v.language
	 WHERE s.id = space_update.id
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_update(uuid, jsonb) IS
'PATCH /api/v1/spaces/{id} (its host, admin): changes the fields present in the body; a field given as null is refused if the space needs it. Existing bookings keep their price; WOR01 space_archived for an archived space; WOR02 no_opening_hours for publishing it without opening hours';


ALTER TABLE workon.spaces
	ADD COLUMN search tsvector GENERATED ALWAYS AS
		(workon.space_search_vector(COALESCE(language, workon.space_language(timezone)),
										   name, city, description)) STORED;
-- not fastupdate: spaces are written seldom and searched often, and a pending
-- list of new entries would be read by every search until a vacuum
CREATE INDEX spaces_search_idx ON workon.spaces USING gin (search) WITH (fastupdate = off) WHERE published;

COMMENT ON COLUMN workon.spaces.language IS
'The language the space is written in (an ISO 639-1 code of workon.text_search_config), its words searched in it; set to workon.space_language(timezone) when a write leaves it out (NULL, only in rows a restore loaded without it, means that too)';

COMMENT ON COLUMN workon.spaces.search IS
'The words of name, city and description in the space''s language, for GET /api/v1/spaces?q= (workon.space_search_vector)';

GRANT INSERT (description, language), UPDATE (description, language)
	ON workon.spaces TO workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.space_language(text),
	workon.text_search_config(text),
	workon.space_search_vector(text, text, text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- Listings: search and sort of spaces, a host's spaces and bookings,
-- filtered bookings (22_listings.sql)
--
--
-- Cursors of lists in another order than (created_at, id) (extension/cursor.c)
--
CREATE FUNCTION workon.cursor_encode_key(kind "char", key bigint, id uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'cursor_encode_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.cursor_encode_key("char", bigint, uuid) IS
'Opaque list cursor naming the row (key, id) a page ended with, in a list ordered by (key DESC, id DESC); kind names the order, so that a cursor of one order is refused by another';

CREATE FUNCTION workon.cursor_decode_key(kind "char", cursor text, OUT key bigint, OUT id uuid)
RETURNS record
AS 'MODULE_PATHNAME', 'cursor_decode_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.cursor_decode_key("char", text) IS
'Position (key, id) named by a cursor of workon.cursor_encode_key of the same kind; error 22023 "invalid cursor" (field "cursor") otherwise';

--
-- GET /api/v1/spaces: filters, words, orders
--
CREATE FUNCTION workon.spaces_search(
	q text DEFAULT NULL,
	sort text DEFAULT NULL,
	city text DEFAULT NULL,
	kind text DEFAULT NULL,
	min_capacity integer DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
#variable_conflict use_column
DECLARE
	v_q			text := NULLIF(pg_catalog.btrim(spaces_search.q), '');
	v_sort		text := COALESCE(NULLIF(spaces_search.sort, ''),
								 CASE WHEN NULLIF(pg_catalog.btrim(spaces_search.q), '') IS NULL
									  THEN 'newest' ELSE 'relevance' END);
	v_city		text := pg_catalog.lower(NULLIF(spaces_search.city, ''));
	v_kind		text := NULLIF(spaces_search.kind, '');
	v_min		integer := COALESCE(spaces_search.min_capacity, 1);
	v_limit		integer := COALESCE(spaces_search."limit", 20);
	v_order		"char";
	v_langs		text[] := ARRAY['da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
								'pt', 'ro', 'ru', 'sv', 'tr'];
	v_queries	tsquery[];
	v_any		tsquery;
	v_after_key	bigint := 9223372036854775807;
	v_after_id	uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	v_docs		text[];
	v_keys		bigint[];
	v_ids		uuid[];
BEGIN
	IF v_sort NOT IN ('newest', 'price', 'capacity', 'relevance') THEN
		RAISE EXCEPTION 'sort must be one of newest, price, capacity, relevance'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'sort';
	END IF;
	IF v_sort = 'relevance' AND v_q IS NULL THEN
		RAISE EXCEPTION 'sort=relevance needs q'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'sort';
	END IF;
	IF pg_catalog.length(v_q) > 200 THEN
		RAISE EXCEPTION 'q must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'q';
	END IF;
	-- newest first without words: the hand-tuned list of every release
	IF v_q IS NULL AND v_sort = 'newest' THEN
		RETURN workon.spaces_list(spaces_search.city, spaces_search.kind, spaces_search.min_capacity,
								  spaces_search."limit", spaces_search.cursor);
	END IF;

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
	v_order := pg_catalog.substr(v_sort, 1, 1)::"char";
	IF spaces_search.cursor <> '' THEN
		SELECT c.key, c.id INTO v_after_key, v_after_id
		  FROM workon.cursor_decode_key(v_order, spaces_search.cursor) AS c;
	END IF;

	IF v_q IS NOT NULL THEN
		-- the words as each language reads them; a space matches the query
		-- of its own language, and the index finds the candidates of any
		v_queries := ARRAY(SELECT pg_catalog.websearch_to_tsquery(workon.text_search_config(l), v_q)
							 FROM pg_catalog.unnest(v_langs) WITH ORDINALITY AS x (l, n)
							ORDER BY x.n);
		SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('(%s)', x::text), ' | ')::tsquery
		  INTO v_any
		  FROM pg_catalog.unnest(v_queries) AS x
		 WHERE pg_catalog.numnode(x) > 0;
		IF v_any IS NULL THEN
			-- only stop words: nothing to look for
			RETURN workon.json_build('data', workon.json_trusted('[]'), 'next_cursor', NULL::text);
		END IF;
	END IF;

	/*
	 * Every order is (key DESC, id DESC) with an integer key: relevance
	 * (ts_rank scaled to an integer, so that pages agree), the hourly rate
	 * negated (cheapest first), the capacity (largest first), or the
	 * creation time in microseconds.  The inner query ranks ids; only the
	 * page's rows have their documents read.  Two spellings, with words and
	 * without, so that each keeps a plan of its own (with words: the index
	 * of the words).
	 */
	IF v_q IS NOT NULL THEN
		SELECT pg_catalog.array_agg(s.doc::text ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.k ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.id ORDER BY o.k DESC, o.id DESC)
		  INTO v_docs, v_keys, v_ids
		  FROM (SELECT p.id, p.k
				  FROM (SELECT s.id,
							   CASE v_sort
								   WHEN 'relevance' THEN (pg_catalog.ts_rank(s.search, p.query) * 1000000000)::bigint
								   WHEN 'price' THEN -s.hourly_rate_cents
								   WHEN 'capacity' THEN s.capacity::bigint
								   ELSE (pg_catalog.date_part('epoch', s.created_at) * 1000000)::bigint
							   END AS k
						  FROM workon.spaces AS s
						 CROSS JOIN LATERAL (SELECT v_queries[pg_catalog.array_position(v_langs,
									 COALESCE(s.language, workon.space_language(s.timezone)))] AS query) AS p
						 WHERE s.published
						   AND s.search @@ v_any
						   AND s.search @@ p.query
						   AND (v_city IS NULL OR s.city_key = v_city)
						   AND (v_kind IS NULL OR s.kind = v_kind)
						   AND s.capacity >= v_min) AS p
				 WHERE (p.k, p.id) < (v_after_key, v_after_id)
				 ORDER BY p.k DESC, p.id DESC
				 LIMIT v_limit + 1) AS o
		  JOIN workon.spaces AS s ON s.id = o.id;
	ELSE
		SELECT pg_catalog.array_agg(s.doc::text ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.k ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.id ORDER BY o.k DESC, o.id DESC)
		  INTO v_docs, v_keys, v_ids
		  FROM (SELECT p.id, p.k
				  FROM (SELECT s.id,
							   CASE v_sort WHEN 'price' THEN -s.hourly_rate_cents ELSE s.capacity::bigint END AS k
						  FROM workon.spaces AS s
						 WHERE s.published
						   AND (v_city IS NULL OR s.city_key = v_city)
						   AND (v_kind IS NULL OR s.kind = v_kind)
						   AND s.capacity >= v_min) AS p
				 WHERE (p.k, p.id) < (v_after_key, v_after_id)
				 ORDER BY p.k DESC, p.id DESC
				 LIMIT v_limit + 1) AS o
		  JOIN workon.spaces AS s ON s.id = o.id;
	END IF;

	RETURN workon.json_build(
		'data', workon.json_trusted(
			'[' || COALESCE(pg_catalog.array_to_string(v_docs[1:v_limit], ','), '') || ']'),
		'next_cursor', CASE WHEN pg_catalog.cardinality(v_docs) > v_limit THEN
						   workon.cursor_encode_key(v_order, v_keys[v_limit], v_ids[v_limit])
					   END);
END
$$;

COMMENT ON FUNCTION workon.spaces_search(text, text, text, text, integer, integer, text) IS
'GET /api/v1/spaces: published spaces as {"data": [...], "next_cursor": ...}; q searches the words of name, city and description (PostgreSQL full-text search, each space in its language, websearch syntax: "quoted phrases", -excluded, or), ranked by relevance; sort newest (the default without q), price (hourly rate, cheapest first), capacity (largest first) or relevance (the default with q); filters city (case-insensitive), kind, min_capacity; limit 1..100 (default 20)';

UPDATE workon.routes
   SET handler = 'workon.spaces_search(text,text,text,text,integer,integer,text)',
	   summary = 'List and search published spaces'
 WHERE method = 'GET' AND path = '/api/v1/spaces';

--
-- A host's own spaces, in any state
--
CREATE FUNCTION workon.host_spaces_list("limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(host_spaces_list."limit", host_spaces_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(p.doc ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT s.doc, s.created_at, s.id
			  FROM workon.spaces AS s
			 WHERE s.host_id = v_user
			   AND (s.created_at, s.id) < (v.after_ts, v.after_id)
			 ORDER BY s.created_at DESC, s.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.host_spaces_list(integer, text) IS
'GET /api/v1/host/spaces: the caller''s own spaces in any state (unpublished and archived ones too), newest first, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20)';

--
-- Bookings, filtered: mine, and those on my spaces
--
CREATE FUNCTION workon.booking_filters_check(status text, "from" timestamptz, "to" timestamptz)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF booking_filters_check.status NOT IN ('pending_payment', 'confirmed', 'expired', 'cancelled', 'completed') THEN
		RAISE EXCEPTION 'status must be one of pending_payment, confirmed, expired, cancelled, completed'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'status';
	END IF;
	IF booking_filters_check."to" <= booking_filters_check."from" THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.booking_filters_check(text, timestamptz, timestamptz) IS
'Checks the filters of a list of bookings: status one of the statuses, to after from; 22023 naming the field otherwise';

CREATE FUNCTION workon.bookings_filtered(
	hosted boolean,
	space_id uuid,
	status text,
	"from" timestamptz,
	"to" timestamptz,
	"limit" integer,
	cursor text)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_all		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_user		uuid := workon.current_user_id();
	v_status	text := NULLIF(bookings_filtered.status, '');
	v			record;
	v_page		json;
BEGIN
	PERFORM workon.booking_filters_check(v_status, bookings_filtered."from", bookings_filtered."to");
	SELECT * INTO v FROM workon.list_bounds(bookings_filtered."limit", bookings_filtered.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.booking_json(p.b) ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT b, b.created_at, b.id
			  FROM workon.bookings AS b
			 WHERE (v_all
					OR (NOT bookings_filtered.hosted AND b.user_id = v_user)
					OR (bookings_filtered.hosted
						AND EXISTS (SELECT FROM workon.spaces AS s
									 WHERE s.id = b.space_id AND s.host_id = v_user)))
			   AND (bookings_filtered.space_id IS NULL OR b.space_id = bookings_filtered.space_id)
			   AND (v_status IS NULL OR workon.booking_status(b) = v_status)
			   AND (bookings_filtered."from" IS NULL OR b.ends_at > bookings_filtered."from")
			   AND (bookings_filtered."to" IS NULL OR b.starts_at < bookings_filtered."to")
			   AND (b.created_at, b.id) < (v.after_ts, v.after_id)
			 ORDER BY b.created_at DESC, b.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.bookings_filtered(boolean, uuid, text, timestamptz, timestamptz, integer, text) IS
'A page of bookings, newest first, as {"data": [...], "next_cursor": ...}: the caller''s own (hosted false) or those of the caller''s spaces (hosted true); admins: all. Filters space_id, status (the effective one: a hold past its expiry is expired), from and to (bookings that overlap [from, to)); limit 1..100 (default 20)';

CREATE FUNCTION workon.bookings_search(
	space_id uuid DEFAULT NULL,
	status text DEFAULT NULL,
	"from" timestamptz DEFAULT NULL,
	"to" timestamptz DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	RETURN workon.bookings_filtered(false, space_id, status, "from", "to", "limit", cursor);
END
$$;

COMMENT ON FUNCTION workon.bookings_search(uuid, text, timestamptz, timestamptz, integer, text) IS
'GET /api/v1/bookings: the caller''s bookings (admins: all), newest first, as {"data": [...], "next_cursor": ...}; filters space_id, status (the effective one: a hold past its expiry is expired), from and to (bookings that overlap [from, to)); limit 1..100 (default 20)';

UPDATE workon.routes
   SET handler = 'workon.bookings_search(uuid,text,timestamptz,timestamptz,integer,text)'
 WHERE method = 'GET' AND path = '/api/v1/bookings';

CREATE FUNCTION workon.host_bookings_list(
	space_id uuid DEFAULT NULL,
	status text DEFAULT NULL,
	"from" timestamptz DEFAULT NULL,
	"to" timestamptz DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	RETURN workon.bookings_filtered(true, space_id, status, "from", "to", "limit", cursor);
END
$$;

COMMENT ON FUNCTION workon.host_bookings_list(uuid, text, timestamptz, timestamptz, integer, text) IS
'GET /api/v1/host/bookings: the bookings of the caller''s spaces (admins: of all spaces), newest first, as {"data": [...], "next_cursor": ...}; filters space_id, status (the effective one), from and to (bookings that overlap [from, to)); limit 1..100 (default 20)';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/host/spaces', 'workon.host_spaces_list(integer,text)',
	 'host', 200, 'none', true, 'My spaces in any state (unpublished and archived too)'),
	('GET', '/api/v1/host/bookings', 'workon.host_bookings_list(uuid,text,timestamptz,timestamptz,integer,text)',
	 'host', 200, 'none', true, 'The bookings of my spaces (admins: all)');

GRANT EXECUTE ON FUNCTION
	workon.cursor_encode_key("char", bigint, uuid),
	workon.cursor_decode_key("char", text),
	workon.spaces_search(text, text, text, text, integer, integer, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.booking_filters_check(text, timestamptz, timestamptz),
	workon.bookings_filtered(boolean, uuid, text, timestamptz, timestamptz, integer, text),
	workon.bookings_search(uuid, text, timestamptz, timestamptz, integer, text)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.host_spaces_list(integer, text),
	workon.host_bookings_list(uuid, text, timestamptz, timestamptz, integer, text)
	TO workon_host, workon_admin;

--
-- A 201 names what it created in Location (12_sessions, 15_uploads,
-- 20_spaces, 21_bookings, 31_outbox, 40_messages)
--
CREATE OR REPLACE FUNCTION workon.auth_register(email text DEFAULT NULL, password text DEFAULT NULL,
									 name text DEFAULT NULL, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	IF auth_register.role IS NOT NULL AND auth_register.role NOT IN ('member', 'host') THEN
		RAISE EXCEPTION 'role must be member or host'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF auth_register.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	v_id := workon.create_user(auth_register.email, auth_register.password,
							   auth_register.name, COALESCE(auth_register.role, 'member'));
	PERFORM workon.email_verification_send(u) FROM workon.users AS u WHERE u.id = v_id;
	PERFORM workon.set_response(NULL, '{"Location": "/api/v1/me"}');
	RETURN workon.session_issue(v_id);
EXCEPTION WHEN invalid_parameter_value THEN
	-- something is invalid: every invalid field at once
	PERFORM workon.register_check(auth_register.email, auth_register.password,
								  auth_register.name, auth_register.role);
	RAISE;
END
$$;

COMMENT ON FUNCTION workon.auth_register(text, text, text, text) IS
'POST /api/v1/auth/register: a new member (or host) and its tokens, and a mail to verify the address; 22023 naming the first invalid field of email, password, name and role (all of them in its detail, workon.register_check), WOC01 email_taken';

CREATE OR REPLACE FUNCTION workon.upload_create(filename text DEFAULT NULL, content_type text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION workon.upload_put(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
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
	IF booking_create.space_id IS NULL OR booking_create.starts_at IS NULL OR booking_create.ends_at IS NULL THEN
		-- every missing field at once
		PERFORM workon.raise_invalid(pg_catalog.array_agg(x.f ORDER BY x.n),
									 pg_catalog.array_agg(x.f || ' is required' ORDER BY x.n))
		   FROM ROWS FROM (pg_catalog.unnest(ARRAY['space_id', 'starts_at', 'ends_at']),
						   pg_catalog.unnest(ARRAY[booking_create.space_id IS NULL, booking_create.starts_at IS NULL,
												   booking_create.ends_at IS NULL])) WITH ORDINALITY AS x (f, missing, n)
		  WHERE x.missing;
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
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be booked'
			USING ERRCODE = 'WOR01';
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

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/bookings/' || v_booking.id));
	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_create(uuid, timestamptz, timestamptz) IS
'POST /api/v1/bookings: a hold (pending_payment until hold_expires_at, workon.booking_hold_minutes from now) of a space the caller can see; the rules of workon.booking_check (22023 naming the rule), the price of workon.booking_price; P0002 for an unknown or unseen space, WOR01 space_archived for an archived one (its host, admins); WOC02 booking_conflict if a confirmed booking or live hold overlaps';

CREATE OR REPLACE FUNCTION workon.outbox_response(p_id bigint, OUT status integer, OUT headers jsonb,
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
		IF status = 201 THEN
			headers := pg_catalog.jsonb_build_object('Location', '/api/v1/payments/' || v_pay.id);
		END IF;
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

CREATE OR REPLACE FUNCTION workon.conversation_open(space_id uuid DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION workon.message_post(id uuid, body jsonb DEFAULT NULL)
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


--
-- The OpenAPI document: Location on 201s, the strong ETag of public reads
-- (90_openapi)
--
CREATE OR REPLACE FUNCTION workon.openapi()
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
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
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
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

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
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for, with Content-Range"},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag"},
					 "416": {"description": "Range Not Satisfiable"}}'::jsonb;
		END IF;
		IF r.status = 201 THEN
			-- what was created is named in Location
			responses := jsonb_set(responses, '{201,headers}',
				'{"Location": {"description": "The URL of what was created", "schema": {"type": "string"}}}');
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a strong ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		IF r.status = 200 AND r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN
			-- the handler may return nothing
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
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
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object",
							"description": "field: the offending parameter or field (the first); fields: every invalid field of the request, where a route checks them all (registration, spaces, bookings)",
							"properties": {"field": {"type": "string"},
										   "fields": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
													  "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}'::jsonb))))),
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


--
-- Hours that can be booked (20_spaces.sql): opening hours written on the
-- 15-minute grid (space_check, above), no publishing without opening hours
--
CREATE FUNCTION workon.space_publishable(opening_hours jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF pg_catalog.jsonb_typeof(space_publishable.opening_hours) = 'object'
	   AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_each(space_publishable.opening_hours) AS d
						WHERE pg_catalog.jsonb_typeof(d.value) = 'array'
						  AND pg_catalog.jsonb_array_length(d.value) > 0) THEN
		RAISE EXCEPTION 'a space without opening hours cannot be published'
			USING ERRCODE = 'WOR02', COLUMN = 'opening_hours',
				  HINT = 'Give it opening hours, or leave it unpublished.';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.space_publishable(jsonb) IS
'WOR02 no_opening_hours (409) for opening hours with no interval on any day: a space is published through the API only when it can be booked';

GRANT EXECUTE ON FUNCTION workon.space_publishable(jsonb) TO workon_host, workon_admin;

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOR02', 409, 'no_opening_hours');

--
-- Availability on the grid of the space's zone, dates of that zone
-- (21_bookings.sql)
--
CREATE FUNCTION workon.grid_align(at timestamptz, timezone text, up boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_local		timestamp := grid_align.at AT TIME ZONE grid_align.timezone;
	v_hour		timestamp := pg_catalog.date_trunc('hour', v_local);
	v_quarters	numeric := EXTRACT(epoch FROM v_local - v_hour) / 900;
BEGIN
	IF v_quarters = pg_catalog.trunc(v_quarters) OR NOT pg_catalog.isfinite(grid_align.at) THEN
		RETURN grid_align.at;
	END IF;
	RETURN (v_hour + (CASE WHEN grid_align.up THEN pg_catalog.ceil(v_quarters) ELSE pg_catalog.floor(v_quarters) END)
					 * interval '15 minutes') AT TIME ZONE grid_align.timezone;
END
$$;

COMMENT ON FUNCTION workon.grid_align(timestamptz, text, boolean) IS
'The time itself if it is on the 15-minute grid of the zone''s local time, else the next grid point (up) or the previous one';

CREATE FUNCTION workon.window_bound(value text, field text, timezone text, is_end boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	IF window_bound.value IS NULL OR window_bound.value = '' THEN
		RETURN NULL;
	END IF;
	IF window_bound.value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		-- a date of the zone: from its start; an end: to the next day's start
		BEGIN
			RETURN ((window_bound.value::date + CASE WHEN window_bound.is_end THEN 1 ELSE 0 END)::timestamp)
				   AT TIME ZONE window_bound.timezone;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	ELSIF window_bound.value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}(:[0-9]{2})?)$' THEN
		BEGIN
			RETURN window_bound.value::timestamptz;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	RAISE EXCEPTION '% must be a date (of the space''s zone) or an RFC 3339 time with an offset, such as 2027-01-01 or 2027-01-01T09:00:00+01:00', window_bound.field
		USING ERRCODE = 'invalid_datetime_format', COLUMN = window_bound.field;
END
$$;

COMMENT ON FUNCTION workon.window_bound(text, text, text, boolean) IS
'A bound of an availability window as sent: a date is that date in the zone (from its start; as the end, to the next day''s start, so that the date is included), a time is RFC 3339 with an offset; NULL for none; 22007 naming the field otherwise';

CREATE FUNCTION workon.space_availability_window(id uuid, "from" text DEFAULT NULL, "to" text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_zone		text;
	v_from		timestamptz;
	v_to		timestamptz;
BEGIN
	SELECT s.timezone INTO v_zone FROM workon.spaces AS s WHERE s.id = space_availability_window.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	v_from := workon.grid_align(COALESCE(workon.window_bound(space_availability_window."from", 'from', v_zone, false),
										 pg_catalog.now()), v_zone, true);
	v_to := COALESCE(workon.grid_align(workon.window_bound(space_availability_window."to", 'to', v_zone, true), v_zone, false),
					 v_from + interval '7 days');
	RETURN workon.space_availability(space_availability_window.id, v_from, v_to);
END
$$;

COMMENT ON FUNCTION workon.space_availability_window(uuid, text, text) IS
'GET /api/v1/spaces/{id}/availability?from=&to=: workon.space_availability of a window on the 15-minute grid of the space''s zone, so that every free period can be booked as given: from (default now) rounded up, to (default from + 7 days) rounded down; a date-only bound is that date in the space''s zone (to includes its date); at most 31 days';

UPDATE workon.routes
   SET handler = 'workon.space_availability_window(uuid,text,text)'
 WHERE method = 'GET' AND path = '/api/v1/spaces/{id}/availability';

GRANT EXECUTE ON FUNCTION
	workon.grid_align(timestamptz, text, boolean),
	workon.window_bound(text, text, text, boolean),
	workon.space_availability_window(uuid, text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- Compact lists inside documents (20_spaces, 21_bookings, 35_email,
-- 40_messages): arrays of JSON without json_agg's blanks
--
CREATE OR REPLACE FUNCTION workon.space_photos_json(space_id uuid)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(
			   workon.json_build('id', u.id,
								 'url', workon.upload_path(u.id),
								 'content_type', u.content_type)
			   ORDER BY p.position)), '[]')
	  FROM workon.space_photos AS p
	  JOIN workon.uploads AS u ON u.id = p.upload_id
	 WHERE p.space_id = space_photos_json.space_id
$$;

COMMENT ON FUNCTION workon.space_photos_json(uuid) IS
'The photos of a space in order (the first is the cover) as [{id, url, content_type}], url its stable public URL (served while the space is published)';

CREATE OR REPLACE FUNCTION workon.periods_json(periods tstzmultirange)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.json_build('starts_at', pg_catalog.lower(r),
																				'ends_at', pg_catalog.upper(r))
															 ORDER BY pg_catalog.lower(r))),
					'[]'::json)
	  FROM pg_catalog.unnest($1) AS r
$$;

COMMENT ON FUNCTION workon.periods_json(tstzmultirange) IS
'A multirange as a JSON list of {"starts_at","ends_at"}';

CREATE OR REPLACE FUNCTION workon.admin_emails_list(status text DEFAULT NULL, "to" text DEFAULT NULL,
										 "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit		integer := COALESCE(admin_emails_list."limit", 20);
	v_status	text := NULLIF(admin_emails_list.status, '');
	v_to		text := pg_catalog.lower(NULLIF(admin_emails_list."to", ''));
	v_before	bigint := 9223372036854775807;
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF v_status NOT IN ('pending', 'done', 'dead') THEN
		RAISE EXCEPTION 'status must be one of pending, done, dead'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'status';
	END IF;
	IF admin_emails_list.cursor <> '' THEN
		IF admin_emails_list.cursor !~ '^[0-9]{1,18}$' THEN
			RAISE EXCEPTION 'invalid cursor'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cursor';
		END IF;
		v_before := admin_emails_list.cursor::bigint;
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.email_json(p.mail) ORDER BY p.n)
																   FILTER (WHERE p.n <= v_limit)), '[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.array_agg((p.mail).id::text) FILTER (WHERE p.n = v_limit))[1]
							  END)
	  INTO v_page
	  FROM (SELECT o AS mail, pg_catalog.row_number() OVER (ORDER BY o.id DESC) AS n
			  FROM workon.outbox AS o
			 WHERE o.kind = 'email' AND o.id < v_before
			   AND (v_status IS NULL OR o.status = v_status)
			   AND (v_to IS NULL OR pg_catalog.lower(o.params ->> 'to') = v_to)
			 ORDER BY o.id DESC
			 LIMIT v_limit + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_emails_list(text, text, integer, text) IS
'GET /api/v1/admin/emails: mails, newest first, as {"data": [...], "next_cursor": ...}, without their bodies; filters status (pending, done, dead) and to (the address, case-insensitive); limit 1..100 (default 20)';

CREATE OR REPLACE FUNCTION workon.admin_email_templates()
RETURNS json
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build('data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.email_template_json(t)
																						ORDER BY t.key, t.locale)), '[]'))
	  FROM (SELECT DISTINCT ON (t.key, t.locale) t.*
			  FROM workon.email_templates AS t
			 ORDER BY t.key, t.locale, t.custom DESC) AS t
$$;

COMMENT ON FUNCTION workon.admin_email_templates() IS
'GET /api/v1/admin/email-templates: the template in use for each key and locale ({"data": [...]}; custom true for an admin''s replacement)';

CREATE OR REPLACE FUNCTION workon.events_since(since bigint DEFAULT NULL, "limit" integer DEFAULT NULL)
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


--
-- Last: each space gets the language of its zone and its document is built
-- again (description, language, times in UTC, compact lists); not a change
-- anyone made: neither audited nor stamped (20_spaces.sql)
--
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces AS s SET language = workon.space_language(s.timezone);
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_set_updated_at;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- pg_dump: the shipped route and error rows now include those above
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
