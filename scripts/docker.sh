#!/usr/bin/env bash
# scripts/docker.sh (make docker) -- build the images of docker/Dockerfile when a
# container engine is running here; otherwise say so and how to build them elsewhere.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    cat >&2 <<'MSG'
workon: no container engine is running on this machine; nothing built.
Where Docker runs, from the repository root:
  docker compose -f docker/compose.yaml build
  cp docker/workon.env.example docker/workon.env    # edit the secrets
  docker compose -f docker/compose.yaml up
MSG
    exit 0
fi

if docker compose version >/dev/null 2>&1; then
    exec docker compose -f docker/compose.yaml build
fi
# the engine without the compose plugin: the two targets one by one
docker build -f docker/Dockerfile --target db -t workon-db:0.1.0 .
docker build -f docker/Dockerfile --target shim -t workon-shim:0.1.0 .
