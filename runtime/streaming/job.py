"""The streaming job: Spark Structured Streaming keeps real-time feature groups' stream tiles
current in the online store (``spark/<name>_stream.py`` calls :func:`main` through the stable
path ``mlc.runtime.stream_job``; ``mlc stream`` and ``mlc run`` call :func:`run`).

One query per stream source (a folder of JSON-lines files, or a Kafka topic), micro-batches every
``trigger``. Each micro-batch (``foreachBatch``, :class:`BatchApplier`):

1. decodes the events with the source's declared columns (``decode``); bad events are counted
   by reason and dropped, or also written to ``dead_letter/<source>/batch-<id>/``;
2. drops and counts late events: older than the watermark, ``max event time seen in earlier
   micro-batches - allowed_lateness``;
3. computes, per real-time group on the source, the tile partials of the good events with the
   same Spark code as the batch side (``mlc.runtime.features.tiling``), and merges them into each
   entity's stream record (read, merge, prune, write; ``mlc.runtime.online_store.tiles``);
4. rewrites ``status.json`` and the groups' freshness records.

Exactly once: Spark's checkpoint replays an unfinished micro-batch with the same events after a
restart; the watermark and clock a micro-batch used are recorded in ``progress/<source>/<id>.json``
before anything is written, so a replay decides the same; every stream record carries the id of
the last micro-batch merged into it (:func:`applied_mark`: the state folder's epoch and the id),
so a replayed micro-batch skips the records it already updated, and a job started with a fresh
state folder never mistakes its ids for an earlier job's. Nothing is counted twice or lost.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

from mlc.core.errors import MlcError
from mlc.core.ir import IR, SourceIR, load_ir
from mlc.runtime.features.session import local_session
from mlc.runtime.features.tiling import entity_tiles, tile_partials
from mlc.runtime.online_store.retrieval import STREAM, record_key
from mlc.runtime.online_store.store import open_store
from mlc.runtime.online_store.tiles import concat, decode_many, encode, from_rows, merge, prune, split
from mlc.runtime.streaming import decode as decoding
from mlc.runtime.streaming.push import stream_folder
from mlc.runtime.streaming.status import (
    BAD_REASONS, checkpoint_dir, dead_letter_dir, empty_status, progress_dir, read_status, status_path,
    write_freshness, write_json_atomic,
)

MICROS = 1_000_000
WRITE_TIMEOUT_S = 30.0
CHUNK = 500
NO_EVENT = -(2 ** 63)
PROGRESS_KEPT = 100      # micro-batches whose progress is kept (as Spark's minBatchesToRetain)
EPOCH_SHIFT = 40          # a record's meta: epoch << 40 | (micro-batch id + 1)


class StreamError(MlcError):
    code = "E7000"


def stream_sources(ir: IR, names: Sequence[str] | None = None) -> list[SourceIR]:
    streams = [s for s in ir.sources if s.stream is not None]
    if not names:
        return streams
    known = {s.name: s for s in streams}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise StreamError(f"no stream source named {', '.join(f'`{n}`' for n in unknown)}",
                          hint=f"stream sources: {', '.join(sorted(known)) or 'none'}")
    return [known[n] for n in names]


def _now_us() -> int:
    return time.time_ns() // 1000


# --------------------------------------------------------------------------------- one batch


class BatchApplier:
    """The ``foreachBatch`` function of one source's query."""

    def __init__(self, ir: IR, source: SourceIR, store_url: str, namespace: str, state_dir: str,
                 clock: Callable[[], int] = _now_us, on_status: Callable[[dict], None] | None = None):
        self.ir, self.source, self.store_url, self.namespace = ir, source, store_url, namespace
        self.state_dir, self.clock, self.on_status = state_dir, clock, on_status
        self.groups = [g for g in ir.feature_groups if g.source == source.name and g.realtime and g.online]
        self.lock = threading.Lock()

    def __call__(self, df: Any, batch_id: int) -> None:
        self.apply(df, int(batch_id))

    # -- progress (what a micro-batch decided, for replays)

    def epoch(self) -> int:
        """This state folder's epoch (random, created with it; 1 .. 2**22-1)."""
        path = os.path.join(progress_dir(self.state_dir, self.source.name), "epoch.json")
        if not os.path.isfile(path):
            write_json_atomic(path, {"epoch": random.SystemRandom().randrange(1, 2 ** 22)})
        with open(path, encoding="utf-8") as fh:
            return int(json.load(fh)["epoch"])

    def _progress_path(self, batch_id: int) -> str:
        return os.path.join(progress_dir(self.state_dir, self.source.name), f"{batch_id:012d}.json")

    def _previous(self, batch_id: int) -> dict | None:
        paths = sorted(glob.glob(os.path.join(progress_dir(self.state_dir, self.source.name), "[0-9]*.json")))
        earlier = [p for p in paths if int(os.path.basename(p)[:-5]) < batch_id]
        if not earlier:
            return None
        with open(earlier[-1], encoding="utf-8") as fh:
            return json.load(fh)

    def _forget(self, before: int) -> None:
        """Delete the progress of micro-batches older than ``before`` (Spark's checkpoint keeps
        the last 100 too: older ones are never replayed)."""
        for path in glob.glob(os.path.join(progress_dir(self.state_dir, self.source.name), "[0-9]*.json")):
            if int(os.path.basename(path)[:-5]) < before:
                os.remove(path)

    def _decision(self, batch_id: int) -> tuple[dict, bool]:
        """(the micro-batch's recorded watermark and clock, whether it is a replay)."""
        path = self._progress_path(batch_id)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                return json.load(fh), True
        previous = self._previous(batch_id)
        seen = previous["max_event_us"] if previous else NO_EVENT
        watermark = NO_EVENT if seen == NO_EVENT else seen - self.source.stream.lateness_seconds * MICROS
        return {"batch_id": batch_id, "watermark_us": watermark, "clock_us": self.clock(), "max_event_us": seen}, False

    # -- the micro-batch

    def apply(self, df: Any, batch_id: int) -> dict:
        """One micro-batch: its counts, bad events and every group's stream records, as Spark jobs
        submitted together (they read the decoded events once, cached)."""
        from pyspark.sql import functions as F

        decision, replay = self._decision(batch_id)
        if not replay:            # recorded before anything is written: a replay decides the same
            write_json_atomic(self._progress_path(batch_id), decision)
        events = decoding.decode(df, self.ir, self.source, decision["clock_us"]).persist()
        try:
            t = _event_micros(self.source)
            good = F.col(decoding.BAD).isNull()
            on_time = good & (t >= F.lit(decision["watermark_us"]))
            applied = events.where(on_time).drop(decoding.VALUE, decoding.BAD)
            with ThreadPoolExecutor(max_workers=len(self.groups) + 1, thread_name_prefix="mlc-stream") as pool:
                counted = pool.submit(self._stats, events, t, good, on_time)
                writes = {g.name: pool.submit(self._write_group, applied, g, batch_id, decision) for g in self.groups}
                stats, written = counted.result(), {name: w.result() for name, w in writes.items()}
            visible = self.clock()
            if any(stats[r] for r in BAD_REASONS):
                self._quarantine(events, batch_id)
        finally:
            events.unpersist()
        # the latest event time seen so far: the next micro-batch's watermark (a replay recomputes it)
        seen = max(decision["max_event_us"], stats["max_t"] if stats["max_t"] is not None else NO_EVENT)
        decision = {**decision, "max_event_us": seen}
        write_json_atomic(self._progress_path(batch_id), decision)
        self._forget(batch_id - PROGRESS_KEPT)
        bad = sum(stats[r] for r in BAD_REASONS)
        # freshness: from event time to visible, for the median event and the 1st percentile (p99 lag)
        times = stats["times"]
        lags = ((visible - times[0]) / MICROS, (visible - times[1]) / MICROS) if times and times[0] is not None \
            else None
        return self._report(batch_id, decision, stats, bad, written, visible, lags)

    def _stats(self, events: Any, t: Any, good: Any, on_time: Any) -> Any:
        from pyspark.sql import functions as F

        late = good & ~on_time
        return events.agg(F.count(F.lit(1)).alias("events"), F.count(F.when(late, 1)).alias("late"),
                          F.max(F.when(good, t)).alias("max_t"),
                          F.percentile_approx(F.when(on_time, t), [0.5, 0.01], 10000).alias("times"),
                          *[F.count(F.when(F.col(decoding.BAD) == r, 1)).alias(r) for r in BAD_REASONS]).first()

    def _quarantine(self, events: Any, batch_id: int) -> None:
        """With ``on_bad_rows: quarantine``: the batch's bad events, with their reason (overwritten
        by a replay, so kept once)."""
        from pyspark.sql import functions as F

        if self.source.stream.on_bad_rows != "quarantine":
            return
        folder = os.path.join(dead_letter_dir(self.state_dir, self.source.name), f"batch-{batch_id:012d}")
        (events.where(F.col(decoding.BAD).isNotNull())
         .select(F.col(decoding.BAD).alias("reason"), F.col(decoding.VALUE).alias("event"))
         .coalesce(1).write.mode("overwrite").json(folder))

    def _write_group(self, applied: Any, group: Any, batch_id: int, decision: dict) -> int:
        from pyspark.sql import functions as F

        per_entity = entity_tiles(tile_partials(applied, group, self.source.event_time), group)
        typed = {c.name: c.dtype for c in group.keys}
        columns = [F.unix_micros(F.col(f"`{k}`")).alias(k) if typed[k] == "timestamp" else F.col(f"`{k}`")
                   for k in typed] + [F.col("__mlc_tiles")]
        horizon = decision["max_event_us"] - self.source.stream.lateness_seconds * MICROS
        writer = _stream_writer(self.store_url, group, self.namespace, applied_mark(self.epoch(), batch_id), horizon)
        return int(per_entity.select(*columns).rdd.mapPartitions(writer).sum() or 0)

    def _report(self, batch_id: int, decision: dict, stats: Any, bad: int, written: dict, visible: int,
                lags: tuple[float, float] | None) -> dict:
        with self.lock:
            status = read_status(self.state_dir) or empty_status(self.ir.name)
            entry = status["sources"].setdefault(self.source.name, {
                "batches": 0, "events": 0, "applied": 0, "late": 0, "bad": {r: 0 for r in BAD_REASONS},
                "quarantined": 0})
            if entry.get("last_batch_id", -1) < batch_id:     # a replay is not counted twice
                entry["batches"] += 1
                entry["events"] += stats["events"]
                entry["late"] += stats["late"]
                entry["applied"] += stats["events"] - bad - stats["late"]
                for r in BAD_REASONS:
                    entry["bad"][r] += stats[r]
                if self.source.stream.on_bad_rows == "quarantine":
                    entry["quarantined"] += bad
            entry.update(last_batch_id=batch_id, watermark_us=decision["max_event_us"]
                         - self.source.stream.lateness_seconds * MICROS if decision["max_event_us"] != NO_EVENT
                         else None, max_event_us=None if decision["max_event_us"] == NO_EVENT
                         else decision["max_event_us"], updated_at_us=visible)
            fresh = {}
            for group in self.groups:
                g = status["groups"].setdefault(group.name, {"source": self.source.name, "records": 0})
                g["records"] += written.get(group.name, 0)
                if lags is not None:
                    g.update(last_event_us=entry["max_event_us"], visible_at_us=visible,
                             freshness_p50_s=round(lags[0], 3), freshness_p99_s=round(lags[1], 3))
                fresh[group.name] = g
            write_json_atomic(status_path(self.state_dir), status)
        if fresh:
            store = open_store(self.store_url, timeout=WRITE_TIMEOUT_S, create=True)
            try:
                write_freshness(store, self.namespace, fresh)
            finally:
                store.close()
        if self.on_status:
            self.on_status(status)
        return status


def _event_micros(source: SourceIR) -> Any:
    from pyspark.sql import functions as F

    column = F.col(f"`{source.event_time}`")
    dtype = dict((c.name, c.dtype) for c in source.columns)[source.event_time]
    return F.unix_micros(column) if dtype == "timestamp" else column.cast("bigint") * F.lit(MICROS)


def _stream_writer(store_url: str, group: Any, namespace: str, mark: int, horizon_us: int):
    """A partition function merging new tiles into the entities' stream records."""
    key_count = len(group.keys)

    def write(rows):
        store = open_store(store_url, timeout=WRITE_TIMEOUT_S, create=True)
        written, chunk = 0, []
        try:
            for row in rows:
                chunk.append(row)
                if len(chunk) >= CHUNK:
                    written += merge_into_store(store, group, namespace, chunk, key_count, mark, horizon_us)
                    chunk = []
            if chunk:
                written += merge_into_store(store, group, namespace, chunk, key_count, mark, horizon_us)
        finally:
            store.close()
        yield written

    return write


def applied_mark(epoch: int, batch_id: int) -> int:
    """What a stream record remembers of the last micro-batch merged into it: the job's epoch (one
    per state folder, so a fresh checkpoint never mistakes its batch ids for an old job's) and
    the micro-batch id + 1."""
    return (epoch << EPOCH_SHIFT) | (batch_id + 1)


def already_applied(meta: int, mark: int) -> bool:
    return meta >> EPOCH_SHIFT == mark >> EPOCH_SHIFT and meta >= mark


def merge_into_store(store: Any, group: Any, namespace: str, chunk: list, key_count: int, mark: int,
                     horizon_us: int) -> int:
    """Merge the new tiles of ``chunk`` (rows of keys..., tiles) into their stream records; records
    that already hold the micro-batch of ``mark`` (:func:`applied_mark`) are left alone. Returns the
    records written."""
    keys = [record_key(group, namespace, tuple(row)[:key_count], STREAM) for row in chunk]
    existing, metas = decode_many(group, store.get_many(keys))
    todo = [i for i in range(len(chunk)) if not already_applied(int(metas[i]), mark)]
    if not todo:
        return 0
    new = from_rows(group, [(i, cell) for i in todo for cell in chunk[i][key_count]])
    merged = prune(group, merge(group, concat(group, [existing, new])), horizon_us)
    parts = split(group, merged, len(chunk))
    items = [(keys[i], encode(group, parts[i], meta=mark)) for i in todo]
    store.put_many(items, group.ttl_seconds)
    return len(items)


# --------------------------------------------------------------------------------- queries


def _reader(spark: Any, ir: IR, source: SourceIR, spec_dir: str, inputs: Mapping[str, str] | None) -> Any:
    stream = source.stream
    if stream.kind == "kafka":
        raw = spark.readStream.format("kafka").options(**decoding.kafka_options(source)).load()
        return decoding.kafka_values(raw)
    folder = stream_folder(ir, source.name, spec_dir, inputs)
    os.makedirs(folder, exist_ok=True)
    return spark.readStream.format("text").load(folder)


def start_queries(spark: Any, ir: IR, sources: Sequence[SourceIR], *, spec_dir: str, store_url: str,
                  namespace: str, state_dir: str, inputs: Mapping[str, str] | None = None,
                  available_now: bool = False, clock: Callable[[], int] = _now_us) -> list[Any]:
    queries = []
    for source in sources:
        applier = BatchApplier(ir, source, store_url, namespace, state_dir, clock)
        writer = (_reader(spark, ir, source, spec_dir, inputs).writeStream.foreachBatch(applier)
                  .option("checkpointLocation", checkpoint_dir(state_dir, source.name))
                  .queryName(f"mlc-{ir.name}-{source.name}"))
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{source.stream.trigger_seconds} seconds")
        queries.append(writer.start())
    return queries


def run(ir: IR, *, spec_dir: str, store_url: str, namespace: str, state_dir: str, sources: Sequence[str] | None = None,
        inputs: Mapping[str, str] | None = None, available_now: bool = False, spark: Any = None,
        stop: threading.Event | None = None, progress: Callable[[str], None] = lambda line: None) -> dict:
    """Run the stream queries until ``stop`` is set (or, ``available_now``, until what is there is
    processed). Returns the final status."""
    selected = stream_sources(ir, sources)
    if not selected:
        raise StreamError(f"spec `{ir.name}` has no stream source", hint="add `stream:` to a source (docs/spec.md)")
    if spark is None:
        spark = local_session(f"mlc-stream-{ir.name}")
    os.makedirs(state_dir, exist_ok=True)
    # (re)written at every start: `mlc run` waits for a status written after it started the job
    started = read_status(state_dir) or empty_status(ir.name)
    write_json_atomic(status_path(state_dir), {**started, "started_at_us": _now_us()})
    queries = start_queries(spark, ir, selected, spec_dir=spec_dir, store_url=store_url, namespace=namespace,
                            state_dir=state_dir, inputs=inputs, available_now=available_now)
    progress(f"streaming {', '.join(s.name for s in selected)} into {namespace} (state {state_dir})")
    try:
        _wait(queries, stop, available_now)
    finally:
        for query in queries:
            if query.isActive:
                query.stop()
    for query in queries:
        if query.exception() is not None:
            raise StreamError(f"streaming query `{query.name}` failed: {query.exception()}")
    return read_status(state_dir) or empty_status(ir.name)


def _wait(queries: list, stop: threading.Event | None, available_now: bool) -> None:
    """Until every query ended (``available_now``), one failed, or ``stop`` is set."""
    while any(q.isActive for q in queries):
        if stop is not None and stop.is_set():
            return
        for query in queries:
            if query.isActive:
                query.awaitTermination(0.5)
            if query.exception() is not None:
                return


# --------------------------------------------------------------------------------- entry point


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stream job", description="Keep real-time feature groups current.")
    p.add_argument("--mldl", help="the build's mldl.json (default: $MLC_MLDL)")
    p.add_argument("--store", help="online store URL (default: $MLC_ONLINE_STORE)")
    p.add_argument("--namespace", help="online store namespace (default: the spec's name)")
    p.add_argument("--state-dir", required=True, metavar="DIR", help="checkpoints, progress, dead letters, status")
    p.add_argument("--source", action="append", default=[], help="a stream source (default: all)")
    p.add_argument("--input", action="append", default=[], metavar="SOURCE=PATH", help="another folder for a source")
    p.add_argument("--data-root", metavar="DIR", help="where relative stream folders are (default: the spec's)")
    p.add_argument("--available-now", action="store_true", help="process what is there, then stop")
    return p


def main(argv: Sequence[str] | None = None, *, spec_dir: str | None = None, mldl_path: str | None = None,
         ir: IR | None = None) -> int:
    args = _parser().parse_args(argv)
    mldl = args.mldl or mldl_path or os.environ.get("MLC_MLDL")
    if ir is None:
        if not mldl:
            print("error: --mldl (or MLC_MLDL) is required", file=sys.stderr)
            return 2
        ir = load_ir(mldl)
    store = args.store or os.environ.get("MLC_ONLINE_STORE")
    if not store:
        print("error: --store (or MLC_ONLINE_STORE) is required", file=sys.stderr)
        return 2
    inputs = dict(item.split("=", 1) for item in args.input if "=" in item)
    root = args.data_root or spec_dir or os.getcwd()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())     # `mlc stop`: finish the micro-batch, then end
    try:
        run(ir, spec_dir=root, store_url=store, namespace=args.namespace or ir.name, state_dir=args.state_dir,
            sources=args.source or None, inputs=inputs, available_now=args.available_now, stop=stop,
            progress=lambda line: print(line, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        stop.set()
    except MlcError as err:
        print(f"error[{err.code}]: {err.message}", file=sys.stderr)
        return 1
    return 0
