# Shared by podman.sh and containerd.sh (sourced). Expects RUNTIME, WORK,
# ROOTFS, SUITE set by run.sh.
#
# A test is a shell function; `t NAME FUNC` runs it in a subshell with set -e,
# its output in $WORK/logs/SUITE-NAME.log, and prints one line:
#   test oci::SUITE::NAME ... ok | FAILED | skipped (why)
# A test skips itself with `skip "why"` (exit 77). A skipped test also prints
# "SKIPPED oci::SUITE::NAME: why", which scripts/test.sh counts as skipped.
mkdir -p "$WORK/logs"
COUNTS=$WORK/counts.$SUITE
: > "$COUNTS"

skip() { echo "$*" > "$WORK/skip.why"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() { case $2 in *"$3"*) ;; *) fail "$1: '$2' does not contain '$3'";; esac; }
# rc_of CMD...: the exit status of CMD, never failing
rc_of() { local rc=0; "$@" >&2 || rc=$?; echo $rc; }
# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds
wait_for() {
  local n=$(( $1 * 10 )); shift
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
  "$@"
}

# under_pty INPUT CMD...: run CMD on a fresh pty (stdin, stdout, stderr),
# type INPUT into it once it printed something or after 1 s, and print
# everything it wrote; exits with CMD's status (30 s at most)
under_pty() {
  local input=$1; shift
  python3 - "$input" "$@" <<'EOF'
import os, pty, select, sys, time
inp = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b""; sent = False; start = time.time()
while time.time() - start < 30:
    if not sent and (out or time.time() - start > 1.0):
        time.sleep(0.5)           # let the shell reach its prompt
        os.write(fd, inp); sent = True
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
else:
    os.kill(pid, 9)
sys.stdout.write(out.decode(errors="replace")); sys.stdout.flush()
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st) if hasattr(os, "waitstatus_to_exitcode") else (st >> 8))
EOF
}

# cgroup_file PID CONTROLLER FILE(v1) FILE(v2): the path of a cgroup file of
# the cgroup PID is in (v1 controller hierarchy, or the v2 one)
cgroup_file() {
  local pid=$1 ctl=$2 f1=$3 f2=$4 path
  if [ -d "/sys/fs/cgroup/$ctl" ]; then
    path=$(awk -F: -v c="$ctl" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$pid/cgroup")
    echo "/sys/fs/cgroup/$ctl$path/$f1"
  else
    path=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
    echo "/sys/fs/cgroup$path/$f2"
  fi
}

t() {
  local name=$1 fn=$2 rc=0 log="$WORK/logs/$SUITE-$1.log"
  # OCI_TESTS="name1 name2": run only these
  if [ -n "${OCI_TESTS:-}" ]; then case " $OCI_TESTS " in *" $name "*) ;; *) return ;; esac; fi
  rm -f "$WORK/skip.why"
  # not "( ... ) || rc=$?": bash ignores set -e in a subshell whose status is tested
  ( set -euxo pipefail; "$fn" ) >"$log" 2>&1
  rc=$?
  case $rc in
    0) echo "test oci::$SUITE::$name ... ok"; echo pass >> "$COUNTS" ;;
    77) local why; why=$(cat "$WORK/skip.why" 2>/dev/null)
        echo "test oci::$SUITE::$name ... skipped ($why)"
        echo "SKIPPED oci::$SUITE::$name: $why"; echo skip >> "$COUNTS" ;;
    *) echo "test oci::$SUITE::$name ... FAILED"; echo fail >> "$COUNTS"
       sed 's/^/    | /' "$log" | tail -25 ;;
  esac
}
