#!/usr/bin/env bash
# containerd (1.6, ctr + containerd-shim-runc-v2) against $RUNTIME; run by
# run.sh. Starts its own containerd (private root, state, socket; no CRI,
# native snapshotter) and kills it by pid at the end.
set -uo pipefail
. "$HERE/lib.sh"

C=/run/vpsos-ctd-test.$$          # state and sockets (short paths)
CR=$WORK/containerd                # root: content, snapshots, metadata
NS=vpsos-oci-$$                    # containerd namespace = cgroup parent /NS
mkdir -p "$C" "$CR"
had_run_containerd=0; [ -e /run/containerd ] && had_run_containerd=1
SOCK=$C/containerd.sock
cat > "$C/config.toml" <<EOF
version = 2
root = "$CR/root"
state = "$C/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
export CONTAINERD_SNAPSHOTTER=native CONTAINERD_NAMESPACE=$NS
RUNC_ROOT=$C/runc
cr() { timeout 90 ctr --address "$SOCK" --namespace "$NS" "$@"; }
# ctr run with the runtime under test
RUN=(--runc-binary "$RUNTIME" --runc-root "$RUNC_ROOT" --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --fifo-dir "$C/fifo")
CTR=(ctr --address "$SOCK" --namespace "$NS")

containerd --config "$C/config.toml" >"$WORK/logs/containerd-daemon.log" 2>&1 &
CTD_PID=$!
suite_cleanup() {
  local id
  for id in $(cr task ls -q 2>/dev/null); do
    cr task kill -a -s SIGKILL "$id" >/dev/null 2>&1; sleep 0.2
    cr task delete -f "$id" >/dev/null 2>&1
  done
  for id in $(cr container ls -q 2>/dev/null); do cr container delete "$id" >/dev/null 2>&1; done
  for id in $(cr image ls -q 2>/dev/null); do cr image rm "$id" >/dev/null 2>&1; done
  cr namespace rm "$NS" >/dev/null 2>&1
  kill "$CTD_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$CTD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$CTD_PID" 2>/dev/null; wait "$CTD_PID" 2>/dev/null
  # shims of this containerd that outlived it (by pid, matched by our socket)
  for p in $(pgrep -f "containerd-shim-runc-v2 -namespace $NS "); do kill -9 "$p" 2>/dev/null; done
  findmnt -rn -o TARGET | grep "^$C/" | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$C"
  for m in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
    [ -d "$m/$NS" ] && find "$m/$NS" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  # the shims' sockets live in /run/containerd/s (fixed in 1.6)
  # the shims' sockets (/run/containerd/s), ctr's fifos and the shim's
  # runc root at cleanup live under /run/containerd in 1.6, whatever the config
  if [ $had_run_containerd = 0 ] && [ -d /run/containerd ]; then
    find /run/containerd -depth -type d -empty -delete
  else
    rmdir "/run/containerd/runc/$NS" 2>/dev/null
  fi
}
trap suite_cleanup EXIT

for _ in $(seq 100); do cr version >/dev/null 2>&1 && break; sleep 0.1; done
if ! cr version >"$WORK/logs/containerd-start.log" 2>&1; then
  echo "test oci::containerd::start ... FAILED"; echo fail >> "$COUNTS"
  tail -20 "$WORK/logs/containerd-daemon.log" | sed 's/^/    | /'; exit 1
fi

# an OCI image archive of the busybox rootfs, made by hand (one layer)
IMG=docker.io/library/vpsos-busybox:test
mk_image() {
  local o=$WORK/oci arch ld ls cd cs md ms
  mkdir -p "$o/blobs/sha256"
  arch=$(dpkg --print-architecture)
  ld=$(sha256sum "$WORK/rootfs.tar" | cut -d' ' -f1); ls=$(stat -c %s "$WORK/rootfs.tar")
  cp "$WORK/rootfs.tar" "$o/blobs/sha256/$ld"
  printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$ld" > "$o/config"
  cd=$(sha256sum "$o/config" | cut -d' ' -f1); cs=$(stat -c %s "$o/config"); mv "$o/config" "$o/blobs/sha256/$cd"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cd" "$cs" "$ld" "$ls" > "$o/manifest"
  md=$(sha256sum "$o/manifest" | cut -d' ' -f1); ms=$(stat -c %s "$o/manifest"); mv "$o/manifest" "$o/blobs/sha256/$md"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"test"}}]}' \
    "$md" "$ms" "$IMG" > "$o/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$o/oci-layout"
  tar -C "$o" -cf "$WORK/image.tar" oci-layout index.json blobs
  cr image import "$WORK/image.tar"
  cr image ls -q | grep -qx "$IMG"
}
image_ok=1
mk_image >"$WORK/logs/containerd-image.log" 2>&1 || image_ok=0

task_status() { cr task ls | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { cr task ls | awk -v id="$1" '$1 == id { print $2 }'; }
status_is() { [ "$(task_status "$1")" = "$2" ]; }
nprocs_is() { [ "$(cr task ps "$1" | tail -n +2 | wc -l)" = "$2" ]; }
need_image() { [ $image_ok = 1 ] || fail "the image import failed: $(tail -5 "$WORK/logs/containerd-image.log")"; }

# ---------------------------------------------------------------- tests
t_run_echo() {
  out=$(cr run --rm "${RUN[@]}" --rootfs "$ROOTFS" echo1 echo hi)
  expect_eq "output" "$out" hi
}
t_exit_code() {
  rc=$(rc_of cr run --rm "${RUN[@]}" --rootfs "$ROOTFS" exit1 sh -c 'exit 3')
  expect_eq "exit status" "$rc" 3
}
t_image_run() {
  need_image
  out=$(cr run --rm "${RUN[@]}" "$IMG" img1 sh -c 'echo from-image; cat /proc/self/uid_map')
  expect_contains "output" "$out" from-image
}
t_detached_exec() {
  cr run -d "${RUN[@]}" --rootfs "$ROOTFS" exec1 sleep 1000
  expect_eq "status" "$(task_status exec1)" RUNNING
  out=$(cr task exec --fifo-dir "$C/fifo" --exec-id x1 exec1 sh -c 'echo from-exec; cat /proc/1/cmdline | tr "\0" " "')
  expect_contains "exec output" "$out" from-exec
  expect_contains "exec sees the init" "$out" "sleep 1000"
  rc=$(rc_of cr task exec --fifo-dir "$C/fifo" --exec-id x2 exec1 sh -c 'exit 5')
  expect_eq "exec exit status" "$rc" 5
  # ps: host pids of the init and of a running exec
  pid=$(task_pid exec1)
  cr task exec --fifo-dir "$C/fifo" -d --exec-id x3 exec1 sleep 1000
  wait_for 10 nprocs_is exec1 2
  ps_out=$(cr task ps exec1)
  expect_contains "task ps" "$ps_out" "$pid"
  [ "$(echo "$ps_out" | tail -n +2 | wc -l)" = 2 ] || fail "task ps: $ps_out"
  cr task kill -s SIGKILL exec1
  wait_for 10 status_is exec1 STOPPED
  cr task delete exec1
  cr container delete exec1
}
t_exec_tty() {
  cr run -d "${RUN[@]}" --rootfs "$ROOTFS" exectty1 sleep 1000
  out=$(under_pty 'echo $((6*7)); exit
' "${CTR[@]}" task exec --fifo-dir "$C/fifo" -t --exec-id t1 exectty1 sh)
  expect_contains "exec -t under a pty" "$out" 42
  cr task kill -s SIGKILL exectty1
  wait_for 10 status_is exectty1 STOPPED
  cr task delete exectty1; cr container delete exectty1
}
t_pause_resume() {
  cr run -d "${RUN[@]}" --rootfs "$ROOTFS" pause1 sleep 1000
  pid=$(task_pid pause1)
  cr task pause pause1
  expect_eq "status" "$(task_status pause1)" PAUSED
  f=$(cgroup_file "$pid" freezer freezer.state cgroup.freeze)
  st=$(cat "$f"); case $st in FROZEN|1) ;; *) fail "$f: $st" ;; esac
  # runc refuses to exec into a paused container
  rc=$(rc_of cr task exec --fifo-dir "$C/fifo" --exec-id x pause1 true)
  [ "$rc" != 0 ] || fail "exec into a paused container succeeded"
  cr task resume pause1
  expect_eq "status" "$(task_status pause1)" RUNNING
  st=$(cat "$f"); case $st in THAWED|0) ;; *) fail "$f after resume: $st" ;; esac
  expect_eq "exec after resume" "$(cr task exec --fifo-dir "$C/fifo" --exec-id y pause1 echo back)" back
  cr task kill -s SIGKILL pause1
  wait_for 10 status_is pause1 STOPPED
  cr task delete pause1; cr container delete pause1
}
t_kill_signal() {
  # a pid 1 without a handler ignores USR1: signal only once the trap is set
  rm -f "$ROOTFS/tmp/kill1.ready"
  cr run -d "${RUN[@]}" --rootfs "$ROOTFS" kill1 sh -c 'trap "exit 7" USR1; touch /tmp/kill1.ready; while :; do sleep 0.1; done'
  wait_for 10 test -e "$ROOTFS/tmp/kill1.ready"
  cr task kill -s SIGUSR1 kill1
  wait_for 10 status_is kill1 STOPPED
  out=$(cr task delete kill1 2>&1)
  expect_contains "exit status" "$out" "exit code 7"
  cr container delete kill1
}
t_kill_all() {
  cr run -d "${RUN[@]}" --rootfs "$ROOTFS" killall1 sh -c 'sleep 1000 & sleep 1000 & wait'
  wait_for 10 nprocs_is killall1 3
  pids=$(cr task ps killall1 | tail -n +2 | awk '{print $1}')
  cr task kill -a -s SIGKILL killall1
  wait_for 10 status_is killall1 STOPPED
  for p in $pids; do ! kill -0 "$p" 2>/dev/null || fail "pid $p alive after kill --all"; done
  cr task delete killall1; cr container delete killall1
}
t_delete_force() {
  cr run -d "${RUN[@]}" --rootfs "$ROOTFS" force1 sleep 1000
  pid=$(task_pid force1)
  # the runtime's state is where the check below looks
  [ -e "$RUNC_ROOT/$NS/force1" ] || fail "no state of force1 in $RUNC_ROOT/$NS"
  cr task delete -f force1
  ! kill -0 "$pid" 2>/dev/null || fail "pid $pid alive after task delete -f"
  cr container delete force1
  [ -z "$(ls -A "$RUNC_ROOT/$NS" 2>/dev/null)" ] || fail "runtime state left: $(ls "$RUNC_ROOT/$NS")"
}
t_tty_interactive() {
  out=$(under_pty 'echo $((6*7)); exit
' "${CTR[@]}" run -t --rm "${RUN[@]}" --rootfs "$ROOTFS" tty1 sh)
  expect_contains "output" "$out" 42
}
t_userns() {
  need_image
  out=$(cr run --rm "${RUN[@]}" --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" userns1 \
        sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/x && stat -c %u /tmp/x')
  [ "$(echo $out)" = "0 200000 65536 0 200000 65536 0 0" ] || fail "inside: $out"
  cr run -d "${RUN[@]}" --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" userns2 sleep 1000
  pid=$(task_pid userns2)
  expect_eq "host uid of the init" "$(stat -c %u /proc/$pid)" 200000
  out=$(cr task exec --fifo-dir "$C/fifo" --exec-id x userns2 cat /proc/self/uid_map)
  expect_eq "exec in the userns" "$(echo $out)" "0 200000 65536"
  cr task kill -s SIGKILL userns2
  wait_for 10 status_is userns2 STOPPED
  cr task delete userns2; cr container delete userns2
}
t_no_userns() {
  out=$(cr run --rm "${RUN[@]}" --rootfs "$ROOTFS" nouserns1 cat /proc/self/uid_map)
  expect_eq "uid_map" "$(echo $out)" "0 0 4294967295"
}
t_resources() {
  cr run -d "${RUN[@]}" --memory-limit 67108864 --rootfs "$ROOTFS" res1 sleep 1000
  pid=$(task_pid res1)
  f=$(cgroup_file "$pid" memory memory.limit_in_bytes memory.max)
  expect_eq "$f" "$(cat "$f")" 67108864
  expect_contains "cgroup path" "$f" "/$NS/res1/"
  # metrics: the shim loads the cgroup from /proc/<init pid>/cgroup
  out=$(cr task metrics res1)
  expect_contains "metrics" "$out" "memory"
  cr task kill -s SIGKILL res1
  wait_for 10 status_is res1 STOPPED
  cr task delete res1; cr container delete res1
  [ ! -e "$(dirname "$f")" ] || fail "cgroup $(dirname "$f") left behind"
}

t run_echo t_run_echo
t exit_code t_exit_code
t image_run t_image_run
t detached_exec t_detached_exec
t exec_tty t_exec_tty
t pause_resume t_pause_resume
t kill_signal t_kill_signal
t kill_all t_kill_all
t delete_force t_delete_force
t tty_interactive t_tty_interactive
t userns t_userns
t no_userns t_no_userns
t resources t_resources

left=$(cr container ls -q; ls -A "$RUNC_ROOT/$NS" 2>/dev/null)
if [ -n "$left" ]; then echo "test oci::containerd::nothing_left ... FAILED ($left)"; echo fail >> "$COUNTS"
else echo "test oci::containerd::nothing_left ... ok"; echo pass >> "$COUNTS"; fi
