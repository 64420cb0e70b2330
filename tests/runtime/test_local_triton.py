"""A real Triton (nvidia-pytriton's bundled 2.51 server, python backend only) serving a compiled
build: the delivery_eta spec with hand-fitted analyzers, both models of shard `east` exported
from freshly built (untrained, seeded) Keras models, the repository assembled with
``assemble_repository`` (``repository_plan(local=True)``), the server started by ``LocalTriton``.
Through tritonclient (HTTP and gRPC): the model equals onnxruntime on the exported model.onnx,
the preprocess model equals transform_numpy + model_arrays, the ensemble equals the direct
computation; dynamic batching is configured and actually batches; stop leaves no process.
No skipping: a server that cannot start fails the test with its log."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import EXAMPLES

SPEC = EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"
SHARD = "east"
FITTED = {"standardize": {"mean": 1.5, "std": 2.0}, "min_max_scale": {"min": 0.0, "max": 10.0},
          "quantile_bucketize": {"boundaries": [2.0, 5.0, 9.0, 14.0, 20.0, 30.0, 45.0]},
          "vocabulary": {"vocabulary": ["1", "2", "3", "4", "5", "6", "7"]}}
WIRE = {"string": "BYTES", "int64": "INT64", "timestamp": "INT64", "float64": "FP64", "bool": "BOOL",
        "float32": "FP32"}
NUMPY = {"string": np.object_, "int64": np.int64, "timestamp": np.int64, "float64": np.float64, "bool": np.bool_,
         "float32": np.float32}
ATOL = RTOL = 1e-5


def fitted_ir(fitted: bool = True):
    from mlc.compiler.pipeline import build
    from mlc.runtime.features.fitting import with_fitted

    result = build(str(SPEC))
    assert result.ok, [d.message for d in result.diagnostics]
    if not fitted:
        return result.ir
    return with_fitted(result.ir, {a.id: FITTED[a.function] for a in result.ir.analyzers})


def write_build(ir, directory) -> str:
    from mlc.compiler.artifacts import emit_all
    from mlc.compiler.writer import write_tree

    write_tree(emit_all(ir), str(directory))
    return str(directory)


def export_shard(ir, repository, shard_name: str = SHARD) -> str:
    """Version 1 of every model of the shard: a seeded, untrained Keras model, exported."""
    from mlc.runtime.training.export import export_model
    from mlc.runtime.training.models import build_model

    shard = next(s for s in ir.deployment.shards if s.name == shard_name)
    for name in shard.models:
        model = ir.model(name)
        export_model(build_model(model, seed=11), model, str(repository), 1, {"note": "test"})
    return str(repository)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from mlc.runtime.serving.local_triton import LocalTriton, assemble_repository

    root = tmp_path_factory.mktemp("local_triton")
    ir = fitted_ir()
    build_dir = write_build(ir, root / "build")
    models = export_shard(ir, root / "models")
    repository = assemble_repository(build_dir, models, SHARD, str(root / "repository"))
    triton = LocalTriton(repository, log_dir=str(root / "logs"), startup_timeout=60)
    triton.start()                      # raises LocalTritonError with the server log
    print(f"local Triton ready in {triton.startup_s:.2f} s (pid {triton.pid})")
    yield ir, models, triton
    triton.stop()


def clients(triton):
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    return {"http": (httpclient, httpclient.InferenceServerClient(triton.url)),
            "grpc": (grpcclient, grpcclient.InferenceServerClient(triton.grpc_url))}


def infer(protocol, module, client, model, arrays: dict[str, np.ndarray], outputs: list[str]):
    inputs = []
    for name, array in arrays.items():
        datatype = {np.dtype(np.object_): "BYTES", np.dtype(np.int64): "INT64", np.dtype(np.float64): "FP64",
                    np.dtype(np.bool_): "BOOL", np.dtype(np.float32): "FP32"}[array.dtype]
        tensor = module.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    requested = [module.InferRequestedOutput(name) for name in outputs]
    result = client.infer(model, inputs, outputs=requested)
    return {name: result.as_numpy(name) for name in outputs}


# ------------------------------------------------------------------------------ requests


def sample(dtype: str, n: int, rng) -> list:
    if dtype == "string":
        return [str(rng.choice(["shanghai", "hangzhou", "riyadh", "", "rider_7", "é东", "rain"])) for _ in range(n)]
    if dtype == "timestamp":
        return [int(v) for v in rng.integers(1_700_000_000_000_000, 1_720_000_000_000_000, n)]
    if dtype == "int64":
        return [int(v) for v in rng.integers(-3, 40, n)]
    if dtype == "bool":
        return [bool(v) for v in rng.integers(0, 2, n)]
    return [float(v) for v in rng.normal(30, 10, n)]


def raw_request(ir, model, n: int, seed: int):
    """Request rows (column -> values), null masks (column -> flags) and one absent column."""
    from mlc.backends.triton import request_tensors

    rng = np.random.default_rng(seed)
    tensors = request_tensors(ir, model)
    rows = {t.column: sample(t.dtype, n, rng) for t in tensors}
    nulls = {t.column: [bool(v) for v in rng.random(n) < 0.3] for t in tensors[1::3]}
    absent = next(t.column for t in tensors if t.kind == "group")   # an absent tensor: all null
    del rows[absent]
    nulls.pop(absent, None)
    return tensors, rows, nulls


def wire_arrays(tensors, rows, nulls) -> dict[str, np.ndarray]:
    from mlc.backends.triton.emit import NULL_SUFFIX

    out = {}
    for t in tensors:
        if t.column not in rows:
            continue
        values = rows[t.column]
        if t.dtype == "string":
            array = np.array([v.encode("utf-8") for v in values], dtype=np.object_)
        else:
            array = np.array(values, dtype=NUMPY[t.dtype])
        out[t.tensor] = array.reshape(-1, 1)
        if t.column in nulls:
            out[t.tensor + NULL_SUFFIX] = np.array(nulls[t.column], dtype=np.bool_).reshape(-1, 1)
    return out


def direct_arrays(ir, model, rows, nulls) -> dict[str, np.ndarray]:
    """transform_numpy + model_arrays in this process: what the preprocess model must produce."""
    from mlc.backends.preprocess import render
    from mlc.runtime.features.fitting import fitted_from_ir
    from mlc.runtime.numpy_ops import Vec
    from mlc.runtime.preprocess import module_from_text, transform_numpy
    from mlc.runtime.training.inputs import model_arrays

    dtypes = {**{i.name: i.dtype for i in ir.inputs},
              **{f"{g.name}.{o.name}": o.dtype for g in ir.feature_groups for o in g.outputs}}
    columns = {name: [None if nulls.get(name, [False] * len(values))[i] else v for i, v in enumerate(values)]
               for name, values in rows.items()}
    vectors = {name: Vec.of(values, dtypes[name]) for name, values in columns.items()}
    features = transform_numpy(module_from_text(render(ir)), vectors, fitted_from_ir(ir))
    n = len(next(iter(rows.values())))
    wanted = {t.name: features[t.name].to_list() if t.name in features else columns.get(t.name, [None] * n)
              for t in model.signature_inputs}
    return model_arrays(model, wanted)


def onnx_outputs(models_dir, model, arrays) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(os.path.join(models_dir, model.name, "1", "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    names = [t.name for t in model.signature_outputs]
    return dict(zip(names, session.run(names, {t.name: arrays[t.name] for t in model.signature_inputs})))


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_model_equals_onnxruntime_on_the_export(served, protocol):
    ir, models, triton = served
    module, client = clients(triton)[protocol]
    assert client.is_server_ready()
    for name in next(s for s in ir.deployment.shards if s.name == SHARD).models:
        model = ir.model(name)
        assert client.is_model_ready(name)
        _, rows, nulls = raw_request(ir, model, 37, seed=1)
        arrays = direct_arrays(ir, model, rows, nulls)
        outputs = [t.name for t in model.signature_outputs]
        got = infer(protocol, module, client, name, arrays, outputs)
        want = onnx_outputs(models, model, arrays)
        for output in outputs:
            assert got[output].dtype == np.float32 and got[output].shape == (37, 1)
            np.testing.assert_allclose(got[output], want[output], rtol=RTOL, atol=ATOL, err_msg=f"{name}.{output}")


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_preprocess_model_equals_transform_numpy_and_model_arrays(served, protocol):
    ir, _, triton = served
    module, client = clients(triton)[protocol]
    model = ir.model("eta_dnn")
    tensors, rows, nulls = raw_request(ir, model, 23, seed=2)
    got = infer(protocol, module, client, "eta_dnn_preprocess", wire_arrays(tensors, rows, nulls),
                [t.name for t in model.signature_inputs])
    want = direct_arrays(ir, model, rows, nulls)
    for t in model.signature_inputs:
        assert got[t.name].dtype == want[t.name].dtype and got[t.name].shape == want[t.name].shape, t.name
        np.testing.assert_array_equal(got[t.name], want[t.name], err_msg=t.name)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_pipeline_equals_the_direct_computation(served, protocol):
    ir, models, triton = served
    module, client = clients(triton)[protocol]
    for name in ("eta_dnn", "eta_wide_deep"):
        model = ir.model(name)
        for n, seed in ((1, 3), (29, 4)):
            tensors, rows, nulls = raw_request(ir, model, n, seed)
            outputs = [t.name for t in model.signature_outputs]
            got = infer(protocol, module, client, f"{name}_pipeline", wire_arrays(tensors, rows, nulls), outputs)
            want = onnx_outputs(models, model, direct_arrays(ir, model, rows, nulls))
            for output in outputs:
                assert got[output].shape == (n, 1)
                np.testing.assert_allclose(got[output], want[output], rtol=RTOL, atol=ATOL, err_msg=f"{name}.{output}")


def test_bad_requests_are_error_responses(served):
    from tritonclient.utils import InferenceServerException

    ir, _, triton = served
    module, client = clients(triton)["http"]
    model = ir.model("eta_dnn")
    outputs = [t.name for t in model.signature_outputs]
    tensors, rows, nulls = raw_request(ir, model, 4, seed=5)
    ragged = wire_arrays(tensors, rows, nulls)
    first = next(iter(ragged))
    ragged[first] = ragged[first][:2]                       # 2 rows against 4: Triton refuses it
    with pytest.raises(InferenceServerException, match="batch size"):
        infer("http", module, client, "eta_dnn_pipeline", ragged, outputs)
    text = next(t for t in tensors if t.dtype == "string")
    invalid = wire_arrays(tensors, rows, nulls)
    invalid[text.tensor] = np.array([b"\xff\xfe"] * 4, dtype=np.object_).reshape(-1, 1)   # not UTF-8
    with pytest.raises(InferenceServerException, match="eta_dnn_preprocess: .*utf-8"):
        infer("http", module, client, "eta_dnn_pipeline", invalid, outputs)
    assert client.is_server_ready()
    good = infer("http", module, client, "eta_dnn_pipeline", wire_arrays(tensors, rows, nulls), outputs)
    assert good[outputs[0]].shape == (4, 1)


def test_dynamic_batching_is_configured_and_batches(served):
    ir, _, triton = served
    batching = dict(ir.deployment.dynamic_batching)
    for protocol, (module, client) in clients(triton).items():
        config = client.get_model_config("eta_dnn")
        if protocol == "grpc":          # a ModelConfigResponse protobuf
            config = config.config
            config = {"max_batch_size": config.max_batch_size,
                      "dynamic_batching": {"preferred_batch_size": list(config.dynamic_batching.preferred_batch_size),
                                           "max_queue_delay_microseconds": config.dynamic_batching.max_queue_delay_microseconds},
                      "backend": config.backend}
        assert config["backend"] == "python"
        assert config["max_batch_size"] == ir.deployment.max_batch_size
        assert list(config["dynamic_batching"]["preferred_batch_size"]) == batching["preferred_batch_sizes"]
        assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == batching["max_queue_delay_us"]
    # concurrent one-row requests: the scheduler hands the model fewer, larger batches
    module, client = clients(triton)["grpc"]
    model = ir.model("eta_dnn")
    _, rows, nulls = raw_request(ir, model, 1, seed=6)
    arrays = direct_arrays(ir, model, rows, nulls)
    before = client.get_inference_statistics("eta_dnn", as_json=True)["model_stats"][0]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: infer("grpc", module, client, "eta_dnn", arrays, ["prediction"]),
                                range(96)))
    assert len({r["prediction"].tobytes() for r in results}) == 1
    after = client.get_inference_statistics("eta_dnn", as_json=True)["model_stats"][0]
    inferences = int(after["inference_count"]) - int(before.get("inference_count", 0))
    executions = int(after["execution_count"]) - int(before.get("execution_count", 0))
    assert inferences == 96 and executions < inferences, (inferences, executions)


def test_stop_ends_the_server_and_its_stubs(served):
    _, _, triton = served
    pid = triton.pid
    children = [p for p in os.listdir("/proc") if p.isdigit() and _session(int(p)) == pid and int(p) != pid]
    assert children, "the python backend stubs run in the server's session"
    started = time.monotonic()
    assert triton.stop() == 0
    print(f"stopped in {time.monotonic() - started:.2f} s")
    for process in [pid, *map(int, children)]:
        with pytest.raises(ProcessLookupError):
            os.kill(process, 0)
    assert not triton.is_alive()


def _session(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[3])        # state ppid pgrp session: field 6 of stat
    except (OSError, IndexError, ValueError):
        return None


def test_request_input_used_directly_as_model_input(tmp_path):
    """`distance_km` is a request field (FP64) and a model input (FP32): `eta_preprocess` has an
    input and an output of that name; the real server loads and serves it."""
    from specs import MINIMAL_SPEC

    from mlc.compiler.pipeline import build
    from mlc.runtime.features.fitting import with_fitted
    from mlc.runtime.serving.local_triton import LocalTriton, assemble_repository

    text = MINIMAL_SPEC.replace("inputs: {dense: [dist_z, load], sparse: [city_id]}",
                                "inputs: {dense: [dist_z, load, distance_km], sparse: [city_id]}")
    assert text != MINIMAL_SPEC
    (tmp_path / "demo.mlc.yaml").write_text(text)
    result = build(str(tmp_path / "demo.mlc.yaml"))
    assert result.ok, [d.message for d in result.diagnostics]
    ir = with_fitted(result.ir, {a.id: FITTED[a.function] for a in result.ir.analyzers})
    model = ir.model("eta")
    assert "distance_km" in model.raw_inputs and "distance_km" in [t.name for t in model.signature_inputs]
    [shard] = ir.deployment.shards
    models = export_shard(ir, tmp_path / "models", shard.name)
    repository = assemble_repository(write_build(ir, tmp_path / "build"), models, shard.name, str(tmp_path / "repo"))
    with LocalTriton(repository, startup_timeout=60) as triton:
        module, client = clients(triton)["http"]
        tensors, rows, nulls = raw_request(ir, model, 9, seed=8)
        arrays = wire_arrays(tensors, rows, nulls)
        direct = direct_arrays(ir, model, rows, nulls)
        got = infer("http", module, client, "eta_preprocess", arrays, [t.name for t in model.signature_inputs])
        for t in model.signature_inputs:
            np.testing.assert_array_equal(got[t.name], direct[t.name], err_msg=t.name)
        got = infer("http", module, client, "eta_pipeline", arrays, ["prediction"])
        np.testing.assert_allclose(got["prediction"], onnx_outputs(models, model, direct)["prediction"],
                                   rtol=RTOL, atol=ATOL)
        client.close()      # an open HTTP connection holds Triton's shutdown for --exit-timeout-secs
        started = time.monotonic()
    assert triton.returncode == 0 and time.monotonic() - started < 5


# ------------------------------------------------------------------------------ failures


def test_unfitted_build_fails_to_start_with_the_log(tmp_path):
    from mlc.runtime.serving.local_triton import LocalTriton, LocalTritonError, assemble_repository

    fitted = fitted_ir()
    unfitted = fitted_ir(fitted=False)
    build_dir = write_build(unfitted, tmp_path / "build")
    models = tmp_path / "models"
    for name in next(s for s in fitted.deployment.shards if s.name == SHARD).models:   # tiny stand-in files
        (models / name / "1").mkdir(parents=True)
        (models / name / "1" / "model.onnx").write_bytes(b"not onnx")
    repository = assemble_repository(build_dir, str(models), SHARD, str(tmp_path / "repository"))
    triton = LocalTriton(repository, startup_timeout=60, log_dir=str(tmp_path / "logs"))
    with pytest.raises(LocalTritonError) as failure:
        triton.start()
    message = str(failure.value)
    assert "server log" in message and "mlc fit" in message
    assert not triton.is_alive() and triton.returncode != 0
    assert "mlc fit" in (tmp_path / "logs" / "tritonserver.log").read_text()


def test_assemble_refuses_missing_versions_and_unknown_shards(tmp_path):
    from mlc.runtime.serving.local_triton import LocalTritonError, assemble_repository

    build_dir = write_build(fitted_ir(), tmp_path / "build")
    (tmp_path / "models").mkdir()
    with pytest.raises(LocalTritonError, match="no exported version"):
        assemble_repository(build_dir, str(tmp_path / "models"), SHARD, str(tmp_path / "a"))
    with pytest.raises(LocalTritonError, match="no shard"):
        assemble_repository(build_dir, str(tmp_path / "models"), "nowhere", str(tmp_path / "b"))
