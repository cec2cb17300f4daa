# frozen_string_literal: true

require "helper"

# A container's life through the Ruby API: create, start, exec, console,
# stats, resources, freeze, list, load, stop, delete, recover, and the
# Config's JSON round trip.
class TestLifecycle < VpsosTest
  def test_create_start_gives_created_then_running_with_a_pid
    ct = create
    assert_kind_of Vpsos::Container, ct
    assert_equal :created, ct.state
    refute ct.running?
    ct.start
    assert_equal :running, ct.state
    assert ct.running?
    assert_kind_of Integer, ct.pid
    assert_operator ct.pid, :>, 1
    assert_equal ct.pid, ct.state_info[:pid]
    assert File.directory?("/proc/#{ct.pid}")
  end

  def test_exec_captures_stdout_and_exit_code
    ct = run_ct
    out, ex = capture(ct, "sh", "-c", "echo hi $(hostname); exit 4")
    assert_equal "hi rb\n", out
    assert_equal Vpsos::Exit.new(kind: :exited, code: 4, reason: :exit, killed: false), ex
    assert_equal 4, ex.exitstatus
    refute ex.success?
    out, ex = capture(ct, ["echo", "array", "form"])
    assert_equal "array form\n", out
    assert ex.success?
  end

  def test_exec_with_env_cwd_and_user
    ct = run_ct
    out, ex = capture(ct, "sh", "-c", "echo $FOO $(pwd) $(id -u)",
                      env: { "FOO" => "bar", "PATH" => "/bin:/usr/bin:/sbin:/usr/sbin" },
                      cwd: "/tmp", user: 1000)
    assert ex.success?, ex.inspect
    assert_equal "bar /tmp 1000\n", out
  end

  def test_exec_with_a_terminal_gives_a_pty_console
    ct = run_ct
    pr = ct.exec("sh", "-c", "tty; sleep 0.5", terminal: true)
    io = pr.console
    refute_nil io, "exec with terminal: true hands over the pty master"
    assert_kind_of IO, io
    assert_nil pr.console, "the pty master is handed over once"
    buf = +""
    Timeout.timeout(10) do
      until buf.include?("\n")
        begin
          buf << io.readpartial(4096)
        rescue EOFError, Errno::EIO
          break
        end
      end
    end
    assert_match %r{/dev/pts/\d+}, buf
    assert pr.wait(timeout: 10).success?
  ensure
    io&.close
  end

  def test_console_attach_reads_what_init_writes_and_ttys_are_ios
    ct = run_ct(new_id, config(BOOT_LOOP))
    got = ct.with_console do |io|
      assert_kind_of IO, io
      buf = +""
      Timeout.timeout(10) { buf << io.readpartial(4096) until buf.include?("booted") }
      buf
    end
    assert_includes got, "booted"
    tty = ct.attach_tty(1)
    assert_kind_of IO, tty
    refute tty.closed?
    tty.close
    assert eventually { ct.console_log.include?("booted") }, "console_log keeps the output"
    assert_kind_of String, ct.console_log
  end

  def test_stats_is_a_struct_with_pids_and_memory
    ct = run_ct
    st = ct.stats
    assert_kind_of Vpsos::Stats, st
    assert_kind_of Struct, st
    assert_operator st.pids_current, :>=, 1
    assert_operator st.memory_current, :>, 0
  end

  def test_update_resources_changes_limits_live
    ct = run_ct
    ct.update_resources(memory: { max: 256 << 20 }, pids: { max: 77 })
    res = ct.resources
    assert_equal 256 << 20, res[:memory][:max]
    assert_equal 77, res[:pids][:max]
  end

  def test_freeze_and_thaw
    ct = run_ct
    refute ct.frozen?
    ct.freeze
    assert ct.frozen?
    assert_equal :frozen, ct.state
    ct.thaw
    refute ct.frozen?
    assert_equal :running, ct.state
    _, ex = capture(ct, "true")
    assert ex.success?
  end

  def test_list_shows_running_container_and_load_gives_a_second_handle
    ct = run_ct
    info = runtime.list.find { |c| c.id == ct.id }
    refute_nil info, "list has #{ct.id}"
    assert_kind_of Vpsos::ContainerInfo, info
    assert_equal :running, info.status
    assert_equal ct.pid, info.pid
    assert_kind_of Time, info.created
    assert_includes runtime.ids, ct.id
    other = Vpsos::Runtime.new(VpsosTestHelper::STATE_ROOT).load(ct.id)
    assert_equal ct.id, other.id
    assert_equal ct.pid, other.pid
    assert_equal :running, other.state
    assert_equal ct.config, other.config
  end

  def test_stop_with_a_halt_signal_the_init_traps_exits_cleanly
    init = "trap 'exit 0' TERM; echo trapped >/dev/console; while :; do sleep 0.1; done"
    ct = run_ct(new_id, config(["/bin/sh", "-c", init], halt: { signal: 15 }))
    assert_equal({ signal: 15 }, ct.config[:halt])
    # PID 1 ignores a signal it has no handler for: stop once the trap is set
    assert eventually(10) { ct.console_log.include?("trapped") }, "the init set its trap"
    ex = ct.stop(10)
    assert_equal :exited, ex.kind
    assert_equal 0, ex.code
    assert_equal false, ex.killed
    assert_equal :stopped, ct.state
    assert_equal ex.kind, ct.wait(timeout: 1).kind
  end

  def test_stop_of_a_sleep_init_has_to_kill_it
    ct = run_ct
    t0 = monotonic
    ex = ct.stop(0.5)
    assert_operator monotonic - t0, :<, 10
    assert_equal true, ex.killed
    assert_equal :signaled, ex.kind
    assert_equal 9, ex.code
    assert_equal :killed, ex.reason
    assert_equal :stopped, ct.state
  end

  def test_wait_with_timeout_returns_nil_then_the_exit
    ct = run_ct(new_id, config(["/bin/sh", "-c", "sleep 0.5; exit 3"]))
    assert_nil ct.wait(timeout: 0.1)
    ex = ct.wait(timeout: 20)
    assert_equal :exited, ex.kind
    assert_equal 3, ex.code
    assert_equal :exit, ex.reason
  end

  def test_delete_then_load_raises_not_found
    ct = run_ct
    id = ct.id
    ct.stop(0.5)
    ct.delete
    refute File.exist?("#{VpsosTestHelper::STATE_ROOT}/#{id}")
    e = assert_raises(Vpsos::NotFound) { runtime.load(id) }
    assert_equal :not_found, e.kind
    refute_includes runtime.ids, id
  end

  # recover undoes what a dead creator or deleter left half-way; a
  # complete container, running or stopped, is left as it is (vpsos-core's
  # Runtime::recover), and delete then removes it
  def test_recover_leaves_a_complete_stopped_container_and_unknown_is_not_found
    ct = run_ct(new_id, config(["/bin/true"]))
    refute_nil ct.wait(timeout: 20)
    assert_equal :stopped, ct.state
    rec = runtime.recover(ct.id)
    assert_kind_of Hash, rec
    assert_equal ct.id, rec[:id]
    assert_equal false, rec[:state_removed]
    assert_equal :stopped, runtime.load(ct.id).state
    ct.delete
    assert_raises(Vpsos::NotFound) { runtime.load(ct.id) }
    assert_raises(Vpsos::NotFound) { runtime.recover(ct.id) }
  end

  def test_config_round_trips_through_json
    cfg = config(BOOT_LOOP, resources: { pids: { max: 100 } })
    assert_equal cfg, Vpsos::Config.new(cfg.to_json)
    assert_equal cfg, Vpsos::Config.from_json(cfg.to_json)
    assert_equal cfg, Vpsos::Config.new(cfg.to_h)
    h = cfg.to_h
    assert h.keys.all?(Symbol), "to_h keys are symbols"
    assert h[:process].keys.all?(Symbol)
    assert_equal BOOT_LOOP, h[:process][:args]
    assert_equal "rb", cfg[:hostname]
    assert_equal 100, cfg[:resources][:pids][:max]
    m = cfg.merge(hostname: "other")
    assert_equal "other", m[:hostname]
    assert_equal rootfs, m[:rootfs]
    refute_equal cfg, m
    string_keys = JSON.parse(cfg.to_json)
    assert_equal cfg, Vpsos::Config.new(string_keys)
  end
end
