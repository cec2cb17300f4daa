#!/usr/bin/env bash
# A busybox rootfs for the C, Ruby and Python tests (the Rust tests build
# the same with vpsos::busybox::build_rootfs): Debian's static busybox,
# a symlink per applet, passwd and group, owned by OWNER (uid = gid).
# DIR must exist; the caller removes it.
#   tests/busybox-rootfs.sh DIR [OWNER]     (OWNER default 300000)
set -euo pipefail
root=$1 owner=${2:-300000}
chmod 755 "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run}
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
while read -r applet; do
  [ -n "$applet" ] || continue
  target="$root/${applet#/}"
  { [ -e "$target" ] || [ -L "$target" ]; } && continue
  mkdir -p "$(dirname "$target")"
  ln -s /bin/busybox "$target"
done < <(/bin/busybox --list-full)
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
chown -hR "$owner:$owner" "$root"
