"""The body of every generated Triton python-backend model that runs ONNX Runtime (the local
`triton_local/<shard>/<model>` variant, and the `python` platform).

The generated `model.py` only declares the model name, the ONNX file and the signature, and
subclasses :class:`OnnxModel`. It runs ONNX Runtime on the ONNX file of the version directory
the `model.py` is copied into (beside the exported model: ``mlc.runtime.training.export``), with
the same inputs and outputs as the ``onnxruntime_onnx`` model: float32 dense and int64 sparse
inputs ``[batch, 1]``. The requests Triton hands over together run as one batch.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def providers(args: dict) -> list:
    """ONNX Runtime execution providers for the Triton instance (CUDA on a GPU instance)."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if args.get("model_instance_kind") == "GPU" and "CUDAExecutionProvider" in available:
        device = int(args.get("model_instance_device_id") or 0)
        return [("CUDAExecutionProvider", {"device_id": device}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxModel:
    """A Triton python-backend model; the generated ``TritonPythonModel`` sets the class
    attributes below and ``pb_utils`` (the backend's ``triton_python_backend_utils``)."""

    pb_utils: Any = None
    MODEL = ""
    ONNX_FILE = "model.onnx"
    INPUTS: Sequence[tuple[str, str]] = ()     # (name, numpy type name)
    OUTPUTS: Sequence[tuple[str, str]] = ()

    def initialize(self, args: dict) -> None:
        import onnxruntime

        path = args["model_repository"] + "/" + args["model_version"] + "/" + self.ONNX_FILE
        self.session = onnxruntime.InferenceSession(path, providers=providers(args))

    def execute(self, requests: Sequence[Any]) -> list:
        pb = self.pb_utils
        feeds: dict[str, list] = {name: [] for name, _ in self.INPUTS}
        sizes = []
        for request in requests:
            rows = None
            for name, numpy_type in self.INPUTS:
                values = pb.get_input_tensor_by_name(request, name).as_numpy()
                feeds[name].append(values.astype(np.dtype(numpy_type), copy=False).reshape(-1, 1))
                rows = len(feeds[name][-1])
            sizes.append(rows)
        batch = {name: np.concatenate(parts) for name, parts in feeds.items()}
        results = self.session.run([name for name, _ in self.OUTPUTS], batch)
        cuts = np.cumsum(sizes)[:-1]
        pieces = [np.split(result.astype(np.dtype(numpy_type), copy=False), cuts)
                  for result, (_, numpy_type) in zip(results, self.OUTPUTS)]
        return [pb.InferenceResponse(output_tensors=[pb.Tensor(name, pieces[k][i])
                                                     for k, (name, _) in enumerate(self.OUTPUTS)])
                for i in range(len(requests))]
