"""Benchmark: the Redis online store, mlc's record layout against a Feast-like layout.

    .venv/bin/pip install protobuf hiredis      # Feast-like values are real protobuf messages
    .venv/bin/python bench/online_store.py [--entities 1000000] [--iterations 2000] [--parser hiredis]

Starts its own throwaway `redis-server` (loopback, free port, no persistence, temp dir) and
stops it at the end. The feature groups are compiled from the small spec below (one entity
`user`, three groups of 9, 8 and 12 outputs: int64 counts and sums, float64 averages, minima,
maxima and sums, string `last(...)` values, windows 1h to 30d); the values are synthetic, with
the nulls a snapshot really has (a window without events gives 0 counts and null elsewhere).

Two layouts of the same data on the same server:

* mlc: ONE packed record per entity and group (``runtime/online_store``): key
  ``bench:<group>:<schema_version>:<user_id>``, written with ``put_features`` (``SET ... EX``
  with the group's TTL) and read with ``get_features`` (key building, ONE ``MGET`` for
  200 entities x 3 groups, decoding into NumPy-executor columns).
* Feast-like, modelled on Feast's Redis online store format (``online_store_format.md`` and
  ``feast/infra/online_stores/redis.py``): ONE Redis hash per entity, key = Feast's
  serialized entity key (version 2: ``<I type><name>`` then ``<I type><I len><q value>``)
  followed by the project name; one hash field per feature, named by the 4 little-endian bytes
  of ``murmur3_32("<group>:<feature>")``, holding a serialized ``feast.types.Value`` protobuf
  (built here from the same message definition; a null is the empty message); plus one
  ``_ts:<group>`` field per group holding a serialized ``google.protobuf.Timestamp``. Written
  with ``HSET`` + ``EXPIRE`` (Feast's ``key_ttl_seconds``, here the longest group TTL), one
  pipeline per batch. Read with one ``HGETALL`` per entity, ALL entities in one pipelined
  round trip (fewer round trips than Feast itself, which sends one pipeline of ``HMGET`` per
  feature view: that variant is timed too), then every value parsed with protobuf's C
  implementation (upb) and gathered into the same columns as mlc's.

Both read paths must return identical columns (checked before timing). Measured:
(a) retrieval latency for 200 entities x 3 groups, median and p99 over ``--iterations``
    calls after a warm-up (goal, issue 4: mlc >= 3x faster);
(b) Redis memory: ``used_memory`` after loading ``--entities`` entities minus ``used_memory``
    after ``FLUSHALL``, per layout (goal: mlc <= 0.5x Feast-like).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
NAMESPACE = "bench"
BATCH = 200
AS_OF_SECONDS = 1_780_000_000

SPEC_TEXT = """\
version: 1
name: bench_online
entities:
  user: {keys: [user_id]}
sources:
  events:
    kind: parquet
    path: data/events.parquet
    event_time: ts
    columns: {ts: timestamp, user_id: int64, merchant_id: int64, amount: float64, item_count: int64,
              city: string, category: string, device: string, status: string}
feature_groups:
  user_orders:
    entity: user
    source: events
    filter: "status == 'paid'"
    windows: [1h, 1d, 7d]
    features:
      orders: count()
      avg_amount: avg(amount)
      max_amount: max(amount)
    ttl: 8d
  user_browsing:
    entity: user
    source: events
    windows: [1h, 1d]
    features:
      events: count()
      distinct_merchants: approx_count_distinct(merchant_id)
      last_category: last(category)
      last_device: last(device)
    ttl: 2d
  user_spend:
    entity: user
    source: events
    windows: [1d, 7d, 30d]
    features:
      total: sum(amount)
      min_amount: min(amount)
      items: sum(item_count)
      last_city: last(city)
    ttl: 31d
preprocess:
  inputs:
    user_id: {dtype: int64}
  features:
    orders_1d: "coalesce(user_orders.orders_1d, 0)"
"""

CITIES = [f"city_{i:02d}" for i in range(50)]
CATEGORIES = ["pizza", "burgers", "sushi", "noodles", "salads", "desserts", "coffee", "bakery", "grocery",
              "pharmacy", "flowers", "bbq", "dumplings", "hotpot", "tacos", "curry", "pho", "kebab", "ramen", "vegan"]
DEVICES = ["ios", "android", "web"]
VOCABULARY = {"city": CITIES, "category": CATEGORIES, "device": DEVICES}
# share of entities with at least one event in a window (windows nest: active in 1h => in 1d)
ACTIVE = {"1h": 0.25, "1d": 0.6, "7d": 0.9, "30d": 0.97}


# --- spec ----------------------------------------------------------------------------------

def write_spec(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench.mlc.yaml"
    if not path.exists() or path.read_text() != SPEC_TEXT:
        path.write_text(SPEC_TEXT)
    return path


def compile_ir(directory: Path = OUT / "online_spec"):
    from mlc.compiler.pipeline import build

    result = build(str(write_spec(directory)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


def online_groups(ir) -> list:
    return [g for g in ir.feature_groups if g.online]


# --- synthetic snapshot values -------------------------------------------------------------

def _output_plan(group) -> list[tuple[str, str, str, str]]:
    """(output name, dtype, aggregation function, window) in ``outputs`` order."""
    from mlc.core.ir import output_name

    plan = []
    for agg in group.aggregations:
        for window in group.windows:
            plan.append((output_name(agg.name, window.name), agg.function, window.name, agg.expression))
    assert [p[0] for p in plan] == [c.name for c in group.outputs]
    return [(name, c.dtype, fn, w) for (name, fn, w, _), c in zip(plan, group.outputs)]


def group_columns(group, n: int, rng: np.random.Generator) -> list[list]:
    """Per output, ``n`` Python values (``None`` = null) shaped like a real snapshot."""
    activity = rng.random(n)
    columns = []
    for name, dtype, function, window in _output_plan(group):
        active = activity < ACTIVE[window]
        if function in ("count", "approx_count_distinct"):
            values = np.where(active, rng.geometric(0.3, n), 0).tolist()
            columns.append(values)
            continue
        if dtype == "string":
            words = VOCABULARY[next(k for k in VOCABULARY if k in name)]
            picked = rng.integers(0, len(words), n)
            values = [words[i] for i in picked.tolist()]
        elif dtype == "int64":
            values = rng.integers(1, 40, n).tolist()
        else:
            values = np.round(rng.lognormal(3.0, 0.8, n), 2).tolist()
        columns.append([v if a else None for v, a in zip(values, active.tolist())])
    return columns


def entity_rows(groups, ids: list[int], seed: int) -> dict[str, list[tuple]]:
    """Group name -> one tuple of output values per entity of ``ids``."""
    rng = np.random.default_rng(seed)
    return {g.name: list(zip(*group_columns(g, len(ids), rng))) for g in groups}


# --- redis-server --------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.settimeout(0.5)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server():
    """A throwaway redis-server on 127.0.0.1 (free port, no persistence, temp dir); its URL."""
    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="mlc-bench-redis-") as workdir:
        port = _free_port()
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--daemonize", "no", "--dir", workdir],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 5.0
            while not _answers_ping(port):
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit(f"redis-server on port {port} did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def redis_version(client) -> str:
    return client.info("server")["redis_version"]


def use_parser(client, parser: str) -> None:
    """Pin redis-py's reply parser (before the client opens a connection)."""
    from redis._parsers import _HiredisParser, _RESP2Parser

    client.connection_pool.connection_kwargs["parser_class"] = _HiredisParser if parser == "hiredis" else _RESP2Parser
    client.connection_pool.disconnect()


# --- mlc layout ----------------------------------------------------------------------------

def open_mlc_store(url: str, parser: str):
    from mlc.runtime.online_store import open_store

    store = open_store(url, timeout=30.0, create=True)
    use_parser(store.client, parser)
    return store


def load_mlc(store, groups, ids: list[int], rows: dict[str, list[tuple]]) -> None:
    from mlc.runtime.online_store import put_features

    for group in groups:
        values = rows[group.name]
        for start in range(0, len(ids), 2000):
            chunk = [((i,), v) for i, v in zip(ids[start:start + 2000], values[start:start + 2000])]
            put_features(store, group, NAMESPACE, chunk)


def read_mlc(store, ir, group_names: list[str], ids: list[int]) -> dict:
    from mlc.runtime.online_store import get_features

    got = get_features(store, ir, group_names, {"user_id": ids}, NAMESPACE)
    assert not got.degraded
    return got.columns


# --- Feast-like layout ---------------------------------------------------------------------

def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32 (what the `mmh3` package Feast uses computes), unsigned."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed
    tail = len(data) & ~3
    for (k,) in struct.iter_unpack("<I", data[:tail]):
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    k = 0
    rest = data[tail:]
    for i, byte in enumerate(rest):
        k |= byte << (8 * i)
    if rest:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def feast_field(group: str, feature: str) -> bytes:
    """Feast's hash field name: ``_mmh3(f"{feature_view}:{feature}")``, 4 bytes little-endian."""
    return struct.pack("<I", murmur3_32(f"{group}:{feature}".encode("utf-8")))


_STRING, _INT64 = 2, 4  # feast.types.ValueType


def feast_key(user_id: int, project: str = NAMESPACE) -> bytes:
    """Feast's Redis key: serialize_entity_key (version 2) of ``{user_id}`` + the project."""
    return (struct.pack("<I", _STRING) + b"user_id" + struct.pack("<IIq", _INT64, 8, user_id)
            + project.encode("utf-8"))


def value_message_class():
    """``feast.types.Value`` (the scalar members of its ``val`` oneof), built at run time."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="bench_feast_value.proto", package="feastlike", syntax="proto3")
    message = proto.message_type.add(name="Value")
    message.oneof_decl.add(name="val")
    field = descriptor_pb2.FieldDescriptorProto
    for number, (name, kind) in enumerate([("bytes_val", field.TYPE_BYTES), ("string_val", field.TYPE_STRING),
                                           ("int32_val", field.TYPE_INT32), ("int64_val", field.TYPE_INT64),
                                           ("double_val", field.TYPE_DOUBLE), ("float_val", field.TYPE_FLOAT),
                                           ("bool_val", field.TYPE_BOOL), ("unix_timestamp_val", field.TYPE_INT64)],
                                          start=1):
        message.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL, oneof_index=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("feastlike.Value"))


_PROTO_FIELD = {"int64": "int64_val", "float64": "double_val", "string": "string_val", "bool": "bool_val",
                "timestamp": "unix_timestamp_val"}


def fill_defaults(group, columns: dict) -> None:
    """The group's declared defaults (0 for counts) in null outputs, as ``get_features`` does, so
    that both layouts return the same columns (Feast has no such notion; it costs microseconds)."""
    for name, value in getattr(group, "defaults", ()):
        vec = columns[name]
        if not vec.valid.all():
            vec.data[~vec.valid] = value
            vec.valid[:] = True


class FeastLike:
    """Feast's Redis layout for the bench's groups: write, read (HGETALL or HMGET), decode."""

    def __init__(self, client, groups, ttl: bool = True, plain_fields: bool = False):
        """``plain_fields``: fields named ``<group>:<feature>`` in clear instead of Feast's
        murmur3 hash (only to show what hashing saves); ``ttl=False``: no ``EXPIRE``."""
        from google.protobuf.timestamp_pb2 import Timestamp

        self.client, self.groups = client, groups
        self.Value = value_message_class()
        name = (lambda g, f: f"{g}:{f}".encode()) if plain_fields else feast_field
        self.fields = {g.name: [name(g.name, c.name) for c in g.outputs] for g in groups}
        self.ts_fields = {g.name: f"_ts:{g.name}".encode() for g in groups}
        self.ts_value = Timestamp(seconds=AS_OF_SECONDS).SerializeToString()
        self.ttl = max(g.ttl_seconds for g in groups) if ttl else None

    def encode(self, group, values) -> dict[bytes, bytes]:
        Value = self.Value
        mapping = {self.ts_fields[group.name]: self.ts_value}
        for field, column, value in zip(self.fields[group.name], group.outputs, values):
            mapping[field] = b"" if value is None else Value(**{_PROTO_FIELD[column.dtype]: value}).SerializeToString()
        return mapping

    def load(self, ids: list[int], rows: dict[str, list[tuple]]) -> None:
        for start in range(0, len(ids), 2000):
            pipe = self.client.pipeline(transaction=False)
            for offset, user_id in enumerate(ids[start:start + 2000], start):
                mapping = {}
                for group in self.groups:
                    mapping.update(self.encode(group, rows[group.name][offset]))
                key = feast_key(user_id)
                pipe.hset(key, mapping=mapping)
                if self.ttl:
                    pipe.expire(key, self.ttl)
            pipe.execute()

    def _parse(self, raw: bytes | None):
        if not raw:
            return None
        value = self.Value()
        value.ParseFromString(raw)
        kind = value.WhichOneof("val")
        return None if kind is None else getattr(value, kind)

    def _columns(self, hashes: list[dict], group_names: list[str]) -> dict:
        from mlc.runtime.numpy_ops.vec import Vec

        out = {}
        for name in group_names:
            group = next(g for g in self.groups if g.name == name)
            columns = {}
            for field, column in zip(self.fields[name], group.outputs):
                values = [self._parse(h.get(field)) for h in hashes]
                columns[column.name] = Vec.of(values, column.dtype)
            fill_defaults(group, columns)
            out.update((f"{name}.{c}", vec) for c, vec in columns.items())
        return out

    def read_hgetall(self, group_names: list[str], ids: list[int]) -> dict:
        """One HGETALL per entity, every entity in ONE pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        for user_id in ids:
            pipe.hgetall(feast_key(user_id))
        return self._columns(pipe.execute(), group_names)

    def read_hmget(self, group_names: list[str], ids: list[int]) -> dict:
        """Feast's own read: per feature view, one pipeline of HMGET(requested fields + _ts)."""
        keys = [feast_key(user_id) for user_id in ids]
        hashes = [{} for _ in ids]
        for name in group_names:
            fields = self.fields[name] + [self.ts_fields[name]]
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(key, fields)
            for got, values in zip(hashes, pipe.execute()):
                got.update(zip(fields, values))
        return self._columns(hashes, group_names)


# --- checks and timing ---------------------------------------------------------------------

def assert_same_columns(a: dict, b: dict) -> None:
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].to_list() == b[name].to_list(), name


def time_calls(fn, iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "mean": statistics.fmean(ordered)}


def mlc_breakdown(store, ir, groups, ids: list[int], iterations: int) -> dict:
    """Median ms of the parts of one mlc read: key building, MGET, decoding."""
    from mlc.runtime.online_store import codec
    from mlc.runtime.online_store.retrieval import entity_key, key_prefix

    def build_keys():  # as get_features does: the prefix once per group, then one key per row
        keys = []
        for g in groups:
            prefix = key_prefix(g, NAMESPACE)
            keys.extend(prefix + entity_key(g, (i,)) for i in ids)
        return keys

    keys = build_keys()
    blobs = store.get_many(keys)
    n = len(ids)

    def decode_all():
        for k, g in enumerate(groups):
            codec.decode_many(g, blobs[k * n:(k + 1) * n])

    parts = {"keys": build_keys,
             "MGET": lambda: store.get_many(keys), "decode": decode_all}
    for g in groups:
        part = blobs[groups.index(g) * n:(groups.index(g) + 1) * n]
        parts[f"decode {g.name}"] = lambda g=g, part=part: codec.decode_many(g, part)
    return {name: summary(time_calls(fn, iterations, 20))["median"] for name, fn in parts.items()}


def bench_latency(url: str, ir, groups, iterations: int, parser: str, population: int = 20_000) -> dict:
    import redis

    names = [g.name for g in groups]
    ids = list(range(1, population + 1))
    rows = entity_rows(groups, ids, seed=1)
    store = open_mlc_store(url, parser)
    client = redis.Redis.from_url(url)
    use_parser(client, parser)
    client.flushall()
    feast = FeastLike(client, groups)
    load_mlc(store, groups, ids, rows)
    feast.load(ids, rows)
    rnd = random.Random(7)
    request = rnd.sample(ids, BATCH - 4) + [population + 1 + k for k in range(4)]  # 2 % unknown entities
    rnd.shuffle(request)
    expected = read_mlc(store, ir, names, request)
    assert_same_columns(expected, feast.read_hgetall(names, request))
    assert_same_columns(expected, feast.read_hmget(names, request))
    variants = {"mlc: get_features (1 MGET)": lambda: read_mlc(store, ir, names, request),
                "Feast-like: HGETALL x 200, 1 pipeline": lambda: feast.read_hgetall(names, request),
                "Feast-like: HMGET x 200 x 3, 3 pipelines (Feast's read)": lambda: feast.read_hmget(names, request)}
    results = {name: summary(time_calls(fn, iterations, max(50, iterations // 10))) for name, fn in variants.items()}
    results["_breakdown"] = mlc_breakdown(store, ir, groups, request, max(200, iterations // 4))
    store.close()
    client.close()
    return results


# --- memory --------------------------------------------------------------------------------

def settled_used_memory(client) -> int:
    """``used_memory`` once it stops moving (incremental rehashing finished)."""
    last = client.info("memory")["used_memory"]
    for _ in range(120):
        time.sleep(0.5)
        now = client.info("memory")["used_memory"]
        if now == last:
            return now
        last = now
    return last


def measure_memory(client, load) -> dict:
    client.flushall(asynchronous=False)
    before = settled_used_memory(client)
    start = time.perf_counter()
    load()
    seconds = time.perf_counter() - start
    after = settled_used_memory(client)
    return {"bytes": after - before, "keys": client.dbsize(), "load_s": seconds}


def bench_memory(url: str, groups, entities: int, parser: str) -> dict:
    import dataclasses

    import redis

    client = redis.Redis.from_url(url)
    use_parser(client, parser)
    store = open_mlc_store(url, parser)
    no_ttl = [dataclasses.replace(g, ttl_seconds=None) for g in groups]  # same keys: the version hashes outputs
    layouts = {
        "mlc (group TTLs, as materialize writes)": lambda ids, rows: load_mlc(store, groups, ids, rows),
        "Feast-like (murmur3 fields, key TTL)": FeastLike(client, groups).load,
        "mlc, no TTL": lambda ids, rows: load_mlc(store, no_ttl, ids, rows),
        "Feast-like, no TTL": FeastLike(client, groups, ttl=False).load,
        "Feast-like, fields `<group>:<feature>` in clear, key TTL": FeastLike(client, groups, plain_fields=True).load,
    }
    results = {}
    chunk = 100_000
    # generate in chunks (1M entities x 29 values of Python objects would not fit comfortably)
    for layout, loader in layouts.items():
        def load_all(loader=loader):
            for start in range(0, entities, chunk):
                ids = list(range(start + 1, min(entities, start + chunk) + 1))
                loader(ids, entity_rows(groups, ids, seed=start))
        results[layout] = measure_memory(client, load_all)
    client.flushall()
    store.close()
    client.close()
    return results


# --- report --------------------------------------------------------------------------------

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_latency(results: dict) -> None:
    base = results["mlc: get_features (1 MGET)"]["median"]
    print(f"{'variant':58s} {'median ms':>10s} {'p99 ms':>8s} {'mean ms':>8s} {'x mlc':>6s}")
    for name, s in results.items():
        if not name.startswith("_"):
            print(f"{name:58s} {s['median']:10.3f} {s['p99']:8.3f} {s['mean']:8.3f} {s['median'] / base:6.2f}")
    print("mlc breakdown (median ms): " + ", ".join(f"{k} {v:.3f}" for k, v in results["_breakdown"].items()))


def print_memory(results: dict, entities: int) -> None:
    base = results["Feast-like (murmur3 fields, key TTL)"]["bytes"]
    for layout, r in results.items():
        per = r["bytes"] / entities
        print(f"{layout:58s} {r['keys']:>9d} keys {per:8.1f} B/entity {per * 1e6 / 1e6:8.1f} MB per 1M"
              f"  x Feast-like {r['bytes'] / base:5.2f}  (load {r['load_s']:.1f} s)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000, help="entities loaded for the memory test")
    parser.add_argument("--iterations", type=int, default=2000, help="timed retrievals per variant")
    parser.add_argument("--parser", choices=["hiredis", "python"], default="hiredis",
                        help="redis-py reply parser for BOTH layouts (hiredis is what production installs)")
    parser.add_argument("--skip", choices=["latency", "memory"], action="append", default=[])
    args = parser.parse_args(argv)
    ir = compile_ir()
    groups = online_groups(ir)
    import numpy
    import redis

    with redis_server() as url:
        print(f"machine: {machine()}, NumPy {numpy.__version__}, redis-py {redis.__version__} "
              f"(parser {args.parser}), redis-server {redis_version(redis.Redis.from_url(url))}")
        print("groups: " + ", ".join(f"{g.name} ({len(g.outputs)} outputs)" for g in groups))
        if "latency" not in args.skip:
            print(f"\n(a) retrieval, {BATCH} entities x {len(groups)} groups, {args.iterations} iterations")
            print_latency(bench_latency(url, ir, groups, args.iterations, args.parser))
        if "memory" not in args.skip:
            print(f"\n(b) Redis used_memory for {args.entities:,} entities x {len(groups)} groups")
            print_memory(bench_memory(url, groups, args.entities, args.parser), args.entities)


if __name__ == "__main__":
    main()
