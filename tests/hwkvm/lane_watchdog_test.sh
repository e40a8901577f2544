#!/usr/bin/env bash
# Tests scripts/lane-watchdog.sh on made-up serial logs of L1, with a sleep
# standing in for QEMU and a FIFO for its monitor.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export BROOD_LANE_POLL=1 BROOD_LANE_STALL=3 BROOD_LANE_QUIET=10
. "$here/../../scripts/lane-watchdog.sh"

dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

# Runs the watchdog over $dir/$1.log, which FEED (a function, given the log
# and the stand-in's pid) writes while a stand-in QEMU sleeps. Sets ended
# (yes: the watchdog ended the stand-in; poweroff: the feed did; no: neither)
# and leaves what the watchdog sent the monitor in $dir/$1.monitor.
watch() {
  local name=$1 feed=$2 log=$dir/$1.log qemu fifo=$dir/$1.fifo rc
  : >"$log"; : >"$dir/$name.stalls"
  mkfifo "$fifo"
  cat "$fifo" >"$dir/$name.monitor" &
  local reader=$!
  sleep 30 & qemu=$!
  $feed "$log" "$qemu" & local feeder=$!
  lane_watchdog "$log" "$qemu" "$fifo" "$dir/$name.stalls" 7
  # The watchdog ends QEMU with SIGTERM; a feed that plays L1 powering off
  # ends it with SIGUSR1.
  kill -KILL "$qemu" 2>/dev/null; wait "$qemu"; rc=$?
  if [ "$rc" = 143 ]; then ended=yes; elif [ "$rc" = 138 ]; then ended=poweroff; else ended=no; fi
  kill "$feeder" 2>/dev/null; wait "$feeder" 2>/dev/null
  sleep 0.5; kill "$reader" 2>/dev/null; wait "$reader" 2>/dev/null
}

# L1 that ticks, and a suite that prints now and then; the stand-in QEMU
# exits after 8 s, as QEMU does when L1 powers off.
healthy() {
  for i in $(seq 1 8); do
    echo "lane: tick $i.00" >>"$1"; echo "[ RUN      ] Suite.Test$i" >>"$1"; sleep 1
  done
  kill -USR1 "$2"
}
watch healthy healthy
[ "$ended" = poweroff ] || fail "healthy: the stand-in QEMU did not end by itself ($ended)"
[ ! -s "$dir/healthy.stalls" ] || fail "healthy: the watchdog acted: $(cat "$dir/healthy.stalls")"
[ ! -s "$dir/healthy.monitor" ] || fail "healthy: the watchdog sent the monitor: $(cat "$dir/healthy.monitor")"

# An RCU stall in L1's kernel, while it still ticks.
rcu_stall() {
  echo "lane: tick 1.00" >>"$1"; sleep 1
  printf '[  948.883519] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\r\n' >>"$1"
  for i in $(seq 2 20); do echo "lane: tick $i.00" >>"$1"; echo "[ RUN      ] S.T$i" >>"$1"; sleep 1; done
}
start=$SECONDS
watch rcu_stall rcu_stall
[ "$ended" = yes ] || fail "rcu_stall: QEMU was not ended"
[ $((SECONDS - start)) -le 6 ] || fail "rcu_stall: ended only after $((SECONDS - start)) s"
grep -q '^boot 7: L1 reported trouble .*detected stalls' "$dir/rcu_stall.stalls" ||
  fail "rcu_stall: stalls log: $(cat "$dir/rcu_stall.stalls")"

# L1 stops ticking: an NMI first, then the end.
no_ticks() {
  for i in 1 2; do echo "lane: tick $i.00" >>"$1"; echo "[ RUN      ] S.T$i" >>"$1"; sleep 1; done
  sleep 30
}
watch no_ticks no_ticks
[ "$ended" = yes ] || fail "no_ticks: QEMU was not ended"
grep -qx 'nmi' "$dir/no_ticks.monitor" || fail "no_ticks: no NMI on the monitor: $(cat "$dir/no_ticks.monitor")"
grep -q '^boot 7: L1 stalled at .*NMI sent' "$dir/no_ticks.stalls" &&
  grep -q '^boot 7: L1 still stalled at .*QEMU ended' "$dir/no_ticks.stalls" ||
  fail "no_ticks: stalls log: $(cat "$dir/no_ticks.stalls")"

# L1 ticks on, and its kernel logs, but the suites print nothing.
silent_suite() {
  echo "[ RUN      ] S.Hangs" >>"$1"
  for i in $(seq 1 20); do echo "lane: tick $i.00" >>"$1"; echo "[   $i.5] some kernel line" >>"$1"; sleep 1; done
}
watch silent_suite silent_suite
[ "$ended" = yes ] || fail "silent_suite: QEMU was not ended"
grep -q '^boot 7: L1.s suites silent since .*QEMU ended' "$dir/silent_suite.stalls" ||
  fail "silent_suite: stalls log: $(cat "$dir/silent_suite.stalls")"
[ ! -s "$dir/silent_suite.monitor" ] || fail "silent_suite: an NMI was sent though L1 ticked"

[ "$failures" = 0 ] && echo "lane watchdog: all cases passed"
exit $((failures > 0))
