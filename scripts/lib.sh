# shellcheck shell=bash
# scripts/lib.sh -- shared functions of workon's scripts (sourced, not run).
#
# Layout of the state kept beside a checkout (all of it under .run/, never committed):
#   .run/pg/usr/lib/postgresql/15/{bin,lib}   private PostgreSQL installation: copies of
#   .run/pg/usr/share/postgresql/15            the system binaries, links to the system's
#                                              lib and share files, plus this checkout's
#                                              own build of the extension
#   .run/pgdata .run/sock .run/postgres.log    the `make run` cluster
#   .run/test.<pid>/  .run/bench.<pid>/        throw-away clusters of `make test` / `make bench`
#   .run/dev-secrets.env                       development secrets, generated once
#
# PostgreSQL finds its share and lib directories relative to the path of its own
# executable, so the copied binaries use the copied tree and two checkouts never see
# each other's extension files.
#
# When run as root the server runs as user postgres, which must be able to reach
# .run/.  If it cannot (a checkout under /root, say), or the checkout's path is too long
# for a Unix socket or holds characters PGXS cannot install to (a space), .run/ is a
# symbolic link to /tmp/workon-<hash of the checkout path>.

set -euo pipefail
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PG_MAJOR=15
PG_SYS_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_SYS_LIB=/usr/lib/postgresql/$PG_MAJOR/lib
PG_SYS_SHARE=/usr/share/postgresql/$PG_MAJOR
PG_CONFIG_BIN=$PG_SYS_BIN/pg_config
PG_PORT=5432
PG_SERVER_USER=postgres

say() { printf 'workon: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a server-side command (initdb, pg_ctl) as the user that owns the clusters, from /
# (the current directory may be out of that user's reach; every path given is absolute).
as_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_SERVER_USER" -- "$@")
    else
        "$@"
    fi
}

# Hand a path to the server user (no-op when not root).
give_to_pg() {
    if is_root; then
        chown "$PG_SERVER_USER:" "$@"
    fi
}

# ---------------------------------------------------------------------------
# .run/

run_dir_needs_relocation() {
    # longest socket path used: .run/test.<pid>/sock/.s.PGSQL.5432 (sun_path is 108 bytes)
    if [ ${#ROOT} -gt 64 ]; then
        return 0
    fi
    # make install DESTDIR=... (PGXS) cannot handle spaces and the like
    case "$ROOT" in
        *[!A-Za-z0-9/._+-]*) return 0 ;;
    esac
    if is_root && ! runuser -u "$PG_SERVER_USER" -- test -x "$ROOT"; then
        return 0
    fi
    return 1
}

# Sets RUN to the physical path of .run/, creating it when missing.
setup_run_dir() {
    local link="$ROOT/.run" target hash
    if is_root && ! id -u "$PG_SERVER_USER" >/dev/null 2>&1; then
        die "user $PG_SERVER_USER does not exist (is postgresql-$PG_MAJOR installed? run scripts/deps.sh)"
    fi
    if [ ! -e "$link" ] && [ ! -L "$link" ]; then
        if run_dir_needs_relocation; then
            hash=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
            target=/tmp/workon-$hash
            ln -s "$target" "$link" 2>/dev/null || [ -L "$link" ]
            say "state directory is $target (.run links to it: the checkout's path is out of reach of user $PG_SERVER_USER, too long for a socket or holds a space)"
        else
            mkdir -p "$link"
        fi
    fi
    if [ -L "$link" ]; then
        target=$(readlink "$link")
        if [ ! -e "$target" ]; then
            mkdir -m 755 "$target" 2>/dev/null || [ -d "$target" ]
        fi
        if [ -L "$target" ] || [ ! -d "$target" ] || [ "$(stat -c %u "$target")" != "$(id -u)" ]; then
            die "$target (where .run points) is not a directory owned by $(id -un); remove .run and try again"
        fi
    fi
    RUN=$(cd "$link" && pwd -P)
    chmod 755 "$RUN"
    if is_root && ! runuser -u "$PG_SERVER_USER" -- test -x "$RUN"; then
        die "user $PG_SERVER_USER cannot reach $RUN; remove .run (scripts/cluster.sh clean) so it is placed under /tmp"
    fi
    PRIV=$RUN/pg
    PRIV_BIN=$PRIV$PG_SYS_BIN
    PRIV_LIB=$PRIV$PG_SYS_LIB
    PRIV_SHARE=$PRIV$PG_SYS_SHARE
}

# ---------------------------------------------------------------------------
# Build

# SANITIZE=1: the shim and the extension are built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc's runtimes). PostgreSQL is not instrumented, so the
# postmaster gets ASan's runtime preloaded, with scripts/asan-preload.c after it (see
# there why Debian's postgres would otherwise hang at start). Objects are rebuilt
# whenever the flavour changes; reports go to files under SANITIZER_LOG_DIR (test.sh).
SANITIZE=${SANITIZE:-}
SANITIZE_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=address -fno-omit-frame-pointer -g"
SANITIZE_EXT_FLAGS=$SANITIZE_FLAGS

build_flavour() {
    if [ "$SANITIZE" = 1 ]; then echo "sanitize: $SANITIZE_EXT_FLAGS; $SANITIZE_FLAGS"; else echo plain; fi
}

# the build's flavour changed since the last build: clean first
clean_other_flavour() {
    local stamp=$RUN/build-flavour
    if [ "$(cat "$stamp" 2>/dev/null || echo plain)" != "$(build_flavour)" ]; then
        make -C "$ROOT" -s clean PG_CONFIG="$PG_CONFIG_BIN" >/dev/null
        make -C "$ROOT/shim" -s clean >/dev/null
    fi
    build_flavour >"$stamp"
}

build_extension() {
    [ -f "$ROOT/Makefile" ] || die "no Makefile in $ROOT"
    say "building the extension${SANITIZE:+ (ASan + UBSan)}"
    if [ "$SANITIZE" = 1 ]; then
        make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG_BIN" COPT="$SANITIZE_EXT_FLAGS" >/dev/null
        cc -shared -fPIC -O1 -o "$RUN/asan-preload.so" "$ROOT/scripts/asan-preload.c" -ldl
    else
        make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG_BIN" >/dev/null
    fi
}

build_all() {
    clean_other_flavour
    build_extension
    [ -f "$ROOT/shim/Makefile" ] || die "no shim/Makefile in $ROOT"
    say "building the shim${SANITIZE:+ (ASan + UBSan)}"
    if [ "$SANITIZE" = 1 ]; then
        make -C "$ROOT/shim" -s OPT="-O1 $SANITIZE_FLAGS" >/dev/null
    else
        make -C "$ROOT/shim" -s >/dev/null
    fi
    [ -x "$ROOT/shim/workon-shim" ] || die "make -C shim did not produce shim/workon-shim"
    say "building the web site"
    make -C "$ROOT" -s web >/dev/null
}

# the environment of a sanitized postmaster: ASan's runtime first, and where the
# extension's reports go
sanitizer_env() {
    local dir=${SANITIZER_LOG_DIR:-$RUN/sanitizer}
    echo "LD_PRELOAD=$(cc -print-file-name=libasan.so):$RUN/asan-preload.so"
    echo "ASAN_OPTIONS=detect_leaks=0:log_path=$dir/asan"
    echo "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0:log_path=$dir/ubsan"
}

# ---------------------------------------------------------------------------
# Private installation under .run/pg

# Is NAME one of the extension's own files? Those come from this checkout's build only.
is_workon_file() {
    case "$1" in
        workon | workon.* | workon--*) return 0 ;;
    esac
    return 1
}

# link_farm SRC DST [REALDIR...]: DST gets a symbolic link to every entry of SRC, except
# the entries named in REALDIR, which become real directories (farmed the same way) so
# that `make install DESTDIR=...` writes into the copy and never through to the system.
link_farm() {
    local src=$1 dst=$2 entry name
    shift 2
    mkdir -p "$dst"
    for entry in "$src"/*; do
        [ -e "$entry" ] || continue
        name=${entry##*/}
        if is_workon_file "$name"; then
            continue
        fi
        if [[ " $* " == *" $name "* ]]; then
            if [ -L "$dst/$name" ]; then
                rm -f "$dst/$name"
            fi
            link_farm "$entry" "$dst/$name"
        elif [ ! -L "$dst/$name" ] || [ "$(readlink "$dst/$name")" != "$entry" ]; then
            rm -rf "${dst:?}/$name"
            ln -s "$entry" "$dst/$name"
        fi
    done
    # links whose target went away (a package removed a file)
    find "$dst" -maxdepth 1 -xtype l -delete
}

# Copies (hard links when possible) of the system binaries: the server resolves symbolic
# links to find its own location, so those would lead back to the system tree.
copy_binaries() {
    local src dst name
    mkdir -p "$PRIV_BIN"
    for src in "$PG_SYS_BIN"/*; do
        name=${src##*/}
        dst=$PRIV_BIN/$name
        if [ -L "$src" ]; then
            # postmaster -> postgres: keep it relative, inside the copy
            if [ "$(readlink "$dst" 2>/dev/null)" != "$(readlink "$src")" ]; then
                ln -sfn "$(readlink "$src")" "$dst"
            fi
            continue
        fi
        if [ "$dst" -ef "$src" ] || cmp -s "$src" "$dst"; then
            continue
        fi
        rm -f "$dst.new"
        ln "$src" "$dst.new" 2>/dev/null || cp -p "$src" "$dst.new"
        mv -f "$dst.new" "$dst"
    done
}

# Brings .run/pg up to date with the system installation and this checkout's build.
private_install() {
    local got
    [ -x "$PG_SYS_BIN/postgres" ] || die "$PG_SYS_BIN/postgres not found (run scripts/deps.sh)"
    (
        flock 9
        copy_binaries
        link_farm "$PG_SYS_LIB" "$PRIV_LIB" bitcode
        link_farm "$PG_SYS_SHARE" "$PRIV_SHARE" extension
        # drop the previous build of the extension (the only real files in these dirs)
        find "$PRIV_LIB" "$PRIV_SHARE/extension" -maxdepth 1 -type f -delete
        find "$PRIV_LIB/bitcode" -mindepth 1 -maxdepth 1 ! -type l -exec rm -rf {} +
        make -C "$ROOT" -s install DESTDIR="$PRIV" PG_CONFIG="$PG_CONFIG_BIN" >/dev/null
    ) 9>"$RUN/pg.lock"
    got=$("$PRIV_BIN/pg_config" --sharedir)
    if [ "$got" != "$PRIV_SHARE" ]; then
        die "the private installation is not relocatable (pg_config --sharedir says $got)"
    fi
    [ -f "$PRIV_SHARE/extension/workon.control" ] ||
        die "make install DESTDIR=$PRIV did not install workon.control"
}

# ---------------------------------------------------------------------------
# Clusters. A cluster directory C holds C/pgdata, C/sock (Unix socket, no TCP) and
# C/postgres.log. Its profile (dev, test, bench) is kept in C/pgdata/workon.profile and
# C/pgdata/workon.conf is rewritten from it at each start.

max_connections_for() {
    local n=200 want
    want=$(( $(nproc) * 8 + 100 ))
    [ "$want" -gt "$n" ] && n=$want
    printf '%s' "$n"
}

write_cluster_conf() {
    local c=$1 profile
    profile=$(cat "$c/pgdata/workon.profile")
    case "$c" in
        *\'*) die "a cluster path must not contain a quote: $c" ;;
    esac
    {
        echo "# written by scripts/lib.sh at each start; edit the profile there"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$c/sock'"
        echo "port = $PG_PORT"
        echo "max_connections = $(max_connections_for)"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        case "$profile" in
            test)
                echo "fsync = off"
                echo "synchronous_commit = off"
                echo "full_page_writes = off"
                ;;
            bench)
                echo "shared_buffers = '256MB'"
                ;;
        esac
    } >"$c/pgdata/workon.conf.new"
    give_to_pg "$c/pgdata/workon.conf.new"
    mv -f "$c/pgdata/workon.conf.new" "$c/pgdata/workon.conf"
}

cluster_init() {
    local c=$1 profile=$2
    if [ -f "$c/pgdata/PG_VERSION" ]; then
        return 0
    fi
    mkdir -p "$c/pgdata" "$c/sock"
    touch "$c/postgres.log"
    chmod 700 "$c/pgdata"
    chmod 755 "$c" "$c/sock"
    give_to_pg "$c/pgdata" "$c/sock" "$c/postgres.log"
    say "initdb $c/pgdata"
    if ! as_pg "$PRIV_BIN/initdb" -D "$c/pgdata" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-instructions >"$c/initdb.log" 2>&1; then
        cat "$c/initdb.log" >&2
        die "initdb failed"
    fi
    echo "$profile" >"$c/pgdata/workon.profile"
    echo "include_if_exists = 'workon.conf'" >>"$c/pgdata/postgresql.conf"
    give_to_pg "$c/pgdata/workon.profile"
}

cluster_running() {
    local c=$1
    [ -f "$c/pgdata/PG_VERSION" ] && as_pg "$PRIV_BIN/pg_ctl" -D "$c/pgdata" status >/dev/null 2>&1
}

cluster_start() {
    local c=$1
    if cluster_running "$c"; then
        return 0
    fi
    write_cluster_conf "$c"
    touch "$c/postgres.log"
    give_to_pg "$c/postgres.log" "$c/sock"
    local env=()
    if [ "$SANITIZE" = 1 ]; then
        mapfile -t env < <(sanitizer_env)
    fi
    if ! as_pg env "${env[@]}" "$PRIV_BIN/pg_ctl" -D "$c/pgdata" -l "$c/postgres.log" -w -t 60 -s start; then
        tail -n 20 "$c/postgres.log" >&2 || true
        die "PostgreSQL did not start (log: $c/postgres.log)"
    fi
}

# cluster_start_in_session C: cluster_start, except that the postmaster stays in the
# caller's session. pg_ctl gives it a session of its own, and the kernel shares CPU
# between sessions before processes (sched_autogroup, on by default), so the backends
# would be scheduled as one group against the load generators. The bench starts its
# cluster this way so that every process competes on equal terms.
cluster_start_in_session() {
    local c=$1 i
    if cluster_running "$c"; then
        return 0
    fi
    write_cluster_conf "$c"
    touch "$c/postgres.log"
    give_to_pg "$c/postgres.log" "$c/sock"
    as_pg "$PRIV_BIN/postgres" -D "$c/pgdata" >>"$c/postgres.log" 2>&1 </dev/null &
    for i in $(seq 600); do
        if as_pg "$PRIV_BIN/pg_isready" -q -h "$c/sock" -p "$PG_PORT"; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$c/postgres.log" >&2 || true
    die "PostgreSQL did not start (log: $c/postgres.log)"
}

# cluster_stop C [MODE]: pg_ctl stop (it signals the postmaster named in postmaster.pid).
cluster_stop() {
    local c=$1 mode=${2:-fast} pid
    [ -f "$c/pgdata/postmaster.pid" ] || return 0
    if ! as_pg "$PRIV_BIN/pg_ctl" -D "$c/pgdata" -m "$mode" -w -t 60 -s stop 2>/dev/null; then
        pid=$(head -n 1 "$c/pgdata/postmaster.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            say "pg_ctl stop failed; sending SIGQUIT to postmaster $pid"
            kill -QUIT "$pid" 2>/dev/null || true
        fi
    fi
}

# remove_stale_clusters KIND: .run/KIND.<pid>/ of runs that are gone (a failed run keeps
# its directory for inspection until the next run).
remove_stale_clusters() {
    local d pid
    for d in "$RUN/$1".*; do
        [ -d "$d" ] || continue
        pid=${d##*.}
        if [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
            cluster_stop "$d" immediate
            rm -rf "$d"
        fi
    done
}

# psql_in C DB [psql args...]: psql as the superuser over the cluster's socket.
psql_in() {
    local c=$1 db=$2
    shift 2
    "$PRIV_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$c/sock" -p "$PG_PORT" -U postgres -d "$db" "$@"
}

# setup_database C DB: database DB with the extension (created or updated) and the demo data.
setup_database() {
    local c=$1 db=$2
    if [ -z "$(psql_in "$c" postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
        psql_in "$c" postgres -c "CREATE DATABASE \"$db\""
    fi
    psql_in "$c" "$db" -c 'SET client_min_messages = warning' \
        -c 'CREATE EXTENSION IF NOT EXISTS workon CASCADE' -c 'ALTER EXTENSION workon UPDATE'
    psql_in "$c" "$db" -f "$ROOT/scripts/demo.sql"
}

# Percent-encode for a URI query value.
uri_encode() {
    local LC_ALL=C s=$1 out='' ch i
    for ((i = 0; i < ${#s}; i++)); do
        ch=${s:i:1}
        case "$ch" in
            [A-Za-z0-9/._~-]) out+=$ch ;;
            *) out+=$(printf '%%%02X' "'$ch") ;;
        esac
    done
    printf '%s' "$out"
}

# database_url C DB USER: libpq URI reaching the cluster over its socket.
database_url() {
    printf 'postgresql:///%s?host=%s&port=%s&user=%s' "$2" "$(uri_encode "$1/sock")" "$PG_PORT" "$3"
}

# ---------------------------------------------------------------------------
# Shim

# Development settings, each only when not already set in the environment.
dev_environment() {
    local secrets=$RUN/dev-secrets.env name value
    if [ ! -f "$secrets" ]; then
        (
            umask 077
            for name in JWT_SECRET JWT_REFRESH_SECRET SIGNED_URL_SECRET; do
                value=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
                printf '%s=%s\n' "$name" "$value"
            done >"$secrets.new"
            mv -f "$secrets.new" "$secrets"
        )
    fi
    # the development admin (created by the shim at start if missing); added to files
    # written before there was one
    if ! grep -q '^ADMIN_PASSWORD=' "$secrets"; then
        (
            umask 077
            printf 'ADMIN_EMAIL=%s\nADMIN_PASSWORD=%s\n' admin@workon.example \
                "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" >>"$secrets"
        )
    fi
    while IFS='=' read -r name value; do
        [ -n "$name" ] || continue
        if [ -z "${!name+x}" ]; then
            export "$name=$value"
        fi
    done <"$secrets"
    : "${NODE_ENV:=development}" "${PORT:=8080}" "${HOST:=0.0.0.0}"
    # no STRIPE_SECRET_KEY placeholder: with a key the shim sends the queued Stripe calls to
    # STRIPE_API_BASE (Stripe itself by default); without one payments answer 503
    : "${STRIPE_PUBLISHABLE_KEY:=pk_test_dev_placeholder}"
    : "${STRIPE_WEBHOOK_SECRET:=whsec_dev_placeholder}"
    export NODE_ENV PORT HOST STRIPE_PUBLISHABLE_KEY STRIPE_WEBHOOK_SECRET
}

# Address to probe a shim bound to HOST.
probe_host() {
    case "$1" in
        '' | 0.0.0.0) printf '127.0.0.1' ;;
        :: | '[::]') printf '[::1]' ;;
        *:*) local h=${1#[}; printf '[%s]' "${h%]}" ;;
        *) printf '%s' "$1" ;;
    esac
}

# wait_for_shim PID URL [SECONDS]: until URL/healthz answers 200 or the shim exits.
wait_for_shim() {
    local pid=$1 url=$2 tries=$(( ${3:-30} * 10 ))
    while [ "$tries" -gt 0 ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if curl -fsS -o /dev/null -m 1 "$url/healthz" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

# stop_pid PID [SECONDS [SIGNAL]]: SIGTERM (or SIGNAL), then SIGKILL after the grace period.
stop_pid() {
    local pid=$1 tries=$(( ${2:-12} * 10 )) sig=${3:-TERM}
    kill -"$sig" "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ "$tries" -gt 0 ]; do
        sleep 0.1
        tries=$((tries - 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# end_run RC DIR MODE [PID...]: the end of a script with a throw-away cluster in DIR:
# stops the processes PID... (empty ones are skipped) and the cluster (pg_ctl stop
# mode MODE), then removes DIR after success, or keeps it and shows the last lines of
# its logs after a failure.
end_run() {
    local rc=$1 dir=$2 mode=$3 pid log
    shift 3
    for pid in "$@"; do
        [ -z "$pid" ] || stop_pid "$pid" 12
    done
    if [ -d "$dir/pgdata" ]; then
        cluster_stop "$dir" "$mode"
    fi
    if [ "$rc" -eq 0 ]; then
        rm -rf "$dir"
    elif [ -d "$dir" ]; then
        say "kept $dir"
        for log in "$dir/postgres.log" "$dir/shim.log"; do
            if [ -s "$log" ]; then
                echo "---- last lines of $log" >&2
                tail -n 30 "$log" >&2
            fi
        done
    fi
}

# on_exit FUNCTION: FUNCTION runs when the script ends, also on SIGINT and SIGTERM.
on_exit() {
    trap "$1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# raise_open_files: as many open files as the hard limit allows (at most 65,536), for the
# benches' thousands of connections.
raise_open_files() {
    local hard
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
    ulimit -n "$hard"
}

# A free TCP port on the loopback interface.
free_port() {
    node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# ---------------------------------------------------------------------------
# Bench tables

# search_table SHIM PGBENCH [LOAD]: the search bench's table, the shim's latencies
# (bench/search.mjs lines: name, requests, p50, p95, p99, rows) beside pgbench's on the
# same statement (bench/search-pgbench.sh lines: name, transactions, p50, p95, p99).
search_table() {
    local shim=$1 pg=$2 load=${3:-} name n p50 p95 p99 rows line
    declare -A pgp
    while IFS=$'\t' read -r name n p50 p95 p99; do
        [ -n "$name" ] && pgp[$name]="$p50 $p95 $p99"
    done <<<"$pg"
    printf '%-24s %6s | %-22s | %-22s | %4s\n' 'GET /api/v1/spaces?q=' n 'shim p50 / p95 / p99' \
        'pgbench p50 / p95 / p99' rows
    while IFS=$'\t' read -r name n p50 p95 p99 rows; do
        [ -n "$name" ] || continue
        read -r -a line <<<"${pgp[$name]:-- - -}"
        printf '%-24s %6s | %6s %6s %8s | %6s %6s %8s | %4s\n' "$name" "$n" "$p50" "$p95" "$p99" \
            "${line[0]}" "${line[1]}" "${line[2]}" "$rows"
    done <<<"$shim"
    echo "search: 10,000 published spaces of bench/search.sql besides the demo's; ms; one keep-alive connection"
    echo "        (shim) or one pgbench client (workon.dispatch, -M prepared), one request at a time;"
    echo "        rows = mean rows per answer${load:+; load average $load}"
}
