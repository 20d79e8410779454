#!/usr/bin/env python3
"""Client mode's own test: lmcache-conformance against good and broken testees.

    client_mode_test.py --runner BIN --cpp-testee BIN --scenario NAME

Scenarios (CMakeLists.txt registers one CTest test per scenario):
  cpp              the kit's client: every case passes (exit 0, "0 failed");
                   --json and --junit are written and agree; docs/CONFORMANCE.md
                   lists exactly the catalogue's case ids
  python           python_testee.py (the template): every case passes
  lmcache-era:ERA  python_testee.py --lmcache-era ERA (v2, legacy: clients that
                   behave as LMCache's connector eras) under the built-in
                   profile of that era: nothing fails, and every case skipped
                   is one the profile declares not applicable
  missing-testee   a command that does not exist: a clear message, no hang
  broken-full      broken_testee.py no-exit over the whole catalogue: only
                   the exit case fails, every other case still runs and passes
  broken:SWITCH    broken_testee.py SWITCH on the cases it must fail (each with
                   a message that says why) and on a few it must still pass

Every run has a time limit: a runner that hangs fails the test.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
# A standard-library testee needs no site-packages: -S saves most of the
# interpreter's start-up, paid once per case.
PYTHON = [sys.executable, "-S"]

HIT = "client/get/hit-returns-body-and-metadata"
# The one case the reference profile leaves out: it is for clients that count
# the key limit in characters (LMCache's).
CHARACTERS_CASE = "client/key/utf8-counted-in-characters-then-truncated"
# era: (built-in profile, the cases it skips). The lists are spelled out so
# that a case skipped by mistake, or run by mistake, fails the scenario.
ERAS = {
    "v2": ("lmcache-python", {
        "client/list/returns-keys", "client/list/empty-store", "client/list/never-answered-fails-by-deadline",
        "client/health/request-bytes", "client/health/fail-reply-is-not-ok", "client/key/utf8-counted-in-bytes"}),
    "legacy": ("lmcache-python-legacy", {
        "client/get/reply-split-into-single-bytes", "client/get/short-reply-then-close",
        "client/get/close-before-reply-is-retried", "client/get/reset-mid-body-is-retried",
        "client/exist/dropped-reply-is-replayed", "client/list/returns-keys", "client/list/empty-store",
        "client/list/never-answered-fails-by-deadline", "client/health/request-bytes",
        "client/health/fail-reply-is-not-ok", "client/reply/unknown-code-discards-connection",
        "client/reply/late-reply-after-deadline", "client/retry/put-replayed-after-reset",
        "client/retry/backoff-waits", "client/retry/recovers-after-refusal", "client/retry/deadline-bounds-retries",
        "client/key/utf8-counted-in-bytes"}),
}
ARGS = None  # the parsed command line

# switch: ({case that must fail: a substring of its message}, [cases that must pass])
BROKEN = {
    "nul-padding": ({"client/put/pads-key-with-spaces": "padded with 0x00",
                     "client/put/header-bytes-exact": "PUT header",
                     "client/health/request-bytes": "health"},
                    ["client/retry/refused-fails-within-bound", "client/adapter/exits-zero-on-stdin-close"]),
    "wrong-dummy-fields": ({"client/get/request-bytes-exact": "GET header",
                            "client/exist/request-bytes-exact": "EXIST header"},
                           ["client/put/header-bytes-exact", "client/health/request-bytes", HIT]),
    "truncate-long-key": ({"client/key/151-bytes-refused": "151-byte key",
                           "client/key/utf8-counted-in-bytes": "151-byte"},
                          ["client/key/150-bytes-accepted"]),
    "counts-chars": ({"client/key/utf8-counted-in-bytes": "85-character"},
                     ["client/key/151-bytes-refused", "client/key/150-bytes-accepted"]),
    "drops-put-payload-byte": ({"client/put/payload-bytes-exact": "did not arrive in full"},
                               [HIT, "client/exist/present-and-absent"]),
    "waits-for-put-reply": ({"client/put/no-reply-awaited": "waited for a reply"},
                            [HIT, "client/exist/present-and-absent"]),
    "retry-invalid-reply": ({"client/reply/unknown-code-not-retried": "must not be retried"},
                            [HIT, "client/retry/gives-up-after-attempts"]),
    "keeps-connection-after-timeout": ({"client/reply/late-reply-after-deadline": "late reply"}, [HIT]),
    "keeps-connection-after-invalid-reply": ({"client/reply/unknown-code-discards-connection": "reused the connection"},
                                             ["client/reply/unknown-code-not-retried"]),
    "no-deadline": ({"client/list/never-answered-fails-by-deadline": "no result",
                     "client/reply/late-reply-after-deadline": "timeout_ms was 400"},
                    [HIT]),
    "no-retry": ({"client/get/reset-mid-body-is-retried": "",
                  "client/exist/dropped-reply-is-replayed": "",
                  "client/retry/gives-up-after-attempts": "sent 1 times",
                  "client/retry/put-replayed-after-reset": ""},
                 [HIT, "client/reply/unknown-code-not-retried"]),
    "no-backoff": ({"client/retry/backoff-waits": "waits between attempts"},
                   ["client/retry/gives-up-after-attempts"]),
    "trust-length": ({"client/get/huge-claimed-length-bounded-memory": "peak RSS"}, [HIT, "client/body/size-1mib"]),
    "bad-json": ({"client/health/request-bytes": "not a JSON object",
                  "client/health/fail-reply-is-not-ok": "not a JSON object"},
                 [HIT, "client/exist/present-and-absent"]),
    "wrong-id": ({"client/exist/present-and-absent": "with id"}, [HIT]),
}


class TestFailure(Exception):
    pass


def check(ok, message):
    if not ok:
        raise TestFailure(message)


def profile_file(tmp, **client):
    """The reference profile with some client fields changed, as a file."""
    p = subprocess.run([ARGS.runner, "client", "--print-profile", "--", "unused"], capture_output=True, text=True,
                       timeout=30, check=True)
    profile = json.loads(p.stdout)
    profile["name"] = "reference-test"
    profile["client"].update(client)
    path = os.path.join(tmp, "profile.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(profile, f)
    return path


# --case-timeout-ms for an unoptimised or instrumented build, given to the
# whole-catalogue scenarios only (a 64 MiB body outlasts the 5 s default
# there; the broken switches' own timing cases keep the default).
SLOW_BUILD_ARGS = []


def run(args, testee, extra=(), timeout_s=90):
    """Runs the runner in client mode; returns (exit status, stdout, parsed --json)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        # --json last before "--": after a repeatable option such as --run,
        # CLI11 takes "--" as the end of that option's values only.
        cmd = [args.runner, "client", *SLOW_BUILD_ARGS, *extra, "--json", report, "--", *testee]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"the run did not end within {timeout_s} s (it must never hang): {' '.join(cmd)}")
        check(os.path.exists(report), f"no --json report; exit {p.returncode}\n{p.stdout}\n{p.stderr}")
        with open(report, encoding="utf-8") as f:
            return p.returncode, p.stdout, json.load(f)


def outcomes(report):
    return {r["id"]: r for r in report["results"]}


def expect_all_passed(status, out, report, what, skipped=frozenset({CHARACTERS_CASE})):
    """Every case passed but exactly `skipped`, each skipped as not applicable to the profile."""
    failed = [f"{r['id']}: {r['outcome']}: {r['message']}" for r in report["results"]
              if r["outcome"] != "passed" and not (r["id"] in skipped and r["outcome"] == "skipped"
                                                    and r["message"].startswith("not applicable to the profile"))]
    check(not failed, f"{what}: cases did not pass:\n  " + "\n  ".join(failed) + "\n" + out[-3000:])
    ran = {r["id"] for r in report["results"]}
    check(skipped <= ran, f"{what}: cases expected to be skipped are not in the catalogue: {sorted(skipped - ran)}")
    check(status == 0, f"{what}: exit status {status}, expected 0")
    last = out.strip().splitlines()[-1]
    check(re.fullmatch(rf"\d+ passed, 0 failed, {len(skipped)} skipped, 0 failed as expected", last),
          f"{what}: closing line is {last!r}")
    check(len(report["results"]) - len(skipped) >= 24, f"{what}: only {len(report['results'])} cases")


def scenario_cpp(args):
    with tempfile.TemporaryDirectory() as tmp:
        junit = os.path.join(tmp, "junit.xml")
        status, out, report = run(args, [args.cpp_testee], ["--junit", junit])
        expect_all_passed(status, out, report, "C++ testee")
        suites = ET.parse(junit).getroot()
        check(suites.get("tests") == str(len(report["results"])) and suites.get("failures") == "0",
              f"JUnit says tests={suites.get('tests')} failures={suites.get('failures')}")
    listed = subprocess.run([args.runner, "client", "--list", "--", "unused"], capture_output=True, text=True,
                            timeout=30).stdout
    catalogue = [line.split()[0] for line in listed.splitlines() if line.startswith("client/")]
    check(catalogue == [r["id"] for r in report["results"]], "--list and the run disagree on the case ids")
    with open(os.path.join(HERE, "..", "..", "docs", "CONFORMANCE.md"), encoding="utf-8") as f:
        documented = re.findall(r"^\| `(client/[^`]+)`", f.read(), re.M)
    check(documented == catalogue,
          "docs/CONFORMANCE.md's client case table differs from the catalogue:\n  missing: "
          f"{sorted(set(catalogue) - set(documented))}\n  extra: {sorted(set(documented) - set(catalogue))}"
          + ("" if set(documented) != set(catalogue) else "\n  (same ids, different order)"))


def scenario_python(args):
    status, out, report = run(args, [*PYTHON, os.path.join(HERE, "python_testee.py")])
    expect_all_passed(status, out, report, "Python testee")


def scenario_lmcache_era(args, era):
    profile, skipped = ERAS[era]
    status, out, report = run(args, [*PYTHON, os.path.join(HERE, "python_testee.py"), "--lmcache-era", era],
                              ["--profile", profile])
    expect_all_passed(status, out, report, f"the LMCache {era} testee under {profile}", frozenset(skipped))


def scenario_missing(args):
    status, _, report = run(args, ["/nonexistent/lmcache-testee"], ["--run", HIT], timeout_s=30)
    r = outcomes(report)[HIT]
    check(status == 1 and r["outcome"] == "failed", f"a missing testee: exit {status}, outcome {r['outcome']}")
    check("exited with status 127" in r["message"] and "cannot execute" in r["message"],
          f"a missing testee's message does not say what happened: {r['message']!r}")


def scenario_broken_full(args):
    status, _, report = run(args, [*PYTHON, os.path.join(HERE, "broken_testee.py"), "no-exit"])
    results = outcomes(report)
    bad = [f"{k}: {r['outcome']} {r['message']}" for k, r in results.items()
           if (r["outcome"] == "failed") != (k == "client/adapter/exits-zero-on-stdin-close")]
    check(not bad, "no-exit over the whole catalogue: unexpected outcomes:\n  " + "\n  ".join(bad))
    check("did not exit" in results["client/adapter/exits-zero-on-stdin-close"]["message"], "no-exit: unclear message")
    check(status == 1, f"no-exit: exit status {status}, expected 1")


def scenario_broken(args, switch):
    must_fail, must_pass = BROKEN[switch]
    selection = [*must_fail, *must_pass]
    extra = [x for case in selection for x in ("--run", case)]
    with tempfile.TemporaryDirectory() as tmp:
        if switch == "trust-length":
            # A naive client zero-fills the claimed 2 GiB; on a slow or busy
            # machine the default 512 MiB limit may take longer to reach than
            # the case's deadline. A lower limit tells the same story sooner.
            extra += ["--profile", profile_file(tmp, max_rss_on_huge_reply_bytes=128 << 20)]
        status, out, report = run(args, [*PYTHON, os.path.join(HERE, "broken_testee.py"), switch], extra,
                                  timeout_s=60)
    results = outcomes(report)
    problems = []
    for case, words in must_fail.items():
        r = results.get(case)
        if r is None or r["outcome"] != "failed":
            problems.append(f"{case} should fail; it {r['outcome'] if r else 'did not run'}")
        elif words not in r["message"]:
            problems.append(f"{case} failed, but its message does not say {words!r}: {r['message']!r}")
    for case in must_pass:
        r = results.get(case)
        if r is None or r["outcome"] != "passed":
            problems.append(f"{case} should still pass: {r['outcome'] + ': ' + r['message'] if r else 'did not run'}")
    check(status == 1, f"exit status {status}, expected 1")
    check(not problems, f"broken switch {switch}:\n  " + "\n  ".join(problems) + "\n" + out[-3000:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--cpp-testee", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--case-timeout-ms", type=int, help="for the whole-catalogue scenarios of a slow build")
    args = ap.parse_args()
    global ARGS
    ARGS = args
    s = args.scenario
    if args.case_timeout_ms and (s in ("cpp", "python", "broken-full") or s.startswith("lmcache-era:")):
        SLOW_BUILD_ARGS.extend(["--case-timeout-ms", str(args.case_timeout_ms)])
    try:
        if s == "cpp":
            scenario_cpp(args)
        elif s == "python":
            scenario_python(args)
        elif s.startswith("lmcache-era:") and s[12:] in ERAS:
            scenario_lmcache_era(args, s[12:])
        elif s == "missing-testee":
            scenario_missing(args)
        elif s == "broken-full":
            scenario_broken_full(args)
        elif s.startswith("broken:") and s[7:] in BROKEN:
            scenario_broken(args, s[7:])
        else:
            print(f"unknown scenario {s!r}", file=sys.stderr)
            return 2
    except TestFailure as e:
        print(f"FAIL {s}: {e}", file=sys.stderr)
        return 1
    print(f"ok {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
