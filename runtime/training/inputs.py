"""The one mapping from preprocessed feature columns to model input arrays, shared by training
(``data.read_split``) and serving (the online predictor), so both feed a model identically.

    arrays = model_arrays(model_ir, {"distance_z": [0.3, None], "city_id": [4, None]})
    # {"distance_z": float32 (2, 1) [[0.3], [0.0]], "city_id": int64 (2, 1) [[4], [64]]}

Decisions (NumPy only, vectorised; no TensorFlow here):

- Keys are the model's signature input names (``ModelIR.signature_inputs``), in signature
  order; each array has shape ``(n, 1)``, the ``(-1, 1)`` of the signature. A column may be
  given as ``(n,)`` or ``(n, 1)``; every column must have the same ``n``. Columns the model does
  not use are ignored; a missing one is a ``ModelInputError`` naming it.
- Dense inputs become float32. A null (``None``, NaN, pandas NA) becomes 0.0, and so does any
  value that is not finite after the cast (``inf``, or a float64 beyond float32's range): dense
  features are standardized/bounded by the preprocessing, so 0.0 is the neutral value, and one
  bad value must not turn a whole prediction into NaN.
- Sparse inputs become int64 ids in ``0..buckets``. A null id becomes ``buckets`` (the extra
  "missing" row every embedding table has: tables have ``buckets + 1`` rows, docs/spec.md).
  Ids outside the table (``< 0`` or ``> buckets``) and non-integral or non-finite float ids are
  mapped to ``buckets`` as well: an unknown id is treated as a missing one rather than failing a
  request or indexing out of range. The models repeat this guard in-graph (``models``), so a
  raw request sent straight to Triton is safe too.
- Labels (``label_array``) become float32 ``(n, 1)``. Null or non-finite labels are an error
  (the training set drops rows whose label is null); classification labels must lie in
  ``[0, 1]`` (0/1 or bool; soft labels allowed for the cross-entropy).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from mlc.core.ir import ModelIR, TensorIR
from mlc.core.errors import MlcError


class ModelInputError(MlcError, ValueError):
    """Columns that cannot be mapped to the model's inputs (missing, ragged, wrong shape)."""


def model_arrays(model: ModelIR, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Model input arrays keyed by signature input name (signature order), shape ``(n, 1)``:
    dense float32 with null/non-finite -> 0.0; sparse int64 with null/out-of-range -> buckets."""
    missing = [t.name for t in model.signature_inputs if t.name not in columns]
    if missing:
        raise ModelInputError(f"model `{model.name}`: no column for input(s) {missing}")
    buckets = sparse_buckets(model)
    arrays = {}
    for tensor in model.signature_inputs:
        values = as_column_vector(columns[tensor.name], tensor.name)
        if tensor.name in buckets:
            arrays[tensor.name] = sparse_ids(values, buckets[tensor.name])
        else:
            arrays[tensor.name] = dense_values(values)
    check_same_length(model, arrays)
    return arrays


def label_array(model: ModelIR, values: Any) -> np.ndarray:
    """Labels as float32 ``(n, 1)``; null/non-finite labels, or classification labels outside
    ``[0, 1]``, raise ``ModelInputError``."""
    labels = floats_with_nan(as_column_vector(values, model.label.name))
    if not np.all(np.isfinite(labels)):
        raise ModelInputError(f"model `{model.name}`: label `{model.label.name}` has null or non-finite values")
    if model.task == "classification" and labels.size and (labels.min() < 0 or labels.max() > 1):
        raise ModelInputError(f"model `{model.name}`: classification label `{model.label.name}` "
                              f"must be in [0, 1], got values in [{labels.min()}, {labels.max()}]")
    return labels.astype(np.float32).reshape(-1, 1)


def sparse_buckets(model: ModelIR) -> dict[str, int]:
    """Sparse input name -> number of buckets (the null/unknown id)."""
    return {s.name: int(s.buckets) for s in model.sparse}


def input_tensor(model: ModelIR, name: str) -> TensorIR:
    return next(t for t in model.signature_inputs if t.name == name)


def dense_values(values: np.ndarray) -> np.ndarray:
    """float32 ``(n, 1)``; null and non-finite values -> 0.0."""
    floats = floats_with_nan(values)
    with np.errstate(over="ignore", invalid="ignore"):
        out = floats.astype(np.float32)
    out[~np.isfinite(out)] = 0.0
    return out.reshape(-1, 1)


def sparse_ids(values: np.ndarray, buckets: int) -> np.ndarray:
    """int64 ``(n, 1)`` in ``0..buckets``; null, out-of-range, non-integral -> ``buckets``."""
    if values.dtype.kind in "iub":
        ids = values.astype(np.int64, copy=False)
        valid = (ids >= 0) & (ids <= buckets) if values.dtype.kind != "b" else np.ones(ids.shape, bool)
    else:
        floats = floats_with_nan(values)
        valid = np.isfinite(floats) & (floats >= 0) & (floats <= buckets) & (np.floor(floats) == floats)
        ids = np.where(valid, floats, 0).astype(np.int64)
    return np.where(valid, ids, np.int64(buckets)).astype(np.int64).reshape(-1, 1)


def floats_with_nan(values: np.ndarray) -> np.ndarray:
    """float64 copy of a numeric/bool/object column; nulls (None, NaN, pandas NA) -> NaN."""
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    if values.dtype.kind == "O":
        return np.array([math.nan if is_null(v) else float(v) for v in values], dtype=np.float64)
    raise ModelInputError(f"cannot use a column of dtype {values.dtype} as a numeric model input")


def is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def as_column_vector(values: Any, name: str) -> np.ndarray:
    """A 1-D array of a ``(n,)`` or ``(n, 1)`` column (lists with None become object arrays)."""
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy(zero_copy_only=False) if _is_arrow(values) else values.to_numpy()
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ModelInputError(f"input `{name}` must have shape (n,) or (n, 1), got {array.shape}")
    return array


def check_same_length(model: ModelIR, arrays: Mapping[str, np.ndarray]) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ModelInputError(f"model `{model.name}`: input columns differ in length: {lengths}")


def _is_arrow(values: Any) -> bool:
    return type(values).__module__.startswith("pyarrow")
