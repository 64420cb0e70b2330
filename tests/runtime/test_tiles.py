"""The tile codec and merging of real-time groups (NumPy only): round trips, merge rules that
match Spark's aggregations (NaN largest, `last` ties, distinct hashes), windows at request time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlc.core.ir import AggregationIR, Column, FeatureGroupIR, WindowIR
from mlc.runtime.online_store import tiles as T
from mlc.runtime.online_store.codec import CodecError

MIN = 60 * 1_000_000


def _group():
    aggs = (AggregationIR("n", "count", None, "int64", "count()"),
            AggregationIR("lo", "min", {"kind": "ref"}, "float64", "min(x)"),
            AggregationIR("hi", "max", {"kind": "ref"}, "float64", "max(x)"),
            AggregationIR("last", "last", {"kind": "ref"}, "float64", "last(x)"),
            AggregationIR("kinds", "approx_count_distinct", {"kind": "ref"}, "int64", "approx_count_distinct(k)"),
            AggregationIR("total", "sum", {"kind": "ref"}, "int64", "sum(i)"))
    windows = (WindowIR("10m", 600), WindowIR("1d", 86400))
    outputs = tuple(Column(f"{a.name}_{w.name}", a.dtype) for a in aggs for w in windows)
    return FeatureGroupIR("g", "e", "s", (Column("id", "string"),), windows, None, None, aggs, outputs, None, True,
                          (), (("10m", 60), ("1d", 300)))


def _row(grid, tile, n=1, lo=1.0, hi=1.0, t=0, v=1.0, z=0, hashes=(), total=0, count=None):
    return {"grid": grid, "tile": tile, "n0": n, "v1": lo, "n1": count if count is not None else n, "v2": hi,
            "n2": count if count is not None else n, "t3": t, "v3": v, "z3": z, "n3": n, "h4": list(hashes),
            "s5": total, "n5": n}


def test_records_round_trip_and_refuse_corruption():
    group = _group()
    tiles = T.from_rows(group, [(0, _row(0, 5, hashes=[1, 2])), (0, _row(1, 1, hashes=[3]))])
    blob = T.encode(group, tiles, meta=42)
    back, metas = T.decode_many(group, [None, blob, blob])
    assert list(metas) == [0, 42, 42] and list(back.entity) == [1, 1, 2, 2]
    assert back.hashes[4][1].tolist() == [1, 2, 3, 1, 2, 3] and back.hashes[4][0].tolist() == [0, 0, 1, 2, 2, 3]
    for broken in (blob[:-3], blob + b"x", b"\x01" + blob[1:], b""):
        with pytest.raises(CodecError):
            T.decode_many(group, [broken])


def test_merge_follows_sparks_rules():
    group = _group()
    nan = float("nan")
    rows = [(0, _row(0, 5, lo=nan, hi=2.0, t=10, v=1.0, hashes=[7, 8], total=3)),
            (0, _row(0, 5, lo=3.0, hi=nan, t=10, v=4.0, hashes=[8, 9], total=4)),     # same tile: merged
            (0, _row(0, 5, n=1, count=0, t=10, v=0.0, z=1, total=0)),                  # last = null at t=10
            (1, _row(0, 5, lo=nan, hi=nan, count=1))]                                   # only NaN
    merged = T.merge(group, T.from_rows(group, rows))
    assert len(merged.rows) == 2
    first = merged.rows[0]
    assert first["n0"] == 3 and first["v1"] == 3.0 and math.isnan(first["v2"])    # min ignores NaN, max is NaN
    assert first["v3"] == 4.0 and first["z3"] == 0                                 # tie on time: largest, null lowest
    assert first["s5"] == 7 and first["k4"] == 3
    assert math.isnan(merged.rows[1]["v1"])                                        # min of only NaN is NaN


def test_windows_at_request_time_move_in_whole_tiles():
    group = _group()
    now_tile = 1000
    rows = [(0, _row(0, now_tile - 10, lo=5.0, t=(now_tile - 10) * MIN, v=5.0, hashes=[1], total=2)),
            (0, _row(0, now_tile - 3, lo=2.0, t=(now_tile - 3) * MIN, v=2.0, hashes=[1, 2], total=5)),
            (0, _row(1, (now_tile - 10) // 5, lo=5.0, hashes=[1], total=2))]
    tiles = T.from_rows(group, rows)
    at = now_tile * MIN + 30 * 1_000_000          # 30 s into the current minute
    out = T.window_outputs(group, tiles, 2, at)
    # 10m window: tiles from floor(at - 10m, 1m) = tile 990 on: both minute tiles
    assert out["n_10m"].data.tolist() == [2, 0] and out["kinds_10m"].data.tolist() == [2, 0]
    assert out["lo_10m"].data[0] == 2.0 and out["last_10m"].data[0] == 2.0 and out["total_10m"].data[0] == 7
    assert not out["lo_10m"].valid[1]                                   # an entity without tiles: null
    later = T.window_outputs(group, tiles, 1, (now_tile + 1) * MIN)     # tile 990 slid out
    assert later["n_10m"].data.tolist() == [1] and later["kinds_10m"].data.tolist() == [2]
    assert later["n_1d"].data.tolist() == [1]                            # the 1d grid has its own tiles


def test_visible_uses_stream_tiles_from_the_boundary_only():
    group = _group()
    batch = T.from_rows(group, [(0, _row(0, 10))])
    stream = T.from_rows(group, [(0, _row(0, 9)), (0, _row(0, 10)), (0, _row(0, 11))])
    seen = T.visible(group, batch, stream, 10 * MIN)
    assert sorted(seen.rows["tile"].tolist()) == [10, 10, 11]
    assert len(T.visible(group, batch, stream, T.NO_BOUNDARY).rows) == 4


def test_split_and_prune():
    group = _group()
    tiles = T.merge(group, T.from_rows(group, [(1, _row(0, 100, hashes=[5])), (0, _row(0, 50, hashes=[6, 7])),
                                               (1, _row(1, 10))]))
    parts = T.split(group, tiles, 3)
    assert [len(p.rows) for p in parts] == [1, 2, 0]
    assert parts[0].hashes[4][1].tolist() == [6, 7] and parts[1].hashes[4][1].tolist() == [5]
    kept = T.prune(group, tiles, 100 * MIN + 5 * MIN)     # 10m reaches back to tile 95: tile 50 goes
    assert sorted(kept.rows["tile"].tolist()) == [10, 100]
    np.testing.assert_array_equal(np.sort(kept.hashes[4][1]), [5])
