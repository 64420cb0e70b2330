"""Data types of the expression language.

Types: ``bool``, ``int64``, ``float64``, ``string``, ``timestamp`` and ``list<T>``.  Every type is
nullable; the literal ``null`` has the internal type ``null`` that unifies with anything.  An
internal ``error`` type marks sub-expressions that already produced an issue, so one mistake is
reported once instead of cascading.

Promotion rules (also rendered into docs/functions.md):

- ``int64 (+ - * %) int64 -> int64``; int64 overflow (``+ - *``, unary ``-``, ``abs``,
  ``round``) gives ``null`` in both executors.
- If either operand of ``+ - * / %`` is ``float64`` the result is ``float64``.
- ``/`` always yields ``float64``; division (and ``%``) by zero yields ``null``.
- ``%`` is the truncated remainder: its sign follows the dividend (``-7 % 3 == -1``).
- ``//`` is integer division, ``int64 // int64 -> int64`` only, truncated toward zero like ``%``
  (``-7 // 2 == -3``, so ``a == (a // b) * b + a % b``); by zero, and ``-2**63 // -1``, null.
- Comparisons need comparable operands: two numbers (int64 and float64 mix freely), two strings,
  two timestamps, or (for ``==``/``!=`` only) two bools.  The result is ``bool``.
- ``null`` unifies with any type; the result keeps the other type (all types are nullable).
- ``if``/``coalesce``/list items/``in`` options unify to a common type: equal types stay,
  ``int64`` with ``float64`` becomes ``float64``, ``null`` takes the other type; anything else is
  an incompatible-types error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    name: str
    element: "DType | None" = None

    def __repr__(self) -> str:
        return f"DType({str(self)!r})"

    def __str__(self) -> str:
        if self.name == "list":
            return f"list<{self.element}>"
        return self.name

    @property
    def is_numeric(self) -> bool:
        return self.name in ("int64", "float64")

    @property
    def is_list(self) -> bool:
        return self.name == "list"

    @property
    def is_null(self) -> bool:
        return self.name == "null"

    @property
    def is_error(self) -> bool:
        return self.name == "error"

    @property
    def is_unknown(self) -> bool:
        """True for ``null`` and ``error``: types that fit any expectation."""
        return self.name in ("null", "error")


BOOL = DType("bool")
INT64 = DType("int64")
FLOAT64 = DType("float64")
STRING = DType("string")
TIMESTAMP = DType("timestamp")
NULL = DType("null")
ERROR = DType("error")

SCALARS: dict[str, DType] = {t.name: t for t in (BOOL, INT64, FLOAT64, STRING, TIMESTAMP)}
ORDERED = frozenset({INT64, FLOAT64, STRING, TIMESTAMP})


def list_of(element: DType) -> DType:
    return DType("list", element)


def parse_dtype(text: str) -> DType:
    """Parse ``"int64"``, ``"list<float64>"`` ...; raises ValueError on anything else."""
    cleaned = text.strip()
    if cleaned.startswith("list<") and cleaned.endswith(">"):
        return list_of(parse_dtype(cleaned[5:-1]))
    if cleaned in SCALARS:
        return SCALARS[cleaned]
    raise ValueError(f"unknown type `{text}`; expected one of {', '.join(SCALARS)} or list<T>")


def unify(left: DType, right: DType) -> DType | None:
    """The common type of two values (see module docstring), or None when they have none."""
    if left.is_error or right.is_error:
        return ERROR
    if left.is_null:
        return right
    if right.is_null:
        return left
    if left == right:
        return left
    if left.is_numeric and right.is_numeric:
        return FLOAT64
    if left.is_list and right.is_list:
        element = unify(left.element, right.element)
        return None if element is None else list_of(element)
    return None


def unify_all(types: list[DType]) -> DType | None:
    result = NULL
    for dtype in types:
        unified = unify(result, dtype)
        if unified is None:
            return None
        result = unified
    return result


def comparable(left: DType, right: DType, ordered: bool) -> bool:
    """Whether ``left <op> right`` is allowed; ``ordered`` for ``< <= > >=``."""
    if left.is_unknown or right.is_unknown:
        return True
    common = unify(left, right)
    if common is None or common.is_list:
        return False
    return common in ORDERED if ordered else True


def arithmetic_result(op: str, left: DType, right: DType) -> DType | None:
    """Result type of ``left op right`` for ``+ - * / // %``, or None when not numeric (``//``:
    not int64)."""
    if left.is_error or right.is_error:
        return ERROR
    if op == "//":
        if not all(side == INT64 or side.is_null for side in (left, right)):
            return None
        return NULL if left.is_null and right.is_null else INT64
    for side in (left, right):
        if not (side.is_numeric or side.is_null):
            return None
    if op == "/" or FLOAT64 in (left, right):
        return FLOAT64
    if left.is_null and right.is_null:
        return NULL
    return INT64
