# frozen_string_literal: true

require "helper"

# Errors: each is a Vpsos::Error subclass (a StandardError) with kind,
# errno, stage and field, and a failed create leaves nothing behind.
class TestErrors < VpsosTest
  def assert_vpsos_error(err, cls, kind)
    assert_instance_of cls, err
    assert_kind_of Vpsos::Error, err
    assert_kind_of StandardError, err
    assert_equal kind, err.kind
    %i[errno stage field].each { |a| assert_respond_to err, a }
    refute_empty err.message
  end

  def test_config_without_args_is_invalid_naming_process_args
    e = assert_raises(Vpsos::InvalidConfig) { config([]) }
    assert_vpsos_error e, Vpsos::InvalidConfig, :invalid_config
    assert_equal "process.args", e.field
    assert_nil e.stage
    e = assert_raises(Vpsos::InvalidConfig) { Vpsos::Config.new(rootfs: rootfs) }
    assert_vpsos_error e, Vpsos::InvalidConfig, :invalid_config
    assert_match(/process/, e.message)
  end

  def test_unknown_field_is_invalid_config
    e = assert_raises(Vpsos::InvalidConfig) { config(SLEEP, no_such_field: 1) }
    assert_vpsos_error e, Vpsos::InvalidConfig, :invalid_config
    assert_match(/no_such_field/, e.message)
    e = assert_raises(Vpsos::InvalidConfig) { config(SLEEP, process: { bogus: true }) }
    assert_match(/bogus/, e.message)
    e = assert_raises(Vpsos::InvalidConfig) { Vpsos::Config.new("{not json") }
    assert_vpsos_error e, Vpsos::InvalidConfig, :invalid_config
  end

  def test_uid_map_of_host_root_needs_privileged
    e = assert_raises(Vpsos::InvalidConfig) { config(SLEEP, uid_map: "0:0:65536") }
    assert_vpsos_error e, Vpsos::InvalidConfig, :invalid_config
    assert_equal "uid_map", e.field
  end

  def test_relative_runtime_root_is_invalid
    e = assert_raises(Vpsos::InvalidConfig) { Vpsos::Runtime.new("relative") }
    assert_vpsos_error e, Vpsos::InvalidConfig, :invalid_config
    assert_equal "root", e.field
  end

  def test_load_of_unknown_id_is_not_found
    e = assert_raises(Vpsos::NotFound) { runtime.load("rb-nosuch-#{Process.pid}-0") }
    assert_vpsos_error e, Vpsos::NotFound, :not_found
    assert_nil e.stage
  end

  def test_invalid_id_is_invalid_config
    e = assert_raises(Vpsos::InvalidConfig) { runtime.create("bad/id", config) }
    assert_vpsos_error e, Vpsos::InvalidConfig, :invalid_config
  end

  def test_create_same_id_twice_is_already_exists
    id = new_id
    ct = runtime.create(id, config)
    e = assert_raises(Vpsos::AlreadyExists) { runtime.create(id, config) }
    assert_vpsos_error e, Vpsos::AlreadyExists, :already_exists
    assert_equal :created, ct.state, "the first container is untouched"
  end

  def test_start_twice_is_busy
    ct = run_ct
    e = assert_raises(Vpsos::Busy) { ct.start }
    assert_vpsos_error e, Vpsos::Busy, :busy
    assert_equal :running, ct.state
  end

  def test_delete_of_a_running_container_without_force_is_busy
    ct = run_ct
    e = assert_raises(Vpsos::Busy) { ct.delete }
    assert_vpsos_error e, Vpsos::Busy, :busy
    assert_equal :running, ct.state
    ct.delete(force: true)
    assert_raises(Vpsos::NotFound) { runtime.load(ct.id) }
  end

  def test_missing_init_is_child_error_at_exec_with_enoent
    id = new_id
    e = assert_raises(Vpsos::ChildError) { runtime.run(id, config(["/no/such/init"])) }
    assert_vpsos_error e, Vpsos::ChildError, :child
    assert_equal :exec, e.stage
    assert_equal Errno::ENOENT::Errno, e.errno
    assert_nothing_left id
  end

  def test_bind_mount_of_missing_source_is_child_error_at_mount
    id = new_id
    cfg = config(SLEEP, mounts: [{ type: "bind", source: "/var/tmp/vpsos-tests/no-such-#{Process.pid}",
                                   destination: "/mnt" }])
    e = assert_raises(Vpsos::ChildError) { runtime.run(id, cfg) }
    assert_vpsos_error e, Vpsos::ChildError, :child
    assert_equal :mount, e.stage
    assert_nothing_left id
  end

  def test_failed_create_leaves_no_state_dir
    id = new_id
    assert_raises(Vpsos::ChildError) { runtime.create(id, config(["/no/such/init"])) }
    assert_nothing_left id
    # the id is free again
    ct = runtime.create(id, config)
    assert_equal :created, ct.state
  end

  def test_errors_of_a_gone_container
    ct = run_ct
    other = runtime.load(ct.id)
    ct.delete(force: true)
    e = assert_raises(Vpsos::NotFound) { other.state }
    assert_vpsos_error e, Vpsos::NotFound, :not_found
    assert_raises(Vpsos::Error) { other.exec("true") }
  end

  def test_bad_arguments_are_ruby_argument_errors
    ct = run_ct
    assert_raises(ArgumentError) { ct.kill(:NOSUCHSIGNAL) }
    assert_raises(ArgumentError) { ct.exec("true", stdout: Object.new) }
    assert_raises(ArgumentError) { ct.exec("true", user: "root") }
    assert_raises(ArgumentError) { ct.grant_device(:nosuchdevice) }
  end

  private

  def assert_nothing_left(id)
    refute File.exist?("#{VpsosTestHelper::STATE_ROOT}/#{id}"), "no state dir left for #{id}"
    leftovers = Dir.glob("#{VpsosTestHelper::STATE_ROOT}/.new-#{id}.*")
    assert_empty leftovers
    assert_raises(Vpsos::NotFound) { runtime.load(id) }
    # v1 hierarchies (/sys/fs/cgroup/<controller>/…) and v2 (/sys/fs/cgroup/…)
    cgroups = Dir.glob(["/sys/fs/cgroup/*/vpsos-test/#{id}", "/sys/fs/cgroup/vpsos-test/#{id}"])
    assert_empty cgroups.select { |d| File.directory?(d) }, "no cgroup left for #{id}"
  end
end
