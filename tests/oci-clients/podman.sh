#!/usr/bin/env bash
# podman (4.3, through conmon) against $RUNTIME; run by run.sh.
set -uo pipefail
. "$HERE/lib.sh"

D=$WORK/podman
mkdir -p "$D"/{root,runroot,tmp,net,conf}
rt_name=$(basename "$RUNTIME")
min() { if [ "$1" = unlimited ] || { [ "$2" != unlimited ] && [ "$2" -lt "$1" ]; }; then echo "$2"; else echo "$1"; fi; }
nofile=$(min "$(ulimit -Hn)" 1048576)
nproc=$(min "$(ulimit -Hu)" "$(cat /proc/sys/kernel/pid_max)")
# no registry, no network backend, everything under $D
cat > "$D/conf/containers.conf" <<EOF
[containers]
netns = "none"
# as root podman asks for nofile 1048576 and nproc pid_max (after setting
# its own nproc to that); without CAP_SYS_RESOURCE (a container, some CI)
# the runtime cannot raise them: ask for what podman will have
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/tmp/events.log"
tmp_dir = "$D/tmp"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "$rt_name"]
[network]
network_config_dir = "$D/net"
EOF
cat > "$D/conf/registries.conf" <<EOF
unqualified-search-registries = []
short-name-mode = "disabled"
EOF
cat > "$D/conf/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$D/root"
runroot = "$D/runroot"
EOF
export CONTAINERS_CONF=$D/conf/containers.conf CONTAINERS_REGISTRIES_CONF=$D/conf/registries.conf \
       CONTAINERS_STORAGE_CONF=$D/conf/storage.conf
P=(podman --root "$D/root" --runroot "$D/runroot" --storage-driver vfs --cgroup-manager cgroupfs
   --events-backend file --tmpdir "$D/tmp" --network-config-dir "$D/net" --runtime "$RUNTIME")
# every podman call bounded in time
pm() { timeout 90 "${P[@]}" "$@"; }
IMG=localhost/vpsos-busybox:test

# cgroup parents podman creates (cgroupfs: /libpod_parent): remove them at
# the end unless they were there before
had_parent=()
for m in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
  [ -d "$m/libpod_parent" ] && had_parent+=("$m")
done
suite_cleanup() {
  pm rm -af -t 0 >/dev/null 2>&1
  for m in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
    case " ${had_parent[*]} " in *" $m "*) continue ;; esac
    [ -d "$m/libpod_parent" ] && find "$m/libpod_parent" -depth -type d -exec rmdir {} + 2>/dev/null
  done
}
trap suite_cleanup EXIT

runtime_before=$("$RUNTIME" list -q 2>/dev/null | sort)
setup_ok=1
pm import --change 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" "$IMG" >"$WORK/logs/podman-import.log" 2>&1 || setup_ok=0
if [ $setup_ok = 0 ]; then
  echo "test oci::podman::import ... FAILED"; echo fail >> "$COUNTS"
  sed 's/^/    | /' "$WORK/logs/podman-import.log" | tail -20; exit 1
fi

# ---------------------------------------------------------------- tests
t_run_echo() {
  out=$(pm run --rm --network none "$IMG" echo hi)
  expect_eq "output" "$out" "hi"
}
t_exit_code() {
  rc=$(rc_of pm run --rm --network none "$IMG" sh -c 'exit 3')
  expect_eq "exit status" "$rc" 3
}
t_stdin() {
  out=$(echo piped | pm run --rm -i --network none "$IMG" cat)
  expect_eq "output" "$out" "piped"
}
t_not_found() {
  # podman maps the runtime's error text to 127 / 126 (RUNTIME-CONTRACT.md §5)
  rc=$(rc_of pm run --rm --network none "$IMG" /nonexistent)
  expect_eq "exit status, missing executable" "$rc" 127
  rc=$(rc_of pm run --rm --network none "$IMG" /etc/passwd)
  expect_eq "exit status, not executable" "$rc" 126
}
t_detached_exec() {
  pm run -d --name exec1 --network none "$IMG" sleep 1000
  expect_eq "state" "$(pm inspect -f '{{.State.Status}}' exec1)" running
  out=$(pm exec exec1 echo from-exec)
  expect_eq "exec output" "$out" from-exec
  rc=$(rc_of pm exec exec1 sh -c 'exit 5')
  expect_eq "exec exit status" "$rc" 5
  out=$(pm exec exec1 sh -c 'echo $$; cat /proc/1/cmdline | tr "\0" " "')
  expect_contains "exec sees the init" "$out" "sleep 1000"
  # exec with a tty (a console socket), no host tty needed
  out=$(pm exec -t exec1 sh -c 'tty; test -t 0 && echo is-a-tty')
  expect_contains "exec -t" "$out" "is-a-tty"
  out=$(under_pty 'echo $((6*7)); exit
' "${P[@]}" exec -it exec1 sh)
  expect_contains "exec -it under a pty" "$out" 42
  pm rm -f -t 0 exec1
}
t_pause_unpause() {
  pm run -d --name pause1 --network none "$IMG" sleep 1000
  pid=$(pm inspect -f '{{.State.Pid}}' pause1)
  pm pause pause1
  expect_eq "state" "$(pm inspect -f '{{.State.Status}}' pause1)" paused
  f=$(cgroup_file "$pid" freezer freezer.state cgroup.freeze)
  st=$(cat "$f")
  case $st in FROZEN|1) ;; *) fail "$f: $st" ;; esac
  # podman refuses an exec into a paused container (runc would too)
  rc=$(rc_of pm exec pause1 true)
  [ "$rc" != 0 ] || fail "exec into a paused container succeeded"
  pm unpause pause1
  expect_eq "state" "$(pm inspect -f '{{.State.Status}}' pause1)" running
  st=$(cat "$f"); case $st in THAWED|0) ;; *) fail "$f after unpause: $st" ;; esac
  expect_eq "exec after unpause" "$(pm exec pause1 echo back)" back
  pm rm -f -t 0 pause1
}
t_stop_rm() {
  # sleep as pid 1 ignores SIGTERM: stop ends with SIGKILL after 1 s
  pm run -d --name stop1 --network none "$IMG" sleep 1000
  pid=$(pm inspect -f '{{.State.Pid}}' stop1)
  pm stop -t 1 stop1
  expect_eq "state" "$(pm inspect -f '{{.State.Status}}' stop1)" exited
  expect_eq "exit code" "$(pm inspect -f '{{.State.ExitCode}}' stop1)" 137
  ! kill -0 "$pid" 2>/dev/null || fail "pid $pid still alive"
  # a shell that handles SIGTERM stops with its own status
  pm run -d --name stop2 --network none "$IMG" sh -c 'trap "exit 9" TERM; echo ready; while :; do sleep 0.1; done'
  wait_for 10 sh -c "${P[*]} logs stop2 | grep -q ready"
  pm stop -t 10 stop2
  expect_eq "exit code after SIGTERM" "$(pm inspect -f '{{.State.ExitCode}}' stop2)" 9
  pm rm stop1 stop2
  rc=$(rc_of pm inspect stop1)
  [ "$rc" != 0 ] || fail "stop1 still exists"
}
t_kill_signal() {
  pm run -d --name kill1 --network none "$IMG" sh -c 'trap "echo got-usr1; exit 7" USR1; echo ready; while :; do sleep 0.1; done'
  wait_for 10 sh -c "${P[*]} logs kill1 | grep -q ready"
  pm kill -s USR1 kill1
  rc=$(pm wait kill1)
  expect_eq "exit code" "$rc" 7
  expect_contains "logs" "$(pm logs kill1)" got-usr1
  pm rm kill1
  pm run -d --name kill2 --network none "$IMG" sleep 1000
  pm kill kill2
  expect_eq "exit code after SIGKILL" "$(pm wait kill2)" 137
  pm rm kill2
}
t_logs() {
  pm run -d --name logs1 --network none "$IMG" sh -c 'echo line1; echo line2 >&2; exit 0'
  expect_eq "exit code" "$(pm wait logs1)" 0
  out=$(pm logs logs1 2>&1)
  expect_contains "logs" "$out" line1
  expect_contains "logs" "$out" line2
  pm rm logs1
}
t_top() {
  pm run -d --name top1 --network none "$IMG" sleep 1000
  out=$(pm top top1)
  expect_contains "podman top" "$out" "sleep 1000"
  out=$(pm ps --filter name=top1 --format '{{.Names}} {{.Status}}')
  expect_contains "podman ps" "$out" "top1 Up"
  pm rm -f -t 0 top1
}
t_tty_interactive() {
  out=$(under_pty 'echo $((6*7)); exit
' "${P[@]}" run -it --rm --network none "$IMG" sh)
  expect_contains "output" "$out" 42
  out=$(under_pty '' "${P[@]}" run -t --rm --network none "$IMG" sh -c 'tty; exit 4') && rc=0 || rc=$?
  expect_contains "tty" "$out" /dev/pts/
  expect_eq "exit status" "$rc" 4
}
t_userns() {
  out=$(pm run --rm --network none --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" cat /proc/self/uid_map /proc/self/gid_map)
  [ "$(echo $out)" = "0 200000 65536 0 200000 65536" ] || fail "maps: $out"
  out=$(pm run --rm --network none --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" sh -c 'id -u; touch /tmp/x && stat -c %u /tmp/x')
  [ "$(echo $out)" = "0 0" ] || fail "inside: $out"
  # run -d + exec in a user namespace
  pm run -d --name userns1 --network none --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" sleep 1000
  pid=$(pm inspect -f '{{.State.Pid}}' userns1)
  expect_eq "host uid of the init" "$(stat -c %u /proc/$pid)" 200000
  expect_eq "exec in the userns" "$(pm exec userns1 cat /proc/self/uid_map | awk '{print $1,$2,$3}')" "0 200000 65536"
  pm rm -f -t 0 userns1
}
t_no_userns() {
  out=$(pm run --rm --network none "$IMG" cat /proc/self/uid_map)
  expect_eq "uid_map" "$(echo $out)" "0 0 4294967295"
}
t_resources() {
  pm run -d --name res1 --network none --memory 64m --pids-limit 50 "$IMG" sleep 1000
  pid=$(pm inspect -f '{{.State.Pid}}' res1)
  f=$(cgroup_file "$pid" memory memory.limit_in_bytes memory.max)
  expect_eq "$f" "$(cat "$f")" 67108864
  f=$(cgroup_file "$pid" pids pids.max pids.max)
  expect_eq "$f" "$(cat "$f")" 50
  expect_contains "cgroup path" "$f" "libpod"
  pm rm -f -t 0 res1
  [ ! -e "$(dirname "$f")" ] || fail "cgroup $(dirname "$f") left behind"
}
t_create_start() {
  pm create --name cs1 --network none "$IMG" sh -c 'echo started; exit 2'
  expect_eq "state" "$(pm inspect -f '{{.State.Status}}' cs1)" created
  rc=$(rc_of pm start -a cs1)
  expect_eq "exit status" "$rc" 2
  expect_contains "logs" "$(pm logs cs1)" started
  pm rm cs1
}

t run_echo t_run_echo
t exit_code t_exit_code
t stdin t_stdin
t not_found t_not_found
t detached_exec t_detached_exec
t pause_unpause t_pause_unpause
t stop_rm t_stop_rm
t kill_signal t_kill_signal
t logs t_logs
t top t_top
t tty_interactive t_tty_interactive
t userns t_userns
t no_userns t_no_userns
t resources t_resources
t create_start t_create_start

# nothing may be left: no container, no runtime state (podman runs the
# runtime with its default root), no process of podman's containers
left=$(pm ps -aq; comm -13 <(echo "$runtime_before") <("$RUNTIME" list -q 2>/dev/null | sort)
       for d in /proc/[0-9]*; do case $(readlink "$d/root" 2>/dev/null) in "$D"/*) echo "${d#/proc/}";; esac; done)
if [ -n "$left" ]; then echo "test oci::podman::nothing_left ... FAILED ($left)"; echo fail >> "$COUNTS"
else echo "test oci::podman::nothing_left ... ok"; echo pass >> "$COUNTS"; fi
