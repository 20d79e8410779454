#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the golden fixtures (and keeps what is
already there: crashes fixed later are added by hand as corpus entries).
Files are named by the sha1 of their content, as libFuzzer names them.

usage: fuzz/seed_corpus.py
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden", "fixtures")
TARGETS = {"client": "fuzz_request", "server": "fuzz_reply", "metadata": "fuzz_metadata", "key": "fuzz_key"}


def put(target, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    with open(os.path.join(GOLDEN, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    for group in manifest["testGroups"]:
        for t in group["tests"]:
            kind = t["kind"]
            if "file" in t:
                data = open(os.path.join(GOLDEN, t["file"]), "rb").read()
                put(TARGETS[kind], data)
                # The tool target reads lines: hex of the bytes, or the key text.
                put("fuzz_wire_tool", data if kind == "key" else data.hex().encode())
            if "object" in t:
                put("fuzz_wire_tool", json.dumps(t["object"], ensure_ascii=False).encode())


if __name__ == "__main__":
    main()
