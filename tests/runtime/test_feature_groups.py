"""Windowed feature groups on Spark: snapshots, point-in-time joins (no leakage), consistency.

Convention under test: at time T an event at t is in window w iff T - w <= t < T."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from specs import MINIMAL_SPEC

from mlc.runtime.features.feature_groups import point_in_time, snapshot

T0 = datetime(2024, 1, 2, tzinfo=timezone.utc)
T0_S = int(T0.timestamp())
H, D = 3600, 86400

# A two-column entity key, int64 unix-seconds event time, every aggregation function.
MULTI_SPEC = """\
version: 1
name: fg
entities:
  rider_city: {keys: [rider_id, city]}
sources:
  orders:
    kind: csv
    path: data/orders.csv
    event_time: ts
    columns: {ts: int64, rider_id: int64, eta: float64, city: string, status: string}
feature_groups:
  act:
    entity: rider_city
    source: orders
    windows: [1h, 1d]
    filter: "status != 'void'"
    features:
      n: count()
      eta_sum: sum(eta)
      eta_avg: avg(eta)
      eta_min: min(eta)
      eta_max: max(eta * 2.0)
      last_status: last(status)
      distinct_eta: approx_count_distinct(eta)
preprocess:
  inputs:
    rider_id: {dtype: int64}
    city: {dtype: string, default: unknown}
  features:
    x: "coalesce(act.n_1h, 0)"
"""


def _group(tmp_path_factory, name, text):
    from mlc.compiler.pipeline import build

    root = tmp_path_factory.mktemp(name)
    (root / "data").mkdir()
    (root / "data" / "orders.csv").write_text("ts,rider_id,eta,distance_km,city,status\n")
    spec = root / "spec.mlc.yaml"
    spec.write_text(text)
    result = build(str(spec))
    assert result.failed_stage is None, result.diagnostics
    (group,) = result.ir.feature_groups
    return group


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return _group(tmp_path_factory, "multi", MULTI_SPEC)


@pytest.fixture(scope="module")
def activity(tmp_path_factory):
    return _group(tmp_path_factory, "minimal", MINIMAL_SPEC)


# (offset seconds from T0, rider_id, city, eta, status)
MULTI_EVENTS = [
    (-H, 1, "a", 10.0, "delivered"),       # exactly as_of - 1h: in both windows
    (-60, 1, "a", 20.0, "picked"),         # three events tie at -60: last() takes the largest value
    (-60, 1, "a", 30.0, "delivered"),
    (-60, 1, "a", 20.0, "accepted"),
    (-10, 1, "a", 1000.0, "void"),         # filtered out
    (0, 1, "a", 500.0, "zzz"),             # exactly at as_of: excluded
    (-2 * H, 1, "a", 20.0, "done"),        # 1d only
    (-D, 1, "a", 40.0, "delivered"),       # exactly as_of - 1d: in 1d
    (-D - 1, 1, "a", 50.0, "delivered"),   # before every window
    (-2 * H, 1, "b", 7.0, "delivered"),    # same rider, other city: a different entity, 1d only
    (100, 2, "a", 1.0, "delivered"),       # only after as_of: no row
    (-10, 3, "a", 1.0, "void"),            # only filtered-out events: defaults
]

EXPECTED_1A = {
    "n_1h": 4, "eta_sum_1h": 80.0, "eta_avg_1h": 20.0, "eta_min_1h": 10.0, "eta_max_1h": 60.0,
    "last_status_1h": "picked", "distinct_eta_1h": 3,
    "n_1d": 6, "eta_sum_1d": 140.0, "eta_avg_1d": 140.0 / 6, "eta_min_1d": 10.0, "eta_max_1d": 80.0,
    "last_status_1d": "picked", "distinct_eta_1d": 4,
}
EMPTY_1H = {"n_1h": 0, "eta_sum_1h": None, "eta_avg_1h": None, "eta_min_1h": None, "eta_max_1h": None,
            "last_status_1h": None, "distinct_eta_1h": 0}
EXPECTED_1B = {**EMPTY_1H, "n_1d": 1, "eta_sum_1d": 7.0, "eta_avg_1d": 7.0, "eta_min_1d": 7.0,
               "eta_max_1d": 14.0, "last_status_1d": "delivered", "distinct_eta_1d": 1}
EXPECTED_3A = {**EMPTY_1H, **{k.replace("_1h", "_1d"): v for k, v in EMPTY_1H.items()}}


def _multi_events(spark, timestamps: bool):
    from pyspark.sql import functions as F

    rows = [(T0_S + off, r, c, e, s) for off, r, c, e, s in MULTI_EVENTS]
    df = spark.createDataFrame(rows, "ts long, rider_id long, city string, eta double, status string")
    if timestamps:
        df = df.withColumn("ts", F.timestamp_seconds("ts"))
    return df


def _by_key(df, keys):
    return {tuple(r[k] for k in keys): {c: r[c] for c in df.columns if c not in keys} for r in df.collect()}


def _assert_values(actual, expected):
    assert set(actual) == set(expected)
    for name, value in expected.items():
        if isinstance(value, float):
            assert actual[name] == pytest.approx(value), name
        else:
            assert actual[name] == value, name


@pytest.mark.parametrize("timestamps", [False, True], ids=["int64-seconds", "timestamp"])
def test_snapshot_known_answers(spark, multi, timestamps):
    out = snapshot(_multi_events(spark, timestamps), multi, "ts", T0)
    assert out.columns == ["rider_id", "city"] + [o.name for o in multi.outputs]
    rows = _by_key(out, ["rider_id", "city"])
    assert set(rows) == {(1, "a"), (1, "b"), (3, "a")}
    _assert_values(rows[(1, "a")], EXPECTED_1A)
    _assert_values(rows[(1, "b")], EXPECTED_1B)
    _assert_values(rows[(3, "a")], EXPECTED_3A)


def test_snapshot_microsecond_boundaries(spark, activity):
    us = timedelta(microseconds=1)
    rows = [(7, T0 - us, 1.0, "delivered"), (7, T0, 2.0, "delivered"),
            (7, T0 - timedelta(hours=1), 4.0, "delivered"), (7, T0 - timedelta(hours=1) - us, 8.0, "delivered"),
            (7, T0 - timedelta(hours=2), 16.0, "cancelled")]
    df = spark.createDataFrame(rows, "rider_id long, ts timestamp, eta double, status string")
    (row,) = snapshot(df, activity, "ts", T0).collect()
    assert row["deliveries_1h"] == 2 and row["avg_eta_1h"] == pytest.approx(2.5)     # 1 and 4
    assert row["deliveries_1d"] == 3 and row["avg_eta_1d"] == pytest.approx(13 / 3)  # 1, 4, 8


# Point in time: MINIMAL_SPEC's rider_activity (1h, 1d, status == 'delivered', count, avg(eta)).
# (offset seconds from T0, rider_id, eta, status)
EVENTS = [
    (0, 1, 10.0, "delivered"),
    (1800, 1, 20.0, "delivered"),
    (3600, 1, 30.0, "delivered"),      # exactly at L1's time: must not count for L1
    (3600, 1, 99.0, "cancelled"),
    (7200, 1, 40.0, "delivered"),      # after L1 and L2
    (0, 2, 5.0, "delivered"),
]
# (id, rider_id, offset of label time, label eta) -> (deliveries_1h, deliveries_1d, avg_eta_1h, avg_eta_1d)
LABELS = {
    "L1": ((1, 3600, 1.5), (2, 2, 15.0, 15.0)),
    "L1dup": ((1, 3600, 2.5), (2, 2, 15.0, 15.0)),    # same entity and time: its own row
    "L2": ((1, 5400, 3.5), (2, 3, 25.0, 20.0)),       # 1h: 1800 and 3600; 1d: 0, 1800, 3600
    "L3": ((1, 2 * D, 4.5), (0, 0, None, None)),      # every event older than 1d
    "L4": ((2, 0, 5.5), (0, 0, None, None)),          # the only event is exactly at the label time
    "L5": ((2, D, 6.5), (0, 1, None, 5.0)),           # the event is exactly label - 1d
    "L6": ((3, 3600, 7.5), (0, 0, None, None)),       # an entity with no events at all
}
# The order of the expected tuples above (not the group's output order: values are looked up by name).
OUT = ("rider_activity.deliveries_1h", "rider_activity.deliveries_1d",
       "rider_activity.avg_eta_1h", "rider_activity.avg_eta_1d")


def _events(spark):
    rows = [(r, T0 + timedelta(seconds=off), e, s) for off, r, e, s in EVENTS]
    return spark.createDataFrame(rows, "rider_id long, ts timestamp, eta double, status string")


def _labels(spark):
    rows = [(i, r, T0 + timedelta(seconds=off), eta) for i, ((r, off, eta), _) in LABELS.items()]
    # `eta` is the label: it shares a name with an event column and must come back untouched.
    return spark.createDataFrame(rows, "id string, rider_id long, label_ts timestamp, eta double")


def _check(actual, expected):
    for name, value in zip(OUT, expected):
        assert actual[name] == (pytest.approx(value) if isinstance(value, float) else value), name


def test_point_in_time_known_answers(spark, activity):
    out = point_in_time(_labels(spark), "label_ts", _events(spark), activity, "ts")
    # The label columns, then the group's outputs in its (canonical) output order.
    group_columns = [f"rider_activity.{o.name}" for o in activity.outputs]
    assert sorted(group_columns) == sorted(OUT)
    assert out.columns == ["id", "rider_id", "label_ts", "eta", *group_columns]
    rows = {r["id"]: r for r in out.collect()}
    assert set(rows) == set(LABELS)
    for label_id, ((rider, off, eta), expected) in LABELS.items():
        row = rows[label_id]
        assert (row["rider_id"], row["label_ts"].replace(tzinfo=None), row["eta"]) == \
            (rider, (T0 + timedelta(seconds=off)).replace(tzinfo=None), eta)
        _check(row, expected)


def test_point_in_time_does_not_leak(spark, activity):
    events = _events(spark)
    # A leaky join: the entity's features as of the end of the data.
    end = T0 + timedelta(seconds=7201)
    (leaky,) = snapshot(events, activity, "ts", end).where("rider_id = 1").collect()
    leaky_values = tuple(leaky[n.split(".", 1)[1]] for n in OUT)
    assert leaky_values == (1, 4, 40.0, 25.0)
    out = point_in_time(_labels(spark), "label_ts", events, activity, "ts")
    (row,) = out.where("id = 'L1'").collect()
    values = tuple(row[n] for n in OUT)
    assert values == (2, 2, 15.0, 15.0)          # hand-computed: events at 0 and 1800 only
    assert values != leaky_values
    # Including the event exactly at the label time would also be wrong: (3, 3, 20.0, 20.0).
    assert values != (3, 3, 20.0, 20.0)


def test_point_in_time_equals_snapshot_at_label_time(spark, activity):
    events = _events(spark)
    out = point_in_time(_labels(spark), "label_ts", events, activity, "ts")
    rows = {r["id"]: r for r in out.collect()}
    for label_id, ((rider, off, _), _expected) in LABELS.items():
        snap = snapshot(events, activity, "ts", T0 + timedelta(seconds=off)).where(f"rider_id = {rider}").collect()
        if snap:
            expected = tuple(snap[0][n.split(".", 1)[1]] for n in OUT)
        else:                                     # no event before T: the defaults
            expected = (0, 0, None, None)
        assert tuple(rows[label_id][n] for n in OUT) == expected, label_id


def test_point_in_time_multi_key_int64_times_matches_snapshot(spark, multi):
    events = _multi_events(spark, timestamps=False)
    labels = spark.createDataFrame(
        [(1, "a", T0_S), (1, "b", T0_S), (3, "a", T0_S), (9, "a", T0_S), (1, "a", T0_S + 61)],
        "rider_id long, city string, at long")
    out = point_in_time(labels, "at", events, multi, "ts")
    names = [f"act.{o.name}" for o in multi.outputs]
    assert out.columns == ["rider_id", "city", "at", *names]
    rows = {(r["rider_id"], r["city"], r["at"]): {n.split(".", 1)[1]: r[n] for n in names} for r in out.collect()}
    _assert_values(rows[(1, "a", T0_S)], EXPECTED_1A)
    _assert_values(rows[(1, "b", T0_S)], EXPECTED_1B)
    _assert_values(rows[(3, "a", T0_S)], EXPECTED_3A)
    _assert_values(rows[(9, "a", T0_S)], EXPECTED_3A)             # no events at all
    snap = _by_key(snapshot(events, multi, "ts", T0_S + 61), ["rider_id", "city"])
    _assert_values(rows[(1, "a", T0_S + 61)], snap[(1, "a")])
    # 61 s later: the event at T0 (eta 500, status zzz) now counts, and is the latest.
    assert rows[(1, "a", T0_S + 61)]["last_status_1h"] == "zzz"


DEFAULTS_SPEC = MINIMAL_SPEC.replace("      avg_eta: avg(eta)\n", "      avg_eta: avg(eta)\n    defaults: {avg_eta: -1}\n")


@pytest.fixture(scope="module")
def with_defaults(tmp_path_factory):
    return _group(tmp_path_factory, "defaults", DEFAULTS_SPEC)


def test_declared_defaults_match_offline_and_online(spark, with_defaults, tmp_path):
    """Training (point in time) and serving (snapshot -> store -> retrieval) give the same values
    where an aggregation has none: an empty window, and an entity the store has never seen."""
    from types import SimpleNamespace

    from mlc.runtime.online_store.sqlite_store import SqliteStore
    from mlc.runtime.online_store.retrieval import get_features, put_features

    group = with_defaults
    events = _events(spark)
    at = T0 + timedelta(seconds=2 * D)                 # rider 1's events are all older than 1d
    labels = spark.createDataFrame([("r1", 1, at), ("r2", 2, at), ("r3", 3, at)],
                                   "id string, rider_id long, label_ts timestamp")
    offline = {r["rider_id"]: tuple(r[n] for n in OUT)
               for r in point_in_time(labels, "label_ts", events, group, "ts").collect()}
    assert offline == {1: (0, 0, -1.0, -1.0), 2: (0, 0, -1.0, -1.0), 3: (0, 0, -1.0, -1.0)}

    store = SqliteStore(str(tmp_path / "online.db"))
    snap = snapshot(events, group, "ts", at).collect()
    assert {r["rider_id"] for r in snap} == {1, 2}     # rider 3 has no record at all
    put_features(store, group, "t", [((r["rider_id"],), tuple(r[o.name] for o in group.outputs)) for r in snap])
    served = get_features(store, SimpleNamespace(group=lambda name: group), [group.name], {"rider_id": [1, 2, 3]}, "t")
    store.close()
    online = {rider: tuple(served.columns[n].to_list()[i] for n in OUT) for i, rider in enumerate([1, 2, 3])}
    assert online == offline
    assert served.found[group.name].tolist() == [True, True, False]
