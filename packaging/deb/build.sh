#!/usr/bin/env bash
# Builds the Debian package: target/debian/helmgate_<version>-1_<arch>.deb.
#
#   packaging/deb/build.sh             release build, then the package
#   packaging/deb/build.sh --no-build  package the release binary already built
#
# Package metadata and the file list are in Cargo.toml ([package.metadata.deb]).
# cargo-deb can't run the binary, so this script first writes what is generated
# from it, and a copy of the unit, under target/deb-assets/ (not committed):
#   - shell completions and man pages, from the clap definitions and the
#     config types (`helmgate completions SHELL`, `helmgate manpage --out-dir
#     DIR`: helmgate.1, a page per subcommand and helmgate.toml.5);
#   - the config's JSON Schema (`helmgate schema`), and conf/helmgate.toml
#     with its `#:schema` line pointing at where the package puts it;
#   - helmgate.service: systemd/helmgate.service with the binary at
#     /usr/bin/helmgate instead of /usr/local/bin/helmgate (a manual install's
#     path), so the unit has one source;
#   - the Debian changelog, for the version the binary reports.
# Then `cargo deb --no-build` packs them with the binary.
#
# Needs cargo-deb; installs the pinned version below if there is none.
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DEB_VERSION=3.8.0
ASSETS=target/deb-assets # Cargo.toml's asset paths name this directory

fail() {
  echo "build-deb: $*" >&2
  exit 1
}

build=1
case "${1:-}" in
  "") ;;
  --no-build) build= ;;
  *) fail "usage: $0 [--no-build]" ;;
esac

if ! have=$(cargo deb --version 2>/dev/null); then
  echo "build-deb: installing cargo-deb $CARGO_DEB_VERSION (cargo install, 1-3 minutes)" >&2
  start=$SECONDS
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
  have=$(cargo deb --version)
  echo "build-deb: cargo-deb installed in $((SECONDS - start))s" >&2
fi
[ "$have" = "cargo-deb $CARGO_DEB_VERSION" ] ||
  echo "build-deb: note: $have, this script was tested with $CARGO_DEB_VERSION" >&2

if [ -n "$build" ]; then
  start=$SECONDS
  cargo build --release --locked
  echo "build-deb: release build in $((SECONDS - start))s" >&2
fi
bin=${CARGO_TARGET_DIR:-target}/release/helmgate
[ -x "$bin" ] || fail "no release binary at $bin (run without --no-build)"

# --- files generated from the binary --------------------------------------------
rm -rf "$ASSETS"
mkdir -p "$ASSETS/man"
"$bin" completions bash >"$ASSETS/helmgate.bash"
"$bin" completions zsh >"$ASSETS/_helmgate"
"$bin" completions fish >"$ASSETS/helmgate.fish"
"$bin" manpage --out-dir "$ASSETS/man"
"$bin" schema >"$ASSETS/helmgate.schema.json"

# In the repository the schema sits beside the config; installed, it is in
# /usr/share/helmgate.
schema_line='#:schema /usr/share/helmgate/helmgate.schema.json'
sed "1s|^#:schema ./helmgate.schema.json\$|$schema_line|" conf/helmgate.toml >"$ASSETS/helmgate.toml"
[ "$(head -n 1 "$ASSETS/helmgate.toml")" = "$schema_line" ] ||
  fail "conf/helmgate.toml does not start with #:schema ./helmgate.schema.json (edit the sed above)"

sed 's#/usr/local/bin/helmgate#/usr/bin/helmgate#g' systemd/helmgate.service >"$ASSETS/helmgate.service"
! grep -n '/usr/local' "$ASSETS/helmgate.service" ||
  fail "the packaged unit still names /usr/local (edit the sed above)"

# The package version is the binary's own, plus cargo-deb's default revision -1.
version=$("$bin" --version)
version=${version#helmgate }
maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$maintainer" ] || fail "no maintainer in Cargo.toml [package.metadata.deb]"
commit=$(git rev-parse --short HEAD 2>/dev/null) || commit=unknown
date=$(git log -1 --format=%aD 2>/dev/null) || date=$(date -R)
cat >"$ASSETS/changelog" <<EOF
helmgate (${version}-1) stable; urgency=medium

  * helmgate ${version}, built from commit ${commit}.

 -- ${maintainer}  ${date}
EOF

# --- the package -------------------------------------------------------------------
cargo deb --no-build --locked --output target/debian/
