#!/usr/bin/env python3
"""The server catalogue against broken servers: each must be told apart.

For every bug of lmcache-broken-proxy (--list-bugs) this starts a reference
lmcache-server on a free port, the proxy in front of it with that one bug,
and runs

    lmcache-conformance server --target lm://127.0.0.1:PROXY --profile reference
                               --json OUT --case-timeout-ms 2000

then checks, from the JSON report, that
  (a) the run ended with exit status 1 (0 for the control runs: no bug, and a
      legal variation that only splits replies into single bytes);
  (b) every case the bug must trip failed, with a non-empty message;
  (c) the run went on: at least `min_pass` of the other cases passed (and the
      cases in `must_pass` did), so one broken behaviour does not take the
      rest of the catalogue down with it;
  (d) time stayed bounded: no case took much more than its deadline, and the
      whole run stayed under `max_seconds`.

A bug that no case catches is a hole in the catalogue. It is listed in
HOLES with the case that ought to catch it; its run must then pass (exit 0).
Once the catalogue catches it, this test fails until the entry moves from
HOLES to BUGS, so the list never goes stale.

Runs go in parallel (they mostly wait on deadlines). Bugs whose every case
waits out its deadline run a subset of the catalogue (`run`) to keep the
whole test near a minute; the rest skip the 16 and 64 MiB body cases unless
the bug is about bodies (`full`).

usage: broken_servers_test.py BIN_DIR [--bug NAME]... [--jobs N] [--keep]
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from procs import wait_for_line

CASE_TIMEOUT_MS = 2000
# The runs of the whole catalogue (the 16 and 64 MiB bodies included) get a
# longer deadline: bytes-64mib alone takes about 2 s on a small machine,
# against the reference server directly. They run one at a time, first.
FULL_CASE_TIMEOUT_MS = 5000
# Cases each runner runs at once: the whole-catalogue runs, one at a time,
# get the runner's default on a 2-core machine; the narrowed runs, several at
# once, fewer each.
FULL_RUN_JOBS = 16
RUN_JOBS = 4
# A case may overrun its deadline by this much (teardown, scheduling).
CASE_GRACE_S = 1.5
GRACE_S = CASE_GRACE_S  # --grace-s
BIG_BODIES = ["server/body/bytes-16mib", "server/body/bytes-64mib"]


def bug(fail, min_pass=0.7, must_pass=(), run=None, full=False, exit_status=1, max_seconds=40):
    """What a bug's run must show. `fail`: case ids that must fail;
    `run`: patterns to narrow the catalogue to (None: all of it)."""
    return dict(fail=list(fail), min_pass=min_pass, must_pass=list(must_pass), run=run, full=full,
                exit_status=exit_status, max_seconds=max_seconds)


S = "server/"
BUGS = {
    # Control runs: nothing may fail.
    "none": bug([], exit_status=0, full=True, min_pass=1.0),
    "split-replies": bug([], exit_status=0, min_pass=1.0),
    # Reply layout and metadata. Most hit cases compare whole reply headers,
    # so these trip widely; the miss and EXIST cases must still pass.
    "reply-location-fifth": bug(
        [S + "reply/location-is-last-field", S + "get/hit-echoes-stored-metadata",
         S + "get/hit-echoes-every-shape-int"],
        min_pass=0.35, must_pass=[S + "get/miss-fail-dummy", S + "exist/present-200", S + "exist/absent-400"]),
    "metadata-not-echoed": bug(
        [S + "get/hit-echoes-stored-metadata", S + "get/hit-echoes-every-shape-int",
         S + "put/overwrite-replaces-metadata"],
        min_pass=0.35, must_pass=[S + "get/miss-fail-dummy", S + "exist/present-200"]),
    "dtype-canonicalised": bug([S + "codes/dtype-half-echo"]),
    "location-echoed": bug([S + "get/location-echoed-as-zero"]),
    "overwrite-keeps-metadata": bug([S + "put/overwrite-replaces-metadata"]),
    "reply-short-header": bug(
        [S + "health/replies-success-dummy", S + "exist/present-200", S + "exist/absent-400"],
        min_pass=0.3, must_pass=[S + "command/unknown-0"],
        run=[S + "health/**", S + "command/**", S + "exist/**"]),
    "bad-code-201": bug([S + "get/hit-returns-stored-bytes", S + "get/hit-echoes-stored-metadata"],
                        min_pass=0.35, must_pass=[S + "get/miss-fail-dummy", S + "exist/present-200"]),
    # Keys.
    "bytewise-keys": bug([S + "key/hash-is-semantic", S + "key/hash-case-insensitive",
                          S + "key/overwrite-through-another-spelling", S + "list/keys-are-canonical"],
                         must_pass=[S + "key/distinct-hashes-distinct-entries"]),
    "strip-spaces-only": bug([S + "key/strip-ascii-whitespace", S + "key/strip-unicode-whitespace"],
                             must_pass=[S + "key/strip-leading-and-trailing-spaces"]),
    "ascii-keys-only": bug([S + "key/utf8-model-name", S + "key/strip-unicode-whitespace"]),
    "key-149-max": bug([S + "key/exactly-150-bytes"]),
    "bad-key-drops": bug([S + "key/unparsable-key", S + "key/invalid-utf8", S + "key/era-e-key-rejected",
                          S + "key/unknown-dtype-string", S + "key/tag-without-percent"]),
    # PUT.
    "drop-overwrite": bug([S + "put/overwrite-replaces-bytes", S + "put/overwrite-replaces-metadata",
                           S + "put/overwrite-across-connections"],
                          must_pass=[S + "put/no-reply", S + "get/hit-returns-stored-bytes"]),
    "reply-to-put": bug([S + "put/no-reply"], min_pass=0.25,
                        must_pass=[S + "health/replies-success-dummy", S + "get/miss-fail-dummy"]),
    "zero-length-put-dropped": bug([S + "put/zero-length"]),
    "truncated-put-published": bug([S + "put/truncated-stores-nothing", S + "put/truncated-does-not-overwrite",
                                    S + "put/reset-mid-payload-stores-nothing",
                                    S + "put/replay-after-truncation-wins"]),
    "negative-length-stored": bug([S + "put/negative-length"]),
    "unknown-codes-drop": bug([S + "codes/unknown-fmt", S + "codes/unknown-dtype", S + "codes/unknown-location"],
                              must_pass=[S + "codes/every-fmt-code", S + "codes/every-dtype-code"]),
    # Bodies.
    "torn-body": bug([S + "get/hit-returns-stored-bytes", S + "body/bytes-4095", S + "body/bytes-4097",
                      S + "body/bytes-65539", S + "body/bytes-1mib", S + "body/bytes-4mib-plus-1",
                      S + "body/bytes-16mib", S + "body/bytes-64mib", S + "body/put-in-small-pieces"],
                     must_pass=[S + "body/bytes-1"], full=True),
    "body-capped-1mib": bug([S + "body/bytes-4mib-plus-1", S + "body/bytes-16mib", S + "body/bytes-64mib"],
                            must_pass=[S + "body/bytes-1mib"], full=True),
    # GET, EXIST, HEALTH, LIST, unknown commands.
    "hang-on-get": bug(
        [S + "get/hit-returns-stored-bytes", S + "get/hit-echoes-stored-metadata", S + "get/miss-fail-dummy"],
        min_pass=0.3, must_pass=[S + "health/replies-success-dummy", S + "exist/present-200"],
        run=[S + "get/**", S + "health/**", S + "exist/**"]),
    # Every GET hit's body comes short and the connection stays open, so each
    # such case waits out its deadline: the runner must still finish the
    # whole catalogue inside the 60 s (cases run in parallel).
    "half-get-body": bug(
        [S + "get/hit-returns-stored-bytes", S + "body/bytes-1mib", S + "body/bytes-64mib"],
        min_pass=0.3, must_pass=[S + "get/miss-fail-dummy", S + "exist/present-200"], full=True, max_seconds=60),
    # Nothing is ever answered: every case that waits for a reply fails.
    "silent": bug(
        [S + "health/replies-success-dummy", S + "get/miss-fail-dummy", S + "exist/present-200"],
        min_pass=0.0, full=True, max_seconds=60),
    "miss-as-empty-hit": bug([S + "get/miss-fail-dummy", S + "key/distinct-hashes-distinct-entries"]),
    "miss-drops-connection": bug([S + "get/miss-fail-dummy", S + "pipeline/replies-in-order"]),
    "exist-inverted": bug([S + "exist/present-200", S + "exist/absent-400"]),
    "health-fails": bug([S + "health/replies-success-dummy", S + "health/probe-key-not-looked-up",
                         S + "health/repeated-on-one-connection"]),
    "list-unanswered": bug([S + "list/answered-with-keys", S + "list/keys-are-canonical"]),
    "list-trailing-newline": bug([S + "list/answered-with-keys"]),
    "unknown-command-hangs": bug([S + "command/unknown-0", S + "command/unknown-6", S + "command/unknown-9",
                                  S + "command/unknown-minus-1"]),
    # Framing and connections.
    "header-188-bytes": bug(
        [S + "health/replies-success-dummy", S + "health/probe-key-not-looked-up", S + "get/miss-fail-dummy"],
        min_pass=0.0, run=[S + "health/**", S + "get/miss-fail-dummy", S + "command/unknown-0"]),
    "pipelined-requests-lost": bug(
        [S + "pipeline/replies-in-order", S + "pipeline/put-then-get-in-one-write",
         S + "pipeline/two-hundred-requests"],
        min_pass=0.3, must_pass=[S + "health/replies-success-dummy", S + "get/miss-fail-dummy"],
        run=[S + "pipeline/**", S + "health/**", S + "exist/**", S + "get/**"]),
    "replies-reordered": bug([S + "pipeline/replies-in-order", S + "pipeline/two-hundred-requests",
                              S + "command/unknown-flushes-earlier-replies"],
                             must_pass=[S + "connection/two-requests-one-connection"]),
    "one-request-per-connection": bug(
        [S + "connection/two-requests-one-connection", S + "health/repeated-on-one-connection",
         S + "pipeline/replies-in-order", S + "pipeline/two-hundred-requests"],
        min_pass=0.5, must_pass=[S + "health/replies-success-dummy", S + "get/hit-returns-stored-bytes"]),
    "nul-padding-accepted": bug([S + "key/nul-padding-rejected"]),
    "health-checks-key": bug([S + "health/unparsable-key"]),
    "negative-shape-zeroed": bug([S + "get/hit-echoes-every-shape-int"]),
    "one-connection-at-a-time": bug([S + "robustness/idle-connection-harmless", S + "connection/many-at-once",
                                     S + "connection/visible-across-connections"]),
}

# Bugs no case catches yet: bug name -> the case that ought to, and why not.
HOLES = {}


def run_bug(bin_dir, name, spec, work):
    """Runs the catalogue against one bug; returns (report or None, exit
    status, seconds, problem text)."""
    full = spec.get("full", False)
    # The body cases need L1 room for 64 MiB objects; the rest fit in 64 MiB.
    l1 = (320 << 20) if full else (64 << 20)
    procs = []
    try:
        server_err = os.path.join(work, "server.err")
        with open(server_err, "w") as err:
            server = subprocess.Popen([os.path.join(bin_dir, "lmcache-server"), "--port", "0",
                                       "--l1-size-bytes", str(l1)], stdout=subprocess.DEVNULL, stderr=err)
        procs.append(server)
        m = wait_for_line(server_err, r"listening on lm://[^:]+:(\d+)", server, time.monotonic() + 20)
        if not m:
            return None, None, 0, "lmcache-server did not start: " + open(server_err).read()[-500:]
        server_port = m.group(1)
        proxy_out = os.path.join(work, "proxy.out")
        with open(proxy_out, "w") as out:
            proxy = subprocess.Popen([os.path.join(bin_dir, "lmcache-broken-proxy"), "--listen-port", "0",
                                      "--upstream", "127.0.0.1:" + server_port, "--bug", name],
                                     stdout=out, stderr=subprocess.STDOUT)
        procs.append(proxy)
        m = wait_for_line(proxy_out, r"listening on (\d+)", proxy, time.monotonic() + 10)
        if not m:
            return None, None, 0, "lmcache-broken-proxy did not start: " + open(proxy_out).read()[-500:]
        report_path = os.path.join(work, "report.json")
        argv = [os.path.join(bin_dir, "lmcache-conformance"), "server", "--target",
                "lm://127.0.0.1:" + m.group(1), "--profile", "reference", "--json", report_path,
                "--case-timeout-ms", str(FULL_CASE_TIMEOUT_MS if full else CASE_TIMEOUT_MS),
                "--jobs", str(FULL_RUN_JOBS if full else RUN_JOBS)]
        for pattern in spec.get("run") or []:
            argv += ["--run", pattern]
        if not full and not spec.get("run"):
            for case in BIG_BODIES:
                argv += ["--skip", case]
        start = time.monotonic()
        try:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=spec["max_seconds"] + 30)
        except subprocess.TimeoutExpired:
            return None, None, time.monotonic() - start, "lmcache-conformance did not finish"
        seconds = time.monotonic() - start
        with open(os.path.join(work, "runner.out"), "wb") as f:
            f.write(done.stdout)
        try:
            with open(report_path, encoding="utf-8") as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            return None, done.returncode, seconds, "no JSON report (%s); runner said: %s" % (
                e, done.stdout.decode(errors="replace")[-500:])
        return report, done.returncode, seconds, ""
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()


def check(spec, report, status, seconds, catalogue):
    """The problems of one run (empty: it showed what it must)."""
    problems = []
    if status != spec["exit_status"]:
        problems.append("exit status %s, want %d" % (status, spec["exit_status"]))
    results = {r["id"]: r for r in report.get("results", [])}
    for case in spec["fail"]:
        if case not in catalogue:
            problems.append("%s is not in the catalogue (renamed? update BUGS)" % case)
            continue
        r = results.get(case)
        if r is None:
            problems.append("%s did not run" % case)
        elif r["outcome"] != "failed":
            problems.append("%s: %s, want failed" % (case, r["outcome"]))
        elif not r.get("message"):
            problems.append("%s failed without a message" % case)
    for case in spec["must_pass"]:
        r = results.get(case)
        if r is None or r["outcome"] != "passed":
            problems.append("%s: %s, want passed (the run must go on)" % (case, r and r["outcome"]))
    others = [r for i, r in results.items() if i not in spec["fail"] and r["outcome"] != "skipped"]
    passed = sum(1 for r in others if r["outcome"] == "passed")
    if others and passed < spec["min_pass"] * len(others):
        problems.append("only %d of the %d other cases passed, want at least %d%%: %s" % (
            passed, len(others), round(100 * spec["min_pass"]),
            ", ".join(r["id"] for r in others if r["outcome"] != "passed")[:600]))
    bound = (FULL_CASE_TIMEOUT_MS if spec["full"] else CASE_TIMEOUT_MS) / 1000 + GRACE_S
    for r in results.values():
        if r.get("seconds", 0) > bound:
            problems.append("%s took %.1f s, past its deadline (%.1f s allowed)" % (r["id"], r["seconds"], bound))
    if seconds > spec["max_seconds"]:
        problems.append("the run took %.1f s, want at most %d s" % (seconds, spec["max_seconds"]))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bin_dir")
    ap.add_argument("--bug", action="append", help="run only these bugs (repeatable)")
    ap.add_argument("--jobs", type=int, default=8, help="runs at once (they mostly wait on deadlines)")
    ap.add_argument("--keep", action="store_true", help="keep each run's files and print where")
    ap.add_argument("--grace-s", type=float, default=CASE_GRACE_S,
                    help="how far a case may overrun its deadline (more for an instrumented build)")
    args = ap.parse_args()
    global GRACE_S
    GRACE_S = args.grace_s

    listed = subprocess.run([os.path.join(args.bin_dir, "lmcache-broken-proxy"), "--list-bugs"],
                            stdout=subprocess.PIPE, check=True, text=True).stdout
    proxy_bugs = [line.split("\t")[0] for line in listed.splitlines() if line]
    problems = []
    unmapped = [b for b in proxy_bugs if b not in BUGS and b not in HOLES]
    if unmapped:
        problems.append("bugs with no expectation here (add them to BUGS or HOLES): " + ", ".join(unmapped))
    stale = [b for b in list(BUGS) + list(HOLES) if b not in proxy_bugs]
    if stale:
        problems.append("expectations for bugs the proxy does not have: " + ", ".join(stale))
    listing = subprocess.run([os.path.join(args.bin_dir, "lmcache-conformance"), "server", "--list",
                              "--profile", "reference"], stdout=subprocess.PIPE, check=True, text=True).stdout
    catalogue = {line.split()[0] for line in listing.splitlines() if line.startswith("server/")}

    specs = dict(BUGS)
    for name, (case, _) in HOLES.items():
        specs[name] = bug([], exit_status=0, min_pass=1.0)
    names = [n for n in (args.bug or proxy_bugs) if n in specs]
    root = tempfile.mkdtemp(prefix="broken-servers-")
    started = time.monotonic()

    def one(name):
        work = os.path.join(root, name)
        os.makedirs(work)
        return name, work, run_bug(args.bin_dir, name, specs[name], work)

    def runs():
        # The whole-catalogue runs one at a time (they are CPU-bound), then
        # the rest in parallel (they mostly wait).
        yield from map(one, [n for n in names if specs[n]["full"]])
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            yield from pool.map(one, [n for n in names if not specs[n]["full"]])

    for name, work, (report, status, seconds, problem) in runs():
        if report is None:
            found = [problem]
        elif name in HOLES:
            case, why = HOLES[name]
            caught = [r["id"] for r in report["results"] if r["outcome"] == "failed"]
            found = []
            if caught or status != 0:
                found.append("now caught by %s (exit %s): move it from HOLES to BUGS" % (
                    ", ".join(caught) or "no case", status))
            else:
                print("HOLE %-28s no case fails; %s should: %s" % (name, case, why))
        else:
            found = check(specs[name], report, status, seconds, catalogue)
        summary = report["summary"]["line"] if report else "no report"
        print("%-4s %-28s %5.1f s  exit %s  %s%s" % ("ok" if not found else "FAIL", name, seconds, status,
                                                    summary, ("  [" + work + "]") if args.keep else ""))
        for p in found:
            print("       " + p)
        problems += ["%s: %s" % (name, p) for p in found]
    print("%d runs in %.1f s" % (len(names), time.monotonic() - started))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    if problems:
        print("%d problem(s)" % len(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
