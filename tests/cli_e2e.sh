#!/usr/bin/env bash
# lmcache-server and lmcache-client end to end, as a person or script uses
# them: start the server on a free port, run every client command, check the
# exit codes and bytes, stop the server with SIGTERM and check its counters.
# usage: cli_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
"$bin/lmcache-server" --port 0 --l1-size-bytes 67108864 --max-object-bytes 1048576 2>"$work/server.err" &
server=$!
port="$(server_port "$work/server.err" "$server")" || exit 1
client() { "$bin/lmcache-client" --url "lm://127.0.0.1:$port" --timeout-ms 5000 "$@"; }
head -c 300000 /dev/urandom >"$work/payload"
check "put" 0 client put 'm@1@0@0x3039@bfloat16' "$work/payload" --fmt 1 --dtype 3 --shape 2,1,1
check "get hit" 0 client get 'm@1@0@3039@bfloat16' "$work/back"
check "bytes" 0 cmp "$work/payload" "$work/back"
check "get miss" 1 client get 'm@1@0@1@half' -
check "exist" 0 client exist 'm@1@0@00003039@bfloat16'
check "absent" 1 client exist 'm@1@0@2@half'
check "health" 0 client health
check "list" 0 sh -c "'$bin/lmcache-client' --url lm://127.0.0.1:$port list > '$work/list'"
check "list body" 0 grep -qx 'm@1@0@3039@bfloat16' "$work/list"
check "put from stdin" 0 sh -c "echo hello | '$bin/lmcache-client' --url lm://127.0.0.1:$port put 'm@1@0@5@uint8' -"
check "get to stdout" 0 sh -c "'$bin/lmcache-client' --url lm://127.0.0.1:$port get 'm@1@0@5@uint8' - | grep -qx hello"
head -c 2000000 /dev/urandom >"$work/big"
check "too large is refused" 2 client put 'm@1@0@6@uint8' "$work/big"
check "bad key is refused" 2 client put 'not a key' "$work/payload"
check "bad url" 2 "$bin/lmcache-client" --url 'http://x' health
check "no server" 2 "$bin/lmcache-client" --url 'lm://127.0.0.1:1' --timeout-ms 1000 health
kill -TERM "$server"
wait "$server" || true
check "counters at shutdown" 0 grep -qE "commands put 4( |$)" "$work/server.err"
check "rejects counted" 0 grep -qE "too_large 1( |$)" "$work/server.err"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
