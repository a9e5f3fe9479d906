/* sql/src/20_spaces.sql -- spaces: the table, who sees and changes them, the space routes */

--
-- The language of a space: what its words are searched in
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
	doc			json,
	archived_at	timestamptz,
	description	text NOT NULL DEFAULT ''
				CONSTRAINT spaces_description_check
				CHECK (pg_catalog.length(description) <= 5000),
	language	text
				CONSTRAINT spaces_language_check
				CHECK (language IN ('da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
									'pt', 'ro', 'ru', 'sv', 'tr')),
	search		tsvector GENERATED ALWAYS AS
				(workon.space_search_vector(COALESCE(language, workon.space_language(timezone)),
										   name, city, description)) STORED
);

COMMENT ON TABLE workon.spaces IS
'Bookable workspaces (desks, offices, meeting rooms, event spaces) listed by hosts; visible to everyone once published, always to their host and admins';

COMMENT ON COLUMN workon.spaces.doc IS
'The API representation of the space (workon.space_json, times in UTC), kept by the trigger spaces_write_doc so that reads only copy it';

COMMENT ON COLUMN workon.spaces.archived_at IS
'When DELETE archived the space instead of erasing it (it has booking history): unpublished for good, not bookable, not changeable; its bookings, payments and refunds are kept';

COMMENT ON COLUMN workon.spaces.language IS
'The language the space is written in (an ISO 639-1 code of workon.text_search_config), its words searched in it; set to workon.space_language(timezone) when a write leaves it out (NULL, only in rows a restore loaded without it, means that too)';

COMMENT ON COLUMN workon.spaces.search IS
'The words of name, city and description in the space''s language, for GET /api/v1/spaces?q= (workon.space_search_vector)';

COMMENT ON COLUMN workon.spaces.city_key IS
'lower(city), for case-insensitive city filters; a plain column because row-level security keeps non-leakproof expressions such as lower() out of index conditions';

-- The public list: published spaces, newest first, keyset-paginated; and
-- the same per city.
CREATE INDEX spaces_published_created_at_idx
	ON workon.spaces (created_at DESC, id DESC) WHERE published;
CREATE INDEX spaces_published_city_created_at_idx
	ON workon.spaces (city_key, created_at DESC, id DESC) WHERE published;
CREATE INDEX spaces_host_id_idx ON workon.spaces (host_id);
-- not fastupdate: spaces are written seldom and searched often, and a pending
-- list of new entries would be read by every search until a vacuum
CREATE INDEX spaces_search_idx ON workon.spaces USING gin (search) WITH (fastupdate = off) WHERE published;

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
-- the columns of the API (the policy above says which rows)
GRANT INSERT (host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents,
			  daily_rate_cents, currency, opening_hours, published, description, language),
	  UPDATE (name, kind, city, address, capacity, timezone, hourly_rate_cents,
			  daily_rate_cents, currency, opening_hours, published, archived_at,
			  description, language),
	  DELETE
	ON workon.spaces TO workon_host, workon_admin;

CREATE TRIGGER spaces_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.audit_row('doc');

--
-- Photos: ordered, the first (position 0) is the cover; uploads
-- (15_uploads.sql) attached to the space
--
CREATE TABLE workon.space_photos (
	upload_id	uuid PRIMARY KEY REFERENCES workon.uploads (id),
	space_id	uuid NOT NULL REFERENCES workon.spaces (id) ON DELETE CASCADE,
	position	integer NOT NULL
				CONSTRAINT space_photos_position_check CHECK (position BETWEEN 0 AND 19),
	CONSTRAINT space_photos_space_id_position_key UNIQUE (space_id, position)
		DEFERRABLE INITIALLY IMMEDIATE
);

COMMENT ON TABLE workon.space_photos IS
'Photos of a space, at most 20, in order (position 0 is the cover); a file is a photo of one space at most; a photo of a published space is public';

CREATE TRIGGER space_photos_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.space_photos
	FOR EACH ROW WHEN (NOT workon.restoring('workon.space_photos'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.space_photos ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.space_photos FORCE ROW LEVEL SECURITY;

-- Photos are seen with their space
CREATE POLICY space_photos_visible ON workon.space_photos
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.spaces AS s WHERE s.id = space_photos.space_id));

GRANT SELECT ON workon.space_photos
	TO workon_anon, workon_member, workon_host, workon_admin;

CREATE TRIGGER space_photos_release
	AFTER DELETE ON workon.space_photos
	FOR EACH ROW WHEN (NOT workon.restoring('workon.space_photos'))
	EXECUTE FUNCTION workon.upload_release();

CREATE FUNCTION workon.space_photos_json(space_id uuid)
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

--
-- Validation of every write: opening hours (extension/booking.c), the
-- other fields here
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

CREATE FUNCTION workon.space_check()
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

CREATE TRIGGER spaces_check
	BEFORE INSERT OR UPDATE ON workon.spaces
	FOR EACH ROW WHEN (NOT workon.restoring('workon.spaces'))
	EXECUTE FUNCTION workon.space_check();

--
-- The space object of the API
--
CREATE FUNCTION workon.space_rating_json(space_id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_average	numeric;
	v_count		integer;
BEGIN
	-- PL/pgSQL: reviews are created later (51_reviews.sql)
	SELECT pg_catalog.round(pg_catalog.avg(r.rating), 2), pg_catalog.count(*)
	  INTO v_average, v_count
	  FROM workon.reviews AS r
	 WHERE r.space_id = space_rating_json.space_id AND r.hidden_at IS NULL;
	RETURN workon.json_build('average', v_average, 'count', v_count);
END
$$;

COMMENT ON FUNCTION workon.space_rating_json(uuid) IS
'The rating of a space from its reviews that are not hidden: {average (1..5, two decimals; null without reviews), count}';

CREATE FUNCTION workon.space_json(s workon.spaces)
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
		'archived_at', s.archived_at,
		'rating', workon.space_rating_json(s.id))
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
-- Route handlers: reading spaces
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
-- Route handlers: writing spaces
--
CREATE FUNCTION workon.space_body_check(body jsonb, allowed text[])
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

CREATE FUNCTION workon.space_create(body jsonb DEFAULT NULL)
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

	-- bookings, their payments and refunds are records: the space is archived
	IF EXISTS (SELECT FROM workon.bookings AS b WHERE b.space_id = space_delete.id) THEN
		UPDATE workon.spaces AS s
		   SET published = false, archived_at = pg_catalog.now()
		 WHERE s.id = space_delete.id AND s.archived_at IS NULL;
	ELSE
		DELETE FROM workon.spaces AS s WHERE s.id = space_delete.id;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.space_delete(uuid) IS
'DELETE /api/v1/spaces/{id} (its host, admin): a space without bookings is deleted; one with booking history is archived (unpublished for good, not bookable, not changeable, still seen by its host and admins; its bookings, payments, refunds and outbound calls are kept); WOC05 has_future_bookings while a confirmed booking or live hold has not ended';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/spaces', 'workon.spaces_list(text,text,integer,integer,text)',
	 'none', 200, 'none', true, 'List published spaces'),
	('GET', '/api/v1/spaces/{id}', 'workon.space_get(uuid)',
	 'none', 200, 'none', true, 'Get a space'),
	('POST', '/api/v1/spaces', 'workon.space_create(jsonb)',
	 'host', 201, 'json', false, 'Create a space'),
	('PATCH', '/api/v1/spaces/{id}', 'workon.space_update(uuid,jsonb)',
	 'host', 200, 'json', false, 'Change a space'),
	('DELETE', '/api/v1/spaces/{id}', 'workon.space_delete(uuid)',
	 'host', 204, 'none', false, 'Delete (or, with booking history, archive) a space without future bookings');


INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/spaces', '{
		"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string", "description": "next_cursor of the previous page"},
				  "kind": {"$ref": "#/components/schemas/SpaceKind"}, "min_capacity": {"type": "integer", "minimum": 1},
				  "q": {"type": "string", "description": "words of the name, city and description (full-text search in the space''s language)"},
				  "sort": {"type": "string", "enum": ["newest", "price", "capacity", "relevance"],
						   "description": "default relevance with q, newest without"}},
		"responses": {"200": {"$ref": "#/components/schemas/SpacePage"}}}'),
	('GET', '/api/v1/spaces/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Space"}}}'),
	('POST', '/api/v1/spaces', '{
		"body": {"allOf": [{"$ref": "#/components/schemas/SpaceInput"}],
				 "required": ["name", "kind", "city", "address", "capacity", "timezone", "hourly_rate_cents", "daily_rate_cents", "currency"]},
		"responses": {"201": {"$ref": "#/components/schemas/Space"}}}'),
	('PATCH', '/api/v1/spaces/{id}', '{
		"body": {"$ref": "#/components/schemas/SpaceInput"},
		"responses": {"200": {"$ref": "#/components/schemas/Space"}}}'),
	('DELETE', '/api/v1/spaces/{id}', '{}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOC05', 409, 'has_future_bookings'),
	('WOR01', 409, 'space_archived'),
	('WOR02', 409, 'no_opening_hours');

GRANT EXECUTE ON FUNCTION
	workon.space_json(workon.spaces),
	workon.space_photos_json(uuid),
	workon.space_rating_json(uuid),
	workon.space_language(text),
	workon.text_search_config(text),
	workon.space_search_vector(text, text, text, text),
	workon.opening_intervals(text, jsonb, timestamptz, timestamptz),
	workon.spaces_list(text, text, integer, integer, text),
	workon.space_get(uuid)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.opening_hours_check(jsonb),
	workon.space_body_check(jsonb, text[]),
	workon.space_publishable(jsonb),
	workon.space_writable(uuid),
	workon.space_create(jsonb),
	workon.space_update(uuid, jsonb),
	workon.space_delete(uuid)
	TO workon_host, workon_admin;

-- pg_dump: spaces and their photos are data
SELECT pg_catalog.pg_extension_config_dump('workon.spaces', '');
SELECT pg_catalog.pg_extension_config_dump('workon.space_photos', '');
