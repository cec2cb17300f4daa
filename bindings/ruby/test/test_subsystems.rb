# frozen_string_literal: true

require "helper"
require "tempfile"
require "tmpdir"
require "fileutils"

# The subsystems osctld drives on their own through the binding: id
# ranges, cgroups, devices, interfaces, live mounts, directory storage and
# exports, AppArmor and ZFS.
class TestSubsystems < VpsosTest
  TREES = "/var/tmp/vpsos-tests"

  def test_id_range_allocates_lists_and_frees
    Dir.mktmpdir("rb-idrange", TREES) do |dir|
      path = File.join(dir, "ids.json")
      r = Vpsos::IdRange.open(path, start: 1_000_000, block_size: 65_536, block_count: 16)
      assert_equal path, r.path
      a = r.allocate(owner: "ct-a")
      assert_kind_of Vpsos::IdRange::Allocation, a
      assert_equal [0, 1, "ct-a", 1_000_000, 65_536], a.to_a
      assert_equal "0:1000000:65536", a.id_map
      b = r.allocate(2, owner: "ct-b")
      assert_equal 1, b.index
      assert_equal 2, b.count
      assert_equal 1_065_536, b.first_id
      assert_equal 131_072, b.id_count
      c = r.allocate_at(5, owner: "ct-c")
      assert_equal 5, c.index
      e = assert_raises(Vpsos::AlreadyExists) { r.allocate_at(2, owner: "ct-x") }
      assert_equal :already_exists, e.kind
      r.allocate(owner: "ct-b")
      assert_equal [0, 1, 3, 5], r.list.map(&:index)
      # another handle on the same file sees the same allocations
      assert_equal r.list, Vpsos::IdRange.open(path, start: 1_000_000, block_size: 65_536,
                                                     block_count: 16).list
      freed = r.free(0)
      assert_equal "ct-a", freed.owner
      assert_raises(Vpsos::Error) { r.free(0) }
      assert_equal 2, r.free_owner("ct-b")
      assert_equal [["ct-c", 5]], r.list.map { |x| [x.owner, x.index] }
      assert_equal 0, r.allocate(owner: "ct-d").index, "first fit reuses freed blocks"
      e = assert_raises(Vpsos::InvalidConfig) do
        Vpsos::IdRange.open(path, start: 2_000_000, block_size: 65_536, block_count: 16)
      end
      assert_equal :invalid_config, e.kind
    end
  end

  def test_cgroup_resources_stats_freeze_and_remove
    cg = Vpsos::Cgroup.create("vpsos-test/rb-cg-#{Process.pid}")
    begin
      assert cg.exists?
      assert_equal "vpsos-test/rb-cg-#{Process.pid}", cg.path
      assert_includes %i[unified hybrid legacy], Vpsos::Cgroup.mode
      cg.set_resources(pids: { max: 50 })
      assert_equal 50, cg.resources[:pids][:max]
      assert_kind_of Vpsos::Stats, cg.stats
      assert_empty cg.procs
      refute cg.frozen?
      cg.freeze
      assert cg.frozen?
      cg.thaw
      refute cg.frozen?
      cg.kill_all(timeout: 1)
    ensure
      cg.remove
    end
    refute cg.exists?
    refute Vpsos::Cgroup.open("vpsos-test/rb-cg-#{Process.pid}").exists?
  end

  def test_grant_and_revoke_tun_device
    ct = run_ct
    _, ex = capture(ct, "test", "-c", "/dev/net/tun")
    refute ex.success?, "no /dev/net/tun before the grant"
    ct.grant_device(:tun)
    assert(ct.devices.any? { |d| d[:major] == 10 && d[:minor] == 200 }, "the rule is listed")
    _, ex = capture(ct, "test", "-c", "/dev/net/tun")
    assert ex.success?, "/dev/net/tun is a char device inside after the grant"
    ct.revoke_device(:tun)
    refute(ct.devices.any? { |d| d[:major] == 10 && d[:minor] == 200 }, "the rule is gone")
    _, ex = capture(ct, "test", "-e", "/dev/net/tun")
    refute ex.success?, "/dev/net/tun is gone after the revoke"
  end

  def test_bridged_interface_add_rates_and_remove
    bridge = "vptrb#{Process.pid % 10_000}" # vpt*: the leak checker's test links
    Vpsos::Net.add_bridge(bridge)
    begin
      assert Vpsos::Net.link_exists?(bridge)
      Vpsos::Net.set_up(bridge)
      assert(Vpsos::Net.links.any? { |l| l.name == bridge && l.kind == "bridge" })
      ct = run_ct
      ct.add_interface(type: "bridged", name: "eth1", bridge: bridge, addresses: ["10.77.0.2/24"])
      out, ex = capture(ct, "ip", "addr", "show", "eth1")
      assert ex.success?, out
      assert_includes out, "10.77.0.2/24"
      host = ct.host_interfaces
      refute_empty host
      assert(host.all? { |h| Vpsos::Net.link_exists?(h) })
      ct.set_interface_rates("eth1", rx: 10_000_000)
      ct.set_interface_rates("eth1", rx: nil)
      ct.remove_interface("eth1")
      _, ex = capture(ct, "ip", "link", "show", "eth1")
      refute ex.success?, "eth1 is gone inside"
      assert(host.none? { |h| Vpsos::Net.link_exists?(h) }, "the host end is gone")
    ensure
      Vpsos::Net.delete_link(bridge) rescue nil
    end
    refute Vpsos::Net.link_exists?(bridge)
  end

  def test_live_tmpfs_mount_and_unmount
    ct = run_ct
    ct.mount(type: "tmpfs", destination: "/mnt/rb", data: "size=1m")
    out, ex = capture(ct, "grep", "/mnt/rb", "/proc/mounts")
    assert ex.success?
    assert_match(%r{^\S+ /mnt/rb tmpfs }, out)
    ct.unmount("/mnt/rb")
    out, ex = capture(ct, "grep", "/mnt/rb", "/proc/mounts")
    refute ex.success?, out
  end

  def test_dir_storage_export_and_import
    Dir.mktmpdir("rb-storage", TREES) do |dir|
      File.chmod(0o755, dir) # the container's root (uid 300000) walks through it
      st = Vpsos::DirStorage.new(File.join(dir, "rootfs"))
      src = st.create_from_dir("src", rootfs)
      File.chmod(0o755, File.join(dir, "rootfs"))
      assert_equal st.path("src"), src
      assert File.executable?(File.join(src, "bin/busybox"))
      assert File.symlink?(File.join(src, "bin/sh"))
      assert_equal 300_000, File.lstat(File.join(src, "etc/passwd")).uid
      assert_operator st.size("src"), :>, 0
      cfg = config(SLEEP, rootfs: src, hostname: "exported")
      Tempfile.create("rb-export", dir) do |tf|
        Vpsos.export_dir(cfg, src, tf)
        assert_operator tf.size, :>, 0
        tf.rewind
        imported = st.import("copy", tf)
        assert_kind_of Vpsos::Config, imported
        assert_equal st.path("copy"), imported[:rootfs]
        assert imported[:rootfs].start_with?(File.join(dir, "rootfs") + "/")
        assert_equal "exported", imported[:hostname]
        assert_equal cfg.merge(rootfs: st.path("copy")), imported
      end
      assert File.executable?(File.join(st.path("copy"), "bin/busybox"))
      assert_equal File.readlink(File.join(src, "bin/sh")), File.readlink(File.join(st.path("copy"), "bin/sh"))
      assert_equal 300_000, File.lstat(File.join(st.path("copy"), "etc/passwd")).uid
      assert_equal %w[copy src], st.list.sort
      # the imported rootfs boots
      ct = run_ct(new_id, config(["/bin/sh", "-c", "exec sleep 1000"], rootfs: st.path("copy")))
      out, ex = capture(ct, "cat", "/etc/passwd")
      assert ex.success?
      assert_includes out, "root:x:0:0"
      ct.delete(force: true)
      st.delete("copy")
      st.delete("src")
      assert_empty st.list
    end
  end

  def test_apparmor_profile_load_and_unload
    skip_unless Vpsos::AppArmor.enabled?, "AppArmor is not enabled on this host"
    name = "vpsos-test-rb-#{Process.pid}"
    text = "profile #{name} flags=(attach_disconnected) {\n  file,\n}\n"
    Dir.mktmpdir("rb-aa", TREES) do |dir|
      begin
        assert_equal :parsed, Vpsos::AppArmor.load(name, text, dir: dir)
        assert Vpsos::AppArmor.loaded?(name)
        assert_equal :unchanged, Vpsos::AppArmor.load(name, text, dir: dir)
      ensure
        Vpsos::AppArmor.unload(name, dir: dir) rescue nil
      end
      refute Vpsos::AppArmor.loaded?(name)
    end
  end

  def test_zfs_datasets_properties_snapshots_clones_and_streams
    skip_unless Vpsos.has_feature?("zfs"), "no ZFS on this host"
    pool = "vptr#{Process.pid}"
    img = "/var/tmp/#{pool}.img"
    mnt = "#{TREES}/zfs-#{pool}"
    begin
      File.open(img, "w") { |f| f.truncate(256 << 20) } # sparse
      assert system("zpool", "create", "-f", "-O", "mountpoint=#{mnt}", pool, img), "zpool create"
      zfs = Vpsos::ZFS.new
      zfs.create("#{pool}/ct", { "compression" => "lz4", "quota" => "64M" })
      got = zfs.get(["#{pool}/ct", pool], "compression", "quota")
      assert_equal "lz4", got["#{pool}/ct"]["compression"]
      assert_equal (64 << 20).to_s, got["#{pool}/ct"]["quota"]
      assert_includes got.keys, pool
      zfs.set("#{pool}/ct", { "quota" => "128M" })
      assert_equal (128 << 20).to_s, zfs.get("#{pool}/ct", "quota")["#{pool}/ct"]["quota"]
      File.write("#{mnt}/ct/hello", "zfs\n")
      zfs.snapshot("#{pool}/ct@s1")
      zfs.clone("#{pool}/ct@s1", "#{pool}/clone")
      assert_equal "zfs\n", File.read("#{mnt}/clone/hello")
      Tempfile.create("rb-zfs-stream", TREES) do |tf|
        sent = zfs.send_stream("#{pool}/ct@s1", tf)
        assert_operator sent, :>, 0
        tf.rewind
        read = zfs.receive("#{pool}/received", tf)
        assert_equal sent, read
      end
      assert_equal "zfs\n", File.read("#{mnt}/received/hello")
      list = zfs.list(pool)
      %W[#{pool}/ct #{pool}/clone #{pool}/received].each { |d| assert_includes list, d }
      assert_includes zfs.list(pool, type: "snapshot"), "#{pool}/ct@s1"
      zfs.destroy("#{pool}/clone")
      zfs.destroy("#{pool}/received", recursive: true)
      zfs.destroy("#{pool}/ct", recursive: true)
      refute_includes zfs.list(pool), "#{pool}/ct"
    ensure
      destroy_pool(pool)
      File.unlink(img) if File.exist?(img)
      Dir.rmdir(mnt) if File.directory?(mnt) && Dir.empty?(mnt)
    end
  end

  private

  # "pool is busy" while a mount namespace another test cloned still holds
  # a dataset: retry a while (as tests/common/zfs.rs does)
  def destroy_pool(pool)
    50.times do
      out = IO.popen(["zpool", "destroy", "-f", pool, { err: %i[child out] }], &:read)
      return if $?.success? || !out.include?("busy")

      sleep 0.2
    end
    warn "zpool destroy #{pool} failed: the pool is busy"
  end
end
