"""Training sets: point-in-time features + preprocessing, split by time and by shard."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlc.runtime.features.training_set import training_sets, write_training_sets

ROOT = Path(__file__).resolve().parents[2]
DELIVERY = ROOT / "examples" / "delivery_eta" / "delivery.mlc.yaml"


def _prepared(spec_path):
    from mlc.backends.preprocess import render
    from mlc.compiler.pipeline import build
    from mlc.runtime.preprocess import module_from_text

    result = build(str(spec_path))
    assert result.ok, result.diagnostics
    return result.ir, module_from_text(render(result.ir))


@pytest.fixture(scope="module")
def delivery(spark, tmp_path_factory):
    from mlc.runtime.features.fitting import fit, fitted_from_ir, with_fitted
    from mlc.runtime.features.training_set import labelled_features

    ir, module = _prepared(DELIVERY)
    spec_dir = str(DELIVERY.parent)
    ir = with_fitted(ir, fit(ir, module, labelled_features(spark, ir, ir.models[0], spec_dir)))
    sets = training_sets(spark, ir, module, fitted_from_ir(ir), spec_dir)
    out = tmp_path_factory.mktemp("delivery_sets")
    docs = write_training_sets(sets, str(out))
    # read back from parquet: every check below runs on small local files
    frames = {k: tuple(spark.read.parquet(str(out / k[0] / k[1] / s)).toPandas() for s in ("train", "validation"))
              for k in sets}
    return ir, sets, docs, frames, out


def test_every_model_and_shard(delivery):
    ir, sets, _, _, _ = delivery
    assert sorted(sets) == sorted((m, s) for m in ("eta_dnn", "eta_wide_deep") for s in ("east", "north_west", "south"))


def test_shards_partition_the_data_by_city(delivery, spark):
    ir, _, _, frames, _ = delivery
    import pandas as pd

    orders = pd.read_csv(DELIVERY.parent / "data" / "orders.csv")
    labelled = orders[orders["delivery_minutes"].notna()]
    expected = {"north_west": {"beijing", "chengdu"}, "south": {"shenzhen", "hong_kong"},
                "east": {"shanghai", "hangzhou", "riyadh"}}
    for model in ("eta_dnn", "eta_wide_deep"):
        total = 0
        for shard, cities in expected.items():
            train, validation = frames[(model, shard)]
            both = pd.concat([train, validation])
            assert set(both["city"]) == cities & set(labelled["city"])
            assert len(both) == int(labelled["city"].isin(cities).sum())
            total += len(both)
        assert total == len(labelled)              # exact partition: nothing lost, nothing twice
    assert "riyadh" in set(pd.concat(frames[("eta_dnn", "east")])["city"])


def test_time_split_and_labels(delivery):
    ir, _, docs, frames, _ = delivery
    for key, (train, validation) in frames.items():
        assert len(train) and len(validation)
        assert train["created_at"].max() < validation["created_at"].min()
        n = len(train) + len(validation)
        assert len(validation) >= 0.2 * n          # ceil(0.2 n), more only on ties at the cutoff
        assert len(validation) <= 0.2 * n + 5
        assert not train["delivery_minutes"].isna().any()
        assert not validation["delivery_minutes"].isna().any()


def test_columns_are_inputs_label_time_key(delivery):
    ir, _, _, frames, _ = delivery
    for (model_name, _), (train, validation) in frames.items():
        model = ir.model(model_name)
        expected = [c.name for c in model.dense] + [s.name for s in model.sparse] + ["delivery_minutes", "created_at", "city"]
        assert list(train.columns) == expected
        assert list(validation.columns) == expected


def test_schema_json(delivery):
    ir, _, docs, frames, out = delivery
    path = out / "eta_dnn" / "south" / "schema.json"
    text = path.read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    model = ir.model("eta_dnn")
    assert doc["label"] == {"name": "delivery_minutes", "dtype": "float64"}
    assert doc["event_time"] == "created_at" and doc["partition_key"] == "city"
    (south,) = [s for s in ir.deployment.shards if s.name == "south"]
    assert sorted(south.partitions) == ["hong_kong", "shenzhen"]
    assert doc["partitions"] == {"values": list(south.partitions), "is_default": False}
    assert [c["name"] for c in doc["inputs"]["dense"]] == [c.name for c in model.dense]
    assert {s["name"]: s["buckets"] for s in doc["inputs"]["sparse"]} == {s.name: s.buckets for s in model.sparse}
    dtypes = {c["name"]: c["dtype"] for c in doc["columns"]}
    assert dtypes["distance_z"] == "float64" and dtypes["city_id"] == "int64"
    assert dtypes["created_at"] == "timestamp" and dtypes["city"] == "string"
    train, validation = frames[("eta_dnn", "south")]
    assert doc["rows"] == {"train": len(train), "validation": len(validation)}
    assert doc["split"]["last_fraction"] == 0.2 and isinstance(doc["split"]["cutoff_unix_micros"], int)
    assert "generated" not in text


# --- point-in-time correctness on hand-made data --------------------------------------------

PIT_SPEC = """\
version: 1
name: pit
entities:
  rider: {keys: [rider_id]}
sources:
  orders:
    kind: csv
    path: data/orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: string, eta: float64, city: string}
  trips:
    kind: csv
    path: data/trips.csv
    event_time: done_at
    columns: {done_at: timestamp, rider_id: string, minutes: float64}
feature_groups:
  rider_trips:
    entity: rider
    source: trips
    windows: [1h]
    features:
      n: count()
      avg_minutes: avg(minutes)
preprocess:
  inputs:
    rider_id: {dtype: string}
    city: {dtype: string, default: unknown}
  features:
    trips_1h: to_float(fillna(rider_trips.n_1h, 0))
    avg_1h: fillna(rider_trips.avg_minutes_1h, -1.0)
    city_id: hash_bucket(city, 10)
models:
  eta:
    type: dnn
    task: regression
    label: eta
    inputs: {dense: [trips_1h, avg_1h], sparse: [city_id]}
    training:
      source: orders
      epochs: 1
      validation: {split_at: "2024-01-01T12:00:00Z"}
"""

ORDERS = """\
ts,rider_id,eta,city
2024-01-01T10:00:00Z,r1,20.0,a
2024-01-01T10:30:00Z,r1,,a
2024-01-01T11:00:00Z,r2,30.0,b
2024-01-01T12:00:00Z,r1,25.0,a
"""

# r1 trips: 09:00 (exactly 1h before the 10:00 label: in window), 09:30, 10:00 (at the label
# time: excluded), 11:30; r2: 12:30 only (after its label).
TRIPS = """\
done_at,rider_id,minutes
2024-01-01T09:00:00Z,r1,10.0
2024-01-01T09:30:00Z,r1,20.0
2024-01-01T10:00:00Z,r1,99.0
2024-01-01T11:30:00Z,r1,40.0
2024-01-01T12:30:00Z,r2,50.0
"""


def test_point_in_time_inside_training_set(spark, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(ORDERS)
    (tmp_path / "data" / "trips.csv").write_text(TRIPS)
    spec = tmp_path / "pit.mlc.yaml"
    spec.write_text(PIT_SPEC)
    ir, module = _prepared(spec)
    sets = training_sets(spark, ir, module, {}, str(tmp_path))
    assert list(sets) == [("eta", "main")]
    train, validation = sets[("eta", "main")]
    train_rows = sorted((str(r["ts"]), r["trips_1h"], r["avg_1h"], r["eta"]) for r in train.collect())
    val_rows = sorted((str(r["ts"]), r["trips_1h"], r["avg_1h"], r["eta"]) for r in validation.collect())
    # 10:00 r1: trips at 09:00 and 09:30 (10:00 excluded) -> 2, avg 15; 10:30 row has a null label
    # 11:00 r2: nothing before -> 0, -1;  12:00 r1: 11:30 only (11:00 <= t < 12:00) -> 1, 40
    assert train_rows == [("2024-01-01 10:00:00", 2.0, 15.0, 20.0), ("2024-01-01 11:00:00", 0.0, -1.0, 30.0)]
    assert val_rows == [("2024-01-01 12:00:00", 1.0, 40.0, 25.0)]
    assert train.columns == ["trips_1h", "avg_1h", "city_id", "eta", "ts"]
