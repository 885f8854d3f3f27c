#!/usr/bin/env bash
# Builds a local stand-in for docker.io/library/debian:bookworm-slim, for
# hosts that reach Debian's package mirror but no image registry.
#
#   deploy/podman/make-base.sh            build it unless podman already has it
#   deploy/podman/make-base.sh --force    build it again
#
# debootstrap (minbase) from the mirror this host's apt already uses, trimmed
# the way the official slim image is (debuerreotype's --slim: no docs, man
# pages or locales, and dpkg/apt told to keep it that way), then imported
# under the official name so `FROM debian:bookworm-slim` resolves locally
# with --pull=never. Needs root, debootstrap and podman.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

RELEASE=${DEBIAN_RELEASE:-bookworm}
IMAGE=docker.io/library/debian:$RELEASE-slim

force=false
case ${1:-} in
  --force) force=true ;;
  -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
  '') ;;
  *) die "unknown argument $1 (see $0 --help)" ;;
esac

if ! $force && podman image exists "$IMAGE"; then
  log "$IMAGE is already there (--force to rebuild)"
  exit 0
fi
is_root || die "debootstrap needs root"
command -v debootstrap >/dev/null || install_packages debootstrap

# The first non-security Debian archive apt is configured with, in either
# the one-line (.list) or the deb822 (.sources) format.
mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
  done
}
MIRROR=${DEBIAN_MIRROR:-$(mirror | grep -v -- '-security' | grep -m1 '/debian/*$' || true)}
[[ -n $MIRROR ]] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"

root=$(mktemp -d "${TMPDIR:-/var/tmp}/debian-$RELEASE-slim.XXXXXX")
trap 'rm -rf "$root"' EXIT
log "debootstrap --variant=minbase $RELEASE from $MIRROR"
start=$SECONDS
debootstrap --variant=minbase "$RELEASE" "$root" "$MIRROR" >"$root.log" 2>&1 \
  || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"

# The same apt sources as this host (it is the mirror that works here) and
# any Acquire:: settings it needs (proxy, snapshot validity), plus the
# official image's docker-* apt settings: no caches, no translations,
# compressed lists, aggressive autoremove.
rm -f "$root/etc/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  grep -q "$MIRROR" "$f" || continue # leave out third-party repositories
  mkdir -p "$root$(dirname "$f")" && cp "$f" "$root$f"
done
for f in /etc/apt/apt.conf.d/*; do
  [[ -f $f ]] && grep -qE '^[[:space:]]*Acquire::' "$f" && cp "$f" "$root/etc/apt/apt.conf.d/"
done
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF

# What the dpkg excludes above would have kept out, and debootstrap's leftovers.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$root"/usr/share/{man,groff,info,lintian,linda}/* \
  "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
  "$root"/var/log/* "$root"/tmp/* "$root"/root/.bash_history "$root"/debootstrap
# The container engine provides these at run time.
: >"$root/etc/resolv.conf"
echo localhost >"$root/etc/hostname"
rm -f "$root/etc/machine-id" && : >"$root/etc/machine-id"

log "importing as $IMAGE"
tar -C "$root" --numeric-owner -c . \
  | podman import --quiet --change 'CMD ["bash"]' --message "debootstrap --variant=minbase $RELEASE $MIRROR, slimmed" - "$IMAGE" >/dev/null
log "$IMAGE built in $((SECONDS - start)) s ($(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
