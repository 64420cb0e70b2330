import json

import pytest
from hypothesis import given, settings, strategies as st

from mlc.dsl import Binary, Call, InOp, ListLit, Literal, Ref, Unary, check_text, parse_expression, to_json, to_source


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("a+b*c", "a + b * c"),
        ("(a+b)*c", "(a + b) * c"),
        ("a-(b-c)", "a - (b - c)"),
        ("(a-b)-c", "a - b - c"),
        ("-(a+b)", "-(a + b)"),
        ("not (a and b) or c", "not (a and b) or c"),
        ("(not a) == b", "(not a) == b"),
        ("(a < b) == c", "(a < b) == c"),
        ("(x in [1]) in [true]", "(x in [1]) in [true]"),
        ('"it\'s"', "'it\\'s'"),
        ("'a\\nb'", "'a\\nb'"),
        ("f( x ,[1,2.0], null )", "f(x, [1, 2.0], null)"),
        ("1e-3", "0.001"),
        ("u.clicks_7d not in ['a']", "u.clicks_7d not in ['a']"),
    ],
)
def test_canonical_source(text, canonical):
    assert to_source(parse_expression(text)) == canonical
    assert parse_expression(canonical) == parse_expression(text)


def test_to_json_is_plain_deterministic_and_folded(scope):
    typed, issues = check_text("if(amount > 2 * 5, bucketize(distance_km, [1, 2 + 3]), fillna(quantity, 0))", scope)
    assert issues == []
    data = to_json(typed)
    assert json.loads(json.dumps(data, sort_keys=True)) == data
    assert data["function"] == "if" and data["dtype"] == "int64"
    assert data["args"][0]["right"] == {"kind": "constant", "dtype": "int64", "value": 10}
    assert data["args"][1]["args"][1] == {"kind": "constant", "dtype": "list<int64>", "value": [1, 5]}
    assert data["args"][2]["function"] == "coalesce"
    assert "start" not in json.dumps(data)
    again, _ = check_text("if(amount>2*5,bucketize(distance_km,[1,2+3]),fillna(quantity,0))", scope)
    assert to_json(again) == data


NAMES = st.sampled_from(["a", "b", "x_1", "notable", "in_flag"])
LEAVES = st.one_of(
    st.integers(min_value=0, max_value=2**63 - 1).map(lambda v: Literal(v, "int", 0, 0)),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(lambda v: Literal(v, "float", 0, 0)),
    st.text(max_size=8).map(lambda v: Literal(v, "string", 0, 0)),
    st.booleans().map(lambda v: Literal(v, "bool", 0, 0)),
    st.just(Literal(None, "null", 0, 0)),
    st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: Ref(tuple(parts), 0, 0)),
)
BINARY_OPS = st.sampled_from(["+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"])


def _composite(children):
    return st.one_of(
        st.builds(lambda op, l, r: Binary(op, l, r, 0, 0), BINARY_OPS, children, children),
        st.builds(lambda op, v: Unary(op, v, 0, 0), st.sampled_from(["-", "not"]), children),
        st.builds(lambda n, args: Call(n, tuple(args), 0, 0, 0, 0), NAMES, st.lists(children, max_size=3)),
        st.builds(lambda items: ListLit(tuple(items), 0, 0), st.lists(children, max_size=3)),
        st.builds(lambda neg, v, opts: InOp(neg, v, tuple(opts), 0, 0), st.booleans(), children,
                  st.lists(children, max_size=3)),
    )


EXPRESSIONS = st.recursive(LEAVES, _composite, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS)
def test_round_trip_through_canonical_source(expr):
    assert parse_expression(to_source(expr)) == expr
