#!/usr/bin/env bash
# Installs the Debian packages the kit builds and tests with. Idempotent and
# quick when everything is present: apt runs only for what is missing.
# tshark and chromium are for the tests of the Wireshark dissector and the
# HTML report (conformance/wireshark/, conformance/html_report_test.py);
# redis-server and redis-tools for the Redis tier's tests against a real
# Redis and a three-node Redis Cluster (impl/l2/redis_test.py); libhiredis-dev
# for its RESP reply reader.
#   ci/setup.sh            the packages of the default build and tests
#   ci/setup.sh fuzz       adds clang-14 and libFuzzer's runtime
#   ci/setup.sh bench      adds what the benchmarks compare against
#   ci/setup.sh coverage   adds gcovr (ci/coverage.sh)
#   ci/setup.sh lint       adds clang-format-14 and clang-tidy-14 (ci/lint.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config python3
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  nlohmann-json3-dev libssl-dev libasio-dev libcli11-dev
  libzstd-dev liblz4-dev libxxhash-dev libhiredis-dev
  tshark chromium fonts-dejavu-core redis-server redis-tools
)
for extra in "$@"; do
  case "$extra" in
    fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    bench) packages+=(iperf3 zstd lz4) ;;
    coverage) packages+=(gcovr) ;;
    lint) packages+=(clang-format-14 clang-tidy-14) ;;
    *) echo "ci/setup.sh: unknown extra '$extra'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ci/setup.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
