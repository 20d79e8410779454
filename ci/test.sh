#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build, test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/ci/setup.sh"
"$root/ci/build.sh" default
cd "$root/build"
# Long exhaustive sweeps (label "exhaustive") have their own command: ci/exhaustive.sh.
# JUnit XML of the run for CI dashboards: build/ctest-junit.xml.
ctest --output-on-failure --timeout 600 -j "$(nproc)" -LE exhaustive --output-junit "$root/build/ctest-junit.xml"
