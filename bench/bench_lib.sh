# Shared by the bench scripts (sourced, not run).
# log_value LOG SED_SCRIPT TRIES INTERVAL: the first line `sed -n SED_SCRIPT`
# prints from LOG, polling up to TRIES times INTERVAL seconds apart; nothing
# if it never appears.
log_value() {
  local log="$1" script="$2" tries="$3" interval="$4" value
  for _ in $(seq "$tries"); do
    value="$(sed -n "$script" "$log" 2>/dev/null | head -1)"
    [ -n "$value" ] && { echo "$value"; return 0; }
    sleep "$interval"
  done
}
# start_server BIN_DIR LOG [ARGS...]: starts BIN_DIR/lmcache-server on a free
# port with ARGS, logging to LOG; sets $pid and $port (empty if it never
# listened within 10 s).
start_server() {
  local bin="$1" log="$2"
  shift 2
  "$bin/lmcache-server" --port 0 "$@" 2>"$log" &
  pid=$!
  port="$(log_value "$log" 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' 200 0.05)"
}
# stop_server: stops the server start_server started.
stop_server() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}
# bench_cli USAGE MIN_ARGS MAX_ARGS "$@": the command-line conventions of the
# kit's tools for a bench script. --help prints USAGE and exits 0; --version
# prints the script's name and the kit's version and exits 0; fewer than
# MIN_ARGS or more than MAX_ARGS arguments print USAGE to stderr and exit 2.
bench_cli() {
  local usage="$1" min="$2" max="$3" name
  shift 3
  name="$(basename "$0")"
  case "${1:-}" in
    --help | -h) echo "usage: $name $usage"; exit 0 ;;
    --version)
      echo "$name $(sed -n 's/^project(lmcache_kit VERSION \([0-9.]*\) .*/\1/p' \
        "$(dirname "${BASH_SOURCE[0]}")/../CMakeLists.txt")"
      exit 0 ;;
  esac
  if [ $# -lt "$min" ] || [ $# -gt "$max" ]; then
    echo "usage: $name $usage" >&2
    exit 2
  fi
}
