-- bench/messages.sql -- pgbench script: the very call the shim makes for
-- POST /api/v1/conversations/{id}/messages (workon.dispatch of workon.message_post), by
-- the member of a conversation drawn at random from bench.pairs (bench/realtime.sql). The
-- look-up of the pair in the same statement is work the shim does not do, so the
-- comparison is conservative.
-- scripts/bench-realtime.sh passes -D fn=<oid> -D pairs=<rows of bench.pairs>.
\set i random(1, :pairs)
SELECT d.status, d.headers, d.body
  FROM bench.pairs AS p,
       workon.dispatch(:fn, pg_catalog.jsonb_build_object('id', p.conv), '{}'::jsonb, '{"body":"bench"}',
                       p.member, '{"request_id":"bench"}'::jsonb) AS d
 WHERE p.i = :i;
