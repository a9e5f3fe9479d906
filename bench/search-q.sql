-- bench/search-q.sql -- pgbench script: the statement the shim sends for
-- GET /api/v1/spaces?q=... (one call of workon.dispatch), over bench/search.sql's spaces.
-- scripts/bench.sh passes the handler's oid as -D fn=<oid>, the words as -D words=...
-- (%s is replaced by a random number 0..99, so that rare%s is one of the 100 rare
-- words) and the order as -D sort=... (- for none). By hand:
--   pgbench -n -M prepared -c 1 -t 2000 -l -f bench/search-q.sql -D fn=<oid> \
--     -D words=rare%s -D sort=- -h <socket dir> -U workon_authenticator <database>
\set r random(0, 99)
SELECT status, headers, body
  FROM workon.dispatch(:fn, '{}'::jsonb,
                       jsonb_strip_nulls(jsonb_build_object('q', replace(:words::text, '%s', :r::text),
                                                            'sort', NULLIF(:sort::text, '-'))),
                       NULL, NULL, '{"request_id":"bench"}'::jsonb);
