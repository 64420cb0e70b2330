"""Benchmark: experiment assignment of one request against 5 layers and 2 switchbacks, in Python.

    .venv/bin/python bench/experiments_assign.py [--requests 200000] [--repeats 5]

A generated spec has 5 layers of 2 experiments each (one experiment per layer with targeting on
the request's country and platform) and 2 switchbacks over 40 cities in 4 timezones; it is
compiled in memory and its `experiments/config.json` loaded, exactly as the gateway does.
Each request has a fresh user id, one of the cities, a country and a platform, and a time
spread over two weeks. Measured, single thread: `Assigner.assign` alone, and assign + `route`
+ exposure records written to a JSON-lines file (what the predictor adds per request).
Results are recorded by hand in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
CITIES = [f"city_{i:02d}" for i in range(40)]


def generate_spec() -> str:
    lines = ["version: 1", "name: bench_experiments", "sources:", "  events:", "    kind: csv",
             "    path: events.csv", "    event_time: ts",
             "    columns: {ts: timestamp, user_id: int64, city: string, country: string, platform: string, y: float64}",
             "preprocess:", "  inputs:", "    user_id: {dtype: int64}", "    city: {dtype: string}",
             "    country: {dtype: string, default: unknown}", "    platform: {dtype: string, default: web}",
             "  features:", "    city_id: hash_bucket(city, 100)"]
    lines += ["models:"]
    for name in ("m_a", "m_b", "m_c"):
        lines += [f"  {name}:", "    type: lr", "    task: regression", "    label: y",
                  "    inputs: {sparse: [city_id]}", "    training: {source: events, epochs: 1}"]
    lines += ["experiments:", "  layers:"]
    for layer in range(5):
        lines += [f"    layer_{layer}:", "      experiments:"]
        for e in range(2):
            lines += [f"        exp_{layer}_{e}:", "          unit: user_id", f"          traffic: {30 + 10 * e}"]
            if e == 0:
                lines.append("          targeting: \"country in ['DE', 'FR', 'US'] and platform != 'web'\"")
            lines += ["          variants:", "            control: {model: m_a, weight: 50}",
                      "            treatment: {model: m_b, weight: 50}"]
    lines += ["  switchbacks:"]
    for s, zone_offset in ((0, 0), (1, 2)):
        lines += [f"    sb_{s}:", "      unit: city", f"      slice: {30 if s == 0 else 60}m", "      burn_in: 5m",
                  f"      seed: {11 + s}", "      regions:"]
        for i, city in enumerate(CITIES[s * 20:(s + 1) * 20]):
            lines.append(f"        {city}: {ZONES[(i + zone_offset) % len(ZONES)]}")
        lines += ["      variants:", "        control: {model: m_a}", "        treatment: {model: m_c}"]
    return "\n".join(lines) + "\n"


def compiled_config():
    from mlc.backends.experiments.emit import emit
    from mlc.compiler.pipeline import build
    from mlc.backends.experiments.config import ExperimentsConfig

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.mlc.yaml")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(generate_spec())
        result = build(path)
        if not result.ok:
            raise SystemExit("\n".join(d.message for d in result.diagnostics))
        (text,) = emit(result.ir).values()
    return ExperimentsConfig.from_json(json.loads(text))


def requests(n: int, seed: int = 7) -> list[tuple[dict, datetime]]:
    rng = random.Random(seed)
    start = datetime(2024, 7, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        fields = {"user_id": 10_000_000 + i, "city": rng.choice(CITIES), "country": rng.choice(["DE", "FR", "US", "CN"]),
                  "platform": rng.choice(["ios", "android", "web"])}
        out.append((fields, start + timedelta(seconds=rng.randrange(14 * 86400))))
    return out


def run_assign(assigner, batch) -> tuple[float, int]:
    began = time.perf_counter()
    total = 0
    for fields, at in batch:
        total += len(assigner.assign(fields, at))
    return time.perf_counter() - began, total


def run_with_log(assigner, batch, log, version: str) -> float:
    served = ("m_a", "m_b", "m_c")
    began = time.perf_counter()
    for fields, at in batch:
        assignments = assigner.assign(fields, at)
        routed = assigner.route(assignments, served, None)
        log.write_all(assignments, ts=at, request_id=None, config_version=version, routed_assignment=routed,
                      shard="main")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from mlc.runtime.experiments.assigner import Assigner
    from mlc.runtime.experiments.exposures import ExposureLog

    config = compiled_config()
    assigner = Assigner(config)
    batch = requests(args.requests)
    run_assign(assigner, batch[:2000])                 # warm caches (zoneinfo, permutations)
    rates, per_request = [], 0.0
    for _ in range(args.repeats):
        seconds, total = run_assign(assigner, batch)
        rates.append(len(batch) / seconds)
        per_request = total / len(batch)
    with tempfile.TemporaryDirectory() as tmp:
        log = ExposureLog(os.path.join(tmp, "exposures.jsonl"))
        logged = [len(batch) / run_with_log(assigner, batch, log, config.config_version) for _ in range(2)]
        log.close()
        size = os.path.getsize(os.path.join(tmp, "exposures.jsonl"))
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, Python {sys.version.split()[0]}")
    print(f"config: {len(config.layers)} layers, {len(config.experiments)} experiments, {len(config.switchbacks)} switchbacks")
    print(f"assign only:          median {statistics.median(rates):,.0f} requests/s "
          f"(min {min(rates):,.0f}, max {max(rates):,.0f}); {per_request:.2f} assignments per request; "
          f"{1e6 / statistics.median(rates):.1f} us per request")
    print(f"assign+route+log:     median {statistics.median(logged):,.0f} requests/s; "
          f"{size / (2 * len(batch)):.0f} bytes of exposure log per request")


if __name__ == "__main__":
    main()
