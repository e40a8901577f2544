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

# QEMU comes from Debian's backports, version 10 or later: the hardware-KVM
# lane runs L1 under QEMU's emulated SVM, which under bookworm's QEMU 7.2
# went wrong in three boots of L1 in four, and wedged L1 for good in some
# (docs/linux-guests.md).
qemu_min=1:10.0
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

qemu_is_current() {
  local v
  v=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null) || return 1
  dpkg --compare-versions "$v" ge "$qemu_min"
}

missing=()
for p in "${packages[@]}"; do
  [ "$p" = qemu-system-x86 ] && continue # below, with its version
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
wanted=("${missing[@]}")
qemu_is_current || wanted+=("qemu-system-x86 (>= $qemu_min)")
[ ${#wanted[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${wanted[*]}); run as root or install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
backports=/etc/apt/sources.list.d/brood-backports.sources
if ! qemu_is_current && [ "$codename" = bookworm ] && [ ! -e "$backports" ]; then
  echo "install-deps: adding Debian's bookworm-backports ($backports) for QEMU $qemu_min or later"
  printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
    'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$backports"
fi
echo "install-deps: installing ${wanted[*]}"
if ! apt-get update -q && [ -e "$backports" ]; then
  echo "install-deps: warning: the package lists did not all update; trying again without backports" >&2
  rm -f "$backports"
  apt-get update -q
fi
[ ${#missing[@]} -eq 0 ] || apt-get install -y -q --no-install-recommends "${missing[@]}"
if ! qemu_is_current; then
  # Without QEMU 10 the lane still runs, under the older QEMU, and fails
  # more often; everything else needs only some QEMU.
  if ! { [ -e "$backports" ] &&
         apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86; }; then
    echo "install-deps: warning: QEMU $qemu_min or later is not available here;" \
      "the hardware-KVM lane will run under an older one" >&2
    apt-get install -y -q --no-install-recommends qemu-system-x86
  fi
fi
