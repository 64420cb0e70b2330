"""Benchmark: `mlc compile` of a large generated spec and `mlc --help`, as whole processes.

    .venv/bin/python bench/compile.py [--runs 7]

The generated spec has 1,000 derived features, 50 feature groups, 20 shards and 30
experiments (in 3 layers) over one source. Goals on the dev machine: compile < 1 s,
`--help` < 0.25 s (median wall time of whole processes, interpreter start included).
Results are recorded by hand in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

CITIES = [f"city_{i:02d}" for i in range(60)]


def generate_spec(features: int = 1000, groups: int = 50, shards: int = 20, experiments: int = 30) -> str:
    lines = ["version: 1", "name: bench_large", "entities:"]
    lines += [f"  entity_{g}: {{keys: [key_{g}]}}" for g in range(groups)]
    columns = ", ".join([f"key_{g}: int64" for g in range(groups)] + ["ts: timestamp", "amount: float64",
                                                                     "label: float64", "city: string", "user_id: int64"])
    lines += ["sources:", "  events:", "    kind: parquet", "    path: data/events.parquet",
              "    event_time: ts", f"    columns: {{{columns}}}", "feature_groups:"]
    for g in range(groups):
        lines += [f"  group_{g}:", f"    entity: entity_{g}", "    source: events", "    windows: [1h, 1d, 7d]",
                  "    filter: \"amount > 0\"", "    features:", "      events: count()",
                  "      total: sum(amount)", "      mean: avg(amount)"]
    lines += ["preprocess:", "  inputs:", "    amount: {dtype: float64, default: 0.0}",
              "    city: {dtype: string, default: unknown}", "    user_id: {dtype: int64, default: 0}"]
    lines += [f"    key_{g}: {{dtype: int64, default: 0}}" for g in range(groups)]
    lines += ["  features:"]
    for i in range(features):
        g = i % groups
        kind = i % 5
        if kind == 0:
            expr = f"log1p(coalesce(group_{g}.total_7d, 0.0)) * {1 + i % 7}"
        elif kind == 1:
            expr = f"clip(coalesce(group_{g}.mean_1d, 0.0) / (coalesce(group_{g}.events_1d, 0) + 1), 0, 1000)"
        elif kind == 2:
            expr = f"hash_bucket(concat(city, '_{i}'), 1000)"
        elif kind == 3:
            expr = f"bucketize(f_{i - 3}, [0.5, 1, 2, 4, 8])" if i >= 3 else "bucketize(amount, [1, 2])"
        else:
            expr = f"if(amount > {i}, f_{i - 4}, 0.0)" if i >= 4 else "amount"
        lines.append(f"    f_{i}: \"{expr}\"")
    dense = [f"f_{i}" for i in range(features) if i % 5 in (0, 1)][:200]
    sparse = [f"f_{i}" for i in range(features) if i % 5 == 2][:100]
    lines += ["models:", "  ranker:", "    type: deepfm", "    task: regression", "    label: label",
              f"    inputs: {{dense: [{', '.join(dense)}], sparse: [{', '.join(sparse)}]}}",
              "    training: {source: events, epochs: 1}"]
    lines += ["deployment:", "  sharding:", "    partition_key: city", "    default: shard_0", "    shards:"]
    per = len(CITIES) // shards
    for s in range(shards):
        lines.append(f"      shard_{s}: {{partitions: [{', '.join(CITIES[s * per:(s + 1) * per])}]}}")
    lines += ["experiments:", "  layers:"]
    per_layer = experiments // 3
    for layer in range(3):
        lines += [f"    layer_{layer}:", "      experiments:"]
        for e in range(per_layer):
            lines += [f"        exp_{layer}_{e}:", "          unit: user_id", f"          traffic: {100 // per_layer}",
                      f"          targeting: \"city != 'city_{e:02d}'\"",
                      "          variants: {a: {model: ranker, weight: 50}, b: {model: ranker, weight: 50}}"]
    return "\n".join(lines) + "\n"


def timed(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    mlc = [sys.executable, "-m", "mlc"]
    with tempfile.TemporaryDirectory() as folder:
        spec = os.path.join(folder, "large.mlc.yaml")
        with open(spec, "w") as handle:
            handle.write(generate_spec())
        subprocess.run(mlc + ["compile", spec, "-o", os.path.join(folder, "warm")], check=True)  # warm caches
        results = {
            "mlc compile (1,000 derived, 50 groups, 20 shards, 30 experiments)":
                timed(mlc + ["compile", spec, "-o", os.path.join(folder, "out")], args.runs),
            "mlc --help": timed(mlc + ["--help"], args.runs),
        }
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}, {platform.system()}")
    for name, times in results.items():
        print(f"{name}: median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s ({len(times)} runs)")


if __name__ == "__main__":
    main()
