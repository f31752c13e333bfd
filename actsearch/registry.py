"""One shape for every kind of plug-in (activations, losses, architectures, data sources,
executors): a plain mapping from a name to an entry, explicit aliases, and a one-line error
with the nearest valid name for anything else (as timm's create_act does for activations)."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
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


def import_function(target: str, what: str = "activation") -> Callable:
    """`package.module:function` -> the function, or a one-line UserError saying why not;
    `what` names the setting in the error (activation, model.architecture, data.loader)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UserError(f"{what} {target!r}: expected module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
        raise UserError(f"{what} {target!r}: cannot import {module_name}: {exc}") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise UserError(f"{what} {target!r}: {module_name} has no attribute {attr!r}")
    if not callable(fn):
        raise UserError(f"{what} {target!r}: {attr} is a {type(fn).__name__}, not callable")
    return fn
