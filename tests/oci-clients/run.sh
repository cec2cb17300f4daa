#!/usr/bin/env bash
# Drives an OCI runtime with real clients: podman (through conmon) and
# containerd (through containerd-shim-runc-v2). Proven against runc and crun.
#
#   tests/oci-clients/run.sh [--runtime PATH] [--suite podman|containerd]... [--no-unified]
#
# The runtime defaults to the vpsos CLI: $VPSOS_CLI, else
# <cargo target dir>/debug/vpsos (built with `cargo build -p vpsos-cli` when
# missing). Needs root. Installs what it lacks (podman, containerd, uidmap,
# busybox-static, jq, python3) with scripts/install-deps.sh --oci-clients
# (no daemon started). Everything lives in a private directory: podman
# gets its own root/runroot/tmpdir/config (vfs, cgroupfs, events in a
# file, --network none, no registry); containerd is started by
# the suite with its own root/state/socket and no CRI, killed by pid at the
# end. No network interface, route or firewall rule is touched.
#
# --no-unified hides a hybrid host's cgroup2 mount (for crun, see below).
# OCI_TESTS="name ..." runs only those tests; OCI_TRACE=FILE logs every
# runtime call (argv, env) to FILE.
#
# Prints "test oci::SUITE::NAME ... ok|FAILED|skipped (why)" per test
# ("SKIPPED oci::SUITE::NAME: why" too, for scripts/test.sh), then
# "test oci::nothing_left_on_the_host" (runtime state, the clients' cgroups,
# processes in our trees, shim sockets), and ends with a libtest-style
# "test result:" line, in which skipped tests count as passed (as
# tests/c/run.sh does; scripts/test.sh subtracts the SKIPPED lines). A
# runtime that cannot be built or run is a failure, not a skip.
# RUNTIME-CONTRACT.md says what the clients expect of the runtime.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
runtime="" suites=() no_unified=0 args=("$@")
while [ $# -gt 0 ]; do case $1 in
  --runtime) runtime=$2; shift 2 ;;
  --runtime=*) runtime=${1#*=}; shift ;;
  --suite) suites+=("$2"); shift 2 ;;
  --no-unified) no_unified=1; shift ;;
  *) echo "usage: $0 [--runtime PATH] [--suite podman|containerd]... [--no-unified]" >&2; exit 2 ;;
esac; done
[ ${#suites[@]} -gt 0 ] || suites=(podman containerd)
[ "$(id -u)" = 0 ] || { echo "$0: must run as root" >&2; exit 2; }
# --no-unified: run in a private mount namespace without the cgroup2 mount
# of a hybrid host (/sys/fs/cgroup/unified). crun 1.8 refuses hybrid mode
# when a controller (here: hugetlb) is enabled in cgroup2; the host's own
# mounts and cgroups stay as they are.
if [ $no_unified = 1 ] && [ -z "${OCI_CLIENTS_MNTNS:-}" ]; then
  exec env OCI_CLIENTS_MNTNS=1 unshare -m --propagation private \
    bash -c 'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec bash "$0" "$@"' \
    "$0" "${args[@]}"
fi
start=$SECONDS

# the clients, installed without starting any daemon where they are
# missing (the test VM's image has them)
for p in podman conmon containerd runc uidmap busybox-static jq python3 util-linux; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  bash "$ROOT/scripts/install-deps.sh" --oci-clients || exit 1
  break
done

# the runtime under test
no_runtime=""
if [ -z "$runtime" ]; then
  if [ -n "${VPSOS_CLI:-}" ]; then runtime=$VPSOS_CLI
  else
    target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null | jq -r .target_directory)
    runtime=${target:-$ROOT/target}/debug/vpsos
    if [ ! -x "$runtime" ]; then
      if (cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
            | jq -e '.packages[] | select(.name == "vpsos-cli")' >/dev/null); then
        (cd "$ROOT" && cargo build -q -p vpsos-cli) || no_runtime="cargo build -p vpsos-cli failed"
      else
        no_runtime="no vpsos CLI: crate vpsos-cli is not in this tree"
      fi
    fi
  fi
fi
if [ -z "$no_runtime" ]; then
  case $runtime in /*) ;; *) runtime=$(command -v "$runtime" || echo "$PWD/$runtime") ;; esac
  [ -x "$runtime" ] || no_runtime="runtime $runtime is not executable"
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/vpsos-oci.XXXXXX")
chmod 755 "$WORK"
export RUNTIME=$runtime WORK HERE ROOT
cleanup() {
  # nothing may stay mounted under WORK; never cross into another fs
  findmnt -rn -o TARGET | grep "^$WORK/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "oci-clients: runtime $runtime${no_runtime:+ ($no_runtime)}"
[ -n "$no_runtime" ] || "$runtime" --version 2>&1 | head -1 | sed 's/^/oci-clients: /'

# OCI_TRACE=FILE: the clients call a wrapper of the same basename that
# appends each command line (and the environment) to FILE, then execs the
# runtime
if [ -n "${OCI_TRACE:-}" ] && [ -z "$no_runtime" ]; then
  mkdir "$WORK/trace"
  {
    echo '#!/bin/sh'
    echo "{ printf 'argv:'; for a in \"\$@\"; do printf ' %s' \"\$a\"; done"
    echo "  printf '\\n  env: %s\\n' \"\$(/usr/bin/env | /usr/bin/sort | /usr/bin/tr '\\n' ' ')\"; } >> '$OCI_TRACE'"
    echo "exec '$runtime' \"\$@\""
  } > "$WORK/trace/$(basename "$runtime")"
  chmod 755 "$WORK/trace" "$WORK/trace/$(basename "$runtime")"
  runtime=$WORK/trace/$(basename "$runtime"); RUNTIME=$runtime
fi

# a busybox rootfs, owned by root, and the same as an image tar
export ROOTFS=$WORK/rootfs
mkdir "$ROOTFS" && bash "$ROOT/tests/busybox-rootfs.sh" "$ROOTFS" 0
tar -C "$ROOTFS" -cf "$WORK/rootfs.tar" .

# what may be left afterwards: the CLI's default state root (podman runs
# it without --root), the clients' cgroups (checked after their suites
# removed what they made), processes rooted in a tree of ours
cli_states() { ls -A /run/vpsos 2>/dev/null | sort; }
states_before=$(cli_states)
client_cgroups() {
  local m
  for m in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
    ls -d "$m"/vpsos-oci-* 2>/dev/null
    [ -d "$m/libpod_parent" ] && find "$m/libpod_parent" -mindepth 1 -type d
  done | sort
}
cgroups_before=$(client_cgroups)
shim_sockets() { ls -A /run/containerd/s 2>/dev/null | sort; }
sockets_before=$(shim_sockets)
leaks() {
  local d root new
  new=$(comm -13 <(echo "$states_before") <(cli_states))
  [ -z "$new" ] || echo "runtime state in /run/vpsos: $(echo $new)"
  new=$(comm -13 <(echo "$cgroups_before") <(client_cgroups))
  [ -z "$new" ] || echo "cgroups: $(echo $new)"
  for d in /proc/[0-9]*; do
    root=$(readlink "$d/root" 2>/dev/null) || continue
    case $root in "$WORK"/*|/run/vpsos-ctd-test.*) echo "process ${d#/proc/} rooted in $root";; esac
  done
  new=$(comm -13 <(echo "$sockets_before") <(shim_sockets))
  [ -z "$new" ] || echo "shim sockets in /run/containerd/s: $(echo $new)"
}

passed=0 failed=0 skipped=0
[ -z "$no_runtime" ] || { echo "test oci::runtime ... FAILED ($no_runtime)"; failed=1; }
for s in "${suites[@]}"; do
  echo "=== oci-clients: $s"
  [ -z "$no_runtime" ] || continue
  SUITE=$s bash "$HERE/$s.sh"
  rc=$?
  c=$WORK/counts.$s
  p=$(grep -c '^pass$' "$c" 2>/dev/null); f=$(grep -c '^fail$' "$c" 2>/dev/null); k=$(grep -c '^skip$' "$c" 2>/dev/null)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${k:-0}))
  if [ $rc != 0 ] && [ "${f:-0}" = 0 ]; then
    echo "test oci::$s::suite ... FAILED (the suite exited $rc)"; failed=$((failed + 1))
  fi
done

if [ -z "$no_runtime" ]; then
  left=$(leaks)
  if [ -z "$left" ]; then echo "test oci::nothing_left_on_the_host ... ok"; passed=$((passed + 1))
  else echo "test oci::nothing_left_on_the_host ... FAILED"; echo "$left" | sed 's/^/    | /'
    failed=$((failed + 1)); fi
fi

r=ok; [ $failed = 0 ] || r=FAILED
echo "oci-clients: $passed passed, $failed failed, $skipped skipped ($runtime)"
echo "test result: $r. $((passed + skipped)) passed; $failed failed; 0 ignored; 0 measured; 0 filtered out; finished in $((SECONDS - start))s"
[ $failed = 0 ]
