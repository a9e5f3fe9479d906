--
-- Blog posts: Markdown rendering (no raw HTML, no unsafe link ever reaches
-- the HTML), slugs (made from titles, unique, validated, kept, redirected),
-- drafts and scheduled posts hidden from the public, ETag and caching,
-- the cover's visibility, the audit trail.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx g
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

-- rendering: CommonMark, raw HTML left out, unsafe URLs emptied
SELECT workon.markdown_html(E'# Title\n\nSome *text* and [a link](https://example.com/a?b=1).');
SELECT label, workon.markdown_html(md) AS html
  FROM (VALUES
	('script block', E'<script>alert(1)</script>\n\nafter'),
	('inline script', 'x <script>alert(1)</script> y'),
	('event handler', '<img src=x onerror=alert(1)>'),
	('javascript link', '[click](javascript:alert(1))'),
	('mixed case', '[click](JavaScript:alert(1))'),
	('entity-encoded', '[click](jav&#x61;script:alert(1))'),
	('vbscript', '[click](vbscript:msgbox(1))'),
	('file', '[click](file:///etc/passwd)'),
	('data link', '[click](data:text/html;base64,PHNjcmlwdD4=)'),
	('data image', '![pic](data:image/png;base64,iVBORw0KGgo=)'),
	('autolink', '<javascript:alert(1)>'),
	('reference', E'[click][x]\n\n[x]: javascript:alert(1)'),
	('relative', '[ok](/api/v1/spaces)'),
	('mailto', '[ok](mailto:team@example.com)')) AS t (label, md);
SELECT workon.markdown_html(md) !~* '<script|<svg|(href|src)="[[:space:]]*[a-z]*script:|(href|src)="(data|file):|<[a-z][^>]*[[:space:]/]on[a-z]+=' AS nothing_unsafe
  FROM (VALUES (E'<script>x</script>'), ('[a](javascript:x)'), ('<a href="javascript:x">a</a>'),
			   (E'[a](<\tjavascript:x>)'), ('![a](data:image/svg+xml;base64,PHN2Zz4=)'),
			   (E'<svg onload=alert(1)>\n\n<svg/onload=alert(1)>'), ('[a](%6aavascript:x)')) AS t (md);

-- slugs
SELECT workon.slugify(t) AS slug
  FROM (VALUES ('Hello, World!'), ('Café à Paris : le guide 2027'), ('  --Spaces--  '), ('???'),
			   (repeat('long title ', 20))) AS v (t);
SELECT s, workon.slug_valid(s) AS valid
  FROM (VALUES ('hello-world'), ('a1'), ('Hello'), ('a--b'), ('-a'), ('a-'), ('a_b'), ('a b'), ('é'),
			   (repeat('a', 80)), (repeat('a', 81))) AS v (s);

-- admins write; a draft has no published_at
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.post_create('{"title":"Hello, World!","markdown":"Hi <script>alert(1)</script> [x](javascript:alert(1))","tags":["News"," news ","Tips"],"locale":"en","excerpt":"First"}') AS p1 \gset
SELECT :'p1'::json->>'slug' AS slug, :'p1'::json->>'status' AS status, :'p1'::json->'tags' AS tags,
       :'p1'::json->>'html' AS html, :'p1'::json->'published_at' AS published_at;
-- the same title: a slug of its own
SELECT workon.post_create('{"title":"Hello, World!"}')::json->>'slug' AS second_slug;
SELECT workon.post_create('{"title":"Hello, World!"}')::json->>'slug' AS third_slug;
-- refusals, each naming its field
SELECT label, pg_temp.try(format('SELECT workon.post_create(%L)', b)) AS result
  FROM (VALUES
	('no title', '{"markdown":"x"}'),
	('blank title', '{"title":"  "}'),
	('invalid slug', '{"title":"T","slug":"Not A Slug"}'),
	('slug with underscore', '{"title":"T","slug":"a_b"}'),
	('taken slug', '{"title":"T","slug":"hello-world"}'),
	('locale', '{"title":"T","locale":"de"}'),
	('tags', '{"title":"T","tags":"news"}'),
	('tag type', '{"title":"T","tags":[1]}'),
	('cover', '{"title":"T","cover_upload_id":"00000000-0000-4000-8000-000000000000"}'),
	('published_at', '{"title":"T","published_at":"tomorrow"}'),
	('published_at without offset', '{"title":"T","published_at":"2027-01-01T09:00:00"}'),
	('unknown field', '{"title":"T","author":"me"}'),
	('not an object', '[1]')) AS t (label, b);
COMMIT;
SELECT (SELECT id FROM workon.posts WHERE slug = 'hello-world') AS p1_id \gset

-- publishing: now, in the future (scheduled), back to draft
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.post_update(:'p1_id', '{"published_at":"2026-01-01T09:00:00+01:00"}')::json->>'status' AS published;
SELECT workon.post_update(id, jsonb_build_object('published_at', now() + interval '1 hour', 'locale', 'fr',
                                                 'tags', '["news"]'::jsonb))::json->>'status' AS scheduled
  FROM workon.posts WHERE slug = 'hello-world-2';
SELECT workon.post_update(id, '{"published_at":"2025-06-01T00:00:00Z","tags":["tips"]}')::json->>'status' AS published
  FROM workon.posts WHERE slug = 'hello-world-3';
COMMIT;

-- the public sees published posts only, newest first, whoever asks
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT p->>'slug' AS slug, p->>'published_at' AS published_at, p::jsonb ? 'status' AS has_status
  FROM json_array_elements(workon.posts_list()->'data') AS p;
SELECT json_array_length(workon.posts_list(tag => 'news')->'data') AS news,
       json_array_length(workon.posts_list(tag => 'tips')->'data') AS tips,
       json_array_length(workon.posts_list(locale => 'fr')->'data') AS fr;
SELECT pg_temp.try('SELECT workon.post_get(''hello-world-2'')') AS scheduled,
       pg_temp.try('SELECT workon.posts_list(locale => ''de'')') AS bad_locale,
       pg_temp.try('SELECT workon.posts_list("limit" => 0)') AS bad_limit;
SELECT pg_temp.try('SELECT workon.posts_admin_list()') AS anonymous_admin_list;
-- pages
SELECT workon.posts_list("limit" => 1) AS page1 \gset
SELECT json_array_length(:'page1'::json->'data') AS n, :'page1'::json->'data'->0->>'slug' AS first,
       workon.posts_list("limit" => 1, cursor => :'page1'::json->>'next_cursor')->'data'->0->>'slug' AS second,
       workon.posts_list("limit" => 1, cursor => :'page1'::json->>'next_cursor')->'next_cursor' AS last;
COMMIT;
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try('SELECT workon.posts_admin_list()') AS member_admin_list,
       pg_temp.try(format('SELECT workon.post_update(%L, ''{"title":"x"}'')', :'p1_id')) AS member_update,
       pg_temp.try(format('SELECT workon.post_delete(%L)', :'p1_id')) AS member_delete;
SELECT count(*) AS member_sees_posts FROM workon.posts;
COMMIT;

-- a scheduled post appears once its time has come
UPDATE workon.posts SET published_at = now() - interval '1 second' WHERE slug = 'hello-world-2';
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT workon.post_get('hello-world-2')->>'slug' AS now_visible;
COMMIT;

-- the answer through dispatch: a strong ETag and public caching
SELECT d.status, d.headers::jsonb->>'ETag' ~ '^"[0-9a-f]{32}"$' AS strong_etag,
       d.headers::jsonb->>'Cache-Control' AS cache_control,
       d.body::json->>'markdown' AS markdown, d.body::json->>'html' AS html
  FROM workon.dispatch('workon.post_get(text)'::regprocedure, '{"slug":"hello-world"}', '{}', NULL, NULL, NULL) AS d;
SELECT (SELECT headers::jsonb->>'ETag' FROM workon.dispatch('workon.post_get(text)'::regprocedure,
            '{"slug":"hello-world"}', '{}', NULL, NULL, NULL))
     = (SELECT headers::jsonb->>'ETag' FROM workon.dispatch('workon.post_get(text)'::regprocedure,
            '{"slug":"hello-world"}', '{}', NULL, NULL, NULL)) AS same_etag_twice;
SELECT d.status, d.headers::jsonb->>'Cache-Control' AS cache_control
  FROM workon.dispatch('workon.posts_list(text,text,integer,text)'::regprocedure, '{}', '{"tag":"news"}', NULL, NULL, NULL) AS d;

-- the slug stays when the title changes; a new slug redirects from the old
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.post_update(:'p1_id', '{"title":"Hello again"}')::json->>'slug' AS slug_kept;
SELECT workon.post_update(:'p1_id', '{"slug":"hello-again"}')::json->'old_slugs' AS old_slugs;
SELECT pg_temp.try(format('SELECT workon.post_update(id, ''{"slug":"hello-world"}'') FROM workon.posts WHERE slug = %L',
                          'hello-world-3')) AS former_slug_taken,
       pg_temp.try(format('SELECT workon.post_update(%L, ''{"slug":"hello-world-3"}'')', :'p1_id')) AS slug_taken,
       pg_temp.try(format('SELECT workon.post_update(%L, ''{"slug":"Hello Again"}'')', :'p1_id')) AS invalid,
       pg_temp.try(format('SELECT workon.post_create(%L)', '{"title":"Hello world"}')) AS generated_past_former;
SELECT slug FROM workon.posts WHERE title = 'Hello world';
COMMIT;
SELECT d.status, d.headers::jsonb->>'Location' AS location, d.body
  FROM workon.dispatch('workon.post_get(text)'::regprocedure, '{"slug":"hello-world"}', '{}', NULL, NULL, NULL) AS d;
SELECT d.status, d.body::json->>'title' AS title
  FROM workon.dispatch('workon.post_get(text)'::regprocedure, '{"slug":"hello-again"}', '{}', NULL, NULL, NULL) AS d;
SELECT pg_temp.try('SELECT workon.post_get(''nothing-here'')') AS unknown;
-- taking the former slug back: a slug again, no redirect to itself
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.post_update(:'p1_id', '{"slug":"hello-world"}')::json->'old_slugs' AS old_slugs;
COMMIT;

-- back to draft: gone from the public, redirects included
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.post_update(:'p1_id', '{"published_at":null}')::json->>'status' AS status;
SELECT p->>'slug' AS slug, p->>'status' AS status
  FROM json_array_elements(workon.posts_admin_list()->'data') AS p ORDER BY 1;
SELECT json_array_length(workon.posts_admin_list(status => 'draft')->'data') AS drafts,
       pg_temp.try('SELECT workon.posts_admin_list(status => ''gone'')') AS bad_status;
SET LOCAL ROLE workon_anon;
SELECT pg_temp.try('SELECT workon.post_get(''hello-world'')') AS draft,
       pg_temp.try('SELECT workon.post_get(''hello-again'')') AS draft_redirect;
COMMIT;

-- the cover: an image upload, public while the post is published
INSERT INTO workon.uploads (id, owner_id, filename, content_type, size, sha256, state, stored_at)
VALUES ('90000000-0000-4000-8000-000000000001', :'a1', 'cover.png', 'image/png', 8,
        sha256('\x89504e470d0a1a0a'), 'stored', now());
INSERT INTO workon.upload_data VALUES ('90000000-0000-4000-8000-000000000001', '\x89504e470d0a1a0a');
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.post_update(:'p1_id', '{"cover_upload_id":"90000000-0000-4000-8000-000000000001"}')::json->'cover' AS cover;
SELECT workon.upload_public('90000000-0000-4000-8000-000000000001') AS public_as_draft;
SELECT workon.post_update(:'p1_id', '{"published_at":"2026-02-01T00:00:00Z"}')::json->>'status' AS status;
SELECT workon.upload_public('90000000-0000-4000-8000-000000000001') AS public_once_published;
COMMIT;

-- delete: the post and its former slugs go; audited
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.post_delete(id) FROM workon.posts WHERE slug = 'hello-world-3';
SELECT pg_temp.try(format('SELECT workon.post_delete(%L)', '00000000-0000-4000-8000-000000000000')) AS unknown;
COMMIT;
SELECT action, entity, actor_id = :'a1' AS by_admin, count(*)
  FROM workon.audit_log WHERE entity IN ('posts', 'post_slugs')
 GROUP BY 1, 2, 3 ORDER BY 2, 1;
SELECT after ? 'html' AS html_in_audit, after->>'markdown' IS NOT NULL AS markdown_in_audit
  FROM workon.audit_log WHERE entity = 'posts' ORDER BY id LIMIT 1;
