"""Typed expression tree produced by the typechecker."""

from __future__ import annotations

from dataclasses import dataclass

from .ast import Expr
from .types import DType


class _NotConstant:
    def __repr__(self) -> str:
        return "NOT_CONSTANT"

    def __reduce__(self) -> str:
        return "NOT_CONSTANT"


NOT_CONSTANT = _NotConstant()


@dataclass(frozen=True)
class TypedExpr:
    """One checked node.

    ``node`` is the source AST node (its class, operator, name and span); ``args`` are the typed
    children in source order (list items, call arguments with defaults filled in, unary operand,
    binary left/right, ``in`` value then options); ``value`` is the folded constant or
    ``NOT_CONSTANT``; ``function`` is the canonical catalogue name for calls (``fillna`` ->
    ``coalesce``), None for unknown functions and other nodes.
    """

    node: Expr
    dtype: DType
    args: tuple["TypedExpr", ...] = ()
    value: object = NOT_CONSTANT
    function: str | None = None

    @property
    def is_constant(self) -> bool:
        return self.value is not NOT_CONSTANT

    @property
    def start(self) -> int:
        return self.node.start

    @property
    def end(self) -> int:
        return self.node.end
