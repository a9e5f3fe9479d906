--
-- workon.json_build(): json_build_object() with cached lookups
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';

CREATE TYPE pg_temp.pair AS (a int, b text);
CREATE DOMAIN pg_temp.short_text AS text CHECK (length(VALUE) < 10);

-- compact output
SELECT workon.json_build('id', 1, 'name', 'Desk "A"', 'ok', true, 'none', NULL::text);

-- every kind of value, as json_build_object() writes it
SELECT 'int2' AS type, workon.json_build('v', 7::int2) AS built, workon.json_build('v', 7::int2)::jsonb = json_build_object('v', 7::int2)::jsonb AS same
UNION ALL SELECT 'int4', workon.json_build('v', -2147483648), workon.json_build('v', -2147483648)::jsonb = json_build_object('v', -2147483648)::jsonb
UNION ALL SELECT 'int8', workon.json_build('v', 9007199254740993::int8), workon.json_build('v', 9007199254740993::int8)::jsonb = json_build_object('v', 9007199254740993::int8)::jsonb
UNION ALL SELECT 'numeric', workon.json_build('v', 12.50::numeric), workon.json_build('v', 12.50::numeric)::jsonb = json_build_object('v', 12.50::numeric)::jsonb
UNION ALL SELECT 'numeric NaN', workon.json_build('v', 'NaN'::numeric), workon.json_build('v', 'NaN'::numeric)::jsonb = json_build_object('v', 'NaN'::numeric)::jsonb
UNION ALL SELECT 'float8', workon.json_build('v', 1.5e300::float8), workon.json_build('v', 1.5e300::float8)::jsonb = json_build_object('v', 1.5e300::float8)::jsonb
UNION ALL SELECT 'float8 inf', workon.json_build('v', '-Infinity'::float8), workon.json_build('v', '-Infinity'::float8)::jsonb = json_build_object('v', '-Infinity'::float8)::jsonb
UNION ALL SELECT 'bool', workon.json_build('v', false), workon.json_build('v', false)::jsonb = json_build_object('v', false)::jsonb
UNION ALL SELECT 'text', workon.json_build('v', E'a"b\\c\nd\te\u0001f/g'), workon.json_build('v', E'a"b\\c\nd\te\u0001f/g')::jsonb = json_build_object('v', E'a"b\\c\nd\te\u0001f/g')::jsonb
UNION ALL SELECT 'varchar', workon.json_build('v', 'x'::varchar(3)), workon.json_build('v', 'x'::varchar(3))::jsonb = json_build_object('v', 'x'::varchar(3))::jsonb
UNION ALL SELECT 'uuid', workon.json_build('v', '5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f'::uuid), workon.json_build('v', '5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f'::uuid)::jsonb = json_build_object('v', '5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f'::uuid)::jsonb
UNION ALL SELECT 'date', workon.json_build('v', '2024-02-29'::date), workon.json_build('v', '2024-02-29'::date)::jsonb = json_build_object('v', '2024-02-29'::date)::jsonb
UNION ALL SELECT 'timestamp', workon.json_build('v', '2024-02-29 10:11:12.5'::timestamp), workon.json_build('v', '2024-02-29 10:11:12.5'::timestamp)::jsonb = json_build_object('v', '2024-02-29 10:11:12.5'::timestamp)::jsonb
-- (times in one form of the API's own: UTC, six fractional digits, Z; the same instant)
UNION ALL SELECT 'timestamptz', workon.json_build('v', '2024-02-29 10:11:12+02'::timestamptz), (workon.json_build('v', '2024-02-29 10:11:12+02'::timestamptz)->>'v')::timestamptz = '2024-02-29 10:11:12+02'::timestamptz
UNION ALL SELECT 'timestamptz inf', workon.json_build('v', 'infinity'::timestamptz), workon.json_build('v', 'infinity'::timestamptz)::jsonb = json_build_object('v', 'infinity'::timestamptz)::jsonb
UNION ALL SELECT 'time', workon.json_build('v', '10:11'::time), workon.json_build('v', '10:11'::time)::jsonb = json_build_object('v', '10:11'::time)::jsonb
UNION ALL SELECT 'interval', workon.json_build('v', '1 day'::interval), workon.json_build('v', '1 day'::interval)::jsonb = json_build_object('v', '1 day'::interval)::jsonb
UNION ALL SELECT 'json', workon.json_build('v', '{"a" : [1, "x"]}'::json), workon.json_build('v', '{"a" : [1, "x"]}'::json)::jsonb = json_build_object('v', '{"a" : [1, "x"]}'::json)::jsonb
UNION ALL SELECT 'jsonb', workon.json_build('v', '{"a":[1,"x"]}'::jsonb), workon.json_build('v', '{"a":[1,"x"]}'::jsonb)::jsonb = json_build_object('v', '{"a":[1,"x"]}'::jsonb)::jsonb
UNION ALL SELECT 'int[]', workon.json_build('v', ARRAY[[1,2],[3,4]]), workon.json_build('v', ARRAY[[1,2],[3,4]])::jsonb = json_build_object('v', ARRAY[[1,2],[3,4]])::jsonb
UNION ALL SELECT 'text[]', workon.json_build('v', ARRAY['a', NULL]), workon.json_build('v', ARRAY['a', NULL])::jsonb = json_build_object('v', ARRAY['a', NULL])::jsonb
UNION ALL SELECT 'composite', workon.json_build('v', ROW(1, 'x')::pg_temp.pair), workon.json_build('v', ROW(1, 'x')::pg_temp.pair)::jsonb = json_build_object('v', ROW(1, 'x')::pg_temp.pair)::jsonb
UNION ALL SELECT 'record', workon.json_build('v', ROW(1, 'x')), workon.json_build('v', ROW(1, 'x'))::jsonb = json_build_object('v', ROW(1, 'x'))::jsonb
UNION ALL SELECT 'domain', workon.json_build('v', 'abc'::pg_temp.short_text), workon.json_build('v', 'abc'::pg_temp.short_text)::jsonb = json_build_object('v', 'abc'::pg_temp.short_text)::jsonb
UNION ALL SELECT 'nested', workon.json_build('v', workon.json_build('w', 1)), workon.json_build('v', workon.json_build('w', 1))::jsonb = json_build_object('v', json_build_object('w', 1))::jsonb
UNION ALL SELECT 'null', workon.json_build('v', NULL), workon.json_build('v', NULL)::jsonb = json_build_object('v', NULL)::jsonb;

-- keys: any scalar, written as a string
SELECT workon.json_build(1, 'a', true, 'b', 2.5, 'c', '2024-01-01'::date, 'd', 'k"ey', 'e');

-- per-row values with constant keys, many rows: the cached keys stay right
SELECT json_agg(workon.json_build('n', g, 'even', g % 2 = 0, 'label', 'row ' || g))
  FROM generate_series(1, 4) AS g;
SELECT workon.json_build(k, g)
  FROM generate_series(1, 3) AS g, LATERAL (SELECT 'key' || g AS k) AS x;

-- VARIADIC array form
SELECT workon.json_build(VARIADIC ARRAY['a', '1', 'b', '2']);
SELECT workon.json_build(VARIADIC NULL::text[]);

-- one call site called again and again (a PL/pgSQL function, as dispatch's
-- handlers are): literal values stay right after the first call, and keys
-- from variables are not taken for constants
CREATE FUNCTION pg_temp.token_answer(k text, v text) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
	RETURN workon.json_build('token_type', 'bearer', 'fixed', 'abc', k, v);
END
$$;
SELECT pg_temp.token_answer('access_token', 'x' || g) FROM generate_series(1, 3) AS g;
CREATE FUNCTION pg_temp.key_value(k text, v int) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
	RETURN workon.json_build(k, v);
END
$$;
SELECT pg_temp.key_value('key' || g, g) FROM generate_series(1, 3) AS g;

-- malformed
\set VERBOSITY terse
SELECT workon.json_build('a');
SELECT workon.json_build('a', 1, 'b');
SELECT workon.json_build(NULL::text, 1);
SELECT workon.json_build(ARRAY[1], 1);
SELECT workon.json_build('{}'::json, 1);
SELECT workon.json_build(VARIADIC ARRAY['a']);

-- times are UTC whatever the session's zone, with all six fractional digits
SET timezone = 'America/New_York';
SELECT workon.json_build('a', '2024-02-29 10:11:12.5+02'::timestamptz, 'b', '2024-07-01 00:00:00.000001+00'::timestamptz) AS times;
SET timezone = 'UTC';
