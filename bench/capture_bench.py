#!/usr/bin/env python3
"""What eBPF capture costs a user, measured with the REAL agent: the whole pipeline (supervisor,
eBPF capture, processor with its default configuration, shipper with an NDJSON file sink in a
temp dir) running vs nothing of ours running. Ratios come from interleaved pairs (the order
alternates each pair) in one run; the median is the figure. The machine is shared and noisy, so
every figure is printed with the load average at the time.

Subcommands (all need root, a build dir with the pipeline, capture_attach and
capture_syscall_loop built, and nginx + wrk for the HTTP figure):
  overhead  wrk (-t1 -c32) against nginx (1 worker) on loopback: requests/s ratio (target >= 0.95)
  syscalls  open/close loop, fork/exec loop (target >= 0.90) and a getpid control (unhooked)
  all       overhead + syscalls in the same pairs (one pipeline start per attached half)
  rate      file-open events/s capture sustains with zero kernel (ring buffer) drops: paced
            open/close at increasing rates, kernel drops and `captured` read from status --json
  profile   per-program BPF run time (kernel.bpf_stats_enabled, restored afterwards) during wrk
--compare BEFORE_BUILD adds the capture of another build as a third variant of every round, so
before/after ratios come from one run; with --compare-scope all the whole pipeline of that build
runs as the third variant (for changes in the processor or shipper).
--mode source attaches only the eBPF source (bench capture_attach: BPF programs + consumer that
counts records, no pipeline) to separate kernel-side cost from user-space cost.
Usage: capture_bench.py --build-dir B [--mode agent|source] SUBCOMMAND [--pairs N] [--seconds S]
Kills only the processes it started, by pid. Trust: benchmark, root.
"""

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "chaos"))
from harness import Pipeline  # noqa: E402


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    print(msg, flush=True)


# ---- workloads ---------------------------------------------------------------------------------


class Nginx:
    """nginx, one worker, no master, on a free loopback port; stopped by pid."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rw-nginx-", dir="/tmp")
        self.port = free_port()
        os.makedirs(os.path.join(self.dir, "logs"))
        conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write(f"""daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/logs/error.log; events {{ worker_connections 1024; }}
http {{ access_log off; default_type application/json; client_body_temp_path {d};
  proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{ listen 127.0.0.1:{self.port}; location / {{ return 200 '{{"ok":true}}'; }} }} }}
""")
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        subprocess.run(["rm", "-rf", self.dir], check=False)


class Sample:
    """One workload run: wall-clock rate, and the CPU the workload's own processes burned.
    BPF programs on syscall tracepoints run in the caller's context, so their cost shows up in
    the workload's CPU time; CPU per operation barely depends on how many co-tenants compete
    for the cores, unlike the wall-clock rate, so it is the steadier figure on a shared box."""

    def __init__(self, rate, cpu, ops):
        self.rate, self.cpu, self.ops = rate, cpu, ops
        self.agent_cpu = 0.0  # filled in when the agent runs

    def cpu_per_op(self, with_agent=False):
        return (self.cpu + (self.agent_cpu if with_agent else 0.0)) / max(self.ops, 1)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_wrk(port, seconds, server_pid):
    c0, s0 = children_cpu(), cpu_seconds(server_pid)
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{max(1, int(seconds))}s", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError("wrk output without Requests/sec:\n" + out)
    cpu = children_cpu() - c0 + cpu_seconds(server_pid) - s0
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        log(f"  wrk reported: {errors.group(0)}")
    total = re.search(r"(\d+) requests in", out)
    return Sample(float(m.group(1)), cpu, int(total.group(1)) if total else 1)


def run_loop(build_dir, mode, seconds, rate=0):
    exe = os.path.join(build_dir, "capture", "ebpf", "capture_syscall_loop")
    c0 = children_cpu()
    out = subprocess.run([exe, mode, str(seconds), str(rate)], capture_output=True, text=True,
                         check=True).stdout
    m = dict(kv.split("=") for kv in out.split())
    return Sample(float(m["ops_per_s"]), children_cpu() - c0, int(m["ops"]))


# ---- what "attached" means ---------------------------------------------------------------------


def agent_overrides():
    # The default configuration except where it would collide with a co-tenant or leave our temp
    # dir: processor and shipper as root (no service users on a dev machine), metrics on a free
    # port. The processor's default rate limit (10000/s) stays: that is what a user runs.
    return {"capture.source": "ebpf", "processor.max_events_per_second": 10000,
            "processor.burst": 20000, "processor.user": "root", "shipper.user": "root"}


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Agent:
    """The whole pipeline with the eBPF source, in a temp dir (harness.Pipeline). Tracks the CPU
    its processes burn while attached: with 2 cores shared with the workload, that CPU is the
    user-space part of what the user pays (the BPF part is charged to the workload itself)."""

    def __init__(self, build_dir):
        self.pipe = Pipeline(build_dir, agent_overrides(), name="rw-capbench")
        st = self.pipe.start(ready_timeout=60)
        # "running" means the child reported ready: capture is attached and sandboxed.
        self.pids = {p["name"]: p["pid"] for p in st["processes"]}
        self.pids["supervisor"] = self.pipe.supervisor_pid
        self.capture_pid = self.pids["capture"]
        self.cpu0 = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self.t0 = time.monotonic()

    def cpu_total(self):
        return sum(cpu_seconds(p) for p in self.pids.values())

    def status(self):
        return self.pipe.status()

    def stop(self):
        st = None
        with contextlib.suppress(Exception):
            st = self.pipe.status()
        took = time.monotonic() - self.t0
        cpu = {n: (cpu_seconds(p) - self.cpu0[n]) / took for n, p in self.pids.items()}
        self.pipe.__exit__(None, None, None)
        if st is not None:
            st["cpu_share"] = cpu
        return st


class SourceOnly:
    """Only the eBPF source (bench capture_attach): programs + a consumer that counts records."""

    def __init__(self, build_dir):
        exe = os.path.join(build_dir, "capture", "ebpf", "capture_attach")
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.capture_pid = self.proc.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.err.seek(0)
            if b"attached" in self.err.read():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.err.seek(0)
        raise RuntimeError("capture_attach did not attach: " + self.err.read().decode()[-2000:])

    def cpu_total(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(30)
        return out.strip()


def attach(build_dir, mode):
    return Agent(build_dir) if mode == "agent" else SourceOnly(build_dir)


# ---- interleaved pairs -------------------------------------------------------------------------


def measure_all(workloads, agent=None):
    """Runs every workload once, in order; {name: Sample}, with the agent's CPU during each."""
    got = {}
    for name, fn in workloads:
        a0 = agent.cpu_total() if agent else 0.0
        sample = fn()
        sample.agent_cpu = agent.cpu_total() - a0 if agent else 0.0
        got[name] = sample
    return got


def hybrid_build(before_dir, after_dir):
    """A build-dir lookalike whose capture binaries come from `before_dir` and everything else
    from `after_dir`, so a before/after comparison changes only the capture side."""
    d = tempfile.mkdtemp(prefix="rw-before-", dir="/tmp")
    for rel in ("capture/ringward-capture", "capture/ebpf/capture_attach"):
        os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
        os.symlink(os.path.join(before_dir, rel), os.path.join(d, rel))
    for rel in ("processor/ringward-processor", "shipper/ringward-shipper",
                "supervisor/ringward-supervisor"):
        os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
        os.symlink(os.path.join(after_dir, rel), os.path.join(d, rel))
    return d


def pairs(variants, mode, workloads, n_pairs):
    """variants: [(label, build dir or None for detached)], the first one detached. Each round
    runs every variant once, rotating the order; ratios are against the same round's detached
    value. workloads: [(name, fn -> value, higher is better)].
    Returns {variant: {workload: [(base, with, ratio)]}}."""
    results = {label: {name: [] for name, _ in workloads} for label, _ in variants[1:]}
    for i in range(n_pairs):
        k = i % len(variants)
        order = variants[k:] + variants[:k]
        if i % 2 == 1:
            order = order[::-1]
        got = {}
        for label, build in order:
            if build is None:
                got[label] = measure_all(workloads)
                continue
            a = attach(build, mode)
            try:
                got[label] = measure_all(workloads, a)
            finally:
                summary = a.stop()
            if mode == "agent" and summary:
                acc = summary["accounting"]
                cpu = " ".join(f"{n} {100 * v:.0f}%" for n, v in summary["cpu_share"].items())
                log(f"  {label}: captured {acc['captured']} delivered {acc['delivered']} "
                    f"dropped {acc['dropped']}; CPU while attached: {cpu}")
            elif summary:
                log(f"  {label} capture_attach: {summary}")
        base_label = variants[0][0]
        for label, _ in variants[1:]:
            for name, _ in workloads:
                b, w = got[base_label][name], got[label][name]
                row = {"base": b.rate, "with": w.rate, "ratio": w.rate / b.rate,
                       "cpu_ratio": b.cpu_per_op() / w.cpu_per_op(),
                       "cpu_ratio_agent": b.cpu_per_op() / w.cpu_per_op(True),
                       "ns_per_op": (w.cpu_per_op() - b.cpu_per_op()) * 1e9,
                       "agent_ns_per_op": w.agent_cpu / max(w.ops, 1) * 1e9}
                results[label][name].append(row)
                log(f"round {i} ({'/'.join(l for l, _ in order)}) {name}: detached {b.rate:.0f}/s, "
                    f"{label} {w.rate:.0f}/s, ratio {row['ratio']:.3f}; CPU/op ratio "
                    f"{row['cpu_ratio']:.3f} (workload), {row['cpu_ratio_agent']:.3f} (+agent); "
                    f"+{row['ns_per_op']:.0f} ns/op in the workload, {row['agent_ns_per_op']:.0f} "
                    f"ns/op in the agent [load {loadavg()}]")
    return results


def summarize(results, mode):
    lines = []
    med = statistics.median
    for label, per in results.items():
        for name, rows in per.items():
            ratios = [r["ratio"] for r in rows]
            lines.append(
                f"{name} [{label}, mode {mode}, {len(rows)} pairs]: median ratio {med(ratios):.3f} "
                f"(ratios {', '.join(f'{r:.3f}' for r in ratios)}; median detached "
                f"{med(r['base'] for r in rows):.0f}/s, attached {med(r['with'] for r in rows):.0f}/s); "
                f"CPU/op ratio {med(r['cpu_ratio'] for r in rows):.3f} workload-only, "
                f"{med(r['cpu_ratio_agent'] for r in rows):.3f} with the agent's CPU; "
                f"+{med(r['ns_per_op'] for r in rows):.0f} ns/op in the workload, "
                f"{med(r['agent_ns_per_op'] for r in rows):.0f} ns/op in the agent [load {loadavg()}]")
    for line in lines:
        log("RESULT " + line)
    return lines


def cmd_pairs(args, which):
    nginx = Nginx() if which in ("overhead", "all") else None
    hybrid = None
    try:
        w = []
        if nginx:
            w.append(("wrk_nginx_req_per_s", lambda: run_wrk(nginx.port, args.seconds, nginx.proc.pid)))
        if which in ("syscalls", "all"):
            w.append(("open_close_per_s", lambda: run_loop(args.build_dir, "open", args.seconds)))
            w.append(("fork_exec_per_s", lambda: run_loop(args.build_dir, "fork", args.seconds)))
            w.append(("getpid_per_s_control", lambda: run_loop(args.build_dir, "getpid", 1)))
        log(f"start [load {loadavg()}] mode {args.mode}, {args.pairs} pairs, {args.seconds} s each")
        variants = [("detached", None), ("attached", args.build_dir)]
        if args.compare and args.compare_scope == "all":
            variants.append(("before", os.path.abspath(args.compare)))
        elif args.compare:
            hybrid = hybrid_build(os.path.abspath(args.compare), args.build_dir)
            variants.append(("before", hybrid))
        summarize(pairs(variants, args.mode, w, args.pairs), args.mode)
    finally:
        if nginx:
            nginx.stop()
        if hybrid:
            subprocess.run(["rm", "-rf", hybrid], check=False)  # symlinks only


# ---- events/s with zero kernel drops -----------------------------------------------------------


def counters(st):
    acc = st["accounting"]
    return acc["captured"], dict(acc["dropped"])


def paced_opens(build_dir, seconds, rate, procs):
    """`procs` open/close loops in parallel, each paced to rate/procs (0: unpaced)."""
    exe = os.path.join(build_dir, "capture", "ebpf", "capture_syscall_loop")
    each = rate / procs if rate else 0
    ps = [subprocess.Popen([exe, "open", str(seconds), str(each)], stdout=subprocess.PIPE, text=True)
          for _ in range(procs)]
    ops = 0
    for p in ps:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"open loop failed: {out}")
        ops += int(dict(kv.split("=") for kv in out.split())["ops"])
    return ops


def cmd_rate(args):
    rates = [int(r) for r in args.rates.split(",")]
    log(f"start [load {loadavg()}]: paced open/close for {args.seconds} s per step, "
        f"{args.procs} generator process(es)")
    agent = Agent(args.build_dir)
    best = 0
    try:
        for rate in rates:
            time.sleep(0.5)
            c0, d0 = counters(agent.status())
            t0 = time.monotonic()
            ops = paced_opens(args.build_dir, args.seconds, rate, args.procs)
            achieved = ops / (time.monotonic() - t0)
            time.sleep(1.0)  # let capture drain what the kernel already holds
            c1, d1 = counters(agent.status())
            drops = {k: v - d0.get(k, 0) for k, v in d1.items() if v - d0.get(k, 0)}
            kd = drops.get("kernel.ringbuf_full", 0)
            log(f"rate {rate or 'max'}/s: generated {ops} opens ({achieved:.0f}/s), captured "
                f"+{c1 - c0} (all processes), drops {drops or 'none'} [load {loadavg()}]")
            if kd == 0 and c1 - c0 >= ops:
                best = max(best, achieved)
        log(f"RESULT file-open events/s sustained with zero kernel drops: {best:.0f}/s "
            f"(highest step without a ringbuf_full drop; {args.procs} generator(s)) [load {loadavg()}]")
    finally:
        agent.stop()


# ---- per-program BPF run time ------------------------------------------------------------------


def prog_ids_of(pid):
    """BPF program ids a process holds, from the prog_id lines of its fds' fdinfo (this
    bpftool has no pid column)."""
    ids = set()
    fd_dir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError), open(os.path.join(fd_dir, fd)) as f:
            for line in f:
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
    return ids


def bpf_progs(pid):
    ids = prog_ids_of(pid)
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True,
                         check=True).stdout
    progs = {}
    for p in json.loads(out):
        if p["id"] in ids:
            progs[p["id"]] = (p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return progs


def cmd_profile(args):
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        previous = f.read().strip()
    nginx = Nginx()
    # --compare: profile the other build's capture instead (the loads still come from --build-dir).
    a = attach(os.path.abspath(args.compare) if args.compare else args.build_dir, args.mode)
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        before = bpf_progs(a.capture_pid)
        reqs = run_wrk(nginx.port, args.seconds, nginx.proc.pid).ops
        ops = run_loop(args.build_dir, "open", 1).ops
        after = bpf_progs(a.capture_pid)
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(previous)
        a.stop()
        nginx.stop()
    log(f"profile of {args.compare or args.build_dir} ({args.mode}) [load {loadavg()}]: "
        f"~{reqs:.0f} requests, then {ops} opens")
    log(f"{'program':<24}{'runs':>12}{'ns/run':>10}{'runs/req':>10}{'ns/req':>10}")
    total = 0
    for pid_, (name, t1, c1) in sorted(after.items(), key=lambda kv: kv[1][0]):
        _, t0, c0 = before.get(pid_, (name, 0, 0))
        runs, ns = c1 - c0, t1 - t0
        if runs == 0:
            continue
        total += ns
        log(f"{name:<24}{runs:>12}{ns / runs:>10.0f}{runs / reqs:>10.2f}{ns / reqs:>10.0f}")
    http = sum(t1 - before.get(i, (n, 0, 0))[1] for i, (n, t1, _) in after.items()
               if n.startswith("http_"))
    log(f"RESULT BPF time per HTTP request (http_* programs): {http / reqs:.0f} ns; all programs "
        f"incl. the open loop: {total / reqs:.0f} ns [load {loadavg()}]")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--mode", choices=["agent", "source"], default="agent")
    ap.add_argument("command", choices=["overhead", "syscalls", "all", "rate", "profile"])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--compare-scope", choices=["capture", "all"], default="capture",
                    help="with --compare: take only the capture binaries from the other build "
                         "(default), or the whole pipeline (before/after of user-space changes)")
    ap.add_argument("--compare", help="a build dir of an earlier commit: adds a 'before' "
                    "variant to every round (see --compare-scope)")
    ap.add_argument("--rates", default="5000,10000,20000,50000,100000,200000,0")
    ap.add_argument("--procs", type=int, default=1, help="rate: parallel generator processes")
    args = ap.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    if os.geteuid() != 0:
        sys.exit("capture_bench.py: needs root (eBPF)")
    if args.command in ("overhead", "syscalls", "all"):
        cmd_pairs(args, args.command)
    elif args.command == "rate":
        cmd_rate(args)
    else:
        cmd_profile(args)


if __name__ == "__main__":
    main()
