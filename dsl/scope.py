"""Name scopes for the typechecker.

A scope answers ``lookup(parts) -> DType | None`` for a (possibly dotted) reference and lists
``candidates()`` (dotted names) for did-you-mean hints.  Any object with those two methods works;
:class:`MappingScope` and :class:`LayeredScope` cover the usual cases.
"""

from __future__ import annotations

from typing import Mapping, Protocol

from .types import DType


class Scope(Protocol):
    def lookup(self, parts: tuple[str, ...]) -> DType | None: ...

    def candidates(self) -> list[str]: ...


class MappingScope:
    """Names from a mapping of dotted name -> type, e.g. ``{"distance_km": FLOAT64, "ua.clicks_7d": INT64}``."""

    def __init__(self, names: Mapping[str, DType]) -> None:
        self._names = dict(names)

    def lookup(self, parts: tuple[str, ...]) -> DType | None:
        return self._names.get(".".join(parts))

    def candidates(self) -> list[str]:
        return sorted(self._names)


class LayeredScope:
    """``names`` first, then ``base``: how derived features see each other and their inputs.

    ``names`` is read live (not copied), so a resolver can add names as it goes."""

    def __init__(self, names: Mapping[str, DType], base: Scope) -> None:
        self._names = names
        self._base = base

    def lookup(self, parts: tuple[str, ...]) -> DType | None:
        found = self._names.get(".".join(parts))
        return found if found is not None else self._base.lookup(parts)

    def candidates(self) -> list[str]:
        return sorted(set(self._names) | set(self._base.candidates()))
