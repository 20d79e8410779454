#!/usr/bin/env bash
# Compares a file the repository keeps a copy of (LMCache's reference
# vectors, the wire-json spec) with the kit's shared original beside the
# clone, byte for byte. Exit status: 0 same, 1 different, 77 (CTest's
# SKIP_RETURN_CODE) when there is no shared original to compare with: that
# is a skip, never a pass.
#
# usage: copy_matches_shared.sh COPY SHARED [FIRST,LAST]
#   FIRST,LAST: lines of COPY to leave out first (the note a copy of a
#   document carries about where it came from).
set -u
copy=$1
shared=$2
drop=${3:-}
if [[ ! -f "$copy" ]]; then
  echo "FAIL: the repository copy $copy is missing"
  exit 1
fi
if [[ ! -e "$shared" ]]; then
  echo "SKIPPED: $shared does not exist (a clone with nothing beside it); nothing to compare with"
  exit 77
fi
if [[ -n "$drop" ]]; then
  body() { sed "${drop}d" "$copy"; }
else
  body() { cat "$copy"; }
fi
if body | cmp -s - "$shared"; then
  echo "same: $copy${drop:+ (without lines ${drop/,/-})} and $shared are byte-identical"
  exit 0
fi
echo "FAIL: $copy${drop:+ (without lines ${drop/,/-})} differs from $shared"
body | cmp - "$shared" | head -1
echo "bring the copy back in line with the shared original, unchanged"
exit 1
