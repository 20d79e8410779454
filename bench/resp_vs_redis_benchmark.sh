#!/usr/bin/env bash
# The Redis tier's GET throughput against redis-benchmark, on one Redis, in
# one invocation (issue 31).
#   bench/resp_vs_redis_benchmark.sh BUILD_DIR [SIZE] [CONNS] [ROUNDS]
# One redis-server on a free loopback port, persistence off. Per round:
# redis-benchmark -t get -d SIZE -c CONNS -P 1 (one request in flight per
# connection, the keys SET first by -t set) and resp_get_bench (the kit's
# RESP client as the resp adapter runs it: CONNS callers, one connection
# each, every GET read into a buffer and its size checked) with the same
# SIZE, CONNS and about 3 GB of GETs. Prints each round and the medians, and
# the kit's throughput as a ratio of redis-benchmark's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/bench/bench_lib.sh"
bench_cli "BUILD_DIR [SIZE] [CONNS] [ROUNDS]" 1 4 "$@"
bin="$(cd "$1" && pwd)/bin" size="${2:-262144}" conns="${3:-4}" rounds="${4:-3}"
[ -x "$bin/resp_get_bench" ] || { echo "no $bin/resp_get_bench: build the target resp_get_bench" >&2; exit 1; }
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
n=$(( 3000000000 / size )); [ "$n" -lt 100 ] && n=100
for round in $(seq "$rounds"); do
  redis-cli -p "$port" flushall >/dev/null
  rb=$(redis-benchmark -p "$port" -t set,get -d "$size" -c "$conns" -r 64 -n "$n" -P 1 --csv 2>/dev/null |
    python3 -c 'import csv,sys
d=int(sys.argv[1]); r={row[0]: float(row[1]) for row in csv.reader(sys.stdin) if row and row[0]=="GET"}
print("%.1f" % (r["GET"]*d/1e6))' "$size")
  redis-cli -p "$port" flushall >/dev/null
  kit=$("$bin/resp_get_bench" 127.0.0.1 "$port" "$size" 64 "$conns" "$n" | sed -E 's/.*, ([0-9.]+) MB\/s/\1/')
  echo "round $round: redis-benchmark GET $rb MB/s, kit resp client GET $kit MB/s" >&2
  echo "$rb $kit" >>"$work/results"
done
python3 - "$work/results" "$size" "$conns" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
rb = statistics.median(r[0] for r in rows)
kit = statistics.median(r[1] for r in rows)
print("GET of %s-byte values over %s connections, medians of %d rounds: redis-benchmark %.1f MB/s, "
      "kit resp client %.1f MB/s (%.2fx)" % (sys.argv[2], sys.argv[3], len(rows), rb, kit, kit / rb))
PY
