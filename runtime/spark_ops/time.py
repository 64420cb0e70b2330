"""Time functions of the Spark executor (UTC), as integer arithmetic on ``unix_seconds`` /
``unix_micros`` so that no result depends on the session time zone. See
``mlc.runtime.numpy_ops.time`` for the shared definitions."""

from __future__ import annotations

from mlc.runtime.spark_ops.core import SVal, implements


def _F():
    from pyspark.sql import functions as F

    return F


def _ts(ts: SVal):
    return ts.col if ts.dtype == "timestamp" else ts.col.cast("timestamp")  # the `null` literal


def _seconds(ts: SVal):
    return _F().unix_seconds(_ts(ts))  # floorDiv(micros, 1e6), exact


def days(ts: SVal):
    # seconds fit a double exactly (|s| < 2^53), and a quotient k - 1/86400 cannot round up to k
    return _F().floor(_seconds(ts) / 86400)


@implements("hour")
def hour(ops, dtype, ts: SVal) -> SVal:
    F = _F()
    return SVal(F.floor(F.pmod(_seconds(ts), F.lit(86400)) / 3600).cast("bigint"), "int64")


@implements("day_of_week")
def day_of_week(ops, dtype, ts: SVal) -> SVal:
    F = _F()
    return SVal((F.pmod(days(ts) + 3, F.lit(7)) + 1).cast("bigint"), "int64")


@implements("day_of_month")
def day_of_month(ops, dtype, ts: SVal) -> SVal:
    F = _F()
    # a DATE (no time zone) from the day number, proleptic Gregorian as NumPy's datetime64
    return SVal(F.dayofmonth(F.date_from_unix_date(days(ts).cast("int"))).cast("bigint"), "int64")


@implements("unix_seconds")
def unix_seconds(ops, dtype, ts: SVal) -> SVal:
    return SVal(_seconds(ts).cast("bigint"), "int64")


@implements("seconds_between")
def seconds_between(ops, dtype, a: SVal, b: SVal) -> SVal:
    F = _F()
    delta = F.unix_micros(_ts(b)) - F.unix_micros(_ts(a))  # exact int64
    return SVal(delta.cast("double") / F.lit(1e6), "float64")
