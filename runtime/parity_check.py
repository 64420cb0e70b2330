"""Run both executors on the same rows and compare them (`mlc check-parity`, parity tests).

The comparison is strict: nulls at the same rows; ints, strings and bools equal; floats
bit-identical (NaN equals NaN), except features computed with a function listed in
``ULP_TOLERANT`` (JVM StrictMath vs NumPy, see docs/semantics.md), which may differ by 1 ulp.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

ROW_ID = "__mlc_row_id"
# Functions whose float results may differ by one ulp between the executors (docs/semantics.md).
ULP_TOLERANT: frozenset[str] = frozenset({"pow"})
_SPARK_KINDS = {"bool": "BooleanType", "int64": "LongType", "float64": "DoubleType",
                "string": "StringType", "timestamp": "LongType"}


# ------------------------------------------------------------------ execution


def numpy_outputs(module: Any, rows: Sequence[Mapping[str, Any]], fitted: Mapping | None = None) -> dict[str, list]:
    from mlc.runtime.preprocess import transform_numpy

    names = {**module.INPUTS, **module.GROUP_OUTPUTS}
    columns = {name: [row.get(name) for row in rows] for name in names}
    return {name: vec.to_list() for name, vec in transform_numpy(module, columns, fitted).items()}


def spark_frame(spark: Any, module: Any, rows: Sequence[Mapping[str, Any]]) -> Any:
    """The rows as a DataFrame with the module's dtypes; timestamps given as int microseconds."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    declared = {**module.INPUTS, **module.GROUP_OUTPUTS}
    names = list(declared)
    fields = [T.StructField(ROW_ID, T.LongType(), False)]
    fields += [T.StructField(f"c{i}", getattr(T, _SPARK_KINDS[declared[n]])(), True) for i, n in enumerate(names)]
    data = [tuple([i] + [row.get(n) for n in names]) for i, row in enumerate(rows)]
    df = spark.createDataFrame(data, T.StructType(fields))
    selected = [F.col(ROW_ID)]
    for i, name in enumerate(names):
        col = F.col(f"c{i}")
        selected.append((F.timestamp_micros(col) if declared[name] == "timestamp" else col).alias(name))
    return df.select(*selected)


def spark_outputs(spark: Any, module: Any, rows: Sequence[Mapping[str, Any]], fitted: Mapping | None = None) -> dict[str, list]:
    from pyspark.sql import functions as F

    from mlc.runtime.preprocess import spark_columns

    df = spark_frame(spark, module, rows)
    columns = spark_columns(module, df, fitted)
    selected = [(F.unix_micros(c) if module.FEATURES[n] == "timestamp" else c).alias(f"f{i}")
                for i, (n, c) in enumerate(columns.items())]
    result = df.select(F.col(ROW_ID), *selected).orderBy(ROW_ID).collect()
    return {name: [row[f"f{i}"] for row in result] for i, name in enumerate(columns)}


def collect_rows(df: Any, module: Any, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the module's inputs from ``df`` as Python values (timestamps as
    microseconds); inputs and group outputs missing from ``df`` are left out (null)."""
    from pyspark.sql import functions as F

    declared = {**module.INPUTS, **module.GROUP_OUTPUTS}
    present = [n for n in declared if n in df.columns]
    selected = [(F.unix_micros(F.col(f"`{n}`")) if declared[n] == "timestamp" else F.col(f"`{n}`")).alias(f"c{i}")
                for i, n in enumerate(present)]
    if not selected:
        return [{} for _ in range(min(limit, df.count()))]
    return [{n: row[f"c{i}"] for i, n in enumerate(present)} for row in df.select(*selected).limit(limit).collect()]


# ----------------------------------------------------------------- comparison


def float_bits(value: float) -> bytes:
    return struct.pack("<d", value)


def ulps_apart(a: float, b: float) -> int:
    def ordered(x: float) -> int:
        bits = struct.unpack("<q", float_bits(x))[0]
        return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)

    return abs(ordered(a) - ordered(b))


def same(a: Any, b: Any, dtype: str, ulp_tolerant: bool = False) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if dtype == "float64":
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return float_bits(a) == float_bits(b) or (ulp_tolerant and ulps_apart(a, b) <= 1)
    return a == b and type(a) is type(b)


@dataclass
class FeatureParity:
    name: str
    dtype: str
    compared: int
    mismatches: int = 0
    examples: list[tuple[int, Any, Any]] = field(default_factory=list)   # (row, numpy, spark)


@dataclass
class ParityReport:
    rows: int
    features: list[FeatureParity]
    missing: list[str] = field(default_factory=list)     # inputs/group outputs absent from the data

    @property
    def ok(self) -> bool:
        return all(f.mismatches == 0 for f in self.features)


def compare(numpy_out: Mapping[str, list], spark_out: Mapping[str, list], dtypes: Mapping[str, str],
            tolerant: frozenset[str] = frozenset(), examples: int = 3) -> list[FeatureParity]:
    report = []
    for name, dtype in dtypes.items():
        left, right = numpy_out[name], spark_out[name]
        feature = FeatureParity(name, dtype, len(left))
        for i, (a, b) in enumerate(zip(left, right)):
            if not same(a, b, dtype, name in tolerant):
                feature.mismatches += 1
                if len(feature.examples) < examples:
                    feature.examples.append((i, a, b))
        feature.mismatches += abs(len(left) - len(right))
        report.append(feature)
    return report


def tolerant_features(ir: Any) -> frozenset[str]:
    """Features whose value involves a 1-ulp-tolerant function (directly or through others)."""
    from mlc.runtime.fitting import _children

    def uses(node: dict) -> bool:
        if node["kind"] == "call" and node["function"] in ULP_TOLERANT:
            return True
        if node["kind"] == "ref" and node["name"] in found:
            return True
        return any(uses(child) for child in _children(node))

    found: set[str] = set()
    for derived in ir.derived:
        if uses(derived.tree):
            found.add(derived.name)
    return frozenset(found)


def check(spark: Any, ir: Any, module: Any, df: Any, limit: int, fitted: Mapping | None) -> ParityReport:
    rows = collect_rows(df, module, limit)
    declared = {**module.INPUTS, **module.GROUP_OUTPUTS}
    missing = [n for n in declared if n not in df.columns]
    numpy_out = numpy_outputs(module, rows, fitted)
    spark_out = spark_outputs(spark, module, rows, fitted)
    features = compare(numpy_out, spark_out, module.FEATURES, tolerant_features(ir))
    return ParityReport(len(rows), features, missing)
