"""Documented values (docs/semantics.md, "Integer division, nullif, dates, zones, lists") of the
functions added for public datasets, on the NumPy executor: `//`, `nullif`, `sin`/`cos`,
`to_timestamp(x, format)`, `make_timestamp`, `date_format`, calendar parts in a time zone (DST
included), `split`/`size`, `replace`. The parity tests prove that Spark agrees with these."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from mlc.runtime.numpy_ops import core as _numpy_core

_numpy_core.REGISTRY.load()
from mlc.runtime.numpy_ops import NumpyOps, Vec  # noqa: E402

MAX, MIN = 2**63 - 1, -(2**63)
NAN, INF = float("nan"), float("inf")


def V(values, dtype):
    return Vec.of(values, dtype)


def ops(n):
    return NumpyOps({}, n)


def call(fn, dtype, *args):
    n = next(len(a) for a in args if isinstance(a, Vec))
    return ops(n).call(fn, dtype, *args).to_list()


def micros(*args, tz=timezone.utc):
    delta = datetime(*args, tzinfo=tz) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


# ------------------------------------------------------------------ integer division


def test_integer_division_truncates_like_the_remainder():
    a = V([7, -7, 7, -7, 0, 1, -1, MAX, MIN, MIN, MIN + 1, 5, None, 5], "int64")
    b = V([2, 2, -2, -2, 5, 3, 3, -1, -1, 1, 2, 0, 1, None], "int64")
    got = ops(len(a)).binary("//", a, b, "int64").to_list()
    assert got == [3, -3, -3, 3, 0, 0, 0, -MAX, None, MIN, -(2**62) + 1, None, None, None]
    remainder = ops(len(a)).binary("%", a, b, "int64").to_list()
    for x, y, q, r in zip(a.to_list(), b.to_list(), got, remainder):
        if q is not None:
            assert q * y + r == x                                # a == (a // b) * b + a % b


def test_integer_division_matches_exact_truncation_on_random_pairs():
    rng = np.random.default_rng(15)
    a = rng.integers(MIN, MAX, 5000, dtype=np.int64, endpoint=True)
    b = np.concatenate([rng.integers(-1000, 1000, 2500), rng.integers(MIN, MAX, 2500, endpoint=True)]).astype(np.int64)
    got = ops(len(a)).binary("//", Vec.of(a, "int64"), Vec.of(b, "int64"), "int64").to_list()
    for x, y, q in zip(a.tolist(), b.tolist(), got):
        expected = None if y == 0 or (x == MIN and y == -1) else (abs(x) // abs(y)) * (1 if (x < 0) == (y < 0) else -1)
        assert q == expected, (x, y)


# ------------------------------------------------------------------ nullif


def test_nullif_uses_the_languages_equality():
    assert call("nullif", "int64", V([1, -1, None, 0], "int64"), V([-1, -1, -1, None], "int64")) == [1, None, None, 0]
    got = call("nullif", "float64", V([NAN, -0.0, 0.0, 1.5, 2.0], "float64"), V([NAN, 0.0, -0.0, NAN, 2.0], "float64"))
    assert got[:3] == [None, None, None] and got[3] == 1.5 and got[4] is None
    assert call("nullif", "string", V(["", "a", "é"], "string"), V(["", "", "é"], "string")) == [None, "a", None]
    assert call("nullif", "int64", V([2, 3], "int64"), V([2.0, 2.5], "float64")) == [None, 3]   # compared as float64


# ------------------------------------------------------------------ sin / cos


def test_sin_cos_special_values():
    got = call("sin", "float64", V([0.0, -0.0, INF, -INF, NAN, None], "float64"))
    assert math.copysign(1, got[0]) == 1 and math.copysign(1, got[1]) == -1
    assert all(math.isnan(v) for v in got[2:5]) and got[5] is None
    cos = call("cos", "float64", V([0, None], "int64"))
    assert cos == [1.0, None]
    assert call("sin", "float64", V([1.0], "float64"))[0] == pytest.approx(math.sin(1.0), abs=1e-16)


# ------------------------------------------------------------------ to_timestamp(x, format)


def test_to_timestamp_with_format():
    texts = V(["2024-02-29 23:59", " 2024-02-29 23:59\n", "2023-02-29 00:00", "2024-13-01 00:00", "2024-1-05 00:00",
               "2024-01-05 24:00", "", None, "٢٠٢٤-01-05 00:00", "0000-01-01 00:00"], "string")
    got = call("to_timestamp", "timestamp", texts, "yyyy-MM-dd HH:mm")
    assert got == [micros(2024, 2, 29, 23, 59), micros(2024, 2, 29, 23, 59), None, None, None, None, None, None, None,
                   None]


def test_to_timestamp_of_avazu_hours_and_fractions():
    hours = V([14102100, 14103023, 5010100, 14023100, None, -1], "int64")
    got = call("to_timestamp", "timestamp", hours, "yyMMddHH")
    assert got == [micros(2014, 10, 21, 0), micros(2014, 10, 30, 23), micros(2005, 1, 1, 0), None, None, None]
    fractions = V(["12:30:45.5", "12:30:45.123456", "12:30:45.1234567", "12:30:45"], "string")
    assert call("to_timestamp", "timestamp", fractions, "HH:mm:ss.SSSSSS") == [
        micros(1970, 1, 1, 12, 30, 45, 500000), micros(1970, 1, 1, 12, 30, 45, 123456), None, None]
    zoned = V(["2024-06-01T08:00:00+08:00", "2024-06-01T08:00:00Z", "2024-06-01T08:00:00"], "string")
    assert call("to_timestamp", "timestamp", zoned, "yyyy-MM-dd'T'HH:mm:ssXXX") == [
        micros(2024, 6, 1, 0), micros(2024, 6, 1, 8), None]


# ------------------------------------------------------------------ make_timestamp


def test_make_timestamp_ranges_and_invalid_dates():
    def make(*columns):
        return call("make_timestamp", "timestamp", *[V(c, "int64") for c in columns])

    assert make([2024, 2023, 1, 9999, 0, 10000, 2024, None], [2, 2, 1, 12, 1, 1, 13, 1], [29, 29, 1, 31, 1, 1, 1, 1],
                [0] * 8, [0] * 8, [0] * 8) == [micros(2024, 2, 29), None, micros(1, 1, 1), micros(9999, 12, 31), None,
                                               None, None, None]
    assert make([1970] * 5, [1] * 5, [1] * 5, [23, 24, 0, 0, -1], [59, 0, 60, 0, 0], [59, 0, 0, 60, 0]) == [
        86399 * 10**6, None, None, None, None]
    assert make([MAX], [MIN], [1], [0], [0], [0]) == [None]


# ------------------------------------------------------------------ date_format


def test_date_format_fields():
    ts = V([micros(2024, 2, 29, 7, 5, 9, 123456), micros(1, 1, 1), micros(9999, 12, 31, 23, 59, 59, 999999),
            -1, None], "timestamp")
    got = call("date_format", "string", ts, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
    assert got == ["2024-02-29T07:05:09.123456Z", "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z",
                   "1969-12-31T23:59:59.999999Z", None]
    assert call("date_format", "string", ts, "yyMMddHH 'at' S")[:2] == ["24022907 at 1", "01010100 at 0"]
    assert call("date_format", "string", ts, "''yyyy''")[0] == "'2024'"


def test_date_format_in_a_zone_past_year_9999_and_with_local_mean_time():
    ts = V([micros(9999, 12, 31, 23), micros(1, 1, 1), micros(2024, 7, 1, 12)], "timestamp")
    assert call("date_format", "string", ts, "yyyy-MM-dd HH:mm XXX", "Asia/Tokyo") == [
        "10000-01-01 08:00 +09:00", "0001-01-01 09:18 +09:18", "2024-07-01 21:00 +09:00"]
    assert call("date_format", "string", ts, "yyyy-MM-dd HH:mm:ss XXX", "America/New_York")[1] == \
        "0000-12-31 19:03:58 -04:56"                             # LMT -4:56:02: XXX drops the seconds


# ------------------------------------------------------------------ calendar parts in a zone


def test_hour_across_new_york_dst():
    utc = [micros(2024, 3, 10, 6, 59, 59), micros(2024, 3, 10, 7), micros(2024, 11, 3, 5, 59, 59),
           micros(2024, 11, 3, 6), None]
    ts = V(utc, "timestamp")
    assert call("hour", "int64", ts, "America/New_York") == [1, 3, 1, 1, None]   # 2:00 skipped, 1:00 twice
    assert call("hour", "int64", ts) == [6, 7, 5, 6, None]
    assert call("hour", "int64", ts, "UTC") == [6, 7, 5, 6, None]


def test_half_hour_dst_and_date_line_zones():
    lord_howe = V([micros(2024, 4, 6, 14, 59), micros(2024, 4, 6, 15)], "timestamp")   # +11 -> +10:30
    assert call("date_format", "string", lord_howe, "HH:mm XXX", "Australia/Lord_Howe") == ["01:59 +11:00", "01:30 +10:30"]
    apia = V([micros(2011, 12, 30, 9, 59), micros(2011, 12, 30, 10)], "timestamp")    # Samoa skipped Dec 30
    assert call("day_of_month", "int64", apia, "Pacific/Apia") == [29, 31]
    assert call("day_of_week", "int64", apia, "Pacific/Apia") == [4, 6]
    kiritimati = V([micros(2024, 1, 1)], "timestamp")
    assert call("day_of_week", "int64", kiritimati, "Pacific/Kiritimati") == [1]         # +14: Monday already


def test_zone_offsets_match_zoneinfo_over_the_whole_range():
    from mlc.core.timezones import tzdata_zone
    from mlc.runtime.numpy_ops.zones import utc_offsets

    rng = np.random.default_rng(3)
    seconds = np.concatenate([rng.integers(-62135596800, 253402300799, 2000), rng.integers(1.5e9, 1.8e9, 2000),
                              np.array([-62135596800, 253402300799])])
    for name in ("America/New_York", "Europe/Dublin", "Asia/Kolkata", "Australia/Lord_Howe"):
        zone, got = tzdata_zone(name), utc_offsets(seconds, name)
        for s, offset in zip(seconds.tolist()[::37], got.tolist()[::37]):
            shifted = s + 146097 * 86400 if s < -62135596800 + 2 * 86400 else s - 146097 * 86400 if s > 253402300799 - 2 * 86400 else s
            moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=shifted)
            assert offset == moment.astimezone(zone).utcoffset().total_seconds(), (name, s)


def test_the_400_year_shifts_keep_the_offsets():
    """`zones.offset_at` moves instants near years 1 and 9999 by 400 years: in every zone the offset
    is constant before 1800 (local mean time) and repeats every 400 years after 2100."""
    from mlc.core.timezones import expression_timezones, tzdata_zone
    from mlc.runtime.numpy_ops.zones import CYCLE, LOW

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    early = range(LOW, -5364662400, 86400 * 365 * 7 + 86400 * 17)            # years 1-1800
    late = range(4102444800, 4102444800 + 4 * 365 * 86400, 86400 * 5)        # 2100-2103
    for name in sorted(expression_timezones()):
        zone = tzdata_zone(name)

        def offset(s):
            return (epoch + timedelta(seconds=s)).astimezone(zone).utcoffset()

        assert len({offset(s) for s in early}) == 1, name
        assert all(offset(s) == offset(s + CYCLE) for s in late), name


# ------------------------------------------------------------------ split / size / replace


def test_split_size_counts_parts_like_split_part():
    s = V(["Action|Adventure", "", "|", "a||b|", None, "x"], "string")
    parts = ops(len(s)).call("split", "list<string>", s, "|")
    assert parts.dtype == "list<string>"
    assert call("size", "int64", parts) == [2, 1, 2, 4, None, 1]
    assert call("size", "int64", ops(2).call("split", "list<string>", V(["a.b", "a\\Eb"], "string"), "\\E")) == [1, 2]


def test_replace_is_literal_and_an_empty_search_changes_nothing():
    s = V(["a.b.a", "aaa", "", "abc", None, "😀é😀", "abc"], "string")
    search = V(["a", "aa", "", "", "a", "😀", "."], "string")
    replacement = V(["X", "b", "Z", "Z", "X", "e", "X"], "string")
    assert call("replace", "string", s, search, replacement) == ["X.b.X", "ba", "", "abc", None, "eée", "abc"]
    assert call("replace", "string", V(["a"], "string"), V([None], "string"), V(["b"], "string")) == [None]


def test_every_catalogue_function_has_both_implementations():
    from mlc.dsl import FUNCTIONS
    from mlc.runtime.ops import BINARY_OPS
    from mlc.runtime.spark_ops import core as spark_core

    spark_core.REGISTRY.load()
    for registry in (_numpy_core.REGISTRY, spark_core.REGISTRY):
        for function in FUNCTIONS:
            if function.kind == "scalar":
                assert function.canonical in registry.functions, (registry.executor, function.name)
            elif function.kind == "analyzer":
                assert f"apply_{function.canonical}" in registry.functions, (registry.executor, function.name)
        for op in BINARY_OPS:
            assert f"binary{op}" in registry.functions, (registry.executor, op)
