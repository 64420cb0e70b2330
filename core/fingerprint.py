"""The spec hash a served request is logged under (``mlc.runtime.feature_log``).

``features_fingerprint(ir)``: 16 hex digits of the SHA-256 of the canonical JSON of everything
that decides what a model sees: entities, sources, feature groups, preprocess inputs, derived
features, analyzers (their definitions, NOT their fitted constants: a refit keeps the hash) and
models. Deployment, experiments and the sample rate are left out: moving replicas or traffic does
not change what a feature means, so logs stay comparable across such changes. The same spec
compiled on any machine, or the fitted ``mldl.json`` a gateway loads, gives the same hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from mlc.core.ir import IR, to_jsonable

FINGERPRINT_FIELDS = ("mldl_version", "name", "entities", "sources", "feature_groups", "inputs", "derived",
                      "analyzers", "models")


def features_fingerprint(ir: IR) -> str:
    unfitted = tuple(dataclasses.replace(a, fitted=None) for a in ir.analyzers)
    data: dict[str, Any] = {name: to_jsonable(getattr(ir, name)) for name in FINGERPRINT_FIELDS}
    data["analyzers"] = to_jsonable(unfitted)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
