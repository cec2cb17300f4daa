#!/usr/bin/env bash
# The whole test suite (run as root on Debian 12): unit, doc and integration
# tests on this host, the C tests of libvpsos, the Ruby and Python bindings' tests,
# the leak check, the fuzz
# targets for a few seconds each, then the integration and C tests again in
# the test VM (pure cgroup v2, AppArmor, ZFS); podman and containerd drive
# the vpsos CLI on both. The last line is the summary
# over every run: "summary: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1
# the Debian trees of tests/distros.rs (built once, cached; the VM reads them too)
bash tests/images/build-debian.sh || exit 1
LOG=$(mktemp -d /tmp/vpsos-test.XXXXXX)
status=0

echo "=== host: cargo test --workspace ($(uname -r))"
cargo test --workspace 2>&1 | tee "$LOG/host.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
# the C API: libvpsos installed into a prefix, the C tests built through
# pkg-config and run plain, with ASan/UBSan and under valgrind
echo "=== host: C tests (libvpsos)"
bash tests/c/run.sh 2>&1 | tee "$LOG/c.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
# the Ruby binding (magnus + rb-sys against Debian's ruby-dev), minitest
echo "=== host: Ruby tests (bindings/ruby)"
{ bash bindings/ruby/build.sh && bash bindings/ruby/run-tests.sh; } 2>&1 | tee "$LOG/rb.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
# the Python binding (pyo3 abi3 wheel by maturin, in a venv), pytest
echo "=== host: Python tests (bindings/python)"
{ bash bindings/python/build.sh && bash bindings/python/run-tests.sh; } 2>&1 | tee "$LOG/py.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
# the OCI CLI as podman (through conmon) and containerd (through its runc
# shim) drive it: tests/oci-clients (each client private, cleaned up)
echo "=== host: OCI clients (podman, containerd) with the vpsos CLI"
{ cargo build -q -p vpsos-cli && bash tests/oci-clients/run.sh; } 2>&1 | tee "$LOG/oci.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
echo "=== host: leak check"
bash tests/check-leaks.sh || status=1

# each fuzz target a short while (a dev build: about half the CPU time of
# the optimized one); `scripts/fuzz.sh 3600` fuzzes for real
echo "=== host: fuzz targets, ${VPSOS_FUZZ_SECONDS:-10} s each"
FUZZ_BUILD=dev bash scripts/fuzz.sh "${VPSOS_FUZZ_SECONDS:-10}" 2>&1 | tee "$LOG/fuzz.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1

echo "=== test VM: integration tests, C, Ruby, Python and OCI client tests"
VPSOS_VM_C_TESTS=1 VPSOS_VM_RB_TESTS=1 VPSOS_VM_PY_TESTS=1 VPSOS_VM_OCI_TESTS=1 \
  tests/vm/run --tests -p vpsos -p vpsos-cli 2>&1 | tee "$LOG/vm.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
# the VM has every feature (cgroup v2, AppArmor, ZFS): nothing may skip there
if grep -q 'SKIPPED [^ ]*: ' "$LOG/vm.log"; then
  echo "test VM: tests skipped there:"; grep -o 'SKIPPED [^ ]*: .*' "$LOG/vm.log"; status=1
fi

# libtest's "test result:" lines (scripts/fuzz.sh prints one too, a target
# a test), minus the helper tests that only run when
# another test spawns them (reported as ignored with "helper:"); a test that
# returned early because the host lacks a feature ("SKIPPED <test>: why")
# counts as skipped, not passed
read -r passed failed ignored < <(cat "$LOG/host.log" "$LOG/c.log" "$LOG/rb.log" "$LOG/py.log" "$LOG/oci.log" "$LOG/fuzz.log" "$LOG/vm.log" | awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i;
                    if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
  / \.\.\. ignored, helper:/ { h++ }
  /SKIPPED [^ ]+: / { k++ }
  END { print p-k, f+0, g-h+k }')
[ "$failed" = 0 ] || status=1
[ $status = 0 ] || [ "$failed" != 0 ] || failed=1   # a step failed outside libtest
echo "summary: $passed passed, $failed failed, $ignored skipped"
exit $status
