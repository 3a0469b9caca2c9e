#!/usr/bin/env bash
# Configures and builds rote in build/ (warnings are errors). Extra arguments go to cmake's configure step;
# ROTE_BUILD_TARGETS (space-separated) builds only those targets, e.g. ROTE_BUILD_TARGETS=rote.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTE_WERROR=ON "$@" >/dev/null
targets=()
for t in ${ROTE_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build build -j "$(nproc)" "${targets[@]}"
