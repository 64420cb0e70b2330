"""Casts of the Spark executor (native Columns; semantics: docs/semantics.md).

String inputs are first matched against the grammars shared with the NumPy executor
(``mlc.runtime.numpy_ops.casts``: the same pattern text, anchored with ``^...\\z`` for Java) and
only matching strings reach Spark's ``cast`` (whose own grammar is wider: ``1d``, ``0x1p3``,
``t``/``yes`` ...). Out-of-range string -> int64 casts rely on ``spark.sql.ansi.enabled=false``
(null instead of an error); everything else is independent of ANSI mode.
"""

from __future__ import annotations

from mlc.runtime.numpy_ops.casts import (FALSE_GRAMMAR, FLOAT_GRAMMAR, INF_GRAMMAR, INT_GRAMMAR, MAX_MICROS,
                                         MAX_SECONDS, MIN_MICROS, MIN_SECONDS, NAN_GRAMMAR, NEG_INF_GRAMMAR,
                                         TIMESTAMP_GRAMMAR, TRUE_GRAMMAR)
from mlc.runtime.spark_ops.core import SVal, implements, null_of
from mlc.runtime.features.timestamp_formats import parsed_column

TWO_63 = 9223372036854775808.0


def F():
    from pyspark.sql import functions

    return functions


def java(pattern: str) -> str:
    """A whole-string Java regex (``\\z``: the very end, unlike ``$``, which also matches before a
    final line terminator such as ``\\u2028``)."""
    return f"^(?:{pattern})\\z"


def _long(value: int):
    return F().lit(value).cast("bigint")


@implements("to_int")
def to_int(ops, dtype: str, x: SVal) -> SVal:
    f, c = F(), x.col
    if x.dtype in ("int64", "bool"):
        return SVal(c.cast("bigint"), "int64")
    if x.dtype == "float64":
        ok = ~f.isnan(c) & (c >= -TWO_63) & (c < TWO_63)
        return SVal(f.when(ok, c.cast("bigint")), "int64")       # cast truncates toward zero
    if x.dtype == "timestamp":
        return SVal(c.cast("bigint"), "int64")                   # floor(micros / 1e6)
    if x.dtype == "string":
        return SVal(f.when(c.rlike(java(INT_GRAMMAR)), c.cast("bigint")), "int64")
    return null_of("int64")


@implements("to_float")
def to_float(ops, dtype: str, x: SVal) -> SVal:
    f, c = F(), x.col
    if x.dtype in ("int64", "bool", "float64"):
        return SVal(c.cast("double"), "float64")
    if x.dtype == "timestamp":
        return SVal(f.unix_micros(c).cast("double") / 1e6, "float64")
    if x.dtype == "string":
        col = (f.when(c.rlike(java(FLOAT_GRAMMAR)), c.cast("double"))
               .when(c.rlike(java(INF_GRAMMAR)), f.lit(float("inf")))
               .when(c.rlike(java(NEG_INF_GRAMMAR)), f.lit(float("-inf")))
               .when(c.rlike(java(NAN_GRAMMAR)), f.lit(float("nan"))))
        return SVal(col, "float64")
    return null_of("float64")


@implements("to_string")
def to_string(ops, dtype: str, x: SVal) -> SVal:
    f, c = F(), x.col
    if x.dtype == "string":
        return x
    if x.dtype in ("int64", "bool"):
        return SVal(c.cast("string"), "string")
    if x.dtype == "timestamp":
        whole = f.date_format(c, "yyyy-MM-dd'T'HH:mm:ss")
        fraction = f.when(f.unix_micros(c) % 1_000_000 != 0, f.concat(f.lit("."), f.date_format(c, "SSSSSS"))) \
            .otherwise(f.lit(""))
        return SVal(f.concat(whole, fraction, f.lit("Z")), "string")
    if x.dtype == "null":
        return null_of("string")
    raise TypeError("to_string(float64) is not supported (no shortest round-trip formatting that Spark "
                    "computes natively); see docs/semantics.md")


@implements("to_bool")
def to_bool(ops, dtype: str, x: SVal) -> SVal:
    f, c = F(), x.col
    if x.dtype == "bool":
        return x
    if x.dtype in ("int64", "float64"):
        return SVal(c != 0, "bool")                               # NaN != 0: true
    if x.dtype == "timestamp":
        return SVal(f.unix_micros(c) != 0, "bool")
    if x.dtype == "string":
        return SVal(f.when(c.rlike(java(TRUE_GRAMMAR)), f.lit(True))
                    .when(c.rlike(java(FALSE_GRAMMAR)), f.lit(False)), "bool")
    return null_of("bool")


def _idiv(a, b: int):
    """``a // b`` for non-negative bigint ``a`` below 2**53 (exact: the double division of a
    multiple of ``b``)."""
    return ((a - a % b) / b).cast("bigint")


def civil_micros(y, mo, d, h, mi, s, us, sign, oh, om):
    """Column version of ``mlc.runtime.numpy_ops.casts.civil_micros`` -> (micros, valid)."""
    f = F()
    ok = ((y >= 1) & (mo >= 1) & (mo <= 12) & (d >= 1) & (h <= 23) & (mi <= 59) & (s <= 59)
          & (oh <= 23) & (om <= 59))
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = (f.when(mo == 2, f.when(leap, 29).otherwise(28))
           .when(mo.isin(4, 6, 9, 11), 30).otherwise(31))
    ok = ok & (d <= dim)
    yy = y - f.when(mo <= 2, 1).otherwise(0)
    era = _idiv(yy, 400)
    yoe = yy - era * 400
    mp = f.when(mo > 2, mo - 3).otherwise(mo + 9)
    doy = _idiv(153 * mp + 2, 5) + d - 1
    doe = yoe * 365 + _idiv(yoe, 4) - _idiv(yoe, 100) + doy
    days = era * 146097 + doe - 719468
    offset = sign * (oh * 60 + om)
    total = (days * 86400 + h * 3600 + mi * 60 + s - offset * 60) * 1_000_000 + us
    ok = ok & (total >= MIN_MICROS) & (total <= MAX_MICROS)
    return total, ok


@implements("to_timestamp")
def to_timestamp(ops, dtype: str, x: SVal, pattern: str | None = None) -> SVal:
    f, c = F(), x.col
    if pattern is not None:
        return SVal(parsed_column(c, pattern), "timestamp")
    if x.dtype == "timestamp":
        return x
    if x.dtype in ("int64", "bool"):
        seconds = c.cast("bigint")
        ok = (seconds >= MIN_SECONDS) & (seconds <= MAX_SECONDS)
        return SVal(f.when(ok, f.timestamp_micros(seconds * 1_000_000)), "timestamp")
    if x.dtype == "float64":
        scaled = c * 1e6
        rough = ~f.isnan(scaled) & (scaled >= -6.3e16) & (scaled < 2.6e17)
        micros = f.floor(scaled)                                   # bigint, exact in range
        ok = rough & (micros >= MIN_MICROS) & (micros <= MAX_MICROS)
        return SVal(f.when(ok, f.timestamp_micros(micros)), "timestamp")
    if x.dtype == "string":
        pattern = java(TIMESTAMP_GRAMMAR)

        def group(i: int, default: int = 0):
            g = f.regexp_extract(c, pattern, i)
            return f.when(g == "", f.lit(default)).otherwise(g).cast("bigint")

        frac = f.regexp_extract(c, pattern, 7)
        us = f.rpad(frac, 6, "0").cast("bigint")
        sign_text = f.regexp_extract(c, pattern, 9)
        sign = f.when(sign_text == "-", -1).when(sign_text == "+", 1).otherwise(0).cast("bigint")
        total, ok = civil_micros(group(1), group(2), group(3), group(4), group(5), group(6), us, sign,
                                 group(10), group(11))
        return SVal(f.when(c.rlike(pattern) & ok, f.timestamp_micros(total)), "timestamp")
    return null_of("timestamp")
