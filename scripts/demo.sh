#!/usr/bin/env bash
# The demo, from a fresh Debian 12 machine: install what is missing, build, run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
rote=build/tools/rote/rote

# `rote demo` arrives with the replay engine. Until then this says so, and shows what works today,
# rather than pretend.
cat <<'MSG'

The rote demo is not here yet. It arrives with the replay engine, and will then run offline with no API
key: start local demo sites (a company registry and a small CRM), teach a registry lookup once, replay it
for three companies, replay it again on changed versions of the site (moved buttons, a cookie banner,
renamed labels), and end with the cost report of those runs.

What works today is rote's store and its command line:

MSG
"$rote" version
echo
"$rote" --help
