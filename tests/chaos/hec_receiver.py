#!/usr/bin/env python3
"""A Splunk HTTP Event Collector stand-in for whole-pipeline fault-injection tests.

Listens on 127.0.0.1 only (port 0 by default: the kernel picks one, `port` reports it), accepts
POST /services/collector/event (and /services/collector, /services/collector/event/1.0) with
`Authorization: Splunk <token>`, a gzip or plain body of newline-separated or concatenated JSON
events, and records every event's ringward id (the shipper's HEC sink puts it in
`fields.event_id`; `event.id` is the fallback). Answers as HEC does (docs.splunk.com "Format
events for HTTP Event Collector" / "Troubleshoot HEC": 200 {"text":"Success","code":0}; 401
code 2 without a token, 403 code 4 for a wrong one; 400 code 5 no data, code 6 invalid data
format with "invalid-event-number", code 12 event field missing; 503 code 9 server busy).

The behaviour can be switched at run time, from the test process (`set_mode`, thread-safe) or,
when run as a script, by lines on stdin ("mode 429 retry_after=2"):

  normal   answer as above and record the events
  down     the listening socket is closed and open connections are cut: connection refused
  429      429 Too Many Requests with `Retry-After: <retry_after>`; nothing recorded
  503      503 {"text":"Server is busy","code":9}; nothing recorded
  slow     record the events, then wait `delay` seconds before answering (a client that gave up
           meanwhile resends: the duplicates are real, as with a real HEC without indexer ack)
  close    read the request, close the connection without answering; nothing recorded

Bounded: the server stops itself after `lifetime` seconds, request bodies are capped (compressed
and decompressed), and every handler thread is a daemon. Standard library only. Trust: test
code; its peer is the ringward shipper under test.
"""

import argparse
import collections
import http.server
import json
import socket
import sys
import threading
import time
import zlib

MODES = ("normal", "down", "429", "503", "slow", "close")
EVENT_PATHS = ("/services/collector/event", "/services/collector", "/services/collector/event/1.0")


class ReceiverError(Exception):
    pass


def split_events(text):
    """Parses newline-separated or concatenated JSON values. Returns (events, index of the first
    value that does not parse or None)."""
    dec = json.JSONDecoder()
    events, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return events, None
        try:
            value, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return events, len(events)
        events.append(value)


def event_priority(ev):
    """The ringward priority name the sink puts in `fields.priority` ("" when absent)."""
    fields = ev.get("fields")
    p = fields.get("priority") if isinstance(fields, dict) else None
    return p if isinstance(p, str) else ""


def event_id(ev):
    """The ringward id of one HEC event object, or None."""
    fields = ev.get("fields")
    if isinstance(fields, dict) and "event_id" in fields:
        try:
            return int(fields["event_id"])
        except (TypeError, ValueError):
            return None
    inner = ev.get("event")
    if isinstance(inner, dict) and "id" in inner:
        try:
            return int(inner["id"])
        except (TypeError, ValueError):
            return None
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl uses it
    server_version = "hec-receiver/1"

    def log_message(self, fmt, *args):  # quiet: the receiver keeps counters instead
        pass

    def setup(self):
        super().setup()
        self.server.receiver._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.receiver._track(self.connection, False)

    def _answer(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.server.receiver._count(f"http_{status}")

    def do_GET(self):
        if self.path.startswith("/services/collector/health"):
            self._answer(200, {"text": "HEC is healthy", "code": 17})
        else:
            self._answer(404, {"text": "The requested URL was not found on this server.", "code": 404})

    def do_POST(self):
        rx = self.server.receiver
        rx._count("requests")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._answer(411, {"text": "Content-Length required", "code": 6})
            return
        length = int(length)
        if length > rx.max_body:
            self.close_connection = True
            self._answer(413, {"text": "Content too large", "code": 6})
            return
        raw = self.rfile.read(length)
        if len(raw) != length:
            self.close_connection = True
            return
        mode, params = rx.mode()
        if mode == "close":  # the request was read; the peer gets no answer at all
            # Alternately a reset (a crashing proxy) and an orderly close (an idle-timeout cut).
            n = rx._count("closed_without_answer")
            self.close_connection = True
            if n % 2:
                with_linger_reset(self.connection)
                self.connection.close()  # now, before socketserver's orderly SHUT_WR
            return
        if mode == "429":
            self._answer(429, {"text": "Too many requests", "code": 9},
                         [("Retry-After", str(params.get("retry_after", 1)))])
            return
        if mode == "503":
            self._answer(503, {"text": "Server is busy", "code": 9})
            return
        if self.path.split("?")[0] not in EVENT_PATHS:
            self._answer(404, {"text": "The requested URL was not found on this server.", "code": 404})
            return
        auth = self.headers.get("Authorization")
        if not auth:
            self._answer(401, {"text": "Token is required", "code": 2})
            return
        if auth != f"Splunk {rx.token}":
            rx._count("bad_token")
            self._answer(403, {"text": "Invalid token", "code": 4})
            return
        enc = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            if enc == "gzip":
                # Bounded inflate: a gzip bomb must not exhaust the test's memory.
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = d.decompress(raw, rx.max_body)
                if d.unconsumed_tail:
                    self._answer(413, {"text": "Content too large after decompression", "code": 6})
                    return
                rx._count("gzip_requests")
            elif enc in ("", "identity"):
                body = raw
            else:
                self._answer(415, {"text": f"Unsupported Content-Encoding {enc}", "code": 6})
                return
            text = body.decode("utf-8")
        except (zlib.error, OSError, EOFError, UnicodeDecodeError) as e:
            rx._count("bad_body")
            self._answer(400, {"text": f"Invalid data format ({e})", "code": 6, "invalid-event-number": 0})
            return
        events, bad = split_events(text)
        if bad is not None:
            rx._count("bad_body")
            self._answer(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": bad})
            return
        if not events:
            self._answer(400, {"text": "No data", "code": 5})
            return
        for i, ev in enumerate(events):
            if not isinstance(ev, dict) or "event" not in ev:
                rx._count("bad_body")
                self._answer(400, {"text": "Event field is required", "code": 12, "invalid-event-number": i})
                return
        rx._record(events)
        if mode == "slow":
            rx._stopping.wait(float(params.get("delay", 1.0)))
        self._answer(200, {"text": "Success", "code": 0})


def with_linger_reset(sock):
    """SO_LINGER 0: the close sends a RST, what a crashing load balancer looks like."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # A connection cut under a handler (mode `down`, the client timing out) is expected here:
        # count it instead of printing a traceback.
        self.receiver._count("handler_errors")


class HecReceiver:
    """A HEC receiver running in background threads. Use as a context manager (stops on exit)."""

    def __init__(self, token, port=0, lifetime=300.0, max_body=64 << 20):
        self.token = token
        self.max_body = max_body
        self.lifetime = lifetime
        self._want_port = port
        self.port = None
        self._lock = threading.Lock()
        self._mode = ("normal", {})
        self._server = None
        self._thread = None
        self._conns = set()
        self._stopping = threading.Event()
        self._timer = None
        self._ids = collections.Counter()
        self._order = []  # ids in arrival order (first and repeated arrivals)
        self._batches = []  # (monotonic time, ids) per accepted request
        self._priority = {}  # id -> fields.priority
        self._no_id = 0
        self._counters = collections.Counter()
        self._mode_log = []  # (monotonic time, mode)

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self._listen(self._want_port)
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        self._mode_log.append((time.monotonic(), "normal"))
        return self.port

    def stop(self):
        self._stopping.set()
        if self._timer is not None and threading.current_thread() is not self._timer:
            self._timer.cancel()
        self._unlisten()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _listen(self, port):
        # Coming back on the same port after `down`: a connection in TIME_WAIT or a slow
        # handler may hold it for a moment (SO_REUSEADDR covers TIME_WAIT).
        deadline = time.monotonic() + 5.0
        while True:
            try:
                server = _Server(("127.0.0.1", port), _Handler)
                break
            except OSError as e:
                if port == 0 or time.monotonic() > deadline:
                    raise ReceiverError(f"hec receiver: bind 127.0.0.1:{port}: {e}") from e
                time.sleep(0.05)
        server.receiver = self
        self.port = server.server_address[1]
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             name=f"hec-receiver-{self.port}", daemon=True)
        t.start()
        with self._lock:
            self._server, self._thread = server, t

    def _unlisten(self):
        with self._lock:
            server, t, self._server, self._thread = self._server, self._thread, None, None
            conns = list(self._conns)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        t.join(5)
        for c in conns:  # cut keep-alive connections too: "down" means nothing answers
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- control ---------------------------------------------------------------------------------

    def set_mode(self, mode, **params):
        """Switches behaviour (see the module docstring). Returns once the switch is in effect."""
        if mode not in MODES:
            raise ReceiverError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
        if self._stopping.is_set():
            raise ReceiverError("hec receiver already stopped (lifetime over?)")
        with self._lock:
            prev = self._mode[0]
            self._mode = (mode, dict(params))
            self._mode_log.append((time.monotonic(), mode))
        if mode == "down" and prev != "down":
            self._unlisten()
        elif mode != "down" and prev == "down":
            self._listen(self.port)

    def mode(self):
        with self._lock:
            return self._mode

    # -- results ---------------------------------------------------------------------------------

    def _track(self, conn, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _count(self, key, n=1):
        with self._lock:
            self._counters[key] += n
            return self._counters[key]

    def _record(self, events):
        ids = [event_id(ev) for ev in events]
        prios = [event_priority(ev) for ev in events]
        with self._lock:
            self._batches.append((time.monotonic(), ids))
            for i, p in zip(ids, prios):
                if i is None:
                    self._no_id += 1
                else:
                    self._ids[i] += 1
                    self._order.append(i)
                    self._priority[i] = p
            self._counters["events"] += len(events)
            self._counters["batches"] += 1

    def ids(self):
        """Counter of every recorded id (value > 1: received more than once)."""
        with self._lock:
            return collections.Counter(self._ids)

    def batches(self):
        """(monotonic time, [ids]) of every accepted request, in arrival order."""
        with self._lock:
            return list(self._batches)

    def priorities(self):
        """id -> the event's priority name, for every recorded id."""
        with self._lock:
            return dict(self._priority)

    def arrival_order(self):
        with self._lock:
            return list(self._order)

    def stats(self):
        with self._lock:
            s = dict(self._counters)
            s["events_without_id"] = self._no_id
            s["unique_ids"] = len(self._ids)
            s["duplicate_receipts"] = sum(v - 1 for v in self._ids.values())
            return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=300.0)
    args = ap.parse_args()
    with HecReceiver(args.token, args.port, args.lifetime) as rx:
        print(json.dumps({"port": rx.port, "url": rx.url}), flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            try:
                if words[0] == "mode" and len(words) >= 2:
                    params = dict(w.split("=", 1) for w in words[2:] if "=" in w)
                    rx.set_mode(words[1], **{k: float(v) for k, v in params.items()})
                    print(json.dumps({"mode": words[1]}), flush=True)
                elif words[0] == "stats":
                    print(json.dumps(rx.stats()), flush=True)
                elif words[0] in ("quit", "exit"):
                    break
                else:
                    print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
            except ReceiverError as e:
                print(json.dumps({"error": str(e)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
