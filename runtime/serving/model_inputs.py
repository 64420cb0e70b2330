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


def model_inputs(model: ModelIR, features: Mapping[str, Vec], columns: Mapping[str, Vec],
                 n: int) -> dict[str, np.ndarray]:
    """``{signature input: (n, 1) array}`` of ``model`` from the preprocessing module's
    ``features`` and the request's ``columns`` (``n`` rows)."""
    wanted: dict[str, Any] = {}
    for tensor in model.signature_inputs:
        vec = features.get(tensor.name)
        if vec is None:             # a request input used directly as a model input
            vec = columns.get(tensor.name)
        wanted[tensor.name] = [None] * n if vec is None else model_column(vec)
    return model_arrays(model, wanted)
