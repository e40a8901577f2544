#!/usr/bin/env bash
# hwkvm-lane.sh BUILD ASSETS OUT TEST...
# hwkvm-lane.sh BUILD ASSETS OUT --bench [bench_linux|bench_agent] [BENCH_ARGS...]
#
# The hardware-KVM lane: runs brood on a hardware-assisted KVM even where the
# host's own /dev/kvm cannot run a stock Linux kernel. QEMU's TCG emulates an
# AMD CPU with SVM and nested paging; Debian's cloud kernel (ASSETS/vmlinuz)
# boots in it as L1, loads kvm.ko and kvm-amd.ko from the same package, and
# runs the named tests of brood_linux_shell_tests (GoogleTest names) against
# brood-vmm, broodd and brood from BUILD, which boot ASSETS' Linux as L2.
# With --bench it runs a bench instead and prints its JSON lines on stdout:
# bench_linux (the default: brood-vmm against QEMU, both in L1 on the same
# KVM) or bench_agent (a Linux guest with the agent, through broodd).
#
# Each suite runs in its own process. When L1 itself dies or stalls for good
# (QEMU's nested SVM now and then panics or wedges L1), the lane boots L1
# again for the suites that had not finished, up to BROOD_LANE_BOOTS boots
# within BROOD_LANE_TIMEOUT seconds in all.
#
# Writes OUT/l1-serial.log (everything L1 printed in every boot: the tests'
# output, with the L2 serial logs of failed tests), OUT/result (done, or why
# the lane did not run) and, when it happened, OUT/stalls.log and
# OUT/reboots.log. scripts/hwkvm-result.sh reads one test's result from them.
# Exit: 0 when the tests ran (each test's result is in the log), 1 when the
# lane itself failed, 0 with OUT/result "skipped: ..." when QEMU is missing.
set -euo pipefail

die() { echo "hwkvm-lane: error: $*" >&2; echo "failed: $*" >"$OUT/result"; exit 1; }
say() { echo "hwkvm-lane: $*" >&2; }

[ $# -ge 4 ] || { echo "usage: $0 BUILD ASSETS OUT {TEST...|--bench [ARGS...]}" >&2; exit 2; }
BUILD=$(cd "$1" && pwd); ASSETS=$(cd "$2" && pwd); OUT=$3; shift 3
MODE=tests BENCH=bench_linux
if [ "$1" = --bench ]; then
  MODE=bench; shift
  case ${1:-} in bench_linux|bench_agent) BENCH=$1; shift ;; esac
fi
ARGS=("$@")
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/result" "$OUT"/l1-serial*.log "$OUT/stalls.log" "$OUT/reboots.log"
: "${BROOD_LANE_TIMEOUT:=900}"      # seconds for all of L1's boots together
: "${BROOD_LANE_MEMORY_MIB:=4096}"
: "${BROOD_LANE_SUITE_TIMEOUT:=240}" # seconds for one suite inside L1, before it counts as hung
: "${BROOD_LANE_BOOTS:=7}"           # boots of L1 at most, when L1 dies (or sickens) before its suites are done

QEMU=$(command -v qemu-system-x86_64 || true)
if [ -z "$QEMU" ]; then
  echo "skipped: qemu-system-x86_64 is not installed (Debian package qemu-system-x86; scripts/install-deps.sh installs it)" >"$OUT/result"
  cat "$OUT/result"
  exit 0
fi

# Under QEMU before 10 (bookworm's 7.2) three boots of L1 in four went
# wrong, some wedged for good; scripts/install-deps.sh installs 10 from
# bookworm-backports.
QEMU_VERSION=$("$QEMU" --version | sed -n '1s/^QEMU emulator version \([0-9.]*\).*/\1/p')
case $QEMU_VERSION in
  [1-9][0-9].*) ;;
  *) say "warning: QEMU ${QEMU_VERSION:-of unknown version} is older than 10: expect L1 to fail often (run scripts/install-deps.sh)" ;;
esac

for f in vmlinuz vmlinux initrd.cpio.gz modules/load-order; do
  [ -s "$ASSETS/$f" ] || die "$ASSETS/$f is missing: run 'make assets'"
done
if [ "$MODE" = tests ]; then
  bins=("$BUILD/src/vmm/brood-vmm" "$BUILD/src/api/broodd" "$BUILD/src/cli/brood"
        "$BUILD/tests/hwkvm/brood_linux_shell_tests")
elif [ "$BENCH" = bench_agent ]; then
  bins=("$BUILD/src/vmm/brood-vmm" "$BUILD/src/api/broodd" "$BUILD/bench/bench_agent")
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
# Without their debug info: L1 unpacks its initramfs into RAM, and a smaller
# one boots sooner.
for b in "${bins[@]}"; do strip --strip-debug -o "$ROOT/lane/bin/${b##*/}" "$b" || cp "$b" "$ROOT/lane/bin/"; done
cp "$BUILD/guest/brood-test-guest.elf" "$ASSETS/vmlinuz" "$ASSETS/vmlinux" "$ASSETS/initrd.cpio.gz" "$ROOT/lane/assets/"
cp "$ASSETS"/modules/* "$ROOT/lane/modules/"
# The Linux images the build makes for devices and the agent (target guest-images).
if [ "$MODE" = tests ] || [ "$BENCH" = bench_agent ]; then
  for f in initrd-agent.cpio.gz rootfs.ext4; do
    [ -s "$BUILD/guest-images/$f" ] || die "$BUILD/guest-images/$f is missing: build the guest-images target"
    cp "$BUILD/guest-images/$f" "$ROOT/lane/assets/"
  done
fi

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
if [ "$BENCH" = bench_agent ] && [ "$MODE" = bench ]; then
  run="/lane/bin/bench_agent --vmm /lane/bin/brood-vmm --broodd /lane/bin/broodd --assets /lane/assets --images /lane/assets ${ARGS[*]} || status=1"
elif [ "$MODE" = bench ]; then
  # The peer runs in L1 too: QEMU, its libraries and its firmware files
  # (QEMU 10 finds microvm's SeaBIOS in /usr/share/seabios, 7.2 through a
  # link in /usr/share/qemu).
  mkdir -p "$ROOT/usr/bin" "$ROOT/usr/share"
  cp "$QEMU" "$ROOT/usr/bin/qemu-system-x86_64"
  copy_libs "$QEMU"
  cp -rL /usr/share/qemu "$ROOT/usr/share/qemu"
  if [ -d /usr/share/seabios ]; then cp -rL /usr/share/seabios "$ROOT/usr/share/seabios"; fi
  run="/lane/bin/bench_linux --vmm /lane/bin/brood-vmm --assets /lane/assets --qemu /usr/bin/qemu-system-x86_64 ${ARGS[*]} || status=1"
else
  # One process per suite (a suite's tests may build on each other), in
  # order: each boot's plan (/lane/plan, "SUITE FILTER" lines) lists the
  # suites still to run.
  run='while read -r suite filter; do run_suite "$suite" "$filter" || suite_failed "$suite"; echo "lane: SUITE-DONE $suite"; done </lane/plan'
  # The tests of LinuxBoot stand alone, each booting its own L2: each is a
  # plan entry of its own, so an L1 that dies keeps the ones done before.
  for suite in $(printf '%s\n' "${ARGS[@]}" | cut -d. -f1 | awk '!seen[$0]++'); do
    if [ "$suite" = LinuxBoot ]; then
      printf '%s\n' "${ARGS[@]}" | grep "^$suite\." | awk '{ print $1, $1 }'
    else
      echo "$suite $(printf '%s\n' "${ARGS[@]}" | grep "^$suite\." | paste -sd:)"
    fi
  done >"$OUT/plan"
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
(while :; do sleep 10; echo "lane: tick \$(cut -d' ' -f1 /proc/uptime)"; done) &
cd /tmp
export BROOD_VMM=/lane/bin/brood-vmm BROOD_TEST_BROODD=/lane/bin/broodd BROOD_TEST_BROOD=/lane/bin/brood
export BROOD_TEST_GUEST=/lane/assets/brood-test-guest.elf BROOD_ASSETS=/lane/assets BROOD_GUEST_IMAGES=/lane/assets
# A guest that stops printing mid-boot fails its test with KVM's events for its VMM.
export BROOD_TEST_KVM_TRACE=1
# What KVM does for the VMMs still running, over 2 s (kvm tracepoints):
# whether a stopped L2 still exits (and where), halts, or gets interrupts.
trace_kvm() {
  T=/sys/kernel/tracing
  [ -e \$T/trace ] || mount -t tracefs tracefs \$T 2>/dev/null || return 0
  [ -d \$T/events/kvm ] || return 0
  echo 256 >\$T/buffer_size_kb; : >\$T/trace
  echo 1 >\$T/events/kvm/enable; sleep 2; echo 0 >\$T/events/kvm/enable
  echo "lane: --- kvm events over 2 s: \$(grep -vc '^#' \$T/trace) in all, by kind: ---"
  grep -v '^#' \$T/trace | sed -n 's/.* \(kvm_[a-z_]*\):.*/\1/p' | sort | uniq -c | sed 's/^/lane: /'
  grep -v '^#' \$T/trace | tail -n 60 | sed 's/^/lane: kvm: /'
}
# What every process in L1 is waiting on, for a suite that hung.
dump_l1() {
  echo "lane: --- L1 when \$1 hung: load \$(cat /proc/loadavg) ---"
  for p in /proc/[0-9]*; do
    [ -r \$p/cmdline ] || continue
    c=\$(tr '\\0' ' ' <\$p/cmdline | cut -c1-100); [ -n "\$c" ] || continue
    for t in \$p/task/*; do
      echo "lane: \${p#/proc/}/\${t##*/} \$(cut -d' ' -f3 \$t/stat) wchan=\$(cat \$t/wchan 2>/dev/null) \$c"
    done
  done
  dmesg | tail -n 30 | sed 's/^/lane: dmesg: /'
  trace_kvm
  for f in \$(find /tmp -name serial.log 2>/dev/null); do
    echo "lane: --- the end of \$f ---"; tail -n 40 \$f | sed 's/^/lane: L2: /'
  done
}
# Runs one suite under a time limit; a suite that hangs is shown, cleaned up
# and run once more, and the lane log says so.
run_suite() {
  for attempt in 1 2; do
    # Into a file that tail prints as it grows (a pipe would stay open while a
    # VMM or daemon that the suite left behind holds it), for suite_failed.
    : >/tmp/suite.out
    tail -f /tmp/suite.out &
    tail_pid=\$!
    timeout -s KILL $BROOD_LANE_SUITE_TIMEOUT /lane/bin/brood_linux_shell_tests --gtest_color=no --gtest_filter="\$2" \
      >>/tmp/suite.out 2>&1
    rc=\$?
    sleep 1; kill \$tail_pid 2>/dev/null
    # A VMM its box killed (seccomp) shows in the kernel's log, not the test's
    # (audit=1 on L1's command line makes the kernel record such kills).
    [ \$rc = 0 ] || dmesg | grep -E 'audit|seccomp|SIGSYS' | tail -n 20 | sed 's/^/lane: dmesg: /'
    [ \$rc = 137 ] || return \$rc
    echo "lane: suite \$1 hung for ${BROOD_LANE_SUITE_TIMEOUT}s (attempt \$attempt)"
    dump_l1 \$1
    # An L1 that hung a suite is seldom sound after it: a fresh one runs the
    # suite again, and only the last boot retries in place.
    if [ ! -e /lane/last-boot ]; then
      echo "lane: suite \$1 hung: this boot ends, the suite runs again in the next"
      poweroff -f
    fi
    killall -KILL brood-vmm broodd 2>/dev/null; sleep 1
    [ \$attempt = 1 ] && echo "lane: RETRY suite \$1 after a hang"
  done
  return 1
}
# QEMU's emulated SVM now and then corrupts memory in L1 or L2: L1's kernel
# log shows trouble, an L2 Linux triple faults, or an L2 stops (its serial
# output ends mid-boot). So a failed suite proves nothing about brood until
# it fails in a fresh L1 too: unless this is the last boot, the boot ends
# here and the suite runs again in the next one (the log says why). In the
# last boot every failure stands.
suite_failed() {
  trouble=\$(dmesg | grep -m1 -E 'detected stalls|soft lockup|BUG:|Oops|general protection|corrupted|WARNING: CPU')
  [ -n "\$trouble" ] || trouble=\$(grep -m1 'triple fault' /tmp/suite.out)
  if [ ! -e /lane/last-boot ]; then
    echo "lane: suite \$1 failed (L1: \${trouble:-no sign in its kernel log}): this boot ends, the suite runs again in a fresh L1"
    poweroff -f
  fi
  status=1
}
status=0
$run
echo "LANE-EXIT rc=\$status uptime=\$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
INIT
chmod 0755 "$ROOT/init"

say "packing L1's initramfs ($(du -sm "$ROOT" | cut -f1) MiB)"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$OUT/l1-initrd.cpio" ||
  die "cpio failed"
rm -rf "$ROOT"

# QEMU's monitor, on two FIFOs, for the watchdog (scripts/lane-watchdog.sh).
MON=$OUT/monitor
. "$(dirname "$0")/lane-watchdog.sh"

# One boot of L1 with the given plan; its serial output goes to $1.
# L1 runs without transparent huge pages: with them, khugepaged in L1 keeps
# collapsing the pages behind L2's memory, which under QEMU's emulation
# multiplied the lane's time (5 to 10 minutes instead of 1.5 to 3) and went
# with its soft lockups, RCU stalls and panics.
boot_l1() {
  local log=$1 budget=$2 initrd=$OUT/l1-initrd.cpio
  if [ "$MODE" = tests ]; then
    # The plan rides in a second cpio archive after the first: the kernel
    # unpacks both.
    local planroot=$OUT/planroot
    rm -rf "$planroot"; mkdir -p "$planroot/lane"; cp "$OUT/plan.left" "$planroot/lane/plan"
    [ "$boot" -lt "$BROOD_LANE_BOOTS" ] || : >"$planroot/lane/last-boot"
    initrd=$OUT/l1-initrd.boot.cpio
    { cat "$OUT/l1-initrd.cpio"; (cd "$planroot" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0); } >"$initrd"
    rm -rf "$planroot"
  fi
  rm -f "$MON.in" "$MON.out"; mkfifo "$MON.in" "$MON.out"
  cat "$MON.out" >>"$OUT/monitor.log" &
  local mon_reader=$!
  timeout --kill-after=10 "$budget" "$QEMU" -nodefaults -no-user-config -display none -no-reboot \
    -accel tcg,thread=multi -cpu qemu64,+svm,+npt -smp 2 -m "$BROOD_LANE_MEMORY_MIB" \
    -kernel "$ASSETS/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet mitigations=off audit=1 transparent_hugepage=never" \
    -monitor "pipe:$MON" -serial "file:$log" </dev/null >>"$OUT/qemu.log" 2>&1 &
  qemu_pid=$!
  lane_watchdog "$log" "$qemu_pid" "$MON.in" "$OUT/stalls.log" "$boot" &
  local watchdog_pid=$!
  wait "$qemu_pid"
  qemu_rc=$?
  kill "$watchdog_pid" 2>/dev/null; wait "$watchdog_pid" 2>/dev/null
  kill "$mon_reader" 2>/dev/null; wait "$mon_reader" 2>/dev/null
  rm -f "$MON.in" "$MON.out"
  [ "$initrd" = "$OUT/l1-initrd.cpio" ] || rm -f "$initrd"
}

start=$(date +%s)
rm -f "$OUT/monitor.log" "$OUT/qemu.log"
[ "$MODE" = tests ] && cp "$OUT/plan" "$OUT/plan.left"
boot=1
set +e
while :; do
  left=$(( BROOD_LANE_TIMEOUT - ($(date +%s) - start) ))
  say "booting L1 (boot $boot): QEMU $QEMU_VERSION TCG, AMD SVM + NPT, 2 vCPUs, ${BROOD_LANE_MEMORY_MIB} MiB; $MODE $(
    [ "$MODE" = tests ] && cut -d' ' -f1 "$OUT/plan.left" | paste -sd' ' || echo "${ARGS[*]}") (log: $OUT/l1-serial.log)"
  boot_log=$OUT/l1-serial.boot$boot.log
  boot_l1 "$boot_log" "$left"
  { [ "$boot" = 1 ] || echo "lane: ---- L1 boot $boot ----"; tr -d '\r' <"$boot_log" 2>/dev/null; } >>"$OUT/l1-serial.log"
  grep -q '^LANE-EXIT' "$boot_log" 2>/dev/null && break
  [ "$MODE" = tests ] || break
  # Suites that finished in this boot are done; the rest run in the next.
  done_suites=$(tr -d '\r' <"$boot_log" | sed -n 's/^lane: SUITE-DONE //p')
  awk -v done="$done_suites" 'BEGIN { n = split(done, d, "\n"); for (i = 1; i <= n; i++) skip[d[i]] = 1 }
                              !($1 in skip)' "$OUT/plan.left" >"$OUT/plan.next"
  mv "$OUT/plan.next" "$OUT/plan.left"
  left=$(( BROOD_LANE_TIMEOUT - ($(date +%s) - start) ))
  why="QEMU exit $qemu_rc"; [ "$qemu_rc" = 124 ] && why="out of time"
  if [ "$boot" -ge "$BROOD_LANE_BOOTS" ] || [ "$left" -lt 120 ] || [ ! -s "$OUT/plan.left" ]; then break; fi
  echo "boot $boot: L1 ended ($why) before its suites were done; boot $((boot + 1)) runs $(cut -d' ' -f1 "$OUT/plan.left" | paste -sd' ')" >>"$OUT/reboots.log"
  say "$(tail -n 1 "$OUT/reboots.log")"
  tail -n 30 "$boot_log" 2>/dev/null | sed 's/^/hwkvm-lane: L1: /' >&2
  boot=$((boot + 1))
done
set -e
rm -f "$OUT/l1-initrd.cpio" "$OUT"/l1-serial.boot*.log "$OUT/plan.left"
elapsed=$(( $(date +%s) - start ))
if ! grep -q '^LANE-EXIT' "$OUT/l1-serial.log" 2>/dev/null; then
  tail -n 60 "$OUT/l1-serial.log" 2>/dev/null || true
  cat "$OUT/qemu.log" 2>/dev/null || true
  [ "$qemu_rc" = 124 ] && die "L1 did not finish within ${BROOD_LANE_TIMEOUT}s ($boot boot(s))"
  die "L1 ended (QEMU exit $qemu_rc) before its tests finished ($boot boot(s))"
fi
echo "done in ${elapsed}s, $boot boot(s): $(grep -m1 '^LANE-EXIT' "$OUT/l1-serial.log")" >"$OUT/result"
say "$(cat "$OUT/result")"
if [ "$MODE" = bench ]; then
  tr -d '\r' <"$OUT/l1-serial.log" | grep '^{"bench"' || die "$BENCH printed no figures (see $OUT/l1-serial.log)"
  grep -q '^LANE-EXIT rc=0' "$OUT/l1-serial.log" || die "$BENCH failed in L1 (see $OUT/l1-serial.log)"
else
  tr -d '\r' <"$OUT/l1-serial.log" | grep -E '^\[ *(OK|FAILED|SKIPPED) *\] [A-Za-z]' || true
fi
