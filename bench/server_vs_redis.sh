#!/usr/bin/env bash
# lmcache-server PUT/GET against redis-server SET/GET of the same value sizes
# at the same concurrency, interleaved in one invocation.
# Usage: bench/server_vs_redis.sh [BUILD_DIR] [ROUNDS] [SECONDS]
#
# Both servers run alone on loopback with persistence off. redis-benchmark
# (-P 1: one request in flight per connection) drives redis; lmcache-bench
# (--depth 1) drives ours. redis-benchmark checks no reply bodies, so the
# like-for-like row runs lmcache-bench with --no-verify; the verified row
# shows what checking every GET body costs on this 2-core machine. Each
# figure is the median over ROUNDS interleaved rounds (this VM's speed drifts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build}/bin"
rounds="${2:-3}"
secs="${3:-2}"
"$root/ci/setup.sh" bench
work="$(mktemp -d)"
trap 'redis-cli -p 6391 shutdown nosave >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

redis-server --port 6391 --save "" --appendonly no --protected-mode no --daemonize no >"$work/redis.log" 2>&1 &
"$bin/lmcache-server" --port 0 --l1-size-gb 1 2>"$work/server.err" &
for _ in $(seq 300); do grep -q listening "$work/server.err" && redis-cli -p 6391 ping >/dev/null 2>&1 && break; sleep 0.05; done
port="$(sed -n 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.err")"

bytes_of() { case "$1" in *K) echo $(( ${1%K} * 1024 ));; *M) echo $(( ${1%M} * 1048576 ));; esac; }

# redis: prints "SET_GBPS GET_GBPS" (requests/s times the value size).
redis_run() {
  local size=$1 conns=$2 d n
  d=$(bytes_of "$size")
  n=$(( 3000000000 / d )); [ "$n" -lt 40 ] && n=40
  redis-cli -p 6391 flushall >/dev/null
  timeout 300 redis-benchmark -p 6391 -t set,get -d "$d" -c "$conns" -r "$conns" -n "$n" -P 1 --csv 2>/dev/null |
    python3 -c 'import csv,sys
d=int(sys.argv[1]); r={row[0]: float(row[1]) for row in csv.reader(sys.stdin) if row and row[0] in ("SET","GET")}
print(r["SET"]*d/1e9, r["GET"]*d/1e9)' "$d"
}

# lmcache-bench: prints GB/s for one mix.
ours_run() {
  local size=$1 conns=$2 mix=$3; shift 3
  "$bin/lmcache-bench" --url "lm://127.0.0.1:$port" --connections "$conns" --sizes "$size" --keys 1 \
    --mix "$mix" --duration-s "$secs" --depth 1 --json "$work/r.json" "$@" >/dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"]==0 and r["mismatches"]==0, r; print(r["gbps"])' "$work/r.json"
}

results="$work/results.txt"
for round in $(seq "$rounds"); do
  for size in 256K 4M 32M; do
    for conns in 1 4; do
      read -r rset rget < <(redis_run "$size" "$conns")
      put=$(ours_run "$size" "$conns" put=1,get=0)
      get=$(ours_run "$size" "$conns" put=0,get=1 --no-verify)
      vget=$(ours_run "$size" "$conns" put=0,get=1)
      echo "$size $conns $rset $rget $put $get $vget" >>"$results"
      echo "round $round: $size x$conns redis set $rset get $rget | lmcache put $put get $get verified-get $vget" >&2
    done
  done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    size, conns, *v = line.split()
    rows.setdefault((size, int(conns)), []).append([float(x) for x in v])
print("%-5s %5s | %9s %9s | %9s %9s %6s %6s | %12s" % ("size", "conns", "redis SET", "redis GET",
      "lmc PUT", "lmc GET", "PUT x", "GET x", "verified GET"))
for (size, conns), runs in rows.items():
    m = [statistics.median(col) for col in zip(*runs)]
    print("%-5s %5d | %9.2f %9.2f | %9.2f %9.2f %5.2fx %5.2fx | %7.2f %4.2fx" % (
        size, conns, m[0], m[1], m[2], m[3], m[2] / m[0], m[3] / m[1], m[4], m[4] / m[1]))
print("GB/s, medians of %d interleaved rounds" % len(next(iter(rows.values()))))
EOF
