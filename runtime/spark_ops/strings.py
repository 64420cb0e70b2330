"""String functions of the Spark executor (native Column expressions only).

See ``mlc.runtime.numpy_ops.strings`` and docs/semantics.md for the shared semantics.
"""

from __future__ import annotations

from mlc.runtime.spark_ops.core import SVal, implements

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
CAPITAL_SIGMA, SMALL_SIGMA = "\u03a3", "\u03c3"


def _F():
    from pyspark.sql import functions as F

    return F


def text(s: SVal):
    """A string argument as a string Column (the ``null`` literal typed as string)."""
    return s.col.cast("string") if s.dtype != "string" else s.col


@implements("lower")
def lower(ops, dtype, s: SVal) -> SVal:
    F = _F()
    # Σ -> σ first: no final-sigma rule (Java's and Python's contexts differ)
    return SVal(F.lower(F.translate(text(s), CAPITAL_SIGMA, SMALL_SIGMA)), "string")


@implements("upper")
def upper(ops, dtype, s: SVal) -> SVal:
    return SVal(_F().upper(text(s)), "string")


@implements("length")
def length(ops, dtype, s: SVal) -> SVal:
    return SVal(_F().length(text(s)).cast("bigint"), "int64")


def clamp32(col):
    F = _F()
    value = col.cast("bigint")
    # least/greatest skip nulls: keep a null argument null
    clamped = F.least(F.greatest(value, F.lit(INT32_MIN).cast("bigint")), F.lit(INT32_MAX).cast("bigint"))
    return F.when(value.isNotNull(), clamped).cast("int")


@implements("substr")
def substr(ops, dtype, s: SVal, start: SVal, length: SVal) -> SVal:
    # Spark's Substring takes 32-bit ints; clamp (not wrap) the int64 arguments first
    return SVal(text(s).substr(clamp32(start.col), clamp32(length.col)), "string")


def string_form(ops, x: SVal):
    """The string form of ``x`` as a Column (see the NumPy executor's ``string_form``)."""
    if x.dtype == "string":
        return x.col
    if x.dtype in ("int64", "bool"):  # decimal; `true`/`false`
        return x.col.cast("string")
    return ops.call("to_string", "string", x).col


@implements("concat")
def concat(ops, dtype, *values: SVal) -> SVal:
    return SVal(_F().concat(*[string_form(ops, v) for v in values]), "string")


def java_quote(literal: str) -> str:
    """``java.util.regex.Pattern.quote``: a regex matching ``literal`` literally."""
    return "\\Q" + literal.replace("\\E", "\\E\\\\E\\Q") + "\\E"


@implements("split_part")
def split_part(ops, dtype, s: SVal, sep: str, index: SVal) -> SVal:
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"split_part: separator must be a non-empty constant string, got {sep!r}")
    F = _F()
    idx = index.col.cast("bigint")
    parts = F.split(text(s), java_quote(sep), -1)
    # element_at fails on index 0 and takes a 32-bit index: out-of-range indexes are null
    in_range = (idx != 0) & (idx >= INT32_MIN + 1) & (idx <= INT32_MAX)
    return SVal(F.when(in_range, F.try_element_at(parts, idx.cast("int"))), "string")


@implements("replace")
def replace(ops, dtype, s: SVal, search: SVal, replacement: SVal) -> SVal:
    # Spark's StringReplace: literal, left to right; an empty search returns the string itself
    return SVal(_F().replace(text(s), text(search), text(replacement)), "string")


@implements("split")
def split(ops, dtype, s: SVal, sep: str) -> SVal:
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"split: separator must be a non-empty constant string, got {sep!r}")
    return SVal(_F().split(text(s), java_quote(sep), -1), "list<string>")


@implements("size")
def size(ops, dtype, items: SVal) -> SVal:
    F = _F()
    if items.dtype == "null":
        return SVal(F.lit(None).cast("bigint"), "int64")
    # Spark's size(null) is -1 (spark.sql.legacy.sizeOfNull): keep null
    return SVal(F.when(items.col.isNotNull(), F.size(items.col)).cast("bigint"), "int64")
