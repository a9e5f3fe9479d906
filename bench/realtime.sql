-- bench/realtime.sql -- bench-only objects for scripts/bench-realtime.sh, run once as a
-- superuser in the throw-away bench database (never in a real one):
--   psql -v ON_ERROR_STOP=1 -v secret=<48 chars> -v pairs=500 -f bench/realtime.sql
-- It seeds a JWT key from :secret and makes :pairs pairs of a host and a member, a space of
-- the host's and the member's conversation about it (2 x :pairs users, :pairs
-- conversations), and bench.pairs (i, conv, member, host): the conversation and an access
-- token of each side (valid a day). bench/realtime.mjs opens a socket per user and posts
-- on the conversations; bench/messages.sql (pgbench) and bench/messages.lua (wrk) post on
-- them too.
SET client_min_messages = warning;
SET row_security = off;

SELECT workon.seed_jwt_key(:'secret') IS NOT NULL AS seeded \gset

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

SET workon.jwt_access_ttl = 86400;
CREATE TABLE bench.pairs (i integer PRIMARY KEY, conv uuid NOT NULL, member text NOT NULL, host text NOT NULL);
WITH h AS (
    INSERT INTO workon.users (email, name, role)
    SELECT 'rt-host-' || n || '@example.com', 'Host ' || n, 'host' FROM pg_catalog.generate_series(1, :pairs) AS n
    RETURNING id, email),
m AS (
    INSERT INTO workon.users (email, name, role)
    SELECT 'rt-member-' || n || '@example.com', 'Member ' || n, 'member' FROM pg_catalog.generate_series(1, :pairs) AS n
    RETURNING id, email),
hn AS (SELECT id, pg_catalog.split_part(pg_catalog.split_part(email, '@', 1), '-', 3)::integer AS n FROM h),
mn AS (SELECT id, pg_catalog.split_part(pg_catalog.split_part(email, '@', 1), '-', 3)::integer AS n FROM m),
s AS (
    INSERT INTO workon.spaces (host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents,
                               daily_rate_cents, currency, opening_hours, published)
    SELECT hn.id, 'Bench ' || hn.n, 'desk', 'Benchtown', 'Loop ' || hn.n, 1, 'UTC', 1000, 6000, 'eur', '{}', true
      FROM hn
    RETURNING id, host_id),
c AS (
    INSERT INTO workon.conversations (space_id, member_id, host_id)
    SELECT s.id, mn.id, s.host_id FROM s JOIN hn ON hn.id = s.host_id JOIN mn ON mn.n = hn.n
    RETURNING id, member_id, host_id)
INSERT INTO bench.pairs (i, conv, member, host)
SELECT pg_catalog.row_number() OVER (ORDER BY c.id), c.id,
       workon.jwt_issue(c.member_id, 'member'), workon.jwt_issue(c.host_id, 'host')
  FROM c;
RESET workon.jwt_access_ttl;

GRANT USAGE ON SCHEMA bench TO workon_authenticator;
GRANT SELECT ON bench.pairs TO workon_authenticator;
ANALYZE bench.pairs;
