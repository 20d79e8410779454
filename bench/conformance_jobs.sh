#!/usr/bin/env bash
# How long the server catalogue takes to report a broken server, one case
# at a time (--jobs 1, the runner before parallel cases) against the
# default --jobs, in one invocation: a reference lmcache-server behind
# lmcache-broken-proxy with BUG (5 s case deadlines, the default).
#   bench/conformance_jobs.sh BUILD_DIR BUG [JOBS]
# BUG "none" measures a passing run. Prints each run's summary line and
# seconds, then the ratio. A silent server takes about 7 minutes at --jobs 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/bench/bench_lib.sh"
bench_cli "BUILD_DIR BUG [JOBS]" 2 3 "$@"
bin="$(cd "$1" && pwd)/bin" bug="$2"
jobs_flag=()
[ $# -ge 3 ] && jobs_flag=(--jobs "$3")
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
start_server "$bin" "$work/server.err" --l1-size-bytes $((512 << 20))
[ -n "$port" ] || { cat "$work/server.err" >&2; exit 1; }
"$bin/lmcache-broken-proxy" --listen-port 0 --upstream "127.0.0.1:$port" --bug "$bug" >"$work/proxy.out" 2>&1 &
target="$(log_value "$work/proxy.out" 's/.*listening on \([0-9]*\).*/\1/p' 200 0.05)"
[ -n "$target" ] || { cat "$work/proxy.out" >&2; exit 1; }
run() {
  local start end
  start=$(date +%s.%N)
  "$bin/lmcache-conformance" server --target "lm://127.0.0.1:$target" "$@" >"$work/out" || true
  end=$(date +%s.%N)
  echo "$(tail -1 "$work/out")  $(python3 -c "print(f'{$end - $start:.1f}')") s" >&2
  python3 -c "print($end - $start)"
}
echo "$bug, --jobs 1:" >&2
serial=$(run --jobs 1)
echo "$bug, ${jobs_flag[*]:---jobs default}:" >&2
parallel=$(run "${jobs_flag[@]}")
python3 -c "print(f'$bug: --jobs 1 {$serial:.1f} s, parallel {$parallel:.1f} s: {$serial / $parallel:.1f}x faster')"
