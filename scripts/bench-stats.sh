#!/usr/bin/env bash
# scripts/bench-stats.sh (make bench BENCH=stats) -- the admin's reads at marketplace size:
# bench/stats-data.sql loads 1,000 spaces, 1,000,000 bookings (with their payments and
# refunds) and 100,000 audit rows into a throw-away cluster, then bench/stats.mjs times
# GET /api/v1/admin/stats over 90 days and GET /api/v1/admin/audit?entity_id= through the
# shim, one request at a time, against the bars (p95 under 200 ms and under 10 ms), and the
# plans' key lines are printed (auto_explain of the report's statements, EXPLAIN ANALYZE of
# the audit lookup). Results: printed and written to .run/bench-stats-<date>.txt.
# Settings: BENCH_STATS_REQUESTS (40), BENCH_AUDIT_REQUESTS (500).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "$ROOT/scripts/deps.sh"
setup_run_dir
build_all
private_install

B=$RUN/bench-stats.$$
shim_pid=
ok=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    end_run "$rc" "$B" fast "$shim_pid"
    exit "$rc"
}
on_exit cleanup

remove_stale_clusters bench-stats
mkdir -p "$B"
cluster_init "$B" bench
cluster_start_in_session "$B"
db=workon_bench_stats
psql_in "$B" postgres -c "CREATE DATABASE $db"
psql_in "$B" "$db" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION workon CASCADE'

say "loading bench/stats-data.sql (1,000,000 bookings: a few minutes)"
start=$(date +%s)
psql_in "$B" "$db" -f "$ROOT/bench/stats-data.sql" >/dev/null
psql_in "$B" "$db" -c 'VACUUM ANALYZE' >/dev/null
load_s=$(( $(date +%s) - start ))
counts=$(psql_in "$B" "$db" -tA -F ' ' -c "SELECT (SELECT count(*) FROM workon.spaces), (SELECT count(*) FROM workon.bookings),
    (SELECT count(*) FROM workon.payments), (SELECT count(*) FROM workon.refunds), (SELECT count(*) FROM workon.audit_log)")
read -r n_spaces n_bookings n_payments n_refunds n_audit <<<"$counts"
[ "$n_bookings" -ge 1000000 ] && [ "$n_audit" -ge 100000 ] && [ "$n_spaces" -ge 1000 ] ||
    die "bench/stats-data.sql made $counts (spaces bookings payments refunds audit rows)"

dev_environment
port=$(free_port)
url="http://127.0.0.1:$port"
DATABASE_URL=$(database_url "$B" "$db" workon_authenticator) HOST=127.0.0.1 PORT=$port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false STRIPE_SECRET_KEY= EMAIL_TRANSPORT=off \
    "$ROOT/shim/workon-shim" >"$B/shim.log" 2>&1 &
shim_pid=$!
wait_for_shim "$shim_pid" "$url" 60 || die "the shim did not come up on $url (log: $B/shim.log)"
token=
for _ in $(seq 100); do
    token=$(curl -sS -H 'content-type: application/json' \
        -d "$(printf '{"email":"%s","password":"%s"}' "$ADMIN_EMAIL" "$ADMIN_PASSWORD")" "$url/api/v1/auth/login" |
        node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => { try { console.log(JSON.parse(s).access_token || "") } catch { console.log("") } })')
    [ -n "$token" ] && break
    sleep 0.2
done
[ -n "$token" ] || die "the admin could not log in"

say "timing the routes"
results=$(node "$ROOT/bench/stats.mjs" "$url" "$token") || die "bench/stats.mjs failed"

say "plans"
from=$(date -u -d '90 days ago' +%F)
to=$(date -u -d '1 day ago' +%F)
plans=$(psql_in "$B" "$db" -v from="$from" -v to="$to" 2>&1 <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_timing = on;
SET client_min_messages = log;
SELECT length(workon.stats_report(:'from', :'to', NULL, NULL, NULL)::text) AS report_bytes;
RESET client_min_messages;
LOAD 'auto_explain';
SET auto_explain.log_min_duration = -1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT a.id FROM workon.audit_log AS a
 WHERE a.entity_id = '00000000-0000-4000-a000-0000000003f0'
   AND (a.at, a.id) < ('infinity', 9223372036854775807)
 ORDER BY a.at DESC, a.id DESC LIMIT 21;
SQL
) || die "the plans failed: $plans"
# the key lines: each statement's total, its scans and joins
key_lines=$(grep -E 'duration:|Index|Seq Scan|Bitmap|Hash Join|Nested Loop|Function Scan on space_occupancy|Execution Time|rows=.*loops' <<<"$plans" |
    grep -vE 'Buffers|Planning' | sed -E 's/^.*LOG:  //' | cut -c1-160 | head -60)

p95_of() { node -e 'const r = JSON.parse(process.argv[1]); console.log(r.p95_ms)' "$1"; }
stats_line=$(sed -n 1p <<<"$results")
audit_line=$(sed -n 2p <<<"$results")
stats_p95=$(p95_of "$stats_line")
audit_p95=$(p95_of "$audit_line")
verdict() { awk -v v="$1" -v bar="$2" 'BEGIN { print (v < bar) ? "met" : "NOT met" }'; }

report=$B/report.txt
{
    echo "# workon stats bench $(date -u +%FT%TZ) on $(nproc) cores, $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo -)"
    echo "data: $n_spaces spaces, $n_bookings bookings, $n_payments payments, $n_refunds refunds, $n_audit audit rows (loaded in ${load_s} s)"
    echo "$stats_line"
    echo "$audit_line"
    echo "bar: stats p95 ${stats_p95} ms < 200 ms: $(verdict "$stats_p95" 200); audit p95 ${audit_p95} ms < 10 ms: $(verdict "$audit_p95" 10)"
    echo "plans (key lines):"
    echo "$key_lines"
} >"$report"
cat "$report"
cp "$report" "$RUN/bench-stats-$(date -u +%Y%m%d-%H%M%S).txt"
ok=1
