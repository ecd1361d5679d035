#!/usr/bin/env python3
"""/metrics end to end: the shipper serves every process's statistics (supervisor, capture,
processor, shipper) and the processor's labelled HTTP metrics as Prometheus text that passes
`promtool check metrics`; /health and /stats answer."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

build = sys.argv[1]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    d = tempfile.mkdtemp(prefix="rw-metrics-")
    port = free_port()
    open(f"{d}/ringward.toml", "w").write(f"""[supervisor]
control_socket = "{d}/ctl.sock"
run_dir = "{d}/run"
[capture]
source = "synthetic"
synthetic_events = 5000
synthetic_rate = 5000
[processor]
max_events_per_second = 1000000
burst = 1000000
[shipper]
buffer_dir = "{d}/buffer"
dlq_dir = "{d}/dlq"
metrics_listen = "127.0.0.1:{port}"
[[shipper.sinks]]
type = "file"
path = "{d}/events.ndjson"
""")
    os.makedirs(f"{d}/libexec")
    for c in ("capture", "processor", "shipper"):
        os.symlink(f"{build}/{c}/ringward-{c}", f"{d}/libexec/ringward-{c}")
    log = open(f"{d}/supervisor.log", "w")
    sup = subprocess.Popen([f"{build}/supervisor/ringward-supervisor", "--config", f"{d}/ringward.toml",
                            "--libexec-dir", f"{d}/libexec"], stdout=log, stderr=log)
    try:
        text = ""
        end = time.time() + 60
        while time.time() < end:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                if "ringward_shipper_delivered_total 5000" in text and "http_requests_total{" in text:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        for needle in ("ringward_capture_captured_total 5000", "ringward_shipper_delivered_total 5000",
                       "ringward_supervisor_", "ringward_processor_in_total", "http_requests_total{",
                       "http_request_duration_seconds_bucket{", "api_business_errors_total{"):
            assert needle in text, f"/metrics lacks {needle!r}:\n{text[:3000]}"
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            assert r.returncode == 0, "promtool check metrics:\n" + r.stdout + r.stderr
        else:
            print("promtool not installed: format check skipped")
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status in (200, 503)
        stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read())
        assert "sinks" in stats, stats
        print(f"/metrics: {len(text.splitlines())} lines, promtool clean")
    finally:
        sup.send_signal(signal.SIGTERM)
        try:
            sup.wait(30)
        except subprocess.TimeoutExpired:
            sup.kill()
        shutil.rmtree(d, ignore_errors=True)


main()
