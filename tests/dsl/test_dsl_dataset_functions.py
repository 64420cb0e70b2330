"""The expression-language side of issue 15: the `//` operator (grammar, precedence, folding,
canonical text), and the type rules and located errors of `nullif`, `to_timestamp(x, format)`,
`make_timestamp`, `date_format`, calendar parts in a zone, `sin`/`cos`, `split`/`size`, `replace`."""

from __future__ import annotations

import pytest

from mlc.dsl import (BOOL, FLOAT64, INT64, NULL, STRING, TIMESTAMP, ExprSyntaxError, check_text, list_of,
                     parse_expression, to_json, to_source)
from mlc.dsl.ast import Binary


def check(text, scope):
    return check_text(text, scope)


def only(issues):
    assert len(issues) == 1, issues
    return issues[0]


# ------------------------------------------------------------------ `//`


def test_floor_slash_binds_like_star_and_round_trips():
    tree = parse_expression("a - b // c * d")
    assert isinstance(tree, Binary) and tree.op == "-"
    assert tree.right.op == "*" and tree.right.left.op == "//"
    for text in ["a // b", "(a + b) // 2", "a // (b // c)", "a // b // c", "-a // -b", "a // b % c"]:
        assert to_source(parse_expression(to_source(parse_expression(text)))) == to_source(parse_expression(text))
        assert parse_expression(to_source(parse_expression(text))) == parse_expression(text)
    assert to_source(parse_expression("a // (b // c)")) == "a // (b // c)"


def test_floor_slash_syntax_errors_are_friendly():
    with pytest.raises(ExprSyntaxError) as error:
        parse_expression("quantity //")
    assert error.value.issue.code == "E3002" and "`//`" in error.value.issue.message
    with pytest.raises(ExprSyntaxError) as error:
        parse_expression("quantity /// 2")
    assert error.value.issue.code == "E3002"


@pytest.mark.parametrize("text, value", [
    ("7 // 2", 3), ("-7 // 2", -3), ("7 // -2", -3), ("-7 // -2", 3), ("0 // -5", 0), ("5 // 0", None),
    ("null // 2", None), ("9223372036854775807 // -1", -9223372036854775807),
    ("(-9223372036854775807 - 1) // 1", -(2**63)), ("7 // 2 * 2 + 7 % 2", 7), ("-7 // 2 * 2 + -7 % 2", -7),
])
def test_floor_slash_folds_with_truncation(text, value, scope):
    typed, issues = check(text, scope)
    assert issues == [] and typed.is_constant and typed.value == value


def test_floor_slash_types(scope):
    assert check("quantity // 3", scope)[0].dtype == INT64
    assert check("quantity // null", scope)[0].dtype == INT64
    assert check("null // null", scope)[0].dtype == NULL
    issue = only(check("amount // 2", scope)[1])
    assert issue.code == "E4012" and issue.hint == "for float64 write `floor(a / b)` or `to_int(a / b)`"
    assert only(check("city // 2", scope)[1]).hint is None
    overflow = only(check("(-9223372036854775807 - 1) // -1", scope)[1])
    assert overflow.code == "E4006"


def test_floor_slash_in_json_and_generated_module():
    from mlc.dsl import MappingScope

    typed, _ = check_text("q // 10", MappingScope({"q": INT64}))
    assert to_json(typed) == {"kind": "binary", "dtype": "int64", "op": "//",
                              "left": {"kind": "ref", "dtype": "int64", "name": "q"},
                              "right": {"kind": "constant", "dtype": "int64", "value": 10}}


# ------------------------------------------------------------------ functions


@pytest.mark.parametrize("text, dtype", [
    ("nullif(quantity, -1)", INT64), ("nullif(quantity, 0.5)", INT64), ("nullif(city, '')", STRING),
    ("nullif(null, 1)", NULL), ("nullif(event_time, pickup_time)", TIMESTAMP), ("sin(quantity)", FLOAT64),
    ("cos(amount)", FLOAT64), ("to_timestamp(city, 'yyyy-MM-dd')", TIMESTAMP),
    ("to_timestamp(quantity, 'yyMMddHH')", TIMESTAMP), ("to_timestamp(null, 'yyyy')", TIMESTAMP),
    ("make_timestamp(2024, 2, 29)", TIMESTAMP), ("make_timestamp(quantity, 1, 1, 23, 59, 59)", TIMESTAMP),
    ("date_format(event_time, 'yyyy-MM-dd')", STRING), ("date_format(event_time, 'HH:mm', 'Asia/Kolkata')", STRING),
    ("hour(event_time, 'America/New_York')", INT64), ("day_of_week(event_time, 'UTC')", INT64),
    ("day_of_month(event_time, 'Etc/GMT+5')", INT64), ("split(city, '|')", list_of(STRING)),
    ("size(split(city, '|'))", INT64), ("size(tags)", INT64), ("replace(city, '-', ' ')", STRING),
    ("replace(city, status, user_id)", STRING), ("hour(event_time, 'Asia/Shanghai') // 6 == 1", BOOL),
])
def test_function_types(text, dtype, scope):
    typed, issues = check(text, scope)
    assert issues == [] and typed.dtype == dtype


def test_omitted_arguments_stay_out_of_the_typed_tree(scope):
    """`hour(ts)` keeps one argument (the JSON of existing specs does not change); defaults of
    `make_timestamp` are filled in."""
    assert len(to_json(check("hour(event_time)", scope)[0])["args"]) == 1
    assert len(to_json(check("to_timestamp(city)", scope)[0])["args"]) == 1
    assert len(to_json(check("hour(event_time, 'UTC')", scope)[0])["args"]) == 2
    assert len(to_json(check("make_timestamp(2024, 1, 1)", scope)[0])["args"]) == 6


def test_signatures_show_omitted_parameters():
    from mlc.dsl import CATALOGUE

    assert CATALOGUE["hour"].signature() == "hour(ts: timestamp, [tz: const string]) -> int64"
    assert CATALOGUE["to_timestamp"].signature() == "to_timestamp(x: scalar, [format: const string]) -> timestamp"


@pytest.mark.parametrize("text, code, span, message", [
    ("to_timestamp(city, 'yyyy-MM-dd EEE')", "E4015", (31, 34), "`EEE` is not a field mlc reads"),
    ("to_timestamp(city, 'yyyy-MM-dd hh')", "E4015", (31, 33), "`hh` is not a field mlc reads"),
    ("to_timestamp(city, 'yyyy[MM]')", "E4015", (24, 25), "optional sections"),
    ("to_timestamp(city, \"yyyy-MM-dd'T\")", "E4015", (30, 32), "quoted text is not closed"),
    ("date_format(event_time, 'MM-dd')", None, None, None),
    ("date_format(event_time, 'yyyy yy')", "E4015", (30, 32), "repeats a field"),
    ("date_format(event_time, '-')", "E4015", (25, 26), "has no date or time field"),
    ("to_timestamp(city, 'yyyy\\u002dMM EEE')", "E4015", (19, 37), "`EEE`"),     # escapes: the whole literal
    ("to_timestamp(city, quantity)", "E4004", (19, 27), "must be string"),
    ("to_timestamp(city, status)", "E4005", (19, 25), "must be a constant"),
    ("to_timestamp(amount, 'yyyy')", "E4004", (13, 19), "must be string or int64 with a format"),
    ("to_timestamp(city, null)", "E4006", (19, 23), "cannot be null"),
    ("hour(event_time, 'asia/shanghai')", "E4016", (17, 32), "not a known time zone"),
    ("hour(event_time, 'EST5EDT')", "E4016", (17, 26), "not a known time zone"),
    ("day_of_week(event_time, city)", "E4005", (24, 28), "must be a constant"),
    ("unix_seconds(event_time, 'UTC')", "E4003", (0, 31), "takes 1 argument"),
    ("nullif(city, 1)", "E4004", (13, 14), "(int64) cannot be compared with `x` (string)"),
    ("nullif(tags, 1)", "E4004", (7, 11), "must be scalar"),
    ("size([1, 2])", "E4006", (5, 11), "must be computed"),
    ("size(null)", "E4006", (5, 9), "must be computed"),
    ("size(city)", "E4004", (5, 9), "must be list<any>"),
    ("coalesce(split(city, ','), tags)", "E4017", (9, 25), "cannot be a list"),
    ("split(city, '')", "E4006", (12, 14), "must be a non-empty string"),
    ("split(city, status)", "E4005", (12, 18), "must be a constant"),
    ("make_timestamp(2024, 1, 1.5)", "E4004", (24, 27), "must be int64"),
    ("sin(city)", "E4004", (4, 8), "must be numeric"),
])
def test_located_errors(text, code, span, message, scope):
    issues = check(text, scope)[1]
    if code is None:
        assert issues == []
        return
    issue = issues[0]
    assert (issue.code, (issue.start, issue.end)) == (code, span), issues
    assert message in issue.message


def test_unknown_time_zone_suggests_the_nearest():
    from mlc.dsl import MappingScope

    issue = only(check_text("hour(t, 'Asia/Shangai')", MappingScope({"t": TIMESTAMP}))[1])
    assert issue.hint == "did you mean `Asia/Shanghai`?"
    issue = only(check_text("hour(t, 'Nowhere')", MappingScope({"t": TIMESTAMP}))[1])
    assert "IANA `Area/Location` name" in issue.hint
