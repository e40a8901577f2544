#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for
# SECONDS (default 60), FUZZ_PARALLEL at a time (default 1), on its seeds in tests/fuzz/corpus/NAME
# plus the inputs it found before (FUZZ_BUILD/corpus/NAME). A crash stops the
# run; its input is left at FUZZ_BUILD/crashes/NAME-crash-*.
# Usage: fuzz.sh [SECONDS] [NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_request rest_body state_file kernel_loader)
build=${FUZZ_BUILD:-build-fuzz}
jobs=${JOBS:-2}
parallel=${FUZZ_PARALLEL:-1}
[[ "$parallel" =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_PARALLEL must be 1 or more, not '$parallel'" >&2; exit 2; }

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DBROOD_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p "$build/crashes" "$build/logs"
# One target for $seconds; 1 when it found a crash.
fuzz_one() {
  local t=$1 log="$build/logs/$1.log"
  mkdir -p "$build/corpus/$t"
  printf '== fuzz_%s for %s s (log: %s)\n' "$t" "$seconds" "$log"
  if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" "$build/corpus/$t" "tests/fuzz/corpus/$t" \
      >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz_$t found a crash: the input is in $build/crashes/" >&2
    return 1
  fi
  { echo "fuzz_$t:"; grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log"; } || true
}

# FUZZ_PARALLEL targets at a time (default 1), each on its own core.
failed=0
for ((i = 0; i < ${#targets[@]}; i += parallel)); do
  pids=()
  for t in "${targets[@]:i:parallel}"; do
    fuzz_one "$t" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || exit 1
done
