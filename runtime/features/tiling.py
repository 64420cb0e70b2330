"""Tile partials of real-time feature groups on Spark (native Columns, no UDFs), for the batch
side (``mlc materialize``) and the streaming job's micro-batches.

``tile_partials(events, group, event_time)`` gives one row per (entity, grid, tile): the key
columns (by name), ``grid`` (index into ``tiles.grids(group)``), ``tile`` (``floor(t / size)``)
and the partial fields of ``mlc.runtime.online_store.tiles`` (``h{j}``: the array of distinct
hashes of a distinct count). The group's filter is applied first, exactly as offline.
``entity_tiles`` collects them per entity for a writer.
"""

from __future__ import annotations

from typing import Any

from mlc.core.ir import FeatureGroupIR
from mlc.runtime.features.feature_groups import ARG_COLUMN as _ARG
from mlc.runtime.features.feature_groups import KEY_COLUMN as _KEY
from mlc.runtime.features.feature_groups import MICROS, prepare_events
from mlc.runtime.features.feature_groups import TIME_COLUMN as _T
from mlc.runtime.online_store.tiles import grids

TILES = "__mlc_tiles"


def _stored(arg: Any, dtype: str) -> Any:
    """An argument as its stored number: timestamps in microseconds, bools 0/1 (order kept)."""
    from pyspark.sql import functions as F

    if dtype == "timestamp":
        return F.unix_micros(arg)
    if dtype == "bool":
        return arg.cast("int")
    return arg


def _partials(group: FeatureGroupIR) -> list:
    from pyspark.sql import functions as F

    t = F.col(_T)
    exprs = []
    for j, agg in enumerate(group.aggregations):
        f = agg.function
        arg = F.col(_ARG.format(j)) if agg.argument is not None else None
        if f == "count":
            exprs.append(F.count(F.lit(1)).alias(f"n{j}"))
        elif f in ("sum", "avg"):
            kind = "double" if f == "avg" or agg.dtype == "float64" else "bigint"
            exprs += [F.coalesce(F.sum(arg.cast(kind)), F.lit(0).cast(kind)).alias(f"s{j}"),
                      F.count(arg).alias(f"n{j}")]
        elif f in ("min", "max"):
            value = _stored(arg, agg.dtype)
            pick = F.min(value) if f == "min" else F.max(value)
            exprs += [F.coalesce(pick, F.lit(0).cast(_cast(agg.dtype))).alias(f"v{j}"), F.count(arg).alias(f"n{j}")]
        elif f == "last":
            latest = F.max(F.struct(t.alias("t"), _stored(arg, agg.dtype).alias("v")))
            exprs += [latest.getField("t").alias(f"t{j}"),
                      F.coalesce(latest.getField("v"), F.lit(0).cast(_cast(agg.dtype))).alias(f"v{j}"),
                      latest.getField("v").isNull().cast("int").alias(f"z{j}"),
                      F.count(F.lit(1)).alias(f"n{j}")]
        elif f == "approx_count_distinct":
            hashes = F.collect_set(F.when(arg.isNotNull(), F.xxhash64(arg)))
            exprs += [F.size(hashes).alias(f"k{j}"), hashes.alias(f"h{j}")]
        else:
            raise ValueError(f"aggregation `{f}` of group `{group.name}` cannot be tiled")
    return exprs


def _cast(dtype: str) -> str:
    return {"float64": "double", "bool": "int"}.get(dtype, "bigint")


def tile_partials(events_df: Any, group: FeatureGroupIR, event_time: str, *, before_us: int | None = None) -> Any:
    """Partials per (entity, grid, tile). ``before_us``: only events with ``t < before_us``, and
    only the tiles a window can still reach at ``before_us`` (the batch side)."""
    from pyspark.sql import functions as F

    events = prepare_events(events_df, group, event_time)
    t = F.col(_T)
    sizes = grids(group)
    if before_us is not None:
        events = events.where(t < F.lit(before_us))
    cells = []
    for g, size in enumerate(sizes):
        h = size * MICROS
        tile = ((t - F.pmod(t, F.lit(h))) / F.lit(h)).cast("bigint")
        cells.append(F.struct(F.lit(g).alias("g"), tile.alias("i")))
    exploded = events.withColumn("__mlc_cell", F.explode(F.array(*cells)))
    exploded = exploded.select("*", F.col("__mlc_cell.g").alias("grid"), F.col("__mlc_cell.i").alias("tile"))
    if before_us is not None:
        reach = F.lit(None).cast("bigint")
        for g, size in enumerate(sizes):
            longest = max(w.seconds for w in group.windows if group.tile_of(w.name) == size)
            low = (before_us - longest * MICROS) // (size * MICROS)
            reach = F.when(F.col("grid") == g, F.lit(low)).otherwise(reach)
        exploded = exploded.where(F.col("tile") >= reach)
    keys = [_KEY.format(i) for i in range(len(group.keys))]
    out = exploded.groupBy(*keys, "grid", "tile").agg(*_partials(group))
    renames = [F.col(_KEY.format(i)).alias(k.name) for i, k in enumerate(group.keys)]
    return out.select(*renames, *[c for c in out.columns if c not in keys])


def entity_tiles(partials: Any, group: FeatureGroupIR) -> Any:
    """One row per entity: its key columns, then ``__mlc_tiles``, the list of its tile rows."""
    from pyspark.sql import functions as F

    keys = [k.name for k in group.keys]
    fields = [c for c in partials.columns if c not in keys]
    return partials.groupBy(*[F.col(f"`{k}`") for k in keys]).agg(
        F.collect_list(F.struct(*[F.col(c) for c in fields])).alias(TILES))
