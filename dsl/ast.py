"""Untyped expression tree, as written by the user.

Every node carries ``start``/``end``: 0-based half-open character offsets in the expression text.
Spans do not take part in equality (``field(compare=False)``), so two trees compare equal when
they have the same structure, e.g. ``parse(to_source(e)) == e``.  A node spans from its first to
its last token: in ``(a + b) * c`` the ``*`` node spans the whole text (parentheses included) and
the ``+`` node spans ``a + b``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union


def _span() -> int:
    return field(compare=False)


@dataclass(frozen=True)
class Literal:
    """``kind`` is one of ``int``, ``float``, ``string``, ``bool``, ``null``."""

    value: object
    kind: str
    start: int = _span()
    end: int = _span()


@dataclass(frozen=True)
class ListLit:
    items: tuple["Expr", ...]
    start: int = _span()
    end: int = _span()


@dataclass(frozen=True)
class Ref:
    """A (possibly dotted) name: ``distance_km`` or ``user_activity.clicks_7d``."""

    parts: tuple[str, ...]
    start: int = _span()
    end: int = _span()

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple["Expr", ...]
    start: int = _span()
    end: int = _span()
    name_start: int = _span()
    name_end: int = _span()


@dataclass(frozen=True)
class Unary:
    """``op`` is ``-`` or ``not``."""

    op: str
    operand: "Expr"
    start: int = _span()
    end: int = _span()


@dataclass(frozen=True)
class Binary:
    """``op`` is an arithmetic (``+ - * / // %``), comparison (``== != < <= > >=``) or ``and``/``or``."""

    op: str
    left: "Expr"
    right: "Expr"
    start: int = _span()
    end: int = _span()


@dataclass(frozen=True)
class InOp:
    """``value in [options]``; ``negated`` for ``not in``."""

    negated: bool
    value: "Expr"
    options: tuple["Expr", ...]
    start: int = _span()
    end: int = _span()


Expr = Union[Literal, ListLit, Ref, Call, Unary, Binary, InOp]

ARITHMETIC_OPS = ("+", "-", "*", "/", "//", "%")
COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=")
BOOLEAN_OPS = ("and", "or")


def children(node: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions in source order."""
    if isinstance(node, ListLit):
        return node.items
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, InOp):
        return (node.value, *node.options)
    return ()


def walk(node: Expr) -> Iterator[Expr]:
    """Pre-order traversal of ``node`` and all its descendants."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def references(node: Expr) -> list[Ref]:
    """Every name reference in source order (function names are not references)."""
    return [n for n in walk(node) if isinstance(n, Ref)]
