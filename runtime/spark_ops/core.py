"""SparkOps: column references, literals, dispatch to registered implementations.

The executor requires a session with ``spark.sql.session.timeZone=UTC`` and
``spark.sql.ansi.enabled=false`` (see :func:`required_conf`); implementations never rely on
either for correctness where a native expression can avoid it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlc.runtime.registry import Registry, UnknownFunction  # noqa: F401  (re-exported)
from mlc.runtime.ops import common_dtype as common

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
    missing group output is a typed null); ``fitted`` maps analyzer ids to constants.

    Derived features (``feature``) are materialised in select stages: a feature becomes a column
    ``__mlc_f_<name>`` of an intermediate DataFrame and later features read it with ``F.col``,
    so an expression is never copied into each feature that uses it (copies compound: a chain of
    features each using the previous one twice doubles at every step). Stage ``k`` holds every
    feature whose expression reads features of stages below ``k`` only (a topological level);
    :meth:`frame` is ``df`` with every stage applied, and the Columns returned after any
    ``feature`` call are Columns over :meth:`frame`, not over ``df``. ``staging=False`` inlines
    instead (Columns over ``df``; only for small expression sets)."""

    def __init__(self, df: Any, fitted: Mapping[str, Mapping[str, Any]] | None = None,
                 column_names: Mapping[str, str] | None = None, staging: bool = True):
        REGISTRY.load()
        self.df = df
        self.fitted = fitted or {}
        self.column_names = column_names or {}
        self.staging = staging
        self._levels: dict[int, tuple[SVal, int]] = {}   # id(value) -> (value, stage it reads up to)
        self._plain: set[int] = set()                     # ids of column references (nothing to share)
        self._stages: dict[int, list[tuple[str, Any]]] = {}
        self._top = 0
        self._frame: Any = None

    def input(self, name: str, dtype: str) -> SVal:
        return self._column(name, dtype)

    def group(self, group: str, output: str, dtype: str) -> SVal:
        return self._column(f"{group}.{output}", dtype)

    def _column(self, name: str, dtype: str) -> SVal:
        from pyspark.sql import functions as F

        actual = self.column_names.get(name, name)
        if actual in self.df.columns:
            return self._note(SVal(F.col(f"`{actual}`").cast(SPARK_TYPES[dtype]), dtype), 0, plain=True)
        return self._note(SVal(F.lit(None).cast(SPARK_TYPES[dtype]), dtype), 0, plain=True)

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

    def feature(self, name: str, value: SVal) -> SVal:
        """Materialise the derived feature ``name`` in the first stage after everything it reads;
        returns a reference to that column (a column reference or literal is returned as is)."""
        from pyspark.sql import functions as F

        if not self.staging or not isinstance(value, SVal) or id(value) in self._plain \
                or value.literal is not None or value.dtype == "null":
            return value
        stage = self._level(value) + 1
        taken = set(self.df.columns) | {c for cols in self._stages.values() for c, _ in cols}
        column, i = f"__mlc_f_{name}", 1
        while column in taken:
            column, i = f"__mlc_f_{name}_{i}", i + 1
        self._stages.setdefault(stage, []).append((column, value.col))
        self._frame = None
        return self._note(SVal(F.col(f"`{column}`"), value.dtype), stage, plain=True)

    def frame(self) -> Any:
        """``df`` with every materialised feature, one ``select`` per stage (stages in order)."""
        if self._frame is None:
            frame = self.df
            for stage in sorted(self._stages):
                frame = frame.select("*", *[col.alias(name) for name, col in self._stages[stage]])
            self._frame = frame
        return self._frame

    def _note(self, value: Any, level: int, plain: bool = False) -> Any:
        if isinstance(value, SVal):
            self._levels[id(value)] = (value, level)
            self._top = max(self._top, level)
            if plain:
                self._plain.add(id(value))
        return value

    def _level(self, value: Any) -> int:
        """The highest stage ``value`` reads; a value this executor did not make (built by an
        implementation from its arguments) is placed after every stage so far (always safe)."""
        if isinstance(value, SVal):
            known = self._levels.get(id(value))
            return known[1] if known is not None and known[0] is value else self._top
        if isinstance(value, (list, tuple)):
            return max((self._level(v) for v in value), default=0)
        return 0

    def _dispatch(self, name: str, dtype: str, *args: Any) -> SVal:
        result = REGISTRY.lookup(name)(self, dtype, *args)
        if id(result) in self._levels and self._levels[id(result)][0] is result:
            return result         # an argument returned as it is keeps what it reads
        return self._note(result, self._level(args))


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
    return common(v.dtype for v in values)
