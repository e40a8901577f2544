#!/usr/bin/env bash
# hwkvm-host.sh BUILD ASSETS: runs the Linux-shell tests (the lane's tests)
# directly on this host where it has hardware-assisted KVM (kvm_intel or
# kvm_amd, as modules or built in). Elsewhere it says why and exits 77
# (skipped): the hardware-KVM lane (hwkvm.* tests) runs them inside QEMU.
set -uo pipefail
BUILD=$1 ASSETS=$2
if [ ! -e /sys/module/kvm_intel ] && [ ! -e /sys/module/kvm_amd ]; then
  echo "this host has no hardware-assisted KVM (no kvm_intel or kvm_amd): a stock kernel cannot boot to its shell" \
       "on its /dev/kvm; the same tests run on the hardware-KVM lane (ctest -L hwkvm)"
  exit 77
fi
BROOD_ASSETS=$ASSETS exec "$BUILD/tests/hwkvm/brood_linux_shell_tests" --gtest_color=no
