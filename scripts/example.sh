#!/usr/bin/env bash
# The main job: boot Debian 12 with systemd in a container with an id map,
# on plain directory storage, print what it sees and halt it. The first run
# builds the Debian tree (debootstrap, about a minute) and caches it under
# /var/cache/vpsos-images. Run as root. `cargo run --release --example
# busybox` is the fast second example (a busybox init, no image to build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash tests/images/build-debian.sh systemd
exec cargo run --quiet --release --example debian
