"""Shared derived features are evaluated once by both executors (issue 15).

A chain of derived features, each using the previous one three times, is exponential when every
feature's expression is copied into its users (3**40 copies at depth 40: the old Spark executor
ran out of Java heap at depth 12). The Spark executor materialises each derived feature as a
column of a select stage (``SparkOps.feature``), so the plan holds each feature's expression
once; NumPy evaluates each derived feature once (counted op calls).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity import assert_parity, module_for, run_numpy, run_spark  # noqa: E402


def chain(depth: int) -> dict[str, str]:
    """``f0 = x * 2.0 + 1.0``; ``f<i> = f<i-1> * 0.5 + f<i-1> - f<i-1> / 3.0``."""
    expressions = {"f0": "x * 2.0 + 1.0"}
    for i in range(1, depth):
        p = f"f{i - 1}"
        expressions[f"f{i}"] = f"{p} * 0.5 + {p} - {p} / 3.0"
    return expressions


def expression_nodes(plan, jvm) -> int:
    """Expression nodes of a Catalyst plan other than column references, counted as trees (a
    subtree used twice counts twice, as Catalyst's rules see it); memoised by JVM identity so that
    counting a shared (inlined) tree is cheap."""
    memo: dict[int, int] = {}

    def size(expr) -> int:
        key = jvm.System.identityHashCode(expr)
        if key not in memo:
            own = 0 if expr.getClass().getSimpleName() in ("AttributeReference", "UnresolvedAttribute") else 1
            children = expr.children().iterator()
            total = own
            while children.hasNext():
                total += size(children.next())
            memo[key] = total
        return memo[key]

    total, stack = 0, [plan]
    while stack:
        node = stack.pop()
        expressions = node.expressions().iterator()
        while expressions.hasNext():
            total += size(expressions.next())
        children = node.children().iterator()
        while children.hasNext():
            stack.append(children.next())
    return total


def _plan_of(spark, depth: int):
    from mlc.runtime.preprocess import transform_spark

    module = module_for(chain(depth), {"x": "float64"})
    df = spark.createDataFrame([(1.0,), (-2.5,), (None,)], "x double")
    return module, transform_spark(module, df)


def test_spark_plan_of_a_deep_feature_chain_is_linear(spark):
    jvm = spark.sparkContext._jvm
    sizes = {}
    for depth in (3, 6, 9):    # inlined: 3x more nodes per step; fails here, before any deep plan
        _, out = _plan_of(spark, depth)
        qe = out._jdf.queryExecution()
        sizes[depth] = expression_nodes(qe.analyzed(), jvm)
        assert str(qe.analyzed()).count("* 0.5)") == depth - 1, "each feature's expression appears once"
    assert sizes[9] - sizes[6] == sizes[6] - sizes[3], sizes      # exactly linear: a constant per feature
    per_feature = (sizes[9] - sizes[6]) // 3
    assert per_feature <= 20, sizes

    module, out = _plan_of(spark, 40)
    qe = out._jdf.queryExecution()
    analyzed, optimized = qe.analyzed(), qe.optimizedPlan()
    assert expression_nodes(analyzed, jvm) == sizes[3] + per_feature * 37
    assert expression_nodes(optimized, jvm) <= sizes[3] + per_feature * 37
    rows = out.collect()
    numpy_out = run_numpy(module, [{"x": 1.0}, {"x": -2.5}, {"x": None}])
    assert [r["f39"] for r in rows] == numpy_out["f39"]
    assert rows[2]["f39"] is None and rows[0]["f39"] == pytest.approx(3.0 * (7 / 6) ** 39)


def test_the_timestamp_cross_spec_of_issue_15_stays_small(spark):
    """A string timestamp parsed once, then hour, weekday and crosses of them: 225,147 expression
    nodes and minutes before features were staged; now the parse is in the plan once."""
    from mlc.runtime.preprocess import transform_spark

    expressions = {"ts": "to_timestamp(created)", "h": "hour(ts)", "wd": "day_of_week(ts)",
                   "hx": "cross(h, wd, 1000)", "hc": "cross(city, h, 1000)", "all3": "cross(hx, hc, 1000)"}
    module = module_for(expressions, {"created": "string", "city": "string"})
    rows = [{"created": "2024-06-08T10:11:12Z", "city": "a"}, {"created": "bad", "city": "b"},
            {"created": None, "city": None}]
    df = spark.createDataFrame([(r["created"], r["city"]) for r in rows], "created string, city string")
    out = transform_spark(module, df)
    jvm = spark.sparkContext._jvm
    only_parse = transform_spark(module_for({"ts": "to_timestamp(created)"}, {"created": "string"}), df)
    parse = expression_nodes(only_parse._jdf.queryExecution().analyzed(), jvm)
    total = expression_nodes(out._jdf.queryExecution().analyzed(), jvm)
    assert total < parse + 400, (total, parse)
    assert_parity(run_numpy(module, rows), run_spark(spark, module, rows), module.FEATURES)


def test_numpy_evaluates_each_derived_feature_once():
    from mlc.runtime.numpy_ops import NumpyOps
    from mlc.runtime.preprocess import _input_vectors

    calls = {"dispatch": 0, "const": 0, "feature": 0, "input": 0}

    class Counting(NumpyOps):
        def _dispatch(self, name, dtype, *args):
            calls["dispatch"] += 1
            return super()._dispatch(name, dtype, *args)

        def const(self, value, dtype):
            calls["const"] += 1
            return super().const(value, dtype)

        def feature(self, name, value):
            calls["feature"] += 1
            return super().feature(name, value)

        def input(self, name, dtype):
            calls["input"] += 1
            return super().input(name, dtype)

    module = module_for(chain(40), {"x": "float64"})
    vectors, n = _input_vectors(module, {"x": [1.0, None]})
    out = module.transform(Counting(vectors, n))
    # f0: 2 constants, 2 operators; every other feature: 2 constants, 4 operators (inlined, the
    # operators alone would be 2 * 3**39 + ...)
    assert calls == {"dispatch": 2 + 4 * 39, "const": 2 * 40, "feature": 40, "input": 1}
    assert out["f39"].to_list()[1] is None


def test_spark_ops_without_feature_calls_inline_as_before(spark):
    """A module generated before ``ops.feature`` existed still runs: nothing is staged."""
    from mlc.runtime.spark_ops import SparkOps

    df = spark.createDataFrame([(1.0,)], "x double")
    ops = SparkOps(df)
    x = ops.input("x", "float64")
    value = ops.binary("*", x, ops.const(2.0, "float64"), "float64")
    assert ops.frame() is df
    assert df.select(value.col.alias("y")).collect()[0]["y"] == 2.0
    staged = ops.feature("y", value)
    assert ops.frame().select(staged.col.alias("y")).collect()[0]["y"] == 2.0
    assert ops.feature("x_again", x) is x          # a plain column reference is not staged
