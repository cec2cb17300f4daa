#!/usr/bin/env bash
# bindings/python/run-tests.sh: the Python binding's pytest suite (run as
# root). Builds nothing: run bindings/python/build.sh first, so this works
# where there is no cargo (the test VM). Builds a busybox rootfs owned by
# the tests' host root (uid/gid 300000), runs tests/test_*.py in the venv
# and ends with one libtest-style "test result:" line; a skipped test also
# prints "SKIPPED py::<test>: <why>" (tests/conftest.py).
set -uo pipefail
cd "$(dirname "$0")"
modprobe zfs 2>/dev/null || true

PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  echo "bindings/python: no $PWD/.venv (run bindings/python/build.sh)"
  echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0s"
  exit 1
fi

mkdir -p /var/tmp/vpsos-tests
ROOT=$(mktemp -d /var/tmp/vpsos-tests/py.XXXXXX) || exit 1
cleanup() { rm -rf --one-file-system "$ROOT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bash ../../tests/busybox-rootfs.sh "$ROOT" 300000 || exit 1
export VPSOS_PY_ROOTFS=$ROOT

start=$SECONDS
out=$(mktemp)
# no bytecode next to the shared checkout, no cache dir
# (arguments, for a developer: pytest's, e.g. tests/test_errors.py -k busy)
args=("$@"); [ $# -gt 0 ] || args=(tests)
PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest -v -p no:cacheprovider "${args[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# the last line: "===== 40 passed, 2 skipped, 1 failed in 31.20s ====="
line=$(grep -E '^=+ .* in [0-9.]+s' "$out" | tail -n 1)
rm -f "$out"
count() { sed -nE "s/.*[ =]([0-9]+) $1[,s ].*/\1/p" <<<"$line " | head -n 1; }
p=$(count passed); s=$(count skipped); f=$(count failed); e=$(count errors?)
p=${p:-0}; s=${s:-0}; f=${f:-0}; e=${e:-0}
# a skip counts as passed here and is named on its "SKIPPED py::…" line,
# which scripts/test.sh counts as skipped (as libtest's early returns)
passed=$((p + s)); failed=$((f + e))
status=0
if [ "$rc" != 0 ] || [ "$failed" != 0 ] || [ -z "$line" ]; then
  status=1
  # a non-zero exit without a failure counted (no tests, a crash, Ctrl-C)
  [ "$failed" = 0 ] && failed=1
fi
result=ok; [ $status = 0 ] || result=FAILED
echo "test result: $result. $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out; finished in $((SECONDS - start))s"
exit $status
