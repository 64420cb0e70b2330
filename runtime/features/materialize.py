"""Load feature-group snapshots into the online store (`mlc materialize`).

For every online feature group: read its source, compute the snapshot as of ``as_of``
(``mlc.runtime.features.feature_groups.snapshot``), and write ONE packed record per entity
(``mlc.runtime.online_store``) from the Spark executors, partition by partition, in batches of
``BATCH`` records per store round trip. Writes are upserts, so re-running is idempotent.

Incremental runs (``incremental=True``) keep a watermark per group in the store (key
``{namespace}:__mlc_watermark__:{group}``, the as-of time in microseconds). A snapshot value
changes when an event enters OR leaves one of the group's windows, so an incremental run
rewrites exactly the entities with an event in ``[watermark - longest window, as_of)``; the first
run (no watermark) writes every entity.

Real-time groups (a source with ``stream:``) get tiled records instead of snapshots
(``mlc.runtime.online_store.tiles``): per entity, partial aggregates per tile of the events
before the group's batch boundary (``as_of`` down to the group's largest tile); the boundary is
stored where the watermark is. Their records do not depend on ``as_of`` (windows are evaluated
at request time), so an incremental run rewrites only the entities with events since the
previous boundary.
"""

from __future__ import annotations

from typing import Any, Mapping
from mlc.runtime.features.feature_groups import as_of_micros, event_micros, snapshot
from mlc.runtime.features.sources import read_source

BATCH = 500
WRITE_TIMEOUT_S = 30.0


def watermark_key(namespace: str, group: str) -> str:
    return f"{namespace}:__mlc_watermark__:{group}"   # = retrieval.boundary_key for real-time groups


def read_watermark(store: Any, namespace: str, group: str) -> int | None:
    [raw] = store.get_many([watermark_key(namespace, group)])
    return int(raw.decode()) if raw else None


def write_watermark(store: Any, namespace: str, group: str, as_of_micros: int) -> None:
    store.put_many([(watermark_key(namespace, group), str(as_of_micros).encode())])


def _writer(store_url: str, group: Any, namespace: str):
    """A partition function writing (keys, outputs) rows; returns the count it wrote."""
    key_count = len(group.keys)

    def write(rows):
        from mlc.runtime.online_store import open_store, put_features

        store = open_store(store_url, timeout=WRITE_TIMEOUT_S, create=True)
        written, batch = 0, []
        try:
            for row in rows:
                values = tuple(row)
                batch.append((values[:key_count], values[key_count:]))
                if len(batch) >= BATCH:
                    written += put_features(store, group, namespace, batch)
                    batch = []
            if batch:
                written += put_features(store, group, namespace, batch)
        finally:
            store.close()
        yield written

    return write


def _tile_writer(store_url: str, group: Any, namespace: str):
    """A partition function writing real-time groups' batch records: rows of (keys..., tiles)."""
    key_count = len(group.keys)

    def write(rows):
        from mlc.runtime.online_store import open_store

        store = open_store(store_url, timeout=WRITE_TIMEOUT_S, create=True)
        written = 0
        try:
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    written += _put_tiles(store, group, namespace, batch, key_count)
                    batch = []
            if batch:
                written += _put_tiles(store, group, namespace, batch, key_count)
        finally:
            store.close()
        yield written

    return write


def _put_tiles(store: Any, group: Any, namespace: str, batch: list, key_count: int) -> int:
    from mlc.runtime.online_store.retrieval import record_key
    from mlc.runtime.online_store.tiles import encode, from_rows, split

    tiles = from_rows(group, [(i, cell) for i, row in enumerate(batch) for cell in row[key_count]])
    per_entity = split(group, tiles, len(batch))
    items = [(record_key(group, namespace, tuple(row)[:key_count]), encode(group, part))
             for row, part in zip(batch, per_entity)]
    store.put_many(items, group.ttl_seconds)
    return len(items)


def batch_boundary(group: Any, as_of_us: int) -> int:
    """A real-time group's batch boundary: ``as_of`` down to its largest tile, so no tile of any of
    its windows straddles it (the stream covers the events from it on)."""
    from mlc.runtime.online_store.tiles import grids

    size = max(grids(group)) * 1_000_000
    return as_of_us - as_of_us % size


def _materialize_tiles(spark: Any, group: Any, source: Any, events: Any, store_url: str, namespace: str,
                       as_of_us: int, mark: int | None) -> tuple[int, int]:
    """Batch tile records of a real-time group; (records written, boundary)."""
    from pyspark.sql import functions as F

    from mlc.runtime.features.tiling import entity_tiles, tile_partials

    boundary = batch_boundary(group, as_of_us)
    partials = tile_partials(events, group, source.event_time, before_us=boundary)
    if mark is not None:     # incremental: only entities with events since the previous boundary
        t = event_micros(events, source.event_time)
        keys = [k.name for k in group.keys]
        changed = events.where((t >= F.lit(mark)) & (t < F.lit(boundary))).select(*keys).distinct()
        partials = partials.join(changed, keys, "left_semi")
    per_entity = entity_tiles(partials, group)
    typed = {c.name: c.dtype for c in group.keys}
    columns = [F.unix_micros(F.col(f"`{k}`")).alias(k) if typed[k] == "timestamp" else F.col(f"`{k}`")
               for k in typed] + [F.col("__mlc_tiles")]
    written = int(per_entity.select(*columns).rdd.mapPartitions(_tile_writer(store_url, group, namespace)).sum())
    return written, boundary


def materialize(spark: Any, ir: Any, spec_dir: str, store_url: str, namespace: str, as_of: Any,
                incremental: bool = False, inputs: Mapping[str, str] | None = None) -> dict[str, int]:
    """Group name -> records written."""
    from pyspark.sql import functions as F

    from mlc.runtime.online_store import open_store

    sources = {s.name: s for s in ir.sources}
    as_of_us = as_of_micros(as_of)
    counts: dict[str, int] = {}
    control = open_store(store_url, timeout=WRITE_TIMEOUT_S, create=True)
    try:
        for group in ir.feature_groups:
            if not group.online:
                continue
            source = sources[group.source]
            events = read_source(spark, source, spec_dir, (inputs or {}).get(source.name))
            if group.realtime:
                mark = read_watermark(control, namespace, group.name) if incremental else None
                counts[group.name], boundary = _materialize_tiles(spark, group, source, events, store_url, namespace,
                                                                  as_of_us, mark)
                write_watermark(control, namespace, group.name, boundary)
                continue
            snap = snapshot(events, group, source.event_time, as_of)
            mark = read_watermark(control, namespace, group.name) if incremental else None
            if mark is not None:
                longest = max(w.seconds for w in group.windows) * 1_000_000
                t = event_micros(events, source.event_time)
                keys = [k.name for k in group.keys]
                changed = events.where((t >= F.lit(mark - longest)) & (t < F.lit(as_of_us))).select(*keys).distinct()
                snap = snap.join(changed, keys, "left_semi")
            typed = {c.name: c.dtype for c in group.keys + group.outputs}
            # timestamps travel as int microseconds: Python datetimes from Spark are local-time-naive
            columns = [F.unix_micros(F.col(f"`{n}`")).alias(n) if typed[n] == "timestamp" else F.col(f"`{n}`")
                       for n in [k.name for k in group.keys] + [o.name for o in group.outputs]]
            counts[group.name] = int(snap.select(*columns).rdd.mapPartitions(_writer(store_url, group, namespace)).sum())
            write_watermark(control, namespace, group.name, as_of_us)
    finally:
        control.close()
    return counts
