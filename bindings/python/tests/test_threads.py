"""The binding with Python threads, the GIL, signals, fork and the
program's own child reaping: waits free the GIL and Ctrl-C interrupts
them, many threads may drive containers at once, no exit status is lost
to the program's waitpid or SIGCHLD handling, and the program's signal
dispositions and mask do not leak into containers."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable

import pytest

import vpsos
from conftest import STATE_ROOT, capture, eventually


def count_during(fn: Callable[[], Any]) -> tuple[int, Any]:
    """How far a thread counting as fast as it can got while ``fn`` ran
    (in this thread), and what ``fn`` returned."""
    count = 0
    stop = False

    def counter() -> None:
        nonlocal count
        while not stop:
            count += 1

    t = threading.Thread(target=counter)
    t.start()
    time.sleep(0.05)
    before = count
    try:
        got = fn()
    finally:
        stop = True
        t.join()
    return count - before, got


def test_other_threads_run_while_one_waits(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    grew, got = count_during(lambda: ct.wait(timeout=1.0))
    assert got is None
    # a thread holding the GIL for the whole second would leave it near 0
    assert grew > 100_000, f"the counter thread ran during the wait ({grew})"


def test_other_threads_run_while_one_stops(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    grew, ex = count_during(lambda: ct.stop(0.5))
    assert ex.killed
    assert grew > 10_000, f"the counter thread ran during stop ({grew}: GIL released)"


def test_ctrl_c_interrupts_a_wait(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main

    def interrupt() -> None:
        time.sleep(0.5)
        signal.pthread_kill(main, signal.SIGINT)

    t = threading.Thread(target=interrupt)
    t0 = time.monotonic()
    try:
        t.start()
        with pytest.raises(KeyboardInterrupt):
            ct.wait()
        elapsed = time.monotonic() - t0
    finally:
        t.join()
        signal.signal(signal.SIGINT, old)
    assert elapsed < 2.5, f"Ctrl-C interrupted the wait after {elapsed:.2f} s"
    # the container is unharmed and the next wait works
    assert ct.state == "running"
    assert ct.wait(timeout=0.1) is None
    assert ct.stop(0.5).killed


def test_ctrl_c_interrupts_a_process_wait(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    p = ct.exec("sleep", "100")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    t = threading.Timer(0.5, lambda: signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT))
    t0 = time.monotonic()
    try:
        t.start()
        with pytest.raises(KeyboardInterrupt):
            p.wait()
    finally:
        t.join()
        signal.signal(signal.SIGINT, old)
    assert time.monotonic() - t0 < 2.5
    p.kill("KILL")
    ex = p.wait(timeout=10)
    assert ex is not None and (ex.kind, ex.code) == ("signaled", 9)


def test_eight_threads_drive_containers_at_once(runtime, config, new_id):
    errors: list[str] = []
    lock = threading.Lock()
    cfg = config()

    def worker(w: int) -> None:
        try:
            for k in range(2):
                id = new_id("threads")
                ct = runtime.run(id, cfg)
                out, ex = capture(ct, "sh", "-c", f"echo w{w}k{k}")
                assert out == f"w{w}k{k}\n" and ex.success, f"exec in {id}: {out!r} {ex}"
                st = ct.stop(0.5)
                assert st.killed, f"stop of {id}: {st}"
                ct.delete()
                assert id not in runtime.ids(), f"{id} still there"
        except BaseException as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(f"worker {w}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker hangs"
    assert errors == []


def monitors_of(id: str) -> list[int]:
    """Pids of live vpsos monitors (init or proc) of container ``id``."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{d}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if args[:1] == [b"vpsos-monitor"] and len(args) > 2 and args[2] == id.encode() and state != b"Z":
            pids.append(int(d))
    return pids


def test_sigchld_ignored_by_the_program_cannot_take_a_status(runtime, config, new_id):
    id = new_id()
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        ct = runtime.run(id, config(["/bin/sh", "-c", "sleep 0.5; exit 7"]))
        p = ct.exec("sh", "-c", "sleep 0.2; exit 5")
        ex = p.wait(timeout=10)
        assert ex is not None, "the exec'd process's status was lost (its monitor ignores SIGCHLD?)"
        assert (ex.kind, ex.code) == ("exited", 5)
        ex = ct.wait(timeout=10)
        assert ex is not None, "the init's status was lost (its monitor ignores SIGCHLD?)"
        assert (ex.kind, ex.code, ex.reason) == ("exited", 7, "exit")
    finally:
        signal.signal(signal.SIGCHLD, old)
        # a monitor that lost its child's status waits for ever: kill what
        # this test started, so a failure leaves nothing behind
        try:
            runtime.load(id).delete(force=True)
        except vpsos.NotFoundError:
            pass
        left = [] if eventually(lambda: monitors_of(id) == [], timeout=3) else monitors_of(id)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"monitors of {id} left running: {left}"


def test_the_programs_waitpid_loop_cannot_take_a_status(runtime, config, new_id):
    reaped: list[int] = []
    stop = threading.Event()

    def reaper() -> None:
        while not stop.is_set():
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid:
                    reaped.append(pid)
            except ChildProcessError:
                pass
            time.sleep(0.001)

    t = threading.Thread(target=reaper)
    t.start()
    try:
        ct = runtime.run(new_id(), config(["/bin/sh", "-c", "sleep 0.5; exit 7"]))
        p = ct.exec("sh", "-c", "exit 5")
        own = subprocess.Popen(["true"])
        pex = p.wait(timeout=20)
        ex = ct.wait(timeout=20)
        deadline = time.monotonic() + 5
        while own.pid not in reaped and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        t.join()
    assert own.pid in reaped, "the loop reaps the program's own children"
    assert ct.pid not in reaped and p.pid not in reaped
    assert pex is not None and (pex.kind, pex.code) == ("exited", 5)
    assert ex is not None and (ex.kind, ex.code) == ("exited", 7)
    # and again after the program reaped once more
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    again = ct.wait(timeout=1)
    assert again is not None and again.code == 7
    again = p.wait(timeout=1)
    assert again is not None and again.code == 5


def test_the_programs_ignored_signals_and_mask_do_not_leak_in(runtime, config, new_id):
    # Python ignores SIGPIPE (and SIGXFSZ); block SIGUSR1 and SIGTERM too
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
    try:
        ct = runtime.run(new_id(), config())
        # the init (PID 1: sleep), and an exec'd process (not through sh,
        # whose tail-exec'd last command keeps SIGQUIT ignored)
        got = [capture(ct, "grep", "-E", "SigIgn|SigBlk", f"/proc/{p}/status") for p in ("1", "self")]
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    for out, ex in got:
        assert ex.success, out
        assert out == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", out


def test_fork_while_a_thread_waits(runtime, config, new_id):
    # What is supported: os.fork() at any time, even while other threads
    # are inside vpsos calls (here ct.wait()); the child may use vpsos
    # (new Runtime and Container objects, loading, reading state) and
    # leaves with os._exit(). Handles made before the fork stay the
    # parent's; the child must not wait for or stop the parent's containers
    # through them (their monitors report to whoever asks, but locks and
    # threads of the parent do not exist in the child).
    ct = runtime.run(new_id(), config())
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(ct.wait(timeout=3)))
    t.start()
    time.sleep(0.3)
    pid = os.fork()
    if pid == 0:  # the child: only os._exit leaves it
        code = 1
        try:
            c = vpsos.Runtime(STATE_ROOT).load(ct.id)
            code = 0 if c.state == "running" and c.pid == ct.pid else 3
        except BaseException:  # noqa: BLE001
            code = 2
        finally:
            os._exit(code)
    status = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        time.sleep(0.02)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    t.join()
    assert status is not None, "the forked child hung (a lock held across fork?)"
    assert os.waitstatus_to_exitcode(status) == 0
    assert got == [None]
    assert ct.state == "running"
