"""Time functions of the NumPy executor (UTC): hour, day_of_week, day_of_month, unix_seconds,
seconds_between. Timestamps are int64 microseconds since the epoch; all arithmetic is integer
floor division (proleptic Gregorian calendar), exactly as the Spark executor computes it."""

from __future__ import annotations

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.vec import Vec

MICROS_PER_SECOND = 1_000_000
SECONDS_PER_DAY = 86_400


def _micros(ts: Vec) -> np.ndarray:
    return ts.data.astype(np.int64, copy=False)  # (the `null` literal's data is bool)


def _seconds(ts: Vec) -> np.ndarray:
    return np.floor_divide(_micros(ts), MICROS_PER_SECOND)


def _days(ts: Vec) -> np.ndarray:
    return np.floor_divide(_seconds(ts), SECONDS_PER_DAY)


def _out(data: np.ndarray, ts: Vec, dtype: str = "int64") -> Vec:
    data = data.astype(np.int64 if dtype == "int64" else np.float64, copy=False)
    data = np.where(ts.valid, data, 0).astype(data.dtype, copy=False)
    return Vec(data, ts.valid.copy(), dtype)


@implements("hour")
def hour(ops, dtype, ts: Vec) -> Vec:
    return _out(np.floor_divide(np.mod(_seconds(ts), SECONDS_PER_DAY), 3600), ts)


@implements("day_of_week")
def day_of_week(ops, dtype, ts: Vec) -> Vec:
    # 1970-01-01 was a Thursday (ISO 4)
    return _out(np.mod(_days(ts) + 3, 7) + 1, ts)


@implements("day_of_month")
def day_of_month(ops, dtype, ts: Vec) -> Vec:
    days = _days(ts).astype("datetime64[D]")
    month_start = days.astype("datetime64[M]").astype("datetime64[D]")
    return _out((days - month_start).astype(np.int64) + 1, ts)


@implements("unix_seconds")
def unix_seconds(ops, dtype, ts: Vec) -> Vec:
    return _out(_seconds(ts), ts)


@implements("seconds_between")
def seconds_between(ops, dtype, a: Vec, b: Vec) -> Vec:
    valid = a.valid & b.valid
    with np.errstate(over="ignore"):
        delta = (_micros(b) - _micros(a)).astype(np.float64) / 1e6
    return Vec(np.where(valid, delta, 0.0), valid, "float64")
