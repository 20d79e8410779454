#!/usr/bin/env bash
# Runs the whole conformance catalogue against this kit's own reference
# implementation: the server catalogue against lmcache-server (started here
# on a free port), the client catalogue with both shipped testees (C++ and
# Python), and the vectors catalogue with lmcache-wire. Prints each mode's
# report and a closing total; exit 0 only when every mode is clean.
#
#   ci/conformance.sh [BIN_DIR] [--profile NAME] [--out DIR] [--case-timeout-ms MS]
#
# --out DIR also writes each mode's JUnit XML, JSON and HTML report there. --case-timeout-ms
# gives each case longer than its 5 s (unoptimised or instrumented builds).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/build/bin"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then bin="$(cd "$1" && pwd)"; shift; fi
profile=reference
out=""
case_timeout=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --case-timeout-ms) case_timeout=(--case-timeout-ms "$2"); shift 2 ;;
    *) echo "ci/conformance.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The reference server on a free port, a small L1 (the catalogue stores
# well under 256 MiB at a time).
"$bin/lmcache-server" --port 0 --l1-size-bytes $((512 << 20)) 2>"$work/server.log" &
server_pid=$!
port=""
# Up to 60 s: pre-faulting L1 under a sanitizer on a loaded machine
# has taken more than 10.
for _ in $(seq 600); do
  port="$(grep -o 'lm://127.0.0.1:[0-9]*' "$work/server.log" | head -1 | sed 's/.*://')" || true
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "ci/conformance.sh: lmcache-server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

status=0
summaries=()
# run_mode NAME MODE ARGS...: the common options go right after MODE, before
# any `--` that starts a testee's command line.
run_mode() {
  local name="$1" mode="$2"; shift 2
  local extra=("${case_timeout[@]}")
  if [ -n "$out" ]; then
    mkdir -p "$out"
    extra+=(--junit "$out/$name.xml" --json "$out/$name.json" --html "$out/$name.html")
  fi
  echo "== $name"
  local rc=0
  "$bin/lmcache-conformance" "$mode" --profile "$profile" "${extra[@]}" "$@" >"$work/$name.out" || rc=$?
  cat "$work/$name.out"
  summaries+=("$(printf '%-14s %s' "$name" "$(tail -1 "$work/$name.out")")")
  [ "$rc" -eq 0 ] || status=1
  echo
}

run_mode server server --target "lm://127.0.0.1:$port"
run_mode client-cpp client -- "$bin/lmcache-conformance-testee-cpp"
# The interpreter itself, not a launcher shim (pyenv's costs ~300 ms a start,
# and every client case starts the testee afresh); -S: the template needs
# nothing outside the standard library.
python="$(python3 -c 'import sys; print(sys.executable)')"
run_mode client-python client -- "$python" -S "$root/conformance/client/python_testee.py"
run_mode vectors vectors --tool "$bin/lmcache-wire"

echo "== summary (profile $profile)"
printf '%s\n' "${summaries[@]}"
passed=0 failed=0 skipped=0 xfail=0
for s in "${summaries[@]}"; do
  read -r p f k x <<<"$(echo "$s" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped, ([0-9]+) failed as expected/\1 \2 \3 \4/')"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + k)) xfail=$((xfail + x))
done
echo "$passed passed, $failed failed, $skipped skipped, $xfail failed as expected"
exit "$status"
