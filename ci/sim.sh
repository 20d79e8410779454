#!/usr/bin/env bash
# A simulation campaign: lmcache-sim over a range of seeds, each run twice
# (the determinism check). Builds the default preset first if needed.
#   ci/sim.sh [SEEDS [START]]    default: 2000 seeds from 1 (the bounded
#                                campaign of .ci/run, about 20 s here)
# A long campaign is shared by seed range: machine K of M runs
#   ci/sim.sh N $((1 + K * N))
# (.github/workflows/sim.yml does that as a matrix). A failing seed prints
# its replay command and a shrunk one; the script exits 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seeds="${1:-2000}"
start="${2:-1}"
"$root/ci/setup.sh"
[ -x "$root/build/bin/lmcache-sim" ] || "$root/ci/build.sh" default
echo "sim: $seeds seeds from $start (each twice)"
exec "$root/build/bin/lmcache-sim" --seeds "$seeds" --start "$start" --check-determinism --shrink
