#!/usr/bin/env bash
# scripts/pgctl.sh stop|start|restart|status -- control the cluster whose data directory
# is $WORKON_PGDATA (the end-to-end tests use it to take their cluster down and up).
# Socket and log are the siblings of the data directory: ../sock, ../postgres.log.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -n "${WORKON_PGDATA:-}" ] || die "WORKON_PGDATA is not set"
[ -f "$WORKON_PGDATA/PG_VERSION" ] || die "$WORKON_PGDATA is not a PostgreSQL data directory"
setup_run_dir
[ -x "$PRIV_BIN/pg_ctl" ] || die "no private installation in $PRIV (run scripts/test.sh or scripts/cluster.sh init)"
cluster=$(cd "$WORKON_PGDATA/.." && pwd -P)

case "${1:-}" in
    stop) cluster_stop "$cluster" "${WORKON_PGSTOP_MODE:-fast}" ;;
    start) cluster_start "$cluster" ;;
    restart)
        cluster_stop "$cluster" "${WORKON_PGSTOP_MODE:-fast}"
        cluster_start "$cluster"
        ;;
    status)
        if cluster_running "$cluster"; then echo running; else echo stopped; exit 3; fi
        ;;
    *)
        echo "usage: WORKON_PGDATA=DIR scripts/pgctl.sh stop|start|restart|status" >&2
        exit 2
        ;;
esac
