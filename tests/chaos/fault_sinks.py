#!/usr/bin/env python3
"""Fault injection at the sink, whole pipeline under load: the real supervisor, capture
(synthetic source at a few thousand events/s), processor and shipper deliver to a Splunk HEC
stand-in (hec_receiver.py, 127.0.0.1) that misbehaves on cue. One scenario per run:

  sink_down   the receiver stops listening for a while: events pile up in the disk buffer
              (backlog and buffer bytes > 0), the sink is reported `unavailable`; once it is back
              the backlog drains, in order.
  storm_429   429 Too Many Requests with Retry-After for a while: the sink reports `backpressure`
              (docs/shipper.md: 429 is retry + backpressure, Retry-After honoured), nothing lost.
  busy_503    503 {"code":9} "Server is busy": retried, nothing lost.
  slow        answers after 0.5 s, then after 2 s (under the default request timeout): the
              backlog builds up in the buffer and drains, nothing lost, nothing sent twice.
  slow_timeout  answers after 3 s with the sink's `timeout_ms` at 2000: the timed-out requests
              are retried (the receiver already had them: duplicates, which the sink's retry
              counter must explain), nothing lost.
  close       the receiver reads each request and closes the connection without answering
              (alternately reset and orderly close): retried as backpressure, nothing lost.
  disk_full   (root) buffer_dir on a 2 MiB tmpfs, sink down: the buffer hits ENOSPC; the drops
              are counted (dropped.shipper.disk_full / buffer_full), the error is reported
              (buffer last_error, the shipper's log), the shipper keeps running, and once the
              sink is back it drains and new events flow again.
  crash_flapping  the receiver is down half the time (1.5 s phases) and the shipper is killed
              with SIGKILL in the middle of every phase: afterwards every event reached the
              receiver (events re-sent after a restart are allowed: HEC cannot de-duplicate),
              the identity holds, and the kills are the only restarts.

After every scenario, at quiescence: the accounting identity holds exactly (unexplained 0);
every event id the capture and processor issued either reached the receiver or is explained by a
counted drop / dead-letter (the missing count equals those counters, and without drops nothing
is missing); the receiver's unique ids equal `delivered`; an id received twice is allowed only
when the sink counted retries that can explain it; first arrivals come in id order per origin.
Every failed assertion names the ids or counts concerned.

Usage: fault_sinks.py --build-dir B --scenario NAME    (exit 77: skipped, e.g. not root)
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HarnessError, Pipeline, describe_accounting, identity, wait_quiescent  # noqa: E402
from hec_receiver import HecReceiver  # noqa: E402

TOKEN = "0f6c3f0e-ringward-chaos-token"
SKIP = 77
BATCH_SIZE = 500


class HecPipeline(Pipeline):
    """A Pipeline whose one sink is Splunk HEC (the harness writes a file sink: replaced here, so
    the HEC sink is the first sink, the one the accounting follows)."""

    def __init__(self, build_dir, overrides, hec_url, sink_options, name):
        super().__init__(build_dir, overrides, name=name)
        with open(self.config_path) as f:
            head = f.read().split("[[shipper.sinks]]")[0]
        sink = {"type": "splunk_hec", "endpoint": hec_url, "token": TOKEN, "batch_size": BATCH_SIZE,
                "flush_interval": "200ms", "sourcetype": "ringward:chaos", "index": "main"}
        sink.update(sink_options)
        lines = ["[[shipper.sinks]]"] + [f"{k} = {json.dumps(v)}" for k, v in sink.items()]
        with open(self.config_path, "w") as f:
            f.write(head + "\n".join(lines) + "\n")


# -- scenarios: load, sink options, receiver phases ----------------------------------------------

# phases: (receiver mode, mode parameters, seconds); the receiver is `normal` before and after.
SCENARIOS = {
    "sink_down": dict(rate=8000, seconds=6, sink={},
                      phases=[("normal", {}, 1.0), ("down", {}, 5.0)]),
    "storm_429": dict(rate=6000, seconds=6, sink={},
                      phases=[("normal", {}, 1.0), ("429", {"retry_after": 1}, 5.0)]),
    "busy_503": dict(rate=6000, seconds=6, sink={},
                     phases=[("normal", {}, 1.0), ("503", {}, 4.0)]),
    "slow": dict(rate=6000, seconds=7, sink={},
                 phases=[("normal", {}, 1.0), ("slow", {"delay": 0.5}, 3.0), ("slow", {"delay": 2.0}, 4.0)]),
    # `timeout_ms` is the documented key (docs/configuration.md) for the request timeout.
    "slow_timeout": dict(rate=6000, seconds=7, sink={"timeout_ms": 2000},
                         phases=[("normal", {}, 1.0), ("slow", {"delay": 3.0}, 5.0)]),
    "close": dict(rate=6000, seconds=6, sink={},
                  phases=[("normal", {}, 1.0), ("close", {}, 4.0)]),
    # Load long enough that events are still being captured after the breaker lets the sink back
    # in (it probes after 1, 2, 4 s ... while the receiver is down).
    "disk_full": dict(rate=2500, seconds=14, sink={}, root=True, tmpfs="2m", buffer_mb=4,
                      phases=[("normal", {}, 1.0), ("down", {}, 5.0)]),
    # The shipper is kill -9'd in the middle of every phase while the sink is down half the time
    # (issue 6's crash test): afterwards every event reached the receiver (re-sent ones allowed:
    # HEC cannot de-duplicate) and the identity holds; the kills are the only restarts.
    "crash_flapping": dict(rate=5000, seconds=12, sink={}, kill_shipper=True,
                           phases=[("normal", {}, 1.5), ("down", {}, 1.5), ("normal", {}, 1.5),
                                   ("down", {}, 1.5), ("normal", {}, 1.5), ("down", {}, 1.5),
                                   ("normal", {}, 1.5), ("down", {}, 1.5)]),
}


class Sampler:
    """Polls `status --json` in a thread; each sample carries the receiver phase it was taken in."""

    def __init__(self, pipe, interval=0.1):
        self.pipe = pipe
        self.interval = interval
        self.samples = []  # dicts: t, phase, state, breaker, backlog, buffer_bytes, shipper_pid, ...
        self.phase = "start"
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(10)
        return False

    def _run(self):
        while not self._stop.is_set():
            try:
                st = self.pipe.status()
            except (HarnessError, OSError, ValueError) as e:
                self.errors.append(str(e).splitlines()[0])
                self._stop.wait(self.interval)
                continue
            ship = self.pipe.process(st, "shipper")
            ps = ship.get("status") or {}
            buf = ps.get("buffer") or {}
            sink = (st.get("sinks") or [{}])[0]
            psink = (ps.get("sinks") or [{}])[0]
            self.samples.append(dict(
                t=time.monotonic(), phase=self.phase, state=sink.get("state"), breaker=sink.get("breaker"),
                backlog=sink.get("backlog", 0), sink_error=sink.get("last_error", ""),
                buffer_bytes=buf.get("bytes", 0), buffer_error=buf.get("last_error", ""),
                enospc=buf.get("enospc_errors", 0), retries=psink.get("retries", 0),
                shipper_pid=ship["pid"], shipper_state=ship["state"], shipper_restarts=ship["restarts"],
                buffered=ship["counters"].get("buffered", 0),
                dropped=sum(st["accounting"]["dropped"].values())))
            self._stop.wait(self.interval)

    def during(self, phase, grace=1.5):
        """Samples taken in `phase` or within `grace` s after it (the shipper refreshes its
        status once a second)."""
        idx = [i for i, s in enumerate(self.samples) if s["phase"] == phase]
        if not idx:
            return []
        t_end = self.samples[idx[-1]]["t"] + grace
        return [s for s in self.samples[idx[0]:] if s["t"] <= t_end]


@contextlib.contextmanager
def small_tmpfs(size):
    """A private tmpfs of `size` (mount -o size=...), unmounted and removed on exit whatever
    happened inside."""
    mnt = tempfile.mkdtemp(prefix="rw-diskfull-", dir="/tmp")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        raise HarnessError(f"mount -t tmpfs -o size={size} {mnt}: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        r = subprocess.run(["umount", mnt], capture_output=True, text=True)
        if r.returncode != 0:  # something still holds it (a shipper we failed to stop): detach
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        with contextlib.suppress(OSError):
            os.rmdir(mnt)


def expected_ids(pipe, st):
    """Every id the capture and the processor issued in this run (one epoch each: nothing was
    restarted), from their id counters."""
    cap = pipe.process(st, "capture")["counters"]
    proc = pipe.process(st, "processor")["counters"]
    ids = set()
    ids.update((cap.get("id_epoch", 0) << 32) | s for s in range(cap.get("id_next_seq", 0)))
    ids.update((1 << 63) | (proc.get("gen_epoch", 0) << 32) | s for s in range(proc.get("gen_next_seq", 0)))
    return ids


def fmt_ids(ids, n=12):
    ids = sorted(ids)
    head = ", ".join(f"{i:#x}" for i in ids[:n])
    return f"{len(ids)} ids [{head}{', ...' if len(ids) > n else ''}]"


def describe_duplicates(dups, batches, t0, prio, n=6):
    """Where each (of the first n) duplicated ids arrived: request number, time since start,
    position in that request and the request's size."""
    out = []
    for i in sorted(dups)[:n]:
        where = [f"req #{k} at {t - t0:.1f} s pos {ids.index(i)}/{len(ids)}"
                 for k, (t, ids) in enumerate(batches) if i in ids]
        out.append(f"{i:#x} {prio.get(i, '?')} x{dups[i]} ({'; '.join(where)})")
    return f"{len(dups)} ids: " + ", ".join(out) + (", ..." if len(dups) > n else "")


def first_inversion(order):
    """(position, previous id, id) of the first first-arrival that is lower than the one before it
    within its origin (capture / processor), or None."""
    seen, last = set(), {}
    for pos, i in enumerate(order):
        if i in seen:
            continue
        seen.add(i)
        o = i >> 63
        if o in last and i < last[o]:
            return pos, last[o], i
        last[o] = i
    return None


def run_scenario(name, spec, build_dir, log):
    failures = []
    events = spec["rate"] * spec["seconds"]
    overrides = {
        "capture.synthetic_events": events,
        "capture.synthetic_rate": spec["rate"],
    }
    with contextlib.ExitStack() as stack:
        if spec.get("tmpfs"):
            mnt = stack.enter_context(small_tmpfs(spec["tmpfs"]))
            overrides["shipper.buffer_dir"] = os.path.join(mnt, "buffer")
            overrides["shipper.max_buffer_size_mb"] = spec["buffer_mb"]
        rx = stack.enter_context(HecReceiver(TOKEN, lifetime=180.0))
        pipe = stack.enter_context(HecPipeline(build_dir, overrides, rx.url, spec["sink"], f"rw-{name}"))
        t0 = time.monotonic()
        st = pipe.start()
        shipper_pid = pipe.process(st, "shipper")["pid"]
        with Sampler(pipe) as sampler:
            kills = []
            for i, (mode, params, secs) in enumerate(spec["phases"]):
                sampler.phase = f"{i}:{mode}"
                rx.set_mode(mode, **params)
                log(f"phase {i}: {mode} {params or ''} for {secs:.1f} s")
                if spec.get("kill_shipper"):
                    time.sleep(secs / 2)
                    k = pipe.kill_child("shipper")  # verified child of our supervisor, by pid
                    if k:
                        kills.append(k[0])
                        log(f"killed the shipper (pid {k[0]}) with SIGKILL")
                    time.sleep(secs / 2)
                else:
                    time.sleep(secs)
            sampler.phase = "recovery"
            rx.set_mode("normal")
            log("phase recovery: normal")
            # Everything captured, everything delivered or explained, nothing moving any more.
            st = wait_quiescent(
                pipe, 50,
                extra=lambda s: pipe.process(s, "capture")["counters"].get("synthetic_index", 0) >= events,
                what="capture finished, backlog drained and accounting settled after the fault")
            # The shipper refreshes its status document (sink and buffer detail) once a second;
            # the counters the accounting reads are live. Read the detail once it caught up.
            time.sleep(1.2)
            st = pipe.status()
        elapsed = time.monotonic() - t0
        acc = st["accounting"]
        ship = pipe.process(st, "shipper")
        ps = ship.get("status") or {}
        psink = (ps.get("sinks") or [{}])[0]
        buf = ps.get("buffer") or {}
        retries = psink.get("retries", 0)
        log(f"after {elapsed:.1f} s: {describe_accounting(acc)}")
        log(f"sink {psink.get('name')}: state {psink.get('state')} delivered {psink.get('delivered')} "
            f"retries {retries} breaker_opens {psink.get('breaker_opens')} backpressure_seconds "
            f"{psink.get('backpressure_seconds')} dropped {psink.get('dropped')} last_error {psink.get('last_error')!r}")
        log(f"buffer: bytes {buf.get('bytes')} enospc_errors {buf.get('enospc_errors')} io_errors "
            f"{buf.get('io_errors')} dropped {buf.get('dropped')} last_error {buf.get('last_error')!r}")
        rstats = rx.stats()
        log(f"receiver: {json.dumps(rstats, sort_keys=True)}")
        for i, (mode, _, _) in enumerate(spec["phases"]):
            ss = sampler.during(f"{i}:{mode}")
            log(f"phase {i}:{mode}: states {sorted({s['state'] for s in ss if s['state']})}, max backlog "
                f"{max((s['backlog'] for s in ss), default=0)}, max buffer bytes "
                f"{max((s['buffer_bytes'] for s in ss), default=0)}, dropped by its end "
                f"{max((s['dropped'] for s in ss), default=0)}")
        if sampler.errors:
            log(f"status polls that failed: {len(sampler.errors)} (first: {sampler.errors[0]})")

        # -- the identity and the receiver's ids -----------------------------------------------------
        lhs, rhs, dropped = identity(acc)
        if lhs != rhs or acc["unexplained"] != 0:
            failures.append(f"accounting identity broken: {lhs - rhs} events unexplained: {describe_accounting(acc)}")
        if acc["captured"] != events:
            failures.append(f"capture counted {acc['captured']} events, the synthetic source was told {events}")
        expected = expected_ids(pipe, st)
        if len(expected) != acc["captured"] + acc["generated"]:
            failures.append(f"id counters give {len(expected)} issued ids, accounting says captured "
                            f"{acc['captured']} + generated {acc['generated']}")
        got = rx.ids()
        received = set(got)
        foreign = received - expected
        missing = expected - received
        if foreign:
            failures.append(f"receiver got ids nobody issued: {fmt_ids(foreign)}")
        explained = dropped + acc["dead_lettered"]
        if len(missing) != explained:
            failures.append(f"{len(missing)} issued ids never reached the receiver but only {explained} are "
                            f"counted as dropped/dead-lettered ({describe_accounting(acc)}); missing: {fmt_ids(missing)}")
        if not spec.get("drops_allowed") and (dropped or acc["dead_lettered"] or missing):
            failures.append(f"lost in a scenario that must lose nothing: missing {fmt_ids(missing)}; "
                            f"{describe_accounting(acc)}")
        if len(received & expected) != acc["delivered"]:
            failures.append(f"receiver holds {len(received & expected)} distinct issued ids, the shipper "
                            f"counts {acc['delivered']} delivered")
        dups = {i: c for i, c in got.items() if c > 1}
        extra = sum(c - 1 for c in dups.values())
        if dups:
            log(f"ids received more than once: {describe_duplicates(dups, rx.batches(), t0, rx.priorities())}")
        if dups and extra > retries * BATCH_SIZE and not spec.get("kill_shipper"):
            failures.append(f"{extra} duplicate receipts ({fmt_ids(dups)}) but the sink counted only {retries} "
                            f"retries (at most {retries * BATCH_SIZE} events resent)")
        if rstats.get("events_without_id"):
            failures.append(f"{rstats['events_without_id']} events reached the receiver without a ringward id")
        if rstats.get("bad_token") or rstats.get("bad_body"):
            failures.append(f"receiver refused requests: bad_token {rstats.get('bad_token', 0)} "
                            f"bad_body {rstats.get('bad_body', 0)}")
        # Order: when the buffer evicts a segment (disk full / cap), its unacknowledged Critical
        # records are carried to the tail (docs/shipper.md): out of order by design, so Critical
        # events are left out of the check in scenarios with drops.
        prio = rx.priorities()
        order = rx.arrival_order()
        if dropped:
            order = [i for i in order if prio.get(i) != "critical"]
        inv = first_inversion(order)
        if inv and not spec.get("kill_shipper"):  # a restart re-sends from its checkpoint
            failures.append(f"out of order: arrival #{inv[0]} is {inv[2]:#x} ({prio.get(inv[2])}) after "
                            f"{inv[1]:#x} (first arrivals must come in id order per origin)")

        # -- the shipper survived --------------------------------------------------------------------
        if spec.get("kill_shipper"):
            if not kills:
                failures.append("the shipper was never killed: the crash scenario did not happen")
            if ship["restarts"] != len(kills) or ship["state"] != "running":
                failures.append(f"shipper: {len(kills)} kills but {ship['restarts']} restarts, state "
                                f"{ship['state']}, last exit {ship['last_exit']!r}")
            log(f"{len(kills)} shipper kills; {extra} duplicate receipts re-sent after restarts")
        elif ship["pid"] != shipper_pid or ship["restarts"] != 0 or ship["state"] != "running":
            failures.append(f"shipper did not survive the fault: pid {shipper_pid} -> {ship['pid']}, restarts "
                            f"{ship['restarts']}, state {ship['state']}, last exit {ship['last_exit']!r}")
        if ship["counters"].get("buffered", 0) != 0 or psink.get("backlog", 0) != 0:
            failures.append(f"sink backlog {ship['counters'].get('buffered')} (status: {psink.get('backlog')}) "
                            "after recovery")

        failures += check_scenario(name, spec, sampler, acc, psink, buf, retries, rstats, pipe, missing, expected)
        if failures:
            log("shipper log tail:\n" + pipe.log_tail(30))
    return failures


def states(ss):
    return {s["state"] for s in ss if s["state"]}


def check_scenario(name, spec, sampler, acc, psink, buf, retries, rstats, pipe, missing, expected):
    """The fault-specific promises (docs/shipper.md)."""
    f = []
    phase = f"{len(spec['phases']) - 1}:{spec['phases'][-1][0]}"
    during = sampler.during(phase)
    seen = states(during)
    if name in ("sink_down", "disk_full"):
        if "unavailable" not in seen:
            f.append(f"sink never reported unavailable while the receiver was down (states seen: {sorted(seen)})")
        if max((s["backlog"] for s in during), default=0) == 0:
            f.append("no backlog while the receiver was down: where did the events go?")
        if max((s["buffer_bytes"] for s in during), default=0) == 0:
            f.append("disk buffer bytes stayed 0 while the receiver was down")
        if psink.get("breaker_opens", 0) == 0:
            f.append("breaker never opened while the receiver refused connections")
    if name == "storm_429":
        if "backpressure" not in seen:
            f.append(f"sink never reported backpressure during the 429 storm (states seen: {sorted(seen)})")
        if rstats.get("http_429", 0) == 0:
            f.append("the receiver never answered 429: the storm did not happen")
    if name == "busy_503" and rstats.get("http_503", 0) == 0:
        f.append("the receiver never answered 503")
    if name == "close":
        if rstats.get("closed_without_answer", 0) == 0:
            f.append("the receiver never closed a connection: the fault did not happen")
        if not seen - {"normal"}:
            f.append(f"sink stayed normal while every connection was closed unanswered (states: {sorted(seen)})")
    if name in ("storm_429", "busy_503", "close", "sink_down") and retries == 0:
        f.append("the sink counted no retries through the fault")
    if name == "slow":
        if max((s["backlog"] for s in during), default=0) == 0:
            f.append("no backlog built up behind a sink answering in 2 s")
        if rstats.get("duplicate_receipts", 0):
            f.append(f"{rstats['duplicate_receipts']} duplicate receipts from a sink that answered every "
                     "request within the default timeout")
    if name == "slow_timeout" and retries == 0:
        with open(pipe.log_path, errors="replace") as lf:
            ignored = [ln.strip() for ln in lf if "not applied" in ln]
        f.append("3 s answers against timeout_ms = 2000 caused no retry: the request timeout was not applied"
                 + (f" (shipper log: {ignored[0]})" if ignored else ""))
    if name == "disk_full":
        drops = {k: v for k, v in acc["dropped"].items() if v}
        full = drops.get("shipper.disk_full", 0) + drops.get("shipper.buffer_full", 0)
        if full == 0:
            f.append(f"the 2 MiB buffer disk filled up but no disk_full/buffer_full drop was counted: {drops}")
        others = {k: v for k, v in drops.items() if k not in ("shipper.disk_full", "shipper.buffer_full")}
        if others:
            f.append(f"unexpected drop reasons in the disk-full scenario: {others}")
        errs = {s["buffer_error"] for s in sampler.samples if s["buffer_error"]}
        enospc = max((s["enospc"] for s in sampler.samples), default=0)
        if enospc == 0 and not any("No space left" in e for e in errs):
            f.append(f"no ENOSPC reported by the buffer (enospc_errors 0, last_error {sorted(errs)})")
        with open(pipe.log_path, errors="replace") as lf:
            lines = lf.readlines()
        if not any("shipper.disk_full" in ln or "shipper.buffer_full" in ln for ln in lines):
            f.append("the log never names the disk-full drops (supervisor health line)")
        own = [ln.strip() for ln in lines if "ringward-shipper[" in ln
               and ("No space" in ln or "disk_full" in ln or "dropped.shipper" in ln or "disk full" in ln)]
        # Reported, not asserted: the brief's "clear error" is the status and the health line.
        print(f"fault_sinks[disk_full]: NOTE: the shipper's own log lines about the full disk: "
              f"{len(own)}{(' (first: ' + own[0] + ')') if own else ''}", flush=True)
        if not any("buffer_full" == s["state"] for s in sampler.samples):
            f.append("sink state never showed buffer_full after the disk-full drops")
        # Recovery: the newest events (captured well after the sink came back) all arrived.
        tail = sorted(i for i in expected if not i >> 63)[-1000:]
        lost_tail = [i for i in tail if i in missing]
        if lost_tail:
            f.append(f"after recovery the newest events still did not arrive: {fmt_ids(lost_tail)}")
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = ap.parse_args()
    spec = SCENARIOS[args.scenario]
    if args.scenario == "disk_full":
        spec["drops_allowed"] = True

    def log(msg):
        print(f"fault_sinks[{args.scenario}]: {msg}", flush=True)

    # meson ends a test that ran out of time with SIGTERM: unwind like Ctrl-C so the pipeline
    # (its own session, not in our process group) is stopped and the tmpfs unmounted.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    if spec.get("root") and os.geteuid() != 0:
        log("SKIP: needs root (mounts a tmpfs)")
        return SKIP
    t0 = time.monotonic()
    try:
        failures = run_scenario(args.scenario, spec, args.build_dir, log)
    except HarnessError as e:
        failures = [f"harness: {e}"]
    log(f"took {time.monotonic() - t0:.1f} s")
    if failures:
        log("FAILED:\n  - " + "\n  - ".join(failures))
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
