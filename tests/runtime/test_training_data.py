"""Training-set reading (mlc.runtime.training.data) and the input mapping shared with serving
(mlc.runtime.training.inputs): per-rank shards are disjoint and complete, nulls and unknown ids
are mapped, schema mismatches are named. Training sets are written here with pyarrow in the
layout of mlc.runtime.features.training_set (several files, several row groups, an empty part file)."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timedelta

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from specs import MINIMAL_SPEC  # noqa: E402

from mlc.compiler.pipeline import build  # noqa: E402
from mlc.runtime.training.data import (TrainingDataError, make_dataset, read_split, row_groups,  # noqa: E402
                                       split_files)
from mlc.runtime.training.inputs import ModelInputError, label_array, model_arrays  # noqa: E402

BUCKETS = 100        # MINIMAL_SPEC: city_id = hash_bucket(city, 100)
START = datetime(2024, 6, 1)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """MINIMAL_SPEC's model as a classifier of `late` (dense dist_z, load; sparse city_id)."""
    text = MINIMAL_SPEC.replace("status: string}", "status: string, late: int64}").replace(
        "task: regression\n    label: eta", "task: classification\n    label: late")
    path = tmp_path_factory.mktemp("spec") / "late.mlc.yaml"
    path.write_text(text)
    result = build(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir.model("eta")


def schema_doc(model) -> dict:
    """schema.json as mlc.runtime.features.training_set writes it (the fields read here)."""
    return {
        "model": model.name, "shard": "main", "task": model.task, "event_time": "ts",
        "label": {"name": model.label.name, "dtype": model.label.dtype},
        "inputs": {"dense": [{"name": c.name, "dtype": c.dtype} for c in model.dense],
                   "sparse": [{"name": s.name, "dtype": s.dtype, "buckets": s.buckets} for s in model.sparse]},
        "partition_key": None, "split": {"split_at": "2024-06-08T00:00:00Z"},
    }


def rows_table(ids: range) -> "pa.Table":
    """Rows with a unique `load` (= row id, never null); dist_z null every 7th row, city_id null
    every 5th row and out of range every 11th; labels alternate."""
    ids = list(ids)
    return pa.table({
        "dist_z": pa.array([None if i % 7 == 3 else i / 10 for i in ids], pa.float64()),
        "load": pa.array([float(i) for i in ids], pa.float64()),
        "city_id": pa.array([None if i % 5 == 4 else (BUCKETS + 50 if i % 11 == 6 else i % BUCKETS) for i in ids],
                            pa.int64()),
        "late": pa.array([i % 2 for i in ids], pa.int64()),
        "ts": pa.array([START + timedelta(minutes=i) for i in ids], pa.timestamp("us")),
    })


def write_set(root, model, file_rows: list[int], row_group_size: int = 10, schema: dict | None = None) -> str:
    """`<root>/<model>/main/{train,validation}/part-*.parquet` + schema.json; returns the set dir."""
    set_dir = root / model.name / "main"
    train = set_dir / "train"
    train.mkdir(parents=True)
    start = 0
    for i, count in enumerate(file_rows):
        pq.write_table(rows_table(range(start, start + count)), train / f"part-{i:05d}-x.snappy.parquet",
                       row_group_size=row_group_size)
        start += count
    (train / "_SUCCESS").write_text("")
    (set_dir / "schema.json").write_text(json.dumps(schema or schema_doc(model), indent=2, sort_keys=True))
    return str(set_dir)


def row_ids(data) -> list[int]:
    return [int(v) for v in data.features["load"].ravel()]


# ------------------------------------------------------------------ sharding


@pytest.mark.parametrize("size", [1, 2, 3])
def test_rank_shards_are_disjoint_and_complete(tmp_path, model, size):
    set_dir = write_set(tmp_path, model, [45, 0, 30, 17])       # 5 + 3 + 2 non-empty row groups
    assert len(row_groups(split_files(set_dir, "train"))) == 10
    shards = [row_ids(read_split(set_dir, "train", model, rank, size)) for rank in range(size)]
    everything = sorted(i for shard in shards for i in shard)
    assert everything == list(range(92))
    assert all(shard for shard in shards)


def test_ranks_read_whole_row_groups_round_robin(tmp_path, model):
    set_dir = write_set(tmp_path, model, [30, 20])              # row groups of 10 rows: 0..4
    rank1 = row_ids(read_split(set_dir, "train", model, 1, 2))
    assert rank1 == list(range(10, 20)) + list(range(30, 40))   # groups 1 and 3


@pytest.mark.parametrize("size", [2, 3, 4])
def test_fewer_row_groups_than_ranks_slices_rows_contiguously(tmp_path, model, size):
    set_dir = write_set(tmp_path, model, [7], row_group_size=100)    # one row group
    shards = [row_ids(read_split(set_dir, "train", model, rank, size)) for rank in range(size)]
    assert sorted(i for shard in shards for i in shard) == list(range(7))
    assert all(shard == list(range(r * 7 // size, (r + 1) * 7 // size)) for r, shard in enumerate(shards))
    assert all(shard for shard in shards)


def test_rank_out_of_range_is_an_error(tmp_path, model):
    set_dir = write_set(tmp_path, model, [5])
    with pytest.raises(ValueError, match="rank 2"):
        read_split(set_dir, "train", model, rank=2, size=2)


# ------------------------------------------------------------------ values


def test_nulls_and_unknown_ids_are_mapped(tmp_path, model):
    set_dir = write_set(tmp_path, model, [40])
    data = read_split(set_dir, "train", model)
    assert data.rows == 40 and set(data.features) == {"dist_z", "load", "city_id"}
    dist, city = data.features["dist_z"].ravel(), data.features["city_id"].ravel()
    assert data.features["dist_z"].dtype == np.float32 and data.features["dist_z"].shape == (40, 1)
    assert data.features["city_id"].dtype == np.int64 and data.features["city_id"].shape == (40, 1)
    for i in range(40):
        assert dist[i] == pytest.approx(0.0 if i % 7 == 3 else i / 10)
        assert city[i] == (BUCKETS if i % 5 == 4 or i % 11 == 6 else i % BUCKETS)
    assert data.labels.dtype == np.float32 and data.labels.ravel().tolist() == [i % 2 for i in range(40)]


def test_time_range_covers_the_whole_split_on_every_rank(tmp_path, model):
    set_dir = write_set(tmp_path, model, [25, 25])
    ranges = {read_split(set_dir, "train", model, rank, 2).time_range for rank in range(2)}
    assert ranges == {("2024-06-01T00:00:00Z", "2024-06-01T00:49:00Z")}


def test_missing_validation_split_is_empty(tmp_path, model):
    set_dir = write_set(tmp_path, model, [5])
    data = read_split(set_dir, "validation", model)
    assert data.rows == 0 and data.time_range is None
    assert data.features["city_id"].shape == (0, 1) and data.labels.shape == (0, 1)


def test_model_arrays_from_python_lists(model):
    arrays = model_arrays(model, {"dist_z": [1.5, None, float("nan"), float("inf")],
                                  "load": np.array([[1], [2], [3], [4]]),
                                  "city_id": [3, None, -1, BUCKETS + 1], "unused": [0, 0, 0, 0]})
    assert list(arrays) == ["dist_z", "load", "city_id"]
    assert arrays["dist_z"].ravel().tolist() == [1.5, 0.0, 0.0, 0.0]
    assert arrays["load"].dtype == np.float32 and arrays["load"].shape == (4, 1)
    assert arrays["city_id"].ravel().tolist() == [3, BUCKETS, BUCKETS, BUCKETS]
    float_ids = model_arrays(model, {"dist_z": [0.0] * 3, "load": [0.0] * 3, "city_id": np.array([2.0, np.nan, 2.5])})
    assert float_ids["city_id"].ravel().tolist() == [2, BUCKETS, BUCKETS]


def test_model_arrays_errors(model):
    with pytest.raises(ModelInputError, match=r"\['city_id'\]"):
        model_arrays(model, {"dist_z": [1.0], "load": [1.0]})
    with pytest.raises(ModelInputError, match="differ in length"):
        model_arrays(model, {"dist_z": [1.0], "load": [1.0, 2.0], "city_id": [1]})
    with pytest.raises(ModelInputError, match="null"):
        label_array(model, [1, None])
    with pytest.raises(ModelInputError, match=r"\[0, 1\]"):
        label_array(model, [0, 2])
    assert label_array(model, [True, False]).tolist() == [[1.0], [0.0]]


# ------------------------------------------------------------------ schema checks


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(model="other"), "the set is for model `other`"),
    (lambda s: s["label"].update(name="eta"), "label is `eta` in the set, `late` in the model"),
    (lambda s: s["inputs"]["sparse"][0].update(buckets=64), "sparse input `city_id` has 64 buckets in the set, 100"),
    (lambda s: s["inputs"]["dense"].reverse(), "dense inputs are ['load', 'dist_z'] in the set"),
    (lambda s: s.update(task="regression"), "task is `regression` in the set"),
])
def test_schema_mismatch_is_named(tmp_path, model, change, message):
    schema = schema_doc(model)
    change(schema)
    set_dir = write_set(tmp_path, model, [5], schema=schema)
    with pytest.raises(TrainingDataError) as error:
        read_split(set_dir, "train", model)
    assert message in str(error.value) and "schema.json does not match model `eta`" in str(error.value)


def test_missing_schema_or_column_is_an_error(tmp_path, model):
    with pytest.raises(TrainingDataError, match="schema.json: not found"):
        read_split(str(tmp_path), "train", model)
    renamed = dataclasses.replace(model, signature_inputs=model.signature_inputs[:2] + (
        dataclasses.replace(model.signature_inputs[2], name="city_id2"),),
        sparse=(dataclasses.replace(model.sparse[0], name="city_id2"),))
    schema = schema_doc(renamed)
    set_dir = write_set(tmp_path, model, [5], schema=schema)
    with pytest.raises(TrainingDataError, match=r"missing column\(s\) \['city_id2'\]"):
        read_split(set_dir, "train", renamed)


# ------------------------------------------------------------------ tf.data


def test_dataset_batches_and_seeded_reshuffling(tmp_path, model):
    data = read_split(write_set(tmp_path, model, [50]), "train", model)
    dataset = make_dataset(data, batch_size=16, seed=3, shuffle=True)
    batches = list(dataset)
    assert [b[1].shape[0] for b in batches] == [16, 16, 16, 2]
    features, labels = batches[0]
    assert set(features) == {"dist_z", "load", "city_id"} and tuple(features["city_id"].shape) == (16, 1)

    def order(ds):
        return [int(v) for f, _ in ds for v in f["load"].numpy().ravel()]

    first_epoch, second_epoch = order(dataset), order(make_dataset(data, 16, seed=4, shuffle=True))
    assert sorted(first_epoch) == list(range(50)) and first_epoch != second_epoch   # a seed per epoch
    assert order(dataset) == first_epoch                                          # re-iterating repeats it
    assert order(make_dataset(data, 16, seed=3, shuffle=True)) == order(make_dataset(data, 16, seed=3, shuffle=True))
    assert order(make_dataset(data, 16, seed=3, shuffle=False)) == list(range(50))
    assert [b[1].shape[0] for b in make_dataset(data, 16, seed=3, shuffle=False, drop_remainder=True)] == [16] * 3


def test_model_arrays_from_arrow_columns(model):
    arrays = model_arrays(model, {"dist_z": pa.array([1.0, None]), "load": pa.chunked_array([[2.0], [3.0]]),
                                  "city_id": pa.array([7, None], pa.int64())})
    assert arrays["dist_z"].ravel().tolist() == [1.0, 0.0] and arrays["load"].ravel().tolist() == [2.0, 3.0]
    assert arrays["city_id"].ravel().tolist() == [7, BUCKETS]
