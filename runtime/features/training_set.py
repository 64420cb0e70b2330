"""Training sets on Spark: labels + point-in-time features + shared preprocessing, split by time
and by shard.

    sets = training_sets(spark, ir, module, fitted, spec_dir, inputs={"orders": "/data/o.csv"})
    train_df, validation_df = sets[("eta_dnn", "east")]
    write_training_sets(sets, "out/training")      # <model>/<shard>/{train,validation}/ + schema.json

Per model:

1. Label rows: the rows of ``training.source`` whose label is not null.
2. Every feature group of the model (``ModelIR.feature_groups``) is point-in-time joined onto
   the label rows (``feature_groups.point_in_time``), its events read from the group's own
   source; the label time is the training source's ``event_time``. Only events strictly before
   the label time count, so a label never sees its own or later events.
3. The generated preprocessing runs on Spark (``transform_spark``); the set keeps only the
   model's inputs (dense, then sparse, in model order), the label, the event time and the
   partition key (when the deployment is sharded).
4. Sharding: with ``deployment.partition_key`` set, one set per shard serving the model: rows
   whose key is in the shard's partitions; the default shard also gets every value listed by no
   other shard, and null keys. Without sharding, one set per shard (the implicit ``main``).
5. Split per set (after sharding, so each shard validates on its own rows), by the rule's
   ``kind``. ``time``: ``split_at: T`` -- rows with event time ``>= T`` are validation;
   ``last_fraction: f`` -- with ``n`` rows and ``m = ceil(n * f)``, the cutoff is the m-th largest
   event time (exact: an ordered top-m, no approximation) and rows with time ``>= cutoff`` are
   validation. Ties at the cutoff all go to validation, so validation can hold slightly more than
   ``f`` of the rows but never shares a timestamp with train (max train time < min validation
   time). ``order`` (the last rows in file order; `last_fraction` on a source without event
   time), ``random`` (a hash of a seed and the row's position in file order) and ``hash`` (a hash
   of a key column): ``mlc.runtime.features.splits``. No validation rule (or an empty set): the validation
   frame is empty. ``schema.json`` records the rule (``split``; ``kind`` absent means ``time``).

A source without event time has no point-in-time join (the checks refuse feature groups on such
a model): its rows are used as they are; ``event_time`` in ``schema.json`` is null.

Native Spark Columns only; the only driver actions are one count and one ``limit``-ed collect
per set for a ``last_fraction`` cutoff.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from mlc.core.ir import IR, ModelIR
from mlc.runtime.features.sources import read_source
from mlc.runtime.features.splits import POSITION, needs_positions, split, with_positions
from mlc.runtime.features.feature_groups import as_of_micros, event_micros, point_in_time
from mlc.runtime.preprocess import transform_spark

SPARK_TO_MLC = {"boolean": "bool", "bigint": "int64", "int": "int64", "smallint": "int64", "tinyint": "int64",
                "double": "float64", "float": "float64", "string": "string", "timestamp": "timestamp",
                "timestamp_ntz": "timestamp"}


class TrainingSet(tuple):
    """``(train_df, validation_df)`` (unpacks as a pair) with ``info``: what ``schema.json``
    records (label, inputs, time, key, dtypes, split rule)."""

    info: dict

    def __new__(cls, train: Any, validation: Any, info: dict) -> "TrainingSet":
        obj = super().__new__(cls, (train, validation))
        obj.info = info
        return obj

    @property
    def train(self) -> Any:
        return self[0]

    @property
    def validation(self) -> Any:
        return self[1]


def parse_time(text: str) -> datetime:
    """ISO-8601 text (``Z`` allowed) as an aware UTC datetime; naive means UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _source(ir: IR, name: str) -> Any:
    return next(s for s in ir.sources if s.name == name)


def _read(spark: Any, ir: IR, name: str, spec_dir: str, inputs: Mapping[str, str] | None) -> Any:
    return read_source(spark, _source(ir, name), spec_dir, (inputs or {}).get(name))


def labelled_features(spark: Any, ir: IR, model: ModelIR | Sequence[ModelIR], spec_dir: str,
                      inputs: Mapping[str, str] | None = None, positions: bool = False,
                      groups: Sequence[str] | None = None) -> Any:
    """The model's label rows (null labels dropped) with every feature group's outputs at the
    label time (``<group>.<output>`` columns); with ``positions``, each row's place in the
    source's file order too (``mlc.runtime.features.splits.POSITION``).

    ``model`` may be several models of one training source (``fitting.fit_by_plan``): then the
    rows are those where at least one of their labels is not null, with the union of their feature
    groups joined. ``groups`` replaces the groups joined (in that order)."""
    from pyspark.sql import functions as F

    models = (model,) if isinstance(model, ModelIR) else tuple(model)
    if not models:
        raise ValueError("labelled_features needs at least one model")
    trained_on = sorted({m.training.source for m in models})
    if len(trained_on) > 1:
        raise ValueError(f"models {[m.name for m in models]} have different training sources {trained_on}")
    source = _source(ir, trained_on[0])
    df = _read(spark, ir, source.name, spec_dir, inputs)
    if positions:
        df = with_positions(df)
    labelled = None
    for label in dict.fromkeys(m.label.name for m in models):
        present = F.col(f"`{label}`").isNotNull()
        labelled = present if labelled is None else labelled | present
    df = df.where(labelled)
    if groups is None:
        groups = list(dict.fromkeys(g for m in models for g in m.feature_groups))
    events_cache: dict[str, Any] = {}
    for group_name in groups:
        group = ir.group(group_name)
        if group.source not in events_cache:
            events_cache[group.source] = _read(spark, ir, group.source, spec_dir, inputs)

        df = point_in_time(df, source.event_time, events_cache[group.source], group,
                           _source(ir, group.source).event_time)
    return df


def _mlc_dtypes(ir: IR, model: ModelIR, df: Any) -> dict[str, str]:
    derived = {d.name: d.dtype for d in ir.derived}
    declared = {i.name: i.dtype for i in ir.inputs}
    out = {}
    for field in df.schema.fields:
        name = field.name
        if name == model.label.name:
            out[name] = model.label.dtype
        elif name in derived:
            out[name] = derived[name]
        elif name in declared:
            out[name] = declared[name]
        else:
            out[name] = SPARK_TO_MLC.get(field.dataType.simpleString(), field.dataType.simpleString())
    return out


def _shards_for(ir: IR, model: ModelIR) -> list[tuple[str, Any]]:
    """(shard name, row condition or None) for every shard serving ``model``."""
    from pyspark.sql import functions as F

    dep = ir.deployment
    shards = [s for s in dep.shards if model.name in s.models]
    if not shards:
        return [("main", None)]
    if not dep.partition_key:
        return [(s.name, None) for s in shards]
    key = F.col(f"`{dep.partition_key}`").cast("string")
    out = []
    for shard in shards:
        own = key.isin(list(shard.partitions)) if shard.partitions else F.lit(False)
        if shard.is_default:
            others = sorted({p for s in dep.shards if s.name != shard.name for p in s.partitions})
            listed = key.isin(others) if others else F.lit(False)
            cond = F.coalesce(own, F.lit(False)) | ~F.coalesce(listed, F.lit(False))
        else:
            cond = F.coalesce(own, F.lit(False))
        out.append((shard.name, cond))
    return out


def split_set(df: Any, time_col: str | None, rule: dict) -> tuple[Any, Any, dict]:
    """(train, validation, split description) of one training set by the model's validation rule
    (``order``/``random`` rules need a ``splits.POSITION`` column)."""
    return _split(df, time_col, rule)


def _split(df: Any, time_col: str | None, rule: dict) -> tuple[Any, Any, dict]:
    """(train, validation, split description) of ``df`` by its rule (event time by default)."""
    from pyspark.sql import functions as F

    if rule.get("kind", "time") != "time":
        return split(df, rule)
    if not rule:
        return df, df.where(F.lit(False)), {"none": True}
    t = event_micros(df, time_col)
    if "split_at" in rule:
        at = as_of_micros(parse_time(str(rule["split_at"])))
        return df.where(t < F.lit(at)), df.where(t >= F.lit(at)), {"split_at": str(rule["split_at"])}
    if "last_fraction" in rule:
        fraction = float(rule["last_fraction"])
        n = df.count()
        m = math.ceil(n * fraction)
        if n == 0 or m == 0:
            return df, df.where(F.lit(False)), {"last_fraction": fraction, "cutoff_unix_micros": None}
        top = df.select(t.alias("__t")).orderBy(F.col("__t").desc()).limit(m)
        cutoff = top.agg(F.min("__t")).collect()[0][0]
        return (df.where(t < F.lit(cutoff)), df.where(t >= F.lit(cutoff)),
                {"last_fraction": fraction, "cutoff_unix_micros": int(cutoff)})
    return df, df.where(F.lit(False)), {"none": True}


def training_sets(spark: Any, ir: IR, module: Any, fitted: Mapping[str, Any] | None, spec_dir: str,
                  inputs: Mapping[str, str] | None = None,
                  models: tuple[str, ...] | None = None) -> dict[tuple[str, str], TrainingSet]:
    """``{(model, shard): (train_df, validation_df)}`` for every model (or those in ``models``)
    and every shard serving it. Values are ``TrainingSet`` pairs carrying schema info."""
    key = ir.deployment.partition_key
    out: dict[tuple[str, str], TrainingSet] = {}
    joined_by: dict[tuple, Any] = {}     # models sharing a source and groups share one join
    for model in ir.models:
        if models is not None and model.name not in models:
            continue
        time_col = _source(ir, model.training.source).event_time
        rule = dict(model.training.validation or ())
        positions = needs_positions(rule)
        shared = (model.training.source, model.label.name, tuple(sorted(model.feature_groups)), positions)
        if shared not in joined_by:
            joined_by[shared] = labelled_features(spark, ir, model, spec_dir, inputs, positions).cache()
        joined = joined_by[shared]
        keep = _kept_columns(model, time_col, key, rule)
        missing = [k for k in keep if k not in joined.columns]
        if missing:
            raise ValueError(f"training source `{model.training.source}` of model `{model.name}` lacks {missing}")
        internal = [POSITION] if positions else []       # dropped once the sets are split
        features = transform_spark(module, joined, fitted, keep=tuple(keep + internal))
        input_names = [c.name for c in model.dense] + [s.name for s in model.sparse]
        columns = list(dict.fromkeys(input_names + keep))
        absent = [c for c in columns if c not in features.columns]
        if absent:
            raise ValueError(f"model `{model.name}` inputs not produced by the preprocessing: {absent}")
        prepared = features.select(*_cols(columns + internal)).cache()
        dtypes = _mlc_dtypes(ir, model, prepared)
        for shard, cond in _shards_for(ir, model):
            rows = prepared if cond is None else prepared.where(cond)
            train, validation, split = _split(rows, time_col, rule)
            train, validation = train.select(*_cols(columns)), validation.select(*_cols(columns))
            info = {
                "model": model.name,
                "shard": shard,
                "task": model.task,
                "label": {"name": model.label.name, "dtype": model.label.dtype},
                "event_time": time_col,
                "partition_key": key,
                "partitions": _partitions(ir, shard),
                "columns": [{"name": c, "dtype": dtypes[c]} for c in columns],
                "inputs": {
                    "dense": [{"name": c.name, "dtype": c.dtype} for c in model.dense],
                    "sparse": [{"name": s.name, "dtype": s.dtype, "buckets": s.buckets} for s in model.sparse],
                },
                "feature_groups": list(model.feature_groups),
                "split": split,
            }
            out[(model.name, shard)] = TrainingSet(train, validation, info)
    return out


def kept_columns(model: ModelIR, time_col: str | None, key: str | None, rule: dict) -> list[str]:
    """Columns a set keeps beside the model's inputs (the label, event time, partition key, a
    hash split's key)."""
    return _kept_columns(model, time_col, key, rule)


def _kept_columns(model: ModelIR, time_col: str | None, key: str | None, rule: dict) -> list[str]:
    """Columns a set keeps beside the model's inputs: the label, the event time, the partition key
    and a hash split's key."""
    keep: list[str] = []
    for name in (model.label.name, time_col, key, rule.get("key") if rule.get("kind") == "hash" else None):
        if name and name not in keep:
            keep.append(name)
    return keep


def _cols(names: list[str]) -> list[Any]:
    from pyspark.sql import functions as F

    return [F.col(f"`{c}`") for c in names]


def shard_partitions(ir: IR, shard: str) -> dict:
    """What ``schema.json`` records of a shard's partitions."""
    return _partitions(ir, shard)


def _partitions(ir: IR, shard: str) -> dict:
    for s in ir.deployment.shards:
        if s.name == shard:
            return {"values": list(s.partitions), "is_default": s.is_default}
    return {"values": [], "is_default": True}


def write_training_sets(sets: Mapping[tuple[str, str], Any], out_dir: str) -> dict[tuple[str, str], dict]:
    """Write ``<out_dir>/<model>/<shard>/{train,validation}/`` (parquet, overwritten) and
    ``<out_dir>/<model>/<shard>/schema.json`` (sorted keys, no timestamps of the run, row counts
    read back from the written files). Returns the schema documents by (model, shard)."""
    docs = {}
    for (model, shard) in sorted(sets):
        pair = sets[(model, shard)]
        train, validation = pair
        info = dict(getattr(pair, "info", None) or {"model": model, "shard": shard})
        base = os.path.join(out_dir, model, shard)
        os.makedirs(base, exist_ok=True)
        spark = train.sparkSession
        rows = {}
        for split, df in (("train", train), ("validation", validation)):
            path = os.path.join(base, split)
            df.write.mode("overwrite").parquet(path)
            rows[split] = spark.read.parquet(path).count()
        if "columns" not in info:
            info["columns"] = [{"name": f.name, "dtype": SPARK_TO_MLC.get(f.dataType.simpleString(), f.dataType.simpleString())}
                               for f in train.schema.fields]
        info["rows"] = rows
        with open(os.path.join(base, "schema.json"), "w", encoding="utf-8") as fh:
            fh.write(json.dumps(info, indent=2, sort_keys=True) + "\n")
        docs[(model, shard)] = info
    return docs
