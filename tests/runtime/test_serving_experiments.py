"""Experiments in the predictor (mlc.runtime.serving.experiment_routing): a request is assigned,
routed to its variant's model and version, and logged as exposures -- on real parts: the
compiled sharded spec of test_serving_predictor.py, models exported with export_model, the
SQLite online store and in-process ONNX Runtime."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone

import pytest

from mlc.runtime.experiments.assigner import Assigner
from mlc.backends.experiments.config import ExperimentsConfig
from mlc.runtime.experiments.exposures import ExposureLog, read_exposures
from mlc.runtime.experiments.switchback import Schedule
from conftest import serving_helpers

from mlc.runtime.online_store import open_store
from mlc.runtime.serving import OnnxBackend, Predictor, RequestError
from mlc.runtime.serving.experiment_routing import ExperimentRouter, experiment_fields, request_fields
from mlc.runtime.serving.gateway import load_experiments
from mlc.runtime.serving.metrics import ServingMetrics


H = serving_helpers("serving_experiment_helpers")
AT = datetime(2024, 7, 3, 9, 40, tzinfo=timezone.utc)
RIDERS = range(1, 41)


def variant(name, model, lo, hi, version=None, alias=None):
    return {"name": name, "model": model, "version": version, "alias": alias, "weight": 50.0, "buckets": [lo, hi]}


def layer_config(variants, switchbacks=(), targeting=None):
    experiment = {"name": "e", "unit": "rider_id", "salt": "ranking:e", "traffic": 100.0, "buckets": [0, 10000],
                  "reserved": [0, 10000], "holdout": 0.0, "control": variants[0]["name"], "targeting": targeting,
                  "targeting_source": None, "variants": variants}
    return ExperimentsConfig.from_json({
        "format": 1, "spec": "s", "config_version": "test-config-1", "hash": {"function": "sha256", "buckets": 10000},
        "layers": [{"name": "ranking", "salt": "ranking", "experiments": [experiment]}],
        "switchbacks": list(switchbacks)})


TWO_MODELS = [variant("a", "eta", 0, 5000), variant("b", "eta_b", 5000, 10000)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("serving-experiments")
    ir = H.compile_ir(directory, sharded=True)
    repository = directory / "repository"
    H.export_models(ir, repository, [("north", "eta", 5.0), ("south", "eta", -5.0)])
    shutil.copytree(repository / "south" / "eta", repository / "south" / "eta_b")
    shutil.copytree(repository / "south" / "eta" / "1", repository / "south" / "eta" / "2")   # latest: 2
    return ir, repository


@pytest.fixture
def store(tmp_path, served):
    s = open_store(f"sqlite:{tmp_path / 'online.db'}", timeout=1.0, create=True)
    H.seed_store(s, served[0], RIDERS)
    yield s
    s.close()


def predictor_with(served, store, config, log_path=None, aliases=None, metrics=None):
    ir, repository = served
    router = ExperimentRouter(Assigner(config), ExposureLog(str(log_path)) if log_path else None, aliases,
                              now=lambda: AT)
    return Predictor(ir, None, store, OnnxBackend(str(repository)), H.NAMESPACE, experiments=router,
                     metrics=metrics), router


def request(rider, city="shenzhen", **extra):
    return {"context": {"city": city, "rider_id": rider}, "items": [{"distance_km": 2.0}, {"distance_km": 5.0}],
            **extra}


def expected_variant(config, rider, city="shenzhen"):
    (assignment,) = [a for a in Assigner(config).assign({"rider_id": rider, "city": city}, AT) if a.kind == "layer"]
    return assignment.variant


def test_each_variant_is_served_by_its_model_and_logged(served, store, tmp_path):
    config = layer_config(TWO_MODELS)
    log = tmp_path / "exposures.jsonl"
    predictor, router = predictor_with(served, store, config, log)
    models = {}
    for rider in RIDERS:
        response = predictor.predict(request(rider, request_id=f"r{rider}"))
        wanted = expected_variant(config, rider)
        assert response.model == {"a": "eta", "b": "eta_b"}[wanted]
        assert response.experiments == [{"experiment": "e", "variant": wanted, "routed": True}]
        assert response.to_json()["experiments"] == response.experiments
        models[rider] = response.model
    assert set(models.values()) == {"eta", "eta_b"}          # both arms get traffic
    router.close()
    lines = list(read_exposures(str(log)))
    assert [line["request_id"] for line in lines] == [f"r{r}" for r in RIDERS]
    for line, rider in zip(lines, RIDERS):
        assert (line["experiment"], line["unit"], line["unit_id"], line["kind"]) == ("e", "rider_id", str(rider), "layer")
        assert line["model"] == models[rider] and line["routed"] is True and line["shard"] == "south"
        assert line["config_version"] == "test-config-1" and line["ts"] == "2024-07-03T09:40:00.000Z"


def test_a_pinned_version_is_served_and_a_missing_one_falls_back(served, store, tmp_path):
    config = layer_config([variant("a", "eta", 0, 5000, version=1), variant("b", "eta", 5000, 10000, version=9)])
    log = tmp_path / "exposures.jsonl"
    metrics = ServingMetrics()
    predictor, router = predictor_with(served, store, config, log, metrics=metrics)
    versions = {}
    for rider in RIDERS:
        response = predictor.predict(request(rider))
        versions[rider] = response.version
        assert response.model == "eta"
        assert response.version == (1 if expected_variant(config, rider) == "a" else 2)
    router.close()
    fell_back = [r for r in RIDERS if expected_variant(config, r) == "b"]
    assert fell_back and router.fallbacks == len(fell_back)
    routed = {int(line["unit_id"]): line["routed"] for line in read_exposures(str(log))}
    assert routed == {r: expected_variant(config, r) == "a" for r in RIDERS}
    text = metrics.render().decode()
    assert f"mlc_gateway_experiment_fallbacks_total {float(len(fell_back))}" in text
    assert (f'mlc_gateway_experiment_assignments_total{{experiment="e",routed="false",variant="b"}} '
            f"{float(len(fell_back))}") in text


def test_a_variant_model_the_shard_does_not_serve_does_not_route(served, store):
    predictor, _ = predictor_with(served, store, layer_config(TWO_MODELS))
    for rider in RIDERS:                                       # north serves only `eta`
        response = predictor.predict(request(rider, city="beijing"))
        assert response.model == "eta" and response.shard == "north"
        assert response.experiments[0]["routed"] is (expected_variant(layer_config(TWO_MODELS), rider, "beijing") == "a")


def test_the_requests_explicit_model_limits_routing(served, store):
    config = layer_config(TWO_MODELS)
    predictor, _ = predictor_with(served, store, config)
    for rider in RIDERS:
        response = predictor.predict(request(rider, model="eta_b"))
        assert response.model == "eta_b"
        assert response.experiments[0]["routed"] is (expected_variant(config, rider) == "b")


def test_aliases_resolve_through_the_registry_hook(served, store):
    config = layer_config([variant("a", "eta", 0, 5000, alias="candidate"), variant("b", "eta", 5000, 10000, alias="latest")])
    calls = []

    def aliases(shard, model, alias):
        calls.append((shard, model, alias))
        return 1

    predictor, _ = predictor_with(served, store, config, aliases=aliases)
    for rider in RIDERS:
        response = predictor.predict(request(rider))
        assert response.version == (1 if expected_variant(config, rider) == "a" else 2)
    assert calls and set(calls) == {("south", "eta", "candidate")}
    unresolved, _ = predictor_with(served, store, config)     # no registry: `candidate` cannot route
    rider = next(r for r in RIDERS if expected_variant(config, r) == "a")
    response = unresolved.predict(request(rider))
    assert response.version == 2 and response.experiments[0]["routed"] is False


def test_a_switchback_decides_before_the_layers(served, store, tmp_path):
    switchback = {"name": "dispatch", "unit": "city", "slice_seconds": 1800, "burn_in_seconds": 300, "seed": 7,
                  "timezone": "Asia/Shanghai", "regions": {"shenzhen": "Asia/Shanghai"}, "start": None, "end": None,
                  "control": "c", "targeting": None, "targeting_source": None, "tickets": [1, 1],
                  "variants": [{"name": "c", "model": "eta", "version": 1, "alias": None, "weight": 50.0},
                               {"name": "d", "model": "eta_b", "version": None, "alias": None, "weight": 50.0}]}
    config = layer_config(TWO_MODELS, [switchback])
    log = tmp_path / "exposures.jsonl"
    predictor, router = predictor_with(served, store, config, log)
    slice_, chosen, burn_in = Schedule(config.switchbacks[0]).assign("shenzhen", AT)
    for rider in RIDERS:
        response = predictor.predict(request(rider))
        assert response.model == chosen.model
        assert response.experiments[0] == {"experiment": "dispatch", "variant": chosen.name, "routed": True}
        assert response.experiments[1]["routed"] is False
    # a city the switchback does not list: only the layer experiment applies
    response = predictor.predict(request(1, city="riyadh"))
    assert [e["experiment"] for e in response.experiments] == ["e"]
    router.close()
    lines = [line for line in read_exposures(str(log)) if line["kind"] == "switchback"]
    assert len(lines) == len(RIDERS)
    assert {(line["region"], line["slice_index"], line["burn_in"]) for line in lines} == {("shenzhen", slice_.index, burn_in)}


def test_a_failed_request_logs_no_exposure(served, store, tmp_path):
    log = tmp_path / "exposures.jsonl"
    predictor, router = predictor_with(served, store, layer_config(TWO_MODELS), log)
    with pytest.raises(RequestError):
        predictor.predict({"context": {"city": "shenzhen", "rider_id": 3}, "items": [{"distance_km": "far"}]})
    with pytest.raises(RequestError):
        predictor.predict({**request(3), "request_id": 12})
    router.close()
    assert not log.exists() or log.read_text() == ""


def test_fields_the_experiments_read():
    config = layer_config(TWO_MODELS, targeting={"kind": "in", "dtype": "bool", "negated": False,
                                                 "value": {"kind": "ref", "dtype": "string", "name": "city"},
                                                 "options": [{"kind": "constant", "dtype": "string", "value": "x"}]})
    assert experiment_fields(config) == {"rider_id", "city"}
    # items that disagree on a field: the request is in no experiment on it
    assert request_fields({"rider_id": [1, 1, 1], "city": ["a", "b"]}, ["rider_id", "city"]) == {"rider_id": 1}


def test_the_gateway_loads_the_builds_experiments(tmp_path):
    build = tmp_path / "build"
    assert load_experiments(None, str(build), None) is None            # no config: no experiments
    (build / "experiments").mkdir(parents=True)
    doc = {"format": 1, "spec": "s", "config_version": "v", "hash": {}, "layers": [], "switchbacks": []}
    (build / "experiments" / "config.json").write_text(json.dumps(doc))
    assert load_experiments(None, str(build), None) is None            # declares none
    path = tmp_path / "other.json"
    path.write_text(json.dumps({**doc, "layers": [
        {"name": "ranking", "salt": "ranking", "experiments": [
            {"name": "e", "unit": "rider_id", "salt": "ranking:e", "traffic": 10.0, "buckets": [0, 1000],
             "reserved": [0, 1000], "holdout": 0.0, "control": "a", "targeting": None, "targeting_source": None,
             "variants": TWO_MODELS}]}]}))
    router = load_experiments(str(path), str(build), str(tmp_path / "x.jsonl"))
    assert router is not None and router.config_version == "v" and router.fields == ("rider_id",)
    (build / "experiments" / "config.json").write_text(json.dumps({**doc, "format": 7}))
    with pytest.raises(SystemExit, match="format 7"):
        load_experiments(None, str(build), None)


def test_exposures_to_stdout_are_json_lines(served, store, capsys, tmp_path):
    path = tmp_path / "config.json"
    experiment = {"name": "e", "unit": "rider_id", "salt": "ranking:e", "traffic": 100.0, "buckets": [0, 10000],
                  "reserved": [0, 10000], "holdout": 0.0, "control": "a", "targeting": None, "targeting_source": None,
                  "variants": TWO_MODELS}
    path.write_text(json.dumps({"format": 1, "spec": "s", "config_version": "v", "hash": {}, "switchbacks": [],
                                "layers": [{"name": "ranking", "salt": "ranking", "experiments": [experiment]}]}))
    router = load_experiments(str(path), str(tmp_path), "-")
    ir, repository = served
    predictor = Predictor(ir, None, store, OnnxBackend(str(repository)), H.NAMESPACE, experiments=router)
    predictor.predict(request(5, request_id="abc"))
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["request_id"] == "abc" and record["experiment"] == "e" and record["routed"] is True

