#!/usr/bin/env python3
"""Records the byte fixtures of tests/http/fixtures/ from REAL servers on 127.0.0.1.

Starts `python3 -m http.server`, nginx (own prefix and config, gzip + chunked) and a node server,
sends raw requests over a plain socket and saves exactly the bytes each side put on the wire:
<server>_<case>.req and <server>_<case>.resp. Every server is started here, bound to 127.0.0.1 on
a free port, and stopped by PID. Re-run to refresh the fixtures:  python3 tests/http/record_fixtures.py
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

NODE_SERVER = r"""
const http = require('http');
const port = parseInt(process.argv[2], 10);
const srv = http.createServer((req, res) => {
  const url = req.url;
  if (url.startsWith('/chunked')) {
    res.writeHead(200, {'Content-Type': 'application/json'});
    res.write('{"data":{"items":[1,2,3]},');
    setTimeout(() => { res.end('"errors":[{"message":"field x failed"}]}'); }, 20);
  } else if (url.startsWith('/boom')) {
    res.writeHead(500, {'Content-Type': 'application/json'});
    res.end('{"error":"internal","message":"database unavailable"}');
  } else if (url.startsWith('/pay')) {
    const body = '{"success":false,"error":{"code":"insufficient_funds","message":"balance too low"}}';
    res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
    res.end(body);
  } else if (url.startsWith('/graphql')) {
    const body = '{"errors":[{"message":"Cannot query field \\"x\\"","path":["user","x"]}],"data":{"user":{"id":"42","name":"error handling"}}}';
    res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
    res.end(body);
  } else if (url.startsWith('/limited')) {
    const body = '{"status":"error","code":"RATE_LIMIT_EXCEEDED","message":"Too many requests"}';
    res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
    res.end(body);
  } else {
    const body = JSON.stringify({data: {path: url, note: 'no error here'}});
    res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
    res.end(body);
  }
});
srv.listen(port, '127.0.0.1', () => console.log('ready'));
setTimeout(() => process.exit(0), 60000);  // bounded lifetime even if the recorder dies
"""

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp; fastcgi_temp_path {prefix}/tmp;
  uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
  default_type application/octet-stream;
  types {{ application/json json; text/html html; }}
  server {{
    listen 127.0.0.1:{port};
    root {prefix}/www;
    gzip on; gzip_min_length 10; gzip_types application/json; gzip_comp_level 1;
    location = /boom {{ return 500; }}
    location / {{ }}
  }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, deadline=10.0):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not come up")


def exchange(port, request, idle=0.4):
    """Sends `request` and returns every response byte until close or `idle` seconds of silence."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(request)
    s.settimeout(idle)
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except socket.timeout:
        pass
    s.close()
    return b"".join(chunks)


def save(name, req, resp):
    with open(os.path.join(OUT, name + ".req"), "wb") as f:
        f.write(req)
    with open(os.path.join(OUT, name + ".resp"), "wb") as f:
        f.write(resp)
    first = resp.split(b"\r\n", 1)[0]
    print(f"{name}: request {len(req)} B, response {len(resp)} B, status line {first!r}")


def get(path, host, extra=b"", close=True):
    conn = b"Connection: close\r\n" if close else b""
    return (b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: ringward-fixture\r\n" +
            extra + conn + b"\r\n")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ringward-http-fixtures-")
    os.chmod(work, 0o755)  # nginx workers run as nobody and must read the document root
    procs = []
    try:
        www = os.path.join(work, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<html><body><h1>Hello</h1><p>An error page would say error here.</p></body></html>\n")
        with open(os.path.join(www, "users.json"), "w") as f:
            f.write('{"data":[' + ",".join('{"id":%d,"name":"user%d"}' % (i, i) for i in range(60)) + ']}\n')

        # python3 -m http.server (HTTP/1.0, closes after each response; 404 as HTML).
        py_port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "http.server", str(py_port), "--bind", "127.0.0.1"],
                                      cwd=www, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(py_port)
        host = b"127.0.0.1:%d" % py_port
        for name, path in [("python_index", b"/index.html"), ("python_404", b"/users/12345/missing?x=1")]:
            req = get(path, host)
            save(name, req, exchange(py_port, req))
        req = b"HEAD /users.json HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
        save("python_head", req, exchange(py_port, req))

        # nginx with gzip, a 500, keep-alive pipelining.
        ng_port = free_port()
        prefix = os.path.join(work, "nginx")
        os.makedirs(os.path.join(prefix, "tmp"))
        shutil.copytree(www, os.path.join(prefix, "www"))
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(prefix=prefix, port=ng_port))
        procs.append(subprocess.Popen(["nginx", "-p", prefix, "-c", conf],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(ng_port)
        host = b"localhost:%d" % ng_port
        req = get(b"/users.json", host, b"Accept-Encoding: gzip\r\n")
        save("nginx_gzip_chunked", req, exchange(ng_port, req))
        req = get(b"/boom", host)
        save("nginx_500", req, exchange(ng_port, req))
        req = get(b"/nope/550e8400-e29b-41d4-a716-446655440000", host)
        save("nginx_404", req, exchange(ng_port, req))
        req = (get(b"/index.html", host, close=False) + get(b"/users.json?page=2", host, close=False) +
               get(b"/missing", host, close=True))
        save("nginx_pipelined", req, exchange(ng_port, req))

        # node: chunked JSON (GraphQL-like partial success), 500, business errors, pipelining.
        nd_port = free_port()
        nd = subprocess.Popen(["node", "-e", NODE_SERVER, "x", str(nd_port)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(nd)
        wait_port(nd_port)
        host = b"api.example.test"
        for name, path in [("node_chunked", b"/chunked"), ("node_500", b"/boom/7"),
                           ("node_insufficient_funds", b"/pay/12345"),
                           ("node_graphql_partial", b"/graphql"),
                           ("node_rate_limited", b"/limited/abc")]:
            req = get(path, host)
            save(name, req, exchange(nd_port, req))
        post = b'{"query":"{ user(id: 42) { id name } }"}'
        req = (b"POST /graphql HTTP/1.1\r\nHost: api.example.test\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(post) + post +
               get(b"/users/42/orders/9f86d081884c7d65", host, close=False) +
               get(b"/boom", host, close=True))
        save("node_pipelined", req, exchange(nd_port, req, idle=0.8))
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
