#!/usr/bin/env bash
# Renders the vision test corpus: every page in pages/ under every variant, as Chromium shows it at
# 1280x800, into data/PAGE.VARIANT.png, and where the target ended up into data/expected.jsonl (one JSON
# object a line: page, variant, file, expect = found | ambiguous | not_found, target centre and size).
# The ground truth comes from the same Chromium run as the screenshot (the page logs it).
# Needs Debian's chromium; the tests read only the committed output, so they do not need it.
set -euo pipefail
cd "$(dirname "$0")"
command -v chromium >/dev/null || { echo "make-corpus: needs chromium (apt-get install chromium)" >&2; exit 1; }

variants=(baseline shift-5 shift-20 shift-45 shift-80 zoom-90 zoom-110 zoom-125 dark recolor altfont banner lookalike removed)
mkdir -p data
rm -f data/*.png data/expected.jsonl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

render() { # page variant
  local name; name=$(basename "$1" .html)
  local log="$work/$name.$2.log"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --force-device-scale-factor=1 --user-data-dir="$work/profile-$name-$2" \
    --enable-logging=stderr --v=0 --window-size=1280,800 --screenshot="data/$name.$2.png" \
    "file://$PWD/$1#$2" >"$log" 2>&1
  local json
  json=$(sed -n 's/.*"ROTE_EXPECT \(.*\)", source:.*/\1/p' "$log" | head -n 1)
  [ -n "$json" ] || { echo "make-corpus: no ROTE_EXPECT line for $name#$2" >&2; cat "$log" >&2; exit 1; }
  echo "{\"page\": \"$name\", \"file\": \"$name.$2.png\", \"truth\": $json}" >"$work/$name.$2.json"
}

n=0
for page in pages/*.html; do
  for v in "${variants[@]}"; do
    render "$page" "$v" &
    n=$((n + 1))
    if [ $((n % 2)) -eq 0 ]; then wait; fi
  done
done
wait
cat "$work"/*.json >data/expected.jsonl
echo "make-corpus: $(wc -l <data/expected.jsonl) screenshots in $PWD/data"
