"""The exceptions vpsos raises: :class:`VpsosError` and one subclass per
error kind, each also the builtin exception that fits, so ``except
FileNotFoundError`` catches a missing container too."""

from __future__ import annotations


class VpsosError(Exception):
    """Every error vpsos raises.

    ``kind`` is the stable error kind (``"invalid_config"``,
    ``"not_found"``, ...), ``errno`` the errno behind it (or None),
    ``stage`` where a container's setup failed (``"mount"``,
    ``"pivot_root"``, ... or None) and ``field`` the config field or
    argument it is about (``"process.args"`` or None).

    >>> try:
    ...     rt.run("ct1", cfg)
    ... except vpsos.InvalidConfigError as e:
    ...     print(e.field, e)
    """

    kind: str
    errno: int | None
    stage: str | None
    field: str | None

    def __init__(
        self,
        message: str,
        kind: str = "unknown",
        errno: int | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.errno = errno
        self.stage = stage
        self.field = field

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidConfigError(VpsosError, ValueError):
    """The config or an argument is invalid; ``field`` names it."""


class NotFoundError(VpsosError, FileNotFoundError):
    """No such container, file or object."""


class AlreadyExistsError(VpsosError, FileExistsError):
    """It exists already."""


class PermissionDeniedError(VpsosError, PermissionError):
    """Not permitted."""


class UnsupportedError(VpsosError, NotImplementedError):
    """The host (kernel, tools) lacks what it needs."""


class BusyError(VpsosError, BlockingIOError):
    """The container is in the wrong state, or another caller holds it."""


class ChildError(VpsosError, ChildProcessError):
    """Setting up the container's process failed; ``stage`` says where."""


class VpsosIOError(VpsosError, OSError):
    """A system call failed; ``errno`` says why."""


class CommandError(VpsosError):
    """An external command (zfs, apparmor_parser) failed; the message has its stderr."""


class CancelledError(VpsosError, TimeoutError):
    """Cancelled, or the time allowed ran out."""
