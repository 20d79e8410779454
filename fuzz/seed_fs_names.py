#!/usr/bin/env python3
"""Seeds fuzz/corpus/fuzz_fs_name/ with ObjectKeys.

Input format (fuzz_fs_name.cc): [kv_rank: i64 LE][object_group_id: i64 LE]
[hash length: u8][hash][model length: u8][model][salt: the rest], packed with
Python's struct. The keys are impl/l2/l2_test.cc's (FsFileName's cases), one
per refusal docs/L2.md lists, names at the 230-byte limit, and models that
meet LMCache's "-SEP-" quirk. Files are named by the sha1 of their content;
what is already there is kept.

usage: fuzz/seed_fs_names.py
"""
import hashlib
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_fs_name")


def key(model=b"test-model", rank=0, group=0, hash_=bytes(31) + b"\x01", salt=b""):
    return struct.pack("<qqB", rank, group, len(hash_)) + hash_ + struct.pack("<B", len(model)) + model + salt


def put(data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    h2 = bytes(31) + b"\x02"
    # l2_test's names.
    put(key())
    put(key(b"org/model", (2 << 24) | (1 << 16) | (1 << 8), 26, h2, b"tenant-a"))
    put(key(b"org/model", 0x123456789, 26, h2, b"tenant-a"))
    put(key(b".."))
    # One per refusal.
    for model in [b"a@b", b"a\0b", b"a\nb", b"a\x7fb", b"m" * 200]:
        put(key(model))
    for salt in [b"../x", b"a/b", b"a\\b", b"a@b", b"a\tb", b"s" * 129, b"s" * 128]:
        put(key(salt=salt))
    put(key(rank=-1))
    put(key(group=-1))
    put(key(rank=2**63 - 1, group=2**63 - 1))
    # At the length limit: the default key's name is 83 bytes plus the model,
    # so a model of 147 bytes makes 230 (named) and 148 makes 231 (refused).
    for model in [b"m" * 147, b"m" * 148, b"m" * 142 + b"/", b"m" * 143 + b"/"]:
        put(key(model))
    # LMCache's quirk: these share names with a '/' model, or misread.
    for model in [b"a-SEP-b", b"x-SEP/", b"/SEP-", b"-SEP--SEP-", b"//", b"a\\b", "modèle/ü".encode(), b"\xff\xfe"]:
        put(key(model))
    # Hashes of other sizes, and an input cut short.
    put(key(hash_=b""))
    put(key(hash_=bytes(range(255))))
    put(key(b"m", 5, 6, b"\xab", b"salt"))
    put(b"\x01\x02\x03")


if __name__ == "__main__":
    main()
