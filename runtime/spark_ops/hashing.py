"""Hashing and bucketing in the Spark executor: native ``xxhash64`` (seed 42) and ``pmod``;
bucketize as a binary search of ``when`` expressions. See ``mlc.runtime.numpy_ops.hashing``."""

from __future__ import annotations

from typing import Sequence

from mlc.runtime.xxhash64 import CROSS_SEPARATOR, bucket_count, bucket_mode
from mlc.runtime.spark_ops.core import SVal, implements
from mlc.runtime.spark_ops.strings import string_form


def _F():
    from pyspark.sql import functions as F

    return F


def hash_column(col, n: int):
    """``pmod(xxhash64(col), n)`` for a string Column, 0 when ``col`` is null."""
    F = _F()
    n = bucket_count(n)
    return F.when(col.isNull(), F.lit(0).cast("bigint")).otherwise(
        F.pmod(F.xxhash64(col), F.lit(n).cast("bigint")))


@implements("hash_bucket")
def hash_bucket(ops, dtype, x: SVal, n: int) -> SVal:
    return SVal(hash_column(string_form(ops, x), n), "int64")


@implements("cross")
def cross(ops, dtype, *args) -> SVal:
    F = _F()
    *values, n = args
    forms = [string_form(ops, v) for v in values]
    any_null = forms[0].isNull()
    for form in forms[1:]:
        any_null = any_null | form.isNull()
    # concat_ws skips nulls, so the null check comes first
    joined = F.when(~any_null, F.concat_ws(CROSS_SEPARATOR, *forms))
    return SVal(hash_column(joined, n), "int64")


def bucketize_column(x: SVal, boundaries: Sequence):
    """Number of boundaries ``<= x`` by binary search (depth log2(len)); null for null/NaN."""
    F = _F()
    if bucket_mode(x.dtype, boundaries) == "int":
        value = x.col.cast("bigint")
        bounds = [F.lit(int(b)).cast("bigint") for b in boundaries]
        ok = value.isNotNull()
    else:
        value = x.col.cast("double")
        bounds = [F.lit(float(b)).cast("double") for b in boundaries]
        ok = value.isNotNull() & ~F.isnan(value)

    def search(lo: int, hi: int):
        # boundaries[:lo] are <= x and boundaries[hi:] are > x
        if lo == hi:
            return F.lit(lo).cast("bigint")
        mid = (lo + hi) // 2
        return F.when(value < bounds[mid], search(lo, mid)).otherwise(search(mid + 1, hi))

    return F.when(ok, search(0, len(bounds)))


@implements("bucketize")
def bucketize(ops, dtype, x: SVal, boundaries: Sequence) -> SVal:
    return SVal(bucketize_column(x, boundaries), "int64")
