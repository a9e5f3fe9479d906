/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

--
-- A booking costs less: the expiry of holds in the way runs only when the
-- insert meets one, and realtime events are written by PL/pgSQL (whose plan
-- is kept) instead of a SQL function planned on every call
--
CREATE FUNCTION workon.booking_insert(space workon.spaces, user_id uuid,
									  starts_at timestamptz, ends_at timestamptz,
									  now timestamptz)
RETURNS workon.bookings
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking	workon.bookings;
BEGIN
	INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status,
								 hold_expires_at, price_cents, currency)
	VALUES (space.id, booking_insert.user_id, booking_insert.starts_at, booking_insert.ends_at,
			'pending_payment',
			booking_insert.now + pg_catalog.current_setting('workon.booking_hold_minutes')::interval,
			workon.booking_price(space.timezone, space.hourly_rate_cents, space.daily_rate_cents,
								 booking_insert.starts_at, booking_insert.ends_at),
			space.currency)
	RETURNING * INTO v_booking;
	RETURN v_booking;
END
$$;

COMMENT ON FUNCTION workon.booking_insert(workon.spaces, uuid, timestamptz, timestamptz, timestamptz) IS
'The insert of a new hold for workon.booking_create (which holds the space''s lock and checked the rules): price from workon.booking_price, hold until now + workon.booking_hold_minutes; an overlap is the exclusion constraint''s error';

CREATE OR REPLACE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
									  starts_at timestamptz DEFAULT NULL,
									  ends_at timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_now		timestamptz := pg_catalog.now();
	v_space		workon.spaces;
	v_booking	workon.bookings;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF booking_create.space_id IS NULL THEN
		RAISE EXCEPTION 'space_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;

	-- the visibility rule of workon.spaces (this function bypasses it)
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = booking_create.space_id
	   AND (s.published OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be booked'
			USING ERRCODE = 'WOR01';
	END IF;

	PERFORM workon.booking_check(v_space.timezone, v_space.opening_hours,
								 booking_create.starts_at, booking_create.ends_at, v_now);

	/*
	 * One booking of a space at a time, so that concurrent requests for a
	 * slot queue up instead of deadlocking on the exclusion constraint.
	 * Holds past their expiry give their slot up, but only when one is in
	 * the way: any hold overlapping the new one makes the first insert fail,
	 * so the usual booking skips the expiry update.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
											 pg_catalog.hashtext(v_space.id::text));
	BEGIN
		v_booking := workon.booking_insert(v_space, v_user, booking_create.starts_at,
										   booking_create.ends_at, v_now);
	EXCEPTION WHEN exclusion_violation THEN
		UPDATE workon.bookings AS b
		   SET status = 'expired'
		 WHERE b.space_id = v_space.id
		   AND b.status = 'pending_payment'
		   AND b.hold_expires_at <= v_now
		   AND pg_catalog.tstzrange(b.starts_at, b.ends_at, '[)')
			   OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(booking_create.starts_at, booking_create.ends_at, '[)');
		IF NOT FOUND THEN
			RAISE EXCEPTION 'the space is already booked for part of that time'
				USING ERRCODE = 'WOC02';
		END IF;
		BEGIN
			v_booking := workon.booking_insert(v_space, v_user, booking_create.starts_at,
											   booking_create.ends_at, v_now);
		EXCEPTION WHEN exclusion_violation THEN
			RAISE EXCEPTION 'the space is already booked for part of that time'
				USING ERRCODE = 'WOC02';
		END;
	END;

	RETURN workon.booking_json(v_booking);
END
$$;

-- PL/pgSQL, not SQL: a SQL function with SET or SECURITY DEFINER is parsed
-- and planned again on every call; PL/pgSQL keeps the plan for the session
CREATE OR REPLACE FUNCTION workon.event_emit(p_type text, p_recipients uuid[], p_data json)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO workon.events (type, recipients, data)
	SELECT p_type, pg_catalog.array_agg(DISTINCT r), p_data
	  FROM pg_catalog.unnest(p_recipients) AS r
	 WHERE r IS NOT NULL
	HAVING pg_catalog.count(r) > 0;
END
$$;

-- The HTTP front end's view of the keys: it verifies a token's signature
-- itself only to choose whose rate-limit budget a request counts against
-- (the database still verifies every token).  It gets the active keys
-- (HS256 secrets, ES256 public keys) and reloads them on NOTIFY
-- workon_jwt_keys, sent by every change of the table.
--
CREATE FUNCTION workon.jwt_verification_keys()
RETURNS TABLE (kid text, alg text, secret bytea, public_key text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.kid, k.alg,
		   CASE WHEN k.alg = 'HS256' THEN k.secret END,
		   CASE WHEN k.alg = 'ES256' THEN workon.jwt_public_key_pem(k.secret) END
	  FROM workon.jwt_keys AS k
	 WHERE k.retired_at IS NULL
	 ORDER BY k.kid
$$;

COMMENT ON FUNCTION workon.jwt_verification_keys() IS
'For the front end''s login role only: the active keys, kid, alg, secret (HS256) or public_key (ES256 PEM), so that it can tell whose token a request carries before calling the database (its rate limits); changes are announced by NOTIFY workon_jwt_keys';

CREATE FUNCTION workon.jwt_keys_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_jwt_keys', '');
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.jwt_keys_notify() IS
'Trigger: NOTIFY workon_jwt_keys so the HTTP front end reloads workon.jwt_verification_keys()';

CREATE TRIGGER jwt_keys_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.jwt_keys
	FOR EACH STATEMENT EXECUTE FUNCTION workon.jwt_keys_notify();

GRANT EXECUTE ON FUNCTION workon.jwt_verification_keys()
	TO workon_authenticator;

--
-- Pages of lists (sql/src/03_helpers.sql)
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

GRANT EXECUTE ON FUNCTION
	workon.page_bounds(integer, text),
	workon.page_json(json[], timestamptz[], uuid[], integer)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- Blog posts (sql/src/50_posts.sql)
--
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

--
-- Reviews and the rating of spaces (sql/src/20_spaces.sql, 51_reviews.sql)
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
		'archived_at', s.archived_at,
		'rating', workon.space_rating_json(s.id))
$$;

GRANT EXECUTE ON FUNCTION workon.space_rating_json(uuid)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- Reviews
--
CREATE TABLE workon.reviews (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	booking_id	uuid NOT NULL REFERENCES workon.bookings (id) ON DELETE RESTRICT
				CONSTRAINT reviews_booking_id_key UNIQUE,
	space_id	uuid NOT NULL REFERENCES workon.spaces (id) ON DELETE RESTRICT,
	author_id	uuid NOT NULL REFERENCES workon.users (id),
	rating		integer NOT NULL
				CONSTRAINT reviews_rating_check CHECK (rating BETWEEN 1 AND 5),
	body		text NOT NULL DEFAULT ''
				CONSTRAINT reviews_body_check CHECK (pg_catalog.length(body) <= 2000),
	answer		text
				CONSTRAINT reviews_answer_check CHECK (pg_catalog.length(answer) BETWEEN 1 AND 2000),
	answered_at	timestamptz,
	hidden_at	timestamptz,
	hidden_reason text,
	hidden_by	uuid REFERENCES workon.users (id),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT reviews_answered_check CHECK ((answer IS NULL) = (answered_at IS NULL)),
	CONSTRAINT reviews_hidden_check CHECK ((hidden_at IS NULL) = (hidden_reason IS NULL))
);

COMMENT ON TABLE workon.reviews IS
'Reviews of spaces: one per completed booking by its member (rating 1..5, body up to 2,000 characters, editable 14 days), one answer of the space''s host; a review hidden by an admin (with a reason) is seen only by its author and admins and leaves the space''s rating';

CREATE INDEX reviews_space_id_created_at_idx
	ON workon.reviews (space_id, created_at DESC, id DESC) WHERE hidden_at IS NULL;
CREATE INDEX reviews_author_id_idx ON workon.reviews (author_id);

CREATE TRIGGER reviews_set_updated_at
	BEFORE UPDATE ON workon.reviews
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE TRIGGER reviews_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.reviews
	FOR EACH ROW WHEN (NOT workon.restoring('workon.reviews'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.reviews FORCE ROW LEVEL SECURITY;

-- Reviews not hidden are seen with their space; hidden ones by their
-- author and admins.  Writes go through the functions below.
CREATE POLICY reviews_visible ON workon.reviews
	FOR SELECT
	USING ((hidden_at IS NULL AND EXISTS (SELECT FROM workon.spaces AS s WHERE s.id = reviews.space_id))
		   OR author_id = workon.current_user_id()
		   OR workon.current_role() = 'admin');

GRANT SELECT ON workon.reviews
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- The space's document carries its rating (workon.space_rating_json):
-- written again when a review comes, changes its rating or is hidden
--
CREATE FUNCTION workon.space_doc_refresh(space_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- the space's own triggers stay out: its updated_at and audit trail are
-- about the space, not about its reviews
SET session_replication_role = replica
AS $$
BEGIN
	UPDATE workon.spaces AS s
	   SET doc = workon.space_json(s)
	 WHERE s.id = space_doc_refresh.space_id;
END
$$;

COMMENT ON FUNCTION workon.space_doc_refresh(uuid) IS
'Writes the stored document of a space again (its rating changed), leaving its updated_at and audit trail alone';

CREATE FUNCTION workon.reviews_rate_space()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.rating = OLD.rating
	   AND (NEW.hidden_at IS NULL) = (OLD.hidden_at IS NULL) THEN
		RETURN NULL;
	END IF;
	PERFORM workon.space_doc_refresh(CASE TG_OP WHEN 'DELETE' THEN OLD.space_id ELSE NEW.space_id END);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.reviews_rate_space() IS
'Trigger: a review added, deleted, re-rated, hidden or shown again updates its space''s rating in the space''s document';

CREATE TRIGGER reviews_rate_space
	AFTER INSERT OR UPDATE OR DELETE ON workon.reviews
	FOR EACH ROW WHEN (NOT workon.restoring('workon.reviews'))
	EXECUTE FUNCTION workon.reviews_rate_space();

--
-- The review object of the API
--
CREATE FUNCTION workon.review_json(r workon.reviews)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_name		text;
BEGIN
	SELECT u.name INTO v_name FROM workon.users AS u WHERE u.id = r.author_id;
	IF r.author_id IS DISTINCT FROM workon.current_user_id()
	   AND workon.current_role() IS DISTINCT FROM 'admin' THEN
		RETURN workon.json_build(
			'id', r.id, 'space_id', r.space_id, 'author_id', r.author_id, 'author_name', v_name,
			'rating', r.rating, 'body', r.body, 'answer', r.answer, 'answered_at', r.answered_at,
			'created_at', r.created_at, 'updated_at', r.updated_at);
	END IF;
	-- its author and admins: the booking, until when it may be edited, hiding
	RETURN workon.json_build(
		'id', r.id, 'space_id', r.space_id, 'author_id', r.author_id, 'author_name', v_name,
		'rating', r.rating, 'body', r.body, 'answer', r.answer, 'answered_at', r.answered_at,
		'created_at', r.created_at, 'updated_at', r.updated_at,
		'booking_id', r.booking_id, 'editable_until', r.created_at + interval '14 days',
		'hidden', r.hidden_at IS NOT NULL, 'hidden_at', r.hidden_at, 'hidden_reason', r.hidden_reason);
END
$$;

COMMENT ON FUNCTION workon.review_json(workon.reviews) IS
'The API representation of a review {id, space_id, author_id, author_name, rating, body, answer, answered_at, created_at, updated_at}; for its author and admins also booking_id, editable_until, hidden, hidden_at and hidden_reason';

-- The review if the caller may see it, locked; P0002 otherwise
CREATE FUNCTION workon.review_for_update(id uuid)
RETURNS workon.reviews
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.reviews;
BEGIN
	SELECT * INTO v FROM workon.reviews AS r
	 WHERE r.id = review_for_update.id
	   AND ((r.hidden_at IS NULL
			 AND EXISTS (SELECT FROM workon.spaces AS s
						  WHERE s.id = r.space_id
							AND (s.published OR s.host_id = workon.current_user_id()
								 OR workon.current_role() = 'admin')))
			OR r.author_id = workon.current_user_id()
			OR workon.current_role() = 'admin')
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'review not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v;
END
$$;

COMMENT ON FUNCTION workon.review_for_update(uuid) IS
'The review, locked, if the caller may see it (not hidden and of a space they see, or theirs, or they are an admin); P0002 otherwise';

CREATE FUNCTION workon.review_text(body jsonb, field text, required boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	v			jsonb := body -> field;
BEGIN
	IF v IS NULL OR pg_catalog.jsonb_typeof(v) = 'null' THEN
		IF required THEN
			RAISE EXCEPTION '% is required', field
				USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
		END IF;
		RETURN NULL;
	END IF;
	IF pg_catalog.jsonb_typeof(v) <> 'string' OR pg_catalog.length(pg_catalog.btrim(v #>> '{}')) > 2000
	   OR (required AND pg_catalog.btrim(v #>> '{}') = '') THEN
		RAISE EXCEPTION '% must be a string of % to 2000 characters', field, CASE WHEN required THEN 1 ELSE 0 END
			USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
	END IF;
	RETURN pg_catalog.btrim(v #>> '{}');
END
$$;

COMMENT ON FUNCTION workon.review_text(jsonb, text, boolean) IS
'A text field of a review request, trimmed, at most 2,000 characters (at least 1 when required); 22023 naming the field otherwise';

CREATE FUNCTION workon.review_rating(body jsonb)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	v			jsonb := body -> 'rating';
BEGIN
	IF v IS NULL OR pg_catalog.jsonb_typeof(v) <> 'number'
	   OR v::numeric NOT IN (1, 2, 3, 4, 5) THEN
		RAISE EXCEPTION 'rating must be an integer from 1 to 5'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'rating';
	END IF;
	RETURN v::numeric::integer;
END
$$;

COMMENT ON FUNCTION workon.review_rating(jsonb) IS
'The rating of a review request: an integer 1..5; 22023 naming rating otherwise';

CREATE FUNCTION workon.review_body_keys(body jsonb, allowed text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	k			text;
BEGIN
	IF body IS NULL OR pg_catalog.jsonb_typeof(body) <> 'object' THEN
		RAISE EXCEPTION 'request body must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT e.key INTO k FROM pg_catalog.jsonb_object_keys(body) AS e (key)
	 WHERE e.key <> ALL (allowed) ORDER BY e.key LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown parameter'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = k,
				  DETAIL = pg_catalog.format('Parameter "%s" is not taken here.', k);
	END IF;
END
$$;

COMMENT ON FUNCTION workon.review_body_keys(jsonb, text[]) IS
'Checks that a review request body is a JSON object of allowed keys; 22023 naming the first other key';

--
-- Route handlers
--
CREATE FUNCTION workon.space_reviews(id uuid, "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
	v_page		record := workon.page_bounds(space_reviews."limit", space_reviews.cursor);
	v_items		json[];
	v_ts		timestamptz[];
	v_ids		uuid[];
BEGIN
	IF NOT EXISTS (SELECT FROM workon.spaces AS s WHERE s.id = space_reviews.id) THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	SELECT pg_catalog.array_agg(workon.review_json(x.item)), pg_catalog.array_agg((x.item).created_at),
		   pg_catalog.array_agg((x.item).id)
	  INTO v_items, v_ts, v_ids
	  FROM (SELECT r AS item FROM workon.reviews AS r
			 WHERE r.space_id = space_reviews.id AND r.hidden_at IS NULL
			   AND (r.created_at, r.id) < (v_page.after_ts, v_page.after_id)
			 ORDER BY r.created_at DESC, r.id DESC
			 LIMIT v_page.page_size + 1) AS x;

	RETURN workon.page_json(v_items, v_ts, v_ids, v_page.page_size);
END
$$;

COMMENT ON FUNCTION workon.space_reviews(uuid, integer, text) IS
'GET /api/v1/spaces/{id}/reviews: the reviews of a space the caller sees, hidden ones left out, newest first, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20); P0002 for a space the caller does not see';

CREATE FUNCTION workon.review_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v			workon.reviews;
BEGIN
	SELECT * INTO v FROM workon.reviews AS r WHERE r.id = review_get.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'review not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN workon.review_json(v);
END
$$;

COMMENT ON FUNCTION workon.review_get(uuid) IS
'GET /api/v1/reviews/{id}: one review the caller sees (not hidden and of a space they see; a hidden one only its author and admins); P0002 otherwise';

CREATE FUNCTION workon.review_create(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_booking	workon.bookings;
	v_booking_id uuid;
	v			workon.reviews;
BEGIN
	PERFORM workon.review_body_keys(review_create.body, ARRAY['booking_id', 'rating', 'body']);
	-- the caller's view of the space decides
	IF NOT EXISTS (SELECT FROM workon.spaces AS s
					WHERE s.id = review_create.id
					  AND (s.published OR s.host_id = v_user OR workon.current_role() = 'admin')) THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF pg_catalog.jsonb_typeof(review_create.body -> 'booking_id') IS DISTINCT FROM 'string'
	   OR review_create.body ->> 'booking_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		RAISE EXCEPTION 'booking_id must be the id of a booking of yours'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'booking_id';
	END IF;
	v_booking_id := (review_create.body ->> 'booking_id')::uuid;

	-- one's own bookings only; another's is not found
	SELECT * INTO v_booking FROM workon.bookings AS b
	 WHERE b.id = v_booking_id AND b.user_id = v_user
	   FOR SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_booking.space_id <> review_create.id THEN
		RAISE EXCEPTION 'booking_id must be a booking of this space'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'booking_id';
	END IF;
	IF v_booking.status NOT IN ('confirmed', 'completed') OR v_booking.ends_at > pg_catalog.now() THEN
		RAISE EXCEPTION 'only a booking that took place and has ended can be reviewed'
			USING ERRCODE = 'WOV01',
				  DETAIL = pg_catalog.format('The booking is %s and ends at %s.', v_booking.status,
											 pg_catalog.to_char(v_booking.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
	END IF;
	IF EXISTS (SELECT FROM workon.reviews AS r WHERE r.booking_id = v_booking.id) THEN
		RAISE EXCEPTION 'this booking has been reviewed already'
			USING ERRCODE = 'WOV02';
	END IF;

	INSERT INTO workon.reviews AS r (booking_id, space_id, author_id, rating, body)
	VALUES (v_booking.id, v_booking.space_id, v_user,
			workon.review_rating(review_create.body),
			COALESCE(workon.review_text(review_create.body, 'body', false), ''))
	RETURNING * INTO v;
	PERFORM workon.set_response(201, pg_catalog.jsonb_build_object('Location', '/api/v1/reviews/' || v.id));
	RETURN workon.review_json(v);
END
$$;

COMMENT ON FUNCTION workon.review_create(uuid, jsonb) IS
'POST /api/v1/spaces/{id}/reviews {booking_id, rating (1..5), body (up to 2,000 characters)} (member): 201 with Location, the review of one of the caller''s bookings of this space that was confirmed and has ended; P0002 for a space or booking the caller does not see (another''s booking included), WOV01 not_eligible for a booking not confirmed or not ended (cancelled, expired, pending, in the future), WOV02 already_reviewed';

CREATE FUNCTION workon.review_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.reviews := workon.review_for_update(review_update.id);
BEGIN
	IF v.author_id IS DISTINCT FROM workon.current_user_id() THEN
		RAISE EXCEPTION 'only its author may change a review'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	PERFORM workon.review_body_keys(review_update.body, ARRAY['rating', 'body']);
	IF pg_catalog.now() > v.created_at + interval '14 days' THEN
		RAISE EXCEPTION 'a review can be changed for 14 days after it was written'
			USING ERRCODE = 'WOV03';
	END IF;
	IF review_update.body ? 'rating' THEN
		v.rating := workon.review_rating(review_update.body);
	END IF;
	IF review_update.body ? 'body' THEN
		v.body := COALESCE(workon.review_text(review_update.body, 'body', false), '');
	END IF;
	UPDATE workon.reviews AS r SET rating = v.rating, body = v.body
	 WHERE r.id = v.id
	RETURNING * INTO v;
	RETURN workon.review_json(v);
END
$$;

COMMENT ON FUNCTION workon.review_update(uuid, jsonb) IS
'PATCH /api/v1/reviews/{id} {rating, body} (its author): changes the fields present, for 14 days after the review was written (then WOV03 review_locked); 42501 for another''s review, P0002 for one the caller does not see';

CREATE FUNCTION workon.review_answer(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.reviews := workon.review_for_update(review_answer.id);
	v_answer	text;
BEGIN
	IF NOT EXISTS (SELECT FROM workon.spaces AS s
					WHERE s.id = v.space_id AND s.host_id = workon.current_user_id()) THEN
		RAISE EXCEPTION 'only the space''s host may answer a review'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	PERFORM workon.review_body_keys(review_answer.body, ARRAY['body']);
	v_answer := workon.review_text(review_answer.body, 'body', true);
	IF v.answer IS NOT NULL THEN
		RAISE EXCEPTION 'this review has been answered already'
			USING ERRCODE = 'WOV04';
	END IF;
	UPDATE workon.reviews AS r SET answer = v_answer, answered_at = pg_catalog.now()
	 WHERE r.id = v.id
	RETURNING * INTO v;
	RETURN workon.review_json(v);
END
$$;

COMMENT ON FUNCTION workon.review_answer(uuid, jsonb) IS
'POST /api/v1/reviews/{id}/answer {body} (the space''s host): the host''s one answer (1 to 2,000 characters); WOV04 already_answered; 42501 for anyone else who sees the review, P0002 for who does not';

CREATE FUNCTION workon.review_hide(id uuid, reason text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.reviews := workon.review_for_update(review_hide.id);
	v_reason	text := pg_catalog.btrim(review_hide.reason);
BEGIN
	IF v_reason IS NULL OR v_reason = '' OR pg_catalog.length(v_reason) > 500 THEN
		RAISE EXCEPTION 'reason is required, at most 500 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'reason';
	END IF;
	PERFORM workon.review_hidden_set(v.id, v_reason);
	SELECT * INTO v FROM workon.reviews AS r WHERE r.id = v.id;
	RETURN workon.review_json(v);
END
$$;

COMMENT ON FUNCTION workon.review_hide(uuid, text) IS
'POST /api/v1/admin/reviews/{id}/hide {reason} (admin): hides the review (audited with its reason): it leaves the space''s list and rating, its author and admins still see it; hiding a hidden review again changes the reason';

CREATE FUNCTION workon.review_hidden_set(id uuid, reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF workon.current_role() IS DISTINCT FROM 'admin' THEN
		RAISE EXCEPTION 'only admins hide reviews'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	UPDATE workon.reviews AS r
	   SET hidden_at = CASE WHEN review_hidden_set.reason IS NULL THEN NULL
							ELSE COALESCE(r.hidden_at, pg_catalog.now()) END,
		   hidden_reason = review_hidden_set.reason,
		   hidden_by = CASE WHEN review_hidden_set.reason IS NULL THEN NULL
							ELSE workon.current_user_id() END
	 WHERE r.id = review_hidden_set.id;
END
$$;

COMMENT ON FUNCTION workon.review_hidden_set(uuid, text) IS
'Hides a review with a reason, or shows it again (reason NULL); admins only';

CREATE FUNCTION workon.review_show(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.reviews := workon.review_for_update(review_show.id);
BEGIN
	PERFORM workon.review_hidden_set(v.id, NULL);
	SELECT * INTO v FROM workon.reviews AS r WHERE r.id = v.id;
	RETURN workon.review_json(v);
END
$$;

COMMENT ON FUNCTION workon.review_show(uuid) IS
'DELETE /api/v1/admin/reviews/{id}/hide (admin): shows a hidden review again (audited); it counts in the space''s rating again';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/spaces/{id}/reviews', 'workon.space_reviews(uuid,integer,text)',
	 'none', 200, 'none', true, 'List the reviews of a space'),
	('GET', '/api/v1/reviews/{id}', 'workon.review_get(uuid)',
	 'none', 200, 'none', true, 'Get a review'),
	('POST', '/api/v1/spaces/{id}/reviews', 'workon.review_create(uuid,jsonb)',
	 'member', 201, 'json', false, 'Review a space after a booking of it has ended'),
	('PATCH', '/api/v1/reviews/{id}', 'workon.review_update(uuid,jsonb)',
	 'member', 200, 'json', false, 'Change one''s review (for 14 days)'),
	('POST', '/api/v1/reviews/{id}/answer', 'workon.review_answer(uuid,jsonb)',
	 'host', 200, 'json', false, 'Answer a review of one''s space (once)'),
	('POST', '/api/v1/admin/reviews/{id}/hide', 'workon.review_hide(uuid,text)',
	 'admin', 200, 'json', false, 'Hide a review, with a reason'),
	('DELETE', '/api/v1/admin/reviews/{id}/hide', 'workon.review_show(uuid)',
	 'admin', 200, 'none', false, 'Show a hidden review again');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOV01', 409, 'not_eligible'),
	('WOV02', 409, 'already_reviewed'),
	('WOV03', 409, 'review_locked'),
	('WOV04', 409, 'already_answered');

GRANT EXECUTE ON FUNCTION
	workon.review_json(workon.reviews),
	workon.review_get(uuid),
	workon.space_reviews(uuid, integer, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.review_for_update(uuid),
	workon.review_text(jsonb, text, boolean),
	workon.review_rating(jsonb),
	workon.review_body_keys(jsonb, text[]),
	workon.review_create(uuid, jsonb),
	workon.review_update(uuid, jsonb)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.review_answer(uuid, jsonb)
	TO workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.review_hidden_set(uuid, text),
	workon.review_hide(uuid, text),
	workon.review_show(uuid)
	TO workon_admin;

-- pg_dump: reviews are data
SELECT pg_catalog.pg_extension_config_dump('workon.reviews', '');

-- every space's document gets its rating
DO $docs$
BEGIN
	PERFORM workon.space_doc_refresh(s.id) FROM workon.spaces AS s;
END
$docs$;

--
-- Covers of published posts are public files (sql/src/15_uploads.sql)
--
CREATE OR REPLACE FUNCTION workon.upload_public(id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- PL/pgSQL: space_photos is created with the spaces (20_spaces.sql)
	RETURN EXISTS (SELECT FROM workon.space_photos AS p
					 JOIN workon.spaces AS s ON s.id = p.space_id
					WHERE p.upload_id = upload_public.id AND s.published)
		OR EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = upload_public.id)
		-- the cover of a published blog post (50_posts.sql)
		OR EXISTS (SELECT FROM workon.posts AS bp
					WHERE bp.cover_upload_id = upload_public.id AND bp.published_at <= pg_catalog.now());
END
$$;

COMMENT ON FUNCTION workon.upload_public(uuid) IS
'True when the upload is attached to something published (a photo of a published space, a user''s avatar, the cover of a published blog post): anyone may download it at its public URL';


CREATE OR REPLACE FUNCTION workon.upload_release()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid := OLD.upload_id;
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.upload_id = NEW.upload_id THEN
		RETURN NULL;
	END IF;
	DELETE FROM workon.uploads AS u
	 WHERE u.id = v_id
	   AND NOT EXISTS (SELECT FROM workon.space_photos AS p WHERE p.upload_id = v_id)
	   AND NOT EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = v_id)
	   AND NOT EXISTS (SELECT FROM workon.posts AS bp WHERE bp.cover_upload_id = v_id);
	RETURN NULL;
END
$$;


--
-- The OpenAPI document describes redirects (301) and the strong ETags
-- handlers set (sql/src/90_openapi.sql)
--
CREATE OR REPLACE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
			   obj_description(p.oid, 'pg_proc') AS description,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', workon.openapi_schema(a.typ));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', workon.openapi_schema(a.typ));
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', '{"type": "string"}'::jsonb);
			END IF;
		END LOOP;
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for, with Content-Range"},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag"},
					 "416": {"description": "Range Not Satisfiable"}}'::jsonb;
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a weak ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.prosrc ~ 'workon\.public_cache\(' THEN
			-- the handler sets a strong ETag and Cache-Control for every reader
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the strong ETag of the answer (any reader; Cache-Control: public)"}}';
		END IF;
		IF r.prosrc ~ 'set_response\(301\M' THEN
			-- the handler answers a former address with the current one
			responses := responses || '{"301": {"description": "Moved Permanently: a former address; Location is the current one"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		IF r.status = 200 AND r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN
			-- the handler may return nothing
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object", "description": "field: the offending parameter or field"}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

--
-- The audit log: the names of the changed columns (sql/src/04_audit.sql)
--
ALTER TABLE workon.audit_log ADD COLUMN IF NOT EXISTS changed text[];

COMMENT ON COLUMN workon.audit_log.changed IS
'The names of the columns the change set or changed (updated_at aside), secrets included by name only';

CREATE OR REPLACE FUNCTION workon.audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old		jsonb;
	v_new		jsonb;
	v_hidden	text[] := TG_ARGV || ARRAY['updated_at'];
	v_changed	text[];
	v_row		jsonb;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		v_old := pg_catalog.to_jsonb(OLD) - 'updated_at';
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_new := pg_catalog.to_jsonb(NEW) - 'updated_at';
	END IF;
	-- what changed, secrets by name: every column an insert sets or a
	-- delete removes, the columns an update changes (an update of secrets
	-- alone, such as a rehash of a password, is not logged)
	SELECT pg_catalog.array_agg(k.key ORDER BY k.key) INTO v_changed
	  FROM pg_catalog.jsonb_object_keys(COALESCE(v_new, v_old)) AS k(key)
	 WHERE (v_old -> k.key) IS DISTINCT FROM (v_new -> k.key)
	   AND (TG_OP = 'UPDATE' OR COALESCE(v_new, v_old) -> k.key <> 'null');
	IF TG_OP = 'UPDATE' AND (v_changed IS NULL OR v_changed <@ TG_ARGV) THEN
		RETURN NULL;			-- nothing an auditor may see changed
	END IF;

	v_row := COALESCE(v_new, v_old) - v_hidden;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, before, after, changed)
	VALUES (workon.current_user_id(), pg_catalog.lower(TG_OP), TG_TABLE_NAME,
			COALESCE(v_row ->> 'id', v_row ->> 'kid', v_row ->> 'name'),
			v_old - v_hidden, v_new - v_hidden, v_changed);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.audit_row() IS
'Trigger: writes the change to workon.audit_log with the names of the columns it set or changed (changed); trigger arguments name columns whose values are left out (secrets: named in changed when something else changed too); updates that change only those and updated_at are not logged';

-- sql/src/60_stats.sql
--
-- Occupancy per local day (extension/stats.c)
--
CREATE FUNCTION workon.space_occupancy(timezone text, opening_hours jsonb,
									   first_day date, last_day date,
									   starts timestamptz[], ends timestamptz[])
RETURNS TABLE (day date, open_seconds bigint, booked_seconds bigint)
AS 'MODULE_PATHNAME', 'space_occupancy'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_occupancy(text, jsonb, date, date, timestamptz[], timestamptz[]) IS
'One row per calendar day of the zone from first_day to last_day (at most 400): the seconds the opening hours are open that day (a DST day has 23 or 25 hours; an opening through midnight counts on each side for its own day) and the seconds of the bookings [starts[i], ends[i]) inside the open periods';

CREATE FUNCTION workon.space_occupancy_hours(timezone text, opening_hours jsonb,
											 first_day date, last_day date,
											 starts timestamptz[], ends timestamptz[],
											 OUT open_hours float8[], OUT booked_hours float8[])
RETURNS record
AS 'MODULE_PATHNAME', 'space_occupancy_hours'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_occupancy_hours(text, jsonb, date, date, timestamptz[], timestamptz[]) IS
'What workon.space_occupancy computes, as two arrays of hours rounded to the hundredth, one element a day from first_day on (for reports over many spaces and days)';

CREATE FUNCTION workon.jsonb_compact(value jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'jsonb_compact'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.jsonb_compact(jsonb) IS
'The text of a jsonb value with no blanks between its tokens ({"a":1,"b":[1,2]}), as the API answers';

-- what the stats read by time
-- (covering: the report's window is an index-only scan)
CREATE INDEX bookings_ends_at_idx ON workon.bookings (ends_at)
	INCLUDE (starts_at, space_id, status, hold_expires_at);
CREATE INDEX payments_succeeded_at_idx ON workon.payments (succeeded_at)
	WHERE status = 'succeeded';
CREATE INDEX refunds_settled_at_idx
	ON workon.refunds ((COALESCE(stripe_status_at, created_at)))
	WHERE status = 'succeeded';
CREATE INDEX users_created_at_idx ON workon.users (created_at);

--
-- The window of a report: ?from=&to=
--
CREATE FUNCTION workon.stats_bound(value text, field text, is_end boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF value IS NULL THEN
		RETURN NULL;
	ELSIF value ~ '^\d{4}-\d{2}-\d{2}$' THEN
		-- a date: the start of that UTC day, or for "to" its end
		RETURN (value::date + CASE WHEN is_end THEN 1 ELSE 0 END)::timestamp AT TIME ZONE 'UTC';
	ELSIF value ~ '^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$' THEN
		RETURN value::timestamptz;
	END IF;
	RAISE EXCEPTION '% must be an RFC 3339 time with an offset or a date (YYYY-MM-DD)', field
		USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
EXCEPTION
	WHEN datetime_field_overflow OR invalid_datetime_format THEN
		RAISE EXCEPTION '% is not a valid time', field
			USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
END
$$;

COMMENT ON FUNCTION workon.stats_bound(text, text, boolean) IS
'A bound of a report window: an RFC 3339 time with an offset, or a date (YYYY-MM-DD: the start of that UTC day; for the end bound, the start of the next one); 22023 naming field otherwise';

--
-- The report
--
CREATE FUNCTION workon.booking_counts(statuses text[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.jsonb_build_object(
		'total', COALESCE(pg_catalog.cardinality($1), 0),
		'by_status', pg_catalog.jsonb_object_agg(st.status,
			(SELECT pg_catalog.count(*) FROM pg_catalog.unnest($1) AS x(s) WHERE x.s = st.status)))
	  FROM pg_catalog.unnest(ARRAY['pending_payment', 'confirmed', 'expired', 'cancelled', 'completed']) AS st(status)
$$;

COMMENT ON FUNCTION workon.booking_counts(text[]) IS
'{"total", "by_status": {"pending_payment", "confirmed", "expired", "cancelled", "completed"}}: how many of the statuses there are, of each';

CREATE FUNCTION workon.stats_report("from" text, "to" text, space_id uuid, city text,
									host_id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_to		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."to", ''), 'to', true),
										pg_catalog.now());
	v_from		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."from", ''), 'from', false),
										v_to - interval '30 days');
	v_city		text := pg_catalog.lower(NULLIF(pg_catalog.btrim(stats_report.city), ''));
	v_spaces	uuid[];
	v_all		boolean;
	v_report	json;
BEGIN
	IF v_to <= v_from THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	IF v_to - v_from > interval '366 days' THEN
		RAISE EXCEPTION 'the window from..to must be at most 366 days'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;

	-- the spaces the report is about
	SELECT pg_catalog.array_agg(s.id) INTO v_spaces
	  FROM workon.spaces AS s
	 WHERE (stats_report.space_id IS NULL OR s.id = stats_report.space_id)
	   AND (v_city IS NULL OR s.city_key = v_city)
	   AND (stats_report.host_id IS NULL OR s.host_id = stats_report.host_id);
	v_spaces := COALESCE(v_spaces, '{}');
	v_all := stats_report.space_id IS NULL AND v_city IS NULL AND stats_report.host_id IS NULL;

	WITH b AS MATERIALIZED (
		-- the bookings that overlap the window, and the local days at its
		-- ends (in_window: the window itself)
		SELECT b.space_id, b.starts_at, b.ends_at,
			   CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
					THEN 'expired' ELSE b.status END AS status,
			   b.ends_at > v_from AND b.starts_at < v_to AS in_window
		  FROM workon.bookings AS b
		 WHERE b.ends_at > v_from - interval '2 days' AND b.starts_at < v_to + interval '2 days'
		   AND (v_all OR b.space_id = ANY (v_spaces))
	), sb AS (
		-- the booked periods of each space, for its occupancy
		SELECT b.space_id,
			   pg_catalog.array_agg(b.starts_at) FILTER (WHERE b.status IN ('confirmed', 'completed')) AS starts,
			   pg_catalog.array_agg(b.ends_at) FILTER (WHERE b.status IN ('confirmed', 'completed')) AS ends
		  FROM b
		 GROUP BY b.space_id
	), occ AS (
		SELECT s.id, s.name, s.timezone, d.first_day, o.open_hours, o.booked_hours, t.open_h, t.booked_h
		  FROM workon.spaces AS s
		  LEFT JOIN sb ON sb.space_id = s.id
		 CROSS JOIN LATERAL (SELECT (v_from AT TIME ZONE s.timezone)::date AS first_day) AS d
		 CROSS JOIN LATERAL workon.space_occupancy_hours(
			s.timezone, s.opening_hours, d.first_day,
			((v_to - interval '1 microsecond') AT TIME ZONE s.timezone)::date,
			COALESCE(sb.starts, '{}'), COALESCE(sb.ends, '{}')) AS o
		 CROSS JOIN LATERAL (SELECT pg_catalog.sum(x.open_h) AS open_h, pg_catalog.sum(x.booked_h) AS booked_h
							   FROM ROWS FROM (pg_catalog.unnest(o.open_hours), pg_catalog.unnest(o.booked_hours)) AS x(open_h, booked_h)) AS t
		 WHERE s.id = ANY (v_spaces)
	), rev AS (
		SELECT d.day, d.currency, pg_catalog.sum(d.paid) AS paid, pg_catalog.sum(d.refunded) AS refunded
		  FROM (SELECT (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
					   COALESCE(p.received_currency, p.currency) AS currency,
					   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded
				  FROM workon.payments AS p
				 WHERE p.status = 'succeeded'
				   AND p.succeeded_at >= v_from AND p.succeeded_at < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = p.booking_id AND bk.space_id = ANY (v_spaces)))
				UNION ALL
				SELECT (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
					   r.currency, 0, r.amount_cents
				  FROM workon.refunds AS r
				 WHERE r.status = 'succeeded'
				   AND COALESCE(r.stripe_status_at, r.created_at) >= v_from
				   AND COALESCE(r.stripe_status_at, r.created_at) < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = r.booking_id AND bk.space_id = ANY (v_spaces)))) AS d
		 GROUP BY d.day, d.currency
	)
	SELECT workon.json_build(
		'from', v_from,
		'to', v_to,
		'bookings', (SELECT workon.json_build(
							'total', pg_catalog.count(*),
							'by_status', workon.json_build(
								'pending_payment', pg_catalog.count(*) FILTER (WHERE b.status = 'pending_payment'),
								'confirmed', pg_catalog.count(*) FILTER (WHERE b.status = 'confirmed'),
								'expired', pg_catalog.count(*) FILTER (WHERE b.status = 'expired'),
								'cancelled', pg_catalog.count(*) FILTER (WHERE b.status = 'cancelled'),
								'completed', pg_catalog.count(*) FILTER (WHERE b.status = 'completed')))
					   FROM b
					  WHERE b.starts_at >= v_from AND b.starts_at < v_to),
		'revenue', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'day', rev.day, 'currency', rev.currency,
							'paid_cents', rev.paid, 'refunded_cents', rev.refunded,
							'net_cents', rev.paid - rev.refunded)
						ORDER BY rev.day, rev.currency), '{}'))
					  FROM rev),
		'occupancy', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', o.id, 'name', o.name, 'timezone', o.timezone,
							'open_hours', pg_catalog.round(o.open_h::numeric, 2),
							'booked_hours', pg_catalog.round(o.booked_h::numeric, 2),
							'occupancy', CASE WHEN o.open_h > 0 THEN pg_catalog.round((o.booked_h / o.open_h)::numeric, 4) END,
							'first_day', o.first_day,
							'daily_open_hours', pg_catalog.array_to_json(o.open_hours),
							'daily_booked_hours', pg_catalog.array_to_json(o.booked_hours))
						ORDER BY o.name, o.id), '{}'))
						FROM occ AS o),
		'top_spaces', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', t.id, 'name', t.name, 'city', t.city,
							'bookings', t.n, 'booked_hours', pg_catalog.round(t.booked_s / 3600.0, 2))
						ORDER BY t.n DESC, t.booked_s DESC, t.id), '{}'))
						 FROM (SELECT s.id, s.name, s.city, pg_catalog.count(*) AS n,
									  pg_catalog.sum(EXTRACT(epoch FROM LEAST(b.ends_at, v_to) - GREATEST(b.starts_at, v_from)))::bigint AS booked_s
								 FROM b
								 JOIN workon.spaces AS s ON s.id = b.space_id
								WHERE b.status IN ('confirmed', 'completed') AND b.in_window
								GROUP BY s.id, s.name, s.city
								ORDER BY n DESC, booked_s DESC, s.id
								LIMIT 10) AS t),
		-- who joined: the whole marketplace's, for admins only
		'new_users', CASE WHEN stats_report.host_id IS NULL THEN
			(SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(
						workon.json_build('day', n.day, 'count', n.count) ORDER BY n.day), '{}'))
			   FROM (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, pg_catalog.count(*) AS count
					   FROM workon.users AS u
					  WHERE u.created_at >= v_from AND u.created_at < v_to
					  GROUP BY 1) AS n) END)
	  INTO v_report;

	RETURN v_report;
END
$$;

COMMENT ON FUNCTION workon.stats_report(text, text, uuid, text, uuid) IS
'The numbers of GET /api/v1/admin/stats and /api/v1/host/stats (host_id: only that host''s spaces, and new_users null) as compact JSON; see workon.admin_stats';

CREATE FUNCTION workon.csv_field(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	-- quoted when needed (RFC 4180); a text a spreadsheet would run as a
	-- formula (=, +, -, @ first) is prefixed with an apostrophe
	SELECT CASE
		WHEN $1 IS NULL THEN ''
		WHEN $1 ~ '^[=+@-]' AND $1 !~ '^-?[0-9.]+$' THEN '"''' || pg_catalog.replace($1, '"', '""') || '"'
		WHEN $1 ~ '[",\r\n]' THEN '"' || pg_catalog.replace($1, '"', '""') || '"'
		ELSE $1 END
$$;

COMMENT ON FUNCTION workon.csv_field(text) IS
'A CSV field (RFC 4180): NULL is empty, a value with a comma, quote or line break is quoted, one starting with =, +, - or @ (not a number) gets an apostrophe first so that spreadsheets do not run it';

CREATE FUNCTION workon.stats_csv(report jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'table,day,space_id,name,status,currency,count,paid_cents,refunded_cents,net_cents,open_hours,booked_hours,occupancy' || E'\r\n'
		|| COALESCE(pg_catalog.string_agg(
			   (SELECT pg_catalog.string_agg(workon.csv_field(u.f), ',' ORDER BY u.n)
				  FROM pg_catalog.unnest(r.f) WITH ORDINALITY AS u(f, n)) || E'\r\n', '' ORDER BY r.k1, r.k2), '')
	  FROM (
		SELECT 1 AS k1, st.ord::text AS k2,
			   ARRAY['bookings', NULL, NULL, NULL, st.status, NULL, $1 -> 'bookings' -> 'by_status' ->> st.status,
					 NULL, NULL, NULL, NULL, NULL, NULL] AS f
		  FROM pg_catalog.unnest(ARRAY['pending_payment', 'confirmed', 'expired', 'cancelled', 'completed'])
			   WITH ORDINALITY AS st(status, ord)
		UNION ALL
		SELECT 2, pg_catalog.lpad(r.n::text, 10, '0'),
			   ARRAY['revenue', r.v ->> 'day', NULL, NULL, NULL, r.v ->> 'currency', NULL,
					 r.v ->> 'paid_cents', r.v ->> 'refunded_cents', r.v ->> 'net_cents', NULL, NULL, NULL]
		  FROM pg_catalog.jsonb_array_elements($1 -> 'revenue') WITH ORDINALITY AS r(v, n)
		UNION ALL
		SELECT 3, pg_catalog.lpad(s.n::text, 10, '0') || pg_catalog.lpad(d.n::text, 10, '0'),
			   ARRAY['occupancy', pg_catalog.to_char((s.v ->> 'first_day')::date + (d.n::integer - 1), 'YYYY-MM-DD'), s.v ->> 'space_id', s.v ->> 'name',
					 NULL, NULL, NULL, NULL, NULL, NULL, d.v #>> '{}', s.v -> 'daily_booked_hours' ->> (d.n::integer - 1),
					 CASE WHEN d.v::numeric > 0
						  THEN pg_catalog.round((s.v -> 'daily_booked_hours' ->> (d.n::integer - 1))::numeric / d.v::numeric, 4)::text END]
		  FROM pg_catalog.jsonb_array_elements($1 -> 'occupancy') WITH ORDINALITY AS s(v, n),
			   pg_catalog.jsonb_array_elements(s.v -> 'daily_open_hours') WITH ORDINALITY AS d(v, n)
		UNION ALL
		SELECT 4, pg_catalog.lpad(t.n::text, 10, '0'),
			   ARRAY['top_spaces', NULL, t.v ->> 'space_id', t.v ->> 'name', NULL, NULL, t.v ->> 'bookings',
					 NULL, NULL, NULL, NULL, t.v ->> 'booked_hours', NULL]
		  FROM pg_catalog.jsonb_array_elements($1 -> 'top_spaces') WITH ORDINALITY AS t(v, n)
		UNION ALL
		SELECT 5, pg_catalog.lpad(u.n::text, 10, '0'),
			   ARRAY['new_users', u.v ->> 'day', NULL, NULL, NULL, NULL, u.v ->> 'count',
					 NULL, NULL, NULL, NULL, NULL, NULL]
		  FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof($1 -> 'new_users') = 'array' THEN $1 -> 'new_users' ELSE '[]' END) WITH ORDINALITY AS u(v, n)
	  ) AS r
$$;

COMMENT ON FUNCTION workon.stats_csv(jsonb) IS
'A report of workon.stats_report as one CSV table (CRLF lines, a header row): column "table" says which part a row is from (bookings, revenue, occupancy, top_spaces, new_users) and the other columns (day, space_id, name, status, currency, count, paid_cents, refunded_cents, net_cents, open_hours, booked_hours, occupancy) are filled as that part has them, empty otherwise; occupancy rows are per space per day';

CREATE FUNCTION workon.stats_answer("from" text, "to" text, space_id uuid, city text,
									host_id uuid, format text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_report	json;
BEGIN
	IF NULLIF(stats_answer.format, '') NOT IN ('json', 'csv') THEN
		RAISE EXCEPTION 'format must be json or csv'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'format';
	END IF;
	v_report := workon.stats_report(stats_answer."from", stats_answer."to", stats_answer.space_id,
									stats_answer.city, stats_answer.host_id);
	IF stats_answer.format = 'csv' THEN
		PERFORM workon.set_response(NULL, '{"Content-Type": "text/csv; charset=utf-8",
											"Content-Disposition": "attachment; filename=\"stats.csv\""}');
		RETURN workon.stats_csv(v_report::jsonb);
	END IF;
	RETURN v_report::text;
END
$$;

COMMENT ON FUNCTION workon.stats_answer(text, text, uuid, text, uuid, text) IS
'The body of a stats route: the report of workon.stats_report as JSON (format json, the default), or as CSV (format csv: text/csv, as an attachment stats.csv); 22023 naming format for another';

CREATE FUNCTION workon.require_admin()
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	IF workon.current_role() IS DISTINCT FROM 'admin' THEN
		RAISE EXCEPTION 'admins only'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.require_admin() IS
'42501 unless the caller acts as an admin: the first line of a SECURITY DEFINER handler for admins, whoever may execute it';

--
-- Route handlers
--
CREATE FUNCTION workon.admin_stats("from" text DEFAULT NULL, "to" text DEFAULT NULL,
								   space_id uuid DEFAULT NULL, city text DEFAULT NULL,
								   format text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.require_admin();
	RETURN workon.stats_answer(admin_stats."from", admin_stats."to", admin_stats.space_id,
							   admin_stats.city, NULL, admin_stats.format);
END
$$;

COMMENT ON FUNCTION workon.admin_stats(text, text, uuid, text, text) IS
'GET /api/v1/admin/stats?from=&to=&space_id=&city=&format= (admins): the marketplace''s numbers over [from, to) — bounds RFC 3339 with an offset or dates (YYYY-MM-DD, UTC days, "to" inclusive), default the last 30 days, at most 366 days, 400 validation_failed naming the field otherwise — optionally of one space or one city: {"from", "to", "bookings": {"total", "by_status": {status: count}} (bookings starting in the window, a lapsed hold counted as expired), "revenue": [{"day", "currency", "paid_cents", "refunded_cents", "net_cents"}] (per UTC day and currency: payments that succeeded minus refunds that succeeded, partial ones included), "occupancy": [{"space_id", "name", "timezone", "open_hours", "booked_hours", "occupancy", "first_day", "daily_open_hours": [...], "daily_booked_hours": [...]}] (hours of confirmed and completed bookings inside the opening hours over the opening hours, DST-correct, over the window and per calendar day of the space''s zone that the window touches, one number a day from first_day on; occupancy null when closed), "top_spaces": [{"space_id", "name", "city", "bookings", "booked_hours"}] (the 10 with most confirmed and completed bookings), "new_users": [{"day", "count"}]}. format=csv: the same as one CSV table (text/csv) whose column "table" names the part (workon.stats_csv)';

CREATE FUNCTION workon.host_stats("from" text DEFAULT NULL, "to" text DEFAULT NULL,
								  space_id uuid DEFAULT NULL, city text DEFAULT NULL,
								  format text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF workon.current_user_id() IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	RETURN workon.stats_answer(host_stats."from", host_stats."to", host_stats.space_id,
							   host_stats.city, workon.current_user_id(), host_stats.format);
END
$$;

COMMENT ON FUNCTION workon.host_stats(text, text, uuid, text, text) IS
'GET /api/v1/host/stats?from=&to=&space_id=&city=&format= (hosts): what GET /api/v1/admin/stats gives, of the caller''s own spaces only (another host''s space_id gives an empty report), new_users null';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/admin/stats', 'workon.admin_stats(text,text,uuid,text,text)',
	 'admin', 200, 'none', true, 'The marketplace''s numbers: bookings, revenue, occupancy, new users, top spaces'),
	('GET', '/api/v1/host/stats', 'workon.host_stats(text,text,uuid,text,text)',
	 'host', 200, 'none', true, 'The numbers of the caller''s own spaces');

GRANT EXECUTE ON FUNCTION workon.admin_stats(text, text, uuid, text, text)
	TO workon_admin;
GRANT EXECUTE ON FUNCTION workon.host_stats(text, text, uuid, text, text)
	TO workon_host, workon_admin;

-- sql/src/61_admin.sql
--
-- The audit log, complete: the tables of sessions, account tokens, keys,
-- the outbox and Stripe events are audited too (their secrets left out),
-- and a change of a secret alone is logged by name (workon.audit_row)
--
CREATE TRIGGER refresh_tokens_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.refresh_tokens
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refresh_tokens'))
	EXECUTE FUNCTION workon.audit_row('token_hash');

CREATE TRIGGER account_tokens_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.account_tokens
	FOR EACH ROW WHEN (NOT workon.restoring('workon.account_tokens'))
	EXECUTE FUNCTION workon.audit_row('token_hash');

CREATE TRIGGER outbox_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.outbox
	FOR EACH ROW WHEN (NOT workon.restoring('workon.outbox'))
	EXECUTE FUNCTION workon.audit_row('params');

CREATE TRIGGER stripe_events_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.stripe_events
	FOR EACH ROW WHEN (NOT workon.restoring('workon.stripe_events'))
	EXECUTE FUNCTION workon.audit_row('object');

CREATE TRIGGER secrets_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.secrets
	FOR EACH ROW WHEN (NOT workon.restoring('workon.secrets'))
	EXECUTE FUNCTION workon.audit_row('value');

CREATE TRIGGER jwt_keys_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.jwt_keys
	FOR EACH ROW WHEN (NOT workon.restoring('workon.jwt_keys'))
	EXECUTE FUNCTION workon.audit_row('secret');

CREATE TRIGGER signed_url_keys_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.signed_url_keys
	FOR EACH ROW WHEN (NOT workon.restoring('workon.signed_url_keys'))
	EXECUTE FUNCTION workon.audit_row('key');

CREATE TRIGGER stripe_webhook_secrets_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.stripe_webhook_secrets
	FOR EACH ROW WHEN (NOT workon.restoring('workon.stripe_webhook_secrets'))
	EXECUTE FUNCTION workon.audit_row('secret');

-- the filters of GET /api/v1/admin/audit, newest first
CREATE INDEX audit_log_entity_id_idx ON workon.audit_log (entity_id, at DESC, id DESC);
CREATE INDEX audit_log_actor_id_idx ON workon.audit_log (actor_id, at DESC, id DESC);
CREATE INDEX audit_log_entity_idx ON workon.audit_log (entity, at DESC, id DESC);

--
-- GET /api/v1/admin/audit
--
CREATE FUNCTION workon.audit_cursor_id(id bigint)
RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT pg_catalog.lpad(pg_catalog.to_hex($1), 32, '0')::uuid
$$;

COMMENT ON FUNCTION workon.audit_cursor_id(bigint) IS
'An audit row''s id as the uuid part of a list cursor (workon.cursor_encode), and back with workon.audit_cursor_row';

CREATE FUNCTION workon.audit_cursor_row(id uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT ('x' || pg_catalog.right(pg_catalog.replace($1::text, '-', ''), 16))::bit(64)::bigint
$$;

COMMENT ON FUNCTION workon.audit_cursor_row(uuid) IS
'The audit row id a list cursor''s uuid part stands for (workon.audit_cursor_id)';

CREATE FUNCTION workon.audit_json(a workon.audit_log)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', a.id::text,
		'at', a.at,
		'actor_id', a.actor_id,
		'action', a.action,
		'entity', a.entity,
		'entity_id', a.entity_id,
		'changed', COALESCE(a.changed, '{}'),
		'before', a.before,
		'after', a.after)
$$;

COMMENT ON FUNCTION workon.audit_json(workon.audit_log) IS
'The API representation of an audit row: {"id" (a string), "at", "actor_id" (null: a SQL caller or the front end without a user), "action" (insert, update, delete; seed, revoke), "entity" (the table), "entity_id", "changed" (the names of the fields that changed, secrets included by name), "before", "after" (the row without its secrets)}';

CREATE FUNCTION workon.admin_audit(actor uuid DEFAULT NULL, entity text DEFAULT NULL,
								   entity_id text DEFAULT NULL, action text DEFAULT NULL,
								   "from" timestamptz DEFAULT NULL, "to" timestamptz DEFAULT NULL,
								   "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			record;
	v_after_id	bigint;
	v_page		json;
BEGIN
	PERFORM workon.require_admin();
	IF admin_audit.action !~ '^[a-z_]{1,40}$' THEN
		RAISE EXCEPTION 'action must be an action name such as insert, update, delete'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'action';
	END IF;
	IF NOT pg_catalog.isfinite(admin_audit."from") THEN
		RAISE EXCEPTION 'from must be a finite time'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'from';
	END IF;
	IF NOT pg_catalog.isfinite(admin_audit."to") OR admin_audit."to" <= admin_audit."from" THEN
		RAISE EXCEPTION 'to must be a finite time after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	SELECT * INTO v FROM workon.list_bounds(admin_audit."limit", admin_audit.cursor);
	v_after_id := CASE WHEN v.after_ts = 'infinity' THEN 9223372036854775807
					   ELSE workon.audit_cursor_row(v.after_id) END;

	SELECT workon.list_page(pg_catalog.array_agg(workon.audit_json(p.a) ORDER BY p.at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.at, workon.audit_cursor_id(p.id))
												 ORDER BY p.at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT a, a.at, a.id
			  FROM workon.audit_log AS a
			 WHERE (admin_audit.actor IS NULL OR a.actor_id = admin_audit.actor)
			   AND (admin_audit.entity IS NULL OR a.entity = admin_audit.entity)
			   AND (admin_audit.entity_id IS NULL OR a.entity_id = admin_audit.entity_id)
			   AND (admin_audit.action IS NULL OR a.action = admin_audit.action)
			   AND (admin_audit."from" IS NULL OR a.at >= admin_audit."from")
			   AND (admin_audit."to" IS NULL OR a.at < admin_audit."to")
			   AND (a.at, a.id) < (v.after_ts, v_after_id)
			 ORDER BY a.at DESC, a.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_audit(uuid, text, text, text, timestamptz, timestamptz, integer, text) IS
'GET /api/v1/admin/audit?actor=&entity=&entity_id=&action=&from=&to= (admins): the audit log, newest first, as {"data": [...], "next_cursor": ...} of workon.audit_json rows; actor a user id, entity a table name (users, spaces, bookings, payments, refunds, ...), action insert, update, delete (or seed, revoke: rows the functions that seed keys and revoke sessions write), [from, to) a time window; limit 1..100 (default 20)';

--
-- GET /api/v1/admin/users, GET /api/v1/admin/users/{id}
--
CREATE INDEX users_created_at_id_idx ON workon.users (created_at DESC, id DESC);

CREATE FUNCTION workon.admin_user_json(u workon.users)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_trusted(pg_catalog.rtrim(workon.user_json(u.id)::text, '}')
							   || ',"disabled":' || u.disabled::text || '}')
$$;

COMMENT ON FUNCTION workon.admin_user_json(workon.users) IS
'A user as admins see it: workon.user_json with disabled';

CREATE FUNCTION workon.admin_users_list(q text DEFAULT NULL, role text DEFAULT NULL,
										"limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_q			text := NULLIF(pg_catalog.btrim(admin_users_list.q), '');
	v_pattern	text;
	v			record;
	v_page		json;
BEGIN
	PERFORM workon.require_admin();
	IF admin_users_list.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF pg_catalog.length(v_q) > 200 THEN
		RAISE EXCEPTION 'q must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'q';
	END IF;
	-- a substring, case-insensitive; LIKE's own characters match themselves
	v_pattern := '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
					 pg_catalog.lower(v_q), '\', '\\'), '%', '\%'), '_', '\_') || '%';
	SELECT * INTO v FROM workon.list_bounds(admin_users_list."limit", admin_users_list.cursor);

	SELECT workon.list_page(pg_catalog.array_agg(workon.admin_user_json(p.u) ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT u, u.created_at, u.id
			  FROM workon.users AS u
			 WHERE (v_q IS NULL OR pg_catalog.lower(u.email) LIKE v_pattern
					OR pg_catalog.lower(u.name) LIKE v_pattern)
			   AND (admin_users_list.role IS NULL OR u.role = admin_users_list.role)
			   AND (u.created_at, u.id) < (v.after_ts, v.after_id)
			 ORDER BY u.created_at DESC, u.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_users_list(text, text, integer, text) IS
'GET /api/v1/admin/users?q=&role= (admins): users, newest first, as {"data": [...], "next_cursor": ...}, each with disabled; q a case-insensitive part of the e-mail address or the name, role member, host or admin; limit 1..100 (default 20)';

CREATE FUNCTION workon.admin_user_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		workon.users;
BEGIN
	PERFORM workon.require_admin();
	SELECT * INTO v_user FROM workon.users AS u WHERE u.id = admin_user_get.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	RETURN workon.json_trusted(pg_catalog.rtrim(workon.admin_user_json(v_user)::text, '}')
		|| ',"bookings":' || (
			SELECT workon.jsonb_compact(workon.booking_counts(pg_catalog.array_agg(workon.booking_status(b))))
			  FROM workon.bookings AS b
			 WHERE b.user_id = v_user.id)
		|| ',"spending":' || (
			SELECT COALESCE(pg_catalog.json_agg(workon.json_build(
						'currency', t.currency, 'paid_cents', t.paid, 'refunded_cents', t.refunded,
						'net_cents', t.paid - t.refunded) ORDER BY t.currency), '[]')::text
			  FROM (SELECT d.currency, pg_catalog.sum(d.paid) AS paid, pg_catalog.sum(d.refunded) AS refunded
					  FROM (SELECT COALESCE(p.received_currency, p.currency) AS currency,
								   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded
							  FROM workon.payments AS p
							 WHERE p.user_id = v_user.id AND p.status = 'succeeded'
							UNION ALL
							SELECT r.currency, 0, r.amount_cents
							  FROM workon.refunds AS r
							  JOIN workon.payments AS p ON p.id = r.payment_id
							 WHERE p.user_id = v_user.id AND r.status = 'succeeded') AS d
					 GROUP BY d.currency) AS t)
		|| ',"spaces":' || (SELECT pg_catalog.count(*) FROM workon.spaces AS s WHERE s.host_id = v_user.id)::text
		|| '}');
END
$$;

COMMENT ON FUNCTION workon.admin_user_get(uuid) IS
'GET /api/v1/admin/users/{id} (admins): the user with disabled, "bookings": {"total", "by_status": {status: count}} (theirs as a member), "spending": [{"currency", "paid_cents", "refunded_cents", "net_cents"}] (payments that succeeded, refunds that succeeded) and "spaces" (how many they host); P0002 for an unknown id';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/admin/audit',
	 'workon.admin_audit(uuid,text,text,text,timestamptz,timestamptz,integer,text)',
	 'admin', 200, 'none', true, 'The audit log, newest first'),
	('GET', '/api/v1/admin/users', 'workon.admin_users_list(text,text,integer,text)',
	 'admin', 200, 'none', true, 'Users, searched by e-mail or name and role'),
	('GET', '/api/v1/admin/users/{id}', 'workon.admin_user_get(uuid)',
	 'admin', 200, 'none', true, 'One user with their bookings and spending');

GRANT EXECUTE ON FUNCTION
	workon.audit_cursor_id(bigint),
	workon.audit_cursor_row(uuid),
	workon.audit_json(workon.audit_log),
	workon.admin_user_json(workon.users),
	workon.admin_audit(uuid, text, text, text, timestamptz, timestamptz, integer, text),
	workon.admin_users_list(text, text, integer, text),
	workon.admin_user_get(uuid)
	TO workon_admin;

-- the OpenAPI document: a handler with a "format" argument also answers text/csv
-- (sql/src/90_openapi.sql)
CREATE OR REPLACE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
			   'format' = ANY (p.proargnames) AS has_format,
			   obj_description(p.oid, 'pg_proc') AS description,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', workon.openapi_schema(a.typ));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', workon.openapi_schema(a.typ));
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', '{"type": "string"}'::jsonb);
			END IF;
		END LOOP;
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb
												-- ?format=csv: the same as text/csv
												|| CASE WHEN r.has_format THEN '{"text/csv": {"schema": {"type": "string"}}}'::jsonb
														ELSE '{}' END) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for, with Content-Range"},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag"},
					 "416": {"description": "Range Not Satisfiable"}}'::jsonb;
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a weak ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		IF r.status = 200 AND r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN
			-- the handler may return nothing
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object", "description": "field: the offending parameter or field"}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

--
-- 13_browser_sessions: browser sessions: the auth routes for a web page, which must not keep a
-- refresh token where scripts can read it.  The refresh token travels in an
-- HttpOnly, SameSite=Strict cookie scoped to /api/v1/auth/session (Secure
-- unless the client is on a loopback address, so that development over
-- http://localhost works); the body carries the access token only, which the
-- page keeps in memory.  The tokens, their families and their rules are those
-- of 12_sessions: these routes only move the refresh token into the cookie.
--
CREATE FUNCTION workon.session_cookie(token text, meta jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ip		text := session_cookie.meta ->> 'ip';
	v_loopback	boolean := false;
BEGIN
	IF v_ip IS NOT NULL THEN
		BEGIN
			v_loopback := v_ip::inet <<= '127.0.0.0/8'::inet OR v_ip::inet = '::1'::inet
						  OR v_ip::inet <<= '::ffff:127.0.0.0/104'::inet;
		EXCEPTION WHEN invalid_text_representation THEN
			v_loopback := false;
		END;
	END IF;
	RETURN 'workon_refresh=' || COALESCE(session_cookie.token, '')
		   || '; Path=/api/v1/auth/session; HttpOnly; SameSite=Strict; Max-Age='
		   || CASE WHEN session_cookie.token IS NULL THEN 0 ELSE workon.token_ttl('refresh') END
		   || CASE WHEN v_loopback THEN '' ELSE '; Secure' END;
END
$$;

COMMENT ON FUNCTION workon.session_cookie(text, jsonb) IS
'The Set-Cookie value carrying a refresh token (NULL: one that clears the cookie): workon_refresh, Path=/api/v1/auth/session, HttpOnly, SameSite=Strict, Max-Age of workon.jwt_refresh_ttl, Secure unless meta.ip is a loopback address';

CREATE FUNCTION workon.session_cookie_token(meta jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.substr(pg_catalog.btrim(c), 16)
	  FROM pg_catalog.regexp_split_to_table(COALESCE(session_cookie_token.meta #>> '{headers,cookie}', ''), ';') AS c
	 WHERE pg_catalog.btrim(c) LIKE 'workon\_refresh=%'
	 LIMIT 1;
$$;

COMMENT ON FUNCTION workon.session_cookie_token(jsonb) IS
'The refresh token of the request''s workon_refresh cookie (meta.headers.cookie), or NULL';

-- a token answer for the browser: the refresh token into the cookie, out of the body
CREATE FUNCTION workon.session_browser(answer json, meta jsonb)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF session_browser.answer -> 'error' IS NOT NULL THEN
		-- token_reused: the family is revoked; the cookie goes too
		PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object(
			'Set-Cookie', workon.session_cookie(NULL, session_browser.meta)));
		RETURN session_browser.answer;
	END IF;
	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object(
		'Set-Cookie', workon.session_cookie(session_browser.answer ->> 'refresh_token', session_browser.meta)));
	-- row_to_json: compact, like every answer
	RETURN (SELECT pg_catalog.row_to_json(t)
			  FROM (SELECT session_browser.answer -> 'user' AS "user",
						   session_browser.answer ->> 'access_token' AS access_token,
						   session_browser.answer ->> 'token_type' AS token_type,
						   (session_browser.answer ->> 'expires_in')::integer AS expires_in) AS t);
END
$$;

COMMENT ON FUNCTION workon.session_browser(json, jsonb) IS
'A token answer of 12_sessions made a browser''s: its refresh token set as the workon_refresh cookie and left out of the body (an error answer clears the cookie)';

CREATE FUNCTION workon.auth_session_register(email text DEFAULT NULL, password text DEFAULT NULL,
											 name text DEFAULT NULL, role text DEFAULT NULL,
											 meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.session_browser(workon.auth_register(email, password, name, role), meta);
$$;

COMMENT ON FUNCTION workon.auth_session_register(text, text, text, text, jsonb) IS
'POST /api/v1/auth/session/register: workon.auth_register for a browser: {user, access_token, token_type, expires_in} and the refresh token as the workon_refresh cookie';

CREATE FUNCTION workon.auth_session_login(email text DEFAULT NULL, password text DEFAULT NULL,
										  meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.session_browser(workon.auth_login(email, password), meta);
$$;

COMMENT ON FUNCTION workon.auth_session_login(text, text, jsonb) IS
'POST /api/v1/auth/session/login: workon.auth_login for a browser: {user, access_token, token_type, expires_in} and the refresh token as the workon_refresh cookie';

CREATE FUNCTION workon.auth_session_refresh(meta jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		text := workon.session_cookie_token(auth_session_refresh.meta);
BEGIN
	IF v_token IS NULL OR v_token = '' THEN
		RAISE EXCEPTION 'no session cookie'
			USING ERRCODE = 'WOA03';
	END IF;
	RETURN workon.session_browser(workon.auth_refresh(v_token), auth_session_refresh.meta);
END
$$;

COMMENT ON FUNCTION workon.auth_session_refresh(jsonb) IS
'POST /api/v1/auth/session/refresh: workon.auth_refresh with the workon_refresh cookie''s token (the same rotation, reuse and grace rules): a new access token in the body and the new refresh token as the cookie; no cookie, or an unknown, revoked or expired token: WOA03 invalid_refresh_token';

CREATE FUNCTION workon.auth_session_logout(meta jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_token		workon.refresh_tokens;
BEGIN
	SELECT * INTO v_token
	  FROM workon.refresh_tokens AS t
	 WHERE t.token_hash = workon.refresh_token_hash(workon.session_cookie_token(auth_session_logout.meta))
	   AND t.revoked_at IS NULL
	   FOR UPDATE;
	IF FOUND THEN
		PERFORM workon.refresh_family_revoke(v_token, 'logout');
	END IF;
	PERFORM workon.set_response(204, pg_catalog.jsonb_build_object(
		'Set-Cookie', workon.session_cookie(NULL, auth_session_logout.meta)));
END
$$;

COMMENT ON FUNCTION workon.auth_session_logout(jsonb) IS
'POST /api/v1/auth/session/logout: revokes the family of the workon_refresh cookie''s token when it is live and clears the cookie; 204 whether or not there was a session';

INSERT INTO workon.routes (method, path, handler, auth, status, body, rate_limit, summary) VALUES
	('POST', '/api/v1/auth/session/register', 'workon.auth_session_register(text,text,text,text,jsonb)',
	 'none', 201, 'json', 'auth', 'Register (browser): the refresh token as an HttpOnly cookie'),
	('POST', '/api/v1/auth/session/login', 'workon.auth_session_login(text,text,jsonb)',
	 'none', 200, 'json', 'auth', 'Log in (browser): the refresh token as an HttpOnly cookie'),
	('POST', '/api/v1/auth/session/refresh', 'workon.auth_session_refresh(jsonb)',
	 'none', 200, 'json', 'default', 'A new access token for the refresh cookie (browser)'),
	('POST', '/api/v1/auth/session/logout', 'workon.auth_session_logout(jsonb)',
	 'none', 204, 'json', 'default', 'End the browser session and clear its cookie');

GRANT EXECUTE ON FUNCTION
	workon.auth_session_register(text, text, text, text, jsonb),
	workon.auth_session_login(text, text, jsonb),
	workon.auth_session_refresh(jsonb),
	workon.auth_session_logout(jsonb)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- 33_outbox_admin: the outbox as admins see it over HTTP: outbound calls by state (the dead
-- ones above all: a provider refused them, or could not be reached after
-- every retry) and a retry of a dead one.  A row's params are left out: a
-- mail's holds its rendered text with one-time links, a Stripe call's the
-- request sent.
--
CREATE FUNCTION workon.outbox_row_json(o workon.outbox)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build(
		'id', o.id,
		'kind', o.kind,
		'purpose', o.purpose,
		'method', o.method,
		'path', o.path,
		'status', o.status,
		'attempts', o.attempts,
		'next_attempt_at', o.next_attempt_at,
		'last_error', o.last_error,
		'response_status', o.response_status,
		'booking_id', o.booking_id,
		'payment_id', o.payment_id,
		'refund_id', o.refund_id,
		'created_at', o.created_at,
		'updated_at', o.updated_at)
$$;

COMMENT ON FUNCTION workon.outbox_row_json(workon.outbox) IS
'An outbound call as admins see it: {id, kind, purpose, method, path, status, attempts, next_attempt_at, last_error, response_status, booking_id, payment_id, refund_id, created_at, updated_at}, without its params';

CREATE FUNCTION workon.admin_outbox_list(status text DEFAULT NULL, kind text DEFAULT NULL,
										 "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit		integer := COALESCE(admin_outbox_list."limit", 20);
	v_page		json[];
BEGIN
	-- the first bad parameter, by name
	IF v_limit NOT BETWEEN 1 AND 100 OR NULLIF(admin_outbox_list.status, '') NOT IN ('pending', 'done', 'failed', 'dead')
	   OR NULLIF(admin_outbox_list.kind, '') NOT IN ('stripe', 'email', 's3')
	   OR NULLIF(admin_outbox_list.cursor, '') !~ '^[0-9]{1,18}$' THEN
		RAISE EXCEPTION '%', CASE
			WHEN v_limit NOT BETWEEN 1 AND 100 THEN 'limit must be between 1 and 100'
			WHEN NULLIF(admin_outbox_list.status, '') NOT IN ('pending', 'done', 'failed', 'dead')
				THEN 'status must be one of pending, done, failed, dead'
			WHEN NULLIF(admin_outbox_list.kind, '') NOT IN ('stripe', 'email', 's3') THEN 'kind must be one of stripe, email, s3'
			ELSE 'invalid cursor' END
			USING ERRCODE = 'invalid_parameter_value', COLUMN = CASE
				WHEN v_limit NOT BETWEEN 1 AND 100 THEN 'limit'
				WHEN NULLIF(admin_outbox_list.status, '') NOT IN ('pending', 'done', 'failed', 'dead') THEN 'status'
				WHEN NULLIF(admin_outbox_list.kind, '') NOT IN ('stripe', 'email', 's3') THEN 'kind'
				ELSE 'cursor' END;
	END IF;

	-- one row more than the page says whether there is a next one (the cursor: the last id shown)
	v_page := ARRAY(SELECT workon.outbox_row_json(o)
					  FROM workon.outbox AS o
					 WHERE o.id < COALESCE(NULLIF(admin_outbox_list.cursor, '')::bigint, 9223372036854775807)
					   AND o.status = COALESCE(NULLIF(admin_outbox_list.status, ''), o.status)
					   AND o.kind = COALESCE(NULLIF(admin_outbox_list.kind, ''), o.kind)
					 ORDER BY o.id DESC
					 LIMIT v_limit + 1);
	RETURN workon.json_build(
		'data', pg_catalog.to_json(v_page[1:v_limit]),
		'next_cursor', CASE WHEN pg_catalog.cardinality(v_page) > v_limit THEN v_page[v_limit] ->> 'id' END);
END
$$;

COMMENT ON FUNCTION workon.admin_outbox_list(text, text, integer, text) IS
'GET /api/v1/admin/outbox?status=&kind= (admins): outbound calls, newest first, as {"data": [...], "next_cursor": ...} of workon.outbox_row_json (no params); status pending, done, failed or dead, kind stripe, email or s3; limit 1..100 (default 20)';

CREATE FUNCTION workon.admin_outbox_retry(id bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		PERFORM workon.outbox_retry(admin_outbox_retry.id);
	EXCEPTION WHEN object_not_in_prerequisite_state THEN
		RAISE EXCEPTION 'this call was replaced by a newer one of the same payment'
			USING ERRCODE = 'WOQ01';
	END;
	RETURN (SELECT workon.outbox_row_json(o) FROM workon.outbox AS o WHERE o.id = admin_outbox_retry.id);
END
$$;

COMMENT ON FUNCTION workon.admin_outbox_retry(bigint) IS
'POST /api/v1/admin/outbox/{id}/retry (admins; audited): a dead outbound call is pending again, due now, with fresh attempts and the same idempotency key (workon.outbox_retry); answers the call. P0002 not_found unless it is dead, WOQ01 outbox_call_replaced (409) when a newer call of the same payment and purpose replaced it';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/admin/outbox', 'workon.admin_outbox_list(text,text,integer,text)',
	 'admin', 200, 'none', true, 'List outbound calls (Stripe, e-mail, the file store) by state'),
	('POST', '/api/v1/admin/outbox/{id}/retry', 'workon.admin_outbox_retry(bigint)',
	 'admin', 200, 'none', false, 'Send a dead outbound call again');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOQ01', 409, 'outbox_call_replaced');

GRANT EXECUTE ON FUNCTION
	workon.admin_outbox_list(text, text, integer, text),
	workon.admin_outbox_retry(bigint)
	TO workon_admin;

--
-- The space of a payment and of a refund, beside their booking: the key that
-- would distribute them with their booking and its space on a sharded
-- PostgreSQL (docs/scale-out.md), so that a booking, its payment and its
-- refunds stay on one node and no foreign key crosses nodes. Filled from the
-- booking by a trigger, whoever writes.
--
ALTER TABLE workon.payments ADD COLUMN space_id uuid;
ALTER TABLE workon.refunds ADD COLUMN space_id uuid;

CREATE FUNCTION workon.booking_space_fill()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT b.space_id INTO NEW.space_id FROM workon.bookings AS b WHERE b.id = NEW.booking_id;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.booking_space_fill() IS
'Trigger: a payment''s or refund''s space_id is its booking''s (restored rows keep theirs)';

CREATE TRIGGER payments_space
	BEFORE INSERT OR UPDATE OF booking_id, space_id ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments')) EXECUTE FUNCTION workon.booking_space_fill();

CREATE TRIGGER refunds_space
	BEFORE INSERT OR UPDATE OF booking_id, space_id ON workon.refunds
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refunds')) EXECUTE FUNCTION workon.booking_space_fill();

-- the rows there are (no audit row, no updated_at: nothing changed for their readers)
ALTER TABLE workon.payments DISABLE TRIGGER USER;
ALTER TABLE workon.refunds DISABLE TRIGGER USER;
UPDATE workon.payments AS p SET space_id = b.space_id FROM workon.bookings AS b WHERE b.id = p.booking_id;
UPDATE workon.refunds AS r SET space_id = b.space_id FROM workon.bookings AS b WHERE b.id = r.booking_id;
ALTER TABLE workon.payments ENABLE TRIGGER USER;
ALTER TABLE workon.refunds ENABLE TRIGGER USER;

ALTER TABLE workon.payments ALTER COLUMN space_id SET NOT NULL;
ALTER TABLE workon.refunds ALTER COLUMN space_id SET NOT NULL;

COMMENT ON COLUMN workon.payments.space_id IS 'the space of the booking (the key that would distribute the payment with it)';
COMMENT ON COLUMN workon.refunds.space_id IS 'the space of the booking (the key that would distribute the refund with it)';

GRANT SELECT (space_id) ON workon.payments TO workon_member, workon_host, workon_admin;

-- routes: the lane a route's statement runs in (the front end's slow lane)
ALTER TABLE workon.routes ADD COLUMN lane text NOT NULL DEFAULT 'fast'
	CONSTRAINT routes_lane_check CHECK (lane IN ('fast', 'slow'));

COMMENT ON COLUMN workon.routes.lane IS
'For the front end: fast (the default) runs on the pipelined connections; slow (slow by design: password hashing, exports) on connections of its own with their own concurrency cap, so it never holds up the fast statements';

UPDATE workon.routes SET lane = 'slow'
 WHERE (method, path) IN (('POST', '/api/v1/auth/register'), ('POST', '/api/v1/auth/login'),
						  ('POST', '/api/v1/auth/password/reset'), ('POST', '/api/v1/me/password'));

-- the OpenAPI document: X-Workon-LSN (read replicas) on writes' answers and reads' parameters
CREATE OR REPLACE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit, rt.read_only,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
			   obj_description(p.oid, 'pg_proc') AS description,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', workon.openapi_schema(a.typ));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', workon.openapi_schema(a.typ));
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', '{"type": "string"}'::jsonb);
			END IF;
		END LOOP;
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for, with Content-Range"},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag"},
					 "416": {"description": "Range Not Satisfiable"}}'::jsonb;
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a weak ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		IF r.status = 200 AND r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN
			-- the handler may return nothing
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		-- read replicas (the front end's DATABASE_REPLICA_URLS): an answer from the primary
		-- carries the position of its commit, a read_only route takes it back
		IF r.read_only THEN
			op := jsonb_set(op, '{parameters}', coalesce(op -> 'parameters', '[]') || '[
				{"name": "X-Workon-LSN", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "the X-Workon-LSN of this client''s last write: no read replica that has not replayed it answers"},
				{"name": "workon_lsn", "in": "cookie", "required": false, "schema": {"type": "string"},
				 "description": "the same, when there is no X-Workon-LSN header"}]'::jsonb);
		ELSIF responses ? r.status::text THEN
			responses := jsonb_set(responses, ARRAY[r.status::text, 'headers'], '{
				"X-Workon-LSN": {"$ref": "#/components/headers/X-Workon-LSN"},
				"Set-Cookie": {"description": "with read replicas: workon_lsn=<X-Workon-LSN>; Path=/; Max-Age=<seconds>; HttpOnly; SameSite=Lax", "schema": {"type": "string"}}}');
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object", "description": "field: the offending parameter or field"}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"X-Workon-LSN": {"description": "with read replicas: the WAL position of this request''s commit on the primary (0/3A2F1B8); sent back on reads, no replica that has not replayed it answers", "schema": {"type": "string"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

-- e-mail addresses: invisible, control and bidirectional characters are refused
CREATE OR REPLACE FUNCTION workon.check_email(email text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	v_email		text := pg_catalog.btrim(check_email.email);
BEGIN
	IF v_email IS NULL OR v_email = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	-- characters that show as nothing or as a blank, or turn the text around: control
	-- (Cc), format (Cf: zero widths, joiners, bidirectional controls, BOM, tags),
	-- separators and other spaces, fillers and variation selectors; an address with
	-- one would look like another account's
	IF v_email ~ ('[\u0001-\u001F\u007F-\u00A0\u00AD\u034F\u0600-\u0605\u061C\u06DD\u070F\u08E2'
				  '\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F'
				  '\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB'
				  '\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3'
				  '\U0001D173-\U0001D17A\U000E0000-\U000E0FFF]') THEN
		RAISE EXCEPTION 'email must not contain invisible, control or bidirectional characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF pg_catalog.length(v_email) > 254
	   OR v_email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:].]+(\.[^@[:space:][:cntrl:].]+)+$' THEN
		RAISE EXCEPTION 'email is not a valid address'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	RETURN v_email;
END
$$;

COMMENT ON FUNCTION workon.check_email(text) IS
'The email address without surrounding blanks if it looks like one (local@domain.tld, at most 254 characters, no invisible, control or bidirectional characters); error 22023 with field "email" otherwise';

--
-- Every invalid field of a request at once (05_api.sql; register_check in
-- 12_sessions.sql)
--
CREATE FUNCTION workon.raise_invalid(fields text[], messages text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF pg_catalog.cardinality(raise_invalid.fields) > 0 THEN
		RAISE EXCEPTION '%', raise_invalid.messages[1]
			USING ERRCODE = 'invalid_parameter_value', COLUMN = raise_invalid.fields[1],
				  DETAIL = '{"fields":['
						   || (SELECT pg_catalog.string_agg(workon.json_build('field', x.f, 'message', x.m)::text, ','
															ORDER BY x.n)
								 FROM ROWS FROM (pg_catalog.unnest(raise_invalid.fields),
												pg_catalog.unnest(raise_invalid.messages))
									  WITH ORDINALITY AS x (f, m, n))
						   || ']}';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.raise_invalid(text[], text[]) IS
'Raises 22023 for the invalid fields of a request, if any: the first field and its message are the error''s COLUMN and message, and its DETAIL is {"fields":[{"field","message"},...]} with all of them in order, which the front end answers as details.field and details.fields';

GRANT EXECUTE ON FUNCTION workon.raise_invalid(text[], text[])
	TO workon_anon, workon_member, workon_host, workon_admin;

CREATE FUNCTION workon.register_check(email text, password text, name text, role text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_fields	text[] := '{}';
	v_messages	text[] := '{}';
	v_message	text;
BEGIN
	BEGIN
		PERFORM workon.check_email(register_check.email);
	EXCEPTION WHEN invalid_parameter_value THEN
		GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
		v_fields := v_fields || 'email'::text; v_messages := v_messages || v_message;
	END;
	IF register_check.password IS NULL THEN
		v_fields := v_fields || 'password'::text; v_messages := v_messages || 'password is required'::text;
	ELSE
		BEGIN
			PERFORM workon.password_check(register_check.password, pg_catalog.btrim(register_check.email));
		EXCEPTION WHEN invalid_parameter_value THEN
			GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
			v_fields := v_fields || 'password'::text; v_messages := v_messages || v_message;
		END;
	END IF;
	IF register_check.name IS NULL OR pg_catalog.btrim(register_check.name) = '' THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name is required'::text;
	ELSIF pg_catalog.length(pg_catalog.btrim(register_check.name)) > 200 THEN
		v_fields := v_fields || 'name'::text; v_messages := v_messages || 'name must be at most 200 characters'::text;
	END IF;
	IF register_check.role IS NOT NULL AND register_check.role NOT IN ('member', 'host') THEN
		v_fields := v_fields || 'role'::text; v_messages := v_messages || 'role must be member or host'::text;
	END IF;
	PERFORM workon.raise_invalid(v_fields, v_messages);
END
$$;

COMMENT ON FUNCTION workon.register_check(text, text, text, text) IS
'The checks of a registration, all of them: 22023 naming the first invalid field of email, password, name and role, every invalid one in its detail (workon.raise_invalid); nothing when all are valid';

--
-- Spaces: a description and a language; their words searched in it
-- (20_spaces.sql)
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

ALTER TABLE workon.spaces
	ADD COLUMN description text NOT NULL DEFAULT ''
		CONSTRAINT spaces_description_check
		CHECK (pg_catalog.length(description) <= 5000),
	ADD COLUMN language text
		CONSTRAINT spaces_language_check
		CHECK (language IN ('da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
							'pt', 'ro', 'ru', 'sv', 'tr'));

CREATE OR REPLACE FUNCTION workon.space_check()
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

CREATE OR REPLACE FUNCTION workon.space_json(s workon.spaces)
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

CREATE OR REPLACE FUNCTION workon.space_create(body jsonb DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
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


ALTER TABLE workon.spaces
	ADD COLUMN search tsvector GENERATED ALWAYS AS
		(workon.space_search_vector(COALESCE(language, workon.space_language(timezone)),
										   name, city, description)) STORED;
-- not fastupdate: spaces are written seldom and searched often, and a pending
-- list of new entries would be read by every search until a vacuum
CREATE INDEX spaces_search_idx ON workon.spaces USING gin (search) WITH (fastupdate = off) WHERE published;

COMMENT ON COLUMN workon.spaces.language IS
'The language the space is written in (an ISO 639-1 code of workon.text_search_config), its words searched in it; set to workon.space_language(timezone) when a write leaves it out (NULL, only in rows a restore loaded without it, means that too)';

COMMENT ON COLUMN workon.spaces.search IS
'The words of name, city and description in the space''s language, for GET /api/v1/spaces?q= (workon.space_search_vector)';

GRANT INSERT (description, language), UPDATE (description, language)
	ON workon.spaces TO workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.space_language(text),
	workon.text_search_config(text),
	workon.space_search_vector(text, text, text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- Listings: search and sort of spaces, a host's spaces and bookings,
-- filtered bookings (22_listings.sql)
--
--
-- Cursors of lists in another order than (created_at, id) (extension/cursor.c)
--
CREATE FUNCTION workon.cursor_encode_key(kind "char", key bigint, id uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'cursor_encode_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.cursor_encode_key("char", bigint, uuid) IS
'Opaque list cursor naming the row (key, id) a page ended with, in a list ordered by (key DESC, id DESC); kind names the order, so that a cursor of one order is refused by another';

CREATE FUNCTION workon.cursor_decode_key(kind "char", cursor text, OUT key bigint, OUT id uuid)
RETURNS record
AS 'MODULE_PATHNAME', 'cursor_decode_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.cursor_decode_key("char", text) IS
'Position (key, id) named by a cursor of workon.cursor_encode_key of the same kind; error 22023 "invalid cursor" (field "cursor") otherwise';

--
-- GET /api/v1/spaces: filters, words, orders
--
CREATE FUNCTION workon.spaces_search(
	q text DEFAULT NULL,
	sort text DEFAULT NULL,
	city text DEFAULT NULL,
	kind text DEFAULT NULL,
	min_capacity integer DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
#variable_conflict use_column
DECLARE
	v_q			text := NULLIF(pg_catalog.btrim(spaces_search.q), '');
	v_sort		text := COALESCE(NULLIF(spaces_search.sort, ''),
								 CASE WHEN NULLIF(pg_catalog.btrim(spaces_search.q), '') IS NULL
									  THEN 'newest' ELSE 'relevance' END);
	v_city		text := pg_catalog.lower(NULLIF(spaces_search.city, ''));
	v_kind		text := NULLIF(spaces_search.kind, '');
	v_min		integer := COALESCE(spaces_search.min_capacity, 1);
	v_limit		integer := COALESCE(spaces_search."limit", 20);
	v_order		"char";
	v_langs		text[] := ARRAY['da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
								'pt', 'ro', 'ru', 'sv', 'tr'];
	v_queries	tsquery[];
	v_any		tsquery;
	v_after_key	bigint := 9223372036854775807;
	v_after_id	uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	v_docs		text[];
	v_keys		bigint[];
	v_ids		uuid[];
BEGIN
	IF v_sort NOT IN ('newest', 'price', 'capacity', 'relevance') THEN
		RAISE EXCEPTION 'sort must be one of newest, price, capacity, relevance'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'sort';
	END IF;
	IF v_sort = 'relevance' AND v_q IS NULL THEN
		RAISE EXCEPTION 'sort=relevance needs q'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'sort';
	END IF;
	IF pg_catalog.length(v_q) > 200 THEN
		RAISE EXCEPTION 'q must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'q';
	END IF;
	-- newest first without words: the hand-tuned list of every release
	IF v_q IS NULL AND v_sort = 'newest' THEN
		RETURN workon.spaces_list(spaces_search.city, spaces_search.kind, spaces_search.min_capacity,
								  spaces_search."limit", spaces_search.cursor);
	END IF;

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
	v_order := pg_catalog.substr(v_sort, 1, 1)::"char";
	IF spaces_search.cursor <> '' THEN
		SELECT c.key, c.id INTO v_after_key, v_after_id
		  FROM workon.cursor_decode_key(v_order, spaces_search.cursor) AS c;
	END IF;

	IF v_q IS NOT NULL THEN
		-- the words as each language reads them; a space matches the query
		-- of its own language, and the index finds the candidates of any
		v_queries := ARRAY(SELECT pg_catalog.websearch_to_tsquery(workon.text_search_config(l), v_q)
							 FROM pg_catalog.unnest(v_langs) WITH ORDINALITY AS x (l, n)
							ORDER BY x.n);
		SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('(%s)', x::text), ' | ')::tsquery
		  INTO v_any
		  FROM pg_catalog.unnest(v_queries) AS x
		 WHERE pg_catalog.numnode(x) > 0;
		IF v_any IS NULL THEN
			-- only stop words: nothing to look for
			RETURN workon.json_build('data', workon.json_trusted('[]'), 'next_cursor', NULL::text);
		END IF;
	END IF;

	/*
	 * Every order is (key DESC, id DESC) with an integer key: relevance
	 * (ts_rank scaled to an integer, so that pages agree), the hourly rate
	 * negated (cheapest first), the capacity (largest first), or the
	 * creation time in microseconds.  The inner query ranks ids; only the
	 * page's rows have their documents read.  Two spellings, with words and
	 * without, so that each keeps a plan of its own (with words: the index
	 * of the words).
	 */
	IF v_q IS NOT NULL THEN
		SELECT pg_catalog.array_agg(s.doc::text ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.k ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.id ORDER BY o.k DESC, o.id DESC)
		  INTO v_docs, v_keys, v_ids
		  FROM (SELECT p.id, p.k
				  FROM (SELECT s.id,
							   CASE v_sort
								   WHEN 'relevance' THEN (pg_catalog.ts_rank(s.search, p.query) * 1000000000)::bigint
								   WHEN 'price' THEN -s.hourly_rate_cents
								   WHEN 'capacity' THEN s.capacity::bigint
								   ELSE (pg_catalog.date_part('epoch', s.created_at) * 1000000)::bigint
							   END AS k
						  FROM workon.spaces AS s
						 CROSS JOIN LATERAL (SELECT v_queries[pg_catalog.array_position(v_langs,
									 COALESCE(s.language, workon.space_language(s.timezone)))] AS query) AS p
						 WHERE s.published
						   AND s.search @@ v_any
						   AND s.search @@ p.query
						   AND (v_city IS NULL OR s.city_key = v_city)
						   AND (v_kind IS NULL OR s.kind = v_kind)
						   AND s.capacity >= v_min) AS p
				 WHERE (p.k, p.id) < (v_after_key, v_after_id)
				 ORDER BY p.k DESC, p.id DESC
				 LIMIT v_limit + 1) AS o
		  JOIN workon.spaces AS s ON s.id = o.id;
	ELSE
		SELECT pg_catalog.array_agg(s.doc::text ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.k ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.id ORDER BY o.k DESC, o.id DESC)
		  INTO v_docs, v_keys, v_ids
		  FROM (SELECT p.id, p.k
				  FROM (SELECT s.id,
							   CASE v_sort WHEN 'price' THEN -s.hourly_rate_cents ELSE s.capacity::bigint END AS k
						  FROM workon.spaces AS s
						 WHERE s.published
						   AND (v_city IS NULL OR s.city_key = v_city)
						   AND (v_kind IS NULL OR s.kind = v_kind)
						   AND s.capacity >= v_min) AS p
				 WHERE (p.k, p.id) < (v_after_key, v_after_id)
				 ORDER BY p.k DESC, p.id DESC
				 LIMIT v_limit + 1) AS o
		  JOIN workon.spaces AS s ON s.id = o.id;
	END IF;

	RETURN workon.json_build(
		'data', workon.json_trusted(
			'[' || COALESCE(pg_catalog.array_to_string(v_docs[1:v_limit], ','), '') || ']'),
		'next_cursor', CASE WHEN pg_catalog.cardinality(v_docs) > v_limit THEN
						   workon.cursor_encode_key(v_order, v_keys[v_limit], v_ids[v_limit])
					   END);
END
$$;

COMMENT ON FUNCTION workon.spaces_search(text, text, text, text, integer, integer, text) IS
'GET /api/v1/spaces: published spaces as {"data": [...], "next_cursor": ...}; q searches the words of name, city and description (PostgreSQL full-text search, each space in its language, websearch syntax: "quoted phrases", -excluded, or), ranked by relevance; sort newest (the default without q), price (hourly rate, cheapest first), capacity (largest first) or relevance (the default with q); filters city (case-insensitive), kind, min_capacity; limit 1..100 (default 20)';

UPDATE workon.routes
   SET handler = 'workon.spaces_search(text,text,text,text,integer,integer,text)',
	   summary = 'List and search published spaces'
 WHERE method = 'GET' AND path = '/api/v1/spaces';

--
-- A host's own spaces, in any state
--
CREATE FUNCTION workon.host_spaces_list("limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(host_spaces_list."limit", host_spaces_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(p.doc ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT s.doc, s.created_at, s.id
			  FROM workon.spaces AS s
			 WHERE s.host_id = v_user
			   AND (s.created_at, s.id) < (v.after_ts, v.after_id)
			 ORDER BY s.created_at DESC, s.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.host_spaces_list(integer, text) IS
'GET /api/v1/host/spaces: the caller''s own spaces in any state (unpublished and archived ones too), newest first, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20)';

--
-- Bookings, filtered: mine, and those on my spaces
--
CREATE FUNCTION workon.booking_filters_check(status text, "from" timestamptz, "to" timestamptz)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF booking_filters_check.status NOT IN ('pending_payment', 'confirmed', 'expired', 'cancelled', 'completed') THEN
		RAISE EXCEPTION 'status must be one of pending_payment, confirmed, expired, cancelled, completed'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'status';
	END IF;
	IF booking_filters_check."to" <= booking_filters_check."from" THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
END
$$;

COMMENT ON FUNCTION workon.booking_filters_check(text, timestamptz, timestamptz) IS
'Checks the filters of a list of bookings: status one of the statuses, to after from; 22023 naming the field otherwise';

CREATE FUNCTION workon.bookings_filtered(
	hosted boolean,
	space_id uuid,
	status text,
	"from" timestamptz,
	"to" timestamptz,
	"limit" integer,
	cursor text)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_all		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_user		uuid := workon.current_user_id();
	v_status	text := NULLIF(bookings_filtered.status, '');
	v			record;
	v_page		json;
BEGIN
	PERFORM workon.booking_filters_check(v_status, bookings_filtered."from", bookings_filtered."to");
	SELECT * INTO v FROM workon.list_bounds(bookings_filtered."limit", bookings_filtered.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.booking_json(p.b) ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT b, b.created_at, b.id
			  FROM workon.bookings AS b
			 WHERE (v_all
					OR (NOT bookings_filtered.hosted AND b.user_id = v_user)
					OR (bookings_filtered.hosted
						AND EXISTS (SELECT FROM workon.spaces AS s
									 WHERE s.id = b.space_id AND s.host_id = v_user)))
			   AND (bookings_filtered.space_id IS NULL OR b.space_id = bookings_filtered.space_id)
			   AND (v_status IS NULL OR workon.booking_status(b) = v_status)
			   AND (bookings_filtered."from" IS NULL OR b.ends_at > bookings_filtered."from")
			   AND (bookings_filtered."to" IS NULL OR b.starts_at < bookings_filtered."to")
			   AND (b.created_at, b.id) < (v.after_ts, v.after_id)
			 ORDER BY b.created_at DESC, b.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.bookings_filtered(boolean, uuid, text, timestamptz, timestamptz, integer, text) IS
'A page of bookings, newest first, as {"data": [...], "next_cursor": ...}: the caller''s own (hosted false) or those of the caller''s spaces (hosted true); admins: all. Filters space_id, status (the effective one: a hold past its expiry is expired), from and to (bookings that overlap [from, to)); limit 1..100 (default 20)';

CREATE FUNCTION workon.bookings_search(
	space_id uuid DEFAULT NULL,
	status text DEFAULT NULL,
	"from" timestamptz DEFAULT NULL,
	"to" timestamptz DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	RETURN workon.bookings_filtered(false, space_id, status, "from", "to", "limit", cursor);
END
$$;

COMMENT ON FUNCTION workon.bookings_search(uuid, text, timestamptz, timestamptz, integer, text) IS
'GET /api/v1/bookings: the caller''s bookings (admins: all), newest first, as {"data": [...], "next_cursor": ...}; filters space_id, status (the effective one: a hold past its expiry is expired), from and to (bookings that overlap [from, to)); limit 1..100 (default 20)';

UPDATE workon.routes
   SET handler = 'workon.bookings_search(uuid,text,timestamptz,timestamptz,integer,text)'
 WHERE method = 'GET' AND path = '/api/v1/bookings';

CREATE FUNCTION workon.host_bookings_list(
	space_id uuid DEFAULT NULL,
	status text DEFAULT NULL,
	"from" timestamptz DEFAULT NULL,
	"to" timestamptz DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	RETURN workon.bookings_filtered(true, space_id, status, "from", "to", "limit", cursor);
END
$$;

COMMENT ON FUNCTION workon.host_bookings_list(uuid, text, timestamptz, timestamptz, integer, text) IS
'GET /api/v1/host/bookings: the bookings of the caller''s spaces (admins: of all spaces), newest first, as {"data": [...], "next_cursor": ...}; filters space_id, status (the effective one), from and to (bookings that overlap [from, to)); limit 1..100 (default 20)';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/host/spaces', 'workon.host_spaces_list(integer,text)',
	 'host', 200, 'none', true, 'My spaces in any state (unpublished and archived too)'),
	('GET', '/api/v1/host/bookings', 'workon.host_bookings_list(uuid,text,timestamptz,timestamptz,integer,text)',
	 'host', 200, 'none', true, 'The bookings of my spaces (admins: all)');

GRANT EXECUTE ON FUNCTION
	workon.cursor_encode_key("char", bigint, uuid),
	workon.cursor_decode_key("char", text),
	workon.spaces_search(text, text, text, text, integer, integer, text)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.booking_filters_check(text, timestamptz, timestamptz),
	workon.bookings_filtered(boolean, uuid, text, timestamptz, timestamptz, integer, text),
	workon.bookings_search(uuid, text, timestamptz, timestamptz, integer, text)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.host_spaces_list(integer, text),
	workon.host_bookings_list(uuid, text, timestamptz, timestamptz, integer, text)
	TO workon_host, workon_admin;

--
-- A 201 names what it created in Location (12_sessions, 15_uploads,
-- 20_spaces, 21_bookings, 31_outbox, 40_messages)
--
CREATE OR REPLACE FUNCTION workon.auth_register(email text DEFAULT NULL, password text DEFAULT NULL,
									 name text DEFAULT NULL, role text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	IF auth_register.role IS NOT NULL AND auth_register.role NOT IN ('member', 'host') THEN
		RAISE EXCEPTION 'role must be member or host'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF auth_register.password IS NULL THEN
		RAISE EXCEPTION 'password is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
	END IF;

	v_id := workon.create_user(auth_register.email, auth_register.password,
							   auth_register.name, COALESCE(auth_register.role, 'member'));
	PERFORM workon.email_verification_send(u) FROM workon.users AS u WHERE u.id = v_id;
	PERFORM workon.set_response(NULL, '{"Location": "/api/v1/me"}');
	RETURN workon.session_issue(v_id);
EXCEPTION WHEN invalid_parameter_value THEN
	-- something is invalid: every invalid field at once
	PERFORM workon.register_check(auth_register.email, auth_register.password,
								  auth_register.name, auth_register.role);
	RAISE;
END
$$;

COMMENT ON FUNCTION workon.auth_register(text, text, text, text) IS
'POST /api/v1/auth/register: a new member (or host) and its tokens, and a mail to verify the address; 22023 naming the first invalid field of email, password, name and role (all of them in its detail, workon.register_check), WOC01 email_taken';

CREATE OR REPLACE FUNCTION workon.upload_create(filename text DEFAULT NULL, content_type text DEFAULT NULL,
									 size bigint DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_id		uuid;
	v_url		text;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF upload_create.filename IS NULL OR pg_catalog.btrim(upload_create.filename) = '' THEN
		RAISE EXCEPTION 'filename is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'filename';
	END IF;
	IF pg_catalog.length(upload_create.filename) > 255
	   OR upload_create.filename ~ '[[:cntrl:]/\\]' THEN
		RAISE EXCEPTION 'filename must be at most 255 characters, without control characters or path separators'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'filename';
	END IF;
	IF upload_create.content_type IS NULL THEN
		RAISE EXCEPTION 'content_type is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'content_type';
	END IF;
	IF upload_create.content_type NOT IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf') THEN
		RAISE EXCEPTION 'content_type must be one of image/jpeg, image/png, image/webp, application/pdf'
			USING ERRCODE = 'WOU03', COLUMN = 'content_type';
	END IF;
	IF upload_create.size IS NULL OR upload_create.size < 1 THEN
		RAISE EXCEPTION 'size must be a number of bytes, at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'size';
	END IF;
	IF upload_create.size > pg_catalog.current_setting('workon.upload_max_bytes')::bigint THEN
		RAISE EXCEPTION 'size must be at most % bytes', pg_catalog.current_setting('workon.upload_max_bytes')
			USING ERRCODE = 'WOU02', COLUMN = 'size';
	END IF;

	PERFORM workon.uploads_cleanup();

	INSERT INTO workon.uploads (owner_id, filename, content_type, size)
	VALUES (v_user, upload_create.filename, upload_create.content_type, upload_create.size)
	RETURNING id INTO v_id;
	v_url := workon.signed_url('PUT', workon.upload_path(v_id));

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/uploads/' || v_id));
	RETURN workon.json_build(
		'id', v_id,
		'upload_url', v_url,
		'expires_at', pg_catalog.to_timestamp(pg_catalog.substring(v_url, 'expires=([0-9]+)')::bigint));
END
$$;

COMMENT ON FUNCTION workon.upload_create(text, text, bigint) IS
'POST /api/v1/uploads (member): declares a file (filename, content_type one of image/jpeg, image/png, image/webp, application/pdf, size in bytes) and returns {id, upload_url, expires_at}: PUT the bytes to upload_url (signed, valid 15 minutes, once); WOU02 payload_too_large above workon.upload_max_bytes, WOU03 unsupported_media_type for another type. An upload never finished is deleted after a day';

CREATE OR REPLACE FUNCTION workon.upload_put(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL,
								  body bytea DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
BEGIN
	PERFORM workon.signed_url_verify('PUT', workon.upload_path(upload_put.id),
									 upload_put.expires, upload_put.sig);

	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_put.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v.state <> 'pending' THEN
		RAISE EXCEPTION 'upload URL was used already'
			USING ERRCODE = 'WOU04',
				  HINT = 'Declare a new upload to send another file.';
	END IF;
	PERFORM workon.file_check(COALESCE(upload_put.body, ''::bytea), v.content_type);
	-- the URL was signed for the declared size: no more bytes than that
	-- (fewer are stored, and the size recorded is theirs)
	IF pg_catalog.length(upload_put.body) > v.size THEN
		RAISE EXCEPTION 'file is larger than the % bytes declared', v.size
			USING ERRCODE = 'WOU02',
				  HINT = 'Declare a new upload of the file''s size.';
	END IF;

	IF pg_catalog.current_setting('workon.upload_store') = 's3' THEN
		-- checked: the front end writes the bytes to the bucket under a new
		-- random key, then confirms with workon.upload_s3_stored(key)
		UPDATE workon.uploads AS u
		   SET store = 's3', size = pg_catalog.length(upload_put.body),
			   sha256 = pg_catalog.sha256(upload_put.body),
			   s3_key = 'uploads/' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
							pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, 'UTF8')), 'hex')
		 WHERE u.id = v.id
		RETURNING * INTO v;
		PERFORM workon.set_response(202);
		PERFORM workon.set_store_transfer('put', v.s3_key, v.sha256, v.content_type);
		RETURN NULL;
	END IF;

	INSERT INTO workon.upload_data (upload_id, bytes) VALUES (v.id, upload_put.body);
	UPDATE workon.uploads AS u
	   SET state = 'stored', size = pg_catalog.length(upload_put.body),
		   sha256 = pg_catalog.sha256(upload_put.body), stored_at = pg_catalog.now(),
		   store = 'postgres', s3_key = NULL
	 WHERE u.id = v.id
	RETURNING * INTO v;

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/uploads/' || v.id));
	RETURN workon.upload_json(v);
END
$$;

COMMENT ON FUNCTION workon.upload_put(uuid, bigint, text, bytea) IS
'PUT /api/v1/uploads/{id}/content?expires=&sig= (the signed upload_url; no token needed): stores the bytes once and returns the upload with a download_url; WOU01 invalid_url_signature for a URL not signed for this upload and PUT or expired, WOU04 upload_url_used once stored, WOU02 payload_too_large above workon.upload_max_bytes or the size declared (fewer bytes are stored and their size recorded), WOU03 unsupported_media_type when the bytes are not of the declared type or carry markup. With workon.upload_store = s3 the checked upload gets a random bucket key and the answer is the front end''s store transfer (status 202, workon.set_store_transfer put with the key, SHA-256 and content type): it writes the bytes there, then workon.upload_s3_stored(key) answers';

CREATE OR REPLACE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
									  starts_at timestamptz DEFAULT NULL,
									  ends_at timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_now		timestamptz := pg_catalog.now();
	v_space		workon.spaces;
	v_booking	workon.bookings;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF booking_create.space_id IS NULL OR booking_create.starts_at IS NULL OR booking_create.ends_at IS NULL THEN
		-- every missing field at once
		PERFORM workon.raise_invalid(pg_catalog.array_agg(x.f ORDER BY x.n),
									 pg_catalog.array_agg(x.f || ' is required' ORDER BY x.n))
		   FROM ROWS FROM (pg_catalog.unnest(ARRAY['space_id', 'starts_at', 'ends_at']),
						   pg_catalog.unnest(ARRAY[booking_create.space_id IS NULL, booking_create.starts_at IS NULL,
												   booking_create.ends_at IS NULL])) WITH ORDINALITY AS x (f, missing, n)
		  WHERE x.missing;
	END IF;

	-- the visibility rule of workon.spaces (this function bypasses it)
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = booking_create.space_id
	   AND (s.published OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be booked'
			USING ERRCODE = 'WOR01';
	END IF;

	PERFORM workon.booking_check(v_space.timezone, v_space.opening_hours,
								 booking_create.starts_at, booking_create.ends_at, v_now);

	/*
	 * One booking of a space at a time, so that concurrent requests for a
	 * slot queue up instead of deadlocking on the exclusion constraint;
	 * then holds past their expiry give their slot up.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
											 pg_catalog.hashtext(v_space.id::text));
	UPDATE workon.bookings AS b
	   SET status = 'expired'
	 WHERE b.space_id = v_space.id
	   AND b.status = 'pending_payment'
	   AND b.hold_expires_at <= v_now
	   AND pg_catalog.tstzrange(b.starts_at, b.ends_at, '[)')
		   OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(booking_create.starts_at, booking_create.ends_at, '[)');

	BEGIN
		INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status,
									 hold_expires_at, price_cents, currency)
		VALUES (v_space.id, v_user, booking_create.starts_at, booking_create.ends_at,
				'pending_payment',
				v_now + pg_catalog.current_setting('workon.booking_hold_minutes')::interval,
				workon.booking_price(v_space.timezone, v_space.hourly_rate_cents,
									 v_space.daily_rate_cents,
									 booking_create.starts_at, booking_create.ends_at),
				v_space.currency)
		RETURNING * INTO v_booking;
	EXCEPTION WHEN exclusion_violation THEN
		RAISE EXCEPTION 'the space is already booked for part of that time'
			USING ERRCODE = 'WOC02';
	END;

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/bookings/' || v_booking.id));
	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_create(uuid, timestamptz, timestamptz) IS
'POST /api/v1/bookings: a hold (pending_payment until hold_expires_at, workon.booking_hold_minutes from now) of a space the caller can see; the rules of workon.booking_check (22023 naming the rule), the price of workon.booking_price; P0002 for an unknown or unseen space, WOR01 space_archived for an archived one (its host, admins); WOC02 booking_conflict if a confirmed booking or live hold overlaps';

CREATE OR REPLACE FUNCTION workon.outbox_response(p_id bigint, OUT status integer, OUT headers jsonb,
									   OUT body jsonb)
RETURNS record
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_o			workon.outbox;
	v_pay		workon.payments;
	v_refund	workon.refunds;
BEGIN
	SELECT * INTO v_o FROM workon.outbox AS o WHERE o.id = p_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox row % not found', p_id
			USING ERRCODE = 'no_data_found';
	END IF;
	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.id = v_o.payment_id;
	SELECT * INTO v_refund FROM workon.refunds AS r WHERE r.id = v_o.refund_id;

	IF v_o.status = 'done' THEN
		status := CASE WHEN v_o.purpose IN ('payment_intent', 'checkout_session') THEN 201 ELSE 200 END;
		IF status = 201 THEN
			headers := pg_catalog.jsonb_build_object('Location', '/api/v1/payments/' || v_pay.id);
		END IF;
		body := CASE v_o.purpose
				WHEN 'payment_intent' THEN workon.payment_json(v_pay, true)::jsonb
				WHEN 'checkout_session' THEN pg_catalog.jsonb_build_object(
					'checkout_session_id', v_pay.checkout_session_id, 'url', v_pay.checkout_url)
				WHEN 'refund' THEN workon.refund_json(v_refund)::jsonb
				ELSE '{}'::jsonb END;
	ELSIF v_o.status = 'failed' THEN
		status := 502;
		body := pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
			'code', 'payment_provider_error',
			'message', COALESCE(v_o.last_error, 'the payment provider refused the request'),
			'details', '{}'::jsonb));
	ELSE
		status := 503;
		headers := pg_catalog.jsonb_build_object('Retry-After',
			CASE WHEN v_o.status = 'dead' THEN '60'
				 ELSE GREATEST(1, pg_catalog.ceil(EXTRACT(epoch FROM v_o.next_attempt_at - pg_catalog.now())))::bigint::text END);
		body := pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
			'code', 'unavailable',
			'message', 'the payment provider could not be reached; try again later',
			'details', '{}'::jsonb));
	END IF;
END
$$;

COMMENT ON FUNCTION workon.outbox_response(bigint) IS
'The HTTP response for a client waiting on an outbox row: done -> 201 payment (with client_secret) or {checkout_session_id, url}, 200 refund; failed (the provider refused) -> 502 payment_provider_error; pending again or dead -> 503 unavailable with Retry-After';

CREATE OR REPLACE FUNCTION workon.conversation_open(space_id uuid DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_space		workon.spaces := workon.space_seen(conversation_open.space_id);
	v_conv		workon.conversations;
BEGIN
	IF v_space.host_id = v_user THEN
		RAISE EXCEPTION 'the host of a space cannot open a conversation about it with themselves'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;

	INSERT INTO workon.conversations AS c (space_id, member_id, host_id)
	VALUES (v_space.id, v_user, v_space.host_id)
	ON CONFLICT ON CONSTRAINT conversations_space_id_member_id_key DO NOTHING
	RETURNING * INTO v_conv;
	IF NOT FOUND THEN
		SELECT * INTO v_conv FROM workon.conversations AS c
		 WHERE c.space_id = v_space.id AND c.member_id = v_user;
		PERFORM workon.set_response(200);
	END IF;
	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/conversations/' || v_conv.id || '/messages'));
	RETURN workon.conversation_json(v_conv, v_user);
END
$$;

COMMENT ON FUNCTION workon.conversation_open(uuid) IS
'POST /api/v1/conversations: the caller''s conversation with the host of a space the caller can see, created (201) or the existing one (200); 22023 naming space_id for the space''s own host, P0002 for an unknown or unseen space';

CREATE OR REPLACE FUNCTION workon.message_post(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.caller_id();
	v_conv		workon.conversations;
	v_text		text;
	v_extra		text;
	v_msg		workon.messages;
BEGIN
	v_extra := (SELECT k FROM pg_catalog.jsonb_object_keys(
					CASE pg_catalog.jsonb_typeof(message_post.body)
						WHEN 'object' THEN message_post.body - 'body' ELSE '{}' END) AS k
				 ORDER BY k LIMIT 1);
	IF v_extra IS NOT NULL THEN
		RAISE EXCEPTION 'unknown parameter'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = v_extra;
	END IF;
	IF pg_catalog.jsonb_typeof(message_post.body -> 'body') IS DISTINCT FROM 'string' THEN
		RAISE EXCEPTION 'body must be a string of 1 to 4000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;
	v_text := pg_catalog.regexp_replace(message_post.body ->> 'body', '^\s+|\s+$', '', 'g');
	IF pg_catalog.char_length(v_text) NOT BETWEEN 1 AND 4000 THEN
		RAISE EXCEPTION 'body must be a string of 1 to 4000 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'body';
	END IF;

	v_conv := workon.conversation_find(message_post.id, true);
	UPDATE workon.conversations AS c
	   SET last_seq = c.last_seq + 1,
		   last_message_at = pg_catalog.clock_timestamp(),
		   member_read_seq = CASE WHEN v_user = c.member_id THEN c.last_seq + 1 ELSE c.member_read_seq END,
		   host_read_seq = CASE WHEN v_user = c.host_id THEN c.last_seq + 1 ELSE c.host_read_seq END
	 WHERE c.id = v_conv.id
	RETURNING * INTO v_conv;

	INSERT INTO workon.messages (conversation_id, seq, sender_id, body, created_at)
	VALUES (v_conv.id, v_conv.last_seq, v_user, v_text, v_conv.last_message_at)
	RETURNING * INTO v_msg;

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/conversations/' || v_conv.id || '/messages'));
	RETURN workon.message_json(v_msg);
END
$$;

COMMENT ON FUNCTION workon.message_post(uuid, jsonb) IS
'POST /api/v1/conversations/{id}/messages {body}: a message from the caller (a participant), body trimmed, 1 to 4,000 characters (22023 naming body otherwise); what the sender wrote counts as read by them; P0002 for others';


--
-- The OpenAPI document: Location on 201s, the strong ETag of public reads
-- (90_openapi)
--
CREATE OR REPLACE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
			   obj_description(p.oid, 'pg_proc') AS description,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', workon.openapi_schema(a.typ));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', workon.openapi_schema(a.typ));
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', '{"type": "string"}'::jsonb);
			END IF;
		END LOOP;
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for, with Content-Range"},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag"},
					 "416": {"description": "Range Not Satisfiable"}}'::jsonb;
		END IF;
		IF r.status = 201 THEN
			-- what was created is named in Location
			responses := jsonb_set(responses, '{201,headers}',
				'{"Location": {"description": "The URL of what was created", "schema": {"type": "string"}}}');
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a strong ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		IF r.status = 200 AND r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN
			-- the handler may return nothing
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object",
							"description": "field: the offending parameter or field (the first); fields: every invalid field of the request, where a route checks them all (registration, spaces, bookings)",
							"properties": {"field": {"type": "string"},
										   "fields": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
													  "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';


--
-- Hours that can be booked (20_spaces.sql): opening hours written on the
-- 15-minute grid (space_check, above), no publishing without opening hours
--
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

GRANT EXECUTE ON FUNCTION workon.space_publishable(jsonb) TO workon_host, workon_admin;

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOR02', 409, 'no_opening_hours');

--
-- Availability on the grid of the space's zone, dates of that zone
-- (21_bookings.sql)
--
CREATE FUNCTION workon.grid_align(at timestamptz, timezone text, up boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_local		timestamp := grid_align.at AT TIME ZONE grid_align.timezone;
	v_hour		timestamp := pg_catalog.date_trunc('hour', v_local);
	v_quarters	numeric := EXTRACT(epoch FROM v_local - v_hour) / 900;
BEGIN
	IF v_quarters = pg_catalog.trunc(v_quarters) OR NOT pg_catalog.isfinite(grid_align.at) THEN
		RETURN grid_align.at;
	END IF;
	RETURN (v_hour + (CASE WHEN grid_align.up THEN pg_catalog.ceil(v_quarters) ELSE pg_catalog.floor(v_quarters) END)
					 * interval '15 minutes') AT TIME ZONE grid_align.timezone;
END
$$;

COMMENT ON FUNCTION workon.grid_align(timestamptz, text, boolean) IS
'The time itself if it is on the 15-minute grid of the zone''s local time, else the next grid point (up) or the previous one';

CREATE FUNCTION workon.window_bound(value text, field text, timezone text, is_end boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	IF window_bound.value IS NULL OR window_bound.value = '' THEN
		RETURN NULL;
	END IF;
	IF window_bound.value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		-- a date of the zone: from its start; an end: to the next day's start
		BEGIN
			RETURN ((window_bound.value::date + CASE WHEN window_bound.is_end THEN 1 ELSE 0 END)::timestamp)
				   AT TIME ZONE window_bound.timezone;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	ELSIF window_bound.value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}(:[0-9]{2})?)$' THEN
		BEGIN
			RETURN window_bound.value::timestamptz;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	RAISE EXCEPTION '% must be a date (of the space''s zone) or an RFC 3339 time with an offset, such as 2027-01-01 or 2027-01-01T09:00:00+01:00', window_bound.field
		USING ERRCODE = 'invalid_datetime_format', COLUMN = window_bound.field;
END
$$;

COMMENT ON FUNCTION workon.window_bound(text, text, text, boolean) IS
'A bound of an availability window as sent: a date is that date in the zone (from its start; as the end, to the next day''s start, so that the date is included), a time is RFC 3339 with an offset; NULL for none; 22007 naming the field otherwise';

CREATE FUNCTION workon.space_availability_window(id uuid, "from" text DEFAULT NULL, "to" text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_zone		text;
	v_from		timestamptz;
	v_to		timestamptz;
BEGIN
	SELECT s.timezone INTO v_zone FROM workon.spaces AS s WHERE s.id = space_availability_window.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	v_from := workon.grid_align(COALESCE(workon.window_bound(space_availability_window."from", 'from', v_zone, false),
										 pg_catalog.now()), v_zone, true);
	v_to := COALESCE(workon.grid_align(workon.window_bound(space_availability_window."to", 'to', v_zone, true), v_zone, false),
					 v_from + interval '7 days');
	RETURN workon.space_availability(space_availability_window.id, v_from, v_to);
END
$$;

COMMENT ON FUNCTION workon.space_availability_window(uuid, text, text) IS
'GET /api/v1/spaces/{id}/availability?from=&to=: workon.space_availability of a window on the 15-minute grid of the space''s zone, so that every free period can be booked as given: from (default now) rounded up, to (default from + 7 days) rounded down; a date-only bound is that date in the space''s zone (to includes its date); at most 31 days';

UPDATE workon.routes
   SET handler = 'workon.space_availability_window(uuid,text,text)'
 WHERE method = 'GET' AND path = '/api/v1/spaces/{id}/availability';

GRANT EXECUTE ON FUNCTION
	workon.grid_align(timestamptz, text, boolean),
	workon.window_bound(text, text, text, boolean),
	workon.space_availability_window(uuid, text, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- Compact lists inside documents (20_spaces, 21_bookings, 35_email,
-- 40_messages): arrays of JSON without json_agg's blanks
--
CREATE OR REPLACE FUNCTION workon.space_photos_json(space_id uuid)
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

CREATE OR REPLACE FUNCTION workon.periods_json(periods tstzmultirange)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.json_build('starts_at', pg_catalog.lower(r),
																				'ends_at', pg_catalog.upper(r))
															 ORDER BY pg_catalog.lower(r))),
					'[]'::json)
	  FROM pg_catalog.unnest($1) AS r
$$;

COMMENT ON FUNCTION workon.periods_json(tstzmultirange) IS
'A multirange as a JSON list of {"starts_at","ends_at"}';

CREATE OR REPLACE FUNCTION workon.admin_emails_list(status text DEFAULT NULL, "to" text DEFAULT NULL,
										 "limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit		integer := COALESCE(admin_emails_list."limit", 20);
	v_status	text := NULLIF(admin_emails_list.status, '');
	v_to		text := pg_catalog.lower(NULLIF(admin_emails_list."to", ''));
	v_before	bigint := 9223372036854775807;
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF v_status NOT IN ('pending', 'done', 'dead') THEN
		RAISE EXCEPTION 'status must be one of pending, done, dead'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'status';
	END IF;
	IF admin_emails_list.cursor <> '' THEN
		IF admin_emails_list.cursor !~ '^[0-9]{1,18}$' THEN
			RAISE EXCEPTION 'invalid cursor'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'cursor';
		END IF;
		v_before := admin_emails_list.cursor::bigint;
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.email_json(p.mail) ORDER BY p.n)
																   FILTER (WHERE p.n <= v_limit)), '[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.array_agg((p.mail).id::text) FILTER (WHERE p.n = v_limit))[1]
							  END)
	  INTO v_page
	  FROM (SELECT o AS mail, pg_catalog.row_number() OVER (ORDER BY o.id DESC) AS n
			  FROM workon.outbox AS o
			 WHERE o.kind = 'email' AND o.id < v_before
			   AND (v_status IS NULL OR o.status = v_status)
			   AND (v_to IS NULL OR pg_catalog.lower(o.params ->> 'to') = v_to)
			 ORDER BY o.id DESC
			 LIMIT v_limit + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.admin_emails_list(text, text, integer, text) IS
'GET /api/v1/admin/emails: mails, newest first, as {"data": [...], "next_cursor": ...}, without their bodies; filters status (pending, done, dead) and to (the address, case-insensitive); limit 1..100 (default 20)';

CREATE OR REPLACE FUNCTION workon.admin_email_templates()
RETURNS json
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT workon.json_build('data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.email_template_json(t)
																						ORDER BY t.key, t.locale)), '[]'))
	  FROM (SELECT DISTINCT ON (t.key, t.locale) t.*
			  FROM workon.email_templates AS t
			 ORDER BY t.key, t.locale, t.custom DESC) AS t
$$;

COMMENT ON FUNCTION workon.admin_email_templates() IS
'GET /api/v1/admin/email-templates: the template in use for each key and locale ({"data": [...]}; custom true for an admin''s replacement)';

CREATE OR REPLACE FUNCTION workon.events_since(since bigint DEFAULT NULL, "limit" integer DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_limit		integer := COALESCE(events_since."limit", 100);
	v_user		uuid := workon.caller_id();
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 1000 THEN
		RAISE EXCEPTION 'limit must be between 1 and 1000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF events_since.since < 0 THEN
		RAISE EXCEPTION 'since must be an event id'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'since';
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(p.frame::json ORDER BY p.pos)
																   FILTER (WHERE p.n <= v_limit)), '[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.max(p.pos) FILTER (WHERE p.n <= v_limit))::text
							  END,
			   'cursor', COALESCE(pg_catalog.max(p.pos) FILTER (WHERE p.n <= v_limit),
								  events_since.since)::text)
	  INTO v_page
	  FROM (SELECT e.pos, workon.event_frame(e) AS frame,
				   pg_catalog.row_number() OVER (ORDER BY e.pos) AS n
			  FROM workon.events AS e
			 WHERE e.pos > COALESCE(events_since.since, 0)
			   AND e.type <> 'session.revoked'
			   AND e.recipients @> ARRAY[v_user]
			 ORDER BY e.pos
			 LIMIT v_limit + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.events_since(bigint, integer) IS
'GET /api/v1/events: the caller''s published events after the id since (default: all kept), oldest first, as {"data": [{"type", "id", "data"}], "next_cursor": ..., "cursor": the last id returned, else since}; limit 1..1000 (default 100)';


--
-- Last: each space gets the language of its zone and its document is built
-- again (description, language, times in UTC, compact lists); not a change
-- anyone made: neither audited nor stamped (20_spaces.sql)
--
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces AS s SET language = workon.space_language(s.timezone);
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_set_updated_at;

--
-- sql/src/62_stats_rollup.sql: the stats' rollup, filled from the rows
-- that are there; the report reads it (sql/src/60_stats.sql)
--

--
-- The admin's report (workon.stats_report) over 90 days of a large
-- marketplace would read every booking, payment and refund of the window;
-- it reads these sums instead, kept by triggers in the transaction of each
-- change.  Every sum is what the report computes from the rows (the
-- pg_regress test stats_rollup compares them): a row's share is added
-- when it is written and taken away when it changes, so the sums are
-- exact at every commit.  Rows whose sums went back to zero stay (the
-- report skips them).
--
CREATE TABLE workon.stats_local_days (
	space_id	uuid NOT NULL,
	day			date NOT NULL,
	booked_microseconds bigint NOT NULL,
	PRIMARY KEY (space_id, day)
);

COMMENT ON TABLE workon.stats_local_days IS
'Occupancy rollup: per space and calendar day of the space''s zone, the microseconds of its confirmed and completed bookings inside its current opening hours (workon.space_booked_microseconds, booking by booking); rebuilt for a space when its zone or opening hours change';

CREATE TABLE workon.stats_utc_days (
	space_id	uuid NOT NULL,
	day			date NOT NULL,
	pending_payment integer NOT NULL DEFAULT 0,
	confirmed	integer NOT NULL DEFAULT 0,
	expired		integer NOT NULL DEFAULT 0,
	cancelled	integer NOT NULL DEFAULT 0,
	completed	integer NOT NULL DEFAULT 0,
	booked_microseconds bigint NOT NULL DEFAULT 0,
	running		integer NOT NULL DEFAULT 0,
	PRIMARY KEY (day, space_id)
);

COMMENT ON TABLE workon.stats_utc_days IS
'Bookings rollup: per UTC day and space, the bookings starting that day by stored status, the microseconds of confirmed and completed bookings inside the day, and running: how many confirmed and completed bookings started before the day and end after its start';

CREATE TABLE workon.stats_revenue_days (
	day			date NOT NULL,
	space_id	uuid NOT NULL,
	currency	text NOT NULL,
	paid_cents	bigint NOT NULL DEFAULT 0,
	refunded_cents bigint NOT NULL DEFAULT 0,
	n			integer NOT NULL DEFAULT 0,
	PRIMARY KEY (space_id, day, currency)
);

COMMENT ON TABLE workon.stats_revenue_days IS
'Revenue rollup: per UTC day, space and currency, the payments that succeeded that day (paid_cents), the refunds that succeeded that day (refunded_cents), and n how many of them there are';

CREATE TABLE workon.stats_revenue_totals (
	day			date NOT NULL,
	currency	text NOT NULL,
	paid_cents	bigint NOT NULL DEFAULT 0,
	refunded_cents bigint NOT NULL DEFAULT 0,
	n			integer NOT NULL DEFAULT 0,
	PRIMARY KEY (day, currency)
);

COMMENT ON TABLE workon.stats_revenue_totals IS
'What workon.stats_revenue_days sums over all spaces: per UTC day and currency (the report of the whole marketplace)';

-- derived, but dumped with the rows they sum: a restore loads both and the
-- triggers skip restored rows
SELECT pg_catalog.pg_extension_config_dump('workon.stats_local_days', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_utc_days', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_revenue_days', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_revenue_totals', '');

-- the bookings on hold, for the report's lapsed holds
CREATE INDEX bookings_pending_starts_at_idx ON workon.bookings (starts_at)
	INCLUDE (space_id, hold_expires_at) WHERE status = 'pending_payment';

CREATE FUNCTION workon.space_booked_microseconds(timezone text, opening_hours jsonb,
												 first_day date, last_day date,
												 starts timestamptz[], ends timestamptz[])
RETURNS TABLE (day date, booked_microseconds bigint)
AS 'MODULE_PATHNAME', 'space_booked_microseconds'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_booked_microseconds(text, jsonb, date, date, timestamptz[], timestamptz[]) IS
'The booked time of workon.space_occupancy in microseconds (before it is cut to seconds), only of the days that have some (at most 400 days at once)';

CREATE FUNCTION workon.space_occupancy_days(timezone text, opening_hours jsonb,
											first_day date, last_day date,
											days date[], booked_microseconds bigint[],
											OUT daily_open_hours json, OUT daily_booked_hours json,
											OUT open_hours float8, OUT booked_hours float8)
RETURNS record
AS 'MODULE_PATHNAME', 'space_occupancy_days'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.space_occupancy_days(text, jsonb, date, date, date[], bigint[]) IS
'What the report makes of workon.space_occupancy_hours, from the booked microseconds already summed per day (days[i] has booked_microseconds[i]; other days none): the two arrays of hours as JSON (as array_to_json writes them) and their sums; the report over workon.stats_local_days';

CREATE FUNCTION workon.booking_local_days(timezone text, opening_hours jsonb,
										  starts_at timestamptz, ends_at timestamptz)
RETURNS TABLE (day date, booked_microseconds bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	-- the local days of the booking, 400 at a time (neither STRICT nor SET
	-- search_path: the query is inlined into the trigger's, whose plan is
	-- kept; NULL arguments give no rows)
	SELECT o.day, o.booked_microseconds
	  FROM (SELECT ($3 AT TIME ZONE $1)::date AS first_day,
				   (($4 - interval '1 microsecond') AT TIME ZONE $1)::date AS last_day) AS d
	 CROSS JOIN LATERAL pg_catalog.generate_series(0, (d.last_day - d.first_day) / 400) AS c(k)
	 CROSS JOIN LATERAL workon.space_booked_microseconds($1, $2, d.first_day + c.k * 400,
			LEAST(d.last_day, d.first_day + c.k * 400 + 399), ARRAY[$3], ARRAY[$4]) AS o
$$;

COMMENT ON FUNCTION workon.booking_local_days(text, jsonb, timestamptz, timestamptz) IS
'The microseconds of the booking [starts_at, ends_at) inside the opening hours, per calendar day of the zone that has some: one booking''s share of workon.stats_local_days';

--
-- A booking's share
--
CREATE FUNCTION workon.stats_add_booking(b workon.bookings, sign integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
-- (no SET search_path, which would cost every booking a configuration
-- change: the triggers that call it set it; every name is qualified)
DECLARE
	v_booked	boolean := b.status IN ('confirmed', 'completed');
	v_first		date := (b.starts_at AT TIME ZONE 'UTC')::date;
BEGIN
	-- its status on the day it starts; for the booked ones their time in
	-- each UTC day and the days it runs into
	INSERT INTO workon.stats_utc_days AS t (space_id, day, pending_payment, confirmed, expired,
											cancelled, completed, booked_microseconds, running)
	SELECT b.space_id, g.day,
		   CASE WHEN g.day = v_first AND b.status = 'pending_payment' THEN sign ELSE 0 END,
		   CASE WHEN g.day = v_first AND b.status = 'confirmed' THEN sign ELSE 0 END,
		   CASE WHEN g.day = v_first AND b.status = 'expired' THEN sign ELSE 0 END,
		   CASE WHEN g.day = v_first AND b.status = 'cancelled' THEN sign ELSE 0 END,
		   CASE WHEN g.day = v_first AND b.status = 'completed' THEN sign ELSE 0 END,
		   CASE WHEN v_booked
				THEN sign * (EXTRACT(epoch FROM LEAST(b.ends_at, (g.day + 1)::timestamp AT TIME ZONE 'UTC')
									   - GREATEST(b.starts_at, g.day::timestamp AT TIME ZONE 'UTC'))
							 * 1000000)::bigint
				ELSE 0 END,
		   CASE WHEN g.day > v_first THEN sign ELSE 0 END
	  FROM (SELECT d::date AS day
			  FROM pg_catalog.generate_series(v_first,
					CASE WHEN v_booked THEN ((b.ends_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date
						 ELSE v_first END, interval '1 day') AS d) AS g
	 WHERE v_booked OR g.day = v_first
	ON CONFLICT (day, space_id) DO UPDATE
	   SET pending_payment = t.pending_payment + EXCLUDED.pending_payment,
		   confirmed = t.confirmed + EXCLUDED.confirmed,
		   expired = t.expired + EXCLUDED.expired,
		   cancelled = t.cancelled + EXCLUDED.cancelled,
		   completed = t.completed + EXCLUDED.completed,
		   booked_microseconds = t.booked_microseconds + EXCLUDED.booked_microseconds,
		   running = t.running + EXCLUDED.running;

	IF v_booked THEN
		INSERT INTO workon.stats_local_days AS t (space_id, day, booked_microseconds)
		SELECT b.space_id, o.day, sign * o.booked_microseconds
		  FROM workon.spaces AS s
		 CROSS JOIN LATERAL workon.booking_local_days(s.timezone, s.opening_hours, b.starts_at, b.ends_at) AS o
		 WHERE s.id = b.space_id
		ON CONFLICT (space_id, day) DO UPDATE
		   SET booked_microseconds = t.booked_microseconds + EXCLUDED.booked_microseconds;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.stats_add_booking(workon.bookings, integer) IS
'Adds (sign 1) or takes away (sign -1) a booking''s share of workon.stats_utc_days and workon.stats_local_days';

CREATE FUNCTION workon.stats_bookings_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM workon.stats_add_booking(OLD, -1);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		PERFORM workon.stats_add_booking(NEW, 1);
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_bookings_rollup() IS
'Trigger of bookings: moves the row''s share of the stats rollup from its old values to its new ones';

CREATE TRIGGER bookings_stats_rollup
	AFTER INSERT OR DELETE ON workon.bookings
	FOR EACH ROW WHEN (NOT workon.restoring('workon.bookings'))
	EXECUTE FUNCTION workon.stats_bookings_rollup();

CREATE TRIGGER bookings_stats_rollup_update
	AFTER UPDATE ON workon.bookings
	FOR EACH ROW WHEN ((OLD.space_id, OLD.starts_at, OLD.ends_at, OLD.status)
					   IS DISTINCT FROM (NEW.space_id, NEW.starts_at, NEW.ends_at, NEW.status))
	EXECUTE FUNCTION workon.stats_bookings_rollup();

--
-- Revenue: a payment's or a refund's share
--
CREATE FUNCTION workon.stats_add_money(booking_id uuid, at timestamptz, currency text,
									   paid bigint, refunded bigint, sign integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	-- PL/pgSQL: its plans are kept for the session; no SET search_path, as
	-- stats_add_booking
	INSERT INTO workon.stats_revenue_days AS t (day, space_id, currency, paid_cents, refunded_cents, n)
	SELECT (stats_add_money.at AT TIME ZONE 'UTC')::date, b.space_id, stats_add_money.currency,
		   sign * paid, sign * refunded, sign
	  FROM workon.bookings AS b
	 WHERE b.id = stats_add_money.booking_id
	ON CONFLICT ON CONSTRAINT stats_revenue_days_pkey DO UPDATE
	   SET paid_cents = t.paid_cents + EXCLUDED.paid_cents,
		   refunded_cents = t.refunded_cents + EXCLUDED.refunded_cents,
		   n = t.n + EXCLUDED.n;
	INSERT INTO workon.stats_revenue_totals AS t (day, currency, paid_cents, refunded_cents, n)
	VALUES ((stats_add_money.at AT TIME ZONE 'UTC')::date, stats_add_money.currency, sign * paid,
			sign * refunded, sign)
	ON CONFLICT ON CONSTRAINT stats_revenue_totals_pkey DO UPDATE
	   SET paid_cents = t.paid_cents + EXCLUDED.paid_cents,
		   refunded_cents = t.refunded_cents + EXCLUDED.refunded_cents,
		   n = t.n + EXCLUDED.n;
END
$$;

COMMENT ON FUNCTION workon.stats_add_money(uuid, timestamptz, text, bigint, bigint, integer) IS
'Adds (sign 1) or takes away (sign -1) a succeeded payment''s or refund''s share of workon.stats_revenue_days and stats_revenue_totals';

CREATE FUNCTION workon.stats_money_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_row		jsonb;
	v_sign		integer;
BEGIN
	-- the old row's share goes, the new row's comes
	FOR v_row, v_sign IN
		SELECT r.j, r.s
		  FROM (VALUES (CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END, -1),
					   (CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END, 1)) AS r(j, s)
		 WHERE r.j ->> 'status' = 'succeeded'
	LOOP
		IF TG_TABLE_NAME = 'payments' THEN
			CONTINUE WHEN v_row ->> 'succeeded_at' IS NULL;
			PERFORM workon.stats_add_money((v_row ->> 'booking_id')::uuid, (v_row ->> 'succeeded_at')::timestamptz,
										   COALESCE(v_row ->> 'received_currency', v_row ->> 'currency'),
										   COALESCE(v_row ->> 'amount_received_cents', v_row ->> 'amount_cents')::bigint,
										   0, v_sign);
		ELSE
			PERFORM workon.stats_add_money((v_row ->> 'booking_id')::uuid,
										   COALESCE(v_row ->> 'stripe_status_at', v_row ->> 'created_at')::timestamptz,
										   v_row ->> 'currency', 0, (v_row ->> 'amount_cents')::bigint, v_sign);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_money_rollup() IS
'Trigger of payments and refunds: moves a succeeded one''s share of the revenue rollup: a payment on the UTC day of succeeded_at in the currency and amount received (else the ones asked), a refund on the UTC day of stripe_status_at (else created_at)';

CREATE TRIGGER payments_stats_rollup
	AFTER INSERT OR DELETE ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments'))
	EXECUTE FUNCTION workon.stats_money_rollup();

CREATE TRIGGER payments_stats_rollup_update
	AFTER UPDATE ON workon.payments
	FOR EACH ROW WHEN ((OLD.booking_id, OLD.status, OLD.succeeded_at, OLD.currency, OLD.received_currency,
						OLD.amount_cents, OLD.amount_received_cents)
					   IS DISTINCT FROM (NEW.booking_id, NEW.status, NEW.succeeded_at, NEW.currency,
										 NEW.received_currency, NEW.amount_cents, NEW.amount_received_cents))
	EXECUTE FUNCTION workon.stats_money_rollup();

CREATE TRIGGER refunds_stats_rollup
	AFTER INSERT OR DELETE ON workon.refunds
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refunds'))
	EXECUTE FUNCTION workon.stats_money_rollup();

CREATE TRIGGER refunds_stats_rollup_update
	AFTER UPDATE ON workon.refunds
	FOR EACH ROW WHEN ((OLD.booking_id, OLD.status, OLD.stripe_status_at, OLD.created_at, OLD.currency,
						OLD.amount_cents)
					   IS DISTINCT FROM (NEW.booking_id, NEW.status, NEW.stripe_status_at, NEW.created_at,
										 NEW.currency, NEW.amount_cents))
	EXECUTE FUNCTION workon.stats_money_rollup();

--
-- Rebuilding from the rows
--
CREATE FUNCTION workon.stats_rebuild_local_days(space_ids uuid[])
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM workon.stats_local_days WHERE space_id = ANY ($1);
	INSERT INTO workon.stats_local_days (space_id, day, booked_microseconds)
	SELECT b.space_id, o.day, pg_catalog.sum(o.booked_microseconds)
	  FROM workon.bookings AS b
	  JOIN workon.spaces AS s ON s.id = b.space_id
	 CROSS JOIN LATERAL workon.booking_local_days(s.timezone, s.opening_hours, b.starts_at, b.ends_at) AS o
	 WHERE b.space_id = ANY ($1) AND b.status IN ('confirmed', 'completed')
	 GROUP BY b.space_id, o.day
	 ORDER BY b.space_id, o.day;
$$;

COMMENT ON FUNCTION workon.stats_rebuild_local_days(uuid[]) IS
'Recomputes workon.stats_local_days of the spaces from their bookings';

CREATE FUNCTION workon.stats_spaces_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- after the bookings' writers in flight, before the next ones
	LOCK TABLE workon.stats_local_days IN SHARE ROW EXCLUSIVE MODE;
	PERFORM workon.stats_rebuild_local_days(ARRAY[NEW.id]);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_spaces_rollup() IS
'Trigger of spaces: a new zone or new opening hours change the local days and the booked time inside the opening hours, so the space''s occupancy rollup is computed again';

CREATE TRIGGER spaces_stats_rollup
	AFTER UPDATE OF timezone, opening_hours ON workon.spaces
	FOR EACH ROW WHEN ((OLD.timezone, OLD.opening_hours) IS DISTINCT FROM (NEW.timezone, NEW.opening_hours))
	EXECUTE FUNCTION workon.stats_spaces_rollup();

CREATE FUNCTION workon.stats_rollup_rebuild()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- one writer at a time: the triggers wait until the sums are whole
	LOCK TABLE workon.stats_local_days, workon.stats_utc_days, workon.stats_revenue_days,
		workon.stats_revenue_totals IN EXCLUSIVE MODE;
	TRUNCATE workon.stats_local_days, workon.stats_utc_days, workon.stats_revenue_days,
		workon.stats_revenue_totals;
	PERFORM workon.stats_rebuild_local_days(ARRAY(SELECT s.id FROM workon.spaces AS s));

	WITH b AS (
		SELECT b.space_id, b.starts_at, b.ends_at, b.status,
			   (b.starts_at AT TIME ZONE 'UTC')::date AS first_day,
			   b.status IN ('confirmed', 'completed') AS booked
		  FROM workon.bookings AS b
	)
	INSERT INTO workon.stats_utc_days (space_id, day, pending_payment, confirmed, expired,
									   cancelled, completed, booked_microseconds, running)
	SELECT b.space_id, g.day,
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'pending_payment'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'confirmed'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'expired'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'cancelled'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'completed'),
		   COALESCE(pg_catalog.sum((EXTRACT(epoch FROM LEAST(b.ends_at, (g.day + 1)::timestamp AT TIME ZONE 'UTC')
												  - GREATEST(b.starts_at, g.day::timestamp AT TIME ZONE 'UTC'))
									* 1000000)::bigint) FILTER (WHERE b.booked), 0),
		   pg_catalog.count(*) FILTER (WHERE b.booked AND g.day > b.first_day)
	  FROM b
	 CROSS JOIN LATERAL (SELECT d::date AS day
						   FROM pg_catalog.generate_series(b.first_day,
								CASE WHEN b.booked THEN ((b.ends_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date
									 ELSE b.first_day END, interval '1 day') AS d) AS g
	 GROUP BY g.day, b.space_id
	 -- in the order the report reads them: a window's days are few pages
	 ORDER BY g.day, b.space_id;

	INSERT INTO workon.stats_revenue_days (day, space_id, currency, paid_cents, refunded_cents, n)
	SELECT m.day, b.space_id, m.currency, pg_catalog.sum(m.paid), pg_catalog.sum(m.refunded), pg_catalog.count(*)
	  FROM (SELECT p.booking_id, (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
				   COALESCE(p.received_currency, p.currency) AS currency,
				   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded
			  FROM workon.payments AS p
			 WHERE p.status = 'succeeded' AND p.succeeded_at IS NOT NULL
			UNION ALL
			SELECT r.booking_id, (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
				   r.currency, 0, r.amount_cents
			  FROM workon.refunds AS r
			 WHERE r.status = 'succeeded') AS m
	  JOIN workon.bookings AS b ON b.id = m.booking_id
	 GROUP BY m.day, b.space_id, m.currency
	 ORDER BY b.space_id, m.day, m.currency;
	INSERT INTO workon.stats_revenue_totals (day, currency, paid_cents, refunded_cents, n)
	SELECT r.day, r.currency, pg_catalog.sum(r.paid_cents), pg_catalog.sum(r.refunded_cents), pg_catalog.sum(r.n)
	  FROM workon.stats_revenue_days AS r
	 GROUP BY r.day, r.currency;
END
$$;

COMMENT ON FUNCTION workon.stats_rollup_rebuild() IS
'Recomputes the whole stats rollup (workon.stats_local_days, stats_utc_days, stats_revenue_days, stats_revenue_totals) from the bookings, payments and refunds: after loading rows with the triggers off, and by the update that adds the rollup';

CREATE FUNCTION workon.stats_truncate_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.stats_rollup_rebuild();
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_truncate_rollup() IS
'Trigger of TRUNCATE on bookings, payments and refunds (no row triggers run): the rollup is computed again from the rows that are left';

CREATE TRIGGER bookings_stats_truncate
	AFTER TRUNCATE ON workon.bookings
	FOR EACH STATEMENT EXECUTE FUNCTION workon.stats_truncate_rollup();

CREATE TRIGGER payments_stats_truncate
	AFTER TRUNCATE ON workon.payments
	FOR EACH STATEMENT EXECUTE FUNCTION workon.stats_truncate_rollup();

CREATE TRIGGER refunds_stats_truncate
	AFTER TRUNCATE ON workon.refunds
	FOR EACH STATEMENT EXECUTE FUNCTION workon.stats_truncate_rollup();

SELECT workon.stats_rollup_rebuild();

CREATE OR REPLACE FUNCTION workon.stats_report("from" text, "to" text, space_id uuid, city text,
									host_id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_to		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."to", ''), 'to', true),
										pg_catalog.now());
	v_from		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."from", ''), 'from', false),
										v_to - interval '30 days');
	v_city		text := pg_catalog.lower(NULLIF(pg_catalog.btrim(stats_report.city), ''));
	v_spaces	uuid[];
	v_all		boolean;
	v_d1		date;
	v_d2		date;
	v_rollup	boolean;
	v_report	json;
BEGIN
	IF v_to <= v_from THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	IF v_to - v_from > interval '366 days' THEN
		RAISE EXCEPTION 'the window from..to must be at most 366 days'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;

	-- the spaces the report is about
	SELECT pg_catalog.array_agg(s.id) INTO v_spaces
	  FROM workon.spaces AS s
	 WHERE (stats_report.space_id IS NULL OR s.id = stats_report.space_id)
	   AND (v_city IS NULL OR s.city_key = v_city)
	   AND (stats_report.host_id IS NULL OR s.host_id = stats_report.host_id);
	v_spaces := COALESCE(v_spaces, '{}');
	v_all := stats_report.space_id IS NULL AND v_city IS NULL AND stats_report.host_id IS NULL;

	-- a window of whole UTC days reads the rollup (sql/src/62_stats_rollup.sql);
	-- another one the rows
	v_d1 := (v_from AT TIME ZONE 'UTC')::date;
	v_d2 := (v_to AT TIME ZONE 'UTC')::date;
	v_rollup := v_from = v_d1::timestamp AT TIME ZONE 'UTC' AND v_to = v_d2::timestamp AT TIME ZONE 'UTC';

	WITH b AS MATERIALIZED (
		-- the bookings that overlap the window
		SELECT b.space_id, b.starts_at, b.ends_at,
			   CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
					THEN 'expired' ELSE b.status END AS status
		  FROM workon.bookings AS b
		 WHERE NOT v_rollup
		   AND b.ends_at > v_from AND b.starts_at < v_to
		   AND (v_all OR b.space_id = ANY (v_spaces))
	), u AS MATERIALIZED (
		-- per space: the rollup's bookings by status, and for the top spaces
		-- the confirmed and completed ones in the window (those running
		-- into its first day included) and their time in it
		SELECT t.space_id,
			   pg_catalog.sum(t.pending_payment) AS pending_payment, pg_catalog.sum(t.confirmed) AS confirmed,
			   pg_catalog.sum(t.expired) AS expired, pg_catalog.sum(t.cancelled) AS cancelled,
			   pg_catalog.sum(t.completed) AS completed,
			   pg_catalog.sum(t.confirmed + t.completed)
				   + COALESCE(pg_catalog.sum(t.running) FILTER (WHERE t.day = v_d1), 0) AS n,
			   (pg_catalog.sum(t.booked_microseconds) / 1000000.0)::bigint AS booked_s
		  FROM workon.stats_utc_days AS t
		 WHERE v_rollup AND t.day >= v_d1 AND t.day < v_d2
		   AND (v_all OR t.space_id = ANY (v_spaces))
		 GROUP BY t.space_id
	), counts AS (
		SELECT b.status, pg_catalog.count(*) AS n
		  FROM b
		 WHERE b.starts_at >= v_from
		 GROUP BY b.status
		UNION ALL
		SELECT x.status, x.n
		  FROM (SELECT pg_catalog.sum(u.pending_payment) AS pending_payment, pg_catalog.sum(u.confirmed) AS confirmed,
					   pg_catalog.sum(u.expired) AS expired, pg_catalog.sum(u.cancelled) AS cancelled,
					   pg_catalog.sum(u.completed) AS completed
				  FROM u) AS t
		 CROSS JOIN LATERAL (VALUES ('pending_payment', t.pending_payment), ('confirmed', t.confirmed),
								   ('expired', t.expired), ('cancelled', t.cancelled),
								   ('completed', t.completed)) AS x(status, n)
		UNION ALL
		-- the rollup has the stored status: a lapsed hold counts as expired
		SELECT x.status, x.n
		  FROM (SELECT pg_catalog.count(*) AS n
				  FROM workon.bookings AS b
				 WHERE v_rollup AND b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
				   AND b.starts_at >= v_from AND b.starts_at < v_to
				   AND (v_all OR b.space_id = ANY (v_spaces))) AS l
		 CROSS JOIN LATERAL (VALUES ('pending_payment', -l.n), ('expired', l.n)) AS x(status, n)
	), occ AS (
		-- the booked time per local day: always the rollup's, whole days
		SELECT s.id, s.name, s.timezone, d.first_day, o.daily_open_hours, o.daily_booked_hours,
			   o.open_hours AS open_h, o.booked_hours AS booked_h
		  FROM workon.spaces AS s
		 CROSS JOIN LATERAL (SELECT (v_from AT TIME ZONE s.timezone)::date AS first_day,
									((v_to - interval '1 microsecond') AT TIME ZONE s.timezone)::date AS last_day) AS d
		 CROSS JOIN LATERAL (SELECT pg_catalog.array_agg(l.day) AS days,
									pg_catalog.array_agg(l.booked_microseconds) AS us
							   FROM workon.stats_local_days AS l
							  WHERE l.space_id = s.id AND l.day >= d.first_day AND l.day <= d.last_day) AS sb
		 CROSS JOIN LATERAL workon.space_occupancy_days(
			s.timezone, s.opening_hours, d.first_day, d.last_day,
			COALESCE(sb.days, '{}'), COALESCE(sb.us, '{}')) AS o
		 WHERE s.id = ANY (v_spaces)
	), rev AS (
		SELECT d.day, d.currency, pg_catalog.sum(d.paid) AS paid, pg_catalog.sum(d.refunded) AS refunded
		  FROM (SELECT (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
					   COALESCE(p.received_currency, p.currency) AS currency,
					   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded, 1 AS n
				  FROM workon.payments AS p
				 WHERE NOT v_rollup AND p.status = 'succeeded'
				   AND p.succeeded_at >= v_from AND p.succeeded_at < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = p.booking_id AND bk.space_id = ANY (v_spaces)))
				UNION ALL
				SELECT (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
					   r.currency, 0, r.amount_cents, 1
				  FROM workon.refunds AS r
				 WHERE NOT v_rollup AND r.status = 'succeeded'
				   AND COALESCE(r.stripe_status_at, r.created_at) >= v_from
				   AND COALESCE(r.stripe_status_at, r.created_at) < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = r.booking_id AND bk.space_id = ANY (v_spaces)))
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.n
				  FROM workon.stats_revenue_days AS m
				 WHERE v_rollup AND NOT v_all AND m.day >= v_d1 AND m.day < v_d2
				   AND m.space_id = ANY (v_spaces)
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.n
				  FROM workon.stats_revenue_totals AS m
				 WHERE v_rollup AND v_all AND m.day >= v_d1 AND m.day < v_d2) AS d
		 GROUP BY d.day, d.currency
		HAVING pg_catalog.sum(d.n) > 0
	), top AS (
		-- per space: the confirmed and completed bookings in the window, and
		-- their time in it
		SELECT b.space_id, pg_catalog.count(*) AS n,
			   pg_catalog.sum(EXTRACT(epoch FROM LEAST(b.ends_at, v_to) - GREATEST(b.starts_at, v_from)))::bigint AS booked_s
		  FROM b
		 WHERE b.status IN ('confirmed', 'completed')
		 GROUP BY b.space_id
		UNION ALL
		SELECT u.space_id, u.n, u.booked_s
		  FROM u
	)
	SELECT workon.json_build(
		'from', v_from,
		'to', v_to,
		'bookings', (SELECT workon.json_build(
							'total', COALESCE(pg_catalog.sum(c.n), 0),
							'by_status', workon.json_build(
								'pending_payment', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'pending_payment'), 0),
								'confirmed', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'confirmed'), 0),
								'expired', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'expired'), 0),
								'cancelled', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'cancelled'), 0),
								'completed', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'completed'), 0)))
					   FROM counts AS c),
		'revenue', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'day', rev.day, 'currency', rev.currency,
							'paid_cents', rev.paid, 'refunded_cents', rev.refunded,
							'net_cents', rev.paid - rev.refunded)
						ORDER BY rev.day, rev.currency), '{}'))
					  FROM rev),
		'occupancy', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', o.id, 'name', o.name, 'timezone', o.timezone,
							'open_hours', pg_catalog.round(o.open_h::numeric, 2),
							'booked_hours', pg_catalog.round(o.booked_h::numeric, 2),
							'occupancy', CASE WHEN o.open_h > 0 THEN pg_catalog.round((o.booked_h / o.open_h)::numeric, 4) END,
							'first_day', o.first_day,
							'daily_open_hours', o.daily_open_hours,
							'daily_booked_hours', o.daily_booked_hours)
						ORDER BY o.name, o.id), '{}'))
						FROM occ AS o),
		'top_spaces', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', t.id, 'name', t.name, 'city', t.city,
							'bookings', t.n, 'booked_hours', pg_catalog.round(t.booked_s / 3600.0, 2))
						ORDER BY t.n DESC, t.booked_s DESC, t.id), '{}'))
						 FROM (SELECT s.id, s.name, s.city, top.n, top.booked_s
								 FROM top
								 JOIN workon.spaces AS s ON s.id = top.space_id
								WHERE top.n > 0
								ORDER BY top.n DESC, top.booked_s DESC, s.id
								LIMIT 10) AS t),
		-- who joined: the whole marketplace's, for admins only
		'new_users', CASE WHEN stats_report.host_id IS NULL THEN
			(SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(
						workon.json_build('day', n.day, 'count', n.count) ORDER BY n.day), '{}'))
			   FROM (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, pg_catalog.count(*) AS count
					   FROM workon.users AS u
					  WHERE u.created_at >= v_from AND u.created_at < v_to
					  GROUP BY 1) AS n) END)
	  INTO v_report;

	RETURN v_report;
END
$$;

-- GET /api/v1/spaces?q=: one scan of the index of the words per distinct query of
-- the languages, each candidate ranked once
CREATE OR REPLACE FUNCTION workon.spaces_search(
	q text DEFAULT NULL,
	sort text DEFAULT NULL,
	city text DEFAULT NULL,
	kind text DEFAULT NULL,
	min_capacity integer DEFAULT NULL,
	"limit" integer DEFAULT NULL,
	cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
#variable_conflict use_column
DECLARE
	v_q			text := NULLIF(pg_catalog.btrim(spaces_search.q), '');
	v_sort		text := COALESCE(NULLIF(spaces_search.sort, ''),
								 CASE WHEN NULLIF(pg_catalog.btrim(spaces_search.q), '') IS NULL
									  THEN 'newest' ELSE 'relevance' END);
	v_city		text := pg_catalog.lower(NULLIF(spaces_search.city, ''));
	v_kind		text := NULLIF(spaces_search.kind, '');
	v_min		integer := COALESCE(spaces_search.min_capacity, 1);
	v_limit		integer := COALESCE(spaces_search."limit", 20);
	v_order		"char";
	v_langs		text[] := ARRAY['da', 'de', 'en', 'es', 'fi', 'fr', 'hu', 'it', 'nl', 'no',
								'pt', 'ro', 'ru', 'sv', 'tr'];
	v_after_key	bigint := 9223372036854775807;
	v_after_id	uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	v_docs		text[];
	v_keys		bigint[];
	v_ids		uuid[];
BEGIN
	IF v_sort NOT IN ('newest', 'price', 'capacity', 'relevance') THEN
		RAISE EXCEPTION 'sort must be one of newest, price, capacity, relevance'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'sort';
	END IF;
	IF v_sort = 'relevance' AND v_q IS NULL THEN
		RAISE EXCEPTION 'sort=relevance needs q'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'sort';
	END IF;
	IF pg_catalog.length(v_q) > 200 THEN
		RAISE EXCEPTION 'q must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'q';
	END IF;
	-- newest first without words: the hand-tuned list of every release
	IF v_q IS NULL AND v_sort = 'newest' THEN
		RETURN workon.spaces_list(spaces_search.city, spaces_search.kind, spaces_search.min_capacity,
								  spaces_search."limit", spaces_search.cursor);
	END IF;

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
	v_order := pg_catalog.substr(v_sort, 1, 1)::"char";
	IF spaces_search.cursor <> '' THEN
		SELECT c.key, c.id INTO v_after_key, v_after_id
		  FROM workon.cursor_decode_key(v_order, spaces_search.cursor) AS c;
	END IF;

	/*
	 * Every order is (key DESC, id DESC) with an integer key: relevance
	 * (ts_rank scaled to an integer, so that pages agree), the hourly rate
	 * negated (cheapest first), the capacity (largest first), or the
	 * creation time in microseconds.  The inner query ranks ids; only the
	 * page's rows have their documents read.  Two spellings, with words and
	 * without, so that each keeps a plan of its own.
	 *
	 * With words: the words as each language reads them, grouped by query
	 * (most languages read most words alike), and one scan of the index of
	 * the words per distinct query, keeping the spaces of that query's
	 * languages: a space matches, and is ranked by, the query of its own
	 * language, and each candidate is read once, by a plain comparison of
	 * its language, with no per-row lookup of its query.  OFFSET 0 keeps
	 * the cursor's condition on the key from being pushed into the scan,
	 * where it would compute ts_rank a second time for every candidate.
	 * Only stop words: no group, nothing found.
	 */
	IF v_q IS NOT NULL THEN
		SELECT pg_catalog.array_agg(s.doc::text ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.k ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.id ORDER BY o.k DESC, o.id DESC)
		  INTO v_docs, v_keys, v_ids
		  FROM (SELECT p.id, p.k
				  FROM (SELECT x.query, pg_catalog.array_agg(x.lang) AS langs
						  FROM (SELECT l.lang,
									   pg_catalog.websearch_to_tsquery(workon.text_search_config(l.lang), v_q) AS query
								  FROM pg_catalog.unnest(v_langs) AS l (lang)) AS x
						 WHERE pg_catalog.numnode(x.query) > 0
						 GROUP BY x.query) AS g
				 CROSS JOIN LATERAL
					   (SELECT s.id,
							   CASE v_sort
								   WHEN 'relevance' THEN (pg_catalog.ts_rank(s.search, g.query) * 1000000000)::bigint
								   WHEN 'price' THEN -s.hourly_rate_cents
								   WHEN 'capacity' THEN s.capacity::bigint
								   ELSE (pg_catalog.date_part('epoch', s.created_at) * 1000000)::bigint
							   END AS k
						  FROM workon.spaces AS s
						 WHERE s.published
						   AND s.search @@ g.query
						   AND COALESCE(s.language, workon.space_language(s.timezone))
							   = ANY (g.langs)
						   AND (v_city IS NULL OR s.city_key = v_city)
						   AND (v_kind IS NULL OR s.kind = v_kind)
						   AND s.capacity >= v_min
						OFFSET 0) AS p
				 WHERE (p.k, p.id) < (v_after_key, v_after_id)
				 ORDER BY p.k DESC, p.id DESC
				 LIMIT v_limit + 1) AS o
		  JOIN workon.spaces AS s ON s.id = o.id;
	ELSE
		SELECT pg_catalog.array_agg(s.doc::text ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.k ORDER BY o.k DESC, o.id DESC),
			   pg_catalog.array_agg(o.id ORDER BY o.k DESC, o.id DESC)
		  INTO v_docs, v_keys, v_ids
		  FROM (SELECT p.id, p.k
				  FROM (SELECT s.id,
							   CASE v_sort WHEN 'price' THEN -s.hourly_rate_cents ELSE s.capacity::bigint END AS k
						  FROM workon.spaces AS s
						 WHERE s.published
						   AND (v_city IS NULL OR s.city_key = v_city)
						   AND (v_kind IS NULL OR s.kind = v_kind)
						   AND s.capacity >= v_min) AS p
				 WHERE (p.k, p.id) < (v_after_key, v_after_id)
				 ORDER BY p.k DESC, p.id DESC
				 LIMIT v_limit + 1) AS o
		  JOIN workon.spaces AS s ON s.id = o.id;
	END IF;

	RETURN workon.json_build(
		'data', workon.json_trusted(
			'[' || COALESCE(pg_catalog.array_to_string(v_docs[1:v_limit], ','), '') || ']'),
		'next_cursor', CASE WHEN pg_catalog.cardinality(v_docs) > v_limit THEN
						   workon.cursor_encode_key(v_order, v_keys[v_limit], v_ids[v_limit])
					   END);
END
$$;

-- POST /api/v1/bookings reports both times' problems at once
-- not strict: a missing time is a problem of its own, and without a time zone and
-- opening hours (no space yet) the rule of the opening hours is left out
CREATE FUNCTION workon.booking_problems(timezone text, opening_hours jsonb,
										starts_at timestamptz, ends_at timestamptz,
										now timestamptz,
										OUT fields text[], OUT messages text[])
RETURNS record
AS 'MODULE_PATHNAME', 'booking_problems'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_problems(text, jsonb, timestamptz, timestamptz, timestamptz) IS
'The rules of workon.booking_check with each time judged on its own: for starts_at and for ends_at the first rule it breaks (fields and messages, starts_at first; empty when the booking may be made), for workon.raise_invalid, so that both are reported at once. A missing time is "required"; the opening hours are checked only when timezone and opening_hours are given and every other rule holds';

GRANT EXECUTE ON FUNCTION workon.booking_problems(text, jsonb, timestamptz, timestamptz, timestamptz)
	TO workon_member, workon_host, workon_admin;
COMMENT ON FUNCTION workon.booking_create(uuid, timestamptz, timestamptz) IS
'POST /api/v1/bookings: a hold (pending_payment until hold_expires_at, workon.booking_hold_minutes from now) of a space the caller can see; the rules of workon.booking_problems (22023 naming every invalid field at once: details.fields), the price of workon.booking_price; P0002 for an unknown or unseen space, WOR01 space_archived for an archived one (its host, admins); WOC02 booking_conflict if a confirmed booking or live hold overlaps';

-- the audit log's copies of rows: times in the one form of the API
CREATE FUNCTION workon.audit_times(entity text, data jsonb)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN pg_catalog.jsonb_typeof($2) = 'object' THEN
		COALESCE((SELECT pg_catalog.jsonb_object_agg(e.key,
					CASE WHEN e.key = ANY (c.cols) AND pg_catalog.jsonb_typeof(e.value) = 'string'
							  AND (e.value #>> '{}') ~ '^\d{4}-'
						 THEN pg_catalog.to_jsonb(pg_catalog.to_char(
								  (e.value #>> '{}')::timestamptz AT TIME ZONE 'UTC',
								  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
						 ELSE e.value END)
					FROM pg_catalog.jsonb_each($2) AS e,
						 (SELECT pg_catalog.array_agg(a.attname::text) AS cols
							FROM pg_catalog.pg_attribute AS a
						   WHERE a.attrelid = pg_catalog.to_regclass('workon.' || pg_catalog.quote_ident($1))
							 AND a.atttypid = 'pg_catalog.timestamptz'::pg_catalog.regtype
							 AND a.attnum > 0 AND NOT a.attisdropped) AS c), '{}')
		ELSE $2 END
$$;

COMMENT ON FUNCTION workon.audit_times(text, jsonb) IS
'An audit row''s copy of a row of table workon.<entity> with the values of its timestamptz columns in the API''s one form of time (RFC 3339, UTC, six fractional digits, Z), as workon.json_build writes them; the trigger stores them as to_jsonb does (the session''s offset, varying digits)';

CREATE OR REPLACE FUNCTION workon.audit_json(a workon.audit_log)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', a.id::text,
		'at', a.at,
		'actor_id', a.actor_id,
		'action', a.action,
		'entity', a.entity,
		'entity_id', a.entity_id,
		'changed', COALESCE(a.changed, '{}'),
		'before', workon.audit_times(a.entity, a.before),
		'after', workon.audit_times(a.entity, a.after))
$$;

GRANT EXECUTE ON FUNCTION workon.audit_times(text, jsonb) TO workon_admin;
-- A file's download answers If-None-Match and Range itself from the request's
-- headers (meta): 304 without reading the bytes, 206 reading only the range
-- (sql/src/15_uploads.sql)
DROP FUNCTION workon.upload_content(uuid, bigint, text);

CREATE FUNCTION workon.upload_content(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL,
									  meta jsonb DEFAULT NULL)
RETURNS bytea
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
	v_bytes		bytea;
	v_cache		text;
	v_etag		text;
	v_headers	jsonb;
	v_range		text[];
	v_first		bigint;
	v_last		bigint;
BEGIN
	IF upload_content.expires IS NOT NULL OR upload_content.sig IS NOT NULL THEN
		PERFORM workon.signed_url_verify('GET', workon.upload_path(upload_content.id),
										 upload_content.expires, upload_content.sig);
		-- private: kept by the browser until the URL expires, never by shared caches
		v_cache := 'private, max-age=' || GREATEST(0, upload_content.expires
						- pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint);
	ELSIF workon.upload_public(upload_content.id) THEN
		-- public: its bytes never change; a day bounds how long a file
		-- unpublished since stays in caches
		v_cache := 'public, max-age=86400';
	ELSE
		PERFORM workon.signed_url_verify('GET', workon.upload_path(upload_content.id), NULL, NULL);
	END IF;

	SELECT * INTO v FROM workon.uploads AS u WHERE u.id = upload_content.id AND u.state = 'stored';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'upload not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	v_etag := '"' || pg_catalog.encode(v.sha256, 'hex') || '"';
	v_headers := pg_catalog.jsonb_build_object(
		'Content-Type', v.content_type,
		'Content-Disposition', workon.content_disposition(
			CASE WHEN v.content_type LIKE 'image/%' THEN 'inline' ELSE 'attachment' END, v.filename),
		'Cache-Control', v_cache,
		'ETag', v_etag,
		'X-Content-Type-Options', 'nosniff',
		'Content-Security-Policy', 'default-src ''none''; frame-ancestors ''none''; sandbox');

	-- If-None-Match (a list of tags, weak comparison, or *): 304 from the
	-- metadata, no byte read
	IF EXISTS (SELECT FROM pg_catalog.regexp_split_to_table(
							   upload_content.meta #>> '{headers,if-none-match}', ',') AS t(tag)
				WHERE pg_catalog.regexp_replace(pg_catalog.btrim(t.tag, E' \t'), '^W/', '') IN ('*', v_etag)) THEN
		PERFORM workon.set_response(304, v_headers);
		RETURN NULL;
	END IF;

	-- in the bucket: the front end redirects to a presigned URL of the key
	-- (the bucket answers Range itself)
	IF v.store = 's3' THEN
		PERFORM workon.set_response(200, v_headers);
		PERFORM workon.set_store_transfer('get', v.s3_key);
		RETURN NULL;
	END IF;

	-- Range: one range of bytes (a-b, a-, -n), when If-Range is absent or the
	-- ETag; several ranges, another unit or a malformed value get the whole
	-- file (the front end adds Accept-Ranges to a 200). Only the range is
	-- read: the bytes are stored uncompressed (STORAGE EXTERNAL), so
	-- substring fetches only the TOAST chunks it needs
	v_range := pg_catalog.regexp_match(pg_catalog.btrim(upload_content.meta #>> '{headers,range}', E' \t'),
									   '^[Bb][Yy][Tt][Ee][Ss]=[ \t]*([0-9]{0,18})-([0-9]{0,18})$');
	IF v_range IS NOT NULL AND v_range <> '{"",""}'
	   AND COALESCE(pg_catalog.btrim(upload_content.meta #>> '{headers,if-range}', E' \t') = v_etag, true)
	   AND NOT (v_range[1] <> '' AND v_range[2] <> '' AND v_range[2]::bigint < v_range[1]::bigint) THEN
		IF v_range[1] = '' THEN
			-- the last n bytes
			v_first := GREATEST(v.size - v_range[2]::bigint, 0);
			v_last := CASE WHEN v_range[2]::bigint = 0 THEN -1 ELSE v.size - 1 END;
		ELSE
			v_first := v_range[1]::bigint;
			v_last := LEAST(COALESCE(NULLIF(v_range[2], '')::bigint, v.size - 1), v.size - 1);
		END IF;
		IF v_first >= v.size OR v_last < v_first THEN
			PERFORM workon.set_response(416, v_headers || pg_catalog.jsonb_build_object(
				'Content-Range', 'bytes */' || v.size));
			RETURN NULL;
		END IF;
		SELECT pg_catalog.substr(d.bytes, (v_first + 1)::integer, (v_last - v_first + 1)::integer) INTO v_bytes
		  FROM workon.upload_data AS d WHERE d.upload_id = v.id;
		PERFORM workon.set_response(206, v_headers || pg_catalog.jsonb_build_object(
			'Content-Range', 'bytes ' || v_first || '-' || v_last || '/' || v.size));
		RETURN v_bytes;
	END IF;

	SELECT d.bytes INTO v_bytes FROM workon.upload_data AS d WHERE d.upload_id = v.id;
	PERFORM workon.set_response(200, v_headers);
	RETURN v_bytes;
END
$$;

COMMENT ON FUNCTION workon.upload_content(uuid, bigint, text, jsonb) IS
'GET /api/v1/uploads/{id}/content: the bytes, with a signed URL (expires, sig; from download_url) or, for a public file, without; Content-Type, Content-Disposition (inline for images, attachment for PDFs), ETag (the SHA-256), Cache-Control (private until the URL expires, public for a day), nosniff and a sandboxing Content-Security-Policy; WOU01 invalid_url_signature for an unsigned URL of a private file or a bad signature. meta.headers (the front end passes them): If-None-Match matching the ETag is 304 without reading the bytes; Range of one byte range (a-b, a-, -n; If-Range, when sent, equal to the ETag) is 206 with Content-Range and only that part read, 416 with Content-Range bytes */size when it starts past the end; several ranges or a malformed one get the whole file. A file in the bucket (store s3) has no bytes here: the handler asks the front end for a store transfer get of its key (workon.set_store_transfer: a redirect to a presigned URL, to which Range goes)';

UPDATE workon.routes
   SET handler = 'workon.upload_content(uuid,bigint,text,jsonb)'::pg_catalog.regprocedure
 WHERE method = 'GET' AND path = '/api/v1/uploads/{id}/content';

GRANT EXECUTE ON FUNCTION workon.upload_content(uuid, bigint, text, jsonb)
	TO workon_anon, workon_member, workon_host, workon_admin;

--
-- The stats' rollup is kept asynchronously (sql/src/62_stats_rollup.sql): the
-- triggers queue a change's share, workon.stats_fold() folds the queue into
-- the sums, and the report adds what is still queued
--
CREATE TABLE workon.stats_booking_changes (
	space_id	uuid NOT NULL,
	starts_at	timestamptz NOT NULL,
	ends_at		timestamptz NOT NULL,
	status		text NOT NULL,
	sign		integer NOT NULL
);

COMMENT ON TABLE workon.stats_booking_changes IS
'Bookings'' changes not yet in the rollup: a booking''s values whose share is added (sign 1) or taken away (sign -1), appended by the bookings'' triggers, taken out by workon.stats_fold';

CREATE TABLE workon.stats_money_changes (
	day			date NOT NULL,
	space_id	uuid NOT NULL,
	currency	text NOT NULL,
	paid_cents	bigint NOT NULL,
	refunded_cents bigint NOT NULL,
	sign		integer NOT NULL
);

COMMENT ON TABLE workon.stats_money_changes IS
'Succeeded payments'' and refunds'' changes not yet in the revenue rollup: the share of stats_revenue_days that is added (sign 1, the cents as they are) or taken away (sign -1, the cents negated), appended by the triggers of payments and refunds, taken out by workon.stats_fold';

SELECT pg_catalog.pg_extension_config_dump('workon.stats_booking_changes', '');
SELECT pg_catalog.pg_extension_config_dump('workon.stats_money_changes', '');

CREATE FUNCTION workon.stats_utc_shares(changes workon.stats_booking_changes[])
RETURNS TABLE (space_id uuid, day date, pending_payment integer, confirmed integer, expired integer,
			   cancelled integer, completed integer, booked_microseconds bigint, running integer)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	-- (neither STRICT nor SET search_path: inlined into the callers' queries)
	-- each change's status on the day it starts; for the booked ones their
	-- time in each UTC day and the days they run into
	SELECT c.space_id, g.day,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'pending_payment' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'confirmed' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'expired' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'cancelled' THEN c.sign ELSE 0 END)::integer,
		   pg_catalog.sum(CASE WHEN g.day = c.first_day AND c.status = 'completed' THEN c.sign ELSE 0 END)::integer,
		   COALESCE(pg_catalog.sum(c.sign * (EXTRACT(epoch FROM LEAST(c.ends_at, (g.day + 1)::timestamp AT TIME ZONE 'UTC')
															- GREATEST(c.starts_at, g.day::timestamp AT TIME ZONE 'UTC'))
											  * 1000000)::bigint) FILTER (WHERE c.booked), 0)::bigint,
		   pg_catalog.sum(CASE WHEN c.booked AND g.day > c.first_day THEN c.sign ELSE 0 END)::integer
	  FROM (SELECT x.space_id, x.starts_at, x.ends_at, x.status, x.sign,
				   (x.starts_at AT TIME ZONE 'UTC')::date AS first_day,
				   x.status IN ('confirmed', 'completed') AS booked
			  FROM pg_catalog.unnest($1) AS x) AS c
	 CROSS JOIN LATERAL (SELECT d::date AS day
						   FROM pg_catalog.generate_series(c.first_day,
								CASE WHEN c.booked THEN ((c.ends_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date
									 ELSE c.first_day END, interval '1 day') AS d) AS g
	 GROUP BY g.day, c.space_id
	 ORDER BY g.day, c.space_id
$$;

COMMENT ON FUNCTION workon.stats_utc_shares(workon.stats_booking_changes[]) IS
'What the changes add to workon.stats_utc_days, summed per UTC day and space';

CREATE FUNCTION workon.stats_local_shares(changes workon.stats_booking_changes[])
RETURNS TABLE (space_id uuid, day date, booked_microseconds bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	-- (as stats_utc_shares) the booked ones' time inside the space's opening
	-- hours per local day, from the same C code as the report
	SELECT c.space_id, o.day, pg_catalog.sum(c.sign * o.booked_microseconds)::bigint
	  FROM pg_catalog.unnest($1) AS c
	  JOIN workon.spaces AS s ON s.id = c.space_id
	 CROSS JOIN LATERAL workon.booking_local_days(s.timezone, s.opening_hours, c.starts_at, c.ends_at) AS o
	 WHERE c.status IN ('confirmed', 'completed')
	 GROUP BY c.space_id, o.day
	 ORDER BY c.space_id, o.day
$$;

COMMENT ON FUNCTION workon.stats_local_shares(workon.stats_booking_changes[]) IS
'What the changes add to workon.stats_local_days, summed per space and local day (the space''s current zone and opening hours)';

CREATE OR REPLACE FUNCTION workon.stats_bookings_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- the old row's share goes, the new row's comes: one statement, folded later
	IF TG_OP = 'INSERT' THEN
		INSERT INTO workon.stats_booking_changes (space_id, starts_at, ends_at, status, sign)
		VALUES (NEW.space_id, NEW.starts_at, NEW.ends_at, NEW.status, 1);
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO workon.stats_booking_changes (space_id, starts_at, ends_at, status, sign)
		VALUES (OLD.space_id, OLD.starts_at, OLD.ends_at, OLD.status, -1),
			   (NEW.space_id, NEW.starts_at, NEW.ends_at, NEW.status, 1);
	ELSE
		INSERT INTO workon.stats_booking_changes (space_id, starts_at, ends_at, status, sign)
		VALUES (OLD.space_id, OLD.starts_at, OLD.ends_at, OLD.status, -1);
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_bookings_rollup() IS
'Trigger of bookings: queues the move of the row''s share of the stats rollup from its old values to its new ones (workon.stats_booking_changes)';

DROP FUNCTION workon.stats_add_booking(workon.bookings, integer);

CREATE OR REPLACE FUNCTION workon.stats_add_money(booking_id uuid, at timestamptz, currency text,
									   paid bigint, refunded bigint, sign integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	-- queued for workon.stats_fold: the row of a day's revenue of all
	-- spaces is written by the fold alone, so payments do not queue on it.
	-- PL/pgSQL: its plan is kept for the session; no SET search_path (the
	-- trigger that calls it sets it)
	INSERT INTO workon.stats_money_changes (day, space_id, currency, paid_cents, refunded_cents, sign)
	SELECT (stats_add_money.at AT TIME ZONE 'UTC')::date, b.space_id, stats_add_money.currency,
		   sign * paid, sign * refunded, sign
	  FROM workon.bookings AS b
	 WHERE b.id = stats_add_money.booking_id;
END
$$;

COMMENT ON FUNCTION workon.stats_add_money(uuid, timestamptz, text, bigint, bigint, integer) IS
'Queues the addition (sign 1) or removal (sign -1) of a succeeded payment''s or refund''s share of workon.stats_revenue_days and stats_revenue_totals (workon.stats_money_changes)';

COMMENT ON FUNCTION workon.stats_money_rollup() IS
'Trigger of payments and refunds: queues the move of a succeeded one''s share of the revenue rollup: a payment on the UTC day of succeeded_at in the currency and amount received (else the ones asked), a refund on the UTC day of stripe_status_at (else created_at)';

CREATE FUNCTION workon.stats_fold()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_bookings	integer;
	v_money		integer;
BEGIN
	-- one fold at a time (an advisory lock: neither the queues' writers nor
	-- their vacuum are held up); the changes of transactions still running
	-- stay for the next one.  Each queue in one statement: the changes it
	-- takes out are what it adds (and never in a variable, whose value a
	-- custom plan would carry as a constant through the planner)
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.stats_booking_changes'::regclass::oid::bigint);
	WITH d AS (
		DELETE FROM workon.stats_booking_changes AS c RETURNING c
	), a AS (
		SELECT pg_catalog.array_agg(d.c) AS changes FROM d
	), u AS (
		INSERT INTO workon.stats_utc_days AS t (space_id, day, pending_payment, confirmed, expired,
												cancelled, completed, booked_microseconds, running)
		SELECT p.* FROM a CROSS JOIN LATERAL workon.stats_utc_shares(a.changes) AS p
		ON CONFLICT (day, space_id) DO UPDATE
		   SET pending_payment = t.pending_payment + EXCLUDED.pending_payment,
			   confirmed = t.confirmed + EXCLUDED.confirmed,
			   expired = t.expired + EXCLUDED.expired,
			   cancelled = t.cancelled + EXCLUDED.cancelled,
			   completed = t.completed + EXCLUDED.completed,
			   booked_microseconds = t.booked_microseconds + EXCLUDED.booked_microseconds,
			   running = t.running + EXCLUDED.running
	), l AS (
		INSERT INTO workon.stats_local_days AS t (space_id, day, booked_microseconds)
		SELECT p.* FROM a CROSS JOIN LATERAL workon.stats_local_shares(a.changes) AS p
		ON CONFLICT (space_id, day) DO UPDATE
		   SET booked_microseconds = t.booked_microseconds + EXCLUDED.booked_microseconds
	)
	SELECT pg_catalog.count(*) INTO v_bookings FROM d;

	WITH d AS (
		DELETE FROM workon.stats_money_changes AS c RETURNING c.*
	), r AS (
		INSERT INTO workon.stats_revenue_days AS t (day, space_id, currency, paid_cents, refunded_cents, n)
		SELECT d.day, d.space_id, d.currency, pg_catalog.sum(d.paid_cents), pg_catalog.sum(d.refunded_cents),
			   pg_catalog.sum(d.sign)
		  FROM d
		 GROUP BY d.space_id, d.day, d.currency
		 ORDER BY d.space_id, d.day, d.currency
		ON CONFLICT ON CONSTRAINT stats_revenue_days_pkey DO UPDATE
		   SET paid_cents = t.paid_cents + EXCLUDED.paid_cents,
			   refunded_cents = t.refunded_cents + EXCLUDED.refunded_cents,
			   n = t.n + EXCLUDED.n
	), s AS (
		INSERT INTO workon.stats_revenue_totals AS t (day, currency, paid_cents, refunded_cents, n)
		SELECT d.day, d.currency, pg_catalog.sum(d.paid_cents), pg_catalog.sum(d.refunded_cents),
			   pg_catalog.sum(d.sign)
		  FROM d
		 GROUP BY d.day, d.currency
		 ORDER BY d.day, d.currency
		ON CONFLICT ON CONSTRAINT stats_revenue_totals_pkey DO UPDATE
		   SET paid_cents = t.paid_cents + EXCLUDED.paid_cents,
			   refunded_cents = t.refunded_cents + EXCLUDED.refunded_cents,
			   n = t.n + EXCLUDED.n
	)
	SELECT pg_catalog.count(*) INTO v_money FROM d;
	RETURN v_bookings + v_money;
END
$$;

COMMENT ON FUNCTION workon.stats_fold() IS
'Moves the committed changes of workon.stats_booking_changes and stats_money_changes into the rollup, summed per row of the rollup, and says how many changes it took; the shim calls it every second, pg_cron may too (the report adds the changes still queued, so this only keeps the queues short)';

CREATE OR REPLACE FUNCTION workon.stats_spaces_rollup()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- after the bookings' writers in flight, before the next ones: their
	-- queued changes are folded, then the space's days computed again (the
	-- fold's lock first, as the fold takes it)
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.stats_booking_changes'::regclass::oid::bigint);
	LOCK TABLE workon.stats_booking_changes IN SHARE ROW EXCLUSIVE MODE;
	PERFORM workon.stats_fold();
	PERFORM workon.stats_rebuild_local_days(ARRAY[NEW.id]);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.stats_spaces_rollup() IS
'Trigger of spaces: a new zone or new opening hours change the local days and the booked time inside the opening hours, so the space''s occupancy rollup is computed again';

CREATE OR REPLACE FUNCTION workon.stats_rollup_rebuild()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- one writer at a time: the triggers wait until the sums are whole; the
	-- queued changes are in the rows the sums are computed from
	LOCK TABLE workon.stats_booking_changes, workon.stats_money_changes IN EXCLUSIVE MODE;
	LOCK TABLE workon.stats_local_days, workon.stats_utc_days, workon.stats_revenue_days,
		workon.stats_revenue_totals IN EXCLUSIVE MODE;
	DELETE FROM workon.stats_booking_changes;
	DELETE FROM workon.stats_money_changes;
	TRUNCATE workon.stats_local_days, workon.stats_utc_days, workon.stats_revenue_days,
		workon.stats_revenue_totals;
	PERFORM workon.stats_rebuild_local_days(ARRAY(SELECT s.id FROM workon.spaces AS s));

	WITH b AS (
		SELECT b.space_id, b.starts_at, b.ends_at, b.status,
			   (b.starts_at AT TIME ZONE 'UTC')::date AS first_day,
			   b.status IN ('confirmed', 'completed') AS booked
		  FROM workon.bookings AS b
	)
	INSERT INTO workon.stats_utc_days (space_id, day, pending_payment, confirmed, expired,
									   cancelled, completed, booked_microseconds, running)
	SELECT b.space_id, g.day,
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'pending_payment'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'confirmed'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'expired'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'cancelled'),
		   pg_catalog.count(*) FILTER (WHERE g.day = b.first_day AND b.status = 'completed'),
		   COALESCE(pg_catalog.sum((EXTRACT(epoch FROM LEAST(b.ends_at, (g.day + 1)::timestamp AT TIME ZONE 'UTC')
												  - GREATEST(b.starts_at, g.day::timestamp AT TIME ZONE 'UTC'))
									* 1000000)::bigint) FILTER (WHERE b.booked), 0),
		   pg_catalog.count(*) FILTER (WHERE b.booked AND g.day > b.first_day)
	  FROM b
	 CROSS JOIN LATERAL (SELECT d::date AS day
						   FROM pg_catalog.generate_series(b.first_day,
								CASE WHEN b.booked THEN ((b.ends_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date
									 ELSE b.first_day END, interval '1 day') AS d) AS g
	 GROUP BY g.day, b.space_id
	 -- in the order the report reads them: a window's days are few pages
	 ORDER BY g.day, b.space_id;

	INSERT INTO workon.stats_revenue_days (day, space_id, currency, paid_cents, refunded_cents, n)
	SELECT m.day, b.space_id, m.currency, pg_catalog.sum(m.paid), pg_catalog.sum(m.refunded), pg_catalog.count(*)
	  FROM (SELECT p.booking_id, (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
				   COALESCE(p.received_currency, p.currency) AS currency,
				   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded
			  FROM workon.payments AS p
			 WHERE p.status = 'succeeded' AND p.succeeded_at IS NOT NULL
			UNION ALL
			SELECT r.booking_id, (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
				   r.currency, 0, r.amount_cents
			  FROM workon.refunds AS r
			 WHERE r.status = 'succeeded') AS m
	  JOIN workon.bookings AS b ON b.id = m.booking_id
	 GROUP BY m.day, b.space_id, m.currency
	 ORDER BY b.space_id, m.day, m.currency;
	INSERT INTO workon.stats_revenue_totals (day, currency, paid_cents, refunded_cents, n)
	SELECT r.day, r.currency, pg_catalog.sum(r.paid_cents), pg_catalog.sum(r.refunded_cents), pg_catalog.sum(r.n)
	  FROM workon.stats_revenue_days AS r
	 GROUP BY r.day, r.currency;
END
$$;

COMMENT ON FUNCTION workon.stats_rollup_rebuild() IS
'Recomputes the whole stats rollup (workon.stats_local_days, stats_utc_days, stats_revenue_days, stats_revenue_totals) from the bookings, payments and refunds, and empties the queues of changes: after loading rows with the triggers off, and by the update that adds the rollup';

CREATE OR REPLACE FUNCTION workon.stats_report("from" text, "to" text, space_id uuid, city text,
									host_id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_to		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."to", ''), 'to', true),
										pg_catalog.now());
	v_from		timestamptz := COALESCE(workon.stats_bound(NULLIF(stats_report."from", ''), 'from', false),
										v_to - interval '30 days');
	v_city		text := pg_catalog.lower(NULLIF(pg_catalog.btrim(stats_report.city), ''));
	v_spaces	uuid[];
	v_all		boolean;
	v_d1		date;
	v_d2		date;
	v_rollup	boolean;
	v_report	json;
BEGIN
	IF v_to <= v_from THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	IF v_to - v_from > interval '366 days' THEN
		RAISE EXCEPTION 'the window from..to must be at most 366 days'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;

	-- the spaces the report is about
	SELECT pg_catalog.array_agg(s.id) INTO v_spaces
	  FROM workon.spaces AS s
	 WHERE (stats_report.space_id IS NULL OR s.id = stats_report.space_id)
	   AND (v_city IS NULL OR s.city_key = v_city)
	   AND (stats_report.host_id IS NULL OR s.host_id = stats_report.host_id);
	v_spaces := COALESCE(v_spaces, '{}');
	v_all := stats_report.space_id IS NULL AND v_city IS NULL AND stats_report.host_id IS NULL;

	-- a window of whole UTC days reads the rollup (sql/src/62_stats_rollup.sql);
	-- another one the rows
	v_d1 := (v_from AT TIME ZONE 'UTC')::date;
	v_d2 := (v_to AT TIME ZONE 'UTC')::date;
	v_rollup := v_from = v_d1::timestamp AT TIME ZONE 'UTC' AND v_to = v_d2::timestamp AT TIME ZONE 'UTC';

	-- the changes not yet folded into the rollup are added to it
	-- (sql/src/62_stats_rollup.sql); read here, not into a variable, whose
	-- value a custom plan would carry as a constant through the planner
	WITH changes AS MATERIALIZED (
		SELECT pg_catalog.array_agg(c) AS a FROM workon.stats_booking_changes AS c
	), b AS MATERIALIZED (
		-- the bookings that overlap the window
		SELECT b.space_id, b.starts_at, b.ends_at,
			   CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
					THEN 'expired' ELSE b.status END AS status
		  FROM workon.bookings AS b
		 WHERE NOT v_rollup
		   AND b.ends_at > v_from AND b.starts_at < v_to
		   AND (v_all OR b.space_id = ANY (v_spaces))
	), u AS MATERIALIZED (
		-- per space: the rollup's bookings by status, and for the top spaces
		-- the confirmed and completed ones in the window (those running
		-- into its first day included) and their time in it
		SELECT t.space_id,
			   pg_catalog.sum(t.pending_payment) AS pending_payment, pg_catalog.sum(t.confirmed) AS confirmed,
			   pg_catalog.sum(t.expired) AS expired, pg_catalog.sum(t.cancelled) AS cancelled,
			   pg_catalog.sum(t.completed) AS completed,
			   pg_catalog.sum(t.confirmed + t.completed)
				   + COALESCE(pg_catalog.sum(t.running) FILTER (WHERE t.day = v_d1), 0) AS n,
			   (pg_catalog.sum(t.booked_microseconds) / 1000000.0)::bigint AS booked_s
		  FROM (SELECT * FROM workon.stats_utc_days
				UNION ALL
				SELECT p.* FROM changes CROSS JOIN LATERAL workon.stats_utc_shares(changes.a) AS p) AS t
		 WHERE v_rollup AND t.day >= v_d1 AND t.day < v_d2
		   AND (v_all OR t.space_id = ANY (v_spaces))
		 GROUP BY t.space_id
	), counts AS (
		SELECT b.status, pg_catalog.count(*) AS n
		  FROM b
		 WHERE b.starts_at >= v_from
		 GROUP BY b.status
		UNION ALL
		SELECT x.status, x.n
		  FROM (SELECT pg_catalog.sum(u.pending_payment) AS pending_payment, pg_catalog.sum(u.confirmed) AS confirmed,
					   pg_catalog.sum(u.expired) AS expired, pg_catalog.sum(u.cancelled) AS cancelled,
					   pg_catalog.sum(u.completed) AS completed
				  FROM u) AS t
		 CROSS JOIN LATERAL (VALUES ('pending_payment', t.pending_payment), ('confirmed', t.confirmed),
								   ('expired', t.expired), ('cancelled', t.cancelled),
								   ('completed', t.completed)) AS x(status, n)
		UNION ALL
		-- the rollup has the stored status: a lapsed hold counts as expired
		SELECT x.status, x.n
		  FROM (SELECT pg_catalog.count(*) AS n
				  FROM workon.bookings AS b
				 WHERE v_rollup AND b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
				   AND b.starts_at >= v_from AND b.starts_at < v_to
				   AND (v_all OR b.space_id = ANY (v_spaces))) AS l
		 CROSS JOIN LATERAL (VALUES ('pending_payment', -l.n), ('expired', l.n)) AS x(status, n)
	), pending_local AS MATERIALIZED (
		-- per space, so that each space finds its own at once
		SELECT p.space_id, pg_catalog.array_agg(p.day) AS days, pg_catalog.array_agg(p.booked_microseconds) AS us
		  FROM changes CROSS JOIN LATERAL workon.stats_local_shares(changes.a) AS p
		 GROUP BY p.space_id
	), occ AS (
		-- the booked time per local day: always the rollup's, whole days
		-- (space_occupancy_days adds up the numbers of a day)
		SELECT s.id, s.name, s.timezone, d.first_day, o.daily_open_hours, o.daily_booked_hours,
			   o.open_hours AS open_h, o.booked_hours AS booked_h
		  FROM workon.spaces AS s
		 CROSS JOIN LATERAL (SELECT (v_from AT TIME ZONE s.timezone)::date AS first_day,
									((v_to - interval '1 microsecond') AT TIME ZONE s.timezone)::date AS last_day) AS d
		 CROSS JOIN LATERAL (SELECT pg_catalog.array_agg(l.day) AS days,
									pg_catalog.array_agg(l.booked_microseconds) AS us
							   FROM workon.stats_local_days AS l
							  WHERE l.space_id = s.id AND l.day >= d.first_day AND l.day <= d.last_day) AS sb
		  LEFT JOIN pending_local AS p ON p.space_id = s.id
		 CROSS JOIN LATERAL workon.space_occupancy_days(
			s.timezone, s.opening_hours, d.first_day, d.last_day,
			COALESCE(sb.days, '{}') || COALESCE(p.days, '{}'), COALESCE(sb.us, '{}') || COALESCE(p.us, '{}')) AS o
		 WHERE s.id = ANY (v_spaces)
	), rev AS (
		SELECT d.day, d.currency, pg_catalog.sum(d.paid) AS paid, pg_catalog.sum(d.refunded) AS refunded
		  FROM (SELECT (p.succeeded_at AT TIME ZONE 'UTC')::date AS day,
					   COALESCE(p.received_currency, p.currency) AS currency,
					   COALESCE(p.amount_received_cents, p.amount_cents) AS paid, 0 AS refunded, 1 AS n
				  FROM workon.payments AS p
				 WHERE NOT v_rollup AND p.status = 'succeeded'
				   AND p.succeeded_at >= v_from AND p.succeeded_at < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = p.booking_id AND bk.space_id = ANY (v_spaces)))
				UNION ALL
				SELECT (COALESCE(r.stripe_status_at, r.created_at) AT TIME ZONE 'UTC')::date,
					   r.currency, 0, r.amount_cents, 1
				  FROM workon.refunds AS r
				 WHERE NOT v_rollup AND r.status = 'succeeded'
				   AND COALESCE(r.stripe_status_at, r.created_at) >= v_from
				   AND COALESCE(r.stripe_status_at, r.created_at) < v_to
				   AND (v_all OR EXISTS (SELECT FROM workon.bookings AS bk
										  WHERE bk.id = r.booking_id AND bk.space_id = ANY (v_spaces)))
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.n
				  FROM workon.stats_revenue_days AS m
				 WHERE v_rollup AND NOT v_all AND m.day >= v_d1 AND m.day < v_d2
				   AND m.space_id = ANY (v_spaces)
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.n
				  FROM workon.stats_revenue_totals AS m
				 WHERE v_rollup AND v_all AND m.day >= v_d1 AND m.day < v_d2
				UNION ALL
				SELECT m.day, m.currency, m.paid_cents, m.refunded_cents, m.sign
				  FROM workon.stats_money_changes AS m
				 WHERE v_rollup AND m.day >= v_d1 AND m.day < v_d2
				   AND (v_all OR m.space_id = ANY (v_spaces))) AS d
		 GROUP BY d.day, d.currency
		HAVING pg_catalog.sum(d.n) > 0
	), top AS (
		-- per space: the confirmed and completed bookings in the window, and
		-- their time in it
		SELECT b.space_id, pg_catalog.count(*) AS n,
			   pg_catalog.sum(EXTRACT(epoch FROM LEAST(b.ends_at, v_to) - GREATEST(b.starts_at, v_from)))::bigint AS booked_s
		  FROM b
		 WHERE b.status IN ('confirmed', 'completed')
		 GROUP BY b.space_id
		UNION ALL
		SELECT u.space_id, u.n, u.booked_s
		  FROM u
	)
	SELECT workon.json_build(
		'from', v_from,
		'to', v_to,
		'bookings', (SELECT workon.json_build(
							'total', COALESCE(pg_catalog.sum(c.n), 0),
							'by_status', workon.json_build(
								'pending_payment', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'pending_payment'), 0),
								'confirmed', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'confirmed'), 0),
								'expired', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'expired'), 0),
								'cancelled', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'cancelled'), 0),
								'completed', COALESCE(pg_catalog.sum(c.n) FILTER (WHERE c.status = 'completed'), 0)))
					   FROM counts AS c),
		'revenue', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'day', rev.day, 'currency', rev.currency,
							'paid_cents', rev.paid, 'refunded_cents', rev.refunded,
							'net_cents', rev.paid - rev.refunded)
						ORDER BY rev.day, rev.currency), '{}'))
					  FROM rev),
		'occupancy', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', o.id, 'name', o.name, 'timezone', o.timezone,
							'open_hours', pg_catalog.round(o.open_h::numeric, 2),
							'booked_hours', pg_catalog.round(o.booked_h::numeric, 2),
							'occupancy', CASE WHEN o.open_h > 0 THEN pg_catalog.round((o.booked_h / o.open_h)::numeric, 4) END,
							'first_day', o.first_day,
							'daily_open_hours', o.daily_open_hours,
							'daily_booked_hours', o.daily_booked_hours)
						ORDER BY o.name, o.id), '{}'))
						FROM occ AS o),
		'top_spaces', (SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(workon.json_build(
							'space_id', t.id, 'name', t.name, 'city', t.city,
							'bookings', t.n, 'booked_hours', pg_catalog.round(t.booked_s / 3600.0, 2))
						ORDER BY t.n DESC, t.booked_s DESC, t.id), '{}'))
						 FROM (SELECT s.id, s.name, s.city, top.n, top.booked_s
								 FROM top
								 JOIN workon.spaces AS s ON s.id = top.space_id
								WHERE top.n > 0
								ORDER BY top.n DESC, top.booked_s DESC, s.id
								LIMIT 10) AS t),
		-- who joined: the whole marketplace's, for admins only
		'new_users', CASE WHEN stats_report.host_id IS NULL THEN
			(SELECT pg_catalog.array_to_json(COALESCE(pg_catalog.array_agg(
						workon.json_build('day', n.day, 'count', n.count) ORDER BY n.day), '{}'))
			   FROM (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, pg_catalog.count(*) AS count
					   FROM workon.users AS u
					  WHERE u.created_at >= v_from AND u.created_at < v_to
					  GROUP BY 1) AS n) END)
	  INTO v_report;

	RETURN v_report;
END
$$;

--
-- Cheaper bookings: a hold's insert runs without a configuration change of
-- its own, and its event is written by the trigger in one statement
--
CREATE OR REPLACE FUNCTION workon.booking_insert(space workon.spaces, user_id uuid,
									  starts_at timestamptz, ends_at timestamptz,
									  now timestamptz)
RETURNS workon.bookings
LANGUAGE plpgsql VOLATILE
AS $$
-- (no SET search_path, which would cost every booking a configuration
-- change: its one caller, booking_create, sets it; every name is qualified)
DECLARE
	v_booking	workon.bookings;
BEGIN
	INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status,
								 hold_expires_at, price_cents, currency)
	VALUES (space.id, booking_insert.user_id, booking_insert.starts_at, booking_insert.ends_at,
			'pending_payment',
			booking_insert.now + pg_catalog.current_setting('workon.booking_hold_minutes')::interval,
			workon.booking_price(space.timezone, space.hourly_rate_cents, space.daily_rate_cents,
								 booking_insert.starts_at, booking_insert.ends_at),
			space.currency)
	RETURNING * INTO v_booking;
	RETURN v_booking;
END
$$;

CREATE OR REPLACE FUNCTION workon.status_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status THEN
		RETURN NULL;
	END IF;
	-- workon.event_emit's insert, written out: one statement per booking
	-- instead of a call that runs it (the recipients are never all NULL)
	IF TG_TABLE_NAME = 'bookings' THEN
		INSERT INTO workon.events (type, recipients, data)
		SELECT 'booking.updated', pg_catalog.array_agg(DISTINCT r), workon.booking_json(NEW)
		  FROM pg_catalog.unnest(ARRAY[NEW.user_id,
									   (SELECT s.host_id FROM workon.spaces AS s WHERE s.id = NEW.space_id)]) AS r
		 WHERE r IS NOT NULL
		HAVING pg_catalog.count(r) > 0;
	ELSE
		INSERT INTO workon.events (type, recipients, data)
		SELECT 'payment.updated', pg_catalog.array_agg(DISTINCT r), workon.payment_json(NEW)
		  FROM pg_catalog.unnest(ARRAY[NEW.user_id,
									   (SELECT s.host_id FROM workon.bookings AS b
										  JOIN workon.spaces AS s ON s.id = b.space_id
										 WHERE b.id = NEW.booking_id)]) AS r
		 WHERE r IS NOT NULL
		HAVING pg_catalog.count(r) > 0;
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.admin_stats(text, text, uuid, text, text) IS
'GET /api/v1/admin/stats?from=&to=&space_id=&city=&format= (admins): the marketplace''s numbers over [from, to) — bounds RFC 3339 with an offset or dates (YYYY-MM-DD, UTC days, "to" inclusive), default the last 30 days, at most 366 days, 400 validation_failed naming the field otherwise — optionally of one space or one city: {"from", "to", "bookings": {"total", "by_status": {status: count}} (bookings starting in the window, a lapsed hold counted as expired), "revenue": [{"day", "currency", "paid_cents", "refunded_cents", "net_cents"}] (per UTC day and currency: payments that succeeded minus refunds that succeeded, partial ones included), "occupancy": [{"space_id", "name", "timezone", "open_hours", "booked_hours", "occupancy", "first_day", "daily_open_hours": [...], "daily_booked_hours": [...]}] (hours of confirmed and completed bookings inside the opening hours over the opening hours, DST-correct, over the window and per calendar day of the space''s zone that the window touches, one number a day from first_day on; occupancy null when closed), "top_spaces": [{"space_id", "name", "city", "bookings", "booked_hours"}] (the 10 with most confirmed and completed bookings), "new_users": [{"day", "count"}]}. format=csv: the same as one CSV table (text/csv) whose column "table" names the part (workon.stats_csv). Never behind the committed rows: the changes the stats rollup has not folded yet (at most about a second''s) are added';

-- the front end's own call, outside any request
GRANT EXECUTE ON FUNCTION workon.stats_fold() TO workon_authenticator;

-- BEGIN route schemas (copied from sql/src: 05_api.sql, 90_openapi.sql and the routes' files)
-- The JSON Schemas of a route's request and answers, for the OpenAPI document
-- (workon.openapi()): each file declares them beside its routes.
CREATE TABLE workon.route_schemas (
	method		text NOT NULL,
	path		text NOT NULL,
	schemas		jsonb NOT NULL
				CONSTRAINT route_schemas_schemas_check
				CHECK (jsonb_typeof(schemas) = 'object'
					   AND schemas - ARRAY['body', 'query', 'path', 'responses'] = '{}'
					   AND jsonb_typeof(coalesce(schemas -> 'query', '{}')) = 'object'
					   AND jsonb_typeof(coalesce(schemas -> 'path', '{}')) = 'object'
					   AND jsonb_typeof(coalesce(schemas -> 'responses', '{}')) = 'object'),
	PRIMARY KEY (method, path)
);

COMMENT ON TABLE workon.route_schemas IS
'JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of a route: body (the JSON request body), query and path (by parameter name), responses (by status: the schema of its application/json body; a status the route table does not imply is added); "$ref": "#/components/schemas/<name>" names a schema of workon.openapi_components(). workon.openapi() publishes those of the routes of workon.routes (no foreign key: the route table may be truncated and reloaded); a route without a row keeps the schemas derived from its handler''s arguments and an empty response schema';

GRANT SELECT ON workon.route_schemas TO workon_authenticator;

-- The schemas the routes share (components.schemas; workon.route_schemas names
-- them with "$ref": "#/components/schemas/<name>")
CREATE FUNCTION workon.openapi_components()
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
-- AdminUser: a User with disabled; AdminUserDetail: with the admin's summary too
SELECT c.c || jsonb_build_object('AdminUser', c.admin, 'AdminUserDetail', c.admin
		|| jsonb_build_object('required', (c.admin -> 'required') || '["bookings", "spending", "spaces"]',
							  'properties', (c.admin -> 'properties') || '{
			"bookings": {"type": "object", "required": ["total", "by_status"], "description": "theirs as a member",
						 "properties": {"total": {"type": "integer"}, "by_status": {"type": "object", "additionalProperties": {"type": "integer"}}}},
			"spending": {"type": "array", "items": {"type": "object", "required": ["currency", "paid_cents", "refunded_cents", "net_cents"],
						 "properties": {"currency": {"$ref": "#/components/schemas/Currency"}, "paid_cents": {"type": "integer"},
										"refunded_cents": {"type": "integer"}, "net_cents": {"type": "integer"}}}},
			"spaces": {"type": "integer", "minimum": 0, "description": "how many they host"}}'::jsonb))
  FROM (SELECT c, jsonb_set(jsonb_set(c -> 'User', '{required}', (c #> '{User,required}') || '["disabled"]'),
						 '{properties,disabled}', '{"type": "boolean"}') - 'examples' AS admin
		  FROM (SELECT '{
  "Uuid": {"type": "string", "format": "uuid", "examples": ["d1000000-0000-4000-8000-000000000024"]},
  "Timestamp": {"type": "string", "format": "date-time", "description": "RFC 3339 in UTC, six fractional digits",
    "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z$", "examples": ["2026-03-02T09:00:00.000000Z"]},
  "Currency": {"type": "string", "pattern": "^[a-z]{3}$", "description": "ISO 4217, lower case", "examples": ["eur"]},
  "Money": {"type": "object", "required": ["amount_cents", "currency"], "additionalProperties": false,
    "properties": {"amount_cents": {"type": "integer", "minimum": 0}, "currency": {"$ref": "#/components/schemas/Currency"}},
    "examples": [{"amount_cents": 50000, "currency": "eur"}]},
  "Cursor": {"type": ["string", "null"], "description": "opaque; pass it as ?cursor= for the next page; null on the last page"},
  "Period": {"type": "object", "required": ["starts_at", "ends_at"], "additionalProperties": false,
    "properties": {"starts_at": {"$ref": "#/components/schemas/Timestamp"}, "ends_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "Role": {"type": "string", "enum": ["member", "host", "admin"]},
  "User": {"type": "object", "additionalProperties": false,
    "required": ["id", "email", "name", "role", "email_verified", "locale", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "email": {"type": "string"}, "name": {"type": "string"},
      "role": {"$ref": "#/components/schemas/Role"}, "email_verified": {"type": "boolean"},
      "locale": {"type": "string", "enum": ["en", "fr"]},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}},
    "examples": [{"id": "b5db15bb-ec6c-4bfd-91df-63ebeb624297", "email": "ada@example.com", "name": "Ada Lovelace", "role": "member",
      "email_verified": false, "locale": "en", "created_at": "2026-03-02T09:00:00.000000Z", "updated_at": "2026-03-02T09:00:00.000000Z"}]},
  "Session": {"type": "object", "additionalProperties": false,
    "required": ["user", "access_token", "refresh_token", "token_type", "expires_in"],
    "properties": {"user": {"$ref": "#/components/schemas/User"},
      "access_token": {"type": "string", "description": "a JWT for Authorization: Bearer"},
      "refresh_token": {"type": "string", "description": "for POST /api/v1/auth/refresh, once"},
      "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer", "description": "seconds the access token is valid"}}},
  "BrowserSession": {"type": "object", "additionalProperties": false,
    "required": ["user", "access_token", "token_type", "expires_in"],
    "description": "a Session whose refresh token is the HttpOnly cookie workon_refresh instead",
    "properties": {"user": {"$ref": "#/components/schemas/User"}, "access_token": {"type": "string"},
      "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"}}},
  "Registration": {"type": "object", "additionalProperties": false, "required": ["email", "password", "name"],
    "description": "every invalid field is named in details.fields",
    "properties": {"email": {"type": "string", "minLength": 3}, "password": {"type": "string", "minLength": 8, "maxLength": 128, "description": "not the e-mail address"},
      "name": {"type": "string", "minLength": 1, "maxLength": 200}, "role": {"type": "string", "enum": ["member", "host"], "default": "member"}},
    "examples": [{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada Lovelace"}]},
  "Credentials": {"type": "object", "additionalProperties": false, "required": ["email", "password"],
    "properties": {"email": {"type": "string", "minLength": 1}, "password": {"type": "string"}},
    "examples": [{"email": "ada@example.com", "password": "correct horse battery"}]},
  "SpaceKind": {"type": "string", "enum": ["desk", "private_office", "meeting_room", "event_space"]},
  "OpeningHours": {"type": "object",
    "description": "by day: sorted, non-overlapping [\"HH:MM\", \"HH:MM\"] intervals in the space''s zone on the 15-minute grid (\"24:00\" ends a day)",
    "propertyNames": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
    "additionalProperties": {"type": "array", "items": {"type": "array", "prefixItems": [
      {"type": "string", "pattern": "^([01]\\d|2[0-3]):(00|15|30|45)$"}, {"type": "string", "pattern": "^(([01]\\d|2[0-3]):(00|15|30|45)|24:00)$"}],
      "minItems": 2, "maxItems": 2}},
    "examples": [{"mon": [["08:00", "18:00"]], "tue": [["08:00", "12:00"], ["13:00", "18:00"]]}]},
  "Photo": {"type": "object", "additionalProperties": false, "required": ["id", "url", "content_type"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "url": {"type": "string"}, "content_type": {"type": "string"}}},
  "Rating": {"type": "object", "additionalProperties": false, "required": ["average", "count"],
    "properties": {"average": {"type": ["number", "null"], "minimum": 1, "maximum": 5}, "count": {"type": "integer", "minimum": 0}}},
  "Space": {"type": "object", "additionalProperties": false,
    "required": ["id", "host_id", "name", "description", "kind", "city", "address", "capacity", "timezone", "language",
      "hourly_rate_cents", "daily_rate_cents", "currency", "opening_hours", "published", "photos", "created_at", "updated_at",
      "archived_at", "rating"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "host_id": {"$ref": "#/components/schemas/Uuid"},
      "name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": "string", "maxLength": 5000},
      "kind": {"$ref": "#/components/schemas/SpaceKind"}, "city": {"type": "string", "minLength": 1},
      "address": {"type": "string"}, "capacity": {"type": "integer", "minimum": 1},
      "timezone": {"type": "string", "description": "IANA zone", "examples": ["Europe/Paris"]},
      "language": {"type": "string", "description": "the text search language of the description"},
      "hourly_rate_cents": {"type": "integer", "minimum": 0}, "daily_rate_cents": {"type": "integer", "minimum": 0},
      "currency": {"$ref": "#/components/schemas/Currency"}, "opening_hours": {"$ref": "#/components/schemas/OpeningHours"},
      "published": {"type": "boolean"}, "photos": {"type": "array", "items": {"$ref": "#/components/schemas/Photo"}, "maxItems": 20},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "archived_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]},
      "rating": {"$ref": "#/components/schemas/Rating"}}},
  "SpacePage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Space"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "SpaceInput": {"type": "object", "additionalProperties": false,
    "description": "every invalid field is named in details.fields (the first in details.field)",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": "string", "maxLength": 5000},
      "kind": {"$ref": "#/components/schemas/SpaceKind"}, "city": {"type": "string", "minLength": 1},
      "address": {"type": "string", "minLength": 1}, "capacity": {"type": "integer", "minimum": 1},
      "timezone": {"type": "string", "description": "IANA zone"},
      "language": {"type": ["string", "null"], "description": "text search language; by default the one of the zone''s country"},
      "hourly_rate_cents": {"type": "integer", "minimum": 0, "maximum": 100000000000},
      "daily_rate_cents": {"type": "integer", "minimum": 0, "maximum": 100000000000},
      "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217; stored in lower case"},
      "opening_hours": {"$ref": "#/components/schemas/OpeningHours"},
      "published": {"type": "boolean", "description": "true needs opening hours (409 no_opening_hours)"},
      "host_id": {"$ref": "#/components/schemas/Uuid", "description": "admins only: the space''s host"}},
    "examples": [{"name": "Canal loft", "kind": "meeting_room", "city": "Berlin", "address": "Paul-Lincke-Ufer 8, 10999 Berlin",
      "capacity": 8, "timezone": "Europe/Berlin", "hourly_rate_cents": 2500, "daily_rate_cents": 16000, "currency": "eur", "opening_hours": {"mon": [["08:00", "18:00"]]}, "published": true}]},
  "Availability": {"type": "object", "additionalProperties": false, "required": ["space_id", "timezone", "from", "to", "open", "busy", "free"],
    "properties": {"space_id": {"$ref": "#/components/schemas/Uuid"}, "timezone": {"type": "string"},
      "from": {"$ref": "#/components/schemas/Timestamp"}, "to": {"$ref": "#/components/schemas/Timestamp"},
      "open": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}},
      "busy": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}},
      "free": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}, "description": "open minus busy: each can be booked as given"}}},
  "BookingStatus": {"type": "string", "enum": ["pending_payment", "confirmed", "expired", "cancelled", "completed"]},
  "Booking": {"type": "object", "additionalProperties": false,
    "required": ["id", "space_id", "user_id", "starts_at", "ends_at", "status", "price", "hold_expires_at", "refund", "cancelled_at", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "space_id": {"$ref": "#/components/schemas/Uuid"},
      "user_id": {"$ref": "#/components/schemas/Uuid"},
      "starts_at": {"$ref": "#/components/schemas/Timestamp"}, "ends_at": {"$ref": "#/components/schemas/Timestamp"},
      "status": {"$ref": "#/components/schemas/BookingStatus"}, "price": {"$ref": "#/components/schemas/Money"},
      "hold_expires_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}], "description": "a pending booking''s hold ends then"},
      "refund": {"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": false, "required": ["amount_cents", "currency", "percent"],
        "properties": {"amount_cents": {"type": "integer", "minimum": 0}, "currency": {"$ref": "#/components/schemas/Currency"},
          "percent": {"type": "integer", "minimum": 0, "maximum": 100}}}]},
      "cancelled_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}},
    "examples": [{"id": "f6732d60-5a93-4ed9-9fc0-dba11176b062", "space_id": "d1000000-0000-4000-8000-000000000024",
      "user_id": "b5db15bb-ec6c-4bfd-91df-63ebeb624297", "starts_at": "2027-03-01T10:00:00.000000Z", "ends_at": "2027-03-01T12:00:00.000000Z",
      "status": "pending_payment", "price": {"amount_cents": 50000, "currency": "eur"}, "hold_expires_at": "2026-12-07T18:05:03.715902Z",
      "refund": null, "cancelled_at": null, "created_at": "2026-12-07T17:50:03.715902Z", "updated_at": "2026-12-07T17:50:03.715902Z"}]},
  "BookingPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Booking"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "AdminUserPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/AdminUser"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Upload": {"type": "object", "required": ["id", "owner_id", "filename", "content_type", "size", "state", "sha256", "created_at", "public", "download_url"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "owner_id": {"$ref": "#/components/schemas/Uuid"}, "filename": {"type": "string"},
      "content_type": {"type": "string", "enum": ["image/jpeg", "image/png", "image/webp", "application/pdf"]},
      "size": {"type": "integer", "minimum": 0}, "state": {"type": "string"}, "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "public": {"type": "boolean"},
      "download_url": {"type": ["string", "null"], "description": "signed, once the bytes are stored"}}},
  "Refund": {"type": "object", "required": ["id", "payment_id", "booking_id", "amount_cents", "currency", "status", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "payment_id": {"$ref": "#/components/schemas/Uuid"}, "booking_id": {"$ref": "#/components/schemas/Uuid"}, "amount_cents": {"type": "integer", "minimum": 0},
      "currency": {"$ref": "#/components/schemas/Currency"}, "status": {"type": "string"}, "reason": {"type": ["string", "null"]},
      "stripe_refund_id": {"type": ["string", "null"]}, "failure_reason": {"type": ["string", "null"]},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "Payment": {"type": "object", "required": ["id", "booking_id", "method", "status", "amount_cents", "currency", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "booking_id": {"$ref": "#/components/schemas/Uuid"}, "method": {"type": "string"}, "status": {"type": "string"},
      "amount_cents": {"type": "integer", "minimum": 0}, "currency": {"$ref": "#/components/schemas/Currency"},
      "stripe_payment_intent_id": {"type": ["string", "null"]},
      "client_secret": {"type": ["string", "null"], "description": "to the paying member, when the payment is created"},
      "checkout_session_id": {"type": ["string", "null"]}, "amount_received_cents": {"type": ["integer", "null"]},
      "refunded_cents": {"type": ["integer", "null"]}, "last_error": {}, "flags": {},
      "succeeded_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "refunds": {"type": "array", "items": {"$ref": "#/components/schemas/Refund"}}}},
  "Message": {"type": "object", "additionalProperties": false, "required": ["id", "conversation_id", "sender_id", "body", "created_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "conversation_id": {"$ref": "#/components/schemas/Uuid"}, "sender_id": {"$ref": "#/components/schemas/Uuid"},
      "body": {"type": "string", "minLength": 1, "maxLength": 4000}, "created_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "MessagePage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Conversation": {"type": "object", "additionalProperties": false,
    "required": ["id", "space_id", "member_id", "host_id", "last_message", "unread_count", "last_message_at", "created_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "space_id": {"$ref": "#/components/schemas/Uuid"}, "member_id": {"$ref": "#/components/schemas/Uuid"}, "host_id": {"$ref": "#/components/schemas/Uuid"},
      "last_message": {"oneOf": [{"$ref": "#/components/schemas/Message"}, {"type": "null"}]},
      "unread_count": {"type": "integer", "minimum": 0}, "last_message_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "ConversationPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Conversation"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Review": {"type": "object", "required": ["id", "space_id", "author_id", "author_name", "rating", "body", "answer", "answered_at", "created_at", "updated_at"],
    "description": "its author and admins also see booking_id, editable_until and the hiding",
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "space_id": {"$ref": "#/components/schemas/Uuid"}, "author_id": {"$ref": "#/components/schemas/Uuid"}, "author_name": {"type": ["string", "null"]},
      "rating": {"type": "integer", "minimum": 1, "maximum": 5}, "body": {"type": "string", "maxLength": 2000},
      "answer": {"type": ["string", "null"], "maxLength": 2000}, "answered_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "booking_id": {"$ref": "#/components/schemas/Uuid"}, "editable_until": {"$ref": "#/components/schemas/Timestamp"}, "hidden": {"type": "boolean"}, "hidden_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]},
      "hidden_reason": {"type": ["string", "null"]}}},
  "ReviewPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Review"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Post": {"type": "object", "required": ["id", "slug", "title", "excerpt", "tags", "locale", "cover", "markdown", "html", "published_at", "updated_at"],
    "description": "admins also see status, author_id, created_at and old_slugs",
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "slug": {"type": "string"}, "title": {"type": "string"}, "excerpt": {"type": ["string", "null"]},
      "tags": {"type": ["array", "null"], "items": {"type": "string"}}, "locale": {"type": "string", "enum": ["en", "fr"]},
      "cover": {"oneOf": [{"$ref": "#/components/schemas/Photo"}, {"type": "null"}]},
      "markdown": {"type": ["string", "null"]}, "html": {"type": ["string", "null"]}, "published_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "status": {"type": "string", "enum": ["draft", "scheduled", "published"]}, "author_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"},
      "old_slugs": {"type": "array", "items": {"type": "string"}}}},
  "PostPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Post"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Event": {"type": "object", "additionalProperties": false, "required": ["type", "id", "data"],
    "properties": {"type": {"type": "string", "examples": ["message.created"]}, "id": {"type": "string", "description": "its position, increasing"},
      "data": {"type": "object"}}},
  "AuditEntry": {"type": "object", "additionalProperties": false,
    "required": ["id", "at", "actor_id", "action", "entity", "entity_id", "changed", "before", "after"],
    "properties": {"id": {"type": "string"}, "at": {"$ref": "#/components/schemas/Timestamp"}, "actor_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "action": {"type": "string"}, "entity": {"type": "string"},
      "entity_id": {"type": ["string", "null"]}, "changed": {}, "before": {}, "after": {}}},
  "AuditPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "OutboxCall": {"type": "object", "additionalProperties": false,
    "required": ["id", "kind", "purpose", "method", "path", "status", "attempts", "next_attempt_at", "last_error", "response_status", "created_at", "updated_at"],
    "properties": {"id": {"type": "integer"}, "kind": {"type": "string", "enum": ["stripe", "email", "s3"]}, "purpose": {"type": ["string", "null"]},
      "method": {"type": ["string", "null"]}, "path": {"type": ["string", "null"]},
      "status": {"type": "string", "enum": ["pending", "done", "failed", "dead"]}, "attempts": {"type": "integer", "minimum": 0},
      "next_attempt_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "last_error": {"type": ["string", "null"]}, "response_status": {"type": ["integer", "null"]},
      "booking_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "payment_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "refund_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "OutboxPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/OutboxCall"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Email": {"type": "object", "required": ["id", "to", "subject", "template", "locale", "status", "attempts", "created_at", "updated_at"],
    "description": "one mail of the outbox; GET /api/v1/admin/emails/{id} adds its rendered text and html",
    "properties": {"id": {"type": "integer"}, "to": {"type": ["string", "null"]}, "subject": {"type": ["string", "null"]},
      "template": {"type": ["string", "null"]}, "locale": {"type": ["string", "null"]},
      "status": {"type": "string", "enum": ["pending", "done", "failed", "dead"]}, "attempts": {"type": "integer", "minimum": 0},
      "last_error": {"type": ["string", "null"]}, "response_status": {"type": ["integer", "null"]},
      "idempotency_key": {"type": ["string", "null"]}, "booking_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "text": {"type": ["string", "null"]}, "html": {"type": ["string", "null"]}}},
  "EmailPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Email"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "EmailTemplate": {"type": "object", "additionalProperties": false,
    "required": ["key", "locale", "custom", "subject", "text", "html", "placeholders", "updated_at"],
    "properties": {"key": {"type": "string"}, "locale": {"type": "string", "enum": ["en", "fr"]}, "custom": {"type": "boolean"},
      "subject": {"type": "string"}, "text": {"type": "string"}, "html": {"type": "string"},
      "placeholders": {"type": "array", "items": {"type": "string"}}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "StatsReport": {"type": "object", "required": ["from", "to", "bookings", "revenue", "occupancy", "top_spaces", "new_users"],
    "description": "?format=csv: the same as text/csv rows",
    "properties": {"from": {"$ref": "#/components/schemas/Timestamp"}, "to": {"$ref": "#/components/schemas/Timestamp"},
      "bookings": {"type": "object", "required": ["total", "by_status"],
        "properties": {"total": {"type": "integer"}, "by_status": {"type": "object", "additionalProperties": {"type": "integer"}}}},
      "revenue": {"type": "array", "items": {"type": "object"}}, "occupancy": {"type": "array", "items": {"type": "object"}},
      "top_spaces": {"type": "array", "items": {"type": "object"}},
      "new_users": {"type": ["array", "null"], "items": {"type": "object"}, "description": "null in a host''s report"}}}
}'::jsonb AS c) AS c) AS c
$$;

COMMENT ON FUNCTION workon.openapi_components() IS
'The JSON Schemas the routes of workon.route_schemas share, published under components.schemas of the OpenAPI document';

GRANT EXECUTE ON FUNCTION workon.openapi_components()
	TO workon_authenticator, workon_anon, workon_member, workon_host, workon_admin;

-- 10_users.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('PATCH', '/api/v1/admin/users/{id}', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"role": {"$ref": "#/components/schemas/Role"}, "disabled": {"type": "boolean"}}},
		"responses": {"200": {"$ref": "#/components/schemas/AdminUser"}}}');

-- 10_users.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/me', '{"responses": {"200": {"$ref": "#/components/schemas/User"}}}');

-- 12_sessions.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/auth/register', '{
		"body": {"$ref": "#/components/schemas/Registration"},
		"responses": {"201": {"$ref": "#/components/schemas/Session"}}}'),
	('POST', '/api/v1/auth/login', '{
		"body": {"$ref": "#/components/schemas/Credentials"},
		"responses": {"200": {"$ref": "#/components/schemas/Session"}}}'),
	('POST', '/api/v1/auth/refresh', '{
		"body": {"type": "object", "additionalProperties": false, "required": ["refresh_token"],
				 "properties": {"refresh_token": {"type": "string"}}},
		"responses": {"200": {"$ref": "#/components/schemas/Session"}}}'),
	('POST', '/api/v1/auth/logout', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"refresh_token": {"type": "string"}}}}');

-- 13_browser_sessions.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/auth/session/register', '{
		"body": {"$ref": "#/components/schemas/Registration"},
		"responses": {"201": {"$ref": "#/components/schemas/BrowserSession"}}}'),
	('POST', '/api/v1/auth/session/login', '{
		"body": {"$ref": "#/components/schemas/Credentials"},
		"responses": {"200": {"$ref": "#/components/schemas/BrowserSession"}}}'),
	('POST', '/api/v1/auth/session/refresh', '{"responses": {"200": {"$ref": "#/components/schemas/BrowserSession"}}}'),
	('POST', '/api/v1/auth/session/logout', '{}');

-- 15_uploads.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/uploads', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"filename": {"type": "string", "minLength": 1}, "content_type": {"type": "string", "enum": ["image/jpeg", "image/png", "image/webp", "application/pdf"]}, "size": {"type": "integer", "minimum": 1, "description": "bytes; at most workon.upload_max_bytes"}}, "required": ["filename", "content_type", "size"]},
		"responses": {"201": {"type": "object", "additionalProperties": false, "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "upload_url": {"type": "string", "description": "PUT the bytes there: signed, valid 15 minutes, once"}, "expires_at": {"$ref": "#/components/schemas/Timestamp"}}, "required": ["id", "upload_url", "expires_at"]}}}'),
	('GET', '/api/v1/uploads/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Upload"}}}'),
	('PUT', '/api/v1/uploads/{id}/content', '{"responses": {"201": {"$ref": "#/components/schemas/Upload"}}}'),
	('GET', '/api/v1/uploads/{id}/content', '{"query": {"expires": {"type": "integer", "description": "of a signed URL (download_url)"}, "sig": {"type": "string"}}}'),
	('PUT', '/api/v1/me/avatar', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"upload_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}], "description": "a stored image of the caller; null removes the avatar"}}, "required": ["upload_id"]},
		"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"avatar_upload_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "avatar_url": {"type": ["string", "null"]}}, "required": ["avatar_upload_id", "avatar_url"]}}}');

-- 20_spaces.sql
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

-- 21_bookings.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/spaces/{id}/availability', '{
		"query": {"from": {"type": "string", "description": "RFC 3339, or a date (that day in the space''s zone); default now, rounded up to the 15-minute grid"},
				  "to": {"type": "string", "description": "RFC 3339, or a date (included); default from + 7 days; at most 31 days after from"}},
		"responses": {"200": {"$ref": "#/components/schemas/Availability"}}}'),
	('POST', '/api/v1/bookings', '{
		"body": {"type": "object", "additionalProperties": false, "required": ["space_id", "starts_at", "ends_at"],
				 "properties": {"space_id": {"$ref": "#/components/schemas/Uuid"},
								"starts_at": {"type": "string", "format": "date-time", "description": "on the 15-minute grid"},
								"ends_at": {"type": "string", "format": "date-time", "description": "on the 15-minute grid, after starts_at"}},
				 "examples": [{"space_id": "d1000000-0000-4000-8000-000000000024", "starts_at": "2027-03-01T10:00:00Z", "ends_at": "2027-03-01T12:00:00Z"}]},
		"responses": {"201": {"$ref": "#/components/schemas/Booking"}}}'),
	('GET', '/api/v1/bookings', '{
		"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/BookingPage"}}}'),
	('GET', '/api/v1/bookings/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Booking"}}}'),
	('POST', '/api/v1/bookings/{id}/cancel', '{"responses": {"200": {"$ref": "#/components/schemas/Booking"}}}');

-- 22_listings.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/host/spaces', '{
		"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/SpacePage"}}}'),
	('GET', '/api/v1/host/bookings', '{
		"query": {"status": {"$ref": "#/components/schemas/BookingStatus"},
				  "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/BookingPage"}}}');

-- 23_space_photos.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('PUT', '/api/v1/spaces/{id}/photos', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"upload_ids": {"type": "array", "maxItems": 20, "uniqueItems": true, "items": {"$ref": "#/components/schemas/Uuid"}, "description": "stored images of the host, the first the cover"}}, "required": ["upload_ids"]},
		"responses": {"200": {"$ref": "#/components/schemas/Space"}}}');

-- 30_payments.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/bookings/{id}/payment', '{"responses": {"201": {"$ref": "#/components/schemas/Payment"}, "200": {"$ref": "#/components/schemas/Payment"}}}'),
	('POST', '/api/v1/bookings/{id}/checkout', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"success_url": {"type": "string", "pattern": "^https?://\\S+$"}, "cancel_url": {"type": "string", "pattern": "^https?://\\S+$"}}, "required": ["success_url", "cancel_url"]},
		"responses": {"201": {"type": "object", "properties": {"checkout_session_id": {"type": ["string", "null"]}, "url": {"type": ["string", "null"], "description": "Stripe Checkout page to send the member to"}, "payment_id": {"$ref": "#/components/schemas/Uuid"}}, "required": ["checkout_session_id", "url"]}, "200": {"type": "object", "properties": {"checkout_session_id": {"type": ["string", "null"]}, "url": {"type": ["string", "null"], "description": "Stripe Checkout page to send the member to"}, "payment_id": {"$ref": "#/components/schemas/Uuid"}}, "required": ["checkout_session_id", "url"]}}}'),
	('GET', '/api/v1/payments/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Payment"}}}');

-- 32_webhooks.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/webhooks/stripe', '{"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"received": {"const": true}}, "required": ["received"]}}}'),
	('POST', '/api/v1/webhooks/stripe', '{"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"received": {"const": true}}, "required": ["received"]}}}');

-- 33_outbox_admin.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/outbox', '{
		"query": {"status": {"type": "string", "enum": ["pending", "done", "failed", "dead"]}, "kind": {"type": "string", "enum": ["stripe", "email", "s3"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/OutboxPage"}}}'),
	('POST', '/api/v1/admin/outbox/{id}/retry', '{"responses": {"200": {"$ref": "#/components/schemas/OutboxCall"}}}');

-- 35_email.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/emails', '{
		"query": {"status": {"type": "string", "enum": ["pending", "done", "dead"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/EmailPage"}}}'),
	('GET', '/api/v1/admin/emails/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Email"}}}'),
	('POST', '/api/v1/admin/emails/{id}/retry', '{"responses": {"200": {"$ref": "#/components/schemas/Email"}}}'),
	('GET', '/api/v1/admin/email-templates', '{"responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/EmailTemplate"}}}, "required": ["data"]}}}'),
	('PUT', '/api/v1/admin/email-templates/{key}/{locale}', '{
		"path": {"locale": {"type": "string", "enum": ["en", "fr"]}},
		"body": {"type": "object", "additionalProperties": false, "properties": {"subject": {"type": "string", "minLength": 1, "description": "one line"}, "text": {"type": "string", "minLength": 1}, "html": {"type": "string", "minLength": 1}}, "required": ["subject", "text", "html"]},
		"responses": {"200": {"$ref": "#/components/schemas/EmailTemplate"}}}'),
	('DELETE', '/api/v1/admin/email-templates/{key}/{locale}', '{"path": {"locale": {"type": "string", "enum": ["en", "fr"]}}}');

-- 36_accounts.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/auth/password/forgot', '{"body": {"type": "object", "additionalProperties": false, "properties": {"email": {"type": "string", "minLength": 3}}, "required": ["email"]}}'),
	('POST', '/api/v1/auth/password/reset', '{"body": {"type": "object", "additionalProperties": false, "properties": {"token": {"type": "string", "minLength": 1}, "password": {"type": "string", "minLength": 8, "maxLength": 128}}, "required": ["token", "password"]}}'),
	('POST', '/api/v1/auth/verify-email', '{"body": {"type": "object", "additionalProperties": false, "properties": {"token": {"type": "string", "minLength": 1}}, "required": ["token"]}}'),
	('POST', '/api/v1/auth/verify-email/resend', '{}'),
	('POST', '/api/v1/me/password', '{"body": {"type": "object", "additionalProperties": false, "properties": {"current_password": {"type": "string"}, "password": {"type": "string", "minLength": 8, "maxLength": 128}}, "required": ["current_password", "password"]}}');

-- 36_accounts.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('PATCH', '/api/v1/me', '{
		"body": {"type": "object", "additionalProperties": false,
				 "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "locale": {"type": "string", "enum": ["en", "fr"]}}},
		"responses": {"200": {"$ref": "#/components/schemas/User"}}}');

-- 40_messages.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('POST', '/api/v1/conversations', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"space_id": {"$ref": "#/components/schemas/Uuid"}}, "required": ["space_id"]},
		"responses": {"201": {"$ref": "#/components/schemas/Conversation"}, "200": {"$ref": "#/components/schemas/Conversation"}}}'),
	('GET', '/api/v1/conversations', '{"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/ConversationPage"}}}'),
	('GET', '/api/v1/conversations/{id}/messages', '{"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/MessagePage"}}}'),
	('POST', '/api/v1/conversations/{id}/messages', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000, "description": "trimmed"}}, "required": ["body"]},
		"responses": {"201": {"$ref": "#/components/schemas/Message"}}}'),
	('POST', '/api/v1/conversations/{id}/read', '{"responses": {"200": {"$ref": "#/components/schemas/Conversation"}}}'),
	('GET', '/api/v1/events', '{"query": {"since": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}, "responses": {"200": {"type": "object", "additionalProperties": false, "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}, "next_cursor": {"type": ["string", "null"]}, "cursor": {"type": "string", "description": "the last id returned, else since: pass it as since"}}, "required": ["data", "next_cursor", "cursor"]}}}'),
	('GET', '/api/v1/ws', '{"query": {"since": {"type": "integer", "minimum": 0, "description": "replay the events after this id first"}}}');

-- 50_posts.sql
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

-- 51_reviews.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/spaces/{id}/reviews', '{"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/ReviewPage"}}}'),
	('GET', '/api/v1/reviews/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Review"}}}'),
	('POST', '/api/v1/spaces/{id}/reviews', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"booking_id": {"$ref": "#/components/schemas/Uuid"}, "rating": {"type": "integer", "minimum": 1, "maximum": 5}, "body": {"type": "string", "maxLength": 2000}}, "required": ["booking_id", "rating"]},
		"responses": {"201": {"$ref": "#/components/schemas/Review"}}}'),
	('PATCH', '/api/v1/reviews/{id}', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 5}, "body": {"type": "string", "maxLength": 2000}}},
		"responses": {"200": {"$ref": "#/components/schemas/Review"}}}'),
	('POST', '/api/v1/reviews/{id}/answer', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 2000}}, "required": ["body"]},
		"responses": {"200": {"$ref": "#/components/schemas/Review"}}}'),
	('POST', '/api/v1/admin/reviews/{id}/hide', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"reason": {"type": "string"}}},
		"responses": {"200": {"$ref": "#/components/schemas/Review"}}}'),
	('DELETE', '/api/v1/admin/reviews/{id}/hide', '{"responses": {"200": {"$ref": "#/components/schemas/Review"}}}');

-- 60_stats.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/stats', '{"query": {"from": {"type": "string", "description": "RFC 3339 with an offset, or a date (UTC day); default 30 days ago"}, "to": {"type": "string", "description": "the same; a date is included; at most 366 days after from"}, "format": {"type": "string", "enum": ["json", "csv"]}}, "responses": {"200": {"$ref": "#/components/schemas/StatsReport"}}}'),
	('GET', '/api/v1/host/stats', '{"query": {"from": {"type": "string", "description": "RFC 3339 with an offset, or a date (UTC day); default 30 days ago"}, "to": {"type": "string", "description": "the same; a date is included; at most 366 days after from"}, "format": {"type": "string", "enum": ["json", "csv"]}}, "responses": {"200": {"$ref": "#/components/schemas/StatsReport"}}}');

-- 61_admin.sql
INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/admin/audit', '{"query": {"action": {"type": "string", "enum": ["insert", "update", "delete", "seed", "revoke"]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/AuditPage"}}}'),
	('GET', '/api/v1/admin/users', '{"query": {"role": {"$ref": "#/components/schemas/Role"}, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}}, "responses": {"200": {"$ref": "#/components/schemas/AdminUserPage"}}}'),
	('GET', '/api/v1/admin/users/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/AdminUserDetail"}}}');
-- END route schemas

-- the realtime wake-up: a write through workon.dispatch whose caller wakes
-- the listeners after commit (workon.notify = after_commit) does not NOTIFY
CREATE OR REPLACE FUNCTION workon.events_notify()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'events_notify';

COMMENT ON FUNCTION workon.events_notify() IS
'Trigger: NOTIFY workon_events (empty payload, one per transaction) so the front end publishes and fans out new events; in a transaction that called workon.dispatch with workon.notify = after_commit, sets workon.events_pending for the transaction instead (the caller notifies after commit)';

-- realtime publishing: batch calls that do not queue behind another
-- publisher: events_publish_batch, which sends NOTIFY
-- workon_events_published, and the front end's events_publish_frames, which
-- returns the events it numbered and leaves the NOTIFY to its caller
-- Numbering, for the two publishing calls below: under the publishers'
-- lock, the committed events without a pos get the next ones, at most
-- 10,000 a call (more: call again).  One publisher at a time, until it
-- commits; the statements below see what the previous one committed.
-- Without wait, a publisher that finds another at work returns at once
-- (head NULL): the caller tries again shortly instead of queueing behind
-- it.
-- The plans are pinned.  events_unpublished_idx keeps the entries of
-- published rows until a vacuum: a bitmap scan visits each of their heap
-- pages on every call, where a plain index scan marks them dead once and
-- skips them after; and with a few rows to number, a hash join read the
-- whole table (6 ms at 37,000 events) where a nested loop over the primary
-- key probes each row.
CREATE FUNCTION workon.events_number(wait boolean, OUT head bigint, OUT published integer, OUT more boolean)
RETURNS record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_bitmapscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
	events_number.published := 0;
	events_number.more := false;
	IF events_number.wait THEN
		PERFORM pg_catalog.pg_advisory_xact_lock('workon.events'::regclass::oid::bigint);
	ELSIF NOT pg_catalog.pg_try_advisory_xact_lock('workon.events'::regclass::oid::bigint) THEN
		RETURN;
	END IF;
	SELECT COALESCE(pg_catalog.max(e.pos), 0) INTO events_number.head FROM workon.events AS e;

	UPDATE workon.events AS e
	   SET pos = events_number.head + u.n
	  FROM (SELECT n.id, pg_catalog.row_number() OVER (ORDER BY n.id) AS n
			  FROM (SELECT x.id FROM workon.events AS x
					 WHERE x.pos IS NULL
					 ORDER BY x.id
					 LIMIT 10000) AS n) AS u
	 WHERE e.id = u.id;
	GET DIAGNOSTICS events_number.published = ROW_COUNT;
	events_number.head := events_number.head + events_number.published;
	events_number.more := events_number.published = 10000;

	PERFORM workon.events_cleanup();
END
$$;

COMMENT ON FUNCTION workon.events_number(boolean) IS
'Gives the committed events without a pos the next positions, at most 10,000 a call, one publisher at a time (without wait: head NULL when another is at work), and drops events past their retention; returns the newest pos, how many it numbered and whether more wait; for workon.events_publish_batch and workon.events_publish_frames';

CREATE FUNCTION workon.events_publish_batch(wait boolean DEFAULT false)
RETURNS TABLE (head bigint, published integer, more boolean)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			record;
BEGIN
	SELECT * INTO v FROM workon.events_number(events_publish_batch.wait) AS n;
	IF v.published > 0 THEN
		-- every front end fans out up to the new head, after this commit
		PERFORM pg_catalog.pg_notify('workon_events_published', v.head::text);
	END IF;
	RETURN QUERY SELECT v.head, v.published, v.more;
END
$$;

COMMENT ON FUNCTION workon.events_publish_batch(boolean) IS
'Gives the committed events without a pos the next positions, at most 10,000 a call (more: call again), one publisher at a time, and drops events past their retention; returns the newest pos and how many it numbered, and when it numbered any, NOTIFY workon_events_published with the new head as payload (after commit). Without wait, head is NULL when another publisher is at work (try again shortly). A cursor handed out is never followed by a smaller one';

-- The front end's publisher: the events it numbered come back with the
-- call, so that it fans them out to its own sockets without reading them
-- again.  It sends no NOTIFY: the lock every NOTIFY takes at commit would
-- be held through this transaction's WAL flush, and every writer's wake-up
-- would queue behind it.  The caller announces the new head once this has
-- committed (NOTIFY workon_events_published, in a transaction of its own).
CREATE FUNCTION workon.events_publish_frames(wait boolean DEFAULT false)
RETURNS TABLE (head bigint, more boolean, pos bigint, recipients uuid[], frame text, close_code integer)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			record;
BEGIN
	SELECT * INTO v FROM workon.events_number(events_publish_frames.wait) AS n;
	IF v.published > 0 THEN
		-- workon.events_fanout's query, written out: a plan kept for the
		-- session instead of one made on every call
		RETURN QUERY SELECT v.head, v.more, e.pos, e.recipients,
							CASE WHEN e.type <> 'session.revoked' THEN workon.event_frame(e) END,
							CASE WHEN e.type = 'session.revoked' THEN (e.data ->> 'close_code')::integer END
					   FROM workon.events AS e
					  WHERE e.pos > v.head - v.published
					  ORDER BY e.pos
					  LIMIT v.published;
	ELSE
		RETURN QUERY SELECT v.head, v.more, NULL::bigint, NULL::uuid[], NULL::text, NULL::integer;
	END IF;
END
$$;

COMMENT ON FUNCTION workon.events_publish_frames(boolean) IS
'The front end''s publisher: numbers events as workon.events_publish_batch does, without its NOTIFY (the caller sends NOTIFY workon_events_published once this has committed), and returns one row per event it numbered, in order, as workon.events_fanout gives them (pos, recipients, frame, close_code), each with the new head and whether more wait; numbering none: one row with pos NULL (head NULL: another publisher is at work)';

CREATE OR REPLACE FUNCTION workon.events_publish()
RETURNS bigint
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT b.head FROM workon.events_publish_batch(true) AS b
$$;

COMMENT ON FUNCTION workon.events_publish() IS
'workon.events_publish_batch(wait => true): waits for another publisher, numbers at most 10,000 committed events and returns the newest pos';

GRANT EXECUTE ON FUNCTION workon.events_publish_batch(boolean), workon.events_publish_frames(boolean)
	TO workon_authenticator;

-- a message posted is audited as the message only: the update of its
-- conversation that numbers it is not a read
DROP TRIGGER conversations_audit ON workon.conversations;
CREATE TRIGGER conversations_audit
	AFTER INSERT ON workon.conversations
	FOR EACH ROW WHEN (NOT workon.restoring('workon.conversations'))
	EXECUTE FUNCTION workon.audit_row();

CREATE TRIGGER conversations_read_audit
	AFTER UPDATE OF member_read_seq, host_read_seq ON workon.conversations
	FOR EACH ROW WHEN (OLD.last_seq = NEW.last_seq AND NOT workon.restoring('workon.conversations'))
	EXECUTE FUNCTION workon.audit_row();

-- a message's event: event_emit's insert written out
CREATE OR REPLACE FUNCTION workon.message_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- workon.event_emit's insert, written out: one statement per message
	-- instead of a call that runs it (the participants are two and never
	-- NULL; in uuid order, as event_emit gives them)
	INSERT INTO workon.events (type, recipients, data)
	SELECT 'message.created',
		   CASE WHEN c.member_id < c.host_id THEN ARRAY[c.member_id, c.host_id]
				ELSE ARRAY[c.host_id, c.member_id] END,
		   workon.message_json(NEW)
	  FROM workon.conversations AS c
	 WHERE c.id = NEW.conversation_id;
	RETURN NULL;
END
$$;

-- the merged definitions, last so that they win
CREATE OR REPLACE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
	st text;
	sch jsonb;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit, rt.read_only,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
			   'format' = ANY (p.proargnames) AS has_format,
			   obj_description(p.oid, 'pg_proc') AS description,
			   rs.schemas,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		  LEFT JOIN workon.route_schemas rs ON rs.method = rt.method AND rs.path = rt.path
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', coalesce(r.schemas #> ARRAY['path', a.name],
																		  workon.openapi_schema(a.typ)));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', coalesce(r.schemas #> ARRAY['query', a.name],
																		  workon.openapi_schema(a.typ)));
			END IF;
		END LOOP;
		-- declared query parameters the handler reads from elsewhere (its meta)
		FOR st, sch IN SELECT * FROM jsonb_each(coalesce(r.schemas -> 'query', '{}')) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', st, 'in', 'query')) THEN
				params := params || jsonb_build_object('name', st, 'in', 'query', 'required', false, 'schema', sch);
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', coalesce(r.schemas #> ARRAY['path', path_params[i]],
																		  '{"type": "string"}'::jsonb));
			END IF;
		END LOOP;
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN r.schemas ? 'body' THEN r.schemas -> 'body'
						 WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb
												-- ?format=csv: the same as text/csv
												|| CASE WHEN r.has_format THEN '{"text/csv": {"schema": {"type": "string"}}}'::jsonb
														ELSE '{}' END) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for (bytes=a-b, a- or -n), with Content-Range: bytes a-b/size; only that part is read. Several ranges, another unit or a malformed Range get 200 and the whole file",
							 "headers": {"Content-Range": {"schema": {"type": "string"}}},
							 "content": {"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s, that signs only the host: send Range (and If-None-Match, with the bucket''s ETag) to it"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag; answered from the file''s metadata"},
					 "416": {"description": "Range Not Satisfiable: the range starts past the end of the file; Content-Range: bytes */size",
							 "headers": {"Content-Range": {"schema": {"type": "string"}}}}}'::jsonb;
			op := jsonb_set(op, '{parameters}', coalesce(op -> 'parameters', '[]') || '[
				{"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "entity tags (or *): 304 when one is the file''s ETag"},
				{"name": "Range", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "one byte range, bytes=a-b, a- or -n: 206 with that part"},
				{"name": "If-Range", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "the ETag the client has: Range applies only when it is still the file''s"}]'::jsonb);
		END IF;
		IF r.status = 201 THEN
			-- what was created is named in Location
			responses := jsonb_set(responses, '{201,headers}',
				'{"Location": {"description": "The URL of what was created", "schema": {"type": "string"}}}');
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a strong ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.prosrc ~ 'workon\.public_cache\(' THEN
			-- the handler sets a strong ETag and Cache-Control for every reader
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the strong ETag of the answer (any reader; Cache-Control: public)"}}';
		END IF;
		IF r.prosrc ~ 'set_response\(301\M' THEN
			-- the handler answers a former address with the current one
			responses := responses || '{"301": {"description": "Moved Permanently: a former address; Location is the current one"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		-- any other status the handler sets with a literal (workon.set_response)
		FOR st IN SELECT DISTINCT m[1] FROM regexp_matches(r.prosrc, 'set_response\(([1-5][0-9][0-9])\M', 'g') AS m LOOP
			IF NOT responses ? st THEN
				responses := responses || jsonb_build_object(st, jsonb_build_object('description', 'set by the handler',
					'content', '{"application/json": {"schema": {}}}'::jsonb));
			END IF;
		END LOOP;
		IF r.status = 200 AND (r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') OR r.schemas IS NULL) THEN
			-- the handler may return nothing (a route that declares no schemas: any)
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		-- 431: the front end refuses headers over MAX_HEADER_BYTES before any route
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "431": {"$ref": "#/components/responses/Error"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		-- the route's own error codes (workon.errors rows of SQLSTATE WO...): raised in
		-- the handler's body, or named by its comment
		FOR st, sch IN
			SELECT e.status::text, to_jsonb(string_agg(DISTINCT e.code, ', ' ORDER BY e.code))
			  FROM workon.errors e
			 WHERE e.sqlstate ~ '^WO' AND e.sqlstate <> 'WO405'
			   AND (strpos(r.prosrc, chr(39) || e.sqlstate || chr(39)) > 0
					OR coalesce(r.description, '') ~ ('\m(' || e.sqlstate || '|' || e.code || ')\M'))
			 GROUP BY e.status
		LOOP
			responses := jsonb_set(responses, ARRAY[st],
				coalesce(responses -> st, '{"$ref": "#/components/responses/Error"}')
				|| jsonb_build_object('description', 'error codes of this route: ' || (sch #>> '{}')
									  || CASE WHEN st = '401' AND NOT (sch #>> '{}') ~ '\munauthorized\M'
											  THEN ', unauthorized' ELSE '' END));
		END LOOP;
		-- read replicas (the front end's DATABASE_REPLICA_URLS): an answer from the primary
		-- carries the position of its commit, a read_only route takes it back
		IF r.read_only THEN
			op := jsonb_set(op, '{parameters}', coalesce(op -> 'parameters', '[]') || '[
				{"name": "X-Workon-LSN", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "the X-Workon-LSN of this client''s last write: no read replica that has not replayed it answers"},
				{"name": "workon_lsn", "in": "cookie", "required": false, "schema": {"type": "string"},
				 "description": "the same, when there is no X-Workon-LSN header"}]'::jsonb);
		ELSIF responses ? r.status::text THEN
			responses := jsonb_set(responses, ARRAY[r.status::text, 'headers'],
				coalesce(responses #> ARRAY[r.status::text, 'headers'], '{}') || '{
				"X-Workon-LSN": {"$ref": "#/components/headers/X-Workon-LSN"},
				"Set-Cookie": {"description": "with read replicas: workon_lsn=<X-Workon-LSN>; Path=/; Max-Age=<seconds>; HttpOnly; SameSite=Lax", "schema": {"type": "string"}}}');
		END IF;
		-- the declared answers: the schema of a status's JSON body, or a status of its own
		FOR st, sch IN SELECT * FROM jsonb_each(coalesce(r.schemas -> 'responses', '{}')) LOOP
			IF responses ? st AND responses -> st ? '$ref' THEN
				CONTINUE;
			END IF;
			responses := jsonb_set(responses, ARRAY[st], coalesce(responses -> st,
				jsonb_build_object('description', CASE WHEN st = '200' THEN 'OK' WHEN st = '201' THEN 'Created'
													   WHEN st = '202' THEN 'Accepted' ELSE r.summary END))
				|| jsonb_build_object('content', coalesce(responses #> ARRAY[st, 'content'], '{}')
					|| jsonb_build_object('application/json', jsonb_build_object('schema', sch))));
		END LOOP;
		IF r.schemas IS NULL THEN
			op := op || '{"x-workon-schemas": "undeclared"}';
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'license', '{"name": "PostgreSQL License", "identifier": "PostgreSQL"}'::jsonb,
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', workon.openapi_components() || jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object",
							"description": "field: the offending parameter or field (the first); fields: every invalid field of the request, where a route checks them all (registration, spaces, bookings)",
							"properties": {"field": {"type": "string"},
										   "fields": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
													  "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"X-Workon-LSN": {"description": "with read replicas: the WAL position of this request''s commit on the primary (0/3A2F1B8); sent back on reads, no replica that has not replayed it answers", "schema": {"type": "string"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

CREATE OR REPLACE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
									  starts_at timestamptz DEFAULT NULL,
									  ends_at timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_now		timestamptz := pg_catalog.now();
	v_space		workon.spaces;
	v_booking	workon.bookings;
	v_fields	text[];
	v_messages	text[];
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	-- every invalid field at once: a missing space, and the times against
	-- the rules that need no space (the shapes were judged by the binding)
	SELECT p.fields, p.messages INTO v_fields, v_messages
	  FROM workon.booking_problems(NULL, NULL, booking_create.starts_at, booking_create.ends_at, v_now) AS p;
	IF booking_create.space_id IS NULL THEN
		v_fields := 'space_id'::text || v_fields;
		v_messages := 'space_id is required'::text || v_messages;
	END IF;
	PERFORM workon.raise_invalid(v_fields, v_messages);

	-- the visibility rule of workon.spaces (this function bypasses it)
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = booking_create.space_id
	   AND (s.published OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be booked'
			USING ERRCODE = 'WOR01';
	END IF;

	-- and the opening hours of the space
	SELECT p.fields, p.messages INTO v_fields, v_messages
	  FROM workon.booking_problems(v_space.timezone, v_space.opening_hours,
								   booking_create.starts_at, booking_create.ends_at, v_now) AS p;
	PERFORM workon.raise_invalid(v_fields, v_messages);

	/*
	 * One booking of a space at a time, so that concurrent requests for a
	 * slot queue up instead of deadlocking on the exclusion constraint.
	 * Holds past their expiry give their slot up, but only when one is in
	 * the way: any hold overlapping the new one makes the first insert fail,
	 * so the usual booking skips the expiry update.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
											 pg_catalog.hashtext(v_space.id::text));
	BEGIN
		v_booking := workon.booking_insert(v_space, v_user, booking_create.starts_at,
										   booking_create.ends_at, v_now);
	EXCEPTION WHEN exclusion_violation THEN
		UPDATE workon.bookings AS b
		   SET status = 'expired'
		 WHERE b.space_id = v_space.id
		   AND b.status = 'pending_payment'
		   AND b.hold_expires_at <= v_now
		   AND pg_catalog.tstzrange(b.starts_at, b.ends_at, '[)')
			   OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(booking_create.starts_at, booking_create.ends_at, '[)');
		IF NOT FOUND THEN
			RAISE EXCEPTION 'the space is already booked for part of that time'
				USING ERRCODE = 'WOC02';
		END IF;
		BEGIN
			v_booking := workon.booking_insert(v_space, v_user, booking_create.starts_at,
											   booking_create.ends_at, v_now);
		EXCEPTION WHEN exclusion_violation THEN
			RAISE EXCEPTION 'the space is already booked for part of that time'
				USING ERRCODE = 'WOC02';
		END;
	END;

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/bookings/' || v_booking.id));
	RETURN workon.booking_json(v_booking);
END
$$;

CREATE OR REPLACE FUNCTION workon.space_json(s workon.spaces)
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

-- and the spaces' documents built again by the final space_json (neither audited
-- nor stamped)
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces AS s SET language = s.language;
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
