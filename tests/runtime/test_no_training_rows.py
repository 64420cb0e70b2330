"""Why a training set has no training rows (``data.no_training_rows``), for every cause, and the
trainer failing with that cause instead of "train on fewer workers"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

T0 = np.datetime64("2024-06-01T00:00:00", "us")


def write_set(root: Path, train_minutes: list[int], validation_minutes: list[int], **schema) -> Path:
    """A clicks_lr set (test_training_loop's model) whose splits have rows at these minutes."""
    set_dir = root / "clicks_lr" / schema.get("shard", "main")
    for split, minutes in (("train", train_minutes), ("validation", validation_minutes)):
        (set_dir / split).mkdir(parents=True, exist_ok=True)
        n = len(minutes)
        ts = T0 + np.array(minutes, dtype="timedelta64[m]")
        table = pa.table({"f1": np.zeros(n), "f2": np.zeros(n), "f3": np.zeros(n), "slot_id": np.zeros(n, np.int64),
                          "clicked": np.zeros(n, np.int64), "ts": pa.array(ts, pa.timestamp("us"))})
        pq.write_table(table, str(set_dir / split / "part-00000.parquet"))
    doc = {"model": "clicks_lr", "shard": "main", "task": "classification", "event_time": "ts",
           "label": {"name": "clicked", "dtype": "int64"}, "partition_key": None,
           "partitions": {"values": [], "is_default": True},
           "inputs": {"dense": [{"name": n, "dtype": "float64"} for n in ("f1", "f2", "f3")],
                      "sparse": [{"name": "slot_id", "dtype": "int64", "buckets": 20}]},
           "split": {"last_fraction": 0.2}, "rows": {"train": len(train_minutes), "validation": len(validation_minutes)},
           **schema}
    (set_dir / "schema.json").write_text(json.dumps(doc))
    return set_dir


@pytest.mark.parametrize("schema, cause", [
    ({}, "model `clicks_lr` shard `main` has no rows: the training source has no row with a label (`clicked` not null)"),
    ({"shard": "east", "partition_key": "city", "partitions": {"values": ["x", "y"], "is_default": False}},
     "model `clicks_lr` shard `east` has no rows: no labelled row of the training source has `city` in ['x', 'y']"),
    ({"shard": "rest", "partition_key": "city", "partitions": {"values": [], "is_default": True}},
     "model `clicks_lr` shard `rest` has no rows: no labelled row of the training source has a `city` value no "
     "other shard lists"),
    ({"shard": "rest", "partition_key": "city", "partitions": {"values": ["q"], "is_default": True}},
     "model `clicks_lr` shard `rest` has no rows: no labelled row of the training source has `city` in ['q'] or a "
     "`city` value no other shard lists"),
])
def test_a_set_without_any_row_names_the_partitions_or_the_labels(tmp_path, schema, cause):
    from mlc.runtime.training.data import no_training_rows

    assert no_training_rows(str(write_set(tmp_path, [], [], **schema))) == cause


def test_every_row_in_validation_says_why(tmp_path):
    from mlc.runtime.training.data import no_training_rows

    said = "model `clicks_lr` shard `main`: the time split put all 5 row(s) in validation: "
    assert no_training_rows(str(write_set(tmp_path / "a", [], [0] * 5))) == \
        said + "every row has the same event time (2024-06-01T00:00:00Z)"
    assert no_training_rows(str(write_set(tmp_path / "b", [], [0, 0, 0, 0, 9]))) == \
        said + ("the `last_fraction: 0.2` cutoff is the earliest event time (2024-06-01T00:00:00Z) and rows at "
                "the cutoff all go to validation (many rows share that time)")
    assert no_training_rows(str(write_set(tmp_path / "c", [], [5, 6, 7, 8, 9], split={"split_at": "2024-05-01"}))) == \
        said + "every row's event time is at or after `split_at: 2024-05-01` (the earliest is 2024-06-01T00:05:00Z)"
    assert no_training_rows(str(write_set(tmp_path / "d", [1], [5]))) is None


def test_a_split_by_file_order_or_hash_is_named_as_such(tmp_path):
    from mlc.runtime.training.data import no_training_rows

    order = write_set(tmp_path / "a", [], [0] * 4, event_time=None, split={"kind": "order", "last_fraction": 0.9})
    assert no_training_rows(str(order)) == ("model `clicks_lr` shard `main`: the file-order split put all 4 row(s) "
                                            "in validation: the validation rule (kind: order, last_fraction: 0.9) "
                                            "selected every row")
    hashed = write_set(tmp_path / "b", [], [0] * 3, split={"kind": "hash", "fraction": 0.5, "key": "user"})
    assert no_training_rows(str(hashed)).startswith("model `clicks_lr` shard `main`: the hash split put all 3 row(s)")


def test_the_trainer_fails_with_the_cause_not_with_fewer_workers(tmp_path):
    import importlib.util

    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.trainer import NoTrainingRows, TrainingError, train

    path = Path(__file__).resolve().with_name("test_training_loop.py")
    spec = importlib.util.spec_from_file_location("_mlc_no_rows_helpers", path)
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    set_dir = write_set(tmp_path / "sets", [], [0] * 100)
    with pytest.raises(NoTrainingRows) as raised:
        train(helpers.clicks_model(tmp_path), str(set_dir), str(tmp_path / "out"), cluster=LocalCluster())
    assert isinstance(raised.value, TrainingError)
    assert str(raised.value) == ("model `clicks_lr` shard `main`: the time split put all 100 row(s) in validation: "
                                 "every row has the same event time (2024-06-01T00:00:00Z)")
    assert not (tmp_path / "out" / "repository").exists()
