#!/usr/bin/env bash
# Boots the brood test guest under QEMU microvm with KVM, serial on stdio.
#   guest/run-in-qemu.sh ELF [--cpus N] [--mem MIB] [extra qemu args...]
# Defaults: 1 vCPU, 128 MiB. The guest is told its CPU count with cpus=N on
# the kernel command line, since microvm has no MP table.
# `-cpu host` alone fails on nested kvm_pvm hosts, hence -arch-capabilities.
# The guest reads no ACPI: without acpi=off, QEMU 8 and later make ACPI
# tables, and the microvm firmware then takes seconds to boot it.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 ELF [--cpus N] [--mem MIB] [qemu args...]" >&2
  exit 2
fi
elf=$1
shift
cpus=1
mem=128
while [ $# -gt 0 ]; do
  case $1 in
    --cpus) cpus=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    *) break ;;
  esac
done

exec qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host,-arch-capabilities \
  -m "$mem" -smp "$cpus" -nodefaults -no-user-config -nographic \
  -serial stdio -kernel "$elf" -append "cpus=$cpus" "$@"
