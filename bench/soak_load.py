#!/usr/bin/env python3
"""Mixed /score + /route/update load for bench/soak.sh (stdlib only).

    soak_load.py check --port P [--d 3072] [--dc 3072]
    soak_load.py peak  --port P [--seconds 20] [options]
    soak_load.py run   --port P --rate R [--seconds 600] [options]

Traffic, in a fixed cycle of 20 requests per connection:
  8 x score_nouser   /score {"context", "responses": [4 vectors]}
  6 x score_user     /score {"user", "event": <fresh id>, "context", "responses": [2]}
  3 x update_event   /route/update {"user", "event": <an id this connection scored>, "chosen": 0, "rejected": 1}
  3 x update_direct  /route/update {"user", "context", "chosen", "rejected"}
Vectors are base64 of little-endian float32 (seeded); users soak-0 .. soak-(U-1).

`check` sends one request of each kind and exits 1 unless all answer 200.
`peak` runs closed-loop (every connection sends as soon as it has its answer)
and prints `peak_rps X`. `run` is open-loop at a fixed rate: request i is due
at t0 + i / R whatever happened before (a slow answer delays nothing else on
the other connections, and its latency is counted from the due time). It
stops at the deadline: slots a slow server left unsent are counted
(`unsent`), not sent late, so achieved_rps shows the shortfall.

Both print `key value` lines: requests and non-2xx by kind, achieved rate,
latency percentiles, reconnects, the first few non-2xx answers, and the
load generator's own CPU seconds. `--procs` processes x `--conns` threads,
one keep-alive connection each (the GIL makes one process too slow).
"""
import argparse
import array
import base64
import collections
import json
import multiprocessing
import os
import random
import socket
import struct
import sys
import time

KINDS = ("score_nouser", "score_user", "update_event", "update_direct")
# An update_event always comes after at least one score_user of its connection.
CYCLE = "NUNENUDNUNEDNUNUEDNU"
KIND_OF = {"N": "score_nouser", "U": "score_user", "E": "update_event", "D": "update_direct"}
assert sorted(collections.Counter(CYCLE).items()) == [("D", 3), ("E", 3), ("N", 8), ("U", 6)]


def b64_vector(rng, n):
    return base64.b64encode(struct.pack("<%df" % n, *(rng.gauss(0.0, 0.5) for _ in range(n)))).decode("ascii")


class Bodies:
    """The fixed parts of every body, built once."""

    def __init__(self, d, dc, seed=1):
        rng = random.Random(seed)
        ctx = [b64_vector(rng, dc) for _ in range(4)]
        vecs = [b64_vector(rng, d) for _ in range(8)]
        dump = lambda o: json.dumps(o, separators=(",", ":")).encode()
        self.nouser = [dump({"context": ctx[i], "responses": vecs[i:i + 4]}) for i in range(4)]
        # a score_user body is b'{"user":..,"event":..,' + tail
        self.user_tail = [dump({"context": ctx[i], "responses": vecs[i + 1:i + 3]})[1:] for i in range(4)]
        self.direct_tail = [dump({"context": ctx[i], "chosen": vecs[i], "rejected": vecs[i + 4]})[1:]
                            for i in range(4)]


def http_request(path, body):
    return (b"POST %s HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path, len(body))) + body


class Conn:
    def __init__(self, host, port):
        self.addr = (host, port)
        self.sock = None
        self.buf = b""
        self.reconnects = -1

    def open(self):
        self.close()
        self.sock = socket.create_connection(self.addr, timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.reconnects += 1

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def exchange(self, raw):
        """Send one request, read one answer: (status, body bytes). Reconnects
        once if the server had closed an idle keep-alive connection."""
        for attempt in (0, 1):
            if self.sock is None:
                self.open()
            try:
                self.sock.sendall(raw)
                return self._read()
            except (ConnectionError, BrokenPipeError) as e:
                self.close()
                if attempt:
                    return 0, ("connection error: %s" % e).encode()
        return 0, b""

    def _read(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed before the answer")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"connection" and v.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed inside the answer")
            rest += chunk
        body, self.buf = rest[:length], rest[length:]
        if close:
            self.close()
        return status, body


def worker(args, bodies, tid, nthreads, t0, deadline, out):
    """One connection. Open loop when args.rate > 0: this thread owns request
    slots tid, tid + nthreads, ... and slot i is due at t0 + i / rate."""
    conn = Conn(args.host, args.port)
    rng = random.Random(tid)
    events = collections.deque(maxlen=256)   # (user, event) this connection scored
    counts = {k: collections.Counter() for k in KINDS}
    lat = array.array("d")
    errors = []
    tag = "e%d-%d" % (os.getpid(), tid)
    n = 0
    late = 0
    unsent = 0
    while True:
        if args.rate > 0:
            due = t0 + (tid + n * nthreads) / args.rate
            if due >= deadline or time.monotonic() >= deadline:
                # a server that fell behind leaves slots unsent: no backlog is
                # drained after the deadline (achieved_rps shows the shortfall)
                unsent += max(0, int((deadline - due) * args.rate / nthreads) + 1) if due < deadline else 0
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.1:
                late += 1
        else:
            due = time.monotonic()
            if due >= deadline:
                break
        kind = KIND_OF[CYCLE[n % len(CYCLE)]]
        if kind == "update_event" and not events:
            kind = "update_direct"     # its score_user failed: already counted
        v = n % 4
        user = b"soak-%d" % rng.randrange(args.users)
        if kind == "score_nouser":
            raw = http_request(b"/score", bodies.nouser[v])
        elif kind == "score_user":
            ev = ("%s-%d" % (tag, n)).encode()
            raw = http_request(b"/score", b'{"user":"%s","event":"%s",' % (user, ev) + bodies.user_tail[v])
            pending = (user, ev)
        elif kind == "update_event":
            eu, ev = events.pop()
            raw = http_request(b"/route/update",
                               b'{"user":"%s","event":"%s","chosen":0,"rejected":1}' % (eu, ev))
        else:
            raw = http_request(b"/route/update", b'{"user":"%s",' % user + bodies.direct_tail[v])
        try:
            status, body = conn.exchange(raw)
        except (OSError, ValueError, IndexError) as e:
            conn.close()
            status, body = 0, ("%s: %s" % (type(e).__name__, e)).encode()
        lat.append(time.monotonic() - due)
        counts[kind][status] += 1
        if 200 <= status < 300:
            if kind == "score_user":
                events.append(pending)
        elif len(errors) < 5:
            errors.append("%s %d %s" % (kind, status, body[:300].decode("utf-8", "replace")))
        n += 1
    conn.close()
    out.append((counts, lat, errors, max(conn.reconnects, 0), late, time.monotonic() - t0, unsent))


def process_main(args, first_tid, nthreads_total, t0_wall, q):
    import threading
    bodies = Bodies(args.d, args.dc)
    # translate the shared wall-clock start to this process's monotonic clock
    t0 = time.monotonic() + (t0_wall - time.time())
    deadline = t0 + args.seconds
    results = []
    threads = [threading.Thread(target=worker, args=(args, bodies, first_tid + i, nthreads_total, t0, deadline, results))
               for i in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {k: collections.Counter() for k in KINDS}
    lat = array.array("d")
    errors, reconnects, late, elapsed, unsent = [], 0, 0, 0.0, 0
    for c, l, e, r, lt, el, un in results:
        for k in KINDS:
            counts[k].update(c[k])
        lat.extend(l)
        errors += e
        reconnects += r
        late += lt
        elapsed = max(elapsed, el)
        unsent += un
    cpu = os.times()
    q.put(({k: dict(v) for k, v in counts.items()}, lat.tobytes(), errors[:5], reconnects, late,
           cpu.user + cpu.system, elapsed, unsent))


def percentile(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals)))]


def load(args):
    nthreads = args.procs * args.conns
    q = multiprocessing.Queue()
    t0_wall = time.time() + 1.0 + 0.2 * args.procs     # let every process build its bodies first
    procs = [multiprocessing.Process(target=process_main, args=(args, p * args.conns, nthreads, t0_wall, q))
             for p in range(args.procs)]
    for p in procs:
        p.start()
    parts = [q.get() for _ in procs]
    for p in procs:
        p.join()
    counts = {k: collections.Counter() for k in KINDS}
    lat = array.array("d")
    errors, reconnects, late, cpu, elapsed, unsent = [], 0, 0, 0.0, args.seconds, 0
    for c, lb, e, r, lt, cs, el, un in parts:
        for k in KINDS:
            counts[k].update(c[k])
        a = array.array("d")
        a.frombytes(lb)
        lat.extend(a)
        errors += e
        reconnects += r
        late += lt
        cpu += cs
        elapsed = max(elapsed, el)
        unsent += un
    total = sum(sum(c.values()) for c in counts.values())
    non2xx = sum(n for c in counts.values() for s, n in c.items() if not 200 <= s < 300)
    lat = sorted(lat)
    print("mode %s" % ("run" if args.rate > 0 else "peak"))
    if args.rate > 0:
        print("target_rps %.1f" % args.rate)
    print("seconds %.1f" % elapsed)
    print("requests %d" % total)
    # answers over the time until the last one
    print("achieved_rps %.1f" % (total / elapsed))
    for k in KINDS:
        bad = {s: n for s, n in counts[k].items() if not 200 <= s < 300}
        print("kind %s requests %d non2xx %d%s" % (k, sum(counts[k].values()), sum(bad.values()),
                                                   (" statuses %s" % bad) if bad else ""))
    print("non2xx %d" % non2xx)
    print("reconnects %d" % reconnects)
    print("late_over_100ms %d" % late)
    if args.rate > 0:
        print("unsent %d" % unsent)
    for p in (50, 99, 99.9):
        print("p%s_ms %.2f" % (("%g" % p).replace(".", ""), 1000 * percentile(lat, p)))
    print("max_ms %.2f" % (1000 * lat[-1] if lat else float("nan")))
    print("loadgen_cpu_s %.1f" % cpu)
    for e in errors[:5]:
        print("error %s" % e.replace("\n", " "))
    if args.rate <= 0:
        print("peak_rps %.1f" % (total / elapsed))
    return 0 if total and non2xx == 0 else 1


def check(args):
    bodies = Bodies(args.d, args.dc)
    conn = Conn(args.host, args.port)
    ev = b"check-%d" % os.getpid()
    reqs = [("score_nouser", b"/score", bodies.nouser[0]),
            ("score_user", b"/score", b'{"user":"soak-0","event":"%s",' % ev + bodies.user_tail[0]),
            ("update_event", b"/route/update", b'{"user":"soak-0","event":"%s","chosen":0,"rejected":1}' % ev),
            ("update_direct", b"/route/update", b'{"user":"soak-0",' + bodies.direct_tail[0])]
    for kind, path, body in reqs:
        status, answer = conn.exchange(http_request(path, body))
        print("check %s %d" % (kind, status))
        if status != 200:
            print("soak_load: %s answered %d: %s" % (kind, status, answer[:300].decode("utf-8", "replace")),
                  file=sys.stderr)
            return 1
    conn.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("check", "peak", "run"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, default=0.0, help="requests/s (run)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--conns", type=int, default=16, help="connections (threads) per process")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--d", type=int, default=3072)
    ap.add_argument("--dc", type=int, default=3072)
    args = ap.parse_args()
    if args.mode == "check":
        return check(args)
    if args.mode == "run" and args.rate <= 0:
        ap.error("run needs --rate > 0")
    if args.mode == "peak":
        args.rate = 0.0
    return load(args)


if __name__ == "__main__":
    sys.exit(main())
