#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install what is missing, build with warnings as
# errors, run every test (unit, integration, e2e, and the fuzz targets over their seed corpora), then
# build the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer and run them again.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh --tests
scripts/build.sh
(cd build && ctest --output-on-failure -j "$jobs")

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DROTE_WERROR=ON -DROTE_SANITIZE=ON -DROTE_UNIT_ONLY=ON >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -L unit -j "$jobs")
