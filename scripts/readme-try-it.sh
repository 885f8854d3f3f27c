#!/usr/bin/env bash
# Runs the README's "Try it" block as it stands, against a running stack,
# so the example a new user pastes first cannot go stale. The only change
# made to it is the two service URLs, when the stack is not on the default
# ports (QUEUE_URL/API_URL, as scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

command -v jq >/dev/null || install_packages jq
block=$(awk '/^## Try it/ { on = 1 } on && /^```sh$/ { grab = 1; next } grab && /^```$/ { exit } grab { print }' README.md)
[[ -n $block ]] || die "no sh block under '## Try it' in README.md"
if [[ -n ${QUEUE_URL:-} && -n ${API_URL:-} ]]; then
  block=${block//"Q=http://127.0.0.1:8081 R=http://127.0.0.1:8082"/"Q=$QUEUE_URL R=$API_URL"}
fi
log "running the README's Try it block"
out=$(bash -euo pipefail -c "$block" 2>&1) || { printf '%s\n' "$out" >&2; die "the README's Try it block failed"; }
printf '%s\n' "$out" | tail -n 3 >&2
printf '%s\n' "$out" | grep -q '"status":"confirmed"' || die "the Try it block did not end in a confirmed payment"
log "the README's Try it block runs as written"
