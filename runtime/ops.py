"""The `ops` interface: the only thing a generated preprocessing module calls.

A generated module (``preprocess/<name>_preprocess.py``, see ``mlc.backends.preprocess``) has
one function, ``transform(ops)``, that computes every derived feature of a spec through the
methods below. Two executors implement them with identical semantics (docs/semantics.md):

- ``mlc.runtime.numpy_ops.NumpyOps``: a batch of request rows as column arrays (online);
- ``mlc.runtime.spark_ops.SparkOps``: native ``pyspark.sql.Column`` expressions (offline).

Values are executor-specific (a NumPy array plus a validity mask, a Spark Column), always
tagged with their mlc dtype: ``bool``, ``int64``, ``float64``, ``string``, ``timestamp``.
Every method receives the mlc dtype of its result (from the typed IR), so an executor never
guesses types. Arguments the catalogue marks constant-only (bucket boundaries, bucket counts,
``round`` digits, ``split_part`` separator ...) arrive as plain Python values, never as
executor values.

Function names passed to :meth:`Ops.call` are catalogue names (``mlc.dsl.catalogue``); an
executor refuses any other name, so a generated module can only run catalogue functions.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

UNARY_OPS = ("-", "not")
BINARY_OPS = ("+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or")


def common_dtype(dtypes) -> str:
    """The common type of operand dtypes under the language's promotions (mlc.dsl.types): the
    `null` literal takes the other type, int64 with float64 gives float64."""
    kinds = set(dtypes) - {"null"}
    if not kinds:
        return "null"
    if kinds == {"int64", "float64"}:
        return "float64"
    if len(kinds) != 1:
        raise TypeError(f"no common type for {sorted(kinds)}")
    return kinds.pop()


class Ops(Protocol):
    def input(self, name: str, dtype: str) -> Any:
        """A request input (online) or a column of the training data (offline)."""

    def group(self, group: str, output: str, dtype: str) -> Any:
        """A feature-group output, e.g. ``group("rider_load", "assigned_30m", "int64")``."""

    def const(self, value: Any, dtype: str) -> Any:
        """A literal (``None`` for null) broadcast to the batch."""

    def unary(self, op: str, x: Any, dtype: str) -> Any:
        """``-x`` or ``not x``."""

    def binary(self, op: str, left: Any, right: Any, dtype: str) -> Any:
        """Arithmetic, comparison and three-valued boolean logic."""

    def isin(self, x: Any, options: Sequence[Any], negated: bool, dtype: str) -> Any:
        """``x in [..]`` / ``x not in [..]``; options are executor values."""

    def call(self, function: str, dtype: str, *args: Any) -> Any:
        """A catalogue scalar function; constant-only arguments are plain Python values."""

    def analyzer(self, function: str, analyzer_id: str, dtype: str, x: Any, *params: Any) -> Any:
        """An analyzer applied with the constants fitted for ``analyzer_id`` (see mldl.json)."""

    def feature(self, name: str, value: Any) -> Any:
        """The derived feature ``name`` has been computed as ``value``; what to use for it from now
        on (in later features and in the result). NumPy returns ``value`` (already evaluated
        once); Spark materialises it as a column of a select stage and returns a reference to that
        column, so a feature used by several others is evaluated once and the plan stays linear in
        the spec's size instead of inlining the feature's expression into every user."""
