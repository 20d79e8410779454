#!/usr/bin/env python3
"""An LMCache-style lm:// server: the Python baseline of bench/server_vs_perfect.sh.

LMCache's own server (lmcache/v1/server/__main__.py, `lmcache_server HOST PORT`)
needs torch and the lmcache package, which this machine's package sources do
not have. This program does what spec/protocol.md section 5 says that server
does, in the same way, with the standard library only:

- one thread per accepted connection, requests handled in order;
- every read is the same receive loop: a bytearray extended by
  recv(n - len(data)) until it holds n bytes (so each recv allocates a bytes
  object of the remaining size, as the original's does);
- the header is unpacked with struct "iiiiiiiii150s" and the key is parsed
  into a key object (split on "@", world size and worker id as decimal ints,
  the hash as a hex int), which is the dict key;
- the store is an OrderedDict behind one threading.Lock, with no eviction;
- PUT has no reply; GET sends the 36-byte header with sendall, then the stored
  bytearray with a second sendall; EXIST and HEALTH send dummy headers;
  LIST is ignored.

What it leaves out changes no byte on the wire and no cost per object of
these sizes: logging (debug lines off, as by default), torch dtype objects
(the codes are kept as ints) and the tag grammar (bench keys have no tags).

Usage: lmcache_style_server.py HOST PORT
"""
import collections
import socket
import struct
import sys
import threading

REQUEST = struct.Struct("iiiiiiiii150s")
REPLY = struct.Struct("iiiiiiiii")
PUT, GET, EXIST, LIST, HEALTH = 1, 2, 3, 4, 5
SUCCESS, FAIL = 200, 400
DUMMY_FMT, DUMMY_DTYPE = 1, 2


class Key:
    """The parsed key: equal and hashed on its fields, as LMCache's key object."""

    __slots__ = ("fields",)

    def __init__(self, text):
        parts = text.split("@")
        if len(parts) < 5:
            raise ValueError("key has fewer than 5 parts: %r" % text)
        self.fields = (parts[0], int(parts[1]), int(parts[2]), int(parts[3], 16), parts[4], tuple(parts[5:]))

    def __eq__(self, other):
        return isinstance(other, Key) and self.fields == other.fields

    def __hash__(self):
        return hash(self.fields)


class Stored:
    __slots__ = ("data", "length", "fmt", "dtype", "shape")

    def __init__(self, data, length, fmt, dtype, shape):
        self.data, self.length, self.fmt, self.dtype, self.shape = data, length, fmt, dtype, shape


class Store:
    def __init__(self):
        self.entries = collections.OrderedDict()
        self.lock = threading.Lock()

    def put(self, key, obj):
        with self.lock:
            self.entries[key] = obj

    def get(self, key):
        with self.lock:
            return self.entries.get(key)

    def contains(self, key):
        with self.lock:
            return key in self.entries


def receive_all(sock, n):
    data = bytearray()
    while len(data) < n:
        packet = sock.recv(n - len(data))
        if not packet:
            return None
        data.extend(packet)
    return data


def dummy(code):
    return REPLY.pack(code, 0, DUMMY_FMT, DUMMY_DTYPE, 0, 0, 0, 0, 0)


def handle(sock, store):
    try:
        while True:
            header = receive_all(sock, REQUEST.size)
            if not header:
                break
            command, length, fmt, dtype, _location, s0, s1, s2, s3, raw_key = REQUEST.unpack(header)
            key = Key(raw_key.decode("utf-8").strip())
            if command == PUT:
                data = receive_all(sock, length)
                store.put(key, Stored(data, length, fmt, dtype, (s0, s1, s2, s3)))
            elif command == GET:
                obj = store.get(key)
                if obj is None:
                    sock.sendall(dummy(FAIL))
                else:
                    sock.sendall(REPLY.pack(SUCCESS, obj.length, obj.fmt, obj.dtype, *obj.shape, 0))
                    sock.sendall(obj.data)
            elif command == EXIST:
                sock.sendall(dummy(SUCCESS if store.contains(key) else FAIL))
            elif command == HEALTH:
                sock.sendall(dummy(SUCCESS))
            # LIST and unknown commands: no reply (section 5.4).
    except (OSError, ValueError, KeyError, UnicodeDecodeError):
        pass
    finally:
        sock.close()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: %s HOST PORT" % sys.argv[0])
    store = Store()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((sys.argv[1], int(sys.argv[2])))
    server.listen()
    print("listening on lm://%s:%d" % server.getsockname(), file=sys.stderr, flush=True)
    while True:
        sock, _ = server.accept()
        threading.Thread(target=handle, args=(sock, store), daemon=True).start()


if __name__ == "__main__":
    main()
