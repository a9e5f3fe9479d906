#!/usr/bin/env bash
# scripts/replica.sh start|stop DIR -- a streaming replica of the cluster whose data
# directory is $WORKON_PGDATA, in DIR (DIR/pgdata, DIR/sock, DIR/postgres.log), for the
# end-to-end tests and the bench. start: pg_basebackup (-R: a standby that streams from
# the primary's socket), then the replica is started and waits for connections; stop:
# pg_ctl stop -m immediate (it signals the postmaster named in DIR/pgdata/postmaster.pid).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -n "${WORKON_PGDATA:-}" ] || die "WORKON_PGDATA is not set"
[ -f "$WORKON_PGDATA/PG_VERSION" ] || die "$WORKON_PGDATA is not a PostgreSQL data directory"
[ $# -eq 2 ] || { echo "usage: WORKON_PGDATA=DIR scripts/replica.sh start|stop REPLICA_DIR" >&2; exit 2; }
setup_run_dir
[ -x "$PRIV_BIN/pg_basebackup" ] || die "no private installation in $PRIV (run scripts/test.sh or scripts/cluster.sh init)"
primary=$(cd "$WORKON_PGDATA/.." && pwd -P)
dir=$2

case "$1" in
    start)
        if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
            mkdir -p "$dir/sock"
            touch "$dir/postgres.log"
            chmod 755 "$dir" "$dir/sock"
            give_to_pg "$dir" "$dir/sock" "$dir/postgres.log"
            as_pg "$PRIV_BIN/pg_basebackup" -D "$dir/pgdata" -h "$primary/sock" -p "$PG_PORT" -U postgres \
                -X stream -R -c fast >"$dir/basebackup.log" 2>&1 ||
                { cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
        fi
        # the copy's workon.conf is the primary's: cluster_start writes it again for DIR
        cluster_start "$dir"
        ;;
    stop) cluster_stop "$dir" immediate ;;
    *)
        echo "usage: WORKON_PGDATA=DIR scripts/replica.sh start|stop REPLICA_DIR" >&2
        exit 2
        ;;
esac
