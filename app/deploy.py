"""`deploy`, `status`, `rollback`, `stop` (docs/deploy.md).

Target ``local`` (the default): :mod:`mlc.runtime.deploy.local` -- a real Triton per shard
replica in explicit model-control mode, the gateway, safe version switches driven by the model
registry. Target ``k8s``: :mod:`mlc.runtime.deploy.k8s` (its client library is imported only then).

Every problem is an MlcError (E7210-E7229 here, the registry's E72xx from its own module, the
build's diagnostics), never a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mlc.app.common import built, default_run_dir, default_store_url, Diagnostics, Failed, Progress, quiet, unshown
from mlc.app.serve import serving_build
from mlc.app.stream import stream_status
from mlc.core.errors import MlcError
from mlc.core.ir import load_ir
from mlc.runtime.deploy import k8s
from mlc.runtime.deploy.state import load_state
from mlc.runtime.model_registry import (
    default_registry_url, open_registry as open_, redact, RegistryError, RegistryUnavailable,
)
from mlc.runtime.training.skipped import read_skipped


@dataclass
class DeployOptions:
    spec: str
    target: str = "local"                  # local | k8s
    dry_run: bool = False
    wait: bool = False                     # k8s: wait for rollouts and readiness
    output: str | None = None              # the run folder (default: .mlc/<name>/data beside the spec)
    store: str | None = None
    port: int | None = None                # local gateway port (None: the running gateway's, else 8080)
    replicas: int | None = None
    kube_context: str | None = None
    timeout: float = 600.0                 # k8s --wait
    registry: str | None = None
    env: str | None = None


def run_dir(spec: str, output: str | None = None) -> str:
    return os.path.abspath(output or default_run_dir(spec))


def _skipped(output: str) -> dict:
    """The (model, shard) pairs the run's training skipped (no training rows), with why."""

    return read_skipped(os.path.join(output, "models"))


def open_registry(spec: str, registry: str | None, app: str) -> tuple[Any, str]:
    """(the model registry, its URL): ``registry``, else $MLC_REGISTRY, else beside the spec."""
    from mlc.runtime.deploy.local import DeployError

    url = registry or default_registry_url(spec)
    try:
        return open_(url, app), url
    except RegistryError as err:
        raise DeployError("E7211", f"model registry `{redact(url)}` unreachable: {err.message}",
                          err.hint or "start it (or fix --registry / MLC_REGISTRY); nothing was changed") from None


def _deployment(spec: str, result: Any, registry: Any, registry_url: str, build_dir: str, output: str,
                store: str | None, options: Any, progress: Progress, deployed_store: bool = False) -> Any:
    """The local deployment; its store ``store``, else $MLC_REDIS_URL, else (``deployed_store``:
    rollback, status) the deployed one, else the default beside the spec."""
    from mlc.runtime.deploy.local import LocalDeployment

    store = store or os.environ.get("MLC_REDIS_URL")
    if store is None and deployed_store:
        try:
            store = (load_state(spec) or {}).get("store")
        except ValueError:
            store = None
    store = store or default_store_url(spec)
    return LocalDeployment(spec, result.ir, build_dir, output, registry, registry_url, store, options, progress)


def _options(replicas: int | None, port: int | None) -> Any:
    from mlc.runtime.deploy.local import Options

    options = Options(replicas=replicas, port=port)
    for name, variable in (("heartbeat_interval", "MLC_HEARTBEAT_INTERVAL"), ("heartbeat_ttl", "MLC_HEARTBEAT_TTL"),
                           ("wait_timeout", "MLC_DEPLOY_WAIT_TIMEOUT"), ("drain_seconds", "MLC_DEPLOY_DRAIN")):
        if os.environ.get(variable):
            setattr(options, name, float(os.environ[variable]))
    return options


def _prepare(spec: str, env: str | None, output: str, registry: str | None,
             diagnostics: Diagnostics) -> tuple[Any, Any, str, str]:
    """(build result with the run's fitted IR, registry, its URL, build dir)."""

    result = built(spec, env, diagnostics)
    _, build_dir = serving_build(result, output)
    opened, url = open_registry(spec, registry, result.ir.name)
    return result, opened, url, build_dir


# --------------------------------------------------------------------------- deploy


def deploy(options: DeployOptions, progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> int:
    """Ship the registry's production versions; the exit status (0, or what the k8s deploy ended
    with). Interrupted: Failed(130), the previously routed versions keep serving."""
    if options.target == "k8s":
        return _k8s_deploy(options, progress, diagnostics)
    from mlc.runtime.deploy.local import desired_versions, registry_call

    output = run_dir(options.spec, options.output)
    result, registry, url, build_dir = _prepare(options.spec, options.env, output, options.registry, diagnostics)
    try:
        registered = registry_call("registering the run's exports", lambda: registry.register_run(result.ir, output))
        created = [v for v, new in registered if new]
        for version in created:
            progress(f"registered {version.shard}/{version.model} version {version.version}")
        deployment = _deployment(options.spec, result, registry, url, build_dir, output, options.store,
                                 _options(options.replicas, options.port), progress)
        desired, notes = desired_versions(registry, result.ir, promote=not options.dry_run, skipped=_skipped(output))
        for note in notes:
            progress(note)
        if options.dry_run:
            for line in deployment.plan(desired):
                progress("plan: " + line)
            return 0
        changes = deployment.apply(desired)
    except KeyboardInterrupt:
        progress("interrupted: the previously routed versions keep serving; deploy again to converge")
        raise Failed(130, "interrupted") from None
    finally:
        registry.close()
    for change in changes:
        progress(change.line())
    _services(deployment.state, progress)
    return 0


def _services(state: dict, progress: Progress) -> None:
    gateway = state.get("gateway") or {}
    if gateway:
        progress(f"gateway: {gateway['url']}/v1/predict  (status {gateway['url']}/v1/status, log {gateway['log']})")
    for rid, record in sorted(state.get("tritons", {}).items()):
        progress(f"triton {rid}: grpc {record['grpc']}, http {record['http']} (pid {record['pid']}, log {record['log']})")


# --------------------------------------------------------------------------- status


def status(spec: str, *, target: str = "local", kube_context: str | None = None, registry: str | None = None,
           env: str | None = None, progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> dict:
    """What runs: desired versions and what each replica reports (k8s: the cluster's status);
    locally also the streaming job's report (``stream``, :func:`mlc.app.stream.stream_status`)
    when the spec has stream sources."""
    result = built(spec, env, diagnostics)
    if target == "k8s":
        try:
            return k8s.status(result.ir.name, context=kube_context)
        except Exception as err:
            raise MlcError(f"Kubernetes status failed: {err}", code="E7220") from None

    output = run_dir(spec)
    mldl = os.path.join(output, "mldl.json")
    if os.path.isfile(mldl):
        result.ir = load_ir(mldl)
    opened, url = open_registry(spec, registry, result.ir.name)
    try:
        deployment = _deployment(spec, result, opened, url, "", output, None, None, progress, deployed_store=True)
        found = deployment.status()
    finally:
        opened.close()
    streaming = stream_status(spec, result.ir)
    if streaming is not None:
        found["stream"] = streaming
    return found


# --------------------------------------------------------------------------- rollback


def rollback(spec: str, *, to: int | None = None, target: str = "local", kube_context: str | None = None,
             wait: bool = False, timeout: float = 600.0, registry: str | None = None, env: str | None = None,
             progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> int:
    """Locally: `production` back one version per model, and the deployment switched to them.
    k8s: the previous release (or release ``to``). The exit status."""
    if target == "k8s":
        result = built(spec, env, diagnostics)
        return k8s.rollback(result.ir.name, to=to, context=kube_context, wait=wait, timeout=timeout)
    from mlc.runtime.deploy.local import PRODUCTION, DeployError, registry_call, targets

    if to is not None:
        raise MlcError("`--to RELEASE` is for `--target k8s` (releases are Kubernetes records)", code="E7218",
                       hint="locally, `mlc rollback SPEC` moves `production` back one version per model; "
                            "`mlc models promote` picks any version")
    output = run_dir(spec)
    result, opened, url, build_dir = _prepare(spec, env, output, registry, diagnostics)
    try:
        desired, moved = {}, []
        for shard, model in targets(result.ir):
            try:
                event = opened.rollback(model, shard, PRODUCTION, "mlc rollback")
                moved.append(f"{shard}/{model}: production {event.previous} -> {event.version}")
            except RegistryUnavailable as err:
                raise DeployError("E7211", f"model registry unreachable: {err.message}", err.hint) from None
            except RegistryError:
                pass                            # no previous version: stays
            version = registry_call("reading aliases", lambda: opened.resolve(model, shard, PRODUCTION))
            if version is not None:
                desired[(shard, model)] = version
        if not moved:
            raise DeployError("E7218", "nothing to roll back: no model's `production` alias has a previous version")
        for line in moved:
            progress(line)
        # no --port: 0, the gateway keeps its recorded port
        deployment = _deployment(spec, result, opened, url, build_dir, output, None, _options(None, 0), progress,
                                 deployed_store=True)
        if not deployment.state.get("tritons"):
            progress("nothing deployed locally: the aliases moved; `mlc deploy` ships them")
            return 0
        changes = deployment.apply(desired)
    finally:
        opened.close()
    for change in changes:
        progress(change.line())
    return 0


# --------------------------------------------------------------------------- stop


def stop(spec: str, progress: Progress = quiet) -> int:
    """Stop the local services `deploy` started; how many."""
    from mlc.runtime.deploy.local import stop as stop_services

    stopped = stop_services(spec, progress)
    progress(f"stopped {stopped} service(s)")
    return stopped


# --------------------------------------------------------------------------- k8s


def _k8s_deploy(options: DeployOptions, progress: Progress, diagnostics: Diagnostics) -> int:
    result = built(options.spec, options.env, diagnostics)
    versions = None
    output = run_dir(options.spec, options.output)
    _, build_dir = serving_build(result, output)
    try:
        registry, _ = open_registry(options.spec, options.registry, result.ir.name)
        from mlc.runtime.deploy.local import desired_versions

        desired, _ = desired_versions(registry, result.ir, promote=not options.dry_run, skipped=_skipped(output))
        versions = {f"{model}@{shard}": version for (shard, model), version in desired.items()}
        registry.close()
    except Exception as err:  # the registry is optional for k8s: the build's versions then
        progress(f"note: model versions not from the registry ({getattr(err, 'message', err)})")
    return k8s.deploy(build_dir, result.ir.name, context=options.kube_context, dry_run=options.dry_run,
                      wait=options.wait, timeout=options.timeout, versions=versions)
