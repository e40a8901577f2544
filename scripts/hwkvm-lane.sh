#!/usr/bin/env bash
# hwkvm-lane.sh BUILD ASSETS OUT TEST...
# hwkvm-lane.sh BUILD ASSETS OUT --bench [BENCH_LINUX_ARGS...]
#
# The hardware-KVM lane: runs brood on a hardware-assisted KVM even where the
# host's own /dev/kvm cannot run a stock Linux kernel. QEMU's TCG emulates an
# AMD CPU with SVM and nested paging; Debian's cloud kernel (ASSETS/vmlinuz)
# boots in it as L1, loads kvm.ko and kvm-amd.ko from the same package, and
# runs the named tests of brood_linux_shell_tests (GoogleTest names) against
# brood-vmm, broodd and brood from BUILD, which boot ASSETS' Linux as L2.
# With --bench it runs bench_linux instead (brood-vmm against QEMU, both in
# L1 on the same KVM) and prints its JSON lines on stdout.
#
# Writes OUT/l1-serial.log (everything L1 printed: the tests' output, with the
# L2 serial logs of failed tests) and OUT/result (done, or why the lane did
# not run). scripts/hwkvm-result.sh reads one test's result from them.
# Exit: 0 when the tests ran (each test's result is in the log), 1 when the
# lane itself failed, 0 with OUT/result "skipped: ..." when QEMU is missing.
set -euo pipefail

die() { echo "hwkvm-lane: error: $*" >&2; echo "failed: $*" >"$OUT/result"; exit 1; }
say() { echo "hwkvm-lane: $*" >&2; }

[ $# -ge 4 ] || { echo "usage: $0 BUILD ASSETS OUT {TEST...|--bench [ARGS...]}" >&2; exit 2; }
BUILD=$(cd "$1" && pwd); ASSETS=$(cd "$2" && pwd); OUT=$3; shift 3
MODE=tests
if [ "$1" = --bench ]; then MODE=bench; shift; fi
ARGS=("$@")
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/result" "$OUT/l1-serial.log"
: "${BROOD_LANE_TIMEOUT:=1080}"   # seconds for the whole L1 run
: "${BROOD_LANE_MEMORY_MIB:=4096}"

QEMU=$(command -v qemu-system-x86_64 || true)
if [ -z "$QEMU" ]; then
  echo "skipped: qemu-system-x86_64 is not installed (Debian package qemu-system-x86; scripts/install-deps.sh installs it)" >"$OUT/result"
  cat "$OUT/result"
  exit 0
fi

for f in vmlinuz vmlinux initrd.cpio.gz modules/load-order; do
  [ -s "$ASSETS/$f" ] || die "$ASSETS/$f is missing: run 'make assets'"
done
if [ "$MODE" = tests ]; then
  bins=("$BUILD/src/vmm/brood-vmm" "$BUILD/src/api/broodd" "$BUILD/src/cli/brood"
        "$BUILD/tests/hwkvm/brood_linux_shell_tests")
else
  bins=("$BUILD/src/vmm/brood-vmm" "$BUILD/bench/bench_linux")
fi
for b in "${bins[@]}" "$BUILD/guest/brood-test-guest.elf"; do [ -x "$b" ] || [ -f "$b" ] || die "$b is missing: build first"; done

# --- L1's root: busybox from the guest initramfs, brood, the assets. --------
ROOT=$OUT/l1root
rm -rf "$ROOT"; mkdir -p "$ROOT"
(cd "$ROOT" && gzip -dc "$ASSETS/initrd.cpio.gz" | cpio --quiet -id --no-absolute-filenames) ||
  die "cannot unpack $ASSETS/initrd.cpio.gz"
mkdir -p "$ROOT/lane/bin" "$ROOT/lane/assets" "$ROOT/lane/modules" "$ROOT/tmp"
cp "${bins[@]}" "$ROOT/lane/bin/"
cp "$BUILD/guest/brood-test-guest.elf" "$ASSETS/vmlinuz" "$ASSETS/vmlinux" "$ASSETS/initrd.cpio.gz" "$ROOT/lane/assets/"
cp "$ASSETS"/modules/* "$ROOT/lane/modules/"

# Shared libraries of the dynamic programs, at the paths the loader expects.
copy_libs() {
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$ROOT$lib" ] && continue
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done
}
for b in "$ROOT"/lane/bin/*; do copy_libs "$b"; done
if [ "$MODE" = bench ]; then
  # The peer runs in L1 too: QEMU, its libraries and its firmware files.
  mkdir -p "$ROOT/usr/bin" "$ROOT/usr/share"
  cp "$QEMU" "$ROOT/usr/bin/qemu-system-x86_64"
  copy_libs "$QEMU"
  cp -rL /usr/share/qemu "$ROOT/usr/share/qemu"
  run="/lane/bin/bench_linux --vmm /lane/bin/brood-vmm --assets /lane/assets --qemu /usr/bin/qemu-system-x86_64 ${ARGS[*]}"
else
  filter=$(IFS=:; echo "${ARGS[*]}")
  run="/lane/bin/brood_linux_shell_tests --gtest_color=no --gtest_filter='$filter'"
fi
cat >"$ROOT/init" <<INIT
#!/bin/busybox sh
# L1 of the hardware-KVM lane (written by scripts/hwkvm-lane.sh).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "lane: L1 up after \$(cut -d' ' -f1 /proc/uptime)s"
for m in \$(cat /lane/modules/load-order); do insmod /lane/modules/\$m || echo "lane: insmod \$m failed"; done
if [ -c /dev/kvm ]; then echo "lane: /dev/kvm ready (\$(dmesg | grep -m1 -o 'Nested Paging enabled' || echo 'no nested paging'))"
else echo "lane: no /dev/kvm in L1"; dmesg | tail -n 20; fi
cd /tmp
BROOD_VMM=/lane/bin/brood-vmm BROOD_TEST_BROODD=/lane/bin/broodd BROOD_TEST_BROOD=/lane/bin/brood \\
BROOD_TEST_GUEST=/lane/assets/brood-test-guest.elf BROOD_ASSETS=/lane/assets \\
  $run
echo "LANE-EXIT rc=\$? uptime=\$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
INIT
chmod 0755 "$ROOT/init"

say "packing L1's initramfs ($(du -sm "$ROOT" | cut -f1) MiB)"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$OUT/l1-initrd.cpio" ||
  die "cpio failed"
rm -rf "$ROOT"

say "booting L1: QEMU TCG, AMD SVM + NPT, 2 vCPUs, ${BROOD_LANE_MEMORY_MIB} MiB; $MODE ${ARGS[*]} (log: $OUT/l1-serial.log)"
start=$(date +%s)
set +e
timeout --kill-after=10 "$BROOD_LANE_TIMEOUT" "$QEMU" -nodefaults -no-user-config -display none -no-reboot \
  -accel tcg,thread=multi -cpu qemu64,+svm,+npt -smp 2 -m "$BROOD_LANE_MEMORY_MIB" \
  -kernel "$ASSETS/vmlinuz" -initrd "$OUT/l1-initrd.cpio" \
  -append "console=ttyS0 panic=-1 quiet mitigations=off" \
  -serial "file:$OUT/l1-serial.log" </dev/null >"$OUT/qemu.log" 2>&1
qemu_rc=$?
set -e
rm -f "$OUT/l1-initrd.cpio"
elapsed=$(( $(date +%s) - start ))
if ! grep -q '^LANE-EXIT' "$OUT/l1-serial.log" 2>/dev/null; then
  tail -n 60 "$OUT/l1-serial.log" 2>/dev/null || true
  cat "$OUT/qemu.log" 2>/dev/null || true
  [ "$qemu_rc" = 124 ] && die "L1 did not finish within ${BROOD_LANE_TIMEOUT}s"
  die "L1 ended (QEMU exit $qemu_rc) before its tests finished"
fi
echo "done in ${elapsed}s: $(grep -m1 '^LANE-EXIT' "$OUT/l1-serial.log")" >"$OUT/result"
say "$(cat "$OUT/result")"
if [ "$MODE" = bench ]; then
  tr -d '\r' <"$OUT/l1-serial.log" | grep '^{"bench"' || die "bench_linux printed no figures (see $OUT/l1-serial.log)"
  grep -q '^LANE-EXIT rc=0' "$OUT/l1-serial.log" || die "bench_linux failed in L1 (see $OUT/l1-serial.log)"
else
  tr -d '\r' <"$OUT/l1-serial.log" | grep -E '^\[ *(OK|FAILED|SKIPPED) *\] [A-Za-z]' || true
fi
