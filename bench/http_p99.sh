#!/usr/bin/env bash
# p99 latency: what ringward reports for a route vs what wrk measured for the same run.
#
# nginx (1 worker, own prefix and config, 127.0.0.1 only) + `wrk --latency` while the real
# pipeline (supervisor, eBPF capture, processor, shipper) captures nginx's side of every exchange.
# Two routes, one wrk run each (route = its own series and health endpoint):
#   static  nginx answers at once: the server-side time is a few microseconds, so wrk's latency is
#           mostly client-side queueing and loopback wake-ups that a server-side capture does not
#           see (expect ringward << wrk: the two measure different intervals).
#   paced   nginx's limit_req holds each request after reading it (rate below what wrk offers),
#           so the latency is spent inside the server, between the request read and the response
#           write that capture times: this is the like-for-like comparison (target within 5 %).
# ringward's p99 is the endpoint health p99 (log-linear histogram, <= 1.6 % bucket error) read
# from `ringwardctl health --json`; the Prometheus histogram on /metrics gives a coarser one.
# The processor's rate limit is set low on purpose: the analyser sees every exchange before the
# rate limit, while the NDJSON sink stays small (the dropped events are counted).
#
# Usage: bench/http_p99.sh <build-dir> [seconds=10] [connections=32] [paced_rate=2000]
# Needs root (eBPF), nginx, wrk, python3. Kills only the processes it started, by PID.
set -euo pipefail
BUILD=$(realpath "${1:?build dir}"); SECS=${2:-10}; CONNS=${3:-32}; RATE=${4:-2000}
WORK=$(mktemp -d /tmp/rw-p99.XXXXXX)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PORT=$(free_port); MPORT=$(free_port)
SUP=""; NGINX=""
cleanup() {
  [[ -n "$NGINX" ]] && kill "$NGINX" 2>/dev/null
  if [[ -n "$SUP" ]]; then kill -TERM "$SUP" 2>/dev/null; wait "$SUP" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  [[ -z "${RINGWARD_KEEP_BENCH_DIR:-}" ]] && rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/logs" "$WORK/libexec" "$WORK/run"
for exe in capture/ringward-capture processor/ringward-processor shipper/ringward-shipper; do
  ln -s "$BUILD/$exe" "$WORK/libexec/"
done
cat > "$WORK/ringward.toml" <<CONF
[supervisor]
control_socket = "$WORK/ctl.sock"
run_dir = "$WORK/run"
[capture]
source = "ebpf"
tls_uprobes = false
include_comm = ["nginx"]
[processor]
max_events_per_second = 2000
burst = 2000
[processor.http]
latency_buckets_s = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.05, 0.1]
[shipper]
buffer_dir = "$WORK/buffer"
dlq_dir = "$WORK/dlq"
metrics_listen = "127.0.0.1:$MPORT"
[[shipper.sinks]]
type = "file"
path = "$WORK/events.ndjson"
CONF
"$BUILD/supervisor/ringward-supervisor" --config "$WORK/ringward.toml" \
  --libexec-dir "$WORK/libexec" > "$WORK/supervisor.log" 2>&1 & SUP=$!
CTL=("$BUILD/supervisor/ringwardctl" --socket "$WORK/ctl.sock")
for _ in $(seq 1 300); do
  "${CTL[@]}" status --json 2>/dev/null | python3 -c '
import json,sys
try: d=json.load(sys.stdin)
except ValueError: sys.exit(1)
sys.exit(0 if all(p["state"]=="running" for p in d["processes"]) else 1)' 2>/dev/null && break
  sleep 0.2
done
"${CTL[@]}" status --json > /dev/null || { echo "pipeline did not start"; cat "$WORK/supervisor.log"; exit 1; }

cat > "$WORK/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $WORK/nginx.pid;
error_log $WORK/logs/error.log; events { worker_connections 1024; }
http { access_log off; default_type application/json; types { } client_body_temp_path $WORK;
  proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  limit_req_zone \$binary_remote_addr zone=paced:1m rate=${RATE}r/s;
  server { listen 127.0.0.1:$PORT;
    root $WORK/www; sendfile off;
    location /static/ { }
    location /paced/ { limit_req zone=paced burst=100000; } } }
CONF
# Files, not `return`: return runs in the rewrite phase, before limit_req could hold the request.
for name in static paced; do mkdir -p "$WORK/www/$name/items"; echo '{"ok":true}' > "$WORK/www/$name/items/42"; done
nginx -p "$WORK" -c "$WORK/nginx.conf" 2>/dev/null & NGINX=$!
sleep 1

# wrk's p99 in ms from its --latency distribution.
wrk_p99_ms() {
  awk '$1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
         f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1;
         printf "%.4f\n", v * f }' "$1"
}

# ringward's view of one route: health p99 (ms), requests, and the Prometheus-histogram p99.
ringward_route() {
  local route=$1
  "${CTL[@]}" health --json > "$WORK/health.json" || true
  curl -s "http://127.0.0.1:$MPORT/metrics" > "$WORK/metrics.txt"
  python3 - "$route" "$WORK/health.json" "$WORK/metrics.txt" <<'PY'
import json, re, sys
route, health, metrics = sys.argv[1], sys.argv[2], sys.argv[3]
eps = [e for e in json.load(open(health)).get("endpoints") or [] if e["route"] == route]
if not eps:
    print("nan 0 nan"); sys.exit(0)
e = max(eps, key=lambda e: e["requests"])
buckets = {}
count = 0.0
for line in open(metrics):
    if not line.startswith("http_request_duration_seconds_") or f'route="{route}"' not in line:
        continue
    v = float(line.rsplit(" ", 1)[1])
    m = re.search(r'le="([^"]+)"', line)
    if line.startswith("http_request_duration_seconds_bucket") and m:
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets[le] = buckets.get(le, 0.0) + v
# histogram_quantile(0.99): linear interpolation inside the bucket holding the 99th percentile.
p = float("nan")
if buckets:
    les = sorted(buckets); total = buckets[les[-1]]; rank = 0.99 * total; prev_le, prev_c = 0.0, 0.0
    for le in les:
        if buckets[le] >= rank:
            p = (prev_le if le == float("inf") else
                 prev_le + (le - prev_le) * (rank - prev_c) / max(buckets[le] - prev_c, 1e-12)) * 1000
            break
        prev_le, prev_c = le, buckets[le]
print(f'{e["p99_ms"]:.4f} {e["requests"]} {p:.4f}')
PY
}

echo "ringward http p99 vs wrk p99: nginx 1 worker, wrk -t1 -c$CONNS -d${SECS}s --latency, $(nproc) CPUs (shared, noisy machine)"
for name in static paced; do
  url="http://127.0.0.1:$PORT/$name/items/42"
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$url" > "$WORK/wrk-$name.txt"
  sleep 2.5  # the processor publishes its status and metrics about once a second
  wrk_p99=$(wrk_p99_ms "$WORK/wrk-$name.txt")
  wrk_n=$(awk '/requests in/ {print $1}' "$WORK/wrk-$name.txt")
  read -r rw_p99 rw_n prom_p99 < <(ringward_route "/$name/items/{id}")
  python3 - "$name" "$wrk_p99" "$wrk_n" "$rw_p99" "$rw_n" "$prom_p99" <<'PY'
import sys
name, wp, wn, rp, rn, pp = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
ratio = rp / wp if wp > 0 else float("nan")
print(f"{name:>6}: wrk p99 {wp:.3f} ms over {wn} requests | ringward p99 {rp:.3f} ms (health histogram) "
      f"over {rn} captured exchanges ({100.0 * rn / max(wn, 1):.1f} %), {pp:.3f} ms (Prometheus buckets) "
      f"| ratio ringward/wrk {ratio:.3f} ({'within' if abs(ratio - 1) <= 0.05 else 'outside'} 5 %)")
PY
done
"${CTL[@]}" status --json | python3 -c '
import json,sys
d=json.load(sys.stdin); a=d.get("accounting",{})
print("accounting:", {k: a[k] for k in ("captured","delivered","in_flight","unexplained") if k in a}, "dropped:", a.get("dropped"))'
