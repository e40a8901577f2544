#!/usr/bin/env bash
# hwkvm-result.sh OUT TEST: one test's result from a hardware-KVM lane run
# (scripts/hwkvm-lane.sh). Exit 0 passed, 1 failed or did not run (its
# output and the end of L1's log are printed), 77 the lane was skipped.
set -uo pipefail
OUT=$1 TEST=$2
log=$OUT/l1-serial.log
result=$(cat "$OUT/result" 2>/dev/null || echo "the lane did not run")
case $result in
  skipped:*) echo "$TEST: ${result#skipped: }"; exit 77 ;;
esac
# Read once: `grep -q` on a pipe would end early and, with pipefail, fail
# the pipeline by SIGPIPE even when it found the line.
cleaned=$(tr -d '\r' <"$log" 2>/dev/null | grep -v '^lane: tick' || true)
clean() { printf '%s\n' "$cleaned"; }
stalls=$(grep -c 'L1 stalled' "$OUT/stalls.log" 2>/dev/null || true)
[ "${stalls:-0}" -gt 0 ] &&
  echo "note: L1 stalled $stalls time(s) in this lane run (see $OUT/stalls.log; registers in $OUT/monitor.log)"
[ -s "$OUT/reboots.log" ] && { echo "note: L1 was booted again in this lane run:"; cat "$OUT/reboots.log"; }
re=${TEST//./\\.}
if grep -qE "^\[       OK \] $re \(" <<<"$cleaned"; then
  clean | grep -E "^\[       OK \] $re \("
  if grep -qE "^\[  FAILED  \] $re \(" <<<"$cleaned"; then
    echo "passed in a fresh L1 after failing in an earlier boot; that run and why the boot ended:"
    clean | sed -n "/^\[ RUN      \] $re\$/,/^\[ *[A-Z]* *\] $re /p" | head -n 60
    clean | grep "^lane: suite .* failed (L1:" || true
  fi
  if grep -q "^lane: RETRY suite ${TEST%%.*} " <<<"$cleaned"; then
    echo "passed on the retry: the first run of its suite hung; what L1 was doing then:"
    clean | grep "^lane: " | sed -n "/suite ${TEST%%.*} hung/,/RETRY suite/p"
  fi
  exit 0
fi
echo "$TEST did not pass on the hardware-KVM lane ($result)"
if grep -qE "^\[ RUN      \] $re\$" <<<"$cleaned"; then
  echo "--- its output in L1 (with the L2 serial log where the test printed it) ---"
  clean | sed -n "/^\[ RUN      \] $re\$/,/^\[ *[A-Z]* *\] $re /p"
else
  echo "--- it never started; the end of L1's serial log ---"
  clean | tail -n 80
fi
exit 1
