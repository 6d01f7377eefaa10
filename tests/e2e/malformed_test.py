"""Malformed input against the real server (issue 5, item 2).

One `microrm serve` with small limits and two users with a known state. Every
case checks: the documented 4xx status and a JSON error body
{"error": {"code", "message"}} where the answer is ours (a few HTTP framing
errors are answered by libmicrohttpd itself: a 4xx or a closed connection);
that no user's version, no feedback count and no stored-user count changed;
and that the server still serves (/healthz 200 and a good /score 200).
Raw sockets where http.client cannot say the request (chunked framing, lying
Content-Length, slowloris, 1,000 idle connections).

usage: malformed_test.py MICRORM_BINARY [unittest args]
"""
import base64
import http.client
import json
import os
import random
import re
import selectors
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server, b64_f32  # noqa: E402

BINARY = None
D = 64                      # the demo model: d = dc = 64
TIMEOUT_S = 2               # --connection_timeout_ms 2000
CASES = [0]                 # distinct malformed requests checked (printed at the end)


def vec(rng, n=D):
    return [round(rng.gauss(0, 1), 5) for _ in range(n)]


def b64_f16(vals):
    return base64.b64encode(struct.pack("<%de" % len(vals), *vals)).decode()


def b64_raw(data):
    return base64.b64encode(data).decode()


def chunked(data, size=100):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def raw_exchange(port, data, wait=6.0):
    """Send bytes on a fresh connection, read until the server closes it or
    `wait` passes. Returns (bytes read, how it ended: eof|reset|open, seconds)."""
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    got, how = b"", "open"
    try:
        s.sendall(data)
        s.settimeout(wait)
        while True:
            part = s.recv(65536)
            if not part:
                how = "eof"
                break
            got += part
    except socket.timeout:
        how = "open"
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    finally:
        s.close()
    return got, how, time.time() - t0


def parse_answers(data):
    """The HTTP answers in a byte stream: [(status, headers, body)]."""
    out = []
    while data.startswith(b"HTTP/1."):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode("latin-1")
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


class MalformedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(BINARY, "--max_responses", "64", "--max_batch", "64", "--max_body_bytes", "4MiB",
                         "--connection_timeout_ms", str(TIMEOUT_S * 1000))
        rng = random.Random(11)
        cls.rng = rng
        cls.ctx, cls.r0, cls.r1 = vec(rng), vec(rng), vec(rng)
        cls.good = {"context": cls.ctx, "responses": [cls.r0, cls.r1]}
        cls.good_update = {"user": "victim", "context": cls.ctx, "chosen": cls.r0, "rejected": cls.r1}
        # two users with a known state, and an event of each
        for user, n in (("victim", 3), ("other", 1)):
            for _ in range(n):
                body = {"user": user, "context": vec(rng), "chosen": vec(rng), "rejected": vec(rng)}
                status, ans = cls.srv.json("POST", "/route/update", body)
                assert status == 200, ans
        status, ans = cls.srv.json("POST", "/score", dict(cls.good, user="victim"))
        assert status == 200, ans
        cls.victim_event = ans["event"]
        status, ans = cls.srv.json("POST", "/score", dict(cls.good, user="other"))
        assert status == 200, ans
        cls.other_event = ans["event"]

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        sys.stderr.write("\nmalformed cases checked: %d\n" % CASES[0])
        assert rc == 0, "server exit status %r\n%s" % (rc, cls.srv.log()[-3000:])

    # --- the invariants ---

    def snapshot(self):
        snap = {}
        for user in ("victim", "other"):
            status, s = self.srv.json("GET", "/route/" + user)
            self.assertEqual(status, 200, s)
            snap[user] = (s["version"], s["updates"])
        text = self.srv.request("GET", "/metrics")[2].decode()
        for name in ("microrm_feedback_total", "microrm_users_stored"):
            m = re.search(r"(?m)^%s (\S+)$" % name, text)
            self.assertIsNotNone(m, name)
            snap[name] = float(m.group(1))
        return snap

    def assert_unharmed(self, before, what):
        self.assertEqual(self.snapshot(), before, "state changed by: %s" % what)
        self.assertEqual(self.srv.request("GET", "/healthz")[0], 200, what)
        status, ans = self.srv.json("POST", "/score", self.good)
        self.assertEqual(status, 200, (what, ans))
        CASES[0] += 1

    def check_error(self, status, hdrs, data, want_status, want_codes, what):
        self.assertEqual(status, want_status, (what, data[:300]))
        self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), (what, hdrs))
        err = json.loads(data)["error"]
        self.assertIn(err["code"], want_codes, (what, err))
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"], what)
        return err

    def reject(self, path, body, want_status, *want_codes, field=None, what=None):
        """POST a malformed body: the documented error, nothing changed, still serving."""
        what = what or "%s %s" % (path, str(body)[:100])
        before = self.snapshot()
        status, hdrs, data = self.srv.request("POST", path, body=body)
        err = self.check_error(status, hdrs, data, want_status, want_codes, what)
        if field is not None:
            self.assertEqual(err.get("field"), field, (what, err))
        self.assert_unharmed(before, what)
        return err

    def run_table(self, path, cases):
        for name, body, status, codes in cases:
            with self.subTest(name):
                self.reject(path, body, status, *codes, what=name)

    # --- JSON syntax ---

    def test_truncated_json(self):
        text = json.dumps(self.good)
        cases = [("cut after the brace", "{", 400, ["bad_json"]),
                 ("cut in an array", '{"context": [1,2', 400, ["bad_json"]),
                 ("cut in half", text[:len(text) // 2], 400, ["bad_json"]),
                 ("cut before the last brace", text[:-1], 400, ["bad_json"]),
                 ("cut inside a key", '{"conte', 400, ["bad_json"]),
                 ("cut after a key", '{"context":', 400, ["bad_json"]),
                 ("cut in a base64 string", '{"context": "%s' % b64_f32(self.ctx)[:50], 400, ["bad_json"]),
                 ("empty body", "", 400, ["bad_json"]),
                 ("only whitespace", " \n\t ", 400, ["bad_json"]),
                 ("data after the value", text + "{}", 400, ["bad_json"])]
        self.run_table("/score", cases)
        update = json.dumps(self.good_update)
        self.run_table("/route/update", [("update cut in half", update[:len(update) // 2], 400, ["bad_json"]),
                                         ("update cut after the brace", "{", 400, ["bad_json"])])

    def test_nesting_10000_deep(self):
        deep_array = "[" * 10000 + "]" * 10000
        deep_object = '{"a":' * 10000 + "1" + "}" * 10000
        tail = ', "context": %s, "responses": %s}' % (json.dumps(self.ctx), json.dumps([self.r0, self.r1]))
        cases = [("deep array in an unknown field", '{"x": ' + deep_array + tail, 400, ["bad_json"]),
                 ("deep object in an unknown field", '{"x": ' + deep_object + tail, 400, ["bad_json"]),
                 ("deep array unclosed", "[" * 10000, 400, ["bad_json"]),
                 ("deep array as the context", '{"context": ' + deep_array + "}", 400, ["bad_json", "bad_type"]),
                 ("deep in a batch item", '{"batch": [{"x": ' + deep_array + "}]}", 400, ["bad_json"])]
        self.run_table("/score", cases)
        self.run_table("/route/update", [("deep array in an update", '{"user": "victim", "x": ' + deep_array + "}",
                                          400, ["bad_json"]),
                                         ("deep feedback list", '{"user": "victim", "feedback": ' + deep_array + "}",
                                          400, ["bad_json", "bad_type"])])

    def test_numbers_beyond_float32(self):
        text = json.dumps(self.good)
        first = str(self.ctx[0])
        cases = [("1e39", dict(self.good, context=[1e39] + self.ctx[1:]), 400, ["non_finite"]),
                 ("-3.5e38", dict(self.good, responses=[self.r0, [-3.5e38] + self.r1[1:]]), 400, ["non_finite"]),
                 # beyond the double range too: the contract allows bad_json there
                 ("1e400", text.replace(first, "1e400", 1), 400, ["non_finite", "bad_json"]),
                 ("400-digit integer", text.replace(first, "9" * 400, 1), 400, ["non_finite", "bad_json"])]
        self.run_table("/score", cases)
        self.run_table("/route/update", [("update 1e39", dict(self.good_update, chosen=[1e39] * D),
                                          400, ["non_finite"])])

    def test_nan_and_infinity(self):
        text = json.dumps(self.good)
        first, later = str(self.ctx[0]), str(self.r1[5])
        cases = [("NaN literal", text.replace(first, "NaN", 1), 400, ["bad_json"]),
                 ("Infinity literal", text.replace(first, "Infinity", 1), 400, ["bad_json"]),
                 ("-Infinity literal", text.replace(later, "-Infinity", 1), 400, ["bad_json"]),
                 # inside a number array the parser judges a value by its first byte, so
                 ("nan lower case", text.replace(later, "nan", 1), 400, ["bad_json"]),
                 ("nul, a broken null", text.replace(later, "nul", 1), 400, ["bad_json"]),
                 ("tru in place of a number", text.replace(later, "tru", 1), 400, ["bad_json"]),
                 ("NaN in float32 base64", dict(self.good, context=b64_f32([float("nan")] + self.ctx[1:])),
                  400, ["non_finite"]),
                 ("Inf in float16 base64", dict(self.good, dtype="float16",
                                                context=b64_f16([float("inf")] + [0.5] * (D - 1)),
                                                responses=[b64_f16([0.5] * D)]), 400, ["non_finite"])]
        self.run_table("/score", cases)
        self.run_table("/route/update", [("update NaN", json.dumps(self.good_update).replace(str(self.r0[0]), "NaN", 1),
                                          400, ["bad_json"])])

    def test_duplicate_keys(self):
        c, r = json.dumps(self.ctx), json.dumps([self.r0, self.r1])
        cases = [("context twice", '{"context": %s, "context": %s, "responses": %s}' % (c, c, r), 400, ["bad_json"]),
                 ("user twice", '{"user": "a", "user": "b", "context": %s, "responses": %s}' % (c, r),
                  400, ["bad_json"]),
                 ("key twice in a batch item", '{"batch": [{"context": %s, "responses": %s, "responses": %s}]}'
                  % (c, r, r), 400, ["bad_json"]),
                 ("unknown key twice", '{"x": 1, "x": 2, "context": %s, "responses": %s}' % (c, r), 400, ["bad_json"])]
        self.run_table("/score", cases)
        self.run_table("/route/update", [("update user twice", '{"user": "victim", "user": "other", "context": %s, '
                                          '"chosen": %s, "rejected": %s}' % (c, json.dumps(self.r0),
                                                                             json.dumps(self.r1)), 400, ["bad_json"])])

    # --- wrong types, every field ---

    def test_wrong_types_in_every_score_field(self):
        g = self.good
        t = lambda name, body, codes=("bad_type",): (name, body, 400, list(codes))
        cases = [t("top level array", [g]),
                 t("top level string", '"x"', ("bad_json", "bad_type")),
                 t("top level number", "5", ("bad_json", "bad_type")),
                 t("user number", dict(g, user=5)),
                 t("user array", dict(g, user=["a"])),
                 t("user object", dict(g, user={})),
                 t("user boolean", dict(g, user=True)),
                 t("context object", dict(g, context={})),
                 t("context boolean", dict(g, context=True)),
                 t("context number", dict(g, context=1.5)),
                 t("context of strings", dict(g, context=[str(x) for x in self.ctx])),
                 t("context of booleans", dict(g, context=[True] * D)),
                 t("responses object", dict(g, responses={"0": self.r0})),
                 t("responses string", dict(g, responses="abc="), ("bad_type", "bad_base64")),
                 t("responses number", dict(g, responses=3)),
                 t("responses flat vector", dict(g, responses=self.r0)),
                 t("response of objects", dict(g, responses=[[{}] * D])),
                 t("response null", dict(g, responses=[None])),
                 t("pairs string", dict(g, pairs="0,1")),
                 t("pairs flat", dict(g, pairs=[0, 1])),
                 t("pair of floats", dict(g, pairs=[[0.5, 1]])),
                 t("pair of strings", dict(g, pairs=[["0", "1"]])),
                 t("pair of three", dict(g, pairs=[[0, 1, 1]]), ("bad_type", "bad_pair")),
                 t("include_heads string", dict(g, include_heads="yes")),
                 t("include_heads number", dict(g, include_heads=1)),
                 t("event number", dict(g, event=3)),
                 t("event array", dict(g, event=["e"])),
                 t("dtype number", dict(g, dtype=32)),
                 t("batch object", {"batch": {}}),
                 t("batch string", {"batch": "x"}),
                 t("batch of numbers", {"batch": [1, 2]})]
        self.run_table("/score", cases)

    def test_wrong_types_in_every_update_field(self):
        g = self.good_update
        t = lambda name, body, codes=("bad_type",): (name, body, 400, list(codes))
        ev = {"user": "victim", "event": self.victim_event, "chosen": 0, "rejected": 1}
        cases = [t("top level array", [g]),
                 t("user number", dict(g, user=7)),
                 t("user object", dict(g, user={"id": "victim"})),
                 t("context object", dict(g, context={})),
                 t("context boolean", dict(g, context=False)),
                 t("chosen number without event", dict(g, chosen=1)),
                 t("chosen of strings", dict(g, chosen=[str(x) for x in self.r0])),
                 t("rejected boolean", dict(g, rejected=False)),
                 t("rejected object", dict(g, rejected={})),
                 t("id number", dict(g, id=5)),
                 t("id array", dict(g, id=["k"])),
                 t("dtype boolean", dict(g, dtype=True)),
                 t("event number", dict(ev, event=5)),
                 t("event index string", dict(ev, chosen="0")),
                 t("event index float", dict(ev, chosen=0.5)),
                 t("event index vector", dict(ev, rejected=self.r1)),
                 t("event with a context", dict(ev, context=self.ctx), ("bad_type", "bad_value")),
                 t("feedback object", {"user": "victim", "feedback": {}}),
                 t("feedback string", {"user": "victim", "feedback": "x"}),
                 t("feedback item number", {"user": "victim", "feedback": [1]}),
                 t("feedback item with a list", {"user": "victim", "feedback": [{"feedback": []}]},
                   ("bad_type", "bad_value"))]
        self.run_table("/route/update", cases)

    # --- strings: unicode, long ids, NUL ---

    def test_unicode_and_long_user_ids(self):
        c, a, b = json.dumps(self.ctx), json.dumps(self.r0), json.dumps(self.r1)
        direct = '{"user": "%s", "context": %s, "chosen": %s, "rejected": %s}'
        cases = [("escaped e-acute user", direct % ("\\u00e9l\\u00e8ve", c, a, b), 400, ["bad_user"]),
                 ("escaped slash user", direct % ("a\\/b", c, a, b), 400, ["bad_user"]),
                 ("unpaired surrogate", direct % ("\\ud800", c, a, b), 400, ["bad_json"]),
                 ("raw invalid UTF-8", (direct % ("\xff\xfe", c, a, b)).encode("latin-1"), 400, ["bad_json"]),
                 ("user of 129 bytes", dict(self.good_update, user="u" * 129), 400, ["bad_user"]),
                 ("user of 1 MB", dict(self.good_update, user="u" * (1 << 20)), 400, ["bad_user", "bad_value"]),
                 ("empty user", dict(self.good_update, user=""), 400, ["bad_user"]),
                 ("user with a space", dict(self.good_update, user="vic tim"), 400, ["bad_user"])]
        self.run_table("/route/update", cases)
        self.run_table("/score", [("score user of 1 MB", dict(self.good, user="u" * (1 << 20)), 400,
                                   ["bad_user", "bad_value"]),
                                  ("score event of 129 bytes", dict(self.good, event="e" * 129), 400, ["bad_value"])])
        for path, want in (("/route/" + "a" * 10000, 400), ("/route/bad%20user", 400), ("/route/%C3%A9", 400)):
            with self.subTest(path[:40]):
                before = self.snapshot()
                status, hdrs, data = self.srv.request("GET", path)
                self.check_error(status, hdrs, data, want, ["bad_user"], path[:40])
                self.assert_unharmed(before, path[:40])

    # Policy of README: user ids are 1 to 128 bytes of [A-Za-z0-9-_.:@+=].
    def test_score_enforces_the_user_id_policy(self):
        cases = [("score user of 129 bytes", dict(self.good, user="a" * 129), 400, ["bad_user"]),
                 ("score user with a space", dict(self.good, user="bad user!"), 400, ["bad_user"]),
                 ("score escaped unicode user", dict(self.good, user="\u00e9"), 400, ["bad_user"])]
        for name, body, status, codes in cases:
            self.reject("/score", body, status, *codes, what=name)

    # A user id of 129 bytes must never become its 128-byte prefix.
    def test_event_of_a_long_user_id_cannot_update_its_prefix(self):
        long_user = "p" * 129
        status, ans = self.srv.json("POST", "/score", dict(self.good, user=long_user, event="ev-long-user"))
        self.assertIn(status, (200, 400), ans)
        before = self.snapshot()
        body = {"user": "p" * 128, "event": "ev-long-user", "chosen": 0, "rejected": 1}
        status, hdrs, data = self.srv.request("POST", "/route/update", body=body)
        self.check_error(status, hdrs, data, 404, ["event_not_found"], "prefix of a long user id")
        self.assert_unharmed(before, "prefix of a long user id")

    def test_nul_bytes(self):
        c, r = json.dumps(self.ctx), json.dumps([self.r0, self.r1])
        cases = [("escaped NUL in the user", dict(self.good, user="ab\u0000c"), 400, ["bad_json"]),
                 ("escaped NUL in the event", dict(self.good, event="e\u0000"), 400, ["bad_json"]),
                 ("raw NUL between tokens", '{"context": %s,\x00 "responses": %s}' % (c, r), 400, ["bad_json"]),
                 ("raw NUL in a string", '{"user": "a\x00b", "context": %s, "responses": %s}' % (c, r),
                  400, ["bad_json"]),
                 ("raw NUL after the value", json.dumps(self.good) + "\x00", 400, ["bad_json"]),
                 ("NUL byte alone", "\x00", 400, ["bad_json"])]
        self.run_table("/score", cases)
        self.run_table("/route/update", [("update NUL in the user", dict(self.good_update, user="victim\u0000"),
                                          400, ["bad_json"]),
                                         ("update NUL in the id", dict(self.good_update, id="k\u0000"),
                                          400, ["bad_json"])])

    # --- base64 ---

    def test_bad_base64(self):
        b = b64_f32(self.ctx)
        f32 = struct.pack("<%df" % D, *self.ctx)
        g = self.good
        cases = [("padding missing", dict(g, context=b[:-1]), 400, ["bad_base64"]),
                 ("padding extra", dict(g, context=b + "="), 400, ["bad_base64"]),
                 ("padding in the middle", dict(g, context=b[:8] + "==" + b[10:]), 400, ["bad_base64"]),
                 ("bad character", dict(g, context="*" + b[1:]), 400, ["bad_base64"]),
                 ("url-safe alphabet", dict(g, context=b.replace("+", "-").replace("/", "_")
                                            if ("+" in b or "/" in b) else "-" + b[1:]), 400, ["bad_base64"]),
                 ("space inside", dict(g, context=b[:4] + " " + b[5:]), 400, ["bad_base64"]),
                 ("254 bytes for float32", dict(g, context=b64_raw(f32[:-2])), 400, ["dimension_mismatch"]),
                 ("127 bytes for bfloat16", dict(g, dtype="bfloat16", context=b64_raw(b"\x00" * 127)),
                  400, ["dimension_mismatch"]),
                 ("unknown dtype", dict(g, dtype="int8"), 400, ["bad_dtype"])]
        self.run_table("/score", cases)
        self.run_table("/route/update", [("update bad character", dict(self.good_update, chosen="!" + b[1:]),
                                          400, ["bad_base64"])])

    # --- dimensions, empty arrays, sizes ---

    def test_dimension_mismatch_and_empty_arrays(self):
        g = self.good
        cases = [("context 63", dict(g, context=self.ctx[:63]), 400, ["dimension_mismatch"]),
                 ("response 65", dict(g, responses=[self.r0, self.r1 + [0.5]]), 400, ["dimension_mismatch"]),
                 ("base64 of 63 floats", dict(g, context=b64_f32(self.ctx[:63])), 400, ["dimension_mismatch"]),
                 ("empty context", dict(g, context=[]), 400, ["dimension_mismatch"]),
                 ("empty responses", dict(g, responses=[]), 422, ["empty"]),
                 ("empty response vector", dict(g, responses=[[]]), 400, ["dimension_mismatch"]),
                 ("empty base64 context", dict(g, context=""), 400, ["dimension_mismatch", "bad_base64"]),
                 ("empty batch", {"batch": []}, 422, ["empty"]),
                 ("empty object", {}, 400, ["missing_field"])]
        self.run_table("/score", cases)
        u = self.good_update
        self.run_table("/route/update", [("update chosen 63", dict(u, chosen=self.r0[:63]), 400, ["dimension_mismatch"]),
                                         ("update empty context", dict(u, context=[]), 400, ["dimension_mismatch"]),
                                         ("update empty feedback", {"user": "victim", "feedback": []}, 422, ["empty"])])

    def test_ten_thousand(self):
        r = b64_f32(self.r0)
        half = b64_f16([0.5] * D)
        cases = [("a batch of 10,000", {"batch": [{"dtype": "float16", "context": half, "responses": [half]}] * 10000},
                  422, ["too_many"]),
                 ("10,000 pairs", dict(self.good, pairs=[[0, 1]] * 10000), 422, ["too_many"])]
        self.run_table("/score", cases)
        self.run_table("/route/update", [("1,000 feedback items",
                                          {"user": "victim", "feedback": [{"event": self.victim_event, "chosen": 0,
                                                                           "rejected": 1}] * 1000}, 422, ["too_many"])])
        err = self.reject("/score", {"context": b64_f32(self.ctx), "responses": [r] * 10000}, 422, "too_many")
        self.assertIn("responses[64]", err["message"])

    # --- events ---

    def test_events_of_others(self):
        ev = {"user": "victim", "event": self.other_event, "chosen": 0, "rejected": 1}
        cases = [("another user's event", ev, 404, ["event_not_found"]),
                 ("another user's event in a list", {"user": "victim", "feedback": [
                     {"event": self.victim_event, "chosen": 0, "rejected": 1},
                     {"event": self.other_event, "chosen": 0, "rejected": 1}]}, 404, ["event_not_found"]),
                 ("unknown event", dict(ev, event="no-such-event"), 404, ["event_not_found"]),
                 ("index beyond the event", dict(ev, event=self.victim_event, rejected=2), 422, ["bad_pair"]),
                 ("negative index", dict(ev, event=self.victim_event, chosen=-1), 422, ["bad_pair"]),
                 ("same index twice", dict(ev, event=self.victim_event, chosen=1, rejected=1), 422, ["bad_pair"])]
        self.run_table("/route/update", cases)
        # taking over another user's event id when scoring
        self.reject("/score", dict(self.good, user="victim", event=self.other_event), 409, "event_conflict",
                    what="score under another user's event id")

    # --- HTTP framing ---

    def post_head(self, length_line, path=b"/score", extra=b""):
        return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra
                + length_line + b"\r\n")

    def body_bytes(self):
        return json.dumps(self.good).encode()

    def test_valid_chunked_body_is_served(self):
        body = self.body_bytes()
        before = self.snapshot()
        got, how, _ = raw_exchange(self.srv.port, self.post_head(b"Transfer-Encoding: chunked\r\n") + chunked(body),
                                   wait=TIMEOUT_S + 4)
        answers = parse_answers(got)
        self.assertEqual(len(answers), 1, got[:300])
        status, _, data = answers[0]
        self.assertEqual(status, 200, data[:300])
        self.assertEqual(len(json.loads(data)["rewards"]), 2)
        self.assertEqual(how, "eof")      # and the idle keep-alive connection ends by the timeout
        self.assert_unharmed(before, "valid chunked body")

    def framing_case(self, what, raw, statuses, json_answer=False, may_close_silently=True, wait=None):
        """A framing error: an answer with one of `statuses` (JSON when the
        answer is ours) or, if allowed, a silent close -- never a hang."""
        before = self.snapshot()
        got, how, took = raw_exchange(self.srv.port, raw, wait=wait or TIMEOUT_S + 5)
        self.assertIn(how, ("eof", "reset"), "%s: connection still open after %.1f s" % (what, took))
        answers = parse_answers(got)
        if answers:
            status, hdrs, data = answers[0]
            self.assertIn(status, statuses, (what, got[:300]))
            if json_answer:
                self.check_error(status, hdrs, data, status, [json.loads(data)["error"]["code"]], what)
        else:
            self.assertTrue(may_close_silently, "%s: closed without an answer" % what)
        self.assert_unharmed(before, what)
        return answers, took

    def test_malformed_chunked_encoding(self):
        h = self.post_head(b"Transfer-Encoding: chunked\r\n")
        with self.subTest("bad hex size"):
            answers, _ = self.framing_case("chunk size not hex", h + b"zz\r\nabc\r\n0\r\n\r\n", (400,),
                                           may_close_silently=True)
        with self.subTest("chunk shorter than its size"):
            self.framing_case("chunk shorter than its size", h + b"10\r\nabc\r\n0\r\n\r\n", (400,))
        with self.subTest("no last chunk"):
            self.framing_case("no last chunk", h + b"3\r\nabc\r\n", (400,))
        with self.subTest("absurd chunk size"):
            self.framing_case("absurd chunk size", h + b"ffffffffffffffffff\r\nabc\r\n", (400, 413))
        with self.subTest("chunked body over the limit"):
            big = b'{"x": "' + b"a" * (4 * 1024 * 1024) + b'"}'
            answers, _ = self.framing_case("chunked body over the limit", h + chunked(big, 65536), (413,),
                                           json_answer=True, may_close_silently=False)
            self.assertEqual(json.loads(answers[0][2])["error"]["code"], "body_too_large")

    def test_content_length_shorter_than_the_body(self):
        body = self.body_bytes()
        answers, _ = self.framing_case("short Content-Length",
                                       self.post_head(b"Content-Length: 10\r\n") + body, (400,),
                                       json_answer=True, may_close_silently=False)
        # the first ten bytes were judged as the body
        self.assertEqual(json.loads(answers[0][2])["error"]["code"], "bad_json")
        # the rest is a bad next request: a 400 or a close
        for status, _, _ in answers[1:]:
            self.assertEqual(status, 400)

    def test_content_length_longer_than_the_body(self):
        body = self.body_bytes()
        answers, took = self.framing_case("long Content-Length",
                                          self.post_head(b"Content-Length: %d\r\n" % (len(body) + 100)) + body, ())
        self.assertEqual(answers, [])
        self.assertGreaterEqual(took, TIMEOUT_S - 0.5)      # it waited for the rest, then gave up

    def test_other_content_length_lies(self):
        body = self.body_bytes()
        self.framing_case("negative Content-Length", self.post_head(b"Content-Length: -1\r\n") + body, (400,))
        self.framing_case("Content-Length not a number", self.post_head(b"Content-Length: abc\r\n") + body, (400,))
        # over the limit: answered from the headers, before any body is sent
        answers, took = self.framing_case("Content-Length over the limit",
                                          self.post_head(b"Content-Length: %d\r\n" % (1 << 30)), (413,),
                                          json_answer=True, may_close_silently=False)
        self.assertEqual(json.loads(answers[0][2])["error"]["code"], "body_too_large")

    def test_other_http_errors(self):
        before = self.snapshot()
        status, hdrs, data = self.srv.request("POST", "/score", body=json.dumps(self.good),
                                              headers={"Content-Type": "text/plain"})
        self.check_error(status, hdrs, data, 415, ["unsupported_media_type"], "text/plain")
        self.assert_unharmed(before, "text/plain")
        status, hdrs, data = self.srv.request("PUT", "/route/update", body=json.dumps(self.good_update))
        self.check_error(status, hdrs, data, 405, ["method_not_allowed"], "PUT /route/update")
        self.assert_unharmed(before, "PUT /route/update")
        status, hdrs, data = self.srv.request("POST", "/route/update/", body=json.dumps(self.good_update))
        self.assertIn(status, (404, 405), data)
        self.assert_unharmed(before, "POST /route/update/")
        self.framing_case("garbage request line", b"GARBAGE\r\n\r\n", (400,))
        self.framing_case("header over the memory limit",
                          b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100000 + b"\r\n\r\n", (400, 431))

    # --- connections ---

    def slowloris(self, n, seconds):
        """n connections sending request headers one byte a second; returns
        the time each was closed by the server (None: still open)."""
        closed = [None] * n
        req = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: " + b"s" * 200

        def one(i):
            s = socket.create_connection(("127.0.0.1", self.srv.port))
            s.settimeout(1.0)
            t0 = time.time()
            try:
                for byte in req:
                    if time.time() - t0 > seconds:
                        return
                    s.send(bytes([byte]))
                    try:
                        if s.recv(4096) == b"":
                            closed[i] = time.time() - t0
                            return
                    except socket.timeout:
                        pass
            except (ConnectionResetError, BrokenPipeError):
                closed[i] = time.time() - t0
            finally:
                s.close()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        return threads, closed

    def test_slowloris_does_not_stop_others(self):
        before = self.snapshot()
        threads, _ = self.slowloris(4, 5)
        time.sleep(1)
        for _ in range(3):
            self.assertEqual(self.srv.request("GET", "/healthz")[0], 200)
            self.assertEqual(self.srv.json("POST", "/score", self.good)[0], 200)
            time.sleep(1)
        for t in threads:
            t.join()
        self.assert_unharmed(before, "slowloris")

    # libmicrohttpd's own timeout restarts with every byte: the server's
    # connection guard must cut a request not complete within the timeout.
    def test_slowloris_is_cut_off_by_the_timeout(self):
        threads, closed = self.slowloris(3, 3 * TIMEOUT_S + 2)
        for t in threads:
            t.join()
        for i, when in enumerate(closed):
            self.assertIsNotNone(when, "slow connection %d still open after %d s" % (i, 3 * TIMEOUT_S + 2))
            self.assertLess(when, 2 * TIMEOUT_S + 2)

    def fresh_request_or_clean_refusal(self, what):
        """With many connections open, a new one is served, or refused
        cleanly (503 JSON, or closed at once) -- never left hanging."""
        conn = self.srv.conn(timeout=5)
        try:
            status, hdrs, data = self.srv.request("GET", "/healthz", conn=conn)
        except (ConnectionError, http.client.RemoteDisconnected):
            return "refused"
        except socket.timeout:
            self.fail("%s: a fresh request hung" % what)
        finally:
            conn.close()
        if status == 503:
            self.check_error(status, hdrs, data, 503, ["overloaded"], what)
            return "refused"
        self.assertEqual(status, 200, what)
        self.assertEqual(self.srv.json("POST", "/score", self.good)[0], 200, what)
        return "served"

    def test_a_thousand_idle_connections(self):
        before = self.snapshot()
        socks = []
        sel = selectors.DefaultSelector()
        try:
            for _ in range(1000):         # under max_connections (1024)
                s = socket.create_connection(("127.0.0.1", self.srv.port))
                s.setblocking(False)
                socks.append(s)
                sel.register(s, selectors.EVENT_READ)
            # 1000 < max_connections: a per-IP limit may still refuse it
            self.fresh_request_or_clean_refusal("1,000 idle connections")
            # the idle ones are closed by the server once the timeout passes
            open_ones = set(socks)
            deadline = time.time() + TIMEOUT_S + 8
            while open_ones and time.time() < deadline:
                for key, _ in sel.select(timeout=0.5):
                    try:
                        data = key.fileobj.recv(1)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError:
                        data = b""
                    self.assertEqual(data, b"", "an idle connection got bytes")
                    sel.unregister(key.fileobj)
                    open_ones.discard(key.fileobj)
            self.assertEqual(len(open_ones), 0, "idle connections still open %d s after the timeout" % (TIMEOUT_S + 8))
        finally:
            sel.close()
            for s in socks:
                s.close()
        self.assert_unharmed(before, "1,000 idle connections")

if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
