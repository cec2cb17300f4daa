#!/usr/bin/env bash
# tests/images/build-debian.sh [INIT...]   (INIT: systemd sysvinit openrc runit; default all)
#
# Debian 12 (bookworm) trees for the distribution tests, the README's main
# job and the boot benchmark: one debootstrap (minbase) shared by all, then
# one tree per init with its packages, stock configuration otherwise.
# Cached under $VPSOS_IMAGE_CACHE (default /var/cache/vpsos-images) as
# debian12-<init>/ and debian12-<init>.tar (the same tree in one file, for
# the test VM, which reads the cache over 9p) with a stamp of this script;
# a tree whose stamp matches is kept, so a second run takes no time. Trees
# are owned by host root: containers see them through an idmapped mount
# (or a chown_shift copy).
# Run as root.
set -euo pipefail
CACHE=${VPSOS_IMAGE_CACHE:-/var/cache/vpsos-images}
SUITE=bookworm
HERE=$(cd "$(dirname "$0")" && pwd)
inits=("$@")
[ ${#inits[@]} -gt 0 ] || inits=(systemd sysvinit openrc runit)

log() { echo "[build-debian $(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
# the mirror the host already uses (its apt sources): no address hard-coded
host_uri() { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | sed -n -E "s/^URIs: *//p; s/^deb (\[[^]]*\] )?//p" | sed "s/ .*//" | grep -E "$1" | head -n1 || true; }
MIRROR=${DEBIAN_MIRROR:-$(host_uri "/debian/?$")}
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian

STAMP=$(sha256sum "$HERE/build-debian.sh" | cut -c1-16)
packages() {
  local common="iproute2 procps mount ifupdown"
  case $1 in
    systemd)  echo "$common systemd systemd-sysv dbus" ;;
    sysvinit) echo "$common sysvinit-core sysv-rc initscripts" ;;
    openrc)   echo "$common sysvinit-core openrc" ;;
    runit)    echo "$common runit runit-init" ;;
    *) die "unknown init $1 (systemd, sysvinit, openrc, runit)" ;;
  esac
}

todo=()
for i in "${inits[@]}"; do
  packages "$i" >/dev/null
  [ "$(cat "$CACHE/debian12-$i.stamp" 2>/dev/null)" = "$STAMP" ] && chroot "$CACHE/debian12-$i" test -x /sbin/init 2>/dev/null || todo+=("$i")
done
[ ${#todo[@]} -gt 0 ] || { log "cached: ${inits[*]} in $CACHE"; exit 0; }

command -v debootstrap >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/.work.XXXXXX")
mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

BASE=$WORK/base
t0=$(date +%s)
log "debootstrap $SUITE (minbase) from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$BASE" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
echo "deb $MIRROR $SUITE main" >"$BASE/etc/apt/sources.list"

for i in "${todo[@]}"; do
  T=$WORK/debian12-$i
  log "debian12-$i: $(packages "$i")"
  cp -a "$BASE" "$T"
  # no daemon may start while packages install
  printf '#!/bin/sh\nexit 101\n' >"$T/usr/sbin/policy-rc.d"; chmod 755 "$T/usr/sbin/policy-rc.d"
  mount -t proc proc "$T/proc"; mounted+=("$T/proc")
  # shellcheck disable=SC2046
  chroot "$T" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(packages "$i") >"$WORK/$i.log" 2>&1 || { tail -20 "$WORK/$i.log" >&2; die "installing $i"; }
  chroot "$T" apt-get clean
  umount "$T/proc"
  rm -f "$T/usr/sbin/policy-rc.d"
  rm -rf "$T"/var/lib/apt/lists/* "$T"/var/cache/apt/*.bin
  echo "vpsos-$i" >"$T/etc/hostname"
  # a loopback the container's ifupdown can bring up; the rest is the host's to give
  printf 'auto lo\niface lo inet loopback\n' >"$T/etc/network/interfaces"
  chroot "$T" test -x /sbin/init || die "debian12-$i has no /sbin/init"
  tar --xattrs --xattrs-include='*' --acls --numeric-owner -C "$T" -cf "$WORK/debian12-$i.tar" .
  rm -rf "${CACHE:?}/debian12-$i"
  mv "$T" "$CACHE/debian12-$i"
  mv "$WORK/debian12-$i.tar" "$CACHE/debian12-$i.tar"
  echo "$STAMP" >"$CACHE/debian12-$i.stamp"
  log "debian12-$i: $(du -sm "$CACHE/debian12-$i" | cut -f1) MiB"
done
log "done in $(( $(date +%s) - t0 )) s"
