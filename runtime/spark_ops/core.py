"""SparkOps: column references, literals, dispatch to registered implementations.

The executor requires a session with ``spark.sql.session.timeZone=UTC`` and
``spark.sql.ansi.enabled=false`` (see :func:`required_conf`); implementations never rely on
either for correctness where a native expression can avoid it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlc.runtime.registry import Registry, UnknownFunction  # noqa: F401  (re-exported)

REGISTRY = Registry("mlc.runtime.spark_ops", "Spark")
FUNCTIONS = REGISTRY.functions
implements = REGISTRY.implements
from typing import Any, Mapping


SPARK_TYPES = {"bool": "boolean", "int64": "bigint", "float64": "double", "string": "string", "timestamp": "timestamp",
               "null": "void"}


def required_conf() -> dict[str, str]:
    return {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}


@dataclass(frozen=True)
class SVal:
    """A Spark Column tagged with its mlc dtype (``literal``: the Python value of a constant made
    by ``const``, else None)."""

    col: Any
    dtype: str
    literal: Any = None


class SparkOps:
    """Build Columns over ``df``. Input and ``group.output`` columns are looked up by name (a
    missing group output is a typed null); ``fitted`` maps analyzer ids to constants."""

    def __init__(self, df: Any, fitted: Mapping[str, Mapping[str, Any]] | None = None,
                 column_names: Mapping[str, str] | None = None):
        REGISTRY.load()
        self.df = df
        self.fitted = fitted or {}
        self.column_names = column_names or {}

    def input(self, name: str, dtype: str) -> SVal:
        return self._column(name, dtype)

    def group(self, group: str, output: str, dtype: str) -> SVal:
        return self._column(f"{group}.{output}", dtype)

    def _column(self, name: str, dtype: str) -> SVal:
        from pyspark.sql import functions as F

        actual = self.column_names.get(name, name)
        if actual in self.df.columns:
            return SVal(F.col(f"`{actual}`").cast(SPARK_TYPES[dtype]), dtype)
        return SVal(F.lit(None).cast(SPARK_TYPES[dtype]), dtype)

    def const(self, value: Any, dtype: str) -> SVal:
        return self._dispatch("const", dtype, value)

    def unary(self, op: str, x: SVal, dtype: str) -> SVal:
        return self._dispatch(f"unary{op}", dtype, x)

    def binary(self, op: str, left: SVal, right: SVal, dtype: str) -> SVal:
        return self._dispatch(f"binary{op}", dtype, left, right)

    def isin(self, x: SVal, options: list[SVal], negated: bool, dtype: str) -> SVal:
        return self._dispatch("in", dtype, x, options, negated)

    def call(self, function: str, dtype: str, *args: Any) -> SVal:
        return self._dispatch(function, dtype, *args)

    def analyzer(self, function: str, analyzer_id: str, dtype: str, x: SVal, *params: Any) -> SVal:
        if analyzer_id not in self.fitted:
            raise KeyError(f"analyzer `{analyzer_id}` has no fitted constants; run `mlc fit` first")
        return self._dispatch(f"apply_{function}", dtype, x, self.fitted[analyzer_id], *params)

    def _dispatch(self, name: str, dtype: str, *args: Any) -> SVal:
        return REGISTRY.lookup(name)(self, dtype, *args)


def null_of(dtype: str) -> SVal:
    """A typed null literal."""
    from pyspark.sql import functions as F

    if dtype == "null":
        return SVal(F.lit(None), dtype)
    return SVal(F.lit(None).cast(SPARK_TYPES[dtype]), dtype)


def as_type(value: SVal, dtype: str) -> SVal:
    """``value`` converted by the implicit promotions only (``null`` literal to any type, int64 to
    float64 with round-to-nearest-even, as NumPy)."""
    if value.dtype == dtype:
        return value
    if value.dtype == "null":
        return null_of(dtype)
    if value.dtype == "int64" and dtype == "float64":
        return SVal(value.col.cast("double"), dtype)
    raise TypeError(f"cannot use a {value.dtype} value as {dtype}")


def common_type(*values: SVal) -> str:
    """The common type of values (promotion rules of mlc.dsl.types)."""
    from mlc.runtime.ops import common_dtype as common

    return common(v.dtype for v in values)
