"""Exporting a trained model as one version of a Triton model repository.

    result = export_model(keras_model, model_ir, "out/models", next_version("out/models", model_ir.name),
                          {"data": {"train": ["2024-06-01T00:00:00Z", ...]}, "metrics": {...}, "spec_sha256": ...})

Layout of version ``V`` of model ``M``::

    <repository>/M/V/model.savedmodel/   SavedModel, signature `serving_default`
    <repository>/M/V/model.onnx          the same function through tf2onnx (opset ``ONNX_OPSET``)
    <repository>/M/V/metadata.json       signature, sparse buckets, files, and the caller's metadata

Both formats take exactly the IR signature inputs (names, dtypes, shape ``(-1, 1)``) and return
the IR signature output (``probability`` or ``prediction``, float32 ``(-1, 1)``); both are
produced from ONE ``tf.function`` that calls the Keras model with ``training=False``.
``metadata.json`` has sorted keys and nothing about the run itself (no timestamps, hosts or
absolute paths): the caller passes what it knows (data time range, metrics, spec hash ...);
its keys may not collide with the ones this module writes.

The SavedModel's root object is a ``tf.Module`` with the Keras model as attribute ``model``
and the serving function as ``serve``, so its ``variables/`` checkpoint restores into a fresh
``build_model`` via ``tf.train.Checkpoint(model=keras_model)`` (warm start from a version).

Atomicity: everything is written into a hidden temporary directory beside the versions
(``<repository>/M/.V.tmp-*``, on the same filesystem; Triton ignores non-numeric names), then
verified, then renamed to ``<repository>/M/V``. A failure at any step removes the temporary
directory, so a version directory either is complete and verified or does not exist. An
existing version is never overwritten.

Verification: a seeded batch of ``VERIFY_ROWS`` random valid inputs (dense ~ N(0, 1), sparse
ids uniform in ``0..buckets``, null id included) goes through the Keras model, the reloaded
SavedModel and onnxruntime; every output must agree within ``1e-5`` absolute plus ``1e-6`` of
the reference value (the relative term only matters for regression outputs far above 1, where
one float32 ulp already exceeds 1e-6), else ``ExportError``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from mlc.core.ir import ModelIR
from mlc.core.errors import MlcError

ONNX_OPSET = 13
VERIFY_ROWS = 128
VERIFY_SEED = 0
ATOL, RTOL = 1e-5, 1e-6
LIFT_BYTES = 2**20                  # variables this big are kept out of tf2onnx (save_onnx)
ONNX_SINGLE_FILE_LIMIT = 2_000_000_000 - 64 * 2**20    # bytes; protobuf cannot serialise 2 GiB
SAVEDMODEL_DIR, ONNX_FILE, METADATA_FILE = "model.savedmodel", "model.onnx", "metadata.json"
RESERVED_KEYS = ("model", "version", "type", "task", "signature", "sparse_buckets", "files", "onnx_opset")


class ExportError(MlcError, RuntimeError):
    """The export could not be written or its formats disagree; no version was created."""


@dataclass(frozen=True)
class ExportResult:
    model: str
    version: int
    path: str                 # <repository>/<model>/<version>
    savedmodel: str           # .../model.savedmodel
    onnx: str                 # .../model.onnx
    metadata: str             # .../metadata.json
    max_abs_diff: float       # SavedModel vs ONNX on the verification batch


def export_model(keras_model: Any, model: ModelIR, repository: str, version: int,
                 metadata: Mapping[str, Any]) -> ExportResult:
    """Write, verify and publish version ``version`` of ``model`` (see the module docstring)."""
    if int(version) < 1:
        raise ValueError(f"version must be a positive integer, not {version}")
    clashes = sorted(set(metadata) & set(RESERVED_KEYS))
    if clashes:
        raise ValueError(f"metadata keys {clashes} are written by the export itself")
    model_dir = os.path.join(repository, model.name)
    final = os.path.join(model_dir, str(int(version)))
    if os.path.exists(final):
        raise ExportError(f"{final} already exists; versions are never overwritten")
    os.makedirs(model_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{int(version)}.tmp-", dir=model_dir)
    os.chmod(staging, 0o777 & ~current_umask())   # mkdtemp makes it 0700; a version is read by Triton
    try:
        diff = write_version(keras_model, model, staging, int(version), metadata)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(model.name, int(version), final, os.path.join(final, SAVEDMODEL_DIR),
                        os.path.join(final, ONNX_FILE), os.path.join(final, METADATA_FILE), diff)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_version(keras_model: Any, model: ModelIR, directory: str, version: int, metadata: Mapping[str, Any]) -> float:
    """All three files into ``directory``, then the cross-format check; returns the max diff."""
    document = metadata_document(model, version, metadata)     # bad metadata fails before the slow part
    serve = serving_function(keras_model, model)
    save_savedmodel(serve, keras_model, os.path.join(directory, SAVEDMODEL_DIR))
    save_onnx(serve, model, os.path.join(directory, ONNX_FILE))
    write_metadata(os.path.join(directory, METADATA_FILE), document)
    return verify_version(keras_model, model, directory)


def serving_function(keras_model: Any, model: ModelIR) -> Any:
    """``tf.function`` with one ``(None, 1)`` argument per signature input (named as in the IR)
    returning ``{output: keras_model(inputs, training=False)}``."""
    import tensorflow as tf

    names = [t.name for t in model.signature_inputs]
    specs = [tf.TensorSpec((None, 1), tf.as_dtype(t.dtype), name=t.name) for t in model.signature_inputs]
    output = model.signature_outputs[0].name

    @tf.function(input_signature=specs)
    def serve(*tensors: Any) -> dict:
        prediction = keras_model(dict(zip(names, tensors)), training=False)
        return {output: tf.cast(tf.reshape(prediction, (-1, 1)), tf.float32)}

    return serve


def save_savedmodel(serve: Any, keras_model: Any, path: str) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.model = keras_model
    module.serve = serve
    tf.saved_model.save(module, path, signatures={"serving_default": serve.get_concrete_function()})


def save_onnx(serve: Any, model: ModelIR, path: str) -> None:
    """``serve`` through tf2onnx into ``path``, with the big weights kept out of tf2onnx.

    tf2onnx freezes every variable into a graph constant, and grappler, its own graph, its
    optimizers and the model proto each copy them: 25-60x the weights' size at peak (a 394 MB
    DeepFM needed ~18 GB). Here the variables of at least ``LIFT_BYTES`` (embedding tables, big
    kernels) are frozen as placeholders of their dtype and shape instead, tf2onnx converts that
    small graph, and ``write_onnx`` adds the variables' values as initializers named as those
    placeholders' tensors. The values are the variables' own bytes, so the numerics are those of
    a plain conversion (smaller variables stay constants, which tf2onnx may fold)."""
    import tensorflow as tf
    import tf2onnx

    concrete = serve.get_concrete_function()
    input_names = [t.name for t in concrete.inputs if t.dtype != tf.resource]
    output_names = [t.name for t in concrete.outputs]
    renames = tf2onnx.convert.tensor_names_from_structed(concrete, input_names, output_names)
    with tf.device("/cpu:0"):
        graph_def, lifted = freeze_with_placeholders(concrete, LIFT_BYTES)
    with warnings.catch_warnings():     # tf2onnx 1.17 calls np.product (deprecated in NumPy 1.25)
        warnings.simplefilter("ignore", DeprecationWarning)
        onnx_model, _ = tf2onnx.convert.from_graph_def(
            graph_def, name=concrete.name, input_names=input_names + list(lifted), output_names=output_names,
            opset=ONNX_OPSET, tensors_to_rename=renames)
    lifted = {i.name: lifted[i.name] for i in onnx_model.graph.input if i.name in lifted}    # used ones
    kept = [i for i in onnx_model.graph.input if i.name not in lifted]
    del onnx_model.graph.input[:]
    onnx_model.graph.input.extend(kept)
    expected_inputs = [t.name for t in model.signature_inputs]
    expected_outputs = [t.name for t in model.signature_outputs]
    inputs = [i.name for i in onnx_model.graph.input]
    outputs = [o.name for o in onnx_model.graph.output]
    if inputs != expected_inputs or outputs != expected_outputs:
        raise ExportError(f"ONNX names differ from the signature: inputs {inputs}, outputs {outputs}")
    write_onnx(onnx_model, lifted, path)


def freeze_with_placeholders(concrete: Any, min_bytes: int) -> tuple[Any, dict[str, Any]]:
    """The frozen GraphDef of ``concrete`` (variables -> constants, as tf2onnx freezes it) in
    which each variable of at least ``min_bytes`` is a Placeholder of its dtype and shape
    instead; returns it and ``{placeholder tensor name: variable}``.

    TensorFlow's freezing turns each captured variable handle into a Const named as the
    capture and rewrites its readers (ReadVariableOp -> Identity, ResourceGather -> GatherV2);
    the big ones are frozen with an empty value (never copying the weights) and that Const
    then becomes the Placeholder."""
    from tensorflow.python.framework.convert_to_constants import (  # what tf2onnx freezes with
        _FunctionConverterDataInEager, _replace_variables_by_constants)

    handles = {id(v.handle): v for v in concrete.graph.variables
               if v.shape.num_elements() * v.dtype.size >= min_bytes}
    big = {internal.name.split(":")[0]: handles[id(external)]
           for external, internal in concrete.graph.captures if id(external) in handles}
    stubbed = {id(v) for v in big.values()}

    class Converter(_FunctionConverterDataInEager):
        def _eval(self, tensor: Any) -> np.ndarray:
            if id(tensor) in stubbed:
                return np.zeros((0,), tensor.dtype.as_numpy_dtype)
            return super()._eval(tensor)

    converter = Converter(func=concrete, lower_control_flow=False, aggressive_inlining=True)
    graph_def, _ = _replace_variables_by_constants(converter_data=converter)
    lifted = {}
    for node in graph_def.node:
        if node.name in big and node.op == "Const":
            variable = big[node.name]
            node.op = "Placeholder"
            node.ClearField("attr")
            node.attr["dtype"].type = variable.dtype.as_datatype_enum
            node.attr["shape"].shape.CopyFrom(variable.shape.as_proto())
            lifted[node.name + ":0"] = variable
    return graph_def, lifted


def write_onnx(onnx_model: Any, initializers: Mapping[str, Any], path: str) -> None:
    """``onnx_model`` plus one initializer per ``{name: variable}`` as ``path`` (or ``path`` +
    ``path.data`` beyond protobuf's 2 GiB limit), without serialising another copy of the
    weights: the file is the model's bytes followed by one ``ModelProto{graph{initializer}}``
    per variable, its ``raw_data`` written from that variable's array (one array at a time).
    Concatenated protobuf messages parse as their merge (repeated fields append), so the file
    is exactly the model with those initializers (what ``onnx.load`` and onnxruntime read)."""
    import onnx
    from onnx import helper, numpy_helper

    size = onnx_model.ByteSize() + sum(v.shape.num_elements() * v.dtype.size + 1024 for v in initializers.values())
    if sys.byteorder != "little" or size >= ONNX_SINGLE_FILE_LIMIT:
        # weights beside the graph (as onnxruntime/Triton load them past 2 GiB), through onnx
        onnx_model.graph.initializer.extend(numpy_helper.from_array(v.numpy(), n) for n, v in initializers.items())
        if onnx_model.ByteSize() < ONNX_SINGLE_FILE_LIMIT:
            onnx.save_model(onnx_model, path)
        else:
            onnx.save_model(onnx_model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=ONNX_FILE + ".data")
        return
    with open(path, "wb") as fh:
        fh.write(onnx_model.SerializeToString())
        for name, variable in initializers.items():     # one variable's copy in memory at a time
            value = np.ascontiguousarray(variable.numpy())
            head = onnx.TensorProto(name=name, dims=value.shape,
                                    data_type=helper.np_dtype_to_tensor_dtype(value.dtype)).SerializeToString()
            tensor = head + field_header(onnx.TensorProto.RAW_DATA_FIELD_NUMBER, value.nbytes)
            initializer = field_header(onnx.GraphProto.INITIALIZER_FIELD_NUMBER, len(tensor) + value.nbytes)
            graph = field_header(onnx.ModelProto.GRAPH_FIELD_NUMBER, len(initializer) + len(tensor) + value.nbytes)
            fh.write(graph + initializer + tensor)
            fh.write(memoryview(value).cast("B"))


def field_header(number: int, length: int) -> bytes:
    """Protobuf wire format: the tag of length-delimited field ``number`` and ``length``."""
    out = bytearray()
    for value in ((number << 3) | 2, length):
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def metadata_document(model: ModelIR, version: int, metadata: Mapping[str, Any]) -> dict:
    return {
        **{k: jsonable(v) for k, v in metadata.items()},
        "model": model.name,
        "version": version,
        "type": model.type,
        "task": model.task,
        "signature": {
            "inputs": [tensor_json(t) for t in model.signature_inputs],
            "outputs": [tensor_json(t) for t in model.signature_outputs],
        },
        "sparse_buckets": {s.name: int(s.buckets) for s in model.sparse},
        "files": {"savedmodel": SAVEDMODEL_DIR, "onnx": ONNX_FILE},
        "onnx_opset": ONNX_OPSET,
    }


def write_metadata(path: str, document: dict) -> None:
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def tensor_json(tensor: Any) -> dict:
    return {"name": tensor.name, "dtype": tensor.dtype, "shape": list(tensor.shape)}


def jsonable(value: Any) -> Any:
    """Plain JSON data of metadata values (NumPy scalars/arrays, tuples); a NaN or infinite
    float (say the AUC of a one-class validation set) becomes null."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"metadata value {value!r} of type {type(value).__name__} is not JSON data")


# ------------------------------------------------------------------ verification


def verification_batch(model: ModelIR, rows: int = VERIFY_ROWS, seed: int = VERIFY_SEED) -> dict[str, np.ndarray]:
    """Seeded random valid inputs: dense N(0, 1) float32, sparse ids uniform in 0..buckets."""
    rng = np.random.RandomState(seed)
    buckets = {s.name: int(s.buckets) for s in model.sparse}
    batch = {}
    for tensor in model.signature_inputs:
        if tensor.name in buckets:
            batch[tensor.name] = rng.randint(0, buckets[tensor.name] + 1, size=(rows, 1)).astype(np.int64)
        else:
            batch[tensor.name] = rng.standard_normal((rows, 1)).astype(np.float32)
    return batch


def verify_version(keras_model: Any, model: ModelIR, directory: str) -> float:
    """Keras, reloaded SavedModel and onnxruntime agree on the verification batch, else raise."""
    batch = verification_batch(model)
    output = model.signature_outputs[0].name
    reference = np.asarray(keras_model(batch, training=False), dtype=np.float32).reshape(-1, 1)
    saved = run_savedmodel(os.path.join(directory, SAVEDMODEL_DIR), batch)[output]
    onnx = run_onnx(os.path.join(directory, ONNX_FILE), batch)[output]
    check_close("SavedModel", saved, "the Keras model", reference)
    check_close("ONNX", onnx, "SavedModel", saved)
    return float(np.max(np.abs(onnx - saved))) if saved.size else 0.0


def check_close(name: str, values: np.ndarray, reference_name: str, reference: np.ndarray) -> None:
    if values.shape != reference.shape:
        raise ExportError(f"{name} output shape {values.shape} differs from {reference_name}'s {reference.shape}")
    excess = np.abs(values - reference) - (ATOL + RTOL * np.abs(reference))
    if not np.all(np.isfinite(values)) or np.any(excess > 0):
        worst = float(np.nanmax(np.abs(values - reference)))
        raise ExportError(f"{name} disagrees with {reference_name}: max abs difference {worst:.3g} "
                          f"(allowed {ATOL} + {RTOL} x |value|)")


def run_savedmodel(path: str, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    outputs = signature(**{name: tf.constant(value) for name, value in batch.items()})
    return {name: value.numpy() for name, value in outputs.items()}


def run_onnx(path: str, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, dict(batch))))


# ------------------------------------------------------------------ versions


def versions(repository: str, model_name: str) -> list[int]:
    """Published versions (numeric directory names), ascending; temporary dirs are ignored."""
    directory = os.path.join(repository, model_name)
    if not os.path.isdir(directory):
        return []
    return sorted(int(n) for n in os.listdir(directory)
                  if n.isdigit() and int(n) > 0 and os.path.isdir(os.path.join(directory, n)))


def latest_version(repository: str, model_name: str) -> int | None:
    found = versions(repository, model_name)
    return found[-1] if found else None


def next_version(repository: str, model_name: str) -> int:
    return (latest_version(repository, model_name) or 0) + 1
