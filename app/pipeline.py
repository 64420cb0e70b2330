"""`mlc run SPEC`: the whole pipeline on the embedded defaults, one step after another.

    features   Spark local[*]: feature-group snapshots, analyzer fit, point-in-time training sets
    train      every (model, shard): TensorFlow (Horovod on localhost when installed), export
    materialize  the online store (SQLite beside the spec unless --store) from the snapshots
    register   every exported version into the model registry
    deploy     the local target: Triton per shard (explicit model control) + the predictor gateway
    stream     the streaming job of the spec's stream sources, in the background (none: a note)
    score      one sample request through the gateway, from the training data

`--from STEP` / `--until STEP` run part of it (earlier outputs are reused: every step reads
what the previous ones wrote under the run folder). A failing step is named, with its
diagnostic; the outputs of the steps before it stay as they are (each step writes through a
temporary folder or is idempotent). The summary says what ran, how long each step took, the
models' validation metrics, where every artifact and service is, and how to stop the services.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mlc.app.common import (
    built, classified, default_run_dir, default_store_url, Diagnostics, Failed, Progress, quiet, SpecErrors,
    unshown,
)
from mlc.app.deploy import deploy, DeployOptions
from mlc.app.offline import feature_job, Offline
from mlc.app.online import materialize
from mlc.app.stream import default_state_dir, stream_sources
from mlc.app.training import run_training, training_jobs
from mlc.core.errors import MlcError
from mlc.core.ir import load_ir
from mlc.runtime.app_state import feature_log_dir
from mlc.runtime.deploy.state import load_state
from mlc.runtime.model_registry import default_registry_url, open_registry, RegistryError
from mlc.runtime.streaming.status import status_path
from mlc.runtime.training.skipped import read_skipped
from mlc.runtime.urls import redact_url

STEPS = ("features", "train", "materialize", "register", "deploy", "stream", "score")
STREAM_START_TIMEOUT_S = 120.0        # until the streaming job's first status (MLC_STREAM_START_TIMEOUT)


@dataclass
class PipelineOptions:
    spec: str
    env: str | None = None
    output: str | None = None              # default: .mlc/<name>/data beside the spec
    as_of: str | None = None
    inputs: list[str] = field(default_factory=list)     # SOURCE=PATH
    catalog_dir: str | None = None
    workers: int | None = None
    model: str | None = None
    shard: str | None = None
    epochs: int | None = None
    store: str | None = None
    registry: str | None = None
    port: int | None = None


@dataclass
class StepResult:
    name: str
    status: str = "skipped"          # ok | failed | skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Run:
    """What the steps share: the build, the run folder and what earlier steps produced."""
    options: PipelineOptions
    result: Any                      # compiler Build
    output: str
    progress: Progress = quiet
    diagnostics: Diagnostics = unshown
    facts: dict[str, Any] = field(default_factory=dict)   # registry URL, store, gateway URL ...

    @property
    def spec_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.options.spec))


@dataclass
class Outcome:
    """A pipeline run: every step's result (in pipeline order), the shared run, the exit status."""
    run: Run
    results: list[StepResult]
    code: int


def selected_steps(start: str | None, until: str | None) -> list[str]:
    """The steps from ``start`` to ``until`` (inclusive), in pipeline order."""
    first = STEPS.index(start) if start else 0
    last = STEPS.index(until) if until else len(STEPS) - 1
    if last < first:
        raise ValueError(f"--until {until} comes before --from {start} (order: {', '.join(STEPS)})")
    return list(STEPS[first:last + 1])


def run_pipeline(options: PipelineOptions, steps: list[str], progress: Progress = quiet,
                 diagnostics: Diagnostics = unshown,
                 on_step: Callable[[StepResult], None] = lambda step: None) -> Outcome:
    """Run ``steps`` in order. ``on_step`` hears of each step as it starts (status "running") and
    ends. A step that fails shows its diagnostics through ``diagnostics`` and ends the run (the
    outcome's code: 1, or the status the step ended with)."""
    result = built(options.spec, options.env, diagnostics)
    output = os.path.abspath(options.output or default_run_dir(options.spec))
    run = Run(options, result, output, progress, diagnostics)
    results = [StepResult(name) for name in STEPS]
    by_name = {r.name: r for r in results}
    code = 0
    for name in steps:
        step = by_name[name]
        step.status = "running"
        on_step(step)
        began = time.monotonic()
        try:
            step.detail = STEP_FUNCTIONS[name](run) or ""
            step.status = "ok"
        except MlcError as err:
            _show(err, run)
            step.status, step.seconds = "failed", time.monotonic() - began
            code = err.status if isinstance(err, Failed) else 1
            on_step(step)
            break
        step.seconds = time.monotonic() - began
        on_step(step)
    return Outcome(run, results, code)


def _show(err: MlcError, run: Run) -> None:
    if isinstance(err, SpecErrors):
        run.diagnostics(err.diagnostics, err.sources)
    elif not isinstance(err, Failed):               # a Failed step reported its failure itself
        run.diagnostics([err.diagnostic()], run.result.sources)


def _offline(run: Run, step: str = "all") -> Any:
    """The options of ``mlc run`` as the offline steps read them."""

    o = run.options
    return Offline(o.spec, step=step, env=o.env, output=run.output, as_of=o.as_of, inputs=o.inputs,
                   catalog_dir=o.catalog_dir, workers=o.workers, model=o.model, shard=o.shard, epochs=o.epochs)


# ----------------------------------------------------------------------------------- steps


def step_features(run: Run) -> str:
    feature_job(_offline(run), run.result, run.output)
    sets = os.path.join(run.output, "training")
    count = sum(1 for _, _, files in os.walk(sets) for f in files if f == "schema.json") if os.path.isdir(sets) else 0
    return f"{count} training set(s), analyzers fitted -> {run.output}"


def step_train(run: Run) -> str:
    try:
        jobs = training_jobs(run.result.ir, run.options.model, run.options.shard)
        run_training(_offline(run), run.result, run.output, run.progress)
    except Exception as exc:
        raise classified(exc) from None
    skipped = _skipped(run)
    chosen = {(t.model.name, t.shard) for t in jobs}
    left_out = sum(1 for pair in skipped if pair in chosen)
    return (f"{len(jobs) - left_out} model(s) trained and exported"
            + (f", {left_out} skipped (no training rows)" if left_out else "")
            + f" -> {os.path.join(run.output, 'models')}")


def _skipped(run: Run) -> dict[tuple[str, str], str]:
    """The (model, shard) pairs the train step skipped (``<run>/models/skipped.json``), with why."""

    run.facts["skipped"] = read_skipped(os.path.join(run.output, "models"))
    return run.facts["skipped"]


def step_materialize(run: Run) -> str:
    o = run.options
    store = o.store or default_store_url(o.spec)
    if not any(g.online for g in run.result.ir.feature_groups):
        return "no online feature group"                 # no store to fill, or to show in the summary
    run.facts["store"] = store
    materialize(o.spec, store=store, as_of=o.as_of, env=o.env, catalog_dir=o.catalog_dir,
                progress=run.progress, diagnostics=run.diagnostics)
    return f"online store {redact_url(store)}"


def step_register(run: Run) -> str:
    url = run.options.registry or default_registry_url(run.options.spec)
    run.facts["registry"] = url
    mldl = os.path.join(run.output, "mldl.json")
    if not os.path.isfile(mldl):
        raise MlcError(f"no fitted mldl.json in {run.output}", code="E7007",
                       hint="run the earlier steps: mlc run SPEC --until train")
    try:
        registry = open_registry(url, run.result.ir.name)
        try:
            registered = registry.register_run(load_ir(mldl), run.output)
        finally:
            registry.close()
    except RegistryError as err:
        raise MlcError(err.message, code="E7200", hint=err.hint) from None
    run.facts["versions"] = [v for v, _ in registered]
    _skipped(run)
    created = sum(1 for _, new in registered if new)
    return f"{len(registered)} version(s) in {redact_url(url)} ({created} new)"


def step_deploy(run: Run) -> str:
    o = run.options
    deploy(DeployOptions(o.spec, env=o.env, target="local", output=run.output,
                         store=run.facts.get("store") or o.store, port=o.port,
                         registry=run.facts.get("registry") or o.registry), run.progress, run.diagnostics)
    _skipped(run)
    state = load_state(o.spec) or {}
    run.facts["gateway"] = state.get("gateway", {}).get("url")
    run.facts["tritons"] = state.get("tritons", {})
    return f"gateway {run.facts['gateway']}"


def step_stream(run: Run) -> str:
    """The streaming job over the run's fitted IR, detached (recorded in the deploy state: `mlc
    stop` stops it); waits until it reports its first status."""
    from mlc.runtime.deploy.local import start_stream

    ir = run.result.ir
    names = [s.name for s in stream_sources(ir)]
    if not names:
        return "no stream source: no streaming job"
    mldl = os.path.join(run.output, "mldl.json")
    if not os.path.isfile(mldl):
        raise MlcError(f"no fitted mldl.json in {run.output}", code="E7007",
                       hint="run the earlier steps: mlc run SPEC --until deploy")
    o = run.options
    store = o.store or _deployed_store(o.spec) or run.facts.get("store") or default_store_url(o.spec)
    state_dir = default_state_dir(o.spec)
    log_path = os.path.join(state_dir, "job.log")
    argv = [sys.executable, "-m", "mlc.runtime.stream_job", "--mldl", mldl, "--namespace", ir.name,
            "--state-dir", state_dir, "--data-root", run.spec_dir]
    timeout = _start_timeout(os.environ.get("MLC_STREAM_START_TIMEOUT"))
    record = start_stream(o.spec, argv, {"MLC_ONLINE_STORE": store}, log_path, state_dir, timeout, run.progress)
    run.facts["stream"] = {"pid": record["pid"], "log": log_path, "status": status_path(state_dir)}
    run.progress(f"stream job: {', '.join(names)} (pid {record['pid']}, log {log_path}, "
                 f"status {status_path(state_dir)})")
    return f"{', '.join(names)} streaming (pid {record['pid']})"


def _start_timeout(text: str | None) -> float:
    """``MLC_STREAM_START_TIMEOUT`` (seconds), else the default; anything else is a clear error."""
    if not text:
        return STREAM_START_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise MlcError(f"MLC_STREAM_START_TIMEOUT is `{text}`, not a positive number of seconds", code="E7304",
                       hint="e.g. MLC_STREAM_START_TIMEOUT=300")
    return value


def _deployed_store(spec: str) -> str | None:
    """The store the deployed gateway reads (the deploy state's), so the job writes where it reads."""
    try:
        return (load_state(spec) or {}).get("store")
    except ValueError:
        return None


def step_score(run: Run) -> str:
    import urllib.request

    url = run.facts.get("gateway") or _gateway_from_state(run)
    run.facts["gateway"] = url
    if not url:
        raise MlcError("no running gateway to score against", code="E7210",
                       hint="deploy first: mlc run SPEC --from deploy")
    try:
        request = sample_request(run.result.ir, run.spec_dir)
    except (OSError, ValueError) as err:       # the source cannot be read by pyarrow
        raise MlcError(f"no sample request: cannot read the training source: {err}", code="E7210") from None
    body = json.dumps(request).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/v1/predict", body, {"Content-Type": "application/json"}),
                                    timeout=30) as answer:
            response = json.loads(answer.read())
    except Exception as err:  # an HTTP error answer or an unreachable gateway
        detail = _error_body(err)
        raise MlcError(f"the sample request failed: {err}{detail}", code="E7210",
                       hint=f"see the gateway log; `mlc status {run.options.spec}`") from None
    run.facts["sample"] = {"request": request, "response": response}
    scores = ", ".join(f"{s:.4g}" if isinstance(s, (int, float)) else str(s) for s in response.get("scores", []))
    return f"{response.get('model')} v{response.get('version')} on shard {response.get('shard')}: [{scores}]"


def _error_body(err: Exception) -> str:
    """The gateway's JSON error of an HTTP error answer, for the diagnostic."""
    read = getattr(err, "read", None)
    if read is None:
        return ""
    try:
        return ": " + read().decode("utf-8", "replace")[:500]
    except OSError:
        return ""


def _gateway_from_state(run: Run) -> str | None:
    state = load_state(run.options.spec) or {}
    return state.get("gateway", {}).get("url")


STEP_FUNCTIONS: dict[str, Callable[[Run], str]] = {
    "features": step_features, "train": step_train, "materialize": step_materialize,
    "register": step_register, "deploy": step_deploy, "stream": step_stream, "score": step_score,
}


# ---------------------------------------------------------------------------- sample request


def sample_request(ir: Any, spec_dir: str, items: int = 3) -> dict:
    """A request for the default model (``IR.default_model``) from the first rows of its training
    source (raw data, as clients send it: ``mlc.runtime.serving.sample_requests``)."""
    from mlc.runtime.serving.sample_requests import request_rows

    model = ir.default_model()
    return {"model": model.name, "items": request_rows(ir, model, spec_dir, items)}


# ----------------------------------------------------------------------------------- summary


def render_summary(run: Run, results: list[StepResult], code: int) -> str:
    """The summary `mlc run` ends with: each step, the models' metrics, skipped pairs, where things are."""
    lines = ["", "summary" + (" (failed)" if code else ""), ""]
    for r in results:
        mark = {"ok": "ok", "failed": "FAILED", "skipped": "-"}[r.status]
        seconds = f"{r.seconds:7.1f} s" if r.status != "skipped" else "        "
        lines.append(f"  {r.name:<12} {mark:<7} {seconds}  {r.detail}")
    lines.append("")
    lines += _metrics_lines(run)
    lines += _skipped_lines(run)
    lines += _where_lines(run)
    failed = next((r.name for r in results if r.status == "failed"), None)
    if failed:
        lines.append(f"step `{failed}` failed; the outputs of the steps before it are intact. "
                     f"Fix it, then: mlc run {run.options.spec} --from {failed}")
    return "\n".join(lines) + "\n"


def _metrics_lines(run: Run) -> list[str]:
    versions = run.facts.get("versions") or []
    if not versions:
        return []
    lines = ["models:"]
    for v in versions:
        metrics = v.metrics or {}
        exported = metrics.get("exported") if isinstance(metrics.get("exported"), dict) else {}
        final = exported.get("validation") or metrics.get("final") or metrics
        shown = ", ".join(f"{k} {val:.4g}" for k, val in sorted(final.items()) if isinstance(val, (int, float)))
        epoch = f" (weights of epoch {exported['epoch']}{', the best' if exported.get('restored_best') else ''})" \
            if exported.get("epoch") is not None else ""
        lines.append(f"  {v.model}@{v.shard} v{v.version}: {shown or 'no metrics'}{epoch}")
    return lines + [""]


def _skipped_lines(run: Run) -> list[str]:
    skipped = run.facts.get("skipped") or {}
    if not skipped:
        return []
    lines = ["skipped (no training rows, so no version):"]
    lines += [f"  {model}@{shard}: {reason}" for (model, shard), reason in sorted(skipped.items())]
    return lines + [""]


def _where_lines(run: Run) -> list[str]:
    lines = ["where things are:", f"  run folder      {run.output}"]
    for key, label in (("registry", "registry"), ("store", "online store"), ("gateway", "gateway")):
        if run.facts.get(key):
            lines.append(f"  {label:<15} {redact_url(run.facts[key])}" + ("/v1/predict" if key == "gateway" else ""))
    for replica, record in sorted((run.facts.get("tritons") or {}).items()):
        grpc = record.get("grpc") if isinstance(record, dict) else record
        logs = f"  (log {record['log']})" if isinstance(record, dict) and record.get("log") else ""
        lines.append(f"  {'triton ' + replica:<15} grpc {grpc}{logs}")
    stream = run.facts.get("stream")
    if stream:
        lines.append(f"  {'stream job':<15} pid {stream['pid']}  (log {stream['log']}, status {stream['status']})")
    if run.facts.get("gateway") and run.result.ir.deployment.feature_log.sample_rate > 0:
        folder = feature_log_dir(run.options.spec, run.result.ir.name)
        rate = run.result.ir.deployment.feature_log.sample_rate
        lines.append(f"  {'feature log':<15} {folder}  ({rate:.0%} of requests; mlc consistency {run.options.spec})")
    if run.facts.get("gateway") or stream:
        lines += ["", f"stop the services: mlc stop {run.options.spec}"]
    return lines + [""]
