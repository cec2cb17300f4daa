# frozen_string_literal: true

# Start→exit latency of /bin/true from Ruby (create + start + wait +
# delete, benches/start_latency.rs's workload) with an idle heap, then
# with about 1 GiB of live Ruby objects. Driven by benches/ruby.sh:
#   ruby -I bindings/ruby/lib bindings/ruby/bench/start_latency.rb CONFIG.json RUNS
# prints "ruby_median_ms=<m> ruby_1g_median_ms=<m>".
require "vpsos"

config = Vpsos::Config.new(File.read(ARGV.fetch(0)))
runs = Integer(ARGV.fetch(1, "200"))
rt = Vpsos::Runtime.new("/run/vpsos-bench")

def median(times)
  times.sort[times.size / 2] * 1000.0
end

one = lambda do |tag, i|
  t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  ct = rt.run("rb#{tag}#{i}", config)
  x = ct.wait
  ct.delete
  raise "bad exit #{x}" unless x.success?

  Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
end

10.times { |i| one.("w", i) }
idle = Array.new(runs) { |i| one.("i", i) }
# about 1 GiB of live objects: 1 M strings of 1 KiB, held to the end
heap = Array.new(1 << 20) { |i| ("x" * 1023) << (i % 256).chr }
GC.start
big = Array.new(runs) { |i| one.("g", i) }
live = heap.sum(&:bytesize) >> 20
puts format("ruby_median_ms=%.3f ruby_1g_median_ms=%.3f live_mib=%d", median(idle), median(big), live)
