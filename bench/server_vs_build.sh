#!/usr/bin/env bash
# lmcache-server of one build against another's (say, the previous commit's),
# in the same invocation, alternating, on the workload LMCache has: PUTs of
# keys into a full L1 (4 x 1024 keys of 256 KiB against 256 MiB: nearly every
# PUT evicts), then PUTs and GETs half and half.
#   bench/server_vs_build.sh BASE_BUILD_DIR NEW_BUILD_DIR [ROUNDS] [SIZE]
# Prints each run's GB/s and ops/s, then the median ratio NEW / BASE per mix.
set -euo pipefail
base="$1/bin" new="$2/bin" rounds="${3:-3}" size="${4:-256K}"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
run() {  # run BIN MIX: starts a 256 MiB server, loads it, prints "GB/s ops/s"
  local bin="$1" mix="$2"
  start_server "$bin" "$work/err" --l1-size-bytes $((256 << 20)) --threads 2
  # Fill past the budget first, so every measured PUT evicts.
  "$new/lmcache-bench" --url "lm://127.0.0.1:$port" --connections 4 --depth 4 --sizes "$size" --keys 1024 \
    --mix put=1 --duration-s 2 --seed 7 >/dev/null 2>&1
  "$new/lmcache-bench" --url "lm://127.0.0.1:$port" --connections 4 --depth 4 --sizes "$size" --keys 1024 \
    --mix "$mix" --duration-s 4 --seed 9 >"$work/out" 2>/dev/null
  stop_server
  sed -n 's/^throughput \([0-9.]*\) GB\/s, \([0-9]*\) ops\/s.*/\1 \2/p' "$work/out"
}
for mix in put=1 put=1,get=1; do
  : >"$work/ratios"
  for r in $(seq "$rounds"); do
    b="$(run "$base" "$mix")"; n="$(run "$new" "$mix")"
    echo "$mix round $r: base $b  new $n"
    awk -v b="${b%% *}" -v n="${n%% *}" 'BEGIN { printf "%.3f\n", n / b }' >>"$work/ratios"
  done
  echo "$mix: median ratio new/base $(sort -n "$work/ratios" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
