# frozen_string_literal: true

module Vpsos
  # How a process ended. `kind` is :exited, :signaled or :unknown (its
  # monitor did not live to record it); `code` the exit code or signal;
  # `reason` :reboot, :halt, :exit, :killed or :unknown (a container's
  # init ended by SIGHUP was rebooted, by SIGINT halted); `killed`
  # whether Container#stop had to kill it.
  Exit = Struct.new(:kind, :code, :reason, :killed, keyword_init: true) do
    def exitstatus
      kind == :exited ? code : nil
    end

    def termsig
      kind == :signaled ? code : nil
    end

    def success?
      kind == :exited && code.zero?
    end

    def reboot?
      reason == :reboot
    end

    def halt?
      reason == :halt
    end
  end

  def self.exit_of(tuple, killed = false)
    tuple && Exit.new(kind: tuple[0], code: tuple[1], reason: tuple[2], killed: killed)
  end

  # Wait for `obj` (a Container or Process: `_try_wait`, `_pidfd`,
  # `_wait_timeout`) to end, up to `timeout` seconds (nil: for ever).
  # The GVL is free while it waits, and the wait is Ruby's own
  # IO#wait_readable on the pidfd, so Thread#raise, Timeout and signals
  # interrupt it. nil when the time ran out.
  def self.wait_for(obj, timeout)
    x = obj._try_wait
    return exit_of(x) if x

    deadline = timeout && (clock + timeout)
    io = begin
      IO.for_fd(obj._pidfd, autoclose: true)
    rescue Vpsos::Error
      nil
    end
    begin
      loop do
        x = obj._try_wait
        return exit_of(x) if x

        left = deadline && (deadline - clock)
        return nil if left && left <= 0

        step = left ? [left, 1.0].min : 1.0
        if io && io.wait_readable(step)
          # the process ended: its monitor records the status right after
          x = obj._wait_timeout([step, 0.05].min)
          return exit_of(x) if x
        elsif io.nil?
          sleep([step, 0.02].min)
        end
      end
    ensure
      io&.close
    end
  end

  def self.clock
    ::Process.clock_gettime(::Process::CLOCK_MONOTONIC)
  end
end
