"""The experiments/config.json backend: golden for the examples (byte for byte), readable by the
runtime's ExperimentsConfig, documented field order, config_version, empty specs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlc.backends.experiments import PATH, config_version, document, emit
from mlc.compiler.pipeline import build
from mlc.backends.experiments.config import ExperimentsConfig

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "trees"
CASES = {
    "ctr_criteo": ("examples/ctr_criteo/ctr.mlc.yaml", None),
    "delivery_eta": ("examples/delivery_eta/delivery.mlc.yaml", None),
    "delivery_eta-prod": ("examples/delivery_eta/delivery.mlc.yaml", "prod"),
}


def compiled(spec: str, env: str | None = None):
    result = build(str(REPO / spec), env)
    assert result.ok, result.diagnostics
    return result.ir


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_matches_golden_and_loads(case):
    ir = compiled(*CASES[case])
    (path, text), = emit(ir).items()
    assert path == PATH == "experiments/config.json"
    assert text == (GOLDEN / case / PATH).read_text(encoding="utf-8")
    config = ExperimentsConfig.from_json(json.loads(text))
    assert config.spec == ir.name and config.config_version == json.loads(text)["config_version"]
    assert [e.name for e in config.experiments] == [e.name for e in ir.experiments]
    assert [s.name for s in config.switchbacks] == [s.name for s in ir.switchbacks]


def test_ctr_example_reserves_room_to_ramp():
    config = ExperimentsConfig.from_json(document(compiled(*CASES["ctr_criteo"])))
    (experiment,) = config.experiments
    assert experiment.buckets == (0, 2000) and experiment.reserved == (0, 4000)
    assert experiment.control == "control" and experiment.salt == "ranking_model_2024q3:lr_vs_deepfm"
    assert [v.buckets for v in experiment.variants] == [(0, 4750), (4750, 9500)]   # 5 % holdout


def test_delivery_example_switchback():
    config = ExperimentsConfig.from_json(document(compiled(*CASES["delivery_eta"])))
    switchback = config.find("dispatch_eta")
    assert switchback.tickets == (1, 1) and switchback.slice_seconds == 1800 and switchback.burn_in_seconds == 300
    assert list(switchback.regions) == sorted(switchback.regions)
    assert switchback.start is not None and switchback.start.isoformat() == "2024-07-01T00:00:00+00:00"
    assert [e.reserved for e in config.experiments] == [(0, 4000), (4000, 7000)]


def test_field_order_is_the_documented_one():
    doc = document(compiled(*CASES["delivery_eta"]))
    assert list(doc) == ["format", "spec", "config_version", "hash", "layers", "switchbacks"]
    assert doc["hash"] == {"function": "sha256", "buckets": 10000}
    experiment = doc["layers"][0]["experiments"][0]
    assert list(experiment) == ["name", "unit", "salt", "traffic", "buckets", "reserved", "holdout", "control",
                                "targeting", "targeting_source", "variants"]
    assert list(experiment["variants"][0]) == ["name", "model", "version", "alias", "weight", "buckets"]
    switchback = doc["switchbacks"][0]
    assert list(switchback) == ["name", "unit", "slice_seconds", "burn_in_seconds", "seed", "timezone", "regions",
                                "start", "end", "control", "targeting", "targeting_source", "tickets", "variants"]
    assert list(switchback["variants"][0]) == ["name", "model", "version", "alias", "weight"]


def test_config_version_is_the_hash_of_the_rest():
    ir = compiled(*CASES["delivery_eta"])
    text = emit(ir)[PATH]
    doc = json.loads(text)
    body = {k: v for k, v in doc.items() if k != "config_version"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert doc["config_version"] == hashlib.sha256(canonical.encode()).hexdigest()[:16] == config_version(doc)
    assert text == json.dumps(doc, indent=2) + "\n"


def test_config_version_changes_with_meaning_only(tmp_path):
    spec = (REPO / CASES["ctr_criteo"][0]).read_text(encoding="utf-8")
    folder = tmp_path
    versions = []
    for text in (spec, spec.replace("# 20 % of users", "# twenty percent of users"), spec.replace("traffic: 20 ", "traffic: 25 ")):
        path = folder / f".tmp_{len(versions)}.mlc.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            result = build(str(path))
        finally:
            path.unlink()
        assert result.ok, result.diagnostics
        versions.append(document(result.ir)["config_version"])
    assert versions[0] == versions[1] != versions[2]


def test_emitted_without_experiments(tmp_path, monkeypatch):
    from specs import TINY_TRAIN_SPEC

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.mlc.yaml").write_text(TINY_TRAIN_SPEC, encoding="utf-8")
    result = build("t.mlc.yaml")
    assert result.ok, result.diagnostics
    doc = json.loads(emit(result.ir)[PATH])
    assert doc["layers"] == [] and doc["switchbacks"] == [] and doc["spec"] == "tiny"
    assert ExperimentsConfig.from_json(doc).experiments == ()


def test_registered_backend():
    from mlc.backends import BACKENDS

    assert ("experiments", "mlc.backends.experiments") in BACKENDS
