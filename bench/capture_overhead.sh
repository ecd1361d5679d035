#!/usr/bin/env bash
# Overhead of eBPF capture as a user pays it: wrk against nginx (1 worker) on loopback, detached
# vs attached, interleaved pairs (order alternates), median ratio of requests/s.
# Usage: bench/capture_overhead.sh <build-dir> [pairs=5] [seconds=4]
# Needs root, nginx, wrk. Kills only the processes it started.
set -euo pipefail
BUILD=${1:?build dir}; PAIRS=${2:-5}; SECS=${3:-4}
ATTACH="$BUILD/capture/ebpf/capture_attach"
WORK=$(mktemp -d /tmp/rw-bench.XXXXXX)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$WORK/logs"
cat > "$WORK/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $WORK/nginx.pid;
error_log $WORK/logs/error.log; events { worker_connections 1024; }
http { access_log off; default_type application/json; client_body_temp_path $WORK;
  proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server { listen 127.0.0.1:$PORT; location / { return 200 '{"ok":true}'; } } }
CONF
nginx -p "$WORK" -c "$WORK/nginx.conf" 2>/dev/null & NGINX=$!
CAP=""
cleanup() { [[ -n "$CAP" ]] && kill "$CAP" 2>/dev/null; kill "$NGINX" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
sleep 0.5
rps() { wrk -t1 -c32 -d"${SECS}s" "http://127.0.0.1:$PORT/" | awk '/Requests\/sec/ {print $2}'; }
attached() {
  "$ATTACH" > "$WORK/cap.out" 2> "$WORK/cap.err" & CAP=$!
  until grep -q attached "$WORK/cap.err" 2>/dev/null; do sleep 0.1; done
  local r; r=$(rps); kill "$CAP"; wait "$CAP" || true; CAP=""
  echo "$r"; cat "$WORK/cap.out" >&2
}
ratios=()
for ((i = 0; i < PAIRS; i++)); do
  if ((i % 2 == 0)); then base=$(rps); with=$(attached); else with=$(attached); base=$(rps); fi
  ratio=$(python3 -c "print(f'{$with/$base:.3f}')")
  echo "pair $i: detached ${base} req/s, attached ${with} req/s, ratio ${ratio}"
  ratios+=("$ratio")
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
