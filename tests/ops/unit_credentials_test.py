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
Runs as root; exit 77 (skip) otherwise or without setpriv. Trust: test code.
Usage: unit_credentials_test.py UNIT BUILD_DIR
"""

import os
import re
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
    if os.geteuid() != 0:
        print("SKIP: needs root (eBPF and identities)")
        return 77
    setpriv = shutil.which("setpriv")
    if not setpriv:
        print("SKIP: setpriv (util-linux) not installed")
        return 77
    s = unit_settings(unit)
    bounding = caps(s.get("CapabilityBoundingSet", []))
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
            failures.append(f"supervisor CapEff {sup['CapEff']}, want the unit's {mask(ambient):016x}")
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
    shutil.rmtree(marker_dir, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("pipeline up under the unit's credentials; every child dropped what it held")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
