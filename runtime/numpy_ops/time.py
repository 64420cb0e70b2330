"""Time functions of the NumPy executor: hour, day_of_week, day_of_month (UTC, or the local time of
a zone), unix_seconds, seconds_between, make_timestamp, date_format. Timestamps are int64
microseconds since the epoch; all arithmetic is integer floor division (proleptic Gregorian
calendar), exactly as the Spark executor computes it. A zone's local time is the instant moved by
the zone's offset at that instant (``zones.utc_offsets``), then read as if it were UTC."""

from __future__ import annotations

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.vec import Vec, result
from mlc.core.datetime_format import compile_format

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


def local(ts: Vec, tz: str | None) -> Vec:
    """``ts`` moved by zone ``tz``'s offset at each instant (unchanged for None and UTC)."""
    if tz is None or tz == "UTC":
        return ts
    from mlc.runtime.numpy_ops.zones import utc_offsets

    micros = _micros(ts)
    offsets = utc_offsets(np.where(ts.valid, np.floor_divide(micros, MICROS_PER_SECOND), 0), tz)
    return Vec(np.where(ts.valid, micros + offsets * MICROS_PER_SECOND, 0), ts.valid, "timestamp")


@implements("hour")
def hour(ops, dtype, ts: Vec, tz: str | None = None) -> Vec:
    ts = local(ts, tz)
    return _out(np.floor_divide(np.mod(_seconds(ts), SECONDS_PER_DAY), 3600), ts)


@implements("day_of_week")
def day_of_week(ops, dtype, ts: Vec, tz: str | None = None) -> Vec:
    ts = local(ts, tz)
    # 1970-01-01 was a Thursday (ISO 4)
    return _out(np.mod(_days(ts) + 3, 7) + 1, ts)


def _month_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day of month) of day numbers, proleptic Gregorian (NumPy's datetime64)."""
    dates = days.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    month_index = months.astype(np.int64)                  # months since 1970-01
    return np.floor_divide(month_index, 12) + 1970, np.mod(month_index, 12) + 1, day


@implements("day_of_month")
def day_of_month(ops, dtype, ts: Vec, tz: str | None = None) -> Vec:
    ts = local(ts, tz)
    return _out(_month_day(_days(ts))[2], ts)


@implements("unix_seconds")
def unix_seconds(ops, dtype, ts: Vec) -> Vec:
    return _out(_seconds(ts), ts)


@implements("seconds_between")
def seconds_between(ops, dtype, a: Vec, b: Vec) -> Vec:
    valid = a.valid & b.valid
    with np.errstate(over="ignore"):
        delta = (_micros(b) - _micros(a)).astype(np.float64) / 1e6
    return Vec(np.where(valid, delta, 0.0), valid, "float64")


# ------------------------------------------------------------------ make_timestamp / date_format

FIELD_RANGES = ((1, 9999), (1, 12), (1, 31), (0, 23), (0, 59), (0, 59))    # year .. second
FIELD_FALLBACK = (1970, 1, 1, 0, 0, 0)


@implements("make_timestamp")
def make_timestamp(ops, dtype, *fields: Vec) -> Vec:
    """UTC instant of year, month, day, hour, minute, second; null outside the ranges or for a
    date that does not exist (the civil arithmetic of ``to_timestamp``)."""
    from mlc.runtime.numpy_ops.casts import civil_micros

    n = len(fields[0])
    data = np.stack([f.data.astype(np.int64) for f in fields], axis=1)
    ok = np.logical_and.reduce([f.valid for f in fields])
    for i, (lo, hi) in enumerate(FIELD_RANGES):
        ok &= (data[:, i] >= lo) & (data[:, i] <= hi)
    safe = np.where(ok[:, None], data, np.array(FIELD_FALLBACK, dtype=np.int64))
    micros, exists = civil_micros(np.concatenate([safe, np.zeros((n, 4), dtype=np.int64)], axis=1))
    return result(micros, ok & exists, "timestamp")


def format_pieces(pattern: str) -> tuple[tuple[str, str], ...]:
    """``pattern`` as ("text", literal) and ("field", letters) pieces, after the checks of
    ``compile_format`` (so every quote is closed and every field supported)."""
    compile_format(pattern)
    pieces, i = [], 0
    while i < len(pattern):
        char, j = pattern[i], i + 1
        if char == "'" and pattern.startswith("''", i):
            pieces.append(("text", "'"))
            j = i + 2
        elif char == "'":
            text = []
            while not (pattern[j] == "'" and not pattern.startswith("''", j)):
                text.append(pattern[j])
                j += 2 if pattern.startswith("''", j) else 1
            pieces.append(("text", "".join(text)))
            j += 1
        elif char.isascii() and char.isalpha():
            while j < len(pattern) and pattern[j] == char:
                j += 1
            pieces.append(("field", pattern[i:j]))
        else:
            pieces.append(("text", char))
        i = j
    return tuple(pieces)


def _offset_text(seconds: int) -> str:
    """``XXX``: ``Z`` for 0, else ``+HH:MM`` / ``-HH:MM`` (seconds of an offset dropped)."""
    if seconds == 0:
        return "Z"
    magnitude = abs(seconds)
    return f"{'-' if seconds < 0 else '+'}{magnitude // 3600:02d}:{magnitude % 3600 // 60:02d}"


def _field_text(letters: str, values: dict[str, int]) -> str:
    if letters == "yyyy":
        return f"{values['year']:04d}"
    if letters == "yy":
        return f"{values['year'] % 100:02d}"
    if letters[0] == "S":
        return f"{values['micros']:06d}"[:len(letters)]
    if letters == "XXX":
        return _offset_text(values["offset"])
    return f"{values[letters]:02d}"


@implements("date_format")
def date_format(ops, dtype, ts: Vec, pattern: str, tz: str | None = None) -> Vec:
    pieces = format_pieces(pattern)
    moved = local(ts, tz)
    micros = _micros(moved)
    seconds = np.floor_divide(micros, MICROS_PER_SECOND)
    year, month, day = _month_day(np.floor_divide(seconds, SECONDS_PER_DAY))
    in_day = np.mod(seconds, SECONDS_PER_DAY)
    columns = {"year": year, "MM": month, "dd": day, "HH": in_day // 3600, "mm": in_day % 3600 // 60,
               "ss": in_day % 60, "micros": np.mod(micros, MICROS_PER_SECOND),
               "offset": np.floor_divide(micros - _micros(ts), MICROS_PER_SECOND)}
    rows = {name: values.tolist() for name, values in columns.items()}
    out = np.full(len(ts), "", dtype=object)
    for i in np.flatnonzero(ts.valid).tolist():
        values = {name: column[i] for name, column in rows.items()}
        out[i] = "".join(text if kind == "text" else _field_text(text, values) for kind, text in pieces)
    return Vec(out, ts.valid.copy(), "string")
