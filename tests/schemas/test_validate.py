"""Schema validation: pydantic errors -> located E2xxx diagnostics; committed JSON Schemas."""

from __future__ import annotations

from specs import MINIMAL_SPEC

import json
from pathlib import Path

import pytest

from mlc.schemas.validate import validate_spec
from mlc.schemas.yamlpos import load_yaml, to_plain

REPO = Path(__file__).resolve().parents[2]

BASE = MINIMAL_SPEC

DEPLOYMENT = """\
deployment:
  namespace: ml
  models: [eta]
  replicas: 2
  resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: '2', memory: 4Gi, gpu: 1}}
  serving:
    platform: python
    max_batch_size: 64
    dynamic_batching: {preferred_batch_sizes: [8], max_queue_delay_us: 50}
    instance_group: {count: 2, kind: gpu}
    versions_kept: 3
  images: {serving: s, training: t, spark: sp, gateway: g}
  sharding:
    partition_key: city
    default: rest
    shards:
      north: {partitions: [beijing, 7], models: [eta], replicas: 2}
      rest: {partitions: []}
"""

SWITCHBACKS = """\
  switchbacks:
    sb:
      unit: city
      slice: 30m
      burn_in: 5m
      timezone: Asia/Shanghai
      regions: {beijing: Asia/Shanghai}
      start: '2024-06-01T00:00:00Z'
      end: '2024-07-01T00:00:00Z'
      seed: 3
      targeting: "city != 'x'"
      variants: {a: {model: eta}, b: {model: eta, alias: candidate}}
"""

FULL = BASE.replace("experiments:\n  layers:", "experiments:\n" + SWITCHBACKS + "  layers:") + DEPLOYMENT


def validate(text: str):
    loaded = load_yaml(text, "s.yaml")
    assert loaded.diagnostics == []
    return validate_spec(loaded.root)


def errors(text: str) -> list[tuple]:
    spec, diagnostics = validate(text)
    assert spec is None and diagnostics
    return [(d.code, d.span.start.line, d.span.start.col, d.message, d.hint) for d in diagnostics]


def replace(old: str, new: str, text: str = FULL) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, needle: str) -> tuple[int, int]:
    """1-based (line, col) of the only occurrence of ``needle``."""
    assert text.count(needle) == 1, needle
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# ------------------------------------------------------------------- valid


def test_full_spec_validates_and_keeps_values():
    spec, diagnostics = validate(FULL)
    assert diagnostics == []
    assert spec.deployment.sharding.shards["north"].partitions == ["beijing", 7]
    assert spec.deployment.serving.instance_group.kind == "gpu"
    assert spec.experiments.switchbacks["sb"].variants["b"].alias == "candidate"
    assert spec.models["eta"].training.epochs == 2
    assert spec.preprocess.inputs["distance_km"].default == 0.0


def test_root_must_be_mapping():
    spec, diagnostics = validate("- a\n")
    assert [(d.code, d.message, d.hint) for d in diagnostics] == [
        ("E2001", "a spec must be a mapping of sections, got a list", "start with `version: 1` and `name: ...`")]


# ----------------------------------------------------------- unknown keys


def test_unknown_key_with_did_you_mean_and_missing_key_at_parent():
    text = replace("    path: data/orders.csv\n", "    pth: data/orders.csv\n")
    assert errors(text) == [
        ("E2003", 6, 3, "missing required key `path` in `sources.orders`", "add `path:`"),
        ("E2002", 8, 5, "unknown key `pth` in `sources.orders`", "did you mean `path`?"),
    ]


def test_unknown_top_level_key():
    text = replace("entities:\n", "entitys:\n  x: {keys: [a]}\nentities:\n")
    [(code, line, col, message, hint)] = errors(text)
    assert (code, line, col, hint) == ("E2002", 3, 1, "did you mean `entities`?")
    assert message.startswith("unknown key `entitys` in ")


def test_unknown_key_in_flow_mapping_of_hyperparameters():
    text = replace("    training: {source: orders, epochs: 2}\n",
                   "    training: {source: orders, epochs: 2}\n    hyperparameters: {embeding_dim: 3}\n")
    line, col = line_of(text, "embeding_dim")
    assert errors(text) == [("E2002", line, col, "unknown key `embeding_dim` in `models.eta.hyperparameters`",
                             "did you mean `embedding_dim`?")]


def test_missing_top_level_key_message():
    # BUG (cosmetic): the placeholder "the spec" is wrapped in backticks like a key path:
    # "missing required key `name` in `the spec`".
    [(code, line, col, message, hint)] = errors(replace("name: demo\n", ""))
    assert (code, line, col) == ("E2003", 1, 1)
    assert message == "missing required key `name` in the spec"


# ----------------------------------------------------------- discriminators


def test_wrong_source_kind_is_one_error_at_the_kind_value():
    text = replace("kind: csv", "kind: parquett")
    assert errors(text) == [("E2005", 7, 11, "unknown kind `parquett` for `sources.orders`", "did you mean `parquet`?")]


def test_wrong_model_type_is_one_error_at_the_type_value():
    text = replace("type: dnn", "type: dnnn")
    assert errors(text) == [("E2005", 32, 11, "unknown type `dnnn` for `models.eta`", "did you mean `dnn`?")]


def test_missing_discriminator_lists_the_choices():
    # BUG: pydantic's union_tag_not_found ctx carries no expected_tags, so the hint ends in
    # "with one of " and lists nothing.
    [(code, line, col, message, hint)] = errors(replace("    kind: csv\n", ""))
    assert (code, line, col, message) == ("E2003", 6, 3, "missing required key `kind` in `sources.orders`")
    assert hint == "add `kind:` with one of `parquet`, `csv`, `json`, `table`"


def test_errors_inside_chosen_branch_name_that_branch():
    text = replace("    path: data/orders.csv\n", "    path: data/orders.csv\n    header: yes\n")
    line, col = line_of(text, "yes")
    assert errors(text) == [("E2004", line, col, "`sources.orders.header` must be true or false, got string `yes`", None)]


# ------------------------------------------------------------ type errors


@pytest.mark.parametrize("value, got", [('"3"', "string `3`"), ("2.5", "number `2.5`"), ("true", "boolean `true`"),
                                        ("[3]", "a list"), ("~", "null")])
def test_strict_integer(value, got):
    text = replace("epochs: 2", f"epochs: {value}")
    line, col = line_of(text, f"epochs: {value}")
    if value == "[3]":  # a list or mapping value is reported at its key
        col -= 8
    assert errors(text) == [("E2004", line, col + 8, f"`models.eta.training.epochs` must be an integer, got {got}", None)]


def test_scalar_where_list_expected():
    text = replace("windows: [1h, 1d]", "windows: 1h")
    assert errors(text) == [("E2004", 15, 14, "`feature_groups.rider_activity.windows` must be a list, got string `1h`", None)]


def test_list_where_mapping_expected_points_at_key():
    text = "version: 1\nname: x\nsources: []\n"
    assert errors(text) == [("E2004", 3, 1, "`sources` must be a mapping, got a list", None)]


def test_scalar_union_merged_into_one_message():
    text = replace("default: unknown", "default: [1]")
    [(code, line, col, message, hint)] = errors(text)
    assert (code, line, col) == ("E2004", 24, 27)
    assert message.startswith("`preprocess.inputs.city.default` must be ")
    assert message.count("got") == 1 and message.endswith("got a list")


def test_name_must_be_string():
    assert errors(replace("name: demo", "name: 5")) == [("E2004", 2, 7, "`name` must be a string, got integer `5`", None)]


def test_range_error_is_e2007():
    [(code, line, col, message, hint)] = errors(replace("epochs: 2", "epochs: 0"))
    assert (code, line, col) == ("E2007", 36, 40)
    assert message == "`models.eta.training.epochs` must be at least 1, got integer `0`"


# ----------------------------------------------------------------- literals


def test_literal_value_with_did_you_mean():
    assert errors(replace("task: regression", "task: regresion")) == [
        ("E2005", 33, 11, "invalid value `regresion` for `models.eta.task`: expected 'classification' or 'regression'",
         "did you mean `regression`?")]


def test_version_literal():
    assert errors(replace("version: 1", "version: 2")) == [
        ("E2005", 1, 10, "invalid value `2` for `version`: expected 1", "valid values: `1`")]


def test_literal_without_close_match_lists_values():
    text = replace("platform: python", "platform: triton")
    line, col = line_of(text, "triton")
    assert errors(text) == [("E2005", line, col,
                             "invalid value `triton` for `deployment.serving.platform`: expected 'onnxruntime_onnx', "
                             "'tensorflow_savedmodel' or 'python'",
                             "valid values: `onnxruntime_onnx`, `python`, `tensorflow_savedmodel`")]


# ----------------------------------------------------------------- durations


def test_bad_window_duration_points_at_list_item():
    assert errors(replace("windows: [1h, 1d]", "windows: [1h, 1day]")) == [
        ("E2006", 15, 19, "invalid duration string `1day` for `feature_groups.rider_activity.windows[1]`",
         "write a positive integer and a unit s, m, h, d or w, e.g. `30m`, `1h`, `7d`")]


@pytest.mark.parametrize("field, value", [("slice", "30min"), ("burn_in", "-5m")])
def test_bad_switchback_durations(field, value):
    old = {"slice": "slice: 30m", "burn_in": "burn_in: 5m"}[field]
    text = replace(old, f"{field}: {value}")
    line, col = line_of(text, f"{field}: {value}")
    [(code, dline, dcol, message, hint)] = errors(text)
    assert (code, dline, dcol) == ("E2006", line, col + len(field) + 2)
    assert message == f"invalid duration string `{value}` for `experiments.switchbacks.sb.{field}`"


def test_feature_group_ttl_duration():
    text = replace("    windows: [1h, 1d]\n", "    windows: [1h, 1d]\n    ttl: 2 days\n")
    assert errors(text)[0][:4] == ("E2006", 16, 10, "invalid duration string `2 days` for `feature_groups.rider_activity.ttl`")


# ------------------------------------------------------------ every section


@pytest.mark.parametrize("source", [
    "{kind: parquet, path: p/, event_time: ts}",
    "{kind: csv, path: a.csv, event_time: ts, header: false, delimiter: ';', on_bad_rows: drop, timestamp_format: yyyy}",
    "{kind: json, path: a.json, event_time: ts, on_bad_rows: fail, description: d}",
    "{kind: table, table: db.t, event_time: ts, columns: {ts: timestamp}}",
])
def test_each_source_kind_validates(source):
    text = replace("sources:\n", f"sources:\n  extra: {source}\n")
    spec, diagnostics = validate(text)
    assert diagnostics == [] and spec.sources["extra"].kind == source.split(",")[0].split(": ")[1]


@pytest.mark.parametrize("source, expected", [
    ("{kind: table, path: a, event_time: ts}",
     [("E2003", "missing required key `table` in `sources.extra`"), ("E2002", "unknown key `path` in `sources.extra`")]),
    ("{kind: parquet, path: a, event_time: ts, header: true}", [("E2002", "unknown key `header` in `sources.extra`")]),
    ("{kind: json, path: a, event_time: ts, on_bad_rows: skip}",
     [("E2005", "invalid value `skip` for `sources.extra.on_bad_rows`: expected 'fail' or 'drop'")]),
    ("{kind: csv, path: a, event_time: ts, delimiter: ';;'}",
     [("E2007", "`sources.extra.delimiter` must have at most 1 character")]),
])
def test_source_kind_specific_fields(source, expected):
    text = replace("sources:\n", f"sources:\n  extra: {source}\n")
    assert [(code, message) for code, line, col, message, hint in errors(text)] == expected
    assert all(line == 6 for _, line, *_ in errors(text))


def test_entities_need_at_least_one_key():
    [(code, line, col, message, hint)] = errors(replace("rider: {keys: [rider_id]}", "rider: {keys: []}"))
    assert (code, line, col) == ("E2007", 4, 11)  # at the key `keys`
    assert message == "`entities.rider.keys` must have at least 1 item"


def test_feature_group_feature_must_be_expression_string():
    text = replace("      deliveries: count()\n", "      deliveries: {expr: count()}\n")
    assert errors(text) == [("E2004", 18, 7, "`feature_groups.rider_activity.features.deliveries` must be a string, "
                                              "got a mapping", None)]


def test_derived_feature_as_object_validates():
    text = replace("    dist_z: standardize(log_dist)\n",
                   "    dist_z: {expr: standardize(log_dist), description: z}\n")
    spec, diagnostics = validate(text)
    assert diagnostics == [] and spec.preprocess.features["dist_z"].expr == "standardize(log_dist)"


@pytest.mark.parametrize("entry, expected", [
    ("{expr: standardize(log_dist), descr: x}",
     [("E2002", 27, 43, "unknown key `descr` in `preprocess.features.dist_z`", "did you mean `description`?")]),
    ("{description: x}", [("E2003", 27, 5, "missing required key `expr` in `preprocess.features.dist_z`", "add `expr:`")]),
    ("5", [("E2004", 27, 13, "`preprocess.features.dist_z` must be a string, got integer `5`", None)]),
])
def test_derived_feature_entry_errors(entry, expected):
    assert errors(replace("    dist_z: standardize(log_dist)\n", f"    dist_z: {entry}\n")) == expected


def test_input_fields():
    text = replace("city: {dtype: string, default: unknown}", "city: {dtype: string, default: unknown, requird: true}")
    [(code, line, col, message, hint)] = errors(text)
    assert (code, line, hint) == ("E2002", 24, "did you mean `required`?")
    text = replace("rider_id: {dtype: int64}", "rider_id: {type: int64}")
    assert [(c, m) for c, _, _, m, _ in errors(text)] == [
        ("E2003", "missing required key `dtype` in `preprocess.inputs.rider_id`"),
        ("E2002", "unknown key `type` in `preprocess.inputs.rider_id`")]


MODEL_TYPES = {
    "lr": "{l2: 0.1}",
    "fm": "{factor_dim: 4, l2: 0.0}",
    "dnn": "{embedding_dim: 4, hidden_units: [8], activation: gelu, dropout: 0.1, batch_norm: true}",
    "wide_deep": "{hidden_units: [8, 4], wide: [city_id]}",
    "deepfm": "{embedding_dim: 16, activation: tanh}",
    "dcn": "{cross_layers: 2, hidden_units: [4]}",
}


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_each_model_type_with_its_hyperparameters(model_type):
    text = replace("    type: dnn\n", f"    type: {model_type}\n    hyperparameters: {MODEL_TYPES[model_type]}\n")
    spec, diagnostics = validate(text)
    assert diagnostics == []
    assert spec.models["eta"].type == model_type


@pytest.mark.parametrize("model_type, params, expected", [
    ("lr", "{hidden_units: [8]}", ("E2002", "unknown key `hidden_units` in `models.eta.hyperparameters`")),
    ("fm", "{factor_dim: 0}", ("E2007", "`models.eta.hyperparameters.factor_dim` must be at least 1, got integer `0`")),
    ("dnn", "{wide: [city_id]}", ("E2002", "unknown key `wide` in `models.eta.hyperparameters`")),
    ("dnn", "{activation: relu6}", ("E2005", "invalid value `relu6` for `models.eta.hyperparameters.activation`: "
                                             "expected 'relu', 'gelu', 'tanh' or 'sigmoid'")),
    ("dnn", "{dropout: 1.0}", ("E2007", "`models.eta.hyperparameters.dropout` must be less than 1, got number `1.0`")),
    ("wide_deep", "{wide: city_id}", ("E2004", "`models.eta.hyperparameters.wide` must be a list, got string `city_id`")),
    ("deepfm", "{cross_layers: 2}", ("E2002", "unknown key `cross_layers` in `models.eta.hyperparameters`")),
    ("dcn", "{cross_layers: two}", ("E2004", "`models.eta.hyperparameters.cross_layers` must be an integer, got string `two`")),
])
def test_model_hyperparameter_errors(model_type, params, expected):
    text = replace("    type: dnn\n", f"    type: {model_type}\n    hyperparameters: {params}\n")
    assert [(c, m) for c, line, _, m, _ in errors(text)] == [expected]
    assert {line for _, line, *_ in errors(text)} == {33}


def test_training_section_errors_reported_together():
    text = replace("    training: {source: orders, epochs: 2}",
                   "    training: {source: orders, epochs: 2, optimizer: {name: adamw, learning_rate: 0},"
                   " validation: {last_fraction: 1.5}, early_stopping: {metric: f1, patience: 0},"
                   " warm_start: {source: ckpt}, distributed: {engine: mpi, workers: 0}, seed: x}")
    found = [(code, message.split(":")[0]) for code, _, _, message, _ in errors(text)]
    assert found == [
        ("E2005", "invalid value `adamw` for `models.eta.training.optimizer.name`"),
        ("E2007", "`models.eta.training.optimizer.learning_rate` must be greater than 0, got integer `0`"),
        ("E2007", "`models.eta.training.validation.last_fraction` must be less than 1, got number `1.5`"),
        ("E2005", "invalid value `f1` for `models.eta.training.early_stopping.metric`"),
        ("E2007", "`models.eta.training.early_stopping.patience` must be at least 1, got integer `0`"),
        ("E2005", "invalid value `ckpt` for `models.eta.training.warm_start.source`"),
        ("E2005", "invalid value `mpi` for `models.eta.training.distributed.engine`"),
        ("E2007", "`models.eta.training.distributed.workers` must be at least 1, got integer `0`"),
        ("E2004", "`models.eta.training.seed` must be an integer, got string `x`"),
    ]
    assert errors(text)[0][4] == "did you mean `adam`?"


@pytest.mark.parametrize("old, new, expected", [
    ("replicas: 2\n  resources", "replicas: two\n  resources",
     ("E2004", "`deployment.replicas` must be an integer, got string `two`")),
    ("gpu: 1", "gpu: -1", ("E2007", "`deployment.resources.limits.gpu` must be at least 0, got integer `-1`")),
    ("kind: gpu", "kind: tpu", ("E2005", "invalid value `tpu` for `deployment.serving.instance_group.kind`: "
                                         "expected 'cpu' or 'gpu'")),
    ("max_queue_delay_us: 50", "max_queue_delay_us: 5.5",
     ("E2004", "`deployment.serving.dynamic_batching.max_queue_delay_us` must be an integer, got number `5.5`")),
    ("images: {serving: s,", "images: {serving: s, registry: r,",
     ("E2002", "unknown key `registry` in `deployment.images`")),
    ("north: {partitions: [beijing, 7],", "north: {partitions: [beijing, 7.5],",
     ("E2004", "`deployment.sharding.shards.north.partitions[1]` must be a string or an integer, got number `7.5`")),
    ("      rest: {partitions: []}\n", "      rest: {partitions: [], replica: 2}\n",
     ("E2002", "unknown key `replica` in `deployment.sharding.shards.rest`")),
])
def test_deployment_and_sharding_errors(old, new, expected):
    text = replace(old, new)
    assert [(c, m) for c, *_, m, _ in errors(text)] == [expected]


def test_sharding_needs_partition_key_and_a_shard():
    text = replace("    shards:\n      north: {partitions: [beijing, 7], models: [eta], replicas: 2}\n"
                   "      rest: {partitions: []}\n", "    shards: {}\n")
    text = replace("    partition_key: city\n", "", text)
    line, col = line_of(text, "sharding:")
    found = errors(text)
    assert [(c, l, co) for c, l, co, _, _ in found] == [("E2003", line, col), ("E2007", line + 2, 5)]
    assert found[0][3] == "missing required key `partition_key` in `deployment.sharding`"


@pytest.mark.parametrize("old, new, expected", [
    ("traffic: 30", "traffic: 130", ("E2007", "`experiments.layers.ranking.experiments.e1.traffic` must be at most 100, got integer `130`")),
    ("          unit: rider_id\n", "",
     ("E2003", "missing required key `unit` in `experiments.layers.ranking.experiments.e1`")),
    ("{a: {model: eta, weight: 50}, b", "{a: {model: eta}, b",
     ("E2003", "missing required key `weight` in `experiments.layers.ranking.experiments.e1.variants.a`")),
    ("    ranking:\n", "    ranking:\n      salt: 5\n", ("E2004", "`experiments.layers.ranking.salt` must be a string, got integer `5`")),
    ("{a: {model: eta}, b: {model: eta, alias: candidate}}", "{a: {model: eta}}",
     ("E2007", "`experiments.switchbacks.sb.variants` must have at least 2 items")),
    ("{a: {model: eta}, b: {model: eta, alias: candidate}}", "{a: {model: eta, wieght: 3}, b: {model: eta}}",
     ("E2002", "unknown key `wieght` in `experiments.switchbacks.sb.variants.a`")),
    ("seed: 3", "seed: 3.0", ("E2004", "`experiments.switchbacks.sb.seed` must be an integer, got number `3.0`")),
    ("regions: {beijing: Asia/Shanghai}", "regions: [beijing]",
     ("E2004", "`experiments.switchbacks.sb.regions` must be a mapping, got a list")),
])
def test_experiment_and_switchback_errors(old, new, expected):
    assert [(c, m) for c, *_, m, _ in errors(replace(old, new))] == [expected]


def test_all_errors_of_validation_reported_together():
    text = replace("kind: csv", "kind: parquett")
    text = replace("epochs: 2", 'epochs: "3"', text)
    text = replace("traffic: 30", "traffic: x", text)
    text = replace("windows: [1h, 1d]", "windows: [1h, 1 d]", text)
    codes = sorted(code for code, *_ in errors(text))
    assert codes == ["E2004", "E2004", "E2005", "E2006"]


# ------------------------------------------- limits: numbers, durations, control characters

HUGE_HEX = "0x" + "f" * 5000  # a plain hex scalar: beyond Python's 4300-digit int-to-text limit


@pytest.mark.parametrize("old, new, needle, message, hint", [
    ("epochs: 2}", "epochs: 2, optimizer: {learning_rate: .inf}}", ".inf",
     "`models.eta.training.optimizer.learning_rate` must be a finite number, got number `inf`", None),
    ("epochs: 2}", "epochs: 2, optimizer: {learning_rate: " + HUGE_HEX + "}}", HUGE_HEX,
     "`models.eta.training.optimizer.learning_rate` must be a finite number, got an integer of about 6021 digits", None),
    ("epochs: 2}", "epochs: 2, seed: " + HUGE_HEX + "}", HUGE_HEX,
     "`models.eta.training.seed` must be at most 4294967295, got an integer of about 6021 digits", None),
    ("epochs: 2}", "epochs: 2, seed: -1}", "-1", "`models.eta.training.seed` must be at least 0, got integer `-1`", None),
    ("{dtype: float64, default: 0.0}", "{dtype: float64, default: -.inf}", "-.inf",
     "`preprocess.inputs.distance_km.default` must be a finite number, got number `-inf`", None),
    ("[beijing, 7]", "[beijing, 0x1ffffffffffffffff]", "0x1",
     "`deployment.sharding.shards.north.partitions[1]` must be an integer that fits in int64, got integer "
     "`36893488147419103231`", "from -9223372036854775808 to 9223372036854775807"),
    ("max_queue_delay_us: 50", "max_queue_delay_us: 60000001", "60000001",
     "`deployment.serving.dynamic_batching.max_queue_delay_us` must be at most 60000000, got integer `60000001`", None),
    ("replicas: 2\n  resources", "replicas: 1001\n  resources", "1001",
     "`deployment.replicas` must be at most 1000, got integer `1001`", None),
    ("windows: [1h, 1d]", "windows: [1h, 1234567d]", "1234567d",
     "duration `1234567d` for `feature_groups.rider_activity.windows[1]` is too long",
     "at most 6 digits before the unit; use a larger unit, e.g. `52w`"),
])
def test_numbers_out_of_range(old, new, needle, message, hint):
    text = replace(old, new)
    assert errors(text) == [("E2007" if "duration" not in message else "E2006", *line_of(text, needle), message, hint)]


CONTROL_HINT = "this value reaches generated files (scripts, manifests, code): write "
LINE_HINT = CONTROL_HINT + "one line of text without control characters"


@pytest.mark.parametrize("old, new, needle, message, hint", [
    ("path: data/orders.csv", 'path: "data/orders.csv\\n$(touch pwned)"', "\\n$",
     "`sources.orders.path` contains a control character (line break)", LINE_HINT),
    ("namespace: ml", 'namespace: "ml\\0"', "\\0", "`deployment.namespace` contains a control character (NUL)", LINE_HINT),
    ("spark: sp", 'spark: "sp\\x1b[31m"', "\\x1b", "`deployment.images.spark` contains a control character (escape)",
     LINE_HINT),
    ("cpu: 500m", 'cpu: "500m\\n"', "\\n", "`deployment.resources.requests.cpu` contains a control character (line break)",
     LINE_HINT),
    ("timezone: Asia/Shanghai", 'timezone: "Asia/\\u2028Shanghai"', "\\u2028",
     "`experiments.switchbacks.sb.timezone` contains a control character (U+2028)", LINE_HINT),
    ("name: demo", 'name: demo\ndescription: "two\\nlines\\tand a \\0"', "\\0",
     "`description` contains a control character (NUL)",
     CONTROL_HINT + "text without control characters other than tabs and line breaks"),
])
def test_control_characters_are_located_errors(old, new, needle, message, hint):
    text = replace(old, new)
    assert errors(text) == [("E2008", *line_of(text, needle), message, hint)]


def test_descriptions_may_span_lines_and_hold_tabs():
    text = replace("name: demo", 'name: demo\ndescription: |\n  first line\n  second\tline\n')
    spec, diagnostics = validate(text)
    assert diagnostics == [] and spec.description == "first line\nsecond\tline\n"


# ------------------------------------------------------------- JSON Schema


def test_committed_spec_schema_is_current():
    from mlc.schemas.jsonschema_gen import render, spec_schema

    assert (REPO / "schemas" / "mlc.schema.json").read_text(encoding="utf-8") == render(spec_schema())


def test_committed_mldl_schema_is_current():
    from mlc.schemas.jsonschema_gen import mldl_schema, render

    assert (REPO / "schemas" / "mldl.schema.json").read_text(encoding="utf-8") == render(mldl_schema())


@pytest.mark.parametrize("name", ["mlc.schema.json", "mldl.schema.json"])
def test_committed_schemas_are_valid_draft_2020_12(name):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "schemas" / name).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _spec_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "schemas" / "mlc.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("text", [BASE, FULL], ids=["base", "full"])
def test_example_spec_validates_against_json_schema(text):
    data = to_plain(load_yaml(text, "s.yaml").root)
    assert list(_spec_validator().iter_errors(data)) == []


def test_json_schema_rejects_what_pydantic_rejects():
    validator = _spec_validator()
    for bad in (replace("kind: csv", "kind: parquett"), replace("epochs: 2", 'epochs: "3"'),
                replace("    event_time: ts\n", "    event_tme: ts\n"), replace("windows: [1h, 1d]", "windows: [1day]")):
        data = to_plain(load_yaml(bad, "s.yaml").root)
        assert list(validator.iter_errors(data)), bad


def test_json_schema_allows_include_and_environments():
    data = to_plain(load_yaml(BASE, "s.yaml").root)
    data["include"] = ["common.mlc.yaml"]
    data["environments"] = {"prod": {"deployment": {"replicas": 3}}}
    assert list(_spec_validator().iter_errors(data)) == []


@pytest.mark.parametrize("old, new", [
    ("epochs: 2}", "epochs: 2, seed: 4294967296}"),
    ("replicas: 2\n  resources", "replicas: 1001\n  resources"),
    ("max_queue_delay_us: 50", "max_queue_delay_us: 60000001"),
    ("[beijing, 7]", "[beijing, 9223372036854775808]"),
    ("namespace: ml", "namespace: Prod"),
    ("namespace: ml", "namespace: " + "a" * 64),
    ("cpu: 500m", "cpu: 1 GB"),
    ("path: data/orders.csv", 'path: "data/\\norders.csv"'),
])
def test_json_schema_publishes_the_limits(old, new):
    data = to_plain(load_yaml(replace(old, new), "s.yaml").root)
    assert list(_spec_validator().iter_errors(data)), new
