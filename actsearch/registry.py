"""One shape for every kind of plug-in (activations, losses, architectures, data sources,
executors): a plain mapping from a name to an entry, explicit aliases, and a one-line error
with the nearest valid name for anything else (as timm's create_act does for activations)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from actsearch.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name. `kind` names them in errors ("activation", "executor", ...);
    `extra_hint` says what else a name may be (e.g. "or module:function for your own")."""

    def __init__(self, kind: str, extra_hint: str = ""):
        self.kind = kind
        self.extra_hint = extra_hint
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T, aliases: tuple[str, ...] = ()) -> T:
        if name in self._entries or name in self._aliases:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        for alias in aliases:
            self._aliases[alias] = name
        return entry

    def canonical(self, name: str, key: str = "") -> str:
        """The registered name behind `name` (itself or what it is an alias of); `key`, the
        config key it came from, leads the error."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        choices = [*self._entries, *self._aliases]
        close = difflib.get_close_matches(name, choices, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        extra = f", {self.extra_hint}" if self.extra_hint else ""
        raise UserError(f"{key + ': ' if key else ''}unknown {self.kind} {name!r}{hint}; valid: "
                        f"{', '.join(self._entries)}{extra}")

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self):
        return self._entries.items()

    def values(self):
        return self._entries.values()

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)
