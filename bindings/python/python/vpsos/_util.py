"""Conversions shared by the wrappers: stdio arguments, signals, exits,
and the interruptible wait on a pidfd."""

from __future__ import annotations

import os
import select
import signal as _signal
import time
from dataclasses import dataclass
from typing import IO, Any, Protocol, Union

#: A stdio argument: None (/dev/null), "inherit" (this process's own), an
#: fd, or any object with ``fileno()``.
StdioArg = Union[None, str, int, IO[Any], "HasFileno"]


class HasFileno(Protocol):
    def fileno(self) -> int: ...


def fd_of(io: StdioArg) -> int:
    if io is None:
        return -1
    if io == "inherit":
        return -2
    if isinstance(io, int):
        return io
    if hasattr(io, "fileno"):
        return int(io.fileno())  # type: ignore[union-attr]
    raise TypeError(f"not a file object, fd, None or 'inherit': {io!r}")


def signo(sig: int | str | _signal.Signals) -> int:
    if isinstance(sig, int):
        return int(sig)
    name = sig.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(_signal.Signals[name])
    except KeyError:
        raise ValueError(f"no such signal: {sig!r}") from None


@dataclass(frozen=True)
class Exit:
    """How a process ended: ``kind`` "exited", "signaled" or "unknown"
    (its monitor did not live to record it); ``code`` the exit code or
    signal; ``reason`` "reboot", "halt", "exit", "killed" or "unknown" (a
    container's init ended by SIGHUP was rebooted, by SIGINT halted);
    ``killed`` whether :meth:`Container.stop` had to kill it."""

    kind: str
    code: int | None
    reason: str
    killed: bool = False

    @property
    def exitstatus(self) -> int | None:
        return self.code if self.kind == "exited" else None

    @property
    def termsig(self) -> int | None:
        return self.code if self.kind == "signaled" else None

    @property
    def success(self) -> bool:
        return self.kind == "exited" and self.code == 0


def exit_of(t: tuple[str, int | None, str] | None, killed: bool = False) -> Exit | None:
    return None if t is None else Exit(t[0], t[1], t[2], killed)


class Waitable(Protocol):
    def _try_wait(self) -> tuple[str, int | None, str] | None: ...
    def _pidfd(self) -> int: ...
    def _wait_timeout(self, s: float) -> tuple[str, int | None, str] | None: ...


def wait_for(obj: Waitable, timeout: float | None) -> Exit | None:
    """Wait for ``obj`` to end, up to ``timeout`` seconds (None: for
    ever). The GIL is free while it waits; it polls the pidfd in short
    slices, so signals (Ctrl-C: KeyboardInterrupt) interrupt it."""
    x = obj._try_wait()
    if x is not None:
        return exit_of(x)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        fd: int | None = obj._pidfd()
    except Exception:  # not running any more: only the record is left
        fd = None
    poller = select.poll()
    if fd is not None:
        poller.register(fd, select.POLLIN)
    try:
        while True:
            x = obj._try_wait()
            if x is not None:
                return exit_of(x)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            step = 0.2 if left is None else min(left, 0.2)
            if fd is not None and poller.poll(int(step * 1000) + 1):
                # ended: its monitor records the status right after
                x = obj._wait_timeout(min(step, 0.05))
                if x is not None:
                    return exit_of(x)
            elif fd is None:
                time.sleep(min(step, 0.02))
    finally:
        if fd is not None:
            os.close(fd)

