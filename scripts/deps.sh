#!/usr/bin/env bash
# Installs the Debian packages ringward builds, tests and runs with, only those missing.
set -euo pipefail
PKGS=(
  meson ninja-build pkg-config g++ clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libboost-dev libseccomp-dev capnproto libcapnp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  libcurl4-openssl-dev libcpp-httplib-dev libtomlplusplus-dev libcli11-dev
  libvectorscan-dev libzstd-dev libnats-dev libsystemd-dev libclang-rt-14-dev
  nats-server nginx-light wrk curl python3 openssl procps iproute2 systemd prometheus
  redis-server redis-tools
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ringward: installing missing packages: ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
