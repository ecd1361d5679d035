#!/usr/bin/env python3
"""Soak: runs the pipeline under steady synthetic load for DURATION seconds, samples each
process's RSS (VmRSS) and open fds once a second, fits a least-squares slope per process after a
warm-up, writes a report (JSON + Markdown) and fails when a slope is positive beyond the noise
bound:

  RSS: a leak is a steady climb, so it must show twice: the projected growth over the measured
       window (slope x window) AND the rise of the median from the first to the last quarter of
       the window both exceed max(--rss-floor-mib, 3 x the residual standard deviation of the
       fit). Allocator noise (free memory handed back to the kernel and taken again when a
       buffer segment is dropped) shows as dips that tilt a fit but not the medians.
  fds: the floor must not rise after warm-up (an fd leak is discrete and never closes): the
       lowest count in the last quarter of the window must not exceed the lowest count in the
       first quarter. A descriptor that is open for a moment (a disk-buffer segment being rolled,
       a monitoring connection being served) shows in single samples, not in the floor.

Also fails when a child restarted during the soak (a crash is not a flat line). The accounting
identity at the end is reported and checked.

Usage: soak.py --build-dir B --duration S [--rate R] [--report PREFIX]
(scripts/soak.sh wraps it for long runs; the CI variant runs 60 s in the chaos suite.)
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CHILDREN, HarnessError, Pipeline, describe_accounting, identity, wait_quiescent  # noqa: E402


def fit(xs, ys):
    """Least-squares slope, intercept and residual standard deviation."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my, 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    icpt = my - slope * mx
    resid = [y - (icpt + slope * x) for x, y in zip(xs, ys)]
    sd = statistics.pstdev(resid) if n > 1 else 0.0
    return slope, icpt, sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--warmup", type=float, default=0.25, help="fraction of the run not fitted")
    ap.add_argument("--rss-floor-mib", type=float, default=2.0)
    ap.add_argument("--report", default="soak-report")
    args = ap.parse_args()
    failures = []
    total = int(args.rate * (args.duration + 2))
    overrides = {"capture.synthetic_events": total, "capture.synthetic_rate": args.rate}
    samples = {n: [] for n in CHILDREN + ("supervisor",)}
    with Pipeline(args.build_dir, overrides, name="rw-soak") as pipe:
        st = pipe.start()
        pids = {p["name"]: p["pid"] for p in st["processes"]}
        pids["supervisor"] = pipe.supervisor_pid
        t0 = time.monotonic()
        next_t = t0
        while time.monotonic() - t0 < args.duration:
            now = time.monotonic()
            for name, pid in pids.items():
                s = pipe.proc_status(pid)
                if s is None:
                    failures.append(f"{name} pid {pid} vanished at t+{now - t0:.0f}s")
                    continue
                samples[name].append((now - t0, s["VmRSS"], s["fds"], s.get("RssAnon", 0) + s.get("RssFile", 0)))
            next_t += 1.0
            time.sleep(max(0.0, next_t - time.monotonic()))
        st = pipe.status()
        for p in st["processes"]:
            if p["restarts"] or p["pid"] != pids[p["name"]]:
                failures.append(f"{p['name']} restarted during the soak ({p['restarts']} restarts, "
                                f"last exit {p['last_exit']!r})")
        st = wait_quiescent(pipe, 60, extra=lambda s: pipe.process(s, "capture")["counters"].get(
            "synthetic_index", 0) >= total, what="load finished and pipeline idle")
        acc = st["accounting"]
        lhs, rhs, _ = identity(acc)
        if lhs != rhs or acc["unexplained"]:
            failures.append("accounting identity broken after the soak: " + describe_accounting(acc))

    result = {"duration_s": args.duration, "rate": args.rate, "events": total,
              "accounting": acc, "processes": {}}
    rows = []
    for name, ss in samples.items():
        cut = [s for s in ss if s[0] >= args.warmup * args.duration]
        if len(cut) < 5:
            failures.append(f"{name}: only {len(cut)} samples after warm-up")
            continue
        xs = [s[0] for s in cut]
        window = xs[-1] - xs[0]
        rss_slope, _, rss_sd = fit(xs, [s[1] for s in cut])
        fd_slope, _, _ = fit(xs, [s[2] for s in cut])
        rss_growth = rss_slope * window
        rss_bound = max(args.rss_floor_mib * 2**20, 3 * rss_sd)
        quarter = max(1, len(cut) // 4)
        fd_floor_start = min(s[2] for s in cut[:quarter])
        fd_floor_end = min(s[2] for s in cut[-quarter:])
        fd_growth = fd_floor_end - fd_floor_start
        rss_median_rise = (statistics.median(s[1] for s in cut[-quarter:]) -
                           statistics.median(s[1] for s in cut[:quarter]))
        r = {
            "samples": len(ss),
            "series": [[round(s[0], 1), round(s[1] / 2**20, 2), s[2]] for s in ss],
            "rss_mib_start": ss[0][1] / 2**20, "rss_mib_end": ss[-1][1] / 2**20,
            "rss_mib_max": max(s[1] for s in ss) / 2**20,
            "rss_slope_kib_per_min": rss_slope * 60 / 1024,
            "rss_growth_over_window_mib": rss_growth / 2**20,
            "rss_noise_bound_mib": rss_bound / 2**20,
            "rss_median_rise_mib": rss_median_rise / 2**20,
            "fds_start": ss[0][2], "fds_end": ss[-1][2],
            "fd_slope_per_min": fd_slope * 60,
            # VmRSS counts the shared rings each process touched; private = RssAnon + RssFile.
            "private_mib_max": max(s[3] for s in ss) / 2**20,
        }
        result["processes"][name] = r
        rows.append(f"| {name} | {r['rss_mib_start']:.1f} | {r['rss_mib_end']:.1f} | {r['rss_mib_max']:.1f} | "
                    f"{r['rss_slope_kib_per_min']:+.1f} | {r['rss_growth_over_window_mib']:+.2f} / "
                    f"{r['rss_noise_bound_mib']:.2f} | {r['fds_start']} -> {r['fds_end']} |")
        if rss_growth > rss_bound and rss_median_rise > rss_bound:
            failures.append(f"{name}: RSS leaks: grew {rss_growth / 2**20:.2f} MiB over {window:.0f} s "
                            f"({r['rss_slope_kib_per_min']:+.1f} KiB/min; median rose "
                            f"{rss_median_rise / 2**20:.2f} MiB), noise bound {rss_bound / 2**20:.2f} MiB")
        if fd_growth > 0:
            failures.append(f"{name}: fds leak: the floor of open fds rose from {fd_floor_start} to "
                            f"{fd_floor_end} after warm-up (slope {fd_slope * 60:+.2f}/min)")
    total_rss = sum(r["rss_mib_max"] for r in result["processes"].values())
    result["total_rss_mib_max"] = total_rss
    # Real memory of the whole agent: private pages of each process plus the shared segments once.
    shm_mib = (2 * (16 << 20) + 3 * (256 << 10)) / 2**20
    total_private = sum(r["private_mib_max"] for r in result["processes"].values())
    result["total_memory_mib"] = total_private + shm_mib
    result["failures"] = failures
    with open(args.report + ".json", "w") as f:
        json.dump(result, f, indent=2)
    md = [f"# Soak report: {args.duration:.0f} s at {args.rate} events/s", "",
          "| process | RSS start MiB | RSS end MiB | RSS max MiB | slope KiB/min | growth / bound MiB | fds |",
          "|---|---|---|---|---|---|---|", *rows, "",
          f"Sum of per-process VmRSS maxima: {total_rss:.1f} MiB (counts the shared rings once per "
          f"process that maps them). Agent memory = private (RssAnon+RssFile) {total_private:.1f} MiB "
          f"+ shared segments {shm_mib:.1f} MiB = {result['total_memory_mib']:.1f} MiB (target <= 150 MiB).", "",
          "Accounting at the end: " + describe_accounting(acc), "",
          ("FAILED:\n" + "\n".join(f"- {x}" for x in failures)) if failures else "Verdict: flat (no leak)."]
    with open(args.report + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(f"soak: FAILED: {e}")
        sys.exit(1)
