#!/usr/bin/env bash
# The demo, from a fresh Debian 12 machine: install what is missing, build, run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
rote=build/tools/rote/rote
out=rote-demo
mkdir -p "$out"

# `rote demo` (teach a task once, replay it, show the cost) arrives with the replay engine. Until then this
# shows what works today, for real: a sandboxed browser that rote drives over VNC, behind its egress proxy.
cat <<'MSG'
The full rote demo (teach a registry lookup once, replay it for several companies and on changed versions
of the site, then the cost report) arrives with the replay engine. What runs now:

  1. the demo sites (a company registry and a CRM) on 127.0.0.1
  2. a sandbox: Chromium in bubblewrap namespaces with its own Xvnc, no network but rote's egress proxy,
     which lets it reach only the registry
  3. rote drives it over VNC as a person would: click the search field, type a company, press Return
  4. a screenshot of the result, and the proxy's log of what the sandbox asked for

MSG

build/tools/demo-site/rote-demo-site --registry-port 0 --crm-port 0 >"$out/sites.json" &
site_pid=$!
sandbox=""
cleanup() {
  [ -n "$sandbox" ] && "$rote" sandbox stop "$sandbox" >/dev/null 2>&1 || true
  kill "$site_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$out/sites.json" ] && break; sleep 0.1; done
registry_port=$(sed -n 's/.*"registry":"http:\/\/127.0.0.1:\([0-9]*\)".*/\1/p' "$out/sites.json")
echo "demo sites: $(cat "$out/sites.json")"

started=$("$rote" sandbox start --json --url http://registry.example.test/ \
  --route "registry.example.test=127.0.0.1:$registry_port")
field() { printf '%s\n' "$started" | sed -n "s/^ *\"$1\": \"\(.*\)\",\{0,1\}$/\1/p"; }
sandbox=$(field id)
echo "sandbox $sandbox, VNC at $(field vnc)"
sleep 2   # first paint takes about 0.7 s here (docs/benchmarks.md); the rest is margin

# The search field of the registry's baseline page at 1280x800 (the replay engine will find it by itself).
"$rote" sandbox click "$sandbox" 200 278
"$rote" sandbox type "$sandbox" "Northwind"
"$rote" sandbox key "$sandbox" Return
sleep 1
"$rote" sandbox screenshot "$sandbox" "$out/registry-search.png"
proxy_log=$(field proxy_log)
echo
echo "what the sandbox asked the egress proxy for (Chromium's own calls home are refused):"
sed 's/^/  /' "$proxy_log"
echo
echo "Look at $out/registry-search.png: the registry's results for \"Northwind\", as the sandbox's screen showed them."
echo "For a live view of a sandbox: $rote sandbox start ... then $rote sandbox view ID"
