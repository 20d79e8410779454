#!/usr/bin/env bash
# The server's GET from L2 of one build against another's (say, the previous
# commit's), in the same invocation, alternating. Each run starts a server
# with a 64 MiB L1 over an fs tier in a fresh folder, PUTs 1,024 keys of
# 256 KiB (256 MiB: three quarters go to L2), waits for the writes, then
# GETs random keys for 4 s over one connection, one call at a time, as an
# LMCache worker does: about three GETs in four miss L1 and are served from
# the fs tier (each promoted into L1, evicting another, which is written).
#   bench/tier_vs_build.sh BASE_BUILD_DIR NEW_BUILD_DIR [ROUNDS]
# Prints each run's GET ops/s and latency p50/p99 (us), then the median
# ratios NEW / BASE. The load generator is NEW's lmcache-bench for both.
set -euo pipefail
base="$1/bin" new="$2/bin" rounds="${3:-3}"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
common=(--connections 1 --depth 1 --sizes 256K --keys 1024 --seed 7)
run() {  # run BIN: prints "ops/s p50 p99 l2_hits"
  local bin="$1" l2="$work/l2-$RANDOM$RANDOM"
  start_server "$bin" "$work/err" --l1-size-bytes $((64 << 20)) --threads 2 \
    --l2-adapter "{\"type\":\"fs\",\"base_path\":\"$l2\"}"
  "$new/lmcache-bench" --url "lm://127.0.0.1:$port" "${common[@]}" --mix put=1 --ops 1 >/dev/null 2>&1
  sleep 3  # the write-back of the evicted three quarters finishes
  "$new/lmcache-bench" --url "lm://127.0.0.1:$port" "${common[@]}" --no-fill --mix get=1 --duration-s 4 \
    >"$work/out" 2>/dev/null
  kill -USR1 "$pid"
  sleep 0.2
  stop_server
  rm -rf "$l2"
  local ops p50 p99 hits
  ops="$(sed -n 's/^throughput [0-9.]* GB\/s, \([0-9]*\) ops\/s.*/\1/p' "$work/out")"
  p50="$(sed -n 's/^get .* p50 *\([0-9.]*\) .*/\1/p' "$work/out")"
  p99="$(sed -n 's/^get .* p99 *\([0-9.]*\) .*/\1/p' "$work/out")"
  hits="$(sed -n 's/.* hits \([0-9]*\) .*/\1/p' "$work/err" | tail -1)"
  if grep -q "mismatches [1-9]\|errors [1-9]" "$work/out"; then echo "bad run: $(head -3 "$work/out")" >&2; exit 1; fi
  echo "$ops $p50 $p99 $hits"
}
: >"$work/ratios"
for r in $(seq "$rounds"); do
  b="$(run "$base")"
  n="$(run "$new")"
  echo "round $r: base ops/s p50 p99 l2_hits: $b   new: $n"
  read -r bo b50 b99 _ <<<"$b"
  read -r no n50 n99 _ <<<"$n"
  awk -v bo="$bo" -v no="$no" -v b50="$b50" -v n50="$n50" -v b99="$b99" -v n99="$n99" \
    'BEGIN { printf "%.3f %.3f %.3f\n", no / bo, n50 / b50, n99 / b99 }' >>"$work/ratios"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median ratio new/base: GET ops/s $(cut -d' ' -f1 "$work/ratios" | median)," \
  "p50 latency $(cut -d' ' -f2 "$work/ratios" | median), p99 latency $(cut -d' ' -f3 "$work/ratios" | median)"
