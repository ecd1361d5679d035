#!/usr/bin/env python3
"""Test HTTP server for the eBPF capture tests: serves a directory (200 for files, 404 for
missing ones) and answers /boom with a 500 and a JSON body. Listens on 127.0.0.1 on a free port,
prints the port, and stops itself after --lifetime seconds."""
import argparse
import http.server
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/boom":
            body = b'{"error":"boom"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--lifetime", type=float, default=60)
    a = ap.parse_args()
    handler = lambda *args, **kw: Handler(*args, directory=a.dir, **kw)
    srv = http.server.HTTPServer(("127.0.0.1", 0), handler)
    print(srv.server_address[1], flush=True)
    threading.Timer(a.lifetime, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
