#!/usr/bin/env python3
"""Embeddings from a vLLM-style /pooling answer into microrm's /score.

An LLM server computes the embeddings (DESIGN §1): the context embedding is
the last-token hidden state of the prompt (with the user's context prepended
when there is one), each response's embedding that of prompt + response. With
vLLM that is one request to its pooling endpoint (last-token pooling, the
reward model's backbone):

    POST /pooling  {"model": M, "input": [prompt, prompt+answer1, ...], "encoding_format": "base64"}
    -> {"data": [{"index": 0, "data": "<base64 little-endian float32>"}, ...], ...}

The base64 strings are exactly microrm's vector encoding, so they go to
/score untouched: no decoding, no float formatting, no precision lost.

    python3 examples/vllm_pooling.py --url http://127.0.0.1:8080                  # the canned answer
    python3 examples/vllm_pooling.py --pooling examples/pooling-demo.json --user alice
    python3 examples/vllm_pooling.py --vllm http://gpu:8000 --request examples/pooling-demo-request.json

examples/pooling-demo.json is a canned answer for examples/pooling-demo-request.json
(a prompt and three answers), 64 floats each: the demo model's sizes. Prints
the /score answer as JSON, with each response's reward beside its index.
"""
import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def post(url, body, token=None, headers=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise SystemExit("%s: HTTP %d: %s" % (url, e.code, e.read().decode("utf-8", "replace")))


def embeddings(pooling_answer):
    """The base64 float32 vectors of a /pooling answer, in input order."""
    items = sorted(pooling_answer["data"], key=lambda x: x.get("index", 0))
    out = []
    for it in items:
        v = it["data"]
        if isinstance(v, list):          # encoding_format "float": microrm takes arrays too
            if v and isinstance(v[0], list):
                raise SystemExit("index %d: token-level pooling (a matrix); ask for last-token pooling" % it.get("index", 0))
            out.append(v)
            continue
        raw = base64.b64decode(v, validate=True)
        if len(raw) % 4:
            raise SystemExit("index %d: %d bytes is not a whole number of float32" % (it.get("index", 0), len(raw)))
        out.append(v)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="microrm")
    ap.add_argument("--token", default=None)
    ap.add_argument("--user", default=None)
    ap.add_argument("--pooling", default=os.path.join(HERE, "pooling-demo.json"), help="a saved /pooling answer")
    ap.add_argument("--vllm", default=None, help="a vLLM server: ask it instead of reading --pooling")
    ap.add_argument("--request", default=os.path.join(HERE, "pooling-demo-request.json"),
                    help="the /pooling request to send with --vllm")
    args = ap.parse_args(argv)

    if args.vllm:
        with open(args.request) as f:
            pooling = post(args.vllm.rstrip("/") + "/pooling", json.load(f))
    else:
        with open(args.pooling) as f:
            pooling = json.load(f)
    vecs = embeddings(pooling)
    if len(vecs) < 2:
        raise SystemExit("need the prompt's embedding and at least one response's")

    body = {"context": vecs[0], "responses": vecs[1:], "include_heads": True,
            "pairs": [[i, j] for i in range(len(vecs) - 1) for j in range(i + 1, len(vecs) - 1)]}
    headers = {}
    if args.user:
        body["user"] = args.user
        headers["X-User"] = args.user
    ans = post(args.url.rstrip("/") + "/score", body, args.token, headers)
    best = max(range(len(ans["rewards"])), key=lambda i: ans["rewards"][i])
    print(json.dumps({"model": pooling.get("model"), "responses": len(vecs) - 1, "best": best, "score": ans}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
