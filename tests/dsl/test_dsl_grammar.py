import pytest

from mlc.dsl import Binary, Call, InOp, ListLit, Literal, Ref, Unary, parse_expression as parse


def lit(value, kind):
    return Literal(value, kind, 0, 0)


def ref(*parts):
    return Ref(tuple(parts), 0, 0)


def binary(op, left, right):
    return Binary(op, left, right, 0, 0)


@pytest.mark.parametrize(
    "text, value, kind",
    [
        ("42", 42, "int"),
        ("3.5", 3.5, "float"),
        ("1e-3", 0.001, "float"),
        ("2E10", 2e10, "float"),
        (".5", 0.5, "float"),
        ("'it''s'".replace("''", "\\'"), "it's", "string"),
        ('"a\\"b"', 'a"b', "string"),
        ("'tab\\tnew\\nline\\\\'", "tab\tnew\nline\\", "string"),
        ("'\\u00e9'", "é", "string"),
        ("'北京'", "北京", "string"),
        ("true", True, "bool"),
        ("false", False, "bool"),
        ("null", None, "null"),
    ],
)
def test_literals(text, value, kind):
    node = parse(text)
    assert node == lit(value, kind)
    assert (node.start, node.end) == (0, len(text))


def test_list_literal_and_empty_list():
    assert parse("[1, 2.5, 'x']") == ListLit((lit(1, "int"), lit(2.5, "float"), lit("x", "string")), 0, 0)
    assert parse("[]") == ListLit((), 0, 0)


def test_dotted_reference_and_keyword_prefixed_names():
    node = parse("user_activity.clicks_7d")
    assert node == ref("user_activity", "clicks_7d")
    assert (node.start, node.end) == (0, 23)
    expected = binary("+", binary("+", ref("notable"), ref("index")), ref("order_id"))
    assert parse("notable + index + order_id") == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a + b * c", binary("+", ref("a"), binary("*", ref("b"), ref("c")))),
        ("a - b - c", binary("-", binary("-", ref("a"), ref("b")), ref("c"))),
        ("a / b % c", binary("%", binary("/", ref("a"), ref("b")), ref("c"))),
        ("(a + b) * c", binary("*", binary("+", ref("a"), ref("b")), ref("c"))),
        ("-a * b", binary("*", Unary("-", ref("a"), 0, 0), ref("b"))),
        ("a or b and c", binary("or", ref("a"), binary("and", ref("b"), ref("c")))),
        ("not a == b", Unary("not", binary("==", ref("a"), ref("b")), 0, 0)),
        ("a + 1 > b * 2", binary(">", binary("+", ref("a"), lit(1, "int")), binary("*", ref("b"), lit(2, "int")))),
        ("not a and b", binary("and", Unary("not", ref("a"), 0, 0), ref("b"))),
        ("x in [1, 2] or y", binary("or", InOp(False, ref("x"), (lit(1, "int"), lit(2, "int")), 0, 0), ref("y"))),
        ("x + 1 not in [2]", InOp(True, binary("+", ref("x"), lit(1, "int")), (lit(2, "int"),), 0, 0)),
        ("--a", Unary("-", Unary("-", ref("a"), 0, 0), 0, 0)),
    ],
)
def test_precedence(text, expected):
    assert parse(text) == expected


def test_calls_with_any_number_of_arguments():
    assert parse("count()") == Call("count", (), 0, 0, 0, 0)
    assert parse("if(c, a, b)") == Call("if", (ref("c"), ref("a"), ref("b")), 0, 0, 0, 0)
    nested = parse("coalesce(rider_activity.deliveries_1h, 0) / 7")
    assert nested.left.name == "coalesce" and nested.left.args[0] == ref("rider_activity", "deliveries_1h")


def test_spans_are_exact():
    text = "log1p(distance_km) + bucketize(x, [1, 2])"
    node = parse(text)
    call = node.left
    assert (node.start, node.end) == (0, len(text))
    assert (call.start, call.end, call.name_start, call.name_end) == (0, 18, 0, 5)
    assert text[call.args[0].start : call.args[0].end] == "distance_km"
    boundaries = node.right.args[1]
    assert text[boundaries.start : boundaries.end] == "[1, 2]"
    assert text[node.right.start : node.right.end] == "bucketize(x, [1, 2])"


def test_spans_with_parentheses():
    text = "( a + b ) * -(c)"
    node = parse(text)
    assert (node.start, node.end) == (0, len(text))
    assert text[node.left.start : node.left.end] == "a + b"
    assert text[node.right.start : node.right.end] == "-(c)"
    assert text[node.right.operand.start : node.right.operand.end] == "c"


def test_spans_of_in_and_not():
    text = "not city not in ['a', \"b\"]"
    node = parse(text)
    assert (node.start, node.end) == (0, len(text))
    inner = node.operand
    assert text[inner.start : inner.end] == "city not in ['a', \"b\"]"
    assert [text[o.start : o.end] for o in inner.options] == ["'a'", '"b"']


def test_equality_ignores_spans():
    assert parse("a+b") == parse("  a  +  b ")
