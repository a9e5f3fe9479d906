#!/bin/sh
# Runs once, when the db container initialises an empty data directory: creates the
# extension in $POSTGRES_DB and gives the shim's login role its password.
set -eu
: "${WORKON_AUTHENTICATOR_PASSWORD:?WORKON_AUTHENTICATOR_PASSWORD is required}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v pw="$WORKON_AUTHENTICATOR_PASSWORD" <<'SQL'
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
ALTER ROLE workon_authenticator PASSWORD :'pw';
SQL
