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
