"""The online predictor: one request (context + candidate items) -> one score per item.

This module orchestrates the steps; the rules live in ``validation`` (step 1), ``routing``
(step 2), ``model_inputs`` (the model-column mapping of step 4) and ``inference`` (step 5), and
the errors in ``errors``; the package (``mlc.runtime.serving``) exports the public names of all
of them.

    predictor = Predictor(ir, fitted, store, OnnxBackend("out/models/repository"), namespace=ir.name)
    response = predictor.predict({"context": {"rider_id": 7, "city": "beijing"},
                                  "items": [{"distance_km": 1.5}, {"distance_km": 4.0}]})
    response.scores, response.model, response.version, response.shard, response.degraded

Steps, each timed (``Response.timings_ms``, and the ``metrics`` histograms when given):

1. ``validate``: the request's shape, every field known (a preprocess input, or an entity key of
   a feature group), of its input's dtype, and every ``required`` input present in every row;
   ALL errors are collected into one :class:`RequestError` (HTTP 400). Item rows are the context
   merged with the item's fields (the item wins). A missing optional field is null; an input's
   ``default`` is applied by the generated preprocessing module, offline and online alike
   (docs/spec.md), so routing and experiments see the request's values as sent, exactly as
   training sets are sharded on the data's values. Limits: at most ``max_items`` items, and every
   string (a field value, ``model``, ``request_id``) at most ``max_field_bytes`` bytes of UTF-8
   (64 KiB by default), so nothing unbounded reaches the features, the logs or the exposure
   log; field names are shortened in error messages. Numbers must be finite (docs/semantics.md,
   "NaN and infinities in inputs"): ``NaN``, ``Infinity``, ``-Infinity`` (which Python's json
   reads and writes, but JSON does not have) and numbers beyond the float64 range are field
   errors, as the offline JSON reader rejects them; so are an ``int64`` outside int64 and a
   ``timestamp`` outside the years 0001-9999. Inputs read from a training source's column are read
   like that source reads them (docs/semantics.md, "Reading sources"): a string in the source's
   ``null_values`` (``''`` for CSV) is null, and a timestamp input of a formatted column takes
   text (or an integer, read as its text) in that column's datetime format.
2. ``route``: the value of ``deployment.partition_key`` (as sent; all rows must agree)
   picks the shard listing it, the default shard for any other value or a null; then
   :meth:`Predictor.assign` picks the model (explicit ``"model"``, else the shard's first model),
   unless an experiment the request is in routes it to its variant's model and version
   (``experiments=``, an :class:`~mlc.runtime.serving.experiment_routing.ExperimentRouter`;
   docs/experiments.md "Routing"). Exposures are logged once the response is computed.
3. ``features``: ONE ``get_features`` call for all rows and all the model's feature groups
   (entity keys from the row fields). A failing store never fails the request: the group
   defaults are used and ``degraded`` is set.
4. ``preprocess``: the generated module on the NumPy executor with the fitted analyzers, then
   ``model_arrays`` -- exactly the mapping training used.
5. ``inference``: an :class:`InferenceBackend`: :class:`OnnxBackend` (in-process ONNX Runtime on
   the latest exported version) or :class:`TritonBackend` (gRPC ``infer`` on model ``<model>``
   of the shard's Triton -- round robin over its replicas, an unreachable one skipped and the
   request retried once on another -- preprocessed signature inputs; with a version router
   (``mlc.runtime.deploy.versions``) each request is pinned to the routed version; unreachable or
   timed out -> :class:`BackendUnavailable`, HTTP 503).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mlc.backends.preprocess import render
from mlc.core.ir import IR, ModelIR, ShardIR
from mlc.runtime.feature_log.format import Capture
from mlc.runtime.features.fitting import fitted_from_ir
from mlc.runtime.numpy_ops.vec import Vec
from mlc.runtime.online_store.retrieval import get_features
from mlc.runtime.online_store.store import StoreError
from mlc.runtime.preprocess import module_from_text, transform_numpy
from mlc.runtime.serving.errors import BackendError, BackendUnavailable, ServingError, short_error
from mlc.runtime.serving.inference import InferenceBackend
from mlc.runtime.serving.model_inputs import arrays_of, signature_columns
from mlc.runtime.serving.routing import Routing, check_model, served_models, shard_of
from mlc.runtime.serving.validation import MAX_FIELD_BYTES, MAX_ITEMS, Rows, request_fields, validate_request

__all__ = ["Predictor", "Response", "STAGES", "STORE_PROBE"]

STAGES = ("validate", "route", "features", "preprocess", "inference", "total")
STORE_PROBE = "mlc-readiness-probe"   # the key /readyz reads (under the namespace) to check the store


# ------------------------------------------------------------------------------------ response


@dataclass
class Response:
    scores: list[float]
    model: str
    version: int | None
    shard: str
    degraded: bool
    timings_ms: dict[str, float]
    experiments: list[dict[str, Any]] = field(default_factory=list)   # {experiment, variant, routed}

    def to_json(self) -> dict[str, Any]:
        scores = [s if math.isfinite(s) else None for s in self.scores]    # JSON has no NaN
        body = {"scores": scores, "model": self.model, "version": self.version, "shard": self.shard,
                "degraded": self.degraded, "timings_ms": self.timings_ms}
        if self.experiments:
            body["experiments"] = self.experiments
        return body


class _NoStore:
    """Stands in when no online store is configured: every read fails, so the group defaults are
    used and responses are flagged ``degraded``."""

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        raise StoreError("no online store configured")

    def put_many(self, items: Any, ttl_seconds: int | None = None) -> None:
        raise StoreError("no online store configured")

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------------ predictor


class Predictor:
    """See the module docstring. ``fitted``: analyzer id -> constants (``None``: from the IR);
    every analyzer must be fitted. ``store``: an ``OnlineStore`` or ``None`` (group defaults,
    ``degraded``). ``routing``: a :class:`Routing` or a parsed ``routing.json`` (default: from the
    IR). ``module``: the generated preprocessing module (default: rendered from the IR).
    ``clock``: seconds, for the stage timings. ``metrics``: a ``ServingMetrics`` or ``None``.
    ``experiments``: an ``ExperimentRouter`` (assignment, variant routing, exposure log) or ``None``.
    ``feature_log``: a :class:`mlc.runtime.feature_log.writer.FeatureLog` (a sample of requests with
    what serving used) or ``None``."""

    def __init__(self, ir: IR, fitted: Mapping[str, Any] | None, store: Any, backend: InferenceBackend,
                 namespace: str, routing: Routing | Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.perf_counter, *, module: Any = None, metrics: Any = None,
                 max_items: int = MAX_ITEMS, experiments: Any = None, max_field_bytes: int = MAX_FIELD_BYTES,
                 feature_log: Any = None):
        self.ir = ir
        self.fitted = dict(fitted) if fitted is not None else fitted_from_ir(ir)
        unfitted = [a.id for a in ir.analyzers if a.id not in self.fitted]
        if unfitted:
            raise ValueError(f"analyzers not fitted: {unfitted}; run `mlc fit` first")
        if not ir.models:
            raise ValueError(f"spec `{ir.name}` has no model to serve")
        self.store = store if store is not None else _NoStore()
        self.backend = backend
        self.namespace = namespace
        if routing is None:
            routing = Routing.from_ir(ir)
        elif not isinstance(routing, Routing):
            routing = Routing.from_table(routing, ir)
        self.routing = routing
        self.clock = clock
        self.metrics = metrics
        self.max_items = max_items
        self.max_field_bytes = max_field_bytes
        self.experiments = experiments
        self.feature_log = feature_log
        if module is None:
            module = module_from_text(render(ir))
        if getattr(module, "SPEC_NAME", ir.name) != ir.name:
            raise ValueError(f"preprocessing module is of `{module.SPEC_NAME}`, the IR of `{ir.name}`")
        self.module = module
        self.inputs = {i.name: i for i in ir.inputs}
        self.models = {m.name: m for m in ir.models}
        self.shards = {s.name: s for s in ir.deployment.shards}
        # every request field: the preprocess inputs, then the entity keys of the served groups
        self.fields: dict[str, str] = request_fields(ir)
        self.backend.prepare(ir, self.routing)

    # -------------------------------------------------------------- public

    def ready(self) -> tuple[bool, str]:
        """The backend's readiness and the online store's: a store that cannot answer a probe
        read within its timeout makes the gateway not ready (it would only serve defaults)."""
        backend_ok, backend_detail = self.backend.ready()
        store_ok, store_detail = self.store_ready()
        if backend_ok and store_ok:
            return True, f"{backend_detail}; {store_detail}"
        return False, "; ".join(detail for ok, detail in ((backend_ok, backend_detail), (store_ok, store_detail))
                                if not ok)

    def store_ready(self) -> tuple[bool, str]:
        """One probe read of the online store (bounded by the store's timeout)."""
        if isinstance(self.store, _NoStore):
            return True, "no online store (feature groups take their defaults)"
        try:
            self.store.get_many([f"{self.namespace}:{STORE_PROBE}"])
        except Exception as err:  # any backend failure: not ready, with the reason
            return False, f"online store not answering: {short_error(err)}"
        return True, "online store answering"

    def predict(self, request: Any) -> Response:
        start = self.clock()
        timings: dict[str, float] = {}
        try:
            response = self._predict(request, timings, start)
        except ServingError as err:
            self._count(str(err.status))
            raise
        except Exception:
            self._count("500")
            raise
        self._count("200")
        return response

    def assign(self, request: Mapping[str, Any], shard: ShardIR) -> str:
        """The model that answers ``request`` on ``shard`` when no experiment routes it: the
        request's explicit ``"model"``, else the shard's first model (the caller checks it)."""
        explicit = request.get("model")
        if explicit is not None:
            return explicit
        return served_models(self.routing, shard)[0]

    # -------------------------------------------------------------- steps

    def _stage(self, timings: dict[str, float], name: str, began: float) -> float:
        now = self.clock()
        timings[name] = round((now - began) * 1000.0, 3)
        if self.metrics is not None:
            self.metrics.observe(name, now - began)
        return now

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.count_request(status)

    def _predict(self, request: Any, timings: dict[str, float], start: float) -> Response:
        rows = self.validate(request)
        t = self._stage(timings, "validate", start)

        shard, decision, model = self.route_request(request, rows)
        t = self._stage(timings, "route", t)

        now_us = time.time_ns() // 1000
        retrieval = self.features(model, rows, now_us)
        if self.metrics is not None:
            self.metrics.record_store(retrieval.degraded, retrieval.errors)
        t = self._stage(timings, "features", t)

        served = Served(model, retrieval, *self.prepare(model, rows, retrieval.columns))
        t = self._stage(timings, "preprocess", t)

        scores, version, decision, served = self._infer(request, rows, shard, served, decision, now_us)
        model, retrieval = served.model, served.retrieval
        if len(scores) != rows.n:
            raise BackendError(f"model `{model.name}` returned {len(scores)} scores for {rows.n} items")
        t = self._stage(timings, "inference", t)
        self._stage(timings, "total", start)
        if decision is not None:
            self.experiments.record(decision, shard.name, rows.request_id)
            if self.metrics is not None:
                self.metrics.record_experiments(decision.summary(), decision.fell_back)
        summary = decision.summary() if decision is not None else []
        if self.feature_log is not None and self.feature_log.sampled():
            self.feature_log.submit(Capture(
                request, rows.request_id, rows.n, now_us, model.name, version, shard.name, bool(retrieval.degraded),
                retrieval.errors, summary, retrieval.columns, retrieval.found, served.signature, scores,
                tuple(self.ir.group(g) for g in model.feature_groups)))
        return Response([float(s) for s in scores], model.name, version, shard.name, bool(retrieval.degraded),
                        timings, summary)

    def _experiments(self, rows: Rows, shard: ShardIR) -> Any:
        if self.experiments is None:
            return None
        served = served_models(self.routing, shard)
        return self.experiments.decide(rows.columns, rows.model, shard.name, served)

    def _infer(self, request: Mapping[str, Any], rows: Rows, shard: ShardIR, served: "Served",
               decision: Any, now_us: int) -> tuple[np.ndarray, int | None, Any, "Served"]:
        """Inference on the routed model; a variant's model or version that cannot serve falls
        back to the normal route (same preprocessing when the model is the same)."""
        pinned = decision.version if decision is not None and decision.routed is not None else None
        try:
            scores, version = self.backend.infer(shard.name, served.model, served.arrays, pinned)
            return scores, version, decision, served
        except BackendUnavailable:
            if decision is None or decision.routed is None:
                raise
        decision = self.experiments.without_routing(decision)
        fallback = self._pick(request, shard, decision)
        if fallback.name != served.model.name:
            retrieval = self.features(fallback, rows, now_us)
            served = Served(fallback, retrieval, *self.prepare(fallback, rows, retrieval.columns))
        scores, version = self.backend.infer(shard.name, fallback, served.arrays)
        return scores, version, decision, served

    def validate(self, request: Any) -> Rows:
        """The request's rows as columns, or a RequestError listing every field error
        (``mlc.runtime.serving.validation``)."""
        return validate_request(request, self.fields, self.inputs, max_items=self.max_items,
                                max_field_bytes=self.max_field_bytes)

    def route(self, rows: Rows) -> ShardIR:
        """The shard of the rows' partition value (``mlc.runtime.serving.routing.shard_of``)."""
        return self.shards[shard_of(self.routing, rows.columns)]

    def route_request(self, request: Mapping[str, Any], rows: Rows) -> tuple[ShardIR, Any, ModelIR]:
        """The route stage: the shard, the experiments' decision (``None`` without experiments)
        and the model that answers the validated ``request``."""
        shard = self.route(rows)
        decision = self._experiments(rows, shard)
        return shard, decision, self._pick(request, shard, decision)

    def _pick(self, request: Mapping[str, Any], shard: ShardIR, decision: Any = None) -> ModelIR:
        routed = decision is not None and decision.routed is not None
        name = decision.model if routed else self.assign(request, shard)
        return check_model(self.models, self.ir.name, self.routing, shard, name)

    def features(self, model: ModelIR, rows: Rows, now_us: int | None = None) -> Any:
        """One online-store read for the model's groups (real-time ones evaluated at ``now_us``)."""
        keys: dict[str, list[Any]] = {}
        for group in model.feature_groups:
            for key in self.ir.group(group).keys:
                keys[key.name] = rows.columns[key.name]
        return get_features(self.store, self.ir, list(model.feature_groups), keys, self.namespace, now_us)

    def prepare(self, model: ModelIR, rows: Rows,
                group_columns: Mapping[str, Vec]) -> tuple[dict[str, np.ndarray], dict[str, Vec | None]]:
        """The model's input arrays and the preprocessed columns they come from (per signature input)."""
        columns: dict[str, Vec] = {name: Vec.of(rows.columns[name], i.dtype) for name, i in self.inputs.items()}
        columns.update(group_columns)
        features = transform_numpy(self.module, columns, self.fitted)
        signature = signature_columns(model, features, columns)
        return arrays_of(model, signature, rows.n), signature

    def preprocess(self, model: ModelIR, rows: Rows, group_columns: Mapping[str, Vec]) -> dict[str, np.ndarray]:
        return self.prepare(model, rows, group_columns)[0]


@dataclass
class Served:
    """The model that answers, the features read for it, its input arrays and their columns."""
    model: ModelIR
    retrieval: Any
    arrays: dict[str, np.ndarray]
    signature: dict[str, Vec | None]
