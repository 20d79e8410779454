#!/usr/bin/env bash
# How long the fs tier's restart scan takes over N objects (issue 31), against
# the least any scan must do, in one invocation: list the folder and read
# every record file (Python's os.scandir and open/read, page cache warm).
#   bench/fs_recovery.sh BUILD_DIR [N] [DIR]
# Fills DIR (default: a temporary folder) by PUTting N distinct 4 KiB objects
# through lmcache-server with a 16 MiB L1 over an fs tier ("fsync": false and
# a 1 GiB write-back budget for the fill, so that every eviction is written),
# stops it, starts it again on the same folder and reads the scan's own log
# line. N defaults to 100000: about 96,000 evicted objects, so 192,000 files
# (objects and their records).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/bench/bench_lib.sh"
bench_cli "BUILD_DIR [N] [DIR]" 1 3 "$@"
bin="$(cd "$1" && pwd)/bin" n="${2:-100000}"
work="$(mktemp -d)"
dir="${3:-$work/l2}"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
adapter="{\"type\":\"fs\",\"base_path\":\"$dir\",\"fsync\":false}"
start_server "$bin" "$work/fill.log" --l1-size-bytes $((16 << 20)) --l2-max-pending-bytes $((1 << 30)) --l2-adapter "$adapter"
[ -n "$port" ] || { cat "$work/fill.log" >&2; exit 1; }
python3 - "$port" "$n" <<'PY'
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
body = bytes(range(256)) * 16
def header(cmd, key, length=0):
    k = key.encode()
    return struct.pack("<9i", cmd, length, 5, 6, 0, 1, 1, 1, length) + k + b" " * (150 - len(k))
with socket.create_connection(("127.0.0.1", port)) as s:
    batch = []
    for i in range(n):
        batch.append(header(1, "scan@1@0@%x@uint8" % (i + 1), len(body)) + body)
        if len(batch) == 256:
            s.sendall(b"".join(batch)); batch = []
    s.sendall(b"".join(batch) + header(5, "@0@0@0@half"))
    got = b""
    while len(got) < 36:
        got += s.recv(36 - len(got))
PY
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
files=$(ls -f "$dir" | grep -c '\.data$' || true)
if [ "$files" -eq 0 ]; then
  echo "fs_recovery.sh: nothing was evicted into the tier (N=$n objects of 4 KiB fit the 16 MiB L1): use a larger N" >&2
  exit 1
fi
start_server "$bin" "$work/scan.log" --l1-size-bytes $((16 << 20)) --l2-adapter "$adapter"
[ -n "$port" ] || { cat "$work/scan.log" >&2; exit 1; }
line="$(log_value "$work/scan.log" 's/.*\(restart scan indexed.*\)/\1/p' 1200 0.1)"
stop_server
[ -n "$line" ] || { echo "no scan line" >&2; cat "$work/scan.log" >&2; exit 1; }
floor=$(python3 - "$dir" <<'PY'
import os, sys, time
t = time.monotonic()
n = 0
for e in os.scandir(sys.argv[1]):
    if e.name.endswith("-r.data"):
        with open(e.path, "rb") as f:
            n += len(f.read())
print(f"{time.monotonic() - t:.3f}")
PY
)
scan=$(echo "$line" | sed -n 's/.* in \([0-9.]*\) s$/\1/p')
echo "$files files; the scan: $line"
python3 -c "print(f'scan {$scan:.2f} s, listing and reading every record in Python {$floor:.2f} s: {$scan / $floor:.1f}x the floor')"
