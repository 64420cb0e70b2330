"""Fitting analyzers on the training data (Spark), producing the constants stored in mldl.json
and applied by both executors (``apply_<function>`` in ``numpy_ops``/``spark_ops``).

    constants = fit_analyzers(df, [(analyzer_id, function, column, params), ...])

``column`` is the Spark Column of the analyzer's argument (built by ``SparkOps``), ``params``
its constant arguments. Definitions (docs/semantics.md, "Analyzer fitting"):

- Values that are null, NaN or +-infinity are ignored by every analyzer.
- standardize: ``{"mean", "std", "count"}``: mean and POPULATION standard deviation
  (``stddev_pop``, divisor N). No values: mean 0.0, std 0.0 (so every value maps to 0.0).
- min_max_scale: ``{"min", "max", "count"}``; no values: 0.0, 0.0.
- quantile_bucketize(n): ``{"boundaries", "count"}``: Spark's ``percentile_approx`` at
  ``i/n`` for ``i = 1..n-1`` with accuracy ``QUANTILE_ACCURACY`` (relative rank error
  ``1/QUANTILE_ACCURACY``: the boundary returned for probability ``p`` over N values is a data
  value whose rank is within ``ceil(N / QUANTILE_ACCURACY)`` of ``ceil(p * N)``), then sorted and
  de-duplicated (-0.0 normalised to 0.0): at most n-1 boundaries, fewer when quantiles coincide.
- vocabulary(top_k, min_count=1, oov_buckets=0): ``{"vocabulary": [...], "counts": [...]}``:
  the distinct values with ``count >= min_count``, ordered by count descending, then value
  ascending (strings by code point, ints numerically), the first ``top_k``. Id = position + 1.

Passes over the data: ONE aggregation computes every standardize, min_max_scale and
quantile_bucketize request together; ONE more job (explode + group + window) computes every
vocabulary together. Results are plain JSON types (finite floats, ints, strings).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

QUANTILE_ACCURACY = 10_000
NUMERIC = ("standardize", "min_max_scale", "quantile_bucketize")


# --- reading fitted constants (shared by both executors' apply_<function>) ---------------------


def min_max_range(fitted: Mapping[str, Any]) -> tuple[float, float]:
    """``(min, max - min)`` in float64, computed once so both executors divide by the same value."""
    low, high = float(fitted["min"]), float(fitted["max"])
    return low, high - low


def quantile_boundaries(fitted: Mapping[str, Any]) -> list[float]:
    return [float(b) for b in fitted["boundaries"]]


def vocabulary_params(params: Sequence[Any]) -> tuple[Any, int, int]:
    """``(top_k, min_count, oov_buckets)`` from the analyzer's constant arguments."""
    top_k = params[0] if len(params) > 0 else None
    min_count = params[1] if len(params) > 1 else 1
    oov = params[2] if len(params) > 2 else 0
    if isinstance(oov, bool) or not hasattr(oov, "__index__") or oov < 0:
        raise ValueError(f"vocabulary: oov_buckets must be a non-negative integer, got {oov!r}")
    return top_k, min_count, int(oov)


def vocabulary_keys(fitted: Mapping[str, Any]) -> list[str]:
    """Vocabulary entries in id order, as their string forms (ints in decimal)."""
    return [v if isinstance(v, str) else str(int(v)) for v in fitted["vocabulary"]]


# --- fitting -----------------------------------------------------------------------------------


def _F():
    from pyspark.sql import functions as F

    return F


def _finite(col):
    """The argument as double with null, NaN and infinities turned to null."""
    F = _F()
    value = col.cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value)


def _float(value: Any) -> float:
    if value is None:
        return 0.0
    value = float(value)
    if not math.isfinite(value):  # cannot happen for finite inputs; keep JSON valid anyway
        raise ValueError(f"fitted constant is not finite: {value!r}")
    return value + 0.0  # -0.0 -> 0.0


def fit_analyzers(df: Any, requests: Sequence[tuple[str, str, Any, Sequence[Any]]]) -> dict[str, dict[str, Any]]:
    """Fitted constants per analyzer id (see the module docstring for the definitions)."""
    F = _F()
    result: dict[str, dict[str, Any]] = {}
    numeric = [(i, r) for i, r in enumerate(requests) if r[1] in NUMERIC]
    vocab = [(i, r) for i, r in enumerate(requests) if r[1] == "vocabulary"]
    unknown = [r[1] for r in requests if r[1] not in NUMERIC and r[1] != "vocabulary"]
    if unknown:
        raise ValueError(f"unknown analyzer function(s): {sorted(set(unknown))}")

    if numeric:
        aggs = []
        for i, (aid, function, col, params) in numeric:
            value = _finite(col)
            aggs.append(F.count(value).alias(f"n{i}"))
            if function == "standardize":
                aggs += [F.avg(value).alias(f"mean{i}"), F.stddev_pop(value).alias(f"std{i}")]
            elif function == "min_max_scale":
                aggs += [F.min(value).alias(f"min{i}"), F.max(value).alias(f"max{i}")]
            else:
                n = _quantile_count(params)
                probabilities = [k / n for k in range(1, n)]
                aggs.append(F.percentile_approx(value, probabilities, QUANTILE_ACCURACY).alias(f"q{i}"))
        row = df.agg(*aggs).first().asDict()
        for i, (aid, function, col, params) in numeric:
            count = int(row[f"n{i}"])
            if function == "standardize":
                result[aid] = {"mean": _float(row[f"mean{i}"]), "std": _float(row[f"std{i}"]), "count": count}
            elif function == "min_max_scale":
                result[aid] = {"min": _float(row[f"min{i}"]), "max": _float(row[f"max{i}"]), "count": count}
            else:
                quantiles = row[f"q{i}"] or []
                result[aid] = {"boundaries": sorted({_float(q) for q in quantiles if q is not None}),
                               "count": count}

    if vocab:
        result.update(_fit_vocabularies(df, vocab))
    return result


def _quantile_count(params: Sequence[Any]) -> int:
    n = params[0] if params else None
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"quantile_bucketize: n must be an integer >= 2, got {n!r}")
    return n


def _vocab_limits(params: Sequence[Any]) -> tuple[int, int]:
    top_k = params[0] if len(params) > 0 else None
    min_count = params[1] if len(params) > 1 else 1
    for name, value in (("top_k", top_k), ("min_count", min_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"vocabulary: {name} must be a positive integer, got {value!r}")
    return top_k, min_count


def _fit_vocabularies(df: Any, vocab: list) -> dict[str, dict[str, Any]]:
    from pyspark.sql import Window
    from pyspark.sql.types import StringType

    F = _F()
    entries, kinds, limits = [], {}, {}
    for k, (i, (aid, function, col, params)) in enumerate(vocab):
        top_k, min_count = _vocab_limits(params)
        limits[k] = (top_k, min_count)
        is_string = isinstance(df.select(col.alias("v")).schema["v"].dataType, StringType)
        kinds[k] = "string" if is_string else "int64"
        sval = col.cast("string") if is_string else F.lit(None).cast("string")
        ival = F.lit(None).cast("bigint") if is_string else col.cast("bigint")
        entries.append(F.struct(F.lit(k).alias("k"), sval.alias("s"), ival.alias("i")))

    exploded = df.select(F.explode(F.array(*entries)).alias("e")).select("e.k", "e.s", "e.i")
    counted = (exploded.where(F.col("s").isNotNull() | F.col("i").isNotNull())
               .groupBy("k", "s", "i").count())
    top_k_of = F.lit(None).cast("bigint")
    min_count_of = F.lit(None).cast("bigint")
    for k, (top_k, min_count) in limits.items():
        top_k_of = F.when(F.col("k") == k, F.lit(top_k).cast("bigint")).otherwise(top_k_of)
        min_count_of = F.when(F.col("k") == k, F.lit(min_count).cast("bigint")).otherwise(min_count_of)
    # strings compare by UTF-8 bytes in Spark, which is code point order (Python's str order)
    order = Window.partitionBy("k").orderBy(F.col("count").desc(), F.col("s").asc(), F.col("i").asc())
    ranked = (counted.where(F.col("count") >= min_count_of)
              .withColumn("rank", F.row_number().over(order))
              .where(F.col("rank") <= top_k_of))
    rows = ranked.select("k", "s", "i", "count", "rank").collect()

    out = {}
    for k, (i, (aid, function, col, params)) in enumerate(vocab):
        mine = sorted((r for r in rows if r["k"] == k), key=lambda r: r["rank"])
        values = [r["s"] if kinds[k] == "string" else int(r["i"]) for r in mine]
        out[aid] = {"vocabulary": values, "counts": [int(r["count"]) for r in mine]}
    return out
