--
-- A file's download reads only what it answers: a 304 (If-None-Match) no
-- bytes, a 206 (Range) only the TOAST chunks of its range; the answers of
-- Range, If-Range and If-None-Match as the front end gets them
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx d
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on
\set png '\\x89504e470d0a1a0a0000000d4948445200000001'

-- conditional and range requests read only what they need: the TOAST blocks
-- of workon.upload_data fetched for a 1 MiB file whole, for a 100-byte range,
-- and for an If-None-Match that matches (none)
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.upload_create('big.png', 'image/png', 1048576)::json->>'upload_url' AS r_url \gset
COMMIT;
SELECT (regexp_match(:'r_url', '/uploads/([^/]+)/'))[1] AS r_id,
       substring(:'r_url', 'expires=([0-9]+)') AS r_expires, substring(:'r_url', 'sig=(.*)$') AS r_sig \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT workon.upload_put(:'r_id', :'r_expires', :'r_sig',
                         :'png'::bytea || decode(repeat('5a', 1048576 - length(:'png'::bytea)), 'hex'))::json->>'size' AS r_size;
COMMIT;
SELECT workon.signed_url('GET', workon.upload_path(:'r_id')) AS r_get \gset
SELECT substring(:'r_get', 'expires=([0-9]+)') AS r_expires, substring(:'r_get', 'sig=(.*)$') AS r_sig,
       reltoastrelid AS r_toast FROM pg_class WHERE oid = 'workon.upload_data'::regclass \gset
SELECT '"' || encode(sha256, 'hex') || '"' AS r_etag FROM workon.uploads WHERE id = :'r_id' \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
CREATE TEMP TABLE reads (what text, bytes int, blocks bigint);
INSERT INTO reads
-- (|| reads the bytes: a whole file comes back as a pointer to its TOAST chunks)
SELECT what, length(workon.upload_content(:'r_id', :'r_expires', :'r_sig', jsonb_build_object('headers', h)) || '\x'::bytea),
       pg_stat_get_xact_blocks_fetched(:r_toast)
  FROM (VALUES (1, 'start', '{}'::jsonb),
               (2, 'whole', '{}'),
               (3, 'range 500000-500099', '{"range": "bytes=500000-500099"}'),
               (4, 'suffix -10', '{"range": "bytes=-10"}'),
               (5, 'if-none-match', jsonb_build_object('if-none-match', 'W/' || :'r_etag')),
               (6, 'range, if-range another tag', '{"range": "bytes=0-9", "if-range": "\"x\""}')) AS t (n, what, h)
 ORDER BY n;
SELECT what, bytes, CASE WHEN d = 0 THEN 'none' WHEN d <= 3 THEN '1 to 3' WHEN d > 100 THEN 'over 100'
                         ELSE d::text END AS toast_blocks_read
  FROM (SELECT what, bytes, blocks - lag(blocks) OVER (ORDER BY ctid) AS d, ctid FROM reads) AS r
 ORDER BY ctid OFFSET 1;
ROLLBACK;
-- the answers, as the front end gets them (one request per transaction; the
-- statements, which carry the upload's id and signature, are not echoed):
-- first 100 bytes, an open end, a suffix, past the end, two ranges, backwards,
-- If-None-Match with the ETag in a list, If-Range with the ETag
\set ECHO none
SELECT 'BEGIN', 'SET LOCAL SESSION AUTHORIZATION workon_authenticator',
       format($$SELECT %L AS what, d.status, d.headers::jsonb->>'Content-Range' AS content_range,
                       length(d.body) AS bytes, d.headers::jsonb->>'ETag' = %L AS etag
                  FROM workon.dispatch_bytes('workon.upload_content(uuid,bigint,text,jsonb)'::regprocedure,
                                             %L, %L, NULL, NULL, %L) AS d$$,
              what, :'r_etag', jsonb_build_object('id', :'r_id'),
              jsonb_build_object('expires', :'r_expires', 'sig', :'r_sig'), jsonb_build_object('headers', h)),
       'ROLLBACK'
  FROM (VALUES (1, 'first 100', '{"range": "bytes=0-99"}'::jsonb),
               (2, 'open end', '{"range": "bytes=1048570-"}'),
               (3, 'suffix', '{"range": "bytes=-5"}'),
               (4, 'past the end', '{"range": "bytes=1048576-"}'),
               (5, 'two ranges', '{"range": "bytes=0-1,5-6"}'),
               (6, 'backwards', '{"range": "bytes=9-3"}'),
               (7, 'if-none-match', jsonb_build_object('if-none-match', '"x", ' || :'r_etag')),
               (8, 'if-range matches', jsonb_build_object('range', 'bytes=0-99', 'if-range', :'r_etag'))) AS t (n, what, h)
 ORDER BY n \gexec
\set ECHO all
