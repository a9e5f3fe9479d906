/* sql/src/51_reviews.sql -- reviews of spaces: one per completed booking, the host's answer, hiding, the space's rating */

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
