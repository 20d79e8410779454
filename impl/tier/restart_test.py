#!/usr/bin/env python3
"""lmcache-server restarted over an fs tier serves what the tier held.

    restart_test.py BIN_DIR

Run 1: a server with a 4 MiB L1 over an fs tier takes 48 PUTs of 256 KiB,
distinct keys, random bytes; most are evicted into the tier. SIGTERM (the
server finishes its L2 writes). Run 2, the same folder: the restart scan
reports how many keys it indexed; every GET is then either a miss (a value
that was still in L1 at shutdown) or exactly the bytes and metadata PUT, and
every value evicted in run 1 hits. A record file corrupted between the runs
is skipped, named in the log, and left on disk; its object is not served.
Run 3: a restart after run 2 overwrote some keys serves the newer values.
"""

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SIZE = 256 << 10
KEYS = 48


def header(command, key, length=0, fmt=1, dtype=2, shape=(0, 0, 0, 0)):
    k = key.encode()
    return struct.pack("<9i", command, length, fmt, dtype, 0, *shape) + k + b" " * (150 - len(k))


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise RuntimeError("connection closed")
        out += chunk
    return out


def start(bin_dir, folder, log):
    adapter = '{"type":"fs","base_path":"%s"}' % folder
    err = open(log, "w")
    p = subprocess.Popen([os.path.join(bin_dir, "lmcache-server"), "--port", "0", "--l1-size-bytes", str(4 << 20),
                          "--l2-adapter", adapter], stdout=subprocess.DEVNULL, stderr=err)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        text = open(log).read()
        m = re.search(r"listening on lm://[^:]+:(\d+)", text)
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("lmcache-server did not start: " + open(log).read()[-500:])


def wait_scan(log):
    end = time.monotonic() + 120
    while time.monotonic() < end:
        m = re.search(r"restart scan indexed (\d+) keys from (\d+) records .*?(\d+) skipped", open(log).read())
        if m:
            return int(m.group(1)), int(m.group(2)), int(m.group(3))
        time.sleep(0.05)
    raise RuntimeError("no restart scan line in the log: " + open(log).read()[-800:])


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def main():
    bin_dir = sys.argv[1]
    work = tempfile.mkdtemp(prefix="tier-restart-")
    folder = os.path.join(work, "l2")
    problems = []
    rng = random.Random(31)
    values = {"restart-test@1@0@%x@uint8" % (i + 1): bytes(rng.getrandbits(8) for _ in range(SIZE))
              for i in range(KEYS)}
    shape = (1, 1, 1, SIZE)
    try:
        p, port = start(bin_dir, folder, os.path.join(work, "run1.log"))
        with socket.create_connection(("127.0.0.1", port)) as s:
            for k, v in values.items():
                s.sendall(header(1, k, SIZE, 5, 6, shape) + v)
            s.sendall(header(5, "@0@0@0@half"))
            recv_exact(s, 36)  # every PUT before it has been handled
        stop(p)
        records = [n for n in os.listdir(folder) if n.endswith("-r.data")]
        if not records:
            problems.append("run 1 left no record files")
        # Corrupt one record: its object must not be served, the file stays.
        bad = os.path.join(folder, records[0])
        with open(bad, "r+b") as f:
            f.seek(20)
            b = f.read(1)
            f.seek(20)
            f.write(bytes([b[0] ^ 0xFF]))

        p, port = start(bin_dir, folder, os.path.join(work, "run2.log"))
        indexed, found, skipped = wait_scan(os.path.join(work, "run2.log"))
        log2 = open(os.path.join(work, "run2.log")).read()
        salt = records[0][:-len(".data")].split("@")[-1]
        if skipped != 1 or not re.search(r"skipped adapter 0 record \S*@%s: check" % re.escape(salt), log2):
            problems.append("the corrupted record was not skipped and named: %d skipped" % skipped)
        if not os.path.exists(bad):
            problems.append("the corrupted record was deleted")
        hits = misses = 0
        with socket.create_connection(("127.0.0.1", port)) as s:
            for k, v in values.items():
                s.sendall(header(2, k))
                code, length, fmt, dtype, *rest = struct.unpack("<9i", recv_exact(s, 36))
                if code == 200:
                    body = recv_exact(s, length)
                    if body != v or (fmt, dtype, tuple(rest[:4])) != (5, 6, shape):
                        problems.append("%s came back with other bytes or metadata" % k)
                    hits += 1
                else:
                    misses += 1
        if indexed < KEYS - 16 - 1 or hits != indexed:
            problems.append("run 2 indexed %d keys and served %d of %d (the L1 of 4 MiB held at most 16)" % (
                indexed, hits, KEYS))
        # Overwrite the first keys with new values, push them out, restart.
        newer = {k: bytes(rng.getrandbits(8) for _ in range(SIZE)) for k in list(values)[:8]}
        filler = {"restart-fill@1@0@%x@uint8" % (i + 1): bytes(SIZE) for i in range(20)}
        with socket.create_connection(("127.0.0.1", port)) as s:
            for k, v in list(newer.items()) + list(filler.items()):
                s.sendall(header(1, k, SIZE, 5, 6, shape) + v)
            s.sendall(header(5, "@0@0@0@half"))
            recv_exact(s, 36)
        stop(p)
        p, port = start(bin_dir, folder, os.path.join(work, "run3.log"))
        wait_scan(os.path.join(work, "run3.log"))
        with socket.create_connection(("127.0.0.1", port)) as s:
            for k, v in newer.items():
                s.sendall(header(2, k))
                code, length = struct.unpack("<9i", recv_exact(s, 36))[:2]
                body = recv_exact(s, length) if code == 200 else b""
                if code != 200 or body != v:
                    problems.append("%s: after the restart not the newer value (code %d)" % (k, code))
        stop(p)
        print("run 1: %d PUTs; run 2: scan indexed %d keys from %d records (%d skipped), %d hits, %d misses; "
              "run 3: the 8 overwritten keys serve their newer values" % (KEYS, indexed, found, skipped, hits, misses))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print("FAIL " + p)
    print("%d passed, %d failed" % (0 if problems else 1, 1 if problems else 0))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
