"""The Triton backend: every config.pbtxt is a valid ``ModelConfig`` matching the IR, the ensembles
are wired consistently, the python models only import what the Triton image has, spec strings
stay escaped, output is deterministic, and the preprocess model computes exactly what
``transform_numpy`` + ``model_arrays`` compute (run with a stub ``triton_python_backend_utils``)."""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
import types

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from conftest import EXAMPLES
from mlc.backends.triton import emit, repository_plan, request_tensors, targets
from mlc.backends.triton.emit import FEATURE_PREFIX, NULL_SUFFIX, pb_string
from mlc.core.ir import IR
from mlc.compiler.pipeline import build

SPECS = {
    "ctr_criteo": (EXAMPLES / "ctr_criteo" / "ctr.mlc.yaml", None),
    "delivery_eta": (EXAMPLES / "delivery_eta" / "delivery.mlc.yaml", None),
    "delivery_eta-prod": (EXAMPLES / "delivery_eta" / "delivery.mlc.yaml", "prod"),
}
PREPROCESS_IMPORTS = {"triton_python_backend_utils", "mlc"}
ONNX_IMPORTS = {"triton_python_backend_utils", "mlc"}   # thin subclasses: the logic is in mlc.runtime.serving
TYPES = {"float32": "TYPE_FP32", "float64": "TYPE_FP64", "int64": "TYPE_INT64", "string": "TYPE_STRING",
         "bool": "TYPE_BOOL", "timestamp": "TYPE_INT64"}
HOSTILE = 'x"; } platform: "evil" \\ \n# {a: b} \x00 é"""\'\'\' import os #'


def compiled(case: str) -> IR:
    spec, env = SPECS[case]
    result = build(str(spec), env)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


@pytest.fixture(params=sorted(SPECS))
def ir(request) -> IR:
    return compiled(request.param)


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def configs(files: dict[str, str]) -> dict[str, model_config_pb2.ModelConfig]:
    return {path: parse(text) for path, text in files.items() if path.endswith("config.pbtxt")}


def with_deployment(ir: IR, **changes) -> IR:
    return dataclasses.replace(ir, deployment=dataclasses.replace(ir.deployment, **changes))


# ------------------------------------------------------------------------------ structure


def test_layout(ir):
    files = emit(ir)
    expected = set()
    for shard, model in targets(ir):
        base, local = f"triton/{shard.name}/{model.name}", f"triton_local/{shard.name}/{model.name}"
        expected |= {f"{base}/config.pbtxt", f"{base}_preprocess/config.pbtxt", f"{base}_preprocess/1/model.py",
                     f"{base}_pipeline/config.pbtxt", f"{base}_pipeline/1/README.md",
                     f"{local}/config.pbtxt", f"{local}/model.py"}
    assert set(files) == expected
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in files.values())
    assert {s.name for s, _ in targets(ir)} == {s.name for s in ir.deployment.shards if s.models}


def test_every_config_parses_and_names_its_directory(ir):
    for path, config in configs(emit(ir)).items():
        assert config.name == path.split("/")[-2], path


def test_misspelled_field_is_rejected():
    text = emit(compiled("delivery_eta"))["triton/east/eta_dnn/config.pbtxt"]
    parse(text)
    for bad in (text.replace("max_batch_size", "max_batch_sise"),
                text.replace("preferred_batch_size", "preferred_batch_sizes"),
                text.replace("KIND_CPU", "KIND_CPUU"),
                text.replace("TYPE_FP32", "TYPE_FLOAT32")):
        with pytest.raises(text_format.ParseError):
            parse(bad)


def test_model_config_matches_the_ir(ir):
    files, deployment = emit(ir), ir.deployment
    for shard, model in targets(ir):
        config = parse(files[f"triton/{shard.name}/{model.name}/config.pbtxt"])
        assert config.platform == deployment.platform == "onnxruntime_onnx"
        assert config.max_batch_size == deployment.max_batch_size > 0
        assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == \
            [(t.name, model_config_pb2.DataType.Value(TYPES[t.dtype]), [1]) for t in model.signature_inputs]
        assert [(t.name, t.data_type, list(t.dims)) for t in config.output] == \
            [(t.name, model_config_pb2.DataType.Value("TYPE_FP32"), [1]) for t in model.signature_outputs]
        assert config.version_policy.latest.num_versions == deployment.versions_kept
        [group] = config.instance_group
        assert group.count == deployment.instance_count and group.kind == group.KIND_CPU
        batching = dict(deployment.dynamic_batching or {})
        assert list(config.dynamic_batching.preferred_batch_size) == list(batching.get("preferred_batch_sizes", []))
        assert config.dynamic_batching.max_queue_delay_microseconds == batching.get("max_queue_delay_us", 0)
        assert not config.optimization.execution_accelerators.gpu_execution_accelerator


def test_gpu_adds_tensorrt_fp16():
    ir = with_deployment(compiled("ctr_criteo"), instance_kind="gpu")
    files = emit(ir)
    for shard, model in targets(ir):
        config = parse(files[f"triton/{shard.name}/{model.name}/config.pbtxt"])
        assert config.instance_group[0].kind == config.instance_group[0].KIND_GPU
        [accelerator] = config.optimization.execution_accelerators.gpu_execution_accelerator
        assert accelerator.name == "tensorrt" and dict(accelerator.parameters) == {"precision_mode": "FP16"}
        # preprocessing and the local variant stay on the CPU
        pre = parse(files[f"triton/{shard.name}/{model.name}_preprocess/config.pbtxt"])
        assert pre.instance_group[0].kind == pre.instance_group[0].KIND_CPU
        local = parse(files[f"triton_local/{shard.name}/{model.name}/config.pbtxt"])
        assert local.instance_group[0].kind == local.instance_group[0].KIND_CPU


def test_other_platforms():
    base = compiled("delivery_eta")
    tf = emit(with_deployment(base, platform="tensorflow_savedmodel"))
    text = tf["triton/east/eta_dnn/config.pbtxt"]
    assert parse(text).platform == "tensorflow_savedmodel" and "# WARNING (W5101)" in text
    python = emit(with_deployment(base, platform="python"))
    config = parse(python["triton/east/eta_dnn/config.pbtxt"])
    assert config.backend == "python" and not config.platform
    assert "class TritonPythonModel(OnnxModel):" in python["triton/east/eta_dnn/model.py"]   # runs ONNX Runtime


def test_unbatched_deployment():
    ir = with_deployment(compiled("delivery_eta"), max_batch_size=0)
    for path, config in configs(emit(ir)).items():
        assert config.max_batch_size == 0
        assert all(list(t.dims) == [-1, 1] for t in [*config.input, *config.output]), path
        assert not config.HasField("dynamic_batching"), path


def test_local_variant_has_the_model_signature(ir):
    files = emit(ir)
    for shard, model in targets(ir):
        prod = parse(files[f"triton/{shard.name}/{model.name}/config.pbtxt"])
        local = parse(files[f"triton_local/{shard.name}/{model.name}/config.pbtxt"])
        assert local.backend == "python" and not local.platform and local.name == model.name
        assert list(local.input) == list(prod.input) and list(local.output) == list(prod.output)
        assert local.max_batch_size == prod.max_batch_size
        assert local.dynamic_batching == prod.dynamic_batching
        assert local.version_policy == prod.version_policy


# ------------------------------------------------------------------------------ preprocess + ensemble


def test_preprocess_config(ir):
    files = emit(ir)
    inputs = {i.name: i for i in ir.inputs}
    for shard, model in targets(ir):
        config = parse(files[f"triton/{shard.name}/{model.name}_preprocess/config.pbtxt"])
        assert config.backend == "python"
        tensors = request_tensors(ir, model)
        assert [t.column for t in tensors if t.kind == "input"] == list(model.raw_inputs)
        assert {t.column.split(".")[0] for t in tensors if t.kind == "group"} <= set(model.feature_groups)
        for t in tensors:
            assert "." not in t.tensor and (t.kind == "group") == ("__" in t.tensor)
            if t.kind == "input":
                assert t.dtype == inputs[t.column].dtype
        expected = []
        for t in tensors:
            expected += [(t.tensor, TYPES[t.dtype]), (t.tensor + NULL_SUFFIX, "TYPE_BOOL")]
        assert [(t.name, model_config_pb2.DataType.Name(t.data_type)) for t in config.input] == expected
        assert all(t.optional and list(t.dims) == [1] for t in config.input)
        assert [(t.name, model_config_pb2.DataType.Name(t.data_type)) for t in config.output] == \
            [(t.name, TYPES[t.dtype]) for t in model.signature_inputs]


def test_group_outputs_are_the_ones_the_model_reads():
    ir = compiled("delivery_eta")
    model = ir.model("eta_dnn")
    groups = [t.column for t in request_tensors(ir, model) if t.kind == "group"]
    assert "rider_load.assigned_30m" in groups
    assert "rider_performance.deliveries_1h" not in groups     # declared, read by no feature
    referenced = {n for d in ir.derived for n in d.depends_on if "." in n}
    assert set(groups) <= referenced


def test_ensemble_wiring(ir):
    files = emit(ir)
    for shard, model in targets(ir):
        models = {name: parse(files[f"triton/{shard.name}/{name}/config.pbtxt"])
                  for name in (model.name, model.name + "_preprocess")}
        pipeline = parse(files[f"triton/{shard.name}/{model.name}_pipeline/config.pbtxt"])
        assert pipeline.platform == "ensemble" and pipeline.max_batch_size == ir.deployment.max_batch_size
        assert list(pipeline.input) == list(models[model.name + "_preprocess"].input)
        assert [t.name for t in pipeline.output] == [t.name for t in model.signature_outputs]
        steps = pipeline.ensemble_scheduling.step
        assert [s.model_name for s in steps] == [model.name + "_preprocess", model.name]
        available = {t.name: (t.data_type, list(t.dims)) for t in pipeline.input}
        produced = set()
        for step in steps:
            inner = models[step.model_name]
            assert step.model_version == -1
            inner_inputs = {t.name: (t.data_type, list(t.dims)) for t in inner.input}
            inner_outputs = {t.name: (t.data_type, list(t.dims)) for t in inner.output}
            assert {t.name for t in inner.input if not t.optional} <= set(step.input_map)
            for key, value in step.input_map.items():
                assert key in inner_inputs and value in available and available[value] == inner_inputs[key]
            assert set(step.output_map) == set(inner_outputs)
            for key, value in step.output_map.items():
                assert value not in available, value            # one producer per tensor
                available[value] = inner_outputs[key]
                produced.add(value)
            if step.model_name == model.name:
                assert set(step.input_map) == set(inner_inputs)  # the model's inputs are all required
                assert all(v.startswith(FEATURE_PREFIX) for v in step.input_map.values())
        assert {t.name for t in pipeline.output} <= produced
        for t in pipeline.output:
            assert available[t.name] == (t.data_type, list(t.dims))


# ------------------------------------------------------------------------------ python files


def imports(text: str) -> set[str]:
    tree = ast.parse(text)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            out.add(node.module.split(".")[0])
    return out


def test_python_models_parse_and_import_only_allowed_modules(ir):
    for case in (ir, with_deployment(ir, platform="python")):
        for path, text in emit(case).items():
            if path.endswith("_preprocess/1/model.py"):
                assert imports(text) == PREPROCESS_IMPORTS, path
            elif path.endswith("model.py"):
                assert imports(text) == ONNX_IMPORTS, path


@pytest.mark.parametrize("case", sorted(SPECS))
def test_deterministic(case):
    first = emit(compiled(case))
    assert emit(compiled(case)) == first
    assert not any("/work/" in text or "/tmp/" in text for text in first.values())


def hostile(ir: IR) -> IR:
    """Names no spec can have (they are validated identifiers), to prove that they stay literals."""
    evil_model = HOSTILE + "m"
    models = tuple(dataclasses.replace(m, name=evil_model) if i == 0 else m for i, m in enumerate(ir.models))
    first = ir.models[0].name
    shards = tuple(dataclasses.replace(s, name=HOSTILE + "s",
                                       models=tuple(evil_model if n == first else n for n in s.models))
                   for s in ir.deployment.shards)
    return dataclasses.replace(ir, name=HOSTILE, models=models,
                               deployment=dataclasses.replace(ir.deployment, shards=shards))


def test_hostile_strings_stay_escaped():
    ir = hostile(compiled("ctr_criteo"))
    files = emit(ir)
    evil_model = ir.models[0].name
    seen_model, literals = False, set()
    for path, text in files.items():
        if path.endswith(".pbtxt"):
            config = parse(text)
            assert config.platform in ("onnxruntime_onnx", "ensemble", "")   # no injected field
            if config.name == evil_model:
                seen_model = True
            for line in text.splitlines():
                assert line.startswith("#") or "\x00" not in line and "é" not in line
        elif path.endswith(".py"):
            tree = ast.parse(text)
            literals |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            assert "import os" not in {ln.strip() for ln in text.splitlines()}
            assert imports(text) in (PREPROCESS_IMPORTS, ONNX_IMPORTS)
        assert all(line.isprintable() for line in text.splitlines()), path
    assert seen_model and {evil_model, HOSTILE} <= literals    # names reach Python as exact literals
    assert parse('name: ' + pb_string(HOSTILE)).name == HOSTILE


def test_repository_plan_uses_emitted_files(ir):
    files = emit(ir)
    for shard in ir.deployment.shards:
        for local in (False, True):
            plan = repository_plan(ir, shard, local)
            for copy in plan:
                if copy.origin == "build" and copy.source.startswith("triton"):
                    assert copy.source in files, copy
            targets_ = [c.target for c in plan]
            assert len(targets_) == len(set(targets_))
            for name in shard.models:
                assert f"{name}_preprocess/1/mldl.json" in targets_
                assert f"{name}_preprocess/1/{ir.name}_preprocess.py" in targets_
                assert (f"{name}/*/model.py" in targets_) == local


# ------------------------------------------------------------------------------ running model.py


class StubTensor:
    def __init__(self, name, array):
        self._name, self._array = name, np.asarray(array)

    def name(self):
        return self._name

    def as_numpy(self):
        return self._array


class StubRequest:
    def __init__(self, tensors):
        self.tensors = {t.name(): t for t in tensors}


class StubResponse:
    def __init__(self, output_tensors, error=None):
        self.output_tensors, self.error = output_tensors, error


class StubError(Exception):
    pass


def stub_backend() -> types.ModuleType:
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = StubTensor
    module.InferenceResponse = StubResponse
    module.TritonError = StubError
    module.TritonModelException = StubError
    module.get_input_tensor_by_name = lambda request, name: request.tensors.get(name)
    return module


@pytest.fixture
def pb_utils(monkeypatch):
    module = stub_backend()
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", module)
    return module


def load_model_py(text: str) -> types.ModuleType:
    module = types.ModuleType("generated_model")
    exec(compile(text, "model.py", "exec"), module.__dict__)
    return module


FITTED = {"standardize": {"mean": 1.5, "std": 2.0}, "min_max_scale": {"min": 0.0, "max": 10.0},
          "quantile_bucketize": {"boundaries": [2.0, 5.0, 9.0, 14.0, 20.0, 30.0, 45.0]},
          "vocabulary": {"vocabulary": ["1", "2", "3", "4", "5", "6", "7"]}}


def fitted_ir(case: str) -> IR:
    from mlc.runtime.features.fitting import with_fitted

    ir = compiled(case)
    return with_fitted(ir, {a.id: FITTED[a.function] for a in ir.analyzers})


def deploy_preprocess(tmp_path, ir: IR, shard, model) -> tuple[types.ModuleType, object]:
    """Assemble `<model>_preprocess/1/` as the repository plan says and initialize it."""
    from mlc.backends.mldl import emit as emit_mldl
    from mlc.backends.preprocess import emit as emit_preprocess

    build_tree = {**emit(ir), **emit_mldl(ir), **emit_preprocess(ir)}
    for copy in repository_plan(ir, shard):
        if copy.origin == "build" and copy.target.startswith(model.name + "_preprocess/"):
            target = tmp_path / copy.target
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(build_tree[copy.source], encoding="utf-8")
    version_dir = tmp_path / f"{model.name}_preprocess" / "1"
    module = load_model_py((version_dir / "model.py").read_text(encoding="utf-8"))
    instance = module.TritonPythonModel()
    instance.initialize({"model_repository": str(tmp_path / f"{model.name}_preprocess"), "model_version": "1",
                         "model_config": "{}", "model_name": model.name + "_preprocess"})
    return module, instance


def sample_values(dtype: str, n: int, rng) -> list:
    if dtype == "string":
        return [rng.choice(["beijing", "shanghai", "", "rider_7", "é东"]) for _ in range(n)]
    if dtype == "timestamp":
        return [int(v) for v in rng.integers(1_700_000_000_000_000, 1_720_000_000_000_000, n)]
    if dtype == "int64":
        return [int(v) for v in rng.integers(-3, 40, n)]
    if dtype == "bool":
        return [bool(v) for v in rng.integers(0, 2, n)]
    return [float(v) for v in rng.normal(5, 10, n)]


def request_for(tensors, rows: dict[str, list], nulls: dict[str, list[bool]]) -> StubRequest:
    out = []
    for t in tensors:
        if t.column not in rows:
            continue
        values = rows[t.column]
        if t.dtype == "string":
            array = np.array([v.encode("utf-8") for v in values], dtype=object).reshape(-1, 1)
        else:
            array = np.array(values, dtype={"int64": np.int64, "timestamp": np.int64, "bool": np.bool_,
                                            "float64": np.float64}[t.dtype]).reshape(-1, 1)
        out.append(StubTensor(t.tensor, array))
        if t.column in nulls:
            out.append(StubTensor(t.tensor + NULL_SUFFIX, np.array(nulls[t.column]).reshape(-1, 1)))
    return StubRequest(out)


def expected_arrays(ir: IR, model, rows, nulls):
    from mlc.backends.preprocess import render
    from mlc.runtime.features.fitting import fitted_from_ir
    from mlc.runtime.preprocess import module_from_text, transform_numpy
    from mlc.runtime.training.inputs import model_arrays

    columns = {name: [None if nulls.get(name, [False] * len(values))[i] else v for i, v in enumerate(values)]
               for name, values in rows.items()}
    dtypes = {**{i.name: i.dtype for i in ir.inputs},
              **{f"{g.name}.{o.name}": o.dtype for g in ir.feature_groups for o in g.outputs}}
    from mlc.runtime.numpy_ops import Vec

    vectors = {name: Vec.of(values, dtypes[name]) for name, values in columns.items()}
    features = transform_numpy(module_from_text(render(ir)), vectors, fitted_from_ir(ir))
    n = len(next(iter(rows.values())))
    direct = {}
    for t in model.signature_inputs:
        if t.name in features:
            direct[t.name] = features[t.name].to_list()
        else:
            direct[t.name] = columns.get(t.name, [None] * n)
    return model_arrays(model, direct)


@pytest.mark.parametrize("case", ["delivery_eta", "ctr_criteo"])
def test_preprocess_model_equals_transform_numpy_and_model_arrays(tmp_path, pb_utils, case):
    ir = fitted_ir(case)
    shard, model = targets(ir)[0]
    module, instance = deploy_preprocess(tmp_path, ir, shard, model)
    tensors = request_tensors(ir, model)
    rng = np.random.default_rng(7)
    n = 24
    rows = {t.column: sample_values(t.dtype, n, rng) for t in tensors}
    nulls = {t.column: [bool(v) for v in rng.random(n) < 0.25] for t in tensors[::2]}
    absent = tensors[1].column                       # a tensor left out: a column of nulls
    sent = {k: v for k, v in rows.items() if k != absent}
    requests = [request_for(tensors, sent, nulls), request_for(tensors, {k: v[:3] for k, v in sent.items()}, {})]
    responses = instance.execute(requests)
    assert len(responses) == 2
    for response, (r_rows, r_nulls) in zip(responses, [(sent, nulls), ({k: v[:3] for k, v in sent.items()}, {})]):
        assert response.error is None, response.error
        got = {t.name(): t.as_numpy() for t in response.output_tensors}
        want = expected_arrays(ir, model, r_rows, r_nulls)
        assert list(got) == [t.name for t in model.signature_inputs]
        for name, array in want.items():
            assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
            np.testing.assert_array_equal(got[name], array, err_msg=name)


def test_preprocess_model_reports_bad_requests_per_request(tmp_path, pb_utils):
    ir = fitted_ir("delivery_eta")
    shard, model = targets(ir)[0]
    _, instance = deploy_preprocess(tmp_path, ir, shard, model)
    tensors = request_tensors(ir, model)
    good = request_for(tensors, {tensors[0].column: ["beijing", "x"]}, {})
    ragged = request_for(tensors, {tensors[0].column: ["beijing", "x"], tensors[2].column: [1]}, {})
    empty = StubRequest([])
    responses = instance.execute([ragged, good, empty])
    assert "rows" in str(responses[0].error) and responses[1].error is None and "none of the inputs" in str(responses[2].error)
    assert all(len(t.as_numpy()) == 2 for t in responses[1].output_tensors)


def test_preprocess_model_refuses_unfitted_or_foreign_builds(tmp_path, pb_utils):
    ir = compiled("delivery_eta")                    # not fitted
    shard, model = targets(ir)[0]
    with pytest.raises(StubError, match="mlc fit"):
        deploy_preprocess(tmp_path / "a", ir, shard, model)
    fitted = fitted_ir("delivery_eta")
    _, instance = deploy_preprocess(tmp_path / "b", fitted, shard, model)
    mldl = tmp_path / "b" / f"{model.name}_preprocess" / "1" / "mldl.json"
    data = json.loads(mldl.read_text())
    data["name"] = "other"
    mldl.write_text(json.dumps(data))
    with pytest.raises(StubError, match="other"):
        instance.initialize({"model_repository": str(mldl.parent.parent), "model_version": "1"})


def test_local_onnx_model_runs_a_batch_of_requests(tmp_path, pb_utils):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    ir = compiled("ctr_criteo")
    shard, model = targets(ir)[0]
    # a stand-in model with the signature: prediction = sum(dense) + sum(float(sparse))
    inputs = [helper.make_tensor_value_info(t.name, TensorProto.FLOAT if t.dtype == "float32" else TensorProto.INT64,
                                            [None, 1]) for t in model.signature_inputs]
    nodes, terms = [], []
    for t in model.signature_inputs:
        if t.dtype == "int64":
            nodes.append(helper.make_node("Cast", [t.name], [t.name + "_f"], to=TensorProto.FLOAT))
            terms.append(t.name + "_f")
        else:
            terms.append(t.name)
    out = model.signature_outputs[0].name
    nodes.append(helper.make_node("Sum", terms, [out]))
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(out, TensorProto.FLOAT, [None, 1])])
    version = tmp_path / model.name / "3"
    version.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(version / "model.onnx"))
    module = load_model_py(emit(ir)[f"triton_local/{shard.name}/{model.name}/model.py"])
    instance = module.TritonPythonModel()
    instance.initialize({"model_repository": str(tmp_path / model.name), "model_version": "3",
                         "model_instance_kind": "CPU"})
    rng = np.random.default_rng(1)
    requests, expected = [], []
    for n in (3, 5):
        tensors, total = [], np.zeros((n, 1), np.float32)
        for t in model.signature_inputs:
            array = (rng.normal(size=(n, 1)).astype(np.float32) if t.dtype == "float32"
                     else rng.integers(0, 9, (n, 1)).astype(np.int64))
            tensors.append(StubTensor(t.name, array))
            total += array.astype(np.float32)
        requests.append(StubRequest(tensors))
        expected.append(total)
    responses = instance.execute(requests)
    for response, want in zip(responses, expected):
        [tensor] = response.output_tensors
        assert tensor.name() == out and tensor.as_numpy().dtype == np.float32
        np.testing.assert_allclose(tensor.as_numpy(), want, rtol=1e-5, atol=1e-5)
