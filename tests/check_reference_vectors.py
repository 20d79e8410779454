#!/usr/bin/env python3
"""Runs every vector of a wire-sample file through `lmcache-wire`, the way an
outside check does (one process per kind and direction, one line per case),
and fails on any mismatch.

usage: check_reference_vectors.py LMCACHE_WIRE VECTORS.json
"""
import collections
import json
import subprocess
import sys

# Field order of wire-json.md's table; output must follow it.
FIELD_ORDER = {
    "client": ["command", "length", "fmt", "dtype", "location", "shape", "key"],
    "server": ["code", "length", "fmt", "dtype", "shape", "location"],
    "metadata": ["length", "fmt", "groups"],
    "key": ["model", "world_size", "worker_id", "chunk_hash", "dtype", "layer_id", "tags"],
}


def input_line(case):
    if case["op"] == "encode":
        return json.dumps(case["input"], ensure_ascii=False, separators=(",", ":"))
    return case["input"]


def check(case, line):
    expect = case["expect"]
    if expect == "error":
        return line.startswith("error: ") and len(line) > len("error: ")
    if case["op"] == "encode":
        return line == expect
    try:
        got = json.loads(line)
    except ValueError:
        return False
    return got == expect and list(got.keys()) == FIELD_ORDER[case["kind"]]


# LMCache's set has 190 cases; fewer than this is not the set (an empty
# file would otherwise pass with nothing checked).
MIN_CASES = 100


def main():
    tool, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    if not isinstance(cases, list) or not all(isinstance(c, dict) and "op" in c and "kind" in c for c in cases):
        print(f"FAIL: {path} is not a list of vectors with 'op' and 'kind' (the wrong file?)")
        return 1
    groups = collections.defaultdict(list)
    for case in cases:
        groups[(case["op"], case["kind"])].append(case)
    failures = 0
    for (op, kind), group in sorted(groups.items()):
        for line in (input_line(c) for c in group):
            assert "\n" not in line, "a vector spans lines"
        stdin = "".join(input_line(c) + "\n" for c in group).encode("utf-8")
        proc = subprocess.run([tool, op, kind], input=stdin, capture_output=True, timeout=60)
        lines = proc.stdout.decode("utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) != len(group):
            print(f"FAIL {op} {kind}: {len(lines)} output lines for {len(group)} inputs")
            failures += len(group)
            continue
        any_error = any(c["expect"] == "error" for c in group)
        if proc.returncode != (1 if any_error else 0):
            print(f"FAIL {op} {kind}: exit status {proc.returncode}")
            failures += 1
        for case, line in zip(group, lines):
            if not check(case, line):
                failures += 1
                print(f"FAIL {case['id']}: got {line!r}, want {case['expect']!r}")
    passed = len(cases) - min(failures, len(cases))
    print(f"{passed} passed, {failures} failed")
    if len(cases) < MIN_CASES:
        print(f"FAIL: {len(cases)} cases in {path}, expected at least {MIN_CASES} (LMCache's set has 190): "
              "the wrong file, or an empty one")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
