#!/usr/bin/env python3
"""The credentials the shipped unit gives the supervisor must be enough to run the pipeline.

systemd starts ringward-supervisor as root with the unit's CapabilityBoundingSet,
AmbientCapabilities, SecureBits and NoNewPrivileges. Each SecureBits word is one bit: with
`noroot` set, root gets no capabilities from being root at exec and only the ambient set would
carry any; `noroot-locked` alone locks that bit clear. This test reads those
four settings from the generated unit, applies them with setpriv (util-linux) the way systemd
does, starts the real supervisor under them with eBPF capture, and checks that every child
runs, that capture attached its programs and then dropped everything, that processor and
shipper switched to their user with nothing left, and that an exec reaches the NDJSON sink.

TLS: capture opens a libssl copy that only exists inside another process's mount namespace
(a container's) through /proc/<pid>/root, which the kernel opens for another uid's process only
with CAP_SYS_PTRACE. The unit leaves it out; the documented drop-in adds it (--add-cap
CAP_SYS_PTRACE). A process running as nobody in its own mount namespace, on a libssl copy in a
tmpfs only that namespace sees, is started first: its copy must be hooked exactly when the
bounding set has CAP_SYS_PTRACE.
Runs as root; exit 77 (skip) otherwise or without setpriv. Trust: test code.
Usage: unit_credentials_test.py UNIT BUILD_DIR [--add-cap CAP_X]
"""

import glob
import os
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))
from harness import Pipeline  # noqa: E402

CAP_NUMBERS = {"chown": 0, "dac_override": 1, "dac_read_search": 2, "fowner": 3, "fsetid": 4,
               "kill": 5, "setgid": 6, "setuid": 7, "setpcap": 8, "net_bind_service": 10,
               "net_admin": 12, "net_raw": 13, "ipc_lock": 14, "sys_chroot": 18, "sys_ptrace": 19,
               "sys_admin": 21, "sys_resource": 24, "syslog": 34, "perfmon": 38, "bpf": 39}


def unit_settings(path):
    settings = {}
    for line in open(path):
        m = re.match(r"^(CapabilityBoundingSet|AmbientCapabilities|SecureBits|NoNewPrivileges)=(.*)$",
                     line.strip())
        if m:
            settings[m.group(1)] = m.group(2).split()
    return settings


def caps(names):
    out = []
    for n in names:
        assert n.startswith("CAP_"), n
        out.append(n[4:].lower())
    return out


def mask(names):
    return sum(1 << CAP_NUMBERS[n] for n in names)


def status_caps(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Uid"):
            fields[k] = v.strip()
    return fields


def main():
    unit, build_dir = sys.argv[1], sys.argv[2]
    added = sys.argv[4:5] if sys.argv[3:4] == ["--add-cap"] else []
    if os.geteuid() != 0:
        print("SKIP: needs root (eBPF and identities)")
        return 77
    setpriv = shutil.which("setpriv")
    if not setpriv:
        print("SKIP: setpriv (util-linux) not installed")
        return 77
    s = unit_settings(unit)
    bounding = caps(s.get("CapabilityBoundingSet", []) + added)
    ambient = caps(s.get("AmbientCapabilities", []))
    securebits = [b.replace("-", "_") for b in s.get("SecureBits", [])]
    assert bounding, "the unit sets no CapabilityBoundingSet"
    wrapper = [setpriv, "--bounding-set", ",".join(["-all"] + ["+" + c for c in bounding])]
    if ambient:
        # systemd raises the ambient capabilities in the inheritable set too (the kernel requires it).
        wrapper += ["--inh-caps", ",".join(["-all"] + ["+" + c for c in ambient]),
                    "--ambient-caps", ",".join(["+" + c for c in ambient])]
    if securebits:
        wrapper += ["--securebits", ",".join("+" + b for b in securebits)]
    if s.get("NoNewPrivileges") == ["yes"]:
        wrapper += ["--no-new-privs"]
    wrapper += ["--"]
    print("unit credentials:", " ".join(wrapper[1:]))

    marker_dir = tempfile.mkdtemp(prefix="rw-unitcred-")
    os.chmod(marker_dir, 0o755)
    libssl = sorted(glob.glob("/usr/lib/*-linux-gnu/libssl.so.3") + glob.glob("/lib/*-linux-gnu/libssl.so.3"))
    victim = None
    copy = None
    system_python = "/usr/bin/python3"  # the system's, which links libssl and nobody may run
    if libssl and shutil.which("unshare") and os.access(system_python, os.X_OK):
        # A container in miniature: its own mount namespace, a tmpfs over a directory the host
        # sees empty, a root-owned libssl copy in it, the process running as nobody.
        ns_dir = os.path.join(marker_dir, "container-lib")
        os.mkdir(ns_dir, 0o755)
        copy = os.path.join(ns_dir, "libssl.so.3")
        script = (f"mount -t tmpfs -o mode=0755 rwtls {ns_dir} && cp {libssl[0]} {copy} && "
                  f"chmod 0644 {copy} && exec setpriv --reuid=65534 --regid=65534 --clear-groups "
                  f"-- env LD_LIBRARY_PATH={ns_dir} {system_python} -c "
                  f"\"import ssl, time; print('up', flush=True); time.sleep(120)\"")
        victim = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                                   "sh", "-c", script], stdout=subprocess.PIPE)
    else:
        print("note: no libssl.so.3, unshare or /usr/bin/python3: the container TLS check is left out")
    try:
        return run(build_dir, wrapper, bounding, ambient, marker_dir, victim, copy)
    finally:
        if victim is not None and victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
        if victim is not None:
            victim.wait()
        shutil.rmtree(marker_dir, ignore_errors=True)


def run(build_dir, wrapper, bounding, ambient, marker_dir, victim, copy):
    if victim is not None:
        if victim.stdout.readline().strip() != b"up":
            print(f"FAIL: the process on a container libssl copy did not start (rc {victim.poll()})")
            return 1
        with open(f"/proc/{victim.pid}/maps") as f:
            if copy not in f.read():
                print("FAIL: the process did not map its own libssl copy")
                return 1
        if os.path.exists(copy):
            print("FAIL: the copy should be invisible outside the process's mount namespace")
            return 1
    # A user other than root for processor and shipper (the unit's ringward-proc/-ship need
    # sysusers): the switch itself needs CAP_SETUID/CAP_SETGID/CAP_CHOWN from the unit.
    overrides = {"capture.source": "ebpf", "processor.user": "nobody", "shipper.user": "nobody",
                 "processor.max_events_per_second": 10000}
    failures = []
    with Pipeline(build_dir, overrides, name="rw-unitcred") as pipe:
        os.chmod(pipe.dir, 0o755)  # processor and shipper (nobody) exec from its libexec/
        # The sink file is the shipper's to write (under the unit: /var/lib/ringward, its own).
        open(pipe.ndjson_path, "w").close()
        os.chown(pipe.ndjson_path, 65534, 65534)
        try:
            st = pipe.start(ready_timeout=60, wrapper=wrapper)
        except Exception as e:  # noqa: BLE001 - the harness error carries the log
            print(f"FAIL: the pipeline did not start under the unit's credentials:\n{e}\n"
                  f"supervisor log:\n{pipe.log_tail()}")
            return 1
        pids = {p["name"]: p["pid"] for p in st["processes"]}
        sup = status_caps(pipe.supervisor_pid)
        if int(sup["CapEff"], 16) != mask(ambient or bounding):
            failures.append(f"supervisor CapEff {sup['CapEff']}, want the unit's {mask(ambient or bounding):016x}")
        cap_st = pipe.command("status --json")
        if "tp_btf:sched_process_exec" not in cap_st:
            failures.append("capture reports no eBPF hook active")
        for name in ("capture", "processor", "shipper"):
            c = status_caps(pids[name])
            if int(c["CapEff"], 16) != 0 or int(c["CapPrm"], 16) != 0 or c["NoNewPrivs"] != "1":
                failures.append(f"{name} kept privileges: {c}")
            if name != "capture":
                if int(c["CapBnd"], 16) != 0:
                    failures.append(f"{name} bounding set not emptied: {c['CapBnd']}")
                if c["Uid"].split()[0] != str(65534):
                    failures.append(f"{name} runs as uid {c['Uid']}, want nobody")
        # A real event through the real pipeline: a uniquely named exec reaches the sink.
        exe = os.path.join(marker_dir, f"rwunitcred{os.getpid()}")
        shutil.copy("/bin/true", exe)
        deadline = time.monotonic() + 20
        seen = False
        while time.monotonic() < deadline and not seen:
            subprocess.run([exe], check=True)
            time.sleep(0.5)
            try:
                with open(pipe.ndjson_path, "rb") as f:
                    seen = exe.encode() in f.read()
            except FileNotFoundError:
                pass
        if not seen:
            failures.append(f"no event for {exe} reached {pipe.ndjson_path}")
        if copy is not None:
            hooked = f"{copy}:SSL_write" in cap_st  # through /proc/<pid>/root
            want = "sys_ptrace" in bounding
            if hooked != want:
                failures.append(f"a container's libssl copy (process of another uid) is "
                                f"{'' if hooked else 'not '}hooked with CAP_SYS_PTRACE "
                                f"{'in' if want else 'out of'} the bounding set")
            else:
                print(f"container libssl copy of another uid's process hooked: {hooked}")
            with open(pipe.log_path, errors="replace") as f:
                warned = "could not be opened through /proc/<pid>/root" in f.read()
            if warned == want:
                failures.append(f"capture {'warned' if warned else 'did not warn'} about libssl "
                                f"copies it could not reach")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("pipeline up under the unit's credentials; every child dropped what it held")
    return 1 if failures else 0


def _terminated(signum, _frame):
    # meson ends a test that ran past its timeout with SIGTERM: unwind so the `finally` blocks
    # and the Pipeline stop what this test started.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())
