#!/usr/bin/env python3
"""DLQ end to end: a Splunk HEC receiver refuses every event with 403 (invalid token, permanent),
so the shipper dead-letters them; the receiver is then fixed, `ringwardctl dlq replay` re-queues
the entries, and every event arrives exactly once. The accounting identity holds throughout.

Then across service restarts on the same buffer: a second pipeline meets a receiver that is down
(503) and stops with its events buffered; a third one delivers those first (carried over) and its
own; a fourth dead-letters its events and a fifth replays them. Each pipeline's identity must hold
on its own although the buffer's counts are lifetime."""
import gzip, http.server, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time

build = sys.argv[1]
N = 300
state = {"accept": False, "down": False, "ids": [], "refused": 0}


class Hec(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if state["down"]:
            out = b'{"text":"Server is busy","code":9}'
            self.send_response(503)
        elif not state["accept"]:
            state["refused"] += 1
            out = b'{"text":"Invalid token","code":4}'
            self.send_response(403)
        else:
            dec = json.JSONDecoder()
            text, i = body.decode(), 0
            while i < len(text):
                while i < len(text) and text[i].isspace():
                    i += 1
                if i >= len(text):
                    break
                obj, i = dec.raw_decode(text, i)
                state["ids"].append(obj["event"]["id"])
            out = b'{"text":"Success","code":0}'
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def main():
    d = tempfile.mkdtemp(prefix="rw-dlq-")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hec)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    sock = f"{d}/ctl.sock"
    cfg = f"""[supervisor]
control_socket = "{sock}"
run_dir = "{d}/run"
[capture]
source = "synthetic"
synthetic_events = {N}
synthetic_rate = 1000
[processor]
max_events_per_second = 1000000
burst = 1000000
[shipper]
buffer_dir = "{d}/buffer"
dlq_dir = "{d}/dlq"
metrics_listen = ""
[[shipper.sinks]]
type = "splunk_hec"
endpoint = "http://127.0.0.1:{port}"
token = "t"
batch_size = 50
flush_interval = "100ms"
"""
    open(f"{d}/ringward.toml", "w").write(cfg)
    os.makedirs(f"{d}/libexec")
    for c in ("capture", "processor", "shipper"):
        os.symlink(f"{build}/{c}/ringward-{c}", f"{d}/libexec/ringward-{c}")
    log = open(f"{d}/supervisor.log", "w")

    def start():
        return subprocess.Popen([f"{build}/supervisor/ringward-supervisor", "--config", f"{d}/ringward.toml",
                                 "--libexec-dir", f"{d}/libexec"], stdout=log, stderr=log)

    def stop(p):
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    sup = start()
    ctl = f"{build}/supervisor/ringwardctl"

    def status():
        r = subprocess.run([ctl, "--socket", sock, "status", "--json"], capture_output=True, text=True)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def acct():
        s = status()
        return s["accounting"] if s else None

    def wait(pred, secs, what):
        end = time.time() + secs
        while time.time() < end:
            a = acct()
            if a and pred(a):
                return a
            time.sleep(0.2)
        raise SystemExit(f"FAILED: {what}; accounting {acct()}; log:\n" + open(f"{d}/supervisor.log").read()[-3000:])

    try:
        a = wait(lambda a: a["dead_lettered"] == N, 60, f"all {N} events dead-lettered after 403")
        assert a["delivered"] == 0 and a["unexplained"] == 0, a
        assert state["refused"] > 0
        r = subprocess.run([ctl, "--config", f"{d}/ringward.toml", "dlq", "list"], capture_output=True, text=True)
        assert r.returncode == 0 and f"{N} entries" in r.stdout, r.stdout + r.stderr
        state["accept"] = True
        r = subprocess.run([ctl, "--config", f"{d}/ringward.toml", "dlq", "replay"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        a = wait(lambda a: a["delivered"] == N, 60, "replayed events delivered")
        assert a["dead_lettered"] == 0 and a["unexplained"] == 0, a
        assert len(state["ids"]) == N and len(set(state["ids"])) == N, (len(state["ids"]), len(set(state["ids"])))
        r = subprocess.run([ctl, "--config", f"{d}/ringward.toml", "dlq", "list"], capture_output=True, text=True)
        assert "0 entries" in r.stdout, r.stdout
        print(f"dlq replay: {N} events dead-lettered on 403, re-queued, delivered once each; accounting {a}")

        # Second pipeline, same buffer: the receiver is down, its events stay buffered.
        stop(sup)
        state["down"] = True
        sup = start()
        a = wait(lambda a: a["captured"] == N and a["in_flight"] == N, 60, "second run buffered while down")
        assert a["delivered"] == 0 and a["dead_lettered"] == 0 and a["unexplained"] == 0, a
        # Third pipeline: the receiver is back; the second run's events are carried over.
        stop(sup)
        state["down"] = False
        sup = start()
        a = wait(lambda a: a["delivered"] == 2 * N, 60, "third run delivered its own and the carried events")
        assert a["captured"] == N and a["carried_over"] == N and a["unexplained"] == 0, a
        assert len(state["ids"]) == 3 * N and len(set(state["ids"])) == 3 * N, (len(state["ids"]), len(set(state["ids"])))
        print(f"restarts: the next pipelines' identities hold on the same buffer; accounting {a}")

        # Fourth pipeline dead-letters its events (403 again); a fifth replays them: they enter
        # the fifth pipeline as carried over, next to its own events.
        stop(sup)
        state["accept"] = False
        sup = start()
        a = wait(lambda a: a["dead_lettered"] == N, 60, "fourth run dead-lettered on 403")
        assert a["unexplained"] == 0, a
        stop(sup)
        state["accept"] = True
        sup = start()
        a = wait(lambda a: a["delivered"] == N, 60, "fifth run delivered its own events")
        r = subprocess.run([ctl, "--config", f"{d}/ringward.toml", "dlq", "replay"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        a = wait(lambda a: a["delivered"] == 2 * N, 60, "the fourth run's dead letters delivered by the fifth")
        assert a["carried_over"] == N and a["dead_lettered"] == 0 and a["unexplained"] == 0, a
        assert len(state["ids"]) == 5 * N and len(set(state["ids"])) == 5 * N, (len(state["ids"]), len(set(state["ids"])))
        print(f"dlq across restarts: replayed entries of an earlier run are carried over; accounting {a}")
    finally:
        stop(sup)
        srv.shutdown()
        shutil.rmtree(d, ignore_errors=True)


main()
