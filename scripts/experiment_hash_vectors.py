#!/usr/bin/env python
"""Generate docs/experiments-hash-vectors.json: test vectors of the experiment hash and of full
assignments (layers and a switchback schedule), for services in other languages (docs/experiments.md "The hash").

    python scripts/experiment_hash_vectors.py            # rewrite the file
    python scripts/experiment_hash_vectors.py --check    # exit 1 when the file is stale

Deterministic: the same mlc gives the same bytes (tests/runtime/test_experiments_assign.py
compares the committed file with a regeneration).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import datetime
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(REPO, "docs", "experiments-hash-vectors.json")
INT64_MAX = 2 ** 63 - 1

SALTS = ("ranking_model", "ranking_model_2024q3:lr_vs_deepfm", "a:b:c", "", "排序:实验")
UNITS = (0, 1, 7, "7", " 7", 42, -1, -42, 10 ** 12, INT64_MAX, -INT64_MAX, -INT64_MAX - 1,
         "", "u", "user-123", "ユーザー", "café", "cafe\u0301", "🙂", "👍🏽", "a:b", "Straße")

CITY_IS_BEIJING = {"kind": "in", "dtype": "bool", "negated": False,
                   "value": {"kind": "ref", "dtype": "string", "name": "city"},
                   "options": [{"kind": "constant", "dtype": "string", "value": "beijing"}]}


def _variant(name: str, model: str, weight: float, buckets: list[int], version: int | None = None) -> dict:
    return {"name": name, "model": model, "version": version, "alias": None, "weight": weight, "buckets": buckets}


def _experiment(layer_salt: str, name: str, unit: str, buckets: list[int], reserved: list[int], holdout: float,
                variants: list[dict], targeting: dict | None = None, source: str | None = None) -> dict:
    return {"name": name, "unit": unit, "salt": f"{layer_salt}:{name}", "traffic": (buckets[1] - buckets[0]) / 100,
            "buckets": buckets, "reserved": reserved, "holdout": holdout, "control": variants[0]["name"],
            "targeting": targeting, "targeting_source": source, "variants": variants}


def assignment_config() -> dict:
    """A small format-1 config: two layers, a targeted experiment, a holdout, a string unit."""
    doc = {
        "format": 1,
        "spec": "hash_vectors",
        "hash": {"function": "sha256", "buckets": 10000},
        "layers": [
            {"name": "ranking", "salt": "ranking_2024q3", "experiments": [
                _experiment("ranking_2024q3", "lr_vs_deepfm", "user_id", [0, 3000], [0, 4000], 20.0, [
                    _variant("control", "ctr_lr", 50.0, [0, 4000]),
                    _variant("treatment", "ctr_deepfm", 50.0, [4000, 8000], version=3)]),
                _experiment("ranking_2024q3", "beijing_wide", "user_id", [4000, 7000], [4000, 7000], 0.0, [
                    _variant("control", "ctr_lr", 25.0, [0, 2500]),
                    _variant("treatment", "ctr_wide", 75.0, [2500, 10000])],
                    CITY_IS_BEIJING, "city in ['beijing']")]},
            {"name": "eta", "salt": "eta", "experiments": [
                _experiment("eta", "dnn_vs_gbdt", "device_id", [0, 5000], [0, 5000], 0.0, [
                    _variant("control", "eta_dnn", 50.0, [0, 5000]),
                    _variant("treatment", "eta_gbdt", 50.0, [5000, 10000])])]},
        ],
        "switchbacks": [
            {"name": "dispatch_eta", "unit": "city", "slice_seconds": 1800, "burn_in_seconds": 300, "seed": 2024,
             "timezone": "Asia/Shanghai", "regions": {"beijing": "Asia/Shanghai", "riyadh": "Asia/Riyadh"},
             "start": "2024-07-01T00:00:00Z", "end": "2024-07-15T00:00:00Z", "control": "control",
             "targeting": None, "targeting_source": None, "tickets": [1, 1], "variants": [
                 {"name": "control", "model": "eta_dnn", "version": None, "alias": None, "weight": 50.0},
                 {"name": "treatment", "model": "eta_wide_deep", "version": None, "alias": None, "weight": 50.0}]},
        ],
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {"format": 1, "spec": doc["spec"], "config_version": hashlib.sha256(canonical.encode()).hexdigest()[:16],
            **{k: v for k, v in doc.items() if k not in ("format", "spec")}}


LAYER_TIME = "2024-07-03T09:40:00.000Z"
SWITCHBACK_TIMES = ("2024-06-30T23:59:59.999Z", "2024-07-01T00:00:00.000Z", "2024-07-01T00:04:59.999Z",
                    "2024-07-01T00:05:00.000Z", "2024-07-01T15:59:00.000Z", "2024-07-01T16:00:00.000Z",
                    "2024-07-01T21:00:00.000Z", "2024-07-01T21:31:00.000Z", "2024-07-02T08:10:00.000Z",
                    "2024-07-14T23:59:59.999Z", "2024-07-15T00:00:00.000Z")


def assignment_requests() -> list[dict]:
    """(fields, at) of the requests the vectors assign."""
    cities = ("beijing", "shanghai")
    requests = [({"user_id": u, "city": cities[u % 2], "device_id": f"d{u}"}, LAYER_TIME) for u in range(24)]
    requests += [(fields, LAYER_TIME) for fields in (
        {"user_id": "ユーザー", "city": "beijing", "device_id": "🙂"},
        {"user_id": -INT64_MAX - 1, "city": "beijing"},
        {"user_id": None, "city": "beijing", "device_id": "d1"},
        {"city": "beijing", "device_id": ""},
        {"user_id": 1.5, "device_id": 7},
    )]
    requests += [({"city": city}, at) for city in ("beijing", "riyadh") for at in SWITCHBACK_TIMES]
    return requests


def hash_vector(salt: str, unit: Any) -> dict:
    from mlc.runtime.experiments.hashing import BUCKETS, SEPARATOR, hash64, unit_text

    text = unit_text(unit)
    value = hash64(salt + SEPARATOR + text)
    return {"salt": salt, "unit": unit, "unit_text": text, "hash64": str(value), "bucket": value % BUCKETS}


def assignment_vectors() -> dict:
    from mlc.runtime.experiments.assigner import Assigner
    from mlc.backends.experiments.config import ExperimentsConfig

    config = assignment_config()
    assigner = Assigner(ExperimentsConfig.from_json(config))
    layers = [layer["name"] for layer in config["layers"]]
    switchbacks = [switchback["name"] for switchback in config["switchbacks"]]
    vectors = []
    for fields, at in assignment_requests():
        found = assigner.assign(fields, datetime.fromisoformat(at.replace("Z", "+00:00")))
        by_layer = {a.layer: a for a in found if a.kind == "layer"}
        by_switchback = {a.experiment: a for a in found if a.kind == "switchback"}
        vectors.append({"fields": fields, "at": at, "expected": {
            "layers": {name: _layer_expected(by_layer.get(name)) for name in layers},
            "switchbacks": {name: _switchback_expected(by_switchback.get(name)) for name in switchbacks}}})
    return {"config": config, "requests": vectors}


def _layer_expected(assignment: Any) -> dict | None:
    if assignment is None:
        return None
    return {"experiment": assignment.experiment, "unit_id": assignment.unit_id, "bucket": assignment.bucket,
            "variant": assignment.variant}


def _switchback_expected(assignment: Any) -> dict | None:
    from mlc.runtime.experiments.exposures import utc_text

    if assignment is None:
        return None
    return {"region": assignment.region, "variant": assignment.variant, "slice_index": assignment.slice_index,
            "slice_start": utc_text(assignment.slice_start, milliseconds=False), "burn_in": assignment.burn_in}


def document() -> dict:
    return {
        "description": "Test vectors of the mlc experiment hash (docs/experiments.md). Generated by "
                       "scripts/experiment_hash_vectors.py; do not edit.",
        "hash": {
            "text": "text(v) = v for a string; the decimal digits of v (leading '-' if negative) for an int64",
            "bucket": "bucket(s, v) = uint64_big_endian(sha256(utf8(s) || 0x00 || utf8(text(v)))[0:8]) mod 10000",
            "hash64": "uint64_big_endian(sha256(utf8(salt) || 0x00 || utf8(unit_text))[0:8]), as decimal text",
        },
        "vectors": [hash_vector(salt, unit) for salt in SALTS for unit in UNITS],
        "assignments": {
            "description": "Per request (fields, at): for each layer, the experiment and variant assigned "
                           "(null: in none of the layer's experiments); for each switchback, the slice and "
                           "variant (null: region not covered or `at` outside [start, end)). A null, missing "
                           "or non-integer number unit is in no experiment.",
            **assignment_vectors(),
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from a regeneration")
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as fh:
                current = fh.read()
        except OSError:
            current = None
        if current != text:
            print(f"{args.output} is stale; run scripts/experiment_hash_vectors.py", file=sys.stderr)
            return 1
        return 0
    with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
