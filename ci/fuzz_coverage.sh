#!/usr/bin/env bash
# Line coverage reached by the committed fuzz corpora alone: no fuzzing, no
# unit tests. Builds the `*_replay` executables with the fuzz-coverage preset
# (clang-14 source-based coverage, -O0, asserts off: llvm-cov 14 counts the
# line after each assert as never run), replays every
# fuzz/corpus/<target>/ through its <target>_replay, merges the profiles and
# reports with llvm-cov-14.
#
#   ci/fuzz_coverage.sh [--html] [FOLDER...]
#       FOLDER   source folders to report (default: impl/wire impl/protocol
#                impl/serde); *_test.cc files are never counted
#       --html   also writes llvm-cov's HTML view to build-fuzz-coverage/html/
#
# Writes build-fuzz-coverage/fuzz-coverage.txt (and prints it): the
# `llvm-cov report` table, the line coverage per file, one total line per
# folder, and the uncovered line ranges of every file under 100%.
#
# Targets are the folders of fuzz/corpus/ (folder T replays with CMake target
# T_replay), so a new target is picked up without editing this script.
#
# Time here (2 cores): about 4 min from an empty build dir (the build is
# nearly all of it), about 10 s when the build is up to date; the replays
# themselves take a few seconds. Not part of .ci/run.
#
# Exit status: 0; 1 if a replay failed (a crash or a failed oracle on a
# committed input: its target's counts are then missing from the report);
# 2 on a usage or build error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz-coverage"
usage() {
  echo "usage: ci/fuzz_coverage.sh [--html] [FOLDER...]   (FOLDER e.g. impl/wire)" >&2
  exit 2
}

html=0
folders=()
for arg in "$@"; do
  case "$arg" in
    --html) html=1 ;;
    -*) usage ;;
    *) folders+=("${arg%/}") ;;
  esac
done
[ ${#folders[@]} -gt 0 ] || folders=(impl/wire impl/protocol impl/serde)
for f in "${folders[@]}"; do
  [ -d "$root/$f" ] || { echo "ci/fuzz_coverage.sh: no folder '$f'" >&2; exit 2; }
done

# clang-14 and llvm-14 (llvm-profdata-14, llvm-cov-14).
"$root/ci/setup.sh" fuzz
cd "$root"
cmake --preset fuzz-coverage >/dev/null || exit 2

# Every corpus folder whose replay target exists. A corpus that lands before
# its CMake target is skipped with a warning rather than failing the build of
# all the others.
targets=()
skipped=()
known="$(ninja -C "$build" -t targets all)"
for d in "$root"/fuzz/corpus/*/; do
  t="$(basename "$d")"
  if grep -qx "${t}_replay: phony" <<<"$known"; then
    targets+=("$t")
  else
    skipped+=("$t")
    echo "ci/fuzz_coverage.sh: warning: fuzz/corpus/$t/ has no CMake target ${t}_replay; skipped" >&2
  fi
done
[ ${#targets[@]} -gt 0 ] || { echo "ci/fuzz_coverage.sh: no replay targets" >&2; exit 2; }

# Only the replays (and the libraries they link), not the whole suite.
replays=("${targets[@]/%/_replay}")
cmake --build --preset fuzz-coverage --parallel "$(nproc)" --target "${replays[@]}" || exit 2

# Fresh profiles every run: left-over .profraw files would add their counts.
profiles="$build/profiles"
rm -rf "$profiles"
mkdir -p "$profiles"

# The wire and fp8 decoders pick a SIMD kernel form once per process by CPU
# level (impl/base/cpu.h). Each corpus replays once per level, capped with
# LMC_CPU_LEVEL as the unit tests do, so the forms this CPU runs are all
# counted, not just the fastest one. A level above the CPU's runs the CPU's.
levels=(portable sse2 avx2 avx512)
failed=()
summary=()
for t in "${targets[@]}"; do
  line="$t:"
  for level in "${levels[@]}"; do
    log="$profiles/$t.$level.log"
    if LMC_CPU_LEVEL="$level" LLVM_PROFILE_FILE="$profiles/$t.$level.profraw" \
        "$build/bin/${t}_replay" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
      :
    else
      failed+=("$t ($level)")
      echo "ci/fuzz_coverage.sh: ${t}_replay failed at LMC_CPU_LEVEL=$level; see ${log#"$root"/}" >&2
    fi
  done
  line+=" $(grep -oE 'replayed [0-9]+ inputs' "$profiles/$t.portable.log" || echo 'no result')"
  summary+=("$line")
done

shopt -s nullglob
raw=("$profiles"/*.profraw)
shopt -u nullglob
[ ${#raw[@]} -gt 0 ] || { echo "ci/fuzz_coverage.sh: no profiles written" >&2; exit 1; }
llvm-profdata-14 merge -sparse -o "$profiles/merged.profdata" "${raw[@]}"

# Objects for llvm-cov: every replay binary, plus every static library a
# replay links. The libraries carry the coverage mapping of all their
# members, so a file that no replay pulls in (the linker drops members
# nothing references, e.g. client_session.cc) is reported at 0% instead of
# vanishing from the table. This makes llvm-cov warn "N functions have
# mismatched data": those are the hash-0 placeholder records clang writes for
# inline functions a member declares but never emits; the emitted copy in a
# binary is the one counted, so the warning is harmless.
objects=()
for t in "${targets[@]}"; do
  objects+=(-object "$build/bin/${t}_replay")
done
mapfile -t archives < <(for r in "${replays[@]}"; do
  ninja -C "$build" -t query "bin/$r" | sed -n 's/^ *|* *\([^ ]*\.a\)$/\1/p'
done | sort -u)
# Each archive's members are given one by one: llvm-cov 14 refuses some
# whole archives ("malformed coverage data": lmc_simnet's) whose members it
# reads one at a time without complaint.
members="$build/cov-objects"
rm -rf "$members"
for a in "${archives[@]}"; do
  dir="$members/$(basename "$a" .a)"
  mkdir -p "$dir"
  (cd "$dir" && ar x "$build/$a")
  for o in "$dir"/*.o; do objects+=(-object "$o"); done
done
# The first object is given without -object (llvm-cov's syntax).
cov_args=(-instr-profile "$profiles/merged.profdata" "${objects[@]:1}")
ignore=(-ignore-filename-regex='_test\.cc$')
sources=("${folders[@]/#/$root/}")

report="$build/fuzz-coverage.txt"
{
  echo "fuzz coverage: the committed corpora alone, replayed at LMC_CPU_LEVEL=${levels[*]}"
  echo "commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- fuzz/corpus impl && echo "" || echo " (with uncommitted changes)"), $(date -u '+%Y-%m-%d %H:%M UTC')"
  printf '  %s\n' "${summary[@]}"
  for t in "${skipped[@]}"; do echo "  $t: skipped (no CMake target ${t}_replay)"; done
  for f in "${failed[@]}"; do echo "  FAILED: $f (its counts are missing)"; done
  echo
  echo "== llvm-cov report: ${folders[*]} =="
  (cd "$root" && llvm-cov-14 report "${cov_args[@]}" "${ignore[@]}" "${sources[@]}")
  echo
  # Line coverage per file and per folder, from the same data as JSON.
  llvm-cov-14 export -summary-only "${cov_args[@]}" "${ignore[@]}" "${sources[@]}" |
    python3 -c '
import json, os, sys
root, folders = sys.argv[1], sys.argv[2:]
files = json.load(sys.stdin)["data"][0]["files"]
rows = sorted((os.path.relpath(f["filename"], root), f["summary"]["lines"]) for f in files)
width = max([len(n) for n, _ in rows] + [len(f) for f in folders])
def line(name, covered, count, extra=""):
    pct = 100.0 * covered / count if count else 0.0
    print("%-*s  %5d/%-5d lines %6.2f%%%s" % (width, name, covered, count, pct, extra))
print("== line coverage per file ==")
for name, l in rows:
    line(name, l["covered"], l["count"])
print()
print("== line coverage per folder ==")
for folder in folders:
    mine = [l for n, l in rows if n.startswith(folder + "/")]
    line(folder, sum(l["covered"] for l in mine), sum(l["count"] for l in mine), "  (%d files)" % len(mine))
# Sources that are in no library a replay links: not counted above.
seen = {n for n, _ in rows}
lost = sorted(os.path.relpath(os.path.join(d, f), root)
              for folder in folders
              for d, _, fs in os.walk(os.path.join(root, folder))
              for f in fs if f.endswith(".cc") and not f.endswith("_test.cc"))
lost = [n for n in lost if n not in seen]
if lost:
    print()
    print("not linked into any replay, so not counted above:")
    for n in lost:
        print("  " + n)
' "$root" "${folders[@]}"
  echo
  # The serde decoders: every function of impl/serde on the path that reads
  # a blob (Deserialize, the decode and decompress kernels, the byte-plane
  # join, fp8 to float), not the encoders, the registry or the batch and
  # async drivers around them.
  echo "== serde decoders: functions matching Deserialize|Decode|Decompress|Join|Fp8ToFloat|CastFromFp8 =="
  llvm-cov-14 report -show-functions "${cov_args[@]}" "${ignore[@]}" "$root/impl/serde" 2>/dev/null |
    python3 -c '
import re, subprocess, sys
want = re.compile(r"Deserialize|Decode|Decompress|Join|Fp8ToFloat|CastFromFp8")
skip = re.compile(r"DeserializeBatch|SubmitDeserialize|QueryDeserialize|AsyncSerdeProcessor")
rows = []
for l in sys.stdin:
    f = l.split()
    if len(f) < 10 or not f[-5].isdigit() or not f[-6].isdigit():
        continue
    name, lines, missed = f[0], int(f[-6]), int(f[-5])
    if want.search(name) and not skip.search(name):
        rows.append((name, lines, missed))
total = sum(r[1] for r in rows)
covered = total - sum(r[2] for r in rows)
print("%d functions: %d/%d lines %.2f%%" % (len(rows), covered, total, 100.0 * covered / total if total else 0))
for name, lines, missed in rows:
    if missed:
        shown = name.split(":")[-1]
        try:
            shown = subprocess.run(["c++filt"], input=shown, capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
        print("  %d of %d lines missed: %s" % (missed, lines, shown[:150]))
'
  echo
  # Uncovered line ranges per file: the lines with count 0. Written one text
  # file per source (-output-dir), as llvm-cov names the file in its output
  # only when it shows more than one.
  echo "== uncovered lines (count 0) per file =="
  rm -rf "$profiles/show"
  llvm-cov-14 show -show-instantiations=false -show-line-counts -output-dir="$profiles/show" \
    "${cov_args[@]}" "${ignore[@]}" "${sources[@]}"
  python3 -c '
import os, re, sys
root, show = sys.argv[1], sys.argv[2] + "/coverage"
for d, _, fs in sorted(os.walk(show)):
    for f in sorted(fs):
        path = os.path.join(d, f)
        zeros = []
        with open(path) as text:
            for l in text:
                m = re.match(r"^\s*(\d+)\|\s*0\|", l)
                if m:
                    zeros.append(int(m.group(1)))
        if not zeros:
            continue
        ranges, start = [], 0
        for i in range(1, len(zeros) + 1):
            if i == len(zeros) or zeros[i] != zeros[i - 1] + 1:
                a, b = zeros[start], zeros[i - 1]
                ranges.append(str(a) if a == b else "%d-%d" % (a, b))
                start = i
        source = os.path.relpath(path[len(show):-len(".txt")], root)
        print("%s: %s" % (source, ", ".join(ranges)))
' "$root" "$profiles"
} >"$report"
cat "$report"

if [ "$html" -eq 1 ]; then
  rm -rf "$build/html"
  llvm-cov-14 show -format=html -show-line-counts-or-regions -output-dir="$build/html" \
    "${cov_args[@]}" "${ignore[@]}" "${sources[@]}"
  echo "fuzz coverage: HTML in ${build#"$root"/}/html/index.html"
fi
echo "fuzz coverage: report in ${report#"$root"/}"
[ ${#failed[@]} -eq 0 ] || exit 1
