#!/usr/bin/env python3
"""Seeds fuzz/corpus/fuzz_client_session/ with reply streams and operations.

Input format (fuzz_client_session.cc): [reply length: u16 LE][reply bytes]
[operations]. Replies are packed with Python's struct as LMCache's server
packs them (<iiii4ii: code, length, fmt, dtype, shape, location last).
Operation bytes: op % 10 picks PUT (0, then key, fmt, dtype, shape[0]
+ 1, payload length), GET (1, then key and a buffer byte: bit 0 a caller buffer of
8*b bytes, bit 1 an observer), EXIST (3, key), HEALTH (4, key), LIST (24),
write n (5, n-1), write all (6), read n (7, n-1), read all (9), close (249).
Key bytes below 0xf0 pick from the target's pool (0: m@1@0@3039@bfloat16,
5: 150 bytes, 6: 151 bytes); 0xf0 and up are followed by a length and raw
bytes. Run from the repository root; rewrites the seeds.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "corpus", "fuzz_client_session")
PUT, GET, EXIST, HEALTH, LIST = 0, 1, 3, 4, 24
WRITE, WRITE_ALL, READ, READ_ALL, CLOSE = 5, 6, 7, 9, 249


def reply(code, length=0, fmt=1, dtype=2, shape=(0, 0, 0, 0)):
    return struct.pack("<iiii4ii", code, length, fmt, dtype, *shape, 0)


def hit(body, **kw):
    return reply(200, len(body), **kw) + body


def seed(name, replies, ops):
    data = struct.pack("<H", len(replies)) + replies + bytes(ops)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    body = bytes(range(90))
    put = [PUT, 0, 1, 3, 46, 30]
    seed("put_get_hit", hit(body, dtype=3, shape=(45, 0, 0, 0)), put + [GET, 0, 0, WRITE_ALL, READ_ALL])
    seed("put_written_in_pieces", b"", put + [WRITE, 0, WRITE, 99, WRITE, 185, WRITE, 3, WRITE_ALL])
    seed("get_in_place_observed", hit(bytes(20)), [GET, 1, 3, WRITE_ALL, READ, 10, READ, 0, READ_ALL])
    seed("get_too_big_for_buffer", hit(bytes(range(200))), [GET, 1, 3, WRITE_ALL, READ, 40, READ, 100, READ_ALL])
    seed("get_body_grows", hit(bytes(i % 251 for i in range(1000))), [GET, 0, 2, WRITE_ALL] + [READ, 63] * 20)
    seed("get_miss", reply(400), [GET, 2, 0, WRITE_ALL, READ_ALL])
    seed("exist_health_list", reply(200) + reply(400) + hit(b"m@1@0@3039@bfloat16\nk"),
         [EXIST, 0, HEALTH, 3, LIST, WRITE_ALL, READ, 35, READ, 0, READ_ALL])
    seed("invalid_code", reply(999) + reply(200), [GET, 0, 0, EXIST, 1, PUT, 1, 1, 3, 1, 2, WRITE, 50, READ_ALL,
                                                   EXIST, 0, WRITE_ALL])
    seed("length_over_limit", reply(200, 5000), [GET, 0, 0, WRITE_ALL, READ_ALL])
    seed("negative_length", reply(200, -1), [LIST, WRITE_ALL, READ_ALL])
    seed("close_mid_body", hit(bytes(100))[:36 + 40], [GET, 0, 0, WRITE_ALL, READ_ALL, CLOSE, GET, 0, 0])
    seed("close_mid_put", b"", put + [GET, 0, 0, WRITE, 120, CLOSE, EXIST, 0])
    seed("bad_keys", reply(200), [PUT, 6, 1, 3, 1, 1, GET, 0xF0, 2, 0xFF, 0xFE, EXIST, 5, WRITE_ALL, READ_ALL])
    seed("pipelined", hit(b"abc") + reply(400) + reply(200) + hit(bytes(70)) + reply(200),
         [GET, 0, 0, GET, 1, 0, EXIST, 2, GET, 0, 0x11, HEALTH, 3] + [WRITE, 90, READ, 20] * 8)
    seed("reply_before_write", reply(200), [EXIST, 0, READ_ALL, WRITE_ALL])
    seed("zero_length_hit", reply(200, 0), [GET, 0, 1, WRITE_ALL, READ_ALL])


if __name__ == "__main__":
    main()
