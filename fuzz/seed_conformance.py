#!/usr/bin/env python3
"""Seeds fuzz/corpus/fuzz_conformance_profile/ and fuzz/corpus/fuzz_testee_line/.

Profiles: the JSON examples of docs/CONFORMANCE.md, every built-in profile as
`lmcache-conformance --print-profile` renders it (alone and with its own
"base"), the documents conformance/runner_test.cc parses, and one document per
key and value of the schema, valid and not. Testee lines: the request and
result examples of docs/CONFORMANCE.md (client mode), then one result of each
kind the runner judges, bad base64 of each kind, lines long enough for
line_json's fast path (4096 bytes and up) and several results in one input.

Files are named by the sha1 of their content, as libFuzzer names them; what
is already there is kept. Run from anywhere after building the runner:

usage: fuzz/seed_conformance.py [BIN_DIR]     (default: build/bin)
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
DOC = os.path.join(ROOT, "docs", "CONFORMANCE.md")
BUILTINS = ["reference", "lmcache-python"]


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def profiles(bin_dir):
    doc = open(DOC, encoding="utf-8").read()
    for block in re.findall(r"```json\n(.*?)```", doc, re.S):
        put("fuzz_conformance_profile", block)
    runner = os.path.join(bin_dir, "lmcache-conformance")
    for name in BUILTINS:
        text = subprocess.run([runner, "server", "--print-profile", "--profile", name], check=True,
                              capture_output=True, text=True).stdout
        put("fuzz_conformance_profile", text)
        put("fuzz_conformance_profile", text.replace("{", '{"base": "%s",' % name, 1))
    tests = open(os.path.join(ROOT, "conformance", "runner_test.cc"), encoding="utf-8").read()
    for text in re.findall(r'ParseProfile\(R"\((.*?)\)"', tests):
        put("fuzz_conformance_profile", text)
    put("fuzz_conformance_profile", "{")

    def doc_with(**parts):
        put("fuzz_conformance_profile", json.dumps(dict({"name": "seed"}, **parts)))

    reactions = ["fail_reply", "drop", "ignore", "any", "explode", 1]
    server = {
        "list": ["answered", "ignored", "any", "sometimes", True],
        "unknown_command": reactions, "bad_key": reactions, "unknown_codes": reactions,
        "negative_length": reactions,
        "health_parses_key": [True, False, None, "yes"],
        "half_echoed_as_float16": [True, False, None, 0],
        "truncated_put_placeholder": [True, False, None],
        "max_object_bytes": [0, 2**31 - 1, 2**64 - 1, -1, 1.5, "1"],
        "capacity_bytes": [None, 0, 1 << 20, -5],
        "max_test_body_bytes": [1 << 20, -1],
    }
    client = {
        "attempts": [1, 3, 100, 0, 101, -1, 2.0],
        "backoff_ms": [[], [0, 600000], [600001], [-1], list(range(100)), list(range(101)), "100"],
        "retries_invalid_reply": [True, False, "no"],
        "supports_list": [True, False, None], "supports_health": [True, False, 1],
        "max_test_body_bytes": [16 << 20, -16],
        "max_rss_on_huge_reply_bytes": [512 << 20, None],
    }
    for section, keys in (("server", server), ("client", client)):
        for key, values in keys.items():
            for v in values:
                doc_with(base="reference", **{section: {key: v}})
        doc_with(**{section: {"no_such_key": 1}})
        doc_with(**{section: []})
    for base in BUILTINS + ["nobody", 7]:
        doc_with(base=base)
    doc_with(description="a profile", server={}, client={})
    doc_with(description=5)
    put("fuzz_conformance_profile", json.dumps({"name": ""}))
    put("fuzz_conformance_profile", json.dumps({"name": 3}))
    put("fuzz_conformance_profile", json.dumps({"description": "no name"}))
    put("fuzz_conformance_profile", json.dumps({"name": "x", "zzz": 1}))
    put("fuzz_conformance_profile", '{"name":"x","name":"dup\\u00e9\\ud83d\\ude00"}')
    put("fuzz_conformance_profile", "[1, 2]")


def testee_lines():
    doc = open(DOC, encoding="utf-8").read()
    client_mode = doc[doc.index("## Client mode"):]
    for line in re.findall(r'^    (\{"id".*\})$', client_mode, re.M):
        put("fuzz_testee_line", line)

    def line(**fields):
        return json.dumps(fields, separators=(",", ":"))

    body = bytes(range(256)) * 20
    data = base64.b64encode(body).decode()
    results = [
        line(id=1, ok=True),
        line(id=1, ok=True, found=True, data="AAECAw==", fmt=1, dtype=3, shape=[2, 4, 256, 128], length=4),
        line(id=1, ok=True, found=False),
        line(id=1, ok=True, keys=["k1", "k2"]),
        line(id=1, ok=True, keys=[]),
        line(id=1, ok=False, error="deadline exceeded"),
        line(id=None, ok=False, error="not JSON"),
        line(id=2, ok=True),
        line(id="1", ok=True),
        line(id=1.0, ok=True),
        line(id=18446744073709551615, ok=True),
        line(id=1),
        line(id=1, ok="true"),
        "[1,2,3]",
        "not json",
        '{"id":1,"ok":true,"error":"\\u00e9\\ud83d\\ude00 \\"quoted\\" \\\\"}',
        b'{"id":1,"ok":true,"error":"\xff"}',
        '{"id":1,"ok":true,"d\\u0061ta":"AAAA"}',
        '  {  "id" : 1 , "ok" : true , "data" : "AAAA" }  ',
    ]
    for bad in ["AAECAw", "AAECAw=", "AAECA===", "AAE=CAw=", "AAECAx==", "AAECAw-_", "A===", "====", ""]:
        results.append(line(id=1, ok=True, found=True, data=bad))
    # Long enough for the fast path of Parse and Dump (4096 bytes and up).
    results.append(line(id=1, ok=True, found=True, data=data, fmt=1, dtype=3, shape=[1, 1, 1, len(body)],
                        length=len(body)))
    results.append('{"zz":{"a":[1,"}",{"b":"\\""}]},"data":"%s","id":1,"ok":true}' % data)
    results.append('{"id":1,"ok":true,"data":"%s","data":"AAAA"}' % data)
    results.append('{"id":1,"ok":true,"data":"%s!"}' % data)
    for r in results:
        put("fuzz_testee_line", r)
    put("fuzz_testee_line", "\n".join([line(id=1, ok=True), line(id=2, ok=True, found=False),
                                       line(id=3, ok=False, error="x"), line(id=5, ok=True)]))


def main():
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin")
    profiles(bin_dir)
    testee_lines()


if __name__ == "__main__":
    main()
