#!/bin/bash
# ClusterFuzzLite build script for lmcache-kit. Runs inside the builder image
# (.clusterfuzzlite/Dockerfile) as `compile` runs it, with the environment
# that image provides: CC, CXX, CFLAGS, CXXFLAGS (optimisation, sanitizer and
# coverage flags of the build: address, undefined, coverage, ...),
# LIB_FUZZING_ENGINE, SANITIZER, and the folders SRC (sources), WORK
# (scratch) and OUT (what the fuzzing machines get). ci/cflite_check.sh runs
# it on a developer machine with the same variables.
#
# Builds every libFuzzer target the kit's CMake defines and puts in $OUT, for
# each target T: T itself, T_seed_corpus.zip (fuzz/corpus/T/) and T.options
# when fuzz/ has one; then every fuzz/*.dict (the options name them).
set -euo pipefail

for var in CXX CXXFLAGS LIB_FUZZING_ENGINE SRC WORK OUT; do
  if [ -z "${!var:-}" ]; then
    echo "build.sh: $var is not set (this script expects ClusterFuzzLite's environment)" >&2
    exit 2
  fi
done

src="$SRC/lmcache-kit"
build="$WORK/lmcache-kit-build"
# CFLite's machines: every core. ci/cflite_check.sh may ask for fewer.
jobs="${LMC_BUILD_JOBS:-$(nproc)}"

# Instrumentation comes from CXXFLAGS alone (LMC_FUZZ_FLAGS=OFF): each
# sanitizer build and the coverage build set their own flags, and OSS-Fuzz's
# bad-build check fails an address build that also carries UBSan.
# CMAKE_BUILD_TYPE=None adds no flags of its own: RelWithDebInfo's
# -O2 -g -DNDEBUG would override CFLite's -O1 -gline-tables-only and
# compile the kit's assertions out, and they are oracles worth keeping.
# Warnings are not errors: the flags CFLite adds are not the ones the kit's
# -Werror builds are kept clean for.
# static_deps.cmake links zstd, lz4, xxhash and libcrypto statically (see
# there why), and CMAKE_CXX_FLAGS is given rather than read from the
# environment so that a reused build folder never keeps stale flags.
cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DCMAKE_PROJECT_INCLUDE="$src/.clusterfuzzlite/static_deps.cmake" \
  -DLMC_FUZZ=ON \
  -DLMC_FUZZ_FLAGS=OFF \
  -DLMC_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" \
  -DLMC_BUILD_TESTS=OFF \
  -DLMC_BUILD_BENCH=OFF \
  -DLMC_WERROR=OFF

# The fuzz targets are the build's fuzz_* targets (fuzz/CMakeLists.txt
# names them; with tests off there are no fuzz_*_replay ones): ask Ninja
# rather than keep a list here that new targets would have to be added to.
mapfile -t targets < <(ninja -C "$build" -t targets all |
  sed -n 's/^\(fuzz_[A-Za-z0-9_-]*\): phony$/\1/p' | grep -v '_replay$' | sort -u)
if [ ${#targets[@]} -eq 0 ]; then
  echo "build.sh: the build defines no fuzz_* targets" >&2
  exit 1
fi
echo "build.sh: fuzz targets: ${targets[*]}"

# Only the fuzzers and what they link: the tools, simulator and conformance
# runner are not needed here.
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

# The runner image has glibc, libgcc_s and libstdc++ and nothing of the -dev
# packages: fail here, not on the fuzzing machines, if a fuzzer needs more.
allowed_needed='^(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux-x86-64|ld-linux-aarch64)\.so'

for t in "${targets[@]}"; do
  bin="$build/bin/$t"
  if [ ! -x "$bin" ]; then
    echo "build.sh: $bin was not built" >&2
    exit 1
  fi
  unexpected=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | grep -Ev "$allowed_needed" || true)
  if [ -n "$unexpected" ]; then
    echo "build.sh: $t needs shared libraries the fuzzing machines lack: ${unexpected//$'\n'/ }" >&2
    exit 1
  fi
  cp "$bin" "$OUT/$t"

  # Seed corpus: the committed corpus, flat, as CFLite unpacks it.
  corpus="$src/fuzz/corpus/$t"
  rm -f "$OUT/${t}_seed_corpus.zip"
  if [ -d "$corpus" ] && [ -n "$(find "$corpus" -type f -print -quit)" ]; then
    (cd "$corpus" && find . -type f -print | zip -q -j -@ "$OUT/${t}_seed_corpus.zip")
  else
    echo "build.sh: warning: $t has no seed corpus in fuzz/corpus/$t" >&2
  fi

  # libFuzzer options ([libfuzzer] max_len, dict = NAME.dict, ...).
  if [ -f "$src/fuzz/$t.options" ]; then
    cp "$src/fuzz/$t.options" "$OUT/$t.options"
  fi
done
# The dictionaries the options name, some shared by several targets
# (wire.dict), beside the fuzzers as libFuzzer's runner expects them.
cp "$src"/fuzz/*.dict "$OUT/"
echo "build.sh: ${#targets[@]} fuzzers in $OUT"
