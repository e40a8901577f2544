#!/usr/bin/env bash
# Boots the brood test guest under QEMU microvm + KVM and checks the serial
# protocol of docs/interfaces.md: every command, 1 and 4 vCPUs.
#   guest/test-in-qemu.sh ELF
# Exits 77 (skip) where qemu-system-x86_64 or /dev/kvm is missing.
set -uo pipefail

elf=${1:?usage: $0 ELF}
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0

if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "SKIP: qemu-system-x86_64 is not installed"
  exit 77
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "SKIP: /dev/kvm is not usable"
  exit 77
fi

ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# start_guest CPUS MIB: runs QEMU as a coprocessor, waits for the ready line.
start_guest() {
  coproc GUEST { exec "$here/run-in-qemu.sh" "$elf" --cpus "$1" --mem "$2" 2>/dev/null; }
  local line
  while read_line 20 line; do
    case $line in
      "brood-guest ready "*) ready_line=$line; return 0 ;;
    esac
  done
  ready_line=""
  return 1
}

stop_guest() {
  if [ -n "${GUEST_PID:-}" ]; then
    kill "$GUEST_PID" 2>/dev/null
    wait "$GUEST_PID" 2>/dev/null
  fi
}
trap stop_guest EXIT

# read_line TIMEOUT VAR
read_line() {
  local l
  IFS= read -r -t "$1" l <&"${GUEST[0]}" || return 1
  printf -v "$2" '%s' "${l%$'\r'}"
}

# ask COMMAND: sends one line, sets $answer to the one-line reply.
ask() {
  printf '%s\n' "$1" >&"${GUEST[1]}"
  read_line "${2:-30}" answer || answer="<no answer>"
}

# expect COMMAND REGEX
expect() {
  ask "$1"
  if [[ $answer =~ $2 ]]; then ok "$1 -> $answer"; else bad "$1 -> $answer (wanted /$2/)"; fi
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "# 1 vCPU, 128 MiB"
if start_guest 1 128; then
  [[ $ready_line == "brood-guest ready cpus=1 mem_mib=128" ]] && ok "$ready_line" || bad "ready: $ready_line"
  expect ping '^pong$'
  expect cpus '^cpus online=1 ids=0$'
  expect count '^count 1$'
  expect count '^count 2$'
  expect "touch 16 7" '^touched pages=4096 checksum=0x[0-9a-f]{16}$'
  touched=${answer#*checksum=}
  expect "verify 16 7" "^ok pages=4096 checksum=$touched\$"
  expect "verify 16 8" '^bad page=0 expected=0x[0-9a-f]{16} got=0x[0-9a-f]{16}$'
  expect "verify 17 7" '^bad page=4096 expected=0x[0-9a-f]{16} got=0x0000000000000000$'
  expect "touch 112" '^touched pages=28672 '
  expect "touch 113" '^error: '
  expect "touch" '^error: '
  expect "touch x" '^error: '
  expect "verify 1 2 3" '^error: '
  expect "frobnicate" '^error: unknown command$'
  # \r ends a line as well as \n, and the empty line between them is ignored.
  expect $'ping\r' '^pong$'
  expect count '^count 3$'
  start=$(now_ms)
  expect "sleep 300" '^slept ms=300$'
  took=$(($(now_ms) - start))
  if [ "$took" -ge 295 ] && [ "$took" -lt 600 ]; then ok "sleep 300 took $took ms"; else bad "sleep 300 took $took ms"; fi
  expect "sleep 0" '^slept ms=0$'
else
  bad "1 vCPU guest did not get ready"
fi
stop_guest

echo "# 4 vCPUs, 256 MiB"
if start_guest 4 256; then
  [[ $ready_line == "brood-guest ready cpus=4 mem_mib=256" ]] && ok "$ready_line" || bad "ready: $ready_line"
  expect cpus '^cpus online=4 ids=0,1,2,3$'
  expect cpus '^cpus online=4 ids=0,1,2,3$'
  expect "touch 4 1" '^touched pages=1024 '
  expect "verify 4 1" '^ok pages=1024 '
else
  bad "4 vCPU guest did not get ready"
fi
stop_guest

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
