#!/usr/bin/env bash
# bindings/ruby/run-tests.sh: the Ruby binding's minitest suite (run as
# root). Builds nothing: run bindings/ruby/build.sh first, so this works
# where there is no cargo (the test VM). Builds a busybox rootfs owned by
# the tests' host root (uid/gid 300000), runs every test/test_*.rb and
# ends with one libtest-style "test result:" line summing them; a skipped
# test also prints "SKIPPED rb::<test>: <why>" (test/helper.rb).
set -uo pipefail
cd "$(dirname "$0")"
modprobe zfs 2>/dev/null || true

mkdir -p /var/tmp/vpsos-tests
ROOT=$(mktemp -d /var/tmp/vpsos-tests/rb.XXXXXX) || exit 1
cleanup() { rm -rf --one-file-system "$ROOT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bash ../../tests/busybox-rootfs.sh "$ROOT" 300000 || exit 1
export VPSOS_RB_ROOTFS=$ROOT

start=$SECONDS
passed=0; failed=0; skips=0; status=0
for f in test/test_*.rb; do
  echo "=== ruby: $f"
  out=$(mktemp)
  ruby -I lib -I test "$f" -v 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  # "12 runs, 40 assertions, 0 failures, 0 errors, 1 skips"
  line=$(grep -E '^[0-9]+ runs, [0-9]+ assertions, [0-9]+ failures, [0-9]+ errors, [0-9]+ skips' "$out" | tail -n 1)
  rm -f "$out"
  if [ -z "$line" ]; then
    echo "$f: no minitest summary (exit status $rc)"
    failed=$((failed + 1)); status=1; continue
  fi
  read -r r _ _ _ fl _ er _ sk _ <<<"${line//,/}"
  # a skip counts as passed here and is named on its "SKIPPED rb::…" line,
  # which scripts/test.sh counts as skipped (as libtest's early returns)
  passed=$((passed + r - fl - er)); failed=$((failed + fl + er)); skips=$((skips + sk))
  if [ "$rc" != 0 ] || [ $((fl + er)) != 0 ]; then
    status=1
    # a non-zero exit without a failure counted (a crash after the summary)
    [ $((fl + er)) = 0 ] && failed=$((failed + 1))
  fi
done
result=ok; [ $status = 0 ] || result=FAILED
echo "test result: $result. $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out; finished in $((SECONDS - start))s"
exit $status
