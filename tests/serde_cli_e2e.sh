#!/usr/bin/env bash
# lmcache-serde end to end: every built-in serde round-trips a KV-shaped
# input through the real binary, and corrupt, truncated or mismatched
# blobs exit 1 with a reason while usage errors exit 2.
# Usage: tests/serde_cli_e2e.sh BIN_DIR [SANITIZER]
# SANITIZER "thread": the one check of a failed huge allocation is not made
# (TSan's allocator ends the process instead of throwing std::bad_alloc, so
# there is nothing of the tool's to check); every other check runs.
set -uo pipefail
bin="$1"
sanitizer="${2:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0
check() {  # check NAME WANT_STATUS GOT_STATUS
  if [ "$2" != "$3" ]; then echo "FAIL $1: exit $3, want $2"; fail=1; else echo "ok   $1"; fi
}
serde() { "$bin/lmcache-serde" "$@"; }
shape=(--dtype bfloat16 --shape 2,4,16,8)
python3 -c 'import random,struct,sys; r=random.Random(5); sys.stdout.buffer.write(b"".join(struct.pack("<e", r.gauss(0,1)) for _ in range(1024)))' >"$work/kv.bin"
head -c 32 /dev/urandom >"$work/master.key"

for cfg in '{"type":"zstd"}' '{"type":"zstd","level":9,"byte_planes":true}' '{"type":"lz4"}' \
           '{"type":"lz4","level":9,"byte_planes":true}' '{"type":"checksum"}' \
           "{\"type\":\"aesgcm\",\"aes_bits\":256,\"master_key_path\":\"$work/master.key\"}"; do
  serde serialize --config "$cfg" "${shape[@]}" --chunk-hash 0102 <"$work/kv.bin" >"$work/blob"
  check "serialize $cfg" 0 $?
  serde deserialize --config "$cfg" "${shape[@]}" --chunk-hash 0102 <"$work/blob" >"$work/back"
  check "deserialize $cfg" 0 $?
  cmp -s "$work/kv.bin" "$work/back"; check "round trip $cfg is exact" 0 $?
  head -c 20 "$work/blob" | serde deserialize --config "$cfg" "${shape[@]}" --chunk-hash 0102 >/dev/null 2>&1
  check "truncated blob $cfg" 1 $?
  python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-1]^=1; sys.stdout.buffer.write(b)' "$work/blob" |
    serde deserialize --config "$cfg" "${shape[@]}" --chunk-hash 0102 >/dev/null 2>&1
  check "flipped last byte $cfg" 1 $?
done

# fp8 is lossy: the round trip is the cast, and its size is one byte per element.
serde serialize --config '{"type":"fp8","fp8_dtype":"float8_e5m2"}' "${shape[@]}" <"$work/kv.bin" >"$work/fp8"
check "fp8 serialize" 0 $?
[ "$(stat -c %s "$work/fp8")" = 1024 ]; check "fp8 blob is one byte per element" 0 $?
serde deserialize --config '{"type":"fp8","fp8_dtype":"float8_e5m2"}' "${shape[@]}" <"$work/fp8" >"$work/fp8back"
check "fp8 deserialize" 0 $?

serde serialize --config '{"type":"zstd"}' "${shape[@]}" <"$work/kv.bin" >"$work/z"
serde deserialize --config '{"type":"lz4"}' "${shape[@]}" <"$work/z" >/dev/null 2>"$work/err"
check "blob from another codec" 1 $?
grep -q "another serde or configuration" "$work/err"; check "  says why" 0 $?
serde deserialize --config '{"type":"checksum"}' "${shape[@]}" --chunk-hash 0103 <"$work/blob" >/dev/null 2>&1
check "checksum blob for another key" 1 $?
head -c 100 "$work/kv.bin" | serde serialize --config '{"type":"zstd"}' "${shape[@]}" >/dev/null 2>&1
check "serialize input of the wrong size" 1 $?
serde serialize --config '{"type":"zstd","lvl":3}' "${shape[@]}" <"$work/kv.bin" >/dev/null 2>&1
check "unknown config key" 2 $?
serde serialize --config '{"type":"zfp"}' "${shape[@]}" <"$work/kv.bin" >/dev/null 2>&1
check "unknown serde type" 2 $?
serde serialize --config '{"type":"zstd"}' --dtype bfloat16 --shape 2,x <"$work/kv.bin" >/dev/null 2>&1
check "bad shape" 2 $?
serde serialize --config '{"type":"zstd"}' --dtype bfloat16 --shape 99999999999,99999999999 </dev/null >/dev/null 2>&1
check "layout above --max-bytes, refused before reading" 2 $?
if [ "$sanitizer" != "thread" ]; then
  serde deserialize --config '{"type":"checksum"}' --dtype uint8 --shape 1000000000000000 \
    --max-bytes 18446744073709551615 </dev/null >/dev/null 2>&1
  check "a layout too large to allocate is an error, not an abort" 1 $?
else
  echo "not checked under TSan: a layout too large to allocate (its allocator aborts, never throws)"
fi
exit $fail
