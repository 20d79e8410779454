#!/usr/bin/env bash
# Configures and builds the kit. Usage: ci/build.sh [BUILD_DIR [cmake args...]]
# Every executable lands in BUILD_DIR/bin (default: build/bin).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$root/build}"
shift || true
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" --parallel "$(nproc)"
