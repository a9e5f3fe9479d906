#!/usr/bin/env bash
# scripts/run.sh (make run) -- build everything and serve the API on $PORT (default 8080).
#
# Without DATABASE_URL: the checkout's own cluster (.run/, socket only, no TCP port), database
# `workon` with the extension and the demo data, the shim connecting as workon_authenticator.
# With DATABASE_URL: the extension is installed into the system PostgreSQL (`make install`,
# root) and created through WORKON_ADMIN_URL (default: DATABASE_URL), which must be allowed
# to create it; WORKON_DEMO=0 skips the demo data.
#
# Development settings (NODE_ENV, secrets, pk_test_/whsec_ placeholders, PORT, HOST) are filled in
# only where the environment leaves them unset. Ctrl-C or SIGTERM stops the shim, then the
# cluster this script started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "$ROOT/scripts/deps.sh"
setup_run_dir
build_all

shim_pid=
started_cluster=
stop_signal=TERM

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$shim_pid" ]; then
        stop_pid "$shim_pid" 12 "$stop_signal"
    fi
    if [ -n "$started_cluster" ]; then
        say "stopping PostgreSQL"
        cluster_stop "$RUN" fast
    fi
    exit "$rc"
}
trap cleanup EXIT
# Ctrl-C is passed on as SIGINT (the shim exits at once), SIGTERM as SIGTERM (it drains)
trap 'stop_signal=INT; exit 130' INT
# a stop asked for with SIGTERM is a clean end: exit 0, so make reports no error
trap 'exit 0' TERM

if [ -z "${DATABASE_URL:-}" ]; then
    private_install
    cluster_init "$RUN" dev
    if ! cluster_running "$RUN"; then
        cluster_start "$RUN"
        started_cluster=1
    fi
    setup_database "$RUN" workon
    export DATABASE_URL
    DATABASE_URL=$(database_url "$RUN" workon workon_authenticator)
    where="PostgreSQL socket dir: $RUN/sock (psql: scripts/cluster.sh psql, log: $RUN/postgres.log)"
else
    admin_url=${WORKON_ADMIN_URL:-$DATABASE_URL}
    if is_root; then
        say "installing the extension into the system PostgreSQL"
        make -C "$ROOT" -s install PG_CONFIG="$PG_CONFIG_BIN" >/dev/null
    elif ! cmp -s "$ROOT/workon.control" "$PG_SYS_SHARE/extension/workon.control"; then
        die "the extension is not installed (or not current) in the system PostgreSQL; run as root: make -C $ROOT install"
    fi
    psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c 'SET client_min_messages = warning' \
        -c 'CREATE EXTENSION IF NOT EXISTS workon CASCADE' -c 'ALTER EXTENSION workon UPDATE' ||
        die "could not create the extension through WORKON_ADMIN_URL/DATABASE_URL (it needs a role allowed to CREATE EXTENSION)"
    if [ "${WORKON_DEMO:-1}" != 0 ]; then
        psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -f "$ROOT/scripts/demo.sql" ||
            die "could not load scripts/demo.sql (it needs a superuser; WORKON_DEMO=0 skips it)"
    fi
    where="database: DATABASE_URL from the environment"
fi

dev_environment

"$ROOT/shim/workon-shim" &
shim_pid=$!
url="http://$(probe_host "$HOST"):$PORT"
if ! wait_for_shim "$shim_pid" "$url" 30; then
    if kill -0 "$shim_pid" 2>/dev/null; then
        stop_pid "$shim_pid" 5
        shim_pid=
        die "the shim did not answer $url/healthz within 30 s"
    fi
    rc=0
    wait "$shim_pid" || rc=$?
    shim_pid=
    die "the shim exited with status $rc before answering $url/healthz"
fi

echo "workon is up: http://localhost:$PORT"
if [ -n "${ADMIN_EMAIL:-}" ]; then
    say "admin: $ADMIN_EMAIL (its password: ADMIN_PASSWORD in $RUN/dev-secrets.env, unless you set one)"
fi
say "$where"
say "Ctrl-C stops it"

set +e
wait "$shim_pid"
rc=$?
set -e
shim_pid=
case "$rc" in
    0 | 143) exit 0 ;; # drained and stopped by SIGTERM
    130) exit 130 ;;
    *) say "the shim exited with status $rc"; exit "$rc" ;;
esac
