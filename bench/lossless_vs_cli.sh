#!/usr/bin/env bash
# zstd and lz4 serdes on bf16 KV-like data, with and without byte planes,
# next to `zstd -b` and `lz4 -b` on the same bytes (the library's own
# speed at the same level), in one invocation.
# Usage: bench/lossless_vs_cli.sh [BUILD_DIR] [REPS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build}/bin"
reps="${2:-5}"
"$root/ci/setup.sh" bench
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin/lossless_bench" "$work" "$reps" >"$work/ours.txt"
# The CLIs redraw a progress line with carriage returns and then print
# "N#" for level N: keep, per level, the last complete result before it.
cli() {
  "$@" 2>&1 | python3 -c '
import re, sys
last = None
for seg in re.split(r"[\r\n]", sys.stdin.read()):
    m = re.search(r"\(x?([\d.]+)\),\s*([\d.]+) MB/s\s*,\s*([\d.]+) MB/s", seg)
    if m:
        last = m.groups()
    n = re.match(r"^\s*(\d+)#", seg)
    if n and last:
        print(n.group(1), *last)
        last = None'
}
{
  cli zstd -b1 -e3 -i3 "$work/kv_bf16.bin" | sed 's/^/zstd raw /'
  cli zstd -b1 -e3 -i3 "$work/kv_bf16_planes.bin" | sed 's/^/zstd planes /'
  cli lz4 -b1 -i3 "$work/kv_bf16.bin" | sed 's/^/lz4 raw /'
  cli lz4 -b1 -i3 "$work/kv_bf16_planes.bin" | sed 's/^/lz4 planes /'
} >"$work/cli.txt"
python3 - "$work/ours.txt" "$work/cli.txt" <<'PY'
import re, sys
ours = {}
for line in open(sys.argv[1]).read().splitlines()[1:]:
    name, ratio, comp, decomp = line.split()
    ours[name] = (float(ratio), float(comp), float(decomp))
cli = {}
for line in open(sys.argv[2]):
    tool, kind, level, ratio, comp, decomp = line.split()
    cli[(kind, level, tool)] = (float(ratio), float(comp), float(decomp))
print("%-15s | %6s %9s %9s | %-14s %6s %9s %9s | %6s %6s" % ("our serde", "ratio", "comp", "decomp", "CLI", "ratio", "comp", "decomp", "comp", "decomp"))
for name, (codec, level) in [("zstd-1", ("zstd", "1")), ("zstd-3", ("zstd", "3")), ("lz4-1", ("lz4", "1"))]:
    for planes in (False, True):
        key = name + ("+planes" if planes else "")
        c = cli.get(("planes" if planes else "raw", level, codec))
        o = ours.get(key)
        if not c or not o:
            continue
        print("%-15s | %6.3f %9.1f %9.1f | %-14s %6.3f %9.1f %9.1f | %5.2fx %5.2fx" % (
            key, o[0], o[1], o[2], "%s -b%s%s" % (codec, level, " planes" if planes else ""), c[0], c[1], c[2],
            o[1] / c[1], o[2] / c[2]))
print("MB/s of original bytes (1 MB = 1e6 B); last two columns: ours / the CLI's")
PY
