# frozen_string_literal: true

# The osctld scenario (examples/ruby/osctl_scenario.rb) end to end on the
# cached Debian 12 systemd tree: id block, osctld's cgroup layout,
# bridged + routed veths, systemd up, exec, stats, live memory limit,
# the console's login prompt, /dev/net/tun granted live, halt, cleanup.
require "minitest/autorun"
require "open3"
require "tmpdir"
require "fileutils"

class TestOsctlScenario < Minitest::Test
  EXAMPLE = File.expand_path("../../../examples/ruby/osctl_scenario.rb", __dir__)
  TREE = File.join(ENV.fetch("VPSOS_IMAGE_CACHE", "/var/cache/vpsos-images"), "debian12-systemd")

  def test_osctld_drives_a_debian_container_through_vpsos
    unless File.exist?(File.join(TREE, "etc/os-release"))
      msg = "no Debian tree at #{TREE} (tests/images/build-debian.sh builds it)"
      puts "SKIPPED rb::#{name}: #{msg}"
      skip msg
    end
    # its id range, rootfs and state in directories of the test's own
    dirs = [Dir.mktmpdir("rb-osctl-", "/var/tmp"), Dir.mktmpdir("rb-osctl-", "/run")]
    # the container's root must reach its rootfs and (idmapped) its mount in the state dir
    File.chmod(0o755, dirs[0])
    File.chmod(0o711, dirs[1])
    env = { "OSCTL_STATE" => dirs[0], "OSCTL_RUN" => dirs[1] }
    out, status = begin
      Open3.capture2e(env, "ruby", "-I", File.expand_path("../lib", __dir__), EXAMPLE, TREE)
    ensure
      dirs.each { |d| FileUtils.rm_rf(d) }
    end
    assert status.success?, out
    lines = out.lines.to_h { |l| [l[0, 10].strip, l[11..].to_s.strip] }
    assert_match(/\A(running|degraded) after/, lines["systemd"], out)
    assert_match(/10\.100\.0\.2\/24/, out)
    assert_match(/10\.200\.0\.2\/32/, out)
    assert_match(/\d+ MiB, \d+ tasks/, lines["stats"], out)
    assert_equal "limit raised to 1024 MiB", lines["memory"], out
    assert_match(/login:/, lines["console"], out)
    assert_equal "/dev/net/tun granted live", lines["tun"], out
    assert_equal "halt (killed: false)", lines["stopped"], out
    assert_match(/\Acontainer, rootfs, bridge, id block \d+\z/, lines["cleaned"], out)
  end
end
