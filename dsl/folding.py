"""Constant evaluation of operators, with the language's semantics (see :mod:`mlc.dsl.types`).

Used by the typechecker to fold constant sub-expressions such as ``10 * 100`` or ``[1, 2 + 3]``.
Null propagates through arithmetic and comparisons; ``and``/``or``/``not`` use three-valued
logic; division, ``//`` and remainder by zero give null; ``%`` takes the sign of the dividend and
``//`` truncates toward zero.
Functions raise :class:`ConstantOverflow` when an int64 result would wrap or a float would be
infinite, so a constant argument never silently differs from what the user wrote.
"""

from __future__ import annotations

import math

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ConstantOverflow(ArithmeticError):
    pass


def checked(value: object) -> object:
    """``value`` unchanged, or ConstantOverflow when it does not fit int64 / is not finite."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise ConstantOverflow(f"{value} does not fit in int64")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConstantOverflow("result is not a finite float64")
    return value


def negate(value: object) -> object:
    return None if value is None else checked(-value)


def logical_not(value: object) -> object:
    return None if value is None else not value


def arithmetic(op: str, left: object, right: object) -> object:
    if left is None or right is None:
        return None
    if op == "+":
        return checked(left + right)
    if op == "-":
        return checked(left - right)
    if op == "*":
        return checked(left * right)
    if right == 0:
        return None
    if op == "/":
        return checked(left / right)
    if op == "//":
        return checked(_truncated_quotient(left, right))
    return checked(_truncated_remainder(left, right))


def _truncated_quotient(left: int, right: int) -> int:
    """Integer division rounding toward zero (``-7 // 2 == -3``), exact in Python ints."""
    quotient = abs(left) // abs(right)
    return -quotient if (left < 0) != (right < 0) else quotient


def _truncated_remainder(left, right):
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    return math.fmod(left, right)


def compare(op: str, left: object, right: object) -> object:
    if left is None or right is None:
        return None
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def logical(op: str, left: object, right: object) -> object:
    """Kleene three-valued ``and`` / ``or``."""
    if op == "and":
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def membership(value: object, options: tuple, negated: bool) -> object:
    """SQL ``IN``: null value gives null; no match with a null option gives null."""
    if value is None:
        return None
    if any(option is not None and option == value for option in options):
        found = True
    elif any(option is None for option in options):
        return None
    else:
        found = False
    return not found if negated else found
