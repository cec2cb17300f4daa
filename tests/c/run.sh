#!/usr/bin/env bash
# The C tests of libvpsos.
#
#   tests/c/run.sh                build, then run (the host: scripts/test.sh)
#   tests/c/run.sh --build-only   install libvpsos into target/c-tests/prefix
#                                 (scripts/install-c.sh), check what it exports,
#                                 its pkg-config file, the header as C++, a
#                                 static link, and build every tests/c/*.c
#                                 through `pkg-config --cflags --libs vpsos`
#                                 (C99, -Wall -Wextra -Werror -pedantic), each
#                                 plain and with AddressSanitizer + UBSan
#   tests/c/run.sh --run-only     run what was built (the test VM, where the
#                                 repository is shared), then valgrind
#   --no-valgrind                 skip the valgrind runs
#
# Prints "test c::<name> ... ok|FAILED" per test ("SKIPPED c::<name>: why"
# where the host lacks a feature) and a libtest-style "test result:" line
# per phase, which scripts/test.sh counts.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=1 run=1 valgrind=1
for a in "$@"; do case $a in
  --build-only) run=0 ;; --run-only) build=0 ;; --no-valgrind) valgrind=0 ;;
  *) echo "usage: $0 [--build-only|--run-only] [--no-valgrind]" >&2; exit 2 ;;
esac; done
target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null | jq -r .target_directory 2>/dev/null)
out=${VPSOS_C_OUT:-${target:-$PWD/target}/c-tests}
prefix=$out/prefix
start=$SECONDS passed=0 failed=0
ok() { passed=$((passed + 1)); echo "test c::$1 ... ok"; }
bad() { failed=$((failed + 1)); echo "test c::$1 ... FAILED${2:+ ($2)}"; }
result() { # name, command...: a test that is one command
  local name=$1; shift
  if "$@" >"$out/$name.log" 2>&1; then ok "$name"; else bad "$name"; tail -30 "$out/$name.log"; fi
}
summary() {
  local r=ok; [ $failed = 0 ] || r=FAILED
  echo "test result: $r. $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out; finished in $((SECONDS - start))s"
  [ $failed = 0 ]
}
need() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ $build = 1 ]; then
  need gcc g++ pkg-config libc6-dev libseccomp-dev valgrind busybox-static jq
  rm -rf "$out"; mkdir -p "$out/bin"
  result install bash scripts/install-c.sh "$prefix" || { summary; exit 1; }
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  lib=$prefix/lib/libvpsos.so.0
  result exports bash -c "readelf -d '$lib' | grep -q 'SONAME.*\[libvpsos.so.0\]' &&
    nm -D --defined-only '$lib' | awk '{print \$3}' | grep -v '^vpsos_' | { ! grep .; } &&
    [ \$(nm -D --defined-only '$lib' | grep -c ' vpsos_') -gt 90 ]"
  result pkg_config bash -c "pkg-config --cflags vpsos | grep -q -- '-I$prefix/include' &&
    pkg-config --libs vpsos | grep -q -- '-lvpsos' &&
    pkg-config --print-requires-private vpsos | grep -q libseccomp"
  result header_cxx bash -c "echo '#include <vpsos.h>
int main() { return vpsos_version() == nullptr; }' | c++ -std=c++11 -Wall -Wextra -Werror -pedantic -x c++ - \
    \$(pkg-config --cflags --libs vpsos) -o '$out/cxx' && LD_LIBRARY_PATH='$prefix/lib' '$out/cxx'"
  result example_build bash -c "cc -std=c99 -Wall -Wextra -Werror -pedantic -o '$out/bin/hello' examples/c/hello.c \
    \$(pkg-config --cflags --libs vpsos)"
  result static_link bash -c "cc -std=c99 -Wall -Wextra -Werror -pedantic examples/c/hello.c -o '$out/bin/hello-static' \
    \$(pkg-config --cflags vpsos) '$prefix/lib/libvpsos.a' \$(pkg-config --static --libs-only-l vpsos | sed 's/-lvpsos//') &&
    '$out/bin/hello-static' --version"
  # plain, and AddressSanitizer + UBSan (invalid accesses; leaks through
  # LeakSanitizer: vpsos allocates with the system malloc, so whatever the
  # C API hands out and is not freed shows up); the sanitizer runtimes
  # linked in statically, so the binaries run in the test VM as they are
  cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -g -pthread)
  asan=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -static-libasan -static-libubsan)
  for src in tests/c/*.c; do
    name=$(basename "$src" .c)
    result "build_$name" cc "${cflags[@]}" "$src" -o "$out/bin/$name" $(pkg-config --cflags --libs vpsos)
    result "build_${name}_asan" cc "${cflags[@]}" "${asan[@]}" "$src" -o "$out/bin/$name-asan" \
      $(pkg-config --cflags --libs vpsos)
  done
  [ $run = 1 ] || { summary; exit; }
fi

[ -d "$out/bin" ] || { echo "tests/c/run.sh: nothing built in $out (run --build-only first)" >&2; exit 2; }
export LD_LIBRARY_PATH=$prefix/lib
# the rootfs: busybox owned by the test map's root (host uid 300000), and
# one owned by 0 for the example (mounted idmapped)
mkdir -p /var/tmp/vpsos-tests
work=$(mktemp -d /var/tmp/vpsos-tests/c.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs" "$work/rootfs0"
bash tests/busybox-rootfs.sh "$work/rootfs" 300000 || exit 1
bash tests/busybox-rootfs.sh "$work/rootfs0" 0 || exit 1
export VPSOS_C_ROOTFS=$work/rootfs VPSOS_C_SCRATCH=$work

result example bash -c "'$out/bin/hello' '$work/rootfs0' sh -c 'echo hi from \$(hostname) as \$(id -u)' | grep -qx 'hi from hello as 0'"
for exe in "$out"/bin/*; do
  name=$(basename "$exe")
  case $name in hello*) continue ;; esac
  # the VM runs the plain builds (ASan under emulation doubles its time)
  case $name in *-asan) [ "${VPSOS_C_NO_ASAN:-0}" = 1 ] && continue ;; esac
  if ASAN_OPTIONS=detect_leaks=1 "$exe" >"$work/$name.log" 2>&1; then
    while read -r l; do case $l in
      "test c::"*" ... ok") passed=$((passed + 1)); [ "${name%-asan}" != "$name" ] && l=${l/ ... ok/_asan ... ok}; echo "$l" ;;
      "SKIPPED c::"*) passed=$((passed + 1)); echo "$l" ;;   # scripts/test.sh counts it as skipped
    esac; done < "$work/$name.log"
  else
    bad "$name"; tail -40 "$work/$name.log"
  fi
done

# a test that failed half-way leaves its pool: the tests' pools are vptc<pid>
if command -v zpool >/dev/null; then
  for p in $(zpool list -H -o name 2>/dev/null | grep '^vptc[0-9]*$'); do zpool destroy -f "$p"; done
  rm -f /var/tmp/vptc[0-9]*.img /var/tmp/vptc[0-9]*.stream
fi

# valgrind (no leak, no invalid access). Valgrind 3.19 fails clone3,
# openat2 and pidfd_open with ENOSYS, so nothing starts a container under
# it: the errors test runs its part that starts none, and the lifecycle
# runs on a container made outside valgrind (everything but exec, pidfds)
if [ $valgrind = 1 ] && command -v valgrind >/dev/null; then
  vg=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
      --errors-for-leak-kinds=definite,indirect)
  out=$work result valgrind_errors env VPSOS_C_VALGRIND=1 "${vg[@]}" "$out/bin/errors"
  id=c-vg-$$
  if "$out/bin/lifecycle" --create "$id" >"$work/vg-create.log" 2>&1; then
    out=$work result valgrind_lifecycle "${vg[@]}" "$out/bin/lifecycle" --attach "$id"
  else
    bad valgrind_lifecycle create; cat "$work/vg-create.log"
  fi
elif [ $valgrind = 1 ]; then
  echo "SKIPPED c::valgrind: valgrind is not installed here"; passed=$((passed + 1))
fi
summary
