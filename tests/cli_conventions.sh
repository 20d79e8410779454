#!/usr/bin/env bash
# The command-line conventions of every tool (impl/tools/cli.h): --version
# prints the kit's version and the protocol revision of the golden manifest
# and exits 0; --help states the exit statuses and exits 0; a usage error
# exits 2, as the docs promise.
# usage: cli_conventions.sh BIN_DIR SOURCE_DIR
set -euo pipefail
bin="$1"
src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
# said STREAM PATTERN NAME: the last checked command's stdout (out) or
# stderr (err) matches PATTERN.
said() {
  if grep -Eq -e "$2" "$work/$1"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $3: $1 does not match '$2': $(head -3 "$work/$1")"; fi
}

version="$(sed -n 's/^project(lmcache_kit VERSION \([0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")"
protocol="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["protocol"])' \
  "$src/golden/fixtures/manifest.json")"
[ -n "$version" ] && [ -n "$protocol" ] || { echo "FAIL: no version or protocol found"; exit 1; }
case "$protocol" in *"186 bytes"*) ;; *) echo "FAIL: manifest protocol '$protocol'"; exit 1 ;; esac

for tool in lmcache-wire lmcache-server lmcache-client lmcache-bench lmcache-serde lmcache-conformance \
            lmcache-conformance-testee-cpp; do
  check "$tool --version" 0 "$bin/$tool" --version
  want="$tool $version ($protocol)"
  [ "$(cat "$work/out")" = "$want" ] && passed=$((passed + 1)) ||
    { failed=$((failed + 1)); echo "FAIL $tool --version printed '$(cat "$work/out")', want '$want'"; }
  check "$tool --help" 0 "$bin/$tool" --help
  said out "Exit status: 0" "$tool --help states the exit statuses"
  check "$tool unknown option" 2 "$bin/$tool" --no-such-option
done

# A subcommand's help states them too.
check "lmcache-serde serialize --help" 0 "$bin/lmcache-serde" serialize --help
said out "Exit status: 0" "  ... states the exit statuses"
check "lmcache-client get --help" 0 "$bin/lmcache-client" get --help
said out "Exit status: 0" "  ... states the exit statuses"

# The usage errors a new user runs into first.
check "lmcache-serde serialize without options" 2 "$bin/lmcache-serde" serialize
said err "--config is required" "  ... says why"
check "lmcache-server --port 70000" 2 "$bin/lmcache-server" --port 70000
said err "70000" "  ... says why"
check "lmcache-server port 70000" 2 "$bin/lmcache-server" 127.0.0.1 70000
check "lmcache-client without a command" 2 "$bin/lmcache-client"
check "lmcache-client get without a key" 2 "$bin/lmcache-client" get
check "lmcache-bench --connections 0" 2 "$bin/lmcache-bench" --connections 0
check "lmcache-bench --timeout-ms abc" 2 "$bin/lmcache-bench" --timeout-ms abc
check "lmcache-bench size over int32" 2 "$bin/lmcache-bench" --sizes 4K,2G
said err "over the protocol's largest object, 2147483647 bytes" "  ... says why"
check "lmcache-wire encode without a kind" 2 "$bin/lmcache-wire" encode
check "lmcache-conformance without a mode" 2 "$bin/lmcache-conformance"
check "lmcache-conformance server --no-such" 2 "$bin/lmcache-conformance" server --no-such-option
check "testee --max-body-bytes x" 2 "$bin/lmcache-conformance-testee-cpp" --max-body-bytes x

echo "cli_conventions: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
