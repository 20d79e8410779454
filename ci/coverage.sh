#!/usr/bin/env bash
# Line coverage of impl/ under the test suite: the coverage preset (gcc
# --coverage with atomic counters, -O1: unoptimised, the 64 MiB conformance
# cases miss their deadlines), the suite, then gcovr's summary per file.
# Writes build-coverage/coverage.txt. A long run (the suite instrumented);
# not part of .ci/run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh" coverage
"$root/ci/build.sh" coverage
cd "$root"
# The report is written whatever the suite says; the script then exits with the suite's status.
suite=0
find "$root/build-coverage" -name '*.gcda' -delete  # counts of earlier runs would add up
ctest --preset coverage -j "$(nproc)" || suite=$?
gcovr --root "$root" --filter "$root/impl/" --exclude '.*_test\.cc' --object-directory "$root/build-coverage" \
  --txt "$root/build-coverage/coverage.txt" --print-summary
[ "$suite" -eq 0 ] || echo "coverage: the suite failed (ctest exit $suite); the figures above are of a failing run" >&2
exit "$suite"
