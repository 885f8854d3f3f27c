#!/usr/bin/env bash
# Starts the whole system locally: Redis and MariaDB (installed and started
# if missing), the queue service, the reservation service and the demo page;
# creates a demo queue and concert, plus a sale that opens a minute after
# the start (a pre-queue, a draw at the opening and a line of two active
# buyers, so a visitor has to wait); prints the URLs, ids and development keys.
#
#   scripts/run.sh            run in the foreground; Ctrl-C stops everything
#   scripts/run.sh --detach   leave it running; scripts/stop.sh stops it
#
# Environment: QUEUE_PORT (8081), RESERVATION_PORT (8082), WEB_PORT (8080),
# PROFILE (release|debug, default release), DB_NAME (concert),
# REDIS_KEY_PREFIX (empty), CARGO_TARGET_DIR (target). Stacks on different ports run side by side; give
# each its own DB_NAME and REDIS_KEY_PREFIX so they do not share data.
# Development keys (printed at start): QUEUE_TOKEN_SECRET, ADMIN_API_KEY,
# AUTH_JWT_SECRET; TRUSTED_PROXIES (127.0.0.1/32). The stack runs in JWT mode
# with the development sign-in on (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

detach=false
[[ ${1:-} == --detach ]] && detach=true

QUEUE_PORT=${QUEUE_PORT:-8081}
RESERVATION_PORT=${RESERVATION_PORT:-8082}
WEB_PORT=${WEB_PORT:-8080}
PROFILE=${PROFILE:-release}
DB_NAME=${DB_NAME:-concert}
RUN_DIR=target/run/$QUEUE_PORT
mkdir -p "$RUN_DIR"

ensure_redis
ensure_mysql
command -v python3 >/dev/null || install_packages python3

# Development values only; a real deployment sets its own.
export QUEUE_TOKEN_SECRET=${QUEUE_TOKEN_SECRET:-dev-queue-token-secret-change-me}
export ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me}
# Identity: JWT mode (Authorization: Bearer <JWT>, the user id is its sub),
# with the development sign-in on (POST /v1/dev/sign-in mints a token for
# any user id), so the demo page, curl and the k6 scripts need no identity
# provider. Both services get the same AUTH_* settings (the reservation
# service verifies the queue service's tokens); only queue-service mounts
# the sign-in. Never turn the sign-in on where real users are.
export AUTH_MODE=jwt
export AUTH_JWT_SECRET=${AUTH_JWT_SECRET:-dev-jwt-secret-change-me-0123456789abcdef}
export AUTH_DEV_SIGNIN=true
# Addresses whose X-Forwarded-For the services believe when they work out a
# client's address for the per-address limits. Loopback, because the k6
# bots scenario (scripts/load.sh bots) plays thousands of clients from this
# one machine: it connects from 127.0.0.1 and names each simulated client's
# address in X-Forwarded-For. Harmless here, since the services listen on
# 127.0.0.1 only; a real deployment lists its own load balancers instead.
export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1/32}
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export DATABASE_URL="$MYSQL_ADMIN_URL/$DB_NAME"
export CORS_ALLOWED_ORIGINS="http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT"
export RUST_LOG=${RUST_LOG:-info}

if [[ -f $RUN_DIR/pids ]]; then
  log "stopping the previous local run on these ports"
  QUEUE_PORT=$QUEUE_PORT bash scripts/stop.sh
fi

log "building both services ($PROFILE)"
if [[ $PROFILE == release ]]; then
  cargo build --release --locked -p queue-service -p reservation-service
else
  cargo build --locked -p queue-service -p reservation-service
fi
bin=${CARGO_TARGET_DIR:-target}/$PROFILE

mysql_admin -e "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`"

: >"$RUN_DIR/pids"
start() { # name, command...
  local name=$1; shift
  "$@" >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >>"$RUN_DIR/pids"
}
start queue-service env PORT="$QUEUE_PORT" "$bin/queue-service"
start reservation-service env PORT="$RESERVATION_PORT" "$bin/reservation-service"
start web python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory deploy/web

ready() { curl -fsS "$1" >/dev/null 2>&1; }
wait_for "queue-service (log: $RUN_DIR/queue-service.log)" 120 ready "http://127.0.0.1:$QUEUE_PORT/readyz"
wait_for "reservation-service (log: $RUN_DIR/reservation-service.log)" 120 ready "http://127.0.0.1:$RESERVATION_PORT/readyz"
wait_for "demo page server" 40 ready "http://127.0.0.1:$WEB_PORT/"

log "creating the demo queue and concert"
admin=(-fsS -H "Authorization: Bearer $ADMIN_API_KEY" -H 'Content-Type: application/json')
# No "limits": the demo queue keeps the default abuse limits (a PUT stores
# every setting, so this also resets limits an earlier run may have set).
curl "${admin[@]}" -X PUT "http://127.0.0.1:$QUEUE_PORT/v1/admin/queues/demo" \
  -d '{"max_active": 50, "admit_per_second": 5, "active_ttl_seconds": 600, "heartbeat_ttl_seconds": 60}' >/dev/null
now=$(date -u +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
if ! curl -fsS "http://127.0.0.1:$RESERVATION_PORT/v1/concerts" | grep -q '"queue_id":"demo"'; then
  curl "${admin[@]}" -X POST "http://127.0.0.1:$RESERVATION_PORT/v1/admin/concerts" -d "{
    \"title\": \"Demo Night\", \"queue_id\": \"demo\",
    \"schedules\": [{\"starts_at\": \"$(iso $((now + 30 * 86400)))\",
                     \"booking_opens_at\": \"$(iso $((now - 3600)))\",
                     \"booking_closes_at\": \"$(iso $((now + 29 * 86400)))\",
                     \"seat_count\": 100, \"price\": 5000}]}" >/dev/null
fi

# A sale where the visitor has to wait: it opens a minute from now (until
# then joiners are in the pre-queue, ordered by a draw at the opening), two
# buyers at a time, one more a second, 20 seats. A new queue and concert per
# start, so the opening is always ahead.
opening_id=opening-$now
opens_at=$(iso $((now + 60)))
curl "${admin[@]}" -X PUT "http://127.0.0.1:$QUEUE_PORT/v1/admin/queues/$opening_id" \
  -d "{\"max_active\": 2, \"admit_per_second\": 1, \"active_ttl_seconds\": 300, \"heartbeat_ttl_seconds\": 60,
       \"opens_at\": \"$opens_at\", \"prequeue_spread_seconds\": 5}" >/dev/null
opening_concert=$(curl "${admin[@]}" -X POST "http://127.0.0.1:$RESERVATION_PORT/v1/admin/concerts" -d "{
  \"title\": \"Opening Night\", \"queue_id\": \"$opening_id\",
  \"schedules\": [{\"starts_at\": \"$(iso $((now + 30 * 86400)))\",
                   \"booking_opens_at\": \"$(iso $((now - 3600)))\",
                   \"booking_closes_at\": \"$(iso $((now + 29 * 86400)))\",
                   \"seat_count\": 20, \"price\": 7500}]}" \
  | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["id"], c["schedules"][0]["id"])')
read -r opening_concert_id opening_schedule_id <<<"$opening_concert"
page_query="queue_url=http://127.0.0.1:$QUEUE_PORT&api_url=http://127.0.0.1:$RESERVATION_PORT"

cat <<INFO

  Demo page          http://127.0.0.1:$WEB_PORT/?$page_query
  A sale to wait for http://127.0.0.1:$WEB_PORT/?$page_query&queue_id=$opening_id
                     queue $opening_id opens at $opens_at (pre-queue and draw until then),
                     max_active 2; concert $opening_concert_id, schedule $opening_schedule_id, 20 seats at 7,500
  Operator page      http://127.0.0.1:$WEB_PORT/operator.html?queue_url=http://127.0.0.1:$QUEUE_PORT
                     every queue's figures and settings; type the admin key below
  Queue service      http://127.0.0.1:$QUEUE_PORT   (OpenAPI: /openapi.json, metrics: /metrics)
  Reservation        http://127.0.0.1:$RESERVATION_PORT   (OpenAPI: /openapi.json, metrics: /metrics)
  Demo queue id      demo
  Admin key          $ADMIN_API_KEY
  Token secret       $QUEUE_TOKEN_SECRET
  JWT secret         $AUTH_JWT_SECRET   (AUTH_MODE=jwt, development sign-in on)
  Trusted proxies    $TRUSTED_PROXIES   (their X-Forwarded-For names the client)
  Logs               $RUN_DIR/*.log

  Sign in as any user (development only) and call either service with the token:
    TOKEN=\$(curl -fsS -X POST http://127.0.0.1:$QUEUE_PORT/v1/dev/sign-in \\
      -H 'Content-Type: application/json' -d '{"user_id":"alice"}' \\
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -X POST http://127.0.0.1:$QUEUE_PORT/v1/queues/demo/tokens -H "Authorization: Bearer \$TOKEN"
    curl http://127.0.0.1:$RESERVATION_PORT/v1/users/me/balance -H "Authorization: Bearer \$TOKEN"
  X-User-Id is ignored in JWT mode. Tokens last ${AUTH_DEV_SIGNIN_TTL_SECONDS:-900} s (AUTH_DEV_SIGNIN_TTL_SECONDS).

INFO

if $detach; then
  log "running in the background; stop with QUEUE_PORT=$QUEUE_PORT scripts/stop.sh"
  exit 0
fi
trap 'QUEUE_PORT=$QUEUE_PORT bash scripts/stop.sh; exit 0' INT TERM
log "press Ctrl-C to stop"
wait
