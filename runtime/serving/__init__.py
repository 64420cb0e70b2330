"""Online serving: the predictor (request -> validated rows -> shard -> online features ->
shared preprocessing -> model inputs -> ONNX Runtime or Triton -> scores), its Prometheus
metrics, and the HTTP gateway (``python -m mlc.runtime.serving.gateway``). See README.md."""

from mlc.runtime.serving.predictor import (BackendError, BackendUnavailable, InferenceBackend, ModelNotFound,
                                          OnnxBackend, Predictor, RequestError, Response, Routing, ServingError,
                                          TritonBackend)

__all__ = ["BackendError", "BackendUnavailable", "InferenceBackend", "ModelNotFound", "OnnxBackend", "Predictor",
           "RequestError", "Response", "Routing", "ServingError", "TritonBackend"]
