"""Training sets from the feature log ("log and wait"): what serving used, joined with labels
that arrived later, so a model trains on exactly the features it will be served
(docs/training-from-logs.md).

    sets, counts = logged_training_sets(spark, ir, module, rows, labels_df, JoinRule(["order_id"], 86400))
    write_training_sets(sets, "out/training")

Per (model, shard) the log has rows for (each logged item is a row; ``rows`` from
:func:`mlc.runtime.consistency.rows.logged_rows`):

1. the row's model inputs are the LOGGED preprocessed signature inputs, typed as the features;
2. its label is the model's label of the EARLIEST row of the training source whose join columns
   equal the row's request fields and whose event time is in ``[request time, request time +
   within)``; rows without one are dropped (counted);
3. the set keeps the columns ``training_sets`` keeps (label, event time = the request time,
   partition key, a hash split's key) and is split by the model's validation rule on the request
   time (``order``/``random``: log order is the position).

Spark does the join; the logged rows go to Spark as a DataFrame built from Python rows (logs are
samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from mlc.core.ir import IR, ModelIR
from mlc.runtime.consistency.recompute import DDL_TYPES, SPARK_TYPES
from mlc.runtime.consistency.rows import Row
from mlc.runtime.features.feature_groups import event_micros
from mlc.runtime.features.splits import POSITION, needs_positions
from mlc.runtime.features.training_set import TrainingSet, kept_columns, shard_partitions, split_set

REQUEST_ID = "request_id"        # the default join: a training-source column holding the logged request id
_REQ, _ITEM, _TIME, _LABEL_TIME = "__mlc_request", "__mlc_item", "__mlc_time", "__mlc_label_time"


@dataclass(frozen=True)
class JoinRule:
    columns: tuple[str, ...]          # request fields = training-source columns; (REQUEST_ID,) joins on the request id
    within_seconds: int
    by_request_id: bool = False


def feature_dtype(module: Any, fields: Mapping[str, str], name: str) -> str:
    return module.FEATURES.get(name) or fields.get(name) or "float64"


def logged_frame(spark: Any, model: ModelIR, rows: Sequence[Row], columns: Mapping[str, str],
                 rule: JoinRule, fields: Mapping[str, str]) -> Any:
    """One Spark row per logged row of ``model``: request id, item, request time (micros), log
    position, the shard, ``columns`` (name -> dtype: model inputs as logged, request fields as
    read offline) and the join keys ``__mlc_join_<i>`` (the raw request fields, read offline)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    names = list(columns)
    joins = [] if rule.by_request_id else list(rule.columns)
    schema = T.StructType(
        [T.StructField(_REQ, T.StringType(), False), T.StructField(_ITEM, T.LongType(), False),
         T.StructField(_TIME, T.LongType(), False), T.StructField(POSITION, T.LongType(), False),
         T.StructField("__mlc_shard", T.StringType(), False)]
        + [T.StructField(f"c{i}", getattr(T, SPARK_TYPES[columns[n]])(), True) for i, n in enumerate(names)]
        + [T.StructField(f"__mlc_join_{i}", getattr(T, SPARK_TYPES[fields[n]])(), True) for i, n in enumerate(joins)])
    data = [tuple([row.request_id, row.item, row.time_us, row.index, row.shard]
                  + [_cell(row, name, columns[name]) for name in names]
                  + [_cell(row, name, fields[name], raw=True) for name in joins])
            for row in rows if row.model == model.name]
    df = spark.createDataFrame(data, schema)
    selected = [F.col(_REQ), F.col(_ITEM), F.col(_TIME), F.col(POSITION), F.col("__mlc_shard")]
    for i, name in enumerate(names):
        col = F.col(f"c{i}")
        selected.append((F.timestamp_micros(col) if columns[name] == "timestamp" else col).alias(name))
    selected += [F.timestamp_micros(F.col(f"__mlc_join_{i}")).alias(f"__mlc_join_{i}")
                 if fields[name] == "timestamp" else F.col(f"__mlc_join_{i}") for i, name in enumerate(joins)]
    return df.select(*selected)


def _cell(row: Row, name: str, dtype: str, raw: bool = False) -> Any:
    """A logged row's value of ``name``: its logged model input (unless ``raw``), else the request
    field as read offline (timestamps: micros)."""
    value = row.features[name] if name in row.features and not raw else row.values.get(name)
    if value is None:
        return None
    if dtype == "float64":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if dtype in ("int64", "timestamp"):
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
    if dtype == "bool":
        return value if isinstance(value, bool) else None
    return value if isinstance(value, str) else None


def labelled(logged: Any, labels: Any, model: ModelIR, event_time: str, rule: JoinRule) -> Any:
    """Each logged row with the label of its earliest matching label row (rows without one dropped)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = [REQUEST_ID] if rule.by_request_id else list(rule.columns)
    label = model.label.name
    right = labels.where(F.col(f"`{label}`").isNotNull()).select(
        *[F.col(f"`{k}`").alias(f"__mlc_key_{i}") for i, k in enumerate(keys)],
        event_micros(labels, event_time).alias(_LABEL_TIME), F.col(f"`{label}`").alias("__mlc_label"))
    left_keys = [F.col(_REQ)] if rule.by_request_id else [F.col(f"__mlc_join_{i}") for i in range(len(keys))]
    condition = [lk == F.col(f"__mlc_key_{i}") for i, lk in enumerate(left_keys)]
    condition += [F.col(_LABEL_TIME) >= F.col(_TIME),
                  F.col(_LABEL_TIME) < F.col(_TIME) + F.lit(rule.within_seconds * 1_000_000)]
    joined = logged.join(right, condition, "inner")
    # one label per logged row (its log position: a retried request id stays two rows)
    first = Window.partitionBy(POSITION).orderBy(F.col(_LABEL_TIME).asc(), F.col("__mlc_label").asc())
    return (joined.withColumn("__mlc_rank", F.row_number().over(first)).where(F.col("__mlc_rank") == 1)
            .drop("__mlc_rank", _LABEL_TIME, *[f"__mlc_key_{i}" for i in range(len(keys))]))


def logged_training_sets(spark: Any, ir: IR, module: Any, fields: Mapping[str, str], rows: Sequence[Row],
                         labels: Mapping[str, Any], rule: JoinRule) -> tuple[dict, dict]:
    """``({(model, shard): TrainingSet}, {(model, shard): counts})`` for the (model, shard)
    pairs the rows were served by. ``labels``: training source name -> its DataFrame."""
    from pyspark.sql import functions as F

    sets, counts = {}, {}
    key = ir.deployment.partition_key
    sources = {s.name: s for s in ir.sources}
    for model in ir.models:
        mine = [r for r in rows if r.model == model.name]
        if not mine:
            continue
        source = sources[model.training.source]
        time_col = source.event_time
        validation = dict(model.training.validation or ())
        keep = kept_columns(model, time_col, key, validation)
        inputs = [t.name for t in model.dense] + [s.name for s in model.sparse]
        columns = {name: feature_dtype(module, fields, name) for name in inputs}
        for name in [k for k in (key, validation.get("key")) if k]:
            if name in fields and name not in columns:
                columns[name] = fields[name]
        frame = labelled(logged_frame(spark, model, mine, columns, rule, fields), labels[source.name], model,
                         time_col, rule).cache()
        frame = frame.withColumn(model.label.name, F.col("__mlc_label").cast(DDL_TYPES[model.label.dtype]))
        if time_col:
            frame = frame.withColumn(time_col, F.timestamp_micros(F.col(_TIME)))
        selected = list(dict.fromkeys(inputs + keep))
        internal = [POSITION] if needs_positions(validation) else []
        for shard in sorted({r.shard for r in mine}):
            part = frame.where(F.col("__mlc_shard") == shard).select(*[F.col(f"`{c}`") for c in selected + internal])
            train, valid, split = split_set(part, time_col, validation)
            train, valid = (df.select(*[F.col(f"`{c}`") for c in selected]) for df in (train, valid))
            logged_rows = sum(1 for r in mine if r.shard == shard)
            labelled_rows = part.count()
            counts[(model.name, shard)] = {"requests": len({r.request_id for r in mine if r.shard == shard}),
                                           "rows_logged": logged_rows, "rows_labelled": labelled_rows,
                                           "rows_unlabelled": logged_rows - labelled_rows}
            sets[(model.name, shard)] = TrainingSet(train, valid, _info(ir, model, shard, time_col, key, selected,
                                                                      columns, validation, split))
    return sets, counts


def _info(ir: IR, model: ModelIR, shard: str, time_col: str | None, key: str | None, selected: list[str],
          columns: Mapping[str, str], validation: dict, split: dict) -> dict:
    dtypes = {**columns, model.label.name: model.label.dtype}
    if time_col:
        dtypes[time_col] = "timestamp"
    return {
        "model": model.name, "shard": shard, "task": model.task,
        "label": {"name": model.label.name, "dtype": model.label.dtype},
        "event_time": time_col, "partition_key": key, "partitions": shard_partitions(ir, shard),
        "columns": [{"name": c, "dtype": dtypes.get(c, "string")} for c in selected],
        "inputs": {"dense": [{"name": c.name, "dtype": c.dtype} for c in model.dense],
                   "sparse": [{"name": s.name, "dtype": s.dtype, "buckets": s.buckets} for s in model.sparse]},
        "feature_groups": list(model.feature_groups), "split": split,
    }
