#!/usr/bin/env python3
"""End-to-end benchmark: the whole pipeline (supervisor, capture with the synthetic source as fast
as it goes, processor with detection, shipper to an NDJSON file) from a build directory.

Measures, in one run:
  - throughput: events/s delivered to the sink, from the first delivered event to the last of
    N (status polled every 100 ms; events the processor sheds are reported, not counted);
  - start-up to ready: supervisor exec to the last child's "ready" log line (ms);
  - memory: peak VmRSS of each process (sampled every 100 ms), and private memory
    (RssAnon + RssFile) summed plus the shared segments once;
  - sink bytes per event (NDJSON), to size disk usage per hour at a given rate.
Prints one JSON object. Usage: e2e_pipeline.py --build-dir B [--events N]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "chaos"))
from harness import CHILDREN, Pipeline, identity  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--events", type=int, default=300000)
    args = ap.parse_args()
    n = args.events
    overrides = {
        "capture.synthetic_events": n,
        "capture.synthetic_rate": 0,
        "processor.backpressure_threshold": 0.95,
        "shipper.fsync": "interval",
    }
    with Pipeline(args.build_dir, overrides, name="rw-bench") as pipe:
        t_exec = time.time()
        st = pipe.start(ready_timeout=30)
        ready = [ts for ts, msg in pipe.supervisor_events() if ": ready after " in msg]
        startup_ms = (max(ready) - t_exec) * 1000 if len(ready) >= 3 else None
        pids = {p["name"]: p["pid"] for p in st["processes"]}
        pids["supervisor"] = pipe.supervisor_pid
        peak = {k: 0 for k in pids}
        peak_private = {k: 0 for k in pids}
        t_first = t_last = None
        d_first = 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            st = pipe.status()
            acc = st["accounting"]
            now = time.monotonic()
            for name, pid in pids.items():
                m = pipe.proc_status(pid)
                if m:
                    peak[name] = max(peak[name], m["VmRSS"])
                    peak_private[name] = max(peak_private[name], m.get("RssAnon", 0) + m.get("RssFile", 0))
            done = acc["delivered"] + sum(acc["dropped"].values())
            if t_first is None and acc["delivered"] > 0:
                t_first, d_first = now, acc["delivered"]
            if acc["captured"] >= n and acc["in_flight"] == 0 and done + 0 >= n:
                t_last = now
                break
            time.sleep(0.1)
        acc = pipe.status()["accounting"]
        lhs, rhs, dropped = identity(acc)
        size = os.path.getsize(pipe.ndjson_path)
        elapsed = (t_last - t_first) if (t_last and t_first) else None
        shm = 2 * (16 << 20) + 3 * (256 << 10)
        out = {
            "events": n,
            "delivered": acc["delivered"],
            "dropped": acc["dropped"],
            "identity_holds": lhs == rhs and acc["unexplained"] == 0,
            "events_per_s": (acc["delivered"] - d_first) / elapsed if elapsed else None,
            "startup_to_ready_ms": startup_ms,
            "peak_rss_mib": {k: v / 2**20 for k, v in peak.items()},
            "peak_rss_sum_mib": sum(peak.values()) / 2**20,
            "memory_total_mib": (sum(peak_private.values()) + shm) / 2**20,
            "ndjson_bytes_per_event": size / max(1, acc["delivered"]),
        }
    print(json.dumps(out))
    return 0 if out["identity_holds"] and out["events_per_s"] else 1


if __name__ == "__main__":
    sys.exit(main())
