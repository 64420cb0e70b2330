"""The model-column mapping, once for the predictor and the Triton ``<model>_preprocess`` model:
preprocessed features -> the model's input arrays, exactly as training fed the model.

Each signature input is the preprocessing module's feature of that name, else the request
column of that name (a request input used directly as a model input), else nulls; the columns
go through ``mlc.runtime.training.inputs.model_arrays`` -- the mapping training used.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from mlc.core.ir import ModelIR
from mlc.runtime.numpy_ops import Vec
from mlc.runtime.training.inputs import model_arrays


def model_column(vec: Vec) -> np.ndarray:
    """A preprocessed feature as model_arrays takes it: values, None where null."""
    if vec.valid.all():
        return vec.data
    out = vec.data.astype(object)
    out[~vec.valid] = None
    return out


def signature_columns(model: ModelIR, features: Mapping[str, Vec], columns: Mapping[str, Vec]) -> dict[str, Vec | None]:
    """``{signature input: Vec}``: the preprocessing module's feature of that name, else the
    request column (a request input used directly as a model input), else ``None`` (nulls)."""
    out: dict[str, Vec | None] = {}
    for tensor in model.signature_inputs:
        vec = features.get(tensor.name)
        out[tensor.name] = vec if vec is not None else columns.get(tensor.name)
    return out


def arrays_of(model: ModelIR, signature: Mapping[str, Vec | None], n: int) -> dict[str, np.ndarray]:
    """The model's input arrays from its ``signature_columns``."""
    wanted: dict[str, Any] = {name: [None] * n if vec is None else model_column(vec) for name, vec in signature.items()}
    return model_arrays(model, wanted)


def model_inputs(model: ModelIR, features: Mapping[str, Vec], columns: Mapping[str, Vec],
                 n: int) -> dict[str, np.ndarray]:
    """``{signature input: (n, 1) array}`` of ``model`` from the preprocessing module's
    ``features`` and the request's ``columns`` (``n`` rows)."""
    return arrays_of(model, signature_columns(model, features, columns), n)
