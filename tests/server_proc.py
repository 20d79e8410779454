"""lmcache-server as a child process, for the Python end-to-end tests, and
the wire structs they speak (protocol.md §1.2, §1.3)."""
import os
import re
import select
import signal
import struct
import subprocess
import time

REQUEST = struct.Struct("<iiiiiiiii150s")  # command length fmt dtype location shape[4] key
REPLY = struct.Struct("<iiiiiiiii")  # code length fmt dtype shape[4] location


def request(command, key, length=0):
    """A request header: fmt 1, dtype 2, shape [length, 0, 0, 0], the key space-padded."""
    return REQUEST.pack(command, length, 1, 2, 0, length, 0, 0, 0, key.encode().ljust(150, b" "))


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 4 << 20))
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return bytes(buf)


def start(bin_dir, args, preexec_fn=None):
    """Starts lmcache-server on a free port; returns (process, port), or
    (process, None) with the reason when it did not start."""
    proc = subprocess.Popen([os.path.join(bin_dir, "lmcache-server"), "--port", "0"] + args,
                            stderr=subprocess.PIPE, preexec_fn=preexec_fn, text=True)
    line = proc.stderr.readline()
    m = re.search(r"lm://127\.0\.0\.1:(\d+)", line)
    return proc, (int(m.group(1)) if m else None)


def stop(proc, failures):
    """SIGTERM, then what the server printed (its counters); a server that
    does not stop within 20 s is killed and counted as a failure."""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        failures.append("the server did not stop at SIGTERM")
    return err


def wait_for_counter(proc, name, at_least, timeout_s=20.0):
    """Asks the running server for its counters (SIGUSR1) until the counter
    `name` (as FormatCounters prints it: "NAME VALUE") reaches `at_least`,
    or `timeout_s` passes; returns the last value seen (None: never printed).
    Reads stderr's descriptor directly, so a server that prints nothing
    cannot block the test."""
    deadline = time.monotonic() + timeout_s
    fd = proc.stderr.fileno()
    text, value = "", None
    while time.monotonic() < deadline:
        proc.send_signal(signal.SIGUSR1)
        until = min(deadline, time.monotonic() + 0.2)
        while time.monotonic() < until:
            ready, _, _ = select.select([fd], [], [], max(0.0, until - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                return value
            text += chunk.decode("utf-8", "replace")
        found = re.findall(r"(?:^|\s)" + re.escape(name) + r" (\d+)", text)
        if found:
            value = int(found[-1])
            if value >= at_least:
                return value
    return value
