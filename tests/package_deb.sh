#!/usr/bin/env bash
# The Debian packages: `cpack -G DEB` in the build directory, each .deb
# unpacked into a scratch root (dpkg -x), and the tools run from there.
#   package_deb.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$build" && cpack -G DEB -B "$work/out" >/dev/null)
debs=("$work"/out/*.deb)
[ "${#debs[@]}" -eq 2 ] || { echo "expected 2 .deb files, got: ${debs[*]}"; exit 1; }
for deb in "${debs[@]}"; do
  dpkg-deb --info "$deb" | grep -E '^ (Package|Depends):'
  dpkg -x "$deb" "$work/root"
done
# Whole outputs first: `grep -q` closing a pipe early would fail the writer
# under pipefail.
info="$(dpkg-deb --info "$work"/out/lmcache-kit_*.deb)"
grep -q 'Depends:.*libzstd1' <<<"$info"
root="$work/root/usr"
help="$("$root/bin/lmcache-conformance" --help)"
grep -q "Exit status" <<<"$help"
"$root/bin/lmcache-server" --version
"$root/bin/lmcache-conformance" vectors --tool "$root/bin/lmcache-wire" | tail -1
test -f "$root/lib/cmake/lmcache-kit/lmcache-kitConfig.cmake"
test -f "$root/include/lmcache-kit/wire/headers.h"
