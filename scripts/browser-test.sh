#!/usr/bin/env bash
# Runs the demo page's browser test (tests/browser/demo.test.mjs) in
# headless Debian Chromium against the real services.
#
# Uses a stack that already answers on QUEUE_PORT/RESERVATION_PORT/WEB_PORT
# (default 18081/18082/18080, then run.sh's 8081/8082/8080); otherwise starts
# one with `scripts/run.sh --detach` on 18081/18082/18080 (PROFILE=debug
# unless set) and stops it afterwards. Screenshots: target/browser/*.png.
#
#   scripts/browser-test.sh
#   QUEUE_URL=... API_URL=... WEB_URL=... scripts/browser-test.sh   # any running stack
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

export ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
TEST_TIMEOUT_SECONDS=${TEST_TIMEOUT_SECONDS:-300}

# --- tools: Debian's Chromium (never a downloaded browser), node, npm deps
[[ -x $CHROMIUM ]] || install_packages chromium
[[ -x $CHROMIUM ]] || die "no Chromium at $CHROMIUM"
{ command -v node && command -v npm; } >/dev/null || install_packages nodejs npm
lock=tests/browser/package-lock.json
stamp=tests/browser/node_modules/.lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s "$lock" "$stamp"; then
  log "installing browser test dependencies (npm ci)"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$stamp"
fi

# --- the stack
up() { # queue url, api url, web url
  curl -fsS -m 2 "$1/readyz" >/dev/null 2>&1 && curl -fsS -m 2 "$2/readyz" >/dev/null 2>&1 \
    && curl -fsS -m 2 "$3/" >/dev/null 2>&1
}
started=false
if [[ -n ${QUEUE_URL:-} && -n ${API_URL:-} && -n ${WEB_URL:-} ]]; then
  up "$QUEUE_URL" "$API_URL" "$WEB_URL" || die "the stack at $QUEUE_URL / $API_URL / $WEB_URL is not ready"
else
  ports=${QUEUE_PORT:-18081}:${RESERVATION_PORT:-18082}:${WEB_PORT:-18080}
  for candidate in "$ports" 8081:8082:8080; do
    IFS=: read -r q r w <<<"$candidate"
    if up "http://127.0.0.1:$q" "http://127.0.0.1:$r" "http://127.0.0.1:$w"; then
      log "using the stack already running on ports $q/$r/$w"
      break
    fi
    q=
  done
  if [[ -z $q ]]; then
    IFS=: read -r q r w <<<"$ports"
    log "starting the local stack on ports $q/$r/$w"
    trap 'log "stopping the stack this test started"; QUEUE_PORT=$q bash scripts/stop.sh' EXIT
    started=true
    QUEUE_PORT=$q RESERVATION_PORT=$r WEB_PORT=$w PROFILE=${PROFILE:-debug} \
      bash scripts/run.sh --detach >target/browser-stack.log 2>&1 \
      || { tail -n 40 target/browser-stack.log >&2; die "the local stack did not start (log: target/browser-stack.log)"; }
  fi
  export QUEUE_URL=http://127.0.0.1:$q API_URL=http://127.0.0.1:$r WEB_URL=http://127.0.0.1:$w
fi

log "browser test against $WEB_URL (queue $QUEUE_URL, reservations $API_URL)"
mkdir -p target/browser
status=0
CHROMIUM=$CHROMIUM timeout --kill-after=10 "$TEST_TIMEOUT_SECONDS" \
  node --test-reporter=spec tests/browser/demo.test.mjs || status=$?
if ((status != 0)); then
  $started && { log "service logs (last lines)"; tail -n 20 target/run/*.log >&2 || true; }
  die "browser test failed (exit $status); screenshots, if any, in target/browser/"
fi
log "browser test passed; screenshots in target/browser/"
