#!/usr/bin/env bash
# Leaves in a ClusterFuzzLite build folder only the fuzz targets that one of
# SHARDS machines fuzzes, so that a batch campaign spread over a matrix of
# machines gives each target to one machine per sanitizer instead of every
# machine fuzzing every target for a slice of the hour.
#   ci/cflite_shard.sh BUILD_OUT SHARD SHARDS      (0 <= SHARD < SHARDS)
# The targets, sorted by name, are dealt out round-robin: machine K keeps
# targets K, K+SHARDS, ... With more machines than targets, machine K keeps
# target K mod (number of targets), so extra machines double up on targets.
# Only the target binaries are removed; their seed corpora, dictionaries and
# options stay and are simply not used. .github/workflows/cflite_batch.yml
# runs this between build_fuzzers and run_fuzzers.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 BUILD_OUT SHARD SHARDS" >&2
  exit 2
fi
out="$1" shard="$2" shards="$3"
if ! [[ "$shard" =~ ^[0-9]+$ && "$shards" =~ ^[1-9][0-9]*$ ]] || [ "$shard" -ge "$shards" ]; then
  echo "$0: need 0 <= SHARD < SHARDS, got SHARD=$shard SHARDS=$shards" >&2
  exit 2
fi

# A fuzz target as ClusterFuzzLite finds one: an executable regular file
# whose name has no extension and which has libFuzzer's entry point.
targets=()
for f in "$out"/*; do
  name="$(basename "$f")"
  [[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || continue
  if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
  [ "$name" != llvm-symbolizer ] || continue
  grep -qa LLVMFuzzerTestOneInput "$f" || continue
  targets+=("$name")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "$0: no fuzz targets in $out" >&2
  exit 1
fi
mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort)

n=${#targets[@]}
kept=()
for i in "${!targets[@]}"; do
  if { [ "$shards" -le "$n" ] && [ $((i % shards)) -eq "$shard" ]; } ||
     { [ "$shards" -gt "$n" ] && [ "$i" -eq $((shard % n)) ]; }; then
    kept+=("${targets[$i]}")
  else
    rm -f "$out/${targets[$i]}"
  fi
done
echo "machine $shard of $shards fuzzes: ${kept[*]} (of $n targets)"
