#!/usr/bin/env bash
# The sanitizer runs of `make test`:
#   ASan+UBSan: the unit (with http and manager) and integration suites
#   TSan:       the http and manager suites
# Any report aborts the process that made it, so it fails its test.
# Usage: sanitize.sh BUILD ASSETS   (BUILD: the normal build, for its brood-vmm)
set -euo pipefail
cd "$(dirname "$0")/.."

normal=$(realpath "$1")
assets=$(realpath "$2")
jobs=${JOBS:-2}
asan=${ASAN_BUILD:-build-asan}
tsan=${TSAN_BUILD:-build-tsan}
# -O1 -g1: quicker to build than -O2 -g, still symbolized with line numbers.
common=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DBROOD_ASSETS_DIR="$assets")

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "ASan+UBSan build"
cmake -S . -B "$asan" "${common[@]}" -DBROOD_SANITIZE=address,undefined \
  -DBROOD_TEST_VMM_BINARY="$normal/src/vmm/brood-vmm" >/dev/null
cmake --build "$asan" -j "$jobs" --target brood_unit_tests brood_agent_tests http_tests manager_tests broodd_integration_tests \
  fuzz_http_request_replay fuzz_rest_body_replay fuzz_state_file_replay fuzz_kernel_loader_replay
step "ASan+UBSan: unit, http, manager, fuzz corpora, integration"
(cd "$asan" && BROOD_ASSETS="$assets" ctest -L '^(unit|integration)$' --output-on-failure -j 2 --timeout 900)

step "TSan build"
cmake -S . -B "$tsan" "${common[@]}" -DBROOD_SANITIZE=thread >/dev/null
cmake --build "$tsan" -j "$jobs" --target http_tests manager_tests
step "TSan: http, manager"
# The two test programs, whole, each in its own directory as ctest runs them.
# (Not ctest -L: the tests' discovered labels hold only their first entry,
# "unit", and a label that matches nothing runs nothing and passes.)
for t in http/http_tests manager/manager_tests; do
  (cd "$tsan/tests/$(dirname "$t")" && timeout 900 "./$(basename "$t")" --gtest_brief=1)
done
step "sanitizers: no reports"
