#!/usr/bin/env bash
# Resident memory of lmcache-server under a load that writes four times its L1
# budget (PUT and GET of 4 MiB objects on 4 connections, 64 keys each, so
# 1 GiB of distinct keys against a 256 MiB budget), measured from /proc.
# Usage: bench/server_memory.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build}/bin"
budget=$((256 * 1024 * 1024))
err="$(mktemp)"
"$bin/lmcache-server" --port 0 --l1-size-bytes "$budget" 2>"$err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$err"' EXIT
for _ in $(seq 200); do grep -q listening "$err" && break; sleep 0.05; done
port="$(sed -n 's/.*listening on lm:\/\/[^:]*:\([0-9]*\).*/\1/p' "$err")"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
"$bin/lmcache-bench" --url "lm://127.0.0.1:$port" --connections 4 --sizes 4M --keys 64 \
  --mix put=1,get=1 --duration-s 10 2>/dev/null | head -2
peak=$(hwm)
kill -USR1 "$pid"; sleep 0.2
evictions=$(sed -n 's/.* evictions \([0-9]*\).*/\1/p' "$err" | tail -1)
echo "budget $((budget / 1024)) KiB; RSS after start ${before} KiB; peak RSS under load ${peak} KiB;" \
  "peak minus budget $((peak - budget / 1024)) KiB; evictions ${evictions}"
