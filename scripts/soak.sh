#!/usr/bin/env bash
# Soak test: runs the whole pipeline (synthetic load) for DURATION seconds, samples each
# process's RSS and open fds every second, fits slopes and fails on a leak beyond the noise
# bound. Writes <report>.json and <report>.md.
#
# Usage: scripts/soak.sh DURATION [RATE] [BUILD_DIR] [REPORT_PREFIX]
#   e.g. scripts/soak.sh 3600            one hour at 20000 events/s with ./build
#        scripts/soak.sh 14400 50000 build-release /var/tmp/soak-4h
# Needs root (the supervisor creates shared memory and switches users). The CI variant
# (60 s) runs as test 'soak_ci' in the 'chaos' meson suite.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:?usage: scripts/soak.sh DURATION [RATE] [BUILD_DIR] [REPORT_PREFIX]}
RATE=${2:-20000}
BUILD=${3:-$ROOT/build}
REPORT=${4:-$PWD/soak-report}
for exe in supervisor/ringward-supervisor capture/ringward-capture processor/ringward-processor \
  shipper/ringward-shipper; do
  [[ -x "$BUILD/$exe" ]] || ninja -C "$BUILD" -j2 "$exe"
done
exec python3 "$ROOT/tests/chaos/soak.py" --build-dir "$BUILD" --duration "$DURATION" --rate "$RATE" \
  --report "$REPORT"
