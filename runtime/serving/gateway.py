"""The predictor gateway: a small stdlib HTTP server (``http.server``, JSON) in front of a
:class:`~mlc.runtime.serving.predictor.Predictor`.

    python -m mlc.runtime.serving.gateway --build build/ --models out/models/repository --embedded
    python -m mlc.runtime.serving.gateway --build /opt/mlc/build --triton east=triton-east:8001 ...

Endpoints:

* ``POST /v1/predict``: a request (``{"model"?, "context", "items"}``) -> ``{"scores", "model",
  "version", "shard", "degraded", "timings_ms"}``. Errors are JSON ``{"error": ..., "fields":
  {...}}``: 400 malformed (bad JSON, nested too deeply, unknown/missing/mistyped fields, numbers
  out of range, strings over ``--max-field-bytes``: every one listed; a bad or repeated
  ``Content-Length``), 404 unknown model, 408 body not received in time, 411 chunked body, 413
  body too large, 414/431 request line or headers too large, 502 backend error, 503 backend
  unavailable or connection limit reached (with ``Retry-After``), 500 anything else (logged with
  its traceback here; never a traceback to the client). Every error body is JSON, the
  protocol errors of ``http.server`` included.
* ``GET /healthz``: 200 while the process serves HTTP (liveness).
* ``GET /readyz``: 200 once the build is loaded, the backend is ready (every ONNX session
  loaded, or every shard's Triton has reported its models ready once) and the online store
  answers a probe read within its timeout; else 503 with the reason.
* ``GET /metrics``: Prometheus text format (``mlc.runtime.serving.metrics``), with the
  freshness of the real-time feature groups read from the online store at each scrape.
* ``GET /v1/status``: the backend's view: Triton replicas per shard, and with ``--registry`` the
  version routed per (shard, model) and the last heartbeat of each replica (``mlc deploy`` waits
  on it before unloading an old version).

Configuration: flags, else environment (what ``mlc.backends.serving_k8s`` sets), else defaults:

=======================  =======================  =============================================
flag                     environment              default
=======================  =======================  =============================================
``--build DIR``          ``MLC_BUILD``            ``/opt/mlc/build`` (``mldl.json``, ``preprocess/``)
``--models DIR``         ``MLC_MODELS``           -- (exported repository, for ``--embedded``)
``--store URL``          ``MLC_REDIS_URL``        none: group defaults, every response degraded
``--store-timeout S``    ``MLC_STORE_TIMEOUT``    0.05 (each store call, whatever the store does)
``--routing PATH``       ``MLC_ROUTING``          the IR's shards (routing.json gives Triton addresses)
``--embedded``           --                       in-process ONNX Runtime instead of Triton
``--triton URL``         ``MLC_TRITON_URL``       from the routing table (``service:grpc_port``)
``--port N``             ``MLC_PORT``             8080
``--namespace NS``       ``MLC_NAMESPACE``        the spec name (online-store key namespace)
``--experiments F``      ``MLC_EXPERIMENTS``      ``<build>/experiments/config.json`` when present
``--exposures F``        ``MLC_EXPOSURES``        none; ``-`` is stdout (JSON lines; logs go to stderr)
``--feature-log DIR``    ``MLC_FEATURE_LOG``      none; a folder (rotated ``features.jsonl``) or ``-``
                                                  for stdout: the sampled requests with what serving
                                                  used (docs/feature-log.md)
``--feature-log-rate R`` ``MLC_FEATURE_LOG_RATE`` the spec's ``deployment.feature_log.sample_rate``
``--registry URL``       ``MLC_REGISTRY``         none: the latest version Triton serves
``--heartbeat``          --                       off (needs ``--registry``)
``--max-connections N``  ``MLC_MAX_CONNECTIONS``  256 open connections (one thread each); past it 503
``--idle-timeout S``     ``MLC_IDLE_TIMEOUT``     30: idle keep-alive connections are closed, and a
                                                  request's head (and then its body) must arrive
                                                  within it
``--max-field-bytes N``  ``MLC_MAX_FIELD_BYTES``  65536 bytes per request string (else 400)
=======================  =======================  =============================================

``--store``: a SQLite store must exist (it is opened read-only; a mistyped path is an error, not
a new empty store) -- ``mlc materialize`` creates it. Store URLs are never shown with their
password (``mlc.runtime.urls``).

``--triton`` may be repeated: ``HOST:PORT`` (every shard) or ``SHARD=HOST:PORT[,HOST:PORT...]``
(the replicas of a shard, named ``<shard>-0``, ``<shard>-1``... in that order).

``--registry URL`` (the model registry, ``mlc.runtime.model_registry``): requests are pinned to
the version :class:`~mlc.runtime.deploy.versions.VersionRouter` routes per (shard, model) (the
desired version once every live replica has it loaded, else the newest they all have), and
experiment variants' aliases resolve through it. ``--heartbeat``: this process also reports,
every ``--heartbeat-interval`` seconds with a ``--heartbeat-ttl``, the versions each Triton
replica it talks to has loaded (``mlc.runtime.deploy.heartbeat``; what ``mlc deploy --target
local`` runs).

Connections (:mod:`mlc.runtime.serving.http_server`): one daemon thread per open connection, at
most ``--max-connections``; a connection past the limit is answered ``503`` with ``Retry-After``
at once instead of queueing. Reads have a deadline (``--idle-timeout``): waiting for a request
plus reading its request line and headers, then reading its body; a client that trickles bytes
cannot hold a thread longer. Every error, protocol errors included, is a JSON answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from mlc.core.fingerprint import features_fingerprint
from mlc.core.ir import load_ir
from mlc.runtime.deploy.heartbeat import ReplicaHeartbeat
from mlc.runtime.deploy.versions import VersionRouter
from mlc.runtime.experiments.assigner import Assigner
from mlc.runtime.feature_log.writer import STDOUT_LOCK, FeatureLog, RotatingFiles, Stdout
from mlc.backends.experiments.config import ConfigError
from mlc.runtime.experiments.exposures import ExposureLog, to_line
from mlc.runtime.model_registry import RegistryError, open_registry
from mlc.runtime.online_store import StoreError, open_store
from mlc.runtime.preprocess import load_module
from mlc.runtime.serving.errors import ServingError
from mlc.runtime.serving.experiment_routing import ExperimentRouter
from mlc.runtime.serving.http_server import (DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, BoundedHandler,
                                             BoundedServer, HttpError, Limits)
from mlc.runtime.serving.inference import OnnxBackend, TritonBackend
from mlc.runtime.serving.metrics import ServingMetrics
from mlc.runtime.serving.predictor import Predictor
from mlc.runtime.serving.routing import Routing
from mlc.runtime.serving.validation import MAX_FIELD_BYTES

log = logging.getLogger("mlc.gateway")

DEFAULT_BUILD = "/opt/mlc/build"
DEFAULT_PORT = 8080
_SHORT_INT_CHARS = 20          # longer integer literals are parsed as floats (never int64 anyway)


class Gateway:
    """What the HTTP handlers serve: a predictor (``None`` while loading) and its metrics."""

    def __init__(self, predictor: Predictor | None = None, metrics: ServingMetrics | None = None):
        self.predictor = predictor
        self.metrics = metrics or (predictor.metrics if predictor is not None and predictor.metrics else ServingMetrics())
        if predictor is not None and predictor.metrics is None:
            predictor.metrics = self.metrics
        if predictor is not None:
            self.metrics.watch_streams(predictor)
        self.load_error: str | None = None

    def ready(self) -> tuple[bool, str]:
        if self.predictor is None:
            return False, self.load_error or "loading"
        try:
            return self.predictor.ready()
        except Exception as err:  # a readiness check must answer, not crash the handler
            log.exception("readiness check failed")
            return False, f"readiness check failed: {err}"

    def status(self) -> dict[str, Any]:
        """``GET /v1/status``: readiness and the backend's view (routes, replicas, heartbeats)."""
        ok, detail = self.ready()
        body: dict[str, Any] = {"ready": ok, "detail": detail}
        predictor = self.predictor
        if predictor is not None:
            body["spec"] = predictor.ir.name
            backend_status = getattr(predictor.backend, "status", None)
            if callable(backend_status):
                try:
                    body.update(backend_status())
                except Exception as err:  # a status page must answer
                    body["error"] = str(err)
        return body


# ------------------------------------------------------------------------------------ requests


def parse_body(body: bytes) -> Any:
    """The request document, or ``HttpError(400)`` naming ``body``: invalid UTF-8 or JSON, or
    nested too deeply for the parser. Integer literals of more than 20 characters are read as
    floats (``int()`` refuses past 4300 digits, and no int64 has more than 19), so the field's
    validation reports them: out of the int64 range, or beyond float64. ``NaN``/``Infinity``
    tokens come through as floats for the same reason: validation rejects them naming the field."""
    try:
        return json.loads(body.decode("utf-8"), parse_int=_json_int) if body else None
    except UnicodeDecodeError as err:
        raise HttpError(400, "the body is not valid UTF-8", {"body": str(err)}) from None
    except json.JSONDecodeError as err:
        raise HttpError(400, "the body is not valid JSON", {"body": str(err)}) from None
    except RecursionError:
        raise HttpError(400, "the body is nested too deeply", {"body": "arrays/objects nested beyond the parser's "
                                                                        "depth limit"}) from None
    except (ValueError, OverflowError) as err:
        raise HttpError(400, "the body is not valid JSON", {"body": str(err)[:200]}) from None


def _json_int(text: str) -> int | float:
    return int(text) if len(text) <= _SHORT_INT_CHARS else float(text)


class Handler(BoundedHandler):
    gateway: Gateway   # set on the subclass made by make_server

    # ------------------------------------------------------------------ methods

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._close_unread()
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._json(200, {"status": "ok"})
        elif path == "/readyz":
            ok, detail = self.gateway.ready()
            self._json(200 if ok else 503, {"ready": ok, "detail": detail})
        elif path == "/metrics":
            self._send(200, self.gateway.metrics.render(), self.gateway.metrics.content_type)
        elif path == "/v1/status":
            self._json(200, self.gateway.status())
        elif path == "/v1/predict":
            self._error(405, "use POST for /v1/predict")
        else:
            self._error(404, f"no such endpoint: {path[:200]}")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0]
        if path != "/v1/predict":
            self._close_unread()
            self._error(404 if path not in ("/healthz", "/readyz", "/metrics") else 405,
                        f"no such endpoint: POST {path[:200]}")
            return
        status, document = self._predict()
        self._json(status, document)

    def _predict(self) -> tuple[int, dict]:
        gateway = self.gateway
        try:
            body = self._read_body()
            if gateway.predictor is None:
                raise HttpError(503, f"the gateway is not ready: {gateway.load_error or 'loading'}")
            request = parse_body(body)
        except HttpError as err:
            gateway.metrics.count_request(err.status)
            return err.status, err.to_json()
        try:                                    # counted by status inside Predictor.predict
            return 200, gateway.predictor.predict(request).to_json()
        except ServingError as err:
            if err.status >= 500:
                log.warning("predict failed (%d): %s", err.status, err.message[:1000])
            return err.status, err.to_json()
        except Exception:
            log.exception("predict failed")
            return 500, {"error": "internal error (see the gateway log)"}


# ------------------------------------------------------------------------------------ server


def make_server(gateway: Gateway, host: str = "0.0.0.0", port: int = DEFAULT_PORT,
                limits: Limits | None = None) -> BoundedServer:
    limits = limits or Limits()
    handler = type("GatewayHandler", (Handler,), {"gateway": gateway, "idle_timeout": limits.idle_timeout})
    return BoundedServer((host, port), handler, gateway.metrics, limits)


@dataclass
class Running:
    """A gateway serving in a background thread (``serve_in_thread``)."""
    server: BoundedServer
    thread: threading.Thread
    gateway: Gateway

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        predictor = self.gateway.predictor
        if predictor is not None and getattr(predictor, "experiments", None) is not None:
            predictor.experiments.close()       # flush and close the exposure log
        if predictor is not None and getattr(predictor, "feature_log", None) is not None:
            predictor.feature_log.close()

    def __enter__(self) -> "Running":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_in_thread(predictor: Predictor | Gateway, host: str = "127.0.0.1", port: int = 0,
                    limits: Limits | None = None) -> Running:
    """Serve ``predictor`` on ``host:port`` (0: a free port) in a daemon thread; ``.url``,
    ``.stop()``, usable as a context manager. For tests and notebooks."""
    gateway = predictor if isinstance(predictor, Gateway) else Gateway(predictor)
    server = make_server(gateway, host, port, limits)
    thread = threading.Thread(target=server.serve_forever, name="mlc-gateway", daemon=True)
    thread.start()
    return Running(server, thread, gateway)


# ------------------------------------------------------------------------------------ loading


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m mlc.runtime.serving.gateway",
                                description="The mlc predictor gateway (HTTP, JSON).")
    p.add_argument("--build", default=env("MLC_BUILD", DEFAULT_BUILD),
                   help="build tree: mldl.json (fitted) and preprocess/<spec>_preprocess.py")
    p.add_argument("--models", default=env("MLC_MODELS"),
                   help="exported model repository ([<shard>/]<model>/<version>/model.onnx), for --embedded")
    p.add_argument("--store", default=env("MLC_REDIS_URL") or env("MLC_STORE_URL"),
                   help="online store URL (redis://..., sqlite:PATH)")
    p.add_argument("--store-timeout", type=float, default=float(env("MLC_STORE_TIMEOUT", "0.05")),
                   help="seconds per online-store call (default 0.05)")
    p.add_argument("--namespace", default=env("MLC_NAMESPACE"), help="online-store key namespace (default: the spec name)")
    p.add_argument("--routing", default=env("MLC_ROUTING"), help="routing.json (mlc.backends.serving_k8s)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--embedded", action="store_true", help="run the models in process with ONNX Runtime")
    mode.add_argument("--triton", action="append", metavar="[SHARD=]HOST:PORT",
                      help="Triton gRPC address, for every shard or one shard (repeatable)")
    p.add_argument("--triton-timeout", type=float, default=float(env("MLC_TRITON_TIMEOUT", "1.0")),
                   help="seconds per Triton call (default 1.0)")
    p.add_argument("--host", default=env("MLC_HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(env("MLC_PORT", str(DEFAULT_PORT))))
    p.add_argument("--max-items", type=int, default=int(env("MLC_MAX_ITEMS", "1000")))
    p.add_argument("--max-field-bytes", type=int, default=int(env("MLC_MAX_FIELD_BYTES", str(MAX_FIELD_BYTES))),
                   help=f"bytes of UTF-8 per request string, else 400 (default {MAX_FIELD_BYTES})")
    p.add_argument("--max-connections", type=int,
                   default=int(env("MLC_MAX_CONNECTIONS", str(DEFAULT_MAX_CONNECTIONS))),
                   help=f"open connections (one thread each); past it 503 + Retry-After (default "
                        f"{DEFAULT_MAX_CONNECTIONS})")
    p.add_argument("--idle-timeout", type=float, default=float(env("MLC_IDLE_TIMEOUT", str(DEFAULT_IDLE_TIMEOUT))),
                   help=f"seconds an idle connection is kept, and to receive a request's head, then its body "
                        f"(default {DEFAULT_IDLE_TIMEOUT:g})")
    p.add_argument("--experiments", default=env("MLC_EXPERIMENTS"),
                   help="experiments/config.json (default: the build's, when present)")
    p.add_argument("--exposures", default=env("MLC_EXPOSURES"),
                   help="exposure log: a JSON-lines file, or - for stdout (default: none)")
    p.add_argument("--feature-log", default=env("MLC_FEATURE_LOG"),
                   help="feature log: a folder (rotated JSON-lines files), or - for stdout (default: none)")
    p.add_argument("--feature-log-rate", type=float, default=_rate(env("MLC_FEATURE_LOG_RATE")),
                   help="share of requests logged, 0 to 1 (default: the spec's deployment.feature_log.sample_rate)")
    p.add_argument("--registry", default=env("MLC_REGISTRY"),
                   help="model registry URL (sqlite:PATH, redis://...): route each (shard, model) to the version "
                        "every live replica has loaded; resolve experiment aliases")
    p.add_argument("--heartbeat", action="store_true",
                   help="report each Triton replica's loaded versions to the registry (needs --registry)")
    p.add_argument("--heartbeat-interval", type=float, default=float(env("MLC_HEARTBEAT_INTERVAL", "1.0")),
                   help="seconds between heartbeats and route refreshes (default 1.0)")
    p.add_argument("--heartbeat-ttl", type=float, default=float(env("MLC_HEARTBEAT_TTL", "5.0")),
                   help="seconds a heartbeat stays live (default 5.0)")
    return p


def triton_urls(values: Sequence[str] | None, routing: Routing) -> str | dict[str, Any]:
    """``--triton`` values (or ``MLC_TRITON_URL``) -> one URL or ``{shard: URL}`` (``{shard:
    [URL, ...]}`` for a shard given several comma-separated replicas); without any, the routing
    table's addresses."""
    values = list(values or [])
    if not values and os.environ.get("MLC_TRITON_URL"):
        values = [os.environ["MLC_TRITON_URL"]]
    if not values:
        if not routing.addresses:
            raise SystemExit("mlc gateway: no inference backend: pass --embedded --models DIR, --triton URL, "
                             "or a routing table (MLC_ROUTING) with Triton addresses")
        return dict(routing.addresses)
    plain = [v for v in values if "=" not in v]
    per_shard = dict(v.split("=", 1) for v in values if "=" in v)
    if plain and (len(plain) > 1 or per_shard):
        raise SystemExit("mlc gateway: give either one --triton HOST:PORT or --triton SHARD=HOST:PORT per shard")
    if plain:
        return plain[0]
    missing = sorted(set(routing.models) - set(per_shard))
    if missing:
        raise SystemExit(f"mlc gateway: no --triton address for shard(s) {missing}")
    return {shard: (v if "," not in v else [a for a in v.split(",") if a]) for shard, v in per_shard.items()}


def load_predictor(args: argparse.Namespace, metrics: ServingMetrics | None = None) -> Predictor:
    ir = load_ir(os.path.join(args.build, "mldl.json"))
    module_path = os.path.join(args.build, "preprocess", f"{ir.name}_preprocess.py")
    module = load_module(module_path) if os.path.exists(module_path) else None
    routing = Routing.load(args.routing, ir) if args.routing else Routing.from_ir(ir)
    if args.embedded:
        if not args.models:
            raise SystemExit("mlc gateway: --embedded needs --models DIR (the exported repository)")
        backend: Any = OnnxBackend(args.models)
    else:
        backend = TritonBackend(triton_urls(args.triton, routing), timeout=args.triton_timeout)
    registry = _registry(args, ir.name, backend, routing)
    aliases = None
    if registry is not None:
        aliases = AliasResolver(registry)
    try:
        store = _open_store(args)
        metrics = metrics or ServingMetrics()
        namespace = args.namespace or ir.name
        return Predictor(ir, None, store, backend, namespace, routing, module=module,
                         metrics=metrics, max_items=args.max_items,
                         max_field_bytes=getattr(args, "max_field_bytes", MAX_FIELD_BYTES),
                         experiments=load_experiments(args.experiments, args.build, args.exposures, aliases),
                         feature_log=load_feature_log(args, ir, store, namespace, metrics))
    except BaseException:
        backend.close()
        raise


def _open_store(args: argparse.Namespace) -> Any:
    """The ``--store`` to read (it must exist: never created here), or None without one."""
    if not args.store:
        log.warning("no online store configured: feature groups take their defaults (responses are degraded)")
        return None
    try:
        return open_store(args.store, timeout=args.store_timeout, create=False)
    except StoreError as err:
        raise SystemExit(f"mlc gateway: {err}") from None


def _registry(args: argparse.Namespace, app: str, backend: Any, routing: Routing) -> Any:
    """With ``--registry``: the registry, a VersionRouter on ``backend`` and, with
    ``--heartbeat``, a heartbeat thread per Triton replica (all stopped by ``backend.close()``)."""
    registry_url = getattr(args, "registry", None)
    if getattr(args, "heartbeat", False) and not registry_url:
        raise SystemExit("mlc gateway: --heartbeat needs --registry URL")
    if not registry_url:
        return None
    try:
        registry = open_registry(registry_url, app)
    except RegistryError as err:
        raise SystemExit(f"mlc gateway: {err}") from None
    interval = args.heartbeat_interval
    if args.heartbeat and isinstance(backend, TritonBackend):
        for shard in routing.models:
            for index, address in enumerate(backend.addresses(shard)):
                beat = ReplicaHeartbeat(registry, shard, f"{shard}-{index}", address, interval=interval,
                                        ttl=args.heartbeat_ttl)
                backend.services.append(beat.start())
    if isinstance(backend, TritonBackend):
        backend.router = VersionRouter(registry, routing.models, refresh_seconds=min(interval, 0.5)).start()
        backend.services.append(backend.router)
    backend.services.append(_Closing(registry))
    return registry


class _Closing:
    """Closes ``resource`` when the backend's services stop."""

    def __init__(self, resource: Any):
        self.resource = resource

    def stop(self) -> None:
        self.resource.close()


class AliasResolver:
    """``aliases(shard, model, alias) -> version`` for the ExperimentRouter, from the registry;
    answers are cached for ``ttl`` seconds (a registry that cannot be read: the last answer)."""

    def __init__(self, registry: Any, ttl: float = 5.0):
        import time

        self.registry, self.ttl, self._clock = registry, ttl, time.monotonic
        self._cache: dict[tuple[str, str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, shard: str, model: str, alias: str) -> int | None:
        key = (shard, model, alias)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            version = self.registry.resolve(model, shard, alias)
        except Exception as err:
            log.warning("alias %s of %s@%s not resolved: %s", alias, model, shard, err)
            return cached[1] if cached is not None else None
        with self._lock:
            self._cache[key] = (now, version)
        return version


def load_experiments(path: str | None, build: str, exposures: str | None, aliases: Any = None) -> Any:
    """An ExperimentRouter for the config at ``path`` (default: the build's), or None when
    there is no config or it declares no experiment. ``aliases``: ``(shard, model, alias) ->
    version`` resolving variants' aliases (the registry's, :class:`AliasResolver`)."""
    path = path or os.path.join(build, "experiments", "config.json")
    if not os.path.isfile(path):
        return None
    try:
        assigner = Assigner.load(path)
    except ConfigError as err:
        raise SystemExit(f"mlc gateway: {err}") from None
    config = assigner.config
    if not config.experiments and not config.switchbacks:
        return None
    if exposures is None:
        log.warning("experiments are configured but no exposure log (--exposures): assignments are not logged")
        sink = None
    else:
        sink = ExposureLog(_stdout_lines if exposures == "-" else exposures)
    log.info("experiments config %s: %d experiment(s), %d switchback(s)", config.config_version,
             len(config.experiments), len(config.switchbacks))
    return ExperimentRouter(assigner, sink, aliases=aliases)


def _stdout_lines(record: dict) -> None:
    """The exposure sink of ``--exposures -``: one JSON line per record on stdout."""
    with STDOUT_LOCK:
        sys.stdout.write(to_line(record))
        sys.stdout.flush()


def _rate(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"mlc gateway: MLC_FEATURE_LOG_RATE={text!r} is not a number") from None


def load_feature_log(args: argparse.Namespace, ir: Any, store: Any, namespace: str,
                     metrics: ServingMetrics | None = None) -> FeatureLog | None:
    """The feature log of ``--feature-log`` at ``--feature-log-rate`` (default: the spec's rate),
    or None (no sink, or a rate of 0)."""
    settings = ir.deployment.feature_log
    rate = getattr(args, "feature_log_rate", None)
    rate = settings.sample_rate if rate is None else rate
    target = getattr(args, "feature_log", None)
    if not 0.0 <= rate <= 1.0:
        raise SystemExit(f"mlc gateway: --feature-log-rate {rate} is not in [0, 1]")
    if not target or rate == 0.0:
        if rate > 0.0:
            log.warning("feature logging is on (rate %g) but no --feature-log sink is given: nothing is logged", rate)
        return None
    sink = Stdout() if target == "-" else RotatingFiles(target, settings.max_file_bytes, settings.max_files)
    online = [g.name for g in ir.feature_groups if g.online]
    log.info("feature log: %s, %g of requests", "stdout" if target == "-" else target, rate)
    return FeatureLog(sink, app=ir.name, spec_hash=features_fingerprint(ir), sample_rate=rate,
                      queue_size=settings.queue_size, store=store, namespace=namespace, groups=online,
                      on_outcome=metrics.count_feature_log if metrics is not None else None)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("MLC_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        import signal

        def _terminate(signum: int, frame: Any) -> None:   # SIGTERM (mlc stop): shut down like Ctrl-C
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _terminate)
    gateway = Gateway(None, ServingMetrics())
    limits = Limits(max_connections=args.max_connections, idle_timeout=args.idle_timeout)
    server = make_server(gateway, args.host, args.port, limits)   # /healthz answers while loading
    thread = threading.Thread(target=server.serve_forever, name="mlc-gateway", daemon=True)
    thread.start()
    log.info("listening on %s:%d (at most %d connections, idle timeout %gs)", args.host, args.port,
             limits.max_connections, limits.idle_timeout)
    try:
        predictor = load_predictor(args, gateway.metrics)
    except SystemExit as err:
        server.shutdown()
        server.server_close()
        print(err, file=sys.stderr)
        return 2
    except Exception as err:
        log.exception("cannot load the build")
        server.shutdown()
        server.server_close()
        print(f"mlc gateway: cannot load the build: {err}", file=sys.stderr)
        return 1
    predictor.metrics = gateway.metrics
    gateway.metrics.watch_streams(predictor)
    gateway.predictor = predictor
    ok, detail = gateway.ready()
    log.info("loaded `%s` (%d model(s), %d shard(s)); ready: %s (%s)", predictor.ir.name, len(predictor.models),
             len(predictor.shards), ok, detail)
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        predictor.backend.close()
        predictor.store.close()
        if predictor.experiments is not None:
            predictor.experiments.close()
        if predictor.feature_log is not None:
            predictor.feature_log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
