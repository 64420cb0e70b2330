"""Fit a spec's analyzers on training data with Spark, in dependency order.

An analyzer's argument may use features that themselves use analyzers
(``standardize(log1p(x) - vocabulary(...))``, or a derived feature built on another
standardized one). Analyzers are therefore fitted in *levels*: level 1 depends on no analyzer,
level k only on analyzers of lower levels. Each level is one run of the generated module on
Spark, where the level's analyzers record their argument Column instead of applying, followed
by one batch of aggregations (``mlc.runtime.fit.fit_analyzers``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mlc.compiler.ir import IR
from mlc.runtime.ops import ANALYZERS


def analyzer_levels(ir: IR) -> list[list[str]]:
    """Analyzer ids grouped by level (1-based order), ids in declaration order within a level."""
    derived = {d.name: d for d in ir.derived}
    feature_level: dict[str, int] = {}
    analyzer_level: dict[str, int] = {}

    def level_of_feature(name: str) -> int:
        if name not in derived:
            return 0
        if name not in feature_level:
            counter = iter(derived[name].analyzers)
            feature_level[name] = walk(derived[name].tree, counter)
        return feature_level[name]

    def walk(node: dict, ids) -> int:
        if node["kind"] == "ref":
            return level_of_feature(node["name"])
        if node["kind"] == "call" and node["function"] in ANALYZERS:
            own = next(ids)
            inner = max((walk(child, ids) for child in node["args"]), default=0)
            analyzer_level[own] = inner + 1
            return inner + 1
        return max((walk(child, ids) for child in _children(node)), default=0)

    for d in ir.derived:
        level_of_feature(d.name)
    levels: dict[int, list[str]] = {}
    for analyzer in ir.analyzers:
        levels.setdefault(analyzer_level[analyzer.id], []).append(analyzer.id)
    return [levels[k] for k in sorted(levels)]


def _children(node: dict) -> list[dict]:
    out = list(node.get("args", ())) + list(node.get("items", ())) + list(node.get("options", ()))
    out += [node[k] for k in ("operand", "left", "right", "value") if isinstance(node.get(k), dict)]
    return out


def fit(ir: IR, module: Any, df: Any) -> dict[str, dict[str, Any]]:
    """Analyzer id -> fitted constants, computed over ``df`` (the training data)."""
    from mlc.runtime.fit import fit_analyzers

    fitted: dict[str, dict[str, Any]] = {}
    if not ir.analyzers:
        return fitted
    cached = df.cache()
    try:
        for level in analyzer_levels(ir):
            ops = _recording_ops(cached, fitted, set(level))
            module.transform(ops)
            # the requests' Columns read the derived features materialised in ops.frame()
            fitted.update(fit_analyzers(ops.frame(), ops.requests))
    finally:
        cached.unpersist()
    return fitted


def with_fitted(ir: IR, fitted: dict[str, dict[str, Any]]) -> IR:
    """The IR with fitted constants recorded on its analyzers (stored in mldl.json)."""
    analyzers = tuple(
        dataclasses.replace(a, fitted=tuple(sorted(fitted[a.id].items())) if a.id in fitted else a.fitted)
        for a in ir.analyzers
    )
    return dataclasses.replace(ir, analyzers=analyzers)


def fitted_from_ir(ir: IR) -> dict[str, dict[str, Any]]:
    return {a.id: dict(a.fitted) for a in ir.analyzers if a.fitted is not None}


def _recording_ops(df: Any, fitted: dict, wanted: set[str]) -> Any:
    from mlc.runtime.spark_ops import SparkOps, SVal
    from mlc.runtime.spark_ops.core import SPARK_TYPES

    class RecordingOps(SparkOps):
        """Applies fitted analyzers; records the argument of wanted ones; nulls the rest."""

        def __init__(self) -> None:
            super().__init__(df, fitted)
            self.requests: list[tuple[str, str, Any, tuple]] = []

        def analyzer(self, function: str, analyzer_id: str, dtype: str, x: Any, *params: Any) -> Any:
            if analyzer_id in self.fitted:
                return super().analyzer(function, analyzer_id, dtype, x, *params)
            if analyzer_id in wanted:
                self.requests.append((analyzer_id, function, x.col, params))
            from pyspark.sql import functions as F

            return SVal(F.lit(None).cast(SPARK_TYPES[dtype]), dtype)

    return RecordingOps()
