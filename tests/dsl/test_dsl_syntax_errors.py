import pytest

from mlc.dsl import ExprSyntaxError, parse_expression


def issue_of(text):
    with pytest.raises(ExprSyntaxError) as caught:
        parse_expression(text)
    return caught.value.issue


@pytest.mark.parametrize(
    "text, code, message, span",
    [
        ("a +", "E3002", "expected an expression after `+`", (2, 3)),
        ("a + * b", "E3002", "expected an expression after `+`, found `*`", (4, 5)),
        ("* 2", "E3002", "expected an expression, found `*`", (0, 1)),
        ("not", "E3002", "expected an expression after `not`", (0, 3)),
        ("x in 5", "E3002", "expected a list `[...]` after `in`, found `5`", (5, 6)),
        ("f(a,", "E3002", "expected an expression after `,`", (3, 4)),
        ("log1p(x", "E3003", "unclosed `(`", (5, 6)),
        ("[1, 2", "E3003", "unclosed `[`", (0, 1)),
        ("'abc", "E3004", "unterminated string", (0, 4)),
        ('a == "abc', "E3004", "unterminated string", (5, 9)),
        ("a # b", "E3005", "unexpected character `#`", (2, 3)),
        ("'\\q'", "E3006", "invalid escape sequence `\\q`", (1, 3)),
        ("a)", "E3007", "unmatched `)`", (1, 2)),
        ("(a]", "E3007", "unmatched `]`", (2, 3)),
        ("", "E3008", "empty expression", (0, 0)),
        ("   ", "E3008", "empty expression", (0, 3)),
        ("a < b < c", "E3009", "comparisons cannot be chained", (6, 7)),
        ("a b", "E3001", "expected an operator before `b`", (2, 3)),
        ("a.", "E3001", "expected a name after `.`", (1, 2)),
        ("x not y", "E3001", "expected `in` after `not`, found `y`", (6, 7)),
    ],
)
def test_friendly_messages_and_offsets(text, code, message, span):
    issue = issue_of(text)
    assert (issue.code, issue.message, (issue.start, issue.end)) == (code, message, span)


@pytest.mark.parametrize(
    "text, hint", [("a = b", "use `==` to compare"), ("a && b", "use `and`"), ("a || b", "use `or`")]
)
def test_hints_for_operators_from_other_languages(text, hint):
    issue = issue_of(text)
    assert issue.code == "E3005" and issue.hint == hint


def test_missing_comma_between_arguments_hints_at_comma():
    issue = issue_of("concat(a b)")
    assert issue.code == "E3001" and "`,`" in issue.hint


def test_syntax_error_is_a_value_error_with_issue_in_message():
    with pytest.raises(ValueError, match="E3002"):
        parse_expression("a -")
