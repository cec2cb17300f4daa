#!/usr/bin/env bash
# Side-by-side start latency: vpsos (in-process, through the library) against
# Debian's crun and runc on the same busybox rootfs, and the kernel floor
# `unshare -U -r -p -m -n -i -u --fork /bin/true`, all in one run.
# Workload (issue 1): /bin/true with user, pid, mount, net, uts, ipc and
# cgroup namespaces, pivot_root and its own cgroup. A second row, "system",
# adds the container's cgroup mounted at /sys/fs/cgroup (a distribution's
# init needs it; vpsos mounts it by default) for vpsos, crun and runc alike.
# Run as root.
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

# the "system" bundle: the same plus the container's cgroupfs
mkdir -p "$WORK/bundle-system"
jq '.mounts += [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["nosuid","noexec","nodev","relatime","ro"]}]' \
  "$WORK/bundle/config.json" >"$WORK/bundle-system/config.json"

median_ms() { jq '.results[0].median * 1000' "$1"; }
HF=(hyperfine -N --style none --warmup 10 --runs "$RUNS")

run_crun() { # bundle json
  unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; \
    ${HF[*]} --export-json $2 'crun run -b $1 bench-crun'" >/dev/null
}
vpsos() { "$BENCH" "$RUNS" "$ROOTFS" "$1" | tail -1 | sed -n 's/.*vpsos_median_ms=\([0-9.]*\).*/\1/p'; }
CRUN_V=$(crun --version | head -1 | awk '{print $3}')
RUNC_V=$(runc --version | head -1 | awk '{print $3}')
# crun refuses the hybrid layout: it runs in a private mount namespace
# without the (empty) cgroup2 at /sys/fs/cgroup/unified
echo "== bare: vpsos, crun $CRUN_V, runc $RUNC_V"
V=$(vpsos bare)
run_crun "$WORK/bundle" "$WORK/crun.json"; C=$(median_ms "$WORK/crun.json")
"${HF[@]}" --export-json "$WORK/runc.json" "runc run -b $WORK/bundle bench-runc" >/dev/null 2>&1 \
  && R=$(median_ms "$WORK/runc.json") || R=""
echo "== system: vpsos, crun, runc"
VS=$(vpsos system)
run_crun "$WORK/bundle-system" "$WORK/crun-s.json"; CS=$(median_ms "$WORK/crun-s.json")
"${HF[@]}" --export-json "$WORK/runc-s.json" "runc run -b $WORK/bundle-system bench-runc" >/dev/null 2>&1 \
  && RS=$(median_ms "$WORK/runc-s.json") || RS=""
echo "== kernel floor"
"${HF[@]}" --export-json "$WORK/floor.json" "unshare -U -r -p -m -n -i -u --fork /bin/true" >/dev/null
F=$(median_ms "$WORK/floor.json")
for d in /sys/fs/cgroup/*/peers-bench; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done

ms() { [ -n "$1" ] && printf '%.2f' "$1" || printf 'failed'; }
printf '\n| runtime | bare (ms) | system (ms) |\n|---|---|---|\n'
printf '| vpsos (library, in-process) | %s | %s |\n' "$(ms "$V")" "$(ms "$VS")"
printf '| crun %s | %s | %s |\n' "$CRUN_V" "$(ms "$C")" "$(ms "$CS")"
printf '| runc %s | %s | %s |\n' "$RUNC_V" "$(ms "$R")" "$(ms "$RS")"
printf '| unshare floor | %s | |\n\n' "$(ms "$F")"
awk -v v="$VS" -v c="$CS" -v f="$F" 'BEGIN { printf "system: vpsos/crun=%.2f vpsos/floor=%.2f\n", v/c, v/f }'
awk -v v="$V" -v c="$C" -v f="$F" 'BEGIN { printf "vpsos/crun=%.2f vpsos/floor=%.2f\n", v/c, v/f }'
