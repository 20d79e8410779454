#!/usr/bin/env bash
# The kit's main job on its embedded default: builds the kit, starts the
# reference lmcache-server on a free port, and runs the whole conformance
# catalogue against the kit's own implementation (server mode against the
# server, client mode with the C++ and the Python testee, vectors mode with
# lmcache-wire), printing each report and a closing summary. Nothing else to
# start. Extra arguments go to ci/conformance.sh (--profile NAME, --out DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh"
echo "ci/main.sh: building the kit into $root/build (the first build takes several minutes on 2 cores)"
mkdir -p "$root/build"
log="$root/build/main-build.log"
if ! "$root/ci/build.sh" default 2>&1 | tee "$log" | awk '
  /^\[[0-9]+\/[0-9]+\]/ { split(substr($1, 2), a, "/"); pct = int(100 * a[1] / a[2]);
    if (pct >= next_pct) { printf "ci/main.sh: built %d of %d steps\n", a[1], a[2]; fflush(); next_pct = pct + 10 } }'; then
  echo "ci/main.sh: the build failed; the end of $log:" >&2
  tail -n 60 "$log" >&2
  exit 1
fi
echo "ci/main.sh: running the conformance catalogue against the reference implementation"
exec "$root/ci/conformance.sh" "$root/build/bin" "$@"
