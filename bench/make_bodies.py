#!/usr/bin/env python3
"""Write the two /score request bodies of bench/score_bench.sh, seeded.

    make_bodies.py OUT_DIR [--d 3072] [--dc 3072] [--responses 4] [--seed 1]

OUT_DIR/score_json.json   {"context": [...], "responses": [[...] x R]} as JSON
                          arrays, each float32 in its shortest exact decimal
                          form (at most 9 significant digits)
OUT_DIR/score_b64.json    the same vectors as base64 little-endian float32

Both bodies carry identical float32 vectors (N(0, 0.5^2), like normalised
hidden states), so the two runs differ only in the encoding. Standard
library only.
"""
import argparse
import base64
import json
import os
import random
import struct
import sys


def to_f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def shortest(x):
    """The shortest %g text that reads back to the same float32."""
    for p in range(6, 10):
        s = "%.*g" % (p, x)
        if to_f32(float(s)) == x:
            return s
    return "%.9g" % x


def vector(rng, n):
    return [to_f32(rng.gauss(0.0, 0.5)) for _ in range(n)]


def b64(v):
    return base64.b64encode(struct.pack("<%df" % len(v), *v)).decode("ascii")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--d", type=int, default=3072, help="response embedding size")
    ap.add_argument("--dc", type=int, default=3072, help="context embedding size")
    ap.add_argument("--responses", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.d < 1 or a.dc < 1 or a.responses < 1:
        ap.error("--d, --dc and --responses must be positive")

    rng = random.Random(a.seed)
    context = vector(rng, a.dc)
    responses = [vector(rng, a.d) for _ in range(a.responses)]

    def arr(v):
        return "[" + ",".join(shortest(x) for x in v) + "]"

    as_json = '{"context":%s,"responses":[%s]}' % (arr(context), ",".join(arr(r) for r in responses))
    as_b64 = json.dumps({"context": b64(context), "responses": [b64(r) for r in responses]},
                        separators=(",", ":"))
    # valid JSON whose numbers read back (as float32) to the vectors
    back = json.loads(as_json)
    assert [to_f32(x) for x in back["context"]] == context
    assert all([to_f32(x) for x in b] == r for b, r in zip(back["responses"], responses))

    os.makedirs(a.out_dir, exist_ok=True)
    for name, text in (("score_json.json", as_json), ("score_b64.json", as_b64)):
        path = os.path.join(a.out_dir, name)
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
        print("%s %d bytes" % (path, len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
