#!/usr/bin/env bash
# scripts/test.sh (make test) -- every test against a throw-away cluster.
#
#   scripts/test.sh                 pg_regress (test/regress), then the HTTP tests (test/http)
#   scripts/test.sh --regress-only  (make regress)
#   scripts/test.sh --http-only     (make http-test)
#   scripts/test.sh --http-only cors ratelimit   only test/http/cors.test.mjs and ratelimit.test.mjs
#
# The cluster lives in .run/test.<pid>/ (own socket dir, fsync off). The HTTP tests run
# against a fresh database `workon_http` (extension + scripts/demo.sql) and the shim on a
# free loopback port. Everything started here is stopped by PID at the end; the directory
# is removed when all passed and kept (logs printed) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

do_regress=1
do_http=1
case "${1:-}" in
    '') ;;
    --regress-only) do_http= ;;
    --http-only) do_regress= ;;
    *)
        echo "usage: scripts/test.sh [--regress-only | --http-only [test name...]]" >&2
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
passed=0
failed=0
ok=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    end_run "$rc" "$T" immediate "$shim_pid"
    if [ $((passed + failed)) -gt 0 ]; then
        echo "test: $passed passed, $failed failed"
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

run_http() {
    local files=() f out rc=0 n
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
    say "database workon_http, shim"
    setup_database "$T" workon_http

    dev_environment
    local port url
    port=$(free_port)
    url="http://127.0.0.1:$port"
    export WORKON_URL=$url WORKON_PGHOST=$T/sock WORKON_PGPORT=$PG_PORT
    export WORKON_PGDATABASE=workon_http WORKON_PGUSER=postgres WORKON_PGDATA=$T/pgdata WORKON_PG_LOG=$T/postgres.log
    export WORKON_SHIM_BIN=$ROOT/shim/workon-shim WORKON_SHIM_LOG=$T/shim.log
    export WORKON_PSQL=$PRIV_BIN/psql
    export WORKON_DATABASE_URL
    WORKON_DATABASE_URL=$(database_url "$T" workon_http workon_authenticator)

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
    # spec reporter: "ℹ pass 12"; tap reporter: "# pass 12"
    n=$(sed -nE 's/^(ℹ|#) pass ([0-9]+)$/\2/p' "$out" | awk '{s += $1} END {print s + 0}')
    passed=$((passed + n))
    n=$(sed -nE 's/^(ℹ|#) fail ([0-9]+)$/\2/p' "$out" | awk '{s += $1} END {print s + 0}')
    failed=$((failed + n))
    [ "$rc" -eq 0 ] || status=1
}

if [ -n "$do_http" ]; then
    run_http
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
