"""Clients that behave as LMCache's lm:// connectors of two eras do, for
python_testee.py --lmcache-era (the kit's own check of the lmcache-python and
lmcache-python-legacy profiles).

Written from the kit's spec (protocol.md §2.2, §3.9, §6.1, §6.3, §9), not
from LMCache's code. What differs from the template client in
python_testee.py, and why:

  both eras
    - the 150 limit counts characters; the 150-byte field then cuts the UTF-8
      (§3.9, §9 quirk 11);
    - a GET hit's buffer is allocated up front from the reply's shape and
      dtype, and `length` bytes are read into it (§6.1); more than fits is an
      error, as Python's recv_into says "buffer too small";
    - no LIST and no HEALTH (§6.1).
  v2 ("reconnect v2", the lmcache-python profile)
    - the template's retries, back-off and deadlines (§6.3);
    - an unknown reply code raises and is not retried (§2.2).
  legacy (the Era Constants connector, the lmcache-python-legacy profile)
    - one socket for the connector's life: one attempt, no reconnect (§6.3);
    - the reply header is one recv(36), so a split header fails (§9 quirk 17);
    - any code but 200 is a miss or absent (§2.2, §9 quirk 20);
    - EOF inside a GET body returns a miss (§6.3).
"""
import mmap
import socket

import python_testee as template

ITEM_BYTES = {0: 1, 1: 2, 2: 2, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 1}  # dtype code -> bytes (§2.3)


def pack_request_counting_characters(command, key, length=0, fmt=template.DUMMY_FMT, dtype=template.DUMMY_DTYPE,
                                     shape=(0, 0, 0, 0)):
    if len(key) > template.KEY_BYTES:  # characters, as LMCache's assert counts them
        raise ValueError(f"Key length {len(key)} exceeds maximum {template.KEY_BYTES}")
    # ljust then the struct's 150s: a key of more than 150 bytes is cut.
    return template.REQUEST.pack(command, length, fmt, dtype, 0, *shape,
                                 key.encode("utf-8").ljust(template.KEY_BYTES))


def buffer_for(dtype, shape):
    """The buffer a connector allocates for a reply: trailing zero dims
    dropped ([n,0,0,0] is n bytes of a byte buffer), times the dtype's size."""
    if dtype not in ITEM_BYTES:
        raise KeyError(f"dtype code {dtype}")
    dims = list(shape)
    while dims and dims[-1] == 0:
        dims.pop()
    elements = 1 if dims else 0
    for d in dims:
        elements *= d
    size = elements * ITEM_BYTES[dtype]
    # The whole size, reserved before a byte is read; anonymous memory, so
    # a page costs only once a byte lands in it (a zero-filled bytearray of
    # 2 GiB takes seconds, longer than the call's deadline on a busy machine).
    return mmap.mmap(-1, size) if size > 0 else bytearray()


class NotSupported(Exception):
    """The connector has no such call."""


class V2Client(template.Client):
    """LMCache's reconnect-v2 connector, as the spec describes it."""

    def put(self, key, data, fmt, dtype, shape, deadline):
        self._call(pack_request_counting_characters(template.PUT, key, len(data), fmt, dtype, shape) + data, None,
                   deadline)

    def get(self, key, deadline):
        return self._call(pack_request_counting_characters(template.GET, key), template.GET, deadline)

    def exist(self, key, deadline):
        return self._call(pack_request_counting_characters(template.EXIST, key), template.EXIST, deadline) is not None

    def list(self, deadline):
        raise NotSupported("the connector does not implement list()")

    def health(self, deadline):
        raise NotSupported("the connector does not send HEALTH")

    def _read_reply(self, command, deadline):
        code, length, fmt, dtype, s0, s1, s2, s3, _ = template.REPLY.unpack(
            self._recv_exact(template.REPLY.size, deadline))
        if code not in (template.SUCCESS, template.FAIL):
            raise template.InvalidReply(f"{code} is not a valid ServerReturnCode")
        if code == template.FAIL:
            return None
        if command != template.GET:
            return fmt, dtype, [s0, s1, s2, s3], b""
        try:
            buf = buffer_for(dtype, (s0, s1, s2, s3))
        except KeyError as e:
            raise template.InvalidReply(str(e)) from e
        if length > len(buf):  # what recv_into raises; the socket is discarded
            raise template.InvalidReply(f"buffer too small for requested bytes ({length} into {len(buf)})")
        view = memoryview(buf)
        received = 0
        while received < length:
            self.sock.settimeout(template.remaining(deadline))
            n = self.sock.recv_into(view[received:], length - received)
            if n == 0:
                raise ConnectionResetError(f"connection closed after {received} of {length} bytes")
            received += n
        return fmt, dtype, [s0, s1, s2, s3], bytes(view[:received])


class LegacyClient:
    """LMCache's old (Era Constants) connector, as the spec describes it."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = None
        self.connected_once = False

    def _socket(self, deadline):
        if self.sock is None:
            if self.connected_once:
                raise ConnectionError("the connector's socket is closed and it never reconnects")
            self.sock = socket.create_connection((self.host, self.port),
                                                 timeout=min(5.0, template.remaining(deadline)))
            self.connected_once = True
        # The connector has no timeout; the adapter still ends a call by its
        # deadline rather than hang the run (the socket is kept regardless).
        self.sock.settimeout(template.remaining(deadline))
        return self.sock

    def _header(self, sock):
        data = sock.recv(template.REPLY.size)  # one recv: a split header fails (§9 quirk 17)
        if len(data) != template.REPLY.size:
            raise ValueError(f"unpack requires a buffer of {template.REPLY.size} bytes, got {len(data)}")
        return template.REPLY.unpack(data)

    def put(self, key, data, fmt, dtype, shape, deadline):
        sock = self._socket(deadline)
        sock.sendall(pack_request_counting_characters(template.PUT, key, len(data), fmt, dtype, shape))
        sock.sendall(data)

    def get(self, key, deadline):
        sock = self._socket(deadline)
        sock.sendall(pack_request_counting_characters(template.GET, key))
        code, length, fmt, dtype, s0, s1, s2, s3, _ = self._header(sock)
        if code != template.SUCCESS:
            return None  # any code but 200 is a miss
        buf = buffer_for(dtype, (s0, s1, s2, s3))
        if length > len(buf):
            raise ValueError(f"buffer too small for requested bytes ({length} into {len(buf)})")
        view = memoryview(buf)
        received = 0
        while received < length:
            sock.settimeout(template.remaining(deadline))
            n = sock.recv_into(view[received:], length - received)
            if n == 0:
                return None  # EOF inside the body: a miss
            received += n
        return fmt, dtype, [s0, s1, s2, s3], bytes(view[:received])

    def exist(self, key, deadline):
        sock = self._socket(deadline)
        sock.sendall(pack_request_counting_characters(template.EXIST, key))
        return self._header(sock)[0] == template.SUCCESS

    def list(self, deadline):
        raise NotSupported("the connector does not implement list()")

    def health(self, deadline):
        raise NotSupported("the connector does not send HEALTH")


ERAS = {"v2": V2Client, "legacy": LegacyClient}
