# Shared by the bench scripts (sourced, not run).
# start_server BIN_DIR LOG [ARGS...]: starts BIN_DIR/lmcache-server on a free
# port with ARGS, logging to LOG; sets $pid and $port (empty if it never
# listened within 10 s).
start_server() {
  local bin="$1" log="$2"
  shift 2
  "$bin/lmcache-server" --port 0 "$@" 2>"$log" &
  pid=$!
  port=""
  for _ in $(seq 200); do
    port="$(sed -n 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log")"
    [ -n "$port" ] && return 0
    sleep 0.05
  done
}
# stop_server: stops the server start_server started.
stop_server() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}
