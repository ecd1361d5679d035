#!/usr/bin/env python3
"""Benchmark results: collect, report, compare.

  regress.py collect OUT.json RUN_DIR    merges the raw files bench/run.sh wrote into RUN_DIR
                                         (calibration, Google Benchmark JSON, e2e JSON; one set
                                         per repetition) into one results file
  regress.py report RESULTS.json MD      writes BENCHMARKS.md from a results file
  regress.py check BASE.json NEW.json    fails (exit 1) when a figure's ratio is > 5 % worse than
                                         in BASE beyond the noise band

Baselines and ratios. This machine's speed swings by up to 5x from minute to minute (shared
vCPUs), so absolute figures from two runs cannot be compared. Each repetition first measures a
calibration workload (SHA-256 of 64 MiB and a 256 MiB memory copy, both single-threaded C
code); every figure of that repetition is expressed as a ratio to it: for times, figure / (ns
per calibration unit); for rates, figure x (ns per calibration unit) / 1e9. The ratio is what the
regression check compares. The noise band of a figure is the spread (max - min) / median of its
ratio over the >= 3 repetitions; a regression is a median ratio worse than the committed one by
more than 5 % plus the larger of the two bands.
"""

import glob
import json
import os
import statistics
import sys

THRESHOLD = 0.05


def load_json(path):
    with open(path) as f:
        return json.load(f)


def collect(out_path, run_dir):
    meta = load_json(os.path.join(run_dir, "meta.json"))
    figures = {}  # name -> {"unit", "better", "how", "values": [], "ratios": []}

    def add(name, value, unit, better, how, cal_ns):
        if value is None:
            return
        f = figures.setdefault(name, {"unit": unit, "better": better, "how": how, "values": [], "ratios": []})
        f["values"].append(value)
        # Machine-speed-normalised: a time in calibration units, a rate per calibration unit.
        f["ratios"].append(value / cal_ns if better == "lower" else value * cal_ns / 1e9)

    reps = sorted(int(os.path.basename(d).split("-")[1]) for d in glob.glob(os.path.join(run_dir, "rep-*")))
    cal_all = []
    for rep in reps:
        d = os.path.join(run_dir, f"rep-{rep}")
        cal = load_json(os.path.join(d, "calibration.json"))
        cal_ns = cal["ns_per_unit"]
        cal_all.append(cal_ns)
        for path in sorted(glob.glob(os.path.join(d, "gbench-*.json"))):
            exe = os.path.basename(path)[len("gbench-"):-len(".json")]
            try:
                data = load_json(path)
            except (OSError, ValueError):
                continue
            for b in data.get("benchmarks", []):
                if b.get("run_type") == "aggregate" or b.get("error_occurred"):
                    continue
                unit = b.get("time_unit", "ns")
                scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
                rt = "/real_time" in b.get("name", "")
                t = b["real_time"] * scale if rt else b["cpu_time"] * scale
                add(f"{exe}/{b['name']}", t, "ns/op", "lower",
                    f"Google Benchmark {exe}, {b.get('iterations')} iterations, "
                    f"{'real' if rt else 'cpu'} time per iteration", cal_ns)
        e2e_path = os.path.join(d, "e2e.json")
        if os.path.exists(e2e_path):
            try:
                e = load_json(e2e_path)
            except ValueError:
                e = {}
            how = (f"bench/e2e_pipeline.py: {e.get('events')} synthetic events as fast as capture "
                   "makes them, supervisor + capture + processor + shipper (NDJSON file)")
            add("e2e/throughput", e.get("events_per_s"), "events/s", "higher",
                how + "; delivered events / (last - first delivery), status polled every 100 ms", cal_ns)
            add("e2e/startup_to_ready", (e.get("startup_to_ready_ms") or 0) * 1e6 or None, "ns", "lower",
                "supervisor exec to the last child's 'ready' log line", cal_ns)
            for k, v in (e.get("peak_rss_mib") or {}).items():
                figures.setdefault(f"e2e/peak_rss_mib/{k}", {"unit": "MiB", "better": "lower", "how":
                                   "peak VmRSS (includes the shared rings it touched), sampled every 100 ms",
                                   "values": [], "ratios": [], "absolute": True})["values"].append(v)
            for key, how in (("memory_total_mib", "private memory (RssAnon+RssFile) of all four processes + "
                              "the shared segments once"),
                             ("ndjson_bytes_per_event", "NDJSON sink bytes per delivered event")):
                if e.get(key) is not None:
                    figures.setdefault(f"e2e/{key}", {"unit": "MiB" if "mib" in key else "bytes", "better": "lower",
                                       "how": how, "values": [], "ratios": [], "absolute": True})["values"].append(e[key])
            shed = sum((e.get("dropped") or {}).values())
            figures.setdefault("e2e/shed_events", {"unit": "events", "better": "lower", "how":
                               "events the processor shed while the out ring was over 95 %",
                               "values": [], "ratios": [], "absolute": True})["values"].append(shed)
    for f in figures.values():
        vals = f["ratios"] if f["ratios"] else f["values"]
        med = statistics.median(vals)
        f["median"] = statistics.median(f["values"])
        f["median_ratio"] = med if f["ratios"] else None
        f["band"] = (max(vals) - min(vals)) / med if med else 0.0
    out = {"meta": meta, "calibration_ns_per_unit": cal_all, "repetitions": len(reps), "figures": figures}
    with open(out_path, "w") as fo:
        json.dump(out, fo, indent=2, sort_keys=True)
    return 0


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def report(results_path, md_path):
    r = load_json(results_path)
    m = r["meta"]
    figs = r["figures"]
    lines = [
        "# ringward benchmarks",
        "",
        "Generated by `bench/run.sh` (do not edit by hand; rerun it). Compare a new run against this",
        "one with `bench/run.sh --check` (fails on a > 5 % worse ratio beyond the measured noise band).",
        "",
        "## Machine",
        "",
        f"- CPU: {m.get('cpu')} ({m.get('nproc')} vCPUs), kernel {m.get('kernel')}, memory {m.get('mem')}",
        f"- compiler: {m.get('compiler')}, build type {m.get('buildtype')}, commit {m.get('commit')}",
        f"- date: {m.get('date')}; {r['repetitions']} repetitions of everything",
        f"- calibration (ns per unit, per repetition): "
        + ", ".join(f"{c:.1f}" for c in r["calibration_ns_per_unit"]),
        "",
        "## How to read this",
        "",
        "Each repetition first measures a calibration workload (SHA-256 of 64 MiB plus a 256 MiB copy;",
        "one unit = the time for 1 KiB of both). The **ratio** column is the figure against that",
        "baseline from the same repetition: for times, figure / unit time (lower is better); for",
        "rates, figure x unit time (higher is better). Ratios are what stays comparable between runs",
        "on a machine whose speed swings; absolute figures are the medians of this run. **band** is",
        "the spread (max - min) / median of the ratio across repetitions: the noise the regression",
        "check allows on top of 5 %.",
        "",
        "## Figures",
        "",
        "| figure | median | unit | ratio to baseline | band | how measured |",
        "|---|---|---|---|---|---|",
    ]
    for name in sorted(figs):
        f = figs[name]
        lines.append(f"| `{name}` | {fmt(f['median'])} | {f['unit']} | {fmt(f.get('median_ratio'))} | "
                     f"{f['band'] * 100:.1f} % | {f['how']} |")
    e = {k: v for k, v in figs.items() if k.startswith("e2e/")}
    if e:
        lines += ["", "## User-facing figures", ""]
        if "e2e/throughput" in e:
            lines.append(f"- End-to-end throughput: {fmt(e['e2e/throughput']['median'])} events/s "
                         "(one host, 2 vCPUs shared by all four processes).")
        if "e2e/startup_to_ready" in e:
            lines.append(f"- Start-up to ready: {e['e2e/startup_to_ready']['median'] / 1e6:.0f} ms (target < 1 s).")
        if "e2e/memory_total_mib" in e:
            lines.append(f"- Memory of the whole agent under load: {e['e2e/memory_total_mib']['median']:.0f} MiB "
                         "(private pages of every process + the shared rings once; target <= 150 MiB).")
        if "e2e/ndjson_bytes_per_event" in e:
            b = e["e2e/ndjson_bytes_per_event"]["median"]
            lines.append(f"- Disk per hour (NDJSON sink): {b:.0f} bytes/event = "
                         f"{b * 1000 * 3600 / 2**30:.2f} GiB/hour at 1000 events/s, "
                         f"{b * 10000 * 3600 / 2**30:.1f} GiB/hour at 10000 events/s.")
        lines.append("- Capture overhead on nginx + wrk: `bench/capture_overhead.sh` (needs root and "
                     "nginx/wrk; not part of this run).")
    # The issues' targets that are ratios of two figures of this same run.
    r64, r512, mc = (figs.get("ring_bench/BM_RingTwoProcess/64/real_time"),
                     figs.get("ring_bench/BM_RingTwoProcess/512/real_time"),
                     figs.get("ring_bench/BM_MemcpyBaseline"))
    if r64 and r512 and mc:
        recs = 2_000_000  # records per iteration in ring_bench
        rate64 = recs / (r64["median"] / 1e9)
        bw512 = recs * 512 / (r512["median"] / 1e9)
        bwmc = (1 << 20) / (mc["median"] / 1e9)
        lines += ["", "## Ring targets (same run)", "",
                  f"- 64-byte records across two processes: {rate64 / 1e6:.1f} M records/s (target >= 20 M/s).",
                  f"- 512-byte records: {bw512 / 1e9:.2f} GB/s = {bw512 / bwmc:.2f} of memcpy's "
                  f"{bwmc / 1e9:.1f} GB/s for 1 MiB blocks (target >= 0.50)."]
    # Processor targets (issue 4): the hardening chain per event, and the offline classifier's rate.
    chain, cls = figs.get("stages_bench/BM_Chain"), figs.get("detect_bench/BM_ClassifySqli")
    if chain or cls:
        lines += ["", "## Processor targets (same run)", ""]
        if chain:
            lines.append(f"- Hardening chain without payload scanning (validate, priority, breaker, rate "
                         f"limit, shed) on the event mix: {chain['median']:.0f} ns/event (target < 150).")
        if cls:
            per_iter = 1000  # detect_bench: 100 copies of 10 SQL-ish lines per iteration
            lines.append(f"- `ringward-processor classify --kind sqli`: "
                         f"{per_iter / (cls['median'] / 1e9) / 1e6:.2f} M strings/s "
                         f"({cls['median'] / per_iter:.0f} ns per line, reading and printing included).")
    # Figures measured by separate scripts (root, nginx, wrk, eBPF): each writes its own section.
    here = os.path.dirname(os.path.abspath(__file__))
    extra = sorted(glob.glob(os.path.join(here, "results", "*.md"))) + \
        sorted(glob.glob(os.path.join(here, "*_results.md")))
    for path in extra:
        with open(path) as f:
            body = f.read().strip()
        lines += ["", f"<!-- from {os.path.relpath(path, os.path.dirname(here))} -->", body.replace("\n# ", "\n## ")
                  if not body.startswith("# ") else "#" + body.replace("\n# ", "\n## ")]
    with open(md_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


def check(base_path, new_path):
    base, new = load_json(base_path)["figures"], load_json(new_path)["figures"]
    bad, compared = [], 0
    for name, nf in sorted(new.items()):
        bf = base.get(name)
        if not bf or bf.get("median_ratio") is None or nf.get("median_ratio") is None:
            continue
        compared += 1
        b, n = bf["median_ratio"], nf["median_ratio"]
        worse = (n - b) / b if nf["better"] == "lower" else (b - n) / b
        allowed = THRESHOLD + max(bf["band"], nf["band"])
        status = "REGRESSION" if worse > allowed else "ok"
        print(f"{status:10} {name}: ratio {b:.4g} -> {n:.4g} ({worse * 100:+.1f} % worse; allowed {allowed * 100:.1f} %)")
        if worse > allowed:
            bad.append(name)
    print(f"compared {compared} figures; {len(bad)} regressions")
    return 1 if bad else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "collect":
        return collect(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "report":
        return report(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
