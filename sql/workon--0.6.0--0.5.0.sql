/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- The way back: ALTER EXTENSION workon UPDATE TO '0.5.0' undoes what
-- workon--0.5.0--0.6.0.sql did, where no data would be lost. Each concern
-- appends the reverse of its 0.6.0 change below (drop what it added, in the
-- reverse order of its creation); where going back would lose data (rows of
-- a table 0.5.0 does not have, values of a column it does not have), it
-- raises instead, naming what would be lost, and nothing changes (the update
-- is one transaction). The pg_dump block stays last.
--

-- Rows that would be lost: every table of the extension that 0.5.0 does not
-- have must be empty (a table whose rows may go without loss, a cache say, is
-- added to the list below by its concern). One error names them all.
DO $lost$
DECLARE
	t regclass;
	n bigint;
	lost text[] := '{}';
BEGIN
	FOR t IN
		SELECT c.oid::regclass
		  FROM pg_catalog.pg_depend AS d
		  JOIN pg_catalog.pg_class AS c ON c.oid = d.objid
		 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension AS e WHERE e.extname = 'workon')
		   AND d.deptype = 'e'
		   AND c.relkind IN ('r', 'p')
		   AND c.relname NOT IN (
				-- the tables of 0.5.0
				'account_tokens', 'audit_log', 'bookings', 'conversations', 'email_templates',
				'errors', 'events', 'idempotency_keys', 'jwt_keys', 'message_email_marks',
				'messages', 'outbox', 'payments', 'refresh_tokens', 'refunds', 'routes',
				'secrets', 'signed_url_keys', 'socket_presence', 'space_photos', 'spaces',
				'stripe_events', 'stripe_webhook_secrets', 'upload_data', 'uploads',
				'user_avatars', 'users',
				-- tables of 0.6.0 whose rows may be dropped: the stats rollup and the routes' schemas,
				-- written again by the way forward (from bookings, payments and refunds; as shipped)
				'stats_local_days', 'stats_utc_days', 'stats_revenue_days', 'stats_revenue_totals',
				'stats_booking_changes', 'stats_money_changes', 'route_schemas'
				)
		 ORDER BY c.relname
	LOOP
		EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', t) INTO n;
		IF n > 0 THEN
			lost := lost || pg_catalog.format('%s rows in %s', n, t);
		END IF;
	END LOOP;
	IF pg_catalog.cardinality(lost) > 0 THEN
		RAISE EXCEPTION 'workon cannot go back to 0.5.0 without losing data: %',
			pg_catalog.array_to_string(lost, ', ')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = '0.5.0 has no such tables; nothing was changed.',
				HINT = 'Keep 0.6.0 (the shim of 0.5.0 works with it), or delete those rows first if they may go.';
	END IF;
END
$lost$;

--
-- Each concern appends the reverse of its 0.6.0 change below.
--

-- The space of payments and refunds (33_space_keys): derived from their
-- booking, so nothing is lost
DROP TRIGGER refunds_space ON workon.refunds;
DROP TRIGGER payments_space ON workon.payments;
DROP FUNCTION workon.booking_space_fill();
ALTER TABLE workon.refunds DROP COLUMN space_id;
ALTER TABLE workon.payments DROP COLUMN space_id;

--
-- Blog posts and reviews: 0.5.0 has neither; their rows would be lost
--
DO $guard$
BEGIN
	IF EXISTS (SELECT FROM workon.posts) OR EXISTS (SELECT FROM workon.reviews) THEN
		RAISE EXCEPTION 'workon 0.5.0 has no blog posts or reviews, and this database has some'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Export them (pg_dump --table workon.posts --table workon.post_slugs --table workon.reviews) and delete them, then update again.';
	END IF;
END
$guard$;

DELETE FROM workon.routes
 WHERE (method, path) IN (('GET', '/api/v1/posts'), ('GET', '/api/v1/posts/{slug}'),
						  ('GET', '/api/v1/admin/posts'), ('POST', '/api/v1/admin/posts'),
						  ('GET', '/api/v1/admin/posts/{id}'), ('PATCH', '/api/v1/admin/posts/{id}'),
						  ('DELETE', '/api/v1/admin/posts/{id}'),
						  ('GET', '/api/v1/spaces/{id}/reviews'), ('POST', '/api/v1/spaces/{id}/reviews'),
						  ('GET', '/api/v1/reviews/{id}'), ('PATCH', '/api/v1/reviews/{id}'), ('POST', '/api/v1/reviews/{id}/answer'),
						  ('POST', '/api/v1/admin/reviews/{id}/hide'), ('DELETE', '/api/v1/admin/reviews/{id}/hide'));
DELETE FROM workon.errors WHERE sqlstate IN ('WOP01', 'WOV01', 'WOV02', 'WOV03', 'WOV04');

-- the OpenAPI document as 0.5.0 wrote it
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

-- files: covers of posts are no longer a reason to be public
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
		OR EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = upload_public.id);
END
$$;

COMMENT ON FUNCTION workon.upload_public(uuid) IS
'True when the upload is attached to something published (a photo of a published space, a user''s avatar): anyone may download it at its public URL';


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
	   AND NOT EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = v_id);
	RETURN NULL;
END
$$;


-- the space's document without its rating
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
		'archived_at', s.archived_at)
$$;

DROP FUNCTION workon.space_rating_json(uuid);
SET LOCAL session_replication_role = replica;
UPDATE workon.spaces AS s SET doc = workon.space_json(s);
SET LOCAL session_replication_role = origin;

DROP FUNCTION workon.review_show(uuid);
DROP FUNCTION workon.review_hidden_set(uuid, text);
DROP FUNCTION workon.review_hide(uuid, text);
DROP FUNCTION workon.review_answer(uuid, jsonb);
DROP FUNCTION workon.review_update(uuid, jsonb);
DROP FUNCTION workon.review_create(uuid, jsonb);
DROP FUNCTION workon.review_get(uuid);
DROP FUNCTION workon.space_reviews(uuid, integer, text);
DROP FUNCTION workon.review_body_keys(jsonb, text[]);
DROP FUNCTION workon.review_rating(jsonb);
DROP FUNCTION workon.review_text(jsonb, text, boolean);
DROP FUNCTION workon.review_for_update(uuid);
DROP FUNCTION workon.review_json(workon.reviews);
DROP TABLE workon.reviews;
DROP FUNCTION workon.reviews_rate_space();
DROP FUNCTION workon.space_doc_refresh(uuid);

DROP FUNCTION workon.posts_admin_list(text, integer, text);
DROP FUNCTION workon.post_delete(uuid);
DROP FUNCTION workon.post_update(uuid, jsonb);
DROP FUNCTION workon.post_admin_get(uuid);
DROP FUNCTION workon.post_create(jsonb);
DROP FUNCTION workon.post_slug_free(text, uuid);
DROP FUNCTION workon.post_apply(workon.posts, jsonb);
DROP FUNCTION workon.post_get(text);
DROP FUNCTION workon.posts_list(text, text, integer, text);
DROP FUNCTION workon.public_cache(json, integer);
DROP FUNCTION workon.post_json(workon.posts, boolean);
DROP TABLE workon.post_slugs;
DROP TABLE workon.posts;
DROP FUNCTION workon.posts_render();
DROP FUNCTION workon.slugify(text);
DROP FUNCTION workon.slug_valid(text);
DROP FUNCTION workon.markdown_html(text);

DROP FUNCTION workon.page_json(json[], timestamptz[], uuid[], integer);
DROP FUNCTION workon.page_bounds(integer, text);

-- the front end's view of the keys and its NOTIFY
DROP TRIGGER jwt_keys_notify ON workon.jwt_keys;
DROP FUNCTION workon.jwt_keys_notify();
DROP FUNCTION workon.jwt_verification_keys();
--
-- Bookings and realtime events as 0.5.0 wrote them
--
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

	RETURN workon.booking_json(v_booking);
END
$$;

DROP FUNCTION workon.booking_insert(workon.spaces, uuid, timestamptz, timestamptz, timestamptz);

CREATE OR REPLACE FUNCTION workon.event_emit(p_type text, p_recipients uuid[], p_data json)
RETURNS void
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO workon.events (type, recipients, data)
	SELECT p_type, pg_catalog.array_agg(DISTINCT r), p_data
	  FROM pg_catalog.unnest(p_recipients) AS r
	 WHERE r IS NOT NULL
	HAVING pg_catalog.count(r) > 0
$$;

--
-- The admin's view (sql/src/60_stats.sql, sql/src/61_admin.sql): routes,
-- functions, indexes and the audit triggers of the tables 0.5.0 did not
-- audit go; the audit rows stay, and so does their column "changed" (the
-- 0.5.0 trigger function leaves it NULL; going forward again keeps it)
--
DELETE FROM workon.routes
 WHERE (method, path) IN (('GET', '/api/v1/admin/stats'), ('GET', '/api/v1/host/stats'),
						  ('GET', '/api/v1/admin/audit'), ('GET', '/api/v1/admin/users'),
						  ('GET', '/api/v1/admin/users/{id}'));
DROP FUNCTION workon.admin_stats(text, text, uuid, text, text);
DROP FUNCTION workon.host_stats(text, text, uuid, text, text);
DROP FUNCTION workon.stats_answer(text, text, uuid, text, uuid, text);
DROP FUNCTION workon.require_admin();
DROP FUNCTION workon.booking_counts(text[]);
DROP FUNCTION workon.jsonb_compact(jsonb);
DROP FUNCTION workon.stats_csv(jsonb);
DROP FUNCTION workon.csv_field(text);
DROP FUNCTION workon.stats_report(text, text, uuid, text, uuid);
DROP FUNCTION workon.stats_bound(text, text, boolean);
DROP FUNCTION workon.space_occupancy(text, jsonb, date, date, timestamptz[], timestamptz[]);
DROP FUNCTION workon.space_occupancy_hours(text, jsonb, date, date, timestamptz[], timestamptz[]);
DROP FUNCTION workon.admin_audit(uuid, text, text, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.audit_json(workon.audit_log);
DROP FUNCTION workon.audit_cursor_id(bigint);
DROP FUNCTION workon.audit_cursor_row(uuid);
DROP FUNCTION workon.admin_user_get(uuid);
DROP FUNCTION workon.admin_users_list(text, text, integer, text);
DROP FUNCTION workon.admin_user_json(workon.users);
DROP INDEX workon.bookings_ends_at_idx;
DROP INDEX workon.payments_succeeded_at_idx;
DROP INDEX workon.refunds_settled_at_idx;
DROP INDEX workon.users_created_at_idx;
DROP INDEX workon.users_created_at_id_idx;
DROP INDEX workon.audit_log_entity_id_idx;
DROP INDEX workon.audit_log_actor_id_idx;
DROP INDEX workon.audit_log_entity_idx;
DROP TRIGGER refresh_tokens_audit ON workon.refresh_tokens;
DROP TRIGGER account_tokens_audit ON workon.account_tokens;
DROP TRIGGER outbox_audit ON workon.outbox;
DROP TRIGGER stripe_events_audit ON workon.stripe_events;
DROP TRIGGER secrets_audit ON workon.secrets;
DROP TRIGGER jwt_keys_audit ON workon.jwt_keys;
DROP TRIGGER signed_url_keys_audit ON workon.signed_url_keys;
DROP TRIGGER stripe_webhook_secrets_audit ON workon.stripe_webhook_secrets;

-- the 0.5.0 trigger function
CREATE OR REPLACE FUNCTION workon.audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_before	jsonb;
	v_after		jsonb;
	v_hidden	text[] := TG_ARGV || ARRAY['updated_at'];
BEGIN
	IF TG_OP <> 'INSERT' THEN
		v_before := pg_catalog.to_jsonb(OLD) - v_hidden;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_after := pg_catalog.to_jsonb(NEW) - v_hidden;
	END IF;
	IF TG_OP = 'UPDATE' AND v_before = v_after THEN
		RETURN NULL;			-- nothing an auditor sees changed
	END IF;

	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, before, after)
	VALUES (workon.current_user_id(), pg_catalog.lower(TG_OP), TG_TABLE_NAME,
			COALESCE(v_after, v_before) ->> 'id', v_before, v_after);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.audit_row() IS
'Trigger: writes the change to workon.audit_log; trigger arguments name columns left out (secrets); updates that change only those and updated_at are not logged';

-- the 0.5.0 OpenAPI document (no text/csv)
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
-- 13_browser_sessions: the browser session routes (their refresh tokens are
-- ordinary refresh tokens and stay valid for the bearer routes)
DELETE FROM workon.routes WHERE path IN ('/api/v1/auth/session/register', '/api/v1/auth/session/login',
										  '/api/v1/auth/session/refresh', '/api/v1/auth/session/logout');
DROP FUNCTION workon.auth_session_register(text, text, text, text, jsonb);
DROP FUNCTION workon.auth_session_login(text, text, jsonb);
DROP FUNCTION workon.auth_session_refresh(jsonb);
DROP FUNCTION workon.auth_session_logout(jsonb);
DROP FUNCTION workon.session_browser(json, jsonb);
DROP FUNCTION workon.session_cookie_token(jsonb);
DROP FUNCTION workon.session_cookie(text, jsonb);

--
-- 33_outbox_admin: the admins' outbox routes (the calls themselves stay)
DELETE FROM workon.routes WHERE (method, path) IN (('GET', '/api/v1/admin/outbox'), ('POST', '/api/v1/admin/outbox/{id}/retry'));
DELETE FROM workon.errors WHERE sqlstate = 'WOQ01';
DROP FUNCTION workon.admin_outbox_retry(bigint);
DROP FUNCTION workon.admin_outbox_list(text, text, integer, text);
DROP FUNCTION workon.outbox_row_json(workon.outbox);

-- the OpenAPI document of 0.5.0 (without X-Workon-LSN)
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

-- routes: the lane column (the shipped slow routes get it back from the 0.6.0 script)
DO $lane$
BEGIN
	IF EXISTS (SELECT 1 FROM workon.routes
				WHERE lane <> 'fast'
				  AND (method, path) NOT IN (('POST', '/api/v1/auth/register'), ('POST', '/api/v1/auth/login'),
											 ('POST', '/api/v1/auth/password/reset'), ('POST', '/api/v1/me/password')))
	THEN
		RAISE EXCEPTION 'workon 0.5.0 has no workon.routes.lane, and routes other than login, register and the password changes are in the slow lane'
			USING HINT = 'UPDATE workon.routes SET lane = ''fast'' first, or stay on 0.6.0';
	END IF;
END
$lane$;
ALTER TABLE workon.routes DROP COLUMN lane;

-- e-mail addresses: 0.5.0's check (nothing stored changes)
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
	IF pg_catalog.length(v_email) > 254
	   OR v_email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:].]+(\.[^@[:space:][:cntrl:].]+)+$' THEN
		RAISE EXCEPTION 'email is not a valid address'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	RETURN v_email;
END
$$;

COMMENT ON FUNCTION workon.check_email(text) IS
'The email address without surrounding blanks if it looks like one (local@domain.tld, at most 254 characters); error 22023 with field "email" otherwise';

--
-- Listings and the words of spaces (22_listings.sql, 20_spaces.sql)
--
DO $refuse$
BEGIN
	IF EXISTS (SELECT FROM workon.spaces AS s
				WHERE s.description <> '' OR s.language <> workon.space_language(s.timezone)) THEN
		RAISE EXCEPTION 'cannot go back to workon 0.5.0: spaces have descriptions or languages that 0.5.0 has no place for'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Take a pg_dump first; clear spaces.description and spaces.language (back to workon.space_language(timezone)) to go back anyway.';
	END IF;
END
$refuse$;

DELETE FROM workon.routes
 WHERE (method, path) IN (('GET', '/api/v1/host/spaces'), ('GET', '/api/v1/host/bookings'));
UPDATE workon.routes
   SET handler = 'workon.spaces_list(text,text,integer,integer,text)',
	   summary = 'List published spaces'
 WHERE method = 'GET' AND path = '/api/v1/spaces';
UPDATE workon.routes
   SET handler = 'workon.bookings_list(integer,text)'
 WHERE method = 'GET' AND path = '/api/v1/bookings';

DROP FUNCTION workon.host_bookings_list(uuid, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.bookings_search(uuid, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.bookings_filtered(boolean, uuid, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.booking_filters_check(text, timestamptz, timestamptz);
DROP FUNCTION workon.host_spaces_list(integer, text);
DROP FUNCTION workon.spaces_search(text, text, text, text, integer, integer, text);
DROP FUNCTION workon.cursor_decode_key("char", text);
DROP FUNCTION workon.cursor_encode_key("char", bigint, uuid);

DROP INDEX workon.spaces_search_idx;
ALTER TABLE workon.spaces DROP COLUMN search;
CREATE OR REPLACE FUNCTION workon.space_check()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF NEW.name IS NULL OR pg_catalog.btrim(NEW.name) = '' THEN
		RAISE EXCEPTION 'name is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(NEW.name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF NEW.kind IS NULL OR NEW.kind NOT IN ('desk', 'private_office', 'meeting_room', 'event_space') THEN
		RAISE EXCEPTION 'kind must be one of desk, private_office, meeting_room, event_space'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'kind';
	END IF;
	IF NEW.city IS NULL OR pg_catalog.btrim(NEW.city) = '' THEN
		RAISE EXCEPTION 'city is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'city';
	END IF;
	IF NEW.address IS NULL OR pg_catalog.btrim(NEW.address) = '' THEN
		RAISE EXCEPTION 'address is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'address';
	END IF;
	IF NEW.capacity IS NULL OR NEW.capacity < 1 THEN
		RAISE EXCEPTION 'capacity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'capacity';
	END IF;
	IF NEW.timezone IS NULL OR NOT workon.valid_timezone(NEW.timezone) THEN
		RAISE EXCEPTION 'timezone must name an IANA time zone such as Europe/Berlin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'timezone';
	END IF;
	IF NEW.hourly_rate_cents IS NULL OR NEW.hourly_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'hourly_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'hourly_rate_cents';
	END IF;
	IF NEW.daily_rate_cents IS NULL OR NEW.daily_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'daily_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'daily_rate_cents';
	END IF;
	NEW.currency := pg_catalog.lower(NEW.currency);
	IF NEW.currency IS NULL OR NEW.currency !~ '^[a-z]{3}$' THEN
		RAISE EXCEPTION 'currency must be a three-letter ISO 4217 code such as eur'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'currency';
	END IF;
	PERFORM workon.opening_hours_check(NEW.opening_hours);
	IF NEW.published IS NULL THEN
		RAISE EXCEPTION 'published must be true or false'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'published';
	END IF;
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
'Trigger: validates a space on every insert and update, error 22023 naming the field; lower-cases the currency; WOR01 space_archived for publishing an archived space or un-archiving it';

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
		IF k IN ('name', 'kind', 'city', 'address', 'timezone', 'currency', 'host_id') AND t <> 'string' THEN
			RAISE EXCEPTION '% must be a string', k
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k IN ('capacity', 'hourly_rate_cents', 'daily_rate_cents')
			  AND (t <> 'number' OR v::numeric <> pg_catalog.trunc(v::numeric)
				   OR v::numeric NOT BETWEEN -2147483648 AND 2147483647 AND k = 'capacity'
				   OR v::numeric NOT BETWEEN -9223372036854775808 AND 9223372036854775807) THEN
			RAISE EXCEPTION '% must be an integer', k
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k = 'published' AND t <> 'boolean' THEN
			RAISE EXCEPTION 'published must be true or false'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k = 'host_id'
			  AND v #>> '{}' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
			RAISE EXCEPTION 'host_id must be a UUID'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		END IF;
	END LOOP;
END
$$;

COMMENT ON FUNCTION workon.space_body_check(jsonb, text[]) IS
'Checks a space request body: a JSON object of allowed keys whose values have the right JSON types (null allowed); error 22023 naming the field otherwise';

CREATE OR REPLACE FUNCTION workon.space_create(body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces;
BEGIN
	PERFORM workon.space_body_check(space_create.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published', 'host_id']);
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

	INSERT INTO workon.spaces AS s (host_id, name, kind, city, address, capacity, timezone,
									hourly_rate_cents, daily_rate_cents, currency,
									opening_hours, published)
	VALUES (v.host_id, v.name, v.kind, v.city, v.address, v.capacity, v.timezone,
			v.hourly_rate_cents, v.daily_rate_cents, v.currency,
			COALESCE(v.opening_hours, '{}'), COALESCE(v.published, false))
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_create(jsonb) IS
'POST /api/v1/spaces (host, admin): a new space of the caller (admins may name another host with host_id); opening_hours defaults to {} (closed), published to false; 22023 naming the field for anything invalid';

CREATE OR REPLACE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces := workon.space_writable(space_update.id);
BEGIN
	PERFORM workon.space_body_check(space_update.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published']);

	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_update.id FOR UPDATE;
	IF v.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be changed'
			USING ERRCODE = 'WOR01';
	END IF;
	-- fields present in the body replace the stored ones (null included)
	v := pg_catalog.jsonb_populate_record(v, space_update.body);

	UPDATE workon.spaces AS s
	   SET name = v.name, kind = v.kind, city = v.city, address = v.address,
		   capacity = v.capacity, timezone = v.timezone,
		   hourly_rate_cents = v.hourly_rate_cents, daily_rate_cents = v.daily_rate_cents,
		   currency = v.currency, opening_hours = v.opening_hours, published = v.published
	 WHERE s.id = space_update.id
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_update(uuid, jsonb) IS
'PATCH /api/v1/spaces/{id} (its host, admin): changes the fields present in the body; a field given as null is refused if the space needs it. Existing bookings keep their price; WOR01 space_archived for an archived space';

ALTER TABLE workon.spaces DROP COLUMN language, DROP COLUMN description;
DROP FUNCTION workon.space_search_vector(text, text, text, text);
DROP FUNCTION workon.text_search_config(text);
DROP FUNCTION workon.space_language(text);

-- the documents of spaces without the two fields; not audited, not stamped
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces DISABLE TRIGGER spaces_set_updated_at;
UPDATE workon.spaces AS s SET published = s.published;
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_audit;
ALTER TABLE workon.spaces ENABLE TRIGGER spaces_set_updated_at;

--
-- Without Location on a 201 (12_sessions, 15_uploads, 21_bookings,
-- 31_outbox, 40_messages; space_create is above)
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
	RETURN workon.session_issue(v_id);
END
$$;

COMMENT ON FUNCTION workon.auth_register(text, text, text, text) IS
'POST /api/v1/auth/register: a new member (or host) and its tokens, and a mail to verify the address; 22023 naming the field for a bad email, name, role or weak password, WOC01 email_taken';

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

	RETURN workon.message_json(v_msg);
END
$$;

COMMENT ON FUNCTION workon.message_post(uuid, jsonb) IS
'POST /api/v1/conversations/{id}/messages {body}: a message from the caller (a participant), body trimmed, 1 to 4,000 characters (22023 naming body otherwise); what the sender wrote counts as read by them; P0002 for others';


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

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';


--
-- Validation back to the first invalid field only (the handlers are
-- above)
--
DROP FUNCTION workon.register_check(text, text, text, text);
DROP FUNCTION workon.raise_invalid(text[], text[]);

--
-- Hours that can be booked
--
DELETE FROM workon.errors WHERE sqlstate = 'WOR02';
DROP FUNCTION workon.space_publishable(jsonb);

--
-- Availability
--
UPDATE workon.routes
   SET handler = 'workon.space_availability(uuid,timestamptz,timestamptz)'
 WHERE method = 'GET' AND path = '/api/v1/spaces/{id}/availability';
DROP FUNCTION workon.space_availability_window(uuid, text, text);
DROP FUNCTION workon.window_bound(text, text, text, boolean);
DROP FUNCTION workon.grid_align(timestamptz, text, boolean);

--
-- Lists inside documents as 0.5.0 wrote them
--
CREATE OR REPLACE FUNCTION workon.space_photos_json(space_id uuid)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.json_agg(
			   workon.json_build('id', u.id,
								 'url', workon.upload_path(u.id),
								 'content_type', u.content_type)
			   ORDER BY p.position), '[]')
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
	SELECT COALESCE(pg_catalog.json_agg(workon.json_build('starts_at', pg_catalog.lower(r),
														   'ends_at', pg_catalog.upper(r))
										ORDER BY pg_catalog.lower(r)),
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
			   'data', COALESCE(pg_catalog.json_agg(workon.email_json(p.mail) ORDER BY p.n)
								FILTER (WHERE p.n <= v_limit), '[]'::json),
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
	SELECT workon.json_build('data', COALESCE(pg_catalog.json_agg(workon.email_template_json(t)
																  ORDER BY t.key, t.locale), '[]'))
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
			   'data', COALESCE(pg_catalog.json_agg(p.frame::json ORDER BY p.pos)
								FILTER (WHERE p.n <= v_limit), '[]'::json),
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

-- last, once every function is 0.5.0's: the spaces' stored documents in
-- 0.5.0's shape again (a cache: no trigger
-- runs, so updated_at and the audit log stay as they are)
ALTER TABLE workon.spaces DISABLE TRIGGER USER;
UPDATE workon.spaces AS s SET doc = workon.space_json(s);
ALTER TABLE workon.spaces ENABLE TRIGGER USER;

--
-- The stats' rollup (sql/src/62_stats_rollup.sql): derived from the rows,
-- which stay
--
DROP TRIGGER bookings_stats_rollup ON workon.bookings;
DROP TRIGGER bookings_stats_rollup_update ON workon.bookings;
DROP TRIGGER payments_stats_rollup ON workon.payments;
DROP TRIGGER payments_stats_rollup_update ON workon.payments;
DROP TRIGGER refunds_stats_rollup ON workon.refunds;
DROP TRIGGER refunds_stats_rollup_update ON workon.refunds;
DROP TRIGGER spaces_stats_rollup ON workon.spaces;
DROP TRIGGER bookings_stats_truncate ON workon.bookings;
DROP TRIGGER payments_stats_truncate ON workon.payments;
DROP TRIGGER refunds_stats_truncate ON workon.refunds;
DROP FUNCTION workon.stats_truncate_rollup();
DROP FUNCTION workon.stats_bookings_rollup();
DROP FUNCTION workon.stats_money_rollup();
DROP FUNCTION workon.stats_spaces_rollup();
DROP FUNCTION workon.stats_rollup_rebuild();
DROP FUNCTION workon.stats_rebuild_local_days(uuid[]);
DROP FUNCTION workon.stats_fold();
DROP FUNCTION workon.stats_utc_shares(workon.stats_booking_changes[]);
DROP FUNCTION workon.stats_local_shares(workon.stats_booking_changes[]);
DROP FUNCTION workon.stats_add_money(uuid, timestamptz, text, bigint, bigint, integer);
DROP FUNCTION workon.booking_local_days(text, jsonb, timestamptz, timestamptz);
DROP FUNCTION workon.space_booked_microseconds(text, jsonb, date, date, timestamptz[], timestamptz[]);
DROP FUNCTION workon.space_occupancy_days(text, jsonb, date, date, date[], bigint[]);
DROP INDEX workon.bookings_pending_starts_at_idx;
DROP TABLE workon.stats_local_days, workon.stats_utc_days, workon.stats_revenue_days,
	workon.stats_revenue_totals, workon.stats_booking_changes, workon.stats_money_changes;

-- the event of a booking or payment through workon.event_emit again
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
	IF TG_TABLE_NAME = 'bookings' THEN
		PERFORM workon.event_emit('booking.updated',
								  ARRAY[NEW.user_id,
										(SELECT s.host_id FROM workon.spaces AS s WHERE s.id = NEW.space_id)],
								  workon.booking_json(NEW));
	ELSE
		PERFORM workon.event_emit('payment.updated',
								  ARRAY[NEW.user_id,
										(SELECT s.host_id FROM workon.bookings AS b
										   JOIN workon.spaces AS s ON s.id = b.space_id
										  WHERE b.id = NEW.booking_id)],
								  workon.payment_json(NEW));
	END IF;
	RETURN NULL;
END
$$;

DROP FUNCTION workon.booking_problems(text, jsonb, timestamptz, timestamptz, timestamptz);
DROP FUNCTION workon.audit_times(text, jsonb);
-- A file's download reads no request headers again
DROP FUNCTION workon.upload_content(uuid, bigint, text, jsonb);

CREATE FUNCTION workon.upload_content(id uuid, expires bigint DEFAULT NULL, sig text DEFAULT NULL)
RETURNS bytea
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v			workon.uploads;
	v_bytes		bytea;
	v_cache		text;
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
	SELECT d.bytes INTO v_bytes FROM workon.upload_data AS d WHERE d.upload_id = v.id;

	-- in the bucket: the front end redirects to a presigned URL of the key
	PERFORM workon.set_response(200, pg_catalog.jsonb_build_object(
		'Content-Type', v.content_type,
		'Content-Disposition', workon.content_disposition(
			CASE WHEN v.content_type LIKE 'image/%' THEN 'inline' ELSE 'attachment' END, v.filename),
		'Cache-Control', v_cache,
		'ETag', '"' || pg_catalog.encode(v.sha256, 'hex') || '"',
		'X-Content-Type-Options', 'nosniff',
		'Content-Security-Policy', 'default-src ''none''; frame-ancestors ''none''; sandbox'));
	IF v.store = 's3' THEN
		PERFORM workon.set_store_transfer('get', v.s3_key);
	END IF;
	RETURN v_bytes;
END
$$;

COMMENT ON FUNCTION workon.upload_content(uuid, bigint, text) IS
'GET /api/v1/uploads/{id}/content: the bytes, with a signed URL (expires, sig; from download_url) or, for a public file, without; Content-Type, Content-Disposition (inline for images, attachment for PDFs), ETag (the SHA-256), Cache-Control (private until the URL expires, public for a day), nosniff and a sandboxing Content-Security-Policy; WOU01 invalid_url_signature for an unsigned URL of a private file or a bad signature. A file in the bucket (store s3) has no bytes here: the handler asks the front end for a store transfer get of its key (workon.set_store_transfer: a redirect to a presigned URL)';

UPDATE workon.routes
   SET handler = 'workon.upload_content(uuid,bigint,text)'::pg_catalog.regprocedure
 WHERE method = 'GET' AND path = '/api/v1/uploads/{id}/content';

GRANT EXECUTE ON FUNCTION workon.upload_content(uuid, bigint, text)
	TO workon_anon, workon_member, workon_host, workon_admin;

-- the routes' declared JSON Schemas of the OpenAPI document
DROP FUNCTION workon.openapi_components();
DROP TABLE workon.route_schemas;

-- the realtime wake-up: NOTIFY in the writing transaction, always
CREATE OR REPLACE FUNCTION workon.events_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_events', '');
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.events_notify() IS
'Trigger: NOTIFY workon_events (empty payload, one per transaction) so the front end publishes and fans out new events';

-- the conversation's audit and the message's event as 0.5.0 had them
DROP TRIGGER conversations_read_audit ON workon.conversations;
DROP TRIGGER conversations_audit ON workon.conversations;
CREATE TRIGGER conversations_audit
	AFTER INSERT OR UPDATE OF member_read_seq, host_read_seq ON workon.conversations
	FOR EACH ROW WHEN (NOT workon.restoring('workon.conversations'))
	EXECUTE FUNCTION workon.audit_row();

CREATE OR REPLACE FUNCTION workon.message_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM workon.event_emit('message.created',
							  (SELECT ARRAY[c.member_id, c.host_id] FROM workon.conversations AS c
								WHERE c.id = NEW.conversation_id),
							  workon.message_json(NEW));
	RETURN NULL;
END
$$;

-- realtime publishing as 0.5.0 had it
DROP FUNCTION workon.events_publish_batch(boolean);
DROP FUNCTION workon.events_publish_frames(boolean);
DROP FUNCTION workon.events_number(boolean);
CREATE OR REPLACE FUNCTION workon.events_publish()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_head		bigint;
BEGIN
	-- one publisher at a time, until it commits; the statements below see
	-- what the previous one committed
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.events'::regclass::oid::bigint);
	SELECT COALESCE(pg_catalog.max(e.pos), 0) INTO v_head FROM workon.events AS e;

	UPDATE workon.events AS e
	   SET pos = v_head + u.n
	  FROM (SELECT n.id, pg_catalog.row_number() OVER (ORDER BY n.id) AS n
			  FROM (SELECT x.id FROM workon.events AS x
					 WHERE x.pos IS NULL
					 ORDER BY x.id
					 LIMIT 10000) AS n) AS u
	 WHERE e.id = u.id;
	SELECT COALESCE(pg_catalog.max(e.pos), 0) INTO v_head FROM workon.events AS e;

	PERFORM workon.events_cleanup();
	RETURN v_head;
END
$$;

COMMENT ON FUNCTION workon.events_publish() IS
'Gives the committed events without a pos the next positions (at most 10,000 a call), one publisher at a time, and drops events past their retention; returns the newest pos. The front end calls it when woken by NOTIFY workon_events; a cursor handed out is never followed by a smaller one';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- pg_dump: the shipped route and error rows are those of 0.5.0 again: the
-- rows the filter named as shipped that are still there (a DBA's own rows stay
-- out of it, so pg_dump keeps them)
DO $dump$
DECLARE
	cond text;
	shipped text;
BEGIN
	SELECT e.extcondition[pg_catalog.array_position(e.extconfig, 'workon.routes'::pg_catalog.regclass)]
	  INTO cond FROM pg_catalog.pg_extension AS e WHERE e.extname = 'workon';
	EXECUTE 'SELECT pg_catalog.string_agg(pg_catalog.format(''(%L, %L)'', r.method, r.path), '', '' ORDER BY r.method, r.path)
			   FROM workon.routes AS r
			  WHERE (r.method, r.path) NOT IN (SELECT method, path FROM workon.routes ' || cond || ')'
	   INTO shipped;
	PERFORM pg_catalog.pg_extension_config_dump('workon.routes', 'WHERE (method, path) NOT IN (' || shipped || ')');
	SELECT e.extcondition[pg_catalog.array_position(e.extconfig, 'workon.errors'::pg_catalog.regclass)]
	  INTO cond FROM pg_catalog.pg_extension AS e WHERE e.extname = 'workon';
	EXECUTE 'SELECT pg_catalog.string_agg(pg_catalog.format(''%L'', x.sqlstate), '', '' ORDER BY x.sqlstate)
			   FROM workon.errors AS x
			  WHERE x.sqlstate NOT IN (SELECT sqlstate FROM workon.errors ' || cond || ')'
	   INTO shipped;
	PERFORM pg_catalog.pg_extension_config_dump('workon.errors', 'WHERE sqlstate NOT IN (' || shipped || ')');
END
$dump$;
