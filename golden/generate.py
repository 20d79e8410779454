#!/usr/bin/env python3
"""Generates the golden wire fixtures of the kit.

Bytes are produced with Python's `struct`, the encoder LMCache itself uses
(spec §1.2, §1.3, §4: native '@' mode, little-endian on every supported host,
so '<' is used here to pin it), and keys with Python's own str, int() and
isdigit(), whose semantics LMCache's key parser inherits (spec §3.5). Nothing
here is random at run time: the "random" cases come from a fixed-seed
generator that uses only getrandbits, so every Python 3 version writes the
same files.

usage:
  generate.py [--out DIR]   write manifest.json and the .bin files (default:
                            the fixtures/ folder beside this script)
  generate.py --check DIR   regenerate in memory and compare with DIR byte for
                            byte (exit 1 on any difference, extra or missing file)
"""
import argparse
import hashlib
import json
import os
import random
import struct
import sys

SCHEMA = "lmcache-kit/golden-manifest/v1"
GENERATOR_VERSION = "1.0.0"
PROTOCOL = "LMCache V1 lm:// (request 186 bytes, reply 36 bytes, keys of era F)"

REQ = struct.Struct("<iiiiiiiii150s")
REP = struct.Struct("<iiiiiiiii")
assert REQ.size == 186 and REP.size == 36

FLAGS = {
    "SpecVector": "Bytes given verbatim in the protocol spec (§1.6, §4).",
    "ReplyFieldOrder": "location is the 5th int of a request and the last of a reply.",
    "SpacePadding": "The key is padded with 0x20 to 150 bytes.",
    "NulPadding": "The key field is padded with NUL: NUL is not whitespace, so the NULs stay in the key.",
    "WhitespaceStrip": "The key field carries other whitespace that str.strip() removes; re-encoding gives the canonical padding.",
    "SignedLength": "length is a signed int32; negative values round-trip.",
    "Key150": "A key of exactly 150 bytes: no padding at all.",
    "Key151": "A key of 151 bytes cannot be encoded (never truncated).",
    "NonAsciiKey": "The key holds multi-byte UTF-8.",
    "DtypeHalf": "dtype code 1 (half) versus 2 (float16): both decode; encoders send 2.",
    "ShapePadding": "Sub-4-D shapes as the padding variants of §8 send them.",
    "OpaqueCodes": "Codes outside LMCache's tables: the codec keeps any int32.",
    "NonCanonicalHash": "A hash written with a 0x prefix, leading zeros, upper case, '_', a sign or spaces; it parses to the canonical int.",
    "BigHash": "A hash of 256 bits or more.",
    "LayerKey": "A LayerCacheEngineKey (a decimal layer id after the dtype).",
    "Tags": "name%value tags, in order.",
    "DuplicateTag": "A repeated tag name: a dict keeps its first position and its last value.",
    "BytesHash": "A bytes hash rendered with bytes.hex(): leading zeros do not survive a parse.",
    "Truncated": "Fewer bytes than the object's size.",
    "Overlong": "More bytes than the object's size.",
    "InvalidUtf8": "The key field is not valid UTF-8.",
    "BadMetadataSize": "A byte count that is not 4*(2+5g) with g >= 1.",
    "BadKey": "A key string LMCache's parser rejects.",
    "OutOfRange": "An integer outside int32.",
}

DTYPES_F = ["half", "bfloat16", "float", "double", "int8", "uint8", "int16", "int32",
            "int64", "bool", "fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2", "fp8_e5m2fnuz"]


# --- encoders (struct) -------------------------------------------------------

def encode_client(o):
    key = o["key"].encode("utf-8")
    if len(key) > 150:
        raise ValueError("key longer than 150 bytes")
    return REQ.pack(o["command"], o["length"], o["fmt"], o["dtype"], o["location"],
                    *o["shape"], key.ljust(150, b" "))


def encode_server(o):
    return REP.pack(o["code"], o["length"], o["fmt"], o["dtype"], *o["shape"], o["location"])


def encode_metadata(o):
    ints = [o["length"], o["fmt"]]
    for g in o["groups"]:
        ints += [g["dtype"], *g["shape"]]
    return struct.pack("<" + "i" * len(ints), *ints)


def render_key(o):
    parts = [o["model"], str(o["world_size"]), str(o["worker_id"]), o["chunk_hash"], o["dtype"]]
    if o["layer_id"] is not None:
        parts.append(str(o["layer_id"]))
    parts += [f"{k}%{v}" for k, v in o["tags"]]
    return "@".join(parts)


# --- decoders (the Python semantics the fixtures pin down) -------------------

def decode_client(b):
    *ints, key = REQ.unpack(b)
    return {"command": ints[0], "length": ints[1], "fmt": ints[2], "dtype": ints[3],
            "location": ints[4], "shape": ints[5:9], "key": key.decode("utf-8").strip()}


def decode_server(b):
    ints = REP.unpack(b)
    return {"code": ints[0], "length": ints[1], "fmt": ints[2], "dtype": ints[3],
            "shape": list(ints[4:8]), "location": ints[8]}


def decode_metadata(b):
    n = len(b) // 4
    ints = struct.unpack("<" + "i" * n, b)
    groups = [{"dtype": ints[i], "shape": list(ints[i + 1:i + 5])} for i in range(2, n, 5)]
    return {"length": ints[0], "fmt": ints[1], "groups": groups}


def parse_key(s):
    """parse_cache_key of era F, with Python's own int() and isdigit()."""
    stripped = s.strip().split("@")
    parts = s.split("@")
    if len(parts) < 5:
        raise ValueError("too few fields")
    layer = len(stripped) >= 6 and stripped[5].isdigit()
    if parts[4] not in DTYPES_F:
        raise KeyError(parts[4])
    h = int(parts[3], 16)
    tags = {}
    for kv in parts[6 if layer else 5:]:
        k, sep, v = kv.partition("%")
        if not sep:
            raise ValueError("tag without %")
        tags[k] = v
    return {"model": parts[0], "world_size": int(parts[1]), "worker_id": int(parts[2]),
            "chunk_hash": f"{h:x}", "dtype": parts[4],
            "layer_id": int(parts[5]) if layer else None,
            "tags": [[k, v] for k, v in tags.items()]}


ENCODERS = {"client": encode_client, "server": encode_server,
            "metadata": encode_metadata, "key": lambda o: render_key(o).encode("utf-8")}
DECODERS = {"client": decode_client, "server": decode_server,
            "metadata": decode_metadata, "key": lambda b: parse_key(b.decode("utf-8"))}
TYPES = {"client": ("RequestHeader", 186), "server": ("ReplyHeader", 36),
         "metadata": ("RemoteMetadata", None), "key": ("CacheKey", None)}


# --- deterministic randomness ------------------------------------------------

class Rng:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def below(self, n):
        bits = max(1, (n - 1).bit_length())
        while True:
            v = self.r.getrandbits(bits)
            if v < n:
                return v

    def i32(self):
        return self.r.getrandbits(32) - (1 << 31)

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def word(self, alphabet, lo, hi):
        return "".join(self.pick(alphabet) for _ in range(lo + self.below(hi - lo + 1)))


# --- cases -------------------------------------------------------------------

class Cases:
    def __init__(self):
        self.groups = {k: [] for k in ("client", "server", "metadata", "key", "errors")}

    def valid(self, kind, name, comment, obj, flags=(), data=None):
        """A valid case. `data` overrides the bytes (decode-only input whose
        canonical encoding differs); the canonical bytes are recorded too."""
        canonical = ENCODERS[kind](obj)
        case = {"id": f"{kind}-{name}", "comment": comment, "kind": kind, "object": obj,
                "data": canonical if data is None else data, "result": "valid",
                "flags": list(flags)}
        decoded = DECODERS[kind](case["data"])
        assert decoded == obj, (name, decoded, obj)
        if data is not None:
            assert data != canonical, name
            case["canonical"] = canonical
        self.groups[kind].append(case)

    def invalid_bytes(self, kind, name, comment, data, reason, flags):
        try:
            DECODERS[kind](data) if kind != "metadata" else check_metadata_size(data)
        except (ValueError, KeyError, UnicodeDecodeError, struct.error):
            pass
        else:
            raise AssertionError(f"{name} decodes in Python")
        self.groups["errors"].append({
            "id": f"errors-{kind}-{name}", "comment": comment, "kind": kind,
            "direction": "decode", "data": data, "result": "invalid", "reason": reason,
            "flags": list(flags)})

    def invalid_object(self, kind, name, comment, obj, reason, flags):
        try:
            ENCODERS[kind](obj)
            if kind == "key":
                parse_key(render_key(obj))
        except (ValueError, KeyError, struct.error):
            pass
        else:
            raise AssertionError(f"{name} encodes in Python")
        self.groups["errors"].append({
            "id": f"errors-{kind}-{name}", "comment": comment, "kind": kind,
            "direction": "encode", "object": obj, "result": "invalid", "reason": reason,
            "flags": list(flags)})


def check_metadata_size(b):
    if len(b) < 28 or (len(b) - 8) % 20 != 0:
        raise ValueError("metadata size")
    return decode_metadata(b)


def client(command, length, fmt, dtype, shape, key, location=0):
    return {"command": command, "length": length, "fmt": fmt, "dtype": dtype,
            "location": location, "shape": list(shape), "key": key}


def server(code, length, fmt, dtype, shape, location=0):
    return {"code": code, "length": length, "fmt": fmt, "dtype": dtype,
            "shape": list(shape), "location": location}


def key(model, ws, wid, h, dtype, layer=None, tags=()):
    return {"model": model, "world_size": ws, "worker_id": wid, "chunk_hash": h,
            "dtype": dtype, "layer_id": layer, "tags": [list(t) for t in tags]}


def client_cases(c):
    c.valid("client", "put-kv2ltd-bf16", "Spec §1.6: PUT, KV_2LTD, bf16, 8192 bytes",
            client(1, 8192, 1, 3, [2, 32, 256, 1024], "test_model@3@1@0@bfloat16"),
            ["SpecVector", "SpacePadding"])
    c.valid("client", "put-mla-2d", "Spec §1.6: 2-D MLA shape padded with trailing zeros (newest)",
            client(1, 294912, 6, 3, [256, 576, 0, 0], "m@1@0@3039@bfloat16"),
            ["SpecVector", "ShapePadding"])
    c.valid("client", "put-mla-2d-prepend-ones", "The same shape as Variant prepend-1s sends it",
            client(1, 294912, 6, 3, [1, 1, 256, 576], "m@1@0@3039@bfloat16"), ["ShapePadding"])
    c.valid("client", "put-3d-trailing-zero", "[256,2,1024] padded with a trailing zero (§5.4)",
            client(1, 1048576, 2, 2, [256, 2, 1024, 0], "m@1@0@ff@half"), ["ShapePadding"])
    c.valid("client", "put-binary-buffer", "Spec §1.6: BINARY_BUFFER, dtype None, [20,0,0,0]",
            client(1, 20, 5, 0, [20, 0, 0, 0], "m@1@0@1@uint8"), ["SpecVector", "ShapePadding"])
    c.valid("client", "put-reconnect-test", "Spec §1.6: LMCache's reconnect test PUT",
            client(1, 16, 1, 6, [1, 1, 2, 8], "reconnect-test@1@0@ded@uint8"), ["SpecVector"])
    c.valid("client", "get-dummy", "GET with the dummy fields (§1.5)",
            client(2, 0, 1, 2, [0, 0, 0, 0], "test_model@3@1@0@bfloat16"), ["SpacePadding"])
    c.valid("client", "exist", "EXIST", client(3, 0, 1, 2, [0, 0, 0, 0], "m@1@0@ded@uint8@7"))
    c.valid("client", "list", "LIST (no reply from the main-line server)",
            client(4, 0, 1, 2, [0, 0, 0, 0], "@0@0@0@half"))
    c.valid("client", "health", "Spec §1.6: HEALTH with the era F probe key",
            client(5, 0, 1, 2, [0, 0, 0, 0], "@0@0@0@half"), ["SpecVector"])
    c.valid("client", "health-era-e", "HEALTH with the era E probe key",
            client(5, 0, 1, 2, [0, 0, 0, 0], "@@0@0@0@half"))
    c.valid("client", "dtype-half", "dtype 1 (half): decodes, but encoders send 2",
            client(1, 64, 1, 1, [2, 1, 16, 1], "m@1@0@ab@half"), ["DtypeHalf"])
    c.valid("client", "dtype-float16", "dtype 2 (float16)",
            client(1, 64, 1, 2, [2, 1, 16, 1], "m@1@0@ab@half"), ["DtypeHalf"])
    c.valid("client", "negative-length", "A negative length round-trips (§5.5: the Python server stores an empty payload)",
            client(1, -1, 1, 3, [2, 1, 1, 1], "m@1@0@1@bfloat16"), ["SignedLength"])
    c.valid("client", "length-max", "length 2^31-1",
            client(1, 2**31 - 1, 1, 6, [2**31 - 1, 1, 1, 1], "m@1@0@1@uint8"), ["SignedLength"])
    c.valid("client", "opaque-codes", "Command, fmt, dtype and location outside every table",
            client(99, 0, 42, 9, [-1, -2**31, 2**31 - 1, 0], "m@1@0@1@uint8", location=7),
            ["OpaqueCodes"])
    c.valid("client", "not-a-key", "The header codec does not parse the key (the store does)",
            client(2, 0, 1, 2, [0, 0, 0, 0], "not-a-key"), ["OpaqueCodes"])
    k150 = "m" * (150 - len("@1@0@ff@uint8")) + "@1@0@ff@uint8"
    c.valid("client", "key-150", "A key of exactly 150 bytes", client(2, 0, 1, 2, [0] * 4, k150),
            ["Key150"])
    k150u = "é" * 68 + "@1@0@ff@uint8"
    assert len(k150u.encode()) == 149
    k150u = "é" * 68 + "x@1@0@ff@uint8"
    assert len(k150u.encode()) == 150
    c.valid("client", "key-150-utf8", "150 bytes of which 136 are two-byte characters",
            client(2, 0, 1, 2, [0] * 4, k150u), ["Key150", "NonAsciiKey"])
    c.valid("client", "key-non-ascii", "A model name in CJK",
            client(1, 4, 1, 6, [1, 1, 1, 4], "模型/通义千问-7B@1@0@1f@uint8"), ["NonAsciiKey"])
    # Decode-only inputs whose canonical encoding differs.
    base = client(3, 0, 1, 2, [0] * 4, "m@1@0@3039@bfloat16")
    raw = bytearray(encode_client(base))
    raw[36 + 19:] = b"\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" + b" " * (150 - 19 - 9)
    c.valid("client", "pad-ascii-whitespace", "Tab, newline and U+001C..U+001F in the padding are stripped",
            base, ["WhitespaceStrip"], bytes(raw))
    lead = bytearray(encode_client(base))
    lead[36:36 + 150] = ("\u00a0\u3000 " + "m@1@0@3039@bfloat16").encode().ljust(150, b" ")
    c.valid("client", "lead-unicode-whitespace", "Leading U+00A0 and U+3000 are stripped too",
            base, ["WhitespaceStrip", "NonAsciiKey"], bytes(lead))
    nul = bytearray(encode_client(base))
    nul[36 + 19:] = b"\x00" * (150 - 19)
    c.valid("client", "pad-nul", "NUL padding is not stripped: the key keeps 131 NULs (§9.12)",
            client(3, 0, 1, 2, [0] * 4, "m@1@0@3039@bfloat16" + "\x00" * 131),
            ["NulPadding"])
    rng = Rng(0x1c0de)
    for i in range(12):
        model = rng.word("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-", 1, 40)
        h = f"{rng.r.getrandbits(64):x}"
        k = render_key(key(model, 1 << rng.below(5), rng.below(8), h, rng.pick(DTYPES_F)))
        shape = [rng.i32() for _ in range(4)]
        c.valid("client", f"random-{i:02d}", "Random fields and a random era F key",
                client(1 + rng.below(5), rng.i32(), rng.i32(), rng.i32(), shape, k, rng.i32()))


def server_cases(c):
    c.valid("server", "get-hit", "Spec §1.6: GET hit, bf16 KV_2LTD 8192 bytes",
            server(200, 8192, 1, 3, [2, 32, 256, 1024]), ["SpecVector", "ReplyFieldOrder"])
    c.valid("server", "miss", "Spec §1.6: GET miss / EXIST absent (dummy fields)",
            server(400, 0, 1, 2, [0, 0, 0, 0]), ["SpecVector"])
    c.valid("server", "present", "Spec §1.6: HEALTH / EXIST present",
            server(200, 0, 1, 2, [0, 0, 0, 0]), ["SpecVector"])
    c.valid("server", "location-last", "location 2 sits in the last int, shape[0] 256 before it (§7: the @0851d06 reader bug)",
            server(200, 4096, 1, 3, [256, 2, 4, 1], location=2), ["ReplyFieldOrder"])
    c.valid("server", "list-reply", "The asyncio variant's LIST reply: SUCCESS, length of the body, dummies",
            server(200, 59, 1, 2, [0, 0, 0, 0]))
    c.valid("server", "code-999", "A return code the newest client rejects without retrying (§6.3)",
            server(999, 0, 1, 2, [0, 0, 0, 0]), ["OpaqueCodes"])
    c.valid("server", "negative-fields", "Negative length and shape",
            server(200, -5, -1, -2, [-1, -2**31, 0, 2**31 - 1], location=-3),
            ["SignedLength", "OpaqueCodes"])
    rng = Rng(0x5e4e4)
    for i in range(6):
        c.valid("server", f"random-{i:02d}", "Random fields",
                server(rng.pick([200, 400]), rng.i32(), rng.i32(), rng.i32(),
                       [rng.i32() for _ in range(4)], rng.i32()))


def metadata_cases(c):
    def meta(length, fmt, groups):
        return {"length": length, "fmt": fmt,
                "groups": [{"dtype": d, "shape": list(s)} for d, s in groups]}
    c.valid("metadata", "g1", "Spec §4: length 100, KV_MLA_FMT, uint8 [1,2,3,4]",
            meta(100, 6, [(6, [1, 2, 3, 4])]), ["SpecVector"])
    c.valid("metadata", "g2", "Spec §4: adds float16 [5,6,7,8]",
            meta(100, 6, [(6, [1, 2, 3, 4]), (2, [5, 6, 7, 8])]), ["SpecVector"])
    c.valid("metadata", "g3", "LMCache's unit test: three groups",
            meta(100, 6, [(6, [1, 2, 3, 4]), (2, [5, 6, 7, 8]), (4, [9, 10, 11, 12])]))
    c.valid("metadata", "binary-buffer", "Spec §4: BINARY_BUFFER, length 20",
            meta(20, 5, [(0, [20, 0, 0, 0])]), ["SpecVector", "ShapePadding"])
    c.valid("metadata", "mla-2d", "Spec §4: 2-D MLA, bf16 [256,576]",
            meta(294912, 6, [(3, [256, 576, 0, 0])]), ["SpecVector", "ShapePadding"])
    c.valid("metadata", "mixed", "LMCache's unit test: [[256,576],[1,27,256,576]], length 999, KV_T2D",
            meta(999, 2, [(3, [256, 576, 0, 0]), (3, [1, 27, 256, 576])]), ["ShapePadding"])
    rng = Rng(0x3e7a)
    for i in range(4):
        groups = [(rng.i32(), [rng.i32() for _ in range(4)]) for _ in range(1 + rng.below(5))]
        c.valid("metadata", f"random-{i:02d}", "Random fields", meta(rng.i32(), rng.i32(), groups))


def key_cases(c):
    c.valid("key", "test-model", "tests/v1/utils key", key("test_model", 3, 1, "0", "bfloat16"))
    c.valid("key", "llama", "A real model name with '/'",
            key("meta-llama/Llama-3.1-8B-Instruct", 1, 0, "1234abcd", "half"))
    c.valid("key", "tag", "One tag", key("m", 2, 1, "ff", "fp8_e4m3fn", tags=[("user", "alice")]),
            ["Tags"])
    c.valid("key", "layer", "A layer key, layer 7", key("m", 1, 0, "ded", "uint8", layer=7),
            ["LayerKey"])
    c.valid("key", "layer-tags", "A layer key with tags; a tag value may hold '%'",
            key("m", 1, 0, "ded", "uint8", layer=0, tags=[("a", "1"), ("t", "x%y"), ("", "")]),
            ["LayerKey", "Tags"])
    c.valid("key", "probe", "The era F HEALTH probe key: empty model", key("", 0, 0, "0", "half"))
    c.valid("key", "negative-hash", "A negative hash (#2135)",
            key("Qwen/Qwen3-4B", 1, 0, "-5d1b8de6da1b6d09", "bfloat16", layer=0), ["LayerKey"])
    c.valid("key", "sha256-hash", "A 256-bit hash",
            key("m", 8, 7, "f" * 64, "fp8_e5m2"), ["BigHash"])
    c.valid("key", "huge-hash", "A 512-bit hash (Python ints have no size)",
            key("m", 1, 0, "1" + "0" * 127, "int64"), ["BigHash"])
    c.valid("key", "all-dtypes-fnuz", "fnuz dtype strings", key("m", 1, 0, "1", "fp8_e5m2fnuz"))
    c.valid("key", "non-ascii", "Non-ASCII model and tag",
            key("naïve-ünïcödé/ß", 1, 0, "5a", "float", tags=[("ключ", "значение")]),
            ["NonAsciiKey", "Tags"])
    c.valid("key", "spaces-kept", "key parsing itself strips nothing: spaces stay in the model and tag",
            key("  m", 1, 0, "1", "half", tags=[("t", "v ")]), ["Tags"])
    for name, text, want in [
        ("hash-0x", "m@1@0@0x3039@bfloat16", key("m", 1, 0, "3039", "bfloat16")),
        ("hash-zeros", "m@1@0@00003039@bfloat16", key("m", 1, 0, "3039", "bfloat16")),
        ("hash-underscore", "m@1@0@3_039@bfloat16", key("m", 1, 0, "3039", "bfloat16")),
        ("hash-upper", "m@1@0@0XABCDEF@half", key("m", 1, 0, "abcdef", "half")),
        ("hash-spaces", "m@1@0@ -1f  @half", key("m", 1, 0, "-1f", "half")),
        ("hash-plus", "m@1@0@+0x_ff@half", key("m", 1, 0, "ff", "half")),
        ("hash-minus-zero", "m@1@0@-0@half", key("m", 1, 0, "0", "half")),
        ("bytes-hash", "m@1@0@0102ff@bfloat16", key("m", 1, 0, "102ff", "bfloat16")),
        ("int-lenient", "m@ +1_0 @\u00a007@ff@half", key("m", 10, 7, "ff", "half")),
        ("unicode-digits", "m@\u0661@\uff10@\u0663@half@\u0667", key("m", 1, 0, "3", "half", layer=7)),
        ("layer-trailing-space", "m@1@0@ff@half@7 ", key("m", 1, 0, "ff", "half", layer=7)),
        ("layer-leading-zeros", "m@1@0@ff@half@007", key("m", 1, 0, "ff", "half", layer=7)),
        ("duplicate-tag", "m@1@0@ff@half@a%1@b%2@a%3", key("m", 1, 0, "ff", "half", tags=[("a", "3"), ("b", "2")])),
    ]:
        flags = ["NonCanonicalHash"] if name.startswith("hash") else []
        flags += ["BytesHash"] if name == "bytes-hash" else []
        flags += ["DuplicateTag", "Tags"] if name == "duplicate-tag" else []
        flags += ["LayerKey"] if want["layer_id"] is not None else []
        c.valid("key", name, f"Decodes {text!r} to its canonical object", want, flags,
                text.encode("utf-8"))
    rng = Rng(0x6e4)
    for i in range(8):
        model = rng.word("abcdefghijklmnopqrstuvwxyz0123456789/._-", 0, 30)
        tags = [(rng.word("abcxyz_-", 0, 6) + str(j), rng.word("abc%:=/. 09", 0, 8))
                for j in range(rng.below(3))]
        layer = rng.below(100) if rng.below(2) else None
        c.valid("key", f"random-{i:02d}", "Random era F key",
                key(model, rng.below(1 << 31), rng.below(64), f"{rng.r.getrandbits(1 + rng.below(256)):x}",
                    rng.pick(DTYPES_F), layer, tags),
                ["LayerKey"] * (layer is not None) + ["Tags"] * bool(tags))


def error_cases(c):
    good = encode_client(client(1, 8, 1, 3, [2, 1, 1, 4], "m@1@0@1@bfloat16"))
    c.invalid_bytes("client", "empty", "No bytes at all", b"", "short input", ["Truncated"])
    c.invalid_bytes("client", "truncated-185", "One byte short", good[:185], "short input", ["Truncated"])
    c.invalid_bytes("client", "truncated-36", "The nine ints without the key", good[:36], "short input", ["Truncated"])
    c.invalid_bytes("client", "overlong-187", "One byte too many", good + b" ", "trailing bytes", ["Overlong"])
    c.invalid_bytes("client", "naive-struct-188", "A naive C++ struct's 188 bytes (§7)", good + b"\0\0",
                    "trailing bytes", ["Overlong"])
    for name, tail, comment in [
        ("utf8-ff", b"\xff", "0xFF at the end of the padding"),
        ("utf8-cut", b"\xc3", "A two-byte sequence cut by the field's end"),
        ("utf8-surrogate", b"\xed\xa0\x80", "An encoded surrogate"),
        ("utf8-overlong", b"\xc0\xaf", "An overlong '/'"),
        ("utf8-too-big", b"\xf4\x90\x80\x80", "A code point above U+10FFFF"),
    ]:
        c.invalid_bytes("client", name, comment, good[:186 - len(tail)] + tail, "key is not valid UTF-8",
                        ["InvalidUtf8"])
    rep = encode_server(server(200, 0, 1, 2, [0] * 4))
    c.invalid_bytes("server", "truncated-35", "One byte short", rep[:35], "short input", ["Truncated"])
    c.invalid_bytes("server", "overlong-37", "One byte too many", rep + b"\0", "trailing bytes", ["Overlong"])
    c.invalid_bytes("server", "empty", "No bytes", b"", "short input", ["Truncated"])
    meta = encode_metadata({"length": 1, "fmt": 1, "groups": [{"dtype": 6, "shape": [1, 1, 1, 1]}] * 2})
    for n in (0, 4, 8, 24, 27, 29, 47, 52):
        c.invalid_bytes("metadata", f"size-{n}", f"{n} bytes is not 4*(2+5g), g >= 1", meta[:n] if n <= 48 else meta + b"\0" * (n - 48),
                        "bad metadata size", ["BadMetadataSize"])
    for name, text, comment in [
        ("too-few-fields", "demo@1@0@beef", "Four fields"),
        ("unknown-dtype", "demo@1@0@beef@fp32", "fp32 is not a key dtype string"),
        ("tag-without-percent", "demo@1@0@beef@half@tenant", "A tag needs '%'"),
        ("bad-hash", "demo@1@0@nothex@half", "Not hexadecimal"),
        ("bare-0x", "demo@1@0@0x@half", "0x with no digits"),
        ("double-underscore", "demo@1@0@be__ef@half", "Two underscores in a row"),
        ("bad-world-size", "demo@two@0@beef@half", "world_size is not decimal"),
        ("era-e-key", "vllm@demo@1@0@beef@half", "An era E key (leading fmt) in era F"),
        ("dtype-trailing-space", "demo@1@0@beef@half  ", "from_string does not strip: 'half  ' is unknown"),
        ("negative-layer", "demo@1@0@beef@half@-1", "-1 is not isdigit(): a tag without '%'"),
        ("superscript-layer", "demo@1@0@beef@half@\u00b2", "isdigit() but not int()-able"),
        ("int-us-control", "demo@1@0@beef@half@7\x1f", "U+001F is stripped by str.strip() but int() rejects it"),
        ("nul-padded", "m@1@0@3039@bfloat16" + "\0" * 4, "NULs stay in the dtype (§9.12)"),
        ("empty", "", "An empty key"),
    ]:
        c.invalid_bytes("key", name, comment, text.encode("utf-8"), "bad key", ["BadKey"])
    c.invalid_bytes("key", "invalid-utf8", "A key string must be text", b"m@1@0@ff@half@t%\xff", "not UTF-8",
                    ["InvalidUtf8"])
    k151 = "m" * (151 - len("@1@0@ff@uint8")) + "@1@0@ff@uint8"
    c.invalid_object("client", "key-151", "A key of 151 bytes: rejected, never truncated",
                     client(2, 0, 1, 2, [0] * 4, k151), "key longer than 150 bytes", ["Key151"])
    k76 = "é" * 76
    c.invalid_object("client", "key-152-bytes-76-chars", "76 characters pass LMCache's character check but need 152 bytes (§3.9)",
                     client(2, 0, 1, 2, [0] * 4, k76), "key longer than 150 bytes", ["Key151", "NonAsciiKey"])
    c.invalid_object("client", "length-2^31", "length does not fit int32",
                     client(1, 2**31, 1, 2, [0] * 4, "m@1@0@1@half"), "out of range", ["OutOfRange"])
    c.invalid_object("server", "shape-below-int32", "A shape value below -2^31",
                     server(200, 0, 1, 2, [-2**31 - 1, 0, 0, 0]), "out of range", ["OutOfRange"])
    c.invalid_object("metadata", "dtype-2^32", "A dtype that does not fit int32",
                     {"length": 0, "fmt": 1, "groups": [{"dtype": 2**32, "shape": [0, 0, 0, 0]}]},
                     "out of range", ["OutOfRange"])
    c.invalid_object("key", "encode-unknown-dtype", "fp16 is not a key dtype string",
                     key("m", 1, 0, "1", "fp16"), "unknown dtype", ["BadKey"])


# --- output ------------------------------------------------------------------

def build():
    """Returns {relative path: bytes} for the manifest and every fixture."""
    c = Cases()
    client_cases(c)
    server_cases(c)
    metadata_cases(c)
    key_cases(c)
    error_cases(c)
    files = {}
    groups = []
    tc_id = 0
    for kind, cases in c.groups.items():
        type_name, size = TYPES.get(kind, ("invalid inputs", None))
        tests = []
        for n, case in enumerate(cases, 1):
            tc_id += 1
            entry = {"tcId": tc_id, "id": case["id"], "comment": case["comment"], "kind": case["kind"]}
            if "direction" in case:
                entry["direction"] = case["direction"]
            if "object" in case:
                entry["object"] = case["object"]
            for field in ("data", "canonical"):
                if field in case:
                    name = f"{kind}/{n:03d}-{case['id'].split('-', 1)[1]}" + ("" if field == "data" else ".canonical") + ".bin"
                    files[name] = case[field]
                    entry["file" if field == "data" else "canonicalFile"] = name
                    entry["sha256" if field == "data" else "canonicalSha256"] = hashlib.sha256(case[field]).hexdigest()
            entry["result"] = case["result"]
            if "reason" in case:
                entry["reason"] = case["reason"]
            entry["flags"] = case["flags"]
            tests.append(entry)
        group = {"kind": kind, "type": type_name}
        if size:
            group["size"] = size
        group["tests"] = tests
        groups.append(group)
    manifest = {
        "schema": SCHEMA,
        "generator": "golden/generate.py",
        "generatorVersion": GENERATOR_VERSION,
        "protocol": PROTOCOL,
        "objectForm": "docs/WIRE-JSON.md",
        "numberOfTests": tc_id,
        "notes": FLAGS,
        "testGroups": groups,
    }
    ids = [t["id"] for g in groups for t in g["tests"]]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    used = {f for g in groups for t in g["tests"] for f in t["flags"]}
    assert used <= set(FLAGS), used - set(FLAGS)
    files["manifest.json"] = (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    return files


def existing(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root).replace(os.sep, "/")] = f.read()
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "fixtures"))
    ap.add_argument("--check", metavar="DIR")
    args = ap.parse_args()
    files = build()
    if args.check:
        have = existing(args.check)
        bad = sorted(set(files) ^ set(have)) + sorted(p for p in files if p in have and files[p] != have[p])
        for p in bad:
            print(f"differs: {p}")
        print(f"{len(files) - len(bad)} passed, {len(bad)} failed")
        return 1 if bad else 0
    for path, data in files.items():
        full = os.path.join(args.out, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
