#!/usr/bin/env bash
# Fuzz vpsos-core's parsers of outside input with cargo-fuzz (libFuzzer):
# every target in fuzz/fuzz_targets/ runs SECONDS_PER_TARGET seconds
# (default 20), one after the other; the script fails if any finds a
# crash (a panic, a failed invariant), a hang (-timeout) or runaway memory.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Targets: config_json, idmap, oci_seccomp, zfs_properties, netlink_reply,
# export_header, oci_config (fuzz/fuzz_targets/*.rs say what each checks).
#
# Longer on demand, e.g. an hour per target, or one target for a night:
#   scripts/fuzz.sh 3600
#   scripts/fuzz.sh 36000 config_json
# Each target's corpus grows in fuzz/target/corpus/<target> (kept between
# runs, so a longer run starts where the last one stopped); the committed
# seeds in fuzz/corpus/<target> are read, never written. A crash leaves its
# input in fuzz/artifacts/<target>/ and the log says how to replay it, as
#   cd fuzz; RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a <target> artifacts/<target>/crash-...
#   cd fuzz; cargo fuzz run -D -s none <target> artifacts/<target>/crash-...
# for a release (default) and a dev run.
#
# Environment:
#   FUZZ_BUILD=release|dev   release (default): optimized, the fast fuzzing;
#                            dev: unoptimized, builds in half the CPU time
#                            (scripts/test.sh's short run)
#   FUZZ_SANITIZER=address|none   AddressSanitizer (default with release)
#                            or none (default with dev). Sanitizers are a
#                            nightly feature of rustc: on the stable
#                            toolchain this script sets RUSTC_BOOTSTRAP=1
#                            for them; `none` needs nothing unstable.
# Overflow checks and debug assertions are on in both builds.
#
# Output: a line per target, "test fuzz::<target> ... ok|FAILED" with runs
# and executions per second, then a libtest-style
# "test result: ... N passed; N failed; ..." that scripts/test.sh counts.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2;; esac
build=${FUZZ_BUILD:-release}
case $build in
  release) mode=(-O -a); san=${FUZZ_SANITIZER:-address} ;;
  dev) mode=(-D); san=${FUZZ_SANITIZER:-none} ;;
  *) echo "fuzz: FUZZ_BUILD is release or dev, not $build" >&2; exit 2 ;;
esac
[ "$san" = none ] || export RUSTC_BOOTSTRAP=1
bash scripts/install-fuzz.sh || exit 1
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ $# -gt 0 ]; then targets=("$@"); else
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi
# longest input tried, per target: a description with every feature is
# about 8 KiB of JSON; a link dump datagram holds a few links in 3.4 KiB
max_len() { case $1 in config_json|export_header|oci_config) echo 16384 ;; *) echo 4096 ;; esac; }
dict() { case $1 in config_json|export_header|oci_seccomp|oci_config) echo fuzz/dict/json.dict ;;
  idmap) echo fuzz/dict/idmap.dict ;; zfs_properties) echo fuzz/dict/zfs.dict ;; esac; }

start=$SECONDS
logs=fuzz/target/logs
mkdir -p "$logs"
echo "fuzz: building ${targets[*]} ($build, sanitizer $san)"
one=(); [ ${#targets[@]} = 1 ] && one=("${targets[0]}")   # else all of them
if ! (cd fuzz && cargo fuzz build "${mode[@]}" -s "$san" "${one[@]}") >"$logs/build.log" 2>&1; then
  tail -30 "$logs/build.log"
  for t in "${targets[@]}"; do echo "test fuzz::$t ... FAILED (build)"; done
  echo "test result: FAILED. 0 passed; ${#targets[@]} failed; 0 ignored; 0 measured; 0 filtered out; finished in $((SECONDS - start))s"
  exit 1
fi
passed=0 failed=0
for t in "${targets[@]}"; do
  work=fuzz/target/corpus/$t
  mkdir -p "$work"
  d=$(dict "$t")
  (cd fuzz && cargo fuzz run "${mode[@]}" -s "$san" "$t" "../$work" "corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
      ${d:+-dict=../$d} -print_final_stats=1) >"$logs/$t.log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1)
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
    echo "test fuzz::$t ... ok (${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}, ${secs}s)"
  else
    failed=$((failed + 1))
    echo "test fuzz::$t ... FAILED (exit $rc; log $logs/$t.log)"
    grep -v '^#[0-9]\|^INFO:\|^WARNING: Failed to find function' "$logs/$t.log" | tail -40
  fi
done
result=ok; [ $failed = 0 ] || result=FAILED
echo "test result: $result. $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out; finished in $((SECONDS - start))s"
[ $failed = 0 ]
