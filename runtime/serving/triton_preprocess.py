"""The body of every generated Triton python-backend `<model>_preprocess` model.

The generated `triton/<shard>/<model>_preprocess/1/model.py` only declares what differs per
model (spec and model name, the request tensors, the signature) and subclasses
:class:`PreprocessModel`; the logic lives here, once. It runs the generated preprocessing module
with the NumPy executor (fitted analyzer constants from ``mldl.json``), then
the model-column mapping of ``mlc.runtime.serving.model_inputs`` (shared with the predictor:
``mlc.runtime.training.inputs.model_arrays``, the mapping training used), so serving feeds the
model exactly as training did.

Request conventions: every input is optional (an absent tensor is a column of nulls);
``<name><null suffix>`` (BOOL) marks null rows of ``<name>``; strings arrive as UTF-8 bytes,
timestamps as int64 microseconds since the epoch (UTC). Requests are preprocessed one at a
time; a request that cannot be preprocessed gets an error response and the others go on.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mlc.core.errors import MlcError
from mlc.core.ir import load_ir
from mlc.runtime.features.fitting import fitted_from_ir
from mlc.runtime.numpy_ops import Vec
from mlc.runtime.preprocess import load_module, transform_numpy
from mlc.runtime.serving.model_inputs import model_inputs

NUMPY_TYPES = {"float64": np.float64, "int64": np.int64, "bool": np.bool_, "string": np.object_,
               "timestamp": np.int64}
PLACEHOLDERS = {"string": "", "bool": False, "float64": 0.0, "int64": 0, "timestamp": 0}


class PreprocessError(MlcError, ValueError):
    """A request that cannot be preprocessed (shapes, lengths, values)."""


def _rows(tensor: Any, name: str) -> np.ndarray:
    values = tensor.as_numpy()
    if values.ndim != 2 or values.shape[1] != 1:
        raise PreprocessError(f"input `{name}` must have shape [batch, 1], got {list(values.shape)}")
    return values[:, 0]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _vector(values: np.ndarray, nulls: np.ndarray, dtype: str) -> Any:
    """A NumPy-executor column from request values and a null mask."""
    if dtype == "string":
        data = np.empty(len(values), dtype=object)
        data[:] = [_text(v) for v in values.tolist()]
    else:
        data = np.array(values, dtype=NUMPY_TYPES[dtype])
    if nulls.any():
        data[nulls] = PLACEHOLDERS[dtype]
    return Vec(data, ~nulls, dtype)


class PreprocessModel:
    """A Triton python-backend model; the generated ``TritonPythonModel`` subclasses it with the
    class attributes below and ``pb_utils`` (the backend's ``triton_python_backend_utils``)."""

    pb_utils: Any = None
    SPEC_NAME = ""
    MODEL = ""
    MLDL_FILE = "mldl.json"
    MODULE_FILE = ""
    NULL_SUFFIX = "__null"
    REQUEST: Sequence[tuple[str, str, str]] = ()      # (Triton tensor, preprocess column, mlc dtype)
    SIGNATURE: Sequence[tuple[str, str]] = ()          # (model input, dtype)

    def _fail(self, message: str) -> Exception:
        return self.pb_utils.TritonModelException(message)

    def initialize(self, args: dict) -> None:
        directory = args["model_repository"] + "/" + args["model_version"]
        ir = load_ir(directory + "/" + self.MLDL_FILE)
        if ir.name != self.SPEC_NAME:
            raise self._fail(f"{self.MLDL_FILE} is of `{ir.name}`, expected `{self.SPEC_NAME}`")
        model = next((m for m in ir.models if m.name == self.MODEL), None)
        if model is None:
            raise self._fail(f"{self.MLDL_FILE} has no model `{self.MODEL}`")
        if tuple((t.name, t.dtype) for t in model.signature_inputs) != tuple(self.SIGNATURE):
            raise self._fail(f"model `{self.MODEL}` in {self.MLDL_FILE} has another signature than this build")
        self.module = load_module(directory + "/" + self.MODULE_FILE)
        if self.module.SPEC_NAME != self.SPEC_NAME:
            raise self._fail(f"{self.MODULE_FILE} is of `{self.module.SPEC_NAME}`, expected `{self.SPEC_NAME}`")
        self.fitted = fitted_from_ir(ir)
        unfitted = [a.id for a in ir.analyzers if a.id not in self.fitted]
        if unfitted:
            raise self._fail(f"analyzers not fitted in {self.MLDL_FILE}: {unfitted}; run `mlc fit` first")
        self.model = model

    def request_columns(self, request: Any) -> tuple[dict, int]:
        """{preprocess column: Vec} of one request, and its number of rows."""
        columns, n = {}, None
        for tensor, column, dtype in self.REQUEST:
            given = self.pb_utils.get_input_tensor_by_name(request, tensor)
            if given is None:
                continue
            values = _rows(given, tensor)
            mask_name = tensor + self.NULL_SUFFIX
            mask = self.pb_utils.get_input_tensor_by_name(request, mask_name)
            nulls = np.zeros(len(values), dtype=bool) if mask is None else _rows(mask, mask_name).astype(bool)
            if len(nulls) != len(values):
                raise PreprocessError(f"`{mask_name}` has {len(nulls)} rows, `{tensor}` has {len(values)}")
            if n is not None and len(values) != n:
                raise PreprocessError(f"input `{tensor}` has {len(values)} rows, expected {n}")
            n = len(values)
            columns[column] = _vector(values, nulls, dtype)
        if n is None:
            raise PreprocessError(f"the request has none of the inputs of model `{self.MODEL}`")
        return columns, n

    def preprocess(self, request: Any) -> dict[str, np.ndarray]:
        """The model input arrays of one request: {signature input: (n, 1) array}."""
        columns, n = self.request_columns(request)
        features = transform_numpy(self.module, columns, self.fitted)
        return model_inputs(self.model, features, columns, n)

    def execute(self, requests: Sequence[Any]) -> list:
        pb = self.pb_utils
        responses = []
        for request in requests:
            try:
                arrays = self.preprocess(request)
            except Exception as error:  # one bad request must not fail the others
                responses.append(pb.InferenceResponse(
                    output_tensors=[], error=pb.TritonError(f"{self.MODEL}_preprocess: {error}")))
                continue
            responses.append(pb.InferenceResponse(
                output_tensors=[pb.Tensor(name, arrays[name]) for name, _ in self.SIGNATURE]))
        return responses
