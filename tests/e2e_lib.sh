# Shared by the end-to-end scripts: source it after setting $work.
# check NAME WANT_STATUS COMMAND...: runs COMMAND, counts a pass when its exit
# status is WANT_STATUS, else prints why.
passed=0 failed=0
check() {
  local name="$1" want="$2"; shift 2
  local got=0
  "$@" >"$work/out" 2>"$work/err" || got=$?
  if [ "$got" -eq "$want" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $name: exit $got, want $want: $(cat "$work/err")"; fi
}

# server_port LOG PID: waits (10 s at most) for the lmcache-server writing LOG
# to say where it listens and prints the port; fails, showing LOG, when the
# server exits first or never says.
server_port() {
  local log="$1" pid="$2" p=""
  for _ in $(seq 200); do
    p="$(sed -n 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -1)"
    if [ -n "$p" ]; then echo "$p"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: the server did not start" >&2
  cat "$log" >&2
  return 1
}
