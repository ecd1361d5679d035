#!/usr/bin/env python3
"""Regenerates the seed corpora of the event_decoder and ring_reader fuzz targets from a real
pipeline: runs the supervisor (synthetic source) from a build dir, pauses the processor and the
shipper (SIGSTOP, our own children) so records pile up, and copies distinct records from the raw
ring (capture output) and the out ring (processor output, with derived fields), one file each,
plus a few ring images for ring_reader. Usage: make_event_seeds.py BUILD_DIR"""
import hashlib
import os
import signal
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chaos"))
from harness import Pipeline  # noqa: E402

HEADER = 320


def records(seg, limit):
    cap = struct.unpack_from("<Q", seg, 16)[0]
    w, r = struct.unpack_from("<Q", seg, 64)[0], struct.unpack_from("<Q", seg, 128)[0]
    out, c = [], r
    while c < w and len(out) < limit:
        off = c % cap
        length, tag = struct.unpack_from("<II", seg, HEADER + off)
        if tag == 0x52570002:
            c += cap - off
            continue
        if tag != 0x52570001:
            break
        out.append(bytes(seg[HEADER + off + 8:HEADER + off + 8 + length]))
        c += (8 + length + 7) & ~7
    return out, cap, w, r


def main():
    build = sys.argv[1]
    dec = os.path.join(HERE, "corpus", "event_decoder")
    ring = os.path.join(HERE, "corpus", "ring_reader")
    os.makedirs(dec, exist_ok=True)
    os.makedirs(ring, exist_ok=True)
    with Pipeline(build, {"capture.synthetic_rate": 2000}, name="rw-seeds") as pipe:
        st = pipe.start()
        sup = pipe.supervisor_pid
        for victim, ring_name in (("processor", "raw"), ("shipper", "out")):
            pid = pipe.process(pipe.status(), victim)["pid"]
            assert pipe.is_child_of_supervisor(pid, sup, victim)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(1.0)
            with open(f"/dev/shm/ringward-{sup}-{ring_name}", "rb") as f:
                seg = f.read()
            os.kill(pid, signal.SIGCONT)
            recs, cap, w, r = records(seg, 400)
            kinds = {}
            for rec in recs:
                # Keep a few of each size class: the kinds differ in size and layout.
                kinds.setdefault(len(rec) // 64, []).append(rec)
            n = 0
            for group in kinds.values():
                for rec in group[:3]:
                    name = f"{ring_name}_{hashlib.sha1(rec).hexdigest()[:12]}"
                    with open(os.path.join(dec, name), "wb") as f:
                        f.write(rec)
                    n += 1
            # ring_reader input: positions + a 4 KiB image taken from the live ring.
            start = r % cap
            image = seg[HEADER + start:HEADER + start + 4096]
            used = min(w - r, 4096)
            with open(os.path.join(ring, f"{ring_name}_image"), "wb") as f:
                f.write(struct.pack("<QQ", used & ~7, 0) + image)
            print(f"{ring_name}: {len(recs)} records read, {n} seeds written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
