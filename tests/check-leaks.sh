#!/usr/bin/env bash
# The suite's leak checker: after all tests, nothing the tests made may be
# left on the host: state dirs, cgroups, processes in the tests' id range,
# device-node dirs, mounts of the test rootfs. Removes the (empty) test parents afterwards.
set -u
fail=0
say() { echo "leak: $*"; fail=1; }
for d in /run/vpsos-test/*; do [ -e "$d" ] && say "state dir $d"; done
# idmapped rootfs mounts live beside the state dirs, in .rootfs/
for d in /run/vpsos-test/.rootfs/*; do [ -e "$d" ] && say "idmapped rootfs mount point $d"; done
for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
  p=$h/vpsos-test
  [ -d "$p" ] || continue
  for c in "$p"/*/; do [ -d "$c" ] && say "cgroup $c"; done
done
# test containers map root to host uid 300000 (tests/common)
for s in /proc/[0-9]*/status; do
  # a zombie is not running: the exiting test process's init reaps it
  grep -q '^State:.*Z' "$s" 2>/dev/null && continue
  uid=$(awk '/^Uid:/{print $3}' "$s" 2>/dev/null)
  [ -n "$uid" ] && [ "$uid" -ge 300000 ] && [ "$uid" -lt 365536 ] && say "process ${s#/proc/} (uid $uid, $(grep ^State: "$s" | cut -f2), $(tr '\0' ' ' < "${s%/status}/cmdline"))"
done
# monitors (the container's, and those of exec'd processes) of test containers
for c in /proc/[0-9]*/comm; do
  [ "$(cat "$c" 2>/dev/null)" = vpsos-monitor ] || continue
  d=${c%/comm}
  grep -q '^State:.*Z' "$d/status" 2>/dev/null && continue
  args=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null)
  [[ $args =~ ^vpsos-monitor\ (init|proc)\ [a-z]+(-[a-z]+)*-[0-9]+-[0-9]+\  ]] && say "monitor ${d#/proc/}: $args"
done
# host nodes of granted devices (container/devnodes.rs), named <test id>.<hash>
for d in /dev/.vpsos/*; do
  [ -e "$d" ] && [[ $(basename "$d") =~ ^[a-z]+-[0-9]+-[0-9]+\.[0-9a-f]{8}$ ]] && say "device nodes $d"
done
grep -q vpsos-tests /proc/self/mountinfo && say "mounts of /var/tmp/vpsos-tests"
awk '$5 ~ "^/run/vpsos-test/" { print $5 }' /proc/self/mountinfo | while read -r m; do echo "leak: mount $m"; done | grep . && fail=1
# test bridges (vptbr…) and host ends of test interfaces (vpst…)
for l in /sys/class/net/vpt*; do [ -e "$l" ] && say "link ${l##*/}"; done
if [ $fail = 0 ]; then
  for h in /sys/fs/cgroup /sys/fs/cgroup/*; do [ -d "$h/vpsos-test" ] && rmdir "$h/vpsos-test" 2>/dev/null; done
  # never through a mount, should one have escaped the checks above
  rm -rf --one-file-system /run/vpsos-test /var/tmp/vpsos-tests
  echo "leak check: nothing left behind"
fi
exit $fail
