#!/usr/bin/env ruby
# frozen_string_literal: true

# What osctld does for one container, through vpsos instead of ruby-lxc,
# lxc-start, hook scripts, `ip`, `tc` and `zfs`:
#
#   ruby -I bindings/ruby/lib examples/ruby/osctl_scenario.rb [DEBIAN_SYSTEMD_TREE]
#
# (as root; the tree defaults to the cached test image built by
# tests/images/build-debian.sh). It allocates an id-range block for a user,
# lays the rootfs out on directory storage (or on a ZFS dataset when
# OSCTL_POOL names a pool), configures the container with osctld's cgroup
# layout, a bridged and a routed veth, starts it, waits for systemd, runs
# a command, reads stats, raises the memory limit live, reads the login
# prompt on the console, grants /dev/net/tun live, halts it and cleans up.
require "vpsos"
require "fileutils"

TREE = ARGV[0] || "/var/cache/vpsos-images/debian12-systemd"
STATE = ENV.fetch("OSCTL_STATE", "/var/lib/vpsos-osctl-example") # id range, rootfs
USER = "1000"
CT = "ct#{Process.pid % 100_000}"
BRIDGE = "osbr#{Process.pid % 100_000}"

def say(what)
  puts format("%-10s %s", what, yield)
end

runtime = Vpsos::Runtime.new(ENV.fetch("OSCTL_RUN", "/run/vpsos-osctl-example"))
ids = Vpsos::IdRange.open("#{STATE}/id-range.json")
block = ids.allocate(owner: "user.#{USER}")
say("ids") { "block #{block.index} for user #{USER}: #{block.id_map}" }

# the rootfs: a dataset pool/ct/<id> like osctld's, or a directory
zfs = ENV["OSCTL_POOL"] && Vpsos.has_feature?("zfs") && Vpsos::ZFS.new
dataset = zfs && "#{ENV['OSCTL_POOL']}/ct/#{CT}"
storage_root = "#{STATE}/ct"
if zfs
  zfs.create(dataset, "org.vpsadminos.osctl:user" => USER, "canmount" => "on")
  storage_root = zfs.get(dataset, "mountpoint")[dataset]["mountpoint"]
end
storage = Vpsos::DirStorage.new(storage_root)
rootfs = storage.create_from_dir(zfs ? "rootfs" : CT, TREE)
say("rootfs") { zfs ? "#{dataset} (#{rootfs})" : rootfs }

# the host side of the network: a bridge with the gateway address
Vpsos::Net.add_bridge(BRIDGE)
Vpsos::Net.add_address(BRIDGE, "10.100.0.1/24")
Vpsos::Net.set_up(BRIDGE)

config = Vpsos::Config.new(
  rootfs: rootfs,
  idmapped_rootfs: true, # the tree is owned by 0 on disk: mapped, not chowned
  hostname: CT,
  namespaces: { user: "new", mount: "new", pid: "new", uts: "new", ipc: "new",
                network: "new", cgroup: "new" },
  uid_map: block.id_map, gid_map: block.id_map,
  cgroup: { path: "osctl/pool.tank/group.default/user.#{USER}/ct.{id}" },
  resources: { memory: { max: 512 << 20 }, pids: { max: 2048 } },
  interfaces: [
    # the bridged one for a private LAN; the routed one carries the default
    # route (via 255.255.255.254, as osctld's routed veths do)
    { type: "bridged", name: "eth0", bridge: BRIDGE, addresses: ["10.100.0.2/24"] },
    { type: "routed", name: "eth1", addresses: ["10.200.0.2/32"] }
  ],
  process: { args: ["/sbin/init"] }
)

ct = nil
begin
  ct = runtime.run(CT, config)
  started = Time.now
  state = nil
  until %w[running degraded].include?(state) || Time.now - started > 120
    r, w = IO.pipe
    ct.exec("systemctl", "is-system-running", stdout: w, stderr: w).tap { w.close }.wait
    state = r.read.strip
    r.close
    sleep 0.05
  end
  say("systemd") { "#{state} after #{(Time.now - started).round(2)} s" }
  if state == "degraded"
    r, w = IO.pipe
    ct.exec("systemctl", "--failed", "--no-legend", "--plain", stdout: w).tap { w.close }.wait
    say("failed") { r.read.split("\n").map { |l| l.split.first }.join(", ") }
    r.close
  end

  r, w = IO.pipe
  ct.exec("sh", "-c", "hostname; ip -4 -br addr show eth0; ip -4 -br addr show eth1", stdout: w)
    .tap { w.close }.wait
  puts r.read.lines.map { |l| "  inside   #{l}" }.join
  r.close

  s = ct.stats
  say("stats") { "#{s.memory_current >> 20} MiB, #{s.pids_current} tasks, #{s.cpu_usage_usec / 1000} ms CPU" }
  ct.update_resources(memory: { max: 1 << 30 })
  say("memory") { "limit raised to #{ct.resources.dig(:memory, :max) >> 20} MiB" }

  prompt = ct.with_console do |con|
    con.write("\n") # a fresh prompt
    buf = +""
    deadline = Time.now + 30
    while Time.now < deadline && !buf.include?("login:")
      next unless con.wait_readable(1)

      buf << con.read_nonblock(4096, exception: false).to_s
    end
    buf.lines.grep(/login:/).last&.strip
  end
  say("console") { prompt.inspect }

  ct.grant_device(:tun)
  ok = ct.exec("test", "-c", "/dev/net/tun").wait.success?
  say("tun") { ok ? "/dev/net/tun granted live" : "missing" }

  how = ct.stop(60)
  say("stopped") { "#{how.reason} (killed: #{how.killed})" }
ensure
  ct&.delete(force: true)
  storage.delete(zfs ? "rootfs" : CT)
  zfs&.destroy(dataset, recursive: true)
  Vpsos::Net.delete_link(BRIDGE) if Vpsos::Net.link_exists?(BRIDGE)
  ids.free(block.index)
  say("cleaned") { "container, rootfs, bridge, id block #{block.index}" }
end
