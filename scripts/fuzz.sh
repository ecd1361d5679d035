#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each with its committed corpus, merges the inputs that
# add coverage back into tests/fuzz/corpus/<target>/, and keeps any crash reproducer in
# tests/fuzz/regressions/<target>/ (the 'fuzz' test suite replays those in every build).
#
# Usage: scripts/fuzz.sh SECONDS [target ...]
#   targets (default: all): detect_traversal detect_sqli detect_command http_parse http_json
#   http_analyzer event_decoder ring_reader
# Environment: BUILD (default build-fuzz), JOBS (default 2).
# Exit status: 0 when no target crashed, 1 otherwise (the reproducers are named on stderr).
#
# The build: clang, -Dfuzz=true, libraries compiled with -fsanitize=fuzzer-no-link (coverage)
# and address,undefined; werror off (clang warns where g++ does not; the g++ build is the
# -Werror gate).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_EACH=${1:?usage: scripts/fuzz.sh SECONDS [target ...]}
shift
BUILD=${BUILD:-build-fuzz}
JOBS=${JOBS:-2}
ALL=(detect_traversal detect_sqli detect_command http_parse http_json http_analyzer event_decoder ring_reader)
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=("${ALL[@]}")

if [[ ! -d $BUILD ]]; then
  CC=clang CXX=clang++ meson setup "$BUILD" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dwerror=false -Dbuildtype=debugoptimized \
    -Dcpp_args=-fsanitize=fuzzer-no-link -Dc_args=-fsanitize=fuzzer-no-link
fi
# Build each target on its own: one that does not build (or is not defined in this build, see
# tests/fuzz/meson.build) is reported and skipped, the others still run.
built=()
for t in "${TARGETS[@]}"; do
  if ninja -C "$BUILD" -j"$JOBS" "tests/fuzz/${t}_fuzz" >"/tmp/fuzz-build-$t.log" 2>&1; then
    built+=("$t")
  else
    echo "fuzz: $t does not build here, skipped (log /tmp/fuzz-build-$t.log):" >&2
    grep -m2 -E "error|unknown target" "/tmp/fuzz-build-$t.log" >&2 || true
  fi
done
((${#built[@]})) || { echo "fuzz: no target builds" >&2; exit 1; }
TARGETS=("${built[@]}")

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
crashed=()
for t in "${TARGETS[@]}"; do
  corpus="tests/fuzz/corpus/$t"
  regress="tests/fuzz/regressions/$t"
  mkdir -p "$corpus" "$regress"
  fresh=$(mktemp -d "/tmp/fuzz-$t.XXXXXX")
  log="$BUILD/fuzz-$t.log"
  before=$(find "$corpus" -type f | wc -l)
  echo "fuzz: $t for ${SECONDS_EACH}s (corpus $before inputs)"
  # New inputs go to $fresh (first dir); crashes to $regress/crash-<sha1>.
  if ! "$BUILD/tests/fuzz/${t}_fuzz" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$regress/" -print_final_stats=1 "$fresh" "$corpus" >"$log" 2>&1; then
    crashed+=("$t")
    echo "fuzz: $t CRASHED: reproducer(s) in $regress/ ; log $log" >&2
    grep -m3 -E "ERROR|SUMMARY|==[0-9]+==|terminate called|what\(\)" "$log" >&2 || true
  fi
  # Keep only what adds coverage, minimised into the committed corpus.
  "$BUILD/tests/fuzz/${t}_fuzz" -merge=1 "$corpus" "$fresh" >>"$log" 2>&1 || true
  rm -rf "$fresh"
  after=$(find "$corpus" -type f | wc -l)
  execs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz: $t: $execs executions, corpus $before -> $after"
done
if ((${#crashed[@]})); then
  echo "fuzz: crashes in: ${crashed[*]} (reproducers under tests/fuzz/regressions/; commit them)" >&2
  exit 1
fi
echo "fuzz: no crash"
