"""The online feature store: record codec, SQLite backend, and N x G retrieval into columns."""

from __future__ import annotations

import dataclasses
import math
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from mlc.core.ir import Column
from mlc.compiler.pipeline import build
from mlc.runtime.numpy_ops import Vec
from mlc.runtime.online_store import (CodecError, StoreError, decode, decode_many, encode, get_features,
                                      open_store, put_features, record_key, schema_version)
from mlc.runtime.online_store.sqlite_store import SqliteStore
from specs import MINIMAL_SPEC

TWO_GROUPS_SPEC = MINIMAL_SPEC.replace("""      avg_eta: avg(eta)
""", """      avg_eta: avg(eta)
  rider_profile:
    entity: rider
    source: orders
    windows: [7d]
    ttl: 2d
    features:
      last_city: last(city)
      last_ts: max(ts)
    defaults:
      last_city: unknown
""")
FITTED = {"dist_z:standardize:0": {"mean": 0.0, "std": 1.0, "count": 1}}
I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1


@pytest.fixture(scope="module")
def ir(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "s.mlc.yaml"
    path.write_text(TWO_GROUPS_SPEC, encoding="utf-8")
    result = build(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(str(tmp_path / "online.db"), timeout=1.0)
    yield s
    s.close()


def with_outputs(group, *columns, keys=None):
    return dataclasses.replace(group, outputs=tuple(Column(n, d) for n, d in columns),
                               keys=keys if keys is not None else group.keys)


def every_dtype(ir):
    return with_outputs(ir.group("rider_activity"), ("i", "int64"), ("f", "float64"), ("b", "bool"),
                        ("s", "string"), ("t", "timestamp"), ("i2", "int64"), ("f2", "float64"),
                        ("s2", "string"), ("b2", "bool"))


def row(group, **values):
    """A group's output values in its ``outputs`` order, given by output name (every output once)."""
    assert set(values) == {c.name for c in group.outputs}, sorted(values)
    return tuple(values[c.name] for c in group.outputs)


def activity_row(group, deliveries_1h, deliveries_1d, avg_eta_1h, avg_eta_1d):
    return row(group, deliveries_1h=deliveries_1h, deliveries_1d=deliveries_1d,
               avg_eta_1h=avg_eta_1h, avg_eta_1d=avg_eta_1d)


def same(a, b):
    """Equality that tells NaN and -0.0 apart."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


# --- codec ---------------------------------------------------------------------------------

ROWS = [
    (I64_MAX, -0.0, True, "", I64_MIN, I64_MIN, float("nan"), "héllo ✓ 日本", False),
    (None, None, None, None, None, None, None, None, None),
    (0, float("inf"), False, "a:b%c", 1_700_000_000_123_456, -1, -1e-308, None, None),
    (None, 1.5, None, "x" * 300, 0, None, float("-inf"), "", True),
]


@pytest.mark.parametrize("values", ROWS)
def test_round_trip_every_dtype(ir, values):
    group = every_dtype(ir)
    data = encode(group, values)
    back = decode(group, data)
    assert len(back) == len(values)
    for a, b in zip(values, back):
        assert (a is None and b is None) or same(a, b), (a, b)
    assert encode(group, back) == data


def test_decode_many_matches_decode(ir):
    for group in (every_dtype(ir), with_outputs(ir.group("rider_activity"), *[(f"o{i}", d) for i, d in
                  enumerate(["int64", "float64", "bool", "timestamp"] * 3)])):
        rows = [tuple(None if v is None or isinstance(v, str) else v for v in r) for r in ROWS] \
            if all(c.dtype != "string" for c in group.outputs) else ROWS
        rows = [tuple((r * 2)[:len(group.outputs)]) for r in rows]
        rows = [tuple(v if v is None or _fits(v, c.dtype) else None for v, c in zip(r, group.outputs)) for r in rows]
        blobs = [encode(group, r) for r in rows]
        blobs.insert(1, None)
        cols = decode_many(group, blobs)
        assert list(cols) == [c.name for c in group.outputs]
        for i, column in enumerate(group.outputs):
            vec = cols[column.name]
            assert isinstance(vec, Vec) and vec.dtype == column.dtype and len(vec) == len(blobs)
            got = vec.to_list()
            assert got[1] is None
            want = [r[i] for r in rows]
            for a, b in zip(want, got[:1] + got[2:]):
                assert (a is None and b is None) or same(type(b)(a) if column.dtype == "bool" else a, b), (column, a, b)


def _fits(value, dtype):
    return {"int64": isinstance(value, int) and not isinstance(value, bool),
            "timestamp": isinstance(value, int) and not isinstance(value, bool),
            "float64": isinstance(value, float), "bool": isinstance(value, bool),
            "string": isinstance(value, str)}[dtype]


def test_deterministic_golden_bytes(ir):
    group = ir.group("rider_activity")
    # The layout the golden bytes below are written in: the compiler's canonical output order
    # (aggregations sorted by name, then windows by length).
    assert [(c.name, c.dtype) for c in group.outputs] == [
        ("avg_eta_1h", "float64"), ("avg_eta_1d", "float64"), ("deliveries_1h", "int64"), ("deliveries_1d", "int64")]
    values = activity_row(group, deliveries_1h=3, deliveries_1d=10, avg_eta_1h=12.5, avg_eta_1d=None)
    data = encode(group, values)
    assert data.hex() == "01" "02" "0000000000002940" "0000000000000000" "0300000000000000" "0a00000000000000"
    assert encode(group, values) == data
    assert encode(group, activity_row(group, deliveries_1h=np.int64(3), deliveries_1d=10,
                                      avg_eta_1h=np.float64(12.5), avg_eta_1d=None)) == data
    # every NaN is written as the canonical quiet NaN
    other_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000123))[0]
    assert encode(group, activity_row(group, 0, 0, other_nan, None)) == \
        encode(group, activity_row(group, 0, 0, float("nan"), None))


def test_strings_are_length_prefixed_utf8(ir):
    group = with_outputs(ir.group("rider_activity"), ("s", "string"), ("b", "bool"))
    assert encode(group, ("é", True)).hex() == "01" "00" "02000000" "c3a9" "01"
    assert encode(group, (None, None)).hex() == "01" "03" "00000000" "00"


def test_encode_rejects_bad_values(ir):
    group = with_outputs(ir.group("rider_activity"), ("i", "int64"), ("b", "bool"))
    for bad in [(2 ** 63, True), (1.5, True), (True, True), (1, 1), ("1", True)]:
        with pytest.raises(CodecError):
            encode(group, bad)
    with pytest.raises(CodecError):
        encode(group, (1,))
    good = encode(group, (1, True))
    for broken in [good[:-1], good + b"\x00", b"\x02" + good[1:], b""]:
        with pytest.raises(CodecError):
            decode(group, broken)
        with pytest.raises(CodecError):
            decode_many(group, [broken])


def test_schema_version_tracks_layout(ir):
    group = ir.group("rider_activity")
    base = schema_version(group)
    assert len(base) == 8 and base == schema_version(dataclasses.replace(group))
    outs = [(c.name, c.dtype) for c in group.outputs]
    variants = [
        outs + [("extra", "int64")],                                  # added
        [("renamed", outs[0][1])] + outs[1:],                         # renamed
        [(outs[0][0], "int64" if outs[0][1] == "float64" else "float64")] + outs[1:],  # retyped
        outs[1:] + outs[:1],                                          # reordered
        outs[:-1],                                                    # removed
    ]
    versions = {schema_version(with_outputs(group, *v)) for v in variants}
    assert base not in versions and len(versions) == len(variants)
    # unrelated group settings (ttl, windows' source text) do not change the layout
    assert schema_version(dataclasses.replace(group, ttl_seconds=60)) == base


def test_multi_part_keys_are_unambiguous(ir):
    group = with_outputs(ir.group("rider_activity"), ("x", "int64"),
                         keys=(Column("a", "string"), Column("b", "string")))
    k1 = record_key(group, "prod", ("a:b", "c"))
    k2 = record_key(group, "prod", ("a", "b:c"))
    k3 = record_key(group, "prod", ("a%3Ab", "c"))
    assert len({k1, k2, k3}) == 3
    assert k1.startswith(f"prod:rider_activity:{schema_version(group)}:")
    assert k1.endswith(":a%3Ab:c") and k2.endswith(":a:b%3Ac") and k3.endswith(":a%253Ab:c")
    assert record_key(group, "a:b", ("c", "d")) != record_key(group, "a", ("b:c", "d"))


# --- SQLite store --------------------------------------------------------------------------

def test_sqlite_get_many_is_one_query(store):
    store.put_many([(f"k{i}", bytes([i])) for i in range(50)])
    statements = []
    store.set_trace_callback(statements.append)
    keys = [f"k{i}" for i in range(0, 60, 3)] + ["k0"]
    got = store.get_many(keys)
    store.set_trace_callback(None)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert len(statements) == 1
    assert got == [bytes([i]) if i < 50 else None for i in range(0, 60, 3)] + [b"\x00"]
    assert store.get_many([]) == []


def test_sqlite_chunks_past_the_variable_limit(store):
    store.put_many([(f"k{i}", b"v") for i in range(2000)])
    assert store.get_many([f"k{i}" for i in range(2100)]) == [b"v"] * 2000 + [None] * 100


def test_sqlite_ttl_expiry(tmp_path):
    now = [1_000.0]
    s = SqliteStore(str(tmp_path / "ttl.db"), clock=lambda: now[0])
    s.put_many([("short", b"1")], ttl_seconds=10)
    s.put_many([("forever", b"2")], ttl_seconds=None)
    assert s.get_many(["short", "forever"]) == [b"1", b"2"]
    now[0] += 9.999
    assert s.get_many(["short"]) == [b"1"]
    now[0] += 0.001
    assert s.get_many(["short", "forever"]) == [None, b"2"]
    assert s.purge_expired() == 1
    s.put_many([("short", b"3")], ttl_seconds=10)     # a re-put revives with a fresh TTL
    assert s.get_many(["short"]) == [b"3"]
    with pytest.raises(ValueError):
        s.put_many([("x", b"")], ttl_seconds=0)
    s.close()


def test_sqlite_put_is_idempotent_upsert(store):
    store.put_many([("a", b"1"), ("b", b"2")])
    store.put_many([("a", b"1"), ("b", b"2")])
    store.put_many([("b", b"22")])
    assert store.get_many(["a", "b"]) == [b"1", b"22"]
    assert store.connection.execute("SELECT count(*) FROM online_features").fetchone() == (2,)
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_sqlite_persists_across_connections(tmp_path):
    url = f"sqlite:{tmp_path / 'p.db'}"
    a = open_store(url, create=True)
    a.put_many([("k", b"v")], ttl_seconds=3600)
    a.close()
    b = open_store(url)
    assert b.get_many(["k", "z"]) == [b"v", None]
    b.close()


def test_open_store_urls(tmp_path):
    redis_store = open_store("redis://localhost:6379/0", timeout=0.2)     # lazy: no connection yet
    assert type(redis_store).__name__ == "RedisStore" and redis_store.timeout == 0.2
    redis_store.close()
    with pytest.raises(StoreError, match="unknown"):
        open_store("memcached://x")
    with pytest.raises(StoreError):
        open_store(f"sqlite:{tmp_path}/missing-dir/x.db", create=True)


def test_closed_store_raises_store_error(tmp_path):
    s = SqliteStore(str(tmp_path / "c.db"))
    s.close()
    with pytest.raises(StoreError):
        s.get_many(["k"])
    with pytest.raises(StoreError):
        s.put_many([("k", b"v")])


# --- retrieval -----------------------------------------------------------------------------

def _seed(store, ir):
    activity, profile = ir.group("rider_activity"), ir.group("rider_profile")
    put_features(store, activity, "prod", [((1,), activity_row(activity, 3, 10, 12.5, 11.0)),
                                           ((2,), activity_row(activity, 0, 4, None, 9.5)),
                                           ((5,), activity_row(activity, 7, 70, 1.0, 2.0))])
    put_features(store, profile, "prod", [((1,), row(profile, last_city_7d="beijing", last_ts_7d=1_700_000_000_000_000)),
                                          ((3,), row(profile, last_city_7d=None, last_ts_7d=5))])
    put_features(store, activity, "staging", [((4,), activity_row(activity, 99, 99, 9.9, 9.9))])


def test_retrieval_n_entities_two_groups(store, ir):
    _seed(store, ir)
    statements = []
    store.set_trace_callback(statements.append)
    r = get_features(store, ir, ["rider_activity", "rider_profile"], {"rider_id": [1, 2, 3, 4, None, 1]}, "prod")
    store.set_trace_callback(None)
    assert len(statements) == 1                       # 5 entities x 2 groups: one query
    assert not r.degraded and r.errors == 0
    # the requested groups in order, each group's outputs in its `outputs` order
    assert list(r.columns) == [f"{g}.{c.name}" for g in ("rider_activity", "rider_profile")
                               for c in ir.group(g).outputs]
    assert sorted(r.columns) == sorted(["rider_activity.deliveries_1h", "rider_activity.deliveries_1d",
                                        "rider_activity.avg_eta_1h", "rider_activity.avg_eta_1d",
                                        "rider_profile.last_city_7d", "rider_profile.last_ts_7d"])
    c = {k: v.to_list() for k, v in r.columns.items()}
    # missing entities (3, 4 lives in `staging` only) and null keys take the defaults: 0 for counts
    assert c["rider_activity.deliveries_1h"] == [3, 0, 0, 0, 0, 3]
    assert c["rider_activity.avg_eta_1h"] == [12.5, None, None, None, None, 12.5]
    assert c["rider_activity.avg_eta_1d"] == [11.0, 9.5, None, None, None, 11.0]
    # declared default: missing records and a null in a record alike
    assert c["rider_profile.last_city_7d"] == ["beijing", "unknown", "unknown", "unknown", "unknown", "beijing"]
    assert c["rider_profile.last_ts_7d"] == [1_700_000_000_000_000, None, 5, None, None, 1_700_000_000_000_000]
    assert {k: v.dtype for k, v in r.columns.items()} == {
        "rider_activity.deliveries_1h": "int64", "rider_activity.deliveries_1d": "int64",
        "rider_activity.avg_eta_1h": "float64", "rider_activity.avg_eta_1d": "float64",
        "rider_profile.last_city_7d": "string", "rider_profile.last_ts_7d": "timestamp"}
    assert r.columns["rider_activity.deliveries_1d"].data.dtype == np.int64


def test_retrieval_feeds_transform_numpy(store, ir):
    from mlc.backends.preprocess import render
    from mlc.runtime.preprocess import module_from_text, transform_numpy

    _seed(store, ir)
    module = module_from_text(render(ir))
    riders = [5, 1, 42, 2]
    r = get_features(store, ir, ["rider_activity"], {"rider_id": riders}, "prod")
    columns = {"rider_id": Vec.of(riders, "int64"), "distance_km": Vec.of([1.0, 2.0, 3.0, 4.0], "float64"),
               "city": Vec.of(["beijing", None, "x", "y"], "string"), **r.columns}
    out = transform_numpy(module, columns, FITTED)
    assert out["load"].to_list() == [7, 3, 0, 0]
    assert out["dist_z"].to_list() == pytest.approx(np.log1p([1.0, 2.0, 3.0, 4.0]).tolist())


class _Exploding:
    def get_many(self, keys):
        raise ConnectionError("store down")

    def put_many(self, items, ttl_seconds=None):
        raise ConnectionError("store down")

    def close(self):
        pass


ALL_DEFAULTS = {"rider_activity.deliveries_1h": 0, "rider_activity.deliveries_1d": 0,
            "rider_activity.avg_eta_1h": None, "rider_activity.avg_eta_1d": None,
            "rider_profile.last_city_7d": "unknown", "rider_profile.last_ts_7d": None}


def _assert_degraded(r, n):
    assert r.degraded and r.errors == 1
    assert {k: v.to_list() for k, v in r.columns.items()} == {k: [v] * n for k, v in ALL_DEFAULTS.items()}


def test_broken_store_degrades_to_defaults(ir):
    r = get_features(_Exploding(), ir, ["rider_activity", "rider_profile"], {"rider_id": [1, 2, 3]}, "prod")
    _assert_degraded(r, 3)


def test_closed_sqlite_store_degrades(tmp_path, ir):
    s = SqliteStore(str(tmp_path / "gone.db"))
    _seed(s, ir)
    s.close()
    r = get_features(s, ir, ["rider_activity", "rider_profile"], {"rider_id": [1, 2]}, "prod")
    _assert_degraded(r, 2)


def test_locked_sqlite_store_times_out_and_degrades(tmp_path, ir):
    import sqlite3

    path = str(tmp_path / "locked.db")
    s = SqliteStore(path, timeout=0.05)
    _seed(s, ir)
    s.close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA journal_mode=DELETE")   # leave WAL: an exclusive lock now blocks readers
    blocker.execute("BEGIN EXCLUSIVE")
    s = SqliteStore(path, timeout=0.05, create=False)   # a reader: no WAL pragma, no table creation
    started = time.monotonic()
    r = get_features(s, ir, ["rider_activity", "rider_profile"], {"rider_id": [1]}, "prod")
    assert time.monotonic() - started < 2.5                      # SQLite's own default waits 5 s
    _assert_degraded(r, 1)
    blocker.execute("ROLLBACK")
    blocker.close()
    s.close()


def test_corrupt_record_degrades_only_its_group(store, ir):
    _seed(store, ir)
    activity = ir.group("rider_activity")
    store.put_many([(record_key(activity, "prod", (1,)), b"\x01garbage")])
    r = get_features(store, ir, ["rider_activity", "rider_profile"], {"rider_id": [1, 3]}, "prod")
    assert r.degraded and r.errors == 1
    assert r.columns["rider_activity.deliveries_1h"].to_list() == [0, 0]        # defaults
    assert r.columns["rider_profile.last_ts_7d"].to_list() == [1_700_000_000_000_000, 5]


def test_retrieval_caller_errors_raise(store, ir):
    with pytest.raises(ValueError, match="unknown feature group"):
        get_features(store, ir, ["nope"], {"rider_id": [1]}, "prod")
    with pytest.raises(ValueError, match="rider_id"):
        get_features(store, ir, ["rider_activity"], {"driver_id": [1]}, "prod")


def test_group_ttl_is_applied_on_write(tmp_path, ir):
    now = [0.0]
    s = SqliteStore(str(tmp_path / "g.db"), clock=lambda: now[0])
    profile = ir.group("rider_profile")                 # ttl: 2d
    put_features(s, profile, "prod", [((1,), ("x", 1))])
    now[0] = 2 * 86400 - 1
    assert get_features(s, ir, ["rider_profile"], {"rider_id": [1]}, "prod").columns["rider_profile.last_city_7d"].to_list() == ["x"]
    now[0] = 2 * 86400
    expired = get_features(s, ir, ["rider_profile"], {"rider_id": [1]}, "prod")
    assert expired.columns["rider_profile.last_city_7d"].to_list() == ["unknown"]   # the default
    assert expired.found["rider_profile"].tolist() == [False]
    s.close()


def test_statement_deadline_interrupts_slow_reads(store):
    from mlc.runtime.online_store import StoreTimeout

    store.put_many([(f"k{i}", b"v") for i in range(3000)])
    store.timeout = -1.0                               # every statement is already past its deadline
    with pytest.raises(StoreTimeout):
        store.get_many([f"k{i}" for i in range(3000)])
    store.timeout = 1.0
    assert store.get_many(["k1"]) == [b"v"]


# --- every backend (SQLite and a real Redis) -------------------------------------------------

@pytest.fixture(params=["sqlite", "redis"])
def backend_store(request, tmp_path):
    """The same store-level behaviour on each backend; Redis is flushed before every test."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:{tmp_path / 'online.db'}", timeout=1.0, create=True)
    else:
        url = request.getfixturevalue("redis_url")
        s = open_store(url, timeout=1.0)
        s.client.flushdb()
    s.backend = request.param
    yield s
    s.close()


def _reads(store):
    """How many store reads (SQLite statements / Redis MGET commands) were issued so far."""
    if store.backend == "redis":
        return store.client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)
    return store._reads


def _count_reads(store):
    if store.backend == "sqlite":
        store._reads = 0

        def trace(statement):
            store._reads += 1
        store.set_trace_callback(trace)
    return _reads(store)


def _ttl_of(store, key):
    if store.backend == "redis":
        return store.client.ttl(key)
    (expires,) = store.connection.execute("SELECT expires_at FROM online_features WHERE key = ?", (key,)).fetchone()
    return None if expires is None else (expires - time.time() * 1000) / 1000


def test_backend_round_trip_through_retrieval(backend_store, ir):
    _seed(backend_store, ir)
    r = get_features(backend_store, ir, ["rider_activity", "rider_profile"], {"rider_id": [1, 2, 3, 4, None]}, "prod")
    assert not r.degraded and r.errors == 0
    c = {k: v.to_list() for k, v in r.columns.items()}
    assert c["rider_activity.deliveries_1h"] == [3, 0, 0, 0, 0]
    assert c["rider_activity.avg_eta_1h"] == [12.5, None, None, None, None]
    assert c["rider_profile.last_city_7d"] == ["beijing", "unknown", "unknown", "unknown", "unknown"]
    assert r.found["rider_activity"].tolist() == [True, True, False, False, False]
    assert r.found["rider_profile"].tolist() == [True, False, True, False, False]
    assert c["rider_profile.last_ts_7d"] == [1_700_000_000_000_000, None, 5, None, None]
    assert r.columns["rider_activity.deliveries_1d"].data.dtype == np.int64


def test_backend_put_is_idempotent(backend_store, ir):
    activity = ir.group("rider_activity")
    rows = [((1,), activity_row(activity, 3, 10, 12.5, 11.0)), ((2,), activity_row(activity, 0, 4, None, 9.5))]
    for _ in range(3):
        assert put_features(backend_store, activity, "prod", rows) == 2
    put_features(backend_store, activity, "prod", [((2,), activity_row(activity, 1, 1, 1.0, 1.0))])
    r = get_features(backend_store, ir, ["rider_activity"], {"rider_id": [1, 2]}, "prod")
    assert r.columns["rider_activity.deliveries_1h"].to_list() == [3, 1]
    if backend_store.backend == "redis":
        assert backend_store.client.dbsize() == 2
    else:
        assert backend_store.connection.execute("SELECT count(*) FROM online_features").fetchone() == (2,)
    backend_store.put_many([("a", b"1")])
    backend_store.put_many([("a", b"1")])
    assert backend_store.get_many(["a", "a"]) == [b"1", b"1"]


def test_backend_ttl_is_applied(backend_store, ir):
    profile = ir.group("rider_profile")                 # ttl: 2d
    put_features(backend_store, profile, "prod", [((1,), ("x", 1))])
    ttl = _ttl_of(backend_store, record_key(profile, "prod", (1,)))
    assert 0 < ttl <= 2 * 86400
    backend_store.put_many([("short", b"1")], ttl_seconds=30)
    assert 0 < _ttl_of(backend_store, "short") <= 30
    backend_store.put_many([("forever", b"2")])
    assert _ttl_of(backend_store, "forever") in (None, -1)   # Redis: -1 = no expiry
    backend_store.put_many([("short", b"3")], ttl_seconds=60)   # a re-put refreshes the TTL
    assert 30 < _ttl_of(backend_store, "short") <= 60
    assert backend_store.get_many(["short", "forever"]) == [b"3", b"2"]
    with pytest.raises(ValueError):
        backend_store.put_many([("x", b"")], ttl_seconds=0)


def test_backend_missing_keys(backend_store, ir):
    backend_store.put_many([("k1", b"v1"), ("k3", b"")])
    assert backend_store.get_many(["k0", "k1", "k2", "k3", "k1"]) == [None, b"v1", None, b"", b"v1"]
    assert backend_store.get_many([]) == []
    r = get_features(backend_store, ir, ["rider_activity", "rider_profile"], {"rider_id": [7, 8]}, "prod")
    assert not r.degraded and r.errors == 0
    assert not any(f.any() for f in r.found.values())
    assert {k: v.to_list() for k, v in r.columns.items()} == {k: [v] * 2 for k, v in ALL_DEFAULTS.items()}


def test_backend_n_by_g_read_is_one_round_trip(backend_store, ir):
    _seed(backend_store, ir)
    before = _count_reads(backend_store)
    r = get_features(backend_store, ir, ["rider_activity", "rider_profile"], {"rider_id": list(range(40))}, "prod")
    after = _reads(backend_store)
    if backend_store.backend == "sqlite":
        backend_store.set_trace_callback(None)
    assert after - before == 1                        # 40 entities x 2 groups: one query / one MGET
    assert not r.degraded
    assert r.columns["rider_activity.deliveries_1h"].to_list()[:3] == [0, 3, 0]
    assert r.found["rider_activity"][:3].tolist() == [False, True, True]


def test_backend_large_batches(backend_store):
    backend_store.put_many([(f"k{i}", b"v") for i in range(2000)], ttl_seconds=3600)
    assert backend_store.get_many([f"k{i}" for i in range(2100)]) == [b"v"] * 2000 + [None] * 100


# --- Redis only ------------------------------------------------------------------------------

def _closed_port():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]               # nothing listens there once the socket closes


def test_unreachable_redis_degrades_quickly(ir):
    from mlc.runtime.online_store import StoreTimeout  # noqa: F401  (part of the StoreError family)

    s = open_store(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    started = time.monotonic()
    r = get_features(s, ir, ["rider_activity", "rider_profile"], {"rider_id": [1, 2, 3]}, "prod")
    assert time.monotonic() - started < 2.5
    _assert_degraded(r, 3)
    with pytest.raises(StoreError):
        s.get_many(["k"])
    with pytest.raises(StoreError):
        s.put_many([("k", b"v")], ttl_seconds=10)
    s.close()


def test_silent_redis_raises_store_timeout(ir):
    """A server that accepts connections but never answers: the read timeout bounds the call."""
    import socket

    from mlc.runtime.online_store import StoreTimeout

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)                            # the kernel completes the handshake; nobody replies
        s = open_store(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout=0.2)
        started = time.monotonic()
        with pytest.raises(StoreTimeout):
            s.get_many(["k"])
        r = get_features(s, ir, ["rider_activity"], {"rider_id": [1]}, "prod")
        assert time.monotonic() - started < 5.0                  # without the timeout: forever
        assert r.degraded and r.errors == 1
        s.close()


def test_redis_get_many_is_one_mget_and_put_is_one_pipeline(redis_url):
    backend_store = open_store(redis_url, timeout=1.0)
    backend_store.client.flushdb()
    stats = lambda: backend_store.client.info("commandstats")  # noqa: E731
    before = stats()
    backend_store.put_many([(f"k{i}", b"v") for i in range(5)], ttl_seconds=10)
    after = stats()
    calls = lambda s, c: s.get(f"cmdstat_{c}", {}).get("calls", 0)  # noqa: E731
    assert calls(after, "set") - calls(before, "set") == 5
    assert calls(after, "multi") == calls(before, "multi")          # transaction=False
    before = stats()
    assert backend_store.get_many(["k1", "x", "k4"]) == [b"v", None, b"v"]
    after = stats()
    assert calls(after, "mget") - calls(before, "mget") == 1
    assert calls(after, "get") == calls(before, "get")
    backend_store.close()
