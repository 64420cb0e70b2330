"""Real-time feature groups: windows served from tiles at request time T equal the batch
point-in-time values at T (random event streams, both online stores)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realtime_helpers import BASE, USERS, ir_of, iso, micros_of, mismatches, online, project, random_events, reference  # noqa: E402

HOUR = 3600 * 1_000_000


def _requests(rng, start_us, span_us, count):
    return [(rng.choice(USERS), start_us + rng.randrange(span_us)) for _ in range(count)]


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_batch_tiles_equal_point_in_time_at_any_later_time(spark, tmp_path, store_kind, redis_url):
    from mlc.runtime.features.materialize import batch_boundary, materialize
    from mlc.runtime.online_store import open_store

    rng = random.Random(11 if store_kind == "sqlite" else 12)
    events = random_events(rng, 400, BASE, 10 * 3600)
    spec = project(tmp_path, events)
    ir = ir_of(spec)
    group = ir.group("activity")
    as_of = max(micros_of(e) for e in events) + 1
    url = f"sqlite:{tmp_path / 'online.sqlite'}" if store_kind == "sqlite" else redis_url
    if store_kind == "redis":
        open_store(url).client.flushdb()
    materialize(spark, ir, str(tmp_path), url, ir.name, as_of // 1_000_000 + 1)
    boundary = batch_boundary(group, (as_of // 1_000_000 + 1) * 1_000_000)
    # the batch side holds the events before the boundary; requests from then on, decaying to nothing
    kept = [e for e in events if micros_of(e) < boundary]
    (tmp_path / "data" / "kept.jsonl").write_text("".join(json.dumps(e) + "\n" for e in kept))
    requests = _requests(rng, boundary, 4 * HOUR, 60) + [(USERS[0], boundary), (USERS[1], boundary + 1)]
    expected = reference(spark, ir, tmp_path / "data" / "kept.jsonl", requests)
    store = open_store(url, timeout=5.0)
    try:
        actual = online(store, ir, requests)
    finally:
        store.close()
    assert not mismatches(expected, actual)
    assert any(v["events_3h"] for v in expected.values()), "the check must see non-empty windows"
    assert any(v["events_3h"] == 0 for v in expected.values()), "and windows that slid past every event"


def _stream_files(rng, stream_events, lateness_s=120):
    """Sorted events cut into files; each later file also carries events a little before the
    previous file's latest (within the lateness: they count) and some far behind (dropped)."""
    ordered = sorted(stream_events, key=micros_of)
    size = len(ordered) // 4 + 1
    files, too_late = [], []
    for k in range(0, len(ordered), size):
        files.append(list(ordered[k:k + size]))
    for k in range(1, len(files)):
        latest = max(micros_of(e) for e in files[k - 1])
        for _ in range(3):
            inside = dict(rng.choice(files[k]), ts=iso(latest - rng.randrange(10, lateness_s - 20) * 1_000_000))
            files[k].append(inside)
        late = dict(rng.choice(files[k]), ts=iso(latest - (lateness_s + 600) * 1_000_000))
        files[k].append(late)
        too_late.append(late)
    return files, too_late


BAD_LINES = ['not json at all', '{"user_id": "u1", "amount": 3.0}',              # no time
             '{"ts": "2026-03-01T01:00:00Z", "user_id": "u1", "amount": "lots"}',   # wrong type
             '{"ts": "2031-01-01T00:00:00Z", "user_id": "u1", "amount": 1.0}']      # far future


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_stream_plus_batch_equals_point_in_time(spark, tmp_path, store_kind, redis_url):
    from mlc.runtime.features.materialize import batch_boundary, materialize
    from mlc.runtime.online_store import open_store
    from mlc.runtime.streaming.job import run
    from mlc.runtime.streaming.status import read_status

    rng = random.Random(21 if store_kind == "sqlite" else 22)
    events = random_events(rng, 500, BASE, 6 * 3600)
    cut = BASE + 3 * HOUR + 17 * 60 * 1_000_000
    batch = [e for e in events if micros_of(e) < cut]
    spec = project(tmp_path, batch)
    ir = ir_of(spec)
    group = ir.group("activity")
    url = f"sqlite:{tmp_path / 'online.sqlite'}" if store_kind == "sqlite" else redis_url
    if store_kind == "redis":
        open_store(url).client.flushdb()
    materialize(spark, ir, str(tmp_path), url, ir.name, cut // 1_000_000)
    boundary = batch_boundary(group, cut)
    # the stream carries everything from 30 min before the boundary: the overlap must count once
    files, too_late = _stream_files(rng, [e for e in events if micros_of(e) >= boundary - HOUR // 2])
    end = max(micros_of(e) for chunk in files for e in chunk)
    files[-1] += [dict(files[-1][0], user_id=u, amount=5.0, ts=iso(end + (i + 1) * 1_000_000))
                  for i, u in enumerate(USERS[:3])]     # a burst at the end: short windows hold events
    folder = tmp_path / "stream" / "events"
    state = tmp_path / "state"
    for k, chunk in enumerate(files):
        folder.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(e) for e in chunk] + (BAD_LINES if k == 1 else [])
        (folder / f"part-{k}.jsonl").write_text("\n".join(lines) + "\n")
        run(ir, spec_dir=str(tmp_path), store_url=url, namespace=ir.name, state_dir=str(state), spark=spark,
            available_now=True)
    status = read_status(str(state))
    source = status["sources"]["events"]
    assert source["bad"] == {"not_json": 1, "missing_key": 1, "wrong_type": 1, "future": 1}
    assert source["late"] == len(too_late)
    assert status["groups"]["activity"]["freshness_p99_s"] >= status["groups"]["activity"]["freshness_p50_s"] > 0

    truth = [e for e in events if micros_of(e) < boundary] + \
            [e for chunk in files for e in chunk if micros_of(e) >= boundary and e not in too_late]
    write = tmp_path / "data" / "truth.jsonl"
    write.write_text("".join(json.dumps(e) + "\n" for e in truth))
    latest = max(micros_of(e) for e in truth)
    requests = _requests(rng, latest + 1, 4 * HOUR, 50) + [(u, latest + 1) for u in USERS]
    expected = reference(spark, ir, write, requests)
    store = open_store(url, timeout=5.0)
    try:
        actual = online(store, ir, requests)
    finally:
        store.close()
    assert not mismatches(expected, actual)
    assert any(v["events_45s"] for v in expected.values()), "short windows must be exercised"
    assert any(v["kinds_10m"] > 1 for v in expected.values())


def _lines_df(spark, events):
    return spark.createDataFrame([(json.dumps(e),) for e in events], "value string")


def test_a_replayed_micro_batch_changes_nothing(spark, tmp_path):
    """Spark replays an unfinished micro-batch after a restart: applying it again is a no-op."""
    from mlc.runtime.streaming.job import BatchApplier
    from mlc.runtime.online_store import open_store

    rng = random.Random(5)
    events = sorted(random_events(rng, 120, BASE, 3600), key=micros_of)     # in order: nothing late
    ir = ir_of(project(tmp_path))
    url = f"sqlite:{tmp_path / 'online.sqlite'}"
    applier = BatchApplier(ir, ir.sources[0], url, ir.name, str(tmp_path / "state"))
    first = applier.apply(_lines_df(spark, events[:60]), 0)
    second = applier.apply(_lines_df(spark, events[60:]), 1)

    def records():
        store = open_store(url, timeout=5.0, create=True)
        try:
            rows = store.connection.execute("SELECT key, value FROM online_features").fetchall()
            return {k: v for k, v in rows if "__mlc_stream__" not in k}     # not the freshness record
        finally:
            store.close()

    before = records()
    again = applier.apply(_lines_df(spark, events[60:]), 1)      # the replay
    assert records() == before
    assert again["sources"]["events"]["events"] == second["sources"]["events"]["events"] == 120
    assert first["sources"]["events"]["batches"] == 1 and again["sources"]["events"]["batches"] == 2
    truth = tmp_path / "data" / "truth.jsonl"
    truth.write_text("".join(json.dumps(e) + "\n" for e in events))
    latest = max(micros_of(e) for e in events)
    requests = [(u, latest + 1) for u in USERS]
    store = open_store(url, timeout=5.0)
    try:
        assert not mismatches(reference(spark, ir, truth, requests), online(store, ir, requests))
    finally:
        store.close()


def _wait_for(condition, timeout, what):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _publish(folder, name, events):
    """A new file in the stream folder, atomically (the file source must never see half of it)."""
    temporary = folder / f".tmp-{name}"
    temporary.write_text("".join(json.dumps(e) + "\n" for e in events))
    temporary.rename(folder / name)


def test_killed_stream_job_restarts_without_double_counting_or_loss(spark, tmp_path):
    import os
    import signal
    import subprocess

    from mlc.runtime.online_store import open_store
    from mlc.runtime.streaming.status import read_status

    rng = random.Random(9)
    events = sorted(random_events(rng, 600, BASE, 2 * 3600), key=micros_of)
    spec = project(tmp_path)
    build = tmp_path / "build"
    compiled = subprocess.run([sys.executable, "-m", "mlc", "compile", str(spec), "-o", str(build)],
                              capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    ir = ir_of(spec)
    url = f"sqlite:{tmp_path / 'online.sqlite'}"
    state = tmp_path / "state"
    folder = tmp_path / "stream" / "events"
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "mlc.runtime.stream_job", "--mldl", str(build / "mldl.json"), "--store", url,
               "--state-dir", str(state), "--data-root", str(tmp_path)]
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": "--master local[2] pyspark-shell"}
    chunks = [events[k:k + 100] for k in range(0, len(events), 100)]
    log = open(tmp_path / "job.log", "wb")          # a file, not a pipe: a full pipe would block the job
    job = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _publish(folder, "part-0.jsonl", chunks[0])
        applied = lambda: (read_status(str(state)) or {}).get("sources", {}).get("events", {}).get("events", 0)
        _wait_for(lambda: applied() >= 100 or job.poll() is not None, 900, "the first file to be applied")
        assert job.poll() is None, (tmp_path / "job.log").read_text(errors="replace")[-3000:]
        for k in (1, 2, 3):
            _publish(folder, f"part-{k}.jsonl", chunks[k])
        job.send_signal(signal.SIGKILL)                       # mid-stream: files 1-3 seen or not
    finally:
        if job.poll() is None:
            job.kill()
        job.wait(timeout=30)
        log.close()
    for k in (4, 5):
        _publish(folder, f"part-{k}.jsonl", chunks[k])
    restarted = subprocess.run(command + ["--available-now"], env=env, capture_output=True, text=True, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert read_status(str(state))["sources"]["events"]["applied"] >= 600
    truth = tmp_path / "data" / "truth.jsonl"
    truth.write_text("".join(json.dumps(e) + "\n" for e in events))
    latest = micros_of(events[-1])
    requests = [(u, latest + 1) for u in USERS] + _requests(rng, latest + 1, HOUR, 20)
    store = open_store(url, timeout=5.0)
    try:
        assert not mismatches(reference(spark, ir, truth, requests), online(store, ir, requests))
    finally:
        store.close()


KAFKA = "stream: {kind: kafka, topic: orders.v1, bootstrap_servers: 'k1:9092,k2:9092', starting_offsets: earliest"


def _kafka_ir(tmp_path, fmt):
    from realtime_helpers import SPEC

    text = SPEC.replace("stream: {kind: files, path: stream/events, allowed_lateness: 2m, trigger: 1s, max_future: 1h}",
                        KAFKA + f", format: {fmt}}}")
    (tmp_path / "rt.mlc.yaml").write_text(text)
    (tmp_path / "data").mkdir(exist_ok=True)
    return ir_of(tmp_path / "rt.mlc.yaml")


def _kafka_rows(spark, values):
    from datetime import datetime

    rows = [(b"k", v.encode(), "orders.v1", 0, i, datetime(2026, 3, 1)) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset long, "
                                       "timestamp timestamp")


def test_kafka_options_and_json_values_decode_like_files(spark, tmp_path):
    from mlc.runtime.streaming.decode import decode, kafka_options, kafka_values

    ir = _kafka_ir(tmp_path, "json")
    source = ir.sources[0]
    assert kafka_options(source) == {"kafka.bootstrap.servers": "k1:9092,k2:9092", "subscribe": "orders.v1",
                                     "startingOffsets": "earliest", "failOnDataLoss": "false"}
    values = ['{"ts": "2026-03-01T00:00:01Z", "user_id": "u1", "amount": 2.5, "items": 3, "item": "a", "ok": true}',
              '{"ts": 1772323200, "user_id": "u2", "amount": null, "items": "3", "ok": false}',
              "{broken", '{"user_id": "u3"}', '{"ts": "2026-03-01T00:00:01Z", "user_id": "u4", "items": "many"}',
              '{"ts": "2099-01-01T00:00:00Z", "user_id": "u5"}',
              '{"ts": "2026-03-01T00:00:01Z", "user_id": "u6", "user_id": "u7"}']     # a repeated key: the first
    now = BASE + HOUR
    rows = decode(kafka_values(_kafka_rows(spark, values)), ir, source, now).collect()
    assert [r["__mlc_bad"] for r in rows] == [None, None, "not_json", "missing_key", "wrong_type", "future", None]
    assert rows[-1]["user_id"] == "u6"
    good = rows[0]
    assert (good["user_id"], good["amount"], good["items"], good["item"], good["ok"]) == ("u1", 2.5, 3, "a", True)
    assert rows[1]["items"] == 3 and rows[1]["amount"] is None and rows[1]["ts"].year == 2026


def test_kafka_csv_values_follow_the_declared_column_order(spark, tmp_path):
    from mlc.runtime.streaming.decode import decode, kafka_values

    ir = _kafka_ir(tmp_path, "csv")
    source = ir.sources[0]
    assert dict(source.stream.options)["csv_columns"] == ["ts", "user_id", "amount", "items", "item", "ok"]
    values = ["2026-03-01T00:00:01Z,u1,2.5,3,a,true", "2026-03-01T00:00:02Z,u2,,x,b,false", "only,two"]
    rows = decode(kafka_values(_kafka_rows(spark, values)), ir, source, BASE + HOUR).collect()
    assert [r["__mlc_bad"] for r in rows] == [None, "wrong_type", "not_json"]
    assert (rows[0]["user_id"], rows[0]["amount"], rows[0]["items"], rows[0]["ok"]) == ("u1", 2.5, 3, True)


def test_min_max_last_of_a_string_in_a_realtime_group_is_refused(tmp_path):
    from realtime_helpers import SPEC

    from mlc.compiler.pipeline import build

    (tmp_path / "data").mkdir()
    (tmp_path / "rt.mlc.yaml").write_text(SPEC.replace("      kinds: approx_count_distinct(item)\n",
                                                       "      kinds: approx_count_distinct(item)\n"
                                                       "      last_item: last(item)\n"))
    result = build(str(tmp_path / "rt.mlc.yaml"))
    assert not result.ok
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["E5047"]


def test_every_start_rewrites_the_status(spark, tmp_path):
    """`mlc run` waits for a status written after it started the job, also on a restart."""
    from mlc.runtime.streaming.job import run
    from mlc.runtime.streaming.status import read_status

    ir = ir_of(project(tmp_path))
    (tmp_path / "stream" / "events").mkdir(parents=True)
    options = dict(spec_dir=str(tmp_path), store_url=f"sqlite:{tmp_path / 'o.sqlite'}", namespace=ir.name,
                   state_dir=str(tmp_path / "state"), spark=spark, available_now=True)
    first = run(ir, **options)["started_at_us"]
    assert run(ir, **options)["started_at_us"] > first


def test_progress_of_old_micro_batches_is_forgotten(tmp_path):
    """Like Spark's checkpoint, only the last PROGRESS_KEPT micro-batches' decisions are kept."""
    from mlc.runtime.streaming.job import PROGRESS_KEPT, BatchApplier
    from mlc.runtime.streaming.status import progress_dir

    ir = ir_of(project(tmp_path))
    applier = BatchApplier(ir, ir.sources[0], f"sqlite:{tmp_path / 'o.sqlite'}", ir.name, str(tmp_path / "state"))
    folder = Path(progress_dir(str(tmp_path / "state"), "events"))
    folder.mkdir(parents=True)
    for batch in range(PROGRESS_KEPT + 20):
        (folder / f"{batch:012d}.json").write_text("{}")
    (folder / "epoch.json").write_text('{"epoch": 3}')
    applier._forget(20)
    left = sorted(p.name for p in folder.iterdir())
    assert left[0] == f"{20:012d}.json" and len(left) == PROGRESS_KEPT + 1 and "epoch.json" in left
