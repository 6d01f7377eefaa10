"""End-to-end tests of `microrm serve`: the real binary, real HTTP on loopback.

usage: server_test.py MICRORM_BINARY [unittest args]
"""
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_MODEL, SOURCE_ROOT, ReferenceModel, Server, b64_f32  # noqa: E402

BINARY = None


def demo_body(n=3, seed=7, d=64, dc=64):
    rng = random.Random(seed)
    return {
        "context": [round(rng.gauss(0, 1), 6) for _ in range(dc)],
        "responses": [[round(rng.gauss(0, 1), 6) for _ in range(d)] for _ in range(n)],
    }


def error_of(status_body):
    status, body = status_body
    return status, body["error"]["code"], body["error"]["message"]


class ScoreTest(unittest.TestCase):
    """One server on the demo model; every endpoint and every 4xx of /score."""

    @classmethod
    def setUpClass(cls):
        cls.ref = ReferenceModel(DEMO_MODEL)
        cls.srv = Server(BINARY, "--max_responses", "8", "--max_batch", "4", "--max_body_bytes", "200000")

    @classmethod
    def tearDownClass(cls):
        cls.assertEqual = None
        rc = cls.srv.stop()
        assert rc == 0, "server exit status %r\n%s" % (rc, cls.srv.log())

    def check_scores(self, body, answer):
        pi = self.ref.weights(body["context"])
        heads = [self.ref.heads(a) for a in body["responses"]]
        for k in range(self.ref.K):
            self.assertAlmostEqual(answer["weights"][k], pi[k], delta=1e-5)
        for i, r in enumerate(heads):
            self.assertAlmostEqual(answer["rewards"][i], self.ref.reward(pi, r), delta=1e-4 * (1 + abs(self.ref.reward(pi, r))))
        return pi, heads

    def test_probes(self):
        for path in ("/healthz", "/readyz"):
            status, hdrs, data = self.srv.request("GET", path)
            self.assertEqual(status, 200, path)
            self.assertIn("x-request-id", hdrs)
            self.assertIn("x-compute-time", hdrs)
            self.assertTrue(hdrs["x-compute-time"].isdigit())

    def test_request_id_is_echoed_when_plain_and_made_otherwise(self):
        _, hdrs, _ = self.srv.request("GET", "/healthz", headers={"X-Request-Id": "trace-42.a_b"})
        self.assertEqual(hdrs["x-request-id"], "trace-42.a_b")
        _, hdrs, _ = self.srv.request("GET", "/healthz", headers={"X-Request-Id": "bad id\"<>"})
        self.assertNotEqual(hdrs["x-request-id"], "bad id\"<>")
        _, h1, _ = self.srv.request("GET", "/healthz")
        _, h2, _ = self.srv.request("GET", "/healthz")
        self.assertNotEqual(h1["x-request-id"], h2["x-request-id"])

    def test_model(self):
        status, m = self.srv.json("GET", "/model")
        self.assertEqual(status, 200)
        self.assertEqual((m["K"], m["d"], m["dc"]), (4, 64, 64))
        self.assertEqual(m["heads"], ["helpfulness", "harmlessness", "humor", "conciseness"])
        self.assertEqual(m["router"], {"kind": "mlp", "hidden": 16})
        self.assertEqual(m["masked_heads"], [])
        self.assertEqual(m["score_mode"], "linear")
        self.assertRegex(m["fingerprint"], r"^[0-9a-f]{64}$")
        out = subprocess.run([BINARY, "inspect", DEMO_MODEL], capture_output=True, text=True, check=True)
        self.assertIn(m["fingerprint"], out.stdout)

    def test_score_matches_independent_computation(self):
        body = demo_body(3)
        body["pairs"] = [[0, 1], [2, 0]]
        body["include_heads"] = True
        status, ans = self.srv.json("POST", "/score", body)
        self.assertEqual(status, 200, ans)
        pi, heads = self.check_scores(body, ans)
        self.assertAlmostEqual(sum(ans["weights"]), 1.0, delta=1e-6)
        for i in range(3):
            for k in range(4):
                self.assertAlmostEqual(ans["heads"][i][k], heads[i][k], delta=1e-4)
        for p, (i, j) in enumerate(body["pairs"]):
            self.assertAlmostEqual(ans["preferences"][p], self.ref.preference(pi, heads[i], heads[j]), delta=1e-5)
        status, m = self.srv.json("GET", "/model")
        self.assertEqual(ans["model"], m["fingerprint"])
        self.assertNotIn("heads", self.srv.json("POST", "/score", demo_body(2))[1])

    def test_shipped_example_works(self):
        with open(os.path.join(SOURCE_ROOT, "examples", "score-demo.json")) as f:
            body = json.load(f)
        status, ans = self.srv.json("POST", "/score", body)
        self.assertEqual(status, 200, ans)
        self.check_scores(body, ans)
        with open(os.path.join(SOURCE_ROOT, "examples", "score-demo-b64.json")) as f:
            status, ans64 = self.srv.json("POST", "/score", json.load(f))
        self.assertEqual(status, 200)
        self.assertEqual(ans64["rewards"], ans["rewards"])

    def test_base64_gives_the_same_answer_as_arrays(self):
        body = demo_body(2, seed=11)
        b64 = {"context": b64_f32(body["context"]), "responses": [b64_f32(r) for r in body["responses"]]}
        s1, a1 = self.srv.json("POST", "/score", body)
        s2, a2 = self.srv.json("POST", "/score", b64)
        self.assertEqual((s1, s2), (200, 200))
        self.assertEqual(a1["rewards"], a2["rewards"])
        self.assertEqual(a1["weights"], a2["weights"])

    def test_batch(self):
        items = [demo_body(2, seed=s) for s in (1, 2, 3)]
        status, ans = self.srv.json("POST", "/score", {"batch": items})
        self.assertEqual(status, 200, ans)
        self.assertEqual(len(ans["results"]), 3)
        for body, res in zip(items, ans["results"]):
            self.check_scores(body, res)

    def test_unknown_user_uses_population_router(self):
        body = demo_body(2)
        body["user"] = "alice"
        status, ans = self.srv.json("POST", "/score", body)
        self.assertEqual(status, 200)
        self.assertEqual(ans["user"]["id"], "alice")
        self.assertFalse(ans["user"]["known"])
        self.check_scores(body, ans)

    def test_bad_requests(self):
        good = demo_body(2)
        cases = [
            ('{"context": [1,2', 400, "bad_json"),
            ("[]", 400, None),
            ('{"context": "x"}', 400, None),
            (dict(good, context=good["context"][:63]), 400, "dimension_mismatch"),
            (dict(good, responses=[good["responses"][0], good["responses"][1][:10]]), 400, "dimension_mismatch"),
            (json.dumps(good).replace(str(good["context"][0]), "NaN", 1), 400, "bad_json"),
            (dict(good, context=[1e39] * 64), 400, None),
            (dict(good, context="*" + b64_f32(good["context"])[1:]), 400, "bad_base64"),
            (dict(good, context=b64_f32(good["context"])[:-4]), 400, "dimension_mismatch"),
            (dict(good, responses=[]), 422, "empty"),
            (dict(good, responses=[good["responses"][0]] * 9), 422, "too_many"),
            (dict(good, pairs=[[0, 5]]), 422, "bad_pair"),
            (dict(good, pairs=[[1, 1]]), 422, "bad_pair"),
            ({"responses": good["responses"]}, 400, "missing_field"),
            ({"batch": [good] * 5}, 422, "too_many"),
        ]
        for body, want_status, want_code in cases:
            status, ans = self.srv.json("POST", "/score", body)
            self.assertEqual(status, want_status, (str(body)[:80], ans))
            self.assertIn("message", ans["error"])
            if want_code:
                self.assertEqual(ans["error"]["code"], want_code, ans)
        status, ans = self.srv.json("POST", "/score", dict(good, context=good["context"][:63]))
        self.assertEqual(ans["error"]["field"], "context")
        self.assertIn("expected 64 values, got 63", ans["error"]["message"])
        status, ans = self.srv.json("POST", "/score", dict(good, responses=[good["responses"][0], [0.5] * 3]))
        self.assertTrue(ans["error"]["message"].startswith("responses[1]: expected 64 values, got 3"), ans)
        # the server still serves after all that
        self.assertEqual(self.srv.json("POST", "/score", good)[0], 200)

    def test_http_level_errors(self):
        self.assertEqual(error_of(self.srv.json("GET", "/nope"))[:2], (404, "not_found"))
        status, hdrs, data = self.srv.request("GET", "/score")
        self.assertEqual(status, 405)
        self.assertEqual(hdrs["allow"], "POST")
        self.assertEqual(json.loads(data)["error"]["code"], "method_not_allowed")
        status, hdrs, data = self.srv.request("POST", "/score", body="x=1",
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, json.loads(data)["error"]["code"]), (415, "unsupported_media_type"))
        big = json.dumps(demo_body(8)) + " " * 200000
        status, _, data = self.srv.request("POST", "/score", body=big)
        self.assertEqual((status, json.loads(data)["error"]["code"]), (413, "body_too_large"))
        self.assertEqual(self.srv.json("GET", "/healthz")[0], 200)

    def test_keep_alive_connection_serves_many_requests(self):
        c = self.srv.conn()
        for _ in range(20):
            status, _, _ = self.srv.request("POST", "/score", body=demo_body(2), conn=c)
            self.assertEqual(status, 200)
        c.close()

    def test_metrics(self):
        self.srv.json("POST", "/score", demo_body(2))
        self.srv.json("GET", "/nope")
        status, hdrs, data = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"))
        text = data.decode()
        self.assertRegex(text, r'microrm_http_requests_total\{method="POST",endpoint="/score",status="200"\} [1-9]')
        self.assertRegex(text, r'microrm_http_requests_total\{method="other",endpoint="other",status="404"\} [1-9]')
        self.assertRegex(text, r'microrm_http_request_duration_seconds_bucket\{method="POST",endpoint="/score",le="\+Inf"\} [1-9]')
        self.assertIn("microrm_http_requests_in_flight ", text)
        fp = self.srv.json("GET", "/model")[1]["fingerprint"]
        self.assertIn('fingerprint="%s"' % fp, text)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name_labels, value = line.rsplit(" ", 1)
                float(value)


class AuthTest(unittest.TestCase):
    def test_bearer_token(self):
        srv = Server(BINARY, "--auth_token", "s3cret")
        try:
            body = demo_body(2)
            self.assertEqual(error_of(srv.json("POST", "/score", body))[:2], (401, "unauthorized"))
            self.assertEqual(srv.json("POST", "/score", body, {"Authorization": "Bearer wrong"})[0], 401)
            self.assertEqual(srv.json("POST", "/score", body, {"Authorization": "Bearer s3cre"})[0], 401)
            self.assertEqual(srv.json("GET", "/model")[0], 401)
            self.assertEqual(srv.json("POST", "/score", body, {"Authorization": "Bearer s3cret"})[0], 200)
            for path in ("/healthz", "/readyz", "/metrics"):
                self.assertEqual(srv.request("GET", path)[0], 200, path)
        finally:
            self.assertEqual(srv.stop(), 0)


class ScoreModeAndMaskTest(unittest.TestCase):
    def test_logsigmoid_and_masked_heads(self):
        ref = ReferenceModel(DEMO_MODEL)
        srv = Server(BINARY, "--score_mode", "logsigmoid", "--mask_heads", "humor,0")
        try:
            status, m = srv.json("GET", "/model")
            self.assertEqual((m["score_mode"], m["masked_heads"]), ("logsigmoid", [0, 2]))
            body = demo_body(2, seed=5)
            status, ans = srv.json("POST", "/score", body)
            pi = ref.weights(body["context"], mask=(0, 2))
            self.assertEqual(ans["weights"][0], 0)
            self.assertEqual(ans["weights"][2], 0)
            for k in range(4):
                self.assertAlmostEqual(ans["weights"][k], pi[k], delta=1e-5)
            for i, a in enumerate(body["responses"]):
                self.assertAlmostEqual(ans["rewards"][i], ref.reward(pi, ref.heads(a), "logsigmoid"), delta=1e-4)
        finally:
            self.assertEqual(srv.stop(), 0)


class OffloadTest(unittest.TestCase):
    """Requests computed on the polling threads and on the worker pool give the
    same answers, and the same user state after an update."""

    def test_in_place_and_offloaded_answers_agree(self):
        everything_offloaded = Server(BINARY, "--offload_bytes", "0", "--store", "memory")
        large_offloaded = Server(BINARY, "--offload_bytes", "4KiB", "--store", "memory")
        try:
            small = demo_body(2, seed=5)
            small.update(pairs=[[0, 1]], include_heads=True)
            small_b64 = {"context": b64_f32(small["context"]), "responses": [b64_f32(r) for r in small["responses"]]}
            # ~300 KB: over both thresholds (and over the default 256 KiB)
            big = {"batch": [dict(demo_body(3, seed=s), include_heads=True) for s in range(120)]}
            self.assertGreater(len(json.dumps(big)), 256 * 1024)
            update = {"user": "carol", "context": small["context"], "chosen": small["responses"][0],
                      "rejected": small["responses"][1]}
            scored_as_carol = dict(small, user="carol")
            answers = []
            for srv in (everything_offloaded, large_offloaded):
                got = []
                for body in (small, small_b64, big):
                    status, ans = srv.json("POST", "/score", body)
                    self.assertEqual(status, 200, ans)
                    got.append(ans)
                status, up = srv.json("POST", "/route/update", update)
                self.assertEqual(status, 200, up)
                status, ans = srv.json("POST", "/score", scored_as_carol)
                self.assertEqual(status, 200, ans)
                self.assertTrue(ans["user"]["known"])
                got.append(ans)
                answers.append(got)
            for a, b in zip(*answers):
                for ans in (a, b):   # event ids differ from server to server
                    ans.pop("event", None)
                    for res in ans.get("results", []):
                        res.pop("event", None)
                self.assertEqual(a, b)
            self.assertEqual(len(answers[0][2]["results"]), 120)
        finally:
            self.assertEqual(everything_offloaded.stop(), 0)
            self.assertEqual(large_offloaded.stop(), 0)


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="microrm-e2e-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def make_model(self, path, seed):
        subprocess.run([BINARY, "demo-model", "--out", path, "--seed", str(seed)], check=True,
                       capture_output=True)

    def test_missing_model_is_a_clear_error(self):
        p = subprocess.run([BINARY, "serve", "--port", "0", "--model", os.path.join(self.tmp, "none.safetensors")],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("none.safetensors", p.stderr)

    def test_bad_config_value_exits_2(self):
        p = subprocess.run([BINARY, "serve", "--port", "70000"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("port", p.stderr)
        p = subprocess.run([BINARY, "serve", "--print-config", "--port", "9001"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"(?m)^port\s+9001$")

    def test_reload_swaps_the_model_and_survives_a_bad_file(self):
        path = os.path.join(self.tmp, "m.safetensors")
        self.make_model(path, 1)
        srv = Server(BINARY, "--model", path)
        try:
            fp1 = srv.json("GET", "/model")[1]["fingerprint"]
            self.make_model(path + ".new", 2)
            os.replace(path + ".new", path)
            srv.signal(signal.SIGHUP)
            self.assertTrue(srv.wait_log(r"reloaded model"), srv.log())
            fp2 = srv.json("GET", "/model")[1]["fingerprint"]
            self.assertNotEqual(fp1, fp2)
            self.assertEqual(srv.json("POST", "/score", demo_body(2))[1]["model"], fp2)
            with open(path, "wb") as f:
                f.write(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
            srv.signal(signal.SIGHUP)
            self.assertTrue(srv.wait_log(r"reload failed"), srv.log())
            self.assertEqual(srv.json("GET", "/model")[1]["fingerprint"], fp2)
            self.assertEqual(srv.json("POST", "/score", demo_body(2))[0], 200)
            text = srv.request("GET", "/metrics")[2].decode()
            self.assertIn('microrm_model_reloads_total{result="failed"} 1', text)
            self.assertIn('microrm_model_reloads_total{result="ok"} 1', text)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_drain_finishes_requests_in_flight(self):
        srv = Server(BINARY, "--drain_timeout_ms", "5000")
        body = json.dumps(demo_body(3)).encode()
        idle = srv.conn()
        self.assertEqual(srv.request("GET", "/readyz", conn=idle)[0], 200)
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
        time.sleep(0.2)
        srv.signal(signal.SIGTERM)
        self.assertTrue(srv.wait_log(r"draining"))
        # readiness is gone (on a connection opened before) and no new connection is accepted
        status, hdrs, data = srv.request("GET", "/readyz", conn=idle)
        self.assertEqual((status, json.loads(data)["status"]), (503, "draining"))
        self.assertEqual(hdrs.get("connection"), "close")
        idle.close()
        time.sleep(0.1)
        with self.assertRaises(OSError):
            c = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if not c.recv(100):
                raise ConnectionResetError("closed")
        self.assertIsNone(srv.proc.poll(), "server exited before the request in flight finished")
        s.sendall(body[100:])
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply[:200])
        s.close()
        self.assertEqual(srv.wait(20), 0)
        srv.stop()

    def test_overload_sheds_with_retry_after(self):
        srv = Server(BINARY, "--max_in_flight", "1", "--store", "memory")
        try:
            body = json.dumps(demo_body(2)).encode()
            slow = socket.create_connection(("127.0.0.1", srv.port))
            slow.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
            time.sleep(0.2)   # the slow request is now in flight
            status, hdrs, data = srv.request("POST", "/score", body=demo_body(2))
            self.assertEqual((status, json.loads(data)["error"]["code"]), (503, "overloaded"))
            self.assertEqual(hdrs["retry-after"], "1")
            self.assertEqual(srv.request("GET", "/healthz")[0], 200)     # probes are exempt
            slow.sendall(body[10:])
            self.assertTrue(slow.recv(100).startswith(b"HTTP/1.1 200"))
            slow.close()
            time.sleep(0.1)
            self.assertEqual(srv.json("POST", "/score", demo_body(2))[0], 200)
            self.assertIn("microrm_http_requests_shed_total 1", srv.request("GET", "/metrics")[2].decode())
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_per_ip_connection_limit(self):
        srv = Server(BINARY, "--max_connections_per_ip", "2", "--store", "memory")
        try:
            held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
            time.sleep(0.2)
            extra = socket.create_connection(("127.0.0.1", srv.port))
            extra.settimeout(5)
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                data = extra.recv(100)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            self.assertEqual(data, b"")   # refused: closed without an answer
            extra.close()
            for h in held:
                h.close()
            time.sleep(0.2)
            self.assertEqual(srv.json("GET", "/healthz")[0], 200)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_out_of_descriptors_pauses_accepting_then_serves_the_backlog(self):
        srv = Server(BINARY, "--store", "memory", max_fds=48)
        try:
            keep = srv.conn()
            self.assertEqual(srv.request("GET", "/healthz", conn=keep)[0], 200)
            # more connections than descriptors: the kernel completes them all,
            # the server takes what it can and leaves the rest in the backlog
            held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(60)]
            self.assertTrue(srv.wait_log(r"cannot accept a connection: .*pausing accepts"), srv.log())
            self.assertEqual(len(re.findall(r"pausing accepts", srv.log())), 1)   # said once, not each pause
            # a connection it already has is served meanwhile
            self.assertEqual(srv.request("GET", "/healthz", conn=keep)[0], 200)
            for h in held[:50]:
                h.close()
            # descriptors are free again: a waiting connection is now taken and served
            waiting = held[-1]
            waiting.settimeout(10)
            waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(waiting.recv(100).startswith(b"HTTP/1.1 200"))
            for h in held[50:]:
                h.close()
            keep.close()
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_stalled_client_is_disconnected(self):
        srv = Server(BINARY, "--connection_timeout_ms", "1000")
        try:
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Le")
            s.settimeout(10)
            t0 = time.time()
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"")
            self.assertLess(time.time() - t0, 8)
            s.close()
            self.assertEqual(srv.json("GET", "/healthz")[0], 200)
        finally:
            self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
