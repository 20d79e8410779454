#!/usr/bin/env bash
# The installed package as a user meets it: `cmake --install` the build into
# a scratch prefix, build tests/consumer/ against it with
# find_package(lmcache-kit CONFIG), start the installed lmcache-server and
# run the consumer (decode a golden fixture, PUT and GET over lm://).
#   package_consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1" src="$2"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. "$src/tests/e2e_lib.sh"
# A step's output is shown only when it fails.
quiet() { "$@" >"$work/step.log" 2>&1 || { cat "$work/step.log" >&2; echo "package_consumer: failed: $*" >&2; return 1; }; }
quiet cmake --install "$build" --prefix "$work/prefix"
test -f "$work/prefix/lib/cmake/lmcache-kit/lmcache-kitConfig.cmake"
# The Wireshark dissector ships with the tools (docs/CONFORMANCE.md).
test -f "$work/prefix/share/lmcache-kit/wireshark/lmcache.lua"
# Internal headers stay internal.
test ! -e "$work/prefix/include/lmcache-kit/wire/request_kernels.h"
test ! -e "$work/prefix/include/lmcache-kit/serde/fp8_kernels.h"
quiet cmake -S "$src/tests/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix"
quiet cmake --build "$work/consumer"
"$work/prefix/bin/lmcache-server" --port 0 --l1-size-bytes $((64 << 20)) 2>"$work/server.log" &
pid=$!
port="$(server_port "$work/server.log" "$pid")"
out="$("$work/consumer/consumer" "$src/golden/fixtures/client/001-put-kv2ltd-bf16.bin" "$port")"
echo "$out"
grep -q '"key":"test_model@3@1@0@bfloat16"' <<<"$out"
grep -q '^GET test_model@3@1@0@bfloat16: consumer payload$' <<<"$out"
"$work/prefix/bin/lmcache-conformance" vectors --tool "$work/prefix/bin/lmcache-wire" | tail -1
