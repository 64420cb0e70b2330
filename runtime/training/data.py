"""Reading one split of a training set (``mlc.runtime.features.training_set`` layout) into model arrays,
sharded per Horovod rank, and turning it into a ``tf.data.Dataset``.

    data = read_split("out/training/eta_dnn/east", "train", model_ir, rank=hvd.rank(), size=hvd.size())
    dataset = make_dataset(data, batch_size=256, seed=7, shuffle=True)

Layout: ``<set_dir>/schema.json`` and ``<set_dir>/{train,validation}/*.parquet`` (Spark part
files; ``_SUCCESS`` and hidden files are ignored). ``schema.json`` must describe this model:
same model name, task, label and inputs (dense names in order; sparse names, in order, and
bucket counts), else ``TrainingDataError`` names the mismatch.

Sharding (``rank`` of ``size``): the split's (file, row group) pairs are enumerated with files
in sorted name order and row groups in file order; empty row groups are skipped. Rank ``r``
reads the pairs whose index ``% size == r``: whole row groups, read column-wise with pyarrow,
no rank reads another's rows. When the split has fewer non-empty row groups than ranks, every
rank reads the whole split and keeps the contiguous rows ``[r*n//size, (r+1)*n//size)``, so
each rank still gets rows (when ``n >= size``). Either way the ranks' shards are disjoint and
together cover the split exactly once. Shards can differ in size: a synchronous (Horovod) loop
must agree on a common number of steps per epoch (e.g. the minimum over ranks of
``rows // batch_size``).

Values go through ``inputs.model_arrays`` / ``inputs.label_array`` (the mapping serving uses):
nulls never reach the model. ``time_range`` is the (min, max) event time of the WHOLE split
(not of the rank's shard, so every rank reports the same range), as ISO-8601 UTC text, or None
when the split is empty or the set records no event-time column.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlc.core.ir import ModelIR
from mlc.runtime.training.inputs import label_array, model_arrays, sparse_buckets
from mlc.core.errors import MlcError

SPLITS = ("train", "validation")


class TrainingDataError(MlcError, ValueError):
    """The training set cannot feed this model (schema mismatch, missing files or columns)."""
    code = "E7007"


@dataclass
class SplitData:
    """One rank's rows of a split, already mapped to model inputs."""

    features: dict[str, np.ndarray]      # signature input name -> (rows, 1) float32 / int64
    labels: np.ndarray                   # (rows, 1) float32
    rows: int
    time_range: tuple[str, str] | None   # (min, max) event time of the whole split, ISO-8601 UTC


@dataclass(frozen=True)
class RowGroup:
    path: str
    index: int
    rows: int


def read_split(set_dir: str, split: str, model: ModelIR, rank: int = 0, size: int = 1) -> SplitData:
    """Rank ``rank`` of ``size``'s share of ``<set_dir>/<split>/`` as model arrays."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not `{split}`")
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank {rank} is not in 0..{size - 1}")
    schema = read_schema(set_dir)
    check_schema(schema, model, set_dir)
    columns = needed_columns(model)
    files = split_files(set_dir, split)
    groups = row_groups(files)
    table = read_shard(groups, columns, rank, size)
    features, labels = table_arrays(table, model, set_dir)
    return SplitData(features, labels, table.num_rows, split_time_range(files, schema.get("event_time")))


def read_schema(set_dir: str) -> dict:
    path = os.path.join(set_dir, "schema.json")
    if not os.path.isfile(path):
        raise TrainingDataError(f"{path}: not found (is {set_dir} a training set directory?)")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def check_schema(schema: dict, model: ModelIR, where: str = "training set") -> None:
    """Raise ``TrainingDataError`` naming the first difference between the set and the model."""
    problems = schema_mismatches(schema, model)
    if problems:
        raise TrainingDataError(f"{where}: schema.json does not match model `{model.name}`: " + "; ".join(problems))


def schema_mismatches(schema: dict, model: ModelIR) -> list[str]:
    problems = []
    if schema.get("model") != model.name:
        problems.append(f"the set is for model `{schema.get('model')}`")
    if schema.get("task", model.task) != model.task:
        problems.append(f"task is `{schema.get('task')}` in the set, `{model.task}` in the model")
    label = (schema.get("label") or {}).get("name")
    if label != model.label.name:
        problems.append(f"label is `{label}` in the set, `{model.label.name}` in the model")
    inputs = schema.get("inputs") or {}
    dense = [d.get("name") for d in inputs.get("dense", [])]
    if dense != [c.name for c in model.dense]:
        problems.append(f"dense inputs are {dense} in the set, {[c.name for c in model.dense]} in the model")
    sparse = [(s.get("name"), s.get("buckets")) for s in inputs.get("sparse", [])]
    expected = [(s.name, s.buckets) for s in model.sparse]
    if [n for n, _ in sparse] != [n for n, _ in expected]:
        problems.append(f"sparse inputs are {[n for n, _ in sparse]} in the set, {[n for n, _ in expected]} in the model")
    else:
        problems.extend(f"sparse input `{n}` has {b} buckets in the set, {eb} in the model"
                        for (n, b), (_, eb) in zip(sparse, expected) if b != eb)
    return problems


def needed_columns(model: ModelIR) -> list[str]:
    return [t.name for t in model.signature_inputs] + [model.label.name]


def split_files(set_dir: str, split: str) -> list[str]:
    """The split's parquet files in sorted name order (none when the directory is absent)."""
    directory = os.path.join(set_dir, split)
    if not os.path.isdir(directory):
        return []
    names = sorted(n for n in os.listdir(directory) if not n.startswith(("_", ".")) and n.endswith(".parquet"))
    return [os.path.join(directory, n) for n in names]


def row_groups(files: list[str]) -> list[RowGroup]:
    """Non-empty (file, row group) pairs, files in the given order, row groups in file order."""
    groups = []
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        groups.extend(RowGroup(path, i, metadata.row_group(i).num_rows)
                      for i in range(metadata.num_row_groups) if metadata.row_group(i).num_rows > 0)
    return groups


def shard_plan(groups: list[RowGroup], rank: int, size: int) -> tuple[list[RowGroup], slice | None]:
    """What rank ``rank`` reads: its row groups (index % size == rank) and no slice; or, with
    fewer row groups than ranks, every row group and the contiguous slice of its rows."""
    if len(groups) >= size:
        return [g for i, g in enumerate(groups) if i % size == rank], None
    total = sum(g.rows for g in groups)
    return groups, slice(rank * total // size, (rank + 1) * total // size)


def read_shard(groups: list[RowGroup], columns: list[str], rank: int, size: int) -> pa.Table:
    mine, rows = shard_plan(groups, rank, size)
    tables = [read_groups(path, [g.index for g in mine if g.path == path], columns)
              for path in dict.fromkeys(g.path for g in mine)]
    if not tables:
        return empty_table(columns)
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return table if rows is None else table.slice(rows.start, rows.stop - rows.start)


def read_groups(path: str, indices: list[int], columns: list[str]) -> pa.Table:
    parquet = pq.ParquetFile(path)
    missing = [c for c in columns if c not in parquet.schema_arrow.names]
    if missing:
        raise TrainingDataError(f"{path}: missing column(s) {missing}")
    return parquet.read_row_groups(indices, columns=columns)


def empty_table(columns: list[str]) -> pa.Table:
    return pa.table({c: pa.array([], pa.float64()) for c in columns})


def table_arrays(table: pa.Table, model: ModelIR, where: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Arrow columns -> ``model_arrays`` / ``label_array`` (nulls filled vectorised first)."""
    buckets = sparse_buckets(model)
    columns = {}
    for tensor in model.signature_inputs:
        column = table.column(tensor.name)
        if tensor.name in buckets and not pa.types.is_floating(column.type):
            columns[tensor.name] = pc.fill_null(pc.cast(column, pa.int64()), -1).to_numpy()
        else:
            columns[tensor.name] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    label = pc.cast(table.column(model.label.name), pa.float64()).to_numpy(zero_copy_only=False)
    try:
        return model_arrays(model, columns), label_array(model, label)
    except ValueError as error:
        raise TrainingDataError(f"{where}: {error}") from error


def split_time_range(files: list[str], event_time: str | None) -> tuple[str, str] | None:
    """(min, max) of the event-time column over all the split's files (one column read)."""
    if not event_time or not files:
        return None
    if event_time not in pq.ParquetFile(files[0]).schema_arrow.names:
        return None
    column = pa.chunked_array([pq.read_table(f, columns=[event_time]).column(0) for f in files])
    bounds = pc.min_max(column)
    if not bounds["min"].is_valid:
        return None
    return iso_time(bounds["min"].as_py()), iso_time(bounds["max"].as_py())


def split_rows(set_dir: str, split: str) -> int:
    """Rows of a split, from the parquet footers (no data read); 0 when the split is absent."""
    return sum(g.rows for g in row_groups(split_files(set_dir, split)))


_SPLIT_NAMES = {"time": "time", "order": "file-order", "random": "random", "hash": "hash"}


def no_training_rows(set_dir: str) -> str | None:
    """None when the set's train split has rows; else the real cause, for the user: the shard's
    partitions match no labelled row, or the time split put every row in validation (and why:
    every row has the same event time, a ``split_at`` before every row, a ``last_fraction`` cutoff
    that is the earliest event time). Reads the footers, schema.json and, when needed, the
    validation split's event-time column."""
    if split_rows(set_dir, "train"):
        return None
    schema = read_schema(set_dir)
    where = f"model `{schema.get('model')}` shard `{schema.get('shard')}`"
    validation = split_rows(set_dir, "validation")
    if validation == 0:
        return f"{where} has no rows: {_no_rows_cause(schema)}"
    split = schema.get("split") or {}
    times = split_time_range(split_files(set_dir, "validation"), schema.get("event_time"))
    kind = split.get("kind", "time")
    by_time = kind == "time" and ("split_at" in split or "last_fraction" in split)
    said = f"{where}: the {_SPLIT_NAMES.get(kind, 'validation')} split put all {validation} row(s) in validation"
    if by_time and times and times[0] == times[1]:
        cause = f"every row has the same event time ({times[0]})"
    elif by_time and "split_at" in split:
        earliest = f" (the earliest is {times[0]})" if times else ""
        cause = f"every row's event time is at or after `split_at: {split['split_at']}`{earliest}"
    elif by_time and "last_fraction" in split and times:
        cause = (f"the `last_fraction: {split['last_fraction']}` cutoff is the earliest event time ({times[0]}) and "
                 f"rows at the cutoff all go to validation (many rows share that time)")
    else:
        rule = ", ".join(f"{k}: {v}" for k, v in sorted(split.items())) or "none recorded"
        cause = f"the validation rule ({rule}) selected every row"
    return f"{said}: {cause}"


def _no_rows_cause(schema: dict) -> str:
    key = schema.get("partition_key")
    partitions = schema.get("partitions") or {}
    values = list(partitions.get("values") or [])
    label = (schema.get("label") or {}).get("name")
    if not key:
        return f"the training source has no row with a label (`{label}` not null)"
    listed = f"`{key}` in {values}" if values else None
    if partitions.get("is_default"):
        others = f"a `{key}` value no other shard lists"
        return f"no labelled row of the training source has {listed + ' or ' + others if listed else others}"
    return f"no labelled row of the training source has {listed}"


def iso_time(value: Any) -> str:
    """A timestamp as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (naive means UTC); other values as text."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat() + "Z"
    return str(value)


def make_dataset(data: SplitData, batch_size: int, seed: int, shuffle: bool, drop_remainder: bool = False) -> Any:
    """``tf.data.Dataset`` of ``(features_dict, labels)`` batches. With ``shuffle``, the row order
    is a seeded permutation (the trainer builds one dataset per epoch with a per-epoch seed);
    each batch is then ONE gather of ``batch_size`` rows per column, in the graph -- never a
    row-by-row shuffle buffer, which was 7k rows/s against ~100k for gathers (bench/RESULTS.md)."""
    import numpy as np
    import tensorflow as tf

    rows = data.rows
    order = np.random.default_rng(seed).permutation(rows) if shuffle else np.arange(rows)
    count = rows // batch_size if drop_remainder else -(-rows // batch_size)
    order = tf.constant(order.astype(np.int64))
    features = {name: tf.constant(values) for name, values in data.features.items()}
    labels = tf.constant(data.labels)

    def gather(batch: Any) -> Any:
        start = batch * batch_size
        index = order[start:tf.minimum(start + batch_size, rows)]
        return {name: tf.gather(values, index) for name, values in features.items()}, tf.gather(labels, index)

    dataset = tf.data.Dataset.range(count).map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
