#!/usr/bin/env python3
"""End-to-end tests of the offline subcommands (synth, train, adapt, eval)
against the real binary: outputs, determinism, baselines' saved routers,
progress lines, and malformed datasets refused with exit 2 and no file left.

usage: cli_training_test.py path/to/microrm
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

MICRORM = os.path.abspath(sys.argv[1])
FAILED = []


def run(*args, ok=True):
    p = subprocess.run([MICRORM, *args], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    if ok and p.returncode != 0:
        raise AssertionError(f"microrm {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def check(name, fn):
    try:
        fn()
        print(f"ok   {name}")
    except Exception as e:  # report every failure, not just the first
        FAILED.append(name)
        print(f"FAIL {name}: {e}")


def read_safetensors(path):
    """Minimal reader: {name: (dtype, shape, values)} for F32 and I32."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = blob[8 + n + a:8 + n + b]
        fmt = {"F32": "f", "I32": "i"}[t["dtype"]]
        out[name] = (t["dtype"], t["shape"], struct.unpack(f"<{len(raw) // 4}{fmt}", raw))
    return out, header.get("__metadata__", {})


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype, shape, flat values)} for F32/I32."""
    header, chunks, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dt, shape, vals) in tensors.items():
        raw = struct.pack(f"<{len(vals)}{'f' if dt == 'F32' else 'i'}", *vals)
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def main():
    tmp = tempfile.mkdtemp(prefix="microrm-e2e-train-")
    data = os.path.join(tmp, "data")
    train = os.path.join(data, "train.safetensors")
    test = os.path.join(data, "test.safetensors")
    synth_flags = ["--n", "4000", "--d", "32", "--heads", "3", "--attributes", "6", "--topics", "12",
                   "--concentration", "8", "--reversal", "0.1", "--context-strength", "3", "--margin", "6",
                   "--label-noise", "0", "--seed", "5"]

    def t_synth():
        p = run("synth", "--out", data, *synth_flags)
        assert "Bayes-optimal test accuracy" in p.stdout, p.stdout
        tensors, meta = read_safetensors(train)
        assert tensors["prompt"][1] == [4000, 32] and tensors["chosen"][1] == [4000, 32]
        assert tensors["context"][1] == [4000, 32] and tensors["attribute"][1] == [4000]
        assert len(json.loads(meta["attributes"])) == 6
        assert read_safetensors(test)[0]["prompt"][1] == [1000, 32]

    model = os.path.join(tmp, "m.safetensors")

    def t_train_loadable():
        p = run("train", "--data", train, "--out", model, "--heads", "3", "--epochs", "8", "--lr", "1e-2",
                "--reg", "batch", "--seed", "3")
        assert "wrote" in p.stdout
        # stderr is not a terminal here: plain progress lines, no carriage returns
        lines = [l for l in p.stderr.splitlines() if "epoch" in l and "pairs/s" in l and "ETA" in l]
        assert len(lines) >= 8 and "\r" not in p.stderr, p.stderr
        ins = run("inspect", model)
        assert "3" in ins.stdout
        tensors, _ = read_safetensors(model)
        assert tensors["heads.weight"][1] == [3, 32] and tensors["router.weight"][1] == [3, 32]

    def t_same_seed_same_bytes():
        a, b, c = (os.path.join(tmp, x) for x in ("a.st", "b.st", "c.st"))
        for path, seed in ((a, "7"), (b, "7"), (c, "8")):
            run("train", "--data", train, "--out", path, "--heads", "3", "--epochs", "2", "--router", "mlp",
                "--hidden", "8", "--seed", seed, "--quiet")
        ba, bb, bc = (open(x, "rb").read() for x in (a, b, c))
        assert ba == bb, "same seed, different model files"
        assert ba != bc, "different seeds, same model file"

    def t_eval_and_adapt():
        p = run("eval", "--model", model, "--data", test)
        assert p.stdout.startswith("| attribute | n |") and "**average**" in p.stdout, p.stdout
        before = json.loads(run("eval", "--model", model, "--data", test, "--json").stdout)
        assert before["K"] == 3 and len(before["rows"]) == 7 and before["rows"][-1]["summary"]
        for r in before["rows"]:
            assert all(0 <= x <= 1 for x in r["heads"] + [r["routed"], r["static"], r["prompt_routed"]])
        assert sum(r["n"] for r in before["rows"][:-1]) == 1000
        adapted = os.path.join(tmp, "adapted.st")
        p = run("adapt", "--model", model, "--data", train, "--out", adapted, "--budget", "50")
        assert "300 examples" in p.stdout, p.stdout
        after = json.loads(run("eval", "--model", adapted, "--data", test, "--json").stdout)
        b, a = before["rows"][-1], after["rows"][-1]
        assert a["routed"] > b["routed"] + 0.05, (b["routed"], a["routed"])
        assert a["heads"] == b["heads"], "adapt changed the heads"

    def t_baselines():
        single, static, shared = (os.path.join(tmp, x) for x in ("single.st", "static.st", "shared.st"))
        run("train", "--data", train, "--out", single, "--baseline", "single", "--quiet")
        run("train", "--data", train, "--out", static, "--baseline", "static", "--heads", "4", "--quiet")
        run("train", "--data", train, "--out", shared, "--baseline", "shared-base", "--heads", "4", "--quiet")
        t, _ = read_safetensors(single)
        assert t["heads.weight"][1] == [1, 32]
        t, _ = read_safetensors(static)
        assert all(v == 0 for v in t["router.weight"][2]), "static router weight must be 0"
        assert any(v != 0 for v in t["router.bias"][2]), "static logits were not learned"
        t, _ = read_safetensors(shared)
        assert all(v == 0 for v in t["router.weight"][2] + t["router.bias"][2]), "shared-base must be uniform"
        for m in (single, static, shared):
            run("inspect", m)

    def t_malformed():
        n, d = 6, 4
        good = {
            "prompt": ("F32", [n, d], [0.1 * i for i in range(n * d)]),
            "chosen": ("F32", [n, d], [0.2 * i for i in range(n * d)]),
            "rejected": ("F32", [n, d], [0.3 * i for i in range(n * d)]),
        }
        cases = {
            "missing": ({k: v for k, v in good.items() if k != "rejected"}, "missing tensor 'rejected'"),
            "rows": (dict(good, chosen=("F32", [n - 1, d], [0.0] * ((n - 1) * d))), "'chosen' has 5 rows"),
            "dims": (dict(good, rejected=("F32", [n, d + 1], [0.0] * (n * (d + 1)))), "'rejected' has width 5"),
            "nan": (dict(good, prompt=("F32", [n, d], [0.0] * 9 + [math.nan] + [0.0] * (n * d - 10))),
                    "'prompt' row 2"),
        }
        for name, (tensors, needle) in cases.items():
            src = os.path.join(tmp, f"bad_{name}.safetensors")
            write_safetensors(src, tensors)
            outdir = os.path.join(tmp, f"out_{name}")
            os.mkdir(outdir)
            out = os.path.join(outdir, "model.safetensors")
            p = run("train", "--data", src, "--out", out, "--heads", "2", ok=False)
            assert p.returncode == 2, (name, p.returncode, p.stderr)
            assert needle in p.stderr and src in p.stderr, (name, p.stderr)
            assert os.listdir(outdir) == [], (name, os.listdir(outdir))
            p = run("eval", "--model", model, "--data", src, ok=False)
            assert p.returncode == 2 and needle in p.stderr, (name, p.stderr)
        # adapt needs a context tensor
        src = os.path.join(tmp, "bad_missing.safetensors")
        write_safetensors(src, dict(good))
        out = os.path.join(tmp, "never.st")
        p = run("adapt", "--model", model, "--data", src, "--out", out, ok=False)
        assert p.returncode == 2 and "context" in p.stderr and not os.path.exists(out), p.stderr

    def t_usage():
        for args, needle in ((["train", "--bogus"], "unknown option"),
                             (["train", "--data", train], "--out are required"),
                             (["train", "--data", train, "--out", "x", "--router", "tree"], "--router 'tree'"),
                             (["train", "--data", train, "--out", "x", "--baseline", "single", "--router", "mlp"],
                              "drop --router mlp"),
                             (["train", "--data", train, "--out", "x", "--epochs", "two"], "--epochs 'two'"),
                             (["adapt", "--model", model, "--data", train, "--out", "x", "--tau", "0"], "--tau > 0"),
                             (["synth", "--out", os.path.join(tmp, "s"), "--label-noise", "0.9"], "label-noise"),
                             (["eval", "--model", os.path.join(tmp, "nope.st"), "--data", test], "nope.st")):
            p = run(*args, ok=False)
            assert p.returncode == 2 and needle in p.stderr, (args, p.returncode, p.stderr)
        for cmd in ("synth", "train", "adapt", "eval"):
            p = run(cmd, "--help")
            assert p.stdout.startswith("usage: microrm " + cmd), p.stdout

    check("synth writes both splits", t_synth)
    check("train writes a loadable model, progress lines", t_train_loadable)
    check("same seed gives the same bytes", t_same_seed_same_bytes)
    check("eval table/json; adapt raises routed accuracy", t_eval_and_adapt)
    check("baselines save the documented routers", t_baselines)
    check("malformed datasets: exit 2, no file left", t_malformed)
    check("usage errors: exit 2 with a message", t_usage)
    subprocess.run(["rm", "-rf", tmp])
    print(f"{7 - len(FAILED)}/7 passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
