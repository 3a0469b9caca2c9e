#!/usr/bin/env bash
# The demo, from a fresh Debian 12 machine: install what is missing, build, run `rote demo`.
# Offline and without an API key: the demo sites run on 127.0.0.1 and the step hints stand in for a model.
# Extra arguments go to `rote demo` (e.g. --planner llm with ANTHROPIC_API_KEY set, or -v for every step).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The demo needs the `rote` executable alone (it serves the demo sites in-process): build just that target,
# not the tests and benchmarks.
ROTE_BUILD_TARGETS=rote scripts/build.sh
exec build/tools/rote/rote demo "$@"
