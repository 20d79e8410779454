#!/usr/bin/env bash
# lmcache-server against its baselines, in one invocation (issue 27's table):
#   perfect  bench/perfect_loopback's server: each PUT received into its own
#            slot of a 1 GiB store, each GET sent from one, whole objects,
#            the fewest calls, no parsing: the loopback limit for a store;
#   python   bench/lmcache_style_server.py: LMCache's threaded Python server
#            as spec/protocol.md section 5 describes it (a thread per
#            connection, sendall of the reply header, then of the object);
#   base     (optional) lmcache-server of another build, say the previous
#            commit's: the ratio against the previous build.
# Every server is driven by the same plain blocking client, perfect_loopback's
# (not the kit's client library: one writev per PUT, recv(MSG_WAITALL) per
# GET reply), so the ratios compare servers. PUT writes a new key per object,
# as LMCache writes a chunk, into a 1 GiB L1 that is full after the warm pass
# (so every timed PUT evicts); GET cycles over 512 MiB of stored objects.
# Every run makes an untimed warm pass first. Rows: PUT and GET at 256 KiB,
# 4 MiB and 32 MiB over 1 and 4 connections, one request in flight per
# connection. Figures are medians of ROUNDS rounds; within a row the servers
# run one after another, in an order that rotates with the round. The Python
# server starts anew for every run (it never evicts).
#
# Then the small-request latency over 64 connections (lmcache-bench, 4 KiB
# GETs and EXISTs, replied requests only), ours against base, alternating.
#
#   bench/server_vs_perfect.sh [BUILD_DIR] [BASE_BUILD_DIR|-] [ROUNDS] [SECONDS]
# Defaults: build, no base, 3 rounds, 1.5 s per run: about 5 minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(cd "${1:-$root/build}" && pwd)/bin"
base="${2:--}"
[ "$base" = - ] || base="$(cd "$base" && pwd)/bin"
rounds="${3:-3}"
secs="${4:-1.5}"
. "$root/bench/bench_lib.sh"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

bytes_of() { case "$1" in *K) echo $((${1%K} * 1024)) ;; *M) echo $((${1%M} * 1048576)) ;; esac; }

# drive PORT|"" OP SIZE CONNS: the perfect client against the lm:// server on
# PORT, or against its own perfect server; prints GB/s.
drive() {
  local port=$1 op=$2 size=$3 conns=$4 args=()
  case "$op" in
    put) args=(put --keys fresh --store-mb 1024) ;;
    get) args=(get --store-mb 512) ;;
  esac
  [ -n "$port" ] && args+=(--port "$port")
  "$bin/perfect_loopback" "${args[@]}" --size "$(bytes_of "$size")" --connections "$conns" --duration-s "$secs" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["gbps"])'
}

# python OP SIZE CONNS: a fresh Python server, driven; prints GB/s.
python_run() {
  local ppid pport=""
  python3 "$root/bench/lmcache_style_server.py" 127.0.0.1 0 2>"$work/py.err" &
  ppid=$!
  for _ in $(seq 200); do
    pport="$(sed -n 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/py.err")"
    [ -n "$pport" ] && break
    sleep 0.05
  done
  drive "$pport" "$@"
  kill "$ppid"
  wait "$ppid" 2>/dev/null || true
}

# kit_run BIN_DIR OP SIZE CONNS: a fresh lmcache-server (1 GiB L1), driven.
kit_run() {
  local b=$1
  shift
  start_server "$b" "$work/server.err" --l1-size-gb 1
  [ -n "$port" ] || { cat "$work/server.err" >&2; exit 1; }
  drive "$port" "$@"
  stop_server
}

servers=(perfect ours python)
[ "$base" = - ] || servers+=(base)
results="$work/results.txt"
for round in $(seq "$rounds"); do
  for op in put get; do
    for size in 256K 4M 32M; do
      for conns in 1 4; do
        n=${#servers[@]}
        for k in $(seq 0 $((n - 1))); do
          s=${servers[$(((k + round) % n))]}
          case "$s" in
            perfect) g=$(drive "" "$op" "$size" "$conns") ;;
            ours) g=$(kit_run "$bin" "$op" "$size" "$conns") ;;
            base) g=$(kit_run "$base" "$op" "$size" "$conns") ;;
            python) g=$(python_run "$op" "$size" "$conns") ;;
          esac
          echo "$op $size $conns $s $g" >>"$results"
          echo "round $round: $op $size x$conns $s $g GB/s" >&2
        done
      done
    done
  done
done

# Small requests over 64 connections: p50 and p99 of replied requests.
latency() {
  start_server "$1" "$work/server.err" --l1-size-gb 1
  "$bin/lmcache-bench" --url "lm://127.0.0.1:$port" --connections 64 --sizes 4K --keys 16 \
    --mix put=0,get=1,exist=1 --warm-s 0.5 --duration-s "$secs" --json "$work/lat.json" >/dev/null 2>&1
  stop_server
  python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
assert r["errors"] == 0, r
print(" ".join("%s %s %s" % (op, r[op]["p50_us"], r[op]["p99_us"]) for op in ("get", "exist")))' \
    "$work/lat.json"
}
if [ "$base" != - ]; then
  for round in $(seq "$rounds"); do
    for who in ours base; do
      [ $((round % 2)) = 0 ] && who=$([ "$who" = ours ] && echo base || echo ours)
      b=$([ "$who" = ours ] && echo "$bin" || echo "$base")
      echo "latency $who $(latency "$b")" >>"$results"
    done
  done
fi

python3 - "$results" "$rounds" "$secs" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
lat = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "latency":
        for i in range(2, len(f), 3):
            lat[(f[1], f[i], "p50")].append(float(f[i + 1]))
            lat[(f[1], f[i], "p99")].append(float(f[i + 2]))
    else:
        runs[(f[0], f[1], int(f[2]), f[3])].append(float(f[4]))
med = {k: statistics.median(v) for k, v in runs.items()}
has_base = any(k[3] == "base" for k in med)
head = "%-4s %-5s %5s | %7s %7s %7s" % ("op", "size", "conns", "perfect", "ours", "python")
head += " %7s" % "base" if has_base else ""
head += " | %9s %9s" % ("/perfect", "/python") + (" %9s" % "/base" if has_base else "")
print(head)
for (op, size, conns) in dict.fromkeys((k[0], k[1], k[2]) for k in med):
    g = {s: med.get((op, size, conns, s)) for s in ("perfect", "ours", "python", "base")}
    line = "%-4s %-5s %5d | %7.2f %7.2f %7.2f" % (op.upper(), size, conns, g["perfect"], g["ours"], g["python"])
    line += " %7.2f" % g["base"] if has_base else ""
    line += " | %8.2fx %8.2fx" % (g["ours"] / g["perfect"], g["ours"] / g["python"])
    line += " %8.2fx" % (g["ours"] / g["base"]) if has_base else ""
    print(line)
print("GB/s (1e9 B/s), medians of %s rounds of %s s; every server driven by perfect_loopback's client" % (
    sys.argv[2], sys.argv[3]))
if lat:
    for op in ("get", "exist"):
        for q in ("p50", "p99"):
            o, b = statistics.median(lat[("ours", op, q)]), statistics.median(lat[("base", op, q)])
            print("64 connections, 4 KiB %-5s %s: ours %.1f us, base %.1f us, base/ours %.3f" % (op.upper(), q, o, b,
                                                                                               b / o))
EOF
