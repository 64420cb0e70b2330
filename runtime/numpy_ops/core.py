"""NumpyOps: inputs, constants, dispatch to registered function implementations."""

from __future__ import annotations

from typing import Any, Mapping

from mlc.runtime.numpy_ops.vec import Vec
from mlc.runtime.registry import Registry, UnknownFunction  # noqa: F401  (re-exported)

REGISTRY = Registry("mlc.runtime.numpy_ops", "NumPy")
FUNCTIONS = REGISTRY.functions
implements = REGISTRY.implements


class NumpyOps:
    """Evaluate over ``n`` rows. ``columns`` maps input names and ``group.output`` names to
    :class:`Vec`; ``fitted`` maps analyzer ids to their fitted constants (from mldl.json)."""

    def __init__(self, columns: Mapping[str, Vec], n: int, fitted: Mapping[str, Mapping[str, Any]] | None = None):
        REGISTRY.load()
        self.columns = columns
        self.n = n
        self.fitted = fitted or {}

    def input(self, name: str, dtype: str) -> Vec:
        return self._column(name, dtype)

    def group(self, group: str, output: str, dtype: str) -> Vec:
        return self._column(f"{group}.{output}", dtype)

    def _column(self, name: str, dtype: str) -> Vec:
        column = self.columns.get(name)
        if column is None:
            return Vec.full(None, dtype, self.n)
        if column.dtype != dtype:
            raise TypeError(f"column `{name}` is {column.dtype}, expected {dtype}")
        return column

    def const(self, value: Any, dtype: str) -> Vec:
        return Vec.full(value, dtype, self.n)

    def unary(self, op: str, x: Vec, dtype: str) -> Vec:
        return self._dispatch(f"unary{op}", dtype, x)

    def binary(self, op: str, left: Vec, right: Vec, dtype: str) -> Vec:
        return self._dispatch(f"binary{op}", dtype, left, right)

    def isin(self, x: Vec, options: list[Vec], negated: bool, dtype: str) -> Vec:
        return self._dispatch("in", dtype, x, options, negated)

    def call(self, function: str, dtype: str, *args: Any) -> Vec:
        return self._dispatch(function, dtype, *args)

    def analyzer(self, function: str, analyzer_id: str, dtype: str, x: Vec, *params: Any) -> Vec:
        if analyzer_id not in self.fitted:
            raise KeyError(f"analyzer `{analyzer_id}` has no fitted constants; run `mlc fit` first")
        return self._dispatch(f"apply_{function}", dtype, x, self.fitted[analyzer_id], *params)

    def feature(self, name: str, value: Vec) -> Vec:
        """A derived feature's vector, computed once; later features read it as it is."""
        return value

    def _dispatch(self, name: str, dtype: str, *args: Any) -> Vec:
        return REGISTRY.lookup(name)(self, dtype, *args)
