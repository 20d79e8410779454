#!/usr/bin/env python3
"""Differential test of the key grammar: CPython's own str/int semantics (via
golden/generate.py's parse_key, the ground truth of the fixtures) against
`lmcache-wire decode key` on thousands of hostile generated strings.

The one intended difference: the kit keeps world_size, worker_id and layer_id
in int64, and reports an error where Python would return a larger int.

usage: key_grammar_vs_cpython.py LMCACHE_WIRE [COUNT] [SEED]
"""
import importlib.util
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("generate", os.path.join(HERE, "..", "golden", "generate.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

PIECES = ["@", "@", "@", "%", "0", "1", "7", "9", "a", "f", "F", "x", "X", "0x", "_", "__", "-", "+",
          " ", "\t", "\x0b", "\x1c", "\x1f", "\x00", "\u00a0", "\u2000", "\u200b", "\u3000", "\x85",
          "\u0661", "\uff17", "\u00b2", "\u00e9", "m", "/", "half", "bfloat16", "fp8_e4m3fn",
          "uint8", "fp16", "99999999999999999999"]
INT64 = range(-2**63, 2**63)


def random_key(rng):
    if rng.random() < 0.5:
        # Mostly-valid keys with one field perturbed.
        fields = ["m" * rng.randrange(3), str(rng.randrange(100)), str(rng.randrange(8)),
                  f"{rng.getrandbits(64):x}", rng.choice(gen.DTYPES_F)]
        if rng.random() < 0.4:
            fields.append(str(rng.randrange(64)))
        fields += [f"t{i}%v" for i in range(rng.randrange(3))]
        i = rng.randrange(len(fields))
        fields[i] = "".join(rng.choice(PIECES) for _ in range(rng.randrange(4))) + fields[i] + \
            "".join(rng.choice(PIECES) for _ in range(rng.randrange(3)))
        return "@".join(fields)
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 24)))


def expected(text):
    try:
        obj = gen.parse_key(text)
    except (ValueError, KeyError):
        return None
    if any(v is not None and v not in INT64 for v in (obj["world_size"], obj["worker_id"], obj["layer_id"])):
        return None
    return obj


def main():
    tool = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 2026)
    keys = [random_key(rng) for _ in range(count)]
    keys = [k for k in keys if "\n" not in k]
    stdin = "".join(k + "\n" for k in keys).encode("utf-8")
    out = subprocess.run([tool, "decode", "key"], input=stdin, capture_output=True, timeout=120).stdout
    lines = out.decode("utf-8").split("\n")[:-1]
    assert len(lines) == len(keys), (len(lines), len(keys))
    failed = 0
    valid = 0
    for k, line in zip(keys, lines):
        want = expected(k)
        got = None if line.startswith("error: ") else json.loads(line)
        valid += want is not None
        if got != want:
            failed += 1
            if failed <= 20:
                print(f"FAIL {k!r}: python {want}, kit {line}")
    print(f"{len(keys) - failed} passed, {failed} failed ({valid} valid keys)")
    # Both sides of the grammar must be exercised: the default 20,000 keys
    # give about 18% valid ones. Too few of either means the generator or
    # the run went wrong, and the comparison proved little.
    invalid = len(keys) - valid
    if valid < len(keys) // 20 or invalid < len(keys) // 20 or len(keys) < 1000:
        print(f"FAIL: {len(keys)} keys, {valid} valid and {invalid} invalid: at least 1000 keys and 5% of each "
              "are needed")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
