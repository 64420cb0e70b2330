"""Column values of the NumPy executor: data array + validity mask + mlc dtype.

Representation per dtype (null slots hold a neutral placeholder, never read):

| mlc dtype | ``data``                              | placeholder |
|-----------|----------------------------------------|-------------|
| bool      | ``np.bool_``                           | False       |
| int64     | ``np.int64``                           | 0           |
| float64   | ``np.float64`` (NaN is a value)        | 0.0         |
| string    | ``object`` array of ``str``            | ""          |
| timestamp | ``np.int64`` microseconds since epoch, UTC | 0       |
| null      | ``np.bool_`` (the type of the literal ``null``; every row null) | False |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import numpy as np
from mlc.runtime.ops import common_dtype as common

NUMPY_DTYPES = {"bool": np.bool_, "int64": np.int64, "float64": np.float64, "string": object, "timestamp": np.int64,
                "null": np.bool_}
PLACEHOLDER = {"bool": False, "int64": 0, "float64": 0.0, "string": "", "timestamp": 0, "null": False}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Vec:
    data: np.ndarray
    valid: np.ndarray
    dtype: str

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def full(cls, value: Any, dtype: str, n: int) -> "Vec":
        """A constant broadcast to ``n`` rows (``None`` gives all-null)."""
        if value is None:
            return cls(np.full(n, PLACEHOLDER[dtype], dtype=NUMPY_DTYPES[dtype]), np.zeros(n, dtype=bool), dtype)
        data = np.empty(n, dtype=NUMPY_DTYPES[dtype])
        data[:] = scalar_value(value, dtype)
        return cls(data, np.ones(n, dtype=bool), dtype)

    @classmethod
    def of(cls, values: Iterable[Any], dtype: str) -> "Vec":
        """From Python values (``None`` = null) or a NumPy array (no nulls). Timestamps:
        ``datetime`` (UTC if naive) or int microseconds."""
        if isinstance(values, np.ndarray) and values.dtype != object:
            data = values.astype(NUMPY_DTYPES[dtype], copy=False)
            return cls(data, np.ones(len(data), dtype=bool), dtype)
        items = values if isinstance(values, (list, np.ndarray)) else list(values)
        boxed = np.empty(len(items), dtype=object)
        boxed[:] = items
        with np.errstate(invalid="ignore"):  # NaN elements compare fine; numpy only warns
            valid = np.not_equal(boxed, None)
        if not valid.all():
            boxed[~valid] = PLACEHOLDER[dtype]
        if dtype == "timestamp" and any(isinstance(v, datetime) for v in boxed.tolist()):
            boxed[:] = [scalar_value(v, dtype) for v in boxed.tolist()]
        data = boxed if dtype == "string" else boxed.astype(NUMPY_DTYPES[dtype])
        return cls(data, valid.astype(bool), dtype)

    def to_list(self) -> list[Any]:
        """Python values, ``None`` for null (timestamps as int microseconds)."""
        out = []
        for value, ok in zip(self.data.tolist(), self.valid.tolist()):
            out.append(value if ok else None)
        return out

    def with_nulls(self, invalid: np.ndarray) -> "Vec":
        """The same values with ``invalid`` rows turned to null (placeholder written)."""
        if not invalid.any():
            return self
        data = self.data.copy()
        data[invalid] = PLACEHOLDER[self.dtype]
        return Vec(data, self.valid & ~invalid, self.dtype)


def scalar_value(value: Any, dtype: str) -> Any:
    if dtype == "timestamp" and isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        delta = moment - EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return value


def result(data: np.ndarray, valid: np.ndarray, dtype: str) -> Vec:
    """A Vec from computed ``data`` whose invalid rows may hold garbage: placeholders written."""
    data = np.asarray(data)
    if dtype != "string" and data.dtype != NUMPY_DTYPES[dtype]:
        data = np.where(valid, data, PLACEHOLDER[dtype]).astype(NUMPY_DTYPES[dtype])
    elif not valid.all():
        data = data.copy()
        data[~valid] = PLACEHOLDER[dtype]
    return Vec(data, valid, dtype)


def as_dtype(vec: Vec, dtype: str) -> Vec:
    """``vec`` converted to ``dtype`` by the language's implicit promotions only: the ``null``
    literal to any type, ``int64`` to ``float64`` (round to nearest, ties to even)."""
    if vec.dtype == dtype:
        return vec
    if vec.dtype == "null":
        return Vec.full(None, dtype, len(vec))
    if vec.dtype == "int64" and dtype == "float64":
        return Vec(vec.data.astype(np.float64), vec.valid, dtype)
    raise TypeError(f"cannot use a {vec.dtype} value as {dtype}")


def common_dtype(*vecs: Vec) -> str:
    """The common type of values (promotion rules of mlc.dsl.types)."""
    return common(v.dtype for v in vecs)
