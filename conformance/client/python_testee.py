#!/usr/bin/env python3
"""A minimal lm:// client behind client mode's line protocol: the template.

`lmcache-conformance client -- python3 python_testee.py` runs the client
catalogue against it. Copy it to put your own client under test: keep
`main()` (the line protocol of docs/CONFORMANCE.md, client mode) and replace
`Client` with calls into your implementation.

The client is written from the wire spec alone (protocol.md §1) with the
failure handling of LMCache's newest Python client (§6.3, "reconnect v2"):
  - up to 3 attempts per call, waiting 0.1 s and then 0.2 s in between;
  - connection errors (refused, reset, EOF, a socket timeout) close the
    socket and are retried on a new connection: GET and EXIST are safe to
    replay, and a PUT may be replayed (servers treat repeats as overwrites);
  - a reply that breaks the protocol (a code other than 200/400, a negative
    length) is not retried: the socket is discarded and the call fails;
  - every call ends by its deadline (`timeout_ms`), retries included;
  - a GET body is read as it arrives, never allocated up front from the
    length the server claims.
Standard library only.

`python_testee.py --lmcache-era v2|legacy` swaps in a client that behaves
as one of LMCache's connector eras (lmcache_eras.py), for the kit's own
check of the lmcache-python and lmcache-python-legacy profiles.
"""
import base64
import errno
import json
import os
import socket
import struct
import sys
import time

REQUEST = struct.Struct("<iiiiiiiii150s")  # command length fmt dtype location shape[4] key
REPLY = struct.Struct("<iiiiiiiii")  # code length fmt dtype shape[4] location
PUT, GET, EXIST, LIST, HEALTH = 1, 2, 3, 4, 5
SUCCESS, FAIL = 200, 400
DUMMY_FMT, DUMMY_DTYPE = 1, 2  # what a request without an object carries (§1.5)
HEALTH_KEY = "@0@0@0@half"  # LMCache's probe key, valid in era F (§3.8)
KEY_BYTES = 150

ATTEMPTS = 3
BACKOFF_S = (0.1, 0.2)
CONNECT_TIMEOUT_S = 5.0
RECV_CHUNK = 1 << 20  # the most a single recv may add to a body
RETRIED_ERRNOS = {errno.EPIPE, errno.ECONNRESET, errno.ECONNREFUSED,
                  errno.ECONNABORTED, errno.ENOTCONN, errno.ETIMEDOUT}


class InvalidReply(Exception):
    """The server broke the protocol: never retried."""


class DeadlineExceeded(TimeoutError):
    """The call's deadline passed (a TimeoutError, so the socket is discarded)."""


class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = None

    # --- the five calls ---------------------------------------------------
    def put(self, key, data, fmt, dtype, shape, deadline):
        header = pack_request(PUT, key, len(data), fmt, dtype, shape)
        self._call(header + data, None, deadline)

    def get(self, key, deadline):
        """(fmt, dtype, shape, data) on a hit, None on a miss."""
        return self._call(pack_request(GET, key), GET, deadline)

    def exist(self, key, deadline):
        return self._call(pack_request(EXIST, key), EXIST, deadline) is not None

    def list(self, deadline):
        # LIST carries no key; the probe key is one every era F server parses.
        found = self._call(pack_request(LIST, HEALTH_KEY), LIST, deadline)
        if found is None:
            raise InvalidReply("the server answered LIST with FAIL")
        body = found[3].decode("utf-8")
        return body.split("\n") if body else []

    def health(self, deadline):
        if self._call(pack_request(HEALTH, HEALTH_KEY), HEALTH, deadline) is None:
            raise InvalidReply("the server answered HEALTH with FAIL")

    # --- one call, with retries --------------------------------------------
    def _call(self, request, command, deadline):
        """Sends `request`; reads the reply of `command` (None: PUT, no reply)."""
        for attempt in range(ATTEMPTS):
            if attempt > 0:
                time.sleep(min(BACKOFF_S[attempt - 1], remaining(deadline)))
            try:
                if self.sock is None:
                    self._connect(deadline)
                self.sock.settimeout(remaining(deadline))
                self.sock.sendall(request)
                if command is None:
                    return None
                return self._read_reply(command, deadline)
            except InvalidReply:
                self._discard()
                raise
            except OSError as e:  # ConnectionError, TimeoutError and the rest
                self._discard()  # never reuse a socket that may be out of step
                out_of_time = time.monotonic() >= deadline
                retryable = isinstance(e, (ConnectionError, TimeoutError)) or e.errno in RETRIED_ERRNOS
                if out_of_time or not retryable or attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _connect(self, deadline):
        timeout = min(CONNECT_TIMEOUT_S, remaining(deadline))
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _discard(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _read_reply(self, command, deadline):
        code, length, fmt, dtype, s0, s1, s2, s3, _location = REPLY.unpack(self._recv_exact(REPLY.size, deadline))
        if code not in (SUCCESS, FAIL):
            raise InvalidReply(f"reply code {code}")
        if code == FAIL:
            return None
        data = b""
        if command in (GET, LIST):  # only these replies carry a body
            if length < 0:
                raise InvalidReply(f"negative reply length {length}")
            data = self._recv_exact(length, deadline)
        return fmt, dtype, [s0, s1, s2, s3], data

    def _recv_exact(self, n, deadline):
        # The buffer grows with what arrives: a server that claims 2 GiB and
        # sends a little costs a little (never bytearray(n) up front).
        buf = bytearray()
        while len(buf) < n:
            self.sock.settimeout(remaining(deadline))
            chunk = self.sock.recv(min(n - len(buf), RECV_CHUNK))
            if not chunk:
                raise ConnectionResetError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)


def pack_request(command, key, length=0, fmt=DUMMY_FMT, dtype=DUMMY_DTYPE, shape=(0, 0, 0, 0)):
    """The 186-byte header; the key is UTF-8, padded with spaces (never NUL)."""
    raw = key.encode("utf-8")
    if len(raw) > KEY_BYTES:  # bytes, not characters: never truncate (§3.9)
        raise ValueError(f"key is {len(raw)} bytes, the limit is {KEY_BYTES}")
    return REQUEST.pack(command, length, fmt, dtype, 0, *shape, raw.ljust(KEY_BYTES, b" "))


def remaining(deadline):
    """Seconds left until `deadline`; a call with none left fails at once."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("deadline exceeded")
    return left


# --- the line protocol (docs/CONFORMANCE.md, client mode) -------------------------------------------
def handle(client, request):
    op = request.get("op")
    deadline = time.monotonic() + request.get("timeout_ms", 10000) / 1000.0
    if op == "put":
        shape = request["shape"]
        if len(shape) != 4:
            raise ValueError("shape must be four ints")
        data = base64.b64decode(request["data"], validate=True)
        client.put(request["key"], data, request["fmt"], request["dtype"], shape, deadline)
        return {"ok": True}
    if op == "get":
        hit = client.get(request["key"], deadline)
        if hit is None:
            return {"ok": True, "found": False}
        fmt, dtype, shape, data = hit
        return {"ok": True, "found": True, "data": base64.b64encode(data).decode("ascii"),
                "fmt": fmt, "dtype": dtype, "shape": shape, "length": len(data)}
    if op == "exist":
        return {"ok": True, "found": client.exist(request["key"], deadline)}
    if op == "list":
        return {"ok": True, "keys": client.list(deadline)}
    if op == "health":
        client.health(deadline)
        return {"ok": True}
    return {"ok": False, "error": f"unknown op {op!r}"}


def main(argv=None):
    """argv: the options (default: none; the command line when run as a script)."""
    argv = [] if argv is None else argv
    url = os.environ.get("LMCACHE_URL", "")
    if not url.startswith("lm://") or ":" not in url[5:]:
        print("python_testee: LMCACHE_URL must be lm://HOST:PORT", file=sys.stderr)
        return 2
    host, _, port = url[5:].rpartition(":")
    client_class = Client
    if len(argv) == 2 and argv[0] == "--lmcache-era" and argv[1] in ("v2", "legacy"):
        import lmcache_eras  # beside this file
        client_class = lmcache_eras.ERAS[argv[1]]
    elif argv:
        print("usage: python_testee.py [--lmcache-era v2|legacy]", file=sys.stderr)
        return 2
    client = client_class(host.strip("[]"), int(port))
    for line in sys.stdin.buffer:  # bytes: the keys are UTF-8 whatever the locale
        request_id = None
        try:
            request = json.loads(line.decode("utf-8"))
            request_id = request.get("id")
            result = handle(client, request)
        except Exception as e:  # every failure becomes ok:false, and the loop goes on
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps({"id": request_id, **result}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
