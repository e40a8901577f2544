#!/usr/bin/env bash
# brood's demo: boot the test guest under brood-vmm, talk to it over its
# serial console, and show what it said and how long each step took.
set -euo pipefail
build=${1:-build}
vmm=$build/src/vmm/brood-vmm
guest=$build/guest/brood-test-guest.elf
[ -e /dev/kvm ] || { echo "demo: /dev/kvm is missing: brood needs KVM" >&2; exit 1; }

work=$(mktemp -d /tmp/brood-demo.XXXXXX)
trap 'kill $vmm_pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkfifo "$work/in"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Waits until the guest's output after byte $3 holds $1; prints the ms since $2.
wait_for() {
  local want=$1 since=$2 from=${3:-0}
  for _ in $(seq 1 20000); do
    tail -c +$((from + 1)) "$work/out" 2>/dev/null | grep -q -- "$want" && { echo $(( $(now_ms) - since )); return; }
    sleep 0.001
  done
  echo "demo: timed out waiting for '$want'" >&2; cat "$work/out" >&2; exit 1
}

start=$(now_ms)
"$vmm" boot --kernel "$guest" --memory-mib 512 --vcpus 2 --serial-stdio <"$work/in" >"$work/out" &
vmm_pid=$!
exec 3>"$work/in"
first=$(wait_for "brood-guest: boot" "$start")
ready=$(wait_for "brood-guest ready" "$start")

ask() { # command, expected text
  local t; t=$(now_ms)
  local from; from=$(stat -c %s "$work/out")
  echo "$1" >&3
  local ms; ms=$(wait_for "$2" "$t" "$from")
  printf '  %-16s %-52s %6s ms\n' "$1" "$(grep -- "$2" "$work/out" | tail -1)" "$ms"
}

echo "brood-vmm booted the test guest (512 MiB, 2 vCPUs):"
printf '  first output after %s ms, ready after %s ms\n\n' "$first" "$ready"
echo "  command          guest's answer                                         time"
ask "ping" "pong"
ask "cpus" "cpus online"
ask "touch 256 42" "touched"
ask "verify 256 42" "pages="
ask "count" "count 1"
ask "sleep 100" "slept"
echo "poweroff" >&3
wait "$vmm_pid" && code=0 || code=$?
printf '\nguest powered off; brood-vmm exited with code %s\n' "$code"
