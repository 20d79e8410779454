#!/usr/bin/env bash
# The suite under ThreadSanitizer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh"
"$root/ci/build.sh" "$root/build-tsan" -DLMC_SANITIZE=thread -DLMC_BUILD_BENCH=OFF
cd "$root/build-tsan"
ctest --output-on-failure -j "$(nproc)" -LE exhaustive
