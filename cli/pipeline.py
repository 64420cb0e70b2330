"""`mlc run SPEC`: the whole pipeline on the embedded defaults, one step after another.

    features   Spark local[*]: feature-group snapshots, analyzer fit, point-in-time training sets
    train      every (model, shard): TensorFlow (Horovod on localhost when installed), export
    materialize  the online store (SQLite beside the spec unless --store) from the snapshots
    register   every exported version into the model registry
    deploy     the local target: Triton per shard (explicit model control) + the predictor gateway
    score      one sample request through the gateway, from the training data

`--from STEP` / `--until STEP` run part of it (earlier outputs are reused: every step reads
what the previous ones wrote under the run folder). A failing step is named, with its
diagnostic; the outputs of the steps before it stay as they are (each step writes through a
temporary folder or is idempotent). The summary says what ran, how long each step took, the
models' validation metrics, where every artifact and service is, and how to stop the services.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mlc.cli.main import PIPELINE_STEPS as STEPS  # noqa: E402  (one list, used by the parser too)
from mlc.runtime.urls import redact_url
from mlc.core.errors import MlcError


@dataclass
class StepResult:
    name: str
    status: str = "skipped"          # ok | failed | skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Run:
    """What the steps share: the build, the run folder and what earlier steps produced."""
    args: argparse.Namespace
    result: Any                      # compiler Build
    output: str
    report: Callable
    facts: dict[str, Any] = field(default_factory=dict)   # registry URL, store, gateway URL ...

    @property
    def spec_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.args.spec))


class StepFailed(MlcError):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def selected_steps(start: str | None, until: str | None) -> list[str]:
    """The steps from ``start`` to ``until`` (inclusive), in pipeline order."""
    first = STEPS.index(start) if start else 0
    last = STEPS.index(until) if until else len(STEPS) - 1
    if last < first:
        raise ValueError(f"--until {until} comes before --from {start} (order: {', '.join(STEPS)})")
    return list(STEPS[first:last + 1])


def cmd_pipeline(args: argparse.Namespace, report: Callable) -> int:
    from mlc.compiler.pipeline import build

    try:
        steps = selected_steps(args.from_step, args.until)
    except ValueError as err:
        sys.stderr.write(f"mlc run: {err}\n")
        return 2
    result = build(args.spec, args.env)
    report(result.diagnostics, result.sources, "text")
    if not result.ok:
        return 1
    from mlc.cli.runtime import default_run_dir

    output = os.path.abspath(args.output or default_run_dir(args.spec))
    run = Run(args, result, output, report)
    results = [StepResult(name) for name in STEPS]
    code = _run_steps(run, steps, results)
    sys.stderr.write(render_summary(run, results, code))
    return code


def _run_steps(run: Run, steps: list[str], results: list[StepResult]) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, highlight=False)
    by_name = {r.name: r for r in results}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=False, disable=not console.is_terminal) as progress:
        for name in steps:
            task = progress.add_task(f"{name}", total=None)
            began = time.monotonic()
            try:
                detail = STEP_FUNCTIONS[name](run)
                by_name[name].status, by_name[name].detail = "ok", detail or ""
            except StepFailed as failed:
                by_name[name].status = "failed"
                by_name[name].seconds = time.monotonic() - began
                progress.update(task, description=f"{name}: failed")
                return failed.code or 1
            by_name[name].seconds = time.monotonic() - began
            progress.update(task, description=f"{name}: {by_name[name].detail}", completed=1, total=1)
            if not console.is_terminal:
                sys.stderr.write(f"[{name}] done in {by_name[name].seconds:.1f} s: {by_name[name].detail}\n")
    return 0


def _namespace(run: Run, **overrides: Any) -> argparse.Namespace:
    """The options of ``mlc run`` as the single-step commands read them."""
    values = {"spec": run.args.spec, "env": run.args.env, "output": run.output, "as_of": run.args.as_of,
              "input": run.args.input, "catalog_dir": run.args.catalog_dir, "workers": run.args.workers,
              "model": run.args.model, "shard": run.args.shard, "epochs": run.args.epochs,
              "store": getattr(run.args, "store", None), "namespace": None, "incremental": False,
              "registry": getattr(run.args, "registry", None)}
    values.update(overrides)
    return argparse.Namespace(**values)


def _checked(run: Run, code: int) -> None:
    if code != 0:
        raise StepFailed(code)


# ----------------------------------------------------------------------------------- steps


def step_features(run: Run) -> str:
    from mlc.cli.runtime import _feature_job

    _checked(run, _feature_job(_namespace(run, step="all"), run.result, run.output, run.report))
    sets = os.path.join(run.output, "training")
    count = sum(1 for _, _, files in os.walk(sets) for f in files if f == "schema.json") if os.path.isdir(sets) else 0
    return f"{count} training set(s), analyzers fitted -> {run.output}"


def step_train(run: Run) -> str:
    from mlc.cli.runtime import _reported, run_training, training_jobs

    try:
        jobs = training_jobs(run.result.ir, run.args.model, run.args.shard)
        _checked(run, run_training(_namespace(run), run.result, run.output))
    except StepFailed:
        raise
    except Exception as exc:
        raise StepFailed(_reported(exc, run.report, run.result.sources)) from None
    skipped = _skipped(run)
    chosen = {(t.model.name, t.shard) for t in jobs}
    left_out = sum(1 for pair in skipped if pair in chosen)
    return (f"{len(jobs) - left_out} model(s) trained and exported"
            + (f", {left_out} skipped (no training rows)" if left_out else "")
            + f" -> {os.path.join(run.output, 'models')}")


def _skipped(run: Run) -> dict[tuple[str, str], str]:
    """The (model, shard) pairs the train step skipped (``<run>/models/skipped.json``), with why."""
    from mlc.runtime.training.skipped import read_skipped

    run.facts["skipped"] = read_skipped(os.path.join(run.output, "models"))
    return run.facts["skipped"]


def step_materialize(run: Run) -> str:
    from mlc.cli.runtime import cmd_materialize, default_store_url

    store = getattr(run.args, "store", None) or default_store_url(run.args.spec)
    if not any(g.online for g in run.result.ir.feature_groups):
        return "no online feature group"                 # no store to fill, or to show in the summary
    run.facts["store"] = store
    _checked(run, cmd_materialize(_namespace(run, store=store), run.report))
    return f"online store {redact_url(store)}"


def step_register(run: Run) -> str:
    from mlc.cli.runtime import _reported
    from mlc.core.ir import load_ir
    from mlc.runtime.model_registry import RegistryError, default_registry_url, open_registry

    url = getattr(run.args, "registry", None) or default_registry_url(run.args.spec)
    run.facts["registry"] = url
    mldl = os.path.join(run.output, "mldl.json")
    if not os.path.isfile(mldl):
        from mlc.cli.runtime import RuntimeProblem

        raise StepFailed(_reported(RuntimeProblem("E7007", f"no fitted mldl.json in {run.output}",
                                                  "run the earlier steps: mlc run SPEC --until train"),
                                   run.report, run.result.sources))
    try:
        registry = open_registry(url, run.result.ir.name)
        try:
            registered = registry.register_run(load_ir(mldl), run.output)
        finally:
            registry.close()
    except RegistryError as err:
        from mlc.cli.runtime import RuntimeProblem

        raise StepFailed(_reported(RuntimeProblem("E7200", err.message, err.hint), run.report,
                                   run.result.sources)) from None
    run.facts["versions"] = [v for v, _ in registered]
    _skipped(run)
    created = sum(1 for _, new in registered if new)
    return f"{len(registered)} version(s) in {redact_url(url)} ({created} new)"


def step_deploy(run: Run) -> str:
    from mlc.cli.deploy import cmd_deploy

    args = argparse.Namespace(spec=run.args.spec, env=run.args.env, target="local", dry_run=False, wait=False,
                              output=run.output, store=run.facts.get("store") or getattr(run.args, "store", None),
                              port=run.args.port, replicas=None, kube_context=None, timeout=600.0,
                              registry=run.facts.get("registry") or getattr(run.args, "registry", None))
    _checked(run, cmd_deploy(args, run.report))
    _skipped(run)
    from mlc.runtime.deploy.state import load_state

    state = load_state(run.args.spec) or {}
    run.facts["gateway"] = state.get("gateway", {}).get("url")
    run.facts["tritons"] = state.get("tritons", {})
    return f"gateway {run.facts['gateway']}"


def step_score(run: Run) -> str:
    import urllib.request

    url = run.facts.get("gateway") or _gateway_from_state(run)
    run.facts["gateway"] = url
    if not url:
        raise StepFailed(_problem(run, "E7210", "no running gateway to score against",
                                  "deploy first: mlc run SPEC --from deploy"))
    try:
        request = sample_request(run.result.ir, run.spec_dir)
    except (OSError, ValueError) as err:       # the source cannot be read by pyarrow
        raise StepFailed(_problem(run, "E7210", f"no sample request: cannot read the training source: {err}")) from None
    body = json.dumps(request).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/v1/predict", body, {"Content-Type": "application/json"}),
                                    timeout=30) as answer:
            response = json.loads(answer.read())
    except Exception as err:  # an HTTP error answer or an unreachable gateway
        detail = _error_body(err)
        raise StepFailed(_problem(run, "E7210", f"the sample request failed: {err}{detail}",
                                  f"see the gateway log; `mlc status {run.args.spec}`")) from None
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
    try:
        from mlc.runtime.deploy.state import load_state
    except ImportError:
        return None
    state = load_state(run.args.spec) or {}
    return state.get("gateway", {}).get("url")


def _problem(run: Run, code: str, message: str, hint: str | None = None) -> int:
    from mlc.cli.runtime import RuntimeProblem, _reported

    return _reported(RuntimeProblem(code, message, hint), run.report, run.result.sources)


STEP_FUNCTIONS: dict[str, Callable[[Run], str]] = {
    "features": step_features, "train": step_train, "materialize": step_materialize,
    "register": step_register, "deploy": step_deploy, "score": step_score,
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
                     f"Fix it, then: mlc run {run.args.spec} --from {failed}")
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
    if run.facts.get("gateway"):
        lines += ["", f"stop the services: mlc stop {run.args.spec}"]
    return lines + [""]
