/* sql/src/03_helpers.sql -- pagination cursors, time zones, JSON on hot paths, updated_at */

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
-- Pages of lists: the bounds a request asks for, the page it gets
--
CREATE FUNCTION workon.page_bounds("limit" integer, cursor text,
								   OUT page_size integer, OUT after_ts timestamptz, OUT after_id uuid)
RETURNS record
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	page_size := COALESCE(page_bounds."limit", 20);
	IF page_size < 1 OR page_size > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	-- "before everything" unless a cursor names where the last page ended
	after_ts := 'infinity';
	after_id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	IF page_bounds.cursor <> '' THEN
		SELECT c.ts, c.id INTO after_ts, after_id FROM workon.cursor_decode(page_bounds.cursor) AS c;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.page_bounds(integer, text) IS
'The page a list request asks for: page_size (limit, 1..100, default 20; else 22023 naming limit) and the position (ts, id) after which it starts (the cursor''s, or before everything when it is NULL or empty)';

CREATE FUNCTION workon.page_json(items json[], ts timestamptz[], ids uuid[], page_size integer)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	n			integer := COALESCE(pg_catalog.cardinality(items), 0);
BEGIN
	RETURN workon.json_build(
		'data', workon.json_trusted('[' || COALESCE(pg_catalog.array_to_string(items[1:page_size], ','), '') || ']'),
		'next_cursor', CASE WHEN n > page_size THEN workon.cursor_encode(ts[page_size], ids[page_size]) END);
END
$$;

COMMENT ON FUNCTION workon.page_json(json[], timestamptz[], uuid[], integer) IS
'{"data": [...], "next_cursor": ...} of a page: the first page_size items (read as page_size + 1, in order, with the (ts, id) of each); a cursor to the item ending the page when there were more';

--
-- updated_at, stamped by a trigger of each table that has it
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
-- Privileges
--
GRANT EXECUTE ON FUNCTION
	workon.cursor_encode(timestamptz, uuid),
	workon.cursor_decode(text),
	workon.json_build("any"),
	workon.json_trusted(text),
	workon.page_bounds(integer, text),
	workon.page_json(json[], timestamptz[], uuid[], integer)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- checked whenever a space is written
GRANT EXECUTE ON FUNCTION workon.valid_timezone(text)
	TO workon_host, workon_admin;
