#!/usr/bin/env python3
"""lmcache-server out of file descriptors, as an operator meets it.

The server runs with RLIMIT_NOFILE 64; one client connects first, then 150
more connect and stay open, far past the limit. While the limit holds:
- the server uses little CPU (a failed accept is retried after a back-off,
  not at once, forever);
- the first client is still served (HEALTH, PUT then GET of 64 KiB).
Then the 150 close, and a new client is served within seconds (recovery);
at SIGTERM the counters report the failed accepts.

usage: server_fd_limit_e2e.py BIN_DIR [SANITIZER]
SANITIZER "address" (ASan + UBSan) skips (exit 77): UBSan's vptr check makes a
pipe for each check, which a process out of descriptors cannot, so it aborts
on valid objects (the default and tsan builds run the test).
"""
import os
import re
import resource
import socket
import sys
import time

from server_proc import REPLY, recv_exact, request, start, stop

PUT, GET, HEALTH = 1, 2, 5
LIMIT = 64
FLOOD = 150
# CPU the server may burn while the limit holds, as a share of one core; a
# spinning accept loop takes all of it.
MAX_CPU_SHARE = 0.15


def health(sock):
    sock.sendall(request(HEALTH, "@0@0@0@half"))
    return REPLY.unpack(recv_exact(sock, REPLY.size))[0]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    bin_dir = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "address":
        print("skipped: UBSan's vptr check cannot run in a process out of descriptors")
        return 77
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))

    # --max-connections above the descriptor limit: this test is about
    # running out of descriptors (server_connection_flood_e2e.py is about the
    # connection cap).
    server, port = start(bin_dir, ["--threads", "2", "--l1-size-bytes", str(16 << 20), "--max-connections", "1000"],
                         preexec_fn=limit)
    if port is None:
        print("FAIL the server did not start: " + server.stderr.read())
        return 1
    try:

        first = socket.create_connection(("127.0.0.1", port), timeout=5)
        check(health(first) == 200, "the first client is served before the flood")

        flood = []
        for _ in range(FLOOD):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)  # the kernel completes it
            flood.append(s)
        time.sleep(0.5)  # the server has hit the limit by now
        t0, c0 = time.monotonic(), cpu_seconds(server.pid)
        time.sleep(2.0)
        share = (cpu_seconds(server.pid) - c0) / (time.monotonic() - t0)
        check(share < MAX_CPU_SHARE,
              f"CPU while out of descriptors: {share:.1%} of a core (at most {MAX_CPU_SHARE:.0%})")

        check(health(first) == 200, "the first client is still served while the limit holds")
        body = bytes(range(256)) * 256
        first.sendall(request(PUT, "fd@1@0@1@half", len(body)) + body)
        first.sendall(request(GET, "fd@1@0@1@half"))
        reply = REPLY.unpack(recv_exact(first, REPLY.size))
        got = recv_exact(first, reply[1]) if reply[0] == 200 else b""
        check(reply[0] == 200 and got == body, "its PUT then GET of 64 KiB round-trips while the limit holds")

        for s in flood:
            s.close()
        deadline = time.monotonic() + 10
        recovered = False
        while time.monotonic() < deadline and not recovered:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    recovered = health(s) == 200
            except OSError:
                time.sleep(0.1)
        check(recovered, "a new client is served once the descriptors are free")
        first.close()
    finally:
        err = stop(server, failures)
    m = re.search(r"accept_errors (\d+)", err)
    check(m is not None and int(m.group(1)) > 0,
          "the counters report the failed accepts (" + (m.group(0) if m else "no accept_errors line") + ")")
    # A back-off of at most 100 ms over ~3 s: a few dozen failures, not millions.
    check(m is not None and int(m.group(1)) < 1000, "the failed accepts were retried after a back-off")
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
