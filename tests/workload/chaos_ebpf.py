#!/usr/bin/env python3
"""Chaos under real eBPF capture: a steady workload (HTTP requests to a private nginx, keep-alive
and one-shot connections, plus file opens) runs while a random child (capture, processor or
shipper) is SIGKILLed every 1-3 s for ~20 s. The capture filter (`include_comm`) selects only
this test's nginx and workload client, started under comms of their own. Afterwards:

  - every child is back (state running) and the supervisor counted each kill as a restart;
  - the accounting identity holds exactly (captured + generated = delivered + dead_lettered +
    sum(dropped) + in_flight, unexplained == 0). Activity while capture was down was never
    captured, so it is in neither side; what capture did take in must all be explained;
  - capture works after the chaos: a final burst of opens of a marker file (a known count) all
    arrive in the sink as file_open events;
  - kill-to-ready restart times (SIGKILL to the supervisor's "<child>: ready after" log line)
    are reported with p50/p99/max (target p99 < 1 s; recorded, not asserted).
Duplicates in the NDJSON sink and sink lines vs `delivered` are reported (delivery is
at-least-once across a shipper kill), not asserted here; tests/chaos/chaos_kill.py asserts them
under a synthetic source.

Reuses tests/chaos/harness.py and chaos_kill.py (imported, not copied). Skips (exit 77) when not
root or the kernel has no BTF. Trust: test code on loopback; signals only pids it started or
verified to be children of its own supervisor.

Usage: chaos_ebpf.py --build-dir B [--duration S] [--report FILE] [--seed N]
"""

import argparse
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chaos"))
from chaos_kill import restart_times  # noqa: E402
from harness import (CHILDREN, HarnessError, Pipeline, describe_accounting, identity,  # noqa: E402
                     percentile, wait_quiescent)

SKIP = 77
SERVER_DEADLINE_S = 150


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(15, name.encode()[:15], 0, 0, 0) != 0:  # PR_SET_NAME
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port};
    location = /fail {{ return 500 '{{"error":"internal"}}'; }}
    location / {{ return 200 '{{"success":true}}'; }}
  }}
}}
"""


# ---- the workload client (a subprocess of this script with its own comm) --------------------

def workload_client_main(args):
    """Until SIGTERM or --seconds: an HTTP request per iteration (runs of keep-alive requests
    alternating with one-shot `Connection: close` connections; every 10th to /fail) and an open
    of a file; --interval-ms between iterations. With --marker-opens N it only opens the marker
    file N times. Prints a JSON summary."""
    set_comm(args.comm)
    if args.marker_opens:
        for _ in range(args.marker_opens):
            with open(args.marker, "rb") as f:
                f.read(1)
        print(json.dumps({"marker_opens": args.marker_opens}))
        return 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + args.seconds
    n_http, n_open, n_conn, errors = 0, 0, 0, 0
    conn = None
    i = 0
    while not stop and time.monotonic() < deadline:
        keepalive = (i // 20) % 2 == 0
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
                n_conn += 1
            headers = {"Host": "chaos.test"}
            if not keepalive:
                headers["Connection"] = "close"
            conn.request("GET", "/fail" if i % 10 == 0 else f"/items/{i}", headers=headers)
            conn.getresponse().read()
            n_http += 1
            if not keepalive:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            errors += 1
            if conn is not None:
                conn.close()
            conn = None
        with open(args.file, "rb") as f:
            f.read(16)
        n_open += 1
        i += 1
        time.sleep(args.interval_ms / 1000.0)
    if conn is not None:
        conn.close()
    print(json.dumps({"http_requests": n_http, "file_opens": n_open, "connections": n_conn,
                      "errors": errors}))
    return 0


# ---- the test -------------------------------------------------------------------------------

def skip_reason():
    if os.geteuid() != 0:
        return "needs root (eBPF)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux)"
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")) or not shutil.which("timeout"):
        return "nginx or timeout not installed (scripts/deps.sh)"
    return None


def run(args):
    rng = random.Random(args.seed)
    failures, observations = [], []
    tag = str(os.getpid() % 100000)
    comm_nginx, comm_client = f"rwcngx{tag}", f"rwccli{tag}"
    work = tempfile.mkdtemp(prefix="rw-chaos-ebpf-", dir="/tmp")
    nginx = client = nginx_log = None
    summary = {}
    try:
        # nginx runs through a symlink named after its comm, so the capture filter selects it alone.
        os.symlink(shutil.which("nginx") or "/usr/sbin/nginx", os.path.join(work, comm_nginx))
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(work, d))
        port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=work, port=port))
        data_file, marker = os.path.join(work, "data.bin"), os.path.join(work, "marker.bin")
        for p in (data_file, marker):
            with open(p, "wb") as f:
                f.write(os.urandom(64))
        nginx_log = open(os.path.join(work, "nginx.log"), "ab")
        nginx = subprocess.Popen(["timeout", "-k", "5", str(SERVER_DEADLINE_S), os.path.join(work, comm_nginx),
                                  "-p", work, "-c", conf, "-e", os.path.join(work, "nginx-error.log")],
                                 stdout=nginx_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or nginx.poll() is not None:
                    raise HarnessError(f"nginx did not listen on {port}")
                time.sleep(0.05)

        overrides = {
            "capture.source": "ebpf",
            "capture.tls_uprobes": False,
            # As in chaos_kill.py: each restart is measured from the initial backoff, and the
            # permanent-failure rule must not trip (fault_permanent_failure.py covers it).
            "supervisor.stable_after_s": 1,
            "supervisor.restart_backoff_initial_ms": 100,
            "supervisor.max_restarts": 1000,
            "supervisor.restart_window_s": 60,
        }
        with Pipeline(args.build_dir, overrides, name="rw-chaos-ebpf") as pipe:
            with open(pipe.config_path) as f:
                text = f.read()
            text = text.replace("[capture]\n", "[capture]\ninclude_comm = " +
                                json.dumps([comm_nginx, comm_client]) + "\n", 1)
            with open(pipe.config_path, "w") as f:
                f.write(text)
            pipe.start(ready_timeout=60)

            me = [sys.executable, os.path.abspath(__file__), "--comm", comm_client, "--port", str(port),
                  "--file", data_file, "--marker", marker]
            client = subprocess.Popen(me + ["--workload-client", "--seconds", str(args.duration + 30),
                                            "--interval-ms", str(args.interval_ms)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      start_new_session=True)
            time.sleep(1.0)  # steady load before the first kill
            kills = []
            t_end = time.monotonic() + args.duration
            print(f"chaos_ebpf: seed {args.seed}, {args.duration:.0f} s of kills, nginx port {port}")
            while time.monotonic() < t_end:
                time.sleep(rng.uniform(1.0, 3.0))
                st = pipe.status()
                running = [p["name"] for p in st["processes"] if p["state"] == "running"]
                if not running:
                    continue
                name = rng.choice(running)
                res = pipe.kill_child(name, st=st)
                if res is None:
                    continue
                pid, wall = res
                kills.append({"name": name, "pid": pid, "wall": wall,
                              "captured_at_kill": st["accounting"]["captured"]})
                print(f"chaos_ebpf: t+{wall - pipe.started_wall:6.1f}s kill -9 {name} pid {pid}")
            client.send_signal(signal.SIGTERM)
            out, err = client.communicate(timeout=20)
            client = None
            try:
                load = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                raise HarnessError(f"workload client printed no summary: {out!r} {err!r}")

            # Capture works after the chaos: a known burst of marker opens, all in the sink.
            # A child killed just now may still read "running" until the supervisor reaps it:
            # wait for a running child with a pid that was never killed.
            killed = {k["pid"] for k in kills}
            pipe.wait_until(lambda s: all(p["state"] == "running" and p["pid"] not in killed
                                          for p in s["processes"]), 30,
                            "every child running again (a new pid) after the kills")
            n_marker = 50
            subprocess.run(me + ["--workload-client", "--marker-opens", str(n_marker)], check=True,
                           capture_output=True, timeout=30)

            def marker_events():
                n = 0
                with open(pipe.ndjson_path, "rb") as f:
                    for line in f:
                        if marker.encode() in line:
                            try:
                                e = json.loads(line)
                            except ValueError:
                                continue
                            n += e.get("type") == "file_open" and e.get("path") == marker and \
                                e.get("comm") == comm_client
                return n
            deadline = time.monotonic() + 30
            while marker_events() < n_marker and time.monotonic() < deadline:
                time.sleep(0.1)
            st = wait_quiescent(pipe, timeout=40, what="the pipeline idle after the chaos")
            acc = st["accounting"]
            n_marker_seen = marker_events()
            if n_marker_seen != n_marker:
                failures.append(f"after the chaos {n_marker} opens of {marker} were made but the sink holds "
                                f"{n_marker_seen} file_open events for it")

            lhs, rhs, dropped = identity(acc)
            print("chaos_ebpf: " + describe_accounting(acc))
            if lhs != rhs or acc["unexplained"] != 0:
                failures.append(f"accounting identity broken after {len(kills)} kills: {lhs - rhs} events "
                                f"unaccounted for: {describe_accounting(acc)}")
            for name in CHILDREN:
                p = pipe.process(st, name)
                n_kills = sum(1 for k in kills if k["name"] == name)
                if p["state"] != "running":
                    failures.append(f"{name} did not come back: state {p['state']}, last exit {p['last_exit']!r}")
                if p["restarts"] != n_kills:
                    failures.append(f"{name}: killed {n_kills} times but the supervisor counted "
                                    f"{p['restarts']} restarts")
            if not kills:
                failures.append("no child was killed (the test did not test anything)")

            ids, bad = pipe.read_ndjson_ids()
            seen, dups = set(), 0
            for i in ids:
                dups += i in seen
                seen.add(i)
            if bad:
                observations.append(f"{bad} unparsable lines in the NDJSON sink")
            if dups:
                observations.append(f"{dups} events delivered twice to the sink (at-least-once)")
            if len(ids) != acc["delivered"]:
                observations.append(f"sink holds {len(ids)} lines, delivered = {acc['delivered']}")

            kills = restart_times(pipe, kills)
            # Where the time goes: kill -> the supervisor reaps the child ("killed by signal")
            # -> it starts the next one -> ready. A killed capture's exit includes the kernel
            # tearing down its BPF programs, links and ring buffers.
            log = pipe.supervisor_events()
            for k in kills:
                for key, needle in (("reaped_ms", ": killed by signal"), ("started_ms", ": started pid")):
                    t = next((ts for ts, msg in log if ts >= k["wall"] - 0.002
                              and msg.startswith(k["name"] + needle)), None)
                    k[key] = None if t is None else max(0.0, (t - k["wall"]) * 1000.0)
            times = [k["restart_ms"] for k in kills if k["restart_ms"] is not None]
            unmatched = [k for k in kills if k["restart_ms"] is None]
            if unmatched:
                failures.append(f"{len(unmatched)} kills without a later 'ready' line in the supervisor log: "
                                f"{[(k['name'], k['pid']) for k in unmatched[:5]]}")

            def pct(name=None, key="restart_ms"):
                v = [k[key] for k in kills if k.get(key) is not None and (name is None or k["name"] == name)]
                return {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99), "max": max(v, default=None)}
            cap = pipe.process(st, "capture")["counters"]
            summary = {
                "seed": args.seed,
                "duration_s": args.duration,
                "workload": load,
                "marker_opens": {"made": n_marker, "in_sink": n_marker_seen},
                "kills": len(kills),
                "kills_by_child": {n: sum(1 for k in kills if k["name"] == n) for n in CHILDREN},
                "kill_to_reaped_ms": {n: pct(n, "reaped_ms") for n in CHILDREN},
                "restart_ms": {**pct(), "by_child": {n: pct(n) for n in CHILDREN}, "target_p99_ms": 1000,
                               "note": "SIGKILL to the supervisor's ready line; includes the 100 ms "
                                       "initial restart backoff and, for capture, loading and "
                                       "attaching the BPF programs"},
                "accounting": acc,
                "accounting_text": describe_accounting(acc),
                "capture_counters": cap,
                "sink_lines": len(ids),
                "observations": observations,
                "failures": failures,
                "kill_log": kills,
            }
            r = summary["restart_ms"]
            if times:
                print(f"chaos_ebpf: {len(kills)} kills {summary['kills_by_child']}; kill->ready ms p50 "
                      f"{r['p50']:.0f} p99 {r['p99']:.0f} max {r['max']:.0f} (target p99 < 1000); by child "
                      + ", ".join(f"{n} p50 {v['p50']:.0f} max {v['max']:.0f}"
                                  for n, v in r["by_child"].items() if v["n"]))
                print("chaos_ebpf: kill->reaped ms p50 by child: " + ", ".join(
                    f"{n} {v['p50']:.0f}" for n, v in summary["kill_to_reaped_ms"].items() if v["n"]))
                if r["p99"] >= 1000:
                    print("chaos_ebpf: WARNING: restart p99 above the 1 s target")
            print(f"chaos_ebpf: workload {load}; sink {len(ids)} lines; marker {n_marker_seen}/{n_marker}")
            for o in observations:
                print(f"chaos_ebpf: observed: {o}")
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGTERM)  # `timeout` forwards it to nginx
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(nginx.pid, signal.SIGKILL)  # the session this test created
                nginx.wait()
        if nginx_log is not None:
            nginx_log.close()
        if os.environ.get("RINGWARD_KEEP_TMP"):
            print(f"chaos_ebpf: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.report and summary:
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=2, default=str)
    if failures:
        print("chaos_ebpf: FAILED:\n  - " + "\n  - ".join(failures))
        return 1
    print("chaos_ebpf: OK")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of kills")
    ap.add_argument("--interval-ms", type=float, default=2.0, help="workload pause per iteration")
    ap.add_argument("--report")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    # Internal: the workload client subprocess.
    ap.add_argument("--workload-client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--comm", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--marker", help=argparse.SUPPRESS)
    ap.add_argument("--marker-opens", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=60, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workload_client:
        return workload_client_main(args)
    if not args.build_dir:
        ap.error("--build-dir is required")
    reason = skip_reason()
    if reason:
        print(f"chaos_ebpf: SKIP: {reason}")
        return SKIP
    try:
        return run(args)
    except HarnessError as e:
        print(f"chaos_ebpf: FAILED: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
