#!/usr/bin/env bash
# Installs the Debian 12 packages rote needs to build and run, and does nothing when all are present.
# The list grows with the code: a package is here when something in the tree uses it.
set -euo pipefail

packages=(
  # toolchain
  cmake ninja-build g++ pkg-config
  # libraries (style.md 3: Debian packages, found by CMake, never fetched)
  libsqlite3-dev libssl-dev nlohmann-json3-dev libspdlog-dev libcli11-dev doctest-dev libopencv-dev
  libtesseract-dev tesseract-ocr-eng libvncserver-dev libcpp-httplib-dev libboost-dev libpng-dev libcurl4-openssl-dev libyaml-cpp-dev libcsv-dev
  # the local sandbox: its desktop, browser and plumbing (setpriv comes with util-linux)
  tigervnc-standalone-server bubblewrap chromium matchbox-window-manager socat fonts-dejavu-core util-linux
  # the qemu sandbox: the VM, its disks, and building its guest image (debootstrap, mke2fs -d)
  qemu-system-x86 qemu-utils debootstrap e2fsprogs
  # the live view for people (rote sandbox view)
  novnc websockify
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
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
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
