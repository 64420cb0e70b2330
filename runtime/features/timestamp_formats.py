"""Timestamps written in a datetime format (`format:` of a column): read the same offline (a
native Spark Column, no UDF) and online (Python, the predictor).

The format's rules are in ``mlc.core.datetime_format``: its regex is matched on the whole
value (ASCII whitespace around it ignored), the fields are extracted by group and combined with
the civil-date arithmetic of ``to_timestamp`` (``mlc.runtime.{spark_ops,numpy_ops}.casts``), so
the result never depends on Spark's datetime parser, its version or its settings.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from mlc.core.datetime_format import DatetimeFormat, compile_format

WS = r"[ \t\n\r\f\x0B]*"
DIGITS = r"[0-9]+"
# field -> (default when absent)
_DEFAULTS = {"year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}


@lru_cache(maxsize=256)
def datetime_format(pattern: str) -> DatetimeFormat:
    return compile_format(pattern)


def whole(fmt: DatetimeFormat) -> str:
    return WS + fmt.regex + WS


# ----------------------------------------------------------------------------- Python (online)


@lru_cache(maxsize=256)
def _matcher(pattern: str) -> Any:
    return re.compile(whole(datetime_format(pattern))).fullmatch


def text_of(value: Any) -> str | None:
    """The text a value is read from: a string as is, an integer as its decimal text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def padded(text: str, fmt: DatetimeFormat) -> str:
    """Digits shorter than a digits-only pattern, left-padded with zeros."""
    if fmt.digits_width is not None and len(text) < fmt.digits_width and re.fullmatch(DIGITS, text):
        return text.rjust(fmt.digits_width, "0")
    return text


def parse(value: Any, pattern: str) -> int | None:
    """Microseconds since the epoch of ``value`` (text, or an integer read as its text) in the
    format ``pattern``, or None when it does not match or is not a real instant."""
    import numpy as np

    from mlc.runtime.numpy_ops.casts import civil_micros

    text = text_of(value)
    if text is None:
        return None
    fmt = datetime_format(pattern)
    match = _matcher(pattern)(padded(text, fmt))
    if match is None:
        return None
    parts = _parts(match.group, fmt)
    micros, ok = civil_micros(np.array([parts], dtype=np.int64))
    return int(micros[0]) if bool(ok[0]) else None


def _parts(group: Any, fmt: DatetimeFormat) -> list[int]:
    """[year, month, day, hour, minute, second, micros, sign, offset_h, offset_m] of a match."""
    def number(field: str) -> int:
        index = fmt.group(field)
        return int(group(index)) if index is not None else _DEFAULTS[field]

    year = 2000 + int(group(fmt.group("year2"))) if fmt.group("year2") else number("year")
    fraction = fmt.group("fraction")
    micros = int(group(fraction).ljust(6, "0")) if fraction else 0
    sign, oh, om = 0, 0, 0
    offset = fmt.group("offset")
    if offset and group(offset) != "Z":
        sign = -1 if group(offset + 1) == "-" else 1
        oh, om = int(group(offset + 2)), int(group(offset + 3))
    return [year, number("month"), number("day"), number("hour"), number("minute"), number("second"),
            micros, sign, oh, om]


# ------------------------------------------------------------------------------ Spark (offline)


def with_parsed(df: Any, items: list[tuple[str, str, str]]) -> Any:
    """``df`` with a timestamp column ``out`` for each ``(out, text column, pattern)``: the text
    (string or integer) read in the format; null where it does not match.

    Three projections (padded text, the fields extracted, the instant), so that each field is
    extracted once: one expression per column would repeat every ``regexp_extract`` in the
    civil-date arithmetic and grow the generated code past the JVM's 64 KB method limit."""
    from pyspark.sql import functions as F

    from mlc.runtime.spark_ops.casts import java

    if not items:
        return df
    columns = [F.col(_q(c)) for c in df.columns]
    padded_cols, parts, outs = [], [], []
    for n, (out, text_column, pattern) in enumerate(items):
        fmt = datetime_format(pattern)
        regex = java(whole(fmt))
        padded_cols.append(padded_text(F.col(_q(text_column)), fmt).alias(f"__fmt{n}"))
        parts.append(F.col(f"__fmt{n}").rlike(regex).alias(f"__fmt{n}_ok"))
        for field, index in group_indexes(fmt):
            parts.append(F.regexp_extract(F.col(f"__fmt{n}"), regex, index).alias(f"__fmt{n}_{field}"))
        outs.append(instant_column(fmt, lambda field, n=n: F.col(f"__fmt{n}_{field}"), F.col(f"__fmt{n}_ok"))
                    .alias(out))
    staged = df.select(*columns, *padded_cols)
    staged = staged.select(*columns, *parts)
    return staged.select(*columns, *outs)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def parsed_column(col: Any, pattern: str) -> Any:
    """One Column: ``col`` (text or integer digits) read in ``pattern`` exactly as a source column
    with that ``format`` is (the same padding, regex and instant as :func:`with_parsed`), for
    ``to_timestamp(x, format)``; null where it does not match."""
    from pyspark.sql import functions as F

    from mlc.runtime.spark_ops.casts import java

    fmt = datetime_format(pattern)
    regex, text = java(whole(fmt)), padded_text(col, fmt)
    groups = dict(group_indexes(fmt))
    return instant_column(fmt, lambda field: F.regexp_extract(text, regex, groups[field]), text.rlike(regex))


def padded_text(col: Any, fmt: DatetimeFormat) -> Any:
    """``col`` as text; all-digit values shorter than an all-digit pattern left-padded with zeros
    (``5010100`` for ``yyMMddHH`` is ``05010100``), as :func:`padded` does online."""
    from pyspark.sql import functions as F

    from mlc.runtime.spark_ops.casts import java

    text = col.cast("string")
    if fmt.digits_width is None:
        return text
    short = text.rlike(java(DIGITS)) & (F.length(text) < fmt.digits_width)
    return F.when(short, F.lpad(text, fmt.digits_width, "0")).otherwise(text)


def group_indexes(fmt: DatetimeFormat) -> list[tuple[str, int]]:
    """(part name, regex group) of every group the instant needs."""
    out = [(field, index) for field, index in fmt.groups if field != "offset"]
    offset = fmt.group("offset")
    if offset:
        out += [("sign", offset + 1), ("oh", offset + 2), ("om", offset + 3)]
    return out


def instant_column(fmt: DatetimeFormat, part: Any, matched: Any) -> Any:
    """The timestamp Column from the extracted parts (strings) of one format. The civil date is
    Spark's ``make_timestamp`` in UTC (null for a date or time that does not exist, with
    ``spark.sql.ansi.enabled=false``), guarded where it is more lenient than the contract (year 0,
    second 60), then the fraction and offset in integer microseconds: a small expression, which
    stays small where the optimizer inlines it (a filter on the column is pushed down to the scan)."""
    from pyspark.sql import functions as F

    from mlc.runtime.numpy_ops.casts import MAX_MICROS, MIN_MICROS

    def number(field: str) -> Any:
        if fmt.group(field) is None:
            return F.lit(_DEFAULTS[field]).cast("bigint")
        return part(field).cast("bigint")

    zero = F.lit(0).cast("bigint")
    year = part("year2").cast("bigint") + 2000 if fmt.group("year2") else number("year")
    micros = F.rpad(part("fraction"), 6, "0").cast("bigint") if fmt.group("fraction") else zero
    offset, ok = zero, (year >= 1) & (number("second") <= 59)
    if fmt.group("offset"):
        signed = part("sign") != ""
        oh = F.when(signed, part("oh")).otherwise("0").cast("bigint")
        om = F.when(signed, part("om")).otherwise("0").cast("bigint")
        sign = F.when(part("sign") == "-", -1).otherwise(1)
        offset = F.when(signed, sign * (oh * 60 + om) * 60_000_000).otherwise(zero)
        ok = ok & (oh <= 23) & (om <= 59)
    civil = F.make_timestamp(year, number("month"), number("day"), number("hour"), number("minute"),
                             number("second").cast("decimal(8,6)"), F.lit("UTC"))
    total = F.unix_micros(civil) + micros - offset
    return F.when(matched & ok & (total >= MIN_MICROS) & (total <= MAX_MICROS), F.timestamp_micros(total))
