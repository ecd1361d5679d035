#!/usr/bin/env python3
"""Chaos test: under steady synthetic load, SIGKILL a random child (capture, processor or
shipper) every 1-3 s for a bounded time; then let the load finish and the pipeline go quiet and
check that nothing was lost or counted twice:

  - the accounting identity holds exactly (captured + generated = delivered + dead_lettered +
    sum(dropped) + in_flight, unexplained == 0);
  - every child came back (state running) and the supervisor counted each kill as a restart;
  - the NDJSON sink holds every delivered event exactly once: no duplicate ids, one line per
    delivered event, every capture id 0..N-1 of the run's epoch present unless a counted drop
    explains it, one processor-made event per `generated`.

Restart times (SIGKILL to the supervisor's "ready" log line) are written to the report (target
p99 < 1 s; recorded, not asserted: speed is not a test verdict here).

Usage: chaos_kill.py --build-dir B [--duration S] [--rate R] [--report FILE] [--seed N]
"""

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CHILDREN, HarnessError, Pipeline, describe_accounting, identity,  # noqa: E402
                     percentile, wait_quiescent)


def restart_times(pipe, kills):
    """Kill -> ready (ms) per kill, from the supervisor log: the first '<name>: ready after'
    line at or after the kill time (log timestamps have 1 ms resolution)."""
    events = pipe.supervisor_events()
    out = []
    for k in kills:
        ready = next((ts for ts, msg in events
                      if ts >= k["wall"] - 0.002 and msg.startswith(f"{k['name']}: ready after")), None)
        k["restart_ms"] = None if ready is None else max(0.0, (ready - k["wall"]) * 1000.0)
        out.append(k)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--duration", type=float, default=35.0, help="seconds of kills")
    ap.add_argument("--rate", type=int, default=20000, help="synthetic events/s")
    ap.add_argument("--min-interval", type=float, default=1.0)
    ap.add_argument("--max-interval", type=float, default=3.0)
    ap.add_argument("--report", default="chaos-report.json")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--victims", default=",".join(CHILDREN), help="comma list of children to kill")
    args = ap.parse_args()
    victims = set(args.victims.split(","))
    rng = random.Random(args.seed)
    # Enough events that the load outlasts the kills (capture downtime only stretches it).
    total = int(args.rate * (args.duration + 3))
    failures = []

    overrides = {
        "capture.synthetic_events": total,
        "capture.synthetic_rate": args.rate,
        # A child that stayed up 1 s gets its backoff reset: the kills here are at least 1 s
        # apart, so each restart is measured from the initial backoff (100 ms), not from an
        # exponential tail the test itself built up. The permanent-failure rule is covered by
        # fault_permanent_failure.py; here it must not trip.
        "supervisor.stable_after_s": 1,
        "supervisor.restart_backoff_initial_ms": 100,
        "supervisor.max_restarts": 1000,
        "supervisor.restart_window_s": 60,
        "supervisor.event_buffer_size": 4 << 20,
    }
    print(f"chaos: seed {args.seed}, {args.duration:.0f} s of kills, {args.rate} events/s, {total} events")
    with Pipeline(args.build_dir, overrides, name="rw-chaos") as pipe:
        pipe.start()
        kills = []
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end:
            time.sleep(rng.uniform(args.min_interval, args.max_interval))
            st = pipe.status()
            running = [p["name"] for p in st["processes"] if p["state"] == "running" and p["name"] in victims]
            if not running:
                continue
            name = rng.choice(running)
            res = pipe.kill_child(name, st=st)
            if res is None:
                continue
            pid, wall = res
            kills.append({"name": name, "pid": pid, "wall": wall,
                          "captured_at_kill": st["accounting"]["captured"]})
            print(f"chaos: t+{wall - pipe.started_wall:6.1f}s kill -9 {name} pid {pid}")

        # Load runs out by itself (bounded synthetic count); wait for everything to land.
        st = wait_quiescent(
            pipe, timeout=120,
            extra=lambda s: pipe.process(s, "capture")["counters"].get("synthetic_index", 0) >= total,
            what=f"capture finished all {total} events and the pipeline is idle")
        acc = st["accounting"]
        lhs, rhs, dropped = identity(acc)
        print("chaos: " + describe_accounting(acc))
        if lhs != rhs or acc["unexplained"] != 0:
            failures.append(f"accounting identity broken after {len(kills)} kills: "
                            f"{lhs - rhs} events unaccounted for: {describe_accounting(acc)}")

        # Every child back, every kill counted as a restart.
        for name in CHILDREN:
            p = pipe.process(st, name)
            n_kills = sum(1 for k in kills if k["name"] == name)
            if p["state"] != "running":
                failures.append(f"{name} did not come back: state {p['state']}, last exit {p['last_exit']!r}")
            if p["restarts"] != n_kills:
                failures.append(f"{name}: killed {n_kills} times but the supervisor counted "
                                f"{p['restarts']} restarts")

        # The sink's view: each delivered event exactly once, nothing missing.
        ids, bad_lines = pipe.read_ndjson_ids()
        if bad_lines:
            failures.append(f"{bad_lines} unparsable lines in the NDJSON sink (torn writes not repaired)")
        seen, dups = set(), []
        for i in ids:
            if i in seen:
                dups.append(i)
            seen.add(i)
        if dups:
            failures.append(f"{len(dups)} events delivered twice to the sink, e.g. ids {dups[:5]}")
        if len(ids) != acc["delivered"]:
            failures.append(f"sink holds {len(ids)} lines but delivered = {acc['delivered']} "
                            f"({acc['delivered'] - len(ids)} delivered events not in the file)")
        epoch = pipe.process(st, "capture")["counters"]["id_epoch"]
        captured_ids = {i for i in seen if not i >> 63}
        generated_ids = {i for i in seen if i >> 63}
        missing = [s for s in range(total) if (epoch << 32 | s) not in captured_ids]
        stray = [i for i in captured_ids if i >> 32 != epoch or (i & 0xffffffff) >= total]
        drops_total = dropped
        if len(missing) != drops_total:
            failures.append(f"{len(missing)} capture ids missing from the sink but {drops_total} counted "
                            f"drops: lost sequence numbers e.g. {missing[:10]}")
        if stray:
            failures.append(f"{len(stray)} capture ids outside epoch {epoch} / 0..{total - 1}: e.g. {stray[:5]}")
        if acc["captured"] != total:
            failures.append(f"captured = {acc['captured']} but the source made {total} events")
        if len(generated_ids) != acc["generated"]:
            failures.append(f"{len(generated_ids)} processor-made events in the sink, generated = {acc['generated']}")

        kills = restart_times(pipe, kills)
        times = [k["restart_ms"] for k in kills if k["restart_ms"] is not None]
        unmatched = [k for k in kills if k["restart_ms"] is None]
        if unmatched:
            failures.append(f"{len(unmatched)} kills without a later 'ready' line in the supervisor log: "
                            f"{[(k['name'], k['pid']) for k in unmatched[:5]]}")
        start_to_ready = []
        for _, msg in pipe.supervisor_events():
            if ": ready after " in msg:
                start_to_ready.append(float(msg.rsplit("ready after ", 1)[1].split()[0]))
        summary = {
            "seed": args.seed,
            "duration_s": args.duration,
            "rate": args.rate,
            "events": total,
            "kills": len(kills),
            "kills_by_child": {n: sum(1 for k in kills if k["name"] == n) for n in CHILDREN},
            "restart_ms": {
                "p50": percentile(times, 50), "p99": percentile(times, 99), "max": max(times, default=None),
                "by_child": {n: {"p50": percentile([k["restart_ms"] for k in kills if k["name"] == n and k["restart_ms"] is not None], 50),
                                 "max": max([k["restart_ms"] for k in kills if k["name"] == n and k["restart_ms"] is not None], default=None)}
                             for n in CHILDREN},
                "target_p99_ms": 1000,
                "note": "SIGKILL to the supervisor's ready line; includes the 100 ms initial restart backoff",
            },
            "exec_to_ready_ms": {"p50": percentile(start_to_ready, 50), "p99": percentile(start_to_ready, 99),
                                 "max": max(start_to_ready, default=None)},
            "accounting": acc,
            "counters_at_end": {p["name"]: p["counters"] for p in st["processes"]},
            "sink_lines": len(ids),
            "duplicates_suppressed": acc["duplicates"],
            "failures": failures,
            "kill_log": [{k2: v for k2, v in k.items()} for k in kills],
        }
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=2)
        r = summary["restart_ms"]
        print(f"chaos: {len(kills)} kills {summary['kills_by_child']}; restart kill->ready ms p50 {r['p50']:.0f} "
              f"p99 {r['p99']:.0f} max {r['max']:.0f} (target p99 < 1000); exec->ready p99 "
              f"{summary['exec_to_ready_ms']['p99']} ms; report {os.path.abspath(args.report)}"
              if times else "chaos: no restart times")
        if times and r["p99"] >= 1000:
            print("chaos: WARNING: restart p99 above the 1 s target")
    if failures:
        ship = summary["counters_at_end"].get("shipper", {})
        print("chaos: shipper counters at the end: " + ", ".join(f"{k}={v}" for k, v in sorted(ship.items())))
        print("chaos: FAILED:\n  - " + "\n  - ".join(failures))
        return 1
    print("chaos: OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(f"chaos: FAILED: {e}")
        sys.exit(1)
