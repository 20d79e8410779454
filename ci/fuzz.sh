#!/usr/bin/env bash
# A fuzzing campaign on this machine: builds the libFuzzer targets (the
# `fuzz` preset: clang-14, ASan + UBSan, findings abort) and runs each target
# for SECONDS, one after another.
#
#   ci/fuzz.sh SECONDS [TARGET...]     default: every target in fuzz/corpus/
#
# Per target it prints the executions per second, the coverage reached
# (libFuzzer's `cov:`, edges), the corpus size and the crashes, then ends
# with exactly `fuzz: N targets, M crashes`; the exit status is 1 if any
# target crashed (a crash, leak, timeout or out-of-memory: each stops its
# target), 2 on a usage or build error. A crash leaves its input in
# fuzz/corpus-work/crashes/ and prints the one-line command that replays it.
#
# Each target reads its options from fuzz/<target>.options (max_len, dict:
# the same file ClusterFuzzLite ships). New inputs go to
# fuzz/corpus-work/<target>/ (ignored by git); the committed corpus in
# fuzz/corpus/<target>/ is read, never written (merge into it with
# `ci/fuzz.sh merge TARGET`).
#
# LMC_FUZZ_JOBS=2 runs two targets at once (the machine has 2 cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() {
  echo "usage: ci/fuzz.sh SECONDS [TARGET...] | ci/fuzz.sh merge TARGET..." >&2
  exit 2
}
[ $# -ge 1 ] || usage
mode=run
if [ "$1" = merge ]; then
  mode=merge
else
  [[ "$1" =~ ^[0-9]+$ ]] || usage
  seconds="$1"
fi
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  [ "$mode" = run ] || usage
  for d in "$root"/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi
for t in "${targets[@]}"; do
  [ -d "$root/fuzz/corpus/$t" ] || { echo "ci/fuzz.sh: no target '$t' (no fuzz/corpus/$t/)" >&2; exit 2; }
done

"$root/ci/setup.sh" fuzz
# Only the fuzzers asked for (and the libraries they link): a one-target
# run in a fresh clone builds in a minute or two, not the whole kit.
(cd "$root" && cmake --preset fuzz >/dev/null && cmake --build --preset fuzz --parallel "$(nproc)" --target "${targets[@]}") ||
  exit 2
bin="$root/build-fuzz/bin"
work="$root/fuzz/corpus-work"
crashes="$work/crashes"
mkdir -p "$crashes"
# Leaks are findings; UBSan already aborts (-fno-sanitize-recover=all);
# symbolised stacks for the report. A 16 MiB quarantine (ASan's default is
# 256 MiB) still holds freed memory back far longer than one input runs, so
# a use after free within an input is caught, and memory is reused across
# inputs instead of faulted in fresh (docs/FUZZING.md, Speed).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1:quarantine_size_mb=16}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || true)}"

# The libFuzzer flags in fuzz/<target>.options ([libfuzzer] key = value).
options_of() {
  local file="$root/fuzz/$1.options"
  [ -f "$file" ] || return 0
  sed -n 's/^[[:space:]]*\([a-z_]*\)[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1=\2/p' "$file" |
    while IFS='=' read -r key value; do
      [ "$key" = dict ] && value="$root/fuzz/$value"
      printf -- '-%s=%s\n' "$key" "$value"
    done
}

if [ "$mode" = merge ]; then
  # Minimises the committed corpus: keeps the inputs of the committed corpus
  # and of corpus-work/ that add coverage, and nothing else.
  for t in "${targets[@]}"; do
    mapfile -t opts < <(options_of "$t")
    fresh="$(mktemp -d)"
    mkdir -p "$work/$t"  # no campaign ran here yet: nothing new to merge, but the merge still minimises
    # The committed corpus is replaced only by a merge that ended well and
    # kept something: a merge that crashes (an input that kills the target)
    # leaves it as it was, and says why.
    set +e
    "$bin/$t" -merge=1 "${opts[@]}" "$fresh" "$root/fuzz/corpus/$t" "$work/$t" >"$work/$t.merge.log" 2>&1
    rc=$?
    set -e
    grep -E "MERGE-OUTER: [0-9]+ new files" "$work/$t.merge.log" || true
    if [ "$rc" -ne 0 ] || [ -z "$(find "$fresh" -type f -print -quit)" ]; then
      echo "$t: merge failed (exit $rc, $(find "$fresh" -type f | wc -l) inputs kept); fuzz/corpus/$t left as it was" >&2
      grep -m3 -E "^oracle: |ERROR|==[0-9]+==|deadly signal" "$work/$t.merge.log" >&2 || tail -n 3 "$work/$t.merge.log" >&2
      rm -rf "$fresh"
      merge_failed=1
      continue
    fi
    rm -rf "$root/fuzz/corpus/$t"
    mv "$fresh" "$root/fuzz/corpus/$t"
    echo "$t: $(find "$root/fuzz/corpus/$t" -type f | wc -l) inputs, $(du -sh "$root/fuzz/corpus/$t" | cut -f1)"
  done
  exit "${merge_failed:-0}"
fi

# Runs one target; its summary goes to $work/<target>.summary.
run_one() {
  local t="$1" log="$work/$1.log"
  rm -f "$work/$t.summary" "$work/$t.crashes"
  mkdir -p "$work/$t"
  mapfile -t opts < <(options_of "$t")
  local before
  before="$(find "$crashes" -name "$t-*" | sort)"
  local start status=0
  start=$(date +%s%N)
  "$bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${opts[@]}" \
    -artifact_prefix="$crashes/$t-" "$work/$t" "$root/fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  local elapsed runs cov corp new found
  elapsed=$(( ($(date +%s%N) - start) / 1000000000 ))
  # Every grep below may find nothing (a target that crashed on its first
  # input prints no stats): `|| true`, or set -e would end the summary.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  # Done N runs in S second(s) is the fuzzing loop alone (no build, no load).
  local done_line
  done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
  local rate
  if [ -n "$done_line" ]; then
    rate=$(echo "$done_line" | awk '{ if ($5 > 0) printf "%d", $2 / $5; else print "?" }')
  else
    rate=$(( ${runs:-0} / (elapsed > 0 ? elapsed : 1) ))
  fi
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  # The inputs this run wrote (libFuzzer names them in its log; one may
  # already be there from an earlier run of the same crash).
  new=$( (sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"; comm -13 <(echo "$before") <(find "$crashes" -name "$t-*" | sort)) |
    sed '/^$/d' | sort -u || true)
  found=$(echo -n "$new" | grep -c . || true)
  if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi  # died without an artifact: still a finding
  {
    printf '%-28s %9s exec/s  cov %6s  corpus %-12s crashes %s  (%s runs, %s s, log %s)\n' \
      "$t" "$rate" "${cov:-?}" "${corp:-?}" "$found" "${runs:-?}" "$elapsed" "${log#"$root"/}"
    if [ "$found" -gt 0 ]; then
      grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:|^oracle: ' "$log" | sed 's/^/    /' || true
      for a in $new; do
        echo "    replay: build-fuzz/bin/$t ${a#"$root"/}   (gcc build: build/bin/${t}_replay ${a#"$root"/})"
      done
    fi
    echo "$found" >"$work/$t.crashes"
  } >"$work/$t.summary"
}

jobs="${LMC_FUZZ_JOBS:-1}"
echo "fuzz: ${#targets[@]} targets, $seconds s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
total=0
for t in "${targets[@]}"; do
  if [ -f "$work/$t.summary" ] && [ -f "$work/$t.crashes" ]; then
    cat "$work/$t.summary"
    total=$((total + $(cat "$work/$t.crashes")))
  else
    echo "$t: no summary (see fuzz/corpus-work/$t.log); counted as a crash"
    total=$((total + 1))
  fi
done
echo "fuzz: ${#targets[@]} targets, $total crashes"
[ "$total" -eq 0 ] || exit 1
