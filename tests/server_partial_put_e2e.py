#!/usr/bin/env python3
"""PUTs cut short cost nothing stored: lmcache-server over loopback.

A 512 MiB server is filled with 2048 objects of 256 KiB (512 MiB: what it
keeps is all of L1 but its free headroom). Four connections then each send
the header of a 200 MiB PUT and 1 MiB of its payload, and close. Every
object it held must still be there, byte for byte. Run twice: with the
default headroom, and with none (L1 full to the byte, so every PUT's payload
goes into the intake chunks beyond the budget). Then a whole 200 MiB PUT goes
in: it evicts only now, exactly the 800 objects it needs (at most one chunk
more: L1 is made of chunks, so no room has to be found in one piece), and
comes back intact.

usage: server_partial_put_e2e.py BIN_DIR
"""
import hashlib
import os
import re
import socket
import sys

from server_proc import REPLY, recv_exact, request, start, stop, wait_for_counter

PUT, GET, EXIST = 1, 2, 3
MiB = 1 << 20
OBJECT = 256 * 1024
COUNT = 2048  # 512 MiB exactly
BIG = 200 * MiB


def key(i):
    return f"pp@1@0@{i}@half"


def payload(i):
    return hashlib.sha256(str(i).encode()).digest() * (OBJECT // 32)


def exist_all(sock, keys):
    sock.sendall(b"".join(request(EXIST, k) for k in keys))
    return [REPLY.unpack(recv_exact(sock, REPLY.size))[0] == 200 for _ in keys]


def get(sock, k):
    sock.sendall(request(GET, k))
    reply = REPLY.unpack(recv_exact(sock, REPLY.size))
    return recv_exact(sock, reply[1]) if reply[0] == 200 else None


def main():
    bin_dir = sys.argv[1]
    failures = []
    for extra in ([], ["--l1-headroom-bytes", "0"]):
        print("== lmcache-server " + " ".join(extra or ["(default headroom)"]))
        run(bin_dir, extra, failures)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


def run(bin_dir, extra, failures):

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    server, port = start(bin_dir, ["--threads", "2", "--l1-size-bytes", str(512 * MiB)] + extra)
    if port is None:
        failures.append("the server did not start: " + server.stderr.read())
        return
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        for i in range(COUNT):
            c.sendall(request(PUT, key(i), OBJECT) + payload(i))
        present = exist_all(c, [key(i) for i in range(COUNT)])
        held = [i for i in range(COUNT) if present[i]]
        floor = COUNT if extra else COUNT * 15 // 16
        check(len(held) >= floor, f"the server holds {len(held)} of the {COUNT} objects (at least {floor})")

        cut = []
        for n in range(4):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(request(PUT, f"big@1@0@{n}@half", BIG) + os.urandom(MiB))
            cut.append(s)
        for s in cut:
            s.close()  # each PUT cut off after 1 MiB
        # Only once the server has handled the four closes (each counts a
        # truncated PUT) does "nothing visible" mean anything: checked
        # before that, a server that published a cut PUT on its close would
        # pass.
        truncated = wait_for_counter(server, "truncated", 4)
        check(truncated is not None and truncated >= 4,
              f"the server handled the four cut PUTs (its truncated counter: {truncated}, expected 4)")

        present = exist_all(c, [key(i) for i in held])
        check(all(present), f"after four 200 MiB PUTs cut off at 1 MiB: {sum(present)} of {len(held)} remain")
        sample = held[::97]
        check(all(get(c, key(i)) == payload(i) for i in sample),
              f"{len(sample)} of them read back byte for byte")
        absent = exist_all(c, [f"big@1@0@{n}@half" for n in range(4)])
        check(not any(absent), "none of the cut PUTs is visible")

        # A whole 200 MiB PUT: it evicts now that it is complete.
        big = os.urandom(MiB) * 200
        c.sendall(request(PUT, "big@1@0@9@half", BIG))
        c.sendall(big)
        back = get(c, "big@1@0@9@half")
        check(back == big, "a complete 200 MiB PUT is stored and reads back intact")
        present = exist_all(c, [key(i) for i in held])
        pushed = len(held) - sum(present)
        # The 800 it needs, plus at most one 1 MiB chunk of them (four).
        check(BIG // OBJECT <= pushed <= BIG // OBJECT + MiB // OBJECT,
              f"it pushed out {pushed} objects to make room (800 to 804)")
        c.close()
    finally:
        err = stop(server, failures)
    m = re.search(r"early_evictions (\d+)", err)
    check(m is not None and int(m.group(1)) == 0,
          "no PUT evicted before it was complete (" + (m.group(0) if m else "no such line") + ")")


if __name__ == "__main__":
    sys.exit(main())
