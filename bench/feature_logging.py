"""Benchmark: serving latency with the feature log at 100 % sampling vs off (issue 18).

    .venv/bin/python bench/feature_logging.py [--blocks 20] [--block 50] [--entities 20000]

Set-up as bench/serving.py (the delivery example compiled with hand-fitted analyzers, shard
``east``'s model exported untrained, a throwaway ``redis-server`` seeded with every group the
model reads), with the embedded ONNX Runtime backend (no Triton: the log's cost is in the
gateway process, and a Triton call only adds noise to both variants alike).

Two predictors share the store, the backend and the module; one has a ``FeatureLog`` at sample
rate 1.0 writing rotated files to a temporary folder (the local gateway's sink), the other none.
They are measured **side by side**: alternating blocks of ``--block`` requests (on, off, on, ...),
``--blocks`` of each, the same 200-item requests cycled. Before an "off" block the log's queue is
drained, so the writer thread's work is charged to the "on" variant (in production at 100 % it
always runs). ``--rounds`` repeat it: printed are p50/p90/p99 per round and variant, the records
written/dropped and the writer thread's wall time per record, each round's ratios, and as the last
line the median p99 ratio with its range (goal: at most 1.10).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import serving as S  # noqa: E402  (the serving benchmark's set-up: IR, exports, Redis seeding, requests)


def timed_block(predictor, requests: list[dict], start: int, count: int) -> list[float]:
    out = []
    for k in range(start, start + count):
        began = time.perf_counter()
        response = predictor.predict(requests[k % len(requests)])
        out.append((time.perf_counter() - began) * 1000.0)
        assert len(response.scores) == S.ITEMS
    return out


def drain(log, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while log.pending() and time.monotonic() < deadline:
        time.sleep(0.002)


def row(name: str, values: list[float]) -> str:
    p = [S.percentile(values, q) for q in (50, 90, 99)]
    return f"| {name} | {len(values)} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} | {max(values):.2f} |"


def versions() -> str:
    import onnxruntime
    import redis

    return f"numpy {np.__version__}, onnxruntime {onnxruntime.__version__}, redis-py {redis.__version__}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each a ratio (the spread is printed)")
    parser.add_argument("--blocks", type=int, default=20, help="blocks per variant and round (alternating)")
    parser.add_argument("--block", type=int, default=50, help="requests per block")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--distinct", type=int, default=200)
    parser.add_argument("--out", default=str(S.REPO / "bench" / "out" / "feature_logging"))
    args = parser.parse_args(argv)

    from mlc.core.fingerprint import features_fingerprint
    from mlc.runtime.feature_log.writer import FeatureLog, RotatingFiles
    from mlc.runtime.online_store import open_store
    from mlc.runtime.serving import OnnxBackend, Predictor

    ir = S.fitted_ir()
    shard = next(s for s in ir.deployment.shards if s.name == S.SHARD)
    model = ir.model(shard.models[0])
    paths = S.prepare(ir, Path(args.out))
    print(f"machine: {S.machine()}; {versions()}")
    rng = random.Random(42)
    requests = [S.make_request(args.entities, list(shard.partitions), rng) for _ in range(args.distinct)]
    routing = S.east_routing(ir)
    with S.redis_server() as url, tempfile.TemporaryDirectory() as folder:
        S.seed_redis(url, ir, model, args.entities)
        store = open_store(url, timeout=0.05)
        backend = OnnxBackend(paths["models"])
        off = Predictor(ir, None, store, backend, S.NAMESPACE, routing=routing)
        log = FeatureLog(RotatingFiles(folder), app=ir.name, spec_hash=features_fingerprint(ir), sample_rate=1.0,
                         store=store, namespace=S.NAMESPACE, groups=list(model.feature_groups))
        on = Predictor(ir, None, store, backend, S.NAMESPACE, routing=routing, module=off.module, feature_log=log)
        timed_block(off, requests, 0, args.warmup)
        timed_block(on, requests, 0, args.warmup)
        drain(log)
        rounds = []
        gc.collect()
        load = os.getloadavg()[0]
        for _ in range(args.rounds):
            results = {"log off": [], "log on (100 %)": []}
            for b in range(args.blocks):
                start = b * args.block
                results["log on (100 %)"] += timed_block(on, requests, start, args.block)
                drain(log)
                results["log off"] += timed_block(off, requests, start, args.block)
            rounds.append(results)
        log.close()
        size = sum(f.stat().st_size for f in Path(folder).iterdir())
        backend.close()
        store.close()
    print(f"\n{S.ITEMS}-item requests, model `{model.name}`, {args.rounds} rounds of {args.blocks} alternating blocks "
          f"of {args.block} per variant, load avg {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"feature log: {log.stats['written']} records written ({size / 2 ** 20:.1f} MiB, "
          f"{size / max(1, log.stats['written']) / 1024:.1f} KiB each), {log.stats['dropped']} dropped, "
          f"{log.stats['failed']} failed; writer thread {1000 * log.busy_seconds / max(1, log.stats['written']):.2f} ms "
          f"per record\n")
    print("| round | variant | requests | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for number, results in enumerate(rounds, start=1):
        for name, values in results.items():
            print(f"| {number} " + row(name, values))
        p50 = {name: S.percentile(values, 50) for name, values in results.items()}
        p99 = {name: S.percentile(values, 99) for name, values in results.items()}
        ratios.append((p50["log on (100 %)"] / p50["log off"], p99["log on (100 %)"] / p99["log off"]))
    print()
    for number, (r50, r99) in enumerate(ratios, start=1):
        print(f"round {number}: p50 on/off {r50:.3f}, p99 on/off {r99:.3f}")
    p50s, p99s = sorted(r[0] for r in ratios), sorted(r[1] for r in ratios)
    print(f"p50 on/off: median {p50s[len(p50s) // 2]:.3f} (range {p50s[0]:.3f}-{p50s[-1]:.3f})")
    print(f"p99 on/off: median {p99s[len(p99s) // 2]:.3f} (range {p99s[0]:.3f}-{p99s[-1]:.3f}; goal <= 1.10)")


if __name__ == "__main__":
    main()
