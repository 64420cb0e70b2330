"""Sources as public datasets come (compiler/source_checks.py, lowering): no event time, column
mapping, datetime formats, null values, validation kinds, every model input a column of its
training source. One test per rule, each from a valid spec with one change."""

from __future__ import annotations

from lint_cases import edit, one, run  # noqa: F401  (run is a fixture)

# Criteo-shaped: upper-case data columns mapped to spec names, no time column.
CRITEO = """\
version: 1
name: ctr
sources:
  clicks:
    kind: csv
    path: data/criteo.csv
    columns:
      label: int64
      i1: {dtype: float64, from: I1}
      c1: {dtype: string, from: C1}
      I2: float64
preprocess:
  inputs:
    i1: {dtype: float64}
    c1: {dtype: string}
  features:
    dense_i1: log1p(greatest(fillna(i1, 0.0), 0.0))
    cat_c1: hash_bucket(c1, 1000)
models:
  lr:
    type: lr
    task: classification
    label: label
    inputs: {dense: [dense_i1], sparse: [cat_c1]}
    training: {source: clicks, validation: {last_fraction: 0.2}}
"""

EVENTS = """\
  events:
    kind: parquet
    path: data/events
    event_time: hour
    columns: {hour: {dtype: timestamp, format: yyMMddHH}, c1: string}
"""

GROUP = """\
entities:
  ad: {keys: [c1]}
feature_groups:
  ad_clicks:
    entity: ad
    source: SOURCE
    windows: [1d]
    features: {n: count()}
"""


def criteo(*pairs: tuple[str, str]) -> str:
    return edit(*pairs, text=CRITEO)


def test_a_source_without_event_time_is_valid_and_lowered(run):
    result = run(CRITEO)
    assert result.diagnostics == [] and result.ok
    (source,) = result.ir.sources
    assert source.event_time is None
    assert source.data_names == (("c1", "C1"), ("i1", "I1"))
    assert source.formats == () and source.null_values == ("",)
    assert dict(result.ir.model("lr").training.validation) == {"kind": "order", "last_fraction": 0.2}
    assert {i.name: (i.null_values, i.format) for i in result.ir.inputs} == {"c1": (("",), None), "i1": (("",), None)}


def test_formats_validation_kinds_and_rules_are_lowered(run):
    text = criteo(("sources:\n", "sources:\n" + EVENTS),
                  ("    training: {source: clicks, validation: {last_fraction: 0.2}}",
                   "    training: {source: clicks, validation: {kind: hash, fraction: 0.25, key: c1}}"))
    result = run(text)
    assert result.ok, result.diagnostics
    events = next(s for s in result.ir.sources if s.name == "events")
    assert events.formats == (("hour", "yyMMddHH"),) and events.null_values == () and events.data_names == ()
    assert dict(result.ir.model("lr").training.validation) == {"fraction": 0.25, "key": "c1", "kind": "hash"}
    random = run(criteo(("{last_fraction: 0.2}", "{kind: random, fraction: 0.1, seed: 7}")))
    assert dict(random.ir.model("lr").training.validation) == {"fraction": 0.1, "kind": "random", "seed": 7}


def test_an_input_takes_the_format_of_its_column(run):
    text = criteo(("      I2: float64\n", "      I2: float64\n      hour: {dtype: timestamp, format: yyMMddHH}\n"),
                  ("    c1: {dtype: string}\n", "    c1: {dtype: string}\n    hour: {dtype: timestamp}\n"),
                  ("    cat_c1: hash_bucket(c1, 1000)\n", "    cat_c1: hash_bucket(c1, 1000)\n    h: hour(hour)\n"),
                  ("sparse: [cat_c1]", "sparse: [cat_c1, h]"))
    result = run(text)
    assert result.ok, result.diagnostics
    (hour,) = [i for i in result.ir.inputs if i.name == "hour"]
    assert (hour.format, hour.null_values) == ("yyMMddHH", ("",))


# ------------------------------------------------------------------- E5040


def test_e5040_feature_group_on_a_source_without_event_time(run):
    text = criteo(("sources:\n", GROUP.replace("SOURCE", "clicks") + "sources:\n"))
    one(run, text, "E5040", "clicks\n    windows",
        "feature group `ad_clicks` aggregates windows of time, but source `clicks` declares no `event_time`",
        "add `event_time: COLUMN` to source `clicks`")


def test_e5040_model_with_feature_groups_and_no_event_time(run):
    text = criteo(("sources:\n", GROUP.replace("SOURCE", "events") + "sources:\n" + EVENTS),
                  ("    cat_c1: hash_bucket(c1, 1000)\n",
                   "    cat_c1: hash_bucket(c1, 1000)\n    ad_n: to_float(coalesce(ad_clicks.n_1d, 0))\n"),
                  ("dense: [dense_i1]", "dense: [dense_i1, ad_n]"))
    one(run, text, "E5040", "clicks, validation",
        "model `lr` uses feature groups (`ad_clicks`), but its training source `clicks` declares no `event_time` "
        "to join their values as of", "add `event_time: COLUMN` to source `clicks`")


def test_e5040_time_split_without_event_time(run):
    hint = ("split by file order (`last_fraction: 0.1`), at random (`{kind: random, fraction: 0.1}`) or by a key "
            "(`{kind: hash, fraction: 0.1, key: user_id}`)")
    text = criteo(("{last_fraction: 0.2}", "{split_at: '2024-06-01T00:00:00Z'}"))
    one(run, text, "E5040", "validation:", "`split_at` splits by event time, but training source `clicks` declares "
        "no `event_time`", hint)
    text = criteo(("{last_fraction: 0.2}", "{kind: time, last_fraction: 0.2}"))
    one(run, text, "E5040", "validation:", "`kind: time` splits by event time, but training source `clicks` "
        "declares no `event_time`", hint)


# ------------------------------------------------------------------- E5041


def test_e5041_invalid_format_points_at_the_letters(run):
    text = criteo(("      I2: float64\n", "      I2: float64\n      hour: {dtype: timestamp, format: yyMMddHHh}\n"))
    result = run(text)
    [diag] = result.diagnostics
    assert diag.code == "E5041"
    assert diag.message.startswith("invalid datetime format `yyMMddHHh`: `h` is not a field mlc reads")
    assert diag.span.start.col == text.splitlines()[diag.span.start.line - 1].index("h}") + 1
    assert diag.hint == "e.g. `yyMMddHH` or `yyyy-MM-dd HH:mm:ss`"


def test_e5041_format_of_a_column_that_is_not_a_timestamp(run):
    text = criteo(("      I2: float64\n", "      I2: float64\n      hour: {dtype: int64, format: yyMMddHH}\n"))
    one(run, text, "E5041", "yyMMddHH}", "column `hour` of source `clicks` is int64; only timestamp columns have a format",
        "declare it `{dtype: timestamp, format: yyMMddHH}`: integers are read as their decimal text")


def test_e5041_csv_timestamp_format(run):
    text = criteo(("    kind: csv\n", "    kind: csv\n    timestamp_format: YYYY-MM-dd\n"))
    result = run(text)
    [diag] = result.diagnostics
    assert (diag.code, diag.span.start.line) == ("E5041", 6)
    assert "week-based" in diag.message


# ------------------------------------------------------------------- E5042


def test_e5042_csv_null_values_need_the_empty_string(run):
    text = criteo(("    kind: csv\n", "    kind: csv\n    null_values: [NA]\n"))
    one(run, text, "E5042", "[NA]", "`null_values` of CSV source `clicks` must include '': Spark's CSV reader reads "
        "an empty field as null", "add '' to the list (it is the default)")


def test_e5042_one_input_from_sources_with_different_rules(run):
    second = """\
  more:
    kind: json
    path: data/more.jsonl
    columns: {label: int64, c1: string, i1: float64}
"""
    model = """\
  lr2:
    type: lr
    task: classification
    label: label
    inputs: {sparse: [cat_c1]}
    training: {source: more}
"""
    text = criteo(("sources:\n", "sources:\n" + second), ("models:\n", "models:\n" + model))
    one(run, text, "E5042", "c1: {dtype: string}",
        "input `c1` is read from training sources with different rules (`clicks`: null_values ['']; `more`: "
        "null_values []); a request cannot be read like both",
        "give these sources the same `null_values` and the column the same `format`")


# ------------------------------------------------------------------- E5043


def test_e5043_model_input_missing_from_the_training_source(run):
    text = criteo(("    c1: {dtype: string}\n", "    c1: {dtype: string}\n    i2: {dtype: float64}\n"),
                  ("    cat_c1:", "    dense_i2: fillna(i2, 0.0)\n    cat_c1:"),
                  ("dense: [dense_i1]", "dense: [dense_i1, dense_i2]"))
    one(run, text, "E5043", "dense_i2]", "model `lr` reads input `i2` from its training source `clicks`, which has "
        "no column `i2`", "map the data column to the input's name: `i2: {dtype: float64, from: I2}` under the "
        "source's `columns`")


def test_e5043_partition_key_missing_from_the_training_source(run):
    text = criteo(("    c1: {dtype: string}\n", "    c1: {dtype: string}\n    city: {dtype: string}\n")) + """\
deployment:
  sharding:
    partition_key: city
    default: rest
    shards: {rest: {partitions: []}}
"""
    one(run, text, "E5043", "clicks, validation", "model `lr` reads input `city` from its training source `clicks`, "
        "which has no column `city`", "valid columns: `I2`, `c1`, `i1`, `label`")


def test_e5046_input_dtype_differs_from_its_column(run):
    # BUG: an int64 column read into a float64 input hashes and compares differently offline
    # (Spark sees the column's type) than online (the request is validated as float64)
    text = criteo(("      c1: {dtype: string, from: C1}\n", "      c1: {dtype: int64, from: C1}\n"))
    one(run, text, "E5046", "string}", "input `c1` is string, but model `lr` reads it from column `c1` of training "
        "source `clicks`, which is int64", "declare the input `int64` (and convert in a derived feature, e.g. "
        "`to_float(c1)`), or the column as it should be read")


# ---------------------------------------------------------- hash split key


def test_e5003_hash_split_key_not_a_column(run):
    text = criteo(("{last_fraction: 0.2}", "{kind: hash, fraction: 0.2, key: user}"))
    one(run, text, "E5003", "user}", "hash split key `user` is not a column of training source `clicks`",
        "valid columns: `I2`, `c1`, `i1`, `label`")


def test_e5044_hash_split_key_dtype(run):
    text = criteo(("{last_fraction: 0.2}", "{kind: hash, fraction: 0.2, key: i1}"))
    one(run, text, "E5044", "i1}", "hash split key `i1` is float64; it must be a string, int64 or bool column",
        "split by an id (user, item, session) so that all rows of one id fall on one side")
