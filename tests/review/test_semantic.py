"""Semantic diff (mlc.review.semantic): no phantom changes, exactly the expected changes for
realistic edits of the delivery example, order-sensitive lists, restatement rules, plan counts."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLES
from mlc.review.artifacts import artifact_diff
from mlc.review.model import ADD, CHANGE, REMOVE, Change, Plan
from mlc.review.semantic import plan_of, semantic_diff
from mlc.review.sides import load_side

DELIVERY = EXAMPLES / "delivery_eta"
SPEC, COMMON = "delivery.mlc.yaml", "common.mlc.yaml"


@pytest.fixture(scope="module")
def base():
    side = load_side(str(DELIVERY / SPEC), "base")
    assert side.problem is None
    return side


def edited(tmp_path: Path, *replacements: tuple[str, str], common: tuple[tuple[str, str], ...] = ()):
    """The delivery example with text replacements (each must apply), loaded as HEAD."""
    folder = tmp_path / "head"
    folder.mkdir(parents=True)
    for name, edits in ((SPEC, replacements), (COMMON, common)):
        text = (DELIVERY / name).read_text()
        for old, new in edits:
            assert old in text, f"edit does not apply to {name}: {old!r}"
            text = text.replace(old, new)
        (folder / name).write_text(text)
    shutil.copytree(DELIVERY / "data", folder / "data")
    side = load_side(str(folder / SPEC), "head")
    assert side.problem is None, side.problem.text
    return side


def summary(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.op, c.dotted) for c in changes]


# ---------------------------------------------------------------------------- no phantoms


REFORMATTED = (
    # comments removed and added
    ("# Per-entity aggregates, one online record per entity and group.", "# aggregates"),
    ("    ttl: 2d\n", "    ttl: 2d   # a new comment\n"),
    # keys reordered inside items
    ("  merchant_load:\n    entity: merchant\n    source: orders\n",
     "  merchant_load:\n    source: orders\n    entity: merchant\n"),
    ("    type: dnn\n    task: regression\n    label: delivery_minutes\n",
     "    label: delivery_minutes\n    task: regression\n    type: dnn\n"),
    ("      epochs: 30\n      batch_size: 256\n      optimizer: {name: adam, learning_rate: 0.001}\n      validation:\n"
     "        last_fraction: 0.2      # the latest",
     "      optimizer: {learning_rate: 0.001, name: adam}\n      batch_size: 256\n      epochs: 30\n      validation:\n"
     "        last_fraction: 0.2      # the latest"),
    # flow style <-> block style, quoting
    ("    windows: [1h, 1d, 7d]\n    features:\n      deliveries: count()\n      avg_delivery_minutes",
     "    windows:\n      - 1h\n      - '1d'\n      - \"7d\"\n    features:\n      deliveries: count()\n      avg_delivery_minutes"),
    ("    user_id: {dtype: string, required: true}",
     "    user_id:\n      required: true\n      dtype: string"),
    ("      early_stopping: {metric: mae, patience: 3, min_delta: 0.05}\n      warm_start: {enabled: true, source: checkpoint}   #",
     "      early_stopping:\n        min_delta: 0.05\n        patience: 3\n        metric: mae\n      warm_start: {enabled: true, source: checkpoint}   #"),
)

# a feature group moved into the included file, written in another style (the build is
# canonical: groups are sorted by name wherever they are declared)
RIDER_LOAD = """  rider_load:
    entity: rider
    source: orders
    windows: [30m, 1h]
    features:
      assigned: count()
    ttl: 2h
    description: Orders recently assigned to the rider, a proxy for what they carry right now.
"""
RIDER_LOAD_MOVED = """  rider_load: {description: "Orders recently assigned to the rider, a proxy for what they carry right now.",
               ttl: 2h, features: {assigned: count()}, windows: [30m, 1h], source: orders, entity: rider}
"""


def test_formatting_comments_key_order_and_moving_into_an_include_change_nothing(base, tmp_path):
    head = edited(tmp_path, (RIDER_LOAD, ""), *REFORMATTED,
                  common=(("\nsources:\n", "\nfeature_groups:\n" + RIDER_LOAD_MOVED + "\nsources:\n"),))
    assert semantic_diff(base.mldl, head.mldl) == []
    assert artifact_diff(base.files, head.files) == []


def test_reordered_partitions_are_not_a_semantic_change(base, tmp_path):
    head = edited(tmp_path, ("partitions: [shanghai, hangzhou]", "partitions: [hangzhou, shanghai]"),
                  ("partitions: [beijing, chengdu]", "partitions:\n          - chengdu\n          - beijing"))
    assert semantic_diff(base.mldl, head.mldl) == []
    # the IR keeps partitions in declaration order (compiler/lower.py), so the files that list
    # them follow it; nothing else may move
    assert artifact_diff(base.files, head.files) == []     # partitions are sorted in the IR


def test_reordered_definitions_change_no_byte_of_the_build(base, tmp_path):
    """Groups, a group's features and windows, inputs and derived features written in another
    order: the IR is canonical (compiler/lower.py), so neither the IR nor any artifact moves."""
    head = edited(
        tmp_path,
        ("    windows: [1h, 1d, 7d]\n    features:\n      deliveries: count()\n      avg_delivery_minutes: avg(delivery_minutes)\n",
         "    windows: [7d, 1h, 1d]\n    features:\n      avg_delivery_minutes: avg(delivery_minutes)\n      deliveries: count()\n"),
        ("    weather: {dtype: string, default: unknown}\n", ""),
        ("    order_value: {dtype: float64}\n", "    order_value: {dtype: float64}\n    weather: {dtype: string, default: unknown}\n"),
        ("    is_weekend: local_dow in [6, 7]\n", ""),
        ("    city_id: hash_bucket(city, 64)\n", "    city_id: hash_bucket(city, 64)\n    is_weekend: local_dow in [6, 7]\n"),
    )
    assert semantic_diff(base.mldl, head.mldl) == []
    assert artifact_diff(base.files, head.files) == []


def test_identical_sides_have_no_changes_and_an_empty_plan(base):
    assert semantic_diff(base.mldl, copy.deepcopy(base.mldl)) == []
    assert plan_of([]) == Plan(0, 0, 0)


# ------------------------------------------------------------------------- realistic edits


def test_adding_a_derived_feature(base, tmp_path):
    head = edited(tmp_path, ("    # --- sparse ids", "    is_rainy: weather == 'rainy'\n    # --- sparse ids"))
    changes = semantic_diff(base.mldl, head.mldl)
    assert summary(changes) == [(ADD, "derived.is_rainy")]
    assert changes[0].path == () and changes[0].old is None
    assert changes[0].new["expression"] == "weather == 'rainy'" and changes[0].new["depends_on"] == ["weather"]
    assert plan_of(changes) == Plan(add=1)


def test_adding_a_standardized_feature_does_not_restate_its_analyzer(base, tmp_path):
    head = edited(tmp_path, ("    # --- sparse ids", "    value_z: standardize(fillna(order_value, 0.0))\n    # --- sparse ids"))
    assert summary(semantic_diff(base.mldl, head.mldl)) == [(ADD, "derived.value_z")]


def test_changing_a_window(base, tmp_path):
    head = edited(
        tmp_path,
        ("    windows: [1h, 1d, 7d]\n    features:\n      deliveries: count()\n      avg_delivery_minutes",
         "    windows: [1h, 2d, 7d]\n    features:\n      deliveries: count()\n      avg_delivery_minutes"),
        ("rider_performance.avg_delivery_minutes_1d", "rider_performance.avg_delivery_minutes_2d"))
    changes = semantic_diff(base.mldl, head.mldl)
    # outputs, defaults, depends_on, the typed tree and the analyzer's argument restate these
    assert summary(changes) == [
        (REMOVE, "feature_groups.rider_performance.windows.1d"),
        (ADD, "feature_groups.rider_performance.windows.2d"),
        (CHANGE, "derived.rider_avg_minutes_z.expression"),
    ]
    assert changes[1].new == {"name": "2d", "seconds": 172800}
    assert plan_of(changes) == Plan(change=2)


def test_widening_a_hash_bucket(base, tmp_path):
    head = edited(tmp_path, ("city_id: hash_bucket(city, 64)", "city_id: hash_bucket(city, 1000)"))
    changes = semantic_diff(base.mldl, head.mldl)
    assert summary(changes) == [
        (CHANGE, "derived.city_id.expression"),
        (CHANGE, "models.eta_dnn.sparse.city_id.buckets"),
        (CHANGE, "models.eta_wide_deep.sparse.city_id.buckets"),
    ]
    assert (changes[0].old, changes[0].new) == ("hash_bucket(city, 64)", "hash_bucket(city, 1000)")
    assert (changes[1].old, changes[1].new) == (64, 1000)
    assert changes[1].path == ("sparse", "city_id", "buckets")
    assert plan_of(changes) == Plan(change=3)


def test_adding_a_shard(base, tmp_path):
    head = edited(tmp_path, ("      south:\n", "      west:\n        partitions: [xian, lanzhou]\n      south:\n"))
    changes = semantic_diff(base.mldl, head.mldl)
    assert summary(changes) == [(ADD, "deployment.shards.west")]
    assert changes[0].entity == "" and changes[0].path == ("shards", "west")
    assert changes[0].new["partitions"] == ["lanzhou", "xian"]          # sorted: their order means nothing
    assert plan_of(changes) == Plan(add=1)


def test_adding_a_partition_to_a_shard_is_one_set_element(base, tmp_path):
    head = edited(tmp_path, ("partitions: [shanghai, hangzhou]", "partitions: [shanghai, hangzhou, suzhou]"))
    changes = semantic_diff(base.mldl, head.mldl)
    assert [(c.op, c.dotted, c.old, c.new) for c in changes] == [
        (ADD, "deployment.shards.east.partitions", None, "suzhou")]
    assert plan_of(changes) == Plan(change=1)


def test_ramping_an_experiment_within_its_reserve(base, tmp_path):
    reserved = edited(tmp_path / "a", ("          traffic: 40\n", "          traffic: 40\n          reserve: 50\n"))
    ramped = edited(tmp_path / "b", ("          traffic: 40\n", "          traffic: 45\n          reserve: 50\n"))
    changes = semantic_diff(reserved.mldl, ramped.mldl)
    assert [(c.op, c.dotted, c.old, c.new) for c in changes] == [
        (CHANGE, "experiments.dnn_vs_wide_deep.traffic", 40.0, 45.0),
        (CHANGE, "experiments.dnn_vs_wide_deep.buckets", [0, 4000], [0, 4500]),
    ]


def test_ramping_an_experiment_without_a_reserve_moves_the_next_one(base, tmp_path):
    head = edited(tmp_path, ("          traffic: 40\n", "          traffic: 45\n"))
    changes = semantic_diff(base.mldl, head.mldl)
    assert summary(changes) == [
        (CHANGE, "experiments.dnn_vs_wide_deep.traffic"),
        (CHANGE, "experiments.dnn_vs_wide_deep.buckets"),
        (CHANGE, "experiments.dnn_vs_wide_deep.reserved"),
        (CHANGE, "experiments.dnn_refresh.buckets"),
        (CHANGE, "experiments.dnn_refresh.reserved"),
    ]
    assert plan_of(changes) == Plan(change=2)


def test_changing_a_layer_salt_is_reported_once(base, tmp_path):
    head = edited(tmp_path, ("salt: eta_model_2024_07", "salt: eta_model_2024_08"))
    changes = semantic_diff(base.mldl, head.mldl)
    assert [(c.op, c.dotted, c.old, c.new) for c in changes] == [
        (CHANGE, "layers.eta_model.salt", "eta_model_2024_07", "eta_model_2024_08")]


def test_removing_a_model_input(base, tmp_path):
    head = edited(tmp_path, (
        "merchant_avg_minutes_z,\n              user_orders_7d_z]\n      sparse: [city_id, weather_id, rider_bucket, "
        "merchant_bucket, distance_bucket, day_part,\n               dow_id, prep_bucket, city_x_hour, weather_x_distance, "
        "peak_x_distance]\n    hyperparameters:\n      embedding_dim: 8\n      hidden_units: [256",
        "merchant_avg_minutes_z]\n      sparse: [city_id, weather_id, rider_bucket, "
        "merchant_bucket, distance_bucket, day_part,\n               dow_id, prep_bucket, city_x_hour, weather_x_distance, "
        "peak_x_distance]\n    hyperparameters:\n      embedding_dim: 8\n      hidden_units: [256"))
    changes = semantic_diff(base.mldl, head.mldl)
    # the signature input of the same name restates the dense input: not reported
    assert [(c.op, c.dotted, c.old, c.new) for c in changes] == [
        (REMOVE, "models.eta_dnn.dense.user_orders_7d_z", {"name": "user_orders_7d_z", "dtype": "float64"}, None),
        (REMOVE, "models.eta_dnn.feature_groups", "user_history", None),
    ]
    assert plan_of(changes) == Plan(change=1)


# ------------------------------------------------------------------------ order-sensitive


def test_reordered_shard_models_are_one_change(base, tmp_path):
    head = edited(tmp_path, ("        replicas: 3             # largest order volume",
                             "        replicas: 3\n        models: [eta_wide_deep, eta_dnn]"))
    changes = semantic_diff(base.mldl, head.mldl)
    assert [(c.op, c.dotted, c.old, c.new) for c in changes] == [
        (CHANGE, "deployment.shards.east.models", ["eta_dnn", "eta_wide_deep"], ["eta_wide_deep", "eta_dnn"])]
    assert plan_of(changes) == Plan(change=1)


def test_reordered_variants_are_one_order_change_plus_their_moved_buckets(base, tmp_path):
    head = edited(tmp_path, (
        "            pinned: {model: eta_dnn, version: 12, weight: 50}\n            latest: {model: eta_dnn, weight: 50}",
        "            latest: {model: eta_dnn, weight: 50}\n            pinned: {model: eta_dnn, version: 12, weight: 50}"))
    changes = semantic_diff(base.mldl, head.mldl)
    order = [c for c in changes if c.path == ("variants",)]
    assert [(c.op, c.dotted, c.old, c.new) for c in order] == [
        (CHANGE, "experiments.dnn_refresh.variants", ["pinned", "latest"], ["latest", "pinned"])]
    assert {c.dotted for c in changes} - {order[0].dotted} == {
        "experiments.dnn_refresh.variants.pinned.buckets", "experiments.dnn_refresh.variants.latest.buckets",
        "experiments.dnn_refresh.control"}   # the first variant is the control by default


def test_reordered_experiments_in_a_layer_and_reordered_layers(base):
    head = copy.deepcopy(base.mldl)
    head["layers"][0]["experiments"].reverse()
    head["layers"].append({"name": "ranking", "salt": "ranking", "experiments": []})
    changes = semantic_diff(base.mldl, head)
    assert summary(changes) == [(CHANGE, "layers.eta_model.experiments"), (ADD, "layers.ranking")]
    swapped = copy.deepcopy(head)
    swapped["layers"].reverse()
    changes = semantic_diff(head, swapped)
    assert [(c.op, c.section, c.entity, c.path, c.old, c.new) for c in changes] == [
        (CHANGE, "layers", "", (), ["eta_model", "ranking"], ["ranking", "eta_model"])]
    assert plan_of(changes) == Plan(change=1)


def test_reordered_named_items_without_meaning_are_no_change(base):
    head = copy.deepcopy(base.mldl)
    for section in ("sources", "feature_groups", "inputs", "derived", "analyzers", "models", "experiments"):
        head[section].reverse()
    head["deployment"]["shards"].reverse()
    head["models"][0]["feature_groups"].reverse()
    head["models"][0]["raw_inputs"].reverse()
    head["derived"][0]["depends_on"].reverse()
    head["switchbacks"][0]["regions"] = dict(reversed(list(head["switchbacks"][0]["regions"].items())))
    assert semantic_diff(base.mldl, head) == []


# ---------------------------------------------------------------------- restatement rules


def _derived(mldl: dict, name: str) -> dict:
    return next(d for d in mldl["derived"] if d["name"] == name)


def test_a_typed_tree_is_reported_only_when_its_expression_did_not_change(base):
    head = copy.deepcopy(base.mldl)
    _derived(head, "city_id")["tree"]["dtype"] = "int32"
    assert summary(semantic_diff(base.mldl, head)) == [(CHANGE, "derived.city_id.tree")]
    _derived(head, "city_id")["expression"] = "hash_bucket(city, 65)"
    assert summary(semantic_diff(base.mldl, head)) == [(CHANGE, "derived.city_id.expression")]


def test_filter_and_targeting_trees_follow_their_source_text(base):
    head = copy.deepcopy(base.mldl)
    group = next(g for g in head["feature_groups"] if g["name"] == "rider_performance")
    group["filter_source"] = "status == 'done'"
    group["filter"]["right"]["value"] = "done"
    experiment = next(e for e in head["experiments"] if e["name"] == "dnn_refresh")
    experiment["targeting_source"] = "city in ['beijing']"
    experiment["targeting"] = {"kind": "constant", "dtype": "bool", "value": True}
    assert summary(semantic_diff(base.mldl, head)) == [
        (CHANGE, "feature_groups.rider_performance.filter_source"),
        (CHANGE, "experiments.dnn_refresh.targeting_source"),
    ]


def test_signature_changes_not_implied_by_the_inputs_are_reported(base):
    head = copy.deepcopy(base.mldl)
    model = head["models"][0]
    model["signature_inputs"][0]["dtype"] = "float64"
    model["signature_outputs"][0]["shape"] = [-1, 2]
    assert summary(semantic_diff(base.mldl, head)) == [
        (CHANGE, "models.eta_dnn.signature_inputs.distance_z.dtype"),
        (CHANGE, "models.eta_dnn.signature_outputs.prediction.shape"),
    ]


def test_a_task_change_implies_the_signature_output(base):
    head = copy.deepcopy(base.mldl)
    model = head["models"][0]
    model["task"] = "classification"
    model["signature_outputs"] = [{"name": "probability", "dtype": "float32", "shape": [-1, 1]}]
    assert summary(semantic_diff(base.mldl, head)) == [(CHANGE, "models.eta_dnn.task")]


def test_fitted_constants_are_compared_only_when_both_sides_have_them(base):
    fitted = copy.deepcopy(base.mldl)
    for analyzer in fitted["analyzers"]:
        analyzer["fitted"] = {"mean": 1.0, "std": 2.0}
    assert semantic_diff(base.mldl, fitted) == []                  # unfitted -> fitted: not a change
    refit = copy.deepcopy(fitted)
    first = refit["analyzers"][0]
    first["fitted"]["mean"] = 1.5
    changes = semantic_diff(fitted, refit)
    assert [(c.op, c.dotted, c.old, c.new) for c in changes] == [
        (CHANGE, f"analyzers.{first['id']}.fitted.mean", 1.0, 1.5)]
    assert plan_of(changes) == Plan(change=1)


def test_spec_scalars_and_maps(base):
    head = copy.deepcopy(base.mldl)
    head["name"] = "eta_v2"
    model = head["models"][0]
    model["hyperparameters"]["dropout"] = 0.2
    model["hyperparameters"]["hidden_units"] = [512, 128]
    del model["hyperparameters"]["batch_norm"]
    model["hyperparameters"]["l2"] = 0.01
    model["training"]["epochs"] = 40
    changes = semantic_diff(base.mldl, head)
    assert [(c.op, c.dotted, c.old, c.new) for c in changes] == [
        (REMOVE, "models.eta_dnn.hyperparameters.batch_norm", True, None),
        (CHANGE, "models.eta_dnn.hyperparameters.dropout", 0.1, 0.2),
        (CHANGE, "models.eta_dnn.hyperparameters.hidden_units", [256, 128, 64], [512, 128]),
        (ADD, "models.eta_dnn.hyperparameters.l2", None, 0.01),
        (CHANGE, "models.eta_dnn.training.epochs", 30, 40),
        (CHANGE, "spec.name", base.mldl["name"], "eta_v2"),
    ]
    assert changes[4].path == ("training", "epochs")


def test_a_boolean_is_not_the_number_one(base):
    head = copy.deepcopy(base.mldl)
    head["models"][0]["hyperparameters"]["batch_norm"] = 1
    assert summary(semantic_diff(base.mldl, head)) == [(CHANGE, "models.eta_dnn.hyperparameters.batch_norm")]


# --------------------------------------------------------------------------------- plan


def test_plan_counts_items_once(base):
    head = copy.deepcopy(base.mldl)
    head["models"][0]["training"]["epochs"] = 40
    head["models"][0]["training"]["seed"] = 8                     # same model: counted once
    head["deployment"]["namespace"] = "x"                         # deployment: one item
    head["deployment"]["max_batch_size"] = 64
    head["deployment"]["shards"][0]["replicas"] = 9               # each shard: one item
    head["deployment"]["shards"].pop()                            # a shard destroyed
    head["inputs"] = [i for i in head["inputs"] if i["name"] != "order_value"]   # destroyed
    head["entities"].append({"name": "city", "keys": [{"name": "city", "dtype": "string"}]})  # added
    changes = semantic_diff(base.mldl, head)
    assert plan_of(changes) == Plan(add=1, change=3, destroy=2)
    sections = [c.section for c in changes]
    assert sections == sorted(sections, key=["entities", "inputs", "models", "deployment"].index)
