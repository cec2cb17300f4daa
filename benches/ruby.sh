#!/usr/bin/env bash
# Start→exit latency from Ruby against the Rust API in the same run:
# benches/c_abi.rs (which also measures the Rust API and writes the
# workload's config) before and after the Ruby runs, and
# bindings/ruby/bench/start_latency.rb with an idle heap and with 1 GiB of
# live Ruby objects. Run as root.
#   benches/ruby.sh [RUNS]     (default 200)
# Last line: ruby/rust=<ratio> ruby-1g/rust=<ratio>
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
bash bindings/ruby/build.sh >/dev/null
rust() { cargo bench -q --bench c_abi -- "$runs" 2>/dev/null | sed -n 's/^Rust API median \([0-9.]*\) ms.*/\1/p'; }
r1=$(rust)
out=$(ruby -I bindings/ruby/lib bindings/ruby/bench/start_latency.rb target/c-bench/config.json "$runs")
r2=$(rust)
echo "Rust API median: $r1 ms, $r2 ms (before and after)"
echo "Ruby: $out"
ruby -e '
  r = (ARGV[0].to_f + ARGV[1].to_f) / 2
  h = ARGV[2].scan(/(\w+)=([\d.]+)/).to_h
  printf("ruby/rust=%.3f ruby-1g/rust=%.3f\n", h["ruby_median_ms"].to_f / r, h["ruby_1g_median_ms"].to_f / r)
' "$r1" "$r2" "$out"
