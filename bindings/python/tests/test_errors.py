"""Errors: each is a vpsos.VpsosError subclass that is also the builtin
exception that fits, with kind, errno, stage and field; a failed create
leaves nothing behind."""

from __future__ import annotations

import errno
import glob
import os

import pytest

import vpsos
from conftest import SLEEP, STATE_ROOT, TREES


def check_error(err: BaseException, cls: type, builtin: type | None, kind: str) -> None:
    assert type(err) is cls, f"{type(err).__name__} is not {cls.__name__}: {err}"
    assert isinstance(err, vpsos.VpsosError)
    assert isinstance(err, Exception)
    if builtin is not None:
        assert isinstance(err, builtin), f"{cls.__name__} is a {builtin.__name__}"
    assert err.kind == kind
    for a in ("errno", "stage", "field"):
        assert hasattr(err, a)
    assert str(err)


def assert_nothing_left(runtime: vpsos.Runtime, id: str) -> None:
    assert not os.path.exists(f"{STATE_ROOT}/{id}"), f"no state dir left for {id}"
    assert glob.glob(f"{STATE_ROOT}/.new-{id}.*") == []
    with pytest.raises(vpsos.NotFoundError):
        runtime.load(id)
    # v1 hierarchies (/sys/fs/cgroup/<controller>/…) and v2 (/sys/fs/cgroup/…)
    cgroups = glob.glob(f"/sys/fs/cgroup/*/vpsos-test/{id}") + glob.glob(f"/sys/fs/cgroup/vpsos-test/{id}")
    assert [d for d in cgroups if os.path.isdir(d)] == [], f"no cgroup left for {id}"


def test_config_without_args_is_invalid_naming_process_args(config, rootfs):
    with pytest.raises(vpsos.InvalidConfigError) as e:
        config([])
    check_error(e.value, vpsos.InvalidConfigError, ValueError, "invalid_config")
    assert e.value.field == "process.args"
    assert e.value.stage is None
    with pytest.raises(ValueError) as e2:
        vpsos.Config({"rootfs": rootfs})
    check_error(e2.value, vpsos.InvalidConfigError, ValueError, "invalid_config")
    assert "process" in str(e2.value)


def test_unknown_field_is_invalid_config(config):
    with pytest.raises(vpsos.InvalidConfigError) as e:
        config(SLEEP, no_such_field=1)
    check_error(e.value, vpsos.InvalidConfigError, ValueError, "invalid_config")
    assert "no_such_field" in str(e.value)
    with pytest.raises(vpsos.InvalidConfigError) as e:
        config(SLEEP, process={"bogus": True})
    assert "bogus" in str(e.value)
    with pytest.raises(vpsos.InvalidConfigError) as e:
        vpsos.Config("{not json")
    check_error(e.value, vpsos.InvalidConfigError, ValueError, "invalid_config")


def test_uid_map_of_host_root_needs_privileged(config):
    with pytest.raises(vpsos.InvalidConfigError) as e:
        config(SLEEP, uid_map="0:0:65536")
    check_error(e.value, vpsos.InvalidConfigError, ValueError, "invalid_config")
    assert e.value.field == "uid_map"


def test_relative_runtime_root_is_invalid():
    with pytest.raises(vpsos.InvalidConfigError) as e:
        vpsos.Runtime("relative")
    check_error(e.value, vpsos.InvalidConfigError, ValueError, "invalid_config")
    assert e.value.field == "root"


def test_load_of_unknown_id_is_not_found(runtime):
    with pytest.raises(FileNotFoundError) as e:
        runtime.load(f"py-nosuch-{os.getpid()}-0")
    check_error(e.value, vpsos.NotFoundError, FileNotFoundError, "not_found")
    assert e.value.stage is None


def test_invalid_id_is_invalid_config(runtime, config):
    with pytest.raises(vpsos.InvalidConfigError) as e:
        runtime.create("bad/id", config())
    check_error(e.value, vpsos.InvalidConfigError, ValueError, "invalid_config")


def test_create_same_id_twice_is_already_exists(runtime, config, new_id):
    id = new_id()
    ct = runtime.create(id, config())
    with pytest.raises(FileExistsError) as e:
        runtime.create(id, config())
    check_error(e.value, vpsos.AlreadyExistsError, FileExistsError, "already_exists")
    assert ct.state == "created", "the first container is untouched"


def test_start_twice_is_busy(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    with pytest.raises(BlockingIOError) as e:
        ct.start()
    check_error(e.value, vpsos.BusyError, BlockingIOError, "busy")
    assert ct.state == "running"


def test_delete_of_a_running_container_without_force_is_busy(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    with pytest.raises(vpsos.BusyError) as e:
        ct.delete()
    check_error(e.value, vpsos.BusyError, BlockingIOError, "busy")
    assert ct.state == "running"
    ct.delete(force=True)
    with pytest.raises(vpsos.NotFoundError):
        runtime.load(ct.id)


def test_missing_init_is_child_error_at_exec_with_enoent(runtime, config, new_id):
    id = new_id()
    with pytest.raises(ChildProcessError) as e:
        runtime.run(id, config(["/no/such/init"]))
    check_error(e.value, vpsos.ChildError, ChildProcessError, "child")
    assert e.value.stage == "exec"
    assert e.value.errno == errno.ENOENT
    assert_nothing_left(runtime, id)


def test_bind_mount_of_missing_source_is_child_error_at_mount(runtime, config, new_id):
    id = new_id()
    cfg = config(SLEEP, mounts=[{"type": "bind", "source": f"{TREES}/no-such-{os.getpid()}",
                                 "destination": "/mnt"}])
    with pytest.raises(vpsos.ChildError) as e:
        runtime.run(id, cfg)
    check_error(e.value, vpsos.ChildError, ChildProcessError, "child")
    assert e.value.stage == "mount"
    assert_nothing_left(runtime, id)


def test_failed_create_leaves_no_state_dir(runtime, config, new_id):
    id = new_id()
    with pytest.raises(vpsos.ChildError):
        runtime.create(id, config(["/no/such/init"]))
    assert_nothing_left(runtime, id)
    # the id is free again
    ct = runtime.create(id, config())
    assert ct.state == "created"


def test_errors_of_a_gone_container(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    other = runtime.load(ct.id)
    ct.delete(force=True)
    with pytest.raises(vpsos.NotFoundError) as e:
        other.state
    check_error(e.value, vpsos.NotFoundError, FileNotFoundError, "not_found")
    with pytest.raises(vpsos.VpsosError):
        other.exec("true")


def test_errors_carry_errno_and_builtin_oserror_fields(runtime):
    with pytest.raises(OSError) as e:
        runtime.load(f"py-nosuch-{os.getpid()}-1")
    # as a FileNotFoundError it has OSError's attributes too; a str works
    assert isinstance(e.value, vpsos.NotFoundError)
    assert isinstance(repr(e.value), str)


def test_bad_arguments_are_python_value_and_type_errors(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    with pytest.raises(ValueError):
        ct.kill("NOSUCHSIGNAL")
    with pytest.raises(TypeError):
        ct.exec("true", stdout=object())  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        ct.exec("true", user="root")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ct.grant_device("nosuchdevice")
    assert ct.state == "running"
