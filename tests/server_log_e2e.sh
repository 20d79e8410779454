#!/usr/bin/env bash
# lmcache-server --log-level debug: a line per request and per reply, with the
# decoded fields and the header bytes as hex (docs/SERVER.md). Drives it with
# lmcache-client and checks the lines; then checks that the default level logs
# no request at all.
# usage: server_log_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

# start_server LEVEL: starts the server on a free port; sets $server, $port.
start_server() {
  : >"$work/server.err"
  "$bin/lmcache-server" --port 0 --l1-size-bytes 16777216 --log-level "$1" 2>"$work/server.err" &
  server=$!
  port="$(server_port "$work/server.err" "$server")" || exit 1
}
stop_server() { kill -TERM "$server"; wait "$server" || true; server=""; }
client() { "$bin/lmcache-client" --url "lm://127.0.0.1:$port" --timeout-ms 5000 "$@"; }
# has REGEX: the server's stderr has a line matching REGEX (grep -E).
has() { grep -Eq -- "$1" "$work/server.err"; }

start_server debug
printf 'hello!' >"$work/payload"
check "put" 0 client put 'm@1@0@0x3039@uint8' "$work/payload" --fmt 1 --dtype 6 --shape 6
check "get" 0 client get 'm@1@0@3039@uint8' "$work/back"
check "exist absent" 1 client exist 'm@1@0@1@uint8'
stop_server

check "open line" 0 has '^lmcache-server: debug conn=1 open$'
put='^lmcache-server: debug conn=1 recv PUT length=6 fmt=1 dtype=6 location=0 shape=\[6,0,0,0\] key="m@1@0@0x3039@uint8"'
# The PUT header's 186 bytes: nine ints, the key, 132 bytes of 0x20 padding.
put_hex='hex=010000000600000001000000060000000000000006000000000000000000000000000000'
put_hex+='6d40314030403078333033394075696e7438'"$(printf '20%.0s' $(seq 132))"'$'
check "PUT line with the header as hex" 0 has "$put $put_hex"
check "GET line" 0 has '^lmcache-server: debug conn=[0-9]+ recv GET length=0 fmt=1 dtype=2 location=0 shape=\[0,0,0,0\] key="m@1@0@3039@uint8" hex=02000000'
check "GET hit reply line" 0 has '^lmcache-server: debug conn=[0-9]+ send reply-to=GET code=200 length=6 fmt=1 dtype=6 shape=\[6,0,0,0\] location=0 hex=c80000000600000001000000060000000600000000000000000000000000000000000000$'
check "EXIST line" 0 has '^lmcache-server: debug conn=[0-9]+ recv EXIST length=0 .* key="m@1@0@1@uint8" hex=03000000'
check "EXIST absent reply line" 0 has '^lmcache-server: debug conn=[0-9]+ send reply-to=EXIST code=400 length=0 fmt=1 dtype=2 shape=\[0,0,0,0\] location=0 hex=90010000'
check "eof and close lines" 0 has '^lmcache-server: debug conn=[0-9]+ recv eof$'
check "close line" 0 has '^lmcache-server: debug conn=[0-9]+ close: '

start_server info
check "put at info" 0 client put 'm@1@0@5@uint8' "$work/payload"
check "get at info" 0 client get 'm@1@0@5@uint8' "$work/back"
stop_server
check "info logs no request" 1 has 'debug conn='

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
