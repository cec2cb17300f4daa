# frozen_string_literal: true

module Vpsos
  # One line of Runtime#list.
  ContainerInfo = Struct.new(:id, :status, :pid, :created, :started, keyword_init: true)

  # Where containers' state lives (default /run/vpsos). Any number of
  # Runtime objects, threads and processes may share one root.
  #
  #   rt = Vpsos::Runtime.new("/run/vpsos")
  #   rt.list.each { |c| puts "#{c.id} #{c.status}" }
  class Runtime
    class << self
      def new(root = nil)
        _new(root&.to_s)
      end
    end

    # Create container `id` from `config` (a Config, Hash or JSON); its
    # init waits for #start. stdin/stdout/stderr: nil (/dev/null),
    # :inherit, an IO or an fd. A failed create leaves nothing behind.
    def create(id, config, stdin: nil, stdout: nil, stderr: nil)
      _create(id.to_s, Config.json_of(config), Vpsos.fd_of(stdin), Vpsos.fd_of(stdout),
              Vpsos.fd_of(stderr), false)
    end

    # Create and start (a failed start deletes it again).
    def run(id, config, stdin: nil, stdout: nil, stderr: nil)
      _create(id.to_s, Config.json_of(config), Vpsos.fd_of(stdin), Vpsos.fd_of(stdout),
              Vpsos.fd_of(stderr), true)
    end

    # Every container with its status.
    def list
      JSON.parse(_list, symbolize_names: true).map do |c|
        ContainerInfo.new(id: c[:id], status: c[:status].to_sym, pid: c[:pid],
                          created: Time.at(c[:created]), started: c[:started] && Time.at(c[:started]))
      end
    end

    # Undo what a dead creator or deleter left half-way of `id`; what was
    # removed, as a Hash. A complete container (created, running or
    # stopped) is left as it is (state_removed: false); one that a live
    # process is changing is Busy.
    def recover(id)
      JSON.parse(_recover(id.to_s), symbolize_names: true)
    end

    def recover_all
      JSON.parse(_recover_all, symbolize_names: true)
    end

    # Host interfaces of containers that no longer exist.
    def orphaned_interfaces
      _orphaned_interfaces(false)
    end

    def remove_orphaned_interfaces
      _orphaned_interfaces(true)
    end
  end
end
