"""Expected values for the NumPy executor's strings, time, hashing/bucketing and analyzer
application, so that a consistent-but-wrong pair of executors is caught (the parity tests
only prove that the two agree). Hash vectors were produced by Spark 3.5.9's ``xxhash64``."""

from __future__ import annotations

import math
import struct
from datetime import datetime, timezone

import pytest

from mlc.runtime.numpy_ops import core as _numpy_core

_numpy_core.REGISTRY.load()
from mlc.runtime.numpy_ops import NumpyOps, Vec
from mlc.runtime.xxhash64 import xxhash64_signed

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# string -> Spark 3.5.9 `xxhash64(s)` (seed 42) and `pmod(xxhash64(s), 1000)`
SPARK_XXHASH64 = {
    "": (-7444071767201028348, 652),
    "a": (-8582455328737087284, 716),
    "-9223372036854775808": (-469641560664019520, 480),
    "9223372036854775807": (2407216688009111440, 440),
    "-1": (-4220454218755575868, 132),
    "0": (-6091425354261976140, 860),
    "true": (6088520763082456498, 498),
    "false": (6648785654478014637, 637),
    "e\u0301": (-2923010410306571269, 731),
    "👩\u200d💻": (4353359275780179918, 918),
    "héllo": (501425390238239234, None),
    "日本": (5255273406210089560, None),
    "😀": (-5869505314936196641, None),
    "日本\u000142": (7982074120081569891, 891),
    "a\u0001b\u0001true": (-53236170578793299, 701),
    "The quick brown fox jumps over the lazy dog": (-6152153990451020481, 519),
}


def ops(**columns) -> NumpyOps:
    n = len(next(iter(columns.values()))[1])
    return NumpyOps({name: Vec.of(values, dtype) for name, (dtype, values) in columns.items()}, n)


def call(function: str, dtype: str, *args, **columns):
    o = ops(**columns)
    values = [o.input(a, columns[a][0]) if isinstance(a, str) and a in columns else a for a in args]
    return o.call(function, dtype, *values).to_list()


def micros(*parts) -> int:
    moment = datetime(*parts, tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


# --- hashing -----------------------------------------------------------------------------------


def test_xxhash64_reference_vector():
    from mlc.runtime.xxhash64 import xxh64_intdigest

    assert xxh64_intdigest(b"", 0) == 0xEF46DB3751D8E999  # the XXH64 specification's empty input
    assert xxh64_intdigest(b"a", 0) == 0xD24EC4F1A98C6E5B


@pytest.mark.parametrize("text", sorted(SPARK_XXHASH64))
def test_xxhash64_matches_spark(text):
    from mlc.runtime.xxhash64 import xxh64_intdigest

    expected, _ = SPARK_XXHASH64[text]
    assert xxhash64_signed(text.encode()) == expected
    pure = xxh64_intdigest(text.encode(), 42)
    assert (pure - (1 << 64) if pure >= 1 << 63 else pure) == expected


def test_hash_bucket_values():
    strings = ["", "a", "e\u0301", "👩\u200d💻", "The quick brown fox jumps over the lazy dog", None]
    assert call("hash_bucket", "int64", "s", 1000, s=("string", strings)) == [652, 716, 731, 918, 519, 0]
    # ints and bools hash their string form
    assert call("hash_bucket", "int64", "i", 1000, i=("int64", [INT64_MIN, INT64_MAX, -1, 0, None])) == [
        480, 440, 132, 860, 0]
    assert call("hash_bucket", "int64", "b", 1000, b=("bool", [True, False, None])) == [498, 637, 0]
    # non-negative modulo of a negative hash, and n = 1
    assert call("hash_bucket", "int64", "s", 1, s=("string", ["x", None])) == [0, 0]
    assert call("hash_bucket", "int64", "s", INT64_MAX, s=("string", [""])) == [-7444071767201028348 % INT64_MAX]


def test_cross_values():
    got = call("cross", "int64", "s", "i", 1000, s=("string", ["日本", "日本", None]), i=("int64", [42, None, 1]))
    assert got == [891, 0, 0]
    got = call("cross", "int64", "s", "t", "b", 1000, s=("string", ["a"]), t=("string", ["b"]), b=("bool", [True]))
    assert got == [701]


def test_bucket_count_must_be_positive():
    with pytest.raises(ValueError):
        call("hash_bucket", "int64", "s", 0, s=("string", ["a"]))


def test_bucketize_edges():
    values = [float("-inf"), 0.999, 1.0, 1.5, 5.0, 7.0, float("inf"), float("nan"), None, -0.0]
    got = call("bucketize", "int64", "x", [1.0, 2.0, 5.0], x=("float64", values))
    assert got == [0, 0, 1, 1, 3, 3, 3, None, None, 0]
    # -0.0 equals 0.0
    assert call("bucketize", "int64", "x", [-0.0, 1.0], x=("float64", [0.0, -0.0])) == [1, 1]
    assert call("bucketize", "int64", "x", [0.0], x=("float64", [-0.0, -5e-324])) == [1, 0]
    # int64 against integer boundaries compares exactly ...
    big = 2**53
    assert call("bucketize", "int64", "x", [big + 1], x=("int64", [big, big + 1, INT64_MIN, INT64_MAX])) == [0, 1, 0, 1]
    # ... against float boundaries as float64 (2**53 + 1 rounds to 2**53)
    assert call("bucketize", "int64", "x", [float(big)], x=("int64", [big - 1, big + 1])) == [0, 1]
    with pytest.raises(ValueError):
        call("bucketize", "int64", "x", [1.0, float("nan")], x=("float64", [1.0]))


# --- strings -----------------------------------------------------------------------------------


def test_case_mapping():
    strings = ["Straße", "ﬁx", "İ", "ΑΣ ΟΔΟΣ", "\u2c2f\u2c5f", "Ǆ", None, "ABC"]
    assert call("lower", "string", "s", s=("string", strings)) == [
        "straße", "ﬁx", "i\u0307", "ασ οδοσ", "\u2c2f\u2c5f", "ǆ", None, "abc"]
    assert call("upper", "string", "s", s=("string", strings)) == [
        "STRASSE", "FIX", "İ", "ΑΣ ΟΔΟΣ", "\u2c2f\u2c5f", "Ǆ", None, "ABC"]


def test_length_counts_code_points():
    assert call("length", "int64", "s", s=("string", ["", "😀e\u0301", "日本", None])) == [0, 3, 2, None]


@pytest.mark.parametrize("start,length,expected", [
    (5, 100, "k SQL"), (-3, 100, "SQL"), (5, 1, "k"), (0, 3, "Spa"), (1, 3, "Spa"), (-9, 2, "Sp"),
    (-10, 3, "Sp"), (-20, 3, ""), (10, 1, ""), (3, 0, ""), (3, -1, ""), (2**32 + 1, 3, ""),
    (1, 2**32 + 1, "Spark SQL"), (INT64_MIN, INT64_MAX, "Spark SQ"), (-(2**31) + 5, 2**31 - 9, "Spark"),
])
def test_substr_spark_rules(start, length, expected):
    got = call("substr", "string", "s", "p", "n", s=("string", ["Spark SQL"]), p=("int64", [start]),
               n=("int64", [length]))
    assert got == [expected]


def test_substr_nulls():
    got = call("substr", "string", "s", "p", "n", s=("string", ["abc", None, "abc"]), p=("int64", [None, 1, 1]),
               n=("int64", [1, 1, None]))
    assert got == [None, None, None]


def test_concat_string_forms():
    got = call("concat", "string", "s", "i", "b", s=("string", ["a", "日", None]), i=("int64", [-1, INT64_MIN, 1]),
               b=("bool", [True, False, True]))
    assert got == ["a-1true", "日-9223372036854775808false", None]


@pytest.mark.parametrize("s,sep,index,expected", [
    ("a@b@c", "@", 1, "a"), ("a@b@c", "@", 3, "c"), ("a@b@c", "@", -1, "c"), ("a@b@c", "@", -3, "a"),
    ("a@b@c", "@", 4, None), ("a@b@c", "@", -4, None), ("a@b@c", "@", 0, None), ("@a@", "@", 1, ""),
    ("@a@", "@", 3, ""), ("", "@", 1, ""), ("", "@", 2, None), ("abc", "@", 1, "abc"), ("a.b", ".", 2, "b"),
    ("a\\Eb", "\\E", 2, "b"), ("x::y:::z", "::", 3, ":z"), ("日本😀語", "😀", 2, "語"), ("a@b", "@", 2**32 + 1, None),
])
def test_split_part(s, sep, index, expected):
    assert call("split_part", "string", "s", sep, "i", s=("string", [s]), i=("int64", [index])) == [expected]


# --- time --------------------------------------------------------------------------------------

DATES = [  # (moment, ISO day of week, day of month, hour)
    (micros(1970, 1, 1), 4, 1, 0),
    (micros(1969, 12, 31, 23, 59, 59, 999999), 3, 31, 23),
    (micros(2024, 2, 29, 23, 59, 59, 999999), 4, 29, 23),
    (micros(2024, 3, 1), 5, 1, 0),
    (micros(1900, 2, 28, 12), 3, 28, 12),
    (micros(1900, 3, 1), 4, 1, 0),
    (micros(2000, 1, 1), 6, 1, 0),
    (micros(1600, 2, 29, 7), 2, 29, 7),
    (micros(1, 1, 1), 1, 1, 0),
    (micros(1582, 10, 15), 5, 15, 0),
    (micros(9999, 12, 31, 23), 5, 31, 23),
    (micros(2024, 4, 7, 18, 30), 7, 7, 18),
]


def test_time_parts_of_known_dates():
    ts = [d[0] for d in DATES] + [None]
    assert call("day_of_week", "int64", "t", t=("timestamp", ts)) == [d[1] for d in DATES] + [None]
    assert call("day_of_month", "int64", "t", t=("timestamp", ts)) == [d[2] for d in DATES] + [None]
    assert call("hour", "int64", "t", t=("timestamp", ts)) == [d[3] for d in DATES] + [None]


def test_unix_seconds_floors():
    got = call("unix_seconds", "int64", "t", t=("timestamp", [0, 1, -1, -1_000_000, -1_000_001, 1_999_999, None]))
    assert got == [0, 0, -1, -1, -2, 1, None]


def test_seconds_between():
    got = call("seconds_between", "float64", "a", "b", a=("timestamp", [0, 1_500_000, 0, None, micros(1, 1, 1)]),
               b=("timestamp", [1, 0, 86_400_000_000, 5, micros(9999, 12, 31)]))
    assert got[:4] == [1e-6, -1.5, 86400.0, None]
    assert got[4] == (micros(9999, 12, 31) - micros(1, 1, 1)) / 1e6


# --- analyzer application ----------------------------------------------------------------------


def analyzer(function, fitted, dtype, values, *params, out="float64"):
    o = NumpyOps({"x": Vec.of(values, dtype)}, len(values), {"a": fitted})
    return o.analyzer(function, "a", out, o.input("x", dtype), *params).to_list()


def test_standardize_and_min_max():
    assert analyzer("standardize", {"mean": 2.0, "std": 4.0}, "float64", [6.0, -2.0, None, float("nan")])[:3] == [
        1.0, -1.0, None]
    assert math.isnan(analyzer("standardize", {"mean": 2.0, "std": 4.0}, "float64", [float("nan")])[0])
    assert analyzer("standardize", {"mean": 2.0, "std": 0.0}, "int64", [5, None]) == [0.0, None]
    assert analyzer("min_max_scale", {"min": 1.0, "max": 5.0}, "int64", [1, 3, 9, None]) == [0.0, 0.5, 2.0, None]
    assert analyzer("min_max_scale", {"min": 1.0, "max": 1.0}, "float64", [7.0]) == [0.0]
    got = analyzer("standardize", {"mean": 0.1, "std": 0.3}, "float64", [0.7])[0]
    assert struct.pack("<d", got) == struct.pack("<d", (0.7 - 0.1) / 0.3)


def test_quantile_bucketize_applies_boundaries():
    got = analyzer("quantile_bucketize", {"boundaries": [1.0, 2.0]}, "int64", [0, 1, 2, 3, None], 3, out="int64")
    assert got == [0, 1, 2, 2, None]
    assert analyzer("quantile_bucketize", {"boundaries": []}, "float64", [5.0, None], 2, out="int64") == [0, None]


def test_vocabulary_ids():
    fitted = {"vocabulary": ["b", "a", "日本"]}
    assert analyzer("vocabulary", fitted, "string", ["a", "b", "日本", "zz", None, ""], 10, out="int64") == [
        2, 1, 3, 0, 0, 0]
    assert analyzer("vocabulary", {"vocabulary": [7, -1]}, "int64", [-1, 7, 8, None], 10, out="int64") == [2, 1, 0, 0]
    # out-of-vocabulary buckets: len(vocabulary) + 1 + pmod(xxhash64(string form), k); null stays 0
    got = analyzer("vocabulary", fitted, "string", ["a", "", "-1", None], 10, 1, 1000, out="int64")
    assert got == [2, 3 + 1 + 652, 3 + 1 + 132, 0]
