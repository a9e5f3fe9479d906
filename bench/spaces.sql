-- bench/spaces.sql -- pgbench script: the very statement the shim sends for
-- GET /api/v1/spaces without a query string (one call of workon.dispatch).
-- scripts/bench.sh passes the handler's oid as -D fn=<oid>, computed with
--   SELECT 'workon.spaces_list(text,text,integer,integer,text)'::regprocedure::oid;
-- By hand:
--   pgbench -n -M prepared -c 8 -j 2 -T 10 -f bench/spaces.sql -D fn=<oid> \
--     -h <socket dir> -U workon_authenticator <database>
SELECT status, headers, body FROM workon.dispatch(:fn, '{}'::jsonb, '{}'::jsonb, NULL, NULL, '{"request_id":"bench"}'::jsonb);
