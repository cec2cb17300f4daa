#!/usr/bin/env bash
# The main job: start a busybox system container with an id map on plain
# directory storage and print what it sees inside. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec cargo run --quiet --release --example busybox
