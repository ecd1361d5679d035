#!/usr/bin/env bash
# Configures (once) and builds ringward in ./build; shared by scripts/run and scripts/test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=debugoptimized >/dev/null
fi
ninja -C build
# A libexec directory of the freshly built children, so the build tree runs as installed.
mkdir -p build/libexec
for c in capture processor shipper; do
  ln -sf "../$c/ringward-$c" "build/libexec/ringward-$c"
done
