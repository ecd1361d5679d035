#!/usr/bin/env python3
"""Multi-protocol workload with a known ground truth, captured by the real eBPF capture.

Three services run at once on 127.0.0.1, each started by this test under a process name (comm)
of its own, so the capture's `include_comm` filter selects exactly them:
  - nginx (private config in a temp dir, own port): /api/users/<n> answers 500 for every n ending
    in 7 (exactly 10 % of the ids the client sends), /api/checkout answers 200 with a business
    error in the JSON body ({"success": false, "code": "ERROR"}), /api/orders (POST) 201,
    /health 200 text, /api/boom 502; the nginx service as a whole answers exactly 10 % 5xx;
  - a second HTTP service: tests/http_e2e/http_e2e_server.py (python http.server, run as a
    subprocess, not copied), response chosen by the query parameter `k`;
  - redis-server (fresh, no persistence), driven by a client subprocess with its own comm over a
    known number of connections and commands.
The HTTP client (this process, not in the capture filter, so each exchange is seen once, from the
server side) sends a known number of requests per route, over keep-alive connections and over
one-request `Connection: close` connections. The real pipeline (supervisor, eBPF capture,
processor, shipper with the NDJSON file sink) then must show:
  - per (service, route): http_requests_total, its 5xx part and api_business_errors_total on the
    shipper's /metrics equal what was sent, exactly; the NDJSON sink holds one http event per
    exchange with the right route, status and business_error;
  - one net_connect event (comm of the redis client, dst_port = redis port; result 0 for the
    blocking connects, -EINPROGRESS for the non-blocking ones) per redis connection opened and
    one successful net_accept event (comm of redis-server, local port = redis port) per
    connection; no http events from the redis traffic;
  - one net_accept event per HTTP connection the client opened, per server;
  - the accounting identity holds with unexplained == 0.
A count is exact, not within a tolerance: the kernel may lose events only by a failed ring-buffer
reservation, which the capture counts (dropped.kernel.ringbuf_full); at this rate (~1000 events)
none is expected, and if one happened the failure message says so next to the shortfall.

Skips (exit 77) when not root or the kernel has no BTF. Bounded: every server runs under
`timeout`, the whole test takes ~20-40 s. Trust: test code; everything listens on loopback only
and only processes this test started are signalled, by pid.

Usage: multi_protocol.py --build-dir B [--report FILE] [--seed N]
"""

import argparse
import contextlib
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chaos"))
from harness import HarnessError, Pipeline, describe_accounting, identity, wait_quiescent  # noqa: E402

SKIP = 77
EINPROGRESS = 115
HTTP_E2E_SERVER = os.path.join(HERE, "..", "http_e2e", "http_e2e_server.py")
SERVER_DEADLINE_S = 150  # every server this test starts exits by itself after this


# ---- small helpers --------------------------------------------------------------------------

def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(15, name.encode()[:15], 0, 0, 0) != 0:  # PR_SET_NAME
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def free_port():
    """A port free right now on 127.0.0.1 (the servers here take a port number, not port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}")


class Server:
    """A process this test started (in its own session); stopped by pid on exit."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # `timeout` forwards it to the server
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the session this test created
                self.proc.wait()
        self._log.close()

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""


# ---- redis: a minimal RESP client (the client subprocess runs it) ---------------------------

def resp_command(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RespReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(f"bad RESP line {line!r}")


def redis_client_main(args):
    """Opens exactly --connections connections, sends --commands-per-connection commands on
    each (a mix of one-at-a-time and pipelined), checks every reply, prints a JSON summary."""
    set_comm(args.comm)
    sent, incr = 0, 0
    for c in range(args.connections):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Even connections connect blocking (connect returns 0); odd ones with a timeout set,
        # which makes the socket non-blocking underneath (connect returns -EINPROGRESS, then
        # python polls for completion). Both are real connections the capture must report.
        if c % 2:
            s.settimeout(10)
        s.connect(("127.0.0.1", args.port))
        s.settimeout(10)
        r = RespReader(s)
        cmds = []
        for i in range(args.commands_per_connection):
            j = i % 4
            if j == 0:
                cmds.append((resp_command("SET", f"k{c}:{i}", f"v{c}:{i}"), "OK"))
            elif j == 1:
                cmds.append((resp_command("GET", f"k{c}:{i - 1}"), f"v{c}:{i - 1}".encode()))
            elif j == 2:
                incr += 1
                cmds.append((resp_command("INCR", "rw:counter"), incr))
            else:
                cmds.append((resp_command("PING"), "PONG"))
        if c % 2 == 0:  # one command at a time
            for req, want in cmds:
                s.sendall(req)
                got = r.reply()
                if got != want:
                    raise SystemExit(f"redis: {req!r} answered {got!r}, wanted {want!r}")
        else:  # pipelined in one send
            s.sendall(b"".join(req for req, _ in cmds))
            for req, want in cmds:
                got = r.reply()
                if got != want:
                    raise SystemExit(f"redis: {req!r} answered {got!r}, wanted {want!r}")
        sent += len(cmds)
        s.close()
    print(json.dumps({"connections": args.connections, "commands": sent, "incr": incr}))
    return 0


# ---- the HTTP plan --------------------------------------------------------------------------

def nginx_config(dir_, port):
    return f"""
worker_processes 1;
daemon off;
pid {dir_}/nginx.pid;
error_log {dir_}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir_}/body;
  proxy_temp_path {dir_}/proxy;
  fastcgi_temp_path {dir_}/fastcgi;
  uwsgi_temp_path {dir_}/uwsgi;
  scgi_temp_path {dir_}/scgi;
  keepalive_requests 100000;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port};
    # First matching regex wins: ids ending in 7 fail (10 % of a run of consecutive ids).
    location ~ ^/api/users/[0-9]*7$ {{ return 500 '{{"error":"internal"}}'; }}
    location ~ ^/api/users/[0-9]+$ {{ return 200 '{{"success":true,"data":{{"name":"n"}}}}'; }}
    location = /api/checkout {{ return 200 '{{"success": false, "code": "ERROR"}}'; }}
    location = /api/orders {{ return 201 '{{"id":1,"success":true}}'; }}
    location = /api/boom {{ return 502 '{{"error":"upstream"}}'; }}
    location = /health {{ default_type text/plain; return 200 'ok'; }}
    location / {{ return 404; }}
  }}
}}
"""


class Req:
    __slots__ = ("service", "method", "path", "route", "status", "business", "body")

    def __init__(self, service, method, path, route, status, business="", body=None):
        self.service, self.method, self.path, self.route = service, method, path, route
        self.status, self.business, self.body = status, business, body


def http_plan(nginx_host, py_host):
    """Every request of the run with its expected answer (route as the processor names it)."""
    plan = []
    # nginx: 300 requests, exactly 30 of them 5xx (10 %).
    for i in range(200):  # ids 1000..1199: 20 end in 7 -> 500
        n = 1000 + i
        plan.append(Req(nginx_host, "GET", f"/api/users/{n}", "/api/users/{id}", 500 if n % 10 == 7 else 200))
    for _ in range(50):
        plan.append(Req(nginx_host, "GET", "/api/checkout", "/api/checkout", 200, "generic_business_error"))
    for i in range(30):
        plan.append(Req(nginx_host, "POST", "/api/orders", "/api/orders", 201,
                        body=json.dumps({"item": i, "qty": 1}).encode()))
    for _ in range(10):
        plan.append(Req(nginx_host, "GET", "/health", "/health", 200))
    for _ in range(10):
        plan.append(Req(nginx_host, "GET", "/api/boom", "/api/boom", 502))
    # python http.server: 160 requests, 10 x 503, 20 business errors.
    for i in range(100):  # ids 1..100: 10 end in 3 -> 503
        n = i + 1
        k = "e503" if n % 10 == 3 else "ok"
        plan.append(Req(py_host, "GET", f"/v2/items/{n}?k={k}", "/v2/items/{id}", 503 if k == "e503" else 200))
    for i in range(40):
        plan.append(Req(py_host, "POST", "/v2/search?k=plain", "/v2/search", 200,
                        body=json.dumps({"q": f"term{i}"}).encode()))
    for i in range(20):
        plan.append(Req(py_host, "GET", f"/v2/accounts/{i + 1}/transfer?k=funds",
                        "/v2/accounts/{id}/transfer", 200, "insufficient_funds"))
    return plan


def send_http(plan, ports, rng):
    """Sends the plan in a shuffled order: runs of 20 requests over one keep-alive connection
    alternate with runs of 4 one-request `Connection: close` connections. Returns
    {service: connections opened}. Any unexpected answer aborts the test."""
    order = list(plan)
    rng.shuffle(order)
    by_service = {}
    for r in order:
        by_service.setdefault(r.service, []).append(r)
    conns = {}
    for service, reqs in by_service.items():
        port = ports[service]
        i, keepalive = 0, True
        conns[service] = 0
        while i < len(reqs):
            run = reqs[i:i + (20 if keepalive else 4)]
            i += len(run)
            c = None
            for r in run:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conns[service] += 1
                headers = {"Host": service, "Accept": "application/json"}
                if r.body is not None:
                    headers["Content-Type"] = "application/json"
                if not keepalive:
                    headers["Connection"] = "close"
                c.request(r.method, r.path, body=r.body, headers=headers)
                resp = c.getresponse()
                resp.read()
                if resp.status != r.status:
                    raise HarnessError(f"{service} {r.method} {r.path} answered {resp.status}, "
                                       f"the plan says {r.status}")
                if not keepalive:
                    c.close()
                    c = None
            if c is not None:
                c.close()
            keepalive = not keepalive
    return conns


# ---- reading what the pipeline produced -----------------------------------------------------

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels = {k: re.sub(r"\\(.)", lambda x: "\n" if x.group(1) == "n" else x.group(1), v)
                  for k, v in _LABEL_RE.findall(m.group(3) or "")}
        try:
            out.append((m.group(1), labels, float(m.group(4))))
        except ValueError:
            continue
    return out


def metric_sum(samples, name, **match):
    return sum(v for n, labels, v in samples
               if n == name and all(labels.get(k) == want for k, want in match.items()))


def metrics_port(pipe):
    with open(pipe.log_path, errors="replace") as f:
        m = re.search(r"monitoring on \S+ \(port (\d+)\)", f.read())
    return int(m.group(1)) if m else None


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        return body if r.status == 200 else ""
    finally:
        c.close()


def sink_events(pipe):
    out = []
    with open(pipe.ndjson_path, "rb") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


# ---- the test -------------------------------------------------------------------------------

def skip_reason():
    if os.geteuid() != 0:
        return "needs root (eBPF)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux)"
    for exe in ("nginx", "redis-server", "timeout"):
        if not shutil.which(exe) and not os.path.exists(f"/usr/sbin/{exe}"):
            return f"{exe} not installed (scripts/deps.sh)"
    return None


def run(args):
    failures = []
    rng = random.Random(args.seed)
    tag = str(os.getpid() % 100000)
    comm = {"nginx": f"rwngx{tag}", "py": f"rwpy{tag}", "redis": f"rwredis{tag}", "rcli": f"rwrcli{tag}"}
    nginx_host, py_host = f"nginx-{tag}.test", f"py-{tag}.test"
    work = tempfile.mkdtemp(prefix="rw-workload-", dir="/tmp")
    servers = []
    report = {"seed": args.seed}
    try:
        # nginx and redis are started through symlinks named after their comm: the kernel takes
        # a task's comm from the name it was exec'd by, so the capture filter can select exactly
        # these processes (and not another engineer's nginx on the same machine).
        nginx_exe = shutil.which("nginx") or "/usr/sbin/nginx"
        os.symlink(nginx_exe, os.path.join(work, comm["nginx"]))
        # redis-server is a symlink to redis-check-rdb, which picks its mode from argv[0]: any
        # name without "redis-check-" / "redis-sentinel" runs the server.
        os.symlink(os.path.realpath(shutil.which("redis-server")), os.path.join(work, comm["redis"]))
        nginx_port, redis_port = free_port(), free_port()
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(work, d))
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_config(work, nginx_port))
        tmo = ["timeout", "-k", "5", str(SERVER_DEADLINE_S)]
        servers.append(Server("nginx", tmo + [os.path.join(work, comm["nginx"]), "-p", work, "-c", conf,
                                              "-e", os.path.join(work, "nginx-error.log")],
                              os.path.join(work, "nginx.log")))
        servers.append(Server("redis", tmo + [os.path.join(work, comm["redis"]), "--port", str(redis_port),
                                              "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                              "--dir", work, "--protected-mode", "yes",
                                              "--daemonize", "no", "--logfile", ""],
                              os.path.join(work, "redis.log")))
        py_port_file = os.path.join(work, "py.port")
        servers.append(Server("python", [sys.executable, HTTP_E2E_SERVER, "--port-file", py_port_file,
                                         "--comm", comm["py"], "--deadline", str(SERVER_DEADLINE_S)],
                              os.path.join(work, "python.log")))

        # Readiness before the pipeline starts, so these probes are not part of the capture.
        def ready(port, probe):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    return probe(s)
            except OSError:
                return False
        for s in servers:
            if not s.alive():
                raise HarnessError(f"{s.name} exited at start: {s.log_tail()}")
        wait_for(lambda: ready(nginx_port, lambda s: True), 10, f"nginx on port {nginx_port}")
        wait_for(lambda: ready(redis_port, lambda s: s.sendall(b"PING\r\n") or s.recv(64).startswith(b"+PONG")),
                 10, f"redis on port {redis_port}")
        py_port = wait_for(lambda: os.path.exists(py_port_file) and int(open(py_port_file).read()), 10,
                           "the python HTTP server's port file")
        ports = {nginx_host: nginx_port, py_host: py_port}

        overrides = {
            "capture.source": "ebpf",
            "capture.tls_uprobes": False,
            "processor.max_events_per_second": 1_000_000,
            "processor.burst": 1_000_000,
        }
        with Pipeline(args.build_dir, overrides, name="rw-workload") as pipe:
            # include_comm is a list: the harness renders scalars only, so append it here.
            with open(pipe.config_path) as f:
                text = f.read()
            text = text.replace("[capture]\n", "[capture]\ninclude_comm = " +
                                json.dumps([comm["nginx"], comm["py"], comm["redis"], comm["rcli"]]) + "\n", 1)
            with open(pipe.config_path, "w") as f:
                f.write(text)
            pipe.start(ready_timeout=60)
            mport = wait_for(lambda: metrics_port(pipe), 15, "the shipper's monitoring port in the log")

            # ---- the workload ----
            plan = http_plan(nginx_host, py_host)
            t0 = time.monotonic()
            http_conns = send_http(plan, ports, rng)
            rc = subprocess.run([sys.executable, os.path.abspath(__file__), "--redis-client",
                                 "--port", str(redis_port), "--comm", comm["rcli"],
                                 "--connections", str(args.redis_connections),
                                 "--commands-per-connection", str(args.redis_commands)],
                                capture_output=True, text=True, timeout=60)
            if rc.returncode != 0:
                raise HarnessError(f"redis client failed ({rc.returncode}): {rc.stdout} {rc.stderr}")
            redis_truth = json.loads(rc.stdout.strip().splitlines()[-1])
            workload_s = time.monotonic() - t0
            # Stop the servers now: redis-server reads /proc/self/stat several times a second
            # (captured file opens), so the pipeline goes quiet only once they are gone. Their
            # exits are captured like anything else and count in the identity.
            for s in reversed(servers):
                s.stop()

            # ---- ground truth ----
            truth = {}
            for r in plan:
                t = truth.setdefault((r.service, r.route), {"requests": 0, "5xx": 0, "business": 0, "types": {},
                                                            "events": {}})
                t["requests"] += 1
                t["5xx"] += r.status >= 500
                if r.business:
                    t["business"] += 1
                    t["types"][r.business] = t["types"].get(r.business, 0) + 1
                key = (r.method, r.status, r.business)
                t["events"][key] = t["events"].get(key, 0) + 1
            n_http = len(plan)

            # ---- wait until the sink holds every exchange, then for quiescence ----
            def http_events():
                return [e for e in sink_events(pipe)
                        if e.get("type") == "http" and e.get("service") in (nginx_host, py_host)]
            try:
                wait_for(lambda: len(http_events()) >= n_http, 30, f"{n_http} http events in the sink")
            except HarnessError:
                pass  # reported below with the exact shortfall
            st = wait_quiescent(pipe, timeout=30, what="the pipeline idle after the workload")
            acc = st["accounting"]
            lost_kernel = {k: v for k, v in acc["dropped"].items() if v and k.startswith("kernel.")}
            loss_note = (f" (kernel losses counted: {lost_kernel})" if lost_kernel
                         else " (no kernel loss counted)")
            events = sink_events(pipe)
            hev = [e for e in events if e.get("type") == "http" and e.get("service") in (nginx_host, py_host)]

            # ---- the sink: one http event per exchange, fields as sent ----
            if len(hev) != n_http:
                failures.append(f"sink holds {len(hev)} http events of this run's services, {n_http} "
                                f"exchanges were made{loss_note}")
            got_events = {}
            for e in hev:
                key = (e.get("service"), e.get("route"))
                k2 = (e.get("method"), int(e.get("status", -1)), e.get("business_error", "") or "")
                got_events.setdefault(key, {})
                got_events[key][k2] = got_events[key].get(k2, 0) + 1
            for key, t in truth.items():
                if got_events.get(key, {}) != t["events"]:
                    failures.append(f"sink events for {key}: got {got_events.get(key)} "
                                    f"(method, status, business_error) counts, sent {t['events']}{loss_note}")
            for key in got_events.keys() - truth.keys():
                failures.append(f"sink has http events for a route never requested: {key}: {got_events[key]}")

            # ---- /metrics: RED metrics and business errors per route ----
            def metrics_done():
                m = parse_prometheus(scrape(mport))
                total = sum(metric_sum(m, "http_requests_total", service=s) for s in (nginx_host, py_host))
                return m if total >= n_http else None
            try:
                wait_for(metrics_done, 15, f"/metrics to count {n_http} requests")
            except HarnessError:
                pass
            time.sleep(0.5)  # one more publication: an overcount would show now
            m = parse_prometheus(scrape(mport))
            per_route = {}
            for (service, route), t in sorted(truth.items()):
                got = {
                    "requests": metric_sum(m, "http_requests_total", service=service, route=route),
                    "5xx": metric_sum(m, "http_requests_total", service=service, route=route, status_class="5xx"),
                    "duration_count": metric_sum(m, "http_request_duration_seconds_count", service=service,
                                                 route=route),
                    "business": metric_sum(m, "api_business_errors_total", service=service, route=route),
                }
                per_route[f"{service} {route}"] = {"sent": {k: t[k] for k in ("requests", "5xx", "business")},
                                                   "metrics": got}
                for k, want in (("requests", t["requests"]), ("5xx", t["5xx"]),
                                ("duration_count", t["requests"]), ("business", t["business"])):
                    if got[k] != want:
                        failures.append(f"/metrics {service} {route}: {k} = {got[k]:.0f}, sent {want}{loss_note}")
                for etype, n in t["types"].items():
                    v = metric_sum(m, "api_business_errors_total", service=service, route=route, error_type=etype)
                    if v != n:
                        failures.append(f"/metrics {service} {route}: api_business_errors_total"
                                        f"{{error_type={etype}}} = {v:.0f}, sent {n}")
            for service in (nginx_host, py_host):
                sent = sum(t["requests"] for (s, _), t in truth.items() if s == service)
                sent5 = sum(t["5xx"] for (s, _), t in truth.items() if s == service)
                got = metric_sum(m, "http_requests_total", service=service)
                got5 = metric_sum(m, "http_requests_total", service=service, status_class="5xx")
                per_route[f"{service} (all routes)"] = {"sent": {"requests": sent, "5xx": sent5},
                                                        "metrics": {"requests": got, "5xx": got5,
                                                                    "5xx_share": got5 / got if got else None}}
                if got != sent or got5 != sent5:
                    failures.append(f"/metrics {service}: {got:.0f} requests / {got5:.0f} 5xx, sent {sent} / "
                                    f"{sent5}{loss_note}")

            # ---- redis: connections as net events ----
            conn_ev = [e for e in events if e.get("type") == "net_connect" and e.get("comm") == comm["rcli"]]
            conn_to_redis = [e for e in conn_ev if e.get("dst_port") == redis_port
                             and e.get("dst_addr") == "127.0.0.1"]
            connect_results = {}
            for e in conn_to_redis:
                connect_results[e.get("result")] = connect_results.get(e.get("result"), 0) + 1
            n_conn = redis_truth["connections"]
            want_results = {0: (n_conn + 1) // 2, -EINPROGRESS: n_conn // 2}
            want_results = {k: v for k, v in want_results.items() if v}
            if connect_results != want_results:
                failures.append(f"redis: net_connect results {connect_results}, the client made {want_results} "
                                f"(result: count; blocking connects 0, non-blocking -EINPROGRESS){loss_note}")
            acc_ev = [e for e in events if e.get("type") == "net_accept" and e.get("comm") == comm["redis"]
                      and e.get("dst_port") == redis_port]
            acc_ok = [e for e in acc_ev if int(e.get("result", -1)) >= 0]
            if len(conn_to_redis) != n_conn or len(conn_ev) != n_conn:
                failures.append(f"redis: {n_conn} connections opened, {len(conn_to_redis)} net_connect "
                                f"events to port {redis_port} ({len(conn_ev)} connect events from the client in all)"
                                f"{loss_note}")
            if len(acc_ok) != n_conn or len(acc_ev) != n_conn:
                failures.append(f"redis: {n_conn} connections opened, {len(acc_ok)} successful net_accept events "
                                f"on port {redis_port} ({len(acc_ev)} accept events in all){loss_note}")
            for service, server_comm in ((nginx_host, comm["nginx"]), (py_host, comm["py"])):
                n = sum(1 for e in events if e.get("type") == "net_accept" and e.get("comm") == server_comm
                        and e.get("dst_port") == ports[service] and int(e.get("result", -1)) >= 0)
                if n != http_conns[service]:
                    failures.append(f"{service}: the client opened {http_conns[service]} connections, the sink "
                                    f"holds {n} net_accept events on port {ports[service]}{loss_note}")
            redis_http = [e for e in events if e.get("type") == "http" and e.get("comm") in (comm["redis"], comm["rcli"])]
            if redis_http:
                failures.append(f"redis traffic produced {len(redis_http)} http events, e.g. {redis_http[0]}")

            # ---- accounting ----
            lhs, rhs, _ = identity(acc)
            if lhs != rhs or acc["unexplained"] != 0:
                failures.append(f"accounting identity broken: {lhs - rhs} events unaccounted for: "
                                f"{describe_accounting(acc)}")
            cap = pipe.process(st, "capture")["counters"]
            report.update({
                "workload_s": round(workload_s, 2),
                "http_requests": n_http,
                "http_connections": http_conns,
                "redis": {**redis_truth, "port": redis_port, "connect_events": len(conn_to_redis),
                          "connect_results": connect_results,
                          "accept_events": len(acc_ok)},
                "per_route": per_route,
                "accounting": acc,
                "accounting_text": describe_accounting(acc),
                "capture_counters": cap,
                "sink_events_by_type": {},
                "failures": failures,
            })
            for e in events:
                t = e.get("type", "?")
                report["sink_events_by_type"][t] = report["sink_events_by_type"].get(t, 0) + 1
            print("workload: " + describe_accounting(acc))
            for name, v in per_route.items():
                print(f"workload: {name}: sent {v['sent']} metrics {v['metrics']}")
            print(f"workload: redis {redis_truth} -> {len(conn_to_redis)} connect / {len(acc_ok)} accept events; "
                  f"http connections {http_conns}; sink {report['sink_events_by_type']}; workload {workload_s:.1f} s")
    finally:
        for s in reversed(servers):
            s.stop()
        if os.environ.get("RINGWARD_KEEP_TMP"):
            print(f"workload: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2, default=str)
    if failures:
        print("workload: FAILED:\n  - " + "\n  - ".join(failures))
        return 1
    print("workload: OK")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir")
    ap.add_argument("--report")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--redis-connections", type=int, default=12)
    ap.add_argument("--redis-commands", type=int, default=25, help="commands per redis connection")
    # Internal: the redis client subprocess.
    ap.add_argument("--redis-client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--comm", help=argparse.SUPPRESS)
    ap.add_argument("--connections", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--commands-per-connection", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.redis_client:
        return redis_client_main(args)
    if not args.build_dir:
        ap.error("--build-dir is required")
    reason = skip_reason()
    if reason:
        print(f"workload: SKIP: {reason}")
        return SKIP
    try:
        return run(args)
    except HarnessError as e:
        print(f"workload: FAILED: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
