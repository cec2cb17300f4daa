# frozen_string_literal: true

require "helper"

# The binding with Ruby threads, the GVL, the GC and the program's own
# child reaping: waits free the GVL and are interruptible, many threads
# may drive containers at once, and no exit status is lost to
# Process.wait.
class TestThreads < VpsosTest
  # A thread counting as fast as it can while `blk` runs; how far it got.
  def count_during
    count = 0
    stop = false
    t = Thread.new { count += 1 until stop }
    sleep 0.05
    before = count
    yield
    stop = true
    t.join
    count - before
  end

  def test_other_threads_run_while_one_waits
    ct = run_ct
    got = nil
    grew = count_during { got = ct.wait(timeout: 1.0) }
    assert_nil got
    # a thread holding the GVL for the whole second would leave it at ~0
    assert_operator grew, :>, 100_000, "the counter thread ran during the wait"
  end

  def test_other_threads_run_while_one_stops
    ct = run_ct
    ex = nil
    grew = count_during { ex = ct.stop(0.5) }
    assert ex.killed
    assert_operator grew, :>, 10_000, "the counter thread ran during stop (GVL released)"
  end

  def test_timeout_interrupts_a_wait
    ct = run_ct
    t0 = monotonic
    assert_raises(Timeout::Error) { Timeout.timeout(0.5) { ct.wait } }
    elapsed = monotonic - t0
    assert_operator elapsed, :<, 2.0, "Timeout interrupted the wait in #{elapsed} s"
    assert_equal :running, ct.state
  end

  def test_thread_raise_interrupts_a_wait
    ct = run_ct
    q = Queue.new
    t = Thread.new do
      q << :waiting
      ct.wait
      :returned
    rescue RuntimeError => e
      e.message
    end
    q.pop
    sleep 0.3
    t0 = monotonic
    t.raise(RuntimeError, "interrupted")
    assert_equal "interrupted", t.value
    assert_operator monotonic - t0, :<, 2.0
    # the container is unharmed and the next wait works
    assert_nil ct.wait(timeout: 0.1)
    assert ct.stop(0.5).killed
  end

  def test_timeout_interrupts_a_process_wait
    ct = run_ct
    pr = ct.exec("sleep", "100")
    t0 = monotonic
    assert_raises(Timeout::Error) { Timeout.timeout(0.5) { pr.wait } }
    assert_operator monotonic - t0, :<, 2.0
    pr.kill(:KILL)
    ex = pr.wait(timeout: 10)
    assert_equal :signaled, ex.kind
    assert_equal 9, ex.code
  end

  def test_eight_threads_drive_containers_while_two_allocate
    stop = false
    garbage = Array.new(2) do
      Thread.new do
        n = 0
        until stop
          a = Array.new(1000) { |i| "s#{i}" * 3 }
          h = a.each_with_object({}) { |s, x| x[s] = [s, s.upcase] }
          n += h.size
        end
        n
      end
    end
    errors = Queue.new
    workers = Array.new(8) do |w|
      Thread.new do
        2.times do |k|
          id = new_id("threads")
          ct = runtime.run(id, config)
          out, ex = capture(ct, "sh", "-c", "echo w#{w}k#{k}")
          raise "exec in #{id}: #{out.inspect} #{ex.inspect}" unless out == "w#{w}k#{k}\n" && ex.success?
          st = ct.stop(0.5)
          raise "stop of #{id}: #{st.inspect}" unless st.killed
          ct.delete
          raise "#{id} still there" if runtime.ids.include?(id)
        end
        :ok
      rescue StandardError => e
        errors << "worker #{w}: #{e.class}: #{e.message}"
        :failed
      end
    end
    results = workers.map(&:value)
    stop = true
    allocated = garbage.map(&:value)
    msgs = []
    msgs << errors.pop until errors.empty?
    assert_empty msgs
    assert_equal [:ok] * 8, results
    assert(allocated.all?(&:positive?), "the allocating threads ran")
  end

  def test_a_lifecycle_under_gc_stress
    id = new_id
    out = ex = st = nil
    begin
      GC.stress = true
      ct = runtime.run(id, config)
      r, w = IO.pipe
      pr = ct.exec("sh", "-c", "echo stressed; exit 2", stdout: w)
      w.close
      out = r.read
      r.close
      ex = pr.wait(timeout: 20)
      st = ct.stop(0.5)
      ct.delete
    ensure
      GC.stress = false
    end
    assert_equal "stressed\n", out
    assert_equal 2, ex.exitstatus
    assert st.killed
    assert_raises(Vpsos::NotFound) { runtime.load(id) }
  end

  def test_a_container_outlives_the_thread_that_made_it
    id = new_id
    pid = Thread.new { runtime.run(id, config).pid }.value
    GC.start
    ct = runtime.load(id)
    assert_equal :running, ct.state
    assert_equal pid, ct.pid
    assert File.directory?("/proc/#{pid}")
    out, ex = capture(ct, "echo", "alive")
    assert_equal "alive\n", out
    assert ex.success?
  end

  def test_process_wait_of_the_program_cannot_take_a_containers_status
    ct = run_ct(new_id, config(["/bin/sh", "-c", "sleep 0.3; exit 7"]))
    pr = ct.exec("sh", "-c", "exit 5")
    # the program's own children, and whatever it might reap
    own = ::Process.spawn("true")
    ::Process.detach(::Process.spawn("true")).join
    reaped = ::Process.waitall.map(&:first)
    assert_includes reaped, own
    refute_includes reaped, ct.pid
    begin
      ::Process.wait(-1, ::Process::WNOHANG)
      flunk "Process.wait(-1) found a child"
    rescue Errno::ECHILD
      nil
    end
    ex = ct.wait(timeout: 20)
    assert_equal :exited, ex.kind
    assert_equal 7, ex.code
    pex = pr.wait(timeout: 20)
    assert_equal :exited, pex.kind
    assert_equal 5, pex.code
    # and again after the program reaped once more
    ::Process.waitall
    assert_equal 7, ct.wait(timeout: 1).code
    assert_equal 5, pr.wait(timeout: 1).code
  end
end
