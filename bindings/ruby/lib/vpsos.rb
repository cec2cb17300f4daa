# frozen_string_literal: true

# vpsos from Ruby: system containers through the library, no lxc-* binaries.
#
#   require "vpsos"
#   rt = Vpsos::Runtime.new("/run/vpsos")
#   ct = rt.run("ct101", Vpsos::Config.new(rootfs: "/srv/ct101", process: { args: ["/sbin/init"] }))
#   puts ct.exec("hostname", stdout: $stdout).wait.exitstatus
#   ct.stop(30)
#   ct.delete
#
# Every blocking call runs without the GVL; waits (Container#wait,
# Process#wait) poll the process's pidfd with Ruby's own IO waiting, so
# Thread#raise, Timeout.timeout and Ctrl-C interrupt them. No Ruby code
# ever runs in a forked child.
require "json"
require "io/wait"
require_relative "vpsos/errors"
require File.expand_path("vpsos/vpsos_native", __dir__)
require_relative "vpsos/version"
require_relative "vpsos/config"
require_relative "vpsos/wait"
require_relative "vpsos/runtime"
require_relative "vpsos/container"
require_relative "vpsos/subsystems"
