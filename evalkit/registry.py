"""One small registry pattern for every extension point: metrics, format checks, probe kinds
and gate rules.

A registry maps names to entries in the order they were registered. Built-ins register
themselves when their module is imported (a decorator next to each function, in the manner
of inspect-ai's `@metric` and lm-eval's `register_metric`). A suite's own plug-ins never go
into a module-level registry: `with_entries` returns a new registry holding the built-ins
and the suite's entries, so what one suite loads cannot leak into another run in the same
process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name, in registration order; a name is registered once.

    >>> kinds = Registry[str]("probe kind")
    >>> kinds.register("numeric", "a number")
    'a number'
    >>> "numeric" in kinds, kinds.names()
    (True, ('numeric',))
    >>> kinds.lookup("essay")
    Traceback (most recent call last):
    ...
    KeyError: "unknown probe kind 'essay'; known: numeric"
    >>> suite_kinds = kinds.with_entries([("essay", "free text")])
    >>> suite_kinds.names(), kinds.names()
    (('numeric', 'essay'), ('numeric',))
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; a name already taken is a programming error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def lookup(self, name: str) -> T:
        """The entry named `name`; KeyError naming the known entries when there is none."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def get(self, name: str) -> T | None:
        return self._entries.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def values(self) -> tuple[T, ...]:
        return tuple(self._entries.values())

    def with_entries(self, entries: Iterable[tuple[str, T]]) -> Registry[T]:
        """A new registry: this one's entries, then `entries`; this one is left unchanged."""
        extended = Registry[T](self.kind)
        for name, entry in [*self._entries.items(), *entries]:
            extended.register(name, entry)
        return extended

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
