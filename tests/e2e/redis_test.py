"""End-to-end tests of the Redis store: two microrm replicas share one
redis-server (started here, on a free loopback port, with AOF and
appendfsync always); no update acknowledged by either may be lost, whatever
happens to a replica or to Redis.

usage: redis_test.py MICRORM_BINARY [unittest args]
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_MODEL, Server  # noqa: E402

BINARY = None
D = 64
USERS = ["alice", "bob", "carol", "dave"]


def vec(rng, n=D):
    return [round(rng.gauss(0, 1), 5) for _ in range(n)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of our own: its port, its data directory, its process."""

    def __init__(self, workdir, *extra):
        self.extra = list(extra)
        self.port = free_port()
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.start()

    def start(self):
        # The port was free when picked, but while this Redis was stopped any
        # socket on the machine may hold it for a moment as its ephemeral port
        # (a client retrying 127.0.0.1:port can even connect to itself): a
        # failed bind is retried before it counts as a failure.
        for attempt in range(20):
            try:
                return self._start_once()
            except RuntimeError as e:
                if "exited" not in str(e) or attempt == 19:
                    raise
                time.sleep(0.25)

    def _start_once(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir] + self.extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.command("PING") == "PONG":
                    return
            except (OSError, RuntimeError):
                pass   # not listening yet, or -LOADING the AOF
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with status %d" % self.proc.returncode)
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING")

    def command(self, *args):
        """One command over RESP; returns a str, int or None (enough for tests)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a.encode() if isinstance(a, str) else a
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            if "--requirepass" in self.extra:
                pw = self.extra[self.extra.index("--requirepass") + 1].encode()
                out = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw) + out
            s.sendall(out)
            f = s.makefile("rb")
            if "--requirepass" in self.extra:
                f.readline()   # +OK of the AUTH
            line = f.readline().rstrip(b"\r\n")
            kind, rest = line[:1], line[1:]
            if kind == b"+":
                return rest.decode()
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:n].decode("latin-1")
            raise RuntimeError("redis answered %r" % line)

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="microrm-redis-")
        self.redis = Redis(self.tmp)
        self.servers = []

    def tearDown(self):
        try:
            for s in self.servers:
                self.assertIn(s.stop(), (0, -signal.SIGKILL))   # 0: no sanitizer report either
        finally:
            self.redis.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def replica(self, *args):
        srv = Server(BINARY, "--store", self.redis.url(), *args)
        self.servers.append(srv)
        self.wait_ready(srv)
        return srv

    def wait_ready(self, srv, want=200, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if srv.request("GET", "/readyz")[0] == want:
                return
            time.sleep(0.05)
        self.fail("replica never answered /readyz %d:\n%s" % (want, srv.log()))

    def update(self, srv, user, rng, conn=None):
        body = {"user": user, "context": vec(rng), "chosen": vec(rng), "rejected": vec(rng)}
        status, _, data = srv.request("POST", "/route/update", body=body, conn=conn)
        return status, json.loads(data) if data else None

    def stored(self, user):
        """(version, updates) of the user as Redis holds it, read by a replica
        that has never cached it."""
        checker = self.replica()
        try:
            status, summary = checker.json("GET", "/route/" + user)
            self.assertEqual(status, 200, summary)
            return summary["version"], summary["updates"]
        finally:
            self.assertEqual(checker.stop(), 0)
            self.servers.remove(checker)

    def load(self, replicas, threads=32, per_thread=None, stop=None):
        """Clients spread over users and replicas: thread i updates user i % 4
        on replica (i // 4) % len(replicas), so each user is updated through
        every replica at once. Returns the threads and, per user, the updates
        acknowledged, refused (503) and unanswered (the connection broke: fate
        unknown), and a list of any other status."""
        acked = {u: 0 for u in USERS}
        refused = {u: 0 for u in USERS}
        unanswered = {u: 0 for u in USERS}
        other = []
        lock = threading.Lock()

        def client(i):
            rng = random.Random(1000 + i)
            user = USERS[i % len(USERS)]
            srv = replicas[(i // len(USERS)) % len(replicas)]
            conn = srv.conn(timeout=10)
            n = 0
            try:
                while (per_thread is None or n < per_thread) and not (stop and stop.is_set()):
                    n += 1
                    try:
                        status, ans = self.update(srv, user, rng, conn=conn)
                    except (OSError, http.client.HTTPException):
                        with lock:
                            unanswered[user] += 1
                        if srv.proc.poll() is not None:
                            return   # the replica is gone
                        conn.close()
                        conn = srv.conn(timeout=10)
                        continue
                    with lock:
                        if status == 200:
                            acked[user] += 1
                        elif status == 503:
                            refused[user] += 1
                        else:
                            other.append(status)
                    if status != 200:
                        time.sleep(0.02)
            finally:
                conn.close()

        pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        return pool, acked, refused, unanswered, other


class SharedUsersTest(Base):
    def test_concurrent_updates_through_two_replicas_lose_nothing(self):
        a, b = self.replica(), self.replica()
        pool, acked, refused, unanswered, other = self.load([a, b], threads=32, per_thread=12)
        for t in pool:
            t.join()
        self.assertEqual(other, [])
        self.assertEqual(sum(unanswered.values()), 0)
        # A request that loses the version race to the other replica 8 times
        # in a row is answered 503 (nothing stored, Retry-After): rare, but
        # possible when every user is hammered through both replicas.
        self.assertLessEqual(sum(refused.values()), 32 * 12 // 20, refused)
        self.assertEqual(sum(acked.values()) + sum(refused.values()), 32 * 12)
        for user in USERS:
            version, updates = self.stored(user)
            self.assertEqual(updates, acked[user], user)
            self.assertEqual(version, acked[user], user)
        # the counter behind microrm_users_stored follows creations
        self.assertEqual(self.redis.command("GET", "microrm:users"), str(len(USERS)))
        text = a.request("GET", "/metrics")[2].decode()
        self.assertIn("microrm_users_stored %d" % len(USERS), text)

    def test_kill_9_of_one_replica_under_load(self):
        a, b = self.replica(), self.replica()
        stop = threading.Event()
        pool, acked, refused, unanswered, other = self.load([a, b], threads=16, stop=stop)
        time.sleep(0.6)
        a.proc.kill()
        a.proc.wait()
        time.sleep(0.6)   # b goes on alone
        stop.set()
        for t in pool:
            t.join()
        self.assertEqual(other, [])
        for user in USERS:
            _, updates = self.stored(user)
            # an update in flight at the kill may have landed unacknowledged
            self.assertGreaterEqual(updates, acked[user], user)
            self.assertLessEqual(updates, acked[user] + unanswered[user], user)
        self.assertGreater(min(acked.values()), 0)

    def test_score_sees_another_replicas_update_within_redis_cache_ms(self):
        a = self.replica("--redis_cache_ms", "200")
        b = self.replica()
        rng = random.Random(5)
        self.assertEqual(self.update(a, "erin", rng)[0], 200)
        body = {"user": "erin", "context": vec(rng), "responses": [vec(rng), vec(rng)]}
        self.assertEqual(a.json("POST", "/score", body)[1]["user"]["version"], 1)   # cached on a
        self.assertEqual(self.update(b, "erin", rng)[0], 200)
        time.sleep(0.3)
        self.assertEqual(a.json("POST", "/score", body)[1]["user"]["version"], 2)
        # an update through a replica whose copy is stale is re-run on the fresh state
        self.assertEqual(self.update(b, "erin", rng)[0], 200)
        status, ans = self.update(a, "erin", rng)
        self.assertEqual((status, ans["version"], ans["updates"]), (200, 4, 4))
        self.assertEqual(self.stored("erin"), (4, 4))
        # a delete through one replica, then an update through the other
        self.assertEqual(b.request("DELETE", "/route/erin")[0], 204)
        status, ans = self.update(a, "erin", rng)
        self.assertEqual((status, ans["version"]), (200, 1))
        self.assertEqual(self.redis.command("GET", "microrm:users"), "1")


class RedisFailureTest(Base):
    def test_redis_killed_and_restarted_keeps_every_acknowledged_update(self):
        a, b = self.replica(), self.replica()
        stop = threading.Event()
        pool, acked, refused, unanswered, other = self.load([a, b], threads=16, stop=stop)
        time.sleep(0.5)
        self.redis.stop(signal.SIGKILL)   # appendfsync always: what was answered is on disk
        time.sleep(0.3)
        self.redis.start()
        self.wait_ready(a)
        self.wait_ready(b)
        time.sleep(0.3)
        stop.set()
        for t in pool:
            t.join()
        self.assertEqual(other, [])
        self.assertGreater(sum(refused.values()), 0)   # refused while Redis was away
        for user in USERS:
            _, updates = self.stored(user)
            # a write Redis took just before dying may have gone unanswered
            self.assertGreaterEqual(updates, acked[user], user)
            self.assertLessEqual(updates, acked[user] + refused[user] + unanswered[user], user)
        # and a graceful restart too
        before = {u: self.stored(u)[1] for u in USERS}
        self.redis.stop(signal.SIGTERM)
        self.redis.start()
        self.wait_ready(a)
        self.assertEqual({u: self.stored(u)[1] for u in USERS}, before)

    def test_redis_down_scores_from_cache_refuses_updates_then_recovers(self):
        a = self.replica("--redis_cache_ms", "100")
        rng = random.Random(7)
        for _ in range(3):
            self.assertEqual(self.update(a, "frank", rng)[0], 200)
        score = {"user": "frank", "context": vec(rng), "responses": [vec(rng), vec(rng)]}
        status, known = a.json("POST", "/score", score)
        self.assertEqual((status, known["user"]["version"]), (200, 3))

        self.redis.stop()
        self.wait_ready(a, want=503)
        status, ans = self.update(a, "frank", rng)
        self.assertEqual(status, 503, ans)
        self.assertEqual(ans["error"]["code"], "store_unavailable")
        time.sleep(0.15)   # past redis_cache_ms: the cached copy still serves
        status, ans = a.json("POST", "/score", score)
        self.assertEqual(status, 200, ans)
        self.assertEqual(ans["user"]["id"], "frank")
        # a user this replica never saw cannot be personalised: 503, not a guess
        status, ans = a.json("POST", "/score", dict(score, user="stranger"))
        self.assertEqual(status, 503, ans)
        self.assertEqual(a.request("GET", "/healthz")[0], 200)   # alive all along

        self.redis.start()
        self.wait_ready(a)   # reconnected within the backoff
        status, ans = self.update(a, "frank", rng)
        self.assertEqual((status, ans["version"], ans["updates"]), (200, 4, 4))
        self.assertEqual(self.stored("frank"), (4, 4))

    def test_a_redis_that_stops_answering_times_out(self):
        a = self.replica()
        rng = random.Random(3)
        self.assertEqual(self.update(a, "hank", rng)[0], 200)
        self.redis.proc.send_signal(signal.SIGSTOP)   # connected, silent: only a timer can tell
        try:
            t0 = time.time()
            status, ans = self.update(a, "hank", rng)
            waited = time.time() - t0
            self.assertEqual(status, 503, ans)
            self.assertIn("no reply within the timeout", ans["error"]["message"])
            self.assertGreater(waited, 1.5)   # the 2 s command timeout, not a hang
            self.assertLess(waited, 6)
            self.wait_ready(a, want=503)
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        self.wait_ready(a)
        status, ans = self.update(a, "hank", rng)
        self.assertEqual(status, 200, ans)
        self.assertGreaterEqual(ans["version"], 2)   # the timed-out write may have landed

    def test_unreachable_at_start_then_ready_when_redis_comes(self):
        self.redis.stop()
        srv = Server(BINARY, "--store", self.redis.url())
        self.servers.append(srv)
        status, body = srv.json("GET", "/readyz")
        self.assertEqual((status, body["status"]), (503, "store_unavailable"))
        self.redis.start()
        self.wait_ready(srv)
        self.assertEqual(self.update(srv, "gina", random.Random(1))[0], 200)

    def test_password_in_the_url_and_never_in_the_log(self):
        self.redis.stop()
        self.redis = Redis(self.tmp, "--requirepass", "s3cret-pw")
        url = "redis://:%s@127.0.0.1:%d/2"
        bad = Server(BINARY, "--store", url % ("wrong-pw", self.redis.port))
        self.servers.append(bad)
        self.assertTrue(bad.wait_log(r"unavailable: AUTH: WRONGPASS"), bad.log())
        self.assertEqual(bad.request("GET", "/readyz")[0], 503)
        good = Server(BINARY, "--store", url % ("s3cret-pw", self.redis.port))
        self.servers.append(good)
        self.wait_ready(good)
        self.assertEqual(self.update(good, "ivy", random.Random(2))[0], 200)
        self.assertIn("open (redis://...@127.0.0.1:%d/2" % self.redis.port, good.log())
        for srv in (bad, good):
            self.assertNotIn("-pw", srv.log())

    def test_bad_url_is_a_clear_startup_error(self):
        for url, why in (("redis://:6379", "no host"), ("redis://h:0", "port"), ("redis://h:1/x", "database")):
            proc = subprocess.run([BINARY, "serve", "--port", "0", "--model", DEMO_MODEL, "--store", url],
                                  capture_output=True, text=True, timeout=30)
            self.assertNotEqual(proc.returncode, 0, url)
            self.assertIn(why, proc.stderr, url)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
