--
-- Uploads: signed URLs, checks on content, the upload flow, space photos,
-- clean-up of unfinished uploads
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx u
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

-- sample files: the magic of each type, then filler
\set jpeg '\\xffd8ffe000104a46494600010100000100010000'
\set png '\\x89504e470d0a1a0a0000000d4948445200000001'
\set webp '\\x524946462400000057454250565038204c000000'
\set pdf '\\x255044462d312e340a25e2e3cfd30a312030206f626a'

--
-- Content: decided by the magic, checked against the declared type
--
SELECT workon.file_type(:'jpeg') AS jpeg, workon.file_type(:'png') AS png,
       workon.file_type(:'webp') AS webp, workon.file_type(:'pdf') AS pdf,
       workon.file_type('\x52494646240000005741564566') AS riff_wave,
       workon.file_type('GIF89a') AS gif, workon.file_type('') AS empty,
       workon.file_type('<svg xmlns="http://www.w3.org/2000/svg"/>') AS svg;

SELECT pg_temp.try(format('SELECT workon.file_check(%L, %L)', :'png', 'image/png')) AS png_ok,
       pg_temp.try(format('SELECT workon.file_check(%L, %L)', :'png', 'image/jpeg')) AS png_declared_jpeg,
       pg_temp.try(format('SELECT workon.file_check(%L, %L)', 'GIF89a', 'image/jpeg')) AS gif,
       pg_temp.try(format('SELECT workon.file_check(%L, %L)', '', 'image/jpeg')) AS empty,
       pg_temp.try(format('SELECT workon.file_check(%L, %L)', '<html><body>hi</body></html>', 'application/pdf')) AS html;

-- polyglots: markup in the first kilobyte is refused, in any case, past it not
SELECT marker,
       pg_temp.try(format('SELECT workon.file_check(%L::bytea || convert_to(%L, %L), %L)',
                          :'pdf', marker, 'UTF8', 'application/pdf')) AS result
  FROM unnest(ARRAY['<script>alert(1)</script>', '<HTML>', '<!DocType html>', '<svg onload=x>',
                    '<iframe src=x>', 'a < b and <scripting', '%%EOF']) AS marker;
SELECT pg_temp.try(format('SELECT workon.file_check(%L::bytea || convert_to(repeat(%L, 1100) || %L, %L), %L)',
                          :'jpeg', 'x', '<script>', 'UTF8', 'image/jpeg')) AS markup_after_first_kilobyte;

-- size: workon.upload_max_bytes
BEGIN;
SET LOCAL workon.upload_max_bytes = 30;
SELECT pg_temp.try(format('SELECT workon.file_check(%L, %L)', :'pdf', 'application/pdf')) AS pdf_of_22_bytes,
       pg_temp.try(format('SELECT workon.file_check(%L::bytea || %L::bytea, %L)', :'pdf', :'pdf', 'application/pdf')) AS pdf_of_44_bytes;
ROLLBACK;

--
-- Signatures: unpadded base64url HMAC-SHA256 of "METHOD\npath\nexpires"
--
\set key '\\x6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b'
SELECT workon.url_signature(:'key', 'PUT', '/api/v1/uploads/x/content', 4102444800) AS sig,
       workon.url_signature(:'key', 'PUT', '/api/v1/uploads/x/content', 4102444800)
         = rtrim(translate(encode(workon.hmac_sha256(:'key',
               convert_to(E'PUT\n/api/v1/uploads/x/content\n4102444800', 'UTF8')), 'base64'), '+/', '-_'), '=')
         AS is_hmac_of_method_path_expires;
SELECT workon.url_signature(:'key', 'PUT', '/p', 1) AS sig \gset
SELECT what, pg_temp.try(sql) AS result
  FROM (VALUES
	('good', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'PUT', '/p', 1, :'sig', '1970-01-01 00:00:01+00')),
	('second key of two', format('SELECT workon.url_signature_check(ARRAY[%L::bytea, %L::bytea], %L, %L, %s, %L, %L)', '\x' || repeat('00', 32), :'key', 'PUT', '/p', 1, :'sig', '1970-01-01 00:00:01+00')),
	('expired', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'PUT', '/p', 1, :'sig', '1970-01-01 00:00:02+00')),
	('other path', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'PUT', '/q', 1, :'sig', '1970-01-01 00:00:01+00')),
	('other method', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'GET', '/p', 1, :'sig', '1970-01-01 00:00:01+00')),
	('other expires', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'PUT', '/p', 2, :'sig', '1970-01-01 00:00:01+00')),
	('changed sig', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'PUT', '/p', 1, 'A' || substr(:'sig', 2), '1970-01-01 00:00:01+00')),
	('padded sig', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'PUT', '/p', 1, :'sig' || '=', '1970-01-01 00:00:01+00')),
	('short sig', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, %L, %L)', :'key', 'PUT', '/p', 1, 'abc', '1970-01-01 00:00:01+00')),
	('no key', format('SELECT workon.url_signature_check(ARRAY[]::bytea[], %L, %L, %s, %L, %L)', 'PUT', '/p', 1, :'sig', '1970-01-01 00:00:01+00')),
	('no sig', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, %s, NULL)', :'key', 'PUT', '/p', 1)),
	('no expires', format('SELECT workon.url_signature_check(ARRAY[%L::bytea], %L, %L, NULL, %L)', :'key', 'PUT', '/p', :'sig')),
	('short key', format('SELECT workon.url_signature(%L, %L, %L, 1)', '\x00', 'PUT', '/p'))
  ) AS t (what, sql);

--
-- Content-Disposition per RFC 6266
--
SELECT workon.content_disposition('inline', 'photo.jpg') AS plain,
       workon.content_disposition('attachment', 'Café "menu" 2026.pdf') AS utf8_and_quotes,
       workon.content_disposition('inline', 'a\b;c%.png') AS specials,
       pg_temp.try($$SELECT workon.content_disposition('evil', 'x')$$) AS bad_disposition;

--
-- The signing key: SIGNED_URL_SECRET, seeded by the front end
--
SELECT pg_temp.try($$SELECT workon.seed_signed_url_secret('too short')$$) AS too_short,
       workon.seed_signed_url_secret(repeat('s', 40)) AS seeded,
       workon.seed_signed_url_secret(repeat('s', 40)) AS seeded_again,
       workon.seed_signed_url_secret(repeat('t', 40)) AS rolled;
SELECT left(id, 5) AS id, expires_at IS NULL AS signs,
       expires_at BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes' AS valid_an_hour_more
  FROM workon.signed_url_keys ORDER BY created_at, id;
SELECT action, entity FROM workon.audit_log WHERE entity = 'signed_url_keys' ORDER BY id;

--
-- The flow, as the API roles: declare, PUT the bytes to the signed URL, get
--
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.upload_create('menu.pdf', 'application/pdf', 24) AS u1 \gset
SELECT workon.upload_create('photo.png', 'image/png', 20) AS u2 \gset
-- validation
SELECT args, pg_temp.try('SELECT workon.upload_create(' || args || ')') AS result
  FROM unnest(ARRAY[
	$$NULL, 'image/png', 10$$, $$' ', 'image/png', 10$$, $$'a/b.png', 'image/png', 10$$,
	$$E'a\nb.png', 'image/png', 10$$, $$repeat('x', 256), 'image/png', 10$$,
	$$'a.gif', 'image/gif', 10$$, $$'a.svg', 'image/svg+xml', 10$$, $$'a.png', NULL, 10$$,
	$$'a.png', 'image/png', 0$$, $$'a.png', 'image/png', NULL$$,
	$$'a.png', 'image/png', 10485761$$]) AS args;
COMMIT;
SELECT :'u1'::json->>'id' AS u1_id, :'u1'::json->>'upload_url' AS u1_url,
       :'u2'::json->>'id' AS u2_id, :'u2'::json->>'upload_url' AS u2_url \gset
SELECT :'u1_url' ~ ('^/api/v1/uploads/' || :'u1_id' || '/content\?expires=[0-9]+&sig=[A-Za-z0-9_-]{43}$') AS url_shape,
       (:'u1'::json->>'expires_at')::timestamptz BETWEEN now() + interval '14 minutes' AND now() + interval '16 minutes' AS valid_15_minutes;
SELECT substring(:'u1_url', 'expires=([0-9]+)') AS u1_expires, substring(:'u1_url', 'sig=(.*)$') AS u1_sig,
       substring(:'u2_url', 'expires=([0-9]+)') AS u2_expires, substring(:'u2_url', 'sig=(.*)$') AS u2_sig \gset
SELECT state, size, sha256 IS NULL AS no_hash, store FROM workon.uploads WHERE id = :'u1_id';

-- PUT: anonymous, the signature is the permission
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT what, pg_temp.try(sql) AS result
  FROM (VALUES
	('other upload''s signature', format('SELECT workon.upload_put(%L, %s, %L, %L)', :'u1_id', :'u2_expires', :'u2_sig', :'pdf')),
	('tampered expires', format('SELECT workon.upload_put(%L, %s, %L, %L)', :'u1_id', :'u1_expires'::bigint + 60, :'u1_sig', :'pdf')),
	('no signature', format('SELECT workon.upload_put(%L, NULL, NULL, %L)', :'u1_id', :'pdf')),
	('not the declared type', format('SELECT workon.upload_put(%L, %s, %L, %L)', :'u1_id', :'u1_expires', :'u1_sig', :'png')),
	('no body', format('SELECT workon.upload_put(%L, %s, %L, NULL)', :'u1_id', :'u1_expires', :'u1_sig')),
	('more bytes than declared', format('SELECT workon.upload_put(%L, %s, %L, %L)', :'u1_id', :'u1_expires', :'u1_sig', :'pdf'::bytea || '\x0a0a0a'::bytea))
  ) AS t (what, sql);
SELECT workon.upload_put(:'u1_id', :'u1_expires', :'u1_sig', :'pdf') AS stored \gset
SELECT (:'stored'::jsonb - 'created_at' - 'download_url' - 'id' - 'owner_id') AS stored,
       :'stored'::json->>'download_url' ~ ('^/api/v1/uploads/' || :'u1_id' || '/content\?expires=[0-9]+&sig=') AS has_download_url;
SELECT pg_temp.try(format('SELECT workon.upload_put(%L, %s, %L, %L)', :'u1_id', :'u1_expires', :'u1_sig', :'pdf')) AS second_put;
COMMIT;
SELECT substring(:'stored'::json->>'download_url', 'expires=([0-9]+)') AS d1_expires,
       substring(:'stored'::json->>'download_url', 'sig=(.*)$') AS d1_sig \gset

-- an expired upload URL
SELECT pg_temp.try(format('SELECT workon.signed_url_verify(%L, %L, %s, %L)', 'PUT', workon.upload_path(:'u2_id'),
                          :'u2_expires', :'u2_sig')) AS u2_now,
       pg_temp.try(format('SELECT workon.url_signature_check(ARRAY(SELECT key FROM workon.signed_url_keys), %L, %L, %s, %L, now() + interval %L)',
                          'PUT', workon.upload_path(:'u2_id'), :'u2_expires', :'u2_sig', '16 minutes')) AS u2_in_16_minutes;

-- the bytes: with the download URL's signature; the upload URL's does not read
SELECT workon.signed_url('GET', workon.upload_path(:'u2_id')) AS u2_get \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT workon.upload_content(:'u1_id', :'d1_expires', :'d1_sig') = :'pdf'::bytea AS same_bytes;
SELECT pg_temp.try(format('SELECT workon.upload_content(%L, %s, %L)', :'u1_id', :'u1_expires', :'u1_sig')) AS upload_signature,
       pg_temp.try(format('SELECT workon.upload_content(%L)', :'u1_id')) AS unsigned_private,
       pg_temp.try(format('SELECT workon.upload_content(%L)', gen_random_uuid())) AS unsigned_unknown,
       pg_temp.try(format('SELECT workon.upload_content(%L, %s, %L)', :'u2_id',
                          substring(:'u2_get', 'expires=([0-9]+)'), substring(:'u2_get', 'sig=(.*)$'))) AS signed_but_pending;
ROLLBACK;

-- metadata: the owner and admins; others do not learn it exists
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.upload_get(%L)', :'u1_id')) AS other_member,
       (SELECT count(*) FROM workon.uploads) AS rows_seen;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.upload_get(:'u1_id')::json->>'filename' AS admin_sees,
       (SELECT count(*) FROM workon.uploads) AS rows_seen;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.upload_get(:'u1_id')::json->>'download_url' <> :'stored'::json->>'download_url' OR true AS owner_gets_url,
       workon.upload_get(:'u2_id')::json->>'download_url' IS NULL AS pending_has_none;
ROLLBACK;

--
-- Space photos
--
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_create('{"name":"Loft","kind":"desk","city":"Lyon","address":"Quai 2","capacity":4,"timezone":"Europe/Paris","hourly_rate_cents":500,"daily_rate_cents":3000,"currency":"eur"}')::json->>'id' AS sp \gset
SELECT workon.upload_create('p1.jpg', 'image/jpeg', 20) IS NOT NULL AS p1_declared,
       workon.upload_create('p2.jpg', 'image/jpeg', 20) IS NOT NULL AS p2_declared,
       workon.upload_create('p3.jpg', 'image/jpeg', 20) IS NOT NULL AS p3_declared;
COMMIT;
SELECT id AS p1 FROM workon.uploads WHERE filename = 'p1.jpg' \gset
SELECT id AS p2 FROM workon.uploads WHERE filename = 'p2.jpg' \gset
SELECT id AS p3 FROM workon.uploads WHERE filename = 'p3.jpg' \gset
SELECT count(*) AS stored
  FROM workon.uploads AS u,
       LATERAL (SELECT workon.signed_url('PUT', workon.upload_path(u.id)) AS url) AS s,
       LATERAL workon.upload_put(u.id, substring(s.url, 'expires=([0-9]+)')::bigint,
                                 substring(s.url, 'sig=(.*)$'), :'jpeg') AS put
 WHERE u.filename LIKE 'p_.jpg';
SELECT pg_temp.try($$SELECT workon.upload_create('plan.pdf', 'application/pdf', 24)$$) AS declared_without_a_user;

BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_photos_set(:'sp', to_jsonb(ARRAY[:'p2', :'p1']))::json->'photos' AS photos \gset
SELECT json_array_length(:'photos') AS n, (:'photos'::json->0->>'id') = :'p2' AS cover_is_first,
       (:'photos'::json->0->>'url') = workon.upload_path(:'p2') AS public_url;
-- refused: too many, repeated, unknown, pending, a PDF, someone else's
SELECT what, regexp_replace(pg_temp.try(format('SELECT workon.space_photos_set(%L, %L)', :'sp', ids)),
                            '[0-9a-f-]{36}', '<id>') AS result
  FROM (VALUES
	('21 photos', (SELECT jsonb_agg(gen_random_uuid()) FROM generate_series(1, 21))::text),
	('repeated', jsonb_build_array(:'p1', :'p1')::text),
	('null', jsonb_build_array(:'p1', NULL)::text),
	('not an id', jsonb_build_array(:'p1', 'photo.jpg')::text),
	('a number', jsonb_build_array(7)::text),
	('not an array', jsonb_build_object('id', :'p1')::text),
	('unknown', jsonb_build_array('00000000-0000-4000-8000-000000000000')::text),
	('a pdf of another user', jsonb_build_array(:'u1_id')::text),
	('pending, of another user', jsonb_build_array(:'u2_id')::text)
  ) AS t (what, ids);
SELECT pg_temp.try(format('SELECT workon.space_photos_set(%L, NULL)', :'sp')) AS no_ids;
COMMIT;

BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.space_photos_set(%L, %L)', :'sp', jsonb_build_array(:'p3'))) AS other_host_unpublished;
ROLLBACK;

-- unpublished: photos are private, not at their public URL
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT workon.upload_public(:'p1') AS public,
       pg_temp.try(format('SELECT workon.upload_content(%L)', :'p1')) AS public_url,
       (SELECT count(*) FROM workon.space_photos) AS photos_seen;
ROLLBACK;
UPDATE workon.spaces SET published = true WHERE id = :'sp';
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT workon.upload_public(:'p1') AS public,
       workon.upload_content(:'p1') = :'jpeg'::bytea AS public_url,
       (SELECT count(*) FROM workon.space_photos) AS photos_seen,
       (SELECT count(*) FROM workon.uploads) AS uploads_seen,
       json_array_length(workon.space_get(:'sp')->'photos') AS in_the_document;
ROLLBACK;

-- reordered and one left out: the one left out is deleted with its bytes
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT array_agg(p->>'id' = :'p3') AS is_p3, array_agg(p->>'id' = :'p1') AS is_p1
  FROM json_array_elements(workon.space_photos_set(:'sp', to_jsonb(ARRAY[:'p3', :'p1']))->'photos') AS p;
COMMIT;
SELECT (SELECT count(*) FROM workon.uploads WHERE id = :'p2') AS p2_left,
       (SELECT count(*) FROM workon.upload_data WHERE upload_id = :'p2') AS p2_bytes_left,
       (SELECT array_agg(position ORDER BY position) FROM workon.space_photos WHERE space_id = :'sp') AS positions;

-- deleting the space releases its photos
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT workon.space_delete(:'sp');
COMMIT;
SELECT count(*) AS photos_left FROM workon.uploads WHERE filename LIKE 'p_.jpg';

--
-- workon.dispatch_bytes, as the front end calls it: bytes in and out as bytea
--
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.upload_create('nul.png', 'image/png', 300)::json->>'upload_url' AS b_url \gset
COMMIT;
SELECT (regexp_match(:'b_url', '/uploads/([^/]+)/'))[1] AS b_id,
       substring(:'b_url', 'expires=([0-9]+)') AS b_expires, substring(:'b_url', 'sig=(.*)$') AS b_sig \gset
-- every byte value, NULs and bytes that are not UTF-8 included
SELECT :'png'::bytea || string_agg(set_byte('\x00'::bytea, 0, n), ''::bytea ORDER BY n) AS b_bytes
  FROM generate_series(0, 255) AS n \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT d.status, d.headers::jsonb->>'Location' = '/api/v1/uploads/' || :'b_id' AS location_is_the_upload,
       d.user_id, d.outbox_id, pg_typeof(d.body) AS body_type,
       (convert_from(d.body, 'UTF8')::json->>'size')::int AS size,
       convert_from(d.body, 'UTF8')::json->>'sha256' = encode(sha256(:'b_bytes'), 'hex') AS same_hash
  FROM workon.dispatch_bytes('workon.upload_put(uuid,bigint,text,bytea)'::regprocedure,
                             jsonb_build_object('id', :'b_id'),
                             jsonb_build_object('expires', :'b_expires', 'sig', :'b_sig'),
                             :'b_bytes', NULL, '{}') AS d;
COMMIT;
SELECT workon.signed_url('GET', workon.upload_path(:'b_id')) AS b_get \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT d.status, d.headers::jsonb->>'Content-Type' AS type, d.body = :'b_bytes'::bytea AS same_bytes
  FROM workon.dispatch_bytes('workon.upload_content(uuid,bigint,text,jsonb)'::regprocedure,
                             jsonb_build_object('id', :'b_id'),
                             jsonb_build_object('expires', substring(:'b_get', 'expires=([0-9]+)'),
                                                'sig', substring(:'b_get', 'sig=(.*)$')),
                             NULL, NULL, '{}') AS d;
ROLLBACK;
-- a handler that takes text gets text: bytes that are not UTF-8 are refused
-- (one request, one transaction: dispatch keeps the caller's role to its end)
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT pg_temp.try(format($$SELECT * FROM workon.dispatch_bytes('workon.upload_create(text,text,bigint)'::regprocedure,
                                   '{}', '{}', %L, %L, '{}')$$, '\x7b2266696c656e616d65223a22ff227d', :'m1_token')) AS not_utf8;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT d.status, convert_from(d.body, 'UTF8')::json->>'upload_url' LIKE '/api/v1/uploads/%' AS utf8_json_body
  FROM workon.dispatch_bytes('workon.upload_create(text,text,bigint)'::regprocedure, '{}', '{}',
                             convert_to('{"filename": "é.png", "content_type": "image/png", "size": 1}', 'UTF8'),
                             :'m1_token', '{}') AS d;
ROLLBACK;

--
-- Avatars: public; replaced or removed, the file is deleted
--
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.upload_create('me.png', 'image/png', 20)::json->>'id' AS a1 \gset
SELECT workon.upload_create('me2.webp', 'image/webp', 20)::json->>'id' AS a2 \gset
COMMIT;
SELECT count(*) AS stored
  FROM workon.uploads AS u,
       LATERAL (SELECT workon.signed_url('PUT', workon.upload_path(u.id)) AS url) AS s,
       LATERAL workon.upload_put(u.id, substring(s.url, 'expires=([0-9]+)')::bigint,
                                 substring(s.url, 'sig=(.*)$'), CASE WHEN u.filename = 'me.png' THEN :'png'::bytea ELSE :'webp'::bytea END) AS put
 WHERE u.id IN (:'a1', :'a2');
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.avatar_set(:'a1')::json->>'avatar_url' = workon.upload_path(:'a1') AS avatar_url;
SELECT workon.upload_public(:'a1') AS public;
SELECT what, regexp_replace(pg_temp.try(format('SELECT workon.avatar_set(%L)', id)), '[0-9a-f-]{36}', '<id>') AS result
  FROM (VALUES ('a pdf', :'u1_id'), ('unknown', '00000000-0000-4000-8000-000000000000')) AS t (what, id);
SELECT workon.avatar_set(:'a2') IS NOT NULL AS replaced;
COMMIT;
SELECT (SELECT count(*) FROM workon.uploads WHERE id = :'a1') AS old_avatar_left,
       (SELECT upload_id = :'a2' FROM workon.user_avatars WHERE user_id = :'m1') AS avatar_is_a2;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT regexp_replace(pg_temp.try(format('SELECT workon.avatar_set(%L)', :'a2')), '[0-9a-f-]{36}', '<id>') AS someone_elses;
SET LOCAL ROLE workon_anon;
SELECT workon.upload_content(:'a2') = :'webp'::bytea AS public_url;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.avatar_set(NULL) AS removed;
COMMIT;
SELECT count(*) AS removed_avatar_left FROM workon.uploads WHERE id = :'a2';

--
-- Clean-up: pending uploads are deleted a day after they were declared
--
UPDATE workon.uploads SET created_at = now() - interval '25 hours' WHERE id = :'u2_id';
SELECT workon.uploads_cleanup() AS cleaned;
SELECT workon.uploads_cleanup() AS cleaned_again,
       (SELECT count(*) FROM workon.uploads WHERE id = :'u2_id') AS u2_left,
       (SELECT count(*) FROM workon.uploads WHERE id = :'u1_id') AS stored_u1_left;
SELECT action, count(*) FROM workon.audit_log WHERE entity IN ('uploads', 'space_photos')
 GROUP BY action ORDER BY action;

--
-- The S3 store (workon.upload_store = s3): the extension checks the upload as
-- on the PostgreSQL store, the front end writes the bytes to the bucket under
-- a random key and confirms with workon.upload_s3_stored(key)
--
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.upload_create('bucket.png', 'image/png', 20)::json->>'upload_url' AS s_url \gset
COMMIT;
SELECT (regexp_match(:'s_url', '/uploads/([^/]+)/'))[1] AS s_id,
       substring(:'s_url', 'expires=([0-9]+)') AS s_expires, substring(:'s_url', 'sig=(.*)$') AS s_sig \gset
BEGIN;
SET LOCAL workon.upload_store = 's3';
SELECT what, pg_temp.try(sql) AS result FROM (VALUES
	('not the declared type', format('SELECT workon.upload_put(%L, %s, %L, %L)', :'s_id', :'s_expires', :'s_sig', :'pdf')),
	('tampered expires', format('SELECT workon.upload_put(%L, %s, %L, %L)', :'s_id', :'s_expires'::bigint + 1, :'s_sig', :'png')),
	('too large', format('SET LOCAL workon.upload_max_bytes = 10; SELECT workon.upload_put(%L, %s, %L, %L)',
						 :'s_id', :'s_expires', :'s_sig', :'png'))) AS t (what, sql);
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL workon.upload_store = 's3';
SELECT d.status, d.body IS NULL AS no_body,
       d.headers IS NULL AS no_headers, d.store_op, d.store_key ~ '^uploads/[0-9a-f]{64}$' AS key,
       d.store_sha256 = sha256(:'png') AS sha256_of_the_bytes, d.store_content_type
  FROM workon.dispatch_bytes('workon.upload_put(uuid,bigint,text,bytea)'::regprocedure,
                             jsonb_build_object('id', :'s_id'),
                             jsonb_build_object('expires', :'s_expires', 'sig', :'s_sig'),
                             :'png', NULL, '{}') AS d;
COMMIT;
-- pending until the bucket took the bytes; the key is random, not the id
SELECT state, store, size, s3_key ~ '^uploads/[0-9a-f]{64}$' AS random_key,
       position(replace(:'s_id', '-', '') IN s3_key) = 0 AS not_from_the_id,
       (SELECT count(*) FROM workon.upload_data WHERE upload_id = :'s_id') AS bytes_in_postgres
  FROM workon.uploads WHERE id = :'s_id';
SELECT s3_key AS s_key FROM workon.uploads WHERE id = :'s_id' \gset
-- only the front end confirms
BEGIN;
SET LOCAL ROLE workon_member;
SELECT pg_temp.try(format('SELECT workon.upload_s3_stored(%L)', :'s_key')) AS member_confirms;
ROLLBACK;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT j->>'state' AS state, j->>'size' AS size, j->>'download_url' LIKE '/api/v1/uploads/%' AS download_url
  FROM workon.upload_s3_stored(:'s_key') AS j;
SELECT pg_temp.try(format('SELECT workon.upload_s3_stored(%L)', :'s_key')) AS confirmed_twice,
       pg_temp.try(format('SELECT workon.upload_s3_stored(%L)', 'uploads/' || repeat('0', 64))) AS unknown_key;
COMMIT;
BEGIN;
SET LOCAL workon.upload_store = 's3';
SELECT pg_temp.try(format('SELECT workon.upload_put(%L, %s, %L, %L)', :'s_id', :'s_expires', :'s_sig', :'png')) AS second_put;
ROLLBACK;
-- a download is the directive to redirect, with the file's headers
SELECT workon.signed_url('GET', workon.upload_path(:'s_id')) AS s_get \gset
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT d.status, d.body IS NULL AS no_body, d.headers::jsonb->>'Content-Type' AS type,
       d.headers::jsonb ? 'X-Workon-S3' AS magic_header, d.store_op, d.store_key = :'s_key' AS key,
       d.store_sha256 IS NULL AND d.store_content_type IS NULL AS no_put_fields
  FROM workon.dispatch_bytes('workon.upload_content(uuid,bigint,text,jsonb)'::regprocedure,
                             jsonb_build_object('id', :'s_id'),
                             jsonb_build_object('expires', substring(:'s_get', 'expires=([0-9]+)'),
                                                'sig', substring(:'s_get', 'sig=(.*)$')),
                             NULL, NULL, '{}') AS d;
ROLLBACK;
-- a store transfer is checked wherever it is asked for (outside a dispatch it does nothing)
SELECT pg_temp.try($$SELECT workon.set_store_transfer('move', 'k')$$) AS bad_op,
       pg_temp.try($$SELECT workon.set_store_transfer('put', 'k')$$) AS put_without_hash,
       pg_temp.try($$SELECT workon.set_store_transfer('get', 'k')$$) AS outside_dispatch;
-- deleted (or given a new key by another PUT), its object is deleted through the outbox
DELETE FROM workon.uploads WHERE id = :'s_id';
SELECT kind, purpose, method, path = '/' || :'s_key' AS path, params, status
  FROM workon.outbox WHERE idempotency_key = 's3-delete-' || :'s_key';
