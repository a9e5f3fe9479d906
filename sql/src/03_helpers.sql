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
	workon.json_trusted(text)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- checked whenever a space is written
GRANT EXECUTE ON FUNCTION workon.valid_timezone(text)
	TO workon_host, workon_admin;
