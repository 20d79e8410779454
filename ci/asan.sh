#!/usr/bin/env bash
# The suite under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh"
"$root/ci/build.sh" asan
cd "$root"
ctest --preset asan -j "$(nproc)"
