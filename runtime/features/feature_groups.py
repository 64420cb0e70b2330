"""Windowed feature-group computation on Spark (offline): snapshots and point-in-time joins.

Native Spark only (no Python UDFs, nothing collected to the driver). Filter and aggregation
argument trees are evaluated with the Spark executor (``mlc.runtime.spark_ops.SparkOps``).

Window convention (both functions): at time ``T`` an event with event time ``t`` is in window
``w`` iff ``T - w <= t < T`` -- the lower bound is inclusive, the upper bound exclusive, so an
event exactly at ``T`` never counts (no leakage) and an event exactly ``w`` before ``T`` does.
Times compare at microsecond precision; an ``int64`` event/label time is unix seconds.

Real-time groups (``group.realtime``, a source with ``stream:``): a window's tail moves in whole
tiles, ``floor(T - w, tile) <= t < T`` (see ``window_start`` and mlc.runtime.online_store.tiles),
and ``approx_count_distinct`` is exact over 64-bit ``xxhash64`` values, as the online side is.

Defaults: where an aggregation has no value (no filtered event in the window, or ``last`` of a
null) the output takes its default from ``group.defaults``: the spec's ``defaults``, else 0 for
``count`` and ``approx_count_distinct``, else null. The online retrieval applies the same
defaults to missing records, so training and serving agree. ``sum/avg/min/max`` and
``approx_count_distinct`` skip null argument values. ``last(x)`` is ``x`` of the latest event in
the window; ties on event time are broken by the largest ``x`` (null lowest).

See runtime/README.md ("Feature groups") for the point-in-time algorithm and its cost.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mlc.core.ir import FeatureGroupIR, output_name
from mlc.backends.preprocess.codegen import constant_positions
from mlc.runtime.spark_ops import SparkOps
from mlc.runtime.spark_ops.core import SPARK_TYPES

MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Internal column names (prefixed so they never clash with user columns).
_T = "__mlc_t"
_LT = "__mlc_label_t"
_ROW = "__mlc_row"
_LABEL = "__mlc_label"
_KEY = "__mlc_k{}"
_ARG = "__mlc_a{}"
# The columns of ``prepare_events`` (read by mlc.runtime.features.tiling)
TIME_COLUMN, KEY_COLUMN, ARG_COLUMN = _T, _KEY, _ARG


def columns_for(tree: dict, ops: Any) -> Any:
    """The Spark Column of an expression tree (JSON form) evaluated with ``ops`` (a SparkOps)."""
    return _eval(tree, ops).col


def _eval(tree: dict, ops: Any) -> Any:
    kind = tree["kind"]
    if kind == "ref":
        return ops.input(tree["name"], tree["dtype"])
    if kind == "constant":
        return ops.const(tree["value"], tree["dtype"])
    if kind == "unary":
        return ops.unary(tree["op"], _eval(tree["operand"], ops), tree["dtype"])
    if kind == "binary":
        return ops.binary(tree["op"], _eval(tree["left"], ops), _eval(tree["right"], ops), tree["dtype"])
    if kind == "in":
        options = [_eval(o, ops) for o in tree["options"]]
        return ops.isin(_eval(tree["value"], ops), options, tree["negated"], tree["dtype"])
    if kind == "list":
        return [_eval(o, ops) for o in tree.get("items", tree.get("values", []))]
    if kind == "call":
        function, args = tree["function"], tree["args"]
        constants = constant_positions(function, len(args))
        values = []
        for i, arg in enumerate(args):
            if i in constants:
                if arg["kind"] != "constant":
                    raise ValueError(f"argument {i + 1} of `{function}` must be constant")
                values.append(arg["value"])
            else:
                values.append(_eval(arg, ops))
        return ops.call(function, tree["dtype"], *values)
    raise ValueError(f"cannot evaluate a `{kind}` node in a feature group")


def event_micros(df: Any, name: str) -> Any:
    """``name`` of ``df`` as unix microseconds (bigint): a timestamp, or int seconds."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtype = df.schema[name].dataType
    col = F.col(f"`{name}`")
    if isinstance(dtype, T.TimestampType):
        return F.unix_micros(col)
    if isinstance(dtype, T.TimestampNTZType):
        return F.unix_micros(col.cast("timestamp"))   # session time zone is UTC
    if isinstance(dtype, (T.LongType, T.IntegerType, T.ShortType, T.ByteType)):
        return col.cast("bigint") * F.lit(MICROS)
    raise TypeError(f"time column `{name}` must be a timestamp or int64 unix seconds, not {dtype.simpleString()}")


def as_of_micros(as_of: Any) -> int:
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=timezone.utc)
        delta = as_of - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds
    if isinstance(as_of, int) and not isinstance(as_of, bool):
        return as_of * MICROS                      # unix seconds
    raise TypeError("as_of must be a datetime (UTC) or int unix seconds")


def prepare_events(events_df: Any, group: FeatureGroupIR, event_time: str) -> Any:
    """Events projected to keys ``__mlc_k<i>``, time ``__mlc_t`` (micros) and evaluated arguments
    ``__mlc_a<j>``, with the group's filter applied (a null filter result drops the event)."""
    from pyspark.sql import functions as F

    ops = SparkOps(events_df)
    df = events_df
    if group.filter is not None:
        df = df.where(F.coalesce(columns_for(group.filter, ops), F.lit(False)))
    cols = [F.col(f"`{k.name}`").alias(_KEY.format(i)) for i, k in enumerate(group.keys)]
    cols.append(event_micros(events_df, event_time).alias(_T))
    for j, agg in enumerate(group.aggregations):
        if agg.argument is not None:
            cols.append(columns_for(agg.argument, ops).alias(_ARG.format(j)))
    return df.select(*cols)


def _aggregates(group: FeatureGroupIR, now: Any, name: Any) -> list:
    """Conditional aggregations, one per output, all in one pass. ``now``: the reference time
    (micros Column); rows with a null event time (no match) never count."""
    from pyspark.sql import functions as F

    t = F.col(_T)
    dtypes = {o.name: o.dtype for o in group.outputs}
    defaults = dict(group.defaults)
    exprs = []
    for j, agg in enumerate(group.aggregations):
        arg = F.col(_ARG.format(j)) if agg.argument is not None else None
        for w in group.windows:
            output = output_name(agg.name, w.name)
            in_w = (t >= window_start(group, w, now)) & (t < now)
            f = agg.function
            if f == "count":
                value = F.count(F.when(in_w, F.lit(1)))
            elif f == "sum":
                value = F.sum(F.when(in_w, arg))
            elif f == "avg":
                value = F.avg(F.when(in_w, arg))
            elif f == "min":
                value = F.min(F.when(in_w, arg))
            elif f == "max":
                value = F.max(F.when(in_w, arg))
            elif f == "last":
                # max over (time, value): the latest event; ties by the largest value (null lowest)
                value = F.max(F.when(in_w, F.struct(t.alias("t"), arg.alias("v")))).getField("v")
            elif f == "approx_count_distinct" and group.realtime:
                # exact over 64-bit hashes: the tiles of the online side keep the same hashes
                value = F.count_distinct(F.when(in_w & arg.isNotNull(), F.xxhash64(arg)))
            elif f == "approx_count_distinct":
                value = F.approx_count_distinct(F.when(in_w, arg))
            else:
                raise ValueError(f"unknown aggregation `{f}` in feature group `{group.name}`")
            value = value.cast(SPARK_TYPES[dtypes[output]])
            if output in defaults:
                value = F.coalesce(value, _default_literal(defaults[output], dtypes[output]))
            exprs.append(value.alias(name(output)))
    return exprs


def window_start(group: FeatureGroupIR, window: Any, now: Any) -> Any:
    """The first microsecond of ``window`` at ``now`` (a Column): ``now - w``, or for a real-time
    group ``floor(now - w, tile)`` (its tail moves in whole tiles, as the online tiles do)."""
    from pyspark.sql import functions as F

    start = now - F.lit(window.seconds * MICROS)
    if not group.realtime:
        return start
    tile = F.lit(group.tile_of(window.name) * MICROS)
    return start - F.pmod(start, tile)


def longest_reach(group: FeatureGroupIR) -> int:
    """How far back (microseconds) any window of the group reaches from its reference time."""
    return max(w.seconds + (group.tile_of(w.name) if group.realtime else 0) for w in group.windows) * MICROS


def _default_literal(value: Any, dtype: str) -> Any:
    from pyspark.sql import functions as F

    if dtype == "timestamp":
        return F.timestamp_micros(F.lit(int(value)))
    return F.lit(value).cast(SPARK_TYPES[dtype])


def _ordered(group: FeatureGroupIR, exprs: list) -> list:
    """Reorder the (aggregation, window) expressions into ``group.outputs`` order."""
    by_name = {}
    i = 0
    for agg in group.aggregations:
        for w in group.windows:
            by_name[output_name(agg.name, w.name)] = exprs[i]
            i += 1
    return [by_name[o.name] for o in group.outputs]


def snapshot(events_df: Any, group: FeatureGroupIR, event_time: str, as_of: Any) -> Any:
    """One row per entity key with every output of ``group`` as of ``as_of`` (UTC datetime, or int
    unix seconds). Columns: the key columns, then ``group.outputs`` by plain name.

    Rows: every entity key with at least one event (before filtering) at ``t < as_of`` -- an
    entity whose events all fail the filter, or fall out of every window, gets the defaults.
    One aggregation job over the data, whatever the number of windows."""
    from pyspark.sql import functions as F

    now_us = as_of_micros(as_of)
    ops = SparkOps(events_df)
    raw_t = event_micros(events_df, event_time)
    # The filter nulls the event time instead of dropping the row, so an entity whose events all
    # fail it still gets a row (with the defaults); a null time is in no window.
    passes = F.lit(True) if group.filter is None else F.coalesce(columns_for(group.filter, ops), F.lit(False))
    cols = [F.col(f"`{k.name}`").alias(_KEY.format(i)) for i, k in enumerate(group.keys)]
    cols += [F.when(passes, raw_t).alias(_T), raw_t.alias("__mlc_raw_t")]
    for j, agg in enumerate(group.aggregations):
        if agg.argument is not None:
            cols.append(columns_for(agg.argument, ops).alias(_ARG.format(j)))
    events = events_df.select(*cols).where(F.col("__mlc_raw_t") < F.lit(now_us))
    key_cols = [_KEY.format(i) for i in range(len(group.keys))]
    exprs = _ordered(group, _aggregates(group, F.lit(now_us), lambda o: o))
    out = events.groupBy(*key_cols).agg(*exprs)
    renames = [F.col(_KEY.format(i)).alias(k.name) for i, k in enumerate(group.keys)]
    return out.select(*renames, *[F.col(f"`{o.name}`") for o in group.outputs])


def point_in_time(labels_df: Any, label_time: str, events_df: Any, group: FeatureGroupIR,
                  event_time: str) -> Any:
    """Every row of ``labels_df`` (all its columns kept) with ``<group>.<output>`` columns: the
    group's outputs as they were at that row's ``label_time``, from events with
    ``label_time - w <= t < label_time`` only. ``labels_df`` must carry the group's key columns.

    Algorithm: number label rows once (``monotonically_increasing_id``), left-join them to the
    filtered events on the entity keys with ``label_t - max(w) <= t < label_t``, then aggregate
    per label row with one conditional aggregation per (aggregation, window)."""
    from pyspark.sql import functions as F

    missing = [k.name for k in group.keys if k.name not in labels_df.columns]
    if missing:
        raise ValueError(f"labels lack the key column(s) {missing} of feature group `{group.name}`")
    longest = longest_reach(group)
    label_cols = labels_df.columns
    labels = labels_df.select(
        F.monotonically_increasing_id().alias(_ROW),
        F.struct(*[F.col(f"`{c}`") for c in label_cols]).alias(_LABEL),
        *[F.col(f"`{k.name}`").alias(f"__mlc_lk{i}") for i, k in enumerate(group.keys)],
        event_micros(labels_df, label_time).alias(_LT),
    )
    events = prepare_events(events_df, group, event_time)
    lt, t = F.col(_LT), F.col(_T)
    condition = (t < lt) & (t >= lt - F.lit(longest))
    for i in range(len(group.keys)):
        condition = condition & (F.col(f"__mlc_lk{i}") == F.col(_KEY.format(i)))
    joined = labels.join(events, condition, "left")
    exprs = _ordered(group, _aggregates(group, lt, lambda o: f"{group.name}.{o}"))
    # The label struct and time are constant per row id; `first` carries them through the group.
    out = joined.groupBy(_ROW, _LT).agg(F.first(_LABEL).alias(_LABEL), *exprs)
    return out.select(
        *[F.col(_LABEL).getField(c).alias(c) for c in label_cols],
        *[F.col(f"`{group.name}.{o.name}`") for o in group.outputs],
    )
