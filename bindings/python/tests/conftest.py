"""Shared support for the Python binding's tests (run through
bindings/python/run-tests.sh, as root): the busybox rootfs it built,
unique container ids, a config like the Rust tests' one, and a teardown
that force-deletes every container a test made, so a failing test leaves
nothing behind.

Tests import the constants and helpers below with ``from conftest import
...`` (pytest puts tests/ on sys.path: there is no __init__.py)."""

from __future__ import annotations

import os
import re
import select
import threading
import time
import warnings
from typing import Any, Callable, Iterator

import pytest

import vpsos

STATE_ROOT = "/run/vpsos-test"
TREES = "/var/tmp/vpsos-tests"
HOST_ROOT = 300_000
NAMESPACES = {"user": "new", "mount": "new", "pid": "new", "uts": "new", "ipc": "new",
              "network": "new", "cgroup": "new"}
# An init that writes "booted" to the console every 0.2 s (so an attach
# after start still sees it) and otherwise sleeps.
BOOT_LOOP = ["/bin/sh", "-c", "while :; do echo booted >/dev/console; sleep 0.2; done"]
SLEEP = ["/bin/sh", "-c", "exec sleep 1000"]
PATH_ENV = "/bin:/usr/bin:/sbin:/usr/sbin"

_counter = 0
_counter_lock = threading.Lock()


def _next_n() -> int:
    global _counter
    with _counter_lock:
        _counter += 1
        return _counter


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def make_id(name: str) -> str:
    """"py-<name>-<pid>-<n>": lowercase letters and dashes in <name>
    (tests/check-leaks.sh matches ids by that pattern), at most 64 chars."""
    name = name.removeprefix("test_").lower()
    name = re.sub(r"[^a-z]+", "-", name)[:32].strip("-") or "ct"
    return f"py-{name}-{os.getpid()}-{_next_n()}"


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    """Read ``fd`` until ``needle`` shows up, EOF/EIO, or ``timeout``."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the pty's other side is gone
            break
        if not chunk:
            break
        buf += chunk
    return buf


def capture(ct: vpsos.Container, *argv: Any, **opts: Any) -> tuple[str, vpsos.Exit]:
    """Run ``argv`` in ``ct``: (its stdout, its Exit)."""
    r, w = os.pipe()
    try:
        try:
            p = ct.exec(*argv, stdout=w, **opts)
        finally:
            os.close(w)
        out = read_until(r, b"\0never\0", timeout=20)
    finally:
        os.close(r)
    ex = p.wait(timeout=20)
    assert ex is not None, f"{argv!r} did not end within 20 s"
    return out.decode(), ex


def eventually(pred: Callable[[], Any], timeout: float = 5, step: float = 0.05) -> Any:
    """Poll ``pred`` until it is true, up to ``timeout`` seconds; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


@pytest.fixture(scope="session")
def rootfs() -> str:
    path = os.environ.get("VPSOS_PY_ROOTFS")
    if not path:
        pytest.fail("VPSOS_PY_ROOTFS is not set (run bindings/python/run-tests.sh)")
    return path


@pytest.fixture
def runtime() -> vpsos.Runtime:
    return vpsos.Runtime(STATE_ROOT)


@pytest.fixture
def config(rootfs: str) -> Callable[..., vpsos.Config]:
    """``config(args=SLEEP, **extra)``: a system-container config on the
    shared rootfs, in the tests' cgroup parent, ``extra`` merged in deeply."""

    def make(args: list[str] | None = None, **extra: Any) -> vpsos.Config:
        base: dict[str, Any] = {
            "rootfs": rootfs, "hostname": "py", "namespaces": NAMESPACES,
            "uid_map": f"0:{HOST_ROOT}:65536", "gid_map": f"0:{HOST_ROOT}:65536",
            "cgroup": {"path": "vpsos-test/{id}"},
            "process": {"args": SLEEP if args is None else args},
        }
        return vpsos.Config(deep_merge(base, extra))

    return make


@pytest.fixture
def new_id(request: pytest.FixtureRequest, runtime: vpsos.Runtime) -> Iterator[Callable[..., str]]:
    """``new_id(name=<test name>)``: a unique container id; every id handed
    out is force-deleted at teardown (thread-safe, for tests with threads)."""
    ids: list[str] = []
    lock = threading.Lock()

    def make(name: str | None = None) -> str:
        id = make_id(name or request.node.name)
        with lock:
            ids.append(id)
        return id

    yield make
    with lock:
        todo = list(ids)
    for id in todo:
        try:
            runtime.load(id).delete(force=True)
        except vpsos.NotFoundError:
            pass
        except Exception as e:  # noqa: BLE001 - teardown goes on
            warnings.warn(f"teardown: deleting {id}: {type(e).__name__}: {e}")
            try:
                runtime.recover(id)
            except Exception:  # noqa: BLE001
                pass


# --- "SKIPPED py::<test>: <why>" for each skipped test: scripts/test.sh
# counts such lines as skipped (and refuses them in the test VM, which has
# every feature).
def pytest_terminal_summary(terminalreporter: Any) -> None:
    for rep in terminalreporter.stats.get("skipped", []):
        name = rep.nodeid.split("::")[-1]
        name = re.sub(r"\s+", "_", name)
        why = "skipped"
        if isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3:
            why = str(rep.longrepr[2]).removeprefix("Skipped: ")
        why = re.sub(r"\s+", " ", why).strip() or "skipped"
        terminalreporter.write_line(f"SKIPPED py::{name}: {why}")
