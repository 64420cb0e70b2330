"""The online predictor (mlc.runtime.serving.predictor) end to end on real parts: a compiled
sharded spec with hand-fitted analyzers, tiny models exported with build_model/export_model,
the SQLite and Redis online stores, in-process ONNX Runtime, and a Triton client pointed at a
closed port. The helpers here are reused by test_serving_gateway.py."""

from __future__ import annotations

import os
import shutil
import socket

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnxruntime
import pytest

from specs import MINIMAL_SPEC

from mlc.compiler.pipeline import build
from mlc.runtime.features.fitting import with_fitted
from mlc.runtime.online_store import open_store, put_features
from mlc.runtime.preprocess import module_from_text, transform_numpy
from mlc.runtime.numpy_ops import Vec
from mlc.runtime.serving import (BackendUnavailable, ModelNotFound, OnnxBackend, Predictor, RequestError,
                                 Routing, TritonBackend)
from mlc.runtime.serving.metrics import ServingMetrics
from mlc.runtime.training.inputs import model_arrays

FITTED = {"dist_z:standardize:0": {"mean": 0.4, "std": 0.7, "count": 100}}
NAMESPACE = "test-serving"
SHARDING = """
deployment:
  sharding:
    partition_key: city
    default: south
    shards:
      north: {partitions: [beijing, chengdu], models: [eta]}
      south: {partitions: [shenzhen], models: [eta, eta_b]}
"""
SECOND_MODEL = """  eta_b:
    type: dnn
    task: regression
    label: eta
    inputs: {dense: [dist_z, load], sparse: [city_id]}
    training: {source: orders, epochs: 1}
"""


def spec_text(sharded: bool) -> str:
    text = MINIMAL_SPEC.replace("rider_id: {dtype: int64}", "rider_id: {dtype: int64, required: true}")
    text = text.replace("experiments:\n", SECOND_MODEL + "experiments:\n", 1)
    return text + (SHARDING if sharded else "")


def compile_ir(directory, sharded: bool):
    path = directory / "s.mlc.yaml"
    path.write_text(spec_text(sharded), encoding="utf-8")
    result = build(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return with_fitted(result.ir, FITTED)


def export_models(ir, repository, plan):
    """``plan``: [(shard or None, model, output_bias)]: one exported version 1 each."""
    from mlc.runtime.training import export
    from mlc.runtime.training.models import build_model

    for seed, (shard, name, bias) in enumerate(plan):
        model = ir.model(name)
        target = os.path.join(repository, shard) if shard else str(repository)
        export.export_model(build_model(model, seed=seed, output_bias=bias), model, target, 1, {})


def seed_store(store, ir, riders):
    """rider_activity records for ``riders``: (deliveries_1h, 1d, avg_eta_1h, 1d) per rider."""
    group = ir.group("rider_activity")
    names = [c.name for c in group.outputs]
    rows = []
    for rider in riders:
        values = {"deliveries_1h": rider % 7, "deliveries_1d": 3 * rider % 11,
                  "avg_eta_1h": 10.0 + rider % 5, "avg_eta_1d": 20.0}
        rows.append(([rider], [values.get(n) for n in names]))
    put_features(store, group, NAMESPACE, rows)


def items(n, rng=None):
    rng = rng or np.random.RandomState(0)
    return [{"rider_id": int(rng.randint(1, 60)), "distance_km": float(rng.uniform(0, 12))} for _ in range(n)]


def direct_scores(ir, onnx_path, context, rows, store_values):
    """The same scores computed by hand: columns -> transform_numpy -> model_arrays -> onnxruntime."""
    from mlc.backends.preprocess import render

    module = module_from_text(render(ir))
    merged = [{**context, **row} for row in rows]
    inputs = {i.name: i for i in ir.inputs}
    columns = {}
    for name, spec in inputs.items():
        values = [r.get(name, spec.default) for r in merged]
        columns[name] = Vec.of(values, spec.dtype)
    group = ir.group("rider_activity")
    for output in group.outputs:
        values = [store_values.get(r["rider_id"], {}).get(output.name) for r in merged]
        default = dict(group.defaults).get(output.name)
        values = [default if v is None else v for v in values]
        columns[f"rider_activity.{output.name}"] = Vec.of(values, output.dtype)
    features = transform_numpy(module, columns, FITTED)
    model = ir.model("eta")
    wanted = {}
    for tensor in model.signature_inputs:
        vec = features[tensor.name]
        data = vec.data.astype(object)
        data[~vec.valid] = None
        wanted[tensor.name] = data
    arrays = model_arrays(model, wanted)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, arrays)
    return out.reshape(-1).astype(np.float64)


def store_values_of(riders):
    return {r: {"deliveries_1h": r % 7, "deliveries_1d": 3 * r % 11, "avg_eta_1h": 10.0 + r % 5, "avg_eta_1d": 20.0}
            for r in riders}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BrokenStore:
    def get_many(self, keys):
        raise ConnectionError("store is down")

    def put_many(self, items, ttl_seconds=None):
        raise ConnectionError("store is down")

    def close(self):
        pass


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    directory = tmp_path_factory.mktemp("serving")
    ir = compile_ir(directory, sharded=True)
    repository = directory / "repository"
    export_models(ir, repository, [("north", "eta", 5.0), ("south", "eta", -5.0)])
    # eta_b: a copy of south's eta with another bias would need another export; the same file
    # under another name is enough to tell the models apart by name
    shutil.copytree(repository / "south" / "eta", repository / "south" / "eta_b")
    return ir, repository


@pytest.fixture
def sqlite_store(tmp_path, sharded):
    ir, _ = sharded
    store = open_store(f"sqlite:{tmp_path / 'online.db'}", timeout=1.0, create=True)
    seed_store(store, ir, range(1, 50))           # riders 50..59 are unknown: defaults
    yield store
    store.close()


def make_predictor(sharded, store, metrics=None, backend=None):
    ir, repository = sharded
    return Predictor(ir, None, store, backend or OnnxBackend(str(repository)), NAMESPACE, metrics=metrics)


# ------------------------------------------------------------------------------------ scores


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_scores_equal_the_direct_computation_for_200_items(sharded, sqlite_store, redis_url, store_kind):
    ir, repository = sharded
    if store_kind == "redis":
        store = open_store(redis_url, timeout=1.0)
        seed_store(store, ir, range(1, 50))
    else:
        store = sqlite_store
    metrics = ServingMetrics()
    predictor = make_predictor(sharded, store, metrics)
    rows = items(200)
    context = {"city": "beijing"}
    response = predictor.predict({"context": context, "items": rows})
    assert response.shard == "north" and response.model == "eta" and response.version == 1
    assert not response.degraded and len(response.scores) == 200
    expected = direct_scores(ir, repository / "north" / "eta" / "1" / "model.onnx", context, rows,
                             store_values_of(range(1, 50)))
    np.testing.assert_allclose(response.scores, expected, rtol=1e-6, atol=1e-6)
    assert set(response.timings_ms) == {"validate", "route", "features", "preprocess", "inference", "total"}
    assert response.timings_ms["total"] >= response.timings_ms["inference"] >= 0
    assert "mlc_gateway_stage_seconds_count{stage=\"features\"} 1.0" in metrics.render().decode()
    if store_kind == "redis":
        store.close()


def test_missing_entity_uses_the_group_defaults(sharded, sqlite_store):
    ir, repository = sharded
    predictor = make_predictor(sharded, sqlite_store)
    rows = [{"rider_id": 55, "distance_km": 2.0}, {"rider_id": 3, "distance_km": 2.0}]
    response = predictor.predict({"context": {"city": "shenzhen"}, "items": rows})
    assert response.shard == "south" and not response.degraded
    expected = direct_scores(ir, repository / "south" / "eta" / "1" / "model.onnx", {"city": "shenzhen"}, rows,
                             store_values_of([3]))   # rider 55 unknown: count defaults (0)
    np.testing.assert_allclose(response.scores, expected, rtol=1e-6, atol=1e-6)
    # `load` = coalesce(deliveries_1h, 0): the unknown rider scores as one with 0 deliveries
    zero = predictor.predict({"context": {"city": "shenzhen"}, "items": [{"rider_id": 56, "distance_km": 2.0}]})
    assert zero.scores[0] == pytest.approx(response.scores[0], abs=1e-6)


def test_broken_store_degrades_and_still_scores(sharded):
    ir, repository = sharded
    metrics = ServingMetrics()
    predictor = make_predictor(sharded, BrokenStore(), metrics)
    rows = items(20)
    response = predictor.predict({"context": {"city": "beijing"}, "items": rows})
    assert response.degraded and len(response.scores) == 20 and all(np.isfinite(response.scores))
    expected = direct_scores(ir, repository / "north" / "eta" / "1" / "model.onnx", {"city": "beijing"}, rows, {})
    np.testing.assert_allclose(response.scores, expected, rtol=1e-6, atol=1e-6)
    text = metrics.render().decode()
    assert "mlc_gateway_degraded_total 1.0" in text and "mlc_gateway_store_errors_total 1.0" in text


def test_no_store_configured_is_degraded(sharded):
    response = make_predictor(sharded, None).predict({"context": {"city": "beijing", "rider_id": 1}})
    assert response.degraded and len(response.scores) == 1    # no items: the context is the one row


# ------------------------------------------------------------------------------------ routing


def test_routing_picks_the_shard_of_the_partition_value_and_the_default_otherwise(sharded, sqlite_store):
    predictor = make_predictor(sharded, sqlite_store)
    row = [{"rider_id": 1, "distance_km": 1.0}]
    answers = {city: predictor.predict({"context": {"city": city}, "items": row}) for city in
               ("beijing", "chengdu", "shenzhen", "riyadh")}
    assert {c: r.shard for c, r in answers.items()} == {
        "beijing": "north", "chengdu": "north", "shenzhen": "south", "riyadh": "south"}
    # missing city: the input default `unknown`, listed by no shard -> default shard
    assert predictor.predict({"items": [{"rider_id": 1}]}).shard == "south"
    # the two shards serve different exports (output bias +5 vs -5)
    assert answers["beijing"].scores[0] - answers["shenzhen"].scores[0] > 5
    # the partition key may be given per item, as long as the items agree
    assert predictor.predict({"items": [{"rider_id": 1, "city": "chengdu"}, {"rider_id": 2, "city": "chengdu"}]}
                             ).shard == "north"
    with pytest.raises(RequestError) as err:
        predictor.predict({"items": [{"rider_id": 1, "city": "beijing"}, {"rider_id": 2, "city": "shenzhen"}]})
    assert "city" in err.value.fields


def test_routing_table_from_the_k8s_backend(sharded):
    from mlc.backends.serving_k8s.emit import routing_table

    ir, _ = sharded
    routing = Routing.from_table(routing_table(ir), ir)
    assert routing == Routing(routing.partition_key, routing.routes, routing.default, routing.models, routing.addresses)
    assert routing.shard_for("beijing") == "north" and routing.shard_for("x") == "south"
    assert routing.shard_for(None) == "south"
    assert routing.models == {"north": ("eta",), "south": ("eta", "eta_b")}
    assert routing.addresses["north"].endswith(":8001") and ".svc:" in routing.addresses["north"]
    table = routing_table(ir)
    table["spec"] = "other"
    with pytest.raises(ValueError, match="spec `other`"):
        Routing.from_table(table, ir)


def test_model_selection(sharded, sqlite_store):
    predictor = make_predictor(sharded, sqlite_store)
    request = {"model": "eta_b", "context": {"city": "shenzhen"}, "items": [{"rider_id": 1}]}
    assert predictor.predict(request).model == "eta_b"
    with pytest.raises(ModelNotFound, match="not served by shard `north`"):
        predictor.predict({**request, "context": {"city": "beijing"}})
    with pytest.raises(ModelNotFound, match="unknown model `nope`"):
        predictor.predict({**request, "model": "nope"})


# ------------------------------------------------------------------------------------ errors


def test_malformed_request_lists_every_field_error(sharded, sqlite_store):
    metrics = ServingMetrics()
    predictor = make_predictor(sharded, sqlite_store, metrics)
    with pytest.raises(RequestError) as err:
        predictor.predict({"context": {"city": 3, "colour": "red"},
                           "items": [{"rider_id": "seven", "distance_km": 1.0}, {"distance_km": "far"}, 5],
                           "extra": True})
    assert err.value.status == 400
    fields = err.value.fields
    assert fields["context.city"] == "expected a string, got a number"
    assert fields["context.colour"] == "unknown field"
    assert fields["items[0].rider_id"] == "expected an integer, got a string"
    assert fields["items[1].distance_km"] == "expected a number, got a string"
    assert fields["items[2]"].startswith("expected an object")
    assert fields["extra"].startswith("unknown request key")
    assert fields["rider_id"] == "required field missing in item(s) 1"     # item 0's is mistyped, not missing
    with pytest.raises(RequestError) as err:
        predictor.predict({"context": {"city": "x"}, "items": [{"rider_id": 1}, {}]})
    assert err.value.fields == {"rider_id": "required field missing in item(s) 1"}
    for bad in (None, [], "x", {"items": []}, {"items": {}}, {"model": 3, "context": {"rider_id": 1}}):
        with pytest.raises(RequestError):
            predictor.predict(bad)
    with pytest.raises(RequestError) as err:
        predictor.predict({"context": {"rider_id": 1}, "items": [{}] * 1001})
    assert err.value.fields == {"items": "1001 items; at most 1000 per request"}
    assert 'mlc_gateway_requests_total{status="400"} 9.0' in metrics.render().decode()


def test_types_and_defaults(sharded, sqlite_store):
    predictor = make_predictor(sharded, sqlite_store)
    rows = predictor.validate({"context": {"rider_id": 2.0}, "items": [{"distance_km": 3}, {"distance_km": None}]})
    assert rows.columns["rider_id"] == [2, 2]
    # values as sent: the generated module applies input defaults (coalesce) in both executors,
    # so routing and experiment units see the request's own values
    assert rows.columns["distance_km"] == [3.0, None]
    assert rows.columns["city"] == [None, None]
    from mlc.runtime.serving.validation import _timestamp

    assert _timestamp("1970-01-01T00:00:01Z") == 1_000_000
    # an integer is unix seconds, as in the data (docs/serving.md)
    assert _timestamp("1970-01-01T00:00:01.5+00:00") == 1_500_000 and _timestamp(7) == 7_000_000


def test_unreachable_triton_is_backend_unavailable(sharded, sqlite_store):
    metrics = ServingMetrics()
    backend = TritonBackend(f"127.0.0.1:{closed_port()}", timeout=0.5)
    predictor = make_predictor(sharded, sqlite_store, metrics, backend)
    ok, detail = predictor.ready()
    assert not ok and "shard `north` (127.0.0.1:" in detail
    with pytest.raises(BackendUnavailable) as err:
        predictor.predict({"context": {"city": "beijing"}, "items": items(3)})
    assert err.value.status == 503 and "shard `north`" in err.value.message
    assert 'mlc_gateway_requests_total{status="503"} 1.0' in metrics.render().decode()
    backend.close()


def test_embedded_backend_reports_missing_versions(sharded, tmp_path):
    ir, _ = sharded
    backend = OnnxBackend(str(tmp_path / "empty"))
    predictor = Predictor(ir, None, None, backend, NAMESPACE)
    ok, detail = predictor.ready()
    assert not ok and "no exported version of model `eta`" in detail
    with pytest.raises(BackendUnavailable):
        predictor.predict({"context": {"rider_id": 1}})


def test_unfitted_analyzers_are_refused(sharded):
    import dataclasses

    ir, repository = sharded
    bare = dataclasses.replace(ir, analyzers=tuple(dataclasses.replace(a, fitted=None) for a in ir.analyzers))
    with pytest.raises(ValueError, match="run `mlc fit` first"):
        Predictor(bare, None, None, OnnxBackend(str(repository)), NAMESPACE)


class FakeTriton:
    """Stands in for tritonclient.grpc.InferenceServerClient: checks the request tensors the
    backend builds and answers sum(inputs) per row, version 7."""

    def __init__(self, model):
        self.model, self.calls, self.versions = model, [], []

    def _answer(self, model_name, inputs, outputs):
        from tritonclient.utils import triton_to_np_dtype

        assert model_name == self.model.name
        assert [i.name() for i in inputs] == [t.name for t in self.model.signature_inputs]
        assert [i.datatype() for i in inputs] == [{"float32": "FP32", "int64": "INT64"}[t.dtype]
                                                  for t in self.model.signature_inputs]
        assert [o.name() for o in outputs] == ["prediction"]
        arrays = [np.frombuffer(i._raw_content, dtype=triton_to_np_dtype(i.datatype())).reshape(i.shape())
                  for i in inputs]
        assert all(a.shape[1:] == (1,) for a in arrays)
        self.calls.append(len(arrays[0]))
        total = sum(a.astype(np.float32) for a in arrays)

        class Result:
            def as_numpy(self, name):
                return total

            def get_response(self):
                return type("R", (), {"model_version": "7"})()
        return Result()

    def infer(self, model_name, inputs, model_version="", outputs=None, client_timeout=None):
        self.versions.append(model_version)
        return self._answer(model_name, inputs, outputs)

    def async_infer(self, model_name, inputs, callback, model_version="", outputs=None, client_timeout=None):
        self.versions.append(model_version)
        callback(self._answer(model_name, inputs, outputs), None)


@pytest.mark.parametrize("max_batch", [0, 16])
def test_triton_backend_sends_the_signature_inputs_in_chunks(sharded, sqlite_store, max_batch):
    ir, _ = sharded
    backend = TritonBackend({"north": "north:8001", "south": "south:8001"}, timeout=1.0, max_batch_size=max_batch)
    fake = FakeTriton(ir.model("eta"))
    backend.client = lambda shard: fake
    predictor = make_predictor(sharded, sqlite_store, backend=backend)
    request = {"context": {"city": "beijing"}, "items": items(100)}
    response = predictor.predict(request)
    assert response.version == 7 and response.shard == "north"
    assert fake.calls == ([100] if max_batch == 0 else [16] * 6 + [4])
    assert set(fake.versions) == {""}                  # the latest version
    rows = predictor.validate(request)
    arrays = predictor.preprocess(ir.model("eta"), rows, predictor.features(ir.model("eta"), rows).columns)
    backend.infer("north", ir.model("eta"), arrays, 3)   # an experiment variant's pinned version
    assert fake.versions[-1] == "3"
    rows = predictor.validate(request)
    arrays = predictor.preprocess(ir.model("eta"), rows, predictor.features(ir.model("eta"), rows).columns)
    expected = sum(a.astype(np.float32) for a in arrays.values()).reshape(-1)
    np.testing.assert_allclose(response.scores, expected, rtol=1e-6)
