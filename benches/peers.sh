#!/usr/bin/env bash
# Side-by-side start latency: vpsos (in-process, through the library) against
# Debian's crun and runc on the same busybox rootfs, and the kernel floor
# `unshare -U -r -p -m -n -i -u --fork /bin/true`, all in one run.
# Workload: /bin/true with user, pid, mount, net, uts, ipc and cgroup
# namespaces, pivot_root and its own cgroup. Run as root.
# Usage: benches/peers.sh [RUNS]   (default 200)
# Last line: vpsos/crun=<ratio> vpsos/floor=<ratio>
set -euo pipefail
RUNS=${1:-200}
cd "$(dirname "$0")/.."
need=()
for c in crun runc hyperfine jq; do command -v $c >/dev/null || need+=($c); done
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
WORK=/var/tmp/vpsos-peers
HOSTID=400000
rm -rf "$WORK"; mkdir -p "$WORK"
cargo bench --quiet --bench start_latency --no-run 2>/dev/null
BENCH=$(ls -t target/release/deps/start_latency-* | grep -v '\.d$' | head -1)

# the same rootfs for everyone (vpsos's bench builds it)
"$BENCH" 1 >/dev/null
ROOTFS=/var/tmp/vpsos-bench/rootfs
mkdir -p "$WORK/bundle"
cat >"$WORK/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/"},
  "root": {"path": "$ROOTFS", "readonly": false},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid","noexec","nodev","mode=1777","size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid","noexec","nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev","ro"]}
  ],
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": $HOSTID, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": $HOSTID, "size": 65536}],
    "cgroupsPath": "/peers-bench/ct",
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}, {"type": "user"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"]
  }
}
JSON

median_ms() { jq '.results[0].median * 1000' "$1"; }
HF=(hyperfine -N --style none --warmup 10 --runs "$RUNS")

echo "== vpsos (in-process)"
V=$("$BENCH" "$RUNS" "$ROOTFS" | tail -1 | sed -n 's/.*vpsos_median_ms=\([0-9.]*\).*/\1/p')
echo "== crun $(crun --version | head -1 | awk '{print $3}') (private mount namespace without the cgroup2 at /sys/fs/cgroup/unified)"
# crun refuses the hybrid layout; hide the empty cgroup2 from it
unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; \
  ${HF[*]} --export-json $WORK/crun.json 'crun run -b $WORK/bundle bench-crun'" >/dev/null
C=$(median_ms "$WORK/crun.json")
echo "== runc $(runc --version | head -1 | awk '{print $3}')"
"${HF[@]}" --export-json "$WORK/runc.json" "runc run -b $WORK/bundle bench-runc" >/dev/null 2>&1 \
  && R=$(median_ms "$WORK/runc.json") || R=""
echo "== kernel floor"
"${HF[@]}" --export-json "$WORK/floor.json" "unshare -U -r -p -m -n -i -u --fork /bin/true" >/dev/null
F=$(median_ms "$WORK/floor.json")
for d in /sys/fs/cgroup/*/peers-bench; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done

printf '\n| runtime | median start→exit (ms) |\n|---|---|\n'
printf '| vpsos (library, in-process) | %.2f |\n' "$V"
printf '| crun | %.2f |\n' "$C"
[ -n "$R" ] && printf '| runc | %.2f |\n' "$R" || echo "| runc | failed on this host |"
printf '| unshare floor | %.2f |\n\n' "$F"
awk -v v="$V" -v c="$C" -v f="$F" 'BEGIN { printf "vpsos/crun=%.2f vpsos/floor=%.2f\n", v/c, v/f }'
