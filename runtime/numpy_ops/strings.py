"""String functions of the NumPy executor: lower, upper, length, substr, concat, split_part,
replace, split, size.

Semantics (docs/semantics.md, "Strings") are those of the Spark executor, which uses Spark's
native expressions; this module reproduces them in Python:

- ``lower``/``upper``: Java's ``String.toLowerCase()``/``toUpperCase()`` (Unicode 13.0 on Java 17,
  root-like locale) as Spark uses them. Two differences from Python's ``str.lower``/``str.upper``
  are bridged here (and in the Spark executor):
  1. ``lower`` maps GREEK CAPITAL SIGMA (U+03A3) to ``σ`` always: the executors translate it
     before lower-casing, because Java's and Python's final-sigma contexts differ;
  2. letters whose case pair was added after Unicode 13.0 (Python 3.11 knows Unicode 14.0) are
     left unchanged, as Java 17 leaves them (``JAVA_UNMAPPED_*``).
- ``length``: code points; ``substr``: Spark's ``substringSQL`` rules with 32-bit clamping;
  ``split_part``: literal separator, null outside the parts;
- ``replace``: literal, left to right; an empty ``search`` leaves the string unchanged (Spark's
  ``UTF8String.replace``; Python's ``str.replace`` would insert between every character);
- ``split``: a list value (an object array of tuples, dtype ``list<string>``) that only ``size``
  consumes.
"""

from __future__ import annotations

import re

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.vec import Vec

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Characters that Python 3.11 (Unicode 14.0) case-maps but Java 17 (Unicode 13.0) does not:
# found by running Spark's lower/upper over every code point (tests/runtime/test_parity_text_time_hash.py
# re-checks every cased code point against Spark, so a Python or Java upgrade is caught).
JAVA_UNMAPPED_LOWER = "[\u2C2F\uA7C0\uA7D0\uA7D6\uA7D8\U00010570-\U0001057A\U0001057C-\U0001058A\U0001058C-\U00010592\U00010594-\U00010595]"
JAVA_UNMAPPED_UPPER = "[\u2C5F\uA7C1\uA7D1\uA7D7\uA7D9\U00010597-\U000105A1\U000105A3-\U000105B1\U000105B3-\U000105B9\U000105BB-\U000105BC]"
_KEEP_LOWER = re.compile(f"({JAVA_UNMAPPED_LOWER})")
_KEEP_UPPER = re.compile(f"({JAVA_UNMAPPED_UPPER})")
CAPITAL_SIGMA, SMALL_SIGMA = "\u03a3", "\u03c3"


def _case_map(s: str, upper: bool) -> str:
    if s.isascii():
        return s.upper() if upper else s.lower()
    if not upper:
        s = s.replace(CAPITAL_SIGMA, SMALL_SIGMA)
    keep = _KEEP_UPPER if upper else _KEEP_LOWER
    if keep.search(s) is None:
        return s.upper() if upper else s.lower()
    # split keeps the kept characters at odd positions
    pieces = keep.split(s)
    return "".join(p if i % 2 else (p.upper() if upper else p.lower()) for i, p in enumerate(pieces))


def lower_str(s: str) -> str:
    return _case_map(s, upper=False)


def upper_str(s: str) -> str:
    return _case_map(s, upper=True)


def _map_strings(x: Vec, fn, dtype: str, otype=object) -> Vec:
    out = np.empty(len(x), dtype=otype)
    valid = x.valid
    if otype is object:
        out[:] = ""
    else:
        out[:] = 0
    idx = np.flatnonzero(valid)
    data = x.data
    for i in idx.tolist():
        out[i] = fn(data[i])
    return Vec(out, valid.copy(), dtype)


@implements("lower")
def lower(ops, dtype, s: Vec) -> Vec:
    return _map_strings(s, lower_str, "string")


@implements("upper")
def upper(ops, dtype, s: Vec) -> Vec:
    return _map_strings(s, upper_str, "string")


@implements("length")
def length(ops, dtype, s: Vec) -> Vec:
    return _map_strings(s, len, "int64", np.int64)


def _clamp32(v: int) -> int:
    return INT32_MIN if v < INT32_MIN else INT32_MAX if v > INT32_MAX else v


def substr_str(s: str, pos: int, length: int) -> str:
    """Spark's ``UTF8String.substringSQL(pos, len)`` after clamping both to 32 bits."""
    pos, length = _clamp32(pos), _clamp32(length)
    n = len(s)
    start = pos - 1 if pos > 0 else (n + pos if pos < 0 else 0)
    end = _clamp32(start + length)
    start = max(start, 0)
    if start >= end or start >= n:
        return ""
    return s[start:min(end, n)]


@implements("substr")
def substr(ops, dtype, s: Vec, start: Vec, length: Vec) -> Vec:
    valid = s.valid & start.valid & length.valid
    out = np.full(len(s), "", dtype=object)
    sd, pd, ld = s.data, start.data, length.data
    for i in np.flatnonzero(valid).tolist():
        out[i] = substr_str(sd[i], int(pd[i]), int(ld[i]))
    return Vec(out, valid, "string")


def string_form(ops, x: Vec) -> Vec:
    """The string form of ``x`` (``to_string``): strings as they are, int64 in decimal, bools as
    ``true``/``false``; float64 and timestamp through the ``to_string`` cast implementation."""
    if x.dtype == "string":
        return x
    if x.dtype in ("int64", "bool"):
        out = np.full(len(x), "", dtype=object)
        vals = x.data.tolist()
        if x.dtype == "bool":
            for i in np.flatnonzero(x.valid).tolist():
                out[i] = "true" if vals[i] else "false"
        else:
            for i in np.flatnonzero(x.valid).tolist():
                out[i] = str(vals[i])
        return Vec(out, x.valid.copy(), "string")
    return ops.call("to_string", "string", x)


@implements("concat")
def concat(ops, dtype, *values: Vec) -> Vec:
    forms = [string_form(ops, v) for v in values]
    valid = np.logical_and.reduce([f.valid for f in forms])
    out = np.full(len(valid), "", dtype=object)
    columns = [f.data for f in forms]
    for i in np.flatnonzero(valid).tolist():
        out[i] = "".join(c[i] for c in columns)
    return Vec(out, valid, "string")


def split_part_str(s: str, sep: str, index: int) -> str | None:
    parts = s.split(sep)
    if index == 0 or index > len(parts) or index < -len(parts):
        return None
    return parts[index - 1] if index > 0 else parts[index]


@implements("split_part")
def split_part(ops, dtype, s: Vec, sep: str, index: Vec) -> Vec:
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"split_part: separator must be a non-empty constant string, got {sep!r}")
    valid = s.valid & index.valid
    out = np.full(len(s), "", dtype=object)
    sd, idx = s.data, index.data
    for i in np.flatnonzero(valid).tolist():
        part = split_part_str(sd[i], sep, int(idx[i]))
        if part is None:
            valid[i] = False
        else:
            out[i] = part
    return Vec(out, valid, "string")


@implements("replace")
def replace(ops, dtype, s: Vec, search: Vec, replacement: Vec) -> Vec:
    valid = s.valid & search.valid & replacement.valid
    out = np.full(len(s), "", dtype=object)
    sd, qd, rd = s.data, search.data, replacement.data
    for i in np.flatnonzero(valid).tolist():
        out[i] = sd[i].replace(qd[i], rd[i]) if qd[i] else sd[i]
    return Vec(out, valid, "string")


@implements("split")
def split(ops, dtype, s: Vec, sep: str) -> Vec:
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"split: separator must be a non-empty constant string, got {sep!r}")
    out = np.full(len(s), None, dtype=object)
    sd = s.data
    for i in np.flatnonzero(s.valid).tolist():
        out[i] = tuple(sd[i].split(sep))
    return Vec(out, s.valid.copy(), "list<string>")


@implements("size")
def size(ops, dtype, items: Vec) -> Vec:
    if items.dtype == "null":
        return Vec.full(None, "int64", len(items))
    return _map_strings(items, len, "int64", np.int64)
