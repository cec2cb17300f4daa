"""Containers and the processes exec'd into them."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, fields
from typing import IO, Any, Mapping, Sequence, Union

from . import _native
from ._util import Exit, StdioArg, exit_of, fd_of, signo, wait_for
from .config import Config


@dataclass(frozen=True)
class Stats:
    """What a container uses; figures this host's cgroups do not report are None."""

    memory_current: int
    memory_peak: int | None
    swap_current: int | None
    cpu_usage_usec: int
    cpu_user_usec: int
    cpu_system_usec: int
    pids_current: int
    io_read_bytes: int
    io_write_bytes: int
    io_read_ops: int
    io_write_ops: int
    oom_kills: int


def stats_of(text: str) -> Stats:
    d = json.loads(text)
    return Stats(**{f.name: d.get(f.name) for f in fields(Stats)})


#: The device rules :meth:`Container.grant_device` knows by name.
DEVICES: dict[str, dict[str, Any]] = {
    "kvm": {"kind": "char", "major": 10, "minor": 232, "access": "rwm", "path": "/dev/kvm"},
    "tun": {"kind": "char", "major": 10, "minor": 200, "access": "rwm", "path": "/dev/net/tun"},
    "fuse": {"kind": "char", "major": 10, "minor": 229, "access": "rwm", "path": "/dev/fuse"},
}


def _device(rule: Union[str, Mapping[str, Any]]) -> str:
    if isinstance(rule, str):
        try:
            return json.dumps(DEVICES[rule])
        except KeyError:
            raise ValueError(f"no device named {rule!r}") from None
    return json.dumps(dict(rule))


def _io(fd: int) -> IO[bytes]:
    return os.fdopen(fd, "r+b", buffering=0)


class Process:
    """A process exec'd into a container. Its own monitor reaps it: the
    program's ``os.wait()`` or ``SIGCHLD`` handling cannot take its
    status, and a Process dropped without :meth:`wait` leaves nothing."""

    __slots__ = ("_n",)

    def __init__(self, native: _native.Process) -> None:
        self._n = native

    @property
    def pid(self) -> int:
        return self._n.pid

    def wait(self, timeout: float | None = None) -> Exit | None:
        """How it ended, or None when ``timeout`` seconds passed. The GIL
        is free; Ctrl-C interrupts it."""
        return wait_for(self._n, timeout)

    async def wait_async(self) -> Exit:
        """Wait in an asyncio loop (the pidfd is watched with ``add_reader``)."""
        return await _wait_async(self._n)

    def kill(self, signal: int | str = "TERM") -> None:
        self._n._kill(signo(signal))

    def console(self) -> IO[bytes] | None:
        """Its pty master (exec with ``terminal=True``), handed over once."""
        fd = self._n._console()
        return None if fd is None else _io(fd)

    def pidfd(self) -> int:
        """A pidfd (a new fd to close), readable once it ended."""
        return self._n._pidfd()


async def _wait_async(n: Any) -> Exit:
    x = n._try_wait()
    if x is not None:
        return exit_of(x)  # type: ignore[return-value]
    loop = asyncio.get_running_loop()
    try:
        fd = n._pidfd()
    except Exception:
        fd = None
    try:
        while True:
            x = n._try_wait()
            if x is not None:
                return exit_of(x)  # type: ignore[return-value]
            if fd is None:
                await asyncio.sleep(0.02)
                continue
            fut: asyncio.Future[None] = loop.create_future()

            def wake(fut: asyncio.Future[None] = fut) -> None:
                if not fut.done():
                    fut.set_result(None)

            loop.add_reader(fd, wake)
            try:
                await fut
            finally:
                loop.remove_reader(fd)
            # ended: the monitor records the status right after
            x = await loop.run_in_executor(None, n._wait_timeout, 1.0)
            if x is not None:
                return exit_of(x)  # type: ignore[return-value]
    finally:
        if fd is not None:
            os.close(fd)


class Container:
    """A container. Any thread may use it, several at once; other handles
    (:meth:`Runtime.load`, in this or other processes) see the same one.
    As a context manager it stops (10 s) and deletes the container on exit.
    """

    __slots__ = ("_n",)

    def __init__(self, native: _native.Container) -> None:
        self._n = native

    def __enter__(self) -> "Container":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop(10)
        finally:
            self.delete(force=True)

    def __repr__(self) -> str:
        return f"<vpsos.Container {self.id}>"

    @property
    def id(self) -> str:
        return self._n.id

    @property
    def pid(self) -> int | None:
        return self._n.pid

    @property
    def state(self) -> str:
        """"creating", "created", "running", "frozen", "stopped" or "deleting"."""
        return str(self.state_info()["status"])

    def state_info(self) -> dict[str, Any]:
        d: dict[str, Any] = json.loads(self._n._state_json())
        return d

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def frozen(self) -> bool:
        return self._n.is_frozen()

    def config(self) -> Config:
        return Config(self._n._config_json())

    def start(self) -> None:
        self._n.start()

    def wait(self, timeout: float | None = None) -> Exit | None:
        """How the init ended, or None when ``timeout`` seconds passed. The
        GIL is free while it waits; Ctrl-C interrupts it."""
        return wait_for(self._n, timeout)

    async def wait_async(self) -> Exit:
        """Wait in an asyncio loop (the init's pidfd is watched with
        ``loop.add_reader``)."""
        return await _wait_async(self._n)

    def pidfd(self) -> int:
        """The init's pidfd (a new fd to close), readable once it ended:
        for ``selectors`` or ``loop.add_reader``."""
        return self._n._pidfd()

    def kill(self, signal: int | str = "TERM") -> None:
        self._n._kill(signo(signal))

    def stop(self, timeout: float = 10) -> Exit:
        """Ask the init to halt as its kind wants; after ``timeout`` seconds
        kill everything. How it ended (``killed``: whether it had to be)."""
        k, c, r, killed = self._n._stop(float(timeout))
        return Exit(k, c, r, killed)

    def delete(self, force: bool = False) -> None:
        self._n._delete(force)

    def exec(
        self,
        *argv: str | Sequence[str],
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        user: int | tuple[int, int] | Mapping[str, Any] | None = None,
        terminal: bool = False,
        stdin: StdioArg = None,
        stdout: StdioArg = None,
        stderr: StdioArg = None,
        **process: Any,
    ) -> Process:
        """Run a command: ``exec("ls", "-l")`` or ``exec(["sh", "-c", "..."],
        env={"LANG": "C"}, cwd="/root", user=1000, stdout=f)``. Other
        keywords are fields of the config's process form (``rlimits=...``)."""
        args: list[str] = []
        for a in argv:
            args.extend([a] if isinstance(a, str) else list(a))
        p: dict[str, Any] = dict(process, args=args, terminal=terminal)
        if env is not None:
            p["env"] = [f"{k}={v}" for k, v in env.items()] if isinstance(env, Mapping) else list(env)
        if cwd is not None:
            p["cwd"] = str(cwd)
        if user is not None:
            if isinstance(user, int):
                p["user"] = {"uid": user, "gid": user}
            elif isinstance(user, tuple):
                p["user"] = {"uid": user[0], "gid": user[1]}
            else:
                p["user"] = dict(user)
        n = self._n._exec(json.dumps(p), fd_of(stdin), fd_of(stdout), fd_of(stderr))
        return Process(n)

    def attach_console(self) -> IO[bytes]:
        """The console as a file object (a stream socket): what the
        container writes to /dev/console from now on; what is written to
        it is console input."""
        return _io(self._n._attach_console())

    def attach_tty(self, n: int) -> IO[bytes]:
        return _io(self._n._attach_tty(n))

    def resize_terminal(self, n: int, rows: int, cols: int) -> None:
        self._n.resize_terminal(n, rows, cols)

    def console_log(self) -> bytes:
        return self._n.console_log()

    def freeze(self) -> None:
        self._n.freeze()

    def thaw(self) -> None:
        self._n.thaw()

    def stats(self) -> Stats:
        return stats_of(self._n._stats_json())

    def update_resources(self, resources: Mapping[str, Any]) -> None:
        """Change limits live: ``update_resources({"memory": {"max": 2 << 30}})``."""
        self._n._update_resources(json.dumps(resources))

    def resources(self) -> dict[str, Any]:
        d: dict[str, Any] = json.loads(self._n._resources_json())
        return d

    def grant_device(self, rule: Union[str, Mapping[str, Any]]) -> None:
        """``grant_device("tun")`` or a rule dict of the config's ``devices``."""
        self._n._grant_device(_device(rule))

    def revoke_device(self, rule: Union[str, Mapping[str, Any]]) -> None:
        self._n._revoke_device(_device(rule))

    def devices(self) -> list[dict[str, Any]]:
        d: list[dict[str, Any]] = json.loads(self._n._devices_json())
        return d

    def add_interface(self, interface: Mapping[str, Any]) -> None:
        """``add_interface({"type": "bridged", "name": "eth1", "bridge": "br0"})``."""
        self._n._add_interface(json.dumps(interface))

    def remove_interface(self, name: str) -> None:
        self._n.remove_interface(name)

    def set_interface_rates(self, name: str, rx: int | None = None, tx: int | None = None) -> None:
        """Rates in bits per second; None lifts a limit."""
        self._n.set_interface_rates(name, rx, tx)

    def host_interfaces(self) -> list[str]:
        return self._n.host_interfaces()

    def mount(self, mount: Mapping[str, Any]) -> None:
        """``mount({"type": "tmpfs", "destination": "/run/x"})``."""
        self._n._mount(json.dumps(mount))

    def unmount(self, destination: str) -> None:
        self._n.unmount(destination)
