#!/usr/bin/env python3
"""lmcache-server's memory (VmRSS) through two floods of 10,000 idle
connections: at start, during the first, after it closed, during the second,
after it closed. docs/SERVER.md quotes it.

usage: bench/server_memory_flood.py BIN_DIR
"""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from server_proc import start, stop  # noqa: E402

FLOOD = 10_000


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server, port = start(sys.argv[1], ["--threads", "2", "--l1-size-bytes", str(64 << 20)])
    time.sleep(0.5)
    seen = [("start", rss_kib(server.pid))]
    for flood in ("first", "second"):
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(FLOOD)]
        time.sleep(1)
        seen.append((f"{flood} flood", rss_kib(server.pid)))
        for c in conns:
            c.close()
        time.sleep(2)
        seen.append((f"after the {flood}", rss_kib(server.pid)))
    stop(server, [])
    print(", ".join(f"{name} {kib / 1024:.1f} MiB" for name, kib in seen))
    print(f"per idle connection: {(seen[1][1] - seen[0][1]) / FLOOD:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
