--
-- Opaque keyset cursors
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE FUNCTION pg_temp.try(cursor text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
	st text;
	msg text;
	col text;
BEGIN
	SELECT * INTO r FROM workon.cursor_decode(cursor);
	RETURN 'ok ' || r::text;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME;
	RETURN st || ' ' || msg || CASE WHEN col <> '' THEN ' [field: ' || col || ']' ELSE '' END;
END
$$;

-- a fixed position has a fixed spelling: 34 characters of unpadded base64url
SELECT workon.cursor_encode('2024-01-02 03:04:05.678901+00', '123e4567-e89b-12d3-a456-426614174000') AS c \gset
SELECT :'c' AS cursor, length(:'c'), :'c' ~ '^[A-Za-z0-9_-]+$' AS base64url;
SELECT * FROM workon.cursor_decode(:'c');

-- round trips
SELECT t, u, (d).ts = t AS same_ts, (d).id = u AS same_id
  FROM (VALUES ('2000-01-01 00:00:00+00'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid),
               ('1970-01-01 00:00:00.000001+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
               ('1999-12-31 23:59:59.999999+00', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
               ('4713-01-01 00:00:00+00 BC', '00000000-0000-0000-0000-000000000001'),
               ('294276-12-31 23:59:59.999999+00', '00000000-0000-0000-0000-000000000002'),
               ('infinity', '00000000-0000-0000-0000-000000000003'),
               ('-infinity', '00000000-0000-0000-0000-000000000004')) AS v(t, u),
       LATERAL (SELECT workon.cursor_decode(workon.cursor_encode(t, u)) AS d) x;

-- the wall-clock time zone does not matter
SET timezone = 'Asia/Kolkata';
SELECT workon.cursor_encode('2024-01-02 08:34:05.678901+05:30', '123e4567-e89b-12d3-a456-426614174000') = :'c' AS same;
SET timezone = 'UTC';

-- NULL in, NULL out
SELECT workon.cursor_encode(NULL, gen_random_uuid()) IS NULL AS null_ts,
       workon.cursor_encode(now(), NULL) IS NULL AS null_id;
SELECT * FROM workon.cursor_decode(NULL);

--
-- Malformed cursors: 22023 "invalid cursor", field "cursor"
--
SELECT c AS cursor, pg_temp.try(c) AS result
  FROM (VALUES (''),
               ('abc'),
               (left(:'c', 33)),
               (:'c' || 'A'),
               (:'c' || '=='),
               (' ' || :'c'),
               (overlay(:'c' placing '+' from 5)),
               (overlay(:'c' placing '/' from 5)),
               (overlay(:'c' placing '!' from 10)),
               -- another format version
               (overlay(:'c' placing 'B' from 1)),
               ('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               -- stray bits after the last byte
               (left(:'c', 33) || 'B'),
               -- a timestamp out of range
               (translate(rtrim(encode(('\x01' || '7ffffffffffffff0' || '000102030405060708090a0b0c0d0e0f')::bytea, 'base64'), '='), '+/', '-_')),
               -- the same bytes, well-formed, decode
               (translate(rtrim(encode(('\x01' || '0000000000000001' || '000102030405060708090a0b0c0d0e0f')::bytea, 'base64'), '='), '+/', '-_')),
               ('SELECT 1; --')) AS v(c);

-- psql's view
\set VERBOSITY terse
SELECT * FROM workon.cursor_decode('garbage');
