#!/usr/bin/env python3
"""Scripted HTTP/1.1 server for the HTTP semantics end-to-end test (tests/http_e2e).

Listens on 127.0.0.1 only, renames its thread (comm) so the pipeline's capture filter can select
exactly this process, writes its port to --port-file, and exits by itself after --deadline
seconds (SIGALRM) if the test never stops it. The test decides each response with the query
parameter `k`; every response (status line, headers and body) goes out in ONE send so the captured
response prefix holds the body the business-error rules inspect.
Trust: test code on loopback.
"""
import argparse
import ctypes
import http.server
import json
import os
import signal
import time
import urllib.parse

BODIES = {
    # 2xx successes, some with the word "error" in ordinary data (must not count).
    "ok": (200, {"success": True, "data": {"bio": "error handling enthusiast", "n": 1}}),
    "plain": (200, {"items": [1, 2, 3], "note": "no error here"}),
    # Server errors.
    "e500": (500, {"error": "internal"}),
    "e502": (502, {"error": "bad gateway"}),
    "e503": (503, {"error": "unavailable"}),
    # Business errors in 200 bodies ("silent 200").
    "funds": (200, {"success": False, "message": "insufficient funds for transfer"}),
    "invalid": (200, {"code": "ERROR", "message": "validation failed: quantity must be positive"}),
    "ratelimit": (200, {"success": False, "error": "rate limit exceeded"}),
    "declined": (200, {"result": "DECLINED", "id": 7}),  # only an error through a configured rule
    # GraphQL: partial success with an errors array (not an error) and a clean answer.
    "gql_partial": (200, {"data": {"user": {"id": "1", "name": "x"}},
                          "errors": [{"message": "error resolving field avatar",
                                      "path": ["user", "avatar"]}]}),
    "gql_ok": (200, {"data": {"user": {"id": "2", "name": "y"}}}),
}

REASONS = {200: "OK", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, fmt, *args):  # quiet: the test reads the pipeline, not our log
        pass

    def do_GET(self):
        self.reply()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if n:
            self.rfile.read(n)
        self.reply()

    def reply(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        kind = query.get("k", ["ok"])[0]
        sleep_ms = int(query.get("sleep_ms", ["0"])[0])
        if sleep_ms:
            time.sleep(sleep_ms / 1000.0)
        status, obj = BODIES.get(kind, BODIES["ok"])
        body = json.dumps(obj, separators=(",", ":")).encode()
        head = (f"HTTP/1.1 {status} {REASONS[status]}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.wfile.write(head + body)
        self.wfile.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--comm", required=True)
    ap.add_argument("--deadline", type=int, default=180)
    a = ap.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NAME = 15
    if libc.prctl(PR_SET_NAME, a.comm.encode()[:15], 0, 0, 0) != 0:
        raise SystemExit(f"prctl(PR_SET_NAME): errno {ctypes.get_errno()}")
    signal.alarm(a.deadline)  # default action: terminate, so the server is bounded in time
    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
