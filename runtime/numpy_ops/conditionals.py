"""Conditionals of the NumPy executor: ``if``, ``coalesce`` (``fillna``), ``is_null``, ``nullif``."""

from __future__ import annotations

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.vec import Vec, as_dtype, result


@implements("if")
def if_(ops, dtype: str, condition: Vec, then: Vec, otherwise: Vec) -> Vec:
    condition = as_dtype(condition, "bool")
    take = condition.valid & condition.data            # a null condition counts as false
    a, b = as_dtype(then, dtype), as_dtype(otherwise, dtype)
    return result(np.where(take, a.data, b.data), np.where(take, a.valid, b.valid), dtype)


@implements("coalesce", "fillna")
def coalesce(ops, dtype: str, *values: Vec) -> Vec:
    out = as_dtype(values[0], dtype)
    for value in values[1:]:
        value = as_dtype(value, dtype)
        take = ~out.valid & value.valid
        out = Vec(np.where(take, value.data, out.data), out.valid | value.valid, dtype)
    return out


@implements("is_null")
def is_null(ops, dtype: str, x: Vec) -> Vec:
    return Vec(~x.valid, np.ones(len(x), dtype=bool), "bool")


@implements("nullif")
def nullif(ops, dtype: str, x: Vec, value: Vec) -> Vec:
    """``x``, null where ``x == value`` (the language's ``==``: NaN equals NaN, -0.0 equals 0.0)."""
    from mlc.runtime.numpy_ops.operators import compare

    equal = compare("==", x, value)
    out = as_dtype(x, dtype)
    return out.with_nulls(equal.valid & equal.data)
