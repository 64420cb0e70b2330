"""Emit one Triton model repository per shard: for every model the shard serves

* ``triton/<shard>/<model>/config.pbtxt`` -- the exported model (``onnxruntime_onnx``,
  ``tensorflow_savedmodel``, or the ``python`` backend running ONNX Runtime plus its
  ``model.py`` when the spec's platform is ``python``);
* ``triton/<shard>/<model>_preprocess/{config.pbtxt,1/model.py}`` -- a python-backend model
  running the generated preprocessing module with the NumPy executor, then ``model_arrays``;
* ``triton/<shard>/<model>_pipeline/{config.pbtxt,1/README.md}`` -- an ensemble: raw request
  fields in, the model's output out;

and ``triton_local/<shard>/<model>/{config.pbtxt,model.py}``: the model as a ``python``-backend
model running ONNX Runtime, for a Triton that has only the python backend (``mlc serve
--local``). See README.md for the layout, the tensor naming and how a repository is assembled.

Pure: reads the IR, returns text. Spec strings reach ``config.pbtxt`` only as escaped
protobuf string literals or escaped comment text, and the Python files only as ``repr``
literals, docstring-escaped text or escaped comments.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mlc.backends.templating import comment_text as _comment
from mlc.backends.templating import environment
from mlc.core.ir import IR, ModelIR, ShardIR, derived_depends_on, feature_closure
from mlc.backends.triton_layout import (
    MLDL_FILE, PIPELINE_SUFFIX, PREPROCESS_SUFFIX, PREPROCESS_VERSION, model_dir, preprocess_module_file,
)
from mlc import __version__

NULL_SUFFIX = "__null"           # optional TYPE_BOOL mask beside every request tensor: true = null
GROUP_SEPARATOR = "__"           # `group.output` -> tensor `group__output`
FEATURE_PREFIX = "_feature_"     # ensemble-internal tensors (preprocess output -> model input)
ONNX_FILE = "model.onnx"

TRITON_TYPES = {"float32": "TYPE_FP32", "float64": "TYPE_FP64", "int64": "TYPE_INT64", "bool": "TYPE_BOOL",
                "string": "TYPE_STRING", "timestamp": "TYPE_INT64"}
NUMPY_TYPES = {"float32": "float32", "float64": "float64", "int64": "int64", "bool": "bool_",
               "string": "object_", "timestamp": "int64"}
TENSORRT_PRECISION = "FP16"


class RequestTensor(NamedTuple):
    """One request field of a model's preprocess/pipeline model."""
    tensor: str      # Triton tensor name
    column: str      # preprocess column: an input name or `group.output`
    dtype: str       # mlc dtype (timestamps: int64 unix microseconds on the wire)
    kind: str        # "input" or "group"


# ------------------------------------------------------------------------------ names and tensors


def group_tensor(column: str) -> str:
    return column.replace(".", GROUP_SEPARATOR, 1)



def request_tensors(ir: IR, model: ModelIR) -> list[RequestTensor]:
    """The model's request fields: its raw inputs (``raw_inputs`` order), then the feature-group
    outputs its features read (feature-group declaration order), with their Triton names."""
    inputs = {i.name: i for i in ir.inputs}
    out = [RequestTensor(name, name, inputs[name].dtype, "input") for name in model.raw_inputs]
    needed = set(feature_closure([t.name for t in model.signature_inputs], derived_depends_on(ir.derived)))
    for group in ir.feature_groups:
        for output in group.outputs:
            column = f"{group.name}.{output.name}"
            if column in needed:
                out.append(RequestTensor(group_tensor(column), column, output.dtype, "group"))
    return out


def _check_unique(model: ModelIR, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"model `{model.name}`: Triton tensor name `{name}` is used twice")
        seen.add(name)


def pipeline_tensors(ir: IR, model: ModelIR) -> list[str]:
    """Every tensor name of the pipeline ensemble (inputs, masks, internal, outputs); unique."""
    names = []
    for t in request_tensors(ir, model):
        names += [t.tensor, t.tensor + NULL_SUFFIX]
    names += [FEATURE_PREFIX + t.name for t in model.signature_inputs]
    names += [t.name for t in model.signature_outputs]
    _check_unique(model, names)
    return names


# ------------------------------------------------------------------------------ protobuf text


class Enum(str):
    """An enum value: written unquoted."""


class Msg(tuple):
    """A message: a tuple of (field, value) pairs, written in this order."""


def pb_string(text: str) -> str:
    """A protobuf text-format string literal: printable ASCII as is (``"`` and ``\\`` escaped),
    every other byte of the UTF-8 encoding as an octal escape."""
    out = []
    for byte in str(text).encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return pb_string(value)
    raise TypeError(f"no protobuf text for {value!r}")


def _flat(message: Msg) -> bool:
    return not any(isinstance(v, Msg) or (isinstance(v, list) and any(isinstance(i, Msg) for i in v))
                   for _, v in message)


def _render(fields: Msg, depth: int) -> list[str]:
    pad, lines = "  " * depth, []
    for key, value in fields:
        if isinstance(value, Msg):
            lines.append(f"{pad}{key} {{")
            lines += _render(value, depth + 1)
            lines.append(f"{pad}}}")
        elif isinstance(value, list) and value and all(isinstance(v, Msg) for v in value):
            lines.append(f"{pad}{key} [")
            for i, item in enumerate(value):
                comma = "," if i < len(value) - 1 else ""
                if _flat(item):     # one line: `{ name: "x" data_type: TYPE_FP32 dims: [ 1 ] }`
                    lines.append(f"{pad}  {{ {' '.join(line.strip() for line in _render(item, 0))} }}{comma}")
                    continue
                lines.append(f"{pad}  {{")
                lines += _render(item, depth + 2)
                lines.append(f"{pad}  }}{comma}")
            lines.append(f"{pad}]")
        elif isinstance(value, list):
            if value:
                lines.append(f"{pad}{key}: [ {', '.join(_scalar(v) for v in value)} ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def render_pbtxt(header: list[str], fields: Msg) -> str:
    comments = [f"# {_comment(line)}" if line else "#" for line in header]
    return "\n".join(comments + _render(fields, 0)) + "\n"


# ------------------------------------------------------------------------------ config pieces


def _dims(ir: IR) -> list[int]:
    """``[1]`` when Triton batches (the batch dimension is implicit), else the full ``[-1, 1]``."""
    return [1] if ir.deployment.max_batch_size > 0 else [-1, 1]


def _tensor(ir: IR, name: str, dtype: str, optional: bool = False) -> Msg:
    fields = [("name", name), ("data_type", Enum(TRITON_TYPES[dtype])), ("dims", _dims(ir))]
    if optional:
        fields.append(("optional", True))
    return Msg(fields)


def _signature(ir: IR, model: ModelIR) -> list[tuple[str, Any]]:
    return [("input", [_tensor(ir, t.name, t.dtype) for t in model.signature_inputs]),
            ("output", [_tensor(ir, t.name, t.dtype) for t in model.signature_outputs])]


def _request_inputs(ir: IR, model: ModelIR) -> list[Msg]:
    out = []
    for t in request_tensors(ir, model):
        out += [_tensor(ir, t.tensor, t.dtype, optional=True), _tensor(ir, t.tensor + NULL_SUFFIX, "bool", optional=True)]
    return out


def _batching(ir: IR) -> list[tuple[str, Any]]:
    deployment = ir.deployment
    if deployment.dynamic_batching is None or deployment.max_batch_size <= 0:
        return []
    batching = dict(deployment.dynamic_batching)
    return [("dynamic_batching", Msg([
        ("preferred_batch_size", [int(v) for v in batching.get("preferred_batch_sizes") or []]),
        ("max_queue_delay_microseconds", int(batching.get("max_queue_delay_us", 0))),
    ]))]


def _instances(count: int, gpu: bool) -> list[tuple[str, Any]]:
    return [("instance_group", [Msg([("count", count), ("kind", Enum("KIND_GPU" if gpu else "KIND_CPU"))])])]


def _versions(count: int) -> list[tuple[str, Any]]:
    return [("version_policy", Msg([("latest", Msg([("num_versions", count)]))]))]


def _tensorrt() -> list[tuple[str, Any]]:
    accelerator = Msg([("name", "tensorrt"),
                       ("parameters", Msg([("key", "precision_mode"), ("value", TENSORRT_PRECISION)]))])
    return [("optimization", Msg([("execution_accelerators", Msg([("gpu_execution_accelerator", [accelerator])]))]))]


def wants_gpu(ir: IR) -> bool:
    return ir.deployment.instance_kind == "gpu"


# ------------------------------------------------------------------------------ configs


def _header(ir: IR, what: str, shard: ShardIR) -> list[str]:
    return [f"{what} of `{ir.name}`, shard `{shard.name}`, generated by mlc {__version__} from mldl.json. Do not edit."]


def model_config(ir: IR, shard: ShardIR, model: ModelIR) -> str:
    """``triton/<shard>/<model>/config.pbtxt``: the exported model on the spec's platform."""
    deployment, platform = ir.deployment, ir.deployment.platform
    header = _header(ir, f"Model `{model.name}`", shard)
    if platform == "python":
        return python_model_config(ir, shard, model, local=False)
    if platform == "tensorflow_savedmodel":
        header += ["", "WARNING (W5101): Triton deprecated its TensorFlow backend in 25.03 and removed it later;",
                   "use platform onnxruntime_onnx (the default). Serves <version>/model.savedmodel."]
    else:
        header += ["", "Serves <version>/model.onnx of the exported versions (mlc.runtime.training.export)."]
    if wants_gpu(ir) and platform == "onnxruntime_onnx":
        header += ["GPU: ONNX Runtime's TensorRT execution provider, FP16 (first inference per shape builds the engine)."]
    fields: list[tuple[str, Any]] = [("name", model.name), ("platform", platform),
                                     ("max_batch_size", deployment.max_batch_size)]
    fields += _signature(ir, model)
    fields += _versions(deployment.versions_kept)
    fields += _instances(deployment.instance_count, wants_gpu(ir))
    fields += _batching(ir)
    if wants_gpu(ir) and platform == "onnxruntime_onnx":
        fields += _tensorrt()
    return render_pbtxt(header, Msg(fields))


def python_model_config(ir: IR, shard: ShardIR, model: ModelIR, local: bool) -> str:
    """The model on the ``python`` backend, running ONNX Runtime on ``<version>/model.onnx``
    (``model.py`` beside this file is copied into every version directory)."""
    deployment = ir.deployment
    gpu = wants_gpu(ir) and not local
    what = "Local (python backend) model" if local else "Model (python backend)"
    header = _header(ir, f"{what} `{model.name}`", shard) + [
        "", "Runs ONNX Runtime on <version>/model.onnx; copy model.py (beside this file) into every version",
        "directory when assembling the repository (see mlc/backends/triton/README.md)."]
    fields: list[tuple[str, Any]] = [("name", model.name), ("backend", "python"),
                                     ("max_batch_size", deployment.max_batch_size)]
    fields += _signature(ir, model)
    fields += _versions(deployment.versions_kept)
    fields += _instances(deployment.instance_count, gpu)
    fields += _batching(ir)
    return render_pbtxt(header, Msg(fields))


def preprocess_config(ir: IR, shard: ShardIR, model: ModelIR) -> str:
    """``triton/<shard>/<model>_preprocess/config.pbtxt``: request fields in, model inputs out."""
    name = model.name + PREPROCESS_SUFFIX
    header = _header(ir, f"Preprocessing for model `{model.name}`", shard) + [
        "", f"Python backend: 1/model.py runs {preprocess_module_file(ir)} (NumPy executor) and model_arrays.",
        f"Assembling the repository copies {MLDL_FILE} and preprocess/{preprocess_module_file(ir)} of the build into 1/.",
        f"Every input is optional (absent = all null); `<input>{NULL_SUFFIX}` (BOOL) marks null rows.",
        f"Feature-group outputs `group.output` are the tensors `group{GROUP_SEPARATOR}output`."]
    fields: list[tuple[str, Any]] = [("name", name), ("backend", "python"),
                                     ("max_batch_size", ir.deployment.max_batch_size),
                                     ("input", _request_inputs(ir, model)),
                                     ("output", [_tensor(ir, t.name, t.dtype) for t in model.signature_inputs])]
    fields += _versions(1)
    fields += _instances(ir.deployment.instance_count, False)
    return render_pbtxt(header, Msg(fields))


def pipeline_config(ir: IR, shard: ShardIR, model: ModelIR) -> str:
    """``triton/<shard>/<model>_pipeline/config.pbtxt``: ensemble preprocess -> model."""
    pipeline_tensors(ir, model)     # names must be unique
    name = model.name + PIPELINE_SUFFIX
    header = _header(ir, f"Pipeline (ensemble) of model `{model.name}`", shard) + [
        "", f"{model.name}{PREPROCESS_SUFFIX} (latest) -> {model.name} (latest). Pinned versions: call the two models.",
        "The empty version directory 1/ is required by Triton (1/README.md only keeps it in the tree)."]
    preprocess_inputs = []
    for t in request_tensors(ir, model):
        for tensor in (t.tensor, t.tensor + NULL_SUFFIX):
            preprocess_inputs.append(Msg([("key", tensor), ("value", tensor)]))
    steps = [
        Msg([("model_name", model.name + PREPROCESS_SUFFIX), ("model_version", -1),
             ("input_map", preprocess_inputs),
             ("output_map", [Msg([("key", t.name), ("value", FEATURE_PREFIX + t.name)]) for t in model.signature_inputs])]),
        Msg([("model_name", model.name), ("model_version", -1),
             ("input_map", [Msg([("key", t.name), ("value", FEATURE_PREFIX + t.name)]) for t in model.signature_inputs]),
             ("output_map", [Msg([("key", t.name), ("value", t.name)]) for t in model.signature_outputs])]),
    ]
    fields: list[tuple[str, Any]] = [("name", name), ("platform", "ensemble"),
                                     ("max_batch_size", ir.deployment.max_batch_size),
                                     ("input", _request_inputs(ir, model)),
                                     ("output", [_tensor(ir, t.name, t.dtype) for t in model.signature_outputs]),
                                     ("ensemble_scheduling", Msg([("step", steps)]))]
    return render_pbtxt(header, Msg(fields))


# ------------------------------------------------------------------------------ model.py files


def _env():
    return environment("mlc.backends.triton")


def render_preprocess_model(ir: IR, shard: ShardIR, model: ModelIR) -> str:
    tensors = request_tensors(ir, model)
    return _env().get_template("preprocess_model.py.j2").render(
        ir=ir, shard=shard, model=model, mlc_version=__version__,
        request=[(t.tensor, t.column, t.dtype) for t in tensors],
        signature=[(t.name, t.dtype) for t in model.signature_inputs],
        null_suffix=NULL_SUFFIX, mldl_file=MLDL_FILE, module_file=preprocess_module_file(ir),
    )


def render_onnx_model(ir: IR, shard: ShardIR, model: ModelIR, local: bool) -> str:
    return _env().get_template("onnx_model.py.j2").render(
        ir=ir, shard=shard, model=model, mlc_version=__version__, local=local, onnx_file=ONNX_FILE,
        inputs=[(t.name, NUMPY_TYPES[t.dtype]) for t in model.signature_inputs],
        outputs=[(t.name, NUMPY_TYPES[t.dtype]) for t in model.signature_outputs],
    )


def pipeline_readme(ir: IR, shard: ShardIR, model: ModelIR) -> str:
    return (f"Version 1 of the ensemble `{_comment(model.name)}{PIPELINE_SUFFIX}`: Triton requires this directory; "
            "an ensemble has no files of its own.\n")


# ------------------------------------------------------------------------------ emit


def targets(ir: IR) -> list[tuple[ShardIR, ModelIR]]:
    """(shard, model) for every model every shard serves, in deployment order."""
    return [(shard, ir.model(name)) for shard in ir.deployment.shards for name in shard.models]


def emit(ir: IR) -> dict[str, str]:
    files: dict[str, str] = {}
    for shard, model in targets(ir):
        base = model_dir(shard, model)
        files[f"{base}/config.pbtxt"] = model_config(ir, shard, model)
        if ir.deployment.platform == "python":
            files[f"{base}/model.py"] = render_onnx_model(ir, shard, model, local=False)
        pre = model_dir(shard, model, PREPROCESS_SUFFIX)
        files[f"{pre}/config.pbtxt"] = preprocess_config(ir, shard, model)
        files[f"{pre}/{PREPROCESS_VERSION}/model.py"] = render_preprocess_model(ir, shard, model)
        pipe = model_dir(shard, model, PIPELINE_SUFFIX)
        files[f"{pipe}/config.pbtxt"] = pipeline_config(ir, shard, model)
        files[f"{pipe}/{PREPROCESS_VERSION}/README.md"] = pipeline_readme(ir, shard, model)
        local = model_dir(shard, model, local=True)
        files[f"{local}/config.pbtxt"] = python_model_config(ir, shard, model, local=True)
        files[f"{local}/model.py"] = render_onnx_model(ir, shard, model, local=True)
    return files
