#!/usr/bin/env bash
# The suite under ThreadSanitizer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh"
"$root/ci/build.sh" tsan
cd "$root"
ctest --preset tsan -j "$(nproc)"
