# frozen_string_literal: true

# Shared support for the Ruby binding's tests (run through
# bindings/ruby/run-tests.sh, as root): the busybox rootfs it built, unique
# container ids, a config like the Rust tests' one, and a teardown that
# force-deletes every container a test made, so a failing test leaves
# nothing behind.
require "minitest/autorun"
require "vpsos"
require "timeout"
require "json"

module Minitest
  # Print "SKIPPED rb::<test>: <why>" for each skipped test on stdout:
  # scripts/test.sh counts such lines as skipped (and refuses them in the
  # test VM, which has every feature).
  class VpsosSkipReporter < AbstractReporter
    def record(result)
      return unless result.skipped?

      why = result.failure&.message.to_s.gsub(/\s+/, " ").strip
      $stdout.puts "SKIPPED rb::#{result.name}: #{why.empty? ? 'skipped' : why}"
      $stdout.flush
    end
  end

  def self.plugin_vpsos_skips_init(_options)
    reporter << VpsosSkipReporter.new
  end
end
Minitest.extensions << "vpsos_skips" unless Minitest.extensions.include?("vpsos_skips")

module VpsosTestHelper
  STATE_ROOT = "/run/vpsos-test"
  HOST_ROOT = 300_000
  NAMESPACES = { user: "new", mount: "new", pid: "new", uts: "new", ipc: "new",
                 network: "new", cgroup: "new" }.freeze
  # An init that writes "booted" to the console every 0.2 s (so an attach
  # after start still sees it) and otherwise sleeps.
  BOOT_LOOP = ["/bin/sh", "-c",
               "while :; do echo booted >/dev/console; sleep 0.2; done"].freeze
  SLEEP = ["/bin/sh", "-c", "exec sleep 1000"].freeze

  @counter = 0
  @lock = Mutex.new
  class << self
    def next_n
      @lock.synchronize { @counter += 1 }
    end
  end

  def rootfs
    ENV.fetch("VPSOS_RB_ROOTFS") { flunk "VPSOS_RB_ROOTFS is not set (run bindings/ruby/run-tests.sh)" }
  end

  def runtime
    @runtime ||= Vpsos::Runtime.new(STATE_ROOT)
  end

  # A system-container config on the shared rootfs, in the tests' cgroup
  # parent, with `extra` merged in (deeply).
  def config(args = SLEEP, **extra)
    base = { rootfs: rootfs, hostname: "rb", namespaces: NAMESPACES,
             uid_map: "0:#{HOST_ROOT}:65536", gid_map: "0:#{HOST_ROOT}:65536",
             cgroup: { path: "vpsos-test/{id}" }, process: { args: args } }
    deep = ->(a, b) { a.merge(b) { |_, x, y| x.is_a?(Hash) && y.is_a?(Hash) ? deep.(x, y) : y } }
    Vpsos::Config.new(deep.(base, extra))
  end

  # A unique container id, "rb-<name>-<pid>-<n>" (lowercase letters and
  # dashes in <name>: tests/check-leaks.sh matches ids by that pattern);
  # the container is force-deleted in teardown.
  def new_id(name = nil)
    name ||= self.name.to_s.delete_prefix("test_")
    # ids are at most 64 characters
    name = name.downcase.gsub(/[^a-z]+/, "-")[0, 32].gsub(/\A-+|-+\z/, "")
    name = "ct" if name.empty?
    id = "rb-#{name}-#{Process.pid}-#{VpsosTestHelper.next_n}"
    track(id)
    id
  end

  def track(id)
    (@ids_mutex ||= Mutex.new).synchronize { (@ids ||= []) << id }
    id
  end

  # create/run through the runtime, remembering the id for teardown.
  def create(id = new_id, cfg = config, **opts)
    runtime.create(track(id), cfg, **opts)
  end

  def run_ct(id = new_id, cfg = config, **opts)
    runtime.run(track(id), cfg, **opts)
  end

  # Run `argv` in `ct`; [stdout, Exit].
  def capture(ct, *argv, **opts)
    r, w = IO.pipe
    pr = begin
      ct.exec(*argv, stdout: w, **opts)
    ensure
      w.close
    end
    out = Timeout.timeout(20) { r.read }
    [out, pr.wait(timeout: 20)]
  ensure
    r&.close
  end

  # Skip (printing the reason, for scripts/test.sh) unless `cond`.
  def skip_unless(cond, why)
    skip(why) unless cond
  end

  # Poll `blk` until true, up to `timeout` seconds.
  def eventually(timeout = 5, step = 0.05)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      v = yield
      return v if v
      return v if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep step
    end
  end

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def teardown
    ids = (@ids_mutex ||= Mutex.new).synchronize { (@ids || []).dup }
    ids.each do |id|
      begin
        runtime.load(id).delete(force: true)
      rescue Vpsos::NotFound
        nil
      rescue StandardError => e
        warn "teardown: deleting #{id}: #{e.class}: #{e.message}"
        (runtime.recover(id) rescue nil)
      end
    end
    super
  end
end

class VpsosTest < Minitest::Test
  include VpsosTestHelper
end
