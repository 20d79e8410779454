#!/usr/bin/env bash
# lmcache-server PUT and GET throughput over loopback against iperf3's
# single-stream loopback throughput, measured in the same invocation: iperf3
# runs before and after the server runs, and ratios are to the mean of the
# two (this VM's speed drifts). Every GET body is verified (hashed as it
# arrives); depth is the number of requests in flight per connection (1: one
# blocking call after another, as an LMCache worker makes them).
# Usage: bench/server_vs_iperf3.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build}/bin"
secs="${2:-5}"
"$root/ci/setup.sh" bench
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

iperf() {
  iperf3 -s -p 5399 -1 >/dev/null 2>&1 &
  sleep 0.5
  iperf3 -c 127.0.0.1 -p 5399 -t "$secs" -J |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e9)'
  wait
}

iperf_before=$(iperf)
"$bin/lmcache-server" --port 0 --l1-size-gb 1 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 200); do grep -q listening "$work/server.err" && break; sleep 0.05; done
port="$(sed -n 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.err")"
for size in 4M 32M; do
  for cd in 1:1 1:2 4:1; do
    conns=${cd%:*} depth=${cd#*:}
    for op in put get; do
      [ "$op" = put ] && mix=put=1,get=0 || mix=put=0,get=1
      "$bin/lmcache-bench" --url "lm://127.0.0.1:$port" --connections "$conns" --depth "$depth" --sizes "$size" \
        --keys 2 --mix "$mix" --duration-s "$secs" --json "$work/r.json" >/dev/null 2>&1
      gbps=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"]==0 and r["mismatches"]==0, r; print(r["gbps"])' "$work/r.json")
      echo "$size $op $conns $depth $gbps" >>"$work/rows"
    done
  done
done
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
iperf_after=$(iperf)

python3 - "$work/rows" "$iperf_before" "$iperf_after" <<'PY'
import sys
before, after = float(sys.argv[2]), float(sys.argv[3])
base = (before + after) / 2
print("iperf3 single stream: %.2f GB/s before, %.2f GB/s after (mean %.2f)" % (before, after, base))
print("%-6s %-5s %5s %5s %10s %8s" % ("size", "op", "conns", "depth", "GB/s", "ratio"))
for line in open(sys.argv[1]):
    size, op, conns, depth, gbps = line.split()
    print("%-6s %-5s %5s %5s %10.2f %7.0f%%" % (size, op, conns, depth, float(gbps), float(gbps) / base * 100))
PY
