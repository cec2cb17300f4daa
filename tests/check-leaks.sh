#!/usr/bin/env bash
# tests/check-leaks.sh [--no-cleanup]
#
# The suite's leak checker: after all tests, nothing the tests made may be
# left on the host. It looks for every kind of object vpsos (or a test
# helper) makes, and only by the names the tests give them, so it never
# flags the host's own objects:
#   state dirs and half-made ones (.new-<id>.*.tmp) under /run/vpsos-test,
#   idmapped rootfs mount points (.rootfs/<id>), cgroups under vpsos-test/ in
#   every mounted hierarchy, processes (in the tests' uid range, rooted in a
#   test tree, or running a test binary of this checkout: id-map holders),
#   monitors of test containers, granted-device node dirs
#   (/dev/.vpsos/<id>.<hash of the state dir>), mounts under the test trees
#   and state root, loop devices backed by test files, links (test bridges
#   and host ends vpt*, vpsos's host ends vps<hash> and ifbs vpi<hash> of
#   test containers by their alias, or without one), AppArmor profiles,
#   policy namespaces, policy files and apparmor_parser's cache of them for
#   test containers, ZFS pools
#   (vpt<tag><pid>, file-backed under /var/tmp) and their files.
# When nothing is left it removes the tests' empty parents and trees,
# unless --no-cleanup (for a check while other suites run).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=/run/vpsos-test              # tests/common STATE_ROOT
TREES=/var/tmp/vpsos-tests         # test rootfs trees, pool mount points, layers
CGPARENT=vpsos-test                # tests/common CGROUP_PARENT
TARGET=${VPSOS_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
AA=/sys/kernel/security/apparmor
AAPOLICY=/var/lib/vpsos/apparmor   # security::apparmor::policy_dir
# a test container's id: <name>-<test pid>-<n> (tests/common::id)
ID='[a-z]+(-[a-z]+)*-[0-9]+-[0-9]+'
cleanup=1; [ "${1:-}" = --no-cleanup ] && cleanup=0
fail=0
say() { echo "leak: $*"; fail=1; }
# FNV-1a 64 of a string, low 32 bits in hex (container/devnodes.rs fnv)
fnv32() {
  local s=$1 h=$((0xcbf29ce484222325)) i c
  for ((i = 0; i < ${#s}; i++)); do
    printf -v c '%d' "'${s:i:1}"
    h=$(( (h ^ c) * 0x100000001b3 ))
  done
  printf '%08x' $(( h & 0xffffffff ))
}
# mount points (octal escapes of mountinfo decoded)
mounts() { awk '{ print $5 }' /proc/self/mountinfo | while read -r m; do printf '%b\n' "$m"; done; }

# --- state dirs, half-made ones, idmapped rootfs mount points
for d in "$STATE"/* "$STATE"/.[!.]*; do
  [ -e "$d" ] || continue
  [ "$d" = "$STATE/.rootfs" ] && continue
  say "state dir $d"
done
for d in "$STATE"/.rootfs/*; do [ -e "$d" ] && say "idmapped rootfs mount point $d"; done

# --- cgroups, in every mounted hierarchy (v1 controllers, named, v2)
hierarchies=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") {
                       if ($(i+1) == "cgroup" || $(i+1) == "cgroup2") print $5; break } }' \
              /proc/self/mountinfo | sort -u)
for h in $hierarchies; do
  for c in "$h/$CGPARENT"/*/; do [ -d "$c" ] && say "cgroup $c"; done
done

# --- processes
what() { echo "($(grep ^State: "$1/status" 2>/dev/null | cut -f2), $(tr '\0' ' ' < "$1/cmdline" 2>/dev/null))"; }
for s in /proc/[0-9]*/status; do
  d=${s%/status}; pid=${d#/proc/}
  # a zombie is not running: the exiting test process's init reaps it
  grep -q '^State:.*Z' "$s" 2>/dev/null && continue
  # test containers map root to host uid 300000 (tests/common HOST_ROOT)
  uid=$(awk '/^Uid:/{print $3}' "$s" 2>/dev/null)
  if [ -n "$uid" ] && [ "$uid" -ge 300000 ] && [ "$uid" -lt 365536 ]; then
    say "process $pid (uid $uid) $(what "$d")"; continue
  fi
  # any container of the tests (the distribution tests map other ids)
  root=$(readlink "$d/root" 2>/dev/null)
  case $root in "$TREES"/*|"$STATE"/*) say "process $pid rooted in $root $(what "$d")"; continue;; esac
  # a test binary of this checkout, or a fork of one (an id-map holder)
  exe=$(readlink "$d/exe" 2>/dev/null)
  case $exe in "$TARGET"/*/deps/*) say "process $pid of test binary ${exe#"$TARGET"/} $(what "$d")";; esac
done
# monitors (the container's, and those of exec'd processes) of test containers
# (by argv[0], set at exec: comm is the memfd's name until the monitor
# renames itself)
for d in /proc/[0-9]*; do
  grep -q '^State:.*Z' "$d/status" 2>/dev/null && continue
  args=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null)
  [[ $args =~ ^vpsos-monitor\ (init|proc)\ $ID\  ]] && say "monitor ${d#/proc/}: $args"
done

# --- host nodes of granted devices (container/devnodes.rs): <id>.<fnv of its state dir>
for d in /dev/.vpsos/*; do
  [ -e "$d" ] || continue
  n=${d##*/}; id=${n%.*}
  [[ $id =~ ^$ID$ ]] && [ "${n##*.}" = "$(fnv32 "$STATE/$id")" ] && say "device nodes $d"
done
# tests/devices.rs's probe of the host's kvm
for d in /dev/.vpsos-probe*; do [ -e "$d" ] && say "device probe dir $d"; done

# --- mounts under the test trees and the state root (idmapped ones included)
while read -r m; do
  case $m in "$TREES"|"$TREES"/*|"$STATE"|"$STATE"/*) say "mount $m";; esac
done < <(mounts)
# loop devices of the filesystem-image tests (tests/idmapped.rs)
for b in /sys/block/loop*/loop/backing_file; do
  [ -e "$b" ] || continue
  f=$(cat "$b" 2>/dev/null)
  case $f in "$TREES"/*|/var/tmp/vpt*) l=${b#/sys/block/}; say "loop device /dev/${l%%/*} on $f";; esac
done

# --- links: test bridges and named host ends (tests/common/net.rs: vptbr…, vpst…);
# host ends (vps<hash>) and ifbs (vpi<hash>) vpsos made for test containers,
# which carry the alias vpsos:<state dir>, or none if a creator died first
for l in /sys/class/net/*; do
  [ -e "$l" ] || continue
  n=${l##*/}
  alias=$(cat "$l/ifalias" 2>/dev/null)
  if [[ $n == vpt* ]]; then say "link $n"
  elif [[ $alias == "vpsos:$STATE/"* ]]; then say "link $n ($alias)"
  elif [[ $n =~ ^vp[si][0-9a-f]{9}$ && -z $alias ]]; then say "link $n (vpsos's name, no owner alias)"
  fi
done

# --- AppArmor: profiles vpsos-<test id> (and tests/apparmor.rs's vpsos-test-*),
# in the root namespace or inside another one, the per-container policy
# namespaces, and the policy files vpsos writes
if [ -r "$AA/profiles" ]; then
  while read -r p; do
    name=${p% (*}
    [[ $name =~ (^|:)vpsos-($ID|test-[a-z0-9-]+)(:|//|$) ]] && say "AppArmor profile $p"
  done < "$AA/profiles"
fi
for d in "$AA"/policy/namespaces/*; do
  [ -d "$d" ] && [[ ${d##*/} =~ ^vpsos-$ID$ ]] && say "AppArmor namespace ${d##*/}"
done
for f in "$AAPOLICY"/vpsos-* "$AAPOLICY"/cache/*/vpsos-*; do
  [ -f "$f" ] && [[ ${f##*/} =~ ^vpsos-($ID|test-[a-z0-9-]+)$ ]] && say "AppArmor policy file $f"
done

# --- ZFS: the tests' file-backed pools (tests/common/zfs.rs): vpt<tag><pid>
if command -v zpool >/dev/null && [ -e /dev/zfs ]; then
  for p in $(zpool list -H -o name 2>/dev/null); do
    [[ $p =~ ^vpt[a-z]+[0-9]+$ ]] || continue
    say "ZFS pool $p: $(zfs list -H -r -o name "$p" 2>/dev/null | tr '\n' ' ')"
  done
fi
for f in /var/tmp/vpt*.img; do
  [ -e "$f" ] && [[ ${f##*/} =~ ^vpt[a-z]+[0-9]+\.img$ ]] && say "ZFS pool file $f"
done

if [ $fail = 0 ]; then
  if [ $cleanup = 1 ]; then
    for h in $hierarchies; do [ -d "$h/$CGPARENT" ] && rmdir "$h/$CGPARENT" 2>/dev/null; done
    # never through a mount, should one have escaped the checks above
    rm -rf --one-file-system "$STATE" "$TREES"
  fi
  echo "leak check: nothing left behind"
fi
exit $fail
