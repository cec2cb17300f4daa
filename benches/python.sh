#!/usr/bin/env bash
# Start→exit latency from Python against the Rust API in the same run:
# benches/c_abi.rs (which also measures the Rust API and writes the
# workload's config) before and after bindings/python/bench/start_latency.py.
# Run as root.
#   benches/python.sh [RUNS]     (default 200)
# Last line: python/rust=<ratio>
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
bash bindings/python/build.sh >/dev/null
rust() { cargo bench -q --bench c_abi -- "$runs" 2>/dev/null | sed -n 's/^Rust API median \([0-9.]*\) ms.*/\1/p'; }
r1=$(rust)
out=$(bindings/python/.venv/bin/python bindings/python/bench/start_latency.py target/c-bench/config.json "$runs")
r2=$(rust)
echo "Rust API median: $r1 ms, $r2 ms (before and after)"
echo "Python: $out"
python3 -c '
import re, sys
r = (float(sys.argv[1]) + float(sys.argv[2])) / 2
m = float(re.search(r"python_median_ms=([\d.]+)", sys.argv[3]).group(1))
print(f"python/rust={m / r:.3f}")
' "$r1" "$r2" "$out"
