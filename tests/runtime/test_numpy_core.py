"""Documented semantics of operators, conditionals, math and casts (docs/semantics.md), checked
on the NumPy executor with expected values: the parity tests prove Spark agrees with NumPy, these
prove NumPy agrees with the documentation."""

from __future__ import annotations

import math
import struct
from datetime import datetime, timezone

import numpy as np
import pytest

from mlc.runtime.numpy_ops import NumpyOps, Vec

NAN, INF = float("nan"), float("inf")
MAX, MIN = 2**63 - 1, -(2**63)


def V(values, dtype):
    return Vec.of(values, dtype)


def ops(n=1):
    return NumpyOps({}, n)


def call(fn, dtype, *args):
    n = next(len(a) for a in args if isinstance(a, Vec))
    return ops(n).call(fn, dtype, *args).to_list()


def binary(op, a, b, dtype):
    return ops(len(a)).binary(op, a, b, dtype).to_list()


def bits(values):
    return [None if v is None else ("nan" if math.isnan(v) else struct.pack("<d", v)) for v in values]


def same(actual, expected):
    assert bits(actual) == bits(expected), f"{actual!r} != {expected!r}"


def micros(*args, tz=timezone.utc):
    delta = datetime(*args, tzinfo=tz) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


# ------------------------------------------------------------------ constants and operators


def test_const_keeps_negative_zero_and_types_null():
    same(ops(2).const(-0.0, "float64").to_list(), [-0.0, -0.0])
    assert ops(2).const(None, "int64").to_list() == [None, None]
    assert ops(1).const(None, "null").to_list() == [None]


def test_negation():
    assert ops(3).unary("-", V([1, MIN, None], "int64"), "int64").to_list() == [-1, None, None]
    same(ops(2).unary("-", V([0.0, NAN], "float64"), "float64").to_list(), [-0.0, NAN])
    assert ops(3).unary("not", V([True, False, None], "bool"), "bool").to_list() == [False, True, None]


def test_int64_overflow_is_null():
    assert binary("+", V([MAX, MIN, 1], "int64"), V([1, -1, 2], "int64"), "int64") == [None, None, 3]
    assert binary("-", V([MIN, MAX, 0], "int64"), V([1, -1, MIN], "int64"), "int64") == [None, None, None]
    assert binary("*", V([MIN, -1, 3037000500, 3037000499, 2**62, -(2**62)], "int64"),
                  V([-1, MIN, 3037000500, 3037000499, 2, 2], "int64"), "int64") == \
        [None, None, None, 9223372030926249001, None, MIN]


def test_mixed_arithmetic_promotes_to_float():
    same(binary("+", V([2**53 + 1], "int64"), V([0.0], "float64"), "float64"), [9007199254740992.0])


def test_division():
    same(binary("/", V([7, 1, 1, None], "int64"), V([2, 0, -3, 1], "int64"), "float64"), [3.5, None, -1 / 3, None])
    same(binary("/", V([1.0, 1.0, 0.0, INF], "float64"), V([0.0, -0.0, NAN, -INF], "float64"), "float64"),
         [None, None, NAN, NAN])


def test_remainder_follows_the_dividend():
    assert binary("%", V([-7, 7, 7, MIN, 5, None], "int64"), V([3, -3, 0, -1, MIN, 2], "int64"), "int64") == \
        [-1, 1, None, 0, 5, None]
    same(binary("%", V([-4.0, 5.5, INF, 5.5, -7.5], "float64"), V([2.0, INF, 2.0, -0.0, 2.0], "float64"), "float64"),
         [-0.0, 5.5, NAN, None, -1.5])


@pytest.mark.parametrize("op,expected", [
    ("==", [True, True, False, False, True, None]),
    ("!=", [False, False, True, True, False, None]),
    ("<", [False, False, False, True, False, None]),
    (">", [False, False, True, False, False, None]),
    ("<=", [True, True, False, True, True, None]),
    (">=", [True, True, True, False, True, None]),
])
def test_float_comparisons_follow_spark_order(op, expected):
    a = V([NAN, -0.0, NAN, 1.0, INF, None], "float64")
    b = V([NAN, 0.0, INF, NAN, INF, 1.0], "float64")
    assert binary(op, a, b, "bool") == expected


def test_int_float_comparison_converts_the_int():
    assert binary("==", V([2**53 + 1], "int64"), V([9007199254740992.0], "float64"), "bool") == [True]
    assert binary("==", V([2**53 + 1], "int64"), V([2**53], "int64"), "bool") == [False]


def test_string_order_is_code_point_order():
    assert binary("<", V(["\uffff", "a", "B"], "string"), V(["😀", "ab", "a"], "string"), "bool") == [True, True, True]


def test_three_valued_logic():
    t, f, n = True, False, None
    left = V([t, t, t, f, f, f, n, n, n], "bool")
    right = V([t, f, n, t, f, n, t, f, n], "bool")
    assert binary("and", left, right, "bool") == [t, f, n, f, f, f, n, f, n]
    assert binary("or", left, right, "bool") == [t, t, t, t, f, n, t, n, n]


def test_in_uses_sql_null_semantics():
    o = ops(4)
    x = V([1, 2, None, 3], "int64")
    options = [o.const(1, "int64"), o.const(None, "null"), o.const(3.0, "float64")]
    assert o.isin(x, options, False, "bool").to_list() == [True, None, None, True]
    assert o.isin(x, options, True, "bool").to_list() == [False, None, None, False]
    y = V([NAN, -0.0, 1.0], "float64")
    assert ops(3).isin(y, [ops(3).const(0.0, "float64"), V([NAN, NAN, NAN], "float64")], False, "bool").to_list() \
        == [True, True, False]


# ------------------------------------------------------------------ conditionals


def test_if_null_condition_takes_otherwise():
    cond = V([True, False, None], "bool")
    assert call("if", "float64", cond, V([1, 2, 3], "int64"), V([0.5, 0.5, 0.5], "float64")) == [1.0, 0.5, 0.5]


def test_coalesce_and_is_null():
    o = ops(3)
    out = o.call("coalesce", "int64", V([None, None, 1], "int64"), V([None, 2, 3], "int64"), o.const(None, "null"))
    assert out.to_list() == [None, 2, 1]
    assert call("is_null", "bool", V([None, "a"], "string")) == [True, False]


# ------------------------------------------------------------------ math


def test_log_family_domains():
    same(call("log", "float64", V([0.0, -0.0, -1.0, NAN, INF, 1.0, None], "float64")),
         [None, None, None, NAN, INF, 0.0, None])
    same(call("log1p", "float64", V([-1.0, -2.0, 0.0, -0.0], "float64")), [None, None, 0.0, -0.0])
    same(call("sqrt", "float64", V([-1.0, -0.0, 4.0, INF], "float64")), [None, -0.0, 2.0, INF])


def test_exp_overflow_is_null():
    same(call("exp", "float64", V([709.782712893384, 709.7827128933841, INF, -INF, NAN, 0.0], "float64")),
         [1.7976931348622732e308, None, INF, 0.0, NAN, 1.0])


def test_abs():
    assert call("abs", "int64", V([MIN, -3, None], "int64")) == [None, 3, None]
    same(call("abs", "float64", V([-0.0, -INF, NAN], "float64")), [0.0, INF, NAN])


def test_pow_not_real_is_null_with_java_special_cases():
    base = V([-8.0, -8.0, 1.0, NAN, -1.0, 0.0, -8.0, 2.0], "float64")
    exponent = V([0.5, 1 / 3, NAN, 0.0, INF, -1.0, 3.0, 10.0], "float64")
    same(call("pow", "float64", base, exponent), [None, None, NAN, 1.0, None, INF, -512.0, 1024.0])


def test_clip():
    x = V([5, -1, None, 2, 5], "int64")
    lo = V([0, None, 0, None, 3], "int64")
    hi = V([3, 3, 1, None, 1], "int64")
    assert call("clip", "int64", x, lo, hi) == [3, -1, None, 2, 1]        # lo > hi: hi wins
    same(call("clip", "float64", V([NAN, -0.0], "float64"), V([0.0, 0.0], "float64"), V([1.0, 1.0], "float64")),
         [1.0, -0.0])                                                       # NaN is the greatest value


def test_least_greatest_skip_nulls_keep_first_on_ties():
    same(call("least", "float64", V([1.0, None, 0.0, NAN], "float64"), V([None, None, -0.0, 2.0], "float64"),
              V([-2.0, None, -1.0, NAN], "float64")), [-2.0, None, -1.0, 2.0])
    same(call("greatest", "float64", V([0.0, NAN, -0.0], "float64"), V([-0.0, INF, 0.0], "float64")),
         [0.0, NAN, -0.0])
    assert call("least", "string", V(["b", None], "string"), V(["a", "z"], "string")) == ["a", "z"]


def test_floor_ceil():
    x = V([-0.5, 0.5, NAN, INF, 9.3e18, -9223372036854775808.0, 9223372036854775808.0, -0.0, None], "float64")
    assert call("floor", "int64", x) == [-1, 0, None, None, None, MIN, None, 0, None]
    assert call("ceil", "int64", x) == [0, 1, None, None, None, MIN, None, 0, None]
    assert call("floor", "int64", V([MAX, None], "int64")) == [MAX, None]


@pytest.mark.parametrize("x,digits,expected", [
    (2.5, 0, 3.0), (-2.5, 0, -3.0), (0.49999999999999994, 0, 0.0), (-0.2, 0, -0.0), (1.25, 1, 1.3),
    (-1.25, 1, -1.3), (1.005, 2, 1.0), (0.125, 2, 0.13), (1234.5, -2, 1200.0), (1250.0, -2, 1300.0),
    (1e300, 2, 1e300), (4503599627370495.5, 0, 4503599627370496.0), (NAN, 0, NAN), (-INF, 3, -INF),
    (123.456, 400, 123.456), (-123.0, -400, -0.0), (5e-324, 2, 0.0), (0.5, -1, 0.0), (5.0, -1, 10.0),
])
def test_round_float(x, digits, expected):
    same(call("round", "float64", V([x], "float64"), digits), [expected])


@pytest.mark.parametrize("x,digits,expected", [
    (150, -2, 200), (-150, -2, -200), (149, -2, 100), (7, 2, 7), (MAX, -2, 9223372036854775800),
    (MAX, -1, None), (MIN, -1, None), (MIN, -2, -9223372036854775800), (5 * 10**18, -19, None),
    (4999999999999999999, -19, 0), (MIN, -20, 0), (-5, -1, -10), (-4, -1, 0),
])
def test_round_int(x, digits, expected):
    assert call("round", "int64", V([x], "int64"), digits) == [expected]


# ------------------------------------------------------------------ casts


def test_to_int():
    strings = [" 12 ", "+5", "-0", "007", "1.5", "1e5", "\u0663", "\uff11", "9223372036854775808",
               "-9223372036854775808", "", "1 2", "12\u2028", "\t-7\x0b", None]
    assert call("to_int", "int64", V(strings, "string")) == \
        [12, 5, 0, 7, None, None, None, None, None, MIN, None, None, None, -7, None]
    assert call("to_int", "int64", V([-1.9, 1.9, NAN, INF, 9.3e18, -9223372036854775808.0], "float64")) == \
        [-1, 1, None, None, None, MIN]
    assert call("to_int", "int64", V([True, False, None], "bool")) == [1, 0, None]
    assert call("to_int", "int64", V([-1, 1_999_999], "timestamp")) == [-1, 1]


def test_to_float():
    strings = ["1e5", ".5", "5.", " -Infinity ", "inf", "+INF", "nan", "-NaN", "1d", "0x10", "1_000", "\uff11",
               "1e", "1e400", "-0", "4.9e-324", "Infinit"]
    same(call("to_float", "float64", V(strings, "string")),
         [1e5, 0.5, 5.0, -INF, INF, INF, NAN, NAN, None, None, None, None, None, INF, -0.0, 5e-324, None])
    same(call("to_float", "float64", V([1_500_000, -1], "timestamp")), [1.5, -1e-6])
    same(call("to_float", "float64", V([2**53 + 1], "int64")), [9007199254740992.0])


def test_to_string():
    assert call("to_string", "string", V([12, MIN, None], "int64")) == ["12", "-9223372036854775808", None]
    assert call("to_string", "string", V([True, False], "bool")) == ["true", "false"]
    assert call("to_string", "string", V([0, 1_500_000, -1, micros(1, 1, 1)], "timestamp")) == \
        ["1970-01-01T00:00:00Z", "1970-01-01T00:00:01.500000Z", "1969-12-31T23:59:59.999999Z",
         "0001-01-01T00:00:00Z"]
    with pytest.raises(TypeError):
        call("to_string", "string", V([1.5], "float64"))


def test_to_bool():
    assert call("to_bool", "bool", V(["TRUE", " false ", "t", "yes", "1", None], "string")) == \
        [True, False, None, None, None, None]
    assert call("to_bool", "bool", V([0.0, -0.0, NAN, 2.0], "float64")) == [False, False, True, True]
    assert call("to_bool", "bool", V([0, -3], "int64")) == [False, True]
    assert call("to_bool", "bool", V([0, 1], "timestamp")) == [False, True]


def test_to_timestamp_from_numbers():
    assert call("to_timestamp", "timestamp", V([1, -1, 253402300799, 253402300800, None], "int64")) == \
        [1_000_000, -1_000_000, 253402300799_000_000, None, None]
    assert call("to_timestamp", "timestamp", V([1.5, -0.0000005, NAN, INF, -62135596800.0, -62135596800.5],
                                               "float64")) == [1_500_000, -1, None, None, -62135596800_000_000, None]
    assert call("to_timestamp", "timestamp", V([True, False], "bool")) == [1_000_000, 0]


def test_to_timestamp_from_strings():
    strings = ["2024-02-29", "2023-02-29", " 2024-01-01T00:00:00+05:30 ", "2024-01-01 12:30:45.5Z",
               "2024-01-01T24:00:00", "2024-01-01T00:00:00.1234567", "2024-01-01T00:00", "2024-1-01",
               "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59.999999Z", "2024-01-01T00:00:00z", "1900-02-29",
               "2000-02-29T23:59:59-23:59"]
    assert call("to_timestamp", "timestamp", V(strings, "string")) == [
        micros(2024, 2, 29), None, micros(2023, 12, 31, 18, 30), micros(2024, 1, 1, 12, 30, 45, 500000), None,
        None, None, None, None, micros(9999, 12, 31, 23, 59, 59, 999999), None, None,
        micros(2000, 3, 1, 23, 58, 59)]


def test_a_large_batch_is_computed_whole_column_at_a_time():
    """A 200k-row batch through arithmetic, comparisons and math matches NumPy's own column results.

    Speed is measured by bench/preprocess_online.py, never asserted here."""
    n = 200_000
    rng = np.random.default_rng(0)
    o = NumpyOps({}, n)
    x = Vec(rng.integers(-(2**62), 2**62, n), np.ones(n, dtype=bool), "int64")
    y = Vec(rng.normal(size=n), np.ones(n, dtype=bool), "float64")
    small = Vec(x.data >> 32, x.valid, "int64")
    product = o.binary("*", small, small, "int64")
    assert product.valid.all() and np.array_equal(product.data, small.data * small.data)
    assert not o.binary("*", x, x, "int64").valid.any()             # every product overflows: null
    less = o.binary("<", x, y, "bool")
    assert np.array_equal(less.data, x.data.astype(np.float64) < y.data)
    clipped = o.call("clip", "float64", y, o.const(-1.0, "float64"), o.const(1.0, "float64"))
    assert np.array_equal(clipped.data, np.clip(y.data, -1.0, 1.0))
    floored = o.call("floor", "int64", y)
    assert floored.dtype == "int64" and np.array_equal(floored.data, np.floor(y.data).astype(np.int64))
    rounded = o.call("round", "float64", y, 2)
    assert len(rounded) == n and np.allclose(rounded.data, y.data, atol=0.005 + 1e-12)
