"""Casts of the NumPy executor: ``to_int``, ``to_float``, ``to_string``, ``to_bool``, ``to_timestamp``.

The string grammars below are shared with the Spark executor (``mlc.runtime.spark_ops.casts``
uses the same pattern text with Java regexes: only ASCII character classes, groups,
alternation and counted repetition, which Python ``re`` and ``java.util.regex`` read alike).
Semantics: docs/semantics.md.
"""

from __future__ import annotations

import re

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.vec import Vec, result
from mlc.runtime.features.timestamp_formats import parse

WS = r"[ \t\n\r\f\x0B]*"   # ASCII whitespace allowed around every parsed string
INT_GRAMMAR = WS + r"[+-]?[0-9]+" + WS
FLOAT_GRAMMAR = WS + r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?" + WS
INF_GRAMMAR = WS + r"\+?[iI][nN][fF](?:[iI][nN][iI][tT][yY])?" + WS
NEG_INF_GRAMMAR = WS + r"-[iI][nN][fF](?:[iI][nN][iI][tT][yY])?" + WS
NAN_GRAMMAR = WS + r"[+-]?[nN][aA][nN]" + WS
TRUE_GRAMMAR = WS + r"[tT][rR][uU][eE]" + WS
FALSE_GRAMMAR = WS + r"[fF][aA][lL][sS][eE]" + WS
# groups: 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 fraction, 8 zone, 9 sign, 10/11 offset
TIMESTAMP_GRAMMAR = (WS + r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
                     r"(?:[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(Z|([+-])([0-9]{2}):([0-9]{2}))?)?"
                     + WS)

MIN_MICROS = -62135596800 * 1_000_000                # 0001-01-01T00:00:00Z
MAX_MICROS = 253402300799 * 1_000_000 + 999_999      # 9999-12-31T23:59:59.999999Z
MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799
TWO_63 = 9223372036854775808.0
_STRIP = " \t\n\r\f\x0b"


def _matcher(pattern: str):
    return re.compile(pattern).fullmatch


_INT, _FLOAT, _INF, _NEG_INF, _NAN = map(_matcher, (INT_GRAMMAR, FLOAT_GRAMMAR, INF_GRAMMAR, NEG_INF_GRAMMAR,
                                                    NAN_GRAMMAR))
_TRUE, _FALSE, _TIMESTAMP = map(_matcher, (TRUE_GRAMMAR, FALSE_GRAMMAR, TIMESTAMP_GRAMMAR))


def _null(n: int, dtype: str) -> Vec:
    return Vec.full(None, dtype, n)


def _strings(x: Vec) -> list:
    return x.data.tolist()


# ------------------------------------------------------------------ to_int


def parse_int(text: str) -> int | None:
    if _INT(text) is None:
        return None
    value = int(text.strip(_STRIP))
    return value if -(2**63) <= value < 2**63 else None


@implements("to_int")
def to_int(ops, dtype: str, x: Vec) -> Vec:
    n = len(x)
    if x.dtype in ("int64", "bool"):
        return Vec(x.data.astype(np.int64), x.valid, "int64")
    if x.dtype == "float64":
        ok = x.valid & (x.data >= -TWO_63) & (x.data < TWO_63)     # NaN and inf fail
        with np.errstate(all="ignore"):
            return result(np.where(ok, np.trunc(x.data), 0.0).astype(np.int64), ok, "int64")
    if x.dtype == "timestamp":
        return Vec(np.floor_divide(x.data, 1_000_000), x.valid, "int64")
    if x.dtype == "string":
        parsed = [parse_int(s) if ok else None for s, ok in zip(_strings(x), x.valid.tolist())]
        valid = np.array([p is not None for p in parsed], dtype=bool)
        data = np.array([0 if p is None else p for p in parsed], dtype=np.int64)
        return Vec(data, valid, "int64")
    return _null(n, "int64")


# ------------------------------------------------------------------ to_float


def parse_float(text: str) -> float | None:
    if _FLOAT(text) is not None:
        return float(text.strip(_STRIP))
    if _INF(text) is not None:
        return float("inf")
    if _NEG_INF(text) is not None:
        return float("-inf")
    if _NAN(text) is not None:
        return float("nan")
    return None


@implements("to_float")
def to_float(ops, dtype: str, x: Vec) -> Vec:
    if x.dtype in ("int64", "bool", "float64"):
        return Vec(x.data.astype(np.float64), x.valid, "float64")
    if x.dtype == "timestamp":
        return Vec(x.data.astype(np.float64) / 1e6, x.valid, "float64")
    if x.dtype == "string":
        parsed = [parse_float(s) if ok else None for s, ok in zip(_strings(x), x.valid.tolist())]
        valid = np.array([p is not None for p in parsed], dtype=bool)
        data = np.array([0.0 if p is None else p for p in parsed], dtype=np.float64)
        return Vec(data, valid, "float64")
    return _null(len(x), "float64")


# ------------------------------------------------------------------ to_string


def format_timestamps(micros: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SSZ``, with ``.ffffff`` (always 6 digits) when there is a fraction."""
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    whole = np.datetime_as_string(micros.astype("datetime64[us]"), unit="s")
    fractional = (micros % 1_000_000) != 0
    return np.array([f"{t}Z" for t in np.where(fractional, text, whole).tolist()], dtype=object)


@implements("to_string")
def to_string(ops, dtype: str, x: Vec) -> Vec:
    if x.dtype == "string":
        return x
    if x.dtype == "int64":
        data = np.array([str(v) for v in x.data.tolist()], dtype=object)
    elif x.dtype == "bool":
        data = np.where(x.data, "true", "false").astype(object)
    elif x.dtype == "timestamp":
        data = format_timestamps(np.where(x.valid, x.data, 0))
    elif x.dtype == "null":
        return _null(len(x), "string")
    else:
        raise TypeError("to_string(float64) is not supported (no shortest round-trip formatting that Spark "
                        "computes natively); see docs/semantics.md")
    return result(data, x.valid, "string")


# ------------------------------------------------------------------ to_bool


def parse_bool(text: str) -> bool | None:
    if _TRUE(text) is not None:
        return True
    if _FALSE(text) is not None:
        return False
    return None


@implements("to_bool")
def to_bool(ops, dtype: str, x: Vec) -> Vec:
    if x.dtype == "bool":
        return x
    if x.dtype in ("int64", "float64", "timestamp"):
        return result(x.data != 0, x.valid, "bool")     # NaN is non-zero: true
    if x.dtype == "string":
        parsed = [parse_bool(s) if ok else None for s, ok in zip(_strings(x), x.valid.tolist())]
        valid = np.array([p is not None for p in parsed], dtype=bool)
        data = np.array([bool(p) for p in parsed], dtype=bool)
        return Vec(data, valid, "bool")
    return _null(len(x), "bool")


# ------------------------------------------------------------------ to_timestamp


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date, years >= 1 (H. Hinnant's algorithm;
    every division has non-negative operands, so floor and truncation agree)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = ((y % 4) == 0) & (((y % 100) != 0) | ((y % 400) == 0))
    return np.where(m == 2, np.where(leap, 29, 28), np.where((m == 4) | (m == 6) | (m == 9) | (m == 11), 30, 31))


def civil_micros(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``[year, month, day, hour, minute, second, micros, sign, offset_h, offset_m]``
    (``sign`` -1, 0 or 1) -> (micros since epoch, valid)."""
    y, mo, d, h, mi, s, us, sign, oh, om = (parts[:, i] for i in range(10))
    ok = (y >= 1) & (mo >= 1) & (mo <= 12) & (d >= 1) & (h <= 23) & (mi <= 59) & (s <= 59) & (oh <= 23) & (om <= 59)
    mo_safe = np.where(ok, mo, 1)
    ok &= d <= days_in_month(y, mo_safe)
    days = days_from_civil(np.where(ok, y, 1970), mo_safe, np.where(ok, d, 1))
    offset = sign * (oh * 60 + om)
    total = (days * 86400 + h * 3600 + mi * 60 + s - offset * 60) * 1_000_000 + us
    ok &= (total >= MIN_MICROS) & (total <= MAX_MICROS)
    return total, ok


_EPOCH_PARTS = [1970, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def _timestamp_parts(text: str) -> list[int] | None:
    m = _TIMESTAMP(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, zone, sign, oh, om = m.groups()
    return [int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), int((frac or "").ljust(6, "0")),
            0 if sign is None else (-1 if sign == "-" else 1), int(oh or 0), int(om or 0)]


def parse_formatted(x: Vec, pattern: str) -> Vec:
    """``to_timestamp(x, format)``: each string (or int64, read as its digits) read as a timestamp
    column with ``format: pattern`` is (``mlc.runtime.features.timestamp_formats.parse``, the predictor's)."""
    micros, valid = np.zeros(len(x), dtype=np.int64), np.zeros(len(x), dtype=bool)
    values = x.data.tolist()
    for i in np.flatnonzero(x.valid).tolist():
        parsed = parse(values[i], pattern)
        if parsed is not None:
            micros[i], valid[i] = parsed, True
    return Vec(micros, valid, "timestamp")


@implements("to_timestamp")
def to_timestamp(ops, dtype: str, x: Vec, pattern: str | None = None) -> Vec:
    n = len(x)
    if pattern is not None:
        return parse_formatted(x, pattern)
    if x.dtype == "timestamp":
        return x
    if x.dtype in ("int64", "bool"):
        seconds = x.data.astype(np.int64)
        ok = x.valid & (seconds >= MIN_SECONDS) & (seconds <= MAX_SECONDS)
        return result(np.where(ok, seconds, 0) * 1_000_000, ok, "timestamp")
    if x.dtype == "float64":
        with np.errstate(all="ignore"):
            scaled = x.data * 1e6
            rough = x.valid & (scaled >= -6.3e16) & (scaled < 2.6e17)       # NaN and inf fail
            micros = np.floor(np.where(rough, scaled, 0.0)).astype(np.int64)
        ok = rough & (micros >= MIN_MICROS) & (micros <= MAX_MICROS)
        return result(micros, ok, "timestamp")
    if x.dtype == "string":
        parsed = [_timestamp_parts(s) if ok else None for s, ok in zip(_strings(x), x.valid.tolist())]
        matched = np.array([p is not None for p in parsed], dtype=bool)
        parts = np.array([_EPOCH_PARTS if p is None else p for p in parsed], dtype=np.int64).reshape(n, 10)
        micros, ok = civil_micros(parts)
        return result(micros, matched & ok, "timestamp")
    return _null(n, "timestamp")
