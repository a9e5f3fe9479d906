#!/usr/bin/env bash
# scripts/settings-table.sh -- the README's settings table, generated from
# `shim/workon-shim --help` (build the shim first: make shim).
set -euo pipefail
bin=${1:-$(dirname "${BASH_SOURCE[0]}")/../shim/workon-shim}
"$bin" --help | awk '
    /^  NAME / { name = index($0, "NAME"); def = index($0, "DEFAULT"); mean = index($0, "MEANING"); in_table = 1;
                 print "| name | default | meaning |"; print "|---|---|---|"; next }
    in_table && /^  [A-Z]/ {
        n = substr($0, name, def - name); d = substr($0, def, mean - def); m = substr($0, mean)
        gsub(/ +$/, "", n); gsub(/ +$/, "", d); gsub(/\|/, "\\|", m)
        if (d == "-") d = "–"; else if (d == "") d = "(empty)"; else d = "`" d "`"
        print "| `" n "` | " d " | " m " |"; next }
    in_table && /^$/ { in_table = 0 }'
