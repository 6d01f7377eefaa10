"""End-to-end tests of examples/ and docker/ against the real binary.

usage: examples_test.py MICRORM_BINARY [unittest args]

- examples/client.py: scores, sends event feedback, reads the user's state;
  the simulated user's favourite head must gain weight.
- examples/vllm_pooling.py: the canned /pooling answer goes to /score; the
  rewards must equal an independent computation on the decoded float32s.
- docker/entrypoint.sh: MICRORM_* environment -> the effective configuration
  (--print-config), container defaults, secrets file, flags over env; it
  serves, and docker/healthcheck.sh tells a live server from a dead port.
- shellcheck on the scripts and haproxy -c on docker/haproxy.cfg when those
  tools are installed; and the balancer itself, live, in front of two
  replicas: a user's /score, its event feedback and GET /route/{user} all
  reach the same replica.
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_MODEL, SOURCE_ROOT, ReferenceModel, Server  # noqa: E402

BINARY = None
EXAMPLES = os.path.join(SOURCE_ROOT, "examples")
DOCKER = os.path.join(SOURCE_ROOT, "docker")
ENTRYPOINT = os.path.join(DOCKER, "entrypoint.sh")
HEALTHCHECK = os.path.join(DOCKER, "healthcheck.sh")


def run(cmd, env=None, timeout=60, **kw):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MICRORM_") or k == "MICRORM_SOURCE_ROOT"}
    full.update(env or {})
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=timeout, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config_of(text):
    """--print-config output -> {key: value} (quotes of empty strings kept)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition(" ")
            out[k] = v
    return out


class ExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(BINARY, "--store", "memory")
        cls.url = "http://127.0.0.1:%d" % cls.srv.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "server exit status %r\n%s" % (rc, cls.srv.log())

    def test_client_learns_the_users_taste(self):
        p = run([sys.executable, os.path.join(EXAMPLES, "client.py"), "--url", self.url, "--user", "zoe",
                 "--likes", "harmlessness", "--rounds", "15", "--fresh"])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [json.loads(x) for x in p.stdout.splitlines()]
        self.assertEqual(len(lines), 16)
        summary = lines[-1]
        self.assertEqual((summary["updates"], summary["version"]), (15, 15))
        k = 1   # harmlessness
        self.assertEqual(summary["likes"], "harmlessness")
        # the liked head gains weight over the population router, and ends on top
        self.assertGreater(summary["context_weights"][k], summary["population_weights"][k] + 0.3)
        self.assertEqual(max(range(4), key=lambda i: summary["context_weights"][i]), k)
        self.assertEqual(max(range(4), key=lambda i: summary["user_weights"][i]), k)
        # the server agrees with what the client printed
        status, state = self.srv.json("GET", "/route/zoe")
        self.assertEqual((status, state["updates"], state["prequential"]["scored"]), (200, 15, 15))
        # rounds are idempotent by id: running the same seed again without --fresh replays them all
        p = run([sys.executable, os.path.join(EXAMPLES, "client.py"), "--url", self.url, "--user", "zoe",
                 "--likes", "harmlessness", "--rounds", "15"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout.splitlines()[-1])["updates"], 15)

    def test_client_reports_a_clear_error(self):
        p = run([sys.executable, os.path.join(EXAMPLES, "client.py"), "--url", self.url, "--likes", "nonsense-head"])
        self.assertNotEqual(p.returncode, 0)
        p = run([sys.executable, os.path.join(EXAMPLES, "client.py"), "--url", "http://127.0.0.1:%d" % free_port()])
        self.assertEqual(p.returncode, 1)
        self.assertIn("client:", p.stderr)

    def test_canned_pooling_answer_fits_the_demo_model(self):
        with open(os.path.join(EXAMPLES, "pooling-demo.json")) as f:
            ans = json.load(f)
        with open(os.path.join(EXAMPLES, "pooling-demo-request.json")) as f:
            req = json.load(f)
        self.assertEqual(len(ans["data"]), len(req["input"]))
        for i, item in enumerate(ans["data"]):
            self.assertEqual(item["index"], i)
            self.assertEqual(len(base64.b64decode(item["data"])), 64 * 4)

    def test_vllm_pooling_scores_match_an_independent_computation(self):
        p = run([sys.executable, os.path.join(EXAMPLES, "vllm_pooling.py"), "--url", self.url, "--user", "yan"])
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        with open(os.path.join(EXAMPLES, "pooling-demo.json")) as f:
            vecs = [list(struct.unpack("<64f", base64.b64decode(x["data"]))) for x in json.load(f)["data"]]
        ref = ReferenceModel(DEMO_MODEL)
        pi = ref.weights(vecs[0])
        score = out["score"]
        self.assertEqual(out["responses"], 3)
        self.assertEqual(score["user"], {"id": "yan", "known": False})
        for k in range(ref.K):
            self.assertAlmostEqual(score["weights"][k], pi[k], delta=1e-5)
        rewards = [ref.reward(pi, ref.heads(a)) for a in vecs[1:]]
        for got, want in zip(score["rewards"], rewards):
            self.assertAlmostEqual(got, want, delta=1e-4 * (1 + abs(want)))
        self.assertEqual(out["best"], max(range(3), key=lambda i: rewards[i]))
        self.assertEqual(len(score["preferences"]), 3)
        # the event it got can take feedback without resending the embeddings
        status, up = self.srv.json("POST", "/route/update", {"event": score["event"], "chosen": 0, "rejected": 1})
        self.assertEqual((status, up["user"], up["updates"]), (200, "yan", 1))


class EntrypointTest(unittest.TestCase):
    def entry(self, *args, env=None):
        e = {"MICRORM_BIN": BINARY, "MICRORM_MODEL": DEMO_MODEL}
        e.update(env or {})
        return run(["sh", ENTRYPOINT] + list(args), env=e)

    def test_environment_reaches_the_configuration(self):
        tmp = tempfile.mkdtemp()
        try:
            token = os.path.join(tmp, "token")
            with open(token, "w") as f:
                f.write("t0ken-from-a-secret\n")
            p = self.entry("--print-config", env={
                "MICRORM_PORT": "9123", "MICRORM_STORE": "redis://redis:6379/0", "MICRORM_ADAPT": "router",
                "MICRORM_DURABILITY": "relaxed", "MICRORM_EVENT_TTL": "120", "MICRORM_AUTH_TOKEN_FILE": token})
            self.assertEqual(p.returncode, 0, p.stderr)
            cfg = config_of(p.stdout)
            self.assertEqual(cfg["host"], "0.0.0.0")                 # the container default
            self.assertEqual(cfg["state_dir"], "/var/lib/microrm")   # the volume
            self.assertEqual(cfg["port"], "9123")
            self.assertEqual(cfg["store"], "redis://redis:6379/0")
            self.assertEqual(cfg["adapt"], "router")
            self.assertEqual(cfg["durability"], "relaxed")
            self.assertEqual(cfg["event_ttl"], "120")
            self.assertEqual(cfg["auth_token"], "t0ken-from-a-secret")
            self.assertEqual(cfg["model"], DEMO_MODEL)
            # the operator's own values win over the container defaults, flags over the environment
            p = self.entry("serve", "--print-config", "--port", "9124",
                           env={"MICRORM_HOST": "127.0.0.2", "MICRORM_PORT": "9123", "MICRORM_STATE_DIR": tmp})
            cfg = config_of(p.stdout)
            self.assertEqual((cfg["host"], cfg["port"], cfg["state_dir"]), ("127.0.0.2", "9124", tmp))
            # a bad value is the binary's clear usage error, exit 2
            p = self.entry("--print-config", env={"MICRORM_PORT": "70000"})
            self.assertEqual(p.returncode, 2)
            self.assertIn("MICRORM_PORT", p.stderr)
            # an unreadable secret file stops the container with a message
            p = self.entry(env={"MICRORM_AUTH_TOKEN_FILE": os.path.join(tmp, "missing")})
            self.assertEqual(p.returncode, 2)
            self.assertIn("MICRORM_AUTH_TOKEN_FILE", p.stderr)
        finally:
            shutil.rmtree(tmp)

    def test_subcommands_and_other_commands(self):
        p = self.entry("inspect", DEMO_MODEL)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout + p.stderr, r"K\D*4")
        p = self.entry("sh", "-c", "echo $MICRORM_HOST $MICRORM_STATE_DIR")
        self.assertEqual(p.stdout.strip(), "0.0.0.0 /var/lib/microrm")

    def test_it_serves_and_the_healthcheck_tells_live_from_dead(self):
        tmp = tempfile.mkdtemp()
        srv = Server(ENTRYPOINT, "--state_dir", tmp, env={"MICRORM_BIN": BINARY})
        try:
            self.assertRegex(srv.log(), r"listening on http://0\.0\.0\.0:\d+")
            p = run(["bash", HEALTHCHECK], env={"MICRORM_PORT": str(srv.port)})
            self.assertEqual(p.returncode, 0, p.stderr)
            p = run(["bash", HEALTHCHECK], env={"MICRORM_PORT": str(free_port())})
            self.assertEqual(p.returncode, 1)
        finally:
            self.assertEqual(srv.stop(), 0)
            shutil.rmtree(tmp)
        # something that answers, but not 200, is unhealthy too
        lsn = socket.socket()
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(1)
        proc = subprocess.Popen(["bash", HEALTHCHECK], env=dict(os.environ, MICRORM_PORT=str(lsn.getsockname()[1])),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        c, _ = lsn.accept()
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = c.recv(1000)
            if not chunk:
                break
            got += chunk
        self.assertTrue(got.startswith(b"GET /healthz HTTP/1.1\r\n"), got)
        c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        c.close()
        lsn.close()
        self.assertEqual(proc.wait(10), 1)
        proc.stdout.close()
        proc.stderr.close()

    @unittest.skipUnless(shutil.which("shellcheck"), "shellcheck is not installed")
    def test_shellcheck(self):
        p = run(["shellcheck", ENTRYPOINT, HEALTHCHECK])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


def dockerfile_packages(stage):
    """The packages apt-get installs in stage 0 (build) or 1 (runtime) of the Dockerfile."""
    with open(os.path.join(SOURCE_ROOT, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    stages = re.split(r"(?m)^FROM ", text)[1:]
    m = re.search(r"apt-get install -y --no-install-recommends(.*?)&&", stages[stage])
    return set(m.group(1).split())


def owner_package(path):
    """The Debian package that owns path (also under usrmerge), or None."""
    real = os.path.realpath(path)
    for p in (real, re.sub(r"^/usr", "", real), path):
        out = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":")[0].strip()
    return None


@unittest.skipUnless(shutil.which("dpkg") and shutil.which("readelf") and shutil.which("pkg-config"),
                     "needs dpkg, readelf and pkg-config")
class DockerfileTest(unittest.TestCase):
    """The Dockerfile's package lists against what the build really needs."""
    BASE = {"libc6", "libgcc-s1", "zlib1g"}   # in debian:12-slim already (Priority: required)

    def test_runtime_stage_has_every_library_the_binary_needs(self):
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", BINARY], capture_output=True, text=True).stdout)
        self.assertIn("libjansson.so.4", needed)
        paths = dict(re.findall(r"(?m)^\s*(\S+) => (/\S+)", subprocess.run(["ldd", BINARY], capture_output=True, text=True).stdout))
        runtime = dockerfile_packages(1)
        # a sanitizer build links the sanitizer runtimes; the image is a release build
        needed = [so for so in needed if not re.match(r"lib(a|ub|l|t|hwa)san\.so", so) and so != "libstdc++.so.6"]
        for so in needed:
            pkg = owner_package(paths[so])
            self.assertIsNotNone(pkg, "no package owns %s" % paths[so])
            self.assertIn(pkg, runtime | self.BASE, "%s (from %s) is not installed in the runtime stage" % (pkg, so))

    def test_build_stage_has_every_dependency_of_meson_build(self):
        with open(os.path.join(SOURCE_ROOT, "meson.build")) as f:
            deps = re.findall(r"\bdependency\('([^']+)'\)", f.read())
        with open(os.path.join(SOURCE_ROOT, "tests", "meson.build")) as f:
            deps += re.findall(r"\bdependency\('([^']+)'\)", f.read())
        deps = [d for d in deps if d != "threads"]
        self.assertIn("libmicrohttpd", deps)
        build = dockerfile_packages(0)
        for dep in deps:
            pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", dep], capture_output=True, text=True).stdout.strip()
            self.assertTrue(pcdir, "pkg-config does not know %s" % dep)
            pkg = owner_package(os.path.join(pcdir, dep + ".pc"))
            self.assertIsNotNone(pkg, dep)
            self.assertIn(pkg, build, "%s (pkg-config %s) is not installed in the build stage" % (pkg, dep))


try:
    import yaml  # the compose file uses anchors and merge keys: PyYAML reads it when present
except ImportError:
    yaml = None


@unittest.skipUnless(yaml, "PyYAML is not installed")
class ComposeTest(unittest.TestCase):
    """docker/compose.yaml agrees with itself, the Dockerfile and haproxy.cfg."""

    def test_compose_file(self):
        with open(os.path.join(DOCKER, "compose.yaml")) as f:
            c = yaml.safe_load(f)
        svc = c["services"]
        replicas = sorted(k for k in svc if k.startswith("microrm-"))
        self.assertEqual(replicas, ["microrm-1", "microrm-2"])
        for name in replicas:
            s = svc[name]
            self.assertEqual(s["environment"]["MICRORM_STORE"], "redis://redis:6379/0")
            build = s["build"]
            self.assertTrue(os.path.isfile(os.path.join(DOCKER, build["context"], build["dockerfile"])))
            self.assertIn("redis", s["depends_on"])
            self.assertEqual(s["volumes"], ["%s:/var/lib/microrm" % name])
            grace = int(re.match(r"^(\d+)s$", s["stop_grace_period"]).group(1))
            self.assertGreater(grace * 1000, int(s["environment"]["MICRORM_DRAIN_TIMEOUT_MS"]))
        cmd = svc["redis"]["command"]
        for flag, value in (("--appendonly", "yes"), ("--appendfsync", "always")):
            self.assertEqual(cmd[cmd.index(flag) + 1], value)
        with open(os.path.join(DOCKER, "haproxy.cfg")) as f:
            servers = re.findall(r"(?m)^\s*server (\S+) ([^:\s]+):8080", f.read())
        self.assertEqual(sorted(h for _, h in servers), replicas)
        mount = svc["lb"]["volumes"][0].split(":")
        self.assertTrue(os.path.isfile(os.path.join(DOCKER, mount[0])))
        self.assertEqual(mount[1], "/usr/local/etc/haproxy/haproxy.cfg")


@unittest.skipUnless(shutil.which("haproxy"), "haproxy is not installed")
class BalancerTest(unittest.TestCase):
    def test_config_is_valid(self):
        p = run(["haproxy", "-c", "-f", os.path.join(DOCKER, "haproxy.cfg")])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_a_user_stays_on_one_replica(self):
        """docker/haproxy.cfg in front of two replicas with separate memory
        stores: state and events are per replica here, so a user's feedback and
        state reads succeed only if the balancer keeps the user on one."""
        tmp = tempfile.mkdtemp()
        a = Server(BINARY, "--store", "memory")
        b = Server(BINARY, "--store", "memory")
        lb = None
        try:
            with open(os.path.join(DOCKER, "haproxy.cfg")) as f:
                cfg = f.read()
            port = free_port()
            cfg = cfg.replace("microrm-1:8080", "127.0.0.1:%d" % a.port).replace("microrm-2:8080", "127.0.0.1:%d" % b.port)
            cfg, n = re.subn(r"(?m)^(\s*bind) :8080$", r"\1 127.0.0.1:%d" % port, cfg)
            self.assertEqual(n, 1)
            cfg = re.sub(r"(?m)^\s*log .*$", "", cfg)
            path = os.path.join(tmp, "haproxy.cfg")
            with open(path, "w") as f:
                f.write(cfg)
            lb = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            front = Server.__new__(Server)   # reuse the client half of the harness for the balancer
            front.port = port
            deadline = time.time() + 15
            while True:
                try:
                    if front.request("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                self.assertLess(time.time(), deadline, "haproxy did not come up")
                time.sleep(0.1)
            rng_ctx = [0.1 * ((i * 7) % 11 - 5) for i in range(64)]
            answers = [[0.1 * ((i * j) % 13 - 6) for i in range(64)] for j in range(1, 4)]
            users = ["user-%d" % i for i in range(16)]
            for u in users:
                hdr = {"X-User": u}
                status, sc = front.json("POST", "/score", {"user": u, "context": rng_ctx, "responses": answers}, hdr)
                self.assertEqual(status, 200, sc)
                status, up = front.json("POST", "/route/update", {"event": sc["event"], "chosen": 0, "rejected": 2}, hdr)
                self.assertEqual(status, 200, (u, up))
                status, st = front.json("GET", "/route/" + u)     # key taken from the path
                self.assertEqual((status, st["updates"]), (200, 1), u)
            # and the users are spread over both replicas, each user on exactly one
            on_a = {u for u in users if a.json("GET", "/route/" + u)[0] == 200}
            on_b = {u for u in users if b.json("GET", "/route/" + u)[0] == 200}
            self.assertEqual(on_a | on_b, set(users))
            self.assertFalse(on_a & on_b)
            self.assertTrue(on_a and on_b, "every user hashed to one replica")
        finally:
            if lb:
                lb.terminate()
                lb.wait(10)
                lb.stderr.close()
            self.assertEqual(a.stop(), 0)
            self.assertEqual(b.stop(), 0)
            shutil.rmtree(tmp)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
