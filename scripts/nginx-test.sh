#!/usr/bin/env bash
# Tests the shipped gateway config (deploy/nginx) with a real nginx
# (Debian's `nginx` package, installed when missing and root): nobody can
# impersonate another user through the gateway, in either auth mode.
#
# The gateway runs on loopback from a rendering of the shipped files, never
# the system nginx service: deploy/nginx/proxy.inc is included as it is (by
# its path in this checkout), and deploy/nginx/default.conf is rewritten
# only where a container setting cannot work here: the upstream hosts
# (queue-service:8080, reservation-service:8080) become 127.0.0.1:<port>,
# the listen ports become free loopback ports, Docker's `resolver` line goes
# (upstreams are IP addresses now), and the container paths point into this
# checkout. Any other change to default.conf shows up here, or makes the
# rewrite fail loudly.
#
#   JWT mode (AUTH_MODE=jwt), against a running stack: the one on
#   QUEUE_PORT/RESERVATION_PORT (default 8081/8082) that scripts/run.sh
#   starts, or QUEUE_URL and API_URL (both) for any other; with neither, it
#   starts `scripts/run.sh --detach` (PROFILE debug unless set) and stops it
#   at the end. The stack needs the development sign-in (run.sh has it on).
#     - through the gateway, X-User-Id: alice alone is 401 JWT_MISSING at
#       both services;
#     - Mallory's bearer token (development sign-in) plus X-User-Id: alice
#       acts as mallory at both services.
#   Trusted-header mode (AUTH_MODE=trusted-header): one queue-service and
#   one reservation-service of target/debug (built when missing) on free
#   ports, with a Redis key prefix and a scratch database of their own,
#   behind a second loopback gateway:
#     - a client's X-User-Id: alice (any spelling, or sent twice) does not
#       get through the gateway: 401 USER_ID_MISSING at both services;
#     - sent straight to the services (no gateway) the same request is
#       alice: the gateway is what protects that mode.
#
# Prints a PASS/FAIL table; exits non-zero when any check fails. Cleans up
# everything it started (gateways, services, scratch database, Redis keys,
# its test queue, and the stack if it started one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

repo=$PWD
ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nginx-test.XXXXXX")
suffix=$$
nginx_pids=()
service_pids=()
stack_started=false
jwt_queue=
jwt_queue_url=
scratch_db=
redis_prefix=

cleanup() {
  set +e
  local pid
  for pid in "${nginx_pids[@]}"; do kill -QUIT "$pid" 2>/dev/null; done
  for pid in "${service_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${nginx_pids[@]}" "${service_pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ -n $jwt_queue ]]; then
    curl -sS -m 5 -o /dev/null -X DELETE -H "Authorization: Bearer $ADMIN_API_KEY" \
      "$jwt_queue_url/v1/admin/queues/$jwt_queue" 2>/dev/null
  fi
  if [[ -n $scratch_db ]]; then mysql_admin -e "DROP DATABASE IF EXISTS \`$scratch_db\`" 2>/dev/null; fi
  if [[ -n $redis_prefix ]]; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern "${redis_prefix}*" 2>/dev/null \
      | xargs -r -n 500 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" DEL >/dev/null 2>&1
  fi
  if $stack_started; then
    log "stopping the stack this test started"
    QUEUE_PORT=$stack_queue_port bash scripts/stop.sh
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- nginx, never as the system service
nginx_bin=$(nginx_path)
command -v python3 >/dev/null || install_packages python3

free_ports() { # count
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# host:port (IPv4 address) of an http URL, for an upstream nginx needs no
# resolver for.
upstream_of() {
  python3 - "$1" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
if u.scheme != "http" or not u.hostname:
    sys.exit(f"nginx-test: {sys.argv[1]} is not an http://host:port URL")
print(f"{socket.gethostbyname(u.hostname)}:{u.port or 80}")
PY
}

# render DIR WEB_PORT GATEWAY_QUEUE_PORT GATEWAY_RESERVATION_PORT QUEUE_UPSTREAM RESERVATION_UPSTREAM
render() {
  local dir=$1
  mkdir -p "$dir/tmp"
  python3 - "$repo" "$@" <<'PY'
import re, sys
repo, out, web, gq, gr, uq, ur = sys.argv[1:8]
src = f"{repo}/deploy/nginx/default.conf"
text = open(src).read()

def sub(pattern, repl, expect):
    global text
    text, n = re.subn(pattern, repl, text, flags=re.M)
    if n != expect:
        sys.exit(f"nginx-test: expected {expect} match(es) of {pattern!r} in {src}, found {n}; "
                 "update the rewrite in scripts/nginx-test.sh")

sub(r"^[ \t]*resolver[ \t][^;]*;[ \t]*\n", "", 1)
sub(r"http://queue-service:8080\b", f"http://{uq}", 1)
sub(r"http://reservation-service:8080\b", f"http://{ur}", 1)
sub(r"\blisten 8080;", f"listen 127.0.0.1:{web};", 1)
sub(r"\blisten 8081;", f"listen 127.0.0.1:{gq};", 1)
sub(r"\blisten 8082;", f"listen 127.0.0.1:{gr};", 1)
sub(r"include /etc/nginx/conf\.d/proxy\.inc;", f"include {repo}/deploy/nginx/proxy.inc;", 2)
sub(r"root /usr/share/nginx/html;", f"root {repo}/deploy/web;", 1)
for leftover in ("/etc/nginx", "queue-service:", "reservation-service:", "resolver"):
    if re.search(rf"^[^#]*{re.escape(leftover)}", text, flags=re.M):
        sys.exit(f"nginx-test: {leftover!r} is still in the rendered {src}; update the rewrite")
open(f"{out}/default.conf", "w").write(text)

# What the nginx image's own nginx.conf provides around conf.d/*.conf.
open(f"{out}/nginx.conf", "w").write(f"""worker_processes 1;
pid {out}/nginx.pid;
error_log {out}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log {out}/access.log;
    client_body_temp_path {out}/tmp/client_body;
    proxy_temp_path {out}/tmp/proxy;
    fastcgi_temp_path {out}/tmp/fastcgi;
    uwsgi_temp_path {out}/tmp/uwsgi;
    scgi_temp_path {out}/tmp/scgi;
    include {out}/default.conf;
}}
""")
PY
}

start_nginx() { # dir, health URL through it
  local dir=$1 health=$2
  "$nginx_bin" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    || die "the rendered gateway config does not load (see $dir/default.conf)"
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' >"$dir/stdout.log" 2>&1 &
  nginx_pids+=($!)
  wait_for "nginx ($dir/error.log)" 40 curl -fsS -m 2 -o /dev/null "$health"
}

ready() { curl -fsS -m 2 -o /dev/null "$1/readyz" 2>/dev/null; }

# --- checks and the table
results=()
failures=0
status= body=
call() { # curl arguments; sets status and body
  local out
  out=$(curl -sS -m 10 -o "$tmp/body" -w '%{http_code}' "$@") || out=000
  status=$out
  body=$(cat "$tmp/body" 2>/dev/null || true)
}
field() { # json field of $body ('' when absent)
  python3 -c 'import json,sys
try: v = json.loads(sys.argv[1]).get(sys.argv[2])
except Exception: v = None
print("" if v is None else v)' "$body" "$1"
}
token_user() { # the user a queue token in $body was issued to (its payload is queue:user:seq)
  python3 -c 'import base64,json,sys
try:
    t = json.loads(sys.argv[1])["token"].split(".")[1]
    print(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)).decode().split(":")[1])
except Exception:
    print("")' "$body"
}
record() { # ok(true|false) mode via check got
  local verdict=PASS
  if ! $1; then verdict=FAIL; failures=$((failures + 1)); fi
  results+=("$verdict|$2|$3|$4|$5")
}
expect_problem() { # mode via check status code curl-args...
  local mode=$1 via=$2 what=$3 want_status=$4 want_code=$5; shift 5
  call "$@"
  local got_code
  got_code=$(field code)
  if [[ $status == "$want_status" && $got_code == "$want_code" ]]; then ok=true; else ok=false; fi
  record $ok "$mode" "$via" "$what" "$status ${got_code:-$(head -c 80 <<<"$body")}"
}
expect_balance_of() { # mode via check user curl-args...
  local mode=$1 via=$2 what=$3 want=$4; shift 4
  call "$@"
  local got
  got=$(field user_id)
  if [[ $status == 200 && $got == "$want" ]]; then ok=true; else ok=false; fi
  record $ok "$mode" "$via" "$what" "$status user_id=${got:-$(head -c 80 <<<"$body")}"
}
expect_place_of() { # mode via check user curl-args...
  local mode=$1 via=$2 what=$3 want=$4; shift 4
  call "$@"
  local got
  got=$(token_user)
  if [[ ($status == 201 || $status == 200) && $got == "$want" ]]; then ok=true; else ok=false; fi
  record $ok "$mode" "$via" "$what" "$status token for ${got:-$(head -c 80 <<<"$body")}"
}

# ============================ JWT mode ============================
if [[ -n ${QUEUE_URL:-} || -n ${API_URL:-} ]]; then
  [[ -n ${QUEUE_URL:-} && -n ${API_URL:-} ]] || die "set both QUEUE_URL and API_URL"
  queue_url=${QUEUE_URL%/} api_url=${API_URL%/}
  { ready "$queue_url" && ready "$api_url"; } || die "$queue_url or $api_url is not ready"
else
  stack_queue_port=${QUEUE_PORT:-8081}
  stack_reservation_port=${RESERVATION_PORT:-8082}
  queue_url=http://127.0.0.1:$stack_queue_port api_url=http://127.0.0.1:$stack_reservation_port
  if ready "$queue_url" && ready "$api_url"; then
    log "using the stack already running on ports $stack_queue_port/$stack_reservation_port"
  else
    log "starting the local stack on ports $stack_queue_port/$stack_reservation_port (PROFILE=${PROFILE:-debug})"
    stack_started=true
    mkdir -p target
    QUEUE_PORT=$stack_queue_port RESERVATION_PORT=$stack_reservation_port WEB_PORT=${WEB_PORT:-8080} \
      PROFILE=${PROFILE:-debug} bash scripts/run.sh --detach >target/nginx-test-stack.log 2>&1 \
      || { tail -n 40 target/nginx-test-stack.log >&2; die "the local stack did not start (log: target/nginx-test-stack.log)"; }
  fi
fi

read -r web1 gq1 gr1 < <(free_ports 3)
render "$tmp/jwt" "$web1" "$gq1" "$gr1" "$(upstream_of "$queue_url")" "$(upstream_of "$api_url")"
log "JWT mode: gateway on 127.0.0.1:$gq1 -> $queue_url, 127.0.0.1:$gr1 -> $api_url"
start_nginx "$tmp/jwt" "http://127.0.0.1:$gq1/healthz"
gq=http://127.0.0.1:$gq1 gr=http://127.0.0.1:$gr1

jwt_queue=nginx-test-$suffix jwt_queue_url=$queue_url
call -X PUT "$queue_url/v1/admin/queues/$jwt_queue" -H "Authorization: Bearer $ADMIN_API_KEY" \
  -H 'Content-Type: application/json' \
  -d '{"max_active": 10, "admit_per_second": 10, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 60}'
[[ $status == 201 || $status == 200 ]] || die "cannot create the test queue at $queue_url (HTTP $status: $body; ADMIN_API_KEY?)"

expect_problem jwt gateway "queue: X-User-Id alice alone is refused" 401 JWT_MISSING \
  -X POST "$gq/v1/queues/$jwt_queue/tokens" -H 'X-User-Id: alice'
expect_problem jwt gateway "reservation: X-User-Id alice alone is refused" 401 JWT_MISSING \
  "$gr/v1/users/me/balance" -H 'X-User-Id: alice'
expect_problem jwt direct "reservation: X-User-Id alice alone is refused" 401 JWT_MISSING \
  "$api_url/v1/users/me/balance" -H 'X-User-Id: alice'

call -X POST "$gq/v1/dev/sign-in" -H 'Content-Type: application/json' -d '{"user_id":"mallory"}'
mallory=$(field access_token)
if [[ $status == 200 && -n $mallory ]]; then ok=true; else ok=false; fi
record $ok jwt gateway "mallory signs in (development sign-in)" "$status $(field user_id)"
if $ok; then
  expect_balance_of jwt gateway "reservation: mallory's token + X-User-Id alice is mallory" mallory \
    "$gr/v1/users/me/balance" -H "Authorization: Bearer $mallory" -H 'X-User-Id: alice'
  expect_place_of jwt gateway "queue: mallory's token + X-User-Id alice is mallory" mallory \
    -X POST "$gq/v1/queues/$jwt_queue/tokens" -H "Authorization: Bearer $mallory" -H 'X-User-Id: alice'
else
  log "the stack at $queue_url has no development sign-in (AUTH_DEV_SIGNIN=true): $body"
fi

# ======================== trusted-header mode ========================
ensure_redis
ensure_mysql
if [[ ! -x target/debug/queue-service || ! -x target/debug/reservation-service ]]; then
  log "building target/debug/queue-service and reservation-service"
  cargo build --locked -p queue-service -p reservation-service
fi
read -r q2 r2 web2 gq2 gr2 < <(free_ports 5)
scratch_db=concert_nginx_test_$suffix
redis_prefix=nginx-test-$suffix:
mysql_admin -e "DROP DATABASE IF EXISTS \`$scratch_db\`; CREATE DATABASE \`$scratch_db\`"
trusted_env=(
  env -u AUTH_JWT_SECRET -u AUTH_JWT_PUBLIC_KEY_FILE -u AUTH_JWT_JWKS_FILE -u AUTH_DEV_SIGNIN
  -u AUTH_JWT_ISSUER -u AUTH_JWT_AUDIENCE -u CONFIG_FILE
  AUTH_MODE=trusted-header
  QUEUE_TOKEN_SECRET=nginx-test-queue-token-secret
  ADMIN_API_KEY="$ADMIN_API_KEY"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  REDIS_KEY_PREFIX="$redis_prefix"
  DATABASE_URL="$MYSQL_ADMIN_URL/$scratch_db"
  RUST_LOG=warn
)
log "trusted-header mode: queue-service on :$q2, reservation-service on :$r2 (logs in $tmp)"
"${trusted_env[@]}" PORT="$q2" target/debug/queue-service >"$tmp/queue-service.log" 2>&1 &
service_pids+=($!)
"${trusted_env[@]}" PORT="$r2" target/debug/reservation-service >"$tmp/reservation-service.log" 2>&1 &
service_pids+=($!)
service_up() { # name, pid, URL, log: waits up to 60 s, or dies showing the log
  local name=$1 pid=$2 url=$3 logfile=$4
  for ((i = 0; i < 240; i++)); do
    ready "$url" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  tail -n 20 "$logfile" >&2
  die "$name in trusted-header mode did not come up (log above)"
}
service_up queue-service "${service_pids[0]}" "http://127.0.0.1:$q2" "$tmp/queue-service.log"
service_up reservation-service "${service_pids[1]}" "http://127.0.0.1:$r2" "$tmp/reservation-service.log"

render "$tmp/trusted" "$web2" "$gq2" "$gr2" "127.0.0.1:$q2" "127.0.0.1:$r2"
log "trusted-header mode: gateway on 127.0.0.1:$gq2 and 127.0.0.1:$gr2"
start_nginx "$tmp/trusted" "http://127.0.0.1:$gq2/healthz"
gq=http://127.0.0.1:$gq2 gr=http://127.0.0.1:$gr2
direct_q=http://127.0.0.1:$q2 direct_r=http://127.0.0.1:$r2

call -X PUT "$direct_q/v1/admin/queues/th" -H "Authorization: Bearer $ADMIN_API_KEY" \
  -H 'Content-Type: application/json' \
  -d '{"max_active": 10, "admit_per_second": 10, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 60}'
[[ $status == 201 ]] || die "cannot create a queue on the trusted-header queue-service (HTTP $status: $body)"

expect_problem trusted-header gateway "reservation: X-User-Id alice does not get through" 401 USER_ID_MISSING \
  "$gr/v1/users/me/balance" -H 'X-User-Id: alice'
expect_problem trusted-header gateway "queue: X-User-Id alice does not get through" 401 USER_ID_MISSING \
  -X POST "$gq/v1/queues/th/tokens" -H 'X-User-Id: alice'
expect_problem trusted-header gateway "reservation: x-user-id (lower case) does not either" 401 USER_ID_MISSING \
  "$gr/v1/users/me/balance" -H 'x-user-id: alice'
expect_problem trusted-header gateway "reservation: X-User-Id sent twice does not either" 401 USER_ID_MISSING \
  "$gr/v1/users/me/balance" -H 'X-User-Id: alice' -H 'X-User-Id: bob'
expect_balance_of trusted-header direct "reservation: X-User-Id alice is alice" alice \
  "$direct_r/v1/users/me/balance" -H 'X-User-Id: alice'
expect_place_of trusted-header direct "queue: X-User-Id alice is alice" alice \
  -X POST "$direct_q/v1/queues/th/tokens" -H 'X-User-Id: alice'

# ============================ the table ============================
printf '\n%-6s  %-14s  %-7s  %-58s  %s\n' RESULT MODE VIA CHECK GOT
for row in "${results[@]}"; do
  IFS='|' read -r verdict mode via what got <<<"$row"
  printf '%-6s  %-14s  %-7s  %-58s  %s\n' "$verdict" "$mode" "$via" "$what" "$got"
done
echo
if ((failures > 0)); then
  die "$failures of ${#results[@]} gateway checks failed"
fi
log "all ${#results[@]} gateway checks passed"
