#!/usr/bin/env python3
"""Fault injection: the processor dies again and again the way a seccomp violation kills it
(SIGSYS, signal 31; sent by the test because the real processor offers no way to make it call
a forbidden syscall on purpose). With max_restarts = 3 in restart_window_s = 60, the fourth
death must trip the permanent-failure rule:

  - the processor ends in state `failed` and is not restarted any more;
  - its last exit names the seccomp violation;
  - capture and shipper keep running with the same pids and no restart;
  - health is Unhealthy and names the processor;
  - the accounting identity still holds (events wait in the raw ring as in_flight or are
    counted drops), and `ringwardctl restart processor` brings it back and the backlog drains.

Usage: fault_permanent_failure.py --build-dir B
"""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HarnessError, Pipeline, describe_accounting, identity, wait_quiescent  # noqa: E402

MAX_RESTARTS = 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    failures = []
    events = 20000
    overrides = {
        "capture.synthetic_events": events,
        "capture.synthetic_rate": 5000,
        "supervisor.max_restarts": MAX_RESTARTS,
        "supervisor.restart_window_s": 60,
        "supervisor.restart_backoff_initial_ms": 50,
        "supervisor.restart_backoff_max_ms": 400,
    }
    with Pipeline(args.build_dir, overrides, name="rw-permfail") as pipe:
        st = pipe.start()
        others = {n: pipe.process(st, n)["pid"] for n in ("capture", "shipper")}
        deaths = 0
        for _ in range(MAX_RESTARTS + 1):
            st = pipe.wait_until(lambda s: pipe.process(s, "processor")["state"] in ("running", "failed"),
                                 20, "processor running again")
            if pipe.process(st, "processor")["state"] == "failed":
                break
            if pipe.kill_child("processor", signal.SIGSYS, st) is not None:
                deaths += 1
            time.sleep(0.1)
        try:
            st = pipe.wait_until(lambda s: pipe.process(s, "processor")["state"] == "failed", 10,
                                 f"processor marked failed after {deaths} deaths")
        except HarnessError as e:
            failures.append(f"permanent-failure rule did not trip after {deaths} deaths "
                            f"(max_restarts {MAX_RESTARTS}): {str(e).splitlines()[0]}")
            st = pipe.status()
        p = pipe.process(st, "processor")
        print(f"permfail: {deaths} SIGSYS deaths; processor state {p['state']}, restarts {p['restarts']}, "
              f"last exit {p['last_exit']!r}")
        if deaths != MAX_RESTARTS + 1:
            failures.append(f"expected {MAX_RESTARTS + 1} deaths before the rule trips, saw {deaths}")
        if "seccomp" not in p["last_exit"]:
            failures.append(f"processor last exit does not name the seccomp violation: {p['last_exit']!r}")
        # It stays down: no restart after the rule tripped.
        time.sleep(1.5)
        st = pipe.status()
        p = pipe.process(st, "processor")
        if p["state"] != "failed" or p["pid"] != 0:
            failures.append(f"processor restarted after being marked failed: state {p['state']} pid {p['pid']}")
        for name, pid in others.items():
            q = pipe.process(st, name)
            if q["pid"] != pid or q["restarts"] != 0 or q["state"] != "running":
                failures.append(f"{name} was disturbed by the processor's deaths: pid {pid} -> {q['pid']}, "
                                f"restarts {q['restarts']}, state {q['state']}")
        health = st["health"]
        print(f"permfail: health {health['state']}: {health['reasons']}")
        if health["state"] != "Unhealthy":
            failures.append(f"health is {health['state']} with the processor permanently failed")
        if not any("processor" in r and "fail" in r for r in health["reasons"]):
            failures.append(f"health reasons do not name the failed processor: {health['reasons']}")

        # Capture finishes; what the processor never saw waits in the raw ring as in_flight.
        st = pipe.wait_until(lambda s: pipe.process(s, "capture")["counters"].get("synthetic_index", 0) >= events,
                             30, "capture produced all events")
        time.sleep(0.5)
        acc = pipe.status()["accounting"]
        lhs, rhs, _ = identity(acc)
        print("permfail: while failed: " + describe_accounting(acc))
        if lhs != rhs or acc["unexplained"] != 0:
            failures.append(f"identity broken with the processor down: {lhs - rhs} unaccounted: "
                            + describe_accounting(acc))
        if acc["in_flight"] == 0:
            failures.append("nothing in flight with the processor down: where did the events go?")

        # Operator retry: the rule resets and the backlog drains.
        pipe.command("restart processor")
        st = wait_quiescent(pipe, 60, what="processor restarted by ringwardctl and backlog drained")
        acc = st["accounting"]
        lhs, rhs, _ = identity(acc)
        print("permfail: after restart: " + describe_accounting(acc))
        if lhs != rhs or acc["unexplained"] != 0 or acc["captured"] != events:
            failures.append("after `restart processor`: " + describe_accounting(acc))
        if st["health"]["state"] == "Unhealthy":
            failures.append(f"still Unhealthy after the processor came back: {st['health']['reasons']}")
    if failures:
        print("permfail: FAILED:\n  - " + "\n  - ".join(failures))
        return 1
    print("permfail: OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(f"permfail: FAILED: {e}")
        sys.exit(1)
