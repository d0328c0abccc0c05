"""One small registry pattern for every extension point: metrics, format checks, probe kinds
and gate rules.

A registry maps names to entries in the order they were registered. Built-ins register
themselves when their module is imported (a decorator next to each function, in the manner
of inspect-ai's `@metric` and lm-eval's `register_metric`). A suite's own plug-ins are never
registered: they travel with the loaded suite (`LoadedSuite.scorers`), so what one suite
loads cannot leak into another run in the same process.
"""

from __future__ import annotations

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

    def __contains__(self, name: object) -> bool:
        return name in self._entries
