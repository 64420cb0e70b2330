"""Operators of the Spark executor (native Column expressions; semantics: docs/semantics.md).

int64 ``+ - *`` use ``try_add``/``try_subtract``/``try_multiply`` (null on overflow, whatever
``spark.sql.ansi.enabled`` says); ``/`` and ``%`` guard a zero divisor explicitly. Spark's own
double comparisons already have the documented order (NaN == NaN, NaN greatest, -0.0 == 0.0).
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce

from mlc.runtime.spark_ops.core import SVal, as_type, common_type, implements, null_of

I64_MIN = -(2**63)


def F():
    from pyspark.sql import functions

    return functions


@implements("const")
def const(ops, dtype: str, value) -> SVal:
    f = F()
    if value is None or dtype == "null":
        return null_of(dtype)
    if dtype == "float64":
        return SVal(f.lit(float(value)), dtype, float(value))
    if dtype == "int64":
        return SVal(f.lit(int(value)).cast("bigint"), dtype)
    if dtype == "bool":
        return SVal(f.lit(bool(value)), dtype)
    if dtype == "string":
        return SVal(f.lit(str(value)), dtype)
    if dtype == "timestamp":
        if isinstance(value, datetime):
            from mlc.runtime.numpy_ops.vec import scalar_value

            value = scalar_value(value, "timestamp")
        return SVal(f.timestamp_micros(f.lit(int(value)).cast("bigint")), dtype)
    raise TypeError(f"unknown dtype {dtype}")


@implements("unary-")
def negate(ops, dtype: str, x: SVal) -> SVal:
    x = as_type(x, dtype)
    if dtype == "int64":
        return SVal(F().when(x.col != I64_MIN, -x.col), dtype)
    return SVal(-x.col, dtype)


def _arith(op: str):
    def apply(ops, dtype: str, left: SVal, right: SVal) -> SVal:
        f = F()
        a, b = as_type(left, dtype).col, as_type(right, dtype).col
        if dtype == "int64":
            fn = {"+": f.try_add, "-": f.try_subtract, "*": f.try_multiply}[op]
            return SVal(fn(a, b), dtype)
        return SVal({"+": a + b, "-": a - b, "*": a * b}[op], dtype)

    return apply


for _op in ("+", "-", "*"):
    implements(f"binary{_op}")(_arith(_op))


@implements("binary/")
def divide(ops, dtype: str, left: SVal, right: SVal) -> SVal:
    a, b = as_type(left, "float64").col, as_type(right, "float64").col
    return SVal(a / b, "float64")   # with ANSI off (required_conf) Spark's `/` is null for a zero divisor


@implements("binary//")
def integer_divide(ops, dtype: str, left: SVal, right: SVal) -> SVal:
    a, b = as_type(left, "int64").col, as_type(right, "int64").col
    # Spark's `div` (IntegralDivide): Java long division, truncated; null for 0 with ANSI off. It
    # wraps -2**63 div -1 to -2**63 instead of failing: that overflow is null here.
    overflow = (a == I64_MIN) & (b == -1)
    return SVal(F().when(~overflow, F().call_function("div", a, b)), "int64")


@implements("binary%")
def remainder(ops, dtype: str, left: SVal, right: SVal) -> SVal:
    a, b = as_type(left, dtype).col, as_type(right, dtype).col
    return SVal(a % b, dtype)   # Java %: sign of the dividend; MIN % -1 == 0; null for 0 with ANSI off


def compare(op: str, left: SVal, right: SVal) -> SVal:
    kind = common_type(left, right)
    if kind == "null":
        return null_of("bool")
    a, b = as_type(left, kind).col, as_type(right, kind).col
    col = {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, "<=": lambda: a <= b,
           ">": lambda: a > b, ">=": lambda: a >= b}[op]()
    return SVal(col, "bool")


def _comparison(op: str):
    def apply(ops, dtype: str, left: SVal, right: SVal) -> SVal:
        return compare(op, left, right)

    return apply


for _op in ("==", "!=", "<", "<=", ">", ">="):
    implements(f"binary{_op}")(_comparison(_op))


@implements("unarynot")
def logical_not(ops, dtype: str, x: SVal) -> SVal:
    return SVal(~as_type(x, "bool").col, "bool")


@implements("binaryand")
def logical_and(ops, dtype: str, left: SVal, right: SVal) -> SVal:
    return SVal(as_type(left, "bool").col & as_type(right, "bool").col, "bool")   # Kleene AND


@implements("binaryor")
def logical_or(ops, dtype: str, left: SVal, right: SVal) -> SVal:
    return SVal(as_type(left, "bool").col | as_type(right, "bool").col, "bool")   # Kleene OR


@implements("in")
def isin(ops, dtype: str, x: SVal, options: list[SVal], negated: bool) -> SVal:
    """The three-valued OR of ``x == option`` (not Spark's ``In``/``InSet``, whose NaN and -0.0
    handling depends on the number of options)."""
    if options:
        found = reduce(lambda acc, eq: acc | eq, [compare("==", x, o).col for o in options])
    elif x.dtype == "null":
        return null_of("bool")
    else:
        found = F().when(x.col.isNotNull(), F().lit(False))
    return SVal(~found if negated else found, "bool")
