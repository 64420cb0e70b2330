"""A default shard without partitions (`partitions: []` or no `partitions` key) takes every value
no other shard lists: the spec checks, the IR, the predictor's routing (from the IR and from the
Kubernetes routing table), the training sets (Spark), the Kubernetes manifests and the Triton
repositories. A shard without partitions that is not the default stays E5006."""

from __future__ import annotations

import json

import pytest

SPEC = """\
version: 1
name: shardy
sources:
  events:
    kind: csv
    path: events.csv
    event_time: ts
    columns: {ts: timestamp, x: float64, y: float64, city: string}
preprocess:
  inputs:
    x: {dtype: float64, default: 0.0}
    city: {dtype: string}
  features:
    lx: log1p(x)
models:
  m:
    type: lr
    task: regression
    label: y
    inputs: {dense: [lx]}
    training: {source: events, epochs: 1}
deployment:
  sharding:
    partition_key: city
    default: rest
    shards:
      north: {partitions: [beijing, tianjin]}
      rest: {replicas: 2}
"""

EVENTS = """\
ts,x,y,city
2024-06-01T00:00:00Z,1.0,1.0,beijing
2024-06-01T01:00:00Z,2.0,2.0,shanghai
2024-06-01T02:00:00Z,3.0,3.0,
2024-06-01T03:00:00Z,4.0,4.0,tianjin
2024-06-01T04:00:00Z,5.0,5.0,riyadh
"""


def _build(tmp_path, text: str = SPEC):
    from mlc.compiler.pipeline import build

    (tmp_path / "events.csv").write_text(EVENTS)
    spec = tmp_path / "shardy.mlc.yaml"
    spec.write_text(text)
    return build(str(spec))


@pytest.mark.parametrize("rest", ["rest: {replicas: 2}", "rest: {partitions: [], replicas: 2}"])
def test_the_default_shard_may_list_no_partitions(tmp_path, rest):
    result = _build(tmp_path, SPEC.replace("rest: {replicas: 2}", rest))
    assert result.ok, [d.message for d in result.diagnostics]
    shards = {s.name: s for s in result.ir.deployment.shards}
    assert shards["rest"].partitions == () and shards["rest"].is_default
    assert shards["north"].partitions == ("beijing", "tianjin") and not shards["north"].is_default


@pytest.mark.parametrize("north", ["north: {}", "north: {partitions: []}"])
def test_a_shard_without_partitions_that_is_not_the_default_is_e5006(tmp_path, north):
    result = _build(tmp_path, SPEC.replace("north: {partitions: [beijing, tianjin]}", north))
    assert not result.ok
    assert [(d.code, d.message) for d in result.diagnostics] == [("E5006", "shard `north` has no partitions")]


def test_routing_sends_every_unlisted_value_and_null_to_the_default(tmp_path):
    from mlc.backends.serving_k8s.emit import routing_table
    from mlc.runtime.serving.routing import Routing

    ir = _build(tmp_path).ir
    table = routing_table(ir)
    assert sorted(table["routes"]) == ["beijing", "tianjin"] and table["default"]["shard"] == "rest"
    for routing in (Routing.from_ir(ir), Routing.from_table(json.loads(json.dumps(table)), ir)):
        assert [routing.shard_for(v) for v in ("beijing", "tianjin", "shanghai", "riyadh", "", None)] == \
            ["north", "north", "rest", "rest", "rest", "rest"]
        assert routing.models == {"north": ("m",), "rest": ("m",)}


def test_manifests_and_triton_repositories_of_the_default_shard(tmp_path):
    import yaml

    from k8s_validate import validate_manifest
    from mlc.compiler.artifacts import artifact_tree

    files = artifact_tree(_build(tmp_path))
    for shard in ("north", "rest"):
        assert f"triton/{shard}/m/config.pbtxt" in files and f"triton_local/{shard}/m/model.py" in files
        assert f"k8s/train-job-m-{shard}.yaml" in files
        docs = [d for d in yaml.safe_load_all(files[f"k8s/serving/{shard}-triton.yaml"]) if d]
        assert docs and all(validate_manifest(d) == [] for d in docs), shard
    deployment = next(d for d in yaml.safe_load_all(files["k8s/serving/rest-triton.yaml"]) if d and d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2


def test_training_sets_give_the_default_shard_every_unlisted_row(spark, tmp_path):
    from mlc.backends.preprocess import render
    from mlc.runtime.preprocess import module_from_text
    from mlc.runtime.features.training_set import training_sets

    ir = _build(tmp_path).ir
    sets = training_sets(spark, ir, module_from_text(render(ir)), {}, str(tmp_path))
    assert sorted(sets) == [("m", "north"), ("m", "rest")]
    cities = {shard: sorted((r["city"] or "<null>") for r in sets[("m", shard)].train.collect())
              for shard in ("north", "rest")}
    assert cities == {"north": ["beijing", "tianjin"], "rest": ["<null>", "riyadh", "shanghai"]}
    assert sets[("m", "rest")].info["partitions"] == {"values": [], "is_default": True}
