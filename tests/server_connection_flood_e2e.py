#!/usr/bin/env python3
"""A flood of idle connections locks no one out: lmcache-server over loopback.

One client opens 10,000 connections and sends nothing on them. Meanwhile:
- a new client's HEALTH, 1 MiB PUT and GET of it succeed within 1 s;
- a connection with a request half sent before the flood (a request in
  flight) is never closed: its request, finished after the flood, is
  answered.
Run twice: with --max-connections 1000 (the server closes the connections
idle the longest to admit new ones; the counters say how many), and with
the default cap (from the descriptor limit). Then --idle-timeout-ms: an idle
connection is closed after it, a busy one is not.

usage: server_connection_flood_e2e.py BIN_DIR
"""
import hashlib
import resource
import socket
import sys
import time

from server_proc import REPLY, recv_exact, request, start, stop, wait_for_counter

PUT, GET, HEALTH = 1, 2, 5
MiB = 1 << 20
FLOOD = 10_000


def check(failures, ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def new_client_works(port):
    """HEALTH, a 1 MiB PUT then GET on a new connection; (ok, seconds, why)."""
    value = hashlib.sha256(b"flood").digest() * (MiB // 32)
    start_t = time.monotonic()
    try:
        with connect(port, timeout=5.0) as s:
            s.sendall(request(HEALTH, "probe"))
            if REPLY.unpack(recv_exact(s, REPLY.size))[0] != 200:
                return False, time.monotonic() - start_t, "HEALTH not 200"
            s.sendall(request(PUT, "flood@1@0@1@half", len(value)) + value)
            s.sendall(request(GET, "flood@1@0@1@half"))
            code, length = REPLY.unpack(recv_exact(s, REPLY.size))[:2]
            if code != 200 or length != len(value) or recv_exact(s, length) != value:
                return False, time.monotonic() - start_t, f"GET gave code {code}, length {length}"
    except OSError as e:
        return False, time.monotonic() - start_t, f"{type(e).__name__}: {e}"
    return True, time.monotonic() - start_t, ""


def flood_run(bin_dir, failures, extra, label):
    print(f"== lmcache-server {' '.join(extra) or '(default cap)'}")
    server, port = start(bin_dir, ["--threads", "2", "--l1-size-bytes", str(64 * MiB)] + extra)
    if port is None:
        check(failures, False, f"{label}: the server started")
        return
    busy = connect(port)
    half = request(HEALTH, "in-flight")
    busy.sendall(half[:100])  # a request in flight: never to be closed for room
    idle = []
    opened_at = time.monotonic()
    try:
        for _ in range(FLOOD):
            idle.append(connect(port))
    except OSError as e:
        check(failures, False, f"{label}: opened {len(idle)} of {FLOOD} connections ({e})")
    print(f"     {len(idle)} idle connections opened in {time.monotonic() - opened_at:.1f} s")
    ok, seconds, why = new_client_works(port)
    check(failures, ok and seconds < 1.0,
          f"{label}: a new client's HEALTH, 1 MiB PUT and GET during the flood ({seconds:.3f} s; at most 1 s) {why}")
    try:
        busy.sendall(half[100:])
        code = REPLY.unpack(recv_exact(busy, REPLY.size))[0]
        check(failures, code == 200, f"{label}: the connection with a request in flight was kept and answered")
    except OSError as e:
        check(failures, False, f"{label}: the connection with a request in flight was closed ({e})")
    if "--max-connections" in extra:
        cap = int(extra[extra.index("--max-connections") + 1])
        evicted = wait_for_counter(server, "connections_evicted", FLOOD + 3 - cap - 1, timeout_s=10)
        check(failures, evicted is not None and evicted >= FLOOD + 3 - cap - 1,
              f"{label}: the counters show the idle connections closed for room (connections_evicted {evicted})")
    for s in idle:
        s.close()
    busy.close()
    stop(server, failures)


def idle_timeout_run(bin_dir, failures):
    print("== lmcache-server --idle-timeout-ms 300")
    server, port = start(bin_dir, ["--threads", "2", "--idle-timeout-ms", "300"])
    if port is None:
        check(failures, False, "idle timeout: the server started")
        return
    idle = connect(port)
    busy = connect(port)
    busy.sendall(request(HEALTH, "x")[:50])  # mid-request: the stall timeout's, not the idle timeout's
    time.sleep(1.0)
    idle.settimeout(2.0)
    try:
        closed = idle.recv(1) == b""
    except OSError:
        closed = True
    check(failures, closed, "idle timeout: a connection idle for 1 s was closed")
    try:
        busy.sendall(request(HEALTH, "x")[50:])
        check(failures, REPLY.unpack(recv_exact(busy, REPLY.size))[0] == 200,
              "idle timeout: a connection mid-request was not closed for idling")
    except OSError as e:
        check(failures, False, f"idle timeout: a connection mid-request was closed ({e})")
    n = wait_for_counter(server, "idle_timeouts", 1, timeout_s=5)
    check(failures, n is not None and n >= 1, f"idle timeout: counted (idle_timeouts {n})")
    idle.close()
    busy.close()
    stop(server, failures)


def main():
    bin_dir = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FLOOD + 200:
        print(f"skip: this process may open {hard} descriptors, the flood needs {FLOOD + 200}")
        return 77
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    failures = []
    flood_run(bin_dir, failures, ["--max-connections", "1000"], "cap 1000")
    flood_run(bin_dir, failures, [], "default cap")
    idle_timeout_run(bin_dir, failures)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
