#!/usr/bin/env bash
# One row of bench/server_vs_perfect.sh, two builds only, many rounds: a
# fresh lmcache-server (1 GiB L1) of BASE then NEW per round, each driven
# by perfect_loopback's client (of NEW) for 1.5 s. For a row whose ratio
# the 5-round run leaves in doubt.
#   bench/server_ab.sh BASE_BUILD NEW_BUILD ROUNDS put|get SIZE_BYTES CONNS
# Prints each pair in GB/s, then the medians and their ratio NEW / BASE.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/bench/bench_lib.sh"
bench_cli "BASE_BUILD NEW_BUILD ROUNDS put|get SIZE_BYTES CONNS" 6 6 "$@"
case "$4" in put | get) ;; *) echo "server_ab.sh: the op is put or get, not '$4'" >&2; exit 2 ;; esac
base="$(cd "$1" && pwd)/bin" new="$(cd "$2" && pwd)/bin" rounds="$3" op="$4" size="$5" conns="$6"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
args=(get --store-mb 512)
[ "$op" = put ] && args=(put --keys fresh --store-mb 1024)
for r in $(seq "$rounds"); do
  line=""
  for bin in "$base" "$new"; do
    start_server "$bin" "$work/err" --l1-size-gb 1
    [ -n "$port" ] || { cat "$work/err" >&2; exit 1; }
    g=$("$new/perfect_loopback" "${args[@]}" --port "$port" --size "$size" --connections "$conns" --duration-s 1.5 |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["gbps"])')
    stop_server
    line="$line $g"
  done
  echo "round $r: base/new GB/s$line" | tee -a "$work/pairs" >&2
done
python3 - "$work/pairs" <<'PY'
import statistics, sys
rows = [l.split()[-2:] for l in open(sys.argv[1])]
b = statistics.median(float(x) for x, _ in rows)
n = statistics.median(float(y) for _, y in rows)
print("median base %.3f new %.3f GB/s; ratio new/base %.3f" % (b, n, n / b))
PY
