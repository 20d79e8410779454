#!/usr/bin/env python3
"""Seeds fuzz/corpus/fuzz_server_session/ and fuzz/corpus/fuzz_server_loop/
with request streams and schedules.

Input format (fuzz_server_session.cc): [stream length: u16 LE][stream][control
bytes]. The streams are built with Python's struct, as LMCache's client packs
its headers (<iiiii4i150s: command, length, fmt, dtype, location, shape,
key padded with spaces). Run from the repository root; rewrites the seeds.
"""
import os
import struct

CORPUS = os.path.join(os.path.dirname(__file__), "corpus")
OUT = os.path.join(CORPUS, "fuzz_server_session")
LOOP = os.path.join(CORPUS, "fuzz_server_loop")
PUT, GET, EXIST, LIST, HEALTH = 1, 2, 3, 4, 5


def header(cmd, key, length=0, fmt=1, dtype=3, shape=(0, 0, 0, 0)):
    k = key.encode()
    return struct.pack("<iiiii4i150s", cmd, length, fmt, dtype, 0, *shape, k + b" " * (150 - len(k)))


def put(key, payload):
    return header(PUT, key, len(payload), shape=(len(payload) // 2, 0, 0, 0)) + payload


def seed(name, stream, control, out=OUT):
    data = struct.pack("<H", len(stream)) + stream + bytes(control)
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    k1, k2 = "m@1@0@1001@bfloat16", "m@1@0@1002@bfloat16"
    v1, v2 = bytes(range(200)), bytes(1000)
    # Small reads, writes interleaved: every byte boundary gets a turn.
    reads = [0, 4, 8, 252, 2, 6, 1, 0, 4, 254, 3, 7, 2] * 6
    seed("put_get_exist", put(k1, v1) + header(GET, k1) + header(EXIST, k1) + header(EXIST, k2), [1] + reads)
    seed("overwrite_then_get", put(k1, v1) + put(k1, v2) + header(GET, k1), [0] + reads)
    seed("list_health", put(k1, v1) + put(k2, v2) + header(LIST, "") + header(HEALTH, "@0@0@0@half"), [0] + reads)
    # A GET that misses L1 and is answered from "L2", then one answered miss.
    seed("miss_found", header(GET, k2) + header(GET, "m@1@0@1003@bfloat16"), [0, 1, 1, 7, 1, 3, 2, 2, 2])
    # A PUT cut short by the end of the stream: nothing may be published.
    seed("put_cut_short", put(k1, v1)[:186 + 50], [1, 1, 1, 1, 2])
    # A PUT larger than L1, a negative length, an unknown command.
    seed("too_large", header(PUT, k1, 1 << 20) + header(GET, k1), [0, 5, 5, 2, 2])
    seed("negative_length", header(PUT, k1, -5) + header(GET, k1), [0, 5, 2])
    seed("unknown_command", header(9, k1) + header(GET, k1), [0, 5, 2])
    # Keys that differ only in the case of their hex are one key (the
    # session stores the canonical form): the fuzzer's first find was an
    # oracle that forgot this.
    seed("hex_case", put("m@1@0@100A@bfloat16", v1) + header(GET, "m@1@0@100a@bfloat16"), [0] + reads)
    # Replies not read while requests pile up (backpressure), then a drain.
    # More keys than a LIST body may hold (the target's limit is 256 bytes).
    many = b"".join(header(PUT, "m@1@0@%x@bfloat16" % (0x2000 + i), 0) for i in range(14))
    seed("list_too_large", many + header(LIST, ""), [0] + [0xF1] * 3 + [0xFE] * 3)
    seed("backpressure", put(k1, bytes(4000)) + header(GET, k1) * 6, [0] + [1] * 12 + [2] * 4)

    loop_seeds(k1, k2, v1, v2)


def loop_seeds(k1, k2, v1, v2):
    """fuzz_server_loop: control byte 0 is the connections (bits 0-1, plus one)
    and the faults (bit 2 partial reads, bit 3 split segments, bit 4 a 512-byte
    window); byte 1 + i sends request i on connection byte % connections, and
    ((byte >> 2) % 8 == 7) ends that connection there: bit 7 stops reading
    instead of closing, bit 6 cuts inside the request."""
    os.makedirs(LOOP, exist_ok=True)
    end_after, cut_inside, stop_reading = 7 << 2, (7 << 2) | 0x40, (7 << 2) | 0x80
    two_conns = [1, 0, 1, 0, 1, 0, 1]
    seed("one_connection", put(k1, v1) + header(GET, k1) + header(EXIST, k2) + header(LIST, ""), [0], LOOP)
    seed("two_connections", put(k1, v1) + header(GET, k1) + put(k2, v2) + header(GET, k2) + header(EXIST, k1),
         [1] + two_conns, LOOP)
    seed("four_connections_faults", (put(k1, v2) + header(GET, k1)) * 4, [3 | 4 | 8 | 16, 0, 1, 2, 3, 1, 2, 3, 0], LOOP)
    seed("put_cut_by_close", put(k1, v1) + put(k2, v2) + header(GET, k1), [1, 0, 1 | cut_inside, 0], LOOP)
    seed("closed_after_put", put(k1, v1) + header(GET, k1), [0, end_after, 0], LOOP)
    seed("non_reading_peer", put(k1, bytes(4000)) + header(GET, k1) * 8 + header(GET, k1),
         [1 | 16, 0] + [stop_reading & ~3] + [0] * 7 + [1], LOOP)
    seed("pipelined_small_window", header(PUT, k1, 3000) + bytes(3000) + header(GET, k1) * 4, [16 | 4, 0, 0, 0, 0, 0],
         LOOP)


if __name__ == "__main__":
    main()
