"""The Triton backend: per shard a Triton model repository (``triton/<shard>/``) with, per
served model, the exported model's config, a python-backend preprocessing model and an
ensemble pipeline; plus ``triton_local/<shard>/<model>/``, the model on the python backend for a
Triton that has only that backend (``mlc serve --local``). See README.md."""

from mlc.backends.triton.emit import (
    RequestTensor, emit, model_config, pipeline_config, preprocess_config, python_model_config,
    render_onnx_model, render_preprocess_model, request_tensors, targets,
)
from mlc.backends.triton_layout import Copy, repository_plan

__all__ = ["Copy", "RequestTensor", "emit", "model_config", "pipeline_config", "preprocess_config",
           "python_model_config", "render_onnx_model", "render_preprocess_model", "repository_plan",
           "request_tensors", "targets"]
