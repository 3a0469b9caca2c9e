#!/usr/bin/env bash
# Installs the Debian 12 packages rote needs to build and run, and does nothing when all are present.
# The list grows with the code: a package is here when something in the tree uses it.
# --tests: also what only the test suite uses (real web servers the proxy is checked against). Their
# services are never started or enabled: the tests run each server on loopback with a config of their own.
set -euo pipefail
tests=0
[ "${1:-}" = "--tests" ] && tests=1

packages=(
  # toolchain
  cmake ninja-build g++ pkg-config
  # libraries (style.md 3: Debian packages, found by CMake, never fetched)
  libsqlite3-dev libssl-dev nlohmann-json3-dev libspdlog-dev libcli11-dev doctest-dev libopencv-dev
  libtesseract-dev tesseract-ocr-eng libvncserver-dev libcpp-httplib-dev libboost-dev libpng-dev libcurl4-openssl-dev libyaml-cpp-dev libcsv-dev libidn2-dev libxml2-dev zlib1g-dev
  # time zones for schedules: Howard Hinnant's date library over the system's tzdata
  libhowardhinnant-date-dev tzdata
  # the local sandbox: its desktop, browser and plumbing (setpriv comes with util-linux)
  tigervnc-standalone-server bubblewrap chromium matchbox-window-manager socat fonts-dejavu-core util-linux procps
  # the qemu sandbox: the VM, its disks, and building its guest image (debootstrap, mke2fs -d)
  qemu-system-x86 qemu-utils debootstrap e2fsprogs
  # the live view for people (rote sandbox view)
  novnc websockify
)
test_packages=(
  # the egress proxy's conformance test: real servers, each framing answers its own way; curl as a client
  nginx-light apache2 lighttpd php-cli python3 curl
  # the real-app suite (tests/realapps): applications nobody here wrote, each run from a copy of its own on
  # loopback. DokuWiki (PHP, under PHP's built-in server); Redmine with SQLite, under WEBrick.
  dokuwiki redmine redmine-sqlite ruby-webrick
  # the scheduler's next-fire times, cross-checked against systemd's calendar (systemd-analyze calendar); its
  # alerts' signatures checked by the openssl command
  systemd openssl
)
[ "$tests" -eq 1 ] && packages+=("${test_packages[@]}")

# The client tests' packages (tests/clients): the official MCP SDK's clients, the MCP Inspector and an OpenAPI
# validator, at the versions its lockfile pins, from the npm registry; installed again only when the lockfile
# changed. They need Node.js 20 or later.
client_packages() {
  [ "$tests" -eq 1 ] || return 0
  if ! command -v npm >/dev/null; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y -q --no-install-recommends nodejs npm
  fi
  local clients
  clients="$(cd "$(dirname "$0")/../tests/clients" && pwd)"
  if [ ! -f "$clients/node_modules/.package-lock.json" ] || [ "$clients/package-lock.json" -nt "$clients/node_modules/.package-lock.json" ]; then
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  client_packages
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# No service a package brings may start (a web server would listen on every address): policy-rc.d says no
# to every start while apt runs, and the test servers' units are disabled after.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  own_policy=1
fi
status=0
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
[ "$own_policy" -eq 1 ] && $sudo rm -f "$policy"
[ "$status" -eq 0 ] || exit "$status"
if [ "$tests" -eq 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now nginx apache2 lighttpd >/dev/null 2>&1 || true
fi
client_packages
