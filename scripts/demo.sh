#!/usr/bin/env bash
# brood's demo (`make demo`): a broodd of its own in a scratch directory;
# through its API, boot the test guest (512 MiB), let it write 256 MiB,
# standby, promote it to a template and fork 50 running VMs from it in one
# call; then how fast they answered `ping` and what they cost the host.
# Everything is stopped and removed at the end, and on Ctrl-C.
#   scripts/demo.sh [BUILD_DIR] [ASSETS_DIR]   (the test guest needs no assets)
set -euo pipefail
build=${1:-build}
demo=$build/src/demo/brood-demo
[ -e /dev/kvm ] || { echo "demo: /dev/kvm is missing: brood needs KVM" >&2; exit 1; }
[ -x "$demo" ] || { echo "demo: $demo is missing (make build)" >&2; exit 1; }
exec "$demo" --broodd "$build/src/api/broodd" --vmm "$build/src/vmm/brood-vmm" \
  --guest "$build/guest/brood-test-guest.elf" --forks 50 --memory-mib 512 --touch-mib 256
