#!/usr/bin/env bash
# Build the Python binding into a wheel with maturin (pyo3, abi3 for
# CPython >= 3.11) and install it into the venv bindings/python/.venv
# (made here, with pytest, mypy and maturin from PyPI). Then
#   bindings/python/.venv/bin/python -c 'import vpsos'
# Installs the Debian packages it needs (run as root).
set -euo pipefail
cd "$(dirname "$0")"
missing=()
for p in python3 python3-venv python3-dev libseccomp-dev pkg-config gcc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's python3 (not another one on PATH): the test VM runs this venv
# from the shared repository with its own /usr/bin/python3
if [ "$(readlink -f .venv/bin/python3 2>/dev/null)" != "$(readlink -f /usr/bin/python3)" ]; then
  rm -rf .venv
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade "maturin>=1.5,<2" "pytest>=8" "mypy>=1.10"
rm -rf target/wheels
.venv/bin/maturin build --release --quiet --auditwheel skip
wheel=$(ls target/wheels/vpsos-*-abi3-*.whl)
.venv/bin/pip install -q --force-reinstall --no-deps "$wheel"
echo "bindings/python: $(basename "$wheel") installed in bindings/python/.venv"
