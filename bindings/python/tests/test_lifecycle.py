"""A container's life through the Python API: create, start, exec,
console, stats, resources, freeze, list, load, stop, delete, recover, the
context manager and the Config's JSON round trip."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import os
import time

import pytest

import vpsos
from conftest import BOOT_LOOP, PATH_ENV, SLEEP, STATE_ROOT, capture, eventually, read_until


def test_create_start_gives_created_then_running_with_a_pid(runtime, config, new_id):
    ct = runtime.create(new_id(), config())
    assert isinstance(ct, vpsos.Container)
    assert ct.state == "created"
    assert not ct.running
    ct.start()
    assert ct.state == "running"
    assert ct.running
    assert isinstance(ct.pid, int) and ct.pid > 1
    assert ct.state_info()["pid"] == ct.pid
    assert os.path.isdir(f"/proc/{ct.pid}")


def test_exec_captures_stdout_and_exit_code(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    out, ex = capture(ct, "sh", "-c", "echo hi $(hostname); exit 4")
    assert out == "hi py\n"
    assert ex == vpsos.Exit(kind="exited", code=4, reason="exit", killed=False)
    assert ex.exitstatus == 4 and ex.termsig is None
    assert not ex.success
    out, ex = capture(ct, ["echo", "list", "form"])
    assert out == "list form\n"
    assert ex.success


def test_exec_with_env_cwd_and_user(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    out, ex = capture(ct, "sh", "-c", "echo $FOO $(pwd) $(id -u)",
                      env={"FOO": "bar", "PATH": PATH_ENV}, cwd="/tmp", user=1000)
    assert ex.success, ex
    assert out == "bar /tmp 1000\n"


def test_exec_with_a_terminal_gives_a_pty_console(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    p = ct.exec("sh", "-c", "tty; sleep 0.5", terminal=True)
    f = p.console()
    assert f is not None, "exec with terminal=True hands over the pty master"
    try:
        assert p.console() is None, "the pty master is handed over once"
        buf = read_until(f.fileno(), b"\n", timeout=10)
        assert b"/dev/pts/" in buf, buf
        # (closing the master first would hang up the session: SIGHUP)
        ex = p.wait(timeout=10)
        assert ex is not None and ex.success, ex
    finally:
        f.close()


def test_console_attach_reads_what_init_writes_and_ttys_are_files(runtime, config, new_id):
    ct = runtime.run(new_id(), config(BOOT_LOOP))
    with ct.attach_console() as con:
        assert isinstance(con, io.RawIOBase)
        assert b"booted" in read_until(con.fileno(), b"booted", timeout=10)
    tty = ct.attach_tty(1)
    assert not tty.closed
    assert tty.fileno() >= 0
    tty.close()
    assert eventually(lambda: b"booted" in ct.console_log()), "console_log keeps the output"
    assert isinstance(ct.console_log(), bytes)


def test_stats_is_a_dataclass_with_pids_and_memory(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    st = ct.stats()
    assert isinstance(st, vpsos.Stats)
    assert dataclasses.is_dataclass(st)
    assert st.pids_current >= 1
    assert st.memory_current > 0
    assert isinstance(st.cpu_usage_usec, int)


def test_update_resources_changes_limits_live(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    ct.update_resources({"memory": {"max": 256 << 20}, "pids": {"max": 77}})
    res = ct.resources()
    assert res["memory"]["max"] == 256 << 20
    assert res["pids"]["max"] == 77


def test_freeze_and_thaw(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    assert not ct.frozen
    ct.freeze()
    assert ct.frozen
    assert ct.state == "frozen"
    ct.thaw()
    assert not ct.frozen
    assert ct.state == "running"
    _, ex = capture(ct, "true")
    assert ex.success


def test_list_shows_running_container_and_load_gives_a_second_handle(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    info = next((c for c in runtime.list() if c.id == ct.id), None)
    assert info is not None, f"list has {ct.id}"
    assert isinstance(info, vpsos.ContainerInfo)
    assert info.status == "running"
    assert info.pid == ct.pid
    assert isinstance(info.created, datetime.datetime)
    assert ct.id in runtime.ids()
    other = vpsos.Runtime(STATE_ROOT).load(ct.id)
    assert other.id == ct.id
    assert other.pid == ct.pid
    assert other.state == "running"
    assert other.config() == ct.config()


def test_stop_with_a_halt_signal_the_init_traps_exits_cleanly(runtime, config, new_id):
    init = "trap 'exit 0' TERM; echo trapped >/dev/console; while :; do sleep 0.1; done"
    ct = runtime.run(new_id(), config(["/bin/sh", "-c", init], halt={"signal": 15}))
    assert ct.config()["halt"] == {"signal": 15}
    # PID 1 ignores a signal it has no handler for: stop once the trap is set
    assert eventually(lambda: b"trapped" in ct.console_log(), timeout=10), "the init set its trap"
    ex = ct.stop(10)
    assert ex.kind == "exited"
    assert ex.code == 0
    assert ex.killed is False
    assert ct.state == "stopped"
    again = ct.wait(timeout=1)
    assert again is not None and again.kind == ex.kind


def test_stop_of_a_sleep_init_has_to_kill_it(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    t0 = time.monotonic()
    ex = ct.stop(0.5)
    assert time.monotonic() - t0 < 10
    assert ex == vpsos.Exit(kind="signaled", code=9, reason="killed", killed=True)
    assert ex.termsig == 9
    assert ct.state == "stopped"


def test_wait_with_timeout_returns_none_then_the_exit(runtime, config, new_id):
    ct = runtime.run(new_id(), config(["/bin/sh", "-c", "sleep 0.5; exit 3"]))
    assert ct.wait(timeout=0.1) is None
    ex = ct.wait(timeout=20)
    assert ex is not None
    assert (ex.kind, ex.code, ex.reason) == ("exited", 3, "exit")


def test_delete_then_load_raises_not_found(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    id = ct.id
    ct.stop(0.5)
    ct.delete()
    assert not os.path.exists(f"{STATE_ROOT}/{id}")
    with pytest.raises(vpsos.NotFoundError) as e:
        runtime.load(id)
    assert e.value.kind == "not_found"
    assert isinstance(e.value, FileNotFoundError)
    assert id not in runtime.ids()


def test_context_manager_stops_and_deletes(runtime, config, new_id):
    id = new_id()
    with runtime.run(id, config()) as ct:
        assert ct.state == "running"
        pid = ct.pid
        out, ex = capture(ct, "echo", "inside")
        assert out == "inside\n" and ex.success
    with pytest.raises(vpsos.NotFoundError):
        runtime.load(id)
    assert not os.path.exists(f"{STATE_ROOT}/{id}")
    assert eventually(lambda: _gone(pid)), f"the init {pid} is gone"


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("State:") and "Z" in line for line in f)
    except FileNotFoundError:
        return True


def test_context_manager_cleans_up_when_the_body_raises(runtime, config, new_id):
    id = new_id()
    with pytest.raises(RuntimeError, match="body failed"):
        with runtime.run(id, config()):
            raise RuntimeError("body failed")
    with pytest.raises(vpsos.NotFoundError):
        runtime.load(id)


# recover undoes what a dead creator or deleter left half-way; a complete
# container, running or stopped, is left as it is, and delete removes it
def test_recover_leaves_a_complete_stopped_container_and_unknown_is_not_found(runtime, config, new_id):
    ct = runtime.run(new_id(), config(["/bin/true"]))
    assert ct.wait(timeout=20) is not None
    assert ct.state == "stopped"
    rec = runtime.recover(ct.id)
    assert isinstance(rec, dict)
    assert rec["id"] == ct.id
    assert rec["state_removed"] is False
    assert runtime.load(ct.id).state == "stopped"
    ct.delete()
    with pytest.raises(vpsos.NotFoundError):
        runtime.load(ct.id)
    with pytest.raises(vpsos.NotFoundError):
        runtime.recover(ct.id)


def test_config_round_trips_through_json(config, rootfs):
    cfg = config(BOOT_LOOP, resources={"pids": {"max": 100}})
    assert vpsos.Config(cfg.to_json()) == cfg
    assert vpsos.Config.from_json(cfg.to_json()) == cfg
    assert vpsos.Config(cfg.to_dict()) == cfg
    assert vpsos.Config(cfg) == cfg
    assert hash(vpsos.Config(cfg.to_json())) == hash(cfg)
    d = cfg.to_dict()
    assert d["process"]["args"] == BOOT_LOOP
    assert cfg["hostname"] == "py"
    assert cfg["resources"]["pids"]["max"] == 100
    m = cfg.merge({"hostname": "other"})
    assert m["hostname"] == "other"
    assert m["rootfs"] == rootfs
    assert m != cfg
    assert vpsos.Config(json.loads(cfg.to_json())) == cfg
    assert config(SLEEP) != cfg
