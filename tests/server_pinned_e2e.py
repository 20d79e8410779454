#!/usr/bin/env python3
"""Readers that never read cost nothing stored: lmcache-server over loopback.

A 512 MiB server (no headroom) holds 64 objects of 8 MiB. 50 connections
each send a GET for a different object and never read the reply: the pin
budget (a quarter of L1 by default) lets 16 of them pin their object, the
others are answered as misses (`pinned_full`). Then:
1. a PUT of 400 MiB, more than L1 could hold after evicting every unpinned
   object, is refused on its header and evicts nothing;
2. 32 new PUTs of 8 MiB evict exactly 32 unpinned objects, least recently
   used first: every new object, the most recent canary and every pinned
   object stay, and read back byte for byte once the readers are gone.
Then a store of 2,048 objects of 256 KiB whose LRU order is not their
address order takes a 200 MiB PUT: it evicts what it needs plus at most
one 1 MiB chunk (800 to 804 objects), not the whole store.

usage: server_pinned_e2e.py BIN_DIR
"""
import hashlib
import socket
import sys
import time

from server_proc import REPLY, recv_exact, request, start, stop, wait_for_counter

PUT, GET, EXIST = 1, 2, 3
MiB = 1 << 20


def payload(tag, i, size):
    return hashlib.sha256(f"{tag}{i}".encode()).digest() * (size // 32)


def check(failures, ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def put(sock, key, value):
    sock.sendall(request(PUT, key, len(value)) + value)


def exist(sock, keys):
    sock.sendall(b"".join(request(EXIST, k) for k in keys))
    return [REPLY.unpack(recv_exact(sock, REPLY.size))[0] == 200 for _ in keys]


def get(sock, key):
    sock.sendall(request(GET, key))
    code, length = REPLY.unpack(recv_exact(sock, REPLY.size))[:2]
    return recv_exact(sock, length) if code == 200 else None


def counter(server, name):
    return wait_for_counter(server, name, 0, timeout_s=5)


def key(tag, i):
    return f"{tag}@1@0@{i}@half"


def pinned_run(bin_dir, failures):
    print("== 512 MiB, 64 x 8 MiB, 50 readers that never read")
    obj = 8 * MiB  # larger than a socket's send buffer (4 MiB here): a reply stays unsent, its object pinned
    server, port = start(bin_dir, ["--threads", "2", "--l1-size-bytes", str(512 * MiB), "--l1-headroom-bytes", "0",
                                   "--stall-timeout-ms", "120000"])
    if port is None:
        check(failures, False, "the server started")
        return
    main = connect(port)
    for i in range(64):
        put(main, key("o", i), payload("o", i, obj))
    check(failures, all(exist(main, [key("o", i) for i in range(64)])), "64 objects of 8 MiB stored")
    readers, codes = [], []
    for i in range(50):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.settimeout(10)
        s.sendall(request(GET, key("o", i)))  # never read: the reply header is only peeked at
        codes.append(REPLY.unpack(s.recv(REPLY.size, socket.MSG_PEEK | socket.MSG_WAITALL))[0])
        readers.append(s)
    refused = wait_for_counter(server, "pinned_full", 34, timeout_s=10)
    check(failures, codes == [200] * 16 + [400] * 34 and refused == 34,
          f"the pin budget (128 MiB) let the first 16 readers pin, answered the other 34 as misses "
          f"(pinned_full {refused})")
    put(main, key("canary", 0), payload("canary", 0, obj))  # the most recently used
    check(failures, exist(main, [key("canary", 0)]) == [True], "a canary stored after them")  # (and handled)
    evictions_before = counter(server, "evictions")

    # 1. Longer than any run of unpinned objects (16 pinned at the start).
    big = connect(port)
    big.sendall(request(PUT, key("big", 0), 400 * MiB))
    chunk = b"\x5a" * (4 * MiB)
    for _ in range(100):
        big.sendall(chunk)
    big.sendall(request(EXIST, key("big", 0)))
    code = REPLY.unpack(recv_exact(big, REPLY.size))[0]
    check(failures, code == 400, "a 400 MiB PUT that cannot fit is not stored")
    after = counter(server, "evictions")
    check(failures, after == evictions_before, f"... and evicted nothing (evictions {evictions_before} -> {after})")
    big.close()

    # 2. 32 new PUTs: exactly 32 unpinned objects go, the least recently used.
    for i in range(32):
        put(main, key("n", i), payload("n", i, obj))
    present = exist(main, [key("n", i) for i in range(32)])
    check(failures, all(present), f"all 32 new objects are stored ({sum(present)} of 32)")
    evicted = counter(server, "evictions") - evictions_before
    check(failures, evicted == 32, f"they evicted exactly 32 objects (evictions +{evicted})")
    check(failures, exist(main, [key("canary", 0)]) == [True], "the most recently used canary is still stored")
    pinned = exist(main, [key("o", i) for i in range(16)])
    check(failures, all(pinned), f"every pinned object is still stored ({sum(pinned)} of 16)")
    for s in readers:
        s.close()
    # The readers gone, their pins go back (once the server has seen the
    # closes: a read meanwhile may be answered as a miss): everything reads back.
    wanted = [("n", i) for i in range(32)] + [("canary", 0)] + [("o", i) for i in range(16)]
    deadline = time.monotonic() + 10
    while wanted and time.monotonic() < deadline:
        wanted = [(t, i) for (t, i) in wanted if get(main, key(t, i)) != payload(t, i, obj)]
        if wanted:
            time.sleep(0.1)
    check(failures, not wanted, f"new, canary and once-pinned objects read back byte for byte ({len(wanted)} not)")
    main.close()
    stop(server, failures)


def fragmentation_run(bin_dir, failures):
    print("== 512 MiB, 2,048 x 256 KiB in scattered LRU order, then a 200 MiB PUT")
    server, port = start(bin_dir, ["--threads", "2", "--l1-size-bytes", str(512 * MiB), "--l1-headroom-bytes", "0"])
    if port is None:
        check(failures, False, "the server started")
        return
    s = connect(port)
    for i in range(2048):
        put(s, key("f", i), payload("f", i, 256 * 1024))
    check(failures, all(exist(s, [key("f", i) for i in range(2048)])), "2,048 objects of 256 KiB stored")
    for i in range(0, 2048, 2):  # every other one recently used: LRU order is not address order
        s.sendall(request(GET, key("f", i)))
        code, length = REPLY.unpack(recv_exact(s, REPLY.size))[:2]
        recv_exact(s, length)
    before = counter(server, "evictions")
    value = payload("big", 1, 200 * MiB)
    put(s, key("big", 1), value)
    check(failures, get(s, key("big", 1)) == value, "the 200 MiB PUT is stored and reads back intact")
    evicted = counter(server, "evictions") - before
    check(failures, 800 <= evicted <= 804,
          f"it evicted {evicted} objects of 256 KiB (800 to 804: 200 MiB and at most one chunk more)")
    s.close()
    stop(server, failures)


def main():
    failures = []
    pinned_run(sys.argv[1], failures)
    fragmentation_run(sys.argv[1], failures)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
