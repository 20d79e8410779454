#!/usr/bin/env bash
# Shows that the fuzzers find real bugs: plants one in a scratch copy of the
# kit, runs the smoke there (`ci/fuzz.sh SECONDS TARGET`, the target the
# plant names) and reports whether it crashed, how soon, and how.
#
#   ci/fuzz_plant.sh [--seconds N] [PLANT...]    default: every plant, 60 s
#   ci/fuzz_plant.sh --list
#
# A plant is fuzz/plants/<name>.patch: a description on its first line,
# `target: <fuzz target>` on its second, then a diff `git apply` takes. The
# working tree is copied (tracked and untracked files, not ignored ones, so
# no build folder) to a folder under ${TMPDIR:-/tmp}; the patch is applied
# there and the target is built there, so this tree is never touched. Each
# run starts from the committed corpus, as the smoke in .ci/run does.
#
# Prints a line per plant, `caught` or `MISSED`, then `plants: N caught of
# M`; exits 1 if any plant was missed, 2 on a usage or build error. The
# scratch folders are removed unless LMC_KEEP_SCRATCH=1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plants_dir="$root/fuzz/plants"
usage() {
  echo "usage: ci/fuzz_plant.sh [--seconds N] [PLANT...] | ci/fuzz_plant.sh --list" >&2
  exit 2
}
seconds=60
plants=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [[ "${2:-}" =~ ^[0-9]+$ ]] || usage; seconds="$2"; shift 2 ;;
    --list)
      for p in "$plants_dir"/*.patch; do printf '%-30s %s\n' "$(basename "$p" .patch)" "$(head -1 "$p")"; done
      exit 0 ;;
    -*) usage ;;
    *) plants+=("$1"); shift ;;
  esac
done
if [ ${#plants[@]} -eq 0 ]; then
  for p in "$plants_dir"/*.patch; do plants+=("$(basename "$p" .patch)"); done
fi
for p in "${plants[@]}"; do
  [ -f "$plants_dir/$p.patch" ] || { echo "ci/fuzz_plant.sh: no plant '$p' (see --list)" >&2; exit 2; }
done

caught=0
for p in "${plants[@]}"; do
  patch="$plants_dir/$p.patch"
  target="$(sed -n '2s/^target: *//p' "$patch")"
  [ -n "$target" ] || { echo "ci/fuzz_plant.sh: $patch has no 'target:' line" >&2; exit 2; }
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/lmc-plant-$p.XXXXXX")"
  # Tracked files deleted in the working tree (a corpus just merged) are
  # skipped, not an error: the copy is the tree as it is.
  (cd "$root" && git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | (cd "$scratch" && tar -xf -) ||
    { echo "ci/fuzz_plant.sh: could not copy the tree to $scratch" >&2; exit 2; }
  (cd "$scratch" && git init -q && git apply "$patch") || { echo "ci/fuzz_plant.sh: $p does not apply" >&2; exit 2; }
  echo "== $p: $(head -1 "$patch")"
  echo "   planted in $scratch; running ci/fuzz.sh $seconds $target there"
  start=$(date +%s)
  set +e
  bash "$scratch/ci/fuzz.sh" "$seconds" "$target" >"$scratch/plant.log" 2>&1
  status=$?
  set -e
  took=$(($(date +%s) - start))
  if [ $status -eq 2 ]; then
    tail -20 "$scratch/plant.log" >&2
    echo "ci/fuzz_plant.sh: the build or run failed for $p" >&2
    exit 2
  fi
  # The report line ci/fuzz.sh printed under the target's summary (the
  # first oracle or sanitizer line of its log).
  report="$(sed -n '/^    /{/^    replay:/!{s/^    //p;q}}' "$scratch/plant.log")"
  if [ $status -eq 1 ]; then
    caught=$((caught + 1))
    echo "   caught: $target crashed (${took} s including the build): ${report:-see $scratch/plant.log}"
    grep -E '^ *replay:' "$scratch/plant.log" | head -1 || true
  else
    echo "   MISSED: $target ran $seconds s without a crash (log: $scratch/plant.log)"
  fi
  [ "${LMC_KEEP_SCRATCH:-0}" = 1 ] || [ $status -ne 1 ] || rm -rf "$scratch"
done
echo "plants: $caught caught of ${#plants[@]}"
[ "$caught" -eq ${#plants[@]} ]
