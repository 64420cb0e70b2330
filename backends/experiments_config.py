"""Serialise the IR's experiments as ``experiments/config.json`` (format 1, docs/experiments.md
"config.json"), read by ``mlc.backends.experiments.config.ExperimentsConfig``.

Shared by the backends (like ``templating``): the experiments backend writes the document as
``experiments/config.json`` and ``mlc.backends.serving_k8s`` mounts the same text in the
gateway's ConfigMap, so neither imports the other.

Deterministic: layers, experiments, switchbacks and variants in declaration order (order
matters there), regions sorted, timestamps canonical UTC `Z`, and ``config_version`` the first
16 hex digits of the sha256 of the canonical JSON (keys sorted, compact separators, ASCII) of the
document without that field.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mlc.core.ir import BUCKETS, IR, ExperimentIR, SwitchbackIR, VariantIR

PATH = "experiments/config.json"
FORMAT = 1


def _variant(variant: VariantIR, buckets: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": variant.name, "model": variant.model, "version": variant.version,
                           "alias": variant.alias, "weight": float(variant.weight)}
    if buckets:
        out["buckets"] = list(variant.buckets)
    return out


def _experiment(experiment: ExperimentIR) -> dict[str, Any]:
    return {
        "name": experiment.name, "unit": experiment.unit, "salt": experiment.salt,
        "traffic": float(experiment.traffic), "buckets": list(experiment.buckets),
        "reserved": list(experiment.reserved), "holdout": float(experiment.holdout),
        "control": experiment.control, "targeting": experiment.targeting,
        "targeting_source": experiment.targeting_source,
        "variants": [_variant(v, buckets=True) for v in experiment.variants],
    }


def _switchback(switchback: SwitchbackIR) -> dict[str, Any]:
    return {
        "name": switchback.name, "unit": switchback.unit, "slice_seconds": switchback.slice_seconds,
        "burn_in_seconds": switchback.burn_in_seconds, "seed": switchback.seed,
        "timezone": switchback.timezone, "regions": dict(sorted(switchback.regions)),
        "start": switchback.start, "end": switchback.end, "control": switchback.control,
        "targeting": switchback.targeting, "targeting_source": switchback.targeting_source,
        "tickets": list(switchback.tickets),
        "variants": [_variant(v, buckets=False) for v in switchback.variants],
    }


def config_version(document: dict[str, Any]) -> str:
    body = {key: value for key, value in document.items() if key != "config_version"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def document(ir: IR) -> dict[str, Any]:
    """config.json as plain data, `config_version` included."""
    experiments = {(e.layer, e.name): e for e in ir.experiments}
    body: dict[str, Any] = {
        "format": FORMAT,
        "spec": ir.name,
        "config_version": "",
        "hash": {"function": "sha256", "buckets": BUCKETS},
        "layers": [
            {"name": layer.name, "salt": layer.salt,
             "experiments": [_experiment(experiments[(layer.name, name)]) for name in layer.experiments]}
            for layer in ir.layers
        ],
        "switchbacks": [_switchback(s) for s in ir.switchbacks],
    }
    body["config_version"] = config_version(body)
    return body


def render(ir: IR) -> str:
    return json.dumps(document(ir), indent=2, allow_nan=False) + "\n"
