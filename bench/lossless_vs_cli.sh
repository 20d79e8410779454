#!/usr/bin/env bash
# zstd and lz4 serdes on bf16 KV-like data, with and without byte planes,
# next to the same library called directly (lossless_bench) and to
# `zstd -b` and `lz4 -b` on the same bytes, in one invocation. The CLIs are
# statically linked builds of their own, so they are not the library the
# serde calls; both comparisons are printed.
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
import sys
ours = {}
xxh3 = None
for line in open(sys.argv[1]).read().splitlines()[1:]:
    if line.startswith("xxh3-chunk-in-cache"):
        xxh3 = float(line.split()[-1])
        continue
    name, *v = line.split()
    ours[name] = tuple(float(x) for x in v)
cli = {}
for line in open(sys.argv[2]):
    tool, kind, level, ratio, comp, decomp = line.split()
    cli[(kind, level, tool)] = (float(ratio), float(comp), float(decomp))
print("%-13s | %5s %7s %7s | %5s %7s %7s | %-15s %5s %7s %7s | %-11s | %-11s" % (
    "our serde", "ratio", "comp", "decomp", "lib", "comp", "decomp", "CLI", "ratio", "comp", "decomp",
    "vs library", "vs CLI"))
for name, (codec, level) in [("zstd-1", ("zstd", "1")), ("zstd-3", ("zstd", "3")), ("lz4-1", ("lz4", "1"))]:
    for planes in (False, True):
        key = name + ("+planes" if planes else "")
        c = cli.get(("planes" if planes else "raw", level, codec))
        o = ours.get(key)
        if not c or not o:
            continue
        print("%-13s | %5.3f %7.0f %7.0f | %5.3f %7.0f %7.0f | %-15s %5.3f %7.0f %7.0f | %4.2fx %4.2fx | %4.2fx %4.2fx" % (
            key, o[0], o[1], o[2], o[3], o[4], o[5], "%s -b%s%s" % (codec, level, " planes" if planes else ""),
            c[0], c[1], c[2], o[1] / o[4], o[2] / o[5], o[1] / c[1], o[2] / c[2]))
if xxh3:
    print("XXH3-64 over one chunk in the cache: %.0f MB/s. The best a decoder at the library's speed D can do" % xxh3)
    print("with that check after it is D / (1 + D/%.0f):" % xxh3,
          ", ".join("%s %.2fx" % (k, 1 / (1 + o[5] / xxh3)) for k, o in ours.items()))
print("MB/s of original bytes (1 MB = 1e6 B). 'lib': the same libzstd/liblz4 the serde links, one call on the")
print("whole buffer (planes: on the plane bytes); ratios are comp, decomp: ours / theirs.")
PY
