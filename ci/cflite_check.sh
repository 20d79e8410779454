#!/usr/bin/env bash
# Runs .clusterfuzzlite/build.sh on this machine, without Docker, the way
# ClusterFuzzLite's builder runs it, then checks what it put in $OUT the way
# the fuzzing machines will use it. Usage:
#   ci/cflite_check.sh [SANITIZER]     address (default), undefined or coverage
# Environment: RUNS (libFuzzer -runs after the seed corpus, default 100),
# CFLITE_CXX (default clang++-14), CFLITE_JOBS (build jobs, default 2),
# CFLITE_KEEP=1 (keep the temporary folders and print where they are).
#
# Layout, as in the builder image: SRC=<tmp>/src with this working tree
# (uncommitted changes included) as $SRC/lmcache-kit, and empty OUT and WORK.
# Flags, as OSS-Fuzz's base-clang and base-builder images compose them for
# the sanitizer (CFLAGS + SANITIZER_FLAGS_<san> + COVERAGE_FLAGS), except:
# no -stdlib=libc++ (OSS-Fuzz links its own static libc++; here the build
# uses the system libstdc++) and none of the -Wno-error=... flags, which only
# soften errors in C code.
#
# Checks, for every fuzz/fuzz_*.cc (so a target left out of
# fuzz/CMakeLists.txt is caught): the fuzzer is in $OUT and needs no shared
# library beyond glibc, libgcc_s and libstdc++; in an address build it has
# ASan and no UBSan instrumentation (OSS-Fuzz's bad-build thresholds); its
# seed corpus zip holds fuzz/corpus/T/; T.dict and T.options are copied when
# fuzz/ has them and the options parse; and it runs on the unzipped seed
# corpus plus RUNS inputs with the runner's sanitizer options, its options
# file and dictionary, exiting 0 with at least 100 instrumented edges (a
# coverage build instead replays the corpus as the coverage job does and
# must write a profile).
#
# Takes 2 to 3 minutes on 2 cores: 1.5 to 3 for the build of the
# fuzzers and the libraries they link, about 15 s for the checks.
# Prints a table and exits non-zero if anything is wrong.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sanitizer="${1:-address}"
runs="${RUNS:-100}"
start=$(date +%s)

case "$sanitizer" in
  # OSS-Fuzz's SANITIZER_FLAGS_<sanitizer> (infra/base-images/base-builder).
  address) san_flags="-fsanitize=address -fsanitize-address-use-after-scope" ;;
  undefined)
    checks="array-bounds,bool,builtin,enum,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound,vptr"
    san_flags="-fsanitize=$checks,unsigned-integer-overflow -fno-sanitize-recover=$checks" ;;
  coverage) san_flags="" ;;
  *) echo "ci/cflite_check.sh: sanitizer must be address, undefined or coverage, not '$sanitizer'" >&2; exit 2 ;;
esac
# COVERAGE_FLAGS: libFuzzer's edge counters, or source coverage for reports.
cov_flags="-fsanitize=fuzzer-no-link"
[ "$sanitizer" = coverage ] && cov_flags="-fprofile-instr-generate -fcoverage-mapping -pthread -Wl,--no-as-needed -Wl,-ldl -Wl,-lm -Wno-unused-command-line-argument"

for tool in "${CFLITE_CXX:-clang++-14}" cmake ninja zip unzip readelf objdump; do
  command -v "$tool" >/dev/null || { echo "ci/cflite_check.sh: $tool is missing (ci/setup.sh fuzz, apt-get install zip unzip)" >&2; exit 2; }
done

tmp="$(mktemp -d /tmp/cflite-check.XXXXXX)"
if [ "${CFLITE_KEEP:-0}" = 1 ]; then
  trap 'echo "kept: $tmp"' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi
mkdir -p "$tmp/src" "$tmp/out" "$tmp/work" "$tmp/run"
ln -s "$root" "$tmp/src/lmcache-kit"
cp "$root/.clusterfuzzlite/build.sh" "$tmp/src/build.sh"

# ---- build, in a clean environment with only what the builder image sets
base_cflags="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
flags="$base_cflags $san_flags $cov_flags"
echo "== build.sh ($sanitizer): CXXFLAGS=$flags"
build_log="$tmp/build.log"
build_start=$(date +%s)
if ! (cd "$tmp/src/lmcache-kit" && env -i PATH="$PATH" HOME="$HOME" \
      SRC="$tmp/src" OUT="$tmp/out" WORK="$tmp/work" \
      CC="${CFLITE_CC:-clang-14}" CXX="${CFLITE_CXX:-clang++-14}" \
      CFLAGS="$flags" CXXFLAGS="$flags" \
      LIB_FUZZING_ENGINE="-fsanitize=fuzzer" SANITIZER="$sanitizer" \
      FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c++ \
      LMC_BUILD_JOBS="${CFLITE_JOBS:-2}" \
      bash -eu "$tmp/src/build.sh") >"$build_log" 2>&1; then
  tail -40 "$build_log"
  echo "FAIL: build.sh exited non-zero (log above; CFLITE_KEEP=1 keeps $build_log)"
  exit 1
fi
build_secs=$(( $(date +%s) - build_start ))
echo "   built in ${build_secs} s"

# ---- checks
out="$tmp/out"
problems=()
problem() { problems+=("$1: $2"); }

# The runner's sanitizer options and fuzzer arguments (base-runner image).
export ASAN_OPTIONS="alloc_dealloc_mismatch=0:allocator_may_return_null=1:allocator_release_to_os_interval_ms=500:check_malloc_usable_size=0:detect_container_overflow=1:detect_odr_violation=0:detect_leaks=1:detect_stack_use_after_return=1:fast_unwind_on_fatal=0:handle_abort=1:handle_segv=1:handle_sigill=1:max_uar_stack_size_log=16:print_scariness=1:quarantine_size_mb=10:strict_memcmp=1:symbolize=1:use_sigaltstack=1:dedup_token_length=3"
export UBSAN_OPTIONS="print_stacktrace=1:print_summary=1:silence_unsigned_overflow=1:symbolize=1:dedup_token_length=3"
runner_args=(-rss_limit_mb=2560 -timeout=25)
allowed_needed='^(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux-x86-64)\.so'

mapfile -t sources < <(find "$root/fuzz" -maxdepth 1 -name 'fuzz_*.cc' -printf '%f\n' | sed 's/\.cc$//' | sort)
rows=()
for t in "${sources[@]}"; do
  bin="$out/$t"
  if [ ! -x "$bin" ]; then
    problem "$t" "fuzz/$t.cc has no fuzzer in \$OUT (is it in LMC_FUZZ_TARGETS?)"
    rows+=("$t|-|-|-|-|missing")
    continue
  fi

  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | grep -Ev "$allowed_needed" || true)
  [ -z "$needed" ] || problem "$t" "needs shared libraries the runner lacks: ${needed//$'\n'/ }"

  if [ "$sanitizer" = address ]; then
    # As OSS-Fuzz's bad_build_check counts them: calls into each runtime.
    asm="$tmp/run/$t.asm"
    objdump -d --no-show-raw-insn "$bin" >"$asm"
    asan_calls=$(grep -cE 'call[q]?[[:space:]]+[0-9a-f]+ <__asan' "$asm" || true)
    ubsan_calls=$(grep -cE 'call[q]?[[:space:]]+[0-9a-f]+ <__ubsan' "$asm" || true)
    rm -f "$asm"
    [ "$asan_calls" -ge 1000 ] || problem "$t" "only $asan_calls ASan calls: not built with ASan?"
    [ "$ubsan_calls" -le 200 ] || problem "$t" "$ubsan_calls UBSan calls in an address build (CFLite's bad-build check fails over 200)"
  fi

  # Seed corpus: there, and the committed corpus whole.
  zip_file="$out/${t}_seed_corpus.zip"
  corpus="$tmp/run/$t-corpus"
  mkdir -p "$corpus"
  want=$(find "$root/fuzz/corpus/$t" -type f 2>/dev/null | wc -l)
  have=0
  if [ -f "$zip_file" ]; then
    unzip -q -o "$zip_file" -d "$corpus"
    have=$(find "$corpus" -type f | wc -l)
  elif [ "$want" -gt 0 ]; then
    problem "$t" "no ${t}_seed_corpus.zip in \$OUT"
  fi
  [ "$have" -eq "$want" ] || problem "$t" "seed corpus zip holds $have files, fuzz/corpus/$t has $want"

  # Dictionary and options: copied when fuzz/ has them; options parsed as
  # ClusterFuzz reads them ([libfuzzer] key = value) and passed on.
  fuzz_args=()
  dict="-"; options="-"
  if [ -f "$root/fuzz/$t.dict" ]; then
    dict="yes"
    cmp -s "$root/fuzz/$t.dict" "$out/$t.dict" || problem "$t" "fuzz/$t.dict is not copied to \$OUT"
  fi
  if [ -f "$root/fuzz/$t.options" ]; then
    options="yes"
    if ! cmp -s "$root/fuzz/$t.options" "$out/$t.options"; then
      problem "$t" "fuzz/$t.options is not copied to \$OUT"
    elif ! grep -q '^\[libfuzzer\][[:space:]]*$' "$out/$t.options"; then
      problem "$t" "$t.options has no [libfuzzer] section"
    else
      while IFS= read -r arg; do
        key="${arg%%=*}"; value="${arg#*=}"
        # dict names a file beside the fuzzer.
        if [ "$key" = dict ]; then
          [ -f "$out/$value" ] || problem "$t" "$t.options names dict $value, which is not in \$OUT"
          value="$out/$value"
        fi
        fuzz_args+=("-$key=$value")
      done < <(awk '/^\[/ { sect = $0; next }
                    sect == "[libfuzzer]" && /=/ {
                      line = $0; sub(/[ \t]*[#;].*$/, "", line)
                      split(line, kv, "="); k = kv[1]; v = substr(line, index(line, "=") + 1)
                      gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
                      if (k != "") print k "=" v }' "$out/$t.options")
    fi
  fi
  # A dictionary with no options file naming it: CFLite uses T.dict anyway.
  if [ -f "$out/$t.dict" ] && ! printf '%s\n' "${fuzz_args[@]+"${fuzz_args[@]}"}" | grep -q '^-dict='; then
    fuzz_args+=("-dict=$out/$t.dict")
  fi

  log="$tmp/run/$t.log"
  status=0
  result="exit $status"
  if [ "$sanitizer" = coverage ]; then
    # A coverage build has no libFuzzer counters to fuzz with: replay the
    # corpus the way the coverage job does (OSS-Fuzz's coverage script:
    # -merge=1 into an empty folder) and expect a profile written.
    mkdir -p "$tmp/run/$t-merged" "$tmp/run/$t-profile"
    (cd "$tmp/run" && LLVM_PROFILE_FILE="$tmp/run/$t-profile/%p.profraw" \
        "$bin" -merge=1 -timeout=100 "$tmp/run/$t-merged" "$corpus") >"$log" 2>&1 || status=$?
    edges="-"
    if [ "$status" -ne 0 ]; then
      problem "$t" "exited $status replaying its seed corpus; the end of its log:"$'\n'"$(tail -15 "$log" | sed 's/^/      /')"
      result="exit $status"
    elif [ -z "$(find "$tmp/run/$t-profile" -name '*.profraw' -size +0 -print -quit)" ]; then
      problem "$t" "replayed its corpus but wrote no coverage profile"
    else
      result="ok"
    fi
  else
    # Run it: the seed corpus, then $runs generated inputs (libFuzzer's -runs
    # counts the corpus and an empty input too). A malformed dictionary
    # fails here as well.
    (cd "$tmp/run" && "$bin" "${runner_args[@]}" "${fuzz_args[@]+"${fuzz_args[@]}"}" -runs="$((have + 1 + runs))" \
        -artifact_prefix="$tmp/run/$t-" "$corpus") >"$log" 2>&1 || status=$?
    edges=$(sed -n 's/^INFO: Loaded [0-9]* modules* *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -1)
    result="exit $status"
    if [ "$status" -ne 0 ]; then
      problem "$t" "exited $status on its seed corpus + $runs runs; the end of its log:"$'\n'"$(tail -15 "$log" | sed 's/^/      /')"
    elif ! grep -qE '^Done [0-9]+ runs' "$log"; then
      problem "$t" "exited 0 without libFuzzer's 'Done N runs'"
    elif [ "${edges:-0}" -lt 100 ]; then
      problem "$t" "only ${edges:-0} instrumented edges: is the code instrumented?"
    else
      result="ok"
    fi
  fi
  rows+=("$t|$have|$dict|$options|${edges:-?}|$result")
done

# A fuzzer in $OUT without a source in fuzz/ would be fuzzed too: say so.
for f in "$out"/fuzz_*; do
  name="$(basename "$f")"
  case "$name" in *.*) continue ;; esac
  [ -f "$root/fuzz/$name.cc" ] || problem "$name" "in \$OUT but fuzz/$name.cc does not exist"
done

# ---- summary
echo
printf '%-22s %8s %5s %8s %7s  %s\n' target corpus dict options edges result
for row in "${rows[@]}"; do
  IFS='|' read -r t n d o e r <<<"$row"
  printf '%-22s %8s %5s %8s %7s  %s\n' "$t" "$n" "$d" "$o" "$e" "$r"
done
total=$(( $(date +%s) - start ))
echo
echo "$sanitizer build: ${#sources[@]} fuzz sources, build ${build_secs} s, total ${total} s"
if [ ${#problems[@]} -gt 0 ]; then
  echo "FAIL: ${#problems[@]} problem(s):"
  printf '  %s\n' "${problems[@]}"
  exit 1
fi
echo "OK: every fuzzer builds, is packaged as ClusterFuzzLite expects, and runs"
