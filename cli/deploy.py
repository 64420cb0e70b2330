"""`mlc deploy`, `mlc status`, `mlc rollback`, `mlc stop` (docs/deploy.md).

``--target local`` (the default): :mod:`mlc.runtime.deploy.local` -- a real Triton per shard
replica in explicit model-control mode, the gateway, safe version switches driven by the model
registry. ``--target k8s``: :mod:`mlc.runtime.deploy.k8s` (imported only then).

Every problem is a diagnostic (E7210-E7229 here, the registry's E72xx from its own module,
the build's), never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from mlc.core.diagnostics import Diagnostic

class _Problem(Exception):
    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.diagnostic = Diagnostic(code, message, hint=hint)


def _out(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _built(args: Any, report) -> Any:
    from mlc.compiler.pipeline import build

    result = build(args.spec, getattr(args, "env", None))
    report(result.diagnostics, result.sources, "text")
    return result if result.ok else None


def _output(args: Any) -> str:
    from mlc.cli.runtime import default_run_dir

    return os.path.abspath(getattr(args, "output", None) or default_run_dir(args.spec))


def _skipped(output: str) -> dict:
    """The (model, shard) pairs the run's training skipped (no training rows), with why."""
    from mlc.runtime.training.skipped import read_skipped

    return read_skipped(os.path.join(output, "models"))


def _registry(args: Any, app: str) -> tuple[Any, str]:
    from mlc.runtime.deploy.local import DeployError
    from mlc.runtime.model_registry import RegistryError, default_registry_url, open_registry, redact

    url = getattr(args, "registry", None) or default_registry_url(args.spec)
    try:
        return open_registry(url, app), url
    except RegistryError as err:
        raise DeployError("E7211", f"model registry `{redact(url)}` unreachable: {err.message}",
                          err.hint or "start it (or fix --registry / MLC_REGISTRY); nothing was changed") from None


def _report(problem: Any, report, sources: Any = None) -> int:
    from mlc.core.diagnostics import SourceMap

    report([Diagnostic(problem.code, problem.message, hint=problem.hint)], sources or SourceMap(), "text")
    return 1


def _deployment(args: Any, result: Any, registry: Any, registry_url: str, build_dir: str, output: str,
                options: Any = None) -> Any:
    from mlc.cli.runtime import default_store_url
    from mlc.runtime.deploy.local import LocalDeployment

    store = getattr(args, "store", None) or os.environ.get("MLC_REDIS_URL")
    if store is None and not hasattr(args, "store"):         # rollback, status: the deployed one
        from mlc.runtime.deploy.state import load_state

        try:
            store = (load_state(args.spec) or {}).get("store")
        except ValueError:
            store = None
    store = store or default_store_url(args.spec)
    return LocalDeployment(args.spec, result.ir, build_dir, output, registry, registry_url, store, options, _out)


def _options(args: Any) -> Any:
    from mlc.runtime.deploy.local import Options

    # no --port (rollback): 0, the gateway keeps its recorded port
    options = Options(replicas=getattr(args, "replicas", None), port=getattr(args, "port", 0))
    for name, variable in (("heartbeat_interval", "MLC_HEARTBEAT_INTERVAL"), ("heartbeat_ttl", "MLC_HEARTBEAT_TTL"),
                           ("wait_timeout", "MLC_DEPLOY_WAIT_TIMEOUT"), ("drain_seconds", "MLC_DEPLOY_DRAIN")):
        if os.environ.get(variable):
            setattr(options, name, float(os.environ[variable]))
    return options


def _prepare(args: Any, report) -> tuple[Any, Any, str, str, str] | int:
    """(build result with the run's fitted IR, registry, its URL, build dir, output) or an exit code."""
    from mlc.cli.runtime import RuntimeProblem, _serving_build
    from mlc.runtime.deploy.local import DeployError

    result = _built(args, report)
    if result is None:
        return 1
    output = _output(args)
    try:
        _, build_dir = _serving_build(result, output)
    except RuntimeProblem as problem:
        report([problem.diagnostic], result.sources, "text")
        return 1
    try:
        registry, url = _registry(args, result.ir.name)
    except DeployError as err:
        return _report(err, report, result.sources)
    return result, registry, url, build_dir, output


# --------------------------------------------------------------------------- deploy


def cmd_deploy(args: Any, report) -> int:
    if args.target == "k8s":
        return _k8s_deploy(args, report)
    from mlc.runtime.deploy.local import DeployError, _registry_call, desired_versions

    prepared = _prepare(args, report)
    if isinstance(prepared, int):
        return prepared
    result, registry, url, build_dir, output = prepared
    try:
        registered = _registry_call("registering the run's exports", lambda: registry.register_run(result.ir, output))
        created = [v for v, new in registered if new]
        for version in created:
            _out(f"registered {version.shard}/{version.model} version {version.version}")
        deployment = _deployment(args, result, registry, url, build_dir, output, _options(args))
        desired, notes = desired_versions(registry, result.ir, promote=not args.dry_run, skipped=_skipped(output))
        for note in notes:
            _out(note)
        if args.dry_run:
            for line in deployment.plan(desired):
                _out("plan: " + line)
            return 0
        changes = deployment.apply(desired)
    except DeployError as err:
        return _report(err, report, result.sources)
    except KeyboardInterrupt:
        _out("interrupted: the previously routed versions keep serving; deploy again to converge")
        return 130
    finally:
        registry.close()
    for change in changes:
        _out(change.line())
    _services(deployment.state)
    return 0


def _services(state: dict) -> None:
    gateway = state.get("gateway") or {}
    if gateway:
        _out(f"gateway: {gateway['url']}/v1/predict  (status {gateway['url']}/v1/status, log {gateway['log']})")
    for rid, record in sorted(state.get("tritons", {}).items()):
        _out(f"triton {rid}: grpc {record['grpc']}, http {record['http']} (pid {record['pid']}, log {record['log']})")


# --------------------------------------------------------------------------- status


def cmd_status(args: Any, report) -> int:
    if args.target == "k8s":
        return _k8s_status(args, report)
    from mlc.runtime.deploy.local import DeployError

    result = _built(args, report)
    if result is None:
        return 1
    from mlc.core.ir import load_ir

    mldl = os.path.join(_output(args), "mldl.json")
    if os.path.isfile(mldl):
        result.ir = load_ir(mldl)
    try:
        registry, url = _registry(args, result.ir.name)
        try:
            deployment = _deployment(args, result, registry, url, "", _output(args))
            status = deployment.status()
        finally:
            registry.close()
    except DeployError as err:
        return _report(err, report, result.sources)
    if args.format == "json":
        sys.stdout.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_status(status))
    return 0


def render_status(status: dict) -> str:
    gateway = status["gateway"]
    from mlc.runtime.urls import redact_url

    lines = [f"{status['app']}: registry {redact_url(str(status['registry']))}",
             f"gateway: {gateway.get('url') or '-'} " + ("(running)" if gateway.get("running") else "(not running)"),
             ""]
    for entry in status["models"]:
        mark = "ok" if entry["consistent"] else "INCONSISTENT: " + "; ".join(entry["problems"])
        show = lambda v: "-" if v is None else str(v)    # noqa: E731
        lines.append(f"{entry['shard']}/{entry['model']}: desired {show(entry['desired'])}, "
                     f"routed {show(entry['routed'])}  {mark}")
        for replica in entry["replicas"]:
            age = replica["heartbeat_age_s"]
            beat = f"heartbeat {age:.1f} s ago" if age is not None else "no live heartbeat"
            loaded = ",".join(map(str, replica["loaded"])) or "-"
            lines.append(f"  {replica['replica']:<12} {replica['address'] or '-':<22} loaded {loaded:<8} {beat}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- rollback


def cmd_rollback(args: Any, report) -> int:
    if args.target == "k8s":
        return _k8s_rollback(args, report)
    from mlc.runtime.deploy.local import DeployError, PRODUCTION, _registry_call, targets

    if args.to is not None:
        from mlc.core.diagnostics import SourceMap

        report([Diagnostic("E7218", "`--to RELEASE` is for `--target k8s` (releases are Kubernetes records)",
                           hint="locally, `mlc rollback SPEC` moves `production` back one version per model; "
                                "`mlc models promote` picks any version")], SourceMap(), "text")
        return 1
    prepared = _prepare(args, report)
    if isinstance(prepared, int):
        return prepared
    result, registry, url, build_dir, output = prepared
    from mlc.runtime.model_registry import RegistryError, RegistryUnavailable

    try:
        desired, moved = {}, []
        for shard, model in targets(result.ir):
            try:
                event = registry.rollback(model, shard, PRODUCTION, "mlc rollback")
                moved.append(f"{shard}/{model}: production {event.previous} -> {event.version}")
            except RegistryUnavailable as err:
                raise DeployError("E7211", f"model registry unreachable: {err.message}", err.hint) from None
            except RegistryError:
                pass                            # no previous version: stays
            version = _registry_call("reading aliases", lambda: registry.resolve(model, shard, PRODUCTION))
            if version is not None:
                desired[(shard, model)] = version
        if not moved:
            raise DeployError("E7218", "nothing to roll back: no model's `production` alias has a previous version")
        for line in moved:
            _out(line)
        deployment = _deployment(args, result, registry, url, build_dir, output, _options(args))
        if not deployment.state.get("tritons"):
            _out("nothing deployed locally: the aliases moved; `mlc deploy` ships them")
            return 0
        changes = deployment.apply(desired)
    except DeployError as err:
        return _report(err, report, result.sources)
    finally:
        registry.close()
    for change in changes:
        _out(change.line())
    return 0


# --------------------------------------------------------------------------- stop


def cmd_stop(args: Any, report) -> int:
    from mlc.runtime.deploy.local import DeployError, stop

    try:
        stopped = stop(args.spec, _out)
    except DeployError as err:
        return _report(err, report)
    _out(f"stopped {stopped} service(s)")
    return 0


# --------------------------------------------------------------------------- k8s


def _k8s(report) -> Any:
    try:
        from mlc.runtime.deploy import k8s
    except ImportError as err:
        raise _Problem("E7001", f"`--target k8s` needs {err.name}", "pip install kubernetes") from None
    return k8s


def _k8s_deploy(args: Any, report) -> int:
    from mlc.cli.runtime import RuntimeProblem, _serving_build

    result = _built(args, report)
    if result is None:
        return 1
    try:
        k8s = _k8s(report)
        versions = None
        _, build_dir = _serving_build(result, _output(args))
        try:
            registry, _ = _registry(args, result.ir.name)
            from mlc.runtime.deploy.local import desired_versions

            desired, _ = desired_versions(registry, result.ir, promote=not args.dry_run,
                                          skipped=_skipped(_output(args)))
            versions = {f"{model}@{shard}": version for (shard, model), version in desired.items()}
            registry.close()
        except Exception as err:  # the registry is optional for k8s: the build's versions then
            _out(f"note: model versions not from the registry ({getattr(err, 'message', err)})")
        return k8s.deploy(build_dir, result.ir.name, context=args.kube_context, dry_run=args.dry_run, wait=args.wait,
                          timeout=args.timeout, versions=versions)
    except (_Problem, RuntimeProblem) as problem:
        report([problem.diagnostic], result.sources, "text")
        return 1


def _k8s_status(args: Any, report) -> int:
    result = _built(args, report)
    if result is None:
        return 1
    try:
        k8s = _k8s(report)
        status = k8s.status(result.ir.name, context=args.kube_context)
    except _Problem as problem:
        report([problem.diagnostic], result.sources, "text")
        return 1
    except Exception as err:
        report([Diagnostic("E7220", f"Kubernetes status failed: {err}")], result.sources, "text")
        return 1
    sys.stdout.write(json.dumps(status, indent=2, sort_keys=True, default=str) + "\n")
    return 0


def _k8s_rollback(args: Any, report) -> int:
    result = _built(args, report)
    if result is None:
        return 1
    try:
        k8s = _k8s(report)
    except _Problem as problem:
        report([problem.diagnostic], result.sources, "text")
        return 1
    return k8s.rollback(result.ir.name, to=args.to, context=args.kube_context, wait=args.wait,
                        timeout=getattr(args, "timeout", 600.0))
