#!/usr/bin/env bash
# vendor/ must be exactly the published Pingora crates plus patches/: fetch
# each .crate from crates.io, check its sha256, apply the patches in order,
# and compare with vendor/. Fails on any other difference, so nothing else
# can drift into the vendored copies.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A SHA256=(
  [pingora-core]=a535f47f65fdcb003f9e1df04cd18e614c128dfe9388acce3f211ae38ac14d68
  [pingora-proxy]=8e3d5670490740405ecc8c6f75c3fcbce4d24f7adaffb355ca44550e7918e358
)
VERSION=0.9.1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for crate in "${!SHA256[@]}"; do
  file="$work/$crate-$VERSION.crate"
  curl -sSfL --retry 3 -o "$file" "https://static.crates.io/crates/$crate/$crate-$VERSION.crate"
  echo "${SHA256[$crate]}  $file" | sha256sum --check --quiet ||
    { echo "check-vendor: $crate-$VERSION.crate does not match its pinned sha256" >&2; exit 1; }
  tar xzf "$file" -C "$work"
  rm -f "$work/$crate-$VERSION/.cargo-ok"
  for patch in patches/"$crate"-*.patch; do
    [ -e "$patch" ] || continue
    patch --quiet -p1 -d "$work/$crate-$VERSION" <"$patch" ||
      { echo "check-vendor: $patch does not apply to $crate $VERSION" >&2; exit 1; }
  done
  if ! diff -r "$work/$crate-$VERSION" "vendor/$crate" >"$work/diff" 2>&1; then
    cat "$work/diff" >&2
    echo "check-vendor: vendor/$crate differs from $crate $VERSION + patches/$crate-*.patch" >&2
    exit 1
  fi
  echo "check-vendor: vendor/$crate = $crate $VERSION + $(ls patches/"$crate"-*.patch 2>/dev/null | wc -l) patch(es)"
done
