-- bench/me.sql -- pgbench script: the very statement the shim sends for an authenticated
-- GET /api/v1/me (one call of workon.dispatch with the bearer token).
-- scripts/bench.sh passes -D fn=<oid of workon.me()> -D token=<jwt>; in -M prepared mode
-- :token is sent as a parameter, as the shim sends it.
SELECT status, headers, body FROM workon.dispatch(:fn, '{}'::jsonb, '{}'::jsonb, NULL, :token, '{"request_id":"bench"}'::jsonb);
