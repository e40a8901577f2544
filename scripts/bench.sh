#!/usr/bin/env bash
# Runs every benchmark program (BUILD_DIR/bench/bench_*), one after the
# other. Their JSON lines go to stdout; progress and notes go to stderr.
#   scripts/bench.sh BUILD_DIR [ASSETS_DIR]
# BENCHES="bench_boot ..." runs only those. A bench that cannot run here
# (no /dev/kvm) says why on stderr and prints nothing on stdout.
# See docs/benchmarks.md.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [ASSETS_DIR]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
assets=${2:-assets}

# The benches know these paths from the build; say them again in case the
# build directory was moved.
if [ -z "${BROOD_VMM:-}" ] && [ -x "$build/src/vmm/brood-vmm" ]; then
  export BROOD_VMM=$build/src/vmm/brood-vmm
fi
if [ -z "${BROOD_TEST_GUEST:-}" ] && [ -f "$build/guest/brood-test-guest.elf" ]; then
  export BROOD_TEST_GUEST=$build/guest/brood-test-guest.elf
fi
if [ -z "${BROOD_BROODD:-}" ] && [ -x "$build/src/api/broodd" ]; then
  export BROOD_BROODD=$build/src/api/broodd
fi
if [ -z "${BROOD_ASSETS:-}" ] && [ -d "$assets" ]; then
  export BROOD_ASSETS=$(cd "$assets" && pwd)
fi

benches=()
if [ -n "${BENCHES:-}" ]; then
  for name in $BENCHES; do benches+=("$build/bench/$name"); done
else
  for exe in "$build"/bench/bench_*; do
    [ -f "$exe" ] && [ -x "$exe" ] && benches+=("$exe")
  done
fi
if [ ${#benches[@]} -eq 0 ]; then
  echo "bench: no bench_* programs in $build/bench (build first: make build)" >&2
  exit 1
fi

# bench_linux and bench_agent need a hardware-assisted KVM: they run inside
# the hardware-KVM lane's L1 (scripts/hwkvm-lane.sh --bench NAME), or
# directly where the host has one.
run_bench() {
  local exe=$1 name
  name=$(basename "$exe")
  case $name in bench_linux|bench_agent) ;; *) "$exe"; return ;; esac
  [ -n "${BROOD_ASSETS:-}" ] || { echo "bench: $name needs the guest assets (make assets)" >&2; return 1; }
  if [ -e /sys/module/kvm_intel ] || [ -e /sys/module/kvm_amd ]; then
    if [ "$name" = bench_agent ]; then
      "$exe" --vmm "$BROOD_VMM" --broodd "$BROOD_BROODD" --assets "$BROOD_ASSETS" --images "$build/guest-images"
    else
      "$exe" --vmm "$BROOD_VMM" --assets "$BROOD_ASSETS" --qemu "$(command -v qemu-system-x86_64)"
    fi
  else
    bash "$(dirname "$0")/hwkvm-lane.sh" "$build" "$BROOD_ASSETS" "$build/hwkvm-bench-$name" --bench "$name"
  fi
}

failed=()
for exe in "${benches[@]}"; do
  name=$(basename "$exe")
  echo "bench: running $name" >&2
  started=$SECONDS
  if run_bench "$exe"; then
    echo "bench: $name done in $((SECONDS - started)) s" >&2
  else
    echo "bench: $name FAILED (exit $?)" >&2
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
