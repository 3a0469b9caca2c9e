#!/usr/bin/env bash
# Runs one of the README's two commands as a new user's fresh Debian 12 machine would: debootstrap
# (minbase, the least any Debian 12 has) into DIR, this repository's HEAD cloned into DIR/root/rote, and
# `scripts/test.sh` (or `demo.sh`) run there as root, with an empty environment, in a mount namespace whose
# root is DIR. pivot_root, not chroot: the kernel refuses user namespaces to a chrooted process, and a real
# machine or container is not chrooted.
#
# usage: scripts/fresh-root.sh [--dir DIR] [--reuse] test|demo
#   --dir DIR   where the root is made (default /var/tmp/rote-fresh-root; removed and made again)
#   --reuse     keep a root made before (its packages too): only the clone is new
# Needs root, debootstrap and git on the host. The root's apt sources and settings are the host's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=/var/tmp/rote-fresh-root
reuse=0
command=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --reuse) reuse=1; shift ;;
    test|demo) command=$1; shift ;;
    *) echo "usage: scripts/fresh-root.sh [--dir DIR] [--reuse] test|demo" >&2; exit 2 ;;
  esac
done
[ -n "$command" ] || { echo "usage: scripts/fresh-root.sh [--dir DIR] [--reuse] test|demo" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "fresh-root: needs root (debootstrap, mounts)" >&2; exit 1; }
for tool in debootstrap git unshare pivot_root; do
  command -v "$tool" >/dev/null || { echo "fresh-root: needs $tool on the host" >&2; exit 1; }
done

mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
if [ "$reuse" -eq 0 ] || [ ! -e "$dir/.debootstrapped" ]; then
  rm -rf --one-file-system "$dir"
  echo "fresh-root: debootstrap bookworm (minbase) from $mirror into $dir"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 \
    || { tail -n 20 "$dir.debootstrap.log" >&2; exit 1; }
  # The host's sources and apt settings (a snapshot mirror needs its validity checks off).
  rm -f "$dir/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/*.sources "$dir/etc/apt/sources.list.d/" 2>/dev/null || cp /etc/apt/sources.list "$dir/etc/apt/"
  cp /etc/apt/apt.conf.d/99* "$dir/etc/apt/apt.conf.d/" 2>/dev/null || true
  # What the installer writes and debootstrap does not: without /etc/hosts, "localhost" resolves nowhere.
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tfresh-root\n' >"$dir/etc/hosts"
  echo fresh-root >"$dir/etc/hostname"
  touch "$dir/.debootstrapped"
fi
cp /etc/resolv.conf "$dir/etc/resolv.conf"
rm -rf "$dir/root/rote"
git clone --quiet "$here" "$dir/root/rote"
echo "fresh-root: running scripts/$command.sh in $dir at $(git -C "$dir/root/rote" rev-parse --short HEAD)"

exec unshare --mount --propagation private -- /bin/bash -c '
  set -euo pipefail
  root=$1 command=$2
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
  cd "$root"
  mkdir -p .host
  pivot_root . .host
  umount -l /.host
  rmdir /.host
  exec /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI="${CI:-}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /root/rote && exec ./scripts/$command.sh"
' fresh-root "$dir" "$command"
