#!/usr/bin/env bash
# scripts/deps.sh -- make sure the Debian 12 packages workon needs are installed.
# As root, installs the missing ones with apt-get; otherwise prints the command and
# exits 1. Quiet when nothing is missing. --sanitizers (make fuzz, SANITIZE=1) also asks
# for clang and its libFuzzer and sanitizer runtimes.
set -euo pipefail

packages=(
    build-essential pkg-config
    postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
    libh2o-evloop-dev libwslay-dev libssl-dev zlib1g-dev
    curl wrk nghttp2-client
    libcmark-dev
    chromium
    pgbouncer
)
if [ "${1:-}" = --sanitizers ] || [ "${SANITIZE:-}" = 1 ]; then
    packages+=(clang libclang-rt-14-dev)
fi

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "workon: this script knows Debian 12 only; install the equivalents of: ${packages[*]} nodejs (>= 18)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done
# Node.js >= 18 runs the HTTP tests and the benchmark helpers; any installation will do.
if ! command -v node >/dev/null 2>&1 ||
    ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' 2>/dev/null; then
    missing+=(nodejs)
fi

# npm installs the test packages (test/browser and test/http package-lock.json)
command -v npm >/dev/null 2>&1 || missing+=(npm)

# the npm packages of the browser tests (Puppeteer, axe) and of the HTTP tests (Ajv and
# Redocly's OpenAPI linter), from their lock files, when missing or older than them
npm_packages() {
    local root dir
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    for dir in "$root/test/browser" "$root/test/http"; do
        [ -f "$dir/package-lock.json" ] || continue
        if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
            echo "workon: npm ci in ${dir#"$root"/}" >&2
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) && touch "$dir/node_modules"
        fi
    done
}

if [ ${#missing[@]} -eq 0 ]; then
    npm_packages
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "workon: missing packages; install them as root with:" >&2
    echo "apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
fi

echo "workon: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
npm_packages
