#!/usr/bin/env bash
# One command for the whole benchmark suite: every Google Benchmark executable of the build
# (*_bench), the end-to-end pipeline benchmark (bench/e2e_pipeline.py), each repeated REPS times
# after a calibration workload, then BENCHMARKS.md (machine, figures, ratios to the calibration
# baseline, noise bands) and bench/results.json (the committed baseline for --check).
#
# Usage: bench/run.sh [--build DIR] [--reps N] [--min-time S] [--filter REGEX] [--check] [--no-e2e]
#   --build DIR    build directory (default build-bench, configured -Dbuildtype=release if absent)
#   --reps N       repetitions of everything (default 3; the spread is the noise band)
#   --min-time S   Google Benchmark --benchmark_min_time per benchmark (default 0.2)
#   --filter REGEX only benchmark executables whose name matches (e.g. 'stages|detect')
#   --check        compare with the committed bench/results.json instead of replacing it; exit 1
#                  on a > 5 % worse ratio beyond the noise band (BENCHMARKS.md is left alone)
#   --no-e2e       skip the end-to-end pipeline run (it needs root)
# Output of the run (raw JSON per repetition) goes to $BENCH_OUT (default /tmp/ringward-bench-*).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=build-bench REPS=3 MIN_TIME=0.2 FILTER=. CHECK=0 E2E=1
while (($#)); do
  case $1 in
    --build) BUILD=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --min-time) MIN_TIME=$2; shift ;;
    --filter) FILTER=$2; shift ;;
    --check) CHECK=1 ;;
    --no-e2e) E2E=0 ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
  shift
done
((REPS >= 3)) || { echo "bench: --reps must be >= 3 (the spread is the noise band)" >&2; exit 2; }
JOBS=${JOBS:-2}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/ringward-bench-XXXXXX)}
mkdir -p "$OUT"

[[ -d $BUILD ]] || meson setup "$BUILD" -Dbuildtype=release
# Benchmark executables declared anywhere in the build (names ending in _bench).
mapfile -t BENCHES < <(meson introspect "$BUILD" --targets | python3 -c '
import json, re, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["name"].endswith("_bench") and re.search(sys.argv[1], t["name"]):
        print(t["filename"][0])' "$FILTER")
targets=()
for b in "${BENCHES[@]}"; do targets+=("$(realpath --relative-to="$BUILD" "$b")"); done
if ((E2E)); then
  targets+=(supervisor/ringward-supervisor capture/ringward-capture processor/ringward-processor
            shipper/ringward-shipper)
fi
((${#targets[@]})) && ninja -C "$BUILD" -j"$JOBS" "${targets[@]}"
# Only Google Benchmark executables (they answer --benchmark_list_tests); others, such as
# shipper_bench with its own positional arguments, are named and left to be run by hand.
gb=()
for b in "${BENCHES[@]}"; do
  if timeout 20 "$b" --benchmark_list_tests=true >/dev/null 2>&1; then
    gb+=("$b")
  else
    echo "bench: $(basename "$b") is not a Google Benchmark executable: skipped (run it by hand)" >&2
  fi
done
BENCHES=("${gb[@]}")

python3 - "$OUT/meta.json" "$BUILD" <<'PY'
import json, os, platform, subprocess, sys, time
def sh(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split(":", 1)[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
opts = json.loads(sh("meson", "introspect", sys.argv[2], "--buildoptions") or "[]")
bt = next((o["value"] for o in opts if o["name"] == "buildtype"), "?")
json.dump({"cpu": cpu, "nproc": os.cpu_count(), "kernel": platform.release(), "mem": mem,
           "compiler": sh("c++", "--version").splitlines()[0] if sh("c++", "--version") else "?",
           "buildtype": bt, "commit": sh("git", "rev-parse", "--short", "HEAD"),
           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}, open(sys.argv[1], "w"), indent=2)
PY

calibrate() {
  python3 - "$1" <<'PY'
import hashlib, json, sys, time
buf = bytes(64 << 20)
big = bytearray(256 << 20)
best = None
for _ in range(3):
    t0 = time.perf_counter_ns(); hashlib.sha256(buf).digest(); t1 = time.perf_counter_ns()
    copy = bytes(big); t2 = time.perf_counter_ns(); del copy
    unit = ((t1 - t0) / 64 + (t2 - t1) / 256) / 1024  # ns for 1 KiB hashed + 1 KiB copied
    best = unit if best is None else min(best, unit)
json.dump({"ns_per_unit": best, "what": "sha256 1 KiB + copy 1 KiB (from 64 MiB / 256 MiB runs), best of 3"}, open(sys.argv[1], "w"))
PY
}

for ((rep = 1; rep <= REPS; rep++)); do
  d="$OUT/rep-$rep"
  mkdir -p "$d"
  calibrate "$d/calibration.json"
  for b in "${BENCHES[@]}"; do
    name=$(basename "$b")
    echo "bench: rep $rep/$REPS $name"
    "$b" --benchmark_format=json --benchmark_min_time="$MIN_TIME" >"$d/gbench-$name.json" 2>"$d/$name.err" ||
      echo "bench: $name failed (rep $rep), see $d/$name.err" >&2
  done
  if ((E2E)); then
    echo "bench: rep $rep/$REPS e2e pipeline"
    python3 bench/e2e_pipeline.py --build-dir "$BUILD" >"$d/e2e.json" 2>"$d/e2e.err" ||
      echo "bench: e2e failed (rep $rep), see $d/e2e.err" >&2
  fi
done

python3 bench/regress.py collect "$OUT/results.json" "$OUT"
if ((CHECK)); then
  python3 bench/regress.py check bench/results.json "$OUT/results.json"
else
  cp "$OUT/results.json" bench/results.json
  python3 bench/regress.py report bench/results.json BENCHMARKS.md
  echo "bench: wrote BENCHMARKS.md and bench/results.json (raw data in $OUT)"
fi
