#!/usr/bin/env bash
# bench/search-pgbench.sh -- latency of the statement behind GET /api/v1/spaces?q= through
# pgbench, the same queries as bench/search.mjs, for the side-by-side table of the search
# bench (scripts/bench.sh, scripts/bench-search.sh).
#
#   bench/search-pgbench.sh <pgbench> <socket dir> <port> <database> <handler oid> [transactions per query]
#
# One client, one transaction after the other (-c 1 -M prepared), as user
# workon_authenticator like the shim; pgbench's per-transaction log gives the latencies.
# Prints one tab-separated line per query: name, transactions, p50 ms, p95 ms, p99 ms.
set -euo pipefail
pgbench=$1 sock=$2 port=$3 db=$4 fn=$5 n=${6:-2000}
script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/search-q.sql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

run() {
    local name=$1 words=$2 sort=$3
    local args=(-n -M prepared -c 1 -f "$script" -D fn="$fn" -D words="$words" -D sort="$sort"
        -h "$sock" -p "$port" -U workon_authenticator "$db")
    "$pgbench" "${args[@]}" -t 50 >/dev/null # warm-up
    rm -f pgbench_log.*
    "$pgbench" "${args[@]}" -t "$n" -l >/dev/null
    # the third field of a log line is the transaction's latency in microseconds
    awk '{print $3 / 1000}' pgbench_log.* | sort -n | awk -v name="$name" '
        { a[NR] = $1 }
        function pct(p) { i = int(p / 100 * NR) + 1; return a[i > NR ? NR : i] }
        END { printf "%s\t%d\t%.2f\t%.2f\t%.2f\n", name, NR, pct(50), pct(95), pct(99) }'
}

run 'rare word (1 %)' 'rare%s' -
run 'common word (10 %)' skylight -
run 'two words' 'rare%s quiet' -
run 'rare word, sort=price' 'rare%s' price
