#!/usr/bin/env python3
"""`lmcache-conformance vectors` against the real lmcache-wire and against
broken tools (tiny shell scripts around it), checking that each broken tool
fails exactly the cases it should and the run exits 1.

usage: vectors_mode_test.py BIN_DIR SOURCE_DIR
BIN_DIR holds lmcache-conformance and lmcache-wire; SOURCE_DIR is the
repository (for the default golden manifest and reference vectors).
"""
import concurrent.futures
import json
import os
import stat
import subprocess
import sys
import tempfile
import time

# A tool that hangs sleeps this long (never reached: the runner kills it); the
# odd value lets the test see that no such sleep outlived the run.
HANG_SECONDS = "97.531"
# The case deadline for the hanging tools (each of the 8 batches waits it out
# once); the other runs keep the runner's default.
HANG_TIMEOUT_MS = 300

BATCHES = [f"{op}-{kind}" for op in ("decode", "encode") for kind in ("client", "server", "metadata", "key")]

# name: (script body after the shebang, extra conformance arguments).
# $WIRE is the real lmcache-wire; $1 $2 are the op and the kind.
TOOLS = {
    "swallows-input": "cat >/dev/null\nexit 0\n",
    "exits-3-at-once": "exit 3\n",
    "one-line-fewer": '"$WIRE" "$@" | head -n -1\nexit "${PIPESTATUS[0]}"\n',
    "crashes-after-output": '"$WIRE" "$@"\nkill -SEGV $$\n',
    "crashes-at-once": "kill -SEGV $$\n",
    "hangs-after-output": f'"$WIRE" "$@"\nsleep {HANG_SECONDS}\n',
    "hangs-at-once": f"sleep {HANG_SECONDS}\n",
    # One hex digit flipped (the second) in every encode server output line.
    "flips-a-hex-digit": (
        'if [[ $1 != encode || $2 != server ]]; then exec "$WIRE" "$@"; fi\n'
        '"$WIRE" "$@" | awk \'{ if ($0 !~ /^error: /) { c = substr($0, 2, 1);'
        ' $0 = substr($0, 1, 1) (c == "0" ? "1" : "0") substr($0, 3) } print }\'\n'
        'exit "${PIPESTATUS[0]}"\n'),
    "always-exits-0": '"$WIRE" "$@"\nexit 0\n',
    # Decode objects re-printed with their fields sorted by name.
    "sorts-fields": (
        'if [[ $1 != decode ]]; then exec "$WIRE" "$@"; fi\n'
        '"$WIRE" "$@" | python3 -c \'\n'
        'import json, sys\n'
        'for line in sys.stdin:\n'
        '    line = line.rstrip("\\n")\n'
        '    print(line if line.startswith("error: ") else\n'
        '          json.dumps(json.loads(line), separators=(",", ":"), sort_keys=True))\n'
        '\'\n'
        'exit "${PIPESTATUS[0]}"\n'),
}


def write_tool(tmp, name, body, wire):
    path = os.path.join(tmp, name + ".sh")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"#!/usr/bin/env bash\nWIRE={wire}\n{body}")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def run(conformance, tool, tmp, name, extra=()):
    out = os.path.join(tmp, name + ".json")
    args = [conformance, "vectors", "--tool", tool, "--json", out, *extra]
    start = time.monotonic()
    proc = subprocess.run(args, capture_output=True, timeout=120)
    seconds = time.monotonic() - start
    with open(out, encoding="utf-8") as f:
        results = json.load(f)["results"]
    return proc, results, seconds, proc.stdout.decode("utf-8", "replace")


class Checker:
    def __init__(self):
        self.failures = 0
        self.checks = 0

    def expect(self, ok, what):
        self.checks += 1
        if not ok:
            self.failures += 1
            print(f"FAIL {what}")



def main():
    bin_dir, source = sys.argv[1], sys.argv[2]
    conformance = os.path.join(bin_dir, "lmcache-conformance")
    wire = os.path.join(bin_dir, "lmcache-wire")
    check = Checker()
    with open(os.path.join(source, "golden/reference-vectors/wire-sample.json"), encoding="utf-8") as f:
        reference = {f"vectors/reference/{c['id']}": c for c in json.load(f)}

    with tempfile.TemporaryDirectory() as tmp:
        # The real tool: everything passes.
        proc, results, seconds, text = run(conformance, wire, tmp, "real")
        by_id = {r["id"]: r for r in results}
        failed = sorted(r["id"] for r in results if r["outcome"] != "passed")
        check.expect(proc.returncode == 0, f"real lmcache-wire: exit {proc.returncode}, failed {failed[:5]}")
        check.expect(not failed, f"real lmcache-wire: failed cases {failed[:5]}")
        check.expect(len(results) > 400, f"real lmcache-wire: only {len(results)} cases")
        for b in BATCHES:
            for c in ("one-line-per-input", "exit-status"):
                check.expect(f"vectors/contract/{b}/{c}" in by_id, f"no case vectors/contract/{b}/{c}")
        for must in ("vectors/golden/client/put-kv2ltd-bf16/decode", "vectors/golden/client/put-kv2ltd-bf16/encode",
                     "vectors/golden/errors/client-key-151/encode", "vectors/golden/errors/key-invalid-utf8/decode",
                     "vectors/reference/s-client-encode-rand-001"):
            check.expect(must in by_id, f"no case {must}")
        all_ids = [r["id"] for r in results]
        contract = {i for i in all_ids if i.startswith("vectors/contract/")}
        line_cases = [i for i in all_ids if i.startswith(("vectors/golden/", "vectors/reference/"))]
        check.expect(len(all_ids) == len(set(all_ids)), "duplicate case ids")

        def line_cases_of(batch):
            op, kind = batch.split("-")
            out = []
            for i in line_cases:
                if i in reference:
                    if reference[i]["op"] == op and reference[i]["kind"] == kind:
                        out.append(i)
                elif i.endswith("/" + op):
                    group = i.split("/")[2]
                    k = i.split("/")[3].split("-")[0] if group == "errors" else group
                    if k == kind:
                        out.append(i)
            return out

        batch_cases = {b: line_cases_of(b) for b in BATCHES}
        check.expect(sum(len(v) for v in batch_cases.values()) == len(line_cases),
                     "every line case belongs to one batch")

        tools = {name: write_tool(tmp, name, body, wire) for name, body in TOOLS.items()}
        # The runs are independent; the hanging ones mostly wait, so run
        # them side by side to keep the test short.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                name: pool.submit(run, conformance, path, tmp, name,
                                  ["--case-timeout-ms", str(HANG_TIMEOUT_MS)] if name.startswith("hangs") else [])
                for name, path in tools.items()}
        outcomes = {}
        for name, future in futures.items():
            proc, results, seconds, text = future.result()
            failed = {r["id"] for r in results if r["outcome"] == "failed"}
            messages = {r["id"]: r.get("message", "") for r in results}
            outcomes[name] = (proc, failed, messages, seconds, text)
            check.expect(proc.returncode == 1, f"{name}: exit status {proc.returncode}, expected 1")
            check.expect("vectors/sources/golden-manifest" not in failed, f"{name}: the sources case failed")
            print(f"{name}: {len(failed)} failed in {seconds:.1f} s")

        def exactly(name, want, why):
            _, failed, messages, _, _ = outcomes[name]
            extra = sorted(failed - want)
            missing = sorted(want - failed)
            check.expect(not extra and not missing,
                         f"{name}: {why}: unexpected failures {extra[:4]}, missing failures {missing[:4]}")

        every_line = set(line_cases)
        every_status = {f"vectors/contract/{b}/exit-status" for b in BATCHES}
        every_count = {f"vectors/contract/{b}/one-line-per-input" for b in BATCHES}
        # Every batch holds a line that must fail, so exit 0 is wrong too.
        exactly("swallows-input", every_line | every_count | every_status, "everything fails")
        exactly("exits-3-at-once", every_line | every_count | every_status, "everything fails")
        last_lines = {batch_cases[b][-1] for b in BATCHES}
        # The runner's index of a line within its batch follows catalogue
        # order: golden first, then reference; the last line is the last
        # reference vector of that batch.
        exactly("one-line-fewer", last_lines | every_count, "the count and each batch's last line fail")
        exactly("crashes-after-output", every_status, "only the exit status fails")
        exactly("crashes-at-once", every_line | every_count | every_status, "everything fails")
        exactly("hangs-after-output", every_status, "only the exit status fails")
        exactly("hangs-at-once", every_line | every_count | every_status, "everything fails")
        encode_server_ok = {i for i in batch_cases["encode-server"]
                            if not (i in reference and reference[i]["expect"] == "error")
                            and "/errors/" not in i}
        exactly("flips-a-hex-digit", encode_server_ok, "every valid encode server line fails")
        exactly("always-exits-0", every_status, "every batch expects exit 1")
        reference_decode_ok = {i for i, c in reference.items() if c["op"] == "decode" and c["expect"] != "error"}
        exactly("sorts-fields", reference_decode_ok, "reference decode lines require wire-json's field order")

        # Messages say what happened.
        _, _, messages, _, _ = outcomes["crashes-after-output"]
        check.expect("signal 11" in messages["vectors/contract/decode-client/exit-status"],
                     "crash: the message names signal 11")
        _, _, messages, seconds, _ = outcomes["hangs-at-once"]
        check.expect("deadline" in messages["vectors/contract/decode-client/exit-status"],
                     "hang: the message names the deadline")
        check.expect(seconds < 8 * HANG_TIMEOUT_MS / 1000 + 5, f"hang: the run took {seconds:.1f} s")
        _, _, messages, _, _ = outcomes["exits-3-at-once"]
        check.expect("exit status 3" in messages["vectors/contract/decode-client/exit-status"],
                     "exit 3: the message names the status")
        _, _, messages, _, _ = outcomes["flips-a-hex-digit"]
        m = messages["vectors/golden/server/get-hit/encode"]
        check.expect("input:" in m and "expected:" in m and "actual:" in m,
                     f"flip: the message shows input, expected and actual: {m[:200]!r}")
        _, _, messages, _, _ = outcomes["sorts-fields"]
        m = messages[sorted(reference_decode_ok)[0]]
        check.expect("order" in m, f"field order: the message says so: {m[:200]!r}")
        time.sleep(0.2)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        check.expect(f"sleep {HANG_SECONDS}" not in ps, "a hanging tool's child outlived the run")

        # Sources that cannot be read fail the run instead of passing emptily.
        proc, results, _, _ = run(conformance, wire, tmp, "no-golden",
                                  ["--golden", os.path.join(tmp, "missing.json")])
        failed = {r["id"] for r in results if r["outcome"] == "failed"}
        check.expect(proc.returncode == 1 and "vectors/sources/golden-manifest" in failed,
                     "a missing golden manifest fails the run")
        proc, results, _, _ = run(conformance, os.path.join(tmp, "no-such-tool"), tmp, "no-tool")
        failed = {r["id"] for r in results if r["outcome"] == "failed"}
        check.expect(proc.returncode == 1 and every_count <= failed, "a tool that cannot start fails")

    print(f"{check.checks - check.failures} passed, {check.failures} failed")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
