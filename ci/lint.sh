#!/usr/bin/env bash
# Formatting and static analysis; fails on any formatting difference or any
# clang-tidy warning (.clang-format, .clang-tidy).
#   ci/lint.sh            check formatting, then run clang-tidy on impl/ and conformance/
#   ci/lint.sh format     rewrite the tracked sources in place (clang-format-14 -i)
# Needs the compile database of the default build (ci/build.sh default writes it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/ci/setup.sh" lint

mapfile -t sources < <(git ls-files '*.cc' '*.h')

if [ "${1:-}" = "format" ]; then
  clang-format-14 -i "${sources[@]}"
  exit 0
fi

echo "lint: clang-format on ${#sources[@]} files"
clang-format-14 --dry-run --Werror "${sources[@]}"

[ -f build/compile_commands.json ] || "$root/ci/build.sh" default
# Tests, fuzz targets and benchmarks are checked by the compiler's warnings;
# clang-tidy covers the code users link and run.
mapfile -t tidy < <(git ls-files 'impl/*.cc' 'conformance/*.cc' 'simnet/*.cc' | grep -v '_test\.cc$')
echo "lint: clang-tidy on ${#tidy[@]} files"
printf '%s\n' "${tidy[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy-14 -p build --quiet 2> >(grep -v -E '^[0-9]+ warnings? generated\.$|^Suppressed|^Use -header-filter|^$' >&2)
echo "lint: clean"
