#!/usr/bin/env bash
# Configures and builds the kit with one of CMakePresets.json's presets.
#   ci/build.sh [PRESET [cmake args...]]     PRESET: default (build/), release (no assert), asan,
#                                            tsan, fuzz, coverage (build-PRESET/)
# Every executable lands in <build dir>/bin.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
preset="${1:-default}"
shift || true
cd "$root"
cmake --preset "$preset" "$@" >/dev/null
cmake --build --preset "$preset" --parallel "$(nproc)"
