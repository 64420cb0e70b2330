"""Analyzer fitting on Spark (mlc.runtime.features.fit) with known answers."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("pyspark")

from mlc.runtime.features.fit import QUANTILE_ACCURACY, fit_analyzers  # noqa: E402

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def df(spark):
    rows = [
        # x: float with NaN/inf/null; i: int; s: string vocabulary with ties; q: 1..1000
        (1.0, 10, "b"), (2.0, -3, "a"), (3.0, -3, "b"), (4.0, 10, "a"), (NAN, 7, "c"), (None, None, "c"),
        (INF, None, "b"), (-INF, 7, "a"), (None, 10, "d"), (None, None, None), (None, None, "é"), (None, None, "z"),
        (None, None, "日"), (None, None, "é"), (None, None, "z"), (None, None, "日"),
    ]
    return spark.createDataFrame(rows, "x double, i long, s string")


def test_standardize_min_max_population_std(df):
    from pyspark.sql import functions as F

    got = fit_analyzers(df, [("std", "standardize", F.col("x"), ()), ("mm", "min_max_scale", F.col("x"), ()),
                             ("std_i", "standardize", F.col("i"), ()), ("mm_i", "min_max_scale", F.col("i"), ())])
    assert got["std"]["count"] == 4 and got["std"]["mean"] == 2.5
    assert got["std"]["std"] == pytest.approx(math.sqrt(1.25), rel=1e-15)  # population: divisor N
    assert got["mm"] == {"min": 1.0, "max": 4.0, "count": 4}
    ints = [10, -3, -3, 10, 7, 7, 10]
    mean = sum(ints) / len(ints)
    assert got["std_i"]["mean"] == pytest.approx(mean)
    assert got["std_i"]["std"] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in ints) / len(ints)))
    assert got["mm_i"] == {"min": -3.0, "max": 10.0, "count": 7}
    json.dumps(got, allow_nan=False)


def test_vocabulary_order_ties_top_k_min_count(df):
    from pyspark.sql import functions as F

    got = fit_analyzers(df, [("v3", "vocabulary", F.col("s"), (3,)), ("all", "vocabulary", F.col("s"), (100,)),
                             ("min3", "vocabulary", F.col("s"), (100, 3)), ("ints", "vocabulary", F.col("i"), (10,))])
    # counts: a 3, b 3, c 2, z 2, é 2, 日 2, d 1; ties by value ascending (code points: z < é < 日)
    assert got["all"] == {"vocabulary": ["a", "b", "c", "z", "é", "日", "d"], "counts": [3, 3, 2, 2, 2, 2, 1]}
    assert got["v3"]["vocabulary"] == ["a", "b", "c"]
    assert got["min3"]["vocabulary"] == ["a", "b"]
    # ints: 10 x3, -3 x2, 7 x2 -> ties numerically ascending
    assert got["ints"] == {"vocabulary": [10, -3, 7], "counts": [3, 2, 2]}
    json.dumps(got, allow_nan=False)


def test_quantiles_within_documented_error(spark):
    from pyspark.sql import functions as F

    n_rows = 10_000
    df = spark.range(1, n_rows + 1).select(F.col("id").alias("q"), (F.col("id") % 3).alias("m"))
    got = fit_analyzers(df, [("q4", "quantile_bucketize", F.col("q"), (4,)),
                             ("q10", "quantile_bucketize", F.col("q").cast("double"), (10,)),
                             ("dup", "quantile_bucketize", F.col("m"), (10,))])
    tolerance = math.ceil(n_rows / QUANTILE_ACCURACY)
    for key, n in (("q4", 4), ("q10", 10)):
        boundaries = got[key]["boundaries"]
        assert len(boundaries) == n - 1 and boundaries == sorted(boundaries)
        for i, b in enumerate(boundaries, start=1):
            # value == rank for 1..N
            assert abs(b - math.ceil(i * n_rows / n)) <= tolerance, (key, i, b)
    # only three distinct values: de-duplicated boundaries
    assert got["dup"]["boundaries"] == [0.0, 1.0, 2.0]
    assert all(isinstance(b, float) for b in got["q4"]["boundaries"])


def test_no_values_gives_neutral_constants(spark):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(None, None), (NAN, None)], "x double, s string")
    got = fit_analyzers(df, [("std", "standardize", F.col("x"), ()), ("mm", "min_max_scale", F.col("x"), ()),
                             ("q", "quantile_bucketize", F.col("x"), (5,)), ("v", "vocabulary", F.col("s"), (5,))])
    assert got == {"std": {"mean": 0.0, "std": 0.0, "count": 0}, "mm": {"min": 0.0, "max": 0.0, "count": 0},
                   "q": {"boundaries": [], "count": 0}, "v": {"vocabulary": [], "counts": []}}


def _jobs(spark, df, requests) -> int:
    sc = spark.sparkContext
    group = f"mlc-fit-{len(requests)}"
    sc.setJobGroup(group, "fit")
    try:
        fit_analyzers(df, requests)
    finally:
        sc.setJobGroup("", "")
    return len(sc.statusTracker().getJobIdsForGroup(group))


def test_passes_do_not_grow_with_analyzers(df, spark):
    """All numeric analyzers in ONE aggregation query, all vocabularies in ONE more query: the
    number of Spark jobs is the same for 2 analyzers as for 7 (AQE runs each shuffle stage of
    a query as its own job, so the count is per query shape, not per analyzer)."""
    from pyspark.sql import functions as F

    few = [("a", "standardize", F.col("x"), ()), ("e", "vocabulary", F.col("s"), (3,))]
    many = few + [("b", "min_max_scale", F.col("i"), ()), ("c", "quantile_bucketize", F.col("x"), (4,)),
                  ("d", "standardize", F.col("i"), ()), ("f", "vocabulary", F.col("i"), (3, 2)),
                  ("g", "vocabulary", F.col("s"), (1,))]
    assert _jobs(spark, df, many) == _jobs(spark, df, few) <= 5


def test_unknown_function_rejected(df):
    from pyspark.sql import functions as F

    with pytest.raises(ValueError):
        fit_analyzers(df, [("a", "median", F.col("x"), ())])
