"""Tiled records of real-time feature groups: partial aggregates per entity and tile, merged at
fetch time into windows exact at the request time.

A real-time group (``FeatureGroupIR.realtime``) keeps, per entity, the partial aggregates of its
events per tile (``FeatureGroupIR.tiles``: window -> tile seconds; one *grid* per distinct tile
size). A window ``w`` with tile ``h`` at request time ``T`` (microseconds) merges the tiles with
index ``floor((T - w) / h) <= i <= floor((T - 1) / h)``: the events with
``floor(T - w, h) <= t < T`` when every event in the head tile is earlier than ``T`` (the
stream's clock never runs ahead of the request's). The batch point-in-time computation uses the
same rule (``mlc.runtime.features.feature_groups``), so the two agree exactly (float sums up to
the order of additions).

Partials per aggregation ``j`` (one fixed-size row per tile; field names are the Spark column
names of ``mlc.runtime.features.tiling``):

==========================  ====================================================================
``count()``                 ``n{j}`` events
``sum(x)``                  ``s{j}`` sum of non-null x (int64 or float64, as x), ``n{j}`` their count
``avg(x)``                  ``s{j}`` float64 sum, ``n{j}`` count of non-null x
``min(x)`` / ``max(x)``     ``v{j}`` (NaN largest, as Spark), ``n{j}`` count of non-null x
``last(x)``                 ``t{j}`` time of the latest event, ``v{j}`` its x, ``z{j}`` 1 when that x
                            is null, ``n{j}`` events (ties on time: the largest x, null lowest)
``approx_count_distinct``   ``k{j}`` distinct 64-bit hashes (Spark ``xxhash64``) of non-null x in
                            the tile; the hashes follow the rows. Real-time distinct counts are
                            exact over the hashes (no sketch): online and offline count the same set.
==========================  ====================================================================

Record layout (little-endian): ``<B`` format version 2, ``<q`` meta (a batch record: unused, 0; a
stream record: its last micro-batch, ``streaming.job.applied_mark``, for idempotent replays), ``<I`` the number
of rows ``N``; ``N`` packed rows of :func:`row_dtype` (``grid`` u1, ``tile`` i8, the partials);
then, per distinct-count aggregation in order, the hashes (i8) of row 0, row 1, ...

Each entity has up to two records per group: the batch record (``mlc materialize``: events before
the group's batch boundary ``B``, aligned to every tile of the group) and the stream record (the
streaming job). At fetch time stream rows of tiles before ``B`` are ignored, so an event present
in both the batch data and the stream is counted once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mlc.core.ir import FeatureGroupIR
from mlc.runtime.numpy_ops.vec import NUMPY_DTYPES, PLACEHOLDER, Vec
from mlc.runtime.online_store.codec import CodecError

TILE_FORMAT = 2
MICROS = 1_000_000
_HEADER = struct.Struct("<BqI")
_VALUE = {"int64": "<i8", "timestamp": "<i8", "float64": "<f8", "bool": "u1"}
NO_BOUNDARY = np.iinfo(np.int64).min


def grids(group: FeatureGroupIR) -> tuple[int, ...]:
    """The group's distinct tile sizes (seconds), ascending: a row's ``grid`` indexes this."""
    return tuple(sorted({seconds for _, seconds in group.tiles}))


def partial_fields(group: FeatureGroupIR) -> list[tuple[str, str]]:
    """(field, numpy dtype) of one tile row, after ``grid`` and ``tile``."""
    fields: list[tuple[str, str]] = []
    for j, agg in enumerate(group.aggregations):
        f = agg.function
        if f == "count":
            fields.append((f"n{j}", "<i8"))
        elif f == "sum":
            fields += [(f"s{j}", "<f8" if agg.dtype == "float64" else "<i8"), (f"n{j}", "<i8")]
        elif f == "avg":
            fields += [(f"s{j}", "<f8"), (f"n{j}", "<i8")]
        elif f in ("min", "max"):
            fields += [(f"v{j}", _value_dtype(group, agg)), (f"n{j}", "<i8")]
        elif f == "last":
            fields += [(f"t{j}", "<i8"), (f"v{j}", _value_dtype(group, agg)), (f"z{j}", "u1"), (f"n{j}", "<i8")]
        elif f == "approx_count_distinct":
            fields.append((f"k{j}", "<u4"))
        else:
            raise ValueError(f"aggregation `{f}` of group `{group.name}` cannot be tiled")
    return fields


def _value_dtype(group: FeatureGroupIR, agg) -> str:
    if agg.dtype not in _VALUE:
        raise ValueError(f"`{agg.function}` of a {agg.dtype} in real-time group `{group.name}` cannot be tiled")
    return _VALUE[agg.dtype]


def row_dtype(group: FeatureGroupIR) -> np.dtype:
    """One stored tile row (packed)."""
    return np.dtype([("grid", "u1"), ("tile", "<i8")] + partial_fields(group))


def distinct_aggregations(group: FeatureGroupIR) -> list[int]:
    return [j for j, a in enumerate(group.aggregations) if a.function == "approx_count_distinct"]


@dataclass
class Tiles:
    """Tile rows of many entities: ``rows`` (stored fields), ``entity`` (index of each row's
    entity) and, per distinct-count aggregation, ``hashes[j] = (owner row, hash)`` arrays."""
    rows: np.ndarray
    entity: np.ndarray
    hashes: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def empty(cls, group: FeatureGroupIR) -> "Tiles":
        return cls(np.zeros(0, dtype=row_dtype(group)), np.zeros(0, dtype=np.int64),
                   {j: (np.zeros(0, np.int64), np.zeros(0, np.int64)) for j in distinct_aggregations(group)})

    def take(self, index: np.ndarray) -> "Tiles":
        """The rows at ``index`` (in that order), with their hashes."""
        remap = np.full(len(self.rows), -1, dtype=np.int64)
        remap[index] = np.arange(len(index))
        hashes = {}
        for j, (owner, values) in self.hashes.items():
            keep = remap[owner] >= 0
            hashes[j] = (remap[owner[keep]], values[keep])
        return Tiles(self.rows[index], self.entity[index], hashes)


def concat(group: FeatureGroupIR, parts: Sequence[Tiles]) -> Tiles:
    if not parts:
        return Tiles.empty(group)
    offsets = np.cumsum([0] + [len(p.rows) for p in parts[:-1]])
    hashes = {j: (np.concatenate([p.hashes[j][0] + o for p, o in zip(parts, offsets)]),
                  np.concatenate([p.hashes[j][1] for p in parts])) for j in distinct_aggregations(group)}
    return Tiles(np.concatenate([p.rows for p in parts]), np.concatenate([p.entity for p in parts]), hashes)


def from_rows(group: FeatureGroupIR, rows: Sequence[tuple[int, object]]) -> Tiles:
    """Tiles from ``(entity index, row)`` pairs, each row a Spark ``Row`` (or mapping) of
    ``mlc.runtime.features.tiling``'s columns: ``grid``, ``tile``, the partials, ``h{j}``."""
    dtype = row_dtype(group)
    table = np.zeros(len(rows), dtype=dtype)
    if not rows:
        return Tiles.empty(group)
    fields = getattr(rows[0][1], "__fields__", None)      # a Spark Row: read by position (fast)
    position = {name: fields.index(name) for name in fields} if fields else None

    def column(name: str) -> list:
        if position is None:
            return [row[name] for _, row in rows]
        i = position[name]
        return [tuple.__getitem__(row, i) for _, row in rows]

    counted = {f"k{j}" for j in distinct_aggregations(group)}      # set from the hashes below
    for name in dtype.names:
        if name not in counted:
            table[name] = column(name)
    entity = np.fromiter((e for e, _ in rows), dtype=np.int64, count=len(rows))
    hashes = {}
    for j in distinct_aggregations(group):
        values = [v or [] for v in column(f"h{j}")]
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), [len(v) for v in values])
        flat = np.fromiter((h for v in values for h in v), dtype=np.int64, count=len(owner))
        table[f"k{j}"] = [len(v) for v in values]
        hashes[j] = (owner, flat)
    return Tiles(table, entity, hashes)


# ---------------------------------------------------------------------------------- records


def encode(group: FeatureGroupIR, tiles: Tiles, meta: int = 0) -> bytes:
    """One record from the rows of ONE entity (``tiles.entity`` is ignored)."""
    rows = np.ascontiguousarray(tiles.rows, dtype=row_dtype(group))
    parts = [_HEADER.pack(TILE_FORMAT, int(meta), len(rows)), rows.tobytes()]
    for j in distinct_aggregations(group):
        owner, values = tiles.hashes[j]
        order = np.argsort(owner, kind="stable")
        if not np.array_equal(np.bincount(owner, minlength=len(rows)), rows[f"k{j}"].astype(np.int64)):
            raise CodecError(f"group `{group.name}`: hash counts do not match the rows")
        parts.append(values[order].astype("<i8").tobytes())
    return b"".join(parts)


def decode_many(group: FeatureGroupIR, blobs: Sequence[bytes | None]) -> tuple[Tiles, np.ndarray]:
    """All rows of a batch of records (entity = the record's position; ``None`` = no record) and
    each record's meta (0 where absent). Raises :class:`CodecError` for an invalid record.
    Vectorised: one Python step per record (its header), then array operations on the batch."""
    dtype = row_dtype(group)
    metas = np.zeros(len(blobs), dtype=np.int64)
    present = [(i, bytes(b)) for i, b in enumerate(blobs) if b is not None]
    if not present:
        return Tiles.empty(group), metas
    records = np.fromiter((i for i, _ in present), dtype=np.int64, count=len(present))
    counts = np.zeros(len(present), dtype=np.int64)
    chunks, tails = [], []
    for r, (i, blob) in enumerate(present):
        if len(blob) < _HEADER.size:
            raise CodecError(f"group `{group.name}`: not a tiled record")
        version, meta, n = _HEADER.unpack_from(blob)
        end = _HEADER.size + n * dtype.itemsize
        if version != TILE_FORMAT or len(blob) < end:
            raise CodecError(f"group `{group.name}`: not a format-{TILE_FORMAT} tiled record")
        metas[i], counts[r] = meta, n
        chunks.append(blob[_HEADER.size:end])
        tails.append(blob[end:])
    rows = np.frombuffer(b"".join(chunks), dtype=dtype)
    tiles = Tiles(rows, np.repeat(records, counts))
    tiles.hashes = _decode_hashes(group, rows, counts, tails)
    return tiles, metas


def _decode_hashes(group: FeatureGroupIR, rows: np.ndarray, counts: np.ndarray,
                   tails: list[bytes]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per distinct-count aggregation, (owner row, hash). A record's trailing bytes hold, per
    aggregation in order, the hashes of its rows in row order."""
    distinct = distinct_aggregations(group)
    empty = np.zeros(0, np.int64)
    lengths = np.fromiter((len(t) for t in tails), dtype=np.int64, count=len(tails))
    if not distinct:
        if lengths.any():
            raise CodecError(f"group `{group.name}`: trailing bytes in a tiled record")
        return {}
    record_of_row = np.repeat(np.arange(len(counts)), counts)
    first_row = np.cumsum(counts) - counts
    k = {j: rows[f"k{j}"].astype(np.int64) for j in distinct}
    per_record = {j: np.bincount(record_of_row, weights=k[j], minlength=len(counts)).astype(np.int64) for j in distinct}
    if (lengths != 8 * sum(per_record.values())).any():
        raise CodecError(f"group `{group.name}`: tiled record with a wrong number of hash bytes")
    buffer = np.frombuffer(b"".join(tails), dtype="<i8")
    base = np.cumsum(lengths // 8) - lengths // 8          # each record's first hash
    before = np.zeros(len(counts), dtype=np.int64)           # hashes of earlier aggregations in the record
    out = {}
    for j in distinct:
        excl = np.cumsum(k[j]) - k[j]                        # global position of each row's first hash of j
        within = excl - excl[first_row][record_of_row] if len(excl) else excl
        start = base[record_of_row] + before[record_of_row] + within
        total = int(k[j].sum())
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), k[j])
        offset = np.arange(total, dtype=np.int64) - np.repeat(excl, k[j])
        out[j] = (owner, buffer[np.repeat(start, k[j]) + offset].astype(np.int64)) if total else (empty, empty)
        before += per_record[j]
    return out


def split(group: FeatureGroupIR, tiles: Tiles, entities: int) -> list[Tiles]:
    """Per entity ``0 .. entities-1`` its rows (in their current order)."""
    if len(tiles.entity) and (np.diff(tiles.entity) < 0).any():
        tiles = tiles.take(np.argsort(tiles.entity, kind="stable"))
    bounds = np.searchsorted(tiles.entity, np.arange(entities + 1))
    owners = {}
    for j, (owner, values) in tiles.hashes.items():
        order = np.argsort(owner, kind="stable")
        owners[j] = (owner[order], values[order])
    out = []
    for e in range(entities):
        low, high = int(bounds[e]), int(bounds[e + 1])
        hashes = {}
        for j, (owner, values) in owners.items():
            a, b = np.searchsorted(owner, [low, high])
            hashes[j] = (owner[a:b] - low, values[a:b])
        out.append(Tiles(tiles.rows[low:high], tiles.entity[low:high], hashes))
    return out


# ---------------------------------------------------------------------------------- merging


def merge(group: FeatureGroupIR, tiles: Tiles) -> Tiles:
    """Rows with the same (entity, grid, tile) combined into one: the partials of the union of
    their events. Result sorted by (entity, grid, tile)."""
    rows = tiles.rows
    if not len(rows):
        return tiles
    order = np.lexsort((rows["tile"], rows["grid"], tiles.entity))
    tiles = tiles.take(order)
    rows, entity = tiles.rows, tiles.entity
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (entity[1:] != entity[:-1]) | (rows["grid"][1:] != rows["grid"][:-1]) | (rows["tile"][1:] != rows["tile"][:-1])
    starts = np.flatnonzero(new)
    if len(starts) == len(rows):
        return tiles
    segment = np.cumsum(new) - 1
    out = np.zeros(len(starts), dtype=rows.dtype)
    out["grid"], out["tile"] = rows["grid"][starts], rows["tile"][starts]
    hashes = {}
    for j, agg in enumerate(group.aggregations):
        _merge_partial(agg.function, j, rows, starts, segment, out)
        if agg.function == "approx_count_distinct":
            owner, values = tiles.hashes[j]
            seg, vals = _unique_pairs(segment[owner], values)
            out[f"k{j}"] = np.bincount(seg, minlength=len(starts))
            hashes[j] = (seg, vals)
    return Tiles(out, entity[starts], hashes)


def _merge_partial(function: str, j: int, rows: np.ndarray, starts: np.ndarray, segment: np.ndarray,
                   out: np.ndarray) -> None:
    if function == "approx_count_distinct":
        return
    n = rows[f"n{j}"]
    out[f"n{j}"] = np.add.reduceat(n, starts)
    if function in ("sum", "avg"):
        out[f"s{j}"] = np.add.reduceat(rows[f"s{j}"], starts)
    elif function in ("min", "max"):
        out[f"v{j}"] = _extreme(function, rows[f"v{j}"], n > 0, starts)
    elif function == "last":
        pick = _latest(rows[f"t{j}"], rows[f"v{j}"], rows[f"z{j}"], n > 0, segment, len(starts))
        for name in (f"t{j}", f"v{j}", f"z{j}"):
            out[name] = rows[name][pick]


def _extreme(function: str, values: np.ndarray, present: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per contiguous segment (``starts``) the min/max of the present values, in Spark's order
    (NaN is the largest: max is NaN if any is, min only if all are); a segment without a present
    value gets the dtype's extreme (its count says it is empty)."""
    if not len(starts):
        return values[:0]
    floating = values.dtype.kind == "f"
    if function == "max":
        low = -np.inf if floating else (0 if values.dtype.kind == "u" else np.iinfo(values.dtype).min)
        return np.maximum.reduceat(np.where(present, values, low), starts)
    high = np.inf if floating else np.iinfo(values.dtype).max
    result = np.fmin.reduceat(np.where(present, values, high), starts)
    if floating:
        numbers = np.add.reduceat((present & ~np.isnan(values)).astype(np.int64), starts)
        had = np.add.reduceat(present.astype(np.int64), starts)
        result = np.where((had > 0) & (numbers == 0), np.nan, result)
    return result


def _latest(times: np.ndarray, values: np.ndarray, nulls: np.ndarray, present: np.ndarray, segment: np.ndarray,
            count: int) -> np.ndarray:
    """Per segment the row of the latest event: max time, then the largest value, null lowest
    (NaN largest); rows without an event never win. Returns row indices (a segment without any
    event gets its first row, whose ``n`` is 0)."""
    order = np.lexsort((values, 1 - nulls, times, present, segment))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = segment[order][1:] != segment[order][:-1]
    pick = np.zeros(count, dtype=np.int64)
    pick[segment[order][last]] = order[last]
    return pick


def _unique_pairs(segment: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(values):
        return segment.astype(np.int64), values.astype(np.int64)
    order = np.lexsort((values, segment))
    seg, vals = segment[order], values[order]
    keep = np.ones(len(seg), dtype=bool)
    keep[1:] = (seg[1:] != seg[:-1]) | (vals[1:] != vals[:-1])
    return seg[keep].astype(np.int64), vals[keep].astype(np.int64)


def prune(group: FeatureGroupIR, tiles: Tiles, now_us: int) -> Tiles:
    """Drop the tiles no window can reach at any request time ``>= now_us``."""
    if not len(tiles.rows):
        return tiles
    sizes = grids(group)
    keep = np.zeros(len(tiles.rows), dtype=bool)
    for g, h in enumerate(sizes):
        longest = max(w.seconds for w in group.windows if group.tile_of(w.name) == h)
        low = (now_us - longest * MICROS) // (h * MICROS)
        keep |= (tiles.rows["grid"] == g) & (tiles.rows["tile"] >= low)
    return tiles.take(np.flatnonzero(keep))


# ---------------------------------------------------------------------------------- windows


def window_outputs(group: FeatureGroupIR, tiles: Tiles, entities: int, now_us: int) -> dict[str, Vec]:
    """Every output of ``group`` for ``entities`` entities at request time ``now_us`` (null
    where the window has no value; the caller applies the group's defaults). Vectorised: rows
    are sorted by entity once; each (window, aggregation) is one segmented reduction."""
    order = np.argsort(tiles.entity, kind="stable")
    rows, entity = tiles.rows[order], tiles.entity[order]
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    hashes = {j: (inverse[owner], values) for j, (owner, values) in tiles.hashes.items()}
    sizes = grids(group)
    out: dict[str, Vec] = {}
    for w in group.windows:
        h = group.tile_of(w.name) * MICROS
        low, high = (now_us - w.seconds * MICROS) // h, (now_us - 1) // h
        selected = (rows["grid"] == sizes.index(h // MICROS)) & (rows["tile"] >= low) & (rows["tile"] <= high)
        window = _Window(rows, entity, np.flatnonzero(selected), selected, entities)
        for j, agg in enumerate(group.aggregations):
            out[f"{agg.name}_{w.name}"] = window.output(agg.function, agg.dtype, j, hashes.get(j))
    return {o.name: out[o.name] for o in group.outputs}


class _Window:
    """The rows of one window (``index`` into entity-sorted rows), reduced per entity."""

    def __init__(self, rows: np.ndarray, entity: np.ndarray, index: np.ndarray, selected: np.ndarray, entities: int):
        self.rows, self.index, self.selected, self.entities = rows, index, selected, entities
        e = entity[index]
        first = np.ones(len(e), dtype=bool)
        first[1:] = e[1:] != e[:-1]
        self.starts = np.flatnonzero(first)
        self.owners = e[self.starts]
        self.entity = entity

    def _scatter(self, values: np.ndarray, fill, dtype) -> np.ndarray:
        out = np.full(self.entities, fill, dtype=dtype)
        out[self.owners] = values
        return out

    def _reduce(self, ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values, self.starts) if len(self.index) else values[:0]

    def output(self, function: str, dtype: str, j: int, hashes) -> Vec:
        if function == "approx_count_distinct":
            owner, values = hashes
            keep = self.selected[owner]
            seg, _ = _unique_pairs(self.entity[owner[keep]], values[keep])
            return Vec(np.bincount(seg, minlength=self.entities).astype(np.int64), np.ones(self.entities, bool), "int64")
        n = self.rows[f"n{j}"][self.index]
        count = self._scatter(self._reduce(np.add, n), 0, np.int64)
        valid = count > 0
        if function == "count":
            return Vec(count, np.ones(self.entities, dtype=bool), "int64")
        if function in ("sum", "avg"):
            s = self.rows[f"s{j}"][self.index]
            total = self._scatter(self._reduce(np.add, s), 0, s.dtype)
            data = total / np.where(valid, count, 1) if function == "avg" else total
        elif function in ("min", "max"):
            data = self._extreme(function, self.rows[f"v{j}"][self.index], n > 0)
        else:
            data, valid = self._last(j, n > 0, valid)
        return _vec(np.asarray(data), valid, dtype)

    def _extreme(self, function: str, values: np.ndarray, present: np.ndarray) -> np.ndarray:
        return self._scatter(_extreme(function, values, present, self.starts), 0, values.dtype)

    def _last(self, j: int, present: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, index = self.rows, self.index
        values = rows[f"v{j}"][index]
        if not len(index):
            return np.zeros(self.entities, dtype=values.dtype), valid
        nulls = rows[f"z{j}"][index]
        segment = np.repeat(np.arange(len(self.starts)), np.diff(np.append(self.starts, len(index))))
        pick = _latest(rows[f"t{j}"][index], values, nulls, present, segment, len(self.starts))
        data = self._scatter(values[pick], 0, values.dtype)
        not_null = self._scatter(nulls[pick] == 0, False, bool)
        return data, valid & not_null


def _vec(data: np.ndarray, valid: np.ndarray, dtype: str) -> Vec:
    values = (data != 0) if dtype == "bool" else data.astype(NUMPY_DTYPES[dtype])
    values = np.array(values, copy=True)
    values[~valid] = PLACEHOLDER[dtype]
    return Vec(values, valid.copy(), dtype)


def visible(group: FeatureGroupIR, batch: Tiles, stream: Tiles, boundary_us: int) -> Tiles:
    """The rows a fetch merges: every batch row, and the stream rows of tiles at or after the
    batch boundary (``NO_BOUNDARY``: no batch side, every stream row)."""
    if boundary_us == NO_BOUNDARY or not len(stream.rows):
        return concat(group, [batch, stream])
    sizes = np.asarray(grids(group), dtype=np.int64) * MICROS
    starts = stream.rows["tile"] * sizes[stream.rows["grid"]]
    return concat(group, [batch, stream.take(np.flatnonzero(starts >= boundary_us))])
