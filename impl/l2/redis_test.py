#!/usr/bin/env python3
"""The Redis tier against real redis-server processes, which it starts.

    redis_test.py BIN_DIR

Each case starts what it needs on free loopback ports and stops it:
  standalone  lmcache-server (4 MiB L1) over one redis-server takes 48 PUTs
              of 256 KiB; what L1 evicted is read back through Redis byte for
              byte, and Redis holds it as LMCache's connector writes it (its
              key string; the value is the object's bytes);
  shared      two servers over one Redis: what one evicted the other finds
              with EXIST (as LMCache asks before a GET) and serves;
  restart     Redis stalled (SIGSTOP), then killed mid-run (no persistence):
              GETs answer by the load deadline (misses, never wrong bytes),
              PUTs go on; once Redis is back, new evictions are stored and
              served again;
  auth        a wrong password stops the server at start with Redis's words;
              LMCACHE_RESP_PASSWORD supplies the right one;
  cluster     a three-node Redis Cluster (valkey adapter, cluster_mode):
              evictions land on all three nodes and read back; after 2000
              slots move to another node (redis-cli --cluster reshard), every
              value still reads back (the client follows MOVED).
"""

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SIZE = 256 << 10
KEYS = 48
# Every process started, killed at the end whatever failed on the way.
PROCS = []
KEY_RE = re.compile(r"^lmcache-server@[0-9a-f]{8}@[0-9a-f]+@[0-9a-f]{32}@[0-9a-z-]+$")


def bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(cluster=False):
    """A free loopback port. A cluster node also listens on its port + 10000
    (the cluster bus): both are taken below the kernel's ephemeral range, so
    that no outgoing connection of another test can hold the bus port."""
    if not cluster:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = max(low - 10000, 12001)
    for _ in range(1000):
        port = random.randrange(10000, top)
        if bindable(port) and bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def header(command, key, length=0):
    k = key.encode()
    return struct.pack("<9i", command, length, 1, 2, 0, length // 2, 0, 0, 0) + k + b" " * (150 - len(k))


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise RuntimeError("connection closed")
        out += chunk
    return bytes(out)


def key_of(i):
    return "m@1@0@%x@half" % (0x1000 + i)


def value_of(i, gen=0):
    return random.Random(i * 1000 + gen).randbytes(SIZE)


class Redis:
    def __init__(self, folder, name, extra=()):
        self.dir = os.path.join(folder, name)
        os.makedirs(self.dir, exist_ok=True)
        self.extra = list(extra)
        self.p = None
        for attempt in range(3):  # a port taken between the check and the bind: another
            self.port = free_port("--cluster-enabled" in extra)
            try:
                self.start()
                return
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise

    def start(self):
        self.p = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", self.dir, "--logfile", "redis.log"] + self.extra,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        PROCS.append(self.p)
        end = time.monotonic() + 30
        while time.monotonic() < end and self.p.poll() is None:
            if self.cli("PING", check=False).strip() in ("PONG", "NOAUTH Authentication required."):
                return
            time.sleep(0.05)
        log = os.path.join(self.dir, "redis.log")
        tail = open(log).read()[-300:] if os.path.exists(log) else ""
        raise RuntimeError("redis-server on %d did not start: %s" % (self.port, tail))

    def cli(self, *args, check=True, password=None):
        cmd = ["redis-cli", "-p", str(self.port)]
        if password:
            cmd += ["--no-auth-warning", "-a", password]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("redis-cli %s: %s" % (args, r.stderr))
        return r.stdout

    def kill(self):
        self.p.kill()
        self.p.wait(timeout=20)

    def stop(self):
        if self.p and self.p.poll() is None:
            self.kill()


class Server:
    def __init__(self, bin_dir, folder, name, adapter, env=None, expect_start=True):
        self.log = os.path.join(folder, name + ".log")
        err = open(self.log, "w")
        self.p = subprocess.Popen([os.path.join(bin_dir, "lmcache-server"), "--port", "0", "--l1-size-bytes",
                                   str(4 << 20), "--l2-adapter", adapter, "--l2-load-timeout-ms", "2000"],
                                  stdout=subprocess.DEVNULL, stderr=err, env=env)
        PROCS.append(self.p)
        self.port = None
        end = time.monotonic() + 60
        while time.monotonic() < end:
            m = re.search(r"listening on lm://[^:]+:(\d+)", open(self.log).read())
            if m:
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        if expect_start and self.port is None:
            self.p.kill()
            raise RuntimeError("lmcache-server did not start: " + open(self.log).read()[-800:])
        if self.port:
            self.s = socket.create_connection(("127.0.0.1", self.port))
            self.s.settimeout(30)

    def put(self, key, value):
        self.s.sendall(header(1, key, len(value)) + value)

    def get(self, key):
        """The value, or None for a miss; and the seconds the GET took."""
        t0 = time.monotonic()
        self.s.sendall(header(2, key))
        r = recv_exact(self.s, 36)
        code, length = struct.unpack("<2i", r[:8])
        value = recv_exact(self.s, length) if code == 200 else None
        return value, time.monotonic() - t0

    def exist(self, key):
        self.s.sendall(header(3, key))
        return struct.unpack("<i", recv_exact(self.s, 36)[:4])[0] == 200

    def sync(self):
        self.s.sendall(header(3, "m@1@0@1@half"))  # EXIST: the PUTs before it are applied
        recv_exact(self.s, 36)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(timeout=60)


def resp_adapter(port, **extra):
    import json
    return json.dumps(dict({"type": "resp", "host": "127.0.0.1", "port": port, "num_workers": 4}, **extra))


def fill(server, gen=0, keys=KEYS):
    values = {}
    for i in range(keys):
        values[i] = value_of(i, gen)
        server.put(key_of(i), values[i])
    server.sync()
    time.sleep(0.5)  # the write-back's L2 writes
    return values


def settle(nodes, want, what):
    """Waits (30 s at most) until the Redis nodes hold `want` keys between
    them: the write-back's stores, which a busy machine may delay."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if sum(int(n.cli("DBSIZE").strip()) for n in nodes) >= want:
            return
        time.sleep(0.1)
    raise RuntimeError("%s: the write-back did not reach %d keys in 30 s" % (what, want))


def check_reads(server, values, what, want_hits):
    hits = 0
    for i, v in values.items():
        got, _ = server.get(key_of(i))
        if got is not None:
            assert got == v, "%s: %s came back with other bytes" % (what, key_of(i))
            hits += 1
    assert hits >= want_hits, "%s: %d of %d served, want at least %d" % (what, hits, len(values), want_hits)
    return hits


def case_standalone(bin_dir, folder):
    redis = Redis(folder, "standalone")
    server = Server(bin_dir, folder, "standalone", resp_adapter(redis.port))
    try:
        values = fill(server)
        hits = check_reads(server, values, "standalone", KEYS - 16)
        keys = [k for k in redis.cli("--scan").split() if k]
        assert all(KEY_RE.match(k) for k in keys), "a key not in LMCache's layout: %s" % keys[:5]
        # Each write is an object, its record ("-r") and the key's pointer ("latest").
        objects = [k for k in keys if not k.endswith("-r") and not k.endswith("@latest")]
        assert objects, "no object in Redis: %s" % keys[:5]
        # An object's value is the PUT's bytes: one of the values, whole.
        raw = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", "GET", objects[0]], capture_output=True,
                             timeout=30).stdout[:-1]
        assert raw in values.values(), "the Redis value of %s is not a PUT's bytes" % objects[0]
        print("standalone: %d of %d values served back through Redis; %d Redis keys" % (hits, KEYS, len(keys)))
    finally:
        server.stop()
        redis.stop()


def case_shared(bin_dir, folder):
    redis = Redis(folder, "shared")
    a = Server(bin_dir, folder, "shared-a", resp_adapter(redis.port))
    b = Server(bin_dir, folder, "shared-b", resp_adapter(redis.port))
    try:
        values = fill(a)
        settle([redis], 3 * (KEYS - 16), "shared")  # object, record and pointer of each eviction
        # LMCache asks EXIST before GET: B's EXIST looks in Redis too.
        present = [i for i in values if b.exist(key_of(i))]
        assert len(present) >= KEYS - 16, "shared: B's EXIST found %d of A's values" % len(present)
        assert not b.exist(key_of(KEYS + 5)), "shared: B's EXIST found a key no one PUT"
        hits = check_reads(b, {i: values[i] for i in present}, "shared (server B)", len(present))
        print("shared: server B's EXIST found %d of the %d values server A took, and served all %d" %
              (len(present), KEYS, hits))
    finally:
        a.stop()
        b.stop()
        redis.stop()


def case_restart(bin_dir, folder):
    redis = Redis(folder, "restart")
    server = Server(bin_dir, folder, "restart", resp_adapter(redis.port, timeout_ms=1000))
    try:
        values = fill(server)
        # A Redis that stops answering (SIGSTOP): each GET answers by its
        # deadline (the adapter's 1 s call timeout, under the 2 s load
        # deadline), a miss or the right bytes.
        redis.p.send_signal(signal.SIGSTOP)
        stalled = 0.0
        for i in range(3):
            got, took = server.get(key_of(i))
            stalled = max(stalled, took)
            assert got is None or got == values[i], "restart: wrong bytes for %s from a stalled Redis" % key_of(i)
        assert stalled < 3.5, "restart: a GET took %.2f s with Redis stalled (load deadline 2 s)" % stalled
        redis.p.send_signal(signal.SIGCONT)
        redis.kill()
        worst = 0.0
        for i in range(KEYS):
            got, took = server.get(key_of(i))
            worst = max(worst, took)
            assert got is None or got == values[i], "restart: wrong bytes for %s while Redis was down" % key_of(i)
        assert worst < 3.5, "restart: a GET took %.2f s with Redis down (load deadline 2 s)" % worst
        newer = fill(server, gen=1)  # evictions fail fast while Redis is down
        redis.start()
        time.sleep(3)  # past the client's back-off
        newest = fill(server, gen=2)
        hits = check_reads(server, newest, "restart (after Redis came back)", KEYS - 16)
        assert newer is not None
        print("restart: GETs took at most %.2f s with Redis stalled, %.2f s with it down; after it came back "
              "%d of %d served" % (stalled, worst, hits, KEYS))
    finally:
        server.stop()
        redis.stop()


def case_auth(bin_dir, folder):
    redis = Redis(folder, "auth", ["--requirepass", "s3same"])
    try:
        bad = Server(bin_dir, folder, "auth-bad", resp_adapter(redis.port, password="nope"), expect_start=False)
        code = bad.p.wait(timeout=60)
        text = open(bad.log).read()
        assert code != 0 and "WRONGPASS" in text, "auth: a wrong password did not stop the server: %s" % text[-400:]
        env = dict(os.environ, LMCACHE_RESP_PASSWORD="s3same")
        good = Server(bin_dir, folder, "auth-good", resp_adapter(redis.port, password="nope"), env=env)
        try:
            values = fill(good)
            check_reads(good, values, "auth (LMCACHE_RESP_PASSWORD)", KEYS - 16)
        finally:
            good.stop()
        print("auth: a refused AUTH stops the server at start; LMCACHE_RESP_PASSWORD overrides the config")
    finally:
        redis.stop()


def case_cluster(bin_dir, folder):
    nodes = []
    try:
        # One by one inside the try: a node that fails to start stops those before it.
        for i in range(3):
            nodes.append(Redis(folder, "cluster%d" % i, ["--cluster-enabled", "yes", "--cluster-config-file",
                                                         "nodes.conf", "--cluster-node-timeout", "2000"]))
        addrs = ["127.0.0.1:%d" % n.port for n in nodes]
        subprocess.run(["redis-cli", "--cluster", "create"] + addrs + ["--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        end = time.monotonic() + 30
        while not all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in nodes):
            assert time.monotonic() < end, "the cluster did not come up"
            time.sleep(0.1)
        import json
        adapter = json.dumps({"type": "valkey", "startup_nodes": addrs[0], "cluster_mode": True, "num_workers": 4})
        server = Server(bin_dir, folder, "cluster", adapter)
        try:
            values = fill(server)
            settle(nodes, 3 * (KEYS - 16), "cluster")
            sizes = [int(n.cli("DBSIZE").strip()) for n in nodes]
            assert all(s > 0 for s in sizes), "cluster: keys on only some nodes: %s" % sizes
            hits = check_reads(server, values, "cluster", KEYS - 16)
            ids = {}
            for line in nodes[0].cli("CLUSTER", "NODES").splitlines():
                f = line.split()
                ids[f[1].split("@")[0]] = f[0]
            subprocess.run(["redis-cli", "--cluster", "reshard", addrs[0], "--cluster-from", ids[addrs[0]],
                            "--cluster-to", ids[addrs[1]], "--cluster-slots", "2000", "--cluster-yes"],
                           check=True, capture_output=True, timeout=120)
            moved = check_reads(server, values, "cluster after a reshard", hits)
            print("cluster: keys on three nodes %s; %d of %d served; %d still served after 2000 slots moved" %
                  (sizes, hits, KEYS, moved))
        finally:
            server.stop()
    finally:
        for n in nodes:
            n.stop()


def main():
    bin_dir = sys.argv[1]
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        print("redis-server and redis-cli are needed (ci/setup.sh installs them)", file=sys.stderr)
        return 1
    folder = tempfile.mkdtemp(prefix="lmc-redis-")
    cases = [case_standalone, case_shared, case_restart, case_auth, case_cluster]
    only = sys.argv[2:]
    failed = 0
    try:
        for case in cases:
            if only and case.__name__[5:] not in only:
                continue
            try:
                case(bin_dir, folder)
            except Exception as e:  # noqa: BLE001 - report every case
                failed += 1
                print("FAIL %s: %s" % (case.__name__[5:], e))
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=20)
        if not os.environ.get("LMC_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
