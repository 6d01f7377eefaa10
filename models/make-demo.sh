#!/bin/sh
# Regenerates models/demo.safetensors (the model `microrm serve` starts on by
# default) and the example requests examples/score-demo.json (JSON arrays)
# and examples/score-demo-b64.json (the same float32 vectors in base64).
# Everything is deterministic: running it twice gives identical bytes.
#
#   models/make-demo.sh [path/to/microrm]     (default: build/microrm)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/microrm}
[ -x "$bin" ] || { echo "make-demo.sh: no microrm binary at $bin (build first, or pass its path)" >&2; exit 2; }

"$bin" demo-model --out "$root/models/demo.safetensors" \
    --heads 4 --d 64 --dc 64 --router mlp --hidden 16 --seed 1 --dtype f32

python3 - "$root/examples" <<'PY'
import base64, json, struct, sys

# splitmix64, so the vectors do not depend on Python's random module.
state = 2026
def nxt():
    global state
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)

# Multiples of 1/256 in [-1, 1]: exact in float32, so the decimal and the
# base64 requests carry bit-identical vectors.
def vec(n=64):
    return [((nxt() % 513) - 256) / 256 for _ in range(n)]

def b64(v):
    return base64.b64encode(struct.pack('<%df' % len(v), *v)).decode()

context = vec()
responses = [vec() for _ in range(3)]
pairs = [[0, 1], [0, 2]]
out = sys.argv[1]
with open(out + '/score-demo.json', 'w') as f:
    json.dump({"context": context, "responses": responses, "pairs": pairs,
               "include_heads": True}, f)
    f.write('\n')
with open(out + '/score-demo-b64.json', 'w') as f:
    json.dump({"context": b64(context), "responses": [b64(r) for r in responses],
               "pairs": pairs, "include_heads": True}, f, indent=1)
    f.write('\n')
PY
echo "make-demo.sh: wrote models/demo.safetensors, examples/score-demo.json, examples/score-demo-b64.json" >&2
