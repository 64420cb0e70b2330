"""Timestamp columns in a datetime format: the Spark reader and the online parser agree value for
value (mlc.runtime.features.timestamp_formats), and the documented values hold."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mlc.core.datetime_format import FormatError, compile_format
from mlc.runtime.features.timestamp_formats import parse


def micros(*args) -> int:
    moment = datetime(*args, tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


FORMATS = ["yyMMddHH", "yyyyMMdd", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.SSS", "dd/MM/yyyy",
           "yyyy-MM-dd'T'HH:mm:ssXXX", "HH:mm", "yyyy.MM.dd 'at' HH''mm"]
VALUES = [
    # Avazu hours, integers and short digit strings (left-padded), invalid dates and hours
    14102100, "14102100", "14102123", "14102124", "14023000", "14022900", "16022900", "5010100", 5010100,
    "141021001", "1410210", "-1410210", " 14102100 ", "\t14102100\n", "14 102100", "１４102100",
    # dates and times
    "20240229", "20230229", "20241301", "00000101", "00010101", "99991231", "2024-06-01 12:00:00",
    "2024-6-1 12:00:00", "2024-06-01 24:00:00", "2024-06-01 12:60:00", "2024-06-01 12:00:60",
    "2024-06-01 12:00:00.1", "2024-06-01 12:00:00.123", "2024-06-01 12:00:00.1234", "2024-06-01 12:00:00.",
    "01/06/2024", "1/06/2024", "31/04/2024", "2024-06-01T12:00:00Z", "2024-06-01T12:00:00+02:00",
    "2024-06-01T12:00:00-23:59", "2024-06-01T12:00:00+24:00", "2024-06-01T12:00:00+0200",
    "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "12:34", "2024.06.01 at 12'34", "", "  ",
    "2024-06-01 12:00:00\u2028",
]


def test_documented_values():
    assert parse(14102100, "yyMMddHH") == micros(2014, 10, 21, 0)
    assert parse("14102123", "yyMMddHH") == micros(2014, 10, 21, 23)
    assert parse(5010100, "yyMMddHH") == micros(2005, 1, 1, 0)            # zero-padded: 05010100
    assert parse("14023000", "yyMMddHH") is None                           # Feb 30
    assert parse("141021001", "yyMMddHH") is None                          # a digit too many
    assert parse("2024-06-01 12:00:00.12", "yyyy-MM-dd HH:mm:ss.SSS") == micros(2024, 6, 1, 12, 0, 0, 120000)
    assert parse("2024-06-01T12:00:00+02:00", "yyyy-MM-dd'T'HH:mm:ssXXX") == micros(2024, 6, 1, 10)
    assert parse("12:34", "HH:mm") == micros(1970, 1, 1, 12, 34)
    assert parse(" 20240229 ", "yyyyMMdd") == micros(2024, 2, 29)
    assert parse("0001-01-01T00:30:00+01:00", "yyyy-MM-dd'T'HH:mm:ssXXX") is None   # before year 1 in UTC
    assert parse(True, "yyMMddHH") is None and parse(1.5, "yyMMddHH") is None


def test_spark_reads_every_value_as_the_online_parser(spark):
    from mlc.runtime.features.timestamp_formats import with_parsed

    texts = [str(v) for v in VALUES] + [None]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i bigint, s string")
    items = [(f"t{n}", "s", pattern) for n, pattern in enumerate(FORMATS)]
    out = with_parsed(df, items).selectExpr("i", *[f"unix_micros(t{n}) as t{n}" for n in range(len(FORMATS))])
    rows = {r["i"]: r for r in out.collect()}
    compared = 0
    for i, text in enumerate(texts):
        for n, pattern in enumerate(FORMATS):
            expected = parse(text, pattern) if text is not None else None
            assert rows[i][f"t{n}"] == expected, (pattern, text)
            compared += 1
    assert compared == len(texts) * len(FORMATS)


def test_integer_columns_read_as_their_text(spark):
    from mlc.runtime.features.timestamp_formats import with_parsed

    df = spark.createDataFrame([(14102100,), (5010100,), (-1,), (None,)], "h bigint")
    got = [r[0] for r in with_parsed(df, [("t", "h", "yyMMddHH")]).selectExpr("unix_micros(t)").collect()]
    assert got == [parse(14102100, "yyMMddHH"), parse(5010100, "yyMMddHH"), None, None]


def test_a_filter_on_a_formatted_column_stays_compiled(spark):
    """The instant is a small expression: a filter pushed down to the scan inlines it without
    growing the generated code past the JVM's method limit (Spark would fall back, slower)."""
    from mlc.runtime.features.timestamp_formats import with_parsed

    df = spark.createDataFrame([("14102100",), ("14102101",)], "s string")
    parsed = with_parsed(df, [("t", "s", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX")] + [("u", "s", "yyMMddHH")])
    plan = parsed.where("u > timestamp'2014-10-21 00:30:00'")._jdf.queryExecution().executedPlan().toString()
    assert plan.startswith("*")                  # whole-stage code generation kept
    assert parsed.where("u > timestamp'2014-10-21 00:30:00'").count() == 1


@pytest.mark.parametrize("pattern, message, start, end", [
    ("MMM dd yyyy", "`MMM` is not a field mlc reads", 0, 3),
    ("YYYY-MM-dd", "`Y` is a week-based field Spark refuses", 0, 4),
    ("yyyy-MM-dd n", "`n` is not a Spark pattern letter", 11, 12),
    ("yyyy'T", "the quoted text is not closed", 4, 6),
    ("yyyy[-MM]", "optional sections", 4, 5),
    ("yyyy#", "`#` is reserved", 4, 5),
    ("yy yyyy", "repeats a field", 3, 7),
    ("ss.SSSmm", "must not be followed directly by another number", 3, 7),
    ("---", "has no date or time field", 0, 3),
])
def test_invalid_formats_say_what_and_where(pattern, message, start, end):
    with pytest.raises(FormatError) as caught:
        compile_format(pattern)
    assert message in str(caught.value)
    assert (caught.value.start, caught.value.end) == (start, end)
