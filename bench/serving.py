"""Benchmark: end-to-end online scoring of 200-item requests (issue 6).

    .venv/bin/python bench/serving.py [--requests 1000] [--entities 50000] [--warmup 100]

Everything is built and started here, nothing outside the machine is needed:

* the ``examples/delivery_eta`` spec is compiled with hand-fitted analyzers (no Spark, as
  ``tests/runtime/test_local_triton.py`` does) and its build tree written;
* every model of shard ``east`` (``eta_dnn``, ``eta_wide_deep``) is exported as version 1 of
  a seeded, *untrained* Keras model (``build_model`` + ``export_model``): the graph, and so the
  inference cost, is the production one, only the weights are not;
* a throwaway ``redis-server`` (loopback, free port, no persistence) is seeded with ``put_features``
  records for ``--entities`` riders, merchants and users, every feature group ``eta_dnn`` reads
  (5 groups; counts 0 and nulls where a window has no events, as a real snapshot);
* a local Triton (``LocalTriton``, the server bundled with nvidia-pytriton, ONNX Runtime in the
  python backend) serves the assembled repository of shard ``east``.

Requests: one order context (``city`` in ``east``'s partitions, ``created_at``, ``user_id``,
user position, weather) and 200 candidate items (``rider_id``, ``merchant_id``, merchant
position, item count, order value), the ids drawn from the seeded ones with ~5 % unknown ids
(the group defaults then apply). ``--distinct`` different requests are generated and cycled.

Variants, each ``--warmup`` requests then ``--requests`` timed ones, one at a time:

(a) ``Predictor.predict`` in process, ``TritonBackend`` (gRPC), Redis store;
(b) the same predictor behind the HTTP gateway (``serve_in_thread``), one keep-alive
    ``http.client`` connection: client-measured total, plus the server's stage timings from
    ``timings_ms`` (the client total minus the server total is JSON + HTTP);
(c) ``Predictor.predict`` in process with ``OnnxBackend`` (embedded ONNX Runtime).

Then a small profile: the preprocess stage split into its parts, the inference stage (Triton's
chunked gRPC call vs one chunk vs ONNX Runtime in process, and Triton's own per-model
statistics), and a cProfile of (a).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import http.client
import io
import json
import os
import platform
import pstats
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from online_store import redis_server  # noqa: E402  (the same throwaway redis-server helper)

OUT = REPO / "bench" / "out" / "serving"
SPEC = REPO / "examples" / "delivery_eta" / "delivery.mlc.yaml"
SHARD = "east"
NAMESPACE = "delivery_eta"
ITEMS = 200
UNKNOWN = 0.05
STAGES = ("validate", "route", "features", "preprocess", "inference", "total")
# the same hand-fitted constants as tests/runtime/test_local_triton.py
FITTED = {"standardize": {"mean": 1.5, "std": 2.0}, "min_max_scale": {"min": 0.0, "max": 10.0},
          "quantile_bucketize": {"boundaries": [2.0, 5.0, 9.0, 14.0, 20.0, 30.0, 45.0]},
          "vocabulary": {"vocabulary": ["1", "2", "3", "4", "5", "6", "7"]}}
# share of entities with at least one event in a window (windows nest)
ACTIVE = {"30m": 0.3, "1h": 0.4, "1d": 0.75, "7d": 0.92}
PREFIX = {"rider": "r", "merchant": "m", "user": "u"}


# --- build: IR, build tree, exported models, Triton repository --------------------------------

def fitted_ir():
    from mlc.compiler.pipeline import build
    from mlc.runtime.features.fitting import with_fitted

    result = build(str(SPEC))
    assert result.ok, [d.message for d in result.diagnostics]
    return batch_groups(with_fitted(result.ir, {a.id: FITTED[a.function] for a in result.ir.analyzers}))


def batch_groups(ir):
    """The IR with its real-time groups served as batch groups (one snapshot record per entity,
    what ``seed_redis`` writes). The example's ``orders`` source has a stream since issue 17; this
    benchmark measures the batch-record path (as before it), bench/realtime.py the tiled one."""
    import dataclasses

    groups = tuple(dataclasses.replace(g, tiles=()) for g in ir.feature_groups)
    return dataclasses.replace(ir, feature_groups=groups)


def prepare(ir, root: Path) -> dict:
    """Build tree, exports (``models/<shard>/<model>/1``) and the assembled Triton repository."""
    from mlc.compiler.artifacts import emit_all
    from mlc.compiler.writer import write_tree
    from mlc.runtime.serving.local_triton import assemble_repository
    from mlc.runtime.training.export import export_model
    from mlc.runtime.training.models import build_model

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    build_dir = root / "build"
    write_tree(emit_all(ir), str(build_dir))
    models = root / "models"
    shard = next(s for s in ir.deployment.shards if s.name == SHARD)
    for name in shard.models:
        model = ir.model(name)
        export_model(build_model(model, seed=11), model, str(models / SHARD), 1, {"note": "bench"})
    repository = assemble_repository(str(build_dir), str(models / SHARD), SHARD, str(root / "repository"))
    return {"build": str(build_dir), "models": str(models), "repository": repository, "logs": str(root / "logs")}


def east_routing(ir):
    """Routing restricted to shard ``east`` (the only shard exported and started here)."""
    from mlc.runtime.serving import Routing

    shard = next(s for s in ir.deployment.shards if s.name == SHARD)
    return Routing(ir.deployment.partition_key, {p: SHARD for p in shard.partitions}, SHARD,
                   {SHARD: tuple(shard.models)})


# --- Redis seeding ---------------------------------------------------------------------------

def entity_ids(kind: str, n: int) -> list[str]:
    return [f"{PREFIX[kind]}{i:07d}" for i in range(1, n + 1)]


def group_rows(group, n: int, rng: np.random.Generator) -> list[tuple]:
    """``n`` tuples of output values shaped like a snapshot: counts 0 and other outputs null in
    a window without events."""
    from mlc.core.ir import output_name

    plan = [(output_name(agg.name, w.name), agg.function, w.name) for agg in group.aggregations for w in group.windows]
    assert [p[0] for p in plan] == [c.name for c in group.outputs], group.name
    activity = rng.random(n)
    columns = []
    for (name, function, window), column in zip(plan, group.outputs):
        active = activity < ACTIVE[window]
        if function in ("count", "approx_count_distinct"):
            columns.append(np.where(active, rng.geometric(0.2, n), 0).tolist())
            continue
        if column.dtype == "int64":
            values = rng.integers(1, 40, n).tolist()
        else:
            values = np.round(rng.lognormal(3.2, 0.4, n), 2).tolist()
        columns.append([v if a else None for v, a in zip(values, active.tolist())])
    return list(zip(*columns))


def seed_redis(url: str, ir, model, entities: int) -> dict:
    from mlc.runtime.online_store import open_store, put_features

    store = open_store(url, timeout=30.0, create=True)
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    records = 0
    for name in model.feature_groups:
        group = ir.group(name)
        ids = entity_ids(group.entity, entities)
        rows = group_rows(group, entities, rng)
        for start in range(0, entities, 5000):
            chunk = [((i,), v) for i, v in zip(ids[start:start + 5000], rows[start:start + 5000])]
            records += put_features(store, group, NAMESPACE, chunk)
    seconds = time.perf_counter() - started
    keys = store.client.dbsize()
    memory = store.client.info("memory")["used_memory"]
    version = store.client.info("server")["redis_version"]
    store.close()
    return {"records": records, "keys": keys, "seconds": seconds, "used_memory": memory, "version": version}


# --- requests --------------------------------------------------------------------------------

def pick_id(kind: str, entities: int, rng: random.Random) -> str:
    if rng.random() < UNKNOWN:
        return f"{PREFIX[kind]}x{rng.randrange(10 ** 6):06d}"      # never seeded: group defaults
    return f"{PREFIX[kind]}{rng.randrange(1, entities + 1):07d}"


def make_request(entities: int, cities: list[str], rng: random.Random) -> dict:
    moment = datetime(2024, 7, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(7 * 86400))
    lat, lon = 31.2 + rng.uniform(-0.2, 0.2), 121.45 + rng.uniform(-0.2, 0.2)
    context = {"city": rng.choice(cities), "created_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "user_id": pick_id("user", entities, rng), "user_lat": lat, "user_lon": lon,
               "weather": rng.choice(["sunny", "cloudy", "rainy", "stormy"])}
    items = []
    for _ in range(ITEMS):
        item = {"rider_id": pick_id("rider", entities, rng), "merchant_id": pick_id("merchant", entities, rng),
                "merchant_lat": lat + rng.uniform(-0.05, 0.05), "merchant_lon": lon + rng.uniform(-0.05, 0.05),
                "item_count": rng.randrange(1, 8)}
        if rng.random() < 0.9:
            item["order_value"] = round(rng.uniform(15, 250), 2)
        items.append(item)
    return {"context": context, "items": items}


# --- timing ----------------------------------------------------------------------------------

def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def run_inprocess(predictor, requests: list[dict], warmup: int, count: int) -> dict:
    for k in range(warmup):
        predictor.predict(requests[k % len(requests)])
    stages = {s: [] for s in STAGES}
    wall = []
    degraded = 0
    for k in range(count):
        started = time.perf_counter()
        response = predictor.predict(requests[k % len(requests)])
        wall.append((time.perf_counter() - started) * 1000.0)
        assert len(response.scores) == ITEMS and all(np.isfinite(response.scores))
        degraded += response.degraded
        for s in STAGES:
            stages[s].append(response.timings_ms[s])
    return {"client": wall, "stages": stages, "degraded": degraded}


def run_http(url: str, bodies: list[bytes], warmup: int, count: int) -> dict:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}

    def call(body: bytes) -> dict:
        conn.request("POST", "/v1/predict", body, headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status}: {data[:500]!r}")
        return json.loads(data)

    for k in range(warmup):
        call(bodies[k % len(bodies)])
    stages = {s: [] for s in STAGES}
    wall = []
    degraded = 0
    for k in range(count):
        started = time.perf_counter()
        document = call(bodies[k % len(bodies)])
        wall.append((time.perf_counter() - started) * 1000.0)
        assert len(document["scores"]) == ITEMS
        degraded += document["degraded"]
        for s in STAGES:
            stages[s].append(document["timings_ms"][s])
    conn.close()
    return {"client": wall, "stages": stages, "degraded": degraded}


def summary_row(name: str, result: dict) -> str:
    w = result["client"]
    return (f"| {name} | {percentile(w, 50):.2f} | {percentile(w, 90):.2f} | {percentile(w, 99):.2f} | "
            f"{max(w):.2f} | {'met' if percentile(w, 99) < 30 else 'not met'} | {result['degraded']} | "
            f"{result['load'][0]:.1f} / {result['load'][1]:.1f} |")


def stage_rows(name: str, result: dict) -> list[str]:
    rows = []
    stages = dict(result["stages"])
    if name.startswith("(b"):
        stages["JSON + HTTP (client - server total)"] = [c - t for c, t in zip(result["client"], stages["total"])]
    for stage, values in stages.items():
        rows.append(f"| {name} | {stage} | {percentile(values, 50):.2f} | {percentile(values, 90):.2f} | "
                    f"{percentile(values, 99):.2f} | {max(values):.2f} |")
    return rows


# --- profile ---------------------------------------------------------------------------------

def time_ms(fn, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000.0)
    return percentile(samples, 50), percentile(samples, 99)


def profile_parts(predictor, onnx_backend, triton_backend, triton, request: dict, n: int) -> list[str]:
    """Median / p99 ms of the parts of the largest stages, on one request."""
    from mlc.runtime.numpy_ops.vec import Vec
    from mlc.runtime.preprocess import transform_numpy
    from mlc.runtime.serving.model_inputs import model_column
    from mlc.runtime.training.inputs import model_arrays

    rows = predictor.validate(request)
    shard = predictor.route(rows)
    model = predictor._pick(request, shard)
    retrieval = predictor.features(model, rows)
    columns = {name: Vec.of(rows.columns[name], i.dtype) for name, i in predictor.inputs.items()}
    columns.update(retrieval.columns)
    features = transform_numpy(predictor.module, columns, predictor.fitted)
    wanted = {t.name: model_column(features[t.name]) for t in model.signature_inputs}
    arrays = model_arrays(model, wanted)
    keys = []
    from mlc.runtime.online_store.retrieval import entity_key, key_prefix
    for name in model.feature_groups:
        group = predictor.ir.group(name)
        keys.extend(key_prefix(group, NAMESPACE) + entity_key(group, (v,)) for v in rows.columns[group.keys[0].name])
    store = predictor.store
    _, session = onnx_backend._session(SHARD, model.name)
    output = model.signature_outputs[0].name
    first64 = {k: v[:64] for k, v in arrays.items()}
    parts = {
        "validate: Predictor.validate": lambda: predictor.validate(request),
        f"features: get_features ({len(keys)} keys, {len(set(keys))} distinct, 1 MGET)":
            lambda: predictor.features(model, rows),
        "features: MGET alone (store.get_many)": lambda: store.get_many(keys),
        "preprocess: Predictor.preprocess (all)": lambda: predictor.preprocess(model, rows, retrieval.columns),
        "preprocess: Vec.of of the 12 request inputs": lambda: {name: Vec.of(rows.columns[name], i.dtype)
                                                                for name, i in predictor.inputs.items()},
        "preprocess: transform_numpy (generated module)":
            lambda: transform_numpy(predictor.module, columns, predictor.fitted),
        "preprocess: _model_column + model_arrays": lambda: model_arrays(
            model, {t.name: model_column(features[t.name]) for t in model.signature_inputs}),
        "inference: TritonBackend.infer, 200 rows = 4 async gRPC chunks (64+64+64+8)":
            lambda: triton_backend.infer(SHARD, model, arrays),
        "inference: TritonBackend.infer, 64 rows (one sync gRPC call)":
            lambda: triton_backend.infer(SHARD, model, first64),
        "inference: OnnxBackend.infer, 200 rows (in process)": lambda: onnx_backend.infer(SHARD, model, arrays),
        "inference: onnxruntime session.run, 64 rows (in process)": lambda: session.run([output], first64),
    }
    lines = ["| part | median ms | p99 ms |", "|---|---|---|"]
    for name, fn in parts.items():
        fn()
        median, p99 = time_ms(fn, n)
        lines.append(f"| {name} | {median:.3f} | {p99:.3f} |")
    lines.append("")
    lines.append("Triton's statistics for `eta_dnn` over the whole run (per execution, averages):")
    lines.append("")
    lines.append(triton_stats(triton, model.name))
    return lines


def triton_stats(triton, model: str) -> str:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton.grpc_url)
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    client.close()
    infer = stats["inference_stats"]
    executions = int(stats.get("execution_count", 0)) or 1
    requests = int(infer["success"]["count"]) or 1
    parts = []
    for key in ("queue", "compute_input", "compute_infer", "compute_output"):
        ns = int(infer[key].get("ns", 0))
        parts.append(f"{key} {ns / requests / 1e6:.3f} ms/request")
    success_ms = int(infer["success"]["ns"]) / requests / 1e6
    return (f"{requests} requests (chunks), {executions} executions "
            f"({int(stats.get('inference_count', 0)) / executions:.1f} rows per execution); "
            f"server time {success_ms:.3f} ms/request: " + ", ".join(parts))


def cprofile_text(predictor, requests: list[dict], n: int, limit: int = 22) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for k in range(n):
        predictor.predict(requests[k % len(requests)])
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(limit)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return "\n".join(lines[start - 1:start + limit + 1]).replace(str(REPO) + "/", "").replace(
        str(Path(sys.prefix)) + "/", "")


# --- machine ---------------------------------------------------------------------------------

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import onnxruntime
    import tritonclient

    return (f"{platform.machine()} {cpu}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, onnxruntime {onnxruntime.__version__}, tritonclient "
            f"{getattr(tritonclient, '__version__', '2.51')}, Triton server 2.51 (nvidia-pytriton 0.7.0), "
            f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


# --- main ------------------------------------------------------------------------------------

NAME_A = "(a) in process, Triton gRPC"
NAME_B = "(b) HTTP gateway, Triton gRPC"
NAME_B2 = "(b2) HTTP gateway + TCP_NODELAY (fix patched in the bench), Triton gRPC"
NAME_C = "(c) in process, embedded ONNX Runtime"
NAME_D = "(d) in process, Triton gRPC, max_batch_size 256 (1 call per request)"


def with_max_batch_size(ir, size: int):
    import dataclasses

    return dataclasses.replace(ir, deployment=dataclasses.replace(ir.deployment, max_batch_size=size))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per variant")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests per variant first")
    parser.add_argument("--entities", type=int, default=50_000, help="riders, merchants and users seeded in Redis")
    parser.add_argument("--distinct", type=int, default=200, help="different requests generated (then cycled)")
    parser.add_argument("--profile", type=int, default=200, help="iterations of the profile parts (0: no profile)")
    parser.add_argument("--skip", action="append", default=[], choices=["b2", "d"],
                        help="leave out a what-if variant")
    parser.add_argument("--out", default=str(OUT), help="working directory (recreated)")
    args = parser.parse_args(argv)

    from mlc.compiler.artifacts import emit_all
    from mlc.compiler.writer import write_tree
    from mlc.runtime.online_store import open_store
    from mlc.runtime.serving import OnnxBackend, Predictor, TritonBackend
    from mlc.runtime.serving import gateway
    from mlc.runtime.serving.gateway import serve_in_thread
    from mlc.runtime.serving.local_triton import LocalTriton, assemble_repository

    ir = fitted_ir()
    shard = next(s for s in ir.deployment.shards if s.name == SHARD)
    model = ir.model(shard.models[0])
    started = time.perf_counter()
    root = Path(args.out)
    paths = prepare(ir, root)
    print(f"machine: {machine()}")
    print(f"build + export of {list(shard.models)} + assembly: {time.perf_counter() - started:.1f} s")
    rng = random.Random(42)
    requests = [make_request(args.entities, list(shard.partitions), rng) for _ in range(args.distinct)]
    bodies = [json.dumps(r).encode() for r in requests]
    print(f"requests: {args.distinct} distinct x {ITEMS} items, body {np.mean([len(b) for b in bodies]) / 1024:.1f} KiB, "
          f"model `{model.name}`, groups {list(model.feature_groups)}, deployment max_batch_size "
          f"{ir.deployment.max_batch_size}, instance_group count {ir.deployment.instance_count}")
    routing = east_routing(ir)

    def timed(name, fn):
        print(f"{name}: {args.warmup} warm-up + {args.requests} requests", flush=True)
        gc.collect()
        before = os.getloadavg()[0]
        results[name] = fn()
        results[name]["load"] = (before, os.getloadavg()[0])

    results = {}
    profile_lines: list[str] = []
    with redis_server() as url:
        seeded = seed_redis(url, ir, model, args.entities)
        print(f"redis-server {seeded['version']}: {seeded['records']:,} records ({seeded['keys']:,} keys, "
              f"{seeded['used_memory'] / 2 ** 20:.0f} MiB) written in {seeded['seconds']:.1f} s")
        store = open_store(url, timeout=0.05)           # the gateway's default store timeout
        onnx_backend = OnnxBackend(paths["models"])
        onnx_predictor = Predictor(ir, None, store, onnx_backend, NAMESPACE, routing=routing)
        assert onnx_predictor.ready()[0]

        with LocalTriton(paths["repository"], log_dir=paths["logs"], startup_timeout=120) as triton:
            print(f"Triton ready in {triton.startup_s:.1f} s\n")
            triton_backend = TritonBackend(triton.grpc_url, timeout=1.0)
            predictor = Predictor(ir, None, store, triton_backend, NAMESPACE, routing=routing,
                                  module=onnx_predictor.module)
            ok, detail = predictor.ready()
            assert ok, detail
            # same scores both ways (Triton runs the same model.onnx through ONNX Runtime)
            np.testing.assert_allclose(predictor.predict(requests[0]).scores,
                                       onnx_predictor.predict(requests[0]).scores, rtol=1e-5, atol=1e-4)
            timed(NAME_A, lambda: run_inprocess(predictor, requests, args.warmup, args.requests))
            with serve_in_thread(predictor) as running:
                timed(NAME_B, lambda: run_http(running.url, bodies, args.warmup, args.requests))
            if "b2" not in args.skip:
                # what-if: the gateway's handler with Nagle off (socketserver's own switch);
                # set on the class for this variant only, then restored
                gateway.Handler.disable_nagle_algorithm = True
                try:
                    with serve_in_thread(predictor) as running:
                        timed(NAME_B2, lambda: run_http(running.url, bodies, args.warmup, args.requests))
                finally:
                    gateway.Handler.disable_nagle_algorithm = False
            timed(NAME_C, lambda: run_inprocess(onnx_predictor, requests, args.warmup, args.requests))
            if args.profile:
                profile_lines.append(f"parts of the stages, one request, {args.profile} iterations each:\n")
                profile_lines += profile_parts(predictor, onnx_backend, triton_backend, triton, requests[1],
                                               args.profile)
                profile_lines.append(f"\ncProfile of {NAME_A}, {args.profile} requests, top by own time:\n")
                profile_lines.append(cprofile_text(predictor, requests, args.profile))
            triton_backend.close()

        if "d" not in args.skip:
            # what-if: the deployment's max_batch_size raised to 256, so that 200 items are ONE
            # Triton request instead of 4 concurrent chunks of <= 64
            big = with_max_batch_size(ir, 256)
            write_tree(emit_all(big), str(root / "build_mbs256"))
            repository = assemble_repository(str(root / "build_mbs256"), str(Path(paths["models"]) / SHARD), SHARD,
                                             str(root / "repository_mbs256"))
            with LocalTriton(repository, log_dir=str(root / "logs_mbs256"), startup_timeout=120) as triton:
                backend = TritonBackend(triton.grpc_url, timeout=1.0)
                big_predictor = Predictor(big, None, store, backend, NAMESPACE, routing=routing,
                                          module=onnx_predictor.module)
                assert big_predictor.ready()[0] and backend.max_batch_size == 256
                timed(NAME_D, lambda: run_inprocess(big_predictor, requests, args.warmup, args.requests))
                profile_lines.append("\n" + triton_stats(triton, model.name).replace("requests (chunks)", "requests"))
                backend.close()
        onnx_backend.close()
        store.close()

    print("\n| variant | p50 ms | p90 ms | p99 ms | max ms | p99 < 30 ms | degraded | load avg before / after |")
    print("|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        print(summary_row(name, result))
    print("\n| variant | stage | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        print("\n".join(stage_rows(name, result)))
    print()
    print("\n".join(profile_lines))
    print("\nTriton and redis-server stopped")


if __name__ == "__main__":
    main()
