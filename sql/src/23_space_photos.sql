--
-- The photos of a space: an ordered list of the host's stored images, the
-- first the cover (the table, space_photos_json and the release trigger are
-- in 20_spaces.sql)
--
CREATE FUNCTION workon.space_photos_set(id uuid, upload_ids jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_space		workon.spaces;
	v_user		uuid := workon.current_user_id();
	v_admin		boolean := workon.current_role() = 'admin';
	v_ids		uuid[];
	v_bad		uuid;
BEGIN
	-- the caller's view of the space decides, as for any change of it
	SELECT * INTO v_space FROM workon.spaces AS s
	 WHERE s.id = space_photos_set.id
	   AND (s.published OR v_admin OR s.host_id = v_user)
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT v_admin AND v_space.host_id IS DISTINCT FROM v_user THEN
		RAISE EXCEPTION 'only the space''s host or an admin may change it'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be changed'
			USING ERRCODE = 'WOR01';
	END IF;
	IF space_photos_set.upload_ids IS NULL THEN
		RAISE EXCEPTION 'upload_ids is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;
	IF pg_catalog.jsonb_typeof(space_photos_set.upload_ids) <> 'array' THEN
		RAISE EXCEPTION 'upload_ids must be an array of upload ids'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;
	BEGIN
		v_ids := ARRAY(SELECT x::uuid FROM pg_catalog.jsonb_array_elements_text(space_photos_set.upload_ids) AS x);
	EXCEPTION WHEN invalid_text_representation THEN
		RAISE EXCEPTION 'upload_ids must be an array of upload ids'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END;
	IF pg_catalog.cardinality(v_ids) > 20 THEN
		RAISE EXCEPTION 'a space has at most 20 photos'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;
	IF (SELECT pg_catalog.count(DISTINCT x) <> pg_catalog.count(*) OR pg_catalog.count(x) <> pg_catalog.count(*)
		  FROM pg_catalog.unnest(v_ids) AS x) THEN
		RAISE EXCEPTION 'upload_ids must not repeat an id or hold null'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;

	-- each photo: a stored image of the space's host (admins: of anyone),
	-- not a photo of another space
	SELECT x INTO v_bad
	  FROM pg_catalog.unnest(v_ids) AS x
	 WHERE NOT EXISTS (SELECT FROM workon.uploads AS u
						WHERE u.id = x AND u.state = 'stored'
						  AND u.content_type LIKE 'image/%'
						  AND (u.owner_id = v_user OR v_admin)
						  AND NOT EXISTS (SELECT FROM workon.user_avatars AS a WHERE a.upload_id = u.id)
						  AND NOT EXISTS (SELECT FROM workon.space_photos AS p
										   WHERE p.upload_id = u.id
											 AND p.space_id <> v_space.id))
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'upload % is not a stored image of yours that can be a photo of this space', v_bad
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'upload_ids';
	END IF;

	-- photos left out are released (and deleted); the others take their
	-- new places, checked for uniqueness once the statement is done
	DELETE FROM workon.space_photos AS p
	 WHERE p.space_id = v_space.id AND p.upload_id <> ALL (v_ids);
	INSERT INTO workon.space_photos AS p (upload_id, space_id, position)
	SELECT x.upload_id, v_space.id, (x.n - 1)::integer
	  FROM pg_catalog.unnest(v_ids) WITH ORDINALITY AS x (upload_id, n)
	ON CONFLICT (upload_id) DO UPDATE SET position = EXCLUDED.position
		WHERE p.position IS DISTINCT FROM EXCLUDED.position;

	-- the space's document lists its photos
	UPDATE workon.spaces AS s SET published = s.published WHERE s.id = v_space.id
	RETURNING * INTO v_space;
	RETURN v_space.doc;
END
$$;

COMMENT ON FUNCTION workon.space_photos_set(uuid, jsonb) IS
'PUT /api/v1/spaces/{id}/photos {upload_ids: [...]} (its host, admin): the photos of the space in order, the first the cover, at most 20: stored images of the host; photos left out are deleted. Returns the space, whose photos list their public URLs; 22023 naming upload_ids for anything invalid; WOR01 space_archived for an archived space';

INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('PUT', '/api/v1/spaces/{id}/photos', 'workon.space_photos_set(uuid,jsonb)',
	 'host', 200, 'json', false, 'Set the photos of a space in order (the first is the cover)');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('PUT', '/api/v1/spaces/{id}/photos', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"upload_ids": {"type": "array", "maxItems": 20, "uniqueItems": true, "items": {"$ref": "#/components/schemas/Uuid"}, "description": "stored images of the host, the first the cover"}}, "required": ["upload_ids"]},
		"responses": {"200": {"$ref": "#/components/schemas/Space"}}}');

GRANT EXECUTE ON FUNCTION workon.space_photos_set(uuid, jsonb) TO workon_host, workon_admin;
