"""Operators of the NumPy executor: ``-x``, ``not``, arithmetic, comparisons, ``and``/``or``, ``in``.

Semantics (docs/semantics.md): int64 overflow gives null; ``/`` is float64 and division, ``//`` or
``%`` by zero (``0``, ``0.0`` or ``-0.0``) gives null; ``%`` is the truncated remainder (sign of
the dividend, IEEE ``fmod`` for floats) and ``//`` the int64 quotient truncated toward zero; comparisons order floats like Spark (NaN equals NaN
and is greater than every other value, ``-0.0 == 0.0``); ``and``/``or``/``not`` are three-valued.
"""

from __future__ import annotations

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.vec import Vec, as_dtype, common_dtype, result

I64_MIN = np.int64(np.iinfo(np.int64).min)


# ------------------------------------------------------------------ arithmetic


@implements("unary-")
def negate(ops, dtype: str, x: Vec) -> Vec:
    x = as_dtype(x, dtype)
    with np.errstate(all="ignore"):
        if dtype == "int64":
            return result(-x.data, x.valid & (x.data != I64_MIN), dtype)
        return result(-x.data, x.valid, dtype)


def add_int(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrapped sum and the rows where it overflowed."""
    with np.errstate(all="ignore"):
        s = a + b
    return s, ((a ^ s) & (b ^ s)) < 0


def sub_int(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        d = a - b
    return d, ((a ^ b) & (a ^ d)) < 0


def mul_int(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        p = a * b
        simple = (a == 0) | (a == -1)
        check = np.floor_divide(p, np.where(simple, 1, a))  # exact when no overflow
        overflow = np.where(simple, (a == -1) & (b == I64_MIN), check != b)
    return p, overflow


_INT_ARITH = {"+": add_int, "-": sub_int, "*": mul_int}


def _arith(op: str):
    def apply(ops, dtype: str, left: Vec, right: Vec) -> Vec:
        a, b = as_dtype(left, dtype), as_dtype(right, dtype)
        valid = a.valid & b.valid
        if dtype == "int64":
            data, overflow = _INT_ARITH[op](a.data, b.data)
            return result(data, valid & ~overflow, dtype)
        with np.errstate(all="ignore"):
            data = {"+": np.add, "-": np.subtract, "*": np.multiply}[op](a.data, b.data)
        return result(data, valid, dtype)

    return apply


for _op in ("+", "-", "*"):
    implements(f"binary{_op}")(_arith(_op))


@implements("binary/")
def divide(ops, dtype: str, left: Vec, right: Vec) -> Vec:
    a, b = as_dtype(left, "float64"), as_dtype(right, "float64")
    nonzero = b.data != 0
    with np.errstate(all="ignore"):
        data = a.data / np.where(nonzero, b.data, 1.0)
    return result(data, a.valid & b.valid & nonzero, "float64")


@implements("binary%")
def remainder(ops, dtype: str, left: Vec, right: Vec) -> Vec:
    a, b = as_dtype(left, dtype), as_dtype(right, dtype)
    nonzero = b.data != 0
    valid = a.valid & b.valid & nonzero
    with np.errstate(all="ignore"):
        if dtype == "int64":
            # x % -1 == x % 1 == 0 (and avoids the MIN / -1 trap); zero divisors are masked
            divisor = np.where(nonzero & (b.data != -1), b.data, 1)
            return result(np.fmod(a.data, divisor), valid, dtype)
        return result(np.fmod(a.data, np.where(nonzero, b.data, 1.0)), valid, dtype)


@implements("binary//")
def integer_divide(ops, dtype: str, left: Vec, right: Vec) -> Vec:
    """int64 quotient truncated toward zero; null for a zero divisor and for ``-2**63 // -1``."""
    a, b = as_dtype(left, "int64"), as_dtype(right, "int64")
    bad = (b.data == 0) | ((a.data == I64_MIN) & (b.data == -1))
    divisor = np.where(bad, 1, b.data)
    floor = np.floor_divide(a.data, divisor)
    inexact = floor * divisor != a.data
    quotient = floor + (inexact & ((a.data < 0) != (divisor < 0)))      # floor -> toward zero
    return result(quotient, a.valid & b.valid & ~bad, "int64")


# ------------------------------------------------------------------ comparisons


def float_eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spark's double equality: IEEE ``==`` (so ``-0.0 == 0.0``) plus NaN == NaN."""
    return (a == b) | (np.isnan(a) & np.isnan(b))


def float_lt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spark's double ordering: IEEE ``<`` plus NaN greater than every non-NaN."""
    return (a < b) | (~np.isnan(a) & np.isnan(b))


def compare_data(op: str, a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """``a op b`` on same-typed data arrays (placeholders compare harmlessly)."""
    if kind == "float64":
        if op in ("==", "!="):
            eq = float_eq(a, b)
            return eq if op == "==" else ~eq
        if op == "<":
            return float_lt(a, b)
        if op == ">":
            return float_lt(b, a)
        if op == "<=":
            return float_lt(a, b) | float_eq(a, b)
        return float_lt(b, a) | float_eq(a, b)
    fn = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
          ">": np.greater, ">=": np.greater_equal}[op]
    return np.asarray(fn(a, b), dtype=bool)


def compare(op: str, left: Vec, right: Vec) -> Vec:
    kind = common_dtype(left, right)
    valid = left.valid & right.valid
    if kind == "null":
        return Vec.full(None, "bool", len(left))
    a, b = as_dtype(left, kind), as_dtype(right, kind)
    return result(compare_data(op, a.data, b.data, kind), valid, "bool")


def _comparison(op: str):
    def apply(ops, dtype: str, left: Vec, right: Vec) -> Vec:
        return compare(op, left, right)

    return apply


for _op in ("==", "!=", "<", "<=", ">", ">="):
    implements(f"binary{_op}")(_comparison(_op))


# ------------------------------------------------------------------ three-valued logic


def _bool(v: Vec) -> Vec:
    return as_dtype(v, "bool")


@implements("unarynot")
def logical_not(ops, dtype: str, x: Vec) -> Vec:
    x = _bool(x)
    return result(~x.data, x.valid, "bool")


def kleene_and(a: Vec, b: Vec) -> Vec:
    false = (a.valid & ~a.data) | (b.valid & ~b.data)
    true = a.valid & a.data & b.valid & b.data
    return result(true, true | false, "bool")


def kleene_or(a: Vec, b: Vec) -> Vec:
    true = (a.valid & a.data) | (b.valid & b.data)
    false = a.valid & ~a.data & b.valid & ~b.data
    return result(true, true | false, "bool")


@implements("binaryand")
def logical_and(ops, dtype: str, left: Vec, right: Vec) -> Vec:
    return kleene_and(_bool(left), _bool(right))


@implements("binaryor")
def logical_or(ops, dtype: str, left: Vec, right: Vec) -> Vec:
    return kleene_or(_bool(left), _bool(right))


@implements("in")
def isin(ops, dtype: str, x: Vec, options: list[Vec], negated: bool) -> Vec:
    """SQL ``IN``: the three-valued OR of ``x == option`` (null x -> null; no match but a null
    option -> null)."""
    found = result(np.zeros(len(x), dtype=bool), x.valid.copy(), "bool")
    for option in options:
        found = kleene_or(found, compare("==", x, option))
    if negated:
        return result(~found.data, found.valid, "bool")
    return found
