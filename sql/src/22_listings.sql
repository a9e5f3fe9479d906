/* sql/src/22_listings.sql -- listings: search and sort of spaces, a host's spaces and bookings, filtered bookings */

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


INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/host/spaces', '{
		"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/SpacePage"}}}'),
	('GET', '/api/v1/host/bookings', '{
		"query": {"status": {"$ref": "#/components/schemas/BookingStatus"},
				  "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/BookingPage"}}}');

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
