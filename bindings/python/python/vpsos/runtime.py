"""Where containers' state lives: create, run, load, list, recover."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Union

from . import _native
from ._util import StdioArg, fd_of
from .config import Config, json_of
from .container import Container

ConfigArg = Union[Config, Mapping[str, Any], str]


@dataclass(frozen=True)
class ContainerInfo:
    """One line of :meth:`Runtime.list`."""

    id: str
    status: str
    pid: int | None
    created: datetime
    started: datetime | None


class Runtime:
    """A state directory (default /run/vpsos). Any number of Runtime
    objects, threads and processes may share one."""

    __slots__ = ("_n",)

    def __init__(self, root: str | None = None) -> None:
        self._n = _native.Runtime(root)

    @property
    def root(self) -> str:
        return self._n.root

    def create(
        self, id: str, config: ConfigArg, *, stdin: StdioArg = None, stdout: StdioArg = None, stderr: StdioArg = None
    ) -> Container:
        """Create container ``id``; its init waits for :meth:`Container.start`.
        A failed create leaves nothing behind."""
        return Container(self._n._create(id, json_of(config), fd_of(stdin), fd_of(stdout), fd_of(stderr), False))

    def run(
        self, id: str, config: ConfigArg, *, stdin: StdioArg = None, stdout: StdioArg = None, stderr: StdioArg = None
    ) -> Container:
        """Create and start (a failed start deletes it again)."""
        return Container(self._n._create(id, json_of(config), fd_of(stdin), fd_of(stdout), fd_of(stderr), True))

    def load(self, id: str) -> Container:
        return Container(self._n.load(id))

    def ids(self) -> list[str]:
        return self._n.ids()

    def list(self) -> list[ContainerInfo]:
        out = []
        for c in json.loads(self._n._list()):
            started = c.get("started")
            out.append(
                ContainerInfo(
                    id=c["id"],
                    status=c["status"],
                    pid=c.get("pid"),
                    created=datetime.fromtimestamp(c["created"], timezone.utc),
                    started=None if started is None else datetime.fromtimestamp(started, timezone.utc),
                )
            )
        return out

    def recover(self, id: str) -> dict[str, Any]:
        """Undo what a dead creator or deleter left half-way of ``id``; what
        was removed. A complete container is left as it is."""
        d: dict[str, Any] = json.loads(self._n._recover(id))
        return d

    def recover_all(self) -> builtins.list[dict[str, Any]]:
        d: builtins.list[dict[str, Any]] = json.loads(self._n._recover_all())
        return d

    def orphaned_interfaces(self) -> builtins.list[str]:
        return self._n._orphaned_interfaces(False)

    def remove_orphaned_interfaces(self) -> builtins.list[str]:
        return self._n._orphaned_interfaces(True)
