#!/usr/bin/env python3
"""The Python side of bench/wire_vs_python.sh: the work of the C++ request
benchmarks done with struct, as LMCache does it. Prints JSON, nanoseconds per
header, best of five runs each:

- single: pack(ints, key.encode().ljust(150)), then unpack and
  key.decode().strip() (the same for "lmcache": the format-string call
  LMCache makes; "precompiled": a struct.Struct, the fastest pure-Python form)
- stream: the same over 64 different keys into and out of one buffer
  (pack_into / unpack_from), per header.
"""
import json
import struct
import timeit

FMT = "iiiiiiiii150s"
S = struct.Struct(FMT)
KEY = "test_model@3@1@0@bfloat16"
STREAM = 64
KEYS = ["meta-llama/Llama-3.1-8B-Instruct@1@0@%d@bfloat16" % (0x1234abcd + i * 7919)
        + ("@%d" % (i % 32) if i % 4 == 0 else "") for i in range(STREAM)]


def lmcache_style():
    b = struct.pack(FMT, 1, 8192, 1, 3, 0, 2, 32, 256, 1024, KEY.encode().ljust(150))
    t = struct.unpack(FMT, b)
    return t[:9], t[9].decode().strip()


def precompiled():
    t = S.unpack(S.pack(1, 8192, 1, 3, 0, 2, 32, 256, 1024, KEY.encode().ljust(150)))
    return t[:9], t[9].decode().strip()


BUF = bytearray(STREAM * S.size)


def stream():
    off = 0
    for i, key in enumerate(KEYS):
        S.pack_into(BUF, off, 1 + i % 3, 8192, 1, 3, 0, 2, 32, 256, 1024, key.encode().ljust(150))
        off += S.size
    out = []
    for off in range(0, STREAM * S.size, S.size):
        t = S.unpack_from(BUF, off)
        out.append((t[:9], t[9].decode().strip()))
    return out


def best_ns(fn, number, per=1):
    return min(timeit.repeat(fn, number=number, repeat=5)) / number / per * 1e9


assert lmcache_style() == precompiled()
assert [k for _, k in stream()] == KEYS
print(json.dumps({"lmcache_ns": best_ns(lmcache_style, 200000),
                  "precompiled_ns": best_ns(precompiled, 200000),
                  "stream_ns": best_ns(stream, 3000, STREAM)}))
