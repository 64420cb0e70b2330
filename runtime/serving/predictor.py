"""The online predictor: one request (context + candidate items) -> one score per item.

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

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from mlc.core.ir import IR, ModelIR, ShardIR
from mlc.runtime.numpy_ops.vec import EPOCH, Vec
from mlc.runtime.online_store.retrieval import get_features
from mlc.runtime.online_store.store import StoreError
from mlc.runtime.training.inputs import model_arrays
from mlc.core.errors import MlcError

MAX_ITEMS = 1000
MAX_FIELD_ERRORS = 50
MAX_FIELD_BYTES = 64 * 1024        # per string in a request (field value, model, request_id)
SHOWN_CHARS = 80                    # of a field name or value quoted in an error message
REQUEST_KEYS = ("model", "context", "items", "request_id")
STAGES = ("validate", "route", "features", "preprocess", "inference", "total")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# timestamps: Spark's range (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z), in microseconds
TIMESTAMP_MIN, TIMESTAMP_MAX = -62_135_596_800_000_000, 253_402_300_799_999_999
STORE_PROBE = "mlc-readiness-probe"   # the key /readyz reads (under the namespace) to check the store
_MISSING = object()
_INVALID = object()     # a mistyped value: reported once, not as missing too


# ------------------------------------------------------------------------------------ errors


class ServingError(MlcError):
    """Base of the errors a request can end in; ``status`` is the HTTP status of the answer."""
    status = 500

    def __init__(self, message: str, fields: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class RequestError(ServingError):
    """The request is malformed: ``fields`` maps each offending field to what is wrong (400)."""
    status = 400


class ModelNotFound(ServingError):
    """The requested model does not exist or is not served by the request's shard (404)."""
    status = 404


class BackendUnavailable(ServingError):
    """The inference backend cannot be reached, timed out, or has no version to serve (503)."""
    status = 503


class BackendError(ServingError):
    """The inference backend answered with an error (502)."""
    status = 502


# ------------------------------------------------------------------------------------ routing


@dataclass(frozen=True)
class Routing:
    """Partition value -> shard, the default shard, each shard's models and (deployed) Triton
    gRPC address. From the IR (:meth:`from_ir`) or from the ``routing.json`` written by
    ``mlc.backends.serving_k8s`` (:meth:`from_table`, checked against the IR)."""
    partition_key: str | None
    routes: Mapping[str, str]                    # partition value (text) -> shard
    default: str
    models: Mapping[str, tuple[str, ...]]        # shard -> models, serving order
    addresses: Mapping[str, str] = field(default_factory=dict)   # shard -> host:grpc_port

    @classmethod
    def from_ir(cls, ir: IR) -> "Routing":
        shards = ir.deployment.shards
        if not shards:
            raise ValueError(f"deployment of `{ir.name}` has no shard")
        default = next((s for s in shards if s.is_default), shards[0])
        routes = {value: s.name for s in shards for value in s.partitions}
        return cls(ir.deployment.partition_key, routes, default.name, {s.name: tuple(s.models) for s in shards})

    @classmethod
    def from_table(cls, table: Mapping[str, Any], ir: IR) -> "Routing":
        if table.get("version") != 1:
            raise ValueError(f"routing table version {table.get('version')!r} is not supported (expected 1)")
        if table.get("spec") != ir.name:
            raise ValueError(f"routing table is of spec `{table.get('spec')}`, the build is `{ir.name}`")
        if table.get("partition_key") != ir.deployment.partition_key:
            raise ValueError(f"routing table partitions by `{table.get('partition_key')}`, the build by "
                             f"`{ir.deployment.partition_key}`")
        shards = {s.name for s in ir.deployment.shards}
        entries = [table["default"], *table.get("routes", {}).values()]
        unknown = sorted({e["shard"] for e in entries} - shards)
        if unknown:
            raise ValueError(f"routing table names shards {unknown} the build does not have")
        models = {e["shard"]: tuple(e.get("models", ())) for e in entries}
        for shard, names in models.items():
            missing = [m for m in names if m not in {x.name for x in ir.models}]
            if missing:
                raise ValueError(f"routing table: shard `{shard}` serves unknown model(s) {missing}")
        addresses = {e["shard"]: f"{e['service']}:{e['grpc_port']}" for e in entries if e.get("service")}
        return cls(table.get("partition_key"), {str(k): v["shard"] for k, v in table.get("routes", {}).items()},
                   table["default"]["shard"], models, addresses)

    @classmethod
    def load(cls, path: str, ir: IR) -> "Routing":
        with open(path, encoding="utf-8") as fh:
            return cls.from_table(json.load(fh), ir)

    def shard_for(self, value: Any) -> str:
        if value is None:
            return self.default
        return self.routes.get(partition_text(value), self.default)


def partition_text(value: Any) -> str:
    """A partition value as the training sets compare it (Spark's cast to string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------------------ backends


class InferenceBackend(Protocol):
    def prepare(self, ir: IR, routing: Routing) -> None:
        """Load/check every (shard, model) the routing serves; called once by the Predictor."""

    def ready(self) -> tuple[bool, str]:
        """(ready, detail) for /readyz."""

    def infer(self, shard: str, model: ModelIR, arrays: Mapping[str, np.ndarray],
              version: int | None = None) -> tuple[np.ndarray, int | None]:
        """(the first signature output as a float array of shape (n,), model version served);
        ``version`` pins a version (an experiment variant), else the latest is served."""

    def close(self) -> None: ...


class OnnxBackend:
    """In-process ONNX Runtime (``--embedded``): the latest exported version of each
    (shard, model) under ``repository`` (``<repository>/<shard>/<model>/<V>/model.onnx`` when
    the deployment is sharded, ``<repository>/<model>/<V>/model.onnx`` otherwise). Sessions are
    cached; every ``refresh_seconds`` the version list is read again and a newer version is
    loaded (the old session keeps serving until the new one is ready)."""

    def __init__(self, repository: str, refresh_seconds: float = 30.0, threads: int = 0,
                 clock: Callable[[], float] = time.monotonic):
        self.repository, self.refresh_seconds, self.threads, self._clock = repository, refresh_seconds, threads, clock
        self._sessions: dict[tuple[str, str], tuple[int, Any, float]] = {}   # -> (version, session, checked at)
        self._pinned_sessions: dict[tuple[str, str, int], Any] = {}         # experiment variants' versions
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self._sharded = False
        self._targets: list[tuple[str, str]] = []
        self._error: str | None = "not prepared"

    def model_dir(self, shard: str, model: str) -> str:
        return os.path.join(self.repository, shard, model) if self._sharded else os.path.join(self.repository, model)

    def prepare(self, ir: IR, routing: Routing) -> None:
        self._sharded = bool(ir.deployment.partition_key)
        self._targets = [(shard, m) for shard, models in routing.models.items() for m in models]
        self._check()

    def _check(self) -> None:
        errors = []
        for shard, model in self._targets:
            try:
                self._session(shard, model)
            except BackendUnavailable as err:
                errors.append(err.message)
        self._error = "; ".join(errors) or None

    def ready(self) -> tuple[bool, str]:
        if self._error:
            self._check()           # a version may have been exported since
        return (self._error is None, self._error or f"{len(self._targets)} ONNX session(s) loaded")

    def _latest(self, shard: str, model: str) -> int | None:
        from mlc.runtime.training.export import latest_version

        directory = self.model_dir(shard, model)
        return latest_version(os.path.dirname(directory), os.path.basename(directory))

    def _load(self, shard: str, model: str, version: int) -> Any:
        import onnxruntime

        path = os.path.join(self.model_dir(shard, model), str(version), "model.onnx")
        options = onnxruntime.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        try:
            return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # a corrupt or partial file: this version cannot serve
            raise BackendUnavailable(f"model `{model}` (shard `{shard}`) version {version}: cannot load {path}: {err}")

    def _session(self, shard: str, model: str) -> tuple[int, Any]:
        key = (shard, model)
        now = self._clock()
        cached = self._sessions.get(key)
        if cached is not None and now - cached[2] < self.refresh_seconds:
            return cached[0], cached[1]
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._sessions.get(key)
            if cached is not None and now - cached[2] < self.refresh_seconds:
                return cached[0], cached[1]
            latest = self._latest(shard, model)
            if latest is None:
                if cached is not None:      # the directory vanished: keep serving what is loaded
                    self._sessions[key] = (cached[0], cached[1], now)
                    return cached[0], cached[1]
                raise BackendUnavailable(f"no exported version of model `{model}` (shard `{shard}`) "
                                         f"under {self.model_dir(shard, model)}")
            if cached is not None and cached[0] == latest:
                self._sessions[key] = (latest, cached[1], now)
                return latest, cached[1]
            session = self._load(shard, model, latest)
            self._sessions[key] = (latest, session, now)
            return latest, session

    def _pinned(self, shard: str, model: str, version: int) -> Any:
        """The session of one exported version (versions never change once exported)."""
        key = (shard, model, version)
        session = self._pinned_sessions.get(key)
        if session is None:
            if not os.path.isfile(os.path.join(self.model_dir(shard, model), str(version), "model.onnx")):
                raise BackendUnavailable(f"model `{model}` (shard `{shard}`) has no exported version {version}")
            session = self._pinned_sessions.setdefault(key, self._load(shard, model, version))
        return session

    def infer(self, shard: str, model: ModelIR, arrays: Mapping[str, np.ndarray],
              version: int | None = None) -> tuple[np.ndarray, int | None]:
        if version is None:
            version, session = self._session(shard, model.name)
        else:
            session = self._pinned(shard, model.name, version)
        output = model.signature_outputs[0].name
        try:
            (values,) = session.run([output], dict(arrays))
        except Exception as err:
            raise BackendError(f"model `{model.name}` version {version}: inference failed: {err}") from err
        return np.asarray(values, dtype=np.float64).reshape(-1), version

    def close(self) -> None:
        self._sessions.clear()
        self._pinned_sessions.clear()


TRITON_DTYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "bool": "BOOL"}
_UNAVAILABLE = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED")


class TritonBackend:
    """Triton over gRPC (``tritonclient.grpc``): model ``<model>`` (not the ``_pipeline``
    ensemble: the predictor has already preprocessed) with the signature inputs, float32/int64
    ``[n, 1]``. ``urls``: one ``host:port`` for every shard, or ``{shard: host:port}``, or
    ``{shard: [host:port, ...]}`` (replicas of the shard: requests go round robin; a replica that
    is unreachable is skipped for ``down_seconds`` and the request is retried once on another).
    ``timeout`` (seconds) bounds each call. A batch larger than the deployment's
    ``max_batch_size`` is sent as concurrent chunks. Unreachable, timed out or model not ready
    -> :class:`BackendUnavailable`; any other Triton error -> :class:`BackendError`.

    ``router``: an object with ``route(shard, model) -> version | None`` (``mlc.runtime.deploy.
    versions.VersionRouter``): each request not pinned by an experiment is pinned to the routed
    version (none routed: :class:`BackendUnavailable`); when the routed version fails on every
    replica tried and the route has changed since (a switch in progress), the request is sent
    once more with the new route."""

    def __init__(self, urls: str | Mapping[str, str | Sequence[str]], timeout: float = 1.0,
                 max_batch_size: int | None = None, router: Any = None, down_seconds: float = 2.0):
        self.urls = urls
        self.timeout = timeout
        self.max_batch_size = max_batch_size
        self.router = router
        self.down_seconds = down_seconds
        self.services: list[Any] = []           # background threads stopped by close() (heartbeats, router)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._targets: list[tuple[str, str]] = []
        self._seen_ready: set[str] = set()
        self._turn: dict[str, int] = {}
        self._down: dict[str, float] = {}

    def addresses(self, shard: str) -> list[str]:
        """The replica addresses of ``shard``."""
        if isinstance(self.urls, str):
            value: Any = self.urls
        else:
            try:
                value = self.urls[shard]
            except KeyError:
                raise BackendUnavailable(f"no Triton address for shard `{shard}`") from None
        found = [value] if isinstance(value, str) else list(value)
        if not found:
            raise BackendUnavailable(f"no Triton address for shard `{shard}`")
        return found

    def url(self, shard: str) -> str:
        return ",".join(self.addresses(shard))

    def client(self, shard: str, address: str | None = None) -> Any:
        url = address or self.addresses(shard)[0]
        with self._lock:
            if url not in self._clients:
                import tritonclient.grpc as grpcclient

                self._clients[url] = grpcclient.InferenceServerClient(url)
            return self._clients[url]

    def _client_at(self, shard: str, address: str) -> Any:
        # one replica: through client(shard), which tests may replace
        return self.client(shard) if len(self.addresses(shard)) == 1 else self.client(shard, address)

    def _order(self, shard: str, model: str | None = None) -> list[str]:
        """The shard's replicas in the order to try: round robin over those the router says serve
        ``model`` (all when it says none), those marked down last."""
        addresses = self.addresses(shard)
        if len(addresses) == 1:
            return addresses
        if self.router is not None and model is not None and hasattr(self.router, "serving"):
            serving = set(self.router.serving(shard, model))
            addresses = [a for a in addresses if a in serving] or addresses
        now = time.monotonic()
        with self._lock:
            turn = self._turn.get(shard, 0)
            self._turn[shard] = turn + 1
            down = {a for a in addresses if self._down.get(a, 0.0) > now}
        turn %= len(addresses)
        rotated = addresses[turn:] + addresses[:turn]
        return [a for a in rotated if a not in down] + [a for a in rotated if a in down]

    def _mark_down(self, address: str) -> None:
        with self._lock:
            self._down[address] = time.monotonic() + self.down_seconds

    def prepare(self, ir: IR, routing: Routing) -> None:
        if self.max_batch_size is None:
            self.max_batch_size = ir.deployment.max_batch_size
        self._targets = [(shard, m) for shard, models in routing.models.items() for m in models]
        for shard, _ in self._targets:
            self.addresses(shard)          # every shard has an address

    def ready(self) -> tuple[bool, str]:
        """Ready once every shard's Triton has answered ready for all its models at least once
        (any replica of the shard); with a router, once every (shard, model) has a routed
        version. A later outage of one shard gives 503s for that shard only, rather than taking
        the whole gateway out of its Service."""
        if self.router is not None:
            missing = [f"shard `{shard}`: no version of `{model}` loaded on every live replica"
                       for shard, model in self._targets if self.router.route(shard, model) is None]
            if missing:
                return False, "; ".join(missing)
            return True, f"{len(self._targets)} model(s) routed"
        waiting = []
        for shard, model in self._targets:
            if shard in self._seen_ready:
                continue
            problems = []
            for address in self.addresses(shard):
                try:
                    client = self._client_at(shard, address)
                    ok = client.is_server_ready(client_timeout=self.timeout) and \
                        client.is_model_ready(model, client_timeout=self.timeout)
                except Exception as err:  # unreachable
                    problems.append(f"shard `{shard}` ({address}): {_short(err)}")
                    continue
                if ok:
                    problems = []
                    break
                problems.append(f"shard `{shard}` ({address}): model `{model}` not ready")
            waiting += problems[:1]
        if not waiting:
            self._seen_ready.update(shard for shard, _ in self._targets)
            return True, f"Triton ready for {len(self._targets)} model(s)"
        return False, "; ".join(waiting)

    def status(self) -> dict[str, Any]:
        """For the gateway's ``GET /v1/status``: the replicas, the routes, the heartbeats."""
        now = time.monotonic()
        shards = sorted({shard for shard, _ in self._targets})
        body: dict[str, Any] = {"replicas": {s: [{"address": a, "down": self._down.get(a, 0.0) > now}
                                                 for a in self.addresses(s)] for s in shards}}
        if self.router is not None:
            body.update(self.router.status())
        beats = [service.status() for service in self.services if hasattr(service, "replica")]
        if beats:
            body["heartbeats"] = beats
        return body

    def _inputs(self, model: ModelIR, arrays: Mapping[str, np.ndarray], start: int, stop: int) -> list[Any]:
        import tritonclient.grpc as grpcclient

        out = []
        for tensor in model.signature_inputs:
            part = np.ascontiguousarray(arrays[tensor.name][start:stop])
            given = grpcclient.InferInput(tensor.name, list(part.shape), TRITON_DTYPES[tensor.dtype])
            given.set_data_from_numpy(part)
            out.append(given)
        return out

    def _fail(self, err: Exception, shard: str, model: str, address: str) -> ServingError:
        status = err.status() if callable(getattr(err, "status", None)) else None
        text = f"Triton of shard `{shard}` ({address}), model `{model}`"
        if status in _UNAVAILABLE:
            what = "timed out" if status == "StatusCode.DEADLINE_EXCEEDED" else "unreachable"
            failure = BackendUnavailable(f"{text}: {what} ({_short(err)})")
            failure.unreachable = True        # type: ignore[attr-defined]
            return failure
        message = str(err)
        if "unavailable" in message.lower() or "not ready" in message.lower() or "unknown model" in message.lower() \
                or "not found" in message.lower():
            return BackendUnavailable(f"{text}: {_short(err)}")
        return BackendError(f"{text}: {_short(err)}")

    def infer(self, shard: str, model: ModelIR, arrays: Mapping[str, np.ndarray],
              version: int | None = None) -> tuple[np.ndarray, int | None]:
        routed = version is None and self.router is not None
        if routed:
            version = self.router.route(shard, model.name)
            if version is None:
                raise BackendUnavailable(f"shard `{shard}`: no version of model `{model.name}` is loaded on every "
                                         "live replica")
        order = self._order(shard, model.name)
        try:
            return self._infer_at(shard, order[0], model, arrays, version)
        except BackendUnavailable as err:
            failure = err
            if getattr(err, "unreachable", False):
                self._mark_down(order[0])
        if len(order) > 1:                   # once more, on another replica
            try:
                return self._infer_at(shard, order[1], model, arrays, version)
            except BackendUnavailable as err:
                failure = err
                if getattr(err, "unreachable", False):
                    self._mark_down(order[1])
        if routed:                           # a switch may have moved the route meanwhile
            now = self.router.route(shard, model.name)
            if now is not None and now != version:
                return self._infer_at(shard, self._order(shard, model.name)[0], model, arrays, now)
        raise failure

    def _infer_at(self, shard: str, address: str, model: ModelIR, arrays: Mapping[str, np.ndarray],
                  version: int | None) -> tuple[np.ndarray, int | None]:
        import tritonclient.grpc as grpcclient

        pinned = str(version) if version is not None else ""
        client = self._client_at(shard, address)
        output = model.signature_outputs[0].name
        n = len(next(iter(arrays.values()))) if arrays else 0
        step = self.max_batch_size if self.max_batch_size and self.max_batch_size > 0 else max(n, 1)
        bounds = [(start, min(start + step, n)) for start in range(0, n, step)] or [(0, 0)]
        requested = [grpcclient.InferRequestedOutput(output)]
        results: list[Any] = [None] * len(bounds)
        if len(bounds) == 1:
            try:
                results[0] = client.infer(model.name, self._inputs(model, arrays, *bounds[0]), model_version=pinned,
                                          outputs=requested, client_timeout=self.timeout)
            except Exception as err:
                raise self._fail(err, shard, model.name, address) from None
        else:
            done = threading.Semaphore(0)

            def callback(index: int) -> Callable[[Any, Any], None]:
                def record(result: Any, error: Any) -> None:
                    results[index] = error if error is not None else result
                    done.release()
                return record

            for index, (start, stop) in enumerate(bounds):
                try:
                    client.async_infer(model.name, self._inputs(model, arrays, start, stop), callback(index),
                                       model_version=pinned, outputs=requested, client_timeout=self.timeout)
                except Exception as err:
                    results[index] = err
                    done.release()
            deadline = time.monotonic() + self.timeout + 1.0
            for _ in bounds:
                if not done.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                    failure = BackendUnavailable(f"Triton of shard `{shard}` ({address}), model "
                                                 f"`{model.name}`: timed out after {self.timeout}s")
                    failure.unreachable = True        # type: ignore[attr-defined]
                    raise failure
            for result in results:
                if isinstance(result, Exception):
                    raise self._fail(result, shard, model.name, address)
        scores = np.concatenate([np.asarray(r.as_numpy(output), dtype=np.float64).reshape(-1) for r in results])
        version = results[0].get_response().model_version
        return scores, int(version) if str(version).isdigit() else None

    def close(self) -> None:
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:
                pass
        self.services.clear()
        with self._lock:
            for client in self._clients.values():
                try:
                    client.close()
                except Exception:
                    pass
            self._clients.clear()


def _short(err: Exception, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit] + "..."


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


@dataclass
class Rows:
    """A validated request: one value list per field (defaults applied), ``n`` rows."""
    model: str | None
    columns: dict[str, list[Any]]
    n: int
    request_id: str | None = None


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
    ``experiments``: an ``ExperimentRouter`` (assignment, variant routing, exposure log) or ``None``."""

    def __init__(self, ir: IR, fitted: Mapping[str, Any] | None, store: Any, backend: InferenceBackend,
                 namespace: str, routing: Routing | Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.perf_counter, *, module: Any = None, metrics: Any = None,
                 max_items: int = MAX_ITEMS, experiments: Any = None, max_field_bytes: int = MAX_FIELD_BYTES):
        from mlc.runtime.features.fitting import fitted_from_ir

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
        if module is None:
            from mlc.backends.preprocess import render
            from mlc.runtime.preprocess import module_from_text

            module = module_from_text(render(ir))
        if getattr(module, "SPEC_NAME", ir.name) != ir.name:
            raise ValueError(f"preprocessing module is of `{module.SPEC_NAME}`, the IR of `{ir.name}`")
        self.module = module
        self.inputs = {i.name: i for i in ir.inputs}
        self.models = {m.name: m for m in ir.models}
        self.shards = {s.name: s for s in ir.deployment.shards}
        # every request field: the preprocess inputs, then the entity keys of the served groups
        self.fields: dict[str, str] = {name: i.dtype for name, i in self.inputs.items()}
        for model in ir.models:
            for group in model.feature_groups:
                for key in ir.group(group).keys:
                    self.fields.setdefault(key.name, key.dtype)
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
            return False, f"online store not answering: {_short(err)}"
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
        return self.routing.models.get(shard.name, shard.models)[0]

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

        shard = self.route(rows)
        decision = self._experiments(rows, shard)
        model = self._pick(request, shard, decision)
        t = self._stage(timings, "route", t)

        retrieval = self.features(model, rows)
        if self.metrics is not None:
            self.metrics.record_store(retrieval.degraded, retrieval.errors)
        t = self._stage(timings, "features", t)

        arrays = self.preprocess(model, rows, retrieval.columns)
        t = self._stage(timings, "preprocess", t)

        scores, version, decision, model = self._infer(request, rows, shard, model, arrays, decision)
        if len(scores) != rows.n:
            raise BackendError(f"model `{model.name}` returned {len(scores)} scores for {rows.n} items")
        t = self._stage(timings, "inference", t)
        self._stage(timings, "total", start)
        if decision is not None:
            self.experiments.record(decision, shard.name, rows.request_id)
            if self.metrics is not None:
                self.metrics.record_experiments(decision.summary(), decision.fell_back)
        return Response([float(s) for s in scores], model.name, version, shard.name, bool(retrieval.degraded),
                        timings, decision.summary() if decision is not None else [])

    def _experiments(self, rows: Rows, shard: ShardIR) -> Any:
        if self.experiments is None:
            return None
        served = self.routing.models.get(shard.name, shard.models)
        return self.experiments.decide(rows.columns, rows.model, shard.name, served)

    def _infer(self, request: Mapping[str, Any], rows: Rows, shard: ShardIR, model: ModelIR,
               arrays: dict[str, np.ndarray], decision: Any) -> tuple[np.ndarray, int | None, Any, ModelIR]:
        """Inference on the routed model; a variant's model or version that cannot serve falls
        back to the normal route (same preprocessing when the model is the same)."""
        pinned = decision.version if decision is not None and decision.routed is not None else None
        try:
            scores, version = self.backend.infer(shard.name, model, arrays, pinned)
            return scores, version, decision, model
        except BackendUnavailable:
            if decision is None or decision.routed is None:
                raise
        decision = self.experiments.without_routing(decision)
        fallback = self._pick(request, shard, decision)
        if fallback.name != model.name:
            retrieval = self.features(fallback, rows)
            arrays = self.preprocess(fallback, rows, retrieval.columns)
        scores, version = self.backend.infer(shard.name, fallback, arrays)
        return scores, version, decision, fallback

    def validate(self, request: Any) -> Rows:
        """The request's rows as columns, or a RequestError listing every field error."""
        errors: dict[str, str] = {}
        if not isinstance(request, Mapping):
            raise RequestError("the request must be a JSON object with `context` and `items`",
                               {"request": f"expected an object, got {_kind(request)}"})
        for key in request:
            if key not in REQUEST_KEYS:
                errors[_shown_name(key)] = f"unknown request key (expected {', '.join(REQUEST_KEYS)})"
        model = request.get("model")
        if model is not None and not isinstance(model, str):
            errors["model"] = f"expected a model name (string), got {_kind(model)}"
        elif model is not None and self._too_long(model, "model", errors):
            model = None
        request_id = request.get("request_id")
        if request_id is not None and not isinstance(request_id, str):
            errors["request_id"] = f"expected a string, got {_kind(request_id)}"
        elif request_id is not None:
            self._too_long(request_id, "request_id", errors)
        context = request.get("context", {})
        if context is None:
            context = {}
        if not isinstance(context, Mapping):
            errors["context"] = f"expected an object of fields, got {_kind(context)}"
            context = {}
        items = request.get("items", _MISSING)
        if items is _MISSING or items is None:
            items = [{}]                    # one row: the context alone
        elif not isinstance(items, list):
            errors["items"] = f"expected a list of objects, got {_kind(items)}"
            items = []
        elif not items:
            errors["items"] = "at least one item is needed"
        elif len(items) > self.max_items:
            errors["items"] = f"{len(items)} items; at most {self.max_items} per request"
            items = []
        bad_items = set()
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                errors[f"items[{i}]"] = f"expected an object of fields, got {_kind(item)}"
                bad_items.add(i)
        items = [item if isinstance(item, Mapping) else {} for item in items]

        converted_context = {}
        for name, value in context.items():
            value = self._convert(f"context.{_shown_name(name)}", name, value, errors)
            if value is not _MISSING:
                converted_context[name] = value
        n = len(items)
        columns: dict[str, list[Any]] = {}
        item_values: dict[str, dict[int, Any]] = {}
        for i, item in enumerate(items):
            for name, value in item.items():
                value = self._convert(f"items[{i}].{_shown_name(name)}", name, value, errors)
                if value is not _MISSING:
                    item_values.setdefault(name, {})[i] = value
        for name, dtype in self.fields.items():
            base = converted_context.get(name)
            given = item_values.get(name)
            column = [base] * n
            if given:
                for i, value in given.items():
                    column[i] = value
            spec = self.inputs.get(name)
            if spec is not None and any(v is None for v in column):
                if spec.required:
                    missing = [i for i, v in enumerate(column) if v is None and i not in bad_items]
                    if missing and len(missing) == n:
                        errors[name] = "required field missing (give it in `context` or in every item)"
                    elif missing:
                        shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
                        errors[name] = f"required field missing in item(s) {shown}"
            columns[name] = column
        if errors:
            raise RequestError(f"invalid request: {len(errors)} field error(s)", _capped(errors))
        return Rows(model, columns, n, request_id)

    def _convert(self, where: str, name: Any, value: Any, errors: dict[str, str]) -> Any:
        dtype = self.fields.get(name) if isinstance(name, str) else None
        if dtype is None:
            errors[where] = "unknown field"
            return _MISSING
        if value is None:
            return None
        if isinstance(value, str) and self._too_long(value, where, errors):
            return _INVALID
        spec = self.inputs.get(name)
        if spec is not None and isinstance(value, str) and value in spec.null_values:
            return None                 # the training source reads this text as null too
        try:
            if spec is not None and spec.format and dtype == "timestamp":
                return _formatted(value, spec.format)
            return _typed(value, dtype)
        except ValueError as err:
            errors[where] = str(err)
            return _INVALID

    def _too_long(self, text: str, where: str, errors: dict[str, str]) -> bool:
        """Records an error when ``text`` is over ``max_field_bytes`` of UTF-8."""
        if len(text) * 4 <= self.max_field_bytes:       # cheap: UTF-8 takes at most 4 bytes a character
            return False
        size = len(text.encode("utf-8", "surrogatepass"))
        if size <= self.max_field_bytes:
            return False
        errors[where] = f"a string of {size} bytes; at most {self.max_field_bytes} bytes per field"
        return True

    def route(self, rows: Rows) -> ShardIR:
        key = self.routing.partition_key
        if not key:
            return self.shards[self.routing.default]
        values = {partition_text(v) if v is not None else None for v in rows.columns.get(key, [None])}
        if len(values) > 1:
            shown = sorted(str(v) for v in values)
            raise RequestError(f"the items of one request must share one `{key}` (the partition key)",
                               {key: f"items have several values {shown}; send one request per value"})
        value = next(iter(values)) if values else None
        return self.shards[self.routing.shard_for(value)]

    def _pick(self, request: Mapping[str, Any], shard: ShardIR, decision: Any = None) -> ModelIR:
        routed = decision is not None and decision.routed is not None
        name = decision.model if routed else self.assign(request, shard)
        if name not in self.models:
            raise ModelNotFound(f"unknown model `{name}`", {"model": f"not a model of `{self.ir.name}` "
                                                                      f"(models: {sorted(self.models)})"})
        served = self.routing.models.get(shard.name, shard.models)
        if name not in served:
            raise ModelNotFound(f"model `{name}` is not served by shard `{shard.name}`",
                                {"model": f"shard `{shard.name}` serves {list(served)}"})
        return self.models[name]

    def features(self, model: ModelIR, rows: Rows) -> Any:
        keys: dict[str, list[Any]] = {}
        for group in model.feature_groups:
            for key in self.ir.group(group).keys:
                keys[key.name] = rows.columns[key.name]
        return get_features(self.store, self.ir, list(model.feature_groups), keys, self.namespace)

    def preprocess(self, model: ModelIR, rows: Rows, group_columns: Mapping[str, Vec]) -> dict[str, np.ndarray]:
        from mlc.runtime.preprocess import transform_numpy

        columns: dict[str, Vec] = {name: Vec.of(rows.columns[name], i.dtype) for name, i in self.inputs.items()}
        columns.update(group_columns)
        features = transform_numpy(self.module, columns, self.fitted)
        wanted = {}
        for tensor in model.signature_inputs:
            vec = features.get(tensor.name)
            if vec is None:             # a request input used directly as a model input
                vec = columns.get(tensor.name)
            wanted[tensor.name] = [None] * rows.n if vec is None else _model_column(vec)
        return model_arrays(model, wanted)


# ------------------------------------------------------------------------------------ helpers


def _model_column(vec: Vec) -> np.ndarray:
    """A preprocessed feature as model_arrays takes it: values, None where null."""
    if vec.valid.all():
        return vec.data
    out = vec.data.astype(object)
    out[~vec.valid] = None
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _typed(value: Any, dtype: str) -> Any:
    """A JSON value as the mlc dtype's Python value; ValueError says what was expected."""
    if dtype == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_kind(value)}")
        return value
    if dtype == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_kind(value)}")
        return value
    if dtype == "int64":
        if isinstance(value, float) and math.isinf(value):
            raise ValueError("integer out of the int64 range")      # an integer literal past float64 too
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_kind(value)}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError("integer out of the int64 range")
        return value
    if dtype == "float64":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_kind(value)}")
        return _finite_float(value)
    if dtype == "timestamp":
        return _timestamp(value)
    raise ValueError(f"fields of dtype {dtype} are not supported")


def _timestamp(value: Any) -> int:
    """Microseconds since the epoch from an integer of unix seconds (as the sources read integer
    timestamps: CSV and JSON text of digits, Parquet integers) or ISO-8601 text (naive = UTC)."""
    if isinstance(value, bool):
        raise ValueError("expected a timestamp (ISO-8601 text or integer unix seconds), got a boolean")
    if isinstance(value, float) and math.isinf(value):
        raise ValueError("timestamp out of range (unix seconds of years 0001 to 9999)")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not TIMESTAMP_MIN <= value * 1_000_000 <= TIMESTAMP_MAX:
            raise ValueError("timestamp out of range (unix seconds of years 0001 to 9999)")
        return value * 1_000_000
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {_shown_value(value)}") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        delta = moment - EPOCH
        micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        if not TIMESTAMP_MIN <= micros <= TIMESTAMP_MAX:      # e.g. 0001-01-01T00:00:00+01:00
            raise ValueError("timestamp out of range (years 0001 to 9999 UTC)")
        return micros
    raise ValueError(f"expected a timestamp (ISO-8601 text or integer unix seconds), got {_kind(value)}")


def _formatted(value: Any, pattern: str) -> int:
    """A timestamp input fed by a formatted column: text, or an integer read as its text, in the
    column's datetime format (exactly as the offline reader reads it) -> microseconds."""
    from mlc.runtime.features.timestamp_formats import parse

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a timestamp in the format `{pattern}` (text or an integer), got {_kind(value)}")
    micros = parse(value, pattern)
    if micros is None:
        shown = _shown_value(value) if isinstance(value, str) else str(value)
        raise ValueError(f"not a timestamp in the format `{pattern}`: {shown}")
    return micros


def _finite_float(value: int | float) -> float:
    """A float64 field's value: finite only (NaN, ±Infinity and numbers past ±1.8e308 are errors)."""
    try:
        number = float(value)
    except OverflowError:                         # an int beyond ~1.8e308
        number = math.inf
    if math.isnan(number):
        raise ValueError("expected a finite number, got NaN (JSON has no NaN: send null for a missing value)")
    if math.isinf(number):
        raise ValueError("expected a finite number, got Infinity or a number beyond the float64 range (±1.8e308)")
    return number


def _shown_name(name: Any) -> str:
    """A field name for an error key, shortened when long (it comes from the client)."""
    text = str(name)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}...({len(text)} characters)"


def _shown_value(value: str) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}...({len(value)} characters)"


def _capped(errors: dict[str, str]) -> dict[str, str]:
    if len(errors) <= MAX_FIELD_ERRORS:
        return errors
    kept = dict(list(errors.items())[:MAX_FIELD_ERRORS])
    kept["..."] = f"{len(errors) - MAX_FIELD_ERRORS} more field error(s)"
    return kept
