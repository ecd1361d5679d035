#!/usr/bin/env bash
# Overhead of capture as a user pays it: wrk (-t1 -c32) against nginx (1 worker) on loopback with
# the REAL agent running (supervisor, eBPF capture, processor and shipper with the default
# configuration, NDJSON file sink in a temp dir) vs nothing of ours running; interleaved pairs
# (order alternates), median ratio of requests/s, load average next to each figure.
# Usage: bench/capture_overhead.sh <build-dir> [pairs=5] [seconds=4] [extra capture_bench.py args]
#   e.g. --mode source (BPF programs + a counting consumer only), --compare <old-build-dir>.
# Needs root, nginx, wrk; the build dir needs the pipeline and capture/ebpf/capture_*.
# Kills only the processes it started. The work is done by bench/capture_bench.py.
set -euo pipefail
BUILD=${1:?build dir}; PAIRS=${2:-5}; SECS=${3:-4}
shift $(( $# < 3 ? $# : 3 ))
exec python3 "$(dirname "$0")/capture_bench.py" --build-dir "$BUILD" overhead --pairs "$PAIRS" \
  --seconds "$SECS" "$@"
