"""Public CTR / rating datasets as they come (issue 15): Criteo-shaped CSV (upper-case headers
mapped to spec names, empty fields, no time column), Avazu-shaped (an integer `hour` YYMMDDHH as
event time, ids past int64 read as text and hashed), MovieLens-shaped (a hash split by user).
Offline reading and training sets on real Spark; online reading through the Predictor."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from mlc.runtime.features.splits import key_validates, position_validates

BIG_ID = "10000169349117863715"          # an Avazu id: larger than 2**63 - 1


def build(tmp_path: Path, spec: str):
    from mlc.backends.preprocess import render
    from mlc.compiler.pipeline import build as compile_spec
    from mlc.runtime.preprocess import module_from_text

    (tmp_path / "s.mlc.yaml").write_text(spec)
    result = compile_spec(str(tmp_path / "s.mlc.yaml"))
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.ir, module_from_text(render(result.ir))


def sets_of(spark, tmp_path: Path, spec: str):
    from mlc.runtime.features.training_set import training_sets, write_training_sets

    ir, module = build(tmp_path, spec)
    sets = training_sets(spark, ir, module, {}, str(tmp_path))
    docs = write_training_sets(sets, str(tmp_path / "out"))
    frames = {k: tuple(spark.read.parquet(str(tmp_path / "out" / k[0] / k[1] / s)).toPandas()
                       for s in ("train", "validation")) for k in sets}
    return ir, module, frames, docs


# ------------------------------------------------------------------ Criteo: no time, file order

CRITEO_SPEC = """\
version: 1
name: criteo
sources:
  clicks:
    kind: csv
    path: data/criteo
    columns:
      label: int64
      i1: {dtype: float64, from: I1}
      row: {dtype: float64, from: I13}
      c1: {dtype: string, from: C1}
preprocess:
  inputs:
    i1: {dtype: float64}
    row: {dtype: float64}
    c1: {dtype: string}
  features:
    dense_i1: log1p(greatest(fillna(i1, 0.0), 0.0))
    position: fillna(row, -1.0)
    cat_c1: hash_bucket(c1, 1000)
models:
  lr:
    type: lr
    task: classification
    label: label
    inputs: {dense: [dense_i1, position], sparse: [cat_c1]}
    training: {source: clicks, validation: VALIDATION}
"""


def criteo_files(root: Path, sizes=(7, 40, 13)) -> int:
    """Criteo-shaped files of different sizes (Spark reads the largest split first); I13 numbers
    the rows in file order. Returns the number of rows."""
    rng = random.Random(15)
    folder = root / "data" / "criteo"
    folder.mkdir(parents=True)
    row = 0
    for f, size in enumerate(sizes):
        lines = ["label,I1,I2,I13,C1,C2"]
        for _ in range(size):
            i1 = "" if rng.random() < 0.3 else str(rng.randint(-1, 500))
            c1 = "" if rng.random() < 0.2 else f"{rng.getrandbits(32):08x}"
            lines.append(f"{rng.randint(0, 1)},{i1},,{row},{c1},{rng.getrandbits(32):08x}")
            row += 1
        (folder / f"part-{f:05d}.csv").write_text("\n".join(lines) + "\n")
    return row


@pytest.fixture
def small_splits(spark):
    """Files cut into many small splits, packed several per partition."""
    old = {k: spark.conf.get(k) for k in ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")}
    spark.conf.set("spark.sql.files.maxPartitionBytes", "160")
    spark.conf.set("spark.sql.files.openCostInBytes", "16")
    yield
    for key, value in old.items():
        spark.conf.set(key, value)


def test_positions_follow_file_order_not_spark_partitions(spark, tmp_path, small_splits):
    from mlc.runtime.features.sources import read_source
    from mlc.runtime.features.splits import POSITION, with_positions

    n = criteo_files(tmp_path)
    ir, _ = build(tmp_path, CRITEO_SPEC.replace("VALIDATION", "{last_fraction: 0.25}"))
    df = read_source(spark, ir.sources[0], str(tmp_path))
    assert df.rdd.getNumPartitions() > 1
    rows = with_positions(df).select("row", POSITION).collect()
    assert sorted((int(r["row"]), r[POSITION]) for r in rows) == [(i, i) for i in range(n)]


def test_no_event_time_last_fraction_splits_by_file_order(spark, tmp_path, small_splits):
    n = criteo_files(tmp_path)
    ir, _, frames, docs = sets_of(spark, tmp_path, CRITEO_SPEC.replace("VALIDATION", "{last_fraction: 0.25}"))
    train, validation = frames[("lr", "main")]
    m = math.ceil(n * 0.25)
    assert sorted(validation["position"]) == list(range(n - m, n))
    assert sorted(train["position"]) == list(range(n - m))
    doc = docs[("lr", "main")]
    assert doc["event_time"] is None
    assert doc["split"] == {"kind": "order", "last_fraction": 0.25, "cutoff_position": n - m,
                            "order": "file path, file split, row (mlc.runtime.features.splits)"}
    assert "event_time" not in train.columns and "__mlc_position" not in train.columns


def test_random_split_is_reproducible_and_independent_of_file_splits(spark, tmp_path, small_splits):
    n = criteo_files(tmp_path)
    spec = CRITEO_SPEC.replace("VALIDATION", "{kind: random, fraction: 0.3, seed: 7}")
    _, _, frames, docs = sets_of(spark, tmp_path, spec)
    expected = {i for i in range(n) if position_validates(i, 7, 0.3)}
    train, validation = frames[("lr", "main")]
    assert set(validation["position"]) == expected and 0 < len(expected) < n
    assert set(train["position"]) == set(range(n)) - expected
    assert docs[("lr", "main")]["split"]["seed"] == 7
    spark.conf.set("spark.sql.files.maxPartitionBytes", "128m")         # now one split per file
    other = tmp_path / "whole_files"
    other.mkdir()
    criteo_files(other)
    _, _, frames2, _ = sets_of(spark, other, spec)
    assert set(frames2[("lr", "main")][1]["position"]) == expected


def test_mapped_criteo_columns_and_empty_fields(spark, tmp_path):
    from mlc.runtime.features.sources import read_source

    criteo_files(tmp_path, sizes=(5,))
    ir, _ = build(tmp_path, CRITEO_SPEC.replace("VALIDATION", "{last_fraction: 0.25}"))
    df = read_source(spark, ir.sources[0], str(tmp_path))
    assert df.columns == ["c1", "i1", "label", "row"]      # the declared columns, by name
    raw = (tmp_path / "data" / "criteo" / "part-00000.csv").read_text().splitlines()[1:]
    got = {int(r["row"]): (r["i1"], r["c1"]) for r in df.collect()}
    for line in raw:
        label, i1, _, row, c1, _ = line.split(",")
        assert got[int(row)] == (float(i1) if i1 else None, c1 or None)


def test_a_missing_mapped_column_names_both_names(spark, tmp_path):
    from mlc.runtime.features.sources import SourceError, read_source

    criteo_files(tmp_path, sizes=(3,))
    ir, _ = build(tmp_path, CRITEO_SPEC.replace("VALIDATION", "{last_fraction: 0.25}").replace("from: C1", "from: C9"))
    with pytest.raises(SourceError, match=r"declared column `c1` \(data column `C9`, its `from`\) is not in the data"):
        read_source(spark, ir.sources[0], str(tmp_path))


# ----------------------------------------------------------- Avazu: YYMMDDHH, ids past int64

AVAZU_ROWS = [
    ("1000009418151094273", 0, 14102100, "ddd2926e"), (BIG_ID, 0, 14102100, "96809ac8"),
    ("10000371904215119486", 1, 14102101, "b3cf8def"), ("10000640724480838376", 0, 14102102, "e8275b8f"),
    ("10000679056417042096", 1, 14102103, "9644d0bf"), ("10000720757801103869", 0, 14102103, ""),
]
AVAZU_SPEC = """\
version: 1
name: avazu
sources:
  impressions:
    kind: csv
    path: data/avazu.csv
    event_time: hour
    columns:
      id: string
      click: int64
      hour: {dtype: timestamp, format: yyMMddHH}
      device_ip: {dtype: string, from: device-ip}
preprocess:
  inputs:
    id: {dtype: string}
    hour: {dtype: timestamp}
    device_ip: {dtype: string}
  features:
    id_bucket: hash_bucket(id, 100000)
    hour_of_day: hour(hour)
    ip_bucket: hash_bucket(device_ip, 1000)
models:
  lr:
    type: lr
    task: classification
    label: click
    inputs: {sparse: [id_bucket, hour_of_day, ip_bucket]}
    training: {source: impressions, validation: {last_fraction: 0.3}}
"""


def avazu_project(tmp_path: Path, spec: str = AVAZU_SPEC) -> None:
    (tmp_path / "data").mkdir()
    lines = ["id,click,hour,device-ip"] + [f"{i},{c},{h},{ip}" for i, c, h, ip in AVAZU_ROWS]
    (tmp_path / "data" / "avazu.csv").write_text("\n".join(lines) + "\n")


def test_avazu_hour_is_event_time_and_big_ids_hash_alike_in_both_executors(spark, tmp_path):
    import pandas as pd

    from mlc.runtime.preprocess import transform_numpy
    from mlc.runtime.xxhash64 import xxhash64_signed

    avazu_project(tmp_path)
    ir, module, frames, docs = sets_of(spark, tmp_path, AVAZU_SPEC)
    train, validation = frames[("lr", "main")]
    both = pd.concat([train, validation])
    assert len(both) == len(AVAZU_ROWS) and docs[("lr", "main")]["event_time"] == "hour"
    assert {str(h) for h in validation["hour"]} == {"2014-10-21 03:00:00"}   # the latest hour validates
    assert sorted(both["hour_of_day"]) == [0, 0, 1, 2, 3, 3]
    online = transform_numpy(module, {"id": [r[0] for r in AVAZU_ROWS]})["id_bucket"].to_list()
    assert sorted(online) == sorted(int(b) for b in both["id_bucket"])          # Spark == NumPy
    assert int(BIG_ID) > 2 ** 63 and online[1] == xxhash64_signed(BIG_ID.encode()) % 100000


def test_an_id_past_int64_declared_int64_names_column_value_and_hint(spark, tmp_path):
    from mlc.runtime.features.sources import SourceError, read_source

    avazu_project(tmp_path)
    ir, _ = build(tmp_path, AVAZU_SPEC.replace("      id: string\n", "      id: int64\n")
                  .replace("    id: {dtype: string}\n", "    id: {dtype: int64}\n"))
    with pytest.raises(SourceError) as caught:
        read_source(spark, ir.sources[0], str(tmp_path))
    message = str(caught.value)
    assert f"column `id` has `{BIG_ID}`, which is outside int64" in message
    assert "declared `string` and hashed, `hash_bucket(id, n)`" in message


def test_unsigned_parquet_ids_read_as_string(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlc.runtime.features.sources import SourceError, read_source

    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"id": pa.array([int(BIG_ID), 5], pa.uint64()), "hour": pa.array([14102100, 5010100])}),
                   str(tmp_path / "data" / "ids.parquet"))
    spec = AVAZU_SPEC.replace("    kind: csv\n    path: data/avazu.csv\n", "    kind: parquet\n    path: data/ids.parquet\n")
    spec = spec.replace("      click: int64\n", "").replace("      device_ip: {dtype: string, from: device-ip}\n", "")
    spec = spec.split("preprocess:")[0].replace("version: 1", "version: 1")
    ir, _ = build(tmp_path, spec)
    rows = read_source(spark, ir.sources[0], str(tmp_path)).orderBy("hour").collect()
    assert [r["id"] for r in rows] == ["5", BIG_ID]
    assert [str(r["hour"]) for r in rows] == ["2005-01-01 00:00:00", "2014-10-21 00:00:00"]
    ir, _ = build(tmp_path, spec.replace("      id: string\n", "      id: int64\n"))
    with pytest.raises(SourceError, match="unsigned 64-bit integers, which int64 cannot: declare the column `string`"):
        read_source(spark, ir.sources[0], str(tmp_path))


# -------------------------------------------------------------------- MovieLens: hash split

MOVIELENS_SPEC = """\
version: 1
name: movies
sources:
  ratings:
    kind: json
    path: data/ratings.jsonl
    event_time: timestamp
    columns: {user_id: int64, movie_id: int64, rating: float64, timestamp: int64, title: {dtype: string, from: Title}}
preprocess:
  inputs:
    user_id: {dtype: int64}
    movie_id: {dtype: int64}
  features:
    user_bucket: hash_bucket(user_id, 1000)
    movie_bucket: hash_bucket(movie_id, 1000)
models:
  mf:
    type: fm
    task: regression
    label: rating
    inputs: {sparse: [user_bucket, movie_bucket]}
    training: {source: ratings, validation: {kind: hash, fraction: 0.3, key: user_id}}
"""


def test_hash_split_puts_each_user_on_one_side_reproducibly(spark, tmp_path):
    rng = random.Random(7)
    (tmp_path / "data").mkdir()
    rows = [{"user_id": rng.randint(1, 60), "movie_id": rng.randint(1, 500), "rating": rng.randint(1, 5),
             "timestamp": 968035345 + i, "Title": f"Movie {i}"} for i in range(300)]
    (tmp_path / "data" / "ratings.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _, _, frames, docs = sets_of(spark, tmp_path, MOVIELENS_SPEC)
    train, validation = frames[("mf", "main")]
    assert set(train["user_id"]) & set(validation["user_id"]) == set()
    assert set(validation["user_id"]) == {r["user_id"] for r in rows if key_validates(r["user_id"], 0.3)}
    assert len(train) + len(validation) == len(rows)
    assert docs[("mf", "main")]["split"] == {"kind": "hash", "fraction": 0.3, "key": "user_id"}
    assert "user_id" in train.columns                    # the key is kept: the split can be checked


# --------------------------------------------- null values: the same raw row, offline = online

SKEW_SPEC = """\
version: 1
name: skew
sources:
  events:
    kind: csv
    path: data/events.csv
    null_values: ['', NA]
    columns:
      label: float64
      c1: {dtype: string, from: C1}
      i1: {dtype: float64, from: I1}
      hour: {dtype: timestamp, format: yyMMddHH}
preprocess:
  inputs:
    c1: {dtype: string}
    i1: {dtype: float64}
    hour: {dtype: timestamp}
  features:
    c1_id: hash_bucket(c1, 1000)
    c1_missing: to_float(if(is_null(c1), 1, 0))
    i1_value: fillna(i1, -1.0)
    hour_of_day: to_float(coalesce(hour(hour), -1))
models:
  m:
    type: lr
    task: regression
    label: label
    inputs: {dense: [c1_missing, i1_value, hour_of_day], sparse: [c1_id]}
    training: {source: events}
"""
SKEW_ROWS = [("1.0", "a1b2", "3.5", "14102100"), ("0.0", "", "", "14102113"), ("1.0", "NA", "NA", "14102123"),
             ("0.0", " x ", " 2 ", ""), ("1.0", "x", "0", "5010100")]


def _number_or_text(text: str):
    try:
        return float(text)
    except ValueError:
        return text


class _NoModel:
    def prepare(self, ir, routing):
        pass

    def ready(self):
        return True, "test"

    def close(self):
        pass


def test_the_same_raw_row_gives_the_same_features_offline_and_online(spark, tmp_path):
    from mlc.runtime.preprocess import transform_numpy
    from mlc.runtime.serving.predictor import Predictor
    from mlc.runtime.training.inputs import model_arrays

    (tmp_path / "data").mkdir()
    lines = ["label,C1,I1,hour"] + [",".join(r) for r in SKEW_ROWS]
    (tmp_path / "data" / "events.csv").write_text("\n".join(lines) + "\n")
    ir, module, frames, _ = sets_of(spark, tmp_path, SKEW_SPEC)
    offline, _ = frames[("m", "main")]
    assert [i.null_values for i in ir.inputs] == [("", "NA")] * 3
    predictor = Predictor(ir, {}, None, _NoModel(), "skew", module=module)
    # what a client sends for the raw row: numbers as JSON numbers, text as it is ('' and NA too)
    request = {"items": [{"c1": c1, "i1": _number_or_text(i1), "hour": int(hour) if hour else hour}
                         for _, c1, i1, hour in SKEW_ROWS]}
    request = json.loads(json.dumps(request))
    rows = predictor.validate(request)
    model = ir.model("m")
    online = predictor.preprocess(model, rows, {})
    expected = model_arrays(model, {c: offline[c].tolist() for c in offline.columns})
    for name in expected:
        np.testing.assert_array_equal(online[name], expected[name], err_msg=name)
    features = transform_numpy(module, {n: rows.columns[n] for n in ("c1", "i1", "hour")})
    assert features["c1_missing"].to_list() == [0.0, 1.0, 1.0, 0.0, 0.0]
    assert features["i1_value"].to_list() == [3.5, -1.0, -1.0, 2.0, 0.0]
    assert features["hour_of_day"].to_list() == [0.0, 13.0, 23.0, -1.0, 0.0]
    assert list(offline["c1_missing"]) == [0.0, 1.0, 1.0, 0.0, 0.0]     # '' and NA null offline too


def test_a_request_in_the_wrong_format_is_a_field_error(tmp_path):
    from mlc.runtime.serving import Predictor, RequestError

    ir, module = build(tmp_path, SKEW_SPEC)
    predictor = Predictor(ir, {}, None, _NoModel(), "skew", module=module)
    with pytest.raises(RequestError) as caught:
        predictor.validate({"items": [{"hour": "2014-10-21T00:00:00Z"}, {"hour": 14023000}, {"i1": "x"}]})
    fields = caught.value.fields
    assert fields["items[0].hour"] == "not a timestamp in the format `yyMMddHH`: '2014-10-21T00:00:00Z'"
    assert fields["items[1].hour"] == "not a timestamp in the format `yyMMddHH`: 14023000"
    assert fields["items[2].i1"] == "expected a number, got a string"


def test_mlc_runs_sample_request_uses_spec_names_and_validates(tmp_path):
    from mlc.app.pipeline import sample_request
    from mlc.runtime.serving.predictor import Predictor

    avazu_project(tmp_path)
    ir, module = build(tmp_path, AVAZU_SPEC)
    request = sample_request(ir, str(tmp_path), items=6)
    assert request["items"][1] == {"id": BIG_ID, "hour": 14102100, "device_ip": "96809ac8"}
    rows = Predictor(ir, {}, None, _NoModel(), "avazu", module=module).validate(json.loads(json.dumps(request)))
    assert rows.columns["device_ip"][5] is None               # the empty field: null, as offline


DEFAULTS_SPEC = """\
version: 1
name: defaults
sources:
  events:
    kind: csv
    path: data/events.csv
    columns: {label: float64, i2: {dtype: float64, from: I2}, c2: {dtype: string, from: C2}, ts: timestamp}
preprocess:
  inputs:
    i2: {dtype: float64, default: 7.0}
    c2: {dtype: string, default: none}
    ts: {dtype: timestamp, default: '2024-06-01T00:00:00Z'}
  features:
    i2_value: i2 * 1.0
    c2_id: hash_bucket(c2, 100)
    ts_hour: to_float(hour(ts))
    ts_day: to_float(day_of_month(ts))
models:
  m:
    type: lr
    task: regression
    label: label
    inputs: {dense: [i2_value, ts_hour, ts_day], sparse: [c2_id]}
    training: {source: events}
"""
DEFAULT_ROWS = [("1.0", "2.5", "a", "1718000000"), ("0.0", "", "", ""), ("1.0", "", "b", "968035345")]


def test_defaults_and_integer_timestamps_are_the_same_offline_and_online(spark, tmp_path):
    """An input's default fills a null in the data exactly as a missing request field, and an
    integer timestamp is unix seconds on both sides (BUG: online took it as microseconds and
    applied defaults only to requests)."""
    from mlc.runtime.serving.predictor import Predictor
    from mlc.runtime.training.inputs import model_arrays

    (tmp_path / "data").mkdir()
    lines = ["label,I2,C2,ts"] + [",".join(r) for r in DEFAULT_ROWS]
    (tmp_path / "data" / "events.csv").write_text("\n".join(lines) + "\n")
    ir, module, frames, _ = sets_of(spark, tmp_path, DEFAULTS_SPEC)
    offline, _ = frames[("m", "main")]
    predictor = Predictor(ir, {}, None, _NoModel(), "defaults", module=module)
    items = [{"i2": float(i2), "c2": c2, "ts": int(ts)} if i2 else {"c2": c2, "ts": int(ts)} if ts else {"c2": c2}
             for _, i2, c2, ts in DEFAULT_ROWS]
    rows = predictor.validate(json.loads(json.dumps({"items": items})))
    model = ir.model("m")
    online = predictor.preprocess(model, rows, {})
    expected = model_arrays(model, {c: offline[c].tolist() for c in offline.columns})
    for name in expected:
        np.testing.assert_array_equal(online[name], expected[name], err_msg=name)
    assert list(offline["i2_value"]) == [2.5, 7.0, 7.0]                  # the default, offline too
    assert list(offline["ts_day"]) == [10.0, 1.0, 4.0]       # 1718000000 s: 2024-06-10; 968035345 s: 2000-09-04
