"""The inference backends: model input arrays of one (shard, model) -> scores and the version
that served them.

* :class:`InferenceBackend`: the protocol (``prepare``, ``ready``, ``infer``, ``close``);
* :class:`OnnxBackend`: in-process ONNX Runtime on the latest exported version (``--embedded``);
* :class:`TritonBackend`: gRPC ``infer`` on model ``<model>`` of the shard's Triton -- round robin
  over its replicas, an unreachable one skipped and the request retried once on another --
  with the preprocessed signature inputs; with a version router (``mlc.runtime.deploy.versions``)
  each request is pinned to the routed version.

Unreachable, timed out or nothing to serve -> :class:`~mlc.runtime.serving.errors.BackendUnavailable`
(HTTP 503); any other failure -> :class:`~mlc.runtime.serving.errors.BackendError` (502).
``onnxruntime`` and ``tritonclient`` are imported when first used.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from mlc.core.ir import IR, ModelIR
from mlc.runtime.serving.errors import BackendError, BackendUnavailable, ServingError, short_error
from mlc.runtime.serving.routing import Routing
from mlc.runtime.training.export import latest_version


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
                    problems.append(f"shard `{shard}` ({address}): {short_error(err)}")
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
            failure = BackendUnavailable(f"{text}: {what} ({short_error(err)})")
            failure.unreachable = True        # type: ignore[attr-defined]
            return failure
        message = str(err)
        if "unavailable" in message.lower() or "not ready" in message.lower() or "unknown model" in message.lower() \
                or "not found" in message.lower():
            return BackendUnavailable(f"{text}: {short_error(err)}")
        return BackendError(f"{text}: {short_error(err)}")

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
