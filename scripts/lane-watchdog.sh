# The hardware-KVM lane's watchdog over one boot of L1 (sourced by
# scripts/hwkvm-lane.sh; tests/hwkvm/lane_watchdog_test.sh tests it).
#
#   lane_watchdog LOG QEMU_PID MONITOR_IN STALLS_LOG BOOT
#
# Reads L1's serial output (LOG) while QEMU (QEMU_PID) runs, and ends QEMU
# when L1 can no longer finish its suites, so the lane boots a fresh L1 for
# the suites left instead of waiting out its whole time budget:
#
# - L1's kernel reports an RCU stall, a soft lockup, a corrupted stack or a
#   panic.
#   Under QEMU's emulated nested SVM this is how a wedged vCPU shows: in
#   every lane log kept so far, no boot that reported one finished its
#   suites (it panicked, or a suite hung until the lane's time ran out).
# - L1 prints no tick for BROOD_LANE_STALL seconds (both vCPUs stuck): the
#   watchdog records the vCPUs' registers and sends an NMI through QEMU's
#   monitor (MONITOR_IN), which often lets L1 carry on; without a tick for
#   another BROOD_LANE_STALL seconds it ends QEMU.
# - Nothing but ticks and kernel messages for BROOD_LANE_QUIET seconds: a
#   suite is stuck where L1's own time limit cannot end it (a process that
#   SIGKILL cannot reap).
# Each decision is a line in STALLS_LOG, naming the boot.

: "${BROOD_LANE_STALL:=60}"  # seconds without a tick from L1
: "${BROOD_LANE_QUIET:=300}" # seconds without a line from the suites
: "${BROOD_LANE_POLL:=5}"    # seconds between two looks at LOG

# Lines of L1's kernel that mean it is wedged.
LANE_KERNEL_TROUBLE='detected stalls|soft lockup|corrupted stack end|Kernel panic'

lane_watchdog() {
  local log=$1 pid=$2 monitor_in=$3 stalls=$4 boot=$5
  local ticks last_ticks=-1 no_tick=0 kicked=0 lines last_lines=-1 quiet=0 trouble
  while kill -0 "$pid" 2>/dev/null; do
    sleep "$BROOD_LANE_POLL"
    trouble=$(tr -d '\r' <"$log" 2>/dev/null | grep -m1 -E "$LANE_KERNEL_TROUBLE" || true)
    if [ -n "$trouble" ]; then
      echo "hwkvm-lane: L1's kernel reports trouble: ending this boot" >&2
      echo "boot $boot: L1 reported trouble at $(date +%T) (${trouble}); QEMU ended" >>"$stalls"
      kill "$pid" 2>/dev/null
      return
    fi
    ticks=$(grep -c '^lane: tick' "$log" 2>/dev/null || true); ticks=${ticks:-0}
    # The suites' own lines: neither ticks nor the kernel's timestamped ones.
    lines=$(grep -c -v -E '^(lane: tick|\[ *[0-9]+\.[0-9]+\])' "$log" 2>/dev/null || true); lines=${lines:-0}
    if [ "$lines" != "$last_lines" ]; then last_lines=$lines quiet=0
    else quiet=$((quiet + BROOD_LANE_POLL)); fi
    if [ "$ticks" -gt 0 ] && [ "$quiet" -ge "$BROOD_LANE_QUIET" ]; then
      echo "hwkvm-lane: L1's suites printed nothing for ${BROOD_LANE_QUIET}s: ending this boot" >&2
      echo "boot $boot: L1's suites silent since $(date -d "-$quiet sec" +%T); QEMU ended" >>"$stalls"
      kill "$pid" 2>/dev/null
      return
    fi
    if [ "$ticks" != "$last_ticks" ]; then last_ticks=$ticks no_tick=0 kicked=0; continue; fi
    [ "$ticks" -gt 0 ] || continue
    no_tick=$((no_tick + BROOD_LANE_POLL))
    [ "$no_tick" -ge "$BROOD_LANE_STALL" ] || continue
    no_tick=0
    if [ "$kicked" = 0 ]; then
      kicked=1
      echo "hwkvm-lane: L1 printed no tick for ${BROOD_LANE_STALL}s: recording its vCPUs and sending it an NMI" >&2
      echo "boot $boot: L1 stalled at $(date +%T); registers in monitor.log; NMI sent" >>"$stalls"
      printf 'info cpus\ninfo registers -a\nnmi\n' >"$monitor_in"
    else
      echo "hwkvm-lane: L1 printed no tick after the NMI either: ending this boot" >&2
      echo "boot $boot: L1 still stalled at $(date +%T); QEMU ended" >>"$stalls"
      kill "$pid" 2>/dev/null
      return
    fi
  done
}
