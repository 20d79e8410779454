#!/usr/bin/env bash
# A simulation campaign: lmcache-sim over a range of seeds, each with the
# determinism check (run again with the heap stirred, and every 50th seed
# again in a fresh process). Builds the default preset first if needed.
#   ci/sim.sh [SEEDS [START]]    default: 2000 seeds from 1
#   ci/sim.sh SEEDS commit       START derived from the checked-out commit,
#                                so that every commit explores new seeds
#                                (.ci/run: 20,000 of them, about 2 minutes)
#   ci/sim.sh SEEDS START TIER   every seed with that L2 tier (fs, lm, resp:
#                                the RESP node; .ci/run: 10,000 seeds)
# The start is printed with a replay command. A long campaign is shared by
# seed range: machine K of M runs
#   ci/sim.sh N $((1 + K * N))
# (.github/workflows/sim.yml does that as a matrix). A failing seed prints
# its replay command and a shrunk one; the script exits 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seeds="${1:-2000}"
start="${2:-1}"
tier="${3:-}"
"$root/ci/setup.sh"
[ -x "$root/build/bin/lmcache-sim" ] || "$root/ci/build.sh" default
if [ "$start" = commit ]; then
  # The commit's first 7 hex digits, as a number: a start below 2^28, far
  # from the fixed seeds of the tests; a clone without git history uses 1.
  head="$(git -C "$root" rev-parse --short=7 HEAD 2>/dev/null || echo 0000000)"
  start=$((16#$head + 1))
  echo "sim: start $start from commit $head; replay this campaign: ci/sim.sh $seeds $start $tier"
fi
tier_flags=()
[ -n "$tier" ] && tier_flags=(--tier "$tier")
echo "sim: $seeds seeds from $start${tier:+ with the $tier tier} (each checked for determinism)"
exec "$root/build/bin/lmcache-sim" --seeds "$seeds" --start "$start" "${tier_flags[@]}" --check-determinism --shrink
