"""`serve`: the predictor gateway on loopback over a run's fitted `mldl.json` and exported
models, inference by a real Triton per shard (the server bundled in nvidia-pytriton) or
in-process ONNX Runtime (embedded); serving until interrupted or for a duration, then a bounded
shutdown. The serving runtime (numpy, tritonclient ...) is imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mlc.app.common import built, classified, default_run_dir, default_store_url, Diagnostics, Progress, quiet, unshown
from mlc.core.errors import MlcError
from mlc.core.ir import load_ir
from mlc.runtime.app_state import feature_log_dir
from mlc.runtime.preprocess import load_module
from mlc.runtime.training.skipped import read_skipped


@dataclass
class ServeOptions:
    spec: str
    embedded: bool = False                 # ONNX Runtime in the gateway instead of a Triton per shard
    output: str | None = None              # the run folder (default: .mlc/<name>/data beside the spec)
    port: int = 8080                       # 0: any free
    store: str | None = None
    store_timeout: float = 0.05
    triton_timeout: float = 1.0
    namespace: str | None = None
    duration: float | None = None          # None: until interrupted
    exposures: str | None = None           # default: <output>/serve/exposures.jsonl
    env: str | None = None


def serve(options: ServeOptions, progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> None:
    """`mlc serve SPEC [--local | --embedded]`: the predictor gateway on loopback over the run's
    fitted `mldl.json` and exported models (`mlc run SPEC --step all`), inference by a real
    Triton per shard (`--local`, the server bundled in nvidia-pytriton) or in-process ONNX
    Runtime (`--embedded`). Serves until interrupted (or `options.duration` seconds)."""
    result = built(options.spec, options.env, diagnostics)
    output = os.path.abspath(options.output or default_run_dir(options.spec))
    tritons: list = []           # filled as they start, so a later failure stops every one
    try:
        running = start_serving(options, result, output, tritons, progress)
    except Exception as exc:
        for triton in tritons:
            triton.stop()
        raise classified(exc) from None
    progress(f"gateway: {running.url}/v1/predict  (health {running.url}/healthz, metrics {running.url}/metrics)")
    try:
        wait(options.duration)
    except KeyboardInterrupt:
        pass
    finally:
        shut_down(running, tritons, progress)


SHUTDOWN_LIMIT_S = 45.0   # the whole stop, interpreter exit included; past it: thread stacks, exit 1


def shut_down(running: Any, tritons: list, progress: Progress = quiet) -> None:
    """Stop `mlc serve` within a bound: the gateway (no new requests), the predictor's backend
    (gRPC channels, sessions, exposure log), then every Triton at once (each SIGTERM, its own
    grace, SIGKILL). A watchdog armed first dumps every thread's stack to stderr and exits with
    code 1 if all of it, interpreter exit included, takes longer than SHUTDOWN_LIMIT_S: a slow
    stop is reported with where it hung, never waited on silently."""
    import faulthandler
    import threading
    import time

    faulthandler.dump_traceback_later(SHUTDOWN_LIMIT_S, exit=True)
    started = time.monotonic()
    running.stop()
    predictor = running.gateway.predictor
    if predictor is not None:
        predictor.backend.close()
    gateway_s = time.monotonic() - started
    stoppers = [threading.Thread(target=triton.stop, name=f"stop-triton-{i}") for i, triton in enumerate(tritons)]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    progress(f"stopped in {time.monotonic() - started:.1f} s (gateway {gateway_s:.1f} s, "
             f"{len(tritons)} triton(s) {time.monotonic() - started - gateway_s:.1f} s)")


def wait(duration: float | None) -> None:
    import time

    deadline = None if duration is None else time.monotonic() + duration
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.2)


def serving_build(result: Any, output: str) -> tuple[Any, str]:
    """The run's fitted IR and a build tree compiled from it under ``<output>/serve/build``."""
    from mlc.compiler.artifacts import artifact_tree
    from mlc.compiler.writer import WriteRefused, write_tree

    mldl = os.path.join(output, "mldl.json")
    if not os.path.isfile(mldl):
        raise MlcError(f"no fitted mldl.json in {output}", code="E7007",
                       hint="train first: mlc run SPEC --step all (writes mldl.json and models/)")
    result.ir = load_ir(mldl)
    build_dir = os.path.join(output, "serve", "build")
    try:
        write_tree(artifact_tree(result), build_dir)
    except WriteRefused as refused:
        raise MlcError(f"cannot write {build_dir}: {refused.message}", code=refused.code, hint=refused.hint) from None
    return result.ir, build_dir


def _experiments(options: ServeOptions, build_dir: str, output: str, progress: Progress) -> Any:
    """The build's experiments with an exposure log (``--exposures``, default
    ``<output>/serve/exposures.jsonl``), or None when the spec declares none."""
    from mlc.runtime.serving.gateway import load_experiments

    exposures = options.exposures or os.path.join(output, "serve", "exposures.jsonl")
    router = load_experiments(None, build_dir, exposures)
    if router is not None:
        progress(f"experiments: {len(router.assigner.config.experiments)} experiment(s), "
                 f"{len(router.assigner.config.switchbacks)} switchback(s); exposures -> {exposures}")
    return router


def require_exports(ir: Any, repository: str, output: str) -> None:
    """Every (shard, model) served needs an exported version; one missing is E7007 with its cause
    (training skipped it: no training rows), not a Triton that refuses to start."""

    skipped = read_skipped(os.path.join(output, "models"))
    sharded = ir.deployment.partition_key is not None
    for shard in ir.deployment.shards:
        for model in shard.models:
            folder = os.path.join(repository, shard.name, model) if sharded else os.path.join(repository, model)
            if os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder)):
                continue
            why = skipped.get((model, shard.name))
            raise MlcError(f"no exported version of model `{model}` for shard `{shard.name}`"
                           + (f": its training was skipped: {why}" if why else f" in {folder}"), code="E7007",
                           hint="fix the data or the spec, then train: mlc run SPEC --step all; `mlc deploy` "
                                "serves the other shards meanwhile" if why else "train first: mlc run SPEC --step all")


def start_serving(options: ServeOptions, result: Any, output: str, tritons: list, progress: Progress = quiet) -> Any:
    """The gateway serving in a thread; every local Triton started is appended to ``tritons``."""
    import tempfile

    from mlc.runtime.online_store import open_store
    from mlc.runtime.serving.gateway import serve_in_thread
    from mlc.runtime.serving.metrics import ServingMetrics
    from mlc.runtime.serving.inference import OnnxBackend, TritonBackend
    from mlc.runtime.serving.predictor import Predictor
    from mlc.runtime.serving.routing import Routing

    ir, build_dir = serving_build(result, output)
    store = None                 # read-only, never created here; a spec without online groups needs none
    if any(group.online for group in ir.feature_groups):
        store = open_store(options.store or default_store_url(options.spec), timeout=options.store_timeout, create=False)
    repository = os.path.join(output, "models", "repository")
    if not os.path.isdir(repository):
        raise MlcError(f"no exported models in {repository}", code="E7007", hint="train first: mlc run SPEC --step all")
    require_exports(ir, repository, output)
    if options.embedded:
        backend: Any = OnnxBackend(repository)
        progress("inference: in-process ONNX Runtime (--embedded)")
    else:
        from mlc.runtime.serving.local_triton import LocalTriton, assemble_repository

        sharded = ir.deployment.partition_key is not None
        urls = {}
        for shard in ir.deployment.shards:
            models_dir = os.path.join(repository, shard.name) if sharded else repository
            target = tempfile.mkdtemp(prefix=f"mlc-triton-{shard.name}-")
            os.rmdir(target)
            assemble_repository(build_dir, models_dir, shard.name, target)
            triton = LocalTriton(target)
            tritons.append(triton)
            triton.start()
            urls[shard.name] = triton.grpc_url
            progress(f"triton for shard `{shard.name}`: grpc {triton.grpc_url}, http {triton.url} "
                     f"(ready in {triton.startup_s:.1f} s)")
        backend = TritonBackend(urls, timeout=options.triton_timeout)
    module = load_module(os.path.join(build_dir, "preprocess", f"{ir.name}_preprocess.py"))
    metrics, namespace = ServingMetrics(), options.namespace or ir.name
    predictor = Predictor(ir, None, store, backend, namespace, Routing.from_ir(ir), module=module, metrics=metrics,
                          experiments=_experiments(options, build_dir, output, progress),
                          feature_log=_feature_log(options, ir, store, namespace, metrics, progress))
    return serve_in_thread(predictor, "127.0.0.1", options.port)


def _feature_log(options: ServeOptions, ir: Any, store: Any, namespace: str, metrics: Any,
                 progress: Progress) -> Any:
    """The spec's feature log (``deployment.feature_log``) in ``.mlc/<name>/logs/features``, as
    the local deploy's gateway writes it; None at a sample rate of 0."""
    import argparse

    from mlc.runtime.serving.gateway import load_feature_log

    folder = feature_log_dir(options.spec, ir.name)
    log = load_feature_log(argparse.Namespace(feature_log=folder, feature_log_rate=None), ir, store, namespace, metrics)
    if log is not None:
        progress(f"feature log: {folder} ({log.sample_rate:.0%} of requests)")
    return log
