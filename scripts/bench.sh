#!/usr/bin/env bash
# scripts/bench.sh (make bench) -- the shim against pgbench running the same SQL on the
# same server. See bench/README.md for how to read the table.
#
# Settings (environment): BENCH_DURATION (seconds per run, 10), BENCH_WRK_THREADS (wrk -t,
# 2), SHIM_THREADS / DB_POOL_SIZE (passed to the shim as they are).
# Results: printed and written to .run/bench-<date>.txt.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration=${BENCH_DURATION:-10}
wrk_threads=${BENCH_WRK_THREADS:-2}
shim_conns=(8 32 64)
pgbench_conns=(2 4 8 32 64)
health_conns=(64 256)

bash "$ROOT/scripts/deps.sh"
setup_run_dir
build_all
private_install

B=$RUN/bench.$$
shim_pid=
ok=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    if [ -n "$shim_pid" ]; then
        stop_pid "$shim_pid" 12
    fi
    if [ -d "$B/pgdata" ]; then
        cluster_stop "$B" fast
    fi
    if [ "$rc" -eq 0 ]; then
        rm -rf "$B"
    elif [ -d "$B" ]; then
        say "kept $B (postgres.log, shim.log)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1,000 idle connections and wrk -c256 need more descriptors than the usual 1024
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"
[ "$hard" -ge 2048 ] || say "only $hard file descriptors allowed: the 1,000-connection check may fail"

remove_stale_clusters bench
mkdir -p "$B"
cluster_init "$B" bench
cluster_start "$B"
setup_database "$B" workon_bench
psql_in "$B" workon_bench -c 'VACUUM ANALYZE'
fn=$(psql_in "$B" workon_bench -tA -c \
    "SELECT 'workon.spaces_list(text,text,integer,integer,text)'::regprocedure::oid")

dev_environment
port=$(free_port)
url="http://127.0.0.1:$port"
DATABASE_URL=$(database_url "$B" workon_bench workon_authenticator) HOST=127.0.0.1 PORT=$port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false \
    "$ROOT/shim/workon-shim" >"$B/shim.log" 2>&1 &
shim_pid=$!
wait_for_shim "$shim_pid" "$url" 30 || die "the shim did not come up on $url (log: $B/shim.log)"

rows=$(curl -fsS "$url/api/v1/spaces" |
    node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => console.log(JSON.parse(s).data.length))')
[ "$rows" -eq 20 ] || die "GET /api/v1/spaces returned $rows rows, not 20 (is scripts/demo.sql loaded?)"

# wrk_run PATH CONNECTIONS -> "req/s p99 non2xx"
wrk_run() {
    local out rps p99 bad
    out=$(wrk -t"$(( $2 < wrk_threads ? $2 : wrk_threads ))" -c"$2" -d"${duration}s" --latency "$url$1")
    echo "$out" >>"$B/wrk.txt"
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    echo "${rps:-0} ${p99:--} ${bad:-0}"
}

# pgbench_run CONNECTIONS -> tps
pgbench_run() {
    local out
    out=$("$PRIV_BIN/pgbench" -n -M prepared -c "$1" -j "$(( $1 < 2 ? $1 : 2 ))" -T "$duration" \
        -f "$ROOT/bench/spaces.sql" -D fn="$fn" \
        -h "$B/sock" -p "$PG_PORT" -U workon_authenticator workon_bench 2>&1) ||
        die "pgbench failed: $out"
    echo "$out" >>"$B/pgbench.txt"
    awk '/^tps = / {printf "%.0f", $3}' <<<"$out"
}

say "warming up"
wrk -t1 -c8 -d2s "$url/api/v1/spaces" >/dev/null

declare -A tps shim_rps shim_p99 shim_bad
best=0
for c in "${pgbench_conns[@]}"; do
    say "pgbench -c $c"
    tps[$c]=$(pgbench_run "$c")
    [ "${tps[$c]}" -gt "$best" ] && best=${tps[$c]}
done
for c in "${shim_conns[@]}"; do
    say "wrk -c $c /api/v1/spaces"
    read -r "shim_rps[$c]" "shim_p99[$c]" "shim_bad[$c]" < <(wrk_run /api/v1/spaces "$c")
done
declare -A h_rps h_p99 h_bad
for c in "${health_conns[@]}"; do
    say "wrk -c $c /healthz"
    read -r "h_rps[$c]" "h_p99[$c]" "h_bad[$c]" < <(wrk_run /healthz "$c")
done

say "1,000 idle connections"
idle=$(node "$ROOT/bench/idle-connections.mjs" "$port" "$shim_pid" 1000) || idle='{"error":"failed"}'

result=$RUN/bench-$(date +%Y%m%d-%H%M%S).txt
{
    echo "workon bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
    echo "server:  $("$PRIV_BIN/postgres" -V), shared_buffers 256MB, Unix socket"
    echo "shim:    SHIM_THREADS=${SHIM_THREADS:-default} DB_POOL_SIZE=${DB_POOL_SIZE:-default}, commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "load:    wrk -t$wrk_threads -d${duration}s --latency; pgbench -n -M prepared -j 2 -T $duration -f bench/spaces.sql"
    echo
    printf '%-20s %5s %11s %10s %12s %10s %8s\n' route conns 'shim req/s' 'shim p99' 'pgbench tps' 'ratio' 'non-2xx'
    for c in "${pgbench_conns[@]}"; do
        if [ -n "${shim_rps[$c]:-}" ]; then
            printf '%-20s %5s %11s %10s %12s %10s %8s\n' 'GET /api/v1/spaces' "$c" "${shim_rps[$c]}" \
                "${shim_p99[$c]}" "${tps[$c]}" \
                "$(awk -v a="${shim_rps[$c]}" -v b="$best" 'BEGIN {printf "%.2f", b ? a / b : 0}')" "${shim_bad[$c]}"
        else
            printf '%-20s %5s %11s %10s %12s %10s %8s\n' 'GET /api/v1/spaces' "$c" - - "${tps[$c]}" - -
        fi
    done
    for c in "${health_conns[@]}"; do
        printf '%-20s %5s %11s %10s %12s %10s %8s\n' 'GET /healthz' "$c" "${h_rps[$c]}" "${h_p99[$c]}" - - "${h_bad[$c]}"
    done
    echo
    echo "ratio = shim req/s / best pgbench tps ($best) over all client counts"
    echo "idle keep-alive connections: $idle"
} | tee "$result"
say "written to $result"
ok=1
