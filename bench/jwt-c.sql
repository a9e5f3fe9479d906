-- bench/jwt-c.sql -- pgbench script: one verification of a valid HS256 access token by
-- the extension's C verifier. scripts/bench.sh passes the token as -D token=<jwt>.
SELECT workon.jwt_verify(:token);
