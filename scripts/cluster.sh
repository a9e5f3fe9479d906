#!/usr/bin/env bash
# scripts/cluster.sh -- the checkout's own PostgreSQL cluster (the one `make run` uses).
#
#   scripts/cluster.sh init      private installation (.run/pg) + initdb of .run/pgdata
#   scripts/cluster.sh start     init if needed, then start (socket in .run/sock, no TCP)
#   scripts/cluster.sh stop      fast shutdown
#   scripts/cluster.sh status    running or not, socket, log, connection URL
#   scripts/cluster.sh psql ...  psql as the superuser into database workon (-d for another)
#   scripts/cluster.sh clean     stop every cluster of this checkout and remove .run
#
# `init` and `start` build the extension and install it into .run/pg first.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

cmd=${1:-}
[ $# -gt 0 ] && shift

case "$cmd" in
    init | start)
        bash "$ROOT/scripts/deps.sh"
        setup_run_dir
        build_extension
        private_install
        cluster_init "$RUN" dev
        if [ "$cmd" = start ]; then
            cluster_start "$RUN"
            say "PostgreSQL is running: socket $RUN/sock, log $RUN/postgres.log"
        fi
        ;;
    stop)
        setup_run_dir
        if cluster_running "$RUN"; then
            cluster_stop "$RUN" fast
            say "PostgreSQL stopped"
        else
            say "PostgreSQL is not running"
        fi
        ;;
    status)
        setup_run_dir
        if cluster_running "$RUN"; then
            say "PostgreSQL is running (pid $(head -n 1 "$RUN/pgdata/postmaster.pid"))"
            say "socket dir: $RUN/sock (port $PG_PORT), log: $RUN/postgres.log"
            say "psql:       scripts/cluster.sh psql   (or: psql -h $RUN/sock -U postgres workon)"
            say "shim URL:   $(database_url "$RUN" workon workon_authenticator)"
        elif [ -f "$RUN/pgdata/PG_VERSION" ]; then
            say "PostgreSQL is stopped (data in $RUN/pgdata)"
            exit 3
        else
            say "no cluster yet (scripts/cluster.sh init)"
            exit 3
        fi
        ;;
    psql)
        setup_run_dir
        cluster_running "$RUN" || die "PostgreSQL is not running (scripts/cluster.sh start)"
        # psql keeps the last -d, so `scripts/cluster.sh psql -d postgres` works
        exec "$PRIV_BIN/psql" -h "$RUN/sock" -p "$PG_PORT" -U postgres -d workon "$@"
        ;;
    clean)
        setup_run_dir
        for data in "$RUN"/pgdata "$RUN"/*/pgdata; do
            if [ -f "$data/postmaster.pid" ]; then
                say "stopping $data"
                cluster_stop "$(dirname "$data")" fast
            fi
        done
        if [ -L "$ROOT/.run" ]; then
            rm -rf "$RUN"
            rm -f "$ROOT/.run"
        else
            rm -rf "$ROOT/.run"
        fi
        say "removed .run"
        ;;
    *)
        usage
        ;;
esac
