"""Id spaces of sparse inputs (compiler/cardinality.py): integer arithmetic with a known
non-negative range is accepted (issue 15), everything else keeps E5030; a list-valued derived
feature is E5060."""

from __future__ import annotations

import random

import pytest

from lint_cases import edit, one, run  # noqa: F401  (run is a fixture)

from mlc.compiler.cardinality import MAX_ARITHMETIC_IDS, id_space, value_range
from mlc.dsl import FLOAT64, INT64, STRING, TIMESTAMP, MappingScope, check_text, to_json

SCOPE = MappingScope({"x": INT64, "y": INT64, "t": TIMESTAMP, "f": FLOAT64, "s": STRING, "known": INT64})


def space(text: str):
    typed, issues = check_text(text, SCOPE)
    assert issues == [], issues
    return id_space(to_json(typed), lambda name: 50 if name == "known" else None)


@pytest.mark.parametrize("text, ids", [
    ("hash_bucket(s, 1000)", 1000), ("hour(t)", 24), ("if(f > 0, hour(t), 3)", 24), ("7", 8),
    ("abs(x) % 100", 100), ("abs(x) % -100", 100), ("(x % 100 + 100) % 100", 100), ("x % 1", 1),
    ("hour(t) // 6", 4), ("hour(t, 'Asia/Shanghai') // 6", 4), ("clip(x, 0, 999) // 10", 100),
    ("clip(x, 0, 999)", 1000), ("clip(x, 10, 5)", 6), ("bucketize(f, [1, 2]) * 24 + hour(t)", 72),
    ("abs(x % 1000)", 1000), ("hash_bucket(s, 1000) % 7", 7), ("day_of_month(t) % 7", 7),
    ("known % 7", 7), ("known // 10", 5), ("coalesce(abs(x) % 10, 10)", 11), ("least(hour(t), day_of_month(t))", 32),
    ("abs(x) % 2147483648", MAX_ARITHMETIC_IDS),
])
def test_known_id_spaces(text, ids):
    assert space(text) == ids


@pytest.mark.parametrize("text", [
    "x", "x % 100", "x // 10", "abs(x)", "abs(x) // 10", "-(abs(x) % 7)", "hash_bucket(s, 10) - 1",
    "x % y", "abs(x) % y", "clip(x, 0, y)", "clip(x, null, 9)", "if(f > 0, x % 10, 99)", "2000000",
    "abs(x) % 2147483649", "to_int(f) % 10", "length(s)", "size(split(s, ','))",
])
def test_unknown_id_spaces(text):
    assert space(text) is None


def _ints(rng: random.Random) -> int:
    return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), 7, -7, 99, 100, -100, rng.randrange(-(2**63), 2**63),
                       rng.randrange(-1000, 1000)])


@pytest.mark.parametrize("text", ["abs(x) % 100", "(x % 100 + 100) % 100", "-(x % 7) * 3 + y // -5", "clip(x, -5, 9) // 2",
                                  "x % -13", "abs(x) // 3 - y % 4", "least(x % 5, y % 9) * (x // 1000)"])
def test_ranges_hold_on_random_rows(text):
    """The range of an expression contains every value the NumPy executor computes for it."""
    from mlc.runtime.numpy_ops import NumpyOps, Vec

    typed, issues = check_text(text, SCOPE)
    assert issues == []
    tree = to_json(typed)
    lo, hi = value_range(tree, lambda name: None)
    rng = random.Random(text)
    rows = [(_ints(rng), _ints(rng)) for _ in range(3000)]
    ops = NumpyOps({"x": Vec.of([r[0] for r in rows], "int64"), "y": Vec.of([r[1] for r in rows], "int64")}, len(rows))
    values = [v for v in _evaluate(tree, ops).to_list() if v is not None]
    assert values and all(lo <= v <= hi for v in values)


def _evaluate(tree, ops):
    from mlc.runtime.features.feature_groups import _eval

    return _eval(tree, ops)


# ----------------------------------------------------------------- through the compiler


def test_arithmetic_sparse_input_compiles(run):
    text = edit(("    city_id: hash_bucket(city, 100)", "    city_id: hash_bucket(city, 100)\n    rider_mod: abs(rider_id) % 64"),
                ("sparse: [city_id]", "sparse: [city_id, rider_mod]"))
    result = run(text)
    assert result.ok, result.diagnostics
    sparse = {s.name: s.buckets for model in result.ir.models for s in model.sparse}
    assert sparse == {"city_id": 100, "rider_mod": 64}


def test_e5030_keeps_a_remainder_that_may_be_negative(run):
    text = edit(("    city_id: hash_bucket(city, 100)", "    city_id: hash_bucket(city, 100)\n    rider_mod: rider_id % 64"),
                ("sparse: [city_id]", "sparse: [city_id, rider_mod]"))
    diag = one(run, text, "E5030", "rider_mod]",
               "sparse input `rider_mod` has no known number of ids, so its embedding table cannot be sized",
               "derive it with a bucketing function, e.g. `hash_bucket(rider_mod, 1000)`, `bucketize(...)` or "
               "`vocabulary(..., top_k)`, or with integer arithmetic of a known non-negative range: `abs(x) % 1000`, "
               "`clip(x, 0, 999)`, `hour(t) // 6`")
    assert diag.severity.name == "ERROR"


def test_e5060_list_valued_derived_feature(run):
    text = edit(("    city_id: hash_bucket(city, 100)", "    city_id: hash_bucket(city, 100)\n    parts: split(city, '-')"))
    one(run, text, "E5060", "split(city", "derived feature `parts` is a list<string>; a feature holds one value per row",
        "count the items with `size(...)`, e.g. `size(split(genres, '|'))`")
