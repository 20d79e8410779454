#!/usr/bin/env python3
"""tshark with the kit's dissector (lmcache.lua) over pcaps the kit makes.

    dissector_test.py BIN_DIR [--keep] [--write-expected]

1. Golden fixtures as streams (lmcache-golden-pcap): the fields tshark shows
   for every request, reply and key must equal the fields Python's own
   `struct` and `str`/`int` give for the same bytes (LMCache's semantics),
   and those must equal the committed expected/golden.tsv (Unicode digits
   included: int() and isdigit() read any script's). Streams whose
   message never completes (a PUT claiming more than the payload written)
   must instead carry the "connection ended inside a message" expert info;
   the fixtures that break the protocol (negative length, a key that does
   not parse, an unknown command or code) must carry theirs. tshark's
   follow,tcp,raw must give back exactly the bytes written.
2. A whole conformance run against the reference server (--pcap): no Lua
   error, no malformed packet, every reply linked to its request, and as
   many requests decoded as the runner sent.
3. The same catalogue against a server that replies to PUTs
   (lmcache-broken-proxy --bug reply-to-put): the "reply to a PUT" expert.
4. A simulation seed with faults (lmcache-sim --pcap): no Lua error, no
   malformed packet, requests and replies decoded, and the faults visible
   as RST and FIN.

tshark runs with an empty WIRESHARK_CONFIG_DIR, so no user profile or
plugin changes what it shows.
"""

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testing"))
from procs import start  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LUA = os.path.join(HERE, "lmcache.lua")
MANIFEST = os.path.join(ROOT, "golden", "fixtures", "manifest.json")
EXPECTED = os.path.join(HERE, "expected", "golden.tsv")
BODY_MAX = 1 << 20  # lmcache-golden-pcap writes bodies up to this size

FIELDS = ["tcp.stream", "lmcache.command", "lmcache.code", "lmcache.length", "lmcache.fmt", "lmcache.dtype",
          "lmcache.shape", "lmcache.location", "lmcache.key", "lmcache.key.model", "lmcache.key.world_size",
          "lmcache.key.worker_id", "lmcache.key.chunk_hash", "lmcache.key.dtype", "lmcache.key.layer",
          "lmcache.key.tag"]
ERA_F_DTYPES = {"half", "bfloat16", "float", "double", "int8", "uint8", "int16", "int32", "int64", "bool",
                "fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2", "fp8_e5m2fnuz"}
# Keys the dissector may read differently from Python (none now: it carries
# Python's table of Unicode digits).
KNOWN_DIFFERENT = set()

problems = []


def problem(text):
    problems.append(text)
    print("FAIL " + text)


def tshark(pcap, *args, env=None):
    argv = ["tshark", "-n", "-X", "lua_script:" + LUA, "-r", pcap] + list(args)
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=600)
    out = done.stdout.decode("utf-8", errors="replace")
    err = done.stderr.decode("utf-8", errors="replace")
    if done.returncode != 0:
        problem("tshark %s exited %d: %s" % (" ".join(args[:4]), done.returncode, err[-800:]))
    if "Lua Error" in out or "Lua Error" in err or "Lua: Error" in err:
        problem("a Lua error: " + (err + out)[-800:])
    return out


def fields(pcap, names, env, display_filter="lmcache", prefs=()):
    args = list(prefs) + ["-Y", display_filter, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for n in names:
        args += ["-e", n]
    return [line.split("\t") for line in tshark(pcap, *args, env=env).splitlines()]


# --- Python's reading of the same bytes ------------------------------------

def py_int(text, base):
    try:
        return int(text, base)
    except ValueError:
        return None


def py_key_parts(raw):
    """The key parts as LMCache's server sees them: decode, strip(), then the
    era F grammar with Python's int() (protocol.md §3.5). None: no parse."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    parts = text.split("@")
    if len(parts) < 5:
        return None
    ws, worker, h = py_int(parts[1], 10), py_int(parts[2], 10), py_int(parts[3], 16)
    if ws is None or worker is None or h is None or parts[4] not in ERA_F_DTYPES:
        return None
    layer = None
    first_tag = 5
    if len(parts) >= 6 and parts[5].isdigit():
        layer = int(parts[5])
        first_tag = 6
    tags = {}
    for p in parts[first_tag:]:
        if "%" not in p:
            return None
        k, v = p.split("%", 1)
        tags[k] = v
    return [parts[0], str(ws), str(worker), format(h, "x"), parts[4], "" if layer is None else str(layer),
            ",".join(k + "%" + v for k, v in tags.items())]


def shown_key(raw):
    """lmcache.key as tshark prints it: the stripped text, up to a NUL."""
    text = raw.decode("utf-8", errors="replace").strip()
    return text.split("\0")[0]


def request_row(stream, header):
    ints = struct.unpack("<9i", header[:36])
    raw = header[36:186]
    parts = py_key_parts(raw) or [""] * 7
    return [str(stream), str(ints[0]), "", str(ints[1]), str(ints[2]), str(ints[3]),
            ",".join(str(i) for i in ints[5:9]), str(ints[4]), shown_key(raw)] + parts


def reply_row(stream, header):
    ints = struct.unpack("<9i", header)
    return [str(stream), "", str(ints[0]), str(ints[1]), str(ints[2]), str(ints[3]),
            ",".join(str(i) for i in ints[4:8]), str(ints[8]), ""] + [""] * 7


def golden_expectation():
    """The rows tshark must print for the golden pcap, the streams whose
    message never completes, and the bytes each stream carries."""
    with open(MANIFEST, encoding="utf-8") as f:
        manifest = json.load(f)
    base = os.path.dirname(MANIFEST)

    def tests(kind):
        return [t for g in manifest["testGroups"] if g["kind"] == kind for t in g["tests"]]

    def read(t):
        with open(os.path.join(base, t["file"]), "rb") as f:
            return f.read()

    get = next(read(t) for t in tests("client") if t["id"] == "client-get-dummy")
    rows, incomplete, sent, ids = [], set(), {}, {}
    stream = 0
    for t in tests("client"):
        b = read(t)
        command, length = struct.unpack("<ii", b[:8])
        if command == 1 and 0 < length <= BODY_MAX:
            b += b"\x5a" * length
        if command == 1 and length > BODY_MAX:
            incomplete.add(stream)
        else:
            rows.append(request_row(stream, b))
        sent[stream], ids[stream] = (b, b""), t["id"]
        stream += 1
    for t in tests("server"):
        b = read(t)
        code, length = struct.unpack("<ii", b[:8])
        if code == 200 and 0 < length <= BODY_MAX:
            b += b"\x5a" * length
        rows.append(request_row(stream, get))
        if code == 200 and length > BODY_MAX:
            incomplete.add(stream)
        else:
            rows.append(reply_row(stream, b[:36]))
        sent[stream], ids[stream] = (get, b), t["id"]
        stream += 1
    for t in tests("key"):
        key = read(t)
        if len(key) > 150:
            continue
        request = get[:36] + key + b" " * (150 - len(key))
        row = request_row(stream, request)
        if t["id"] in KNOWN_DIFFERENT:
            row = row[:9] + [""] * 7
        rows.append(row)
        sent[stream], ids[stream] = (request, b""), t["id"]
        stream += 1
    return rows, incomplete, sent, ids


# The dissector's expert messages start so (TCP's own are about the handshake and closing).
OUR_EXPERTS = ("Key ", "Negative length", "Unknown command", "Unknown reply code", "Reply ", "The connection was",
               "Header cut short")


def ours(messages):
    return [m for m in messages if m.startswith(OUR_EXPERTS)]


def tsv(rows):
    return "".join("\t".join(r) + "\n" for r in rows)


# --- The checks -------------------------------------------------------------

def check_golden(bin_dir, work, env, write_expected):
    pcap = os.path.join(work, "golden.pcap")
    subprocess.run([os.path.join(bin_dir, "lmcache-golden-pcap"), MANIFEST, pcap], check=True,
                   stdout=subprocess.DEVNULL)
    rows, incomplete, sent, ids = golden_expectation()
    text = tsv(rows)
    if write_expected:
        os.makedirs(os.path.dirname(EXPECTED), exist_ok=True)
        with open(EXPECTED, "w", encoding="utf-8") as f:
            f.write(text)
        print("wrote " + EXPECTED)
    with open(EXPECTED, encoding="utf-8") as f:
        committed = f.read()
    if committed != text:
        problem("expected/golden.tsv differs from what Python reads in the fixtures (run with --write-expected "
                "after checking why)")
    got = tsv(fields(pcap, FIELDS, env))
    if got != committed:
        want_lines, got_lines = committed.splitlines(), got.splitlines()
        for i, (w, g) in enumerate(zip(want_lines, got_lines)):
            if w != g:
                problem("golden fields, line %d:\n  want %r\n  got  %r" % (i + 1, w, g))
                break
        if len(want_lines) != len(got_lines):
            problem("golden fields: %d lines, want %d" % (len(got_lines), len(want_lines)))
    else:
        print("ok   golden fields: %d messages equal expected/golden.tsv" % len(rows))

    # Expert info, per stream.
    experts = {}
    for stream, message in fields(pcap, ["tcp.stream", "_ws.expert.message"], env, "_ws.expert"):
        experts.setdefault(int(stream), []).append(message)
    by_id = {v: k for k, v in ids.items()}
    want = {
        "client-negative-length": "Negative length -1",
        "client-not-a-key": "Key does not parse",
        "client-pad-nul": "Key does not parse",
        "client-opaque-codes": "Unknown command 99",
        "server-code-999": "Unknown reply code 999",
        "server-negative-fields": "Negative length -5",
        "client-length-max": "connection was closed inside",
    }
    for fixture, text in want.items():
        got_here = " | ".join(experts.get(by_id[fixture], []))
        if text not in got_here:
            problem("%s: expert info %r missing (got %r)" % (fixture, text, got_here))
    for stream in incomplete:
        if not any("inside a" in m for m in experts.get(stream, [])):
            problem("%s: a message that never completes shows no expert info" % ids[stream])
    clean = [s for s in sent if s not in incomplete and ids[s] not in want and "random" not in ids[s]
             and ids[s] not in KNOWN_DIFFERENT]
    noisy = [ids[s] + ": " + " | ".join(ours(experts.get(s, []))) for s in clean if ours(experts.get(s, []))]
    if noisy:
        problem("expert info on correct streams: " + "; ".join(noisy[:5]))
    print("ok   golden expert info: %d streams checked" % len(want))

    # Reassembly: follow,tcp,raw gives back the bytes written.
    for fixture in ["client-put-kv2ltd-bf16", "client-put-3d-trailing-zero", "server-get-hit",
                    "server-list-reply", "key-non-ascii"]:
        stream = by_id[fixture]
        out = tshark(pcap, "-q", "-z", "follow,tcp,raw,%d" % stream, env=env)
        client, server = b"", b""
        for line in out.splitlines():
            m = re.match(r"^(\t?)([0-9a-f]+)$", line)
            if m:
                chunk = bytes.fromhex(m.group(2))
                if m.group(1):
                    server += chunk
                else:
                    client += chunk
        want_client, want_server = sent[stream]
        if client != want_client or server != want_server:
            problem("follow,tcp,raw of %s: %d/%d bytes, want %d/%d" % (
                fixture, len(client), len(server), len(want_client), len(want_server)))
    print("ok   follow,tcp,raw gives back the bytes of 5 streams (bodies up to 1 MiB across segments)")


def conformance_pcap(bin_dir, work, name, bug=None):
    procs = []
    try:
        server, port = start([os.path.join(bin_dir, "lmcache-server"), "--port", "0", "--l1-size-bytes",
                              str(320 << 20)], os.path.join(work, name + "-server.log"),
                             r"listening on lm://[^:]+:(\d+)")
        procs.append(server)
        if bug:
            proxy, port = start([os.path.join(bin_dir, "lmcache-broken-proxy"), "--listen-port", "0", "--upstream",
                                 "127.0.0.1:" + port, "--bug", bug], os.path.join(work, name + "-proxy.log"),
                                r"listening on (\d+)")
            procs.append(proxy)
        pcap = os.path.join(work, name + ".pcap")
        report = os.path.join(work, name + ".json")
        subprocess.run([os.path.join(bin_dir, "lmcache-conformance"), "server", "--target", "lm://127.0.0.1:" + port,
                        "--pcap", pcap, "--json", report, "--case-timeout-ms", "5000"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        with open(report, encoding="utf-8") as f:
            return pcap, json.load(f)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def check_run(bin_dir, work, env):
    start_s = time.monotonic()
    pcap, report = conformance_pcap(bin_dir, work, "run")
    if report["summary"]["failed"] != 0:
        problem("the catalogue failed against the reference server: " + report["summary"]["line"])
    rows = fields(pcap, ["frame.number", "lmcache.command", "lmcache.code", "lmcache.request_in",
                         "_ws.malformed"], env, "lmcache || _ws.malformed")
    malformed = [r for r in rows if len(r) > 4 and r[4]]
    requests = sum(len(r[1].split(",")) for r in rows if r[1])
    replies = [c for r in rows if r[2] for c in r[2].split(",")]
    linked = sum(len(r[3].split(",")) for r in rows if r[3])
    if malformed:
        problem("malformed packets in the conformance run: frames " + ",".join(r[0] for r in malformed[:10]))
    if requests < 500:
        problem("only %d requests decoded in the whole conformance run" % requests)
    if linked != len(replies):
        problem("%d of %d replies linked to their request" % (linked, len(replies)))
    # With no port registered, the heuristic alone finds the streams that
    # start with a whole-looking header (not those sent a byte at a time) and
    # decodes them exactly as the port does.
    by_port = {r[0]: r[1] for r in fields(pcap, ["frame.number", "lmcache.command"], env)}
    by_heuristic = {r[0]: r[1] for r in fields(pcap, ["frame.number", "lmcache.command"], env,
                                               prefs=["-o", "lmcache.port:0"])}
    wrong = [f for f, c in by_heuristic.items() if by_port.get(f) != c]
    found = sum(len(c.split(",")) for c in by_heuristic.values() if c)
    if wrong:
        problem("the heuristic decodes frames %s otherwise than the port does" % ",".join(wrong[:10]))
    if found < 0.9 * requests:
        problem("the heuristic dissector found %d of %d requests" % (found, requests))
    print("ok   conformance run: %d requests, %d replies (all linked), no Lua error, no malformed packet; the "
          "heuristic alone finds %d requests, decoded alike (%.1f s)" % (requests, len(replies), found,
                                                                          time.monotonic() - start_s))

    pcap, _ = conformance_pcap(bin_dir, work, "reply-to-put", bug="reply-to-put")
    experts = tshark(pcap, "-q", "-z", "expert", env=env)
    if "Reply to a PUT" not in experts and "Reply after a PUT" not in experts:
        problem("a server that replies to PUTs shows no 'reply to a PUT' expert info")
    else:
        print("ok   a server that replies to PUTs: the 'reply to a PUT' expert info")


def check_sim(bin_dir, work, env):
    pcap = os.path.join(work, "sim.pcap")
    sim = os.path.join(bin_dir, "lmcache-sim")
    done = subprocess.run([sim, "--seed", "7", "--pcap", pcap], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300)
    if not os.path.exists(pcap):
        problem("lmcache-sim --pcap wrote nothing: " + done.stdout.decode(errors="replace")[-500:])
        return
    # The simulated server listens on port 7000.
    rows = fields(pcap, ["lmcache.command", "lmcache.code", "_ws.malformed", "tcp.flags.reset", "tcp.flags.fin"],
                  env, "lmcache || _ws.malformed || tcp.flags.reset == 1 || tcp.flags.fin == 1",
                  prefs=["-o", "lmcache.port:7000"])
    requests = sum(1 for r in rows if r[0])
    replies = sum(1 for r in rows if r[1])
    malformed = sum(1 for r in rows if len(r) > 2 and r[2])
    resets = sum(1 for r in rows if len(r) > 3 and r[3] in ("1", "True"))
    fins = sum(1 for r in rows if len(r) > 4 and r[4] in ("1", "True"))
    if malformed:
        problem("%d malformed packets in the simulation's pcap" % malformed)
    if requests == 0 or replies == 0:
        problem("the simulation's pcap decodes %d requests and %d replies" % (requests, replies))
    if resets == 0 or fins == 0:
        problem("the simulation's faults are not visible: %d RST, %d FIN" % (resets, fins))
    if problems:
        return
    print("ok   simulation seed 7: %d frames with requests, %d with replies, %d RST, %d FIN, no Lua error" % (
        requests, replies, resets, fins))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bin_dir")
    ap.add_argument("--keep", action="store_true", help="keep the pcaps and print where")
    ap.add_argument("--write-expected", action="store_true", help="rewrite expected/golden.tsv from the fixtures")
    args = ap.parse_args()
    if shutil.which("tshark") is None:
        print("FAIL tshark is not installed (ci/setup.sh installs it)")
        return 1
    work = tempfile.mkdtemp(prefix="dissector-")
    env = dict(os.environ)
    env["WIRESHARK_CONFIG_DIR"] = os.path.join(work, "wireshark-config")
    os.makedirs(env["WIRESHARK_CONFIG_DIR"])
    passed = failed = 0
    try:
        for check in (lambda: check_golden(args.bin_dir, work, env, args.write_expected),
                      lambda: check_run(args.bin_dir, work, env),
                      lambda: check_sim(args.bin_dir, work, env)):
            before = len(problems)
            try:
                check()
            except Exception as e:  # a crash in one check still reports the others
                problem("the check raised %s: %s" % (type(e).__name__, e))
            if len(problems) == before:
                passed += 1
            else:
                failed += 1
    finally:
        if args.keep:
            print("pcaps in " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
