#!/usr/bin/env bash
# Syscall-heavy loops with the REAL agent running vs nothing of ours running: open/close and
# fork/exec(/bin/true) loops (target >= 0.90), plus getpid as a control (no capture program hooks
# it: its ratio shows the noise band). Interleaved pairs, median ratio, load average per figure.
# Usage: bench/capture_syscalls.sh <build-dir> [pairs=5] [seconds=3] [extra capture_bench.py args]
# Needs root. Kills only the processes it started. The work is done by bench/capture_bench.py.
set -euo pipefail
BUILD=${1:?build dir}; PAIRS=${2:-5}; SECS=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
exec python3 "$(dirname "$0")/capture_bench.py" --build-dir "$BUILD" syscalls --pairs "$PAIRS" \
  --seconds "$SECS" "$@"
