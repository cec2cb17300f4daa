"""The container description: the JSON schema shared with Rust, C and Ruby."""

from __future__ import annotations

import json
from typing import Any, Mapping, Union

from . import _native


class Config:
    """A container's description, from a dict or JSON (docs/config-json.md),
    validated when made: a bad one raises :class:`InvalidConfigError` whose
    ``field`` names it.

    >>> cfg = Config({"rootfs": "/srv/ct1", "process": {"args": ["/sbin/init"]}, ...})
    >>> cfg["hostname"]
    """

    __slots__ = ("_json",)

    def __init__(self, config: Union[Mapping[str, Any], str, "Config"]) -> None:
        if isinstance(config, Config):
            self._json: str = config._json
            return
        text = config if isinstance(config, str) else json.dumps(config)
        self._json = _native.config_normalize(text)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls(text)

    def to_json(self) -> str:
        """The canonical JSON form (every field written out)."""
        return self._json

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = json.loads(self._json)
        return d

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and other._json == self._json

    def __hash__(self) -> int:
        return hash(self._json)

    def __repr__(self) -> str:
        return f"Config({self._json})"

    def merge(self, changes: Mapping[str, Any]) -> "Config":
        """A copy with ``changes`` merged in (deeply, for nested dicts)."""

        def deep(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
            out = dict(a)
            for k, v in b.items():
                out[k] = deep(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, Mapping) else v
            return out

        return Config(deep(self.to_dict(), changes))


def json_of(config: Union[Config, Mapping[str, Any], str]) -> str:
    return config.to_json() if isinstance(config, Config) else Config(config).to_json()
