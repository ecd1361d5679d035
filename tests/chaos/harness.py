"""Test harness for whole-pipeline tests: runs a real ringward-supervisor (which runs the real
capture, processor and shipper) from a build directory in a private temp directory, talks to it
over its control socket, and cleans up only what it started (by pid, never by name).

Used by the chaos, fault-injection and soak tests and by bench/e2e_pipeline.py. Standard library
only. Trust: test code, runs as root (the supervisor needs it); it only signals pids it verified
to be children of the supervisor it started.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime

CHILDREN = ("capture", "processor", "shipper")


class HarnessError(Exception):
    pass


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


class Pipeline:
    """One supervised pipeline. Use as a context manager: stops and cleans up on exit."""

    def __init__(self, build_dir, overrides=None, name="rw"):
        self.build_dir = os.path.abspath(build_dir)
        self.dir = tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp")
        self.bin_dir = os.path.join(self.dir, "libexec")
        os.makedirs(self.bin_dir)
        for child in CHILDREN:
            exe = os.path.join(self.build_dir, child, f"ringward-{child}")
            if not os.access(exe, os.X_OK):
                raise HarnessError(f"{exe} is not built (ninja -C {build_dir} {child}/ringward-{child})")
            os.symlink(exe, os.path.join(self.bin_dir, f"ringward-{child}"))
        self.supervisor_exe = os.path.join(self.build_dir, "supervisor", "ringward-supervisor")
        self.socket_path = os.path.join(self.dir, "ctl.sock")
        self.ndjson_path = os.path.join(self.dir, "events.ndjson")
        self.log_path = os.path.join(self.dir, "supervisor.log")
        self.config_path = os.path.join(self.dir, "ringward.toml")
        self.proc = None
        self.started_wall = None
        self.last_status = None
        sections = {
            "supervisor": {
                "control_socket": self.socket_path,
                "run_dir": os.path.join(self.dir, "run"),
            },
            "capture": {"source": "synthetic"},
            "processor": {"max_events_per_second": 10_000_000, "burst": 10_000_000},
            "shipper": {
                "buffer_dir": os.path.join(self.dir, "buffer"),
                "dlq_dir": os.path.join(self.dir, "dlq"),
                "metrics_listen": "127.0.0.1:0",
            },
        }
        for key, value in (overrides or {}).items():
            section, _, k = key.partition(".")
            sections.setdefault(section, {})[k] = value
        lines = []
        for section, kv in sections.items():
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in kv.items()]
            lines.append("")
        lines += ["[[shipper.sinks]]", 'type = "file"', f"path = {json.dumps(self.ndjson_path)}", ""]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines))

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if os.environ.get("RINGWARD_KEEP_TMP"):
            print(f"harness: kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def start(self, ready_timeout=20.0, wrapper=()):
        """Starts the supervisor (under `wrapper`, a command prefix that execs it, e.g. setpriv);
        returns the first status with every child running."""
        self._log = open(self.log_path, "ab")
        self.started_wall = time.time()
        self.proc = subprocess.Popen(
            [*wrapper, self.supervisor_exe, "--config", self.config_path, "--libexec-dir", self.bin_dir],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self.wait_until(lambda s: all(p["state"] == "running" for p in s["processes"]),
                               ready_timeout, "all three children running after start")

    def stop(self, timeout=40.0):
        """Graceful stop (SIGTERM: the supervisor drains), SIGKILL of our own pids as a fallback."""
        if self.proc is None:
            return None
        known = self._child_pids()
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
                for pid in known:
                    if self.is_child_of_supervisor(pid, self.proc.pid, None):
                        os.kill(pid, signal.SIGKILL)
        else:
            rc = self.proc.returncode
        # Segments of a supervisor that did not get to clean up (named after its pid).
        for entry in os.listdir("/dev/shm"):
            if entry.startswith(f"ringward-{self.proc.pid}-"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join("/dev/shm", entry))
        self._log.close()
        self.proc = None
        return rc

    def _child_pids(self):
        if not self.last_status:
            return []
        return [p["pid"] for p in self.last_status["processes"] if p["pid"] > 1]

    @property
    def supervisor_pid(self):
        return self.proc.pid if self.proc else None

    # -- control socket --------------------------------------------------------------------------

    def command(self, line, timeout=10.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.socket_path)
            s.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        finally:
            s.close()
        text = b"".join(chunks).decode(errors="replace")
        head, _, body = text.partition("\n")
        if head != "OK":
            raise HarnessError(f"control command {line!r}: {text.strip()}")
        return body

    def status(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise HarnessError(f"supervisor exited with {self.proc.returncode}; log:\n{self.log_tail()}")
        st = json.loads(self.command("status --json"))
        self.last_status = st
        return st

    def wait_until(self, predicate, timeout, what, interval=0.05):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            try:
                st = self.status()
            except (OSError, json.JSONDecodeError):
                st = None  # socket not there yet
            if st is not None and predicate(st):
                return st
            time.sleep(interval)
        raise HarnessError(f"timed out after {timeout:.0f} s waiting for: {what}\n"
                           f"last status: {json.dumps(st)[:3000] if st else None}\n"
                           f"log tail:\n{self.log_tail()}")

    # -- helpers ---------------------------------------------------------------------------------

    def process(self, st, name):
        for p in st["processes"]:
            if p["name"] == name:
                return p
        raise HarnessError(f"no process {name} in status")

    @staticmethod
    def is_child_of_supervisor(pid, supervisor_pid, name):
        """True if `pid` is alive, a child of `supervisor_pid`, and runs ringward-<name>."""
        if pid is None or pid <= 1:
            return False
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode(errors="replace")
        except (OSError, ValueError, IndexError):
            return False
        if ppid != supervisor_pid:
            return False
        return name is None or os.path.basename(argv0) == f"ringward-{name}"

    def kill_child(self, name, sig=signal.SIGKILL, st=None):
        """Sends `sig` to the running child `name`; returns (pid, wall time) or None."""
        st = st or self.status()
        p = self.process(st, name)
        pid = p["pid"]
        if p["state"] != "running" or not self.is_child_of_supervisor(pid, self.proc.pid, name):
            return None
        t = time.time()
        os.kill(pid, sig)
        return pid, t

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    _LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+) ringward-supervisor\[\d+\] \w+: (.*)$")

    def supervisor_events(self):
        """(wall time, message) of every supervisor log line."""
        out = []
        with open(self.log_path, errors="replace") as f:
            for line in f:
                m = self._LOG_RE.match(line.rstrip("\n"))
                if m:
                    ts = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
                    out.append((ts, m.group(2)))
        return out

    def read_ndjson_ids(self):
        """(ids in file order, number of unparsable lines)."""
        ids, bad = [], 0
        with open(self.ndjson_path, "rb") as f:
            for line in f:
                try:
                    ids.append(int(json.loads(line)["id"]))
                except (ValueError, KeyError, TypeError):
                    bad += 1
        return ids, bad

    def proc_status(self, pid):
        """Memory (bytes: VmRSS and its RssAnon/RssFile/RssShmem parts) and open fd count of a
        pid, or None if it is gone."""
        try:
            mem = {}
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                        mem[key] = int(rest.split()[0]) * 1024
            mem["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return None
        return mem


def identity(acc):
    """(lhs, rhs, sum dropped) of captured + generated + carried_over = delivered + dead + dropped
    + in_flight."""
    dropped = sum(acc["dropped"].values())
    lhs = acc["captured"] + acc["generated"] + acc.get("carried_over", 0)
    rhs = acc["delivered"] + acc["dead_lettered"] + dropped + acc["in_flight"]
    return lhs, rhs, dropped


def describe_accounting(acc):
    lhs, rhs, dropped = identity(acc)
    drops = ", ".join(f"{k}={v}" for k, v in sorted(acc["dropped"].items()) if v) or "none"
    return (f"captured {acc['captured']} + generated {acc['generated']} = {lhs}; delivered "
            f"{acc['delivered']} + dead_lettered {acc['dead_lettered']} + dropped {dropped} ({drops}) + "
            f"in_flight {acc['in_flight']} = {rhs}; unexplained {acc['unexplained']} "
            f"(duplicates suppressed {acc['duplicates']})")


def wait_quiescent(pipe, timeout, extra=None, what="quiescence"):
    """Waits until every child runs, nothing is in flight, `extra(status)` holds, and the
    accounting is unchanged across two reads 0.3 s apart. Returns that status."""
    deadline = time.monotonic() + timeout
    prev = None
    while True:
        st = pipe.wait_until(
            lambda s: s["accounting"]["in_flight"] == 0
            and all(p["state"] == "running" for p in s["processes"])
            and (extra is None or extra(s)),
            max(1.0, deadline - time.monotonic()), what)
        if prev is not None and prev == st["accounting"]:
            return st
        prev = st["accounting"]
        time.sleep(0.3)
        if time.monotonic() > deadline:
            raise HarnessError(f"accounting never settled: {describe_accounting(st['accounting'])}")


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1) + 0.4999))))
    return v[k]
