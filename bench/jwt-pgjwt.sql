-- bench/jwt-pgjwt.sql -- pgbench script: the same token verified by bench.pgjwt_verify, an
-- HS256 verify in SQL on pgcrypto written the way pgjwt does it (bench/setup.sql).
-- scripts/bench.sh passes -D token=<jwt> -D secret=<the key's secret>.
SELECT bench.pgjwt_verify(:token, :secret);
