"""The subsystems a node manager calls on its own: id ranges, cgroups,
netlink, ZFS, directory storage and AppArmor."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

from . import _native
from ._util import StdioArg, fd_of
from .config import Config, json_of
from .container import Stats, stats_of


@dataclass(frozen=True)
class Allocation:
    """An id-range allocation; ``id_map`` is the map a container uses."""

    index: int
    count: int
    owner: str
    first_id: int
    id_count: int

    @property
    def id_map(self) -> str:
        return f"0:{self.first_id}:{self.id_count}"


class IdRange:
    """Host ids handed out in blocks, persisted in a file and shared safely
    between processes (from 1,000,000 in blocks of 65,536 by default)."""

    __slots__ = ("_n",)

    def __init__(
        self,
        path: str,
        start: int = 1_000_000,
        block_size: int = 65_536,
        block_count: int = (0xFFFF_FFFF - 1_000_000) // 65_536,
    ) -> None:
        self._n = _native.IdRange(str(path), start, block_size, block_count)

    @property
    def path(self) -> str:
        return self._n.path

    def allocate(self, count: int = 1, *, owner: str) -> Allocation:
        return Allocation(*self._n._allocate(count, owner))

    def allocate_at(self, index: int, count: int = 1, *, owner: str) -> Allocation:
        return Allocation(*self._n._allocate_at(index, count, owner))

    def free(self, index: int) -> Allocation:
        return Allocation(*self._n._free(index))

    def free_owner(self, owner: str) -> int:
        return self._n.free_owner(owner)

    def list(self) -> list[Allocation]:
        return [Allocation(*a) for a in self._n._list()]


class Cgroup:
    """A cgroup on its own (v1 hierarchies or v2)."""

    __slots__ = ("_n",)

    def __init__(self, path: str, create: bool = False) -> None:
        self._n = _native.Cgroup(path, create)

    @staticmethod
    def mode() -> str:
        """"unified", "hybrid", "legacy" or "none"."""
        return _native.cgroup_mode()

    @property
    def path(self) -> str:
        return self._n.path

    def exists(self) -> bool:
        return self._n.exists()

    def procs(self) -> list[int]:
        return self._n.procs()

    def attach(self, pid: int) -> None:
        self._n.attach(pid)

    def stats(self) -> Stats:
        return stats_of(self._n._stats_json())

    def set_resources(self, resources: Mapping[str, Any]) -> None:
        self._n._set_resources(json.dumps(resources))

    def resources(self) -> dict[str, Any]:
        d: dict[str, Any] = json.loads(self._n._resources_json())
        return d

    def freeze(self) -> None:
        self._n.freeze()

    def thaw(self) -> None:
        self._n.thaw()

    def is_frozen(self) -> bool:
        return self._n.is_frozen()

    def kill_all(self, timeout: float = 5) -> None:
        self._n.kill_all(float(timeout))

    def remove(self) -> None:
        self._n.remove()


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str | None


class net:
    """Links, bridges, veths, addresses, routes and rates over netlink."""

    @staticmethod
    def links() -> list[Link]:
        return [Link(*l) for l in _native.net_links()]

    @staticmethod
    def link_exists(name: str) -> bool:
        return _native.net_link_exists(name)

    @staticmethod
    def add_bridge(name: str) -> None:
        _native.net_add_bridge(name)

    @staticmethod
    def add_veth(name: str, peer: str) -> None:
        _native.net_add_veth(name, peer)

    @staticmethod
    def delete_link(name: str) -> None:
        _native.net_delete_link(name)

    @staticmethod
    def set_up(name: str, up: bool = True) -> None:
        _native.net_set_up(name, up)

    @staticmethod
    def set_master(name: str, bridge: str) -> None:
        _native.net_set_master(name, bridge)

    @staticmethod
    def set_mtu(name: str, mtu: int) -> None:
        _native.net_set_mtu(name, mtu)

    @staticmethod
    def add_address(name: str, address: str) -> None:
        _native.net_add_address(name, address)

    @staticmethod
    def add_route(dest: str | None, via: str | None = None, dev: str | None = None) -> None:
        _native.net_add_route(dest, via, dev)

    @staticmethod
    def set_rate(name: str, bps: int | None) -> None:
        """The egress rate in bits per second (None: no limit)."""
        _native.net_set_rate(name, bps)


def _pairs(props: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in (props or {}).items()]


class ZFS:
    """ZFS through the zfs command: checked names, properties of many
    datasets in one call, streams to and from any object with ``fileno()``."""

    __slots__ = ("_n",)

    def __init__(self) -> None:
        self._n = _native.ZFS()

    def create(self, name: str, props: Mapping[str, Any] | None = None) -> None:
        self._n._create(name, _pairs(props))

    def destroy(self, name: str, recursive: bool = False) -> None:
        self._n._destroy(name, recursive)

    def rename(self, old: str, new: str) -> None:
        self._n.rename(old, new)

    def mount(self, name: str) -> None:
        self._n.mount(name)

    def unmount(self, name: str) -> None:
        self._n.unmount(name)

    def set(self, name: str, props: Mapping[str, Any]) -> None:
        self._n._set(name, _pairs(props))

    def inherit(self, name: str, prop: str) -> None:
        self._n.inherit(name, prop)

    def get(self, names: Union[str, Sequence[str]], *props: str) -> dict[str, dict[str, str]]:
        """``{"tank/ct/101": {"used": "12345"}}``, in one ``zfs get``."""
        return self._n._get([names] if isinstance(names, str) else list(names), list(props))

    def list(self, root: str, type: str = "filesystem", depth: int | None = None) -> list[str]:
        return self._n._list(root, type, depth)

    def snapshot(self, name: str, recursive: bool = False) -> None:
        self._n._snapshot(name, recursive)

    def rollback(self, name: str) -> None:
        self._n.rollback(name)

    def clone(self, snapshot: str, target: str, props: Mapping[str, Any] | None = None) -> None:
        self._n._clone(snapshot, target, _pairs(props))

    def send(
        self,
        snapshot: str,
        out: StdioArg,
        *,
        from_: str | None = None,
        properties: bool = False,
        compressed: bool = False,
        raw: bool = False,
        large_blocks: bool = False,
        intermediates: bool = False,
    ) -> int:
        """Send ``snapshot`` into ``out`` (incremental from ``from_``); the bytes sent."""
        flags = [n for n, on in [("properties", properties), ("compressed", compressed), ("raw", raw),
                                 ("large_blocks", large_blocks), ("intermediates", intermediates)] if on]
        return self._n._send(snapshot, fd_of(out), from_, flags)

    def receive(
        self, target: str, inp: StdioArg, *, force: bool = False, no_mount: bool = False, resumable: bool = False
    ) -> int:
        flags = [n for n, on in [("force", force), ("no_mount", no_mount), ("resumable", resumable)] if on]
        return self._n._receive(target, fd_of(inp), flags)

    def abort_receive(self, target: str) -> None:
        self._n.abort_receive(target)

    def export(self, config: Union[Config, Mapping[str, Any], str], snapshot: str, out: StdioArg) -> int:
        return self._n._export(json_of(config), snapshot, fd_of(out))

    def import_(self, target: str, inp: StdioArg) -> Config:
        return Config(self._n._import(target, fd_of(inp)))


class DirStorage:
    """Root filesystems as directories (the embedded default storage)."""

    __slots__ = ("_n",)

    def __init__(self, root: str) -> None:
        self._n = _native.DirStorage(str(root))

    def path(self, name: str) -> str:
        return self._n.path(name)

    def list(self) -> list[str]:
        return self._n.list()

    def create_from_tarball(self, name: str, tarball: str) -> str:
        return self._n.create_from_tarball(name, str(tarball))

    def create_from_dir(self, name: str, source: str) -> str:
        return self._n.create_from_dir(name, str(source))

    def create_from_tar(self, name: str, inp: StdioArg) -> str:
        return self._n._create_from_tar(name, fd_of(inp))

    def size(self, name: str) -> int:
        return self._n.size(name)

    def delete(self, name: str) -> None:
        self._n.delete(name)

    def import_(self, name: str, inp: StdioArg) -> Config:
        return Config(self._n._import(name, fd_of(inp)))


def export_dir(config: Union[Config, Mapping[str, Any], str], rootfs: str, out: StdioArg) -> None:
    """Write a container (config and directory rootfs) into ``out`` as one stream."""
    _native.export_dir(json_of(config), str(rootfs), fd_of(out))


class apparmor:
    """AppArmor profiles (apparmor_parser, with its cache)."""

    @staticmethod
    def enabled() -> bool:
        return _native.apparmor_enabled()

    @staticmethod
    def loaded(name: str) -> bool:
        return _native.apparmor_loaded(name)

    @staticmethod
    def load(name: str, text: str, dir: str | None = None) -> str:
        """"parsed", or "unchanged" when the same text is loaded already."""
        return _native.apparmor_load(name, text, dir)

    @staticmethod
    def unload(name: str, dir: str | None = None) -> None:
        _native.apparmor_unload(name, dir)
