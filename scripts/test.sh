#!/usr/bin/env bash
# Runs every test of the workspace against a real Redis and a real
# MySQL-compatible server, installing (as root, via apt) and starting them
# when they are missing. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_redis
ensure_mysql
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export TEST_DATABASE_URL="$MYSQL_ADMIN_URL"

log "cargo test --workspace"
cargo test --workspace --locked "$@"
