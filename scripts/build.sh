#!/usr/bin/env bash
# Configures and builds rote in build/ (warnings are errors). Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTE_WERROR=ON "$@" >/dev/null
cmake --build build -j "$(nproc)"
