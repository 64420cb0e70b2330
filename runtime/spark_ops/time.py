"""Time functions of the Spark executor, as integer arithmetic on ``unix_seconds`` /
``unix_micros`` so that no result depends on the session time zone. See
``mlc.runtime.numpy_ops.time`` for the shared definitions. A zone's local time is
``from_utc_timestamp(ts, tz)``: the instant moved by the zone's offset at that instant
(``java.time`` rules, independent of the session time zone), then read as if it were UTC."""

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


def local(ts: SVal, tz: str | None) -> SVal:
    """``ts`` moved by zone ``tz``'s offset at each instant (unchanged for None and UTC)."""
    if tz is None or tz == "UTC":
        return ts
    return SVal(_F().from_utc_timestamp(_ts(ts), tz), "timestamp")


def _date(ts: SVal):
    # a DATE (no time zone) from the day number, proleptic Gregorian as NumPy's datetime64
    return _F().date_from_unix_date(days(ts).cast("int"))


@implements("hour")
def hour(ops, dtype, ts: SVal, tz: str | None = None) -> SVal:
    F, ts = _F(), local(ts, tz)
    return SVal(F.floor(F.pmod(_seconds(ts), F.lit(86400)) / 3600).cast("bigint"), "int64")


@implements("day_of_week")
def day_of_week(ops, dtype, ts: SVal, tz: str | None = None) -> SVal:
    F, ts = _F(), local(ts, tz)
    return SVal((F.pmod(days(ts) + 3, F.lit(7)) + 1).cast("bigint"), "int64")


@implements("day_of_month")
def day_of_month(ops, dtype, ts: SVal, tz: str | None = None) -> SVal:
    F, ts = _F(), local(ts, tz)
    return SVal(F.dayofmonth(_date(ts)).cast("bigint"), "int64")


@implements("unix_seconds")
def unix_seconds(ops, dtype, ts: SVal) -> SVal:
    return SVal(_seconds(ts).cast("bigint"), "int64")


@implements("seconds_between")
def seconds_between(ops, dtype, a: SVal, b: SVal) -> SVal:
    F = _F()
    delta = F.unix_micros(_ts(b)) - F.unix_micros(_ts(a))  # exact int64
    return SVal(delta.cast("double") / F.lit(1e6), "float64")


# ------------------------------------------------------------------ make_timestamp / date_format


@implements("make_timestamp")
def make_timestamp(ops, dtype, *fields: SVal) -> SVal:
    from mlc.runtime.numpy_ops.time import FIELD_FALLBACK, FIELD_RANGES
    from mlc.runtime.spark_ops.casts import civil_micros

    F = _F()
    cols = [f.col.cast("bigint") for f in fields]
    ok = None
    for col, (lo, hi) in zip(cols, FIELD_RANGES):
        inside = (col >= lo) & (col <= hi)
        ok = inside if ok is None else ok & inside
    # out-of-range values never reach the arithmetic (bigint would wrap silently)
    safe = [F.when(ok, col).otherwise(F.lit(v).cast("bigint")) for col, v in zip(cols, FIELD_FALLBACK)]
    zero = F.lit(0).cast("bigint")
    micros, exists = civil_micros(*safe, zero, zero, zero, zero)
    return SVal(F.when(ok & exists, F.timestamp_micros(micros)), "timestamp")


def _padded(col, width: int):
    return _F().lpad(col.cast("string"), width, "0")


def _offset_text(seconds):
    """``XXX`` of an offset in seconds (see ``numpy_ops.time._offset_text``)."""
    F = _F()
    magnitude = F.abs(seconds)
    hours, minutes = F.floor(magnitude / 3600), F.floor(F.pmod(magnitude, F.lit(3600)) / 60)
    signed = F.concat(F.when(seconds < 0, F.lit("-")).otherwise(F.lit("+")), _padded(hours, 2), F.lit(":"),
                      _padded(minutes, 2))
    return F.when(seconds == 0, F.lit("Z")).otherwise(signed)


def _field_text(letters: str, parts: dict):
    F = _F()
    if letters == "yyyy":                     # 4 digits, 5 past year 9999 (lpad would cut them)
        year = parts["year"]
        return F.when(year < 1000, _padded(year, 4)).otherwise(year.cast("string"))
    if letters == "yy":
        return _padded(F.pmod(parts["year"], F.lit(100)), 2)
    if letters[0] == "S":
        return F.substring(_padded(parts["micros"], 6), 1, len(letters))
    if letters == "XXX":
        return _offset_text(parts["offset"])
    return _padded(parts[letters], 2)


@implements("date_format")
def date_format(ops, dtype, ts: SVal, pattern: str, tz: str | None = None) -> SVal:
    from mlc.runtime.numpy_ops.time import format_pieces

    F = _F()
    moved = local(ts, tz)
    seconds, micros = _seconds(moved), F.unix_micros(_ts(moved))
    date, in_day = _date(moved), F.pmod(seconds, F.lit(86400))
    parts = {"year": F.year(date), "MM": F.month(date), "dd": F.dayofmonth(date),
             "HH": F.floor(in_day / 3600), "mm": F.floor(F.pmod(in_day, F.lit(3600)) / 60),
             "ss": F.pmod(in_day, F.lit(60)), "micros": F.pmod(micros, F.lit(1_000_000)),
             # whole seconds: an exact double quotient (|difference| < 2^53)
             "offset": ((micros - F.unix_micros(_ts(ts))) / 1_000_000).cast("bigint")}
    pieces = [F.lit(text) if kind == "text" else _field_text(text, parts) for kind, text in format_pieces(pattern)]
    return SVal(F.concat(*pieces), "string")
