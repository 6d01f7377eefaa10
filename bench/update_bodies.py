#!/usr/bin/env python3
"""Write the request templates of bench/update_bench.sh and seed its events.

    update_bodies.py templates OUT_DIR [--d 3072] [--dc 3072] [--seed 1]
    update_bodies.py seed --port P [--users 1024] --body OUT_DIR/seed_score.json

`templates` writes, with seeded N(0, 0.5^2) float32 vectors as base64 of
little-endian float32 (bench/update.lua replaces "@I@" by 0 .. N-1):

  update_direct.json  {"user": "u-@I@", "context", "chosen", "rejected"}
  update_event.json   {"event": "ev-@I@", "chosen": 0, "rejected": 1}
  score_user.json     {"user": "u-@I@", "context", "responses": [4 vectors]}
  score_nouser.json   the same without "user"
  seed_score.json     {"context", "responses": [2 vectors]} for `seed`

`seed` POSTs /score once per user i in 0 .. users-1 with "user": "u-<i>" and
"event": "ev-<i>" over one keep-alive connection, so that update_event.json
has an event for every i; it fails unless every answer is 200 and names the
event it was given. Standard library only.
"""
import argparse
import base64
import http.client
import json
import os
import random
import struct
import sys


def b64_vector(rng, n):
    return base64.b64encode(struct.pack("<%df" % n, *(rng.gauss(0.0, 0.5) for _ in range(n)))).decode("ascii")


def write(path, obj):
    text = json.dumps(obj, separators=(",", ":"))
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
    print("%s %d bytes" % (path, len(text)))


def templates(a):
    rng = random.Random(a.seed)
    context = b64_vector(rng, a.dc)
    responses = [b64_vector(rng, a.d) for _ in range(4)]
    os.makedirs(a.out_dir, exist_ok=True)
    out = lambda name: os.path.join(a.out_dir, name)
    write(out("update_direct.json"),
          {"user": "u-@I@", "context": context, "chosen": responses[0], "rejected": responses[1]})
    write(out("update_event.json"), {"event": "ev-@I@", "chosen": 0, "rejected": 1})
    write(out("score_user.json"), {"user": "u-@I@", "context": context, "responses": responses})
    write(out("score_nouser.json"), {"context": context, "responses": responses})
    write(out("seed_score.json"), {"context": context, "responses": responses[:2]})
    return 0


def seed(a):
    with open(a.body, encoding="ascii") as f:
        base = json.load(f)
    conn = http.client.HTTPConnection(a.host, a.port, timeout=30)
    for i in range(a.users):
        req = dict(base, user="u-%d" % i, event="ev-%d" % i)
        conn.request("POST", "/score", body=json.dumps(req, separators=(",", ":")),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        text = resp.read()
        if resp.status != 200:
            print("seed: /score for u-%d answered %d: %s" % (i, resp.status, text[:300]), file=sys.stderr)
            return 1
        got = json.loads(text).get("event")
        if got != "ev-%d" % i:
            print("seed: /score for u-%d kept event %r, not ev-%d" % (i, got, i), file=sys.stderr)
            return 1
    conn.close()
    print("seeded %d events ev-0 .. ev-%d" % (a.users, a.users - 1))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("templates")
    t.add_argument("out_dir")
    t.add_argument("--d", type=int, default=3072, help="response embedding size")
    t.add_argument("--dc", type=int, default=3072, help="context embedding size")
    t.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("seed")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--users", type=int, default=1024)
    s.add_argument("--body", required=True)
    a = ap.parse_args()
    if a.cmd == "templates":
        if a.d < 1 or a.dc < 1:
            ap.error("--d and --dc must be positive")
        return templates(a)
    if a.users < 1:
        ap.error("--users must be positive")
    return seed(a)


if __name__ == "__main__":
    sys.exit(main())
