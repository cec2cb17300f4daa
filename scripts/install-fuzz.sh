#!/usr/bin/env bash
# What scripts/fuzz.sh needs (run as root): cargo-fuzz from crates.io,
# built once into ~/.cargo/bin (where later runs find it), a C++ compiler
# for the libFuzzer that libfuzzer-sys builds, and libseccomp for
# vpsos-core. The stable toolchain is enough: scripts/fuzz.sh needs no
# nightly.
set -euo pipefail
command -v cargo >/dev/null || { echo "install-fuzz: cargo (Rust toolchain) is required" >&2; exit 1; }
pkgs=(g++ libseccomp-dev pkg-config)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-fuzz: cargo install cargo-fuzz (once, into ${CARGO_HOME:-$HOME/.cargo}/bin)"
  cargo install cargo-fuzz --locked --version '^0.13' --quiet
fi
