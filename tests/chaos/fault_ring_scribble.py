#!/usr/bin/env python3
"""Fault injection: a rogue writer scribbles random bytes over the shared-memory rings while the
pipeline runs (what a compromised processor could do: it maps the raw ring read-write and
produces the out ring). Every reader must treat those bytes as hostile: count the faults, drop
what it cannot parse (counted), resynchronise and keep running. Nothing may crash.

Phases (each on our own pipeline, pids we started):
  1. raw ring, data area: the processor is paused (SIGSTOP) so published records pile up, garbage
     is written over the pending region and at random offsets, then it resumes.
  2. out ring, data area: the same against the shipper.
  3. raw ring, consumer position: read_pos overwritten with garbage while capture produces
     (capture must count a bad consumer position and keep running; the ring must not wedge).
After each phase: no child restarted, the fault is visible in the counters, and fresh events
still flow end to end. The accounting identity is reported; events destroyed by garbage can
only be explained by counted faults (checked: unexplained != 0 requires fault counters > 0).

Usage: fault_ring_scribble.py --build-dir B
"""

import argparse
import mmap
import os
import random
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CHILDREN, HarnessError, Pipeline, describe_accounting, wait_quiescent  # noqa: E402

HEADER = 320  # sizeof(RingHeader): geometry line, then write_pos, read_pos, wake words
OFF_CAPACITY = 16
OFF_WRITE_POS = 64
OFF_READ_POS = 128


class Ring:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.map = mmap.mmap(self.fd, self.size)
        self.capacity = struct.unpack_from("<Q", self.map, OFF_CAPACITY)[0]

    def close(self):
        self.map.close()
        os.close(self.fd)

    def positions(self):
        w = struct.unpack_from("<Q", self.map, OFF_WRITE_POS)[0]
        r = struct.unpack_from("<Q", self.map, OFF_READ_POS)[0]
        return w, r

    def scribble(self, rng, offset, length):
        offset %= self.capacity
        length = min(length, self.capacity - offset)
        self.map[HEADER + offset:HEADER + offset + length] = rng.randbytes(length)


def counters(st, name):
    for p in st["processes"]:
        if p["name"] == name:
            return p["counters"]
    return {}


def check_alive(pipe, st, phase, failures):
    for p in st["processes"]:
        if p["restarts"] != 0 or p["state"] != "running":
            failures.append(f"{phase}: {p['name']} crashed or restarted (state {p['state']}, "
                            f"restarts {p['restarts']}, last exit {p['last_exit']!r})")


def wait_flowing(pipe, phase, failures, timeout=20):
    """Fresh events must still reach the sink after the fault: more than a few rings full (a
    1 MiB ring holds ~3500 synthetic events), so a wedged ring cannot pass on what it held."""
    before = pipe.status()["accounting"]["delivered"]
    try:
        return pipe.wait_until(lambda s: s["accounting"]["delivered"] > before + 20000, timeout,
                               f"{phase}: events flowing again")
    except HarnessError as e:
        failures.append(f"{phase}: pipeline stalled after the fault: delivered stuck at {before}; {e}")
        return pipe.status()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--phases", default="raw,out,readpos",
                    help="comma list of: raw (raw ring data), out (out ring data), readpos")
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    rng = random.Random(args.seed)
    failures = []
    print(f"scribble: seed {args.seed}")
    overrides = {
        "capture.synthetic_events": 0,
        "capture.synthetic_rate": 20000,
        "supervisor.event_buffer_size": 1 << 20,
    }
    with Pipeline(args.build_dir, overrides, name="rw-scribble") as pipe:
        st = pipe.start()
        sup = pipe.supervisor_pid
        raw = Ring(f"/dev/shm/ringward-{sup}-raw")
        out = Ring(f"/dev/shm/ringward-{sup}-out")
        try:
            for key, phase, ring, victim, counter_proc in (
                    ("raw", "raw ring data", raw, "processor", "processor"),
                    ("out", "out ring data", out, "shipper", "shipper")):
                if key not in phases:
                    continue
                time.sleep(0.5)
                pid = pipe.process(pipe.status(), victim)["pid"]
                if not pipe.is_child_of_supervisor(pid, sup, victim):
                    raise HarnessError(f"{victim} pid {pid} is not ours")
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(0.3)  # published records pile up behind the paused reader
                    w, r = ring.positions()
                    pending = w - r
                    hits = 0
                    for _ in range(200):
                        if pending > 64 and rng.random() < 0.7:
                            off = r + rng.randrange(0, pending - 16)
                        else:
                            off = rng.randrange(0, ring.capacity)
                        ring.scribble(rng, off, rng.choice((8, 16, 64, 300)))
                        hits += 1
                    # One record header of a plausible shape but an absurd length.
                    if pending > 64:
                        ring.map[HEADER + (r % ring.capacity):HEADER + (r % ring.capacity) + 8] = \
                            struct.pack("<II", 0xfffffff0, 0x52570001)
                finally:
                    os.kill(pid, signal.SIGCONT)
                print(f"scribble: {phase}: {hits} garbage writes, {pending} bytes were pending")
                st = wait_flowing(pipe, phase, failures)
                c = counters(st, counter_proc)
                if counter_proc == "processor":
                    seen = c.get("ring_in_bad_header", 0) + c.get("events_invalid", 0)
                    print(f"scribble: processor counted ring_in_bad_header {c.get('ring_in_bad_header')} "
                          f"skipped_bytes {c.get('ring_in_skipped_bytes')} events_invalid {c.get('events_invalid')}")
                else:
                    seen = c.get("dropped.shipper.invalid", 0) + c.get("ring_in_bad_header", 0)
                    print(f"scribble: shipper counted dropped.shipper.invalid {c.get('dropped.shipper.invalid')}")
                if pending > 64 and seen == 0:
                    failures.append(f"{phase}: garbage over {pending} pending bytes but {counter_proc} "
                                    f"counted no fault (counters {c})")
                check_alive(pipe, st, phase, failures)

            # Phase 3: the consumer position of the raw ring, as a compromised processor could.
            phase = "raw ring read_pos"
            if "readpos" not in phases:
                raise StopIteration
            pid = pipe.process(pipe.status(), "processor")["pid"]
            os.kill(pid, signal.SIGSTOP)
            try:
                w, _ = raw.positions()
                for bogus in (w + (1 << 40), 3, w + 8 * 1024 * 1024 * 1024):
                    struct.pack_into("<Q", raw.map, OFF_READ_POS, bogus)
                    time.sleep(0.05)
            finally:
                os.kill(pid, signal.SIGCONT)
            print(f"scribble: {phase}: wrote 3 impossible consumer positions")
            st = wait_flowing(pipe, phase, failures)
            check_alive(pipe, st, phase, failures)
        except StopIteration:
            pass
        finally:
            raw.close()
            out.close()

        # The identity is exact only at quiescence (while events flow, the pages and the ring
        # positions are read at slightly different moments). The source is unbounded, so pause
        # capture (our child, by pid) until nothing is in flight and the counters stand still;
        # a pause that lands between its counter and ring publications is retried.
        for attempt in range(3):
            cap = pipe.process(pipe.status(), "capture")["pid"]
            if not pipe.is_child_of_supervisor(cap, pipe.proc.pid, "capture"):
                failures.append(f"capture pid {cap} is not our supervisor's child")
                break
            os.kill(cap, signal.SIGSTOP)
            try:
                st = wait_quiescent(pipe, 30, what="quiescence with capture paused")
            finally:
                os.kill(cap, signal.SIGCONT)
            if st["accounting"]["unexplained"] == 0:
                break
            time.sleep(0.2)
        acc = st["accounting"]
        print("scribble: " + describe_accounting(acc))
        pc, sc = counters(st, "processor"), counters(st, "shipper")
        faults = (pc.get("ring_in_bad_header", 0) + pc.get("ring_in_bad_position", 0) +
                  pc.get("events_invalid", 0) + sc.get("dropped.shipper.invalid", 0))
        if acc["unexplained"] != 0 and faults == 0:
            failures.append(f"{acc['unexplained']} events unexplained with no ring fault counted: "
                            + describe_accounting(acc))
        health = st["health"]
        print(f"scribble: health {health['state']} {health['reasons'][:4]}")
        for name in CHILDREN:
            p = pipe.process(st, name)
            if p["state"] != "running":
                failures.append(f"{name} not running at the end: {p['state']} ({p['last_exit']})")
    if failures:
        print("scribble: FAILED:\n  - " + "\n  - ".join(failures))
        return 1
    print("scribble: OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(f"scribble: FAILED: {e}")
        sys.exit(1)
