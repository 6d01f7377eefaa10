#!/usr/bin/env python3
"""Sample a process's resident set size, and judge its growth (stdlib only).

    rss_sampler.py sample --pid PID --out FILE [--interval 1]
    rss_sampler.py report FILE --warmup S [--limit 5]

`sample` appends `elapsed_s rss_kb anon_kb file_kb` lines to FILE (VmRSS,
RssAnon and RssFile of /proc/PID/status; flushed each line) every --interval
seconds from its start, until PID is gone or it gets SIGTERM/SIGINT.

`report` reads such a file and prints `key value` lines: samples, the RSS at
the end of the warm-up (the first sample at or after S seconds), at the end,
the lowest and highest after the warm-up, the growth in % from the warm-up
end to the end, the least-squares slope after the warm-up (KiB per minute,
which a slow leak shows even when the end value is noisy), and `rss_verdict
pass` when the growth is below --limit %, `fail` otherwise. Exit 0 on pass.
"""
import argparse
import signal
import sys
import time


def rss_kb(pid):
    """(VmRSS, RssAnon, RssFile) in KiB, None once the process is gone."""
    got = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    got[key] = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "VmRSS" not in got:
        return None   # a zombie has no VmRSS line
    return got["VmRSS"], got.get("RssAnon", 0), got.get("RssFile", 0)


def sample(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t0 = time.monotonic()
    n = 0
    with open(a.out, "a") as out:
        while not stop:
            kb = rss_kb(a.pid)
            if kb is None:
                break
            out.write("%.3f %d %d %d\n" % ((time.monotonic() - t0,) + kb))
            out.flush()
            n += 1
            # sleep to the next tick of the schedule, not interval after this one
            time.sleep(max(0.0, t0 + n * a.interval - time.monotonic()))
    return 0


def report(a):
    rows = []
    with open(a.file) as f:
        for line in f:
            f = line.split()
            rows.append((float(f[0]), int(f[1])))
    if not rows:
        print("rss_verdict fail (no samples)")
        return 1
    after = [r for r in rows if r[0] >= a.warmup]
    if len(after) < 2:
        print("samples %d" % len(rows))
        print("rss_verdict fail (the run ended before the warm-up of %g s did)" % a.warmup)
        return 1
    warm = after[0][1]
    end = rows[-1][1]
    growth = 100.0 * (end - warm) / warm
    n = len(after)
    mt = sum(t for t, _ in after) / n
    mk = sum(k for _, k in after) / n
    var = sum((t - mt) ** 2 for t, _ in after)
    slope = sum((t - mt) * (k - mk) for t, k in after) / var * 60 if var else 0.0
    print("samples %d" % len(rows))
    print("first_rss_kb %d" % rows[0][1])
    print("warmup_s %g" % a.warmup)
    print("rss_warmup_end_kb %d" % warm)
    print("rss_end_kb %d" % end)
    print("rss_min_after_warmup_kb %d" % min(k for _, k in after))
    print("rss_max_after_warmup_kb %d" % max(k for _, k in after))
    print("rss_growth_pct %.2f" % growth)
    print("rss_slope_kb_per_min %.1f" % slope)
    ok = growth < a.limit
    print("rss_verdict %s" % ("pass" if ok else "fail"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--interval", type=float, default=1.0)
    r = sub.add_parser("report")
    r.add_argument("file")
    r.add_argument("--warmup", type=float, required=True)
    r.add_argument("--limit", type=float, default=5.0, help="largest growth in %% that passes")
    a = ap.parse_args()
    return sample(a) if a.cmd == "sample" else report(a)


if __name__ == "__main__":
    sys.exit(main())
