"""Helpers of tests/runtime/test_consistency.py: a small spec whose events sit relative to the
wall clock (requests are logged at the wall-clock time), its fitted build, a tiny exported
model, and serving scenarios through the real Predictor with a real FeatureLog."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from datetime import datetime, timezone

from mlc.compiler.pipeline import build
from mlc.core.fingerprint import features_fingerprint
from mlc.core.ir import to_jsonable
from mlc.runtime.feature_log.writer import FeatureLog, RotatingFiles
from mlc.runtime.features.fitting import with_fitted
from mlc.runtime.online_store.store import StoreError
from mlc.runtime.serving import OnnxBackend, Predictor

SPEC = """\
version: 1
name: skew
entities:
  rider: {keys: [rider_id]}
sources:
  orders:
    kind: csv
    path: orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: int64, eta: float64, distance_km: float64, city: string, status: string}
feature_groups:
  rider_activity:
    entity: rider
    source: orders
    windows: [1h, 1d]
    filter: "status == 'delivered'"
    features:
      deliveries: count()
      avg_eta: avg(eta)
preprocess:
  inputs:
    rider_id: {dtype: int64}
    distance_km: {dtype: float64, default: 0.0}
    city: {dtype: string, default: unknown}
  features:
    log_dist: log1p(distance_km)
    dist_z: standardize(log_dist)
    load: "coalesce(rider_activity.deliveries_1h, 0)"
    city_id: hash_bucket(city, 100)
models:
  eta:
    type: dnn
    task: regression
    label: eta
    inputs: {dense: [dist_z, load], sparse: [city_id]}
    training: {source: orders, epochs: 1}
"""
FITTED = {"dist_z:standardize:0": {"mean": 0.4, "std": 0.7, "count": 100}}
STALE_LAG_S = 30 * 60          # the stale store is materialised this long before "now"
LATE_RIDERS = (1, 2)           # riders with an event between the stale materialisation and now
RIDERS = (1, 2, 3, 4, 5)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_events(path, now: int) -> None:
    """Every rider: a delivery 3h ago (1d window only) and 40 min ago (both windows); riders 1
    and 2 another 20 min ago (after the stale materialisation); rider 5's recent order cancelled
    (filtered out). Nothing near a window boundary for the next 15 minutes."""
    rows = ["ts,rider_id,eta,distance_km,city,status"]
    for rider in RIDERS:
        rows.append(f"{iso(now - 3 * 3600)},{rider},{20 + rider}.5,2.0,beijing,delivered")
        status = "cancelled" if rider == 5 else "delivered"
        rows.append(f"{iso(now - 40 * 60)},{rider},{10 + rider}.25,3.0,,{status}")
        if rider in LATE_RIDERS:
            rows.append(f"{iso(now - 20 * 60)},{rider},{30 + rider}.0,1.0,beijing,delivered")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def compile_spec(folder, now: int):
    """(spec path, compiled IR with the fitted constants) in ``folder``."""
    spec = folder / "skew.mlc.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    write_events(folder / "orders.csv", now)
    result = build(str(spec))
    assert result.ok, [d.message for d in result.diagnostics]
    return spec, with_fitted(result.ir, FITTED)


def write_build(ir, folder) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "mldl.json"), "w", encoding="utf-8") as handle:
        json.dump(to_jsonable(ir), handle)
    return str(folder)


def export_model(ir, repository) -> None:
    from mlc.runtime.training import export
    from mlc.runtime.training.models import build_model

    model = ir.model("eta")
    export.export_model(build_model(model, seed=0, output_bias=1.0), model, str(repository), 1, {})


class DownStore:
    """An online store that fails every read (an outage)."""

    def get_many(self, keys):
        raise StoreError("connection refused")

    def put_many(self, items, ttl_seconds=None):
        raise StoreError("connection refused")

    def close(self):
        pass


def without_null_values(ir):
    """The IR a gateway that keeps '' as a string would serve (no null texts on its inputs)."""
    return dataclasses.replace(ir, inputs=tuple(dataclasses.replace(i, null_values=()) for i in ir.inputs))


def serve(ir, store, namespace: str, repository, folder, requests, *, served_ir=None, read_store=None) -> str:
    """``requests`` through a Predictor (over ``served_ir``, reading ``read_store``) with a feature
    log (sample rate 1) in ``folder``; the log folder once closed."""
    log = FeatureLog(RotatingFiles(str(folder)), app=ir.name, spec_hash=features_fingerprint(ir), sample_rate=1.0,
                     store=store, namespace=namespace, groups=["rider_activity"])
    predictor = Predictor(served_ir or ir, None, read_store or store, OnnxBackend(str(repository)), namespace,
                          feature_log=log)
    for request in requests:
        predictor.predict(request)
    log.close()
    assert log.stats["written"] == len(requests), log.stats
    return str(folder)


def requests(prefix: str, city: str = "beijing", riders=RIDERS):
    return [{"request_id": f"{prefix}-{i}", "context": {"city": city},
             "items": [{"rider_id": rider, "distance_km": 1.5 + i} for rider in riders]} for i in range(2)]


def now_seconds() -> int:
    return int(time.time())
