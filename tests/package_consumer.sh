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
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/lmcache-kit/lmcache-kitConfig.cmake"
# Internal headers stay internal.
test ! -e "$work/prefix/include/lmcache-kit/wire/request_kernels.h"
test ! -e "$work/prefix/include/lmcache-kit/serde/fp8_kernels.h"
cmake -S "$src/tests/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/prefix/bin/lmcache-server" --port 0 --l1-size-bytes $((64 << 20)) 2>"$work/server.log" &
pid=$!
port=""
for _ in $(seq 100); do
  port="$(grep -o 'lm://127.0.0.1:[0-9]*' "$work/server.log" | sed 's/.*://')" || true
  [ -n "$port" ] && break
  sleep 0.1
done
out="$("$work/consumer/consumer" "$src/golden/fixtures/client/001-put-kv2ltd-bf16.bin" "$port")"
echo "$out"
grep -q '"key":"test_model@3@1@0@bfloat16"' <<<"$out"
grep -q '^GET test_model@3@1@0@bfloat16: consumer payload$' <<<"$out"
"$work/prefix/bin/lmcache-conformance" vectors --tool "$work/prefix/bin/lmcache-wire" | tail -1
