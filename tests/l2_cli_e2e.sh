#!/usr/bin/env bash
# lmcache-server with an L2 tier, as an operator runs it: a small L1 over an
# fs tier (raw bytes), then a chained lm:// tier through a second server
# with a lossless serde. Objects pushed out of L1 must come back bit-exact
# through GET, EXIST and LIST must see them, a bad --l2-adapter is refused
# with exit 2, and the counters at shutdown show the L2 traffic.
# usage: l2_cli_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
start() {  # start NAME ARGS... ; sets $port
  local name="$1"; shift
  "$bin/lmcache-server" --port 0 --threads 2 "$@" 2>"$work/$name.err" &
  pids+=($!)
  port="$(server_port "$work/$name.err" "${pids[-1]}")" || { echo "FAIL: $name did not start"; exit 1; }
}
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

check "bad adapter json" 2 "$bin/lmcache-server" --port 0 --l2-adapter '{"type":"fs"}'
check "unknown adapter key" 2 "$bin/lmcache-server" --port 0 --l2-adapter '{"type":"memory","colour":1}'

# A remote server for the lm:// tier, then the server under test:
# 1 MiB of L1 over fs (raw) then lm:// (zstd).
start remote --l1-size-bytes 67108864
remote_port="$port"
start tiered --l1-size-bytes 1048576 \
  --l2-adapter "{\"type\":\"fs\",\"base_path\":\"$work/l2\"}" \
  --l2-adapter "{\"type\":\"lm\",\"url\":\"lm://127.0.0.1:$remote_port\",\"serde\":{\"type\":\"zstd\"}}"
client() { "$bin/lmcache-client" --url "lm://127.0.0.1:$port" --timeout-ms 5000 "$@"; }
for i in 1 2 3 4 5 6; do
  head -c 300000 /dev/urandom >"$work/p$i"
  check "put $i" 0 client put "m@1@0@$i@uint8" "$work/p$i"
done
check "health" 0 client health   # every PUT has been handled
# The write-back is asynchronous: wait for it, bounded (10 s), rather than
# for a fixed time that a slow machine may not be done in.
fs_files() { find "$work/l2" -name '*.data' 2>/dev/null | wc -l; }
for _ in $(seq 100); do [ "$(fs_files)" -ge 3 ] && break; sleep 0.1; done
check "evicted to fs (3 or more .data files within 10 s, found $(fs_files))" 0 test "$(fs_files)" -ge 3
check "exist below L1" 0 client exist 'm@1@0@1@uint8'
check "list below L1" 0 sh -c "'$bin/lmcache-client' --url lm://127.0.0.1:$port list | grep -qx 'm@1@0@1@uint8'"
for i in 1 2 3 4 5 6; do
  check "get $i" 0 client get "m@1@0@$i@uint8" "$work/b$i"
  check "bytes $i" 0 cmp "$work/p$i" "$work/b$i"
done
check "miss" 1 client get 'm@1@0@77@uint8' -
# With the fs files gone, what is not in L1 must come from the lm:// tier.
rm -f "$work/l2/"*.data
for i in 1 2 3 4 5 6; do
  check "get $i via lm" 0 client get "m@1@0@$i@uint8" "$work/c$i"
  check "bytes $i via lm" 0 cmp "$work/p$i" "$work/c$i"
done
# The lm:// tier got the same objects, compressed: its server holds them.
check "remote holds blobs" 0 sh -c "'$bin/lmcache-client' --url lm://127.0.0.1:$remote_port list | grep -q 'lmcache-server@'"
kill -TERM "${pids[1]}"
wait "${pids[1]}" || true
check "l2 counters" 0 grep -Eq "^l2 evictions_seen [1-9][0-9]* evictions_dropped 0 stores_ok [1-9]" "$work/tiered.err"
check "l2 hits" 0 grep -Eq " hits [1-9][0-9]* load_failures 0 " "$work/tiered.err"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
