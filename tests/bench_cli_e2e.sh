#!/usr/bin/env bash
# lmcache-bench ends on time and says why it failed: against a peer that
# accepts and never answers, and one that answers EXIST but never GET, a
# 1 s run with --timeout-ms 500 ends within 3 s, exits 1 and names the
# reason ("timed out"); against a closed port it names that; against the
# reference server a short run exits 0 with no errors.
# usage: bench_cli_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
peers=()
trap 'for p in "${peers[@]}" ${server:-}; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
# said STREAM PATTERN NAME: the last checked command's stdout (out) or
# stderr (err) matches PATTERN.
said() {
  if grep -Eq -e "$2" "$work/$1"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $3: $1 does not match '$2': $(head -3 "$work/$1")"; fi
}

# A peer on a free port (printed first): "silent" accepts and never reads;
# "exist-only" reads requests (PUT payloads too) and answers EXIST only.
peer_src='
import socket, struct, sys, threading
mode = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
def serve(c):
    if mode == "silent":
        threading.Event().wait()
    buf = b""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = c.recv(1 << 20)
            if not d:
                raise EOFError
            buf += d
        out, buf = buf[:n], buf[n:]
        return out
    try:
        while True:
            cmd, length = struct.unpack("<ii", need(186)[:8])
            if cmd == 1:
                need(length)
            elif cmd == 3:
                c.sendall(struct.pack("<9i", 200, 0, 1, 2, 0, 0, 0, 0, 0))
    except (EOFError, OSError):
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'
start_peer() {  # start_peer MODE: sets $port
  python3 -c "$peer_src" "$1" >"$work/peer.$1" &
  peers+=($!)
  port=""
  for _ in $(seq 100); do
    port="$(head -1 "$work/peer.$1" 2>/dev/null || true)"
    [ -n "$port" ] && return
    sleep 0.05
  done
  echo "FAIL: peer $1 did not start"; exit 1
}

# check_bounded NAME WANT_STATUS MAX_MS COMMAND...: check, and within MAX_MS.
check_bounded() {
  local name="$1" want="$2" max_ms="$3"; shift 3
  local t0 ms
  t0=$(date +%s%N)
  check "$name" "$want" "$@"
  ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$ms" -le "$max_ms" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $name: took $ms ms, want <= $max_ms ms"; fi
}
bench() { "$bin/lmcache-bench" --duration-s 1 --timeout-ms 500 --keys 1 "$@"; }

start_peer silent
check_bounded "silent peer" 1 3000 bench --url "lm://127.0.0.1:$port" --sizes 4K
said err "errors 1: 1 exist timed out" "  ... says it timed out"

start_peer exist-only
check_bounded "peer that never answers GET" 1 3000 bench --url "lm://127.0.0.1:$port" --sizes 4K --mix get=1 \
  --depth 4 --connections 2
said err "errors [0-9]+: .*get timed out" "  ... says they timed out"

# Port 1 on loopback: nothing listens there.
check_bounded "closed port" 1 3000 bench --url "lm://127.0.0.1:1" --sizes 4K
said err "errors 1: 1 put server unavailable \(connection refused or lost\)" "  ... says it is unavailable"

"$bin/lmcache-server" --port 0 --l1-size-bytes 67108864 2>"$work/server.err" &
server=$!
port="$(server_port "$work/server.err" "$server")" || exit 1
url="lm://127.0.0.1:$port"
check_bounded "reference server" 0 3000 bench --url "$url" --sizes 4K,64K --depth 2 --connections 2 \
  --mix put=1,get=2,exist=1 --json "$work/r.json"
said out "errors 0, misses 0, body mismatches 0" "  ... no errors"
check "  ... JSON says so" 0 grep -q '"errors":0,"mismatches":0,"error_reasons":{}' "$work/r.json"
# A size listed twice is two sets of keys, not one key with two patterns.
check_bounded "reference server, a size twice, --ops" 0 3000 bench --url "$url" --sizes 4K,4K --ops 50
said out "body mismatches 0" "  ... no mismatches"

echo "bench_cli_e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
