#!/usr/bin/env bash
# Debian packages vpsos's examples, tests and benchmarks need (run as root).
# The test VM's own packages (qemu, debootstrap) are installed by
# tests/vm/build-test-vm.sh when it first builds the image; the fuzz
# targets' (cargo-fuzz, g++) by scripts/install-fuzz.sh, which scripts/fuzz.sh runs.
set -euo pipefail
pkgs=(busybox-static jq libseccomp-dev pkg-config gcc libc6-dev xfsprogs btrfs-progs)
case ${1:-} in
  --bench) pkgs+=(crun runc hyperfine lxc) ;;
  # tests/oci-clients: the clients that drive the CLI (containerd's
  # package would start its daemon: the guard below stops that)
  --oci-clients) pkgs+=(podman conmon containerd runc uidmap python3 util-linux) ;;
esac
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
command -v cargo >/dev/null || { echo "install-deps: cargo (Rust toolchain) is required" >&2; exit 1; }
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # no package may start a daemon here (lxc would start lxc-net, a host
  # bridge and dnsmasq): Debian's policy-rc.d says no while we install
  policy=/usr/sbin/policy-rc.d
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' >$policy; chmod 755 $policy
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
