"""``<run>/models/skipped.json``: the (model, shard) pairs `mlc run` did not train, and why.

    record_skipped(models_dir, trained=[("eta_dnn", "east")], skipped={("eta_dnn", "west"): "..."})
    read_skipped(models_dir)      # {("eta_dnn", "west"): "model `eta_dnn` shard `west` has no rows: ..."}

A pair whose training set has no training rows (``data.no_training_rows``) is skipped, not failed,
so the other shards still train; later steps read this file: the run summary lists the pairs,
`mlc deploy` deploys the others and says which have no version and why, `mlc serve` names the
cause. Training a pair again removes it from the file. Standard library only (the deploy reads it).
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Mapping

SKIPPED_FILE = "skipped.json"


def read_skipped(models_dir: str) -> dict[tuple[str, str], str]:
    """``{(model, shard): reason}``; empty when nothing was skipped (or the file is unreadable)."""
    try:
        with open(os.path.join(models_dir, SKIPPED_FILE), encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError):
        return {}
    entries = doc.get("skipped") if isinstance(doc, dict) else None
    return {(e["model"], e["shard"]): str(e.get("reason", "")) for e in entries or []
            if isinstance(e, dict) and isinstance(e.get("model"), str) and isinstance(e.get("shard"), str)}


def record_skipped(models_dir: str, trained: Iterable[tuple[str, str]],
                   skipped: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """Update the file: drop the pairs trained now, add (or replace) the ones skipped now, keep the
    rest (pairs this run did not select). Removes the file when nothing stays skipped."""
    current = read_skipped(models_dir)
    for pair in trained:
        current.pop(tuple(pair), None)
    current.update({tuple(pair): reason for pair, reason in skipped.items()})
    path = os.path.join(models_dir, SKIPPED_FILE)
    if not current:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return current
    os.makedirs(models_dir, exist_ok=True)
    doc = {"skipped": [{"model": m, "shard": s, "reason": current[(m, s)]} for m, s in sorted(current)]}
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(path + ".tmp", path)
    return current
