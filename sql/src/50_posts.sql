/* sql/src/50_posts.sql -- blog posts: Markdown rendered at write time, slugs and their redirects, the post routes */

--
-- Markdown to HTML (extension/markdown.c, libcmark)
--
CREATE FUNCTION workon.markdown_html(markdown text)
RETURNS text
AS 'MODULE_PATHNAME', 'markdown_html'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.markdown_html(text) IS
'CommonMark to HTML (libcmark, safe mode): raw HTML is left out, and links and images with a javascript:, vbscript:, file: or data: URL lose the URL';

--
-- Slugs: lower-case a-z, 0-9 and single hyphens, 1 to 80 characters
--
CREATE FUNCTION workon.slug_valid(slug text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND pg_catalog.length(slug) <= 80
$$;

COMMENT ON FUNCTION workon.slug_valid(text) IS
'True for a URL-safe slug: lower-case letters a-z, digits and single hyphens between them, at most 80 characters';

CREATE FUNCTION workon.slugify(title text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	-- accents come off (NFD, then the combining marks, like every other
	-- non-ASCII character, go); runs of anything else become one hyphen
	SELECT COALESCE(NULLIF(pg_catalog.rtrim(pg_catalog.left(pg_catalog.btrim(
			   pg_catalog.regexp_replace(
				   pg_catalog.lower(pg_catalog.regexp_replace(
					   pg_catalog.normalize(title, 'NFD'), '[^\x01-\x7f]', '', 'g')),
				   '[^a-z0-9]+', '-', 'g'),
			   '-'), 80), '-'), ''), 'post')
$$;

COMMENT ON FUNCTION workon.slugify(text) IS
'The slug a title gives: accents removed, lower case, runs of other characters one hyphen, at most 80 characters; "post" when nothing is left';

--
-- Posts
--
CREATE TABLE workon.posts (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	slug		text NOT NULL
				CONSTRAINT posts_slug_key UNIQUE
				CONSTRAINT posts_slug_check CHECK (workon.slug_valid(slug)),
	title		text NOT NULL
				CONSTRAINT posts_title_check
				CHECK (pg_catalog.btrim(title) <> '' AND pg_catalog.length(title) <= 200),
	excerpt		text NOT NULL DEFAULT ''
				CONSTRAINT posts_excerpt_check CHECK (pg_catalog.length(excerpt) <= 500),
	tags		text[] NOT NULL DEFAULT '{}',
	cover_upload_id uuid REFERENCES workon.uploads (id),
	locale		text NOT NULL DEFAULT 'en'
				CONSTRAINT posts_locale_check CHECK (locale IN ('fr', 'en')),
	markdown	text NOT NULL DEFAULT ''
				CONSTRAINT posts_markdown_check CHECK (pg_catalog.length(markdown) <= 100000),
	html		text NOT NULL DEFAULT '',
	published_at timestamptz,
	author_id	uuid REFERENCES workon.users (id) ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.posts IS
'Blog posts: slug (unique, URL-safe), title, excerpt, tags, cover image (an upload, public while the post is), locale, Markdown and its HTML (rendered on every write); a draft has no published_at, a scheduled post one in the future; the public sees a post once published_at has passed';

COMMENT ON COLUMN workon.posts.html IS
'workon.markdown_html(markdown), written by the trigger posts_render so that reads only copy it';

CREATE INDEX posts_published_at_idx
	ON workon.posts (published_at DESC, id DESC) WHERE published_at IS NOT NULL;
CREATE INDEX posts_tags_idx ON workon.posts USING gin (tags);
CREATE INDEX posts_created_at_idx ON workon.posts (created_at DESC, id DESC);

-- The slugs a post had before: each answers a redirect to the post's slug
CREATE TABLE workon.post_slugs (
	slug		text PRIMARY KEY
				CONSTRAINT post_slugs_slug_check CHECK (workon.slug_valid(slug)),
	post_id		uuid NOT NULL REFERENCES workon.posts (id) ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE workon.post_slugs IS
'Former slugs of posts: GET /api/v1/posts/{slug} with one of them redirects (301) to the post''s slug; a slug is either a post''s or a former one, never both';

CREATE INDEX post_slugs_post_id_idx ON workon.post_slugs (post_id);

CREATE TRIGGER posts_set_updated_at
	BEFORE UPDATE ON workon.posts
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.posts_render()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.markdown IS DISTINCT FROM OLD.markdown THEN
		NEW.html := workon.markdown_html(NEW.markdown);
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.posts_render() IS
'Trigger: renders the post''s Markdown into html when it is written';

CREATE TRIGGER posts_render
	BEFORE INSERT OR UPDATE ON workon.posts
	FOR EACH ROW WHEN (NOT workon.restoring('workon.posts'))
	EXECUTE FUNCTION workon.posts_render();

-- the HTML is derived from the Markdown: the audit row has the Markdown
CREATE TRIGGER posts_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.posts
	FOR EACH ROW WHEN (NOT workon.restoring('workon.posts'))
	EXECUTE FUNCTION workon.audit_row('html');

CREATE TRIGGER post_slugs_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.post_slugs
	FOR EACH ROW WHEN (NOT workon.restoring('workon.post_slugs'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.posts ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.posts FORCE ROW LEVEL SECURITY;
ALTER TABLE workon.post_slugs ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.post_slugs FORCE ROW LEVEL SECURITY;

-- Everyone sees published posts; admins all, and only they write
CREATE POLICY posts_visible ON workon.posts
	FOR SELECT
	USING (published_at <= pg_catalog.now() OR workon.current_role() = 'admin');
CREATE POLICY posts_admin_writes ON workon.posts
	FOR ALL TO workon_admin
	USING (true) WITH CHECK (true);
CREATE POLICY post_slugs_visible ON workon.post_slugs
	FOR SELECT
	USING (EXISTS (SELECT FROM workon.posts AS p WHERE p.id = post_slugs.post_id));
CREATE POLICY post_slugs_admin_writes ON workon.post_slugs
	FOR ALL TO workon_admin
	USING (true) WITH CHECK (true);

GRANT SELECT ON workon.posts, workon.post_slugs
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT INSERT, UPDATE, DELETE ON workon.posts, workon.post_slugs TO workon_admin;

--
-- The post object of the API
--
CREATE FUNCTION workon.post_json(p workon.posts, admin boolean DEFAULT false)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_cover		json;
BEGIN
	SELECT workon.json_build('id', u.id, 'url', workon.upload_path(u.id), 'content_type', u.content_type)
	  INTO v_cover
	  FROM workon.uploads AS u WHERE u.id = p.cover_upload_id;
	IF NOT admin THEN
		RETURN workon.json_build(
			'id', p.id, 'slug', p.slug, 'title', p.title, 'excerpt', p.excerpt,
			'tags', p.tags, 'locale', p.locale, 'cover', v_cover,
			'markdown', p.markdown, 'html', p.html,
			'published_at', p.published_at, 'updated_at', p.updated_at);
	END IF;
	RETURN workon.json_build(
		'id', p.id, 'slug', p.slug, 'title', p.title, 'excerpt', p.excerpt,
		'tags', p.tags, 'locale', p.locale, 'cover', v_cover,
		'markdown', p.markdown, 'html', p.html,
		'published_at', p.published_at, 'updated_at', p.updated_at,
		'status', CASE WHEN p.published_at IS NULL THEN 'draft'
					   WHEN p.published_at > pg_catalog.now() THEN 'scheduled'
					   ELSE 'published' END,
		'author_id', p.author_id, 'created_at', p.created_at,
		'old_slugs', (SELECT COALESCE(pg_catalog.json_agg(s.slug ORDER BY s.created_at, s.slug), '[]')
						FROM workon.post_slugs AS s WHERE s.post_id = p.id));
END
$$;

COMMENT ON FUNCTION workon.post_json(workon.posts, boolean) IS
'The API representation of a post {id, slug, title, excerpt, tags, locale, cover {id, url, content_type} | null, markdown, html, published_at, updated_at}; for admins also status (draft, scheduled, published), author_id, created_at and old_slugs';

-- A public read's caching: a strong ETag of the body, and a minute in any cache
CREATE FUNCTION workon.public_cache(body json, max_age integer DEFAULT 60)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	PERFORM workon.set_response(200, pg_catalog.jsonb_build_object(
		'ETag', '"' || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
					pg_catalog.convert_to(body::text, 'UTF8')), 'hex'), 32) || '"',
		'Cache-Control', 'public, max-age=' || max_age));
	RETURN body;
END
$$;

COMMENT ON FUNCTION workon.public_cache(json, integer) IS
'Returns the body after setting a strong ETag (the first 128 bits of its SHA-256, in hex) and Cache-Control: public, max-age (60 s by default): the front end answers 304 to a matching If-None-Match';

--
-- Route handlers: the public blog
--
CREATE FUNCTION workon.posts_list(
	tag text DEFAULT NULL,
	locale text DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
	-- tags are stored trimmed and in lower case
	v_tag		text := NULLIF(pg_catalog.lower(pg_catalog.btrim(posts_list.tag)), '');
	v_locale	text := NULLIF(posts_list.locale, '');
	v_page		record := workon.page_bounds(posts_list."limit", posts_list.cursor);
	v_items		json[];
	v_ts		timestamptz[];
	v_ids		uuid[];
BEGIN
	IF v_locale NOT IN ('fr', 'en') THEN
		RAISE EXCEPTION 'locale must be fr or en'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'locale';
	END IF;

	-- published only, whoever asks: the public list is the same for all
	SELECT pg_catalog.array_agg(workon.post_json(x.item)), pg_catalog.array_agg((x.item).published_at),
		   pg_catalog.array_agg((x.item).id)
	  INTO v_items, v_ts, v_ids
	  FROM (SELECT p AS item FROM workon.posts AS p
			 WHERE p.published_at <= pg_catalog.now()
			   AND (p.published_at, p.id) < (v_page.after_ts, v_page.after_id)
			   AND (v_tag IS NULL OR p.tags @> ARRAY[v_tag])
			   AND (v_locale IS NULL OR p.locale = v_locale)
			 ORDER BY p.published_at DESC, p.id DESC
			 LIMIT v_page.page_size + 1) AS x;

	RETURN workon.public_cache(workon.page_json(v_items, v_ts, v_ids, v_page.page_size));
END
$$;

COMMENT ON FUNCTION workon.posts_list(text, text, integer, text) IS
'GET /api/v1/posts: published posts (published_at passed), newest first, as {"data": [...], "next_cursor": ...}; filters tag (any case) and locale (fr, en); limit 1..100 (default 20); strong ETag, Cache-Control public, max-age=60';

CREATE FUNCTION workon.post_get(slug text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
	v			workon.posts;
	v_path		text;
BEGIN
	SELECT * INTO v FROM workon.posts AS p
	 WHERE p.slug = post_get.slug AND p.published_at <= pg_catalog.now();
	IF FOUND THEN
		RETURN workon.public_cache(workon.post_json(v));
	END IF;

	-- a former slug of a published post: 301 to its slug
	SELECT p.* INTO v FROM workon.post_slugs AS s JOIN workon.posts AS p ON p.id = s.post_id
	 WHERE s.slug = post_get.slug AND p.published_at <= pg_catalog.now();
	IF NOT FOUND THEN
		RAISE EXCEPTION 'post not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	v_path := '/api/v1/posts/' || v.slug;
	PERFORM workon.set_response(301, pg_catalog.jsonb_build_object(
		'Location', v_path, 'Cache-Control', 'public, max-age=300'));
	RETURN workon.json_build('slug', v.slug, 'location', v_path);
END
$$;

COMMENT ON FUNCTION workon.post_get(text) IS
'GET /api/v1/posts/{slug}: a published post (strong ETag, Cache-Control public, max-age=60); a former slug of one answers 301 {slug, location} with Location its path; P0002 for anything else (drafts and scheduled posts included)';

--
-- Route handlers: the admins' side
--
CREATE FUNCTION workon.post_apply(p workon.posts, body jsonb)
RETURNS workon.posts
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	k			text;
	v			jsonb;
	t			text;
	v_tags		text[];
BEGIN
	IF body IS NULL OR pg_catalog.jsonb_typeof(body) <> 'object' THEN
		RAISE EXCEPTION 'request body must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k, v IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(body) AS e ORDER BY e.key
	LOOP
		t := pg_catalog.jsonb_typeof(v);
		CASE k
		WHEN 'title', 'slug', 'excerpt', 'locale', 'markdown' THEN
			IF t <> 'string' AND NOT (t = 'null' AND k IN ('excerpt', 'markdown')) THEN
				RAISE EXCEPTION '% must be a string', k
					USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
			END IF;
		WHEN 'tags' THEN
			IF t <> 'array' OR EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(v) AS x
										WHERE pg_catalog.jsonb_typeof(x) <> 'string'
										   OR pg_catalog.btrim(x #>> '{}') = ''
										   OR pg_catalog.length(x #>> '{}') > 40) THEN
				RAISE EXCEPTION 'tags must be an array of strings of 1 to 40 characters'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
			END IF;
			-- trimmed, lower case, each once, in their order
			SELECT COALESCE(pg_catalog.array_agg(x.tag ORDER BY x.n), '{}') INTO v_tags
			  FROM (SELECT DISTINCT ON (pg_catalog.lower(pg_catalog.btrim(e.tag)))
						   pg_catalog.lower(pg_catalog.btrim(e.tag)) AS tag, e.n
					  FROM pg_catalog.jsonb_array_elements_text(v) WITH ORDINALITY AS e (tag, n)
					 ORDER BY pg_catalog.lower(pg_catalog.btrim(e.tag)), e.n) AS x;
			IF pg_catalog.cardinality(v_tags) > 20 THEN
				RAISE EXCEPTION 'a post has at most 20 tags'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
			END IF;
			p.tags := v_tags;
			CONTINUE;
		WHEN 'cover_upload_id' THEN
			IF t = 'null' THEN
				p.cover_upload_id := NULL;
				CONTINUE;
			END IF;
			IF t <> 'string'
			   OR v #>> '{}' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
			   OR NOT EXISTS (SELECT FROM workon.uploads AS u
							   WHERE u.id = (v #>> '{}')::uuid AND u.state = 'stored'
								 AND u.content_type LIKE 'image/%') THEN
				RAISE EXCEPTION 'cover_upload_id must be the id of a stored image'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
			END IF;
			p.cover_upload_id := (v #>> '{}')::uuid;
			CONTINUE;
		WHEN 'published_at' THEN
			IF t = 'null' THEN
				p.published_at := NULL;
				CONTINUE;
			END IF;
			IF t <> 'string' OR v #>> '{}' !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$' THEN
				RAISE EXCEPTION 'published_at must be an RFC 3339 time with an offset, such as 2027-01-01T09:00:00+01:00, or null'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
			END IF;
			BEGIN
				p.published_at := (v #>> '{}')::timestamptz;
			EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
				RAISE EXCEPTION 'published_at must be an RFC 3339 time with an offset, such as 2027-01-01T09:00:00+01:00, or null'
					USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
			END;
			CONTINUE;
		ELSE
			RAISE EXCEPTION 'unknown parameter'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k,
					  DETAIL = pg_catalog.format('Parameter "%s" is not taken here.', k);
		END CASE;
		CASE k
		WHEN 'title' THEN p.title := pg_catalog.btrim(v #>> '{}');
		WHEN 'slug' THEN p.slug := v #>> '{}';
		WHEN 'excerpt' THEN p.excerpt := COALESCE(v #>> '{}', '');
		WHEN 'locale' THEN p.locale := v #>> '{}';
		WHEN 'markdown' THEN p.markdown := COALESCE(v #>> '{}', '');
		END CASE;
	END LOOP;

	IF p.title IS NULL OR p.title = '' OR pg_catalog.length(p.title) > 200 THEN
		RAISE EXCEPTION 'title is required, at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'title';
	END IF;
	IF pg_catalog.length(p.excerpt) > 500 THEN
		RAISE EXCEPTION 'excerpt must be at most 500 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'excerpt';
	END IF;
	IF p.locale IS NULL OR p.locale NOT IN ('fr', 'en') THEN
		RAISE EXCEPTION 'locale must be fr or en'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'locale';
	END IF;
	IF pg_catalog.length(p.markdown) > 100000 THEN
		RAISE EXCEPTION 'markdown must be at most 100000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'markdown';
	END IF;
	IF p.slug IS NOT NULL AND NOT workon.slug_valid(p.slug) THEN
		RAISE EXCEPTION 'slug must be lower-case letters a-z, digits and single hyphens between them, at most 80 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'slug';
	END IF;
	RETURN p;
END
$$;

COMMENT ON FUNCTION workon.post_apply(workon.posts, jsonb) IS
'A post with the fields of a request body applied (title, slug, excerpt, tags, cover_upload_id, locale, markdown, published_at), checked; 22023 naming the field for anything invalid';

CREATE FUNCTION workon.post_slug_free(slug text, post_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	RETURN NOT EXISTS (SELECT FROM workon.posts AS p
						WHERE p.slug = post_slug_free.slug AND p.id IS DISTINCT FROM post_slug_free.post_id)
	   AND NOT EXISTS (SELECT FROM workon.post_slugs AS s
						WHERE s.slug = post_slug_free.slug AND s.post_id IS DISTINCT FROM post_slug_free.post_id);
END
$$;

COMMENT ON FUNCTION workon.post_slug_free(text, uuid) IS
'True when the slug is neither another post''s slug nor another post''s former slug';

CREATE FUNCTION workon.post_create(body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.posts;
	v_base		text;
	n			integer := 1;
BEGIN
	v := workon.post_apply(ROW(NULL, NULL, NULL, '', '{}', NULL, 'en', '', NULL, NULL, NULL, NULL, NULL)::workon.posts,
						   post_create.body);
	-- serializes slug choices
	LOCK TABLE workon.post_slugs IN SHARE ROW EXCLUSIVE MODE;
	IF v.slug IS NULL THEN
		-- from the title; taken, it gets -2, -3, ...
		v_base := workon.slugify(v.title);
		v.slug := v_base;
		WHILE NOT workon.post_slug_free(v.slug, NULL) LOOP
			n := n + 1;
			v.slug := pg_catalog.rtrim(pg_catalog.left(v_base, 80 - 1 - pg_catalog.length(n::text)), '-') || '-' || n;
		END LOOP;
	ELSIF NOT workon.post_slug_free(v.slug, NULL) THEN
		RAISE EXCEPTION 'slug "%" is taken by another post', v.slug
			USING ERRCODE = 'WOP01', COLUMN = 'slug';
	END IF;

	INSERT INTO workon.posts AS p (slug, title, excerpt, tags, cover_upload_id, locale, markdown,
								   published_at, author_id)
	VALUES (v.slug, v.title, v.excerpt, v.tags, v.cover_upload_id, v.locale, v.markdown,
			v.published_at, workon.current_user_id())
	RETURNING * INTO v;

	PERFORM workon.set_response(201, pg_catalog.jsonb_build_object('Location', '/api/v1/admin/posts/' || v.id));
	RETURN workon.post_json(v, true);
END
$$;

COMMENT ON FUNCTION workon.post_create(jsonb) IS
'POST /api/v1/admin/posts (admin) {title, slug?, excerpt?, tags?, cover_upload_id?, locale? (fr, en; default en), markdown?, published_at?}: a new post, a draft unless published_at is given (in the future: scheduled). Without a slug one is made from the title (made unique with -2, -3, ...); a given slug must be valid (22023) and free (WOP01 slug_taken)';

CREATE FUNCTION workon.post_admin_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v			workon.posts;
BEGIN
	SELECT * INTO v FROM workon.posts AS p WHERE p.id = post_admin_get.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'post not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN workon.post_json(v, true);
END
$$;

COMMENT ON FUNCTION workon.post_admin_get(uuid) IS
'GET /api/v1/admin/posts/{id} (admin): any post, drafts and scheduled ones included, with its status and old_slugs';

CREATE FUNCTION workon.post_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.posts;
	v_old_slug	text;
BEGIN
	SELECT * INTO v FROM workon.posts AS p WHERE p.id = post_update.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'post not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	v_old_slug := v.slug;
	v := workon.post_apply(v, post_update.body);

	IF v.slug IS DISTINCT FROM v_old_slug THEN
		LOCK TABLE workon.post_slugs IN SHARE ROW EXCLUSIVE MODE;
		IF NOT workon.post_slug_free(v.slug, v.id) THEN
			RAISE EXCEPTION 'slug "%" is taken by another post', v.slug
				USING ERRCODE = 'WOP01', COLUMN = 'slug';
		END IF;
		-- the old slug redirects; a former slug taken back is a slug again
		DELETE FROM workon.post_slugs AS s WHERE s.slug = v.slug;
		INSERT INTO workon.post_slugs (slug, post_id) VALUES (v_old_slug, v.id);
	END IF;

	UPDATE workon.posts AS p
	   SET slug = v.slug, title = v.title, excerpt = v.excerpt, tags = v.tags,
		   cover_upload_id = v.cover_upload_id, locale = v.locale, markdown = v.markdown,
		   published_at = v.published_at
	 WHERE p.id = v.id
	RETURNING * INTO v;
	RETURN workon.post_json(v, true);
END
$$;

COMMENT ON FUNCTION workon.post_update(uuid, jsonb) IS
'PATCH /api/v1/admin/posts/{id} (admin): changes the fields present in the body; published_at publishes (now or earlier), schedules (later) or, null, takes the post back to draft. The slug stays when the title changes; a new slug must be valid and free (WOP01 slug_taken), and the former one redirects to it';

CREATE FUNCTION workon.post_delete(id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	DELETE FROM workon.posts AS p WHERE p.id = post_delete.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'post not found'
			USING ERRCODE = 'no_data_found';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.post_delete(uuid) IS
'DELETE /api/v1/admin/posts/{id} (admin): the post and its former slugs are deleted (audited); its cover upload is kept';

CREATE FUNCTION workon.posts_admin_list(
	status text DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
	v_status	text := NULLIF(posts_admin_list.status, '');
	v_page		record := workon.page_bounds(posts_admin_list."limit", posts_admin_list.cursor);
	v_items		json[];
	v_ts		timestamptz[];
	v_ids		uuid[];
BEGIN
	IF v_status NOT IN ('draft', 'scheduled', 'published') THEN
		RAISE EXCEPTION 'status must be one of draft, scheduled, published'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'status';
	END IF;

	SELECT pg_catalog.array_agg(workon.post_json(x.item, true)), pg_catalog.array_agg((x.item).created_at),
		   pg_catalog.array_agg((x.item).id)
	  INTO v_items, v_ts, v_ids
	  FROM (SELECT p AS item FROM workon.posts AS p
			 WHERE (p.created_at, p.id) < (v_page.after_ts, v_page.after_id)
			   AND (v_status IS NULL
					OR v_status = 'draft' AND p.published_at IS NULL
					OR v_status = 'scheduled' AND p.published_at > pg_catalog.now()
					OR v_status = 'published' AND p.published_at <= pg_catalog.now())
			 ORDER BY p.created_at DESC, p.id DESC
			 LIMIT v_page.page_size + 1) AS x;

	RETURN workon.page_json(v_items, v_ts, v_ids, v_page.page_size);
END
$$;

COMMENT ON FUNCTION workon.posts_admin_list(text, integer, text) IS
'GET /api/v1/admin/posts (admin): every post, drafts and scheduled ones included, newest created first, with status; filter status (draft, scheduled, published); limit 1..100 (default 20)';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/posts', 'workon.posts_list(text,text,integer,text)',
	 'none', 200, 'none', true, 'List published blog posts'),
	('GET', '/api/v1/posts/{slug}', 'workon.post_get(text)',
	 'none', 200, 'none', true, 'Get a published blog post by its slug (a former slug redirects)'),
	('GET', '/api/v1/admin/posts', 'workon.posts_admin_list(text,integer,text)',
	 'admin', 200, 'none', true, 'List every blog post, drafts and scheduled ones included'),
	('POST', '/api/v1/admin/posts', 'workon.post_create(jsonb)',
	 'admin', 201, 'json', false, 'Create a blog post'),
	('GET', '/api/v1/admin/posts/{id}', 'workon.post_admin_get(uuid)',
	 'admin', 200, 'none', true, 'Get any blog post'),
	('PATCH', '/api/v1/admin/posts/{id}', 'workon.post_update(uuid,jsonb)',
	 'admin', 200, 'json', false, 'Change, publish, schedule or unpublish a blog post'),
	('DELETE', '/api/v1/admin/posts/{id}', 'workon.post_delete(uuid)',
	 'admin', 204, 'none', false, 'Delete a blog post');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/posts', '{"query": {"locale": {"type": "string", "enum": ["en", "fr"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/PostPage"}}}'),
	('GET', '/api/v1/posts/{slug}', '{"responses": {"200": {"$ref": "#/components/schemas/Post"}, "301": {"type": "object", "additionalProperties": false, "properties": {"slug": {"type": "string"}, "location": {"type": "string"}}, "required": ["slug", "location"]}}}'),
	('GET', '/api/v1/admin/posts', '{"query": {"status": {"type": "string", "enum": ["draft", "scheduled", "published"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/PostPage"}}}'),
	('POST', '/api/v1/admin/posts', '{
		"body": {"allOf": [{"type": "object", "additionalProperties": false, "properties": {"title": {"type": "string", "minLength": 1}, "slug": {"type": "string"}, "excerpt": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}}, "cover_upload_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "locale": {"type": "string", "enum": ["en", "fr"], "default": "en"}, "markdown": {"type": ["string", "null"]}, "published_at": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "description": "now or earlier publishes, later schedules, null is a draft"}}}], "required": ["title"]},
		"responses": {"201": {"$ref": "#/components/schemas/Post"}}}'),
	('GET', '/api/v1/admin/posts/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Post"}}}'),
	('PATCH', '/api/v1/admin/posts/{id}', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"title": {"type": "string", "minLength": 1}, "slug": {"type": "string"}, "excerpt": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}}, "cover_upload_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "locale": {"type": "string", "enum": ["en", "fr"], "default": "en"}, "markdown": {"type": ["string", "null"]}, "published_at": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "description": "now or earlier publishes, later schedules, null is a draft"}}},
		"responses": {"200": {"$ref": "#/components/schemas/Post"}}}'),
	('DELETE', '/api/v1/admin/posts/{id}', '{}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOP01', 409, 'slug_taken');

GRANT EXECUTE ON FUNCTION
	workon.markdown_html(text),
	workon.slug_valid(text),
	workon.slugify(text),
	workon.post_json(workon.posts, boolean),
	workon.public_cache(json, integer),
	workon.posts_list(text, text, integer, text),
	workon.post_get(text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.post_apply(workon.posts, jsonb),
	workon.post_slug_free(text, uuid),
	workon.post_create(jsonb),
	workon.post_admin_get(uuid),
	workon.post_update(uuid, jsonb),
	workon.post_delete(uuid),
	workon.posts_admin_list(text, integer, text)
	TO workon_admin;

-- pg_dump: posts and their former slugs are data
SELECT pg_catalog.pg_extension_config_dump('workon.posts', '');
SELECT pg_catalog.pg_extension_config_dump('workon.post_slugs', '');
