/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- Back to 0.5.0: each concern appends the reverse of its change below;
-- the pg_dump block stays last.
--

--
-- Listings and the words of spaces (22_listings.sql, 20_spaces.sql)
--
DO $refuse$
BEGIN
	IF EXISTS (SELECT FROM workon.spaces AS s
				WHERE s.description <> '' OR s.language <> workon.space_language(s.timezone)) THEN
		RAISE EXCEPTION 'cannot go back to workon 0.5.0: spaces have descriptions or languages that 0.5.0 has no place for'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Take a pg_dump first; clear spaces.description and spaces.language (back to workon.space_language(timezone)) to go back anyway.';
	END IF;
END
$refuse$;

DELETE FROM workon.routes
 WHERE (method, path) IN (('GET', '/api/v1/host/spaces'), ('GET', '/api/v1/host/bookings'));
UPDATE workon.routes
   SET handler = 'workon.spaces_list(text,text,integer,integer,text)',
	   summary = 'List published spaces'
 WHERE method = 'GET' AND path = '/api/v1/spaces';
UPDATE workon.routes
   SET handler = 'workon.bookings_list(integer,text)'
 WHERE method = 'GET' AND path = '/api/v1/bookings';

DROP FUNCTION workon.host_bookings_list(uuid, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.bookings_search(uuid, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.bookings_filtered(boolean, uuid, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.booking_filters_check(text, timestamptz, timestamptz);
DROP FUNCTION workon.host_spaces_list(integer, text);
DROP FUNCTION workon.spaces_search(text, text, text, text, integer, integer, text);
DROP FUNCTION workon.cursor_decode_key("char", text);
DROP FUNCTION workon.cursor_encode_key("char", bigint, uuid);

DROP INDEX workon.spaces_search_idx;
ALTER TABLE workon.spaces DROP COLUMN search;
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

CREATE OR REPLACE FUNCTION workon.space_create(body jsonb DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
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
		   currency = v.currency, opening_hours = v.opening_hours, published = v.published
	 WHERE s.id = space_update.id
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_update(uuid, jsonb) IS
'PATCH /api/v1/spaces/{id} (its host, admin): changes the fields present in the body; a field given as null is refused if the space needs it. Existing bookings keep their price; WOR01 space_archived for an archived space';

ALTER TABLE workon.spaces DROP COLUMN language, DROP COLUMN description;
DROP FUNCTION workon.space_search_vector(text, text, text, text);
DROP FUNCTION workon.text_search_config(text);
DROP FUNCTION workon.space_language(text);

-- the documents of spaces without the two fields; not audited, not stamped
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces AS s SET published = s.published;
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
