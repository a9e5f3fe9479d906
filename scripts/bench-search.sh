#!/usr/bin/env bash
# scripts/bench-search.sh (make bench-search) -- the search part of make bench alone:
# GET /api/v1/spaces?q= over bench/search.sql's 10,000 spaces, through the shim
# (bench/search.mjs) and the same statement through pgbench (bench/search-pgbench.sh),
# side by side. Settings: BENCH_SEARCH_REQUESTS (per query and side, 2000).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

requests=${BENCH_SEARCH_REQUESTS:-2000}

bash "$ROOT/scripts/deps.sh"
setup_run_dir
build_all
private_install

B=$RUN/bench-search.$$
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

remove_stale_clusters bench-search
mkdir -p "$B"
cluster_init "$B" bench
cluster_start_in_session "$B"
setup_database "$B" workon_bench
psql_in "$B" workon_bench -f "$ROOT/bench/search.sql" >/dev/null
psql_in "$B" workon_bench -c 'VACUUM ANALYZE'
fn=$(psql_in "$B" workon_bench -tA -c \
    "SELECT handler::oid FROM workon.routes WHERE method = 'GET' AND path = '/api/v1/spaces'")

dev_environment
port=$(free_port)
url="http://127.0.0.1:$port"
DATABASE_URL=$(database_url "$B" workon_bench workon_authenticator) HOST=127.0.0.1 PORT=$port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false STRIPE_SECRET_KEY= EMAIL_TRANSPORT=off \
    "$ROOT/shim/workon-shim" >"$B/shim.log" 2>&1 &
shim_pid=$!
wait_for_shim "$shim_pid" "$url" 30 || die "the shim did not come up on $url (log: $B/shim.log)"

say "search: GET /api/v1/spaces?q= one request at a time, shim then pgbench"
shim=$(node "$ROOT/bench/search.mjs" "$url" "$requests")
pg=$(bash "$ROOT/bench/search-pgbench.sh" "$PRIV_BIN/pgbench" "$B/sock" "$PG_PORT" workon_bench "$fn" "$requests")
search_table "$shim" "$pg" "$(uptime | sed 's/.*load average: //')"
ok=1
