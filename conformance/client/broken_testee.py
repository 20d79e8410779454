#!/usr/bin/env python3
"""python_testee.py with one deliberate bug, for client mode's own tests.

    broken_testee.py SWITCH

Each switch breaks one rule that some client cases check; client_mode_test.py
runs the runner against each and checks that exactly those cases fail, with
a clear message, and that the run never hangs. Standard library only.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_testee as t  # noqa: E402

good_pack = t.pack_request


def nul_padding():
    """Pads the key field with NUL instead of 0x20 (§9 quirk 2)."""
    def pack(command, key, length=0, fmt=t.DUMMY_FMT, dtype=t.DUMMY_DTYPE, shape=(0, 0, 0, 0)):
        return good_pack(command, key, length, fmt, dtype, shape).rstrip(b" ").ljust(t.REQUEST.size, b"\0")
    t.pack_request = pack


def wrong_dummy_fields():
    """GET and EXIST carry fmt 0, dtype 0 instead of the dummies 1, 2 (§1.5)."""
    def pack(command, key, length=0, fmt=t.DUMMY_FMT, dtype=t.DUMMY_DTYPE, shape=(0, 0, 0, 0)):
        if command in (t.GET, t.EXIST):
            fmt, dtype = 0, 0
        return good_pack(command, key, length, fmt, dtype, shape)
    t.pack_request = pack


def truncate_long_key():
    """Cuts a key over 150 bytes down to 150 instead of refusing it."""
    def pack(command, key, length=0, fmt=t.DUMMY_FMT, dtype=t.DUMMY_DTYPE, shape=(0, 0, 0, 0)):
        raw = key.encode("utf-8")[:t.KEY_BYTES]
        return t.REQUEST.pack(command, length, fmt, dtype, 0, *shape, raw.ljust(t.KEY_BYTES, b" "))
    t.pack_request = pack


def counts_chars():
    """LMCache's own bug (§3.9): the limit counts characters, then struct truncates bytes."""
    def pack(command, key, length=0, fmt=t.DUMMY_FMT, dtype=t.DUMMY_DTYPE, shape=(0, 0, 0, 0)):
        if len(key) > t.KEY_BYTES:
            raise ValueError("key too long")
        raw = key.encode("utf-8")[:t.KEY_BYTES]
        return t.REQUEST.pack(command, length, fmt, dtype, 0, *shape, raw.ljust(t.KEY_BYTES, b" "))
    t.pack_request = pack


def drops_put_payload_byte():
    """Announces len(data) bytes but sends one fewer."""
    def put(self, key, data, fmt, dtype, shape, deadline):
        self._call(t.pack_request(t.PUT, key, len(data), fmt, dtype, shape) + data[:-1], None, deadline)
    t.Client.put = put


def waits_for_put_reply():
    """Waits for a reply to PUT, which never comes (§1.4)."""
    def put(self, key, data, fmt, dtype, shape, deadline):
        self._call(t.pack_request(t.PUT, key, len(data), fmt, dtype, shape) + data, t.PUT, deadline)
    t.Client.put = put


def retry_invalid_reply():
    """Treats a reply code other than 200/400 as a connection error, so it is retried."""
    good = t.Client._read_reply

    def read_reply(self, command, deadline):
        try:
            return good(self, command, deadline)
        except t.InvalidReply as e:
            raise ConnectionResetError(str(e)) from e
    t.Client._read_reply = read_reply


def keeps_connection(kind):
    """Keeps the socket after an error of `kind`, so it is out of step."""
    good = t.Client._discard

    def discard(self):
        if not isinstance(sys.exc_info()[1], kind):
            good(self)
    t.Client._discard = discard


def no_deadline():
    """Ignores timeout_ms: sockets block, and a LIST that is never answered hangs."""
    t.remaining = lambda deadline: 3600.0


def no_retry():
    t.ATTEMPTS = 1


def no_backoff():
    t.BACKOFF_S = (0.0, 0.0)


def trust_length():
    """Allocates the length the server claims before a byte of it arrives."""
    def recv_exact(self, n, deadline):
        buf = bytearray(n)  # the bug: 2 GiB for a reply that claims 2 GiB
        view, got = memoryview(buf), 0
        while got < n:
            self.sock.settimeout(t.remaining(deadline))
            k = self.sock.recv_into(view[got:], min(n - got, t.RECV_CHUNK))
            if not k:
                raise ConnectionResetError("connection closed")
            got += k
        return bytes(buf)
    t.Client._recv_exact = recv_exact


def run_lines(transform):
    """The line loop of python_testee.main, with `transform(request, line)` on each output line."""
    url = os.environ["LMCACHE_URL"]
    host, _, port = url[5:].rpartition(":")
    client = t.Client(host, int(port))
    for raw in sys.stdin.buffer:
        request = json.loads(raw.decode("utf-8"))
        try:
            result = t.handle(client, request)
        except Exception as e:
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        line = json.dumps({"id": request.get("id"), **result})
        sys.stdout.write(transform(request, line) + "\n")
        sys.stdout.flush()


def bad_json():
    """Answers HEALTH with a line that is not JSON."""
    run_lines(lambda req, line: "HEALTHY" if req.get("op") == "health" else line)
    return 0


def wrong_id():
    """Answers EXIST with the next request's id."""
    def transform(req, line):
        if req.get("op") != "exist":
            return line
        r = json.loads(line)
        r["id"] = req["id"] + 1
        return json.dumps(r)
    run_lines(transform)
    return 0


def no_exit():
    """Keeps running after its stdin closes."""
    status = t.main()
    while True:
        time.sleep(3600)
    return status


PATCHES = {
    "nul-padding": nul_padding,
    "wrong-dummy-fields": wrong_dummy_fields,
    "truncate-long-key": truncate_long_key,
    "counts-chars": counts_chars,
    "drops-put-payload-byte": drops_put_payload_byte,
    "waits-for-put-reply": waits_for_put_reply,
    "retry-invalid-reply": retry_invalid_reply,
    "keeps-connection-after-timeout": lambda: keeps_connection(TimeoutError),
    "keeps-connection-after-invalid-reply": lambda: keeps_connection(t.InvalidReply),
    "no-deadline": no_deadline,
    "no-retry": no_retry,
    "no-backoff": no_backoff,
    "trust-length": trust_length,
}
MAINS = {"bad-json": bad_json, "wrong-id": wrong_id, "no-exit": no_exit}

if __name__ == "__main__":
    switch = sys.argv[1] if len(sys.argv) == 2 else ""
    if switch in PATCHES:
        PATCHES[switch]()
        sys.exit(t.main())
    if switch in MAINS:
        sys.exit(MAINS[switch]())
    print(f"usage: broken_testee.py {{{'|'.join(sorted([*PATCHES, *MAINS]))}}}", file=sys.stderr)
    sys.exit(2)
