#!/usr/bin/env bash
# The kit's main job on its embedded default. For now: the codec at work on
# the golden fixtures, every file decoded by lmcache-wire and re-encoded.
# (A later step makes this the conformance suite against the embedded
# reference server.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh"
"$root/ci/build.sh" "$root/build" >/dev/null
python3 "$root/golden/summarize.py" "$root/build/bin/lmcache-wire" "$root/golden/fixtures"
