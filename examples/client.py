#!/usr/bin/env python3
"""A microrm client in the Python standard library, and a demo of the loop a
personalised chat runs: score candidate answers for a user, show the user the
best, learn from which one they preferred (event feedback), read the user's
state.

    python3 examples/client.py --url http://127.0.0.1:8080 --user alice --rounds 20

The demo's embeddings are random (seeded) vectors of the served model's
sizes; the simulated user always prefers the answer that one head (--likes,
default "humor") rates best, so the user's routing weight on that head grows.
It prints one JSON line per round and a JSON summary as the last line.

MicrormClient is the part to copy: vectors go as base64 little-endian
float32 (4x smaller than JSON numbers, and exact); every call names the user
in an X-User header so a load balancer can keep a user on one replica
(docs/deploy.md); feedback carries an idempotency id and is retried on 503.
"""
import argparse
import base64
import json
import random
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def encode_vector(values):
    """A vector as microrm takes it: base64 of little-endian float32."""
    return base64.b64encode(struct.pack("<%df" % len(values), *values)).decode("ascii")


class MicrormError(Exception):
    def __init__(self, status, body):
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.status, self.code = status, err.get("code", "")
        super().__init__("HTTP %d %s: %s" % (status, self.code, err.get("message", body)))


class MicrormClient:
    def __init__(self, url, token=None, timeout=10.0, retries=5):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries

    def _call(self, method, path, body=None, user=None, retry=False):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if user:
            headers["X-User"] = user          # the load balancer's routing key
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    raw = r.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as e:
                raw = e.read()
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = raw.decode("utf-8", "replace")
                # 503 = overloaded, draining, or the store is unreachable: nothing
                # was applied, so a request with an idempotency id is safe to resend
                if e.code == 503 and retry and attempt < self.retries:
                    time.sleep(float(e.headers.get("Retry-After", "1")) * (attempt + 1) / 2)
                    continue
                raise MicrormError(e.code, payload) from None

    def model(self):
        return self._call("GET", "/model")

    def score(self, context, responses, user=None, pairs=None, include_heads=False):
        """Rewards of responses (lists of floats) in a context; the answer's
        'event' names this scoring for feedback."""
        body = {"context": encode_vector(context), "responses": [encode_vector(r) for r in responses]}
        if user:
            body["user"] = user
        if pairs:
            body["pairs"] = pairs
        if include_heads:
            body["include_heads"] = True
        return self._call("POST", "/score", body, user=user)

    def feedback(self, event, chosen, rejected, user=None, id=None):
        """The user preferred response `chosen` of a scored event over `rejected`."""
        body = {"event": event, "chosen": chosen, "rejected": rejected}
        if user:
            body["user"] = user
        if id:
            body["id"] = id
        return self._call("POST", "/route/update", body, user=user, retry=id is not None)

    def user_state(self, user):
        return self._call("GET", "/route/" + urllib.parse.quote(user, safe=""), user=user)

    def forget(self, user):
        return self._call("DELETE", "/route/" + urllib.parse.quote(user, safe=""), user=user)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--token", default=None, help="bearer token, when the server has auth_token set")
    ap.add_argument("--user", default="alice")
    ap.add_argument("--likes", default="humor", help="the head the simulated user agrees with (name or index)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--answers", type=int, default=4, help="candidate answers per round")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fresh", action="store_true", help="forget the user first")
    args = ap.parse_args(argv)

    client = MicrormClient(args.url, args.token)
    info = client.model()
    heads = info["heads"]
    likes = int(args.likes) if args.likes.isdigit() else heads.index(args.likes)
    if args.fresh:
        client.forget(args.user)
    rng = random.Random(args.seed)
    context = [rng.gauss(0, 1) for _ in range(info["dc"])]   # one conversation, many turns
    population = client.score(context, [[0.0] * info["d"]])["weights"]

    correct = 0
    for rnd in range(args.rounds):
        answers = [[rng.gauss(0, 1) for _ in range(info["d"])] for _ in range(args.answers)]
        scored = client.score(context, answers, user=args.user, include_heads=True)
        shown = max(range(args.answers), key=lambda i: scored["rewards"][i])
        # the simulated user: prefers the answer its favourite head rates best
        taste = [h[likes] for h in scored["heads"]]
        chosen = max(range(args.answers), key=lambda i: taste[i])
        rejected = min(range(args.answers), key=lambda i: taste[i])
        up = client.feedback(scored["event"], chosen, rejected, user=args.user,
                             id="%s-%d-%d" % (args.user, args.seed, rnd))
        correct += up["before"]["correct"]
        print(json.dumps({"round": rnd, "shown": shown, "chosen": chosen, "p_chosen_before": up["before"]["p_chosen"],
                          "weight_of_liked_head": round(up["weights"][likes], 4)}))

    state = client.user_state(args.user)
    print(json.dumps({
        "user": args.user, "likes": heads[likes], "updates": state["updates"], "version": state["version"],
        "prequential_accuracy": state["prequential"]["accuracy"], "mean_logloss": state["prequential"]["mean_logloss"],
        "population_weights": population, "user_weights": state["weights"],
        "context_weights": client.score(context, [[0.0] * info["d"]], user=args.user)["weights"],
    }))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (MicrormError, urllib.error.URLError, OSError) as e:
        print("client: %s" % e, file=sys.stderr)
        sys.exit(1)
