--
-- workon.openapi(): the OpenAPI 3.1 document, generated from workon.routes
-- and the handlers' catalog entries
--
SELECT d->>'openapi' AS openapi, d->'info'->>'title' AS title,
       d->'info'->>'version' = (SELECT extversion FROM pg_extension WHERE extname = 'workon') AS version_is_extension
  FROM workon.openapi() AS d;

-- the document built once, as a psql variable, for the checks that read it (those that
-- need a fresh one, after a change of the routes, call workon.openapi() again)
SELECT workon.openapi() AS doc \gset

-- every route of workon.routes is an operation, and nothing else is
SELECT r.method, r.path
  FROM workon.routes r
 WHERE NOT (:'doc'::jsonb -> 'paths' -> r.path) ? lower(r.method)
 ORDER BY 1, 2;
SELECT count(*) = (SELECT count(*) FROM workon.routes) + 7 AS operations_match
  FROM jsonb_each(:'doc'::jsonb -> 'paths') AS p(path, item), jsonb_object_keys(p.item) AS m;

-- operation ids are unique
SELECT op->>'operationId' AS duplicate
  FROM jsonb_each(:'doc'::jsonb -> 'paths') AS p(path, item), jsonb_each(p.item) AS o(m, op)
 GROUP BY 1 HAVING count(*) > 1;

-- a public list: query parameters from the handler's arguments, description from its comment
SELECT jsonb_pretty(jsonb_path_query_array(:'doc'::jsonb, '$.paths."/api/v1/spaces".get.parameters[*] ? (@.in == "query")'));
SELECT (:'doc'::jsonb #>> '{paths,/api/v1/spaces,get,description}') =
       obj_description('workon.spaces_search(text,text,text,text,integer,integer,text)'::regprocedure, 'pg_proc') AS description_is_comment;
SELECT :'doc'::jsonb #> '{paths,/api/v1/spaces,get,security}' AS public_security;

-- a path parameter, typed from the handler
SELECT :'doc'::jsonb #> ARRAY['paths', '/api/v1/spaces/{id}', 'get', 'parameters'] AS space_get_params;

-- a JSON body made of the handler's arguments, and a member route needing a token
SELECT jsonb_pretty(:'doc'::jsonb #> '{paths,/api/v1/bookings,post,requestBody}');
SELECT :'doc'::jsonb #> '{paths,/api/v1/bookings,post,security}' AS member_security,
       :'doc'::jsonb #> '{paths,/api/v1/bookings,post,responses}' ? '403' AS has_403,
       :'doc'::jsonb #>> '{paths,/api/v1/bookings,post,x-workon-auth}' AS auth;
-- a handler taking the whole body
SELECT :'doc'::jsonb #> '{paths,/api/v1/spaces,post,requestBody,content,application/json,schema}' AS whole_body;

-- a new route shows up at once, with its comment
CREATE FUNCTION workon.test_openapi_echo(item_id uuid, note text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN json_build_object('note', note); END $$;
COMMENT ON FUNCTION workon.test_openapi_echo(uuid, text) IS 'Echo a note about an item';
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary)
VALUES ('PUT', '/api/v1/test-openapi/{item_id}', 'workon.test_openapi_echo(uuid,text)', 'admin', 200, 'json', 'Echo');
SELECT jsonb_pretty(workon.openapi() #> ARRAY['paths', '/api/v1/test-openapi/{item_id}']);
DELETE FROM workon.routes WHERE path = '/api/v1/test-openapi/{item_id}';
DROP FUNCTION workon.test_openapi_echo(uuid, text);
SELECT workon.openapi() -> 'paths' ? '/api/v1/test-openapi/{item_id}' AS still_there;

-- 429 on the routes that are rate limited, not on those exempt from it
SELECT r.method, r.path, r.rate_limit
  FROM workon.routes r
 WHERE (:'doc'::jsonb -> 'paths' -> r.path -> lower(r.method) -> 'responses' ? '429') = (r.rate_limit = 'exempt')
 ORDER BY 2, 1;
SELECT :'doc'::jsonb #> '{paths,/api/v1/webhooks/stripe,post,responses}' ? '429' AS webhook_429,
       :'doc'::jsonb #> '{paths,/api/v1/auth/login,post,responses}' ? '429' AS login_429;
-- nothing the front end and the extension say to each other shows
SELECT :'doc'::jsonb::text ~* 'x-workon-(outbox|user)|wait_for_outbox|outbox_id' AS internal_signals;

-- every $ref points into the document
SELECT DISTINCT ref
  FROM (SELECT jsonb_path_query(:'doc'::jsonb, 'strict $.**."$ref"') #>> '{}' AS ref) AS refs
 WHERE :'doc'::jsonb #> string_to_array(substr(ref, 3), '/') IS NULL;

-- types
SELECT t, workon.openapi_schema(t::regtype)
  FROM unnest(ARRAY['uuid', 'text', 'integer', 'bigint', 'boolean', 'timestamptz', 'jsonb', 'text[]', 'point']) AS t;

-- the front end's login role may build it
SET ROLE workon_authenticator;
SELECT workon.openapi() ->> 'openapi' AS as_authenticator;
RESET ROLE;

-- a POST whose handler answers 200 with what exists already lists that 200
SELECT r.path, (:'doc'::jsonb #> ARRAY['paths', r.path, 'post', 'responses']) ? '200' AS lists_200
  FROM workon.routes r
 WHERE r.method = 'POST'
   AND r.path IN ('/api/v1/conversations', '/api/v1/bookings/{id}/payment', '/api/v1/bookings/{id}/checkout',
				  '/api/v1/auth/register', '/api/v1/spaces')
 ORDER BY 1;
-- public reads list the 304 of their ETag; reads that need a token do not
SELECT r.path, (:'doc'::jsonb #> ARRAY['paths', r.path, 'get', 'responses']) ? '304' AS lists_304
  FROM workon.routes r
 WHERE r.method = 'GET' AND r.path IN ('/api/v1/spaces', '/api/v1/spaces/{id}', '/api/v1/me', '/api/v1/uploads/{id}/content')
 ORDER BY 1;
