"""Math functions of the Spark executor (native Columns; semantics: docs/semantics.md).

``log``/``log1p``/``exp``/``pow`` are Spark's (``java.lang.StrictMath``, fdlibm; the NumPy
executor ports fdlibm's log/log1p/exp bit-for-bit, ``pow`` agrees within 1 ulp); ``sqrt`` is
correctly rounded in both executors. ``round`` does not use Spark's ``round`` (BigDecimal over the
decimal string of the double): it is the float64 algorithm of ``numpy_ops.math.round_float``.
``least``/``greatest`` are explicit CASE chains so that ties (``-0.0`` vs ``0.0``) keep the
earlier argument in both executors.
"""

from __future__ import annotations

from mlc.runtime.spark_ops.core import SVal, as_type, implements, null_of

TWO_63 = 9223372036854775808.0
TWO_52 = 4503599627370496.0
INF = float("inf")
EXP_MAX = 709.782712893384


def F():
    from pyspark.sql import functions

    return functions


def _float(x: SVal):
    return as_type(x, "float64").col


@implements("log")
def log(ops, dtype: str, x: SVal) -> SVal:
    # Spark's ln is already null for x <= 0 (its log functions null at and below their asymptote)
    return SVal(F().log(_float(x)), "float64")


@implements("log1p")
def log1p(ops, dtype: str, x: SVal) -> SVal:
    # Spark's log1p is already null for x <= -1; no guard, so the argument is not duplicated
    return SVal(F().log1p(_float(x)), "float64")


@implements("exp")
def exp(ops, dtype: str, x: SVal) -> SVal:
    f, c = F(), _float(x)
    overflow = ~f.isnan(c) & (c > EXP_MAX) & (c != INF)   # decided on x (see numpy_ops.math.EXP_MAX)
    return SVal(f.when(~overflow, f.exp(c)), "float64")


@implements("sqrt")
def sqrt(ops, dtype: str, x: SVal) -> SVal:
    c = _float(x)
    return SVal(F().when(~(c < 0.0), F().sqrt(c)), "float64")


@implements("sin")
def sin(ops, dtype: str, x: SVal) -> SVal:
    return SVal(F().sin(_float(x)), "float64")      # java.lang.Math.sin: 1-ulp tolerant (docs/semantics.md)


@implements("cos")
def cos(ops, dtype: str, x: SVal) -> SVal:
    return SVal(F().cos(_float(x)), "float64")


@implements("abs")
def abs_(ops, dtype: str, x: SVal) -> SVal:
    c = as_type(x, dtype).col
    if dtype == "int64":
        return SVal(F().when(c != -(2**63), F().abs(c)), dtype)
    return SVal(F().abs(c), dtype)


@implements("pow")
def pow_(ops, dtype: str, base: SVal, exponent: SVal) -> SVal:
    f = F()
    a, b = _float(base), _float(exponent)
    r = f.pow(a, b)
    not_real = f.isnan(r) & ~f.isnan(a) & ~f.isnan(b)
    return SVal(f.when(~not_real, r), "float64")


def _rounder(fn_name: str):
    def apply(ops, dtype: str, x: SVal) -> SVal:
        if x.dtype == "int64":
            return x
        f, c = F(), _float(x)
        ok = ~f.isnan(c) & (c >= -TWO_63) & (c < TWO_63)
        return SVal(f.when(ok, getattr(f, fn_name)(c).cast("bigint")), "int64")

    return apply


implements("floor")(_rounder("floor"))
implements("ceil")(_rounder("ceil"))


def round_float(c, digits: int):
    """Column version of ``mlc.runtime.numpy_ops.math.round_float`` (same float64 steps)."""
    f = F()
    finite = ~f.isnan(c) & (f.abs(c) != INF)
    if digits > 308:
        return c
    if digits < -308:
        return f.when(finite, c * 0.0).otherwise(c)
    scale = float(10 ** abs(digits))
    ax = f.abs(c)
    t = ax * scale if digits >= 0 else ax / scale
    small = finite & (t < TWO_52)
    fl = f.floor(t).cast("double")                     # exact: 0 <= t < 2**52
    r = fl + f.when(t - fl >= 0.5, 1.0).otherwise(0.0)
    mag = r / scale if digits >= 0 else r * scale
    signed = f.when(c < 0.0, -mag).when(mag == 0.0, c * 0.0).otherwise(mag)   # copysign(mag, c)
    return f.when(small, signed).otherwise(c)


def round_int(c, digits: int):
    f = F()
    if digits >= 0:
        return c
    if digits == -19:
        return f.when((c < 5 * 10**18) & (c > -5 * 10**18), f.lit(0).cast("bigint"))
    if digits < -19:
        return f.when(c.isNotNull(), f.lit(0).cast("bigint"))
    scale = 10 ** -digits
    n = f.when(c > 0, -c).otherwise(c)                 # -|x|, never overflows
    rem = n % scale                                    # Java %: in (-scale, 0]
    base = n - rem
    m = f.when(-rem * 2 >= scale, f.try_subtract(base, f.lit(scale).cast("bigint"))).otherwise(base)
    return f.when(c > 0, -m).otherwise(m)


@implements("round")
def round_(ops, dtype: str, x: SVal, digits: int = 0) -> SVal:
    digits = int(digits)
    if dtype == "int64":
        return SVal(round_int(as_type(x, "int64").col, digits), "int64")
    return SVal(round_float(_float(x), digits), "float64")


def _pick(op: str, dtype: str, values: list[SVal]) -> SVal:
    f = F()
    out = as_type(values[0], dtype).col
    for value in values[1:]:
        v = as_type(value, dtype).col
        better = v < out if op == "<" else v > out
        out = f.when(v.isNotNull() & (out.isNull() | better), v).otherwise(out)
    return SVal(out, dtype)


@implements("least")
def least(ops, dtype: str, *values: SVal) -> SVal:
    if dtype == "null":
        return null_of("null")
    return _pick("<", dtype, list(values))


@implements("greatest")
def greatest(ops, dtype: str, *values: SVal) -> SVal:
    if dtype == "null":
        return null_of("null")
    return _pick(">", dtype, list(values))


@implements("clip")
def clip(ops, dtype: str, x: SVal, lo: SVal, hi: SVal) -> SVal:
    c = as_type(x, dtype)
    out = _pick("<", dtype, [_pick(">", dtype, [c, lo]), hi])
    return SVal(F().when(c.col.isNotNull(), out.col), dtype)
