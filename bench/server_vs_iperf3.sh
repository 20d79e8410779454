#!/usr/bin/env bash
# lmcache-server PUT and GET throughput over loopback against iperf3's
# single-stream loopback throughput, measured in the same invocation.
# Usage: bench/server_vs_iperf3.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build}/bin"
secs="${2:-5}"
"$root/ci/setup.sh" bench
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
iperf3 -s -p 5399 -1 >/dev/null 2>&1 &
sleep 0.5
iperf_gbps=$(iperf3 -c 127.0.0.1 -p 5399 -t "$secs" -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e9)')
"$bin/lmcache-server" --port 0 --l1-size-gb 1 2>"$work/server.err" &
for _ in $(seq 200); do grep -q listening "$work/server.err" && break; sleep 0.05; done
port="$(sed -n 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.err")"
printf "iperf3 single stream: %.2f GB/s\n" "$iperf_gbps"
printf "%-6s %-5s %5s %10s %8s\n" size op conns GB/s ratio
for size in 4M 32M; do
  for conns in 1 4; do
    for mix in put=1,get=0 put=0,get=1; do
      "$bin/lmcache-bench" --url "lm://127.0.0.1:$port" --connections "$conns" --sizes "$size" --keys 2 \
        --mix "$mix" --duration-s "$secs" --json "$work/r.json" >/dev/null 2>&1
      gbps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gbps"])' "$work/r.json")
      op=${mix%%=1*}; op=${op##*,}; [ "$mix" = put=1,get=0 ] && op=put || op=get
      printf "%-6s %-5s %5s %10.2f %7.0f%%\n" "$size" "$op" "$conns" "$gbps" \
        "$(python3 -c "print($gbps / $iperf_gbps * 100)")"
    done
  done
done
