#!/usr/bin/env bash
# Static checks of the deployment files (no Docker engine needed):
#   1. deploy/compose.yaml passes `docker-compose config -q` (Debian's
#      docker-compose 1.29, installed when missing and root);
#   2. every bind mount in the compose file exists, and every build names
#      an existing context and Dockerfile;
#   3. every Dockerfile under deploy/ (with the repository root as its
#      context unless compose says otherwise) only COPYs/ADDs sources that
#      exist in the context and are not excluded by the .dockerignore that
#      applies to it.
# Reports every problem it finds; exits non-zero if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

compose_file=deploy/compose.yaml
[[ -f $compose_file ]] || die "$compose_file is missing"

command -v docker-compose >/dev/null || install_packages docker-compose

log "docker-compose config -q ($compose_file)"
# Secrets have development defaults in the file; unset any from this shell
# so the check sees the file as a fresh checkout would.
env -u ADMIN_API_KEY -u QUEUE_TOKEN_SECRET -u AUTH_JWT_SECRET docker-compose -f "$compose_file" config -q

# Debian's docker-compose runs on a python3 that has PyYAML; use it to read
# the resolved configuration (paths made absolute, anchors merged).
py=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
    py=$candidate
    break
  fi
done
[[ -n $py ]] || install_packages python3-yaml
[[ -n $py ]] || py=/usr/bin/python3

resolved=$(mktemp)
trap 'rm -f "$resolved"' EXIT
env -u ADMIN_API_KEY -u QUEUE_TOKEN_SECRET -u AUTH_JWT_SECRET docker-compose -f "$compose_file" config >"$resolved"

log "checking Dockerfile COPY/ADD sources against their build contexts"
"$py" - "$resolved" "$PWD" <<'PY'
import fnmatch
import glob
import json
import os
import re
import sys

import yaml

resolved_path, repo = sys.argv[1], sys.argv[2]
with open(resolved_path) as f:
    config = yaml.safe_load(f)

failures = []
checked = {}  # (dockerfile, context) -> number of sources checked


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def instructions(text):
    """Yields (line number, instruction, rest) with continuations joined."""
    lines = text.splitlines()
    escape = "\\"
    m = re.match(r"#\s*escape\s*=\s*(\S)", lines[0] if lines else "")
    if m:
        escape = m.group(1)
    buf, start = "", None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if start is None:
            start = number
        if stripped.endswith(escape):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        yield start, word.upper(), rest.strip()
        buf, start = "", None


def ignore_patterns(dockerfile, context):
    """Patterns of the .dockerignore that applies, BuildKit's order first."""
    for candidate in (dockerfile + ".dockerignore", os.path.join(context, ".dockerignore")):
        if os.path.isfile(candidate):
            patterns = []
            with open(candidate) as f:
                for line in f:
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    negate = line.startswith("!")
                    pattern = os.path.normpath(line.lstrip("!").strip().lstrip("/"))
                    patterns.append((negate, pattern))
            return candidate, patterns
    return None, []


def glob_match(pattern, path):
    """Docker's matching: filepath.Match per segment, ** for any depth."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            regex += ".*"
            i += 2
            if pattern.startswith("/", i):
                regex = regex[:-2] + "(?:.*/)?"
                i += 1
            continue
        c = pattern[i]
        if c == "*":
            regex += "[^/]*"
        elif c == "?":
            regex += "[^/]"
        else:
            regex += re.escape(c)
        i += 1
    return re.fullmatch(regex, path) is not None


def excluded(rel, patterns):
    """Last matching pattern wins; a path is excluded with its parents."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for negate, pattern in patterns:
        if any(glob_match(pattern, p) for p in prefixes):
            verdict = not negate
    return verdict


def check(dockerfile, context):
    key = (os.path.realpath(dockerfile), os.path.realpath(context))
    if key in checked:
        return
    checked[key] = 0
    if not os.path.isdir(context):
        fail(f"build context {context} does not exist")
        return
    if not os.path.isfile(dockerfile):
        fail(f"Dockerfile {dockerfile} does not exist")
        return
    ignore_file, patterns = ignore_patterns(dockerfile, context)
    with open(dockerfile) as f:
        text = f.read()
    rel_df = os.path.relpath(dockerfile, repo)
    for line, word, rest in instructions(text):
        if word not in ("COPY", "ADD"):
            continue
        if rest.startswith("["):
            try:
                args = json.loads(rest)
            except json.JSONDecodeError:
                fail(f"{rel_df}:{line}: cannot parse {word} {rest}")
                continue
            flags = []
        else:
            tokens = rest.split()
            flags = [t for t in tokens if t.startswith("--")]
            args = [t for t in tokens if not t.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue  # from another stage or image, not the context
        if len(args) < 2:
            fail(f"{rel_df}:{line}: {word} needs a source and a destination")
            continue
        for source in args[:-1]:
            if word == "ADD" and re.match(r"^[a-z]+://", source):
                continue
            if "$" in source:
                fail(f"{rel_df}:{line}: cannot check a source with a variable: {source}")
                continue
            matches = glob.glob(os.path.join(context, source))
            checked[key] += 1
            if not matches:
                fail(f"{rel_df}:{line}: {word} source '{source}' does not exist in context {os.path.relpath(context, repo) or '.'}")
                continue
            for match in matches:
                rel = os.path.relpath(match, context).replace(os.sep, "/")
                if rel != "." and excluded(rel, patterns):
                    fail(f"{rel_df}:{line}: {word} source '{source}' is excluded by {os.path.relpath(ignore_file, repo)}")
    print(f"ok: {rel_df} (context {os.path.relpath(context, repo)}): {checked[key]} sources exist")


# Bind mounts (the page, the nginx config, the k6 scripts) must exist:
# compose itself would silently create an empty directory instead.
named_volumes = set((config.get("volumes") or {}).keys())
for name, service in (config.get("services") or {}).items():
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source = volume.get("source") if volume.get("type") == "bind" else None
        else:
            source = volume.split(":")[0]
            if source in named_volumes or not source.startswith(("/", ".")):
                source = None
        if source and not os.path.exists(source):
            fail(f"service {name} mounts {source}, which does not exist")
        elif source:
            print(f"ok: service {name} mounts {os.path.relpath(source, repo)}")

builds = 0
for name, service in (config.get("services") or {}).items():
    build = service.get("build")
    if not build:
        continue
    builds += 1
    if isinstance(build, str):
        build = {"context": build}
    context = build.get("context", ".")
    dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
    check(dockerfile, context)

# Dockerfiles compose does not build: the repository root is their context.
for path in sorted(glob.glob(os.path.join(repo, "deploy", "**", "*Dockerfile*"), recursive=True)):
    if path.endswith(".dockerignore") or not os.path.isfile(path):
        continue
    check(path, repo)

if not checked:
    fail("no Dockerfile found to check")
if builds == 0:
    fail("the compose file builds no service")
sys.exit(1 if failures else 0)
PY
log "deploy checks passed"
