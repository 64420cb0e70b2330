"""Shared by the real-time feature tests: a spec with a stream source, random event streams, and
the batch point-in-time reference values."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timezone
from pathlib import Path

SPEC = """\
version: 1
name: rt
entities:
  user: {keys: [user_id]}
sources:
  events:
    kind: json
    path: data/events.jsonl
    event_time: ts
    stream: {kind: files, path: stream/events, allowed_lateness: 2m, trigger: 1s, max_future: 1h}
    columns: {ts: timestamp, user_id: string, amount: float64, items: int64, item: string, ok: bool}
feature_groups:
  activity:
    entity: user
    source: events
    windows: [45s, 10m, 3h]
    filter: "amount > -40.0"
    features:
      events: count()
      items: sum(items)
      avg_amount: avg(amount)
      low: min(amount)
      high: max(items)
      latest: last(amount)
      last_ok: last(ok)
      kinds: approx_count_distinct(item)
    ttl: 1d
preprocess:
  inputs:
    user_id: {dtype: string}
    amount: {dtype: float64, default: 0.0}
  features:
    recent: "coalesce(activity.events_10m, 0)"
    amount_z: standardize(amount)
models:
  m:
    type: lr
    task: classification
    label: ok
    inputs: {dense: [amount_z, recent], sparse: []}
    training: {source: events, epochs: 1}
"""

BASE = int(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()) * 1_000_000
USERS = [f"u{i}" for i in range(6)]


def project(tmp_path: Path, events: list[dict] | None = None) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    write_events(tmp_path / "data" / "events.jsonl", events or [])
    (tmp_path / "rt.mlc.yaml").write_text(SPEC)
    return tmp_path / "rt.mlc.yaml"


def ir_of(path: Path):
    from mlc.compiler.pipeline import build

    result = build(str(path))
    assert result.ok, result
    return result.ir


def iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_events(path: Path, events: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


def random_events(rng: random.Random, count: int, start_us: int, span_s: int) -> list[dict]:
    """Events with random keys and times over ``span_s`` seconds, with gaps longer than the
    windows (a quiet stretch in the middle), nulls and repeated values."""
    events = []
    for _ in range(count):
        offset = rng.random() * span_s
        if span_s > 8 * 3600 and span_s * 0.4 < offset < span_s * 0.6:
            offset = span_s * 0.6 + rng.random() * span_s * 0.4     # a gap longer than every window
        t = start_us + int(offset * 1e6)
        events.append({
            "ts": iso(t), "user_id": rng.choice(USERS),
            "amount": None if rng.random() < 0.1 else round(rng.uniform(-50, 100), 2),
            "items": None if rng.random() < 0.1 else rng.randint(0, 9),
            "item": rng.choice(["a", "b", "c", "d", None]),
            "ok": rng.random() < 0.6,
        })
    return events


def micros_of(event: dict) -> int:
    moment = datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def reference(spark, ir, events_path: Path, requests: list[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """Batch point-in-time values of group `activity` at each (user, time): the offline truth."""
    from pyspark.sql import functions as F

    from mlc.runtime.features.feature_groups import point_in_time
    from mlc.runtime.features.sources import read_source

    source = ir.sources[0]
    events = read_source(spark, source, str(events_path.parent.parent), str(events_path))
    labels = spark.createDataFrame([(u, t) for u, t in requests], "user_id string, t bigint")
    labels = labels.withColumn("at", F.timestamp_micros("t")).drop("t")
    group = ir.group("activity")
    rows = point_in_time(labels, "at", events, group, source.event_time).collect()
    out = {}
    for row in rows:
        moment = row["at"].replace(tzinfo=timezone.utc)
        delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
        t = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        out[(row["user_id"], t)] = {o.name: row[f"activity.{o.name}"] for o in group.outputs}
    return out


def online(store, ir, requests: list[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    from mlc.runtime.online_store import get_features

    group = ir.group("activity")
    out = {}
    for user, t in requests:
        got = get_features(store, ir, ["activity"], {"user_id": [user]}, ir.name, now_us=t)
        values = {}
        for o in group.outputs:
            vec = got.columns[f"activity.{o.name}"]
            value = vec.data[0].item() if vec.valid[0] else None
            values[o.name] = bool(value) if o.dtype == "bool" and value is not None else value
        out[(user, t)] = values
    return out


def mismatches(expected: dict, actual: dict) -> list[str]:
    bad = []
    for key, want in expected.items():
        got = actual[key]
        for name, value in want.items():
            other = got[name]
            if isinstance(value, float) and isinstance(other, float):
                if math.isnan(value) and math.isnan(other):
                    continue
                if math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9):
                    continue
            elif value == other:
                continue
            bad.append(f"{key} {name}: batch {value!r} != online {other!r}")
    return bad
