#!/usr/bin/env bash
# lmcache-conformance server mode, end to end: the catalogue against the
# reference server; a target that never answers (every case fails at its
# deadline, the run stays bounded); profiles and expected-failure lists;
# reports; usage errors.
#   server_mode_test.sh BIN_DIR [RUNNER_ARG...]
# RUNNER_ARGs go to every run against the reference server (slow builds
# pass a longer --case-timeout-ms).
set -uo pipefail
bin="$1"
slow=("${@:2}")
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
source "$(dirname "$0")/../tests/e2e_lib.sh"
conf="$bin/lmcache-conformance"
# check() writes each command's output to $work/out and $work/err; keep the
# last runner's output where a following grep can read it.
run() { check "$@"; cp "$work/out" "$work/last"; cp "$work/err" "$work/lasterr"; }

"$bin/lmcache-server" --port 0 --l1-size-bytes $((512 << 20)) 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 100); do
  port="$(grep -o 'lm://127.0.0.1:[0-9]*' "$work/server.log" | sed 's/.*://')" && [ -n "$port" ] && break
  sleep 0.1
done
target="lm://127.0.0.1:$port"

# The whole catalogue passes against the reference server, with reports.
run "catalogue passes" 0 "$conf" server --target "$target" "${slow[@]}" --junit "$work/r.xml" --json "$work/r.json" \
  --trace "$work/trace"
check "closing line" 0 grep -qE '^[0-9]+ passed, 0 failed, [0-9]+ skipped, 0 failed as expected$' "$work/last"
check "junit parses" 0 python3 -c "
import sys, xml.etree.ElementTree as E
r = E.parse('$work/r.xml').getroot()
cases = r.findall('.//testcase')
assert len(cases) >= 60 and r.get('failures') == '0', (len(cases), r.get('failures'))"
check "json has every case" 0 python3 -c "
import json; j = json.load(open('$work/r.json'))
assert j['summary']['failed'] == 0 and len(j['results']) >= 60
assert all(r['id'].startswith('server/') and r['clause'] and r['level'] in ('MUST','SHOULD') for r in j['results'])"
check "traces written as hex with decoded fields" 0 grep -q 'GET len=0 fmt=1 dtype=2' "$work/trace/server__get__hit-returns-stored-bytes.trace"
check "at least 60 cases listed" 0 python3 -c "
import subprocess; n = len(subprocess.run(['$conf','server','--list'],capture_output=True,text=True).stdout.splitlines())
assert n >= 60, n"
check "docs list every server case" 0 python3 -c "
import re, subprocess
ids = [l.split()[0] for l in subprocess.run(['$conf','server','--list'],capture_output=True,text=True).stdout.splitlines()]
doc = re.findall(r'^\\| \`(server/[^\`]+)\`', open('$(dirname "$0")/../docs/CONFORMANCE.md').read(), re.M)
assert doc == ids, (set(ids) - set(doc), set(doc) - set(ids))"
check "list takes patterns" 0 python3 -c "
import subprocess
out = subprocess.run(['$conf','server','--list','--run','server/*/hit-*'],capture_output=True,text=True).stdout.splitlines()
assert out and all(l.split()[0].split('/')[2].startswith('hit-') for l in out), out"

# A target that accepts and never answers: each case fails at its deadline,
# the run goes on, and the whole run is bounded.
python3 - "$work/blackhole.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(200)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
end = time.time() + 60
s.settimeout(0.5)
while time.time() < end:
    try: held.append(s.accept()[0])
    except socket.timeout: pass
PY
pids+=($!)
for _ in $(seq 50); do [ -s "$work/blackhole.port" ] && break; sleep 0.1; done
start=$(date +%s)
run "silent target fails" 1 "$conf" server --target "lm://127.0.0.1:$(cat "$work/blackhole.port")" \
  --run 'server/get/**' --run 'server/health/**' --case-timeout-ms 300 --json "$work/bh.json"
check "silent target: every case failed, none hung" 0 python3 -c "
import json; j = json.load(open('$work/bh.json'))
assert j['summary']['failed'] == len(j['results']) > 3, j['summary']
assert all('deadline' in r['message'] or 'closed' in r['message'] for r in j['results']), [r['message'] for r in j['results']]"
run "run deadline bounds the whole run" 1 "$conf" server --target "lm://127.0.0.1:$(cat "$work/blackhole.port")" \
  --case-timeout-ms 1000 --run-timeout-s 2
check "not-run cases say why" 0 grep -q "whole run's deadline" "$work/last"
elapsed=$(( $(date +%s) - start ))
check "silent target cost bounded time (${elapsed}s)" 0 test "$elapsed" -le 15

# Profiles and expected failures: the lmcache-python profile expects drops
# where the reference server answers FAIL, so some cases fail here.
run "other profile fails" 1 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python
run "fix refused on a partial run" 2 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python \
  --known-failing "$work/known" --fix --run 'server/key/**'
run "fix writes the list" 0 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python \
  --known-failing "$work/known" --fix
check "list names a bad-key case" 0 grep -q '^server/key/unparsable-key ' "$work/known"
run "known failures pass the run" 0 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python \
  --known-failing "$work/known"
check "summary counts them" 0 grep -qE '^[0-9]+ passed, 0 failed, [0-9]+ skipped, [1-9][0-9]* failed as expected$' "$work/last"
{ cat "$work/known"; echo "server/health/replies-success-dummy"; } >"$work/stale"
run "a listed case that passes fails the run" 1 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python \
  --known-failing "$work/stale"
check "and says so" 0 grep -q "but passed" "$work/last"
sed 's/^\(server\/key\/unparsable-key\) .*/\1 some other message/' "$work/known" >"$work/wrongmsg"
run "another message fails the run" 1 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python \
  --known-failing "$work/wrongmsg"
{ cat "$work/known"; echo "server/nothing/matches-this"; } >"$work/unmatched"
run "a stale entry fails the run" 1 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python \
  --known-failing "$work/unmatched"
run "flaky list tolerates" 0 "$conf" server --target "$target" "${slow[@]}" --profile lmcache-python \
  --known-flaky "$work/known"
printf '{"name":"mine","base":"reference","server":{"bad_key":"drop"}}' >"$work/profile.json"
run "profile file" 1 "$conf" server --target "$target" "${slow[@]}" --profile "$work/profile.json" --run 'server/key/**'
check "profile file: bad-key cases fail" 0 grep -q "FAIL server/key/unparsable-key" "$work/last"
printf '{"name":"x","server":{"bad_kye":"drop"}}' >"$work/typo.json"
run "profile typo is a usage error" 2 "$conf" server --target "$target" "${slow[@]}" --profile "$work/typo.json"
check "typo named" 0 grep -q "unknown key 'bad_kye'" "$work/lasterr"

# Usage errors exit 2.
run "no target" 2 "$conf" server
run "bad target" 2 "$conf" server --target http://x:1
run "unknown option" 2 "$conf" server --target "$target" "${slow[@]}" --frobnicate
run "no mode" 2 "$conf"
run "version" 0 "$conf" --version
check "version names the protocol" 0 grep -q "186 bytes" "$work/last"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
