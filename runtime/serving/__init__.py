"""Online serving: the predictor (request -> validated rows -> shard -> online features ->
shared preprocessing -> model inputs -> ONNX Runtime or Triton -> scores), its Prometheus
metrics, and the HTTP gateway (``python -m mlc.runtime.serving.gateway``). See README.md."""

from mlc.runtime.serving.errors import BackendError, BackendUnavailable, ModelNotFound, RequestError, ServingError
from mlc.runtime.serving.inference import InferenceBackend, OnnxBackend, TritonBackend
from mlc.runtime.serving.predictor import Predictor, Response
from mlc.runtime.serving.routing import Routing

__all__ = ["BackendError", "BackendUnavailable", "InferenceBackend", "ModelNotFound", "OnnxBackend", "Predictor",
           "RequestError", "Response", "Routing", "ServingError", "TritonBackend"]
