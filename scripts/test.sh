#!/usr/bin/env bash
# scripts/test.sh (make test) -- every test against a throw-away cluster.
#
#   scripts/test.sh                 pg_regress (test/regress), then the HTTP tests (test/http)
#   scripts/test.sh --regress-only  (make regress)
#   scripts/test.sh --http-only     (make http-test)
#   scripts/test.sh --http-only cors ratelimit   only test/http/cors.test.mjs and ratelimit.test.mjs
#   scripts/test.sh --browser-only  only the browser tests (test/browser, headless Chromium)
#   scripts/test.sh --previous-only  the previous release's shim and HTTP tests (below)
#
# The cluster lives in .run/test.<pid>/ (own socket dir, fsync off). The HTTP tests run
# against a fresh database `workon_http` (extension + scripts/demo.sql) and the shim on a
# free loopback port. Everything started here is stopped by PID at the end; the directory
# is removed when all passed and kept (logs printed) otherwise.
#
# Last, the previous release (tag $PREVIOUS_TAG): its shim, built from the tag, runs its own
# HTTP tests against this checkout's extension in a database `workon_previous`, as after a
# rollback of the shims with the database left migrated. Tests that cannot pass for a
# stated reason are listed in test/previous-exclude.txt.
#
# WORKON_TEST_PGBOUNCER=1: the HTTP tests run with every shim behind a PgBouncer in
# transaction mode (pool_mode=transaction, started here on a socket in .run/test.<pid>/
# pgbouncer): DATABASE_URL is PgBouncer's, DATABASE_POOLER=transaction, and
# DATABASE_DIRECT_URL the cluster's for the control connection (LISTEN).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PREVIOUS_TAG=v0.5.0
# the commit the tag names: a clone that came without tags still has it in its history
PREVIOUS_COMMIT=c2a5a8ebe0846cc58800d0c8f8cbfe13cdbf96b8
previous_note=
do_regress=1
do_http=1
do_browser=1
do_previous=1
case "${1:-}" in
    '') ;;
    --regress-only) do_http= do_browser= do_previous= ;;
    --http-only) do_regress= do_browser= do_previous= ;;
    --browser-only) do_regress= do_http= do_previous= ;;
    --previous-only) do_regress= do_http= do_browser= ;;
    *)
        echo "usage: scripts/test.sh [--regress-only | --http-only [test name...] | --browser-only | --previous-only]" >&2
        exit 2
        ;;
esac
[ $# -eq 0 ] || shift
only_tests=("$@")

bash "$ROOT/scripts/deps.sh"
setup_run_dir
build_all
private_install

T=$RUN/test.$$
shim_pid=
previous_pid=
passed=0
failed=0
ok=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    # a replica a test started (scripts/replica.sh) and left running
    if [ -f "$T/replica/pgdata/postmaster.pid" ]; then
        cluster_stop "$T/replica" immediate
    fi
    end_run "$rc" "$T" immediate "$shim_pid" "$previous_pid" "$(cat "$T/pgbouncer/pgbouncer.pid" 2>/dev/null || true)"
    if [ $((passed + failed)) -gt 0 ]; then
        echo "test: $passed passed, $failed failed"
        [ -z "$previous_note" ] || echo "test: $previous_note"
    fi
    exit "$rc"
}
on_exit cleanup

remove_stale_clusters test
mkdir -p "$T"
if [ "$SANITIZE" = 1 ]; then
    # every sanitized process (postmaster, backends, shims) reports into this directory
    export SANITIZER_LOG_DIR=$T/sanitizer
    mkdir -p "$SANITIZER_LOG_DIR"
    chmod 1777 "$SANITIZER_LOG_DIR"
    # the shims: no leak report at exit (a killed extra shim leaves its pools), else everything
    export ASAN_OPTIONS="detect_leaks=0:log_path=$SANITIZER_LOG_DIR/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$SANITIZER_LOG_DIR/ubsan"
fi
cluster_init "$T" test
cluster_start "$T"

# Test failures set status=1 and the next suite still runs; a setup failure ends the script.
status=0

# ---------------------------------------------------------------------------
# pg_regress

run_regress() {
    local pg_regress tests=() f name out
    pg_regress=$("$PG_CONFIG_BIN" --pkglibdir)/pgxs/src/test/regress/pg_regress
    if [ -f "$ROOT/test/regress/schedule" ]; then
        tests=(--schedule="$ROOT/test/regress/schedule")
    else
        [ -f "$ROOT/test/regress/sql/install.sql" ] && tests+=(install)
        for f in "$ROOT"/test/regress/sql/*.sql; do
            [ -e "$f" ] || continue
            name=$(basename "$f" .sql)
            [ "$name" = install ] || tests+=("$name")
        done
    fi
    if [ ${#tests[@]} -eq 0 ]; then
        say "no regression tests in test/regress"
        return 0
    fi
    say "pg_regress"
    mkdir -p "$T/regress"
    out=$T/regress/output.txt
    set +e
    "$pg_regress" --inputdir="$ROOT/test/regress" --outputdir="$T/regress" \
        --bindir="$PRIV_BIN" --host="$T/sock" --port="$PG_PORT" --user=postgres \
        --dbname=contrib_regression "${tests[@]}" 2>&1 | tee "$out"
    local rc=${PIPESTATUS[0]}
    set -e
    local n_ok n_failed
    n_ok=$(grep -cE '\.\.\. +ok' "$out" || true)
    n_failed=$(grep -cE '\.\.\. +FAILED' "$out" || true)
    # pg_regress gave up before comparing (a missing expected file, say): count that too
    if [ "$rc" -ne 0 ] && [ "$n_failed" -eq 0 ]; then
        n_failed=1
    fi
    passed=$((passed + n_ok))
    failed=$((failed + n_failed))
    if [ "$rc" -ne 0 ]; then
        if [ -s "$T/regress/regression.diffs" ]; then
            echo "---- $T/regress/regression.diffs" >&2
            cat "$T/regress/regression.diffs" >&2
        fi
        status=1
    fi
}

if [ -n "$do_regress" ]; then
    run_regress
fi

# ---------------------------------------------------------------------------
# HTTP end-to-end tests

PGBOUNCER_PORT=6432

# start_pgbouncer DB: PgBouncer in transaction mode in front of the cluster's database DB,
# on the socket $T/pgbouncer/.s.PGSQL.$PGBOUNCER_PORT (no TCP), run as the server user
# (it refuses to run as root); stopped by the PID in its pidfile at the end.
start_pgbouncer() {
    local p=$T/pgbouncer bin i
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    [ -x "$bin" ] || die "pgbouncer is not installed (run scripts/deps.sh)"
    mkdir -p "$p"
    chmod 755 "$p"
    printf '"%s" ""\n' workon_authenticator postgres >"$p/userlist.txt"
    cat >"$p/pgbouncer.ini" <<EOF
[databases]
$1 = host=$T/sock port=$PG_PORT dbname=$1

[pgbouncer]
listen_addr =
listen_port = $PGBOUNCER_PORT
unix_socket_dir = $p
auth_type = trust
auth_file = $p/userlist.txt
pool_mode = transaction
default_pool_size = 40
max_client_conn = 4000
server_reset_query =
; a database outage answers 503 within seconds (clients are not held for the default 120 s)
; and the pooler is back within a second of the server
query_wait_timeout = 3
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
admin_users = postgres
logfile = $p/pgbouncer.log
pidfile = $p/pgbouncer.pid
EOF
    give_to_pg "$p" "$p/pgbouncer.ini" "$p/userlist.txt"
    say "pgbouncer (pool_mode=transaction) on $p"
    as_pg "$bin" -d -q "$p/pgbouncer.ini" || die "pgbouncer did not start (log: $p/pgbouncer.log)"
    for i in $(seq 50); do
        [ -S "$p/.s.PGSQL.$PGBOUNCER_PORT" ] && return 0
        sleep 0.1
    done
    die "pgbouncer did not open its socket (log: $p/pgbouncer.log)"
}

# the database of the end-to-end tests and what their helpers read from the environment (once)
http_env_ready=
http_env() {
    [ -z "$http_env_ready" ] || return 0
    http_env_ready=1
    say "database workon_http"
    setup_database "$T" workon_http
    dev_environment
    export WORKON_PGHOST=$T/sock WORKON_PGPORT=$PG_PORT
    export WORKON_PGDATABASE=workon_http WORKON_PGUSER=postgres WORKON_PGDATA=$T/pgdata WORKON_PG_LOG=$T/postgres.log
    export WORKON_SHIM_BIN=$ROOT/shim/workon-shim WORKON_SHIM_LOG=$T/shim.log
    export WORKON_PSQL=$PRIV_BIN/psql
    export WORKON_DATABASE_URL
    WORKON_DATABASE_URL=$(database_url "$T" workon_http workon_authenticator)
    if [ -n "${WORKON_TEST_PGBOUNCER:-}" ]; then
        start_pgbouncer workon_http
        export WORKON_DATABASE_POOLER=transaction WORKON_DATABASE_DIRECT_URL=$WORKON_DATABASE_URL
        WORKON_DATABASE_URL="postgresql:///workon_http?host=$(uri_encode "$T/pgbouncer")&port=$PGBOUNCER_PORT&user=workon_authenticator"
        export DATABASE_POOLER=transaction DATABASE_DIRECT_URL=$WORKON_DATABASE_DIRECT_URL
        export WORKON_PGBOUNCER_HOST=$T/pgbouncer WORKON_PGBOUNCER_PORT=$PGBOUNCER_PORT
    fi
}

# adds a node --test output's counts to passed and failed; a failed run sets status
count_node_results() {
    local n
    # spec reporter: "ℹ pass 12"; tap reporter: "# pass 12"
    n=$(sed -nE 's/^(ℹ|#) pass ([0-9]+)$/\2/p' "$1" | awk '{s += $1} END {print s + 0}')
    passed=$((passed + n))
    n=$(sed -nE 's/^(ℹ|#) fail ([0-9]+)$/\2/p' "$1" | awk '{s += $1} END {print s + 0}')
    failed=$((failed + n))
    [ "$2" -eq 0 ] || status=1
}

run_http() {
    local files=() f out rc=0 n
    # Ajv checks every answer against the served OpenAPI document (test/http/lib/contract.mjs)
    [ -d "$ROOT/test/http/node_modules" ] || die "test/http/node_modules is missing (scripts/deps.sh runs npm ci there)"
    if [ ${#only_tests[@]} -gt 0 ]; then
        for f in "${only_tests[@]}"; do
            [ -e "$ROOT/test/http/$f.test.mjs" ] || die "no test/http/$f.test.mjs"
            files+=("$ROOT/test/http/$f.test.mjs")
        done
    else
        for f in "$ROOT"/test/http/*.test.mjs "$ROOT"/test/http/*.test.js; do
            [ -e "$f" ] && files+=("$f")
        done
    fi
    if [ ${#files[@]} -eq 0 ]; then
        say "no HTTP tests in test/http"
        return 0
    fi
    http_env
    say "shim"
    local port url
    port=$(free_port)
    url="http://127.0.0.1:$port"
    export WORKON_URL=$url

    # the suite makes many requests from one address: rate limits have their own tests and shims;
    # no Stripe key and no e-mail transport: nothing the tests queue goes anywhere but to the
    # tests' own fake Stripe and fake Resend, through the shims those tests start
    DATABASE_URL=$WORKON_DATABASE_URL HOST=127.0.0.1 PORT=$port RATE_LIMIT_ENABLED=false STRIPE_SECRET_KEY= EMAIL_TRANSPORT=off \
        "$WORKON_SHIM_BIN" >"$WORKON_SHIM_LOG" 2>&1 &
    shim_pid=$!
    wait_for_shim "$shim_pid" "$url" 30 || die "the shim did not come up on $url"

    out=$T/http-output.txt
    local node_args=(--test)
    if node --help | grep -q -- '--test-reporter'; then
        node_args+=(--test-reporter=spec)
    fi
    say "node --test test/http"
    set +e
    if node --help | grep -q -- '--test-concurrency'; then
        (cd "$ROOT" && node "${node_args[@]}" --test-concurrency=1 "${files[@]}") 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
    else
        : >"$out"
        for f in "${files[@]}"; do
            (cd "$ROOT" && node "${node_args[@]}" "$f") 2>&1 | tee -a "$out"
            n=${PIPESTATUS[0]}
            [ "$n" -eq 0 ] || rc=$n
        done
    fi
    set -e
    count_node_results "$out" "$rc"
    if [ -n "${WORKON_TEST_PGBOUNCER:-}" ]; then
        # the API's transactions went through PgBouncer: its own count of them
        n=$("$PRIV_BIN/psql" -X -tA -h "$T/pgbouncer" -p "$PGBOUNCER_PORT" -U postgres -d pgbouncer -c 'SHOW STATS' |
            awk -F'|' '$1 == "workon_http" {print $2}')
        say "pgbouncer: ${n:-0} transactions of workon_http"
        if [ "${n:-0}" -eq 0 ]; then
            say "no transaction went through pgbouncer"
            status=1
        fi
    fi
}

# the shim's checks without a server (shim/token_test.c), with the whole HTTP suite
if [ -n "$do_http" ] && [ ${#only_tests[@]} -eq 0 ]; then
    say "make -C shim check"
    # built as the shim was (the sanitized objects need the sanitizers' runtime at link time)
    shim_flags=()
    [ "$SANITIZE" != 1 ] || shim_flags=(OPT="-O1 $SANITIZE_FLAGS")
    if make -C "$ROOT/shim" -s "${shim_flags[@]}" check; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
fi

if [ -n "$do_http" ]; then
    run_http
fi

# ---------------------------------------------------------------------------
# Browser tests: the site and the admin console in headless Chromium (test/browser);
# each file starts its own shim and fake Stripe, as the payment tests do

run_browser() {
    local out rc
    [ -d "$ROOT/test/browser/node_modules" ] || die "test/browser/node_modules is missing (scripts/deps.sh runs npm ci there)"
    http_env
    export WORKON_SCREENSHOTS=$RUN/browser-screenshots
    rm -rf "$WORKON_SCREENSHOTS"
    out=$T/browser-output.txt
    say "node --test test/browser (screenshots: $WORKON_SCREENSHOTS)"
    set +e
    (cd "$ROOT" && node --test --test-reporter=spec --test-concurrency=1 "$ROOT"/test/browser/*.test.mjs) 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    count_node_results "$out" "$rc"
    echo "browser screenshots: $WORKON_SCREENSHOTS"
}

if [ -n "$do_browser" ] && [ ${#only_tests[@]} -eq 0 ]; then
    run_browser
fi

# ---------------------------------------------------------------------------
# The previous release's shim against this extension ("expand, then contract"): built
# from the tag, it runs that release's own HTTP tests on a database of its own

run_previous() {
    local src=$T/$PREVIOUS_TAG files=() f name excluded out rc port url
    local tagged
    tagged=$(git -C "$ROOT" rev-parse -q --verify "refs/tags/$PREVIOUS_TAG^{commit}" || true)
    [ -z "$tagged" ] || [ "$tagged" = "$PREVIOUS_COMMIT" ] ||
        die "tag $PREVIOUS_TAG names $tagged, not $PREVIOUS_COMMIT (PREVIOUS_COMMIT in scripts/test.sh)"
    if ! git -C "$ROOT" cat-file -e "$PREVIOUS_COMMIT^{commit}" 2>/dev/null; then
        # a shallow clone: ask where it came from for that one commit
        say "$PREVIOUS_TAG ($PREVIOUS_COMMIT) is not in this clone's history: git fetch origin $PREVIOUS_COMMIT"
        timeout 120 git -C "$ROOT" fetch -q --depth=1 origin "$PREVIOUS_COMMIT" 2>&1 || true
    fi
    if ! git -C "$ROOT" cat-file -e "$PREVIOUS_COMMIT^{commit}" 2>/dev/null; then
        previous_note="the previous release's suite was NOT run: commit $PREVIOUS_COMMIT ($PREVIOUS_TAG) is not in this clone (git fetch --unshallow, then make test)"
        say "$previous_note"
        return 0
    fi
    say "the shim of $PREVIOUS_TAG against extension $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$ROOT/workon.control")"
    mkdir -p "$src"
    git -C "$ROOT" archive "$PREVIOUS_COMMIT" | tar -x -C "$src"
    make -C "$src/shim" -s >/dev/null || die "the shim of $PREVIOUS_TAG did not build"
    # whole files, and single tests by name (test/previous-exclude.txt): such a test
    # becomes test.skip in the extracted tree, so the run reports it as skipped
    local line file test
    while IFS= read -r line; do
        line=${line%%#*}
        line=$(sed 's/[[:space:]]*$//' <<<"$line")
        case "$line" in
            *:*' > '*)
                file=${line%%:*} test=${line#*' > '}
                [ -f "$src/test/http/$file.test.mjs" ] || die "test/previous-exclude.txt: no $file.test.mjs in $PREVIOUS_TAG"
                WORKON_SKIP_TEST=$test node -e '
                    const fs = require("fs"), f = process.argv[1], name = process.env.WORKON_SKIP_TEST;
                    const text = fs.readFileSync(f, "utf8");
                    const literals = ["\x27" + name.replace(/\x27/g, "\\\x27") + "\x27", JSON.stringify(name), "`" + name + "`"];
                    const hit = literals.find((l) => text.includes("test(" + l));
                    if (!hit) { console.error("no test named: " + name); process.exit(1); }
                    fs.writeFileSync(f, text.replace("test(" + hit, "test.skip(" + hit));
                ' "$src/test/http/$file.test.mjs" || die "test/previous-exclude.txt: $file: no test \"$test\""
                say "$PREVIOUS_TAG: $file: \"$test\" skipped (test/previous-exclude.txt)" ;;
        esac
    done <"$ROOT/test/previous-exclude.txt"
    for f in "$src"/test/http/*.test.mjs; do
        name=$(basename "$f" .test.mjs)
        excluded=$(sed -n "s/^$name[[:space:]]*#.*/x/p; s/^$name\$/x/p" "$ROOT/test/previous-exclude.txt")
        if [ -n "$excluded" ]; then
            say "$PREVIOUS_TAG: $name excluded (test/previous-exclude.txt)"
        else
            files+=("$f")
        fi
    done

    http_env
    say "database workon_previous, the shim of $PREVIOUS_TAG"
    setup_database "$T" workon_previous
    port=$(free_port)
    url="http://127.0.0.1:$port"
    export WORKON_URL=$url WORKON_PGDATABASE=workon_previous WORKON_PGCTL=$ROOT/scripts/pgctl.sh
    export WORKON_SHIM_BIN=$src/shim/workon-shim WORKON_SHIM_LOG=$T/shim-previous.log
    WORKON_DATABASE_URL=$(database_url "$T" workon_previous workon_authenticator)
    DATABASE_URL=$WORKON_DATABASE_URL HOST=127.0.0.1 PORT=$port RATE_LIMIT_ENABLED=false STRIPE_SECRET_KEY= EMAIL_TRANSPORT=off \
        "$WORKON_SHIM_BIN" >"$WORKON_SHIM_LOG" 2>&1 &
    previous_pid=$!
    wait_for_shim "$previous_pid" "$url" 30 || die "the shim of $PREVIOUS_TAG did not come up on $url"

    out=$T/previous-output.txt
    say "node --test $PREVIOUS_TAG's test/http"
    set +e
    (cd "$src" && node --test --test-reporter=spec --test-concurrency=1 "${files[@]}") 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    count_node_results "$out" "$rc"
    stop_pid "$previous_pid" 12
    previous_pid=
}

if [ -n "$do_previous" ] && [ ${#only_tests[@]} -eq 0 ]; then
    run_previous
fi

# a sanitizer's report fails the run, whatever the tests said
if [ "$SANITIZE" = 1 ] && [ -n "$(ls -A "$SANITIZER_LOG_DIR")" ]; then
    for f in "$SANITIZER_LOG_DIR"/*; do
        echo "---- $f" >&2
        head -n 60 "$f" >&2
    done
    say "sanitizer reports in $SANITIZER_LOG_DIR"
    failed=$((failed + 1))
    status=1
fi

[ "$status" -eq 0 ] && ok=1
exit "$status"
