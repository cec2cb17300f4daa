#!/usr/bin/env bash
# Side-by-side start latency, every peer in one run, on the same busybox
# rootfs and the same workload (issue 1): /bin/true with user, pid, mount,
# net, uts, ipc and cgroup namespaces, pivot_root and its own cgroup.
#
#   vpsos        the library, in-process (the start_latency bench binary)
#   vpsos-cli    the runc-compatible CLI, as a process: `vpsos --root DIR run
#                -b BUNDLE ID` (found as $VPSOS_CLI, else
#                $CARGO_TARGET_DIR/release/vpsos, else target/release/vpsos;
#                "n/a (not built)" when there is none)
#   crun, runc   Debian's, `run -b BUNDLE ID`
#   lxc-execute  LXC as a process, with a config equivalent to the bundle
#   floor        `unshare -U -r -p -m -n -i -u --fork /bin/true`
#   floor-cgroup the same plus a cgroup namespace and a cgroup made, joined
#                and removed in every mounted hierarchy (benches/floor_cgroup.c):
#                the kernel's own cost of what every runtime here does
#
# A second column, "system", adds the container's cgroup mounted at
# /sys/fs/cgroup (a distribution's init needs it; vpsos mounts it by default)
# for vpsos, vpsos-cli, crun and runc.
# Medians of RUNS runs each (hyperfine for the processes). Timings are
# reported, never judged: nothing here fails on a slow number.
# Run as root.
# Usage: benches/peers.sh [RUNS]   (default 200)
# Last line: vpsos/crun=<r> vpsos-cli/crun=<r> vpsos/lxc=<r> vpsos/floor=<r> vpsos/floor-cgroup=<r>
set -euo pipefail
RUNS=${1:-200}
cd "$(dirname "$0")/.."
need=()
for c in crun runc hyperfine jq lxc-execute:lxc cc:gcc; do
  command -v ${c%:*} >/dev/null || need+=(${c#*:})
done
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
WORK=/var/tmp/vpsos-peers
HOSTID=400000
LXCNAME=peers-lxc-$$

# leave the host as it was, whatever happens: the bench cgroups (vpsos's own
# bench removes vpsos-bench itself), LXC's lxcpath, the floor's cgroups
cleanup() {
  local d
  for d in /sys/fs/cgroup/*/peers-bench /sys/fs/cgroup/*/vpsos-floor-*; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"

# the bench binary, wherever cargo puts it (CARGO_TARGET_DIR or target/)
BENCH=$(cargo bench --quiet --bench start_latency --no-run --message-format=json 2>/dev/null \
  | jq -r 'select(.executable != null and .target.name == "start_latency") | .executable' | tail -1)
[ -x "$BENCH" ] || { echo "start_latency bench did not build" >&2; exit 1; }

CLI=${VPSOS_CLI:-}
if [ -z "$CLI" ]; then
  for c in "${CARGO_TARGET_DIR:-target}/release/vpsos" target/release/vpsos; do
    [ -x "$c" ] && { CLI=$(realpath "$c"); break; }
  done
fi

# the same rootfs for everyone (vpsos's bench builds it, owned by HOSTID
# as the id maps below need it)
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

# LXC: the bundle's equivalent as an LXC config. proc, sysfs read-only, a
# tmpfs /dev with the nodes LXC makes (autodev), devpts (pty.max > 0 makes
# LXC mount a new instance), /dev/shm and /dev/mqueue as mount entries, an
# empty netns (loopback only), the same id map, the same seven namespaces,
# its own cgroup under the bench parent, no AppArmor, no seccomp, no console.
# Not replicated: the bundle's masked and read-only /proc paths (a dozen
# bind mounts crun, runc and vpsos make and LXC here does not) and the
# capability drop; both leave LXC with less work, not more.
mkdir -p "$WORK/lxc/$LXCNAME"
cat >"$WORK/lxc/$LXCNAME/config" <<CONF
lxc.uts.name = bench
lxc.rootfs.path = dir:$ROOTFS
lxc.idmap = u 0 $HOSTID 65536
lxc.idmap = g 0 $HOSTID 65536
lxc.namespace.clone = mnt pid uts ipc net user cgroup
lxc.net.0.type = empty
lxc.mount.auto = proc:rw sys:ro
lxc.autodev = 1
lxc.pty.max = 1024
lxc.tty.max = 0
lxc.console.path = none
lxc.mount.entry = shm dev/shm tmpfs nosuid,noexec,nodev,mode=1777,size=65536k,create=dir 0 0
lxc.mount.entry = mqueue dev/mqueue mqueue nosuid,noexec,nodev,create=dir 0 0
lxc.apparmor.profile = unconfined
lxc.cgroup.dir = peers-bench/lxc
CONF
# lxc-execute, not lxc-start -F with lxc.init.cmd = /bin/true: lxc-execute
# is LXC's `run` (start, wait, tear down, exit with the command's status);
# lxc-start -F in 5.0.2 exits 0 even for /bin/false, so nothing would show
# that the container ran. The price is one fork more than crun: pid 1 is
# LXC's built-in init (the same process, no exec) and /bin/true its child.
# The two measured within the noise of each other on this machine.
# PATH without /usr/bin: when shadow's newuidmap is on PATH, LXC insists
# that /etc/subuid grants root the mapped range and runs newuidmap and
# newgidmap for every start; without them LXC writes the maps itself as
# root, as crun, runc and vpsos do.
LXC_PATH=/usr/sbin:/sbin
LXC="$(command -v lxc-execute) -P $WORK/lxc -n $LXCNAME --"

# the cgroup floor's helper
cc -O2 -o "$WORK/floor_cgroup" benches/floor_cgroup.c

# absolute paths: hf also runs under LXC's PATH
JQ=$(command -v jq)
median_ms() { "$JQ" '.results[0].median * 1000' "$1"; }
HF=("$(command -v hyperfine)" -N --style none --warmup 10 --runs "$RUNS")
hf() { # json command   -> median ms, or nothing if a run failed
  "${HF[@]}" --export-json "$1" "$2" >/dev/null 2>"$1.err" && median_ms "$1" || true
}

# crun refuses the hybrid layout: it runs in a private mount namespace
# without the (empty) cgroup2 at /sys/fs/cgroup/unified
run_crun() { # bundle json
  unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; \
    ${HF[*]} --export-json $2 'crun run -b $1 bench-crun'" >/dev/null 2>"$2.err" \
    && median_ms "$2" || true
}
vpsos() { "$BENCH" "$RUNS" "$ROOTFS" "$1" | tail -1 | sed -n 's/.*vpsos_median_ms=\([0-9.]*\).*/\1/p'; }
CRUN_V=$(crun --version | head -1 | awk '{print $3}')
RUNC_V=$(runc --version | head -1 | awk '{print $3}')
LXC_V=$(lxc-execute --version)

# plumbing checks before timing anything: each process peer exits with the
# container's status (0 for /bin/true), and the cgroup floor makes its
# cgroups in every hierarchy and leaves none behind
echo "== checks"
if [ -n "$CLI" ]; then
  rc=0; "$CLI" --root "$WORK/cli-root" run -b "$WORK/bundle" bench-cli </dev/null || rc=$?
  echo "vpsos-cli ($CLI): /bin/true exited $rc"
fi
rc=0; PATH=$LXC_PATH $LXC /bin/true </dev/null || rc=$?
rcf=0; PATH=$LXC_PATH $LXC /bin/false </dev/null || rcf=$?
echo "lxc-execute: /bin/true exited $rc, /bin/false exited $rcf"
floor_cgroups() { local n=0 d; for d in /sys/fs/cgroup/*/vpsos-floor-*; do [ -d "$d" ] && n=$((n + 1)); done; echo $n; }
nh=$(awk '$0 ~ / - cgroup2? / {n++} END {print n+0}' /proc/self/mountinfo)
rc=0; "$WORK/floor_cgroup" -k /bin/true || rc=$?
made=$(floor_cgroups)
for d in /sys/fs/cgroup/*/vpsos-floor-*; do [ -d "$d" ] && rmdir "$d"; done
rc2=0; "$WORK/floor_cgroup" /bin/true || rc2=$?
left=$(floor_cgroups)
echo "floor-cgroup: exited $rc and $rc2, made $made cgroups in $nh hierarchies, left $left"

echo "== bare: vpsos, vpsos-cli, crun $CRUN_V, runc $RUNC_V, lxc-execute $LXC_V"
V=$(vpsos bare)
CL=""; [ -n "$CLI" ] && CL=$(hf "$WORK/cli.json" "$CLI --root $WORK/cli-root run -b $WORK/bundle bench-cli")
C=$(run_crun "$WORK/bundle" "$WORK/crun.json")
R=$(hf "$WORK/runc.json" "runc run -b $WORK/bundle bench-runc")
# hyperfine runs lxc-execute directly, under the PATH described above
L=$(PATH=$LXC_PATH hf "$WORK/lxc.json" "$LXC /bin/true")
echo "== system: vpsos, vpsos-cli, crun, runc"
VS=$(vpsos system)
CLS=""; [ -n "$CLI" ] && CLS=$(hf "$WORK/cli-s.json" "$CLI --root $WORK/cli-root run -b $WORK/bundle-system bench-cli")
CS=$(run_crun "$WORK/bundle-system" "$WORK/crun-s.json")
RS=$(hf "$WORK/runc-s.json" "runc run -b $WORK/bundle-system bench-runc")
echo "== kernel floors"
F=$(hf "$WORK/floor.json" "unshare -U -r -p -m -n -i -u --fork /bin/true")
FC=$(hf "$WORK/floor-cgroup.json" "$WORK/floor_cgroup /bin/true")
left=$(floor_cgroups)
[ "$left" = 0 ] || echo "floor-cgroup left $left cgroups behind (removed now)"
# why a row failed (hyperfine stops at a run's non-zero exit; no json then)
for f in "$WORK"/*.err; do
  [ -s "${f%.err}" ] || { echo "-- $(basename "$f" .err) failed:"; tail -3 "$f"; }
done

ms() { [ -n "$1" ] && printf '%.2f' "$1" || printf 'failed'; }
cli_ms() { if [ -z "$CLI" ]; then printf 'n/a (not built)'; else ms "$1"; fi; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }' || printf 'n/a'; }
printf '\n| runtime | bare (ms) | system (ms) |\n|---|---|---|\n'
printf '| vpsos (library, in-process) | %s | %s |\n' "$(ms "$V")" "$(ms "$VS")"
printf '| vpsos-cli (%s) | %s | %s |\n' "${CLI:-vpsos run}" "$(cli_ms "$CL")" "$(cli_ms "$CLS")"
printf '| crun %s | %s | %s |\n' "$CRUN_V" "$(ms "$C")" "$(ms "$CS")"
printf '| runc %s | %s | %s |\n' "$RUNC_V" "$(ms "$R")" "$(ms "$RS")"
printf '| lxc-execute %s | %s | |\n' "$LXC_V" "$(ms "$L")"
printf '| unshare floor | %s | |\n' "$(ms "$F")"
printf '| floor-cgroup (unshare + a cgroup per hierarchy) | %s | |\n\n' "$(ms "$FC")"
echo "system: vpsos/crun=$(ratio "$VS" "$CS") vpsos-cli/crun=$(ratio "$CLS" "$CS")"
echo "vpsos/crun=$(ratio "$V" "$C") vpsos-cli/crun=$(ratio "$CL" "$C") vpsos/lxc=$(ratio "$V" "$L") vpsos/floor=$(ratio "$V" "$F") vpsos/floor-cgroup=$(ratio "$V" "$FC")"
