#!/usr/bin/env bash
# What L1's chunk size (--l1-chunk-bytes) costs or buys: lmcache-server of
# one build at each chunk size, in the same invocation, alternating (the
# order rotates by round), driven by perfect_loopback's plain client as in
# bench/server_vs_perfect.sh: PUT (a new key per object into a full 1 GiB
# L1, so every timed PUT evicts) and GET (cycling over 512 MiB stored), at
# 256 KiB, 4 MiB and 32 MiB over 1 and 4 connections.
#   bench/chunk_size.sh [BUILD_DIR] [ROUNDS] [SECONDS] [CHUNKS...]
# CHUNKS default to 256K 1M 2M 4M. Prints medians in GB/s (1e9 B/s) and
# each size's ratio to the first chunk size.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/bench/bench_lib.sh"
bench_cli "[BUILD_DIR] [ROUNDS] [SECONDS] [CHUNKS...]" 0 100 "$@"
bin="$(cd "${1:-$root/build}" && pwd)/bin"
rounds="${2:-3}"
secs="${3:-1.5}"
shift $(($# < 3 ? $# : 3))
chunks=("$@")
[ ${#chunks[@]} -gt 0 ] || chunks=(256K 1M 2M 4M)
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
bytes_of() { case "$1" in *K) echo $((${1%K} * 1024)) ;; *M) echo $((${1%M} * 1048576)) ;; esac; }

results="$work/results.txt"
: >"$results"
for r in $(seq "$rounds"); do
  n=${#chunks[@]}
  for i in $(seq 0 $((n - 1))); do
    chunk=${chunks[$(((i + r) % n))]}
    for op in put get; do
      for size in 256K 4M 32M; do
        for conns in 1 4; do
          start_server "$bin" "$work/server.err" --l1-size-gb 1 --l1-chunk-bytes "$(bytes_of "$chunk")"
          [ -n "$port" ] || { cat "$work/server.err" >&2; exit 1; }
          args=(get --store-mb 512)
          [ "$op" = put ] && args=(put --keys fresh --store-mb 1024)
          g=$("$bin/perfect_loopback" "${args[@]}" --port "$port" --size "$(bytes_of "$size")" \
            --connections "$conns" --duration-s "$secs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gbps"])')
          stop_server
          echo "$op $size $conns $chunk $g" | tee -a "$results" >&2
        done
      done
    done
  done
done
python3 - "$results" "${chunks[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
chunks = sys.argv[2:]
med = {}
for op, size, conns, chunk, g in rows:
    med.setdefault((op, size, conns, chunk), []).append(float(g))
med = {k: statistics.median(v) for k, v in med.items()}
print("%-4s %-5s %5s | " % ("op", "size", "conns") + " ".join("%7s" % c for c in chunks) + " | " +
      " ".join("%9s" % ("/" + chunks[0]) for c in chunks[1:]))
for op in ("put", "get"):
    for size in ("256K", "4M", "32M"):
        for conns in ("1", "4"):
            g = [med[(op, size, conns, c)] for c in chunks]
            print("%-4s %-5s %5s | " % (op.upper(), size, conns) + " ".join("%7.2f" % x for x in g) + " | " +
                  " ".join("%8.2fx" % (x / g[0]) for x in g[1:]))
PY
