"""Start the real microrm binary on a free port and talk HTTP to it (stdlib only)."""
import array
import http.client
import json
import math
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time

SOURCE_ROOT = os.environ.get("MICRORM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO_MODEL = os.path.join(SOURCE_ROOT, "models", "demo.safetensors")


class Server:
    """A microrm serve process; `args` are extra --key value flags."""

    def __init__(self, binary, *args, env=None, wait_ready=True, max_fds=None):
        self.binary = binary
        self.log_lines = []
        self.port = None
        self._listening = threading.Event()
        full_env = dict(os.environ)
        full_env.update(env or {})
        cmd = [binary, "serve", "--port", "0"]
        if "--model" not in args:
            cmd += ["--model", DEMO_MODEL]
        self.own_state_dir = None
        if "--state_dir" not in args and "--store" not in args:
            self.own_state_dir = tempfile.mkdtemp(prefix="microrm-state-")
            cmd += ["--state_dir", self.own_state_dir]
        cmd += list(args)
        limit_fds = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))) if max_fds else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=full_env, text=True, preexec_fn=limit_fds)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if wait_ready:
            deadline = time.time() + 30
            while not self._listening.wait(0.05):
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("server did not start:\n" + self.log())

    def _read_log(self):
        for line in self.proc.stderr:
            self.log_lines.append(line)
            m = re.search(r"listening on http://[^ ]*:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()

    def log(self):
        return "".join(self.log_lines)

    def wait_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.log()):
                return True
            time.sleep(0.02)
        return False

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        own = conn is None
        c = conn or self.conn()
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if own:
            c.close()
        return r.status, hdrs, data

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self.proc.stderr.close()
        # a sanitizer build reports on stderr: any report fails the test
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in self.log():
                raise AssertionError("sanitizer report from the server:\n" + self.log()[-4000:])
        if self.own_state_dir:
            shutil.rmtree(self.own_state_dir, ignore_errors=True)
        return self.proc.returncode


# --- an independent reading of the model, to check the server's numbers ---

def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        assert t["dtype"] == "F32", "the reference reader only reads F32"
        vals = array.array("f")
        vals.frombytes(raw[base + b:base + e])
        tensors[name] = (t["shape"], list(vals))
    return tensors, meta


class ReferenceModel:
    """DESIGN §1 in plain Python doubles."""

    def __init__(self, path):
        t, meta = read_safetensors(path)
        self.meta = meta
        (self.K, self.d), self.hw = t["heads.weight"]
        self.hb = t["heads.bias"][1] if "heads.bias" in t else [0.0] * self.K
        if "router.0.weight" in t:
            (self.H, self.dc), self.w1 = t["router.0.weight"]
            self.b1 = t["router.0.bias"][1]
            self.w2 = t["router.2.weight"][1]
            self.b2 = t["router.2.bias"][1]
        else:
            self.H = 0
            (_, self.dc), self.w2 = t["router.weight"]
            self.b2 = t["router.bias"][1]

    def weights(self, u, mask=()):
        if self.H:
            feat = [max(0.0, sum(self.w1[h * self.dc + j] * u[j] for j in range(self.dc)) + self.b1[h])
                    for h in range(self.H)]
        else:
            feat = list(u)
        F = len(feat)
        g = [sum(self.w2[k * F + j] * feat[j] for j in range(F)) + self.b2[k] for k in range(self.K)]
        live = [k for k in range(self.K) if k not in mask]
        mx = max(g[k] for k in live)
        z = sum(math.exp(g[k] - mx) for k in live)
        return [math.exp(g[k] - mx) / z if k in live else 0.0 for k in range(self.K)]

    def heads(self, a):
        return [sum(self.hw[k * self.d + j] * a[j] for j in range(self.d)) + self.hb[k] for k in range(self.K)]

    @staticmethod
    def logsigmoid(s):
        return -math.log1p(math.exp(-s)) if s >= 0 else s - math.log1p(math.exp(s))

    def reward(self, pi, r, mode="linear"):
        if mode == "logsigmoid":
            return sum(p * self.logsigmoid(x) for p, x in zip(pi, r) if p > 0)
        return sum(p * x for p, x in zip(pi, r))

    def preference(self, pi, ri, rj):
        return sum(p / (1 + math.exp(-(a - b))) for p, a, b in zip(pi, ri, rj))


def b64_f32(vec):
    import base64
    return base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode()
