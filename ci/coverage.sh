#!/usr/bin/env bash
# Line coverage of impl/ under the test suite: the coverage preset (gcc
# --coverage, unoptimised), the suite, then gcovr's summary per file.
# Writes build-coverage/coverage.txt. A long run (the suite unoptimised);
# not part of .ci/run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh" coverage
"$root/ci/build.sh" coverage
cd "$root"
ctest --preset coverage -j "$(nproc)" || true   # coverage is reported whatever the suite says
gcovr --root "$root" --filter "$root/impl/" --exclude '.*_test\.cc' --object-directory "$root/build-coverage" \
  --txt "$root/build-coverage/coverage.txt" --print-summary
