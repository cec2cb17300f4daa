# frozen_string_literal: true

module Vpsos
  # What a container uses (Container#stats, Cgroup#stats); figures this
  # host's cgroups do not report are nil.
  Stats = Struct.new(:memory_current, :memory_peak, :swap_current, :cpu_usage_usec,
                     :cpu_user_usec, :cpu_system_usec, :pids_current, :io_read_bytes,
                     :io_write_bytes, :io_read_ops, :io_write_ops, :oom_kills, keyword_init: true)

  def self.stats_of(json)
    h = JSON.parse(json, symbolize_names: true)
    Stats.new(**h.slice(*Stats.members)) # a field a newer core adds is left out
  end

  # The device rules Container#grant_device knows by name.
  DEVICES = {
    kvm: { kind: "char", major: 10, minor: 232, access: "rwm", path: "/dev/kvm" },
    tun: { kind: "char", major: 10, minor: 200, access: "rwm", path: "/dev/net/tun" },
    fuse: { kind: "char", major: 10, minor: 229, access: "rwm", path: "/dev/fuse" }
  }.freeze

  # A container. Any thread may use it, several at once; other handles
  # (Runtime#load, in this or other processes) see the same container.
  class Container
    # :creating, :created, :running, :frozen, :stopped or :deleting.
    def state
      state_info[:status].to_sym
    end

    # The whole state: status, pid, monitor_pid, created, started, cgroup, …
    def state_info
      JSON.parse(_state_json, symbolize_names: true)
    end

    def running?
      state == :running
    end

    def config
      Config.new(_config_json)
    end

    # Wait for the init to end, up to `timeout` seconds (nil: for ever):
    # an Exit, or nil when the time ran out. Interruptible.
    def wait(timeout: nil)
      Vpsos.wait_for(self, timeout)
    end

    def kill(signal = :TERM)
      _kill(Vpsos.signo(signal))
    end

    # Ask the init to halt as its kind wants; after `timeout` seconds kill
    # everything. An Exit (with #killed) says how it ended.
    def stop(timeout = 10)
      k, c, r, killed = _stop(timeout.to_f)
      Exit.new(kind: k, code: c, reason: r, killed: killed)
    end

    # Delete a stopped or created container (force: kill a running one first).
    def delete(force: false)
      _delete(force)
    end

    # Run a command in the container: exec("ls", "-l", "/") or
    # exec(["sh", "-c", "…"], env: { "LANG" => "C" }, cwd: "/root",
    # user: 1000 | [1000, 1000], terminal: true, stdout: io). Any other
    # keyword is a field of the config's process form (rlimits:, …).
    # Returns a Vpsos::Process.
    def exec(*argv, env: nil, cwd: nil, user: nil, terminal: false, stdin: nil, stdout: nil,
             stderr: nil, **process)
      p = process.merge(args: argv.flatten.map(&:to_s), terminal: terminal)
      p[:env] = env.is_a?(Hash) ? env.map { |k, v| "#{k}=#{v}" } : env if env
      p[:cwd] = cwd.to_s if cwd
      p[:user] = user_of(user) if user
      _exec(JSON.generate(p), Vpsos.fd_of(stdin), Vpsos.fd_of(stdout), Vpsos.fd_of(stderr))
    end

    # The console as an IO (a stream socket): what the container writes to
    # /dev/console from now on; what is written to it is console input.
    def attach_console
      io_of(_attach_console)
    end

    # tty `n` (1 … console.ttys) as an IO.
    def attach_tty(num)
      io_of(_attach_tty(num))
    end

    # The console for the block, closed after it.
    def with_console
      io = attach_console
      begin
        yield io
      ensure
        io.close unless io.closed?
      end
    end

    def stats
      Vpsos.stats_of(_stats_json)
    end

    # Change limits live: update_resources(memory: { max: 2 << 30 }, pids: { max: 4096 }).
    def update_resources(resources)
      _update_resources(JSON.generate(resources))
    end

    def resources
      JSON.parse(_resources_json, symbolize_names: true)
    end

    # grant_device(:tun) or grant_device(kind: "char", major: 10, minor: 200, access: "rwm", path: "/dev/net/tun")
    def grant_device(rule = nil, **fields)
      _grant_device(JSON.generate(device_of(rule, fields)))
    end

    def revoke_device(rule = nil, **fields)
      _revoke_device(JSON.generate(device_of(rule, fields)))
    end

    def devices
      JSON.parse(_devices_json, symbolize_names: true)
    end

    # add_interface(type: "bridged", name: "eth1", bridge: "br0", addresses: ["10.0.0.5/24"])
    def add_interface(interface = nil, **fields)
      _add_interface(JSON.generate(interface || fields))
    end

    # Rates in bits per second; nil lifts a limit.
    def set_interface_rates(name, rx: nil, tx: nil)
      _set_interface_rates(name.to_s, rx, tx)
    end

    # mount(type: "bind", source: "/srv/data", destination: "/data", readonly: true)
    def mount(mount = nil, **fields)
      _mount(JSON.generate(mount || fields))
    end

    # The init's pidfd as an IO (readable once the init ended), for a
    # caller's own event loop.
    def pidfd
      IO.for_fd(_pidfd, autoclose: true)
    end

    def inspect
      "#<Vpsos::Container #{id}>"
    end

    private

    def io_of(fd)
      io = IO.for_fd(fd, mode: "r+b", autoclose: true)
      io.sync = true
      io
    end

    def user_of(user)
      case user
      when Integer then { uid: user, gid: user }
      when Array then { uid: user[0], gid: user[1], additional_gids: user[2..] || [] }
      when Hash then user
      else raise ArgumentError, "user: an Integer, [uid, gid] or a Hash, not #{user.inspect}"
      end
    end

    def device_of(rule, fields)
      return DEVICES.fetch(rule) { raise ArgumentError, "no device named #{rule.inspect}" } if rule.is_a?(Symbol)

      rule || fields
    end
  end

  # A process exec'd into a container (Container#exec). Its own monitor
  # reaps it: the program's Process.wait cannot take its status, and a
  # Process dropped without #wait leaves nothing behind.
  class Process
    # An Exit, or nil when `timeout` seconds passed. Interruptible.
    def wait(timeout: nil)
      Vpsos.wait_for(self, timeout)
    end

    def kill(signal = :TERM)
      _kill(Vpsos.signo(signal))
    end

    # Its pty master as an IO (exec with terminal: true), handed over once.
    def console
      fd = _console
      return nil unless fd

      io = IO.for_fd(fd, mode: "r+b", autoclose: true)
      io.sync = true
      io
    end

    def pidfd
      IO.for_fd(_pidfd, autoclose: true)
    end
  end
end
