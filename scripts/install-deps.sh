#!/usr/bin/env bash
# Installs the Debian 12 packages brood needs to build, test and benchmark.
# Only missing packages are installed; a second run does nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang
  nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev libexpected-dev
  libgtest-dev libgmock-dev libbenchmark-dev libseccomp-dev
  cpio gzip xz-utils zstd lz4 binutils file e2fsprogs
  qemu-system-x86 procps iproute2 python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
