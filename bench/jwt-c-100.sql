-- bench/jwt-c-100.sql -- pgbench script: 100 verifications of the token by the C verifier
-- in one statement, so that the verifier's own cost shows rather than the round trip.
-- verifies/s = tps x 100. scripts/bench.sh passes -D token=<jwt>.
SELECT count(workon.jwt_verify(:token)) FROM pg_catalog.generate_series(1, 100);
