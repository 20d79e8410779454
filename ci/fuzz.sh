#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan + libFuzzer) and
# runs each one. Usage: ci/fuzz.sh [RUNS_PER_TARGET [TARGET...]]
#   RUNS_PER_TARGET  libFuzzer -runs (default 10000000); 0 replays the corpus only
# New inputs go to fuzz/corpus-work/<target>/ (not committed); the committed
# corpus in fuzz/corpus/<target>/ is read, never written.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-10000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_request fuzz_reply fuzz_metadata fuzz_key fuzz_wire_tool fuzz_serde fuzz_server_session)
"$root/ci/setup.sh" fuzz
"$root/ci/build.sh" fuzz
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  work="$root/fuzz/corpus-work/$t"
  mkdir -p "$work"
  echo "== $t: $runs runs"
  start=$(date +%s)
  log="$root/fuzz/corpus-work/$t.log"
  status=0
  "$root/build-fuzz/bin/$t" -runs="$runs" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$root/fuzz/corpus-work/$t-" "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY|Done)" "$log" || true
  echo "   exit $status after $(( $(date +%s) - start )) s (log: $log)"
  [ "$status" -eq 0 ] || exit "$status"
done
