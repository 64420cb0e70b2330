"""The offline side of ``mlc consistency``, on Spark: what training would have computed for each
logged row.

- feature-group outputs point in time at the request time (``point_in_time``, the training-set
  join) from the offline sources (``read_source``, ``--input`` overrides honoured);
- the same at the logged materialisation time (``as_of_us``) for the rows a stale record may
  explain (:func:`recompute_stale`);
- the preprocessing (``transform_spark``) of the rows' raw fields, read as the offline reader
  reads them (:mod:`mlc.runtime.consistency.rows`), with the offline group outputs.

The compared columns are collected to the driver (logs are samples; ``--max-requests`` caps them).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from mlc.core.ir import IR, FeatureGroupIR
from mlc.runtime.consistency.rows import Row
from mlc.runtime.features.feature_groups import point_in_time
from mlc.runtime.features.sources import read_source
from mlc.runtime.preprocess import transform_spark

ROW = "__mlc_row"
TIME = "__mlc_time"
SPARK_TYPES = {"bool": "BooleanType", "int64": "LongType", "float64": "DoubleType", "string": "StringType",
               "timestamp": "LongType"}
DDL_TYPES = {"bool": "boolean", "int64": "bigint", "float64": "double", "string": "string", "timestamp": "timestamp"}


def groups_read(ir: IR, rows: Sequence[Row]) -> list[FeatureGroupIR]:
    """The feature groups of the models the rows were served by (spec order)."""
    models = {r.model for r in rows}
    names = {g for m in ir.models if m.name in models for g in m.feature_groups}
    return [g for g in ir.feature_groups if g.name in names]


class Events:
    """Each source read once (``overrides``: source -> path, as ``mlc run --input``)."""

    def __init__(self, spark: Any, ir: IR, spec_dir: str, overrides: Mapping[str, str] | None = None):
        self.spark, self.spec_dir, self.overrides = spark, spec_dir, dict(overrides or {})
        self.sources = {s.name: s for s in ir.sources}
        self.frames: dict[str, Any] = {}

    def of(self, group: FeatureGroupIR) -> tuple[Any, str]:
        source = self.sources[group.source]
        if source.name not in self.frames:
            self.frames[source.name] = read_source(self.spark, source, self.spec_dir, self.overrides.get(source.name))
        return self.frames[source.name], source.event_time


def rows_frame(spark: Any, rows: Sequence[Row], fields: Mapping[str, str], times: Sequence[int | None]) -> Any:
    """A DataFrame: the row number, the label time ``TIME`` (timestamp, from ``times``: micros)
    and one column per request field, typed (timestamps from micros)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    names = sorted(fields)
    schema = T.StructType([T.StructField(ROW, T.LongType(), False), T.StructField(TIME, T.LongType(), True)]
                          + [T.StructField(f"c{i}", getattr(T, SPARK_TYPES[fields[n]])(), True)
                             for i, n in enumerate(names)])
    data = [tuple([row.index, time] + [row.values.get(n) for n in names]) for row, time in zip(rows, times)]
    df = spark.createDataFrame(data, schema)
    cols = [F.col(ROW), F.timestamp_micros(F.col(TIME)).alias(TIME)]
    for i, name in enumerate(names):
        col = F.col(f"c{i}")
        cols.append((F.timestamp_micros(col) if fields[name] == "timestamp" else col).alias(name))
    return df.select(*cols)


def with_groups(df: Any, groups: Iterable[FeatureGroupIR], events: Events) -> Any:
    for group in groups:
        events_df, event_time = events.of(group)
        df = point_in_time(df, TIME, events_df, group, event_time)
    return df


def plain(col: Any, dtype: str, name: str) -> Any:
    """A column as it is compared: timestamps as unix microseconds."""
    from pyspark.sql import functions as F

    return (F.unix_micros(col) if dtype == "timestamp" else col).alias(name)


def collected(df: Any, columns: Mapping[str, tuple[Any, str]]) -> dict[int, dict[str, Any]]:
    """``{row: {name: value}}`` of ``columns`` (name -> (Column, dtype)) over ``df``."""
    from pyspark.sql import functions as F

    names = list(columns)
    selected = [F.col(ROW)] + [plain(col, dtype, f"v{i}") for i, (col, dtype) in enumerate(columns.values())]
    return {r[0]: dict(zip(names, r[1:])) for r in df.select(*selected).collect()}


def recompute(spark: Any, ir: IR, module: Any, fitted: Mapping[str, Any], rows: Sequence[Row],
              fields: Mapping[str, str], events: Events) -> dict[int, dict[str, Any]]:
    """``{row: {name: offline value}}`` for every `group.output` of the groups the rows' models
    read and every signature input of those models."""
    from pyspark.sql import functions as F

    groups = groups_read(ir, rows)
    df = with_groups(rows_frame(spark, rows, fields, [r.time_us for r in rows]), groups, events)
    outputs = {f"{g.name}.{o.name}": o.dtype for g in groups for o in g.outputs}
    for name, dtype in {**module.GROUP_OUTPUTS, **module.INPUTS}.items():
        if name not in df.columns:               # read by no logged model: null, as its type
            df = df.withColumn(name, F.lit(None).cast(DDL_TYPES[dtype]))
    frame = transform_spark(module, df, fitted, keep=(ROW, *fields, *outputs))
    columns: dict[str, tuple[Any, str]] = {name: (F.col(f"`{name}`"), dtype) for name, dtype in outputs.items()}
    models = {r.model for r in rows}
    for model in ir.models:
        if model.name not in models:
            continue
        for tensor in model.signature_inputs:
            if tensor.name in module.FEATURES:
                columns[tensor.name] = (F.col(f"`{tensor.name}`"), module.FEATURES[tensor.name])
            elif tensor.name in fields:
                columns[tensor.name] = (F.col(f"`{tensor.name}`"), fields[tensor.name])
    return collected(frame, columns)


def recompute_stale(spark: Any, ir: IR, candidates: Mapping[str, Sequence[Row]], fields: Mapping[str, str],
                    events: Events) -> dict[tuple[str, int], dict[str, Any]]:
    """``{(group, row): {`group.output`: value at the row's logged as_of}}`` for ``candidates``
    (group -> rows whose record of it may be stale)."""
    from pyspark.sql import functions as F

    out: dict[tuple[str, int], dict[str, Any]] = {}
    for name, rows in sorted(candidates.items()):
        if not rows:
            continue
        group = ir.group(name)
        keys = {k.name: fields[k.name] for k in group.keys if k.name in fields}
        df = with_groups(rows_frame(spark, rows, keys, [r.as_of.get(name) for r in rows]), [group], events)
        columns = {f"{name}.{o.name}": (F.col(f"`{name}.{o.name}`"), o.dtype) for o in group.outputs}
        for row, values in collected(df, columns).items():
            out[(name, row)] = values
    return out
