#!/usr/bin/env bash
# Stops what scripts/run.sh started on QUEUE_PORT (default 8081); the
# services get SIGTERM and drain.
set -uo pipefail
cd "$(dirname "$0")/.."
pids=target/run/${QUEUE_PORT:-8081}/pids
[[ -f $pids ]] || exit 0
while read -r pid; do
  kill -TERM "$pid" 2>/dev/null
done <"$pids"
for _ in $(seq 1 40); do
  alive=false
  while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=true; done <"$pids"
  $alive || break
  sleep 0.25
done
while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$pids"
rm -f "$pids"
