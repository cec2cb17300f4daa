"""vpsos from Python: system containers through the library.

>>> import vpsos
>>> rt = vpsos.Runtime("/run/vpsos")
>>> with rt.run("ct1", {"rootfs": "/srv/ct1", "process": {"args": ["/sbin/init"]}, ...}) as ct:
...     ct.exec("hostname", stdout=sys.stdout).wait()

Every blocking call releases the GIL; waits poll the process's pidfd in
short slices, so Ctrl-C interrupts them, and ``wait_async`` waits in an
asyncio loop. Inits and exec'd processes are reaped by their own
monitors: ``os.wait()`` or ``signal(SIGCHLD, SIG_IGN)`` in the program
cannot take their status.
"""

from __future__ import annotations

from . import _native
from ._util import Exit
from .config import Config
from .container import DEVICES, Container, Process, Stats
from .errors import (
    AlreadyExistsError,
    BusyError,
    CancelledError,
    ChildError,
    CommandError,
    InvalidConfigError,
    NotFoundError,
    PermissionDeniedError,
    UnsupportedError,
    VpsosError,
    VpsosIOError,
)
from .runtime import ContainerInfo, Runtime
from .subsystems import ZFS, Allocation, Cgroup, DirStorage, IdRange, Link, apparmor, export_dir, net

__version__ = "0.1.0"


def has_feature(name: str) -> bool:
    """Whether this host has a feature: "cgroup2", "cgroup1", "zfs",
    "apparmor", "idmapped-mounts", "user-ns", "time-ns", "spawn", …"""
    return _native.has_feature(name)


__all__ = [
    "AlreadyExistsError", "Allocation", "BusyError", "CancelledError", "Cgroup", "ChildError",
    "CommandError", "Config", "Container", "ContainerInfo", "DEVICES", "DirStorage", "Exit",
    "IdRange", "InvalidConfigError", "Link", "NotFoundError", "PermissionDeniedError", "Process",
    "Runtime", "Stats", "UnsupportedError", "VpsosError", "VpsosIOError", "ZFS", "apparmor",
    "export_dir", "has_feature", "net",
]
