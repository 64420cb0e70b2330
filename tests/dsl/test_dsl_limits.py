"""Depth and size limits of one expression (mlc.dsl.limits): exact bounds, located issues, and
no recursion before the check."""

from __future__ import annotations

import pytest

from mlc.dsl import (ExprSyntaxError, FLOAT64, MappingScope, Unary, check_expression, check_text, parse_expression,
                     to_json, to_source)
from mlc.dsl.ast import Ref
from mlc.dsl.limits import MAX_DEPTH, MAX_NODES

SCOPE = MappingScope({"x": FLOAT64})


def issue_of(text: str):
    with pytest.raises(ExprSyntaxError) as caught:
        parse_expression(text)
    return caught.value.issue


AT_THE_LIMIT = [
    "-" * MAX_DEPTH + "x",
    "abs(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH,
    "not " * (MAX_DEPTH - 1) + "(x > 1)",
    " + ".join(["x"] * (MAX_DEPTH + 1)),
    "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH,
    "[" * MAX_DEPTH + "x" + "]" * MAX_DEPTH,
    "coalesce(" + ", ".join(["x"] * (MAX_NODES - 1)) + ")",
]


@pytest.mark.parametrize("text", AT_THE_LIMIT, ids=range(len(AT_THE_LIMIT)))
def test_expressions_at_the_limits_parse_check_and_serialize(text):
    expr = parse_expression(text)
    typed, issues = check_expression(expr, SCOPE, "derived")
    assert [i for i in issues if i.code.startswith("E3")] == []
    to_json(typed)
    assert parse_expression(to_source(expr)) == expr


@pytest.mark.parametrize("text, start, end", [
    ("-" * (MAX_DEPTH + 1) + "x", MAX_DEPTH, MAX_DEPTH + 2),
    (" + ".join(["x"] * (MAX_DEPTH + 2)), 0, 5),   # left-deep: the innermost `x + x` is level 65
    ("not " * MAX_DEPTH + "(x > 1)", 4 * MAX_DEPTH + 1, 4 * MAX_DEPTH + 6),
])
def test_one_level_too_deep_is_e3010_at_the_first_sub_expression_beyond(text, start, end):
    issue = issue_of(text)
    assert (issue.code, issue.start, issue.end) == ("E3010", start, end)
    assert issue.message == f"expression nested too deeply: more than {MAX_DEPTH} levels of operators, calls and lists"
    assert issue.hint == "simplify it, or split it into derived features that reference each other"


@pytest.mark.parametrize("opening, closing", [("(", ")"), ("[", "]"), ("abs(", ")")])
def test_one_bracket_too_deep_is_e3010_at_that_bracket(opening, closing):
    text = opening * (MAX_DEPTH + 1) + "x" + closing * (MAX_DEPTH + 1)
    issue = issue_of(text)
    position = len(opening) * (MAX_DEPTH + 1) - 1
    assert (issue.code, issue.start, issue.end) == ("E3010", position, position + 1)
    assert issue.message == f"expression nested too deeply: more than {MAX_DEPTH} levels of brackets"


def test_brackets_inside_strings_do_not_count():
    text = "concat(x_text, '" + "(" * 500 + "', \"" + "[" * 500 + "\")"
    assert parse_expression(text).name == "concat"


def test_unbalanced_brackets_are_still_syntax_errors():
    assert issue_of("(" * 10 + "x").code == "E3003"
    assert issue_of("x" + ")" * 10).code == "E3007"


def test_one_node_too_many_is_e3011_on_the_whole_expression():
    text = "coalesce(" + ", ".join(["x"] * MAX_NODES) + ")"
    issue = issue_of(text)
    assert (issue.code, issue.start, issue.end) == ("E3011", 0, len(text))
    assert issue.message == f"expression too large: more than {MAX_NODES} operators, calls, names and literals"


@pytest.mark.parametrize("text", [
    "abs(" * 1000 + "x" + ")" * 1000,
    "-" * 1000 + "x",
    "not " * 1000 + "x",
    "(" * 100_000 + "x" + ")" * 100_000,
    "[" * 1000 + "x" + "]" * 1000,
    " + ".join(["x"] * 7000),
    " and ".join(["x > 1"] * 7000),
])
def test_pathological_nesting_is_a_located_issue_not_a_recursion_error(text):
    typed, issues = check_text(text, SCOPE, "derived")
    assert typed is None and [issue.code for issue in issues] == ["E3010"]
    assert 0 <= issues[0].start < issues[0].end <= len(text)


def test_trees_built_in_code_are_measured_before_they_are_walked():
    tree = Ref(("x",), 0, 1)
    for _ in range(5000):
        tree = Unary("-", tree, 0, 1)
    typed, issues = check_expression(tree, SCOPE, "derived")
    assert [issue.code for issue in issues] == ["E3010"] and typed.dtype.is_error


@pytest.mark.parametrize("digits", [20, 5000, 100_000])
def test_an_integer_literal_beyond_int64_is_e4006_never_a_crash(digits):
    # BUG: the parser converted every literal with int(), which refuses past 4300 digits
    text = "x + " + "9" * digits
    _, issues = check_text(text, SCOPE)
    assert [(i.code, i.message, i.start, i.end) for i in issues] == [
        ("E4006", "integer literal does not fit in int64", 4, 4 + digits)]


def test_the_largest_int64_literal_is_fine_and_leading_zeros_do_not_count():
    for text in ("x + 9223372036854775807", "x + " + "0" * 30 + "7"):
        _, issues = check_text(text, SCOPE)
        assert issues == [], text
