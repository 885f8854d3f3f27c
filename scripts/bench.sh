#!/usr/bin/env bash
# Benchmarks both services against their ceilings on this machine, in one
# run, and prints the table recorded in BENCHMARKS.md. Starts its own Redis
# and MariaDB on free ports (never touching the shared ones), builds release
# binaries, runs every scenario, then cleans up. About 5 minutes after the
# build; `--smoke` runs each scenario for a second on debug binaries (CI
# uses it to prove the harness still works; its figures mean nothing).
# `--only holds,payments` runs some scenario groups (queue, limits, line,
# ticks, polling, cluster, holds, hot-seat, payments). `--serve` starts
# everything, prints the suite command, and waits (for profiling with perf;
# Ctrl-C cleans up).
#
# The `cluster` group (in the full run, in `--smoke`, and by name) also
# starts a private Redis Cluster of three masters on free loopback ports
# and a second queue-service on it (REDIS_CLUSTER_URLS), and runs the same
# heartbeat and issue load against both queue services. The masters have no
# replicas unless BENCH_CLUSTER_REPLICAS=1 (one each: six nodes, each write
# also streamed to a replica on the same two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

suite_args=()
serve=false
cluster=true
profile=${PROFILE:-release}
while (($#)); do
  case $1 in
    --smoke) suite_args+=(--smoke); profile=${PROFILE:-debug} ;;
    --only)
      suite_args+=(--only "$2")
      [[ ,$2, == *,cluster,* ]] || cluster=false
      shift
      ;;
    --serve) serve=true ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || install_packages redis-server redis-tools
command -v mariadb-install-db >/dev/null || [[ -x /usr/bin/mariadb-install-db ]] || install_packages mariadb-server

work=$(mktemp -d "${TMPDIR:-/tmp}/concert-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pidfile in "$work"/redis*.pid; do
    [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  [[ -f $work/mysql.pid ]] && kill "$(cat "$work/mysql.pid")" 2>/dev/null || true
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# N free ports for cluster nodes, in 20000..30000 so that each node's bus
# (port + 10000) is free too and can never be another node's port.
cluster_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randrange(20000, 30000)
    if p not in ports and free(p) and free(p + 10000):
        ports.append(p)
print(" ".join(map(str, ports)))
PY
}
redis_port=$(free_port)
mysql_port=$(free_port)
queue_port=$(free_port)
reservation_port=$(free_port)

log "building $profile binaries"
profile_flag=()
[[ $profile == release ]] && profile_flag=(--release)
cargo build "${profile_flag[@]}" --locked -p queue-service -p reservation-service -p tests \
  --bin queue-service --bin reservation-service --bin loadgen 2>&1 | tail -n 1
bin=${CARGO_TARGET_DIR:-target}/$profile

log "private redis on :$redis_port"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log" --dir "$work"
wait_for redis 40 redis-cli -p "$redis_port" ping

cluster_args=()
if $cluster; then
  replicas=${BENCH_CLUSTER_REPLICAS:-0}
  read -ra nodes <<<"$(cluster_ports $((3 * (1 + replicas))))"
  log "private redis cluster: 3 masters, $replicas replica(s) each, on :${nodes[*]}"
  for port in "${nodes[@]}"; do
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 2000 \
      --save "" --appendonly no --daemonize yes --dir "$work" \
      --pidfile "$work/redis-$port.pid" --logfile "$work/redis-$port.log"
  done
  for port in "${nodes[@]}"; do wait_for "cluster node $port" 40 redis-cli -p "$port" ping; done
  redis-cli --cluster create "${nodes[@]/#/127.0.0.1:}" --cluster-replicas "$replicas" \
    --cluster-yes >"$work/cluster-create.log" 2>&1 \
    || { cat "$work/cluster-create.log" >&2; die "redis-cli --cluster create failed"; }
  cluster_ok() { redis-cli -p "$1" cluster info | grep -q '^cluster_state:ok'; }
  for port in "${nodes[@]}"; do wait_for "cluster node $port to agree" 120 cluster_ok "$port"; done
  cluster_urls=$(printf 'redis://127.0.0.1:%s,' "${nodes[@]}")
  cluster_urls=${cluster_urls%,}
  cluster_queue_port=$(free_port)
fi

log "private mariadb on :$mysql_port"
mariadb-install-db --no-defaults --datadir="$work/mysql" --user="$(id -un)" \
  --auth-root-authentication-method=normal --skip-test-db >"$work/mysql-install.log" 2>&1
mariadbd --no-defaults --datadir="$work/mysql" --port="$mysql_port" --bind-address=127.0.0.1 \
  --socket="$work/mysql.sock" --pid-file="$work/mysql.pid" --user="$(id -un)" \
  --innodb-buffer-pool-size=256M --skip-log-bin --max-connections=2000 >"$work/mysql.log" 2>&1 &
wait_for mariadb 120 mysql_client -h 127.0.0.1 -P "$mysql_port" -uroot -e 'SELECT 1'
mysql_client -h 127.0.0.1 -P "$mysql_port" -uroot -e 'CREATE DATABASE bench'
mysql_url="mysql://root@127.0.0.1:$mysql_port/bench"

export QUEUE_TOKEN_SECRET=bench-queue-token-secret-0123456789
export ADMIN_API_KEY=bench-admin-key-0123456789
export REDIS_URL="redis://127.0.0.1:$redis_port" RUST_LOG=warn
# The benchmark ticks by hand; a running scheduler would move its lines.
# The load generator names its users in X-User-Id (trusted-header mode: the
# figures are the queue's, not a JWT library's), and plays many client
# addresses through X-Forwarded-For, so it is a trusted proxy here.
export AUTH_MODE=trusted-header TRUSTED_PROXIES=127.0.0.1/32
APP__SCHEDULER__ENABLED=false PORT=$queue_port $bin/queue-service >"$work/queue.log" 2>&1 &
pids+=($!)
queue_pid=$!
DATABASE_URL=$mysql_url PORT=$reservation_port $bin/reservation-service >"$work/reservation.log" 2>&1 &
pids+=($!)
reservation_pid=$!
if $cluster; then
  REDIS_CLUSTER_URLS=$cluster_urls APP__SCHEDULER__ENABLED=false PORT=$cluster_queue_port \
    $bin/queue-service >"$work/queue-cluster.log" 2>&1 &
  pids+=($!)
  cluster_args=(--cluster-queue-addr "127.0.0.1:$cluster_queue_port" --cluster-urls "$cluster_urls")
fi
ready() { curl -fsS "$1" >/dev/null 2>&1; }
wait_for queue-service 80 ready "http://127.0.0.1:$queue_port/readyz"
if $cluster; then
  wait_for "queue-service on the cluster" 80 ready "http://127.0.0.1:$cluster_queue_port/readyz"
fi
wait_for reservation-service 120 ready "http://127.0.0.1:$reservation_port/readyz"

suite=("$bin/loadgen" suite --queue-addr "127.0.0.1:$queue_port" --reservation-addr "127.0.0.1:$reservation_port"
  --redis-port "$redis_port" --mysql-url "$mysql_url" --queue-pid "$queue_pid" --reservation-pid "$reservation_pid"
  "${cluster_args[@]}")
if $serve; then
  log "serving; queue-service pid $queue_pid, reservation-service pid $reservation_pid, mariadbd pid $(cat "$work/mysql.pid")"
  printf 'QUEUE_TOKEN_SECRET=%s ADMIN_API_KEY=%s %s\n' "$QUEUE_TOKEN_SECRET" "$ADMIN_API_KEY" "${suite[*]}"
  sleep infinity
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
log "running the scenarios (machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average $(load))"
"${suite[@]}" "${suite_args[@]}"
log "done at $(date -u +%H:%M) UTC; load average $(load) (1, 5, 15 min; the benchmark's own load included)"
