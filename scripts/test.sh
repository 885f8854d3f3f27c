#!/usr/bin/env bash
# Runs every test against a real Redis and a real MySQL-compatible server,
# installing (as root, via apt) and starting them when they are missing:
#
#   1. cargo test: unit tests, API suites, the end-to-end scenario, the
#      fault tests (services killed, MariaDB killed, Redis frozen, each on
#      servers of their own) and the secrets check;
#   2. static checks of the deployment files (compose, Dockerfile);
#   3. a local stack of both services (JWT mode), then the demo page in
#      headless Chromium, the k6 hot-seat, short rush and short bots
#      scripts (Prometheus scraping the rush, then every Grafana panel's
#      query checked for data: scripts/check-dashboards.sh), the gateway
#      test against nginx, and the contract test (Schemathesis against
#      both /openapi.json);
#   4. both container images built with podman and checked (fast form).
#
#   scripts/test.sh            everything
#   scripts/test.sh --cargo    only step 1 (extra arguments go to cargo test)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

cargo_only=false
if [[ ${1:-} == --cargo ]]; then
  cargo_only=true
  shift
fi

ensure_redis
ensure_mysql
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export TEST_DATABASE_URL="$MYSQL_ADMIN_URL"

log "cargo test --workspace"
cargo test --workspace --locked "$@"
$cargo_only && exit 0

log "deployment files"
bash scripts/check-deploy.sh

# One stack for the browser and k6 runs, on ports, a database and a Redis
# key prefix of its own, so a stack someone is running is left alone.
export QUEUE_PORT=${TEST_QUEUE_PORT:-18481} RESERVATION_PORT=${TEST_RESERVATION_PORT:-18482}
export WEB_PORT=${TEST_WEB_PORT:-18480}
export DB_NAME=concert_stack_test REDIS_KEY_PREFIX=stack-test: PROFILE=${PROFILE:-debug}
log "starting a $PROFILE stack on ports $QUEUE_PORT/$RESERVATION_PORT/$WEB_PORT"
mysql_admin -e "DROP DATABASE IF EXISTS \`$DB_NAME\`"
trap 'bash scripts/stop.sh' EXIT
bash scripts/run.sh --detach >target/test-stack.log 2>&1 \
  || { tail -n 40 target/test-stack.log >&2; die "the stack did not start (log: target/test-stack.log)"; }
export QUEUE_URL=http://127.0.0.1:$QUEUE_PORT API_URL=http://127.0.0.1:$RESERVATION_PORT
export WEB_URL=http://127.0.0.1:$WEB_PORT

log "browser test"
bash scripts/browser-test.sh
log "browser test: the operator page"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium} ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me} \
  timeout --kill-after=10 300 node --test-reporter=spec tests/browser/operator.test.mjs
log "k6: hot seat"
bash scripts/load.sh hot-seat
log "k6: short rush, scraped by a Prometheus of its own; then every dashboard query checked"
bash scripts/check-dashboards.sh -- bash scripts/load.sh rush --short
log "k6: bots (one address against the fans), short"
bash scripts/load.sh bots --short
log "gateway: impersonation through the shipped nginx config"
bash scripts/nginx-test.sh
log "contract: both services against their OpenAPI documents"
bash scripts/contract-test.sh
log "the README's Try it block"
bash scripts/readme-try-it.sh
bash scripts/stop.sh
trap - EXIT
log "replicas: two of each service behind nginx: rush, lease failover, rolling restart (~1 min)"
bash scripts/replicas-test.sh

log "container images (podman, fast form)"
bash scripts/check-images.sh
log "all tests passed"
