#!/usr/bin/env bash
# scripts/bench-realtime.sh (make bench BENCH=realtime; make bench runs it after
# scripts/bench.sh) -- messages and WebSockets: bench/realtime.sql makes BENCH_SOCKETS / 2
# conversations between a member and a host in a throw-away cluster, then
#   1. fan-out (bench/realtime.mjs fanout): POST /api/v1/conversations/{id}/messages at
#      BENCH_RATE a second for BENCH_REALTIME_SECONDS, with the events' NOTIFY trigger off and
#      no socket, with it and no socket, with every user's socket open: the writers' rate and
#      latency each time, and with the sockets every frame's commit-to-receive and
#      post-to-receive time;
#   2. the route against pgbench on the very call the shim makes (bench/messages.sql,
#      bench/messages.lua), alternating rounds, with no socket and with BENCH_SOCKETS open
#      (bench/realtime.mjs hold);
#   3. BENCH_IDLE idle authenticated sockets: the shim's RSS (bench/realtime.mjs idle).
# Bars: every frame delivered, commit-to-receive p50 < 5 ms and p99 < 50 ms; the route at
# least 0.85 x pgbench both times; RSS under 150 MB with 10,000 idle sockets.
# Settings: BENCH_DURATION (seconds per head-to-head run, 10), BENCH_REALTIME_SECONDS (30),
# BENCH_RATE (1000), BENCH_SOCKETS (1000), BENCH_IDLE (10000), SHIM_THREADS, DB_POOL_SIZE;
# BENCH_SHIM: another shim binary to run (an earlier build, for an A/B).
# Results: printed and written to .run/bench-realtime-<date>.txt.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration=${BENCH_DURATION:-10}
sockets=${BENCH_SOCKETS:-1000}
idle_sockets=${BENCH_IDLE:-10000}
h2h_rounds=3
pgbench_clients=(2 8)
wrk_conns=32

bash "$ROOT/scripts/deps.sh"
setup_run_dir
build_all
private_install

B=$RUN/bench-realtime.$$
shim_pid=
hold_pid=
ok=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    end_run "$rc" "$B" fast "$hold_pid" "$shim_pid"
    exit "$rc"
}
on_exit cleanup

# 10,000 sockets in the shim and as many in node
raise_open_files
hard=$(ulimit -n)
[ "$hard" -gt $((idle_sockets + 1000)) ] || say "only $hard file descriptors allowed: the idle sockets may fail"

remove_stale_clusters bench-realtime
mkdir -p "$B"
cluster_init "$B" bench
# pg_stat_statements: where the writers' time goes, printed at the end
echo "shared_preload_libraries = 'pg_stat_statements'" >"$B/preload.conf"
give_to_pg "$B/preload.conf"
grep -q preload.conf "$B/pgdata/postgresql.conf" ||
    as_pg sh -c "echo \"include_if_exists = '$B/preload.conf'\" >>'$B/pgdata/postgresql.conf'"
cluster_start_in_session "$B"
db=workon_bench_rt
psql_in "$B" postgres -c "CREATE DATABASE $db"
psql_in "$B" "$db" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION workon CASCADE' \
    -c 'CREATE EXTENSION pg_stat_statements'
jwt_secret=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
psql_in "$B" "$db" -v secret="$jwt_secret" -v pairs=$((sockets / 2)) -f "$ROOT/bench/realtime.sql" >/dev/null
psql_in "$B" "$db" -tA -F ' ' -c 'SELECT conv, member FROM bench.pairs ORDER BY i' >"$B/pairs.txt"
[ "$(wc -l <"$B/pairs.txt")" -eq $((sockets / 2)) ] || die "bench/realtime.sql made $(wc -l <"$B/pairs.txt") pairs"
fn=$(psql_in "$B" "$db" -tA -c "SELECT 'workon.message_post(uuid,jsonb)'::regprocedure::oid")
psql_in "$B" "$db" -c 'VACUUM ANALYZE' >/dev/null

dev_environment
port=$(free_port)
url="http://127.0.0.1:$port"
DATABASE_URL=$(database_url "$B" "$db" workon_authenticator) HOST=127.0.0.1 PORT=$port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false STRIPE_SECRET_KEY='' EMAIL_TRANSPORT=off \
    WS_MAX_CONNECTIONS=$((idle_sockets + sockets)) \
    "${BENCH_SHIM:-$ROOT/shim/workon-shim}" >"$B/shim.log" 2>&1 &
shim_pid=$!
wait_for_shim "$shim_pid" "$url" 60 || die "the shim did not come up on $url (log: $B/shim.log)"
first=$(head -n 1 "$B/pairs.txt")
for _ in $(seq 100); do
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${first#* }" \
        -H 'Content-Type: application/json' -d '{"body":"warm"}' "$url/api/v1/conversations/${first%% *}/messages")" = 201 ] && break
    sleep 0.2
done

# bench/realtime.mjs MODE, with the database and the shim; env execs node (hold's pid is node's)
rt_env=(WORKON_PGHOST="$B/sock" WORKON_PGPORT="$PG_PORT" WORKON_PGDATABASE="$db" WORKON_PGUSER=postgres
    BENCH_URL="$url" BENCH_SHIM_PID="$shim_pid")
rt() { env "${rt_env[@]}" node "$ROOT/bench/realtime.mjs" "$@"; }
field() { node -e 'const r = JSON.parse(process.argv[1]); console.log(r[process.argv[2]] ?? "-")' "$1" "$2"; }

say "fan-out: ${BENCH_RATE:-1000} messages/s for ${BENCH_REALTIME_SECONDS:-30} s, without and with $sockets sockets"
fanout=$(rt fanout) || die "bench/realtime.mjs fanout failed: $fanout"
echo "$fanout" >&2

# CPU time (clock ticks, user + system) the processes PIDS... have used so far
cpu_ticks() {
    local p t=0
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
backends() { pgrep -f "^postgres: workon_authenticator $db" | tr '\n' ' ' || true; }

# h2h_run pgbench CLIENTS | wrk CONNECTIONS -> "rate cpu_us_per_request": the route's call
# through pgbench or the route through the shim, and the CPU time per request of the
# database's backends, the shim and the load generator
h2h_run() {
    local kind=$1 c=$2 out=$B/h2h.txt load p0 p1 s0 s1 l0 l1 w0 w1 pg n0 n1
    n0=$(psql_in "$B" "$db" -tA -c 'SELECT count(*) FROM workon.messages')
    if [ "$kind" = wrk ]; then
        wrk -t2 -c"$c" -d"${duration}s" -s "$ROOT/bench/messages.lua" "$url" -- "$B/pairs.txt" >"$out" 2>&1 &
    else
        "$PRIV_BIN/pgbench" -n -M prepared -c "$c" -j 2 -T "$duration" -f "$ROOT/bench/messages.sql" \
            -D fn="$fn" -D pairs=$((sockets / 2)) -h "$B/sock" -p "$PG_PORT" -U workon_authenticator "$db" >"$out" 2>&1 &
    fi
    load=$!
    sleep 1
    pg=$(backends)
    # shellcheck disable=SC2086 # one pid per word
    p0=$(cpu_ticks $pg); s0=$(cpu_ticks "$shim_pid"); l0=$(cpu_ticks "$load"); w0=$(date +%s.%N)
    # the last reading a second before the end: the backends of pgbench exit with it
    sleep "$((duration > 3 ? duration - 2 : 1))"
    # shellcheck disable=SC2086
    p1=$(cpu_ticks $pg); s1=$(cpu_ticks "$shim_pid"); l1=$(cpu_ticks "$load"); w1=$(date +%s.%N)
    wait "$load" || die "$kind -c $c failed: $(tail -n 3 "$out")"
    cat "$out" >>"$B/h2h-all.txt"
    n1=$(psql_in "$B" "$db" -tA -c 'SELECT count(*) FROM workon.messages')
    awk -v hz="$(getconf CLK_TCK)" -v t=$(( (p1 - p0) + (s1 - s0) + (l1 - l0) )) -v made=$((n1 - n0)) \
        -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')" \
        '/^Requests\/sec:/ {r = $2} /^tps = / {r = $3}
         / requests in / {n = $1} /^number of transactions actually processed:/ {n = $NF}
         END {printf "%.0f %.0f %d %d\n", r, (r && w) ? t / hz * 1e6 / w / r : 0, n, (n > made ? n - made : 0)}' "$out"
}

# alternating rounds; h2h[COND.KIND.rate|cpu|bad] are sums over the rounds
declare -A h2h
h2h_rounds_for() {
    local cond=$1 round c r cpu bad
    for round in $(seq "$h2h_rounds"); do
        for c in "${pgbench_clients[@]}" "w$wrk_conns"; do
            if [[ $c == w* ]]; then
                say "$cond: wrk -c ${c#w} (round $round)"
                read -r r cpu _ bad < <(h2h_run wrk "${c#w}")
            else
                say "$cond: pgbench -c $c (round $round)"
                read -r r cpu _ bad < <(h2h_run pgbench "$c")
            fi
            h2h[$cond.$c.rate]=$(( ${h2h[$cond.$c.rate]:-0} + r ))
            h2h[$cond.$c.cpu]=$(( ${h2h[$cond.$c.cpu]:-0} + cpu ))
            h2h[$cond.$c.bad]=$(( ${h2h[$cond.$c.bad]:-0} + bad ))
        done
    done
}
h2h_rounds_for none

say "opening $sockets sockets (bench/realtime.mjs hold)"
env "${rt_env[@]}" node "$ROOT/bench/realtime.mjs" hold >"$B/hold.txt" 2>&1 &
hold_pid=$!
for _ in $(seq 600); do
    grep -q '"open"' "$B/hold.txt" 2>/dev/null && break
    kill -0 "$hold_pid" 2>/dev/null || die "bench/realtime.mjs hold failed: $(cat "$B/hold.txt")"
    sleep 0.1
done
hold_open=$(field "$(head -n 1 "$B/hold.txt")" open)
h2h_rounds_for sockets
stop_pid "$hold_pid" 30
hold_pid=
hold_end=$(tail -n 1 "$B/hold.txt")

say "$idle_sockets idle sockets (bench/realtime.mjs idle)"
idle=$(BENCH_IDLE=$idle_sockets rt idle) || die "bench/realtime.mjs idle failed: $idle"

statements=$(psql_in "$B" "$db" -c "SELECT calls, round(mean_exec_time::numeric, 3) AS mean_ms,
        round((total_exec_time / sum(total_exec_time) OVER () * 100)::numeric, 1) AS pct, left(regexp_replace(query, '\s+', ' ', 'g'), 70) AS query
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY total_exec_time DESC LIMIT 8")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b ? a / b : 0}'; }
verdict() { awk -v v="$1" -v bar="$2" -v dir="${3:-<}" 'BEGIN { ok = dir == "<" ? v < bar : v >= bar; print ok ? "met" : "NOT met" }'; }
report=$B/report.txt
{
    echo "workon realtime bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "server:  $("$PRIV_BIN/postgres" -V), shared_buffers 256MB, fsync on, Unix socket, in the bench's session"
    echo "shim:    SHIM_THREADS=${SHIM_THREADS:-default} DB_POOL_SIZE=${DB_POOL_SIZE:-default}, commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)${BENCH_SHIM:+, binary $BENCH_SHIM}"
    echo
    frow() { printf '%-22s %7s %8s %7s %9s %9s  %s\n' "$@"; }
    echo "fan-out: POST /api/v1/conversations/{id}/messages at ${BENCH_RATE:-1000}/s for ${BENCH_REALTIME_SECONDS:-30} s over $((sockets / 2)) conversations"
    frow 'writers' posted created 'per s' 'p50 ms' 'p99 ms' 'other answers'
    while read -r line; do
        frow "$(field "$line" run)" "$(field "$line" posted)" "$(field "$line" created)" "$(field "$line" per_second)" \
            "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" "$(field "$line" other)"
    done <<<"$fanout"
    last=$(tail -n 1 <<<"$fanout")
    echo
    printf '%-30s %9s %9s %10s %8s %8s %8s\n' 'delivery (frames)' expected received duplicates 'p50 ms' 'p99 ms' 'max ms'
    printf '%-30s %9s %9s %10s %8s %8s %8s\n' 'commit-to-receive' "$(field "$last" expected)" "$(field "$last" received)" \
        "$(field "$last" duplicates)" "$(field "$last" commit_p50_ms)" "$(field "$last" commit_p99_ms)" "$(field "$last" commit_max_ms)"
    printf '%-30s %9s %9s %10s %8s %8s %8s\n' 'post-to-receive' '' '' '' "$(field "$last" post_p50_ms)" "$(field "$last" post_p99_ms)" ''
    echo "(a frame to each participant's socket per message; commit-to-receive from the message's created_at,"
    echo " clock_timestamp() in the posting transaction before its commit, to the frame's arrival in node,"
    echo " on the machine's clock: an upper bound; post-to-receive from the request being sent)"
    echo "bars: every frame delivered: $( [ "$(field "$last" received)" = "$(field "$last" expected)" ] && [ "$(field "$last" duplicates)" = 0 ] && echo met || echo 'NOT met');" \
        "p50 < 5 ms: $(verdict "$(field "$last" commit_p50_ms)" 5); p99 < 50 ms: $(verdict "$(field "$last" commit_p99_ms)" 50)"
    echo
    hrow() { printf '%-40s %-14s %8s %7s %9s %8s\n' "$@"; }
    hrow 'POST /api/v1/conversations/{id}/messages' '' 'rate' 'ratio' 'CPU us/req' 'non-201'
    for cond in none sockets; do
        best=0
        for c in "${pgbench_clients[@]}"; do
            r=$(( h2h[$cond.$c.rate] / h2h_rounds ))
            [ "$r" -gt "$best" ] && best=$r
        done
        label='no socket'
        [ "$cond" = sockets ] && label="$hold_open sockets open"
        for c in "${pgbench_clients[@]}"; do
            hrow "$label" "pgbench -c $c" "$(( h2h[$cond.$c.rate] / h2h_rounds ))" \
                "$(ratio "$(( h2h[$cond.$c.rate] / h2h_rounds ))" "$best")" "$(( h2h[$cond.$c.cpu] / h2h_rounds ))" "${h2h[$cond.$c.bad]}"
        done
        w=$(( h2h[$cond.w$wrk_conns.rate] / h2h_rounds ))
        hrow "$label" "shim, wrk -c $wrk_conns" "$w" "$(ratio "$w" "$best")" "$(( h2h[$cond.w$wrk_conns.cpu] / h2h_rounds ))" \
            "${h2h[$cond.w$wrk_conns.bad]}"
        echo "bar: shim >= 0.85 x the best pgbench, $label: $(verdict "$(ratio "$w" "$best")" 0.85 '>=')"
    done
    echo "(mean of $h2h_rounds alternating rounds of $duration s; rate = req/s or tps; ratio = rate / the best pgbench"
    echo " rate of the same condition; CPU us/req = the database's backends + the shim + the load generator;"
    echo " non-201 = requests that added no message; with the sockets open they got $(field "$hold_end" frames) frames,"
    echo " $(field "$hold_end" open) still open at the end)"
    echo
    echo "idle sockets: $(field "$idle" open) of $(field "$idle" sockets) open, shim RSS $(field "$idle" rss_before_mb) MB before," \
        "$(field "$idle" rss_mb) MB with them; bar: under 150 MB: $(verdict "$(field "$idle" rss_mb)" 150)"
    echo
    echo "pg_stat_statements, the whole run:"
    echo "$statements"
} >"$report"
cat "$report"
cp "$report" "$RUN/bench-realtime-$(date -u +%Y%m%d-%H%M%S).txt"
ok=1
