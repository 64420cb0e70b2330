"""Benchmark: real-time feature groups (issue 17).

    .venv/bin/python bench/realtime.py [--entities 5000] [--iterations 400] [--rate 5000] [--seconds 40]

(a) ``get_features`` for 200 entities x 3 groups on Redis, measured side by side in one process
    (calls interleaved round-robin): the real-time (tiled) layout, evaluated at request time, vs
    today's snapshot layout and the Feast-like layout of bench/online_store.py, on the groups of
    bench/online_store.py's spec (its string ``last(...)`` features left out of every layout:
    real-time groups aggregate numbers). Tiles come from synthetic events (about 40 per entity
    over 30 days) through the real batch path (Spark ``tile_partials`` + the tile codec).
(b) The local streaming job (SQLite store, ``local[*]``): a feeder appends one JSON-lines file
    every 0.5 s at ``--rate`` events/s with current event times; reported: events/s applied, and
    event-to-visible freshness p50/p99 of the micro-batches (from the job's status.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import online_store as base  # noqa: E402  (bench/online_store.py)

NUMERIC_SPEC = base.SPEC_TEXT
for line in ("      last_category: last(category)\n", "      last_device: last(device)\n",
             "      last_city: last(city)\n"):
    NUMERIC_SPEC = NUMERIC_SPEC.replace(line, "")
REALTIME_SPEC = NUMERIC_SPEC.replace("    event_time: ts\n",
                                     "    event_time: ts\n    stream: {kind: files, path: stream/events}\n")
REALTIME_SPEC = REALTIME_SPEC.replace("kind: parquet\n    path: data/events.parquet",
                                      "kind: json\n    path: data/events.jsonl")


def compile_spec(folder: Path, text: str):
    from mlc.compiler.pipeline import build

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s.mlc.yaml").write_text(text)
    result = build(str(folder / "s.mlc.yaml"))
    assert result.ok
    return result.ir


def synthetic_events(ids: list[int], per_entity: int, as_of: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for user in ids:
        for _ in range(rng.randint(1, 2 * per_entity)):
            t = as_of - int(rng.expovariate(1 / (5 * 86400)) * 1e6) % (30 * 86400 * 10**6) - 1
            rows.append((t, user, rng.randint(1, 500), round(rng.uniform(1, 80), 2), rng.randint(1, 6),
                         rng.choice(["paid", "paid", "cancelled"])))
    return rows


def load_realtime(spark, ir, store, rows, as_of_us: int) -> None:
    from pyspark.sql import functions as F

    from mlc.runtime.features.materialize import _put_tiles
    from mlc.runtime.features.tiling import entity_tiles, tile_partials

    df = spark.createDataFrame(rows, "t long, user_id long, merchant_id long, amount double, item_count long, "
                                     "status string").withColumn("ts", F.timestamp_micros("t"))
    for group in ir.feature_groups:
        per_entity = entity_tiles(tile_partials(df, group, "ts", before_us=as_of_us), group).collect()
        for start in range(0, len(per_entity), 500):
            _put_tiles(store, group, base.NAMESPACE, [tuple(r) for r in per_entity[start:start + 500]], 1)
    from mlc.runtime.online_store.retrieval import boundary_key

    store.put_many([(boundary_key(base.NAMESPACE, g.name), str(as_of_us).encode()) for g in ir.feature_groups])


def interleaved(variants: dict, iterations: int) -> dict:
    samples = {name: [] for name in variants}
    for _ in range(max(20, iterations // 10)):
        for fn in variants.values():
            fn()
    for _ in range(iterations):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: base.summary(values) for name, values in samples.items()}


def bench_fetch(entities: int, iterations: int) -> dict:
    import redis

    from mlc.runtime.features.session import local_session
    from mlc.runtime.online_store import get_features

    work = Path(tempfile.mkdtemp(prefix="mlc-bench-rt-"))
    snapshot_ir = compile_spec(work / "snapshot", NUMERIC_SPEC)
    realtime_ir = compile_spec(work / "realtime", REALTIME_SPEC)
    groups = base.online_groups(snapshot_ir)
    names = [g.name for g in groups]
    ids = list(range(1, entities + 1))
    as_of_us = base.AS_OF_SECONDS * 1_000_000
    with base.redis_server() as url:
        store = base.open_mlc_store(url, "hiredis" if _has("hiredis") else "python")
        client = redis.Redis.from_url(url)
        rows = base.entity_rows(groups, ids, seed=1)
        base.load_mlc(store, groups, ids, rows)
        feast = base.FeastLike(client, groups)
        feast.load(ids, rows)
        spark = local_session("mlc-bench-realtime", cores="2")
        load_realtime(spark, realtime_ir, store, synthetic_events(ids, 40, as_of_us, 3), as_of_us)
        spark.stop()
        rnd = random.Random(7)
        request = rnd.sample(ids, base.BATCH)
        now = as_of_us + 3_600 * 10**6
        variants = {
            "real-time tiles, evaluated at T": lambda: get_features(store, realtime_ir, names, {"user_id": request},
                                                                    base.NAMESPACE, now_us=now),
            "snapshot records (today's layout)": lambda: base.read_mlc(store, snapshot_ir, names, request),
            "Feast-like: HGETALL x 200, 1 pipeline": lambda: feast.read_hgetall(names, request),
        }
        results = interleaved(variants, iterations)
        sizes = [len(v) for k, v in _sample_values(client, realtime_ir)]
        results["_tile_record_bytes"] = {"median": statistics.median(sizes), "max": max(sizes)}
        store.close()
        client.close()
    return results


def _sample_values(client, ir):
    keys = [k for k in client.scan_iter(match=f"{base.NAMESPACE}:user_*", count=1000)][:3000]
    realtime = {f"{base.NAMESPACE}:{g.name}:" for g in ir.feature_groups}
    keys = [k for k in keys if any(k.decode().startswith(p) for p in realtime)]
    return [(k, client.get(k)) for k in keys]


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# --- (b) the streaming job -----------------------------------------------------------------

def bench_stream(rate: int, seconds: int) -> dict:
    from mlc.runtime.streaming.job import run
    from mlc.runtime.streaming.status import read_status

    work = Path(tempfile.mkdtemp(prefix="mlc-bench-stream-"))
    (work / "data").mkdir()
    (work / "data" / "events.jsonl").write_text("")
    ir = compile_spec(work, REALTIME_SPEC)
    folder = work / "stream" / "events"
    folder.mkdir(parents=True)
    state, stop, pushed = work / "state", threading.Event(), [0]
    url = f"sqlite:{work / 'online.sqlite'}"
    job = threading.Thread(target=run, kwargs=dict(ir=ir, spec_dir=str(work), store_url=url, namespace="bench",
                                                   state_dir=str(state), stop=stop), daemon=True)
    job.start()
    deadline = time.monotonic() + 180
    while read_status(str(state)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    rng, samples = random.Random(1), []
    start = time.monotonic()
    k = 0
    while time.monotonic() - start < seconds:
        tick = time.monotonic()
        now = time.time()
        lines = [json.dumps({"ts": _iso(now - rng.random() * 0.5), "user_id": rng.randint(1, 20000),
                             "merchant_id": rng.randint(1, 500), "amount": 10.5, "item_count": 2,
                             "city": "c", "category": "x", "device": "ios", "status": "paid"})
                 for _ in range(rate // 2)]
        tmp = folder / f".tmp-{k}"
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, folder / f"events-{k:06d}.jsonl")
        pushed[0] += len(lines)
        k += 1
        status = read_status(str(state)) or {}
        group = (status.get("groups") or {}).get("user_orders") or {}
        if "freshness_p99_s" in group:
            samples.append((group["freshness_p50_s"], group["freshness_p99_s"], group.get("visible_at_us")))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
    elapsed = time.monotonic() - start
    time.sleep(5)
    stop.set()
    job.join(timeout=120)
    status = read_status(str(state)) or {}
    source = status.get("sources", {}).get("events", {})
    distinct = list({s[2]: s for s in samples}.values())
    return {"pushed": pushed[0], "applied": source.get("applied"), "batches": source.get("batches"),
            "events_per_s_offered": round(pushed[0] / elapsed), "applied_per_s": round(source.get("applied", 0) / elapsed),
            "freshness_p50_s_median_batch": statistics.median(s[0] for s in distinct) if distinct else None,
            "freshness_p99_s_median_batch": statistics.median(s[1] for s in distinct) if distinct else None,
            "freshness_p99_s_worst_batch_after_first": max(s[1] for s in distinct[1:]) if len(distinct) > 1 else None,
            "freshness_p99_s_first_batch": distinct[0][1] if distinct else None}


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entities", type=int, default=5000)
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seconds", type=int, default=40)
    p.add_argument("--only", choices=("fetch", "stream"))
    args = p.parse_args(argv)
    print("machine:", base.machine())
    if args.only != "stream":
        fetch = bench_fetch(args.entities, args.iterations)
        for name, stats in fetch.items():
            print(f"{name}: {stats}")
        rt = fetch["real-time tiles, evaluated at T"]["median"]
        print(f"ratio Feast-like HGETALL / real-time (median): {fetch['Feast-like: HGETALL x 200, 1 pipeline']['median'] / rt:.2f}x")
        print(f"ratio real-time / snapshot (median): {rt / fetch['snapshot records (today' + chr(39) + 's layout)']['median']:.2f}x")
    if args.only != "fetch":
        print("stream:", bench_stream(args.rate, args.seconds))


if __name__ == "__main__":
    main()
