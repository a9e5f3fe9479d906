/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

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
	IF NEW.description IS NULL OR pg_catalog.length(NEW.description) > 5000 THEN
		RAISE EXCEPTION 'description must be text of at most 5000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'description';
	END IF;
	NEW.language := COALESCE(NEW.language, workon.space_language(NEW.timezone));
	IF NEW.language NOT IN ('da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
							'pt', 'ro', 'ru', 'sv', 'tr') THEN
		RAISE EXCEPTION 'language must be one of da, de, en, es, fi, fr, hu, it, nl, no, pt, ro, ru, sv, tr'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'language';
	END IF;
	IF NEW.published IS NULL THEN
		RAISE EXCEPTION 'published must be true or false'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'published';
	END IF;
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
'Trigger: validates a space on every insert and update, error 22023 naming the field; lower-cases the currency; WOR01 space_archived for publishing an archived space or un-archiving it';

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

	INSERT INTO workon.spaces AS s (host_id, name, kind, city, address, capacity, timezone,
									hourly_rate_cents, daily_rate_cents, currency,
									opening_hours, published, description, language)
	VALUES (v.host_id, v.name, v.kind, v.city, v.address, v.capacity, v.timezone,
			v.hourly_rate_cents, v.daily_rate_cents, v.currency,
			COALESCE(v.opening_hours, '{}'), COALESCE(v.published, false),
			COALESCE(v.description, ''), v.language)
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_create(jsonb) IS
'POST /api/v1/spaces (host, admin): a new space of the caller (admins may name another host with host_id); opening_hours defaults to {} (closed), published to false; 22023 naming the field for anything invalid';

CREATE OR REPLACE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces := workon.space_writable(space_update.id);
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
	v := pg_catalog.jsonb_populate_record(v, space_update.body);

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
'PATCH /api/v1/spaces/{id} (its host, admin): changes the fields present in the body; a field given as null is refused if the space needs it. Existing bookings keep their price; WOR01 space_archived for an archived space';

-- each space gets the language of its zone and its document the two new
-- fields; not a change anyone made: neither audited nor stamped
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces AS s SET language = workon.space_language(s.timezone);
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_set_updated_at;

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
