#!/usr/bin/env bash
# Checks that both services do what their /openapi.json says: Schemathesis
# (from PyPI) generates requests from each document, with every check on
# (response schema, status codes, content types, headers, schema-valid data
# accepted, invalid data refused, missing credentials, wrong methods, ...),
# and the run fails on any failure. Settings: tests/contract/*.toml.
#
#   QUEUE_URL=http://127.0.0.1:8081 API_URL=http://127.0.0.1:8082 scripts/contract-test.sh
#
# Needs a stack in JWT mode with the development sign-in (scripts/run.sh
# starts one), and ADMIN_API_KEY. CONTRACT_EXAMPLES sets the examples per
# operation (default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

: "${QUEUE_URL:?set QUEUE_URL}" "${API_URL:?set API_URL}"
export ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me}
examples=${CONTRACT_EXAMPLES:-50}

if ! command -v schemathesis >/dev/null; then
  log "installing schemathesis (pip)"
  python3 -m pip install --quiet 'schemathesis>=4.3,<5' || die "could not install schemathesis"
  hash -r
fi

# One user of the stack, signed in through the development sign-in.
CONTRACT_BEARER=$(curl -fsS -X POST "$QUEUE_URL/v1/dev/sign-in" -H 'Content-Type: application/json' \
  -d '{"user_id":"contract-test"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') \
  || die "the development sign-in at $QUEUE_URL did not answer (AUTH_DEV_SIGNIN=true?)"
export CONTRACT_BEARER

mkdir -p target/contract
status=0
# run <name> <config> <schema url> [filters...]
run() {
  local name=$1 config=$2 url=$3
  shift 3
  log "schemathesis: $name ($examples examples per operation, every check)"
  schemathesis --config-file "$config" run "$url" "$@" \
    --checks all --max-examples "$examples" --workers 1 --seed 20261201 \
    --request-timeout 15 --no-color >"target/contract/$name.log" 2>&1 || status=1
  # The summary: cases generated, and failures if any.
  grep -E "generated" "target/contract/$name.log" | tail -n 1 >&2
}
run queue-service tests/contract/schemathesis.toml "$QUEUE_URL/openapi.json"
run reservation-service tests/contract/schemathesis.toml "$API_URL/openapi.json" \
  --exclude-path /v1/admin/concerts
run reservation-service-concerts tests/contract/cross-field.toml "$API_URL/openapi.json" \
  --include-path /v1/admin/concerts
((status == 0)) || die "the services do not match their OpenAPI documents (logs: target/contract/)"
log "both services match their OpenAPI documents"
