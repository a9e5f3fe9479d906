-- bench/setup.sql -- bench-only objects for scripts/bench.sh, run once as a superuser in
-- the throw-away bench database (never in a real one):
--   psql -v ON_ERROR_STOP=1 -v secret=<48 chars> -v password=<text> -v spaces=200 -f bench/setup.sql
-- It seeds a JWT key from :secret, creates a member (bench-member@example.com) who makes
-- the authenticated requests, a host with :spaces published spaces open all day every day
-- in UTC, and schema bench with
--   bench.pgjwt_verify(token, secret)  an HS256 verify written in SQL on pgcrypto
--   bench.booking_body(k)              the JSON body of booking slot number k
--   bench.next_slot()                  a slot number above every slot booked so far
SET client_min_messages = warning;
SET row_security = off;

SELECT workon.seed_jwt_key(:'secret') IS NOT NULL AS seeded \gset

-- cheap password hashing for the bench user only (the GUC is superuser-only)
SET workon.scrypt_log_n = 4;
SELECT workon.create_user('bench-member@example.com', :'password', 'Bench Member', 'member') IS NOT NULL AS member \gset
SELECT workon.create_user('bench-host@example.com', :'password', 'Bench Host', 'host') IS NOT NULL AS host \gset
RESET workon.scrypt_log_n;

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE EXTENSION pgcrypto SCHEMA bench;

-- slot k is space (k % n) from t0 + (k / n) * 30 minutes to 30 minutes later
CREATE TABLE bench.params (t0 timestamptz NOT NULL, n integer NOT NULL);
INSERT INTO bench.params
SELECT pg_catalog.to_timestamp((pg_catalog.floor(extract(epoch FROM pg_catalog.now()) / 3600) + 25) * 3600), :spaces;

CREATE TABLE bench.spaces (i integer PRIMARY KEY, id uuid NOT NULL);
WITH made AS (
    INSERT INTO workon.spaces (host_id, name, kind, city, address, capacity, timezone,
                               hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
    SELECT u.id, 'Bench Room ' || g, 'meeting_room', 'Benchtown', 'Loop ' || g, 4, 'UTC', 1000, 6000, 'eur',
           (SELECT pg_catalog.jsonb_object_agg(d, '[["00:00","24:00"]]'::jsonb)
              FROM pg_catalog.unnest(ARRAY['mon','tue','wed','thu','fri','sat','sun']) AS d),
           true
      FROM workon.users AS u, pg_catalog.generate_series(0, :spaces - 1) AS g
     WHERE u.email = 'bench-host@example.com'
    RETURNING id, name
)
INSERT INTO bench.spaces (i, id)
SELECT pg_catalog.substr(name, 12)::integer, id FROM made;

-- PL/pgSQL so that its plan is kept for the session: as a SQL function called in
-- pgbench's argument list it was parsed and planned on every transaction, about a sixth
-- of the measured cost of a booking that the shim does not pay
CREATE FUNCTION bench.booking_body(k bigint)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (SELECT pg_catalog.json_build_object(
                       'space_id', s.id,
                       'starts_at', p.t0 + (k / p.n) * interval '30 minutes',
                       'ends_at', p.t0 + (k / p.n + 1) * interval '30 minutes')::text
              FROM bench.params AS p
              JOIN bench.spaces AS s ON s.i = k % p.n);
END
$$;

CREATE FUNCTION bench.next_slot()
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT COALESCE(max(extract(epoch FROM b.starts_at - p.t0)::bigint / 1800 * p.n + s.i) + 1000, 0)
      FROM bench.params AS p, workon.bookings AS b
      JOIN bench.spaces AS s ON s.id = b.space_id
$$;

-- An HMAC-SHA256 JWT verify in SQL, the way pgjwt does it on pgcrypto: split the token,
-- recompute the signature over header.payload, base64url it (translate, strip '='),
-- compare, decode the JSON and check alg and exp. The claims if valid, NULL otherwise.
CREATE FUNCTION bench.b64url_decode(data text)
RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT pg_catalog.decode(
        pg_catalog.rpad(pg_catalog.translate(data, '-_', '+/'),
                        (pg_catalog.length(data) + 3) / 4 * 4, '='),
        'base64')
$$;

CREATE FUNCTION bench.pgjwt_verify(token text, secret text)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT CASE
             WHEN j.header ->> 'alg' = 'HS256'
              AND j.signature = pg_catalog.rtrim(pg_catalog.translate(
                      pg_catalog.encode(bench.hmac(j.parts[1] || '.' || j.parts[2], secret, 'sha256'), 'base64'),
                      E'+/\n', '-_'), '=')
              AND (j.claims ->> 'exp')::numeric > extract(epoch FROM pg_catalog.now())
             THEN j.claims
           END
      FROM (SELECT t.parts, t.parts[3] AS signature,
                   pg_catalog.convert_from(bench.b64url_decode(t.parts[1]), 'UTF8')::jsonb AS header,
                   pg_catalog.convert_from(bench.b64url_decode(t.parts[2]), 'UTF8')::jsonb AS claims
              FROM (SELECT pg_catalog.string_to_array(token, '.') AS parts) AS t) AS j
$$;

GRANT USAGE ON SCHEMA bench TO workon_authenticator;
GRANT SELECT ON bench.params, bench.spaces TO workon_authenticator;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bench TO workon_authenticator;

ANALYZE bench.params;
ANALYZE bench.spaces;
