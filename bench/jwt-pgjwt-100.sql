-- bench/jwt-pgjwt-100.sql -- pgbench script: 100 verifications of the token by
-- bench.pgjwt_verify in one statement (see bench/jwt-c-100.sql).
-- scripts/bench.sh passes -D token=<jwt> -D secret=<the key's secret>.
SELECT count(bench.pgjwt_verify(:token, :secret)) FROM pg_catalog.generate_series(1, 100);
