#!/usr/bin/env bash
# Checks the shipped observability files against a running stack:
#
#   1. `promtool check config` on deploy/observability/prometheus.yml, and on
#      a local copy of it: each job's dns_sd_configs (compose DNS) swapped
#      for the local address of the same service, scrape interval 1 s;
#   2. a Prometheus of its own (free port, temporary data directory) scraping
#      the stack, until both targets are up; then COMMAND, if given, runs
#      while it scrapes (test.sh passes the short k6 rush);
#   3. a probe queue (max_active 1, 1 s windows, two users who never poll)
#      so the scheduler evicts for real: eviction panels need an eviction,
#      and the rush alone may not have one. The queue is deleted at the end;
#   4. every PromQL expression of every panel of every dashboard in
#      deploy/observability/grafana/dashboards/ (and every template
#      variable's label_values) is sent to /api/v1/query. Each must parse
#      and return at least one series, or the script fails naming the
#      dashboard, the panel and the query. Prints a table of them all.
#
#   scripts/check-dashboards.sh [-- COMMAND...]
#
# Environment: QUEUE_URL and API_URL (default http://127.0.0.1:$QUEUE_PORT
# and :$RESERVATION_PORT, ports 8081/8082), ADMIN_API_KEY (the development
# default), CHECK_WINDOW (the [range] put in place of Grafana's
# $__rate_interval, default 1m). Installs Debian's prometheus package when
# missing (as root). Exits non-zero when a check fails, else with COMMAND's
# status.
#
# Allowed to be empty (still must parse), keep this list short:
#   concert-stores / "Outage time credited to queues":
#     queue_outage_credited_milliseconds_total gets a queue's series at its
#     first credited outage, which needs Redis down under the stack; the
#     fault tests stop Redis on servers of their own, never the shared one
#     this runs against.
# Grafana itself is not run here (it is not packaged for Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

cmd=()
if [[ ${1:-} == -- ]]; then
  shift
  cmd=("$@")
elif (($#)); then
  die "usage: scripts/check-dashboards.sh [-- COMMAND...]"
fi

QUEUE_URL=${QUEUE_URL:-http://127.0.0.1:${QUEUE_PORT:-8081}}
API_URL=${API_URL:-http://127.0.0.1:${RESERVATION_PORT:-8082}}
ADMIN_API_KEY=${ADMIN_API_KEY:-dev-admin-key-change-me}
CHECK_WINDOW=${CHECK_WINDOW:-1m}
config=deploy/observability/prometheus.yml
dashboards=deploy/observability/grafana/dashboards
datasources=deploy/observability/grafana/provisioning/datasources

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  is_root && command -v apt-get >/dev/null || die "please install prometheus (e.g. sudo apt-get install prometheus)"
  log "installing prometheus (apt)"
  # Without recommends: prometheus-node-exporter would start a daemon.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v jq >/dev/null || install_packages jq
python3 -c 'import yaml' 2>/dev/null || install_packages python3-yaml

for url in "$QUEUE_URL" "$API_URL"; do
  curl -fsS -m 2 "$url/metrics" >/dev/null || die "$url/metrics does not answer: start the stack first"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/check-dashboards.XXXXXX")
prom_pid= probe_queue=
cleanup() {
  local code=$?
  if [[ -n $probe_queue ]]; then
    curl -fsS -m 5 -o /dev/null -X DELETE -H "Authorization: Bearer $ADMIN_API_KEY" \
      "$QUEUE_URL/v1/admin/queues/$probe_queue" || true
  fi
  if [[ -n $prom_pid ]]; then
    kill -TERM "$prom_pid" 2>/dev/null || true
    wait "$prom_pid" 2>/dev/null || true
  fi
  if ((code != 0)) && [[ -s $work/prometheus.log ]]; then
    log "prometheus log (last 20 lines):"
    tail -n 20 "$work/prometheus.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. the shipped config, and the same config pointed at this stack
log "promtool check config $config"
promtool check config "$config" >"$work/promtool.log" 2>&1 || { cat "$work/promtool.log" >&2; die "$config is not valid"; }

python3 - "$config" "$work/prometheus.yml" "$QUEUE_URL" "$API_URL" <<'PY'
import sys
from urllib.parse import urlsplit
import yaml

shipped, local, queue_url, api_url = sys.argv[1:]
targets = {"queue-service": urlsplit(queue_url).netloc, "reservation-service": urlsplit(api_url).netloc}
with open(shipped) as f:
    config = yaml.safe_load(f)
config.setdefault("global", {}).update(scrape_interval="1s", evaluation_interval="1s")
jobs = set()
for job in config["scrape_configs"]:
    name = job["job_name"]
    jobs.add(name)
    if name not in targets:
        sys.exit(f"{shipped}: job {name} is not one of {sorted(targets)}; teach this script its local address")
    if "dns_sd_configs" not in job and "static_configs" not in job:
        sys.exit(f"{shipped}: job {name} has neither dns_sd_configs nor static_configs")
    job.pop("dns_sd_configs", None)
    job["static_configs"] = [{"targets": [targets[name]]}]
    job["scrape_interval"] = "1s"
missing = set(targets) - jobs
if missing:
    sys.exit(f"{shipped}: no job scrapes {sorted(missing)}")
with open(local, "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)
PY
promtool check config "$work/prometheus.yml" >"$work/promtool-local.log" 2>&1 \
  || { cat "$work/promtool-local.log" >&2; die "the local copy of $config is not valid"; }

# --- 2. a Prometheus of our own
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prom=http://127.0.0.1:$port
log "starting prometheus on $prom (scraping $QUEUE_URL and $API_URL every 1 s)"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
ready() { curl -fsS -m 2 "$prom/-/ready" >/dev/null; }
wait_for "prometheus" 80 ready
targets_up() {
  curl -fsS -m 2 "$prom/api/v1/targets?state=active" \
    | jq -e '[.data.activeTargets[] | select(.health == "up")] | length == 2' >/dev/null
}
wait_for "both scrape targets" 60 targets_up

status=0
if ((${#cmd[@]})); then
  log "running while prometheus scrapes: ${cmd[*]}"
  "${cmd[@]}" || status=$?
  ((status == 0)) || log "the command exited $status; checking the dashboards anyway"
fi

# --- 3. a probe queue, for real evictions
probe_queue=dashboards-probe-$$
log "probe queue $probe_queue: two users who never poll, so the scheduler evicts them"
admin=(-fsS -m 5 -o /dev/null -H "Authorization: Bearer $ADMIN_API_KEY" -H 'Content-Type: application/json')
curl "${admin[@]}" -X PUT "$QUEUE_URL/v1/admin/queues/$probe_queue" \
  -d '{"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 1, "heartbeat_ttl_seconds": 1}' \
  || die "could not create the probe queue"
for user in 1 2; do
  token=$(curl -fsS -m 5 -X POST "$QUEUE_URL/v1/dev/sign-in" -H 'Content-Type: application/json' \
    -d "{\"user_id\": \"$probe_queue-$user\"}" | jq -r .access_token) \
    || die "development sign-in failed (the stack must run with AUTH_DEV_SIGNIN=true, as scripts/run.sh does)"
  curl -fsS -m 5 -o /dev/null -X POST "$QUEUE_URL/v1/queues/$probe_queue/tokens" -H "Authorization: Bearer $token" \
    || die "could not join the probe queue"
done
evicted() {
  curl -fsS -m 2 "$prom/api/v1/query" --data-urlencode "query=sum(queue_evicted_total{queue=\"$probe_queue\"})" \
    | jq -e '.data.result[0].value[1] | tonumber >= 2' >/dev/null
}
wait_for "two evictions from $probe_queue" 60 evicted
sleep 3 # a few more scrapes, so every rate has two samples after the last change

# --- 4. every panel's queries
log "querying every panel of $dashboards"
python3 - "$prom" "$dashboards" "$datasources" "$CHECK_WINDOW" <<'PY'
import glob
import json
import math
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml

prom, dashboards_dir, datasources_dir, window = sys.argv[1:]

# (dashboard uid, panel title): may return no series, see the script header.
ALLOWED_EMPTY = {("concert-stores", "Outage time credited to queues")}

failures = []
datasource_uids = set()
for path in glob.glob(os.path.join(datasources_dir, "*.yaml")):
    with open(path) as f:
        for ds in yaml.safe_load(f).get("datasources", []):
            datasource_uids.add(ds.get("uid"))


def query(expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as err:
        body = json.load(err)
    if body.get("status") != "success":
        return None, body.get("error", "unknown error")
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return [data["result"][1]], None
    if data["resultType"] == "matrix":
        return [s["values"][-1][1] for s in data["result"]], None
    return [s["value"][1] for s in data["result"]], None


def walk(panels):
    for panel in panels:
        yield panel
        yield from walk(panel.get("panels", []))


rows = []
uids = {}
seen_allowed = set()
paths = sorted(glob.glob(os.path.join(dashboards_dir, "*.json")))
if not paths:
    failures.append(f"no dashboard JSON in {dashboards_dir}")
for path in paths:
    name = os.path.basename(path)
    try:
        with open(path) as f:
            board = json.load(f)
    except json.JSONDecodeError as err:
        failures.append(f"{name}: not JSON: {err}")
        continue
    uid = board.get("uid")
    if uid in uids:
        failures.append(f"{name}: uid {uid} is also {uids[uid]}'s")
    uids[uid] = name

    # Template variables: what the check puts in their place, and their own
    # label_values() queries, checked as count by (label) (metric).
    values = {"__rate_interval": window, "__interval": window, "__range": window}
    for var in board.get("templating", {}).get("list", []):
        values[var["name"]] = var.get("allValue") or ".*"
        definition = var.get("definition") or var.get("query", {}).get("query", "")
        m = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", definition or "")
        if var.get("type") == "query":
            if not m:
                failures.append(f"{uid}: variable {var['name']}: cannot check {definition!r}")
                continue
            rows.append((uid, f"${var['name']}", "", f"count by ({m.group(2)}) ({m.group(1)})"))

    def substitute(expr):
        def repl(m):
            key = m.group(1) or m.group(2) or m.group(3)
            return values.get(key, m.group(0))
        return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)

    panels = [p for p in walk(board.get("panels", [])) if p.get("type") != "row"]
    if not panels:
        failures.append(f"{uid}: no panels")
    for panel in panels:
        title = panel.get("title", "?")
        targets = panel.get("targets", [])
        if not targets:
            failures.append(f"{uid} / {title}: no queries")
        for target in targets:
            ds = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
            if ds not in datasource_uids:
                failures.append(f"{uid} / {title}: datasource uid {ds!r} is not provisioned ({sorted(datasource_uids)})")
            if target.get("hide"):
                continue
            expr = target.get("expr", "")
            if not expr.strip():
                failures.append(f"{uid} / {title} {target.get('refId')}: empty expr")
                continue
            rows.append((uid, title, target.get("refId", ""), substitute(expr)))

table = []
for uid, title, ref, expr in rows:
    result, error = query(expr)
    allowed = (uid, title) in ALLOWED_EMPTY
    if error:
        failures.append(f"{uid} / {title} {ref}: query fails: {error}\n    {expr}")
        shown = "ERROR"
    elif not result:
        if allowed:
            seen_allowed.add((uid, title))
            shown = "0 (allowed)"
        else:
            failures.append(f"{uid} / {title} {ref}: no series\n    {expr}")
            shown = "0 EMPTY"
    else:
        nan = sum(1 for v in result if math.isnan(float(v)))
        shown = f"{len(result)}" + (f" ({nan} NaN)" if nan else "")
    table.append((f"{uid} / {title} {ref}".rstrip(), shown, expr))

stale = ALLOWED_EMPTY - {(u, t) for u, t, _, _ in rows}
for uid, title in sorted(stale):
    failures.append(f"ALLOWED_EMPTY names {uid} / {title}, which no dashboard has")

width = max(len(p) for p, _, _ in table) if table else 10
print(f"{'panel':<{width}}  {'series':>12}  query")
for panel, shown, expr in table:
    print(f"{panel:<{width}}  {shown:>12}  {expr}")
panel_rows = [r for r in rows if not r[1].startswith("$")]
titles = {(u, t) for u, t, _, _ in panel_rows}
empty_titles = {(u, t) for (u, t, _, e), (_, shown, _) in zip(rows, table) if not shown[0].isdigit() or shown.startswith("0")}
print(f"FIGURE dashboards: {len(paths)} dashboards, {len(titles)} panels, {len(panel_rows)} panel queries; "
      f"{len(titles - empty_titles)}/{len(titles)} panels with data, "
      f"{len(seen_allowed)} allowed empty")
for failure in failures:
    print(f"FAIL: {failure}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY
log "dashboards: every panel query parsed and returned data"
exit "$status"
