"""End-to-end tests of online per-user routing (/route/update, /route/{user},
events) against the real binary with a real LMDB store.

usage: routing_test.py MICRORM_BINARY [unittest args]
"""
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_MODEL, ReferenceModel, Server  # noqa: E402

BINARY = None
D = 64


def vec(rng, n=D):
    return [round(rng.gauss(0, 1), 5) for _ in range(n)]


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="microrm-routing-")
        self.servers = []

    def tearDown(self):
        try:
            for s in self.servers:
                self.assertIn(s.stop(), (0, -signal.SIGKILL))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *args):
        srv = Server(BINARY, "--state_dir", os.path.join(self.tmp, "var"), *args)
        self.servers.append(srv)
        return srv

    def update(self, srv, body, conn=None):
        status, _, data = srv.request("POST", "/route/update", body=body, conn=conn)
        return status, json.loads(data) if data else None


class PersonalisationTest(Base):
    """A user whose taste is one head: the routing must learn it."""

    def run_user(self, mode, n=160, taste=2, seed=3):
        ref = ReferenceModel(DEMO_MODEL)
        srv = self.start("--adapt", mode, "--eta", "0.5", "--lr", "0.5", "--epochs", "2")
        rng = random.Random(seed)
        user_right, pop_right = [], []
        for _ in range(n):
            ctx, a, b = vec(rng), vec(rng), vec(rng)
            status, ans = srv.json("POST", "/score", {"user": "u1", "context": ctx, "responses": [a, b],
                                                      "include_heads": True})
            self.assertEqual(status, 200, ans)
            ra, rb = ans["heads"]
            p_a = 1 / (1 + math.exp(-(ra[taste] - rb[taste])))     # head `taste`'s Bradley-Terry model
            chosen = 0 if rng.random() < p_a else 1
            pi = ref.weights(ctx)
            p_pop = ref.preference(pi, ans["heads"][chosen], ans["heads"][1 - chosen])
            status, up = self.update(srv, {"event": ans["event"], "chosen": chosen, "rejected": 1 - chosen})
            self.assertEqual(status, 200, up)
            user_right.append(up["before"]["correct"])
            pop_right.append(p_pop > 0.5)
        status, summary = srv.json("GET", "/route/u1")
        self.assertEqual(status, 200)
        self.assertEqual(summary["updates"], n)
        self.assertEqual(summary["prequential"]["scored"], n)
        self.assertEqual(summary["prequential"]["correct"], sum(user_right))
        half = n // 2
        user_acc = sum(user_right[half:]) / (n - half)
        pop_acc = sum(pop_right[half:]) / (n - half)
        sys.stderr.write("\n%s: last-half prequential accuracy %.3f (population router %.3f), weights %s\n"
                         % (mode, user_acc, pop_acc, [round(x, 3) for x in summary["weights"]]))
        return summary, user_acc, pop_acc

    def test_hedge_learns_the_users_head(self):
        summary, user_acc, pop_acc = self.run_user("hedge")
        w = summary["weights"]
        self.assertEqual(max(range(4), key=lambda k: w[k]), 2, w)
        self.assertGreater(w[2], 0.6, w)
        self.assertGreater(user_acc, pop_acc + 0.05, (user_acc, pop_acc))

    def test_router_mode_learns_the_users_head(self):
        summary, user_acc, pop_acc = self.run_user("router")
        self.assertEqual(summary["mode"], "router")
        w = summary["weights"]
        self.assertEqual(max(range(4), key=lambda k: w[k]), 2, w)
        self.assertGreater(user_acc, pop_acc + 0.05, (user_acc, pop_acc))


class EventTest(Base):
    """What an event keeps: K population logits in hedge mode, the router
    features in router mode; feedback by event equals feedback with the
    embeddings (up to float rounding: BLAS takes the head rewards of a /score
    with several responses by another kernel than those of one response)."""

    DC = 2048   # a linear router's features are the whole context: 8 KB here

    def linear_model(self):
        path = os.path.join(self.tmp, "linear.safetensors")
        subprocess.run([BINARY, "demo-model", "--heads", "4", "--d", str(D), "--dc", str(self.DC),
                        "--router", "linear", "--out", path], check=True, capture_output=True)
        return path

    @staticmethod
    def gauge(srv, name):
        text = srv.request("GET", "/metrics")[2].decode()
        return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))

    def bytes_per_event(self, srv, rng):
        for _ in range(40):
            status, _ = srv.json("POST", "/score", {"user": "u", "context": vec(rng, self.DC),
                                                    "responses": [vec(rng), vec(rng)]})
            self.assertEqual(status, 200)
        kept = self.gauge(srv, "microrm_events_kept")
        self.assertEqual(kept, 40)
        return self.gauge(srv, "microrm_events_bytes") / kept

    def test_hedge_events_keep_logits_not_the_context(self):
        model = self.linear_model()
        rng = random.Random(8)
        hedge = self.bytes_per_event(self.start("--model", model, "--store", "memory"), rng)
        router = self.bytes_per_event(self.start("--model", model, "--store", "memory", "--adapt", "router"), rng)
        self.assertGreater(router, 4 * self.DC)          # the 2048 features, as floats
        self.assertLess(hedge, 1024)                     # 4 logits, 2 x 4 head rewards, ids
        self.assertGreater(router / hedge, 8)

    def test_feedback_by_event_equals_feedback_with_embeddings(self):
        model = self.linear_model()
        for mode in ("hedge", "router"):
            srv = self.start("--model", model, "--store", "memory", "--adapt", mode)
            rng = random.Random(9)
            for step in range(12):
                ctx, a, b = vec(rng, self.DC), vec(rng), vec(rng)
                status, ans = srv.json("POST", "/score", {"user": "by-event", "context": ctx, "responses": [a, b]})
                self.assertEqual(status, 200)
                chosen = step % 3 % 2
                s1, by_event = self.update(srv, {"event": ans["event"], "chosen": chosen, "rejected": 1 - chosen})
                s2, direct = self.update(srv, {"user": "direct", "context": ctx, "chosen": [a, b][chosen],
                                               "rejected": [a, b][1 - chosen]})
                self.assertEqual((s1, s2), (200, 200), (by_event, direct))
                self.assertAlmostEqual(by_event["before"]["p_chosen"], direct["before"]["p_chosen"], delta=1e-6)
                self.assertEqual(by_event["before"]["correct"], direct["before"]["correct"], mode)
                for x, y in zip(by_event["weights"], direct["weights"]):
                    self.assertAlmostEqual(x, y, delta=1e-6, msg=mode)
            probe = {"context": vec(rng, self.DC), "responses": [vec(rng)]}
            s1, one = srv.json("POST", "/score", dict(probe, user="by-event"))
            s2, two = srv.json("POST", "/score", dict(probe, user="direct"))
            self.assertEqual((s1, s2), (200, 200))
            self.assertEqual((one["user"]["updates"], two["user"]["updates"]), (12, 12))
            for x, y in zip(one["weights"] + one["rewards"], two["weights"] + two["rewards"]):
                self.assertAlmostEqual(x, y, delta=1e-5, msg=mode)


class ConcurrencyTest(Base):
    def test_64_clients_on_one_user_lose_nothing(self):
        srv = self.start()
        acked = [0] * 64
        errors = []

        def client(i):
            rng = random.Random(i)
            conn = srv.conn()
            try:
                for _ in range(8):
                    body = {"user": "shared", "context": vec(rng), "chosen": vec(rng), "rejected": vec(rng)}
                    status, _ = self.update(srv, body, conn=conn)
                    if status == 200:
                        acked[i] += 1
                    else:
                        errors.append(status)
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        status, summary = srv.json("GET", "/route/shared")
        self.assertEqual(summary["updates"], sum(acked))
        self.assertEqual(summary["version"], sum(acked))
        text = srv.request("GET", "/metrics")[2].decode()
        self.assertIn("microrm_feedback_total %d" % sum(acked), text)


class CrashTest(Base):
    """kill -9 under update load: every acknowledged update survives."""

    def test_kill_9_loses_no_acknowledged_update(self):
        rng = random.Random(9)
        last_acked = {}
        rounds = int(os.environ.get("MICRORM_CRASH_ROUNDS", "20"))
        for rnd in range(rounds):
            srv = self.start()
            stop = threading.Event()
            lock = threading.Lock()

            def client(i):
                crng = random.Random(rnd * 100 + i)
                user = "crash-%d" % (i % 4)
                conn = srv.conn(timeout=5)
                try:
                    while not stop.is_set():
                        body = {"user": user, "context": vec(crng), "chosen": vec(crng), "rejected": vec(crng)}
                        status, ans = self.update(srv, body, conn=conn)
                        if status == 200:
                            with lock:
                                last_acked[user] = max(last_acked.get(user, 0), ans["version"])
                except Exception:
                    pass   # the server died under us: expected
                finally:
                    conn.close()

            threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            time.sleep(0.1 + rng.random() * 0.3)
            srv.proc.kill()
            srv.proc.wait()
            stop.set()
            for t in threads:
                t.join()
            srv.stop()
            self.servers.remove(srv)
        self.assertTrue(last_acked)
        srv = self.start()
        for user, version in last_acked.items():
            status, summary = srv.json("GET", "/route/" + user)
            self.assertEqual(status, 200, user)
            self.assertGreaterEqual(summary["version"], version, user)
            self.assertEqual(summary["updates"], summary["version"])


class LifecycleTest(Base):
    def one_update(self, srv, user="bob", rng=None, **extra):
        rng = rng or random.Random(1)
        body = {"user": user, "context": vec(rng), "chosen": vec(rng), "rejected": vec(rng)}
        body.update(extra)
        return self.update(srv, body)

    def test_state_survives_restart_and_delete_removes_it_from_disk(self):
        srv = self.start()
        for _ in range(3):
            self.assertEqual(self.one_update(srv)[0], 200)
        srv.stop()
        srv = self.start()
        status, summary = srv.json("GET", "/route/bob")
        self.assertEqual((status, summary["version"], summary["updates"]), (200, 3, 3))
        self.assertEqual(srv.request("DELETE", "/route/bob")[0], 204)
        self.assertEqual(srv.json("GET", "/route/bob")[0], 404)
        srv.stop()
        srv = self.start()
        self.assertEqual(srv.json("GET", "/route/bob")[0], 404)
        body = {"user": "bob", "context": vec(random.Random(2)), "responses": [vec(random.Random(3))]}
        self.assertFalse(srv.json("POST", "/score", body)[1]["user"]["known"])

    def test_idempotent_retry_applies_once(self):
        srv = self.start()
        s1, a1 = self.one_update(srv, id="req-1")
        s2, a2 = self.one_update(srv, id="req-1")
        self.assertEqual((s1, s2), (200, 200))
        self.assertFalse(a1["replayed"])
        self.assertTrue(a2["replayed"])
        for k in ("version", "updates", "weights", "before"):
            self.assertEqual(a1[k], a2[k], k)
        self.assertEqual(srv.json("GET", "/route/bob")[1]["updates"], 1)
        s3, a3 = self.one_update(srv, id="req-2")
        self.assertEqual(a3["updates"], 2)

    def test_expired_event_is_404(self):
        srv = self.start("--event_ttl", "1")
        rng = random.Random(4)
        status, ans = srv.json("POST", "/score", {"user": "eve", "context": vec(rng),
                                                  "responses": [vec(rng), vec(rng)], "event": "my-event-1"})
        self.assertEqual(ans["event"], "my-event-1")
        time.sleep(1.3)
        status, err = self.update(srv, {"event": "my-event-1", "chosen": 0, "rejected": 1})
        self.assertEqual((status, err["error"]["code"]), (404, "event_not_found"))
        self.assertIn("expired", err["error"]["message"])

    def test_event_of_another_user_cannot_update(self):
        srv = self.start()
        rng = random.Random(5)
        _, ans = srv.json("POST", "/score", {"user": "alice", "context": vec(rng),
                                             "responses": [vec(rng), vec(rng)]})
        status, err = self.update(srv, {"user": "mallory", "event": ans["event"], "chosen": 0, "rejected": 1})
        self.assertEqual(status, 404)
        self.assertEqual(srv.json("GET", "/route/mallory")[0], 404)
        self.assertEqual(srv.json("GET", "/route/alice")[0], 404)
        # and a caller-chosen id already held by alice cannot be taken over
        status, err = srv.json("POST", "/score", {"user": "mallory", "context": vec(rng),
                                                  "responses": [vec(rng)], "event": ans["event"]})
        self.assertEqual((status, err["error"]["code"]), (409, "event_conflict"))

    def test_list_form_applies_in_order_atomically(self):
        srv = self.start()
        rng = random.Random(6)
        _, ans = srv.json("POST", "/score", {"user": "lia", "context": vec(rng), "responses": [vec(rng), vec(rng)]})
        items = [{"context": vec(rng), "chosen": vec(rng), "rejected": vec(rng)},
                 {"event": ans["event"], "chosen": 1, "rejected": 0}]
        status, up = self.update(srv, {"user": "lia", "feedback": items})
        self.assertEqual(status, 200, up)
        self.assertEqual((up["version"], up["updates"], len(up["before"])), (1, 2, 2))
        # one bad item: nothing is applied
        items.append({"event": "no-such-event", "chosen": 0, "rejected": 1})
        status, err = self.update(srv, {"user": "lia", "feedback": items})
        self.assertEqual(status, 404)
        self.assertEqual(err["error"]["field"], "feedback[2].event")
        self.assertEqual(srv.json("GET", "/route/lia")[1]["updates"], 2)

    def test_bad_feedback_changes_nothing(self):
        srv = self.start()
        self.assertEqual(self.one_update(srv, user="val")[0], 200)
        rng = random.Random(7)
        _, ans = srv.json("POST", "/score", {"user": "val", "context": vec(rng), "responses": [vec(rng), vec(rng)]})
        good = {"user": "val", "context": vec(rng), "chosen": vec(rng), "rejected": vec(rng)}
        cases = [
            ({k: v for k, v in good.items() if k != "user"}, 400),
            (dict(good, user="bad user!"), 400),
            (dict(good, chosen=vec(rng, 63)), 400),
            (json.dumps(good).replace(str(good["chosen"][0]), "NaN", 1), 400),
            ({"user": "val", "event": "nope", "chosen": 0, "rejected": 1}, 404),
            ({"user": "val", "event": ans["event"], "chosen": 0, "rejected": 5}, 422),
            ({"user": "val", "event": ans["event"], "chosen": 1, "rejected": 1}, 422),
            ({"user": "val", "feedback": []}, 422),
            ("{", 400),
        ]
        for body, want in cases:
            status, err = self.update(srv, body)
            self.assertEqual(status, want, (str(body)[:80], err))
            self.assertIn("message", err["error"])
        summary = srv.json("GET", "/route/val")[1]
        self.assertEqual((summary["version"], summary["updates"]), (1, 1))
        status, _, _ = srv.request("GET", "/route/bad%20user")
        self.assertEqual(status, 400)

    def test_state_from_another_model_is_reset_not_misapplied(self):
        other = os.path.join(self.tmp, "other.safetensors")
        subprocess.run([BINARY, "demo-model", "--out", other, "--seed", "5"], check=True, capture_output=True)
        srv = self.start()
        self.assertEqual(self.one_update(srv, user="mo")[0], 200)
        srv.stop()
        srv = self.start("--model", other)
        self.assertEqual(srv.json("GET", "/route/mo")[0], 404)    # unknown under this model
        status, up = self.one_update(srv, user="mo")
        self.assertEqual((status, up["version"], up["updates"]), (200, 1, 1))
        text = srv.request("GET", "/metrics")[2].decode()
        self.assertIn("microrm_user_resets_total 1", text)

    def test_small_cache_still_serves_every_user_from_the_store(self):
        srv = self.start("--user_cache", "8")
        for i in range(40):
            self.assertEqual(self.one_update(srv, user="c%d" % i, rng=random.Random(i))[0], 200)
        for i in range(40):
            status, summary = srv.json("GET", "/route/c%d" % i)
            self.assertEqual((status, summary["updates"]), (200, 1))
        text = srv.request("GET", "/metrics")[2].decode()
        cached = int([l for l in text.splitlines() if l.startswith("microrm_users_cached ")][0].split()[1])
        self.assertLessEqual(cached, 8 + 64)   # a stripe may hold one over its share
        self.assertIn("microrm_users_stored 40", text)

    def test_full_store_answers_503_and_recovers_when_space_returns(self):
        srv = self.start("--lmdb_map_size", "256KiB")
        acked, full_at = [], None
        for i in range(5000):
            status, ans = self.one_update(srv, user="f%d" % i, rng=random.Random(i))
            if status == 200:
                acked.append(i)
                continue
            self.assertEqual((status, ans["error"]["code"]), (503, "store_unavailable"), ans)
            self.assertIn("full", ans["error"]["message"])
            full_at = i
            break
        self.assertIsNotNone(full_at, "the store never filled up")
        self.assertGreater(len(acked), 10)
        # nothing unacknowledged was kept, everything acknowledged was
        self.assertEqual(srv.json("GET", "/route/f%d" % full_at)[0], 404)
        for i in acked[::7]:
            self.assertEqual(srv.json("GET", "/route/f%d" % i)[1]["updates"], 1)
        self.assertEqual(srv.json("GET", "/healthz")[0], 200)
        # space returns (the operator raises the limit): updates are acknowledged again
        srv.stop()
        srv = self.start("--lmdb_map_size", "8MiB")
        for i in acked[::7]:
            self.assertEqual(srv.json("GET", "/route/f%d" % i)[1]["updates"], 1)
        status, ans = self.one_update(srv, user="f%d" % full_at, rng=random.Random(full_at))
        self.assertEqual((status, ans["updates"]), (200, 1), ans)
        self.assertEqual(srv.request("DELETE", "/route/f%d" % acked[-1])[0], 204)

    def test_relaxed_durability_keeps_updates_after_kill(self):
        srv = self.start("--durability", "relaxed", "--sync_interval_ms", "50")
        for _ in range(5):
            self.assertEqual(self.one_update(srv, user="rex")[0], 200)
        srv.proc.kill()
        srv.proc.wait()
        srv = self.start()
        self.assertEqual(srv.json("GET", "/route/rex")[1]["updates"], 5)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
