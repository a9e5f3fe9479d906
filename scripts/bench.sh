#!/usr/bin/env bash
# scripts/bench.sh (make bench) -- the shim against pgbench running the same SQL on the
# same server. See bench/README.md for how to read the table.
#
# Settings (environment): BENCH_DURATION (seconds per run, 10), BENCH_WRK_THREADS (wrk -t,
# 2), SHIM_THREADS / DB_POOL_SIZE (passed to the shims as they are). Messages and
# WebSockets have a bench of their own, scripts/bench-realtime.sh (make bench runs both).
#
# Two shims serve the same database: the main one with the edge's per-request work off
# (LOG_LEVEL=warn, RATE_LIMIT_ENABLED=false) and an "edge" one with it on (access line per
# request at LOG_LEVEL=info into a file, rate limiting with a limit nobody reaches), so the
# cost of rate limiting + logging shows as a ratio on GET /api/v1/spaces. A third, the main
# one's twin, serves GET /api/v1/spaces beside it: one shim vs two on the same database.
# Results: printed and written to .run/bench-<date>.txt.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration=${BENCH_DURATION:-10}
wrk_threads=${BENCH_WRK_THREADS:-2}
shim_conns=(8 32 64)
pgbench_conns=(2 4 8 32 64)
health_conns=(64 256)
auth_pgbench_conns=(2 8 64)
jwt_clients=2
bench_spaces=200
webhook_conns=(8 32)
webhook_deliveries=40000
webhook_dup_share=0.8
bench_mails=10000
# the fake Resend answers each mail after this many ms: 100 and 20 show the bound a provider's
# latency sets (EMAIL_CONCURRENCY / latency), 0 what the shim, the database and the fake reach
# without one
bench_mail_latencies=(100 20 0)
bench_mail_concurrency=64

bash "$ROOT/scripts/deps.sh"
setup_run_dir
build_all
private_install

B=$RUN/bench.$$
shim_pid=
edge_pid=
twin_pid=
lane_pid=
replica_shim_pid=
ok=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    if [ -f "$B/replica/pgdata/postmaster.pid" ]; then
        WORKON_PGDATA=$B/pgdata bash "$ROOT/scripts/replica.sh" stop "$B/replica" || true
    fi
    end_run "$rc" "$B" fast "$shim_pid" "$edge_pid" "$twin_pid" "$lane_pid" "$replica_shim_pid"
    exit "$rc"
}
on_exit cleanup

# 1,000 idle connections and wrk -c256 need more descriptors than the usual 1024
raise_open_files
hard=$(ulimit -n)
[ "$hard" -ge 2048 ] || say "only $hard file descriptors allowed: the 1,000-connection check may fail"

remove_stale_clusters bench
mkdir -p "$B"
cluster_init "$B" bench
# in this session, like wrk, pgbench and the shim (see cluster_start_in_session)
cluster_start_in_session "$B"
setup_database "$B" workon_bench
psql_in "$B" workon_bench -c 'VACUUM ANALYZE'
fn=$(psql_in "$B" workon_bench -tA -c \
    "SELECT handler::oid FROM workon.routes WHERE method = 'GET' AND path = '/api/v1/spaces'")

# JWT key, a member with a token, bench spaces open around the clock, schema bench
jwt_secret=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
bench_password=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
psql_in "$B" workon_bench -v secret="$jwt_secret" -v password="$bench_password" \
    -v spaces="$bench_spaces" -f "$ROOT/bench/setup.sql" >/dev/null
token=$(psql_in "$B" workon_bench -tA -v password="$bench_password" <<'SQL'
SET workon.jwt_access_ttl = 3600;
SELECT workon.auth_login('bench-member@example.com', :'password') ->> 'access_token';
SQL
)
[[ "$token" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || die "no access token for the bench member"
fn_me=$(psql_in "$B" workon_bench -tA -c "SELECT 'workon.me()'::regprocedure::oid")
# 40,000 tokens of the bench member, more than the 32,768 verifications a shim remembers
psql_in "$B" workon_bench -tA >"$B/tokens.txt" <<'SQL'
SET workon.jwt_access_ttl = 3600;
SELECT workon.jwt_issue(u.id, 'member')
  FROM workon.users AS u, generate_series(1, 40000)
 WHERE u.email = 'bench-member@example.com';
SQL
fn_book=$(psql_in "$B" workon_bench -tA -c \
    "SELECT 'workon.booking_create(uuid,timestamptz,timestamptz)'::regprocedure::oid")
t0=$(psql_in "$B" workon_bench -tA -c 'SELECT extract(epoch FROM t0)::bigint FROM bench.params')
psql_in "$B" workon_bench -tA -c 'SELECT id FROM bench.spaces ORDER BY i' >"$B/spaces.txt"
[ "$(wc -l <"$B/spaces.txt")" -eq "$bench_spaces" ] || die "bench/setup.sql made $(wc -l <"$B/spaces.txt") spaces"
# both verifiers accept the token, the SQL one refuses a wrong secret
psql_in "$B" workon_bench -tA -v token="$token" -v secret="$jwt_secret" <<'SQL' | grep -qx ok ||
SELECT CASE WHEN workon.jwt_verify(:'token') ->> 'sub' = bench.pgjwt_verify(:'token', :'secret') ->> 'sub'
             AND bench.pgjwt_verify(:'token', :'secret' || 'x') IS NULL
       THEN 'ok' ELSE 'verifiers disagree' END;
SQL
    die "workon.jwt_verify and bench.pgjwt_verify disagree on the bench token"
psql_in "$B" workon_bench -c 'VACUUM ANALYZE'

dev_environment
port=$(free_port)
url="http://127.0.0.1:$port"
# the webhook secret the shim seeds at start and bench/webhooks.mjs signs with
webhook_secret=whsec_bench_$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
DATABASE_URL=$(database_url "$B" workon_bench workon_authenticator) HOST=127.0.0.1 PORT=$port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false STRIPE_WEBHOOK_SECRET=$webhook_secret STRIPE_SECRET_KEY= EMAIL_TRANSPORT=off \
    "$ROOT/shim/workon-shim" >"$B/shim.log" 2>&1 &
shim_pid=$!
wait_for_shim "$shim_pid" "$url" 30 || die "the shim did not come up on $url (log: $B/shim.log)"

edge_port=$(free_port)
edge_url="http://127.0.0.1:$edge_port"
DATABASE_URL=$(database_url "$B" workon_bench workon_authenticator) HOST=127.0.0.1 PORT=$edge_port \
    LOG_LEVEL=info RATE_LIMIT_ENABLED=true RATE_LIMIT_LIMIT=1000000000 EMAIL_TRANSPORT=off \
    "$ROOT/shim/workon-shim" >"$B/shim-edge.log" 2>&1 &
edge_pid=$!
wait_for_shim "$edge_pid" "$edge_url" 30 || die "the edge shim did not come up on $edge_url (log: $B/shim-edge.log)"

# the main shim's twin (same settings), for one shim vs two on the same database
twin_port=$(free_port)
twin_url="http://127.0.0.1:$twin_port"
DATABASE_URL=$(database_url "$B" workon_bench workon_authenticator) HOST=127.0.0.1 PORT=$twin_port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false STRIPE_WEBHOOK_SECRET=$webhook_secret STRIPE_SECRET_KEY= EMAIL_TRANSPORT=off \
    "$ROOT/shim/workon-shim" >"$B/shim-twin.log" 2>&1 &
twin_pid=$!
wait_for_shim "$twin_pid" "$twin_url" 30 || die "the second shim did not come up on $twin_url (log: $B/shim-twin.log)"

# the shim seeds its keys and the first admin at start (a slow scrypt hash) and each
# event loop connects its own pool: wait until 20 requests in a row are answered
good=0
for _ in $(seq 600); do
    if [ "$(curl -sS -o /dev/null -w '%{http_code}' "$url/api/v1/spaces")" = 200 ]; then
        good=$((good + 1))
        [ "$good" -ge 20 ] && break
    else
        good=0
        sleep 0.1
    fi
done
rows=$(curl -fsS "$url/api/v1/spaces" |
    node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => console.log(JSON.parse(s).data.length))')
[ "$rows" -eq 20 ] || die "GET /api/v1/spaces returned $rows rows, not 20 (is scripts/demo.sql loaded?)"

# wrk_run PATH CONNECTIONS [BASE_URL] -> "req/s p99 non2xx"
wrk_run() {
    local out rps p99 bad
    out=$(wrk -t"$(( $2 < wrk_threads ? $2 : wrk_threads ))" -c"$2" -d"${duration}s" --latency "${3:-$url}$1")
    echo "$out" >>"$B/wrk.txt"
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    echo "${rps:-0} ${p99:--} ${bad:-0}"
}

# CPU time (clock ticks, user + system) the processes PIDS... have used so far
cpu_ticks() {
    local p t=0
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

# edge_run URL SHIM_PID -> "req/s cpu_us_per_request": wrk on /api/v1/spaces, and the CPU
# time the shim, every backend of the bench database and wrk spent per request. On a
# machine whose cores are all busy, throughput is the inverse of that, and unlike req/s
# it does not swing with what else runs on the host.
edge_run() {
    local base=$1 pid=$2 before after out rps n wrk_cpu tick
    tick=$(getconf CLK_TCK)
    # shellcheck disable=SC2046 # one pid per word
    before=$(cpu_ticks "$pid" $(pgrep -f '^postgres: workon_authenticator workon_bench' || true))
    out=$( { TIMEFORMAT='%U %S'; time wrk -t"$(( edge_c < wrk_threads ? edge_c : wrk_threads ))" -c"$edge_c" \
        -d"${duration}s" "$base/api/v1/spaces"; } 2>&1)
    # shellcheck disable=SC2046
    after=$(cpu_ticks "$pid" $(pgrep -f '^postgres: workon_authenticator workon_bench' || true))
    echo "$out" >>"$B/wrk.txt"
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    n=$(awk '/ requests in / {print $1}' <<<"$out")
    wrk_cpu=$(tail -n 1 <<<"$out" | awk '{print $1 + $2}')
    awk -v r="${rps:-0}" -v n="${n:-0}" -v t=$((after - before)) -v hz="$tick" -v w="${wrk_cpu:-0}" \
        'BEGIN {printf "%s %.1f\n", r, n ? (t / hz + w) * 1e6 / n : 0}'
}

# cpu_split shim|pgbench spaces|me CONNECTIONS -> "rate postgres_us shim_us client_us": GET
# /api/v1/spaces or /api/v1/me (with the bench token) through the shim (wrk), or the same
# statement through pgbench, and the CPU time per request of the bench database's
# backends, the shim and the load generator, read from /proc between the first and the
# last second of the run.
cpu_split() {
    local kind=$1 route=$2 c=$3 out=$B/cpu-split.txt load tick t0 t1 p0 p1 s0 s1 l0 l1 rate pg
    local wrk_args pgbench_args
    tick=$(getconf CLK_TCK)
    if [ "$route" = spaces ]; then
        wrk_args=("$url/api/v1/spaces")
        pgbench_args=(-f "$ROOT/bench/spaces.sql" -D fn="$fn")
    else
        wrk_args=(-s "$ROOT/bench/auth.lua" "$url/api/v1/me" -- "$token")
        pgbench_args=(-f "$ROOT/bench/me.sql" -D fn="$fn_me" -D token="$token")
    fi
    if [ "$kind" = shim ]; then
        wrk -t"$(( c < wrk_threads ? c : wrk_threads ))" -c"$c" -d"${duration}s" "${wrk_args[@]}" >"$out" 2>&1 &
    else
        "$PRIV_BIN/pgbench" -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" -T "$duration" "${pgbench_args[@]}" \
            -h "$B/sock" -p "$PG_PORT" -U workon_authenticator workon_bench >"$out" 2>&1 &
    fi
    load=$!
    sleep 1
    pg=$(pgrep -f '^postgres: workon_authenticator workon_bench' | tr '\n' ' ' || true)
    # shellcheck disable=SC2086 # one pid per word
    p0=$(cpu_ticks $pg); s0=$(cpu_ticks "$shim_pid"); l0=$(cpu_ticks "$load"); t0=$(date +%s.%N)
    sleep "$((duration > 3 ? duration - 2 : 1))"
    # shellcheck disable=SC2086
    p1=$(cpu_ticks $pg); s1=$(cpu_ticks "$shim_pid"); l1=$(cpu_ticks "$load"); t1=$(date +%s.%N)
    wait "$load" || die "$kind run for the CPU split failed: $(tail -n 3 "$out")"
    cat "$out" >>"$B/wrk.txt"
    rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2} /^tps = / {printf "%.0f", $3}' "$out")
    [ "$kind" = shim ] || { s0=0; s1=0; }
    awk -v r="${rate:-0}" -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v hz="$tick" \
        -v p=$((p1 - p0)) -v s=$((s1 - s0)) -v l=$((l1 - l0)) \
        'BEGIN {f = (r && w) ? 1e6 / hz / w / r : 0; printf "%s %.0f %.0f %.0f\n", r, p * f, s * f, l * f}'
}

# wrk_script_run PATH CONNECTIONS SCRIPT [SCRIPT ARGS...] -> "req/s p99 non2xx requests"
wrk_script_run() {
    local path=$1 c=$2 script=$3 out rps p99 bad n
    shift 3
    out=$(wrk -t"$(( c < wrk_threads ? c : wrk_threads ))" -c"$c" -d"${duration}s" --latency \
        -s "$ROOT/bench/$script" "$url$path" -- "$@")
    echo "$out" >>"$B/wrk.txt"
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    n=$(awk '/ requests in / {print $1}' <<<"$out")
    echo "${rps:-0} ${p99:--} ${bad:-0} ${n:-0}"
}

# pgbench_script CONNECTIONS USER SCRIPT [-D var=value...] -> "tps transactions"
pgbench_script() {
    local c=$1 user=$2 script=$3 out tps n
    shift 3
    out=$("$PRIV_BIN/pgbench" -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" -T "$duration" \
        -f "$ROOT/bench/$script" "$@" \
        -h "$B/sock" -p "$PG_PORT" -U "$user" workon_bench 2>&1) ||
        die "pgbench -f bench/$script failed: $out"
    echo "$out" >>"$B/pgbench.txt"
    tps=$(awk '/^tps = / {printf "%.0f", $3}' <<<"$out")
    n=$(awk '/^number of transactions actually processed:/ {print $NF}' <<<"$out")
    echo "${tps:-0} ${n:-0}"
}

# pgbench_run CONNECTIONS -> tps
pgbench_run() {
    local tps n
    read -r tps n < <(pgbench_script "$1" workon_authenticator spaces.sql -D fn="$fn")
    echo "$tps"
}

# Bookings in the database: every request books a slot of its own, so each one that
# did not add a row answered something other than 201.
bookings_count() {
    psql_in "$B" workon_bench -tA -c 'SELECT count(*) FROM workon.bookings'
}
next_slot() {
    psql_in "$B" workon_bench -tA -c 'SELECT bench.next_slot()'
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

# Head to head: each route's statement through pgbench -c 2 (its best client count in
# every run so far) and the route through the shim with wrk -c 32, in alternating rounds
# of half the duration, as the JWT rows below: the host's speed drifts over a run, and
# alternating makes the drift fall on both sides alike. Each figure is the mean over the
# rounds, with the CPU split of every run.
h2h_rounds=3
h2h_duration=$(( (duration + 1) / 2 < 4 ? 4 : (duration + 1) / 2 ))  # the CPU split needs 4 s
declare -A h2h
# h2h_add KEY VALUE: h2h[KEY] += VALUE
h2h_add() { h2h[$1]=$(( ${h2h[$1]:-0} + $2 )); }
[ "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/api/v1/me")" = 200 ] ||
    die "GET /api/v1/me with the bench token did not answer 200"
# the statement pgbench sends for /api/v1/me answers 200 with the bench member
got=$("$PRIV_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -h "$B/sock" -p "$PG_PORT" -U workon_authenticator \
    -d workon_bench -v fn="$fn_me" -v token="$token" 2>&1 <<'SQL'
SELECT status, body FROM workon.dispatch(:fn, '{}'::jsonb, '{}'::jsonb, NULL, :'token', '{}'::jsonb);
SQL
) || true
# (status is NULL when the handler keeps the route's default, 200 here)
[[ "$got" =~ ^(200)?\|.*bench-member@example\.com ]] || die "workon.dispatch of workon.me() with the bench token did not answer 200: $got"
wrk -t1 -c8 -d2s -s "$ROOT/bench/auth.lua" "$url/api/v1/me" -- "$token" >/dev/null
for round in $(seq "$h2h_rounds"); do
    for route in spaces me; do
        say "head to head $route: pgbench -c 2, then wrk -c 32 (round $round)"
        for kind in pgbench shim; do
            c=2; [ "$kind" = shim ] && c=32
            read -r rate pg sh cl < <(duration=$h2h_duration cpu_split "$kind" "$route" "$c")
            h2h_add "$route.$kind.rate" "$rate"
            h2h_add "$route.$kind.pg" "$pg"
            h2h_add "$route.$kind.shim" "$sh"
            h2h_add "$route.$kind.client" "$cl"
        done
    done
done
for k in "${!h2h[@]}"; do
    h2h[$k]=$(( (h2h[$k] + h2h_rounds / 2) / h2h_rounds ))
done

# the edge's cost: the same route with rate limiting + access lines off and on, twice
# each, alternating (the machine's noise hits both sides alike)
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$edge_url/api/v1/spaces")" = 200 ] || die "the edge shim does not answer"
curl -sS -D - -o /dev/null "$edge_url/api/v1/spaces" | grep -qi '^ratelimit-limit:' ||
    die "the edge shim answers without RateLimit headers"
wrk -t1 -c8 -d2s "$edge_url/api/v1/spaces" >/dev/null
edge_c=32
edge_rounds=3
edge_off=0
edge_on=0
edge_cpu_off=0
edge_cpu_on=0
for round in $(seq "$edge_rounds"); do
    say "wrk -c $edge_c /api/v1/spaces, edge off / on (round $round)"
    read -r r cpu < <(edge_run "$url" "$shim_pid")
    edge_off=$((edge_off + r))
    edge_cpu_off=$(awk -v a="$edge_cpu_off" -v b="$cpu" 'BEGIN {print a + b}')
    read -r r cpu < <(edge_run "$edge_url" "$edge_pid")
    edge_on=$((edge_on + r))
    edge_cpu_on=$(awk -v a="$edge_cpu_on" -v b="$cpu" 'BEGIN {print a + b}')
done
edge_off=$((edge_off / edge_rounds))
edge_on=$((edge_on / edge_rounds))
edge_cpu_off=$(awk -v a="$edge_cpu_off" -v n="$edge_rounds" 'BEGIN {printf "%.1f", a / n}')
edge_cpu_on=$(awk -v a="$edge_cpu_on" -v n="$edge_rounds" 'BEGIN {printf "%.1f", a / n}')
# token_run URL SHIM_PID one|many -> "req/s shim_cpu_us_per_request": GET /api/v1/me with the
# bench token, or with the 40,000 tokens in turn, and the CPU time of that shim per request
token_run() {
    local base=$1 pid=$2 s0 s1 out n rps tick
    tick=$(getconf CLK_TCK)
    s0=$(cpu_ticks "$pid")
    if [ "$3" = one ]; then
        out=$(wrk -t"$wrk_threads" -c"$edge_c" -d"${duration}s" -s "$ROOT/bench/auth.lua" "$base/api/v1/me" -- "$token")
    else
        out=$(wrk -t"$wrk_threads" -c"$edge_c" -d"${duration}s" -s "$ROOT/bench/tokens.lua" "$base/api/v1/me" -- "$B/tokens.txt")
    fi
    s1=$(cpu_ticks "$pid")
    echo "$out" >>"$B/wrk.txt"
    grep -q 'Non-2xx' <<<"$out" && die "GET /api/v1/me with tokens answered non-2xx on $base"
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    n=$(awk '/ requests in / {print $1}' <<<"$out")
    awk -v r="${rps:-0}" -v n="${n:-0}" -v t=$((s1 - s0)) -v hz="$tick" 'BEGIN {printf "%s %.1f\n", r, n ? t / hz * 1e6 / n : 0}'
}
declare -A tok_rps tok_cpu
for round in 1 2; do
    say "wrk -c $edge_c /api/v1/me with tokens, edge off / on (round $round)"
    for run in "main one $url $shim_pid" "edge one $edge_url $edge_pid" "edge many $edge_url $edge_pid"; do
        read -r which mode base tpid <<<"$run"
        read -r r cpu < <(token_run "$base" "$tpid" "$mode")
        tok_rps[$which.$mode]=$(( ${tok_rps[$which.$mode]:-0} + r / 2 ))
        tok_cpu[$which.$mode]=$(awk -v a="${tok_cpu[$which.$mode]:-0}" -v b="$cpu" 'BEGIN {print a + b / 2}')
    done
done
edge_lines=$(grep -c '"msg":"request"' "$B/shim-edge.log" || true)
[ "$edge_lines" -gt 0 ] || die "the edge shim wrote no access lines"

# one shim vs two on the same database: wrk -c 32 on the main shim, then wrk -c 16 on each
# of the two at once (a perfect balancer), alternating
wrk -t1 -c8 -d2s "$twin_url/api/v1/spaces" >/dev/null
pair_c=32
pair_rounds=3
pair_one=0
pair_two=0
for round in $(seq "$pair_rounds"); do
    say "wrk -c $pair_c /api/v1/spaces on one shim, then -c $((pair_c / 2)) on each of two (round $round)"
    read -r r _ < <(wrk_run /api/v1/spaces "$pair_c")
    pair_one=$((pair_one + r))
    wrk_run /api/v1/spaces $((pair_c / 2)) >"$B/pair-a.txt" &
    pa=$!
    wrk_run /api/v1/spaces $((pair_c / 2)) "$twin_url" >"$B/pair-b.txt" &
    pb=$!
    wait "$pa" "$pb"
    pair_two=$((pair_two + $(awk '{print $1}' "$B/pair-a.txt") + $(awk '{print $1}' "$B/pair-b.txt")))
done
pair_one=$((pair_one / pair_rounds))
pair_two=$((pair_two / pair_rounds))

declare -A h_rps h_p99 h_bad
for c in "${health_conns[@]}"; do
    say "wrk -c $c /healthz"
    read -r "h_rps[$c]" "h_p99[$c]" "h_bad[$c]" < <(wrk_run /healthz "$c")
done

# Three alternating rounds of half the duration each: the host's speed drifts over a
# run, and alternating the sides makes the drift fall on both alike. Each figure is
# the mean rate over the rounds.
jwt_rounds=3
# jwt_run SCRIPT ARGS... -> tps, for half the duration
jwt_run() {
    local t
    read -r t _ < <(duration=$(( (duration + 1) / 2 )) pgbench_script "$jwt_clients" postgres "$@")
    echo "$t"
}
jwt_c=0 jwt_sql=0 jwt_c100=0 jwt_sql100=0 jwt_cold=0 jwt_cold100=0
for round in $(seq "$jwt_rounds"); do
    say "pgbench jwt_verify (C) / bench.pgjwt_verify (SQL), $jwt_clients clients (round $round)"
    jwt_c=$((jwt_c + $(jwt_run jwt-c.sql -D token="$token")))
    jwt_sql=$((jwt_sql + $(jwt_run jwt-pgjwt.sql -D token="$token" -D secret="$jwt_secret")))
    jwt_c100=$((jwt_c100 + $(jwt_run jwt-c-100.sql -D token="$token")))
    jwt_sql100=$((jwt_sql100 + $(jwt_run jwt-pgjwt-100.sql -D token="$token" -D secret="$jwt_secret")))
    # the same with the verified-token cache off: every call checks the signature and claims
    jwt_cold=$((jwt_cold + $(PGOPTIONS='-c workon.jwt_cache_size=0' jwt_run jwt-c.sql -D token="$token")))
    jwt_cold100=$((jwt_cold100 + $(PGOPTIONS='-c workon.jwt_cache_size=0' jwt_run jwt-c-100.sql -D token="$token")))
done
jwt_c=$((jwt_c / jwt_rounds))
jwt_sql=$((jwt_sql / jwt_rounds))
jwt_cold=$((jwt_cold / jwt_rounds))
jwt_c100=$((jwt_c100 * 100 / jwt_rounds))
jwt_sql100=$((jwt_sql100 * 100 / jwt_rounds))
jwt_cold100=$((jwt_cold100 * 100 / jwt_rounds))

# GET /api/v1/me with a bearer token, at each client count
wrk -t1 -c8 -d2s -s "$ROOT/bench/auth.lua" "$url/api/v1/me" -- "$token" >/dev/null
declare -A me_tps me_rps me_p99 me_bad
me_best=0
for c in "${auth_pgbench_conns[@]}"; do
    say "pgbench -c $c me"
    read -r "me_tps[$c]" _ < <(pgbench_script "$c" workon_authenticator me.sql -D fn="$fn_me" -D token="$token")
    [ "${me_tps[$c]}" -gt "$me_best" ] && me_best=${me_tps[$c]}
done
for c in "${shim_conns[@]}"; do
    say "wrk -c $c /api/v1/me"
    read -r "me_rps[$c]" "me_p99[$c]" "me_bad[$c]" _ < <(wrk_script_run /api/v1/me "$c" auth.lua "$token")
done

# POST /api/v1/bookings, every request on a slot of its own
declare -A bk_tps bk_bad bk_rps bk_p99 bk_wbad
bk_best=0
for c in "${auth_pgbench_conns[@]}"; do
    say "pgbench -c $c bookings"
    before=$(bookings_count)
    # the shim's sessions say workon.notify = after_commit (their NOTIFY comes after the commit)
    read -r "bk_tps[$c]" n < <(PGOPTIONS='-c workon.notify=after_commit' pgbench_script "$c" workon_authenticator bookings.sql -D fn="$fn_book" \
        -D token="$token" -D base="$(next_slot)" -D clients="$c" -D n=0)
    bk_bad[$c]=$(( n - ($(bookings_count) - before) ))
    [ "${bk_tps[$c]}" -gt "$bk_best" ] && bk_best=${bk_tps[$c]}
done
# pgbench's sessions say after_commit, as the shim's do, so nothing woke a publisher after
# them: their events wait unnumbered until a shim's publisher polls (every second, on its
# own connection, batch after batch). Number them now, as publishers woken by each commit
# would have, so that the shim's runs measure bookings and not that catch-up beside them
while [ "$(psql_in "$B" workon_bench -tA -c 'SELECT count(*) FROM workon.events WHERE pos IS NULL')" != 0 ]; do
    psql_in "$B" workon_bench -tA -c 'SELECT workon.events_publish()' >/dev/null
done
for c in "${shim_conns[@]}"; do
    say "wrk -c $c /api/v1/bookings"
    read -r "bk_rps[$c]" "bk_p99[$c]" "bk_wbad[$c]" _ < <(wrk_script_run /api/v1/bookings "$c" bookings.lua \
        "$token" "$(next_slot)" "$(( c < wrk_threads ? c : wrk_threads ))" "$t0" "$B/spaces.txt")
done
bk_total=$(bookings_count)
bk_last=$(psql_in "$B" workon_bench -tA -c \
    "SELECT to_char(max(starts_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM workon.bookings")

# Stripe webhooks, verified: a duplicate-heavy mix (Stripe retries), signed just before each run
events_count() {
    psql_in "$B" workon_bench -tA -c 'SELECT count(*) FROM workon.stripe_events'
}
one=$(node "$ROOT/bench/webhooks.mjs" "$webhook_secret" 1 0 2>/dev/null)
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Stripe-Signature: ${one%%$'\t'*}" --data-binary "${one#*$'\t'}" "$url/api/webhooks/stripe")
[ "$code" = 200 ] || die "a signed webhook delivery answered $code, not 200"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Stripe-Signature: ${one%%$'\t'*}" --data-binary "${one#*$'\t'} " "$url/api/webhooks/stripe")
[ "$code" = 400 ] || die "a tampered webhook delivery answered $code, not 400"
declare -A wh_rps wh_p99 wh_bad wh_n wh_new
for c in "${webhook_conns[@]}"; do
    say "wrk -c $c /api/webhooks/stripe"
    node "$ROOT/bench/webhooks.mjs" "$webhook_secret" "$webhook_deliveries" "$webhook_dup_share" \
        >"$B/webhooks.txt" 2>/dev/null
    before=$(events_count)
    read -r "wh_rps[$c]" "wh_p99[$c]" "wh_bad[$c]" "wh_n[$c]" < <(wrk_script_run /api/webhooks/stripe "$c" webhooks.lua \
        "$B/webhooks.txt" "$(( c < wrk_threads ? c : wrk_threads ))")
    wh_new[$c]=$(( $(events_count) - before ))
done

say "files: 1 MiB and 10 MiB through the shim and through psql's \\copy; 32 concurrent 10 MiB uploads"
uploads=$(PGHOST="$B/sock" PGPORT="$PG_PORT" PGUSER=postgres PGDATABASE=workon_bench WORKON_PSQL="$PRIV_BIN/psql" \
    node "$ROOT/bench/uploads.mjs" "$url" "$token" "$shim_pid") || uploads=
[ -n "$uploads" ] || say "the files bench failed"
up_field() { awk -F'\t' -v l="$1" -v k="$2" '$1 == l { for (i = 2; i <= NF; i++) { split($i, kv, " "); if (kv[1] == k) print kv[2] } }' <<<"$uploads"; }

say "1,000 idle connections"
idle=$(node "$ROOT/bench/idle-connections.mjs" "$port" "$shim_pid" 1000) || idle='{"error":"failed"}'

# e-mail: mails queued in one transaction (rendered by the database), delivered by a shim of
# their own to the tests' fake Resend (the two shims above send no mail), once per latency
declare -A mail
for latency in "${bench_mail_latencies[@]}"; do
    say "$bench_mails queued e-mails to a fake Resend answering in $latency ms"
    psql_in "$B" workon_bench -c "SELECT count(workon.email_send(u.id, 'password_changed', '{}', 'bench:$latency:' || g))
        FROM generate_series(1, $bench_mails) AS g, (SELECT id FROM workon.users ORDER BY created_at LIMIT 1) AS u" >/dev/null
    mail[$latency]=$(node "$ROOT/bench/email.mjs" "$ROOT/shim/workon-shim" \
        "$(database_url "$B" workon_bench workon_authenticator)" "$bench_mails" "$latency" "$bench_mail_concurrency") ||
        mail[$latency]='{"error":"failed"}'
done
# Compression: the same page of GET /api/v1/spaces asked with and without
# Accept-Encoding: gzip, alternating rounds of wrk -c 32
curl -sS -D - -o /dev/null -H 'Accept-Encoding: gzip' "$url/api/v1/spaces" | grep -qi '^content-encoding: gzip' ||
    die "GET /api/v1/spaces with Accept-Encoding: gzip is not compressed"
gzip_bytes=$(curl -sS -H 'Accept-Encoding: gzip' "$url/api/v1/spaces" | wc -c)
plain_bytes=$(curl -sS "$url/api/v1/spaces" | wc -c)
gzip_rounds=3
gzip_off=0
gzip_on=0
for round in $(seq "$gzip_rounds"); do
    say "wrk -c 32 /api/v1/spaces, gzip off / on (round $round)"
    r=$(wrk -t"$wrk_threads" -c32 -d"${duration}s" "$url/api/v1/spaces" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
    gzip_off=$((gzip_off + ${r:-0}))
    r=$(wrk -t"$wrk_threads" -c32 -d"${duration}s" -H 'Accept-Encoding: gzip' "$url/api/v1/spaces" |
        awk '/^Requests\/sec:/ {printf "%.0f", $2}')
    gzip_on=$((gzip_on + ${r:-0}))
done
gzip_off=$((gzip_off / gzip_rounds))
gzip_on=$((gzip_on / gzip_rounds))

# Search: 10,000 more published spaces (bench/search.sql), then ?q= one request at a
# time (bench/search.mjs); last, since it changes what GET /api/v1/spaces lists
say "search: 10,000 spaces, GET /api/v1/spaces?q= one request at a time"
psql_in "$B" workon_bench -f "$ROOT/bench/search.sql" >/dev/null
search=$(node "$ROOT/bench/search.mjs" "$url" 2000) || search="failed"
search_pg=$(bash "$ROOT/bench/search-pgbench.sh" "$PRIV_BIN/pgbench" "$B/sock" "$PG_PORT" workon_bench "$fn" 2000) ||
    search_pg="failed"

mail_field() { node -e 'const r = JSON.parse(process.argv[1]); const v = r[process.argv[2]]; console.log(v ?? "-")' "$1" "$2" 2>/dev/null || echo -; }

# The slow lane: GET /api/v1/spaces (wrk -c 8) while 8 logins are in flight (wrk -c 8 on
# the login route: a password check is scrypt in a backend), through the main shim (slow
# lane on, the default) and through one with SLOW_LANE_CONNECTIONS=0, where logins share
# the pipelined connections with everything, as before there was a lane; alternating rounds.
lane_port=$(free_port)
lane_url=http://127.0.0.1:$lane_port
DATABASE_URL=$(database_url "$B" workon_bench workon_authenticator) HOST=127.0.0.1 PORT=$lane_port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false EMAIL_TRANSPORT=off SLOW_LANE_CONNECTIONS=0 \
    "$ROOT/shim/workon-shim" >"$B/shim-nolane.log" 2>&1 &
lane_pid=$!
wait_for_shim "$lane_pid" "$lane_url" 30 || die "the shim without a slow lane did not come up (log: $B/shim-nolane.log)"
# lane_run BASE -> "GET req/s, GET p99, logins/s" with 8 logins in flight
lane_run() {
    local base=$1 login_pid gout lout
    wrk -t1 -c8 -d"$((duration + 3))s" -s "$ROOT/bench/login.lua" "$base/api/v1/auth/login" -- \
        bench-member@example.com "$bench_password" >"$B/lane-logins.txt" 2>&1 &
    login_pid=$!
    sleep 2 # the 8 logins are in flight
    gout=$(wrk -t1 -c8 -d"${duration}s" --latency "$base/api/v1/spaces")
    wait "$login_pid" || true
    lout=$(cat "$B/lane-logins.txt")
    echo "$gout" >>"$B/wrk.txt"
    echo "$lout" >>"$B/wrk.txt"
    grep -q 'Non-2xx' <<<"$lout" && say "some logins failed: $(grep 'Non-2xx' <<<"$lout")"
    echo "$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$gout") $(awk '$1 == "99%" {print $2}' <<<"$gout")" \
        "$(awk '/^Requests\/sec:/ {printf "%.1f", $2}' <<<"$lout")"
}
[ "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data "{\"email\":\"bench-member@example.com\",\"password\":\"$bench_password\"}" "$url/api/v1/auth/login")" = 200 ] ||
    die "the bench member's login did not answer 200"
declare -A lane
lane_rounds=2
for round in $(seq "$lane_rounds"); do
    for side in on off; do
        say "wrk -c 8 /api/v1/spaces with 8 logins in flight, slow lane $side (round $round)"
        base=$url; [ "$side" = off ] && base=$lane_url
        read -r r p l < <(lane_run "$base")
        lane[$side.rps]="${lane[$side.rps]:-} $r"
        lane[$side.p99]="${lane[$side.p99]:-} $p"
        lane[$side.logins]="${lane[$side.logins]:-} $l"
    done
done
stop_pid "$lane_pid" 12
lane_pid=

# Reads on a replica: a streaming replica of the bench cluster (pg_basebackup) and a shim
# whose read_only routes go there (DATABASE_REPLICA_URLS), against the main shim reading on
# the primary; GET /api/v1/spaces with wrk -c 32, alternating rounds. Both servers share the
# machine's cores: the ratio is what moving reads costs or gains here, not what a replica on
# a host of its own would add.
say "a streaming replica of the bench cluster"
WORKON_PGDATA=$B/pgdata bash "$ROOT/scripts/replica.sh" start "$B/replica" >/dev/null
rep_port=$(free_port)
rep_url=http://127.0.0.1:$rep_port
DATABASE_URL=$(database_url "$B" workon_bench workon_authenticator) HOST=127.0.0.1 PORT=$rep_port \
    LOG_LEVEL=warn RATE_LIMIT_ENABLED=false EMAIL_TRANSPORT=off \
    DATABASE_REPLICA_URLS=$(database_url "$B/replica" workon_bench workon_authenticator) \
    "$ROOT/shim/workon-shim" >"$B/shim-replica.log" 2>&1 &
replica_shim_pid=$!
wait_for_shim "$replica_shim_pid" "$rep_url" 30 || die "the replica shim did not come up (log: $B/shim-replica.log)"
for _ in $(seq 100); do
    curl -fsS "$rep_url/readyz" | grep -q '"replicas":\[{"status":"ok"' && break
    sleep 0.2
done
curl -fsS "$rep_url/readyz" | grep -q '"replicas":\[{"status":"ok"' || die "the bench replica is not in use: $(curl -sS "$rep_url/readyz")"
rep_backends() { psql_in "$B/replica" workon_bench -tA -c \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'workon-shim' AND datname = 'workon_bench'"; }
wrk -t1 -c8 -d2s "$rep_url/api/v1/spaces" >/dev/null
declare -A rr
rep_rounds=2
for round in $(seq "$rep_rounds"); do
    for side in primary replica; do
        say "wrk -c 32 /api/v1/spaces, reads on the $side (round $round)"
        base=$url; [ "$side" = replica ] && base=$rep_url
        read -r r p _ < <(wrk_run /api/v1/spaces 32 "$base")
        rr[$side.rps]=$(( ${rr[$side.rps]:-0} + r ))
        rr[$side.p99]="${rr[$side.p99]:-} $p"
    done
done
rr[primary.rps]=$(( rr[primary.rps] / rep_rounds ))
rr[replica.rps]=$(( rr[replica.rps] / rep_rounds ))
rep_conns=$(rep_backends)
stop_pid "$replica_shim_pid" 12
replica_shim_pid=
WORKON_PGDATA=$B/pgdata bash "$ROOT/scripts/replica.sh" stop "$B/replica"

result=$RUN/bench-$(date +%Y%m%d-%H%M%S).txt
{
    echo "workon bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
    echo "server:  $("$PRIV_BIN/postgres" -V), shared_buffers 256MB, Unix socket, in the bench's session"
    echo "         (kernel.sched_autogroup_enabled = $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo unknown))"
    echo "shim:    SHIM_THREADS=${SHIM_THREADS:-default} DB_POOL_SIZE=${DB_POOL_SIZE:-default}, commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "load:    wrk -t$wrk_threads -d${duration}s --latency; pgbench -n -M prepared -j 2 -T $duration"
    echo "         (bench/spaces.sql, me.sql, bookings.sql as workon_authenticator; jwt-*.sql as postgres)"
    echo
    row() { printf '%-22s %5s %11s %10s %12s %10s %8s\n' "$@"; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b ? a / b : 0}'; }
    # route LABEL PGBENCH_CONNS SHIM_RPS SHIM_P99 SHIM_BAD PGBENCH_TPS BEST (names of arrays)
    route_rows() {
        local label=$1 c
        local -n pc=$2 rps=$3 p99=$4 bad=$5 tp=$6
        local best=$7
        for c in $(printf '%s\n' "${pc[@]}" "${shim_conns[@]}" | sort -nu); do
            if [ -n "${rps[$c]:-}" ]; then
                row "$label" "$c" "${rps[$c]}" "${p99[$c]}" "${tp[$c]:--}" "$(ratio "${rps[$c]}" "$best")" "${bad[$c]}"
            else
                row "$label" "$c" - - "${tp[$c]}" - -
            fi
        done
    }
    row route conns 'shim req/s' 'shim p99' 'pgbench tps' 'ratio' 'non-2xx'
    route_rows 'GET /api/v1/spaces' pgbench_conns shim_rps shim_p99 shim_bad tps "$best"
    for c in "${health_conns[@]}"; do
        row 'GET /healthz' "$c" "${h_rps[$c]}" "${h_p99[$c]}" - - "${h_bad[$c]}"
    done
    route_rows 'GET /api/v1/me' auth_pgbench_conns me_rps me_p99 me_bad me_tps "$me_best"
    route_rows 'POST /api/v1/bookings' auth_pgbench_conns bk_rps bk_p99 bk_wbad bk_tps "$bk_best"
    echo
    hrow() { printf '%-20s %-18s %7s %7s %11s %5s %7s %6s\n' "$@"; }
    hrow 'head to head' '' 'rate' 'ratio' 'CPU us/req:' 'PG' 'shim' 'client'
    for route in spaces me; do
        hrow "GET /api/v1/$route" 'pgbench -c 2' "${h2h[$route.pgbench.rate]}" 1.00 \
            "$(( h2h[$route.pgbench.pg] + h2h[$route.pgbench.client] ))" "${h2h[$route.pgbench.pg]}" - \
            "${h2h[$route.pgbench.client]}"
        hrow "GET /api/v1/$route" 'shim, wrk -c 32' "${h2h[$route.shim.rate]}" \
            "$(ratio "${h2h[$route.shim.rate]}" "${h2h[$route.pgbench.rate]}")" \
            "$(( h2h[$route.shim.pg] + h2h[$route.shim.shim] + h2h[$route.shim.client] ))" \
            "${h2h[$route.shim.pg]}" "${h2h[$route.shim.shim]}" "${h2h[$route.shim.client]}"
    done
    echo "(mean of $h2h_rounds alternating rounds of $h2h_duration s each; rate = req/s or tps; CPU us/req ="
    echo " total CPU time per request of the database's backends, the shim and the load generator"
    echo " (pgbench or wrk); on two shared cores the ratio can be at most about the pgbench"
    echo " total / the shim total; see bench/README.md)"
    echo
    printf '%-44s %5s %11s %14s\n' 'edge cost on GET /api/v1/spaces' conns 'req/s' 'CPU us/req'
    printf '%-44s %5s %11s %14s\n' 'rate limits + access log off' "$edge_c" "$edge_off" "$edge_cpu_off"
    printf '%-44s %5s %11s %14s\n' 'rate limits + access log on (LOG_LEVEL=info)' "$edge_c" "$edge_on" "$edge_cpu_on"
    printf '%-44s %5s %11s %14s\n' 'ratio on / off' '' "$(ratio "$edge_on" "$edge_off")" \
        "$(ratio "$edge_cpu_off" "$edge_cpu_on")"
    echo "(mean of $edge_rounds alternating runs each; $edge_lines access lines written to a file;"
    echo " CPU us/req = CPU time of the shim, the database's backends and wrk per request: with"
    echo " every core busy, throughput is its inverse, so off / on is the throughput ratio the"
    echo " edge costs, without the host's noise that req/s carries)"
    echo
    printf '%-44s %5s %11s %14s\n' 'edge cost on GET /api/v1/me (bearer token)' conns 'req/s' 'shim us/req'
    printf '%-44s %5s %11s %14s\n' 'rate limits + access log off, one token' "$edge_c" "${tok_rps[main.one]}" "${tok_cpu[main.one]}"
    printf '%-44s %5s %11s %14s\n' 'rate limits + access log on, one token' "$edge_c" "${tok_rps[edge.one]}" "${tok_cpu[edge.one]}"
    printf '%-44s %5s %11s %14s\n' 'on, 40,000 tokens in turn' "$edge_c" "${tok_rps[edge.many]}" "${tok_cpu[edge.many]}"
    echo "(mean of 2 alternating runs each; shim us/req = CPU time of the shim alone per request."
    echo " With rate limits on, the shim verifies a token (signature, claims) to count it against its"
    echo " user: once per token and key set with one token, for every request with 40,000, more"
    echo " than the 32,768 verifications it remembers)"
    echo
    printf '%-44s %5s %11s\n' 'GET /api/v1/spaces, shims on one database' conns 'req/s'
    printf '%-44s %5s %11s\n' 'one shim' "$pair_c" "$pair_one"
    printf '%-44s %5s %11s\n' 'two shims (half the connections each)' "$pair_c" "$pair_two"
    printf '%-44s %5s %11s\n' 'ratio two / one' '' "$(ratio "$pair_two" "$pair_one")"
    echo "(mean of $pair_rounds alternating runs each; the two shims are loaded at once by two wrk,"
    echo " as a balancer would spread the connections; each shim brings its own event loops and"
    echo " database connections, SHIM_THREADS x DB_POOL_SIZE; see bench/README.md)"
    echo
    echo "pgbench POST /api/v1/bookings non-2xx (transactions that booked nothing):$(
        for c in "${auth_pgbench_conns[@]}"; do printf ' -c%s %s' "$c" "${bk_bad[$c]}"; done)"
    echo
    wrow() { printf '%-26s %5s %11s %10s %10s %10s %8s\n' "$@"; }
    wrow 'Stripe webhooks, verified' conns 'req/s' p99 'new events' duplicates non-2xx
    for c in "${webhook_conns[@]}"; do
        wrow 'POST /api/webhooks/stripe' "$c" "${wh_rps[$c]}" "${wh_p99[$c]}" "${wh_new[$c]}" \
            "$(( wh_n[$c] - wh_new[$c] ))" "${wh_bad[$c]}"
    done
    echo "webhooks: every delivery verified (HMAC-SHA256) and stored once per event id in PostgreSQL; in the"
    echo "          deliveries file $(awk -v d="$webhook_dup_share" 'BEGIN {printf "%d", d * 100}') % repeat an earlier event; new events = rows added to workon.stripe_events"
    echo
    jrow() { printf '%-30s %7s %12s %12s %8s\n' "$@"; }
    jrow 'JWT verify in PostgreSQL' clients 'per stmt' verifies/s ratio
    jrow 'workon.jwt_verify (C)' "$jwt_clients" 1 "$jwt_c" "$(ratio "$jwt_c" "$jwt_sql")"
    jrow 'workon.jwt_verify (C, no cache)' "$jwt_clients" 1 "$jwt_cold" "$(ratio "$jwt_cold" "$jwt_sql")"
    jrow 'bench.pgjwt_verify (SQL)' "$jwt_clients" 1 "$jwt_sql" 1.00
    jrow 'workon.jwt_verify (C)' "$jwt_clients" 100 "$jwt_c100" "$(ratio "$jwt_c100" "$jwt_sql100")"
    jrow 'workon.jwt_verify (C, no cache)' "$jwt_clients" 100 "$jwt_cold100" "$(ratio "$jwt_cold100" "$jwt_sql100")"
    jrow 'bench.pgjwt_verify (SQL)' "$jwt_clients" 100 "$jwt_sql100" 1.00
    echo
    echo "ratio = shim req/s / best pgbench tps of the same route over all client counts, one run each"
    echo "        (spaces $best, me $me_best, bookings $bk_best); JWT: C verifies/s / SQL verifies/s"
    echo "JWT per stmt 1: one SELECT per verify (round trip included); 100: 100 verifies in one SELECT;"
    echo "    each figure the mean of $jwt_rounds alternating rounds of $(( (duration + 1) / 2 )) s;"
    echo "    (C) is the default, a session's verified-token cache answering the repeated token;"
    echo "    (C, no cache) runs with workon.jwt_cache_size = 0, a full verification every call"
    echo "bookings: $bk_total holds on $bench_spaces bench spaces, the last starting $bk_last UTC"
    echo "idle keep-alive connections: $idle"
    mrow() { printf '%-26s %8s %7s %9s %9s %6s %10s %11s %10s\n' "$@"; }
    mrow 'e-mail to a fake Resend' latency mails 'mails/s' bound ratio 'in flight' 'CPU us/mail' 'sent twice'
    for latency in "${bench_mail_latencies[@]}"; do
        m=${mail[$latency]}
        mrow 'queued mails delivered' "$latency ms" "$(mail_field "$m" mails)" "$(mail_field "$m" per_second)" \
            "$(mail_field "$m" bound_per_second)" "$(mail_field "$m" ratio)" "$(mail_field "$m" max_in_flight)" \
            "$(mail_field "$m" shim_cpu_us_per_mail)" "$(mail_field "$m" sent_twice)"
    done
    echo "e-mail: $bench_mails mails queued per row, one shim thread, EMAIL_CONCURRENCY=$bench_mail_concurrency; bound = concurrency /"
    echo "        latency (the most any sender with that many in flight reaches); ratio = mails/s / bound;"
    echo "        in flight = most requests the fake held at once; CPU us/mail = the shim's CPU per mail;"
    echo "        sent twice = requests beyond one per Idempotency-Key; mails/s and CPU from the first"
    echo "        mail received to the last"
    echo
    lrow() { printf '%-44s %16s %16s %12s\n' "$@"; }
    lrow 'GET /api/v1/spaces with 8 logins in flight' 'req/s (rounds)' 'p99 (rounds)' 'logins/s'
    lrow 'slow lane (SLOW_LANE_CONNECTIONS=1)' "${lane[on.rps]# }" "${lane[on.p99]# }" "${lane[on.logins]# }"
    lrow 'no slow lane (SLOW_LANE_CONNECTIONS=0)' "${lane[off.rps]# }" "${lane[off.p99]# }" "${lane[off.logins]# }"
    echo "(wrk -c 8 on GET /api/v1/spaces beside wrk -c 8 on POST /api/v1/auth/login, $lane_rounds alternating rounds;"
    echo " bar: p99 under 20 ms with the lane)"
    echo
    printf '%-36s %5s %9s %16s %7s\n' 'GET /api/v1/spaces, reads on' conns 'req/s' 'p99 (rounds)' ratio
    printf '%-36s %5s %9s %16s %7s\n' 'the primary (one shim)' 32 "${rr[primary.rps]}" "${rr[primary.p99]# }" 1.00
    printf '%-36s %5s %9s %16s %7s\n' 'a streaming replica (one shim)' 32 "${rr[replica.rps]}" "${rr[replica.p99]# }" \
        "$(ratio "${rr[replica.rps]}" "${rr[primary.rps]}")"
    echo "(mean of $rep_rounds alternating rounds; the replica on the same machine, $rep_conns shim backends on it at"
    echo " the end; ratio = replica req/s / primary req/s)"
    echo
    printf '%-44s %11s %8s\n' 'GET /api/v1/spaces (wrk -c 32), compression' 'req/s' 'bytes'
    printf '%-44s %11s %8s\n' 'without Accept-Encoding' "$gzip_off" "$plain_bytes"
    printf '%-44s %11s %8s\n' 'Accept-Encoding: gzip' "$gzip_on" "$gzip_bytes"
    printf '%-44s %11s\n' 'ratio gzip / plain' "$(ratio "$gzip_on" "$gzip_off")"
    echo "(mean of $gzip_rounds alternating runs each; the same page of 20 spaces)"
    echo
    search_table "$search" "$search_pg"
    echo
    frow() { printf '%-6s %9s %9s %6s %9s %6s %9s %9s %6s %9s %6s\n' "$@"; }
    frow 'files' 'PUT MB/s' '\copy in' 'ratio' 'binary' 'ratio' 'GET MB/s' '\copy out' 'ratio' 'binary' 'ratio'
    for size in 1MiB 10MiB; do
        frow "$size" "$(up_field "$size" put)" "$(up_field "$size" copy-in)" \
            "$(ratio "$(up_field "$size" put)" "$(up_field "$size" copy-in)")" \
            "$(up_field "$size" bin-in)" "$(ratio "$(up_field "$size" put)" "$(up_field "$size" bin-in)")" \
            "$(up_field "$size" get)" "$(up_field "$size" copy-out)" \
            "$(ratio "$(up_field "$size" get)" "$(up_field "$size" copy-out)")" \
            "$(up_field "$size" bin-out)" "$(ratio "$(up_field "$size" get)" "$(up_field "$size" bin-out)")"
    done
    echo "one 10 MiB file, mean ms per GET: whole $(up_field conditional whole-ms), Range of 64 KiB $(up_field conditional range-ms)," \
        "304 $(up_field conditional 304-ms)"
    echo "32 concurrent 10 MiB uploads: $(up_field concurrent 32x10MiB) MB/s; shim RSS $(up_field concurrent rss-before) kB before,"
    echo "    peak (VmHWM) $(up_field concurrent peak) kB, $(up_field concurrent rss-after) kB after"
    echo "files: one stream, the same random bytes; PUT to a signed URL and GET of the download URL through"
    echo "       the shim (binary both ways, a JPEG's magic first), against psql's \\copy of a bytea column"
    echo "       stored the same way in and out, in COPY's text format (hex) and its binary format, each \\copy's"
    echo "       time less psql's start and connection ($(up_field psql start-ms) ms, taken apart); MB/s of file bytes"
} | tee "$result"
say "written to $result"
ok=1
