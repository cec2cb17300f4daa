#!/usr/bin/env bash
# Build libvpsos (the C ABI, crate vpsos-ffi) and install it into a prefix:
#   PREFIX/include/vpsos.h
#   PREFIX/lib/libvpsos.so.0.1.0, libvpsos.so.0, libvpsos.so, libvpsos.a
#   PREFIX/lib/pkgconfig/vpsos.pc
#
#   scripts/install-c.sh [PREFIX]      (default /usr/local; run as root there)
#
# Then: cc -o hello hello.c $(pkg-config --cflags --libs vpsos)
# (with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix pkg-config does
# not search, and LD_LIBRARY_PATH=PREFIX/lib at run time for one the
# dynamic linker does not).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
case $prefix in /*) ;; *) prefix=$PWD/$prefix ;; esac
command -v cargo >/dev/null || { echo "install-c: cargo (Rust toolchain) is required" >&2; exit 1; }
pkgs=(libseccomp-dev pkg-config gcc libc6-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo build --release -p vpsos-ffi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
major=${version%%.*}
target=${CARGO_TARGET_DIR:-target}/release
install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 0644 vpsos-ffi/include/vpsos.h "$prefix/include/vpsos.h"
install -m 0755 "$target/libvpsos.so" "$prefix/lib/libvpsos.so.$version"
ln -sfn "libvpsos.so.$version" "$prefix/lib/libvpsos.so.$major"
ln -sfn "libvpsos.so.$major" "$prefix/lib/libvpsos.so"
install -m 0644 "$target/libvpsos.a" "$prefix/lib/libvpsos.a"
cat > "$prefix/lib/pkgconfig/vpsos.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: vpsos
Description: Embeddable Linux system-container runtime (C API)
Version: $version
Requires.private: libseccomp
Libs: -L\${libdir} -lvpsos
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl
Cflags: -I\${includedir}
PC
case $prefix in /usr|/usr/local) command -v ldconfig >/dev/null && ldconfig ;; esac
echo "install-c: libvpsos $version installed in $prefix"
