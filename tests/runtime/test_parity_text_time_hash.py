"""Parity of the NumPy and Spark executors for strings, time, hashing/bucketing and analyzer
application: both run the same functions on the same random rows (large batches, few
examples) and must agree exactly: ints, strings and bools equal, nulls at the same places,
floats bit-identical.

Rows come from a seeded generator (hypothesis draws the seed and the batch size): a batch of
hundreds of rows with many fields is far past hypothesis' own buffer for drawn data, and one
Spark job per batch keeps the test fast. The generator is biased to edge cases: nulls, empty
and non-ASCII strings (CJK, emoji, combining marks, Greek sigma, letters Java 17 does not
case-map), separators at the ends, int64 extremes, timestamps around month ends, Feb 29, year
boundaries, before 1970 and at the ends of Spark's range (years 0001 and 9999).
"""

from __future__ import annotations

import random
import struct
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytest.importorskip("pyspark")

# importing one implementation module directly fills FUNCTIONS before NumpyOps loads the rest
# (core loads its modules only while FUNCTIONS is empty): load all of them first
from mlc.runtime.numpy_ops import core as _numpy_core  # noqa: E402
from mlc.runtime.spark_ops import core as _spark_core  # noqa: E402

_numpy_core.REGISTRY.load()
_spark_core.REGISTRY.load()
from mlc.runtime.numpy_ops import NumpyOps, Vec  # noqa: E402
from mlc.runtime.numpy_ops.strings import JAVA_UNMAPPED_LOWER, JAVA_UNMAPPED_UPPER  # noqa: E402
from mlc.runtime.spark_ops import SparkOps  # noqa: E402
from mlc.runtime.spark_ops.strings import java_quote  # noqa: E402

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TS_MIN = -62135596800 * 10**6  # 0001-01-01T00:00:00Z
TS_MAX = 253402300799999999  # 9999-12-31T23:59:59.999999Z

COLUMNS = {"s": "string", "s2": "string", "i": "int64", "j": "int64", "k": "int64", "b": "bool",
           "f": "float64", "ts": "timestamp", "ts2": "timestamp"}
SPARK_SCHEMA = "s string, s2 string, i long, j long, k long, b boolean, f double, ts long, ts2 long"

# --- the generator -----------------------------------------------------------------------------

PIECES = ["a", "B", "z", "Hello", "@", "@@", "::", ":", ".", "|", "\\E", "\\Q", "$", "ab", "  ", "\t",
          "日本", "東京", "😀", "👩\u200d💻", "e\u0301", "\u0345", "Σ", "ΑΣ", "σ", "ς", "İ", "ı", "ß", "ŉ", "ﬁ",
          "\u01c5", "Ⅻ", "\u2c2f", "\u2c5f", "\U00010570", "\U00010597", "\ua7c0", "\U0001d400", "\u00ad",
          "\x01", "0", "-1", "true", "\u0130stanbul", "\u1e9e", "\u03a3\u0301", "1Σ", "\U00010400"]


def rand_string(r: random.Random) -> str | None:
    roll = r.random()
    if roll < 0.08:
        return None
    if roll < 0.14:
        return ""
    if roll < 0.30:  # arbitrary code points (no surrogates)
        out = []
        for _ in range(r.randint(1, 8)):
            c = r.choice([r.randint(0x20, 0x7E), r.randint(0xA0, 0x2FFF), r.randint(0x3000, 0xD7FF),
                          r.randint(0xE000, 0xFFFF), r.randint(0x10000, 0x10FFFF)])
            out.append(chr(c))
        return "".join(out)
    return "".join(r.choice(PIECES) for _ in range(r.randint(1, 6)))


def rand_int(r: random.Random) -> int | None:
    roll = r.random()
    if roll < 0.08:
        return None
    if roll < 0.25:
        return r.choice([INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 0, -1, 1, 2**31 - 1, 2**31,
                         -(2**31), -(2**31) - 1, 2**32 + 1, -(2**32) - 1, 2**53 + 1, -(2**53) - 1])
    if roll < 0.7:
        return r.randint(-12, 12)
    return r.randint(INT64_MIN, INT64_MAX)


def rand_bool(r: random.Random) -> bool | None:
    return None if r.random() < 0.1 else r.random() < 0.5


SPECIAL_FLOATS = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1.0, 2.5, 10.0, -1.0, 5e-324,
                  -5e-324, 1.7976931348623157e308, 2.0**53, 2.0**63, -(2.0**63), 0.1, 1e-300, 9.99999999]


def rand_float(r: random.Random) -> float | None:
    roll = r.random()
    if roll < 0.08:
        return None
    if roll < 0.35:
        return r.choice(SPECIAL_FLOATS)
    if roll < 0.7:
        return r.uniform(-3.0, 12.0)
    return struct.unpack("<d", struct.pack("<Q", r.getrandbits(64)))[0]


def _micros(dt: datetime) -> int:
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


ANCHORS = [_micros(datetime(y, m, d, tzinfo=timezone.utc)) for y, m, d in [
    (1970, 1, 1), (1969, 12, 31), (2000, 2, 29), (2000, 3, 1), (2024, 2, 29), (2023, 3, 1), (1900, 3, 1),
    (1900, 2, 28), (1600, 2, 29), (2100, 3, 1), (1999, 12, 31), (2000, 1, 1), (1, 1, 1), (1582, 10, 15),
    (1582, 10, 4), (1, 3, 1), (9999, 12, 31), (2038, 1, 19), (1901, 12, 13), (2024, 12, 31), (1972, 7, 1)]]


def rand_ts(r: random.Random) -> int | None:
    roll = r.random()
    if roll < 0.08:
        return None
    if roll < 0.6:  # near a month end / leap day / year boundary, +- a day
        value = r.choice(ANCHORS) + r.choice([0, -1, 1, -1_000_000, 1_000_000, r.randint(-86_400_000_000, 86_400_000_000)])
    elif roll < 0.8:
        value = r.randint(-(2**41) * 10**6, 2**41 * 10**6) // 10**6 * 10**6 + r.choice([0, 1, 999_999])
    else:
        value = r.randint(TS_MIN, TS_MAX)
    return min(max(value, TS_MIN), TS_MAX)


def rand_row(r: random.Random) -> dict[str, Any]:
    small = lambda: None if r.random() < 0.08 else r.randint(-9, 9)  # noqa: E731
    return {"s": rand_string(r), "s2": rand_string(r), "i": rand_int(r), "j": small(),
            "k": rand_int(r) if r.random() < 0.3 else small(), "b": rand_bool(r), "f": rand_float(r),
            "ts": rand_ts(r), "ts2": rand_ts(r)}


# --- running both executors --------------------------------------------------------------------


def numpy_ops(rows, fitted=None) -> NumpyOps:
    columns = {name: Vec.of([row[name] for row in rows], dtype) for name, dtype in COLUMNS.items()}
    return NumpyOps(columns, len(rows), fitted)


def spark_ops(spark, rows, fitted=None) -> SparkOps:
    from pyspark.sql import functions as F

    data = [tuple(row[name] for name in COLUMNS) for row in rows]
    df = spark.createDataFrame(data, SPARK_SCHEMA).withColumn("_row", F.monotonically_increasing_id())
    df = df.withColumn("ts", F.timestamp_micros("ts")).withColumn("ts2", F.timestamp_micros("ts2"))
    return SparkOps(df, fitted)


def run_both(spark, rows, build: Callable[[Any], dict[str, Any]], fitted=None):
    """``build(ops)`` gives named values; returns (numpy lists, spark lists, dtypes)."""
    nops, sops = numpy_ops(rows, fitted), spark_ops(spark, rows, fitted)
    nvals, svals = build(nops), build(sops)
    assert list(nvals) == list(svals)
    for name in nvals:
        assert nvals[name].dtype == svals[name].dtype, name
    collected = sops.df.select("_row", *[v.col.alias(name) for name, v in svals.items()]).orderBy("_row").collect()
    numpy_out = {name: v.to_list() for name, v in nvals.items()}
    spark_out = {name: [row[name] for row in collected] for name in svals}
    return numpy_out, spark_out, {name: v.dtype for name, v in nvals.items()}


def same(a: Any, b: Any, dtype: str) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if dtype == "float64":
        return struct.pack("<d", a) == struct.pack("<d", b)
    return type(a) is type(b) and a == b


def assert_parity(rows, numpy_out, spark_out, dtypes) -> int:
    problems = []
    for name, dtype in dtypes.items():
        bad = [i for i, (a, b) in enumerate(zip(numpy_out[name], spark_out[name])) if not same(a, b, dtype)]
        assert len(numpy_out[name]) == len(spark_out[name]) == len(rows)
        for i in bad[:3]:
            problems.append(f"{name} row {i}: numpy={numpy_out[name][i]!r} spark={spark_out[name][i]!r} "
                            f"input={rows[i]!r}")
        if bad:
            problems.append(f"{name}: {len(bad)} of {len(rows)} rows differ")
    assert not problems, "executors disagree:\n" + "\n".join(problems)
    return len(rows) * len(dtypes)


def rows_for(seed: int, size: int) -> list[dict[str, Any]]:
    r = random.Random(seed)
    return [rand_row(r) for _ in range(size)]


# the seed is the whole example: shrinking or "explaining" it only reruns Spark jobs
PROPERTY = settings(deadline=None, max_examples=4, print_blob=True, suppress_health_check=list(HealthCheck),
                    phases=(Phase.explicit, Phase.reuse, Phase.generate))
SEEDS = st.integers(0, 2**32 - 1)
SIZES = st.integers(300, 1000)

# --- strings -----------------------------------------------------------------------------------


def string_features(ops) -> dict[str, Any]:
    s, s2, i, j, k, b = (ops.input(n, COLUMNS[n]) for n in ("s", "s2", "i", "j", "k", "b"))
    out = {
        "lower": ops.call("lower", "string", s),
        "upper": ops.call("upper", "string", s),
        "lower2": ops.call("lower", "string", s2),
        "length": ops.call("length", "int64", s),
        "substr_jk": ops.call("substr", "string", s, j, k),
        "substr_ij": ops.call("substr", "string", s, i, j),
        "substr_ki": ops.call("substr", "string", s2, k, i),
        "concat": ops.call("concat", "string", s, s2),
        "concat_forms": ops.call("concat", "string", s, i, b, s2),
    }
    for n, sep in enumerate(["@", "::", "ab", ".", "\\E", "日本", "|", "😀", "a"]):
        out[f"split{n}"] = ops.call("split_part", "string", s, sep, j)
    out["split_big_index"] = ops.call("split_part", "string", s, "@", i)
    return out


@PROPERTY
@given(seed=SEEDS, size=SIZES)
def test_strings_parity(spark, seed, size):
    rows = rows_for(seed, size)
    assert_parity(rows, *run_both(spark, rows, string_features))


def test_case_mapping_every_cased_code_point(spark):
    """Every code point Python or Java case-maps, alone and after a letter, agrees (catches a
    Python or Java upgrade that changes the Unicode tables)."""
    import re

    protected = re.compile(f"{JAVA_UNMAPPED_LOWER}|{JAVA_UNMAPPED_UPPER}")
    points = [c for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF
              and (chr(c).lower() != chr(c) or chr(c).upper() != chr(c) or protected.match(chr(c))
                   or unicodedata.category(chr(c)) in ("Mn", "Lm"))]
    assert len(points) > 2500
    rows = []
    for c in points:
        row = {name: None for name in COLUMNS}
        row["s"], row["s2"] = chr(c), "A" + chr(c) + " Σ" + chr(c)
        rows.append(row)

    def build(ops):
        s, s2 = ops.input("s", "string"), ops.input("s2", "string")
        return {"lower": ops.call("lower", "string", s), "upper": ops.call("upper", "string", s),
                "lower2": ops.call("lower", "string", s2), "upper2": ops.call("upper", "string", s2),
                "length": ops.call("length", "int64", s2)}

    assert_parity(rows, *run_both(spark, rows, build))


def test_java_quote():
    assert java_quote("a.b") == "\\Qa.b\\E"
    assert java_quote("x\\Ey") == "\\Qx\\E\\\\E\\Qy\\E"


def test_jvm_locale_is_not_special_casing(spark):
    """Java's toLowerCase/toUpperCase use the default locale: tr, az and lt change I/i mapping."""
    locale = spark.sparkContext._jvm.java.util.Locale.getDefault().getLanguage()
    assert locale not in ("tr", "az", "lt"), f"JVM default locale {locale!r} changes case mapping"


# --- time --------------------------------------------------------------------------------------


def time_features(ops) -> dict[str, Any]:
    ts, ts2 = ops.input("ts", "timestamp"), ops.input("ts2", "timestamp")
    return {
        "hour": ops.call("hour", "int64", ts),
        "day_of_week": ops.call("day_of_week", "int64", ts),
        "day_of_month": ops.call("day_of_month", "int64", ts),
        "unix_seconds": ops.call("unix_seconds", "int64", ts),
        "hour2": ops.call("hour", "int64", ts2),
        "day_of_week2": ops.call("day_of_week", "int64", ts2),
        "day_of_month2": ops.call("day_of_month", "int64", ts2),
        "seconds_between": ops.call("seconds_between", "float64", ts, ts2),
        "seconds_between_rev": ops.call("seconds_between", "float64", ts2, ts),
    }


@PROPERTY
@given(seed=SEEDS, size=SIZES)
def test_time_parity(spark, seed, size):
    rows = rows_for(seed, size)
    numpy_out, spark_out, dtypes = run_both(spark, rows, time_features)
    assert_parity(rows, numpy_out, spark_out, dtypes)
    # and both agree with Python's datetime (proleptic Gregorian, UTC)
    for row, dom, dow, hour in zip(rows, numpy_out["day_of_month"], numpy_out["day_of_week"], numpy_out["hour"]):
        if row["ts"] is not None:
            moment = datetime(1, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=row["ts"] - TS_MIN)
            assert (dom, dow, hour) == (moment.day, moment.isoweekday(), moment.hour)


# --- hashing and bucketing ---------------------------------------------------------------------


def _has_timestamp_string_form() -> bool:
    from mlc.runtime.numpy_ops.core import FUNCTIONS as NUMPY_FUNCTIONS
    from mlc.runtime.spark_ops.core import FUNCTIONS as SPARK_FUNCTIONS

    for package in ("numpy_ops", "spark_ops"):
        try:
            __import__(f"mlc.runtime.{package}.casts")
        except ModuleNotFoundError:
            return False
    return "to_string" in NUMPY_FUNCTIONS and "to_string" in SPARK_FUNCTIONS


TIMESTAMP_STRING_FORM = _has_timestamp_string_form()

BOUNDARY_SETS = {
    "f_float": ("f", [-1.0, 0.0, 2.5, 10.0]),
    "f_int": ("f", [0, 1, 2, 5]),
    "f_inf": ("f", [float("-inf"), -0.0, 1e-300, float("inf")]),
    "f_one": ("f", [2.5]),
    "i_int": ("i", [-5, 0, 5, 2**62]),
    "i_float": ("i", [-0.5, 0.5, 2.0**53, 9.2e18]),
    "j_int": ("j", [-3, 0, 3]),
    "k_extremes": ("k", [INT64_MIN, 0, INT64_MAX]),
}


def hash_features(ops) -> dict[str, Any]:
    s, s2, i, j, b, f = (ops.input(n, COLUMNS[n]) for n in ("s", "s2", "i", "j", "b", "f"))
    out = {
        "hash_s": ops.call("hash_bucket", "int64", s, 1000),
        "hash_s_big": ops.call("hash_bucket", "int64", s2, INT64_MAX),
        "hash_s_one": ops.call("hash_bucket", "int64", s, 1),
        "hash_i": ops.call("hash_bucket", "int64", i, 7),
        "hash_i_big": ops.call("hash_bucket", "int64", i, 2**62 + 3),
        "hash_b": ops.call("hash_bucket", "int64", b, 3),
        "cross_si": ops.call("cross", "int64", s, i, 1024),
        "cross_ssb": ops.call("cross", "int64", s, s2, b, 10007),
        "cross_ij": ops.call("cross", "int64", i, j, 2**40),
    }
    if TIMESTAMP_STRING_FORM:  # through the to_string cast (ISO-8601 UTC)
        ts = ops.input("ts", "timestamp")
        out["hash_ts"] = ops.call("hash_bucket", "int64", ts, 1000)
        out["cross_s_ts"] = ops.call("cross", "int64", s, ts, 4096)
        out["concat_ts"] = ops.call("concat", "string", s, ts)
    for name, (column, boundaries) in BOUNDARY_SETS.items():
        out[f"bucketize_{name}"] = ops.call("bucketize", "int64", ops.input(column, COLUMNS[column]), boundaries)
    return out


@PROPERTY
@given(seed=SEEDS, size=SIZES)
def test_hashing_parity(spark, seed, size):
    rows = rows_for(seed, size)
    assert_parity(rows, *run_both(spark, rows, hash_features))


# --- analyzers (application) -------------------------------------------------------------------


def fitted_for(rows) -> dict[str, dict[str, Any]]:
    strings = sorted({row["s"] for row in rows if row["s"] is not None})
    ints = sorted({row["j"] for row in rows if row["j"] is not None})
    return {
        "std_f": {"mean": 1.2345678901234567, "std": 3.3333333333333335},
        "std_i": {"mean": -7.5e17, "std": 1.1e18},
        "std_zero": {"mean": 4.0, "std": 0.0},
        "mm_f": {"min": -3.0, "max": 12.0},
        "mm_i": {"min": -9.2e18, "max": 9.2e18},
        "mm_flat": {"min": 2.0, "max": 2.0},
        "q_f": {"boundaries": [-1.5, 0.0, 0.1, 3.0, 7.25]},
        "q_empty": {"boundaries": []},
        "q_i": {"boundaries": [-2.0, 0.5, 4.0]},
        "voc_s": {"vocabulary": strings[::2]},
        "voc_i": {"vocabulary": ints[::3]},
        "voc_empty": {"vocabulary": []},
    }


def analyzer_features(ops) -> dict[str, Any]:
    s, i, j, f = (ops.input(n, COLUMNS[n]) for n in ("s", "i", "j", "f"))
    return {
        "std_f": ops.analyzer("standardize", "std_f", "float64", f),
        "std_i": ops.analyzer("standardize", "std_i", "float64", i),
        "std_zero": ops.analyzer("standardize", "std_zero", "float64", f),
        "mm_f": ops.analyzer("min_max_scale", "mm_f", "float64", f),
        "mm_i": ops.analyzer("min_max_scale", "mm_i", "float64", i),
        "mm_flat": ops.analyzer("min_max_scale", "mm_flat", "float64", j),
        "q_f": ops.analyzer("quantile_bucketize", "q_f", "int64", f, 6),
        "q_empty": ops.analyzer("quantile_bucketize", "q_empty", "int64", f, 4),
        "q_i": ops.analyzer("quantile_bucketize", "q_i", "int64", j, 4),
        "voc_s": ops.analyzer("vocabulary", "voc_s", "int64", s, 1000),
        "voc_s_oov": ops.analyzer("vocabulary", "voc_s", "int64", s, 1000, 1, 7),
        "voc_i": ops.analyzer("vocabulary", "voc_i", "int64", j, 1000),
        "voc_i_oov": ops.analyzer("vocabulary", "voc_i", "int64", i, 1000, 1, 3),
        "voc_empty": ops.analyzer("vocabulary", "voc_empty", "int64", s, 10, 1, 2),
    }


@PROPERTY
@given(seed=SEEDS, size=SIZES)
def test_analyzers_parity(spark, seed, size):
    rows = rows_for(seed, size)
    assert_parity(rows, *run_both(spark, rows, analyzer_features, fitted_for(rows)))


def test_vocabulary_large(spark):
    """100k entries: the partitioned literal maps give the same ids as a dict."""
    vocab = [f"v{n}" for n in range(100_000)]
    r = random.Random(7)
    rows = []
    for _ in range(2000):
        row = {name: None for name in COLUMNS}
        row["s"] = r.choice([f"v{r.randrange(120_000)}", None, "", "日本"])
        row["i"] = r.randrange(-5, 120_000)
        rows.append(row)
    fitted = {"v": {"vocabulary": vocab}, "w": {"vocabulary": list(range(0, 200_000, 2))}}

    def build(ops):
        return {"s": ops.analyzer("vocabulary", "v", "int64", ops.input("s", "string"), 100_000),
                "i": ops.analyzer("vocabulary", "w", "int64", ops.input("i", "int64"), 100_000, 1, 5)}

    numpy_out, spark_out, dtypes = run_both(spark, rows, build, fitted)
    assert_parity(rows, numpy_out, spark_out, dtypes)
    for row, got in zip(rows, numpy_out["s"]):
        s = row["s"]
        assert got == (int(s[1:]) + 1 if s and s.startswith("v") and int(s[1:]) < 100_000 else 0)


# --- documented examples, checked on Spark too (the NumPy unit tests check the same values) -----

SUBSTR_CASES = [(5, 100, "k SQL"), (-3, 100, "SQL"), (5, 1, "k"), (0, 3, "Spa"), (-10, 3, "Sp"), (-20, 3, ""),
                (3, -1, ""), (2**32 + 1, 3, ""), (1, 2**32 + 1, "Spark SQL"), (INT64_MIN, INT64_MAX, "Spark SQ"),
                (-(2**31) + 5, 2**31 - 9, "Spark"), (None, 1, None)]
SPLIT_CASES = [("a@b@c", 3, "c"), ("a@b@c", -3, "a"), ("a@b@c", 4, None), ("a@b@c", -4, None), ("a@b@c", 0, None),
               ("@a@", 3, ""), ("", 1, ""), ("", 2, None), ("a@b", 2**32 + 1, None), ("a@b", -(2**31), None),
               ("a@b", INT64_MIN, None), (None, 1, None)]
TIME_CASES = [  # (moment, ISO day of week, day of month, hour, unix seconds)
    (_micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)), 3, 31, 23, -1),
    (_micros(datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone.utc)), 4, 29, 23, 1709251199),
    (_micros(datetime(1900, 3, 1, tzinfo=timezone.utc)), 4, 1, 0, -2203891200),
    (_micros(datetime(1, 1, 1, tzinfo=timezone.utc)), 1, 1, 0, -62135596800),
    (_micros(datetime(9999, 12, 31, 23, tzinfo=timezone.utc)), 5, 31, 23, 253402297200),
]
HASH_CASES = [("", 652), ("e\u0301", 731), ("👩\u200d💻", 918), (None, 0)]


def test_documented_examples(spark):
    blank = {name: None for name in COLUMNS}
    rows = [{**blank, "s2": "Spark SQL", "i": a, "k": b} for a, b, _ in SUBSTR_CASES]
    rows += [{**blank, "s": s, "j": index} for s, index, _ in SPLIT_CASES]
    rows += [{**blank, "ts": case[0]} for case in TIME_CASES]
    rows += [{**blank, "s": s} for s, _ in HASH_CASES]
    floats = [float("-inf"), 0.999, 1.0, 5.0, float("inf"), float("nan"), -0.0, None]
    for n, row in enumerate(rows):
        row["f"] = floats[n % len(floats)]

    def build(ops):
        s, s2, i, j, k, f, ts = (ops.input(n, COLUMNS[n]) for n in ("s", "s2", "i", "j", "k", "f", "ts"))
        return {"substr": ops.call("substr", "string", s2, i, k),
                "split": ops.call("split_part", "string", s, "@", j),
                "dow": ops.call("day_of_week", "int64", ts), "dom": ops.call("day_of_month", "int64", ts),
                "hour": ops.call("hour", "int64", ts), "secs": ops.call("unix_seconds", "int64", ts),
                "hash": ops.call("hash_bucket", "int64", s, 1000),
                "bucket": ops.call("bucketize", "int64", f, [1.0, 2.0, 5.0])}

    numpy_out, spark_out, dtypes = run_both(spark, rows, build)
    assert_parity(rows, numpy_out, spark_out, dtypes)
    at = 0
    for n, case in enumerate(SUBSTR_CASES):
        assert spark_out["substr"][at + n] == case[2], case
    at += len(SUBSTR_CASES)
    for n, case in enumerate(SPLIT_CASES):
        assert spark_out["split"][at + n] == case[2], case
    at += len(SPLIT_CASES)
    for n, (_, dow, dom, hour, secs) in enumerate(TIME_CASES):
        got = tuple(spark_out[key][at + n] for key in ("dow", "dom", "hour", "secs"))
        assert got == (dow, dom, hour, secs)
    at += len(TIME_CASES)
    for n, (_, bucket) in enumerate(HASH_CASES):
        assert spark_out["hash"][at + n] == bucket
    assert spark_out["bucket"][:8] == [0, 0, 1, 3, 3, None, 0, None]


@pytest.mark.parametrize("function,args", [("hash_bucket", (10,)), ("cross", ("s", 10)), ("concat", ("s",))])
def test_float_string_form_is_rejected_by_both(spark, function, args):
    """float64 has no string form both executors compute (to_string(float64) is rejected): hashing or
    concatenating a float fails the same way in both, at build time, never with different results."""
    rows = rows_for(1, 5)
    for o in (numpy_ops(rows), spark_ops(spark, rows)):
        f = o.input("f", "float64")
        values = [o.input(a, "string") if a == "s" else a for a in args]
        if function == "cross":
            values = [values[0], *values[1:]]
        with pytest.raises((TypeError, Exception)) as info:
            o.call(function, "int64" if function != "concat" else "string", f, *values)
        assert "float64" in str(info.value) or "not implemented" in str(info.value)


def test_null_literal_arguments(spark):
    rows = rows_for(3, 20)

    def build(ops):
        null = ops.const(None, "null")
        s, j = ops.input("s", "string"), ops.input("j", "int64")
        return {"lower": ops.call("lower", "string", null), "length": ops.call("length", "int64", null),
                "substr": ops.call("substr", "string", s, null, j), "split": ops.call("split_part", "string", null, "@", j),
                "hour": ops.call("hour", "int64", null), "between": ops.call("seconds_between", "float64", null, null),
                "hash": ops.call("hash_bucket", "int64", null, 10), "cross": ops.call("cross", "int64", s, null, 10),
                "bucket": ops.call("bucketize", "int64", null, [1.0]),
                "concat": ops.call("concat", "string", s, null)}

    numpy_out, spark_out, dtypes = run_both(spark, rows, build)
    assert_parity(rows, numpy_out, spark_out, dtypes)
    assert set(spark_out["hash"]) == {0} and set(spark_out["cross"]) == {0}
    assert set(spark_out["lower"]) == {None}
