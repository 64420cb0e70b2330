import subprocess
import sys

from hypothesis import given, settings, strategies as st

from mlc.dsl import ExprSyntaxError, MappingScope, check_expression, parse_expression, resolve_derived
from mlc.dsl.types import FLOAT64, INT64, STRING

SCOPE = MappingScope({"a": FLOAT64, "b": INT64, "c": STRING, "g.x": INT64})
CONTEXTS = st.sampled_from(["derived", "aggregation", "filter", "condition"])
TOKENS = st.sampled_from(
    ["a", "b", "c", "g.x", "g.", "1", "2.5", "1e-3", "'s'", '"t', "\\", "true", "null", "(", ")", "[", "]", ",",
     "+", "-", "*", "/", "%", "==", "<", ">=", "=", "and", "or", "not", "in", "if", "log1p", "bucketize",
     "hash_bucket", "count", "sum", "standardize", "vocabulary", "cross", "round", "min", ".", "0", "-1"]
)


def _parse_and_check(text, context):
    try:
        expr = parse_expression(text)
    except ExprSyntaxError as error:
        assert 0 <= error.issue.start <= error.issue.end <= len(text)
        return
    _, issues = check_expression(expr, SCOPE, context)
    for issue in issues:
        assert 0 <= issue.start <= issue.end <= len(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), CONTEXTS)
def test_random_text_only_raises_syntax_errors(text, context):
    _parse_and_check(text, context)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=14), st.sampled_from([" ", ""]), CONTEXTS)
def test_token_soup_only_raises_syntax_errors(tokens, separator, context):
    _parse_and_check(separator.join(tokens), context)


def test_thousand_derived_features_parse_and_check():
    """Correctness at the size of the large compile benchmark (bench/compile.py measures its speed)."""
    base = MappingScope({**{f"f{i}": FLOAT64 for i in range(100)}, **{f"grp.c{i}": INT64 for i in range(100)},
                         "city": STRING})
    templates = [
        "log1p(f{i})", "bucketize(f{i}, [1, 2, 5, 10])", "coalesce(grp.c{i}, 0) / 7", "hash_bucket(city, 1000)",
        "clip(f{i} * 2 + grp.c{i}, 0, 100)", "if(f{i} > 3 and city in ['a', 'b'], 1.0, round(f{i}, 2))",
        "cross(city, grp.c{i}, 10000)", "standardize(log1p(f{i}))",
    ]
    features = {f"d{i}": templates[i % len(templates)].format(i=i % 100) for i in range(1000)}
    result = resolve_derived(features, base)
    assert result.ok, result
    assert len(result.order) == 1000 and set(result.order) == set(features)
    assert str(result.dtypes["d0"]) == "float64" and str(result.dtypes["d3"]) == "int64"


def test_import_is_cheap_and_lazy():
    code = "import sys, mlc.dsl; assert 'lark' not in sys.modules, 'lark imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)
