"""Benchmark: `mlc materialize` throughput, Spark local[*] into Redis and into SQLite.

    .venv/bin/pip install protobuf hiredis pyarrow   # protobuf: imported by bench/online_store.py
    .venv/bin/python bench/materialize.py [--entities 200000] [--events 1500000] [--runs 3]

Synthetic events for the three feature groups of ``bench/online_store.py`` (entity ``user``;
9, 8 and 12 outputs over windows 1h to 30d; every user has at least one event, the rest of
the events go to uniformly random users at uniformly random times over the 30 days before the
as-of time) are generated once into ``bench/out/materialize/data/events.parquet``. Each run
calls ``mlc.runtime.features.materialize.materialize`` (what ``mlc materialize SPEC --store URL --as-of
TS`` calls) on a fresh store: a throwaway ``redis-server`` (loopback, free port, no
persistence; ``FLUSHALL`` before each run) and a new SQLite file. For comparison the same
snapshots are also computed and discarded with Spark's ``noop`` sink, which is the Spark share
of the work. The first run of each variant warms up the JVM and Python workers and is dropped;
the variants' runs are interleaved so that machine noise hits them alike. Reported: median
seconds, entities/s (users with all three groups written) and records/s (one per user and
group).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import online_store  # noqa: E402  (the bench spec, redis-server helper and machine line)

WORKDIR = online_store.OUT / "materialize"
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
NAMESPACE = "bench"


# --- data ----------------------------------------------------------------------------------

def events_path(entities: int, events: int) -> Path:
    return WORKDIR / "data" / f"events_{entities}_{events}.parquet"


def generate_events(entities: int, events: int, seed: int = 11) -> dict:
    rng = np.random.default_rng(seed)
    users = np.concatenate([np.arange(1, entities + 1), rng.integers(1, entities + 1, events - entities)])
    horizon_us = 30 * 86_400 * 1_000_000
    as_of_us = int(AS_OF.timestamp()) * 1_000_000
    pick = lambda words: np.asarray(words, dtype=object)[rng.integers(0, len(words), events)]  # noqa: E731
    return {
        "ts": as_of_us - rng.integers(1, horizon_us, events),
        "user_id": users.astype(np.int64),
        "merchant_id": rng.integers(1, 20_000, events).astype(np.int64),
        "amount": np.round(rng.lognormal(3.0, 0.8, events), 2),
        "item_count": rng.integers(1, 8, events).astype(np.int64),
        "city": pick(online_store.CITIES),
        "category": pick(online_store.CATEGORIES),
        "device": pick(online_store.DEVICES),
        "status": np.where(rng.random(events) < 0.85, "paid", "cancelled").astype(object),
    }


def write_events(path: Path, columns: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {name: pa.array(values) for name, values in columns.items() if name != "ts"}
    arrays = {"ts": pa.array(columns["ts"], type=pa.timestamp("us", tz="UTC")), **arrays}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path, row_group_size=500_000)


def ensure_events(entities: int, events: int) -> Path:
    path = events_path(entities, events)
    if not path.exists():
        print(f"generating {events:,} events for {entities:,} users into {path}")
        write_events(path, generate_events(entities, events))
    return path


def spec_ir(events_file: Path):
    """The bench spec, its `events` source pointed at ``events_file``."""
    text = online_store.SPEC_TEXT.replace("path: data/events.parquet",
                                          f"path: {events_file.relative_to(WORKDIR).as_posix()}")
    WORKDIR.mkdir(parents=True, exist_ok=True)
    spec = WORKDIR / "bench.mlc.yaml"
    spec.write_text(text)
    from mlc.compiler.pipeline import build

    result = build(str(spec))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


# --- runs ----------------------------------------------------------------------------------

def run_materialize(spark, ir, store_url: str) -> tuple[float, dict]:
    from mlc.runtime.features.materialize import materialize

    start = time.perf_counter()
    counts = materialize(spark, ir, str(WORKDIR), store_url, NAMESPACE, AS_OF)
    return time.perf_counter() - start, counts


def run_snapshots_noop(spark, ir) -> tuple[float, dict]:
    """The Spark share: every online group's snapshot computed and discarded."""
    from mlc.runtime.features.feature_groups import snapshot
    from mlc.runtime.features.sources import read_source

    sources = {s.name: s for s in ir.sources}
    start = time.perf_counter()
    for group in ir.feature_groups:
        if group.online:
            source = sources[group.source]
            events = read_source(spark, source, str(WORKDIR))
            snapshot(events, group, source.event_time, AS_OF).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start, {}


def redis_run(spark, ir, url: str):
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    seconds, counts = run_materialize(spark, ir, url)
    keys = client.dbsize()
    client.close()
    assert keys == sum(counts.values()) + len(counts), (keys, counts)  # + one watermark per group
    return seconds, counts


def sqlite_run(spark, ir, run: int):
    path = WORKDIR / f"online-{run}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:
        return run_materialize(spark, ir, f"sqlite:{path}")
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def report(name: str, seconds: list[float], counts: dict, entities: int) -> None:
    median = statistics.median(seconds)
    records = sum(counts.values())
    rate = f"{entities / median:>10,.0f} entities/s {records / median:>10,.0f} records/s" if counts else ""
    print(f"{name:34s} median {median:6.2f} s  best {min(seconds):6.2f} s  {rate}"
          f"  runs: {', '.join(f'{s:.2f}' for s in seconds)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=1_500_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (after one warm-up)")
    args = parser.parse_args(argv)
    path = ensure_events(args.entities, args.events)
    ir = spec_ir(path)

    import pyspark
    import redis

    from mlc.runtime.features.session import local_session

    spark = local_session("bench-materialize")
    times: dict[str, list[float]] = {"redis": [], "sqlite": [], "snapshots only (noop sink)": []}
    counts: dict[str, dict] = {}
    with online_store.redis_server() as url:
        print(f"machine: {online_store.machine()}, Spark {pyspark.__version__}, "
              f"redis-server {online_store.redis_version(redis.Redis.from_url(url))}, "
              f"{args.events:,} events, {args.entities:,} users")
        for run in range(args.runs + 1):
            for name, fn in (("redis", lambda: redis_run(spark, ir, url)),
                             ("sqlite", lambda: sqlite_run(spark, ir, run)),
                             ("snapshots only (noop sink)", lambda: run_snapshots_noop(spark, ir))):
                seconds, got = fn()
                print(f"  run {run}{' (warm-up)' if run == 0 else ''}: {name} {seconds:.2f} s {got}", flush=True)
                if run:
                    times[name].append(seconds)
                    counts[name] = got
    spark.stop()
    print()
    for name, seconds in times.items():
        report(name, seconds, counts[name], args.entities)


if __name__ == "__main__":
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    main()
