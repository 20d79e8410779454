#!/usr/bin/env python3
"""Decodes every golden fixture with `lmcache-wire`, re-encodes what it
decoded, and prints a summary per kind: the codec at work on real bytes.

usage: summarize.py LMCACHE_WIRE FIXTURES_DIR
Exit status 1 if any fixture disagrees with its manifest entry.
"""
import collections
import json
import os
import subprocess
import sys


def run(tool, op, kind, lines):
    """lines: bytes (raw key text may be invalid UTF-8) or str."""
    data = b"".join((l if isinstance(l, bytes) else l.encode("utf-8")) + b"\n" for l in lines)
    out = subprocess.run([tool, op, kind], input=data, capture_output=True, timeout=60).stdout
    return out.decode("utf-8").split("\n")[:-1]


def main():
    tool, root = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    by_kind = collections.defaultdict(list)
    for group in manifest["testGroups"]:
        for t in group["tests"]:
            if "file" in t:
                by_kind[t["kind"]].append(t)
    print(f"{manifest['protocol']}")
    print(f"{manifest['numberOfTests']} golden cases, generator {manifest['generatorVersion']}\n")
    print(f"{'kind':<10}{'files':>7}{'decoded':>9}{'rejected':>10}{'re-encoded':>12}  example")
    bad = 0
    for kind in ("client", "server", "metadata", "key"):
        tests = by_kind[kind]
        raw = [open(os.path.join(root, t["file"]), "rb").read() for t in tests]
        lines = [b if kind == "key" else b.hex() for b in raw]
        decoded = run(tool, "decode", kind, lines)
        ok = [not d.startswith("error: ") for d in decoded]
        for t, good, d in zip(tests, ok, decoded):
            if good != (t["result"] == "valid") or (good and json.loads(d) != t["object"]):
                bad += 1
                print(f"  MISMATCH {t['id']}: {d}")
        objs = [d for d, good in zip(decoded, ok) if good]
        reencoded = run(tool, "encode", kind, objs)
        want = [t for t, good in zip(tests, ok) if good]
        same = 0
        for t, e in zip(want, reencoded):
            path = t.get("canonicalFile", t["file"])
            canon = open(os.path.join(root, path), "rb").read()
            same += e.encode("utf-8") == (canon if kind == "key" else canon.hex().encode())
        bad += len(want) - same
        example = next((d for d, good in zip(decoded, ok) if good), "")
        example = example if len(example) <= 60 else example[:57] + "..."
        print(f"{kind:<10}{len(tests):>7}{sum(ok):>9}{len(tests) - sum(ok):>10}{same:>12}  {example}")
    print(f"\n{'all fixtures agree with the manifest' if not bad else f'{bad} disagreements'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
