#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install what is missing, build with warnings as
# errors, run every test (unit, integration, e2e, and the fuzz targets over their seed corpora), and the unit
# tests again built with AddressSanitizer + UndefinedBehaviorSanitizer. Each phase says how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
started=$SECONDS
phase() { echo "== test.sh: $1 ($((SECONDS - started)) s in)"; }

scripts/setup.sh --tests
phase "set up"
scripts/build.sh
phase "built"

# The sanitizer build runs beside the suite in the idle scheduling class (SCHED_IDLE): the kernel gives it
# only the CPU time the suite leaves unused (its e2e tests mostly wait: on pages, on the minute, on VMs), and
# any task of the suite that wakes preempts it at once. Its output is kept in a log, shown if it fails.
asan_log=$(mktemp /tmp/rote-asan-build.XXXXXX)
chrt --idle 0 setsid bash -c "
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DROTE_WERROR=ON -DROTE_SANITIZE=ON -DROTE_UNIT_ONLY=ON >/dev/null &&
  cmake --build build-asan -j $jobs" >"$asan_log" 2>&1 &
asan_build=$!
trap 'kill -- -$asan_build 2>/dev/null || true' EXIT # its whole process group

(cd build && ctest --output-on-failure -j "$jobs")
phase "suite passed"

if ! wait $asan_build; then
  tail -n 200 "$asan_log"
  echo "test.sh: the sanitizer build failed (above)" >&2
  exit 1
fi
trap - EXIT
rm -f "$asan_log"
phase "sanitizer build done"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -L unit -j "$jobs")
phase "sanitizer unit tests passed"
