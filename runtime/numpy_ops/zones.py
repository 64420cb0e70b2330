"""UTC offsets of IANA time zones for the NumPy executor (``hour(ts, tz)`` ...).

The zone rules come from the ``tzdata`` package (``mlc.core.timezones.tzdata_zone``), the data
Java's own tz database is built like (the operating system's files may keep older history). The
offset of each distinct second of a batch is looked up once through ``zoneinfo`` (exact, no
interpolation); Spark's ``from_utc_timestamp`` computes the same offsets with ``java.time``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
from mlc.core.timezones import tzdata_zone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CYCLE = 146_097 * 86_400                 # 400 Gregorian years, in seconds
LOW = -62135596800 + 2 * 86_400          # 0001-01-03: a local time stays within `datetime`'s years
HIGH = 253402300799 - 2 * 86_400         # 9999-12-29


def utc_offsets(seconds: np.ndarray, name: str) -> np.ndarray:
    """Offset from UTC (seconds, int64) of zone ``name`` at each instant (seconds since the epoch)."""
    zone = tzdata_zone(name)
    unique, inverse = np.unique(seconds, return_inverse=True)
    offsets = np.fromiter((offset_at(zone, s) for s in unique.tolist()), dtype=np.int64, count=len(unique))
    return offsets[inverse]


def offset_at(zone, second: int) -> int:
    """The offset at one instant. Instants in the first or last two days of years 1-9999 (or beyond
    them) are moved by whole 400-year cycles: before 1800 every zone keeps its constant local mean
    time, and after the last transition its rules repeat with the Gregorian calendar's 400 years."""
    if second < LOW:
        second += -((second - LOW) // CYCLE) * CYCLE
    elif second > HIGH:
        second -= ((second - HIGH) // CYCLE + 1) * CYCLE
    moment = EPOCH + timedelta(seconds=second)
    return int(moment.astimezone(zone).utcoffset().total_seconds())
