"""Talking to the API server: server-side apply (field manager ``mlc``), prune, release records,
rollout waits, rollback and status. ``kubernetes`` is imported lazily (only here, only when
called); requests go through ``ApiClient.call_api`` with raw JSON so CRDs (MPIJob,
SparkApplication) need no generated models, and kinds are resolved by API discovery."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from . import releases as rel
from .plan import (APP_LABEL, FIELD_MANAGER, KIND_ORDER, NEVER_PRUNED, PART_OF, Plan, label_objects,
                   load_manifests, object_key, plan as make_plan, render_plan)
from mlc.backends.k8s_layout import PART_OF_VALUE
from mlc.core.errors import MlcError

POLL_SECONDS = 2.0           # --wait poll interval (tests lower it)
REQUEST_TIMEOUT = (10, 60)   # (connect, read) seconds per API request


class KubeError(MlcError):
    """An API request failed (HTTP status ``status``; 0 when there was no response)."""
    code = "E7220"

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class KubeUnreachable(KubeError):
    """No connection to the API server (refused, DNS, TLS, timeout, no kubeconfig)."""


# --------------------------------------------------------------------------- client

def connect(api_client=None, context: str | None = None):
    """``api_client`` as given, else one from kubeconfig (``context`` or the current one),
    else the in-cluster service account."""
    if api_client is not None:
        return api_client
    from kubernetes import client, config

    try:
        # $KUBECONFIG read now (the client reads it once, at import)
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None, context=context)
    except Exception as exc:  # noqa: BLE001 - kubeconfig missing/invalid; try in-cluster
        try:
            config.load_incluster_config()
        except Exception:  # noqa: BLE001
            where = f"context {context!r}" if context else "the current context"
            raise KubeUnreachable(f"no Kubernetes configuration: kubeconfig ({where}): {exc}; "
                                  "not running in a cluster either") from None
    return client.ApiClient()


class Kube:
    """Thin raw-JSON client over ``kubernetes.client.ApiClient``."""

    def __init__(self, api_client):
        self.api = api_client
        self.host = getattr(api_client.configuration, "host", "?")
        self._resources: dict[str, dict[str, tuple[str, bool]] | None] = {}

    def request(self, method: str, path: str, *, query: list | None = None, body: Any = None,
                content_type: str | None = None) -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = self.api.call_api(path, method, query_params=query or [], header_params=headers, body=body,
                                     auth_settings=["BearerToken"], _preload_content=False,
                                     _return_http_data_only=True, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 0:
                raise KubeUnreachable(f"cannot reach the Kubernetes API at {self.host}: {exc.reason}") from None
            message = exc.reason or ""
            try:
                message = json.loads(exc.body).get("message") or message
            except (TypeError, ValueError, AttributeError):
                pass
            raise KubeError(f"{method} {path}: HTTP {exc.status}: {message}", exc.status) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise KubeUnreachable(f"cannot reach the Kubernetes API at {self.host}: {reason}") from None
        data = resp.data
        return json.loads(data) if data else None

    # discovery
    def resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced) of ``kind`` served at ``api_version``; None when not served."""
        if api_version not in self._resources:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listing = self.request("GET", path) or {}
            except KubeError as exc:
                if exc.status != 404:
                    raise
                self._resources[api_version] = None
            else:
                self._resources[api_version] = {r["kind"]: (r["name"], bool(r.get("namespaced")))
                                                for r in listing.get("resources", []) if "/" not in r["name"]}
        kinds = self._resources[api_version]
        return None if kinds is None else kinds.get(kind)

    def _path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        found = self.resource(api_version, kind)
        if found is None:
            raise KubeError(f"the cluster does not serve {kind} ({api_version}): is its CRD/operator installed?", 404)
        plural, namespaced = found
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced and namespace:
            base += f"/namespaces/{namespace}"
        path = f"{base}/{plural}"
        return f"{path}/{name}" if name else path

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        try:
            obj = self.request("GET", self._path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404 and not isinstance(exc, KubeUnreachable):
                return None
            raise
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        return obj

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str) -> list[dict]:
        result = self.request("GET", self._path(api_version, kind, namespace), query=[("labelSelector", selector)])
        items = (result or {}).get("items") or []
        for item in items:                       # list items carry no apiVersion/kind
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def apply(self, obj: dict, *, dry_run: bool = False) -> dict:
        meta = obj["metadata"]
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request("PATCH", self._path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]),
                            query=query, body=obj, content_type="application/apply-patch+yaml")

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        try:
            self.request("DELETE", self._path(api_version, kind, namespace, name),
                         body={"propagationPolicy": "Background"})
        except KubeError as exc:
            if exc.status == 404 and not isinstance(exc, KubeUnreachable):
                return False
            raise
        return True


# --------------------------------------------------------------------------- helpers

def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _namespaced(kube: Kube, objects: list[dict]) -> None:
    """Give namespaced objects without a namespace ``default``; fail on kinds the cluster lacks."""
    for obj in objects:
        found = kube.resource(obj["apiVersion"], obj["kind"])
        if found is None:
            raise KubeError(f"the cluster does not serve {obj['kind']} ({obj['apiVersion']}) "
                            f"needed by {obj['metadata']['name']}: is its CRD/operator installed?", 404)
        if found[1] and not obj["metadata"].get("namespace"):
            obj["metadata"]["namespace"] = "default"


def _home_namespace(objects: list[dict]) -> str:
    counts: dict[str, int] = {}
    for obj in objects:
        ns = obj.get("metadata", {}).get("namespace")
        if ns:
            counts[ns] = counts.get(ns, 0) + 1
    return max(sorted(counts), key=lambda ns: counts[ns]) if counts else "default"


def _list_releases(kube: Kube, app: str, namespace: str | None) -> list[rel.Release]:
    return rel.releases_of(kube.list("v1", "ConfigMap", namespace, rel.release_selector(app)), app)


def _live(kube: Kube, desired: list[dict], app: str, previous: list[dict], out: TextIO) -> list[dict]:
    """The desired objects that exist, and every object labelled as the application's in the
    namespaces of ``desired`` and ``previous`` (for pruning)."""
    found: dict[tuple, dict] = {}
    for obj in desired:
        meta = obj["metadata"]
        live = kube.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        if live is not None:
            found[object_key(live)] = live
    namespaces = sorted({o["metadata"].get("namespace") for o in desired + previous if o["metadata"].get("namespace")})
    kinds: dict[tuple[str, str], None] = {k: None for k in KIND_ORDER}
    kinds.update({(o["apiVersion"], o["kind"]): None for o in desired + previous})
    selector = f"{PART_OF}={PART_OF_VALUE},{APP_LABEL}={app}"
    for api_version, kind in kinds:
        if kind in NEVER_PRUNED:
            continue
        res = kube.resource(api_version, kind)
        if res is None:
            continue                      # not served: nothing of that kind can exist
        for ns in (namespaces if res[1] else [None]):
            try:
                items = kube.list(api_version, kind, ns, selector)
            except KubeError as exc:
                if exc.status in (401, 403):
                    _say(out, f"warning: cannot list {kind} in {ns or 'the cluster'} ({exc}); not pruning those")
                    continue
                raise
            for item in items:
                found.setdefault(object_key(item), item)
    return list(found.values())


def manifest_sha256(build_dir: str) -> str:
    path = Path(build_dir) / "manifest.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


class _ApplyFailed(Exception):
    def __init__(self, cause: KubeError, done: list[str], left: list[str]):
        super().__init__(str(cause))
        self.cause, self.done, self.left = cause, done, left


def _execute(kube: Kube, p: Plan, out: TextIO) -> list[str]:
    """Apply creates/updates in order, then prune. Raises :class:`_ApplyFailed` naming what was
    and was not done."""
    steps = p.applies + p.of("delete")
    done: list[str] = []
    for i, action in enumerate(steps):
        try:
            if action.op == "delete":
                kube.delete(action.api_version, action.kind, action.namespace, action.name)
            else:
                kube.apply(action.obj)
        except KubeError as exc:
            raise _ApplyFailed(exc, done, [f"{a.op} {a.ref}" for a in steps[i:]]) from None
        done.append(f"{action.op} {action.ref}")
        _say(out, f"  {action.op}d {action.ref}" if action.op != "delete" else f"  deleted {action.ref}")
    return done


def _report_failure(out: TextIO, failure: _ApplyFailed) -> int:
    _say(out, f"error: {failure.cause}")
    _say(out, "applied before the error: " + ("; ".join(failure.done) if failure.done else "nothing"))
    _say(out, "not applied: " + "; ".join(failure.left))
    _say(out, "no release was recorded for these changes; run the command again once the cause is fixed")
    return 2 if isinstance(failure.cause, KubeUnreachable) else 1


def _record(kube: Kube, app: str, n: int, namespace: str, objects: list[dict], *, versions: dict | None,
            manifest: str, source: str, out: TextIO, status: str = "deployed") -> dict:
    cm = rel.release_configmap(app, n, namespace, objects, versions=versions, manifest_sha256=manifest,
                               status=status, source=source)
    kube.apply(cm)
    _say(out, f"release {n} recorded (ConfigMap {namespace}/{cm['metadata']['name']})")
    return cm


def rollout_state(deployment: dict) -> tuple[str, str]:
    """("ready" | "progressing" | "failed", detail) of a Deployment, as ``kubectl rollout status``
    judges it."""
    meta, spec, st = deployment.get("metadata") or {}, deployment.get("spec") or {}, deployment.get("status") or {}
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("status") == "False" \
                and cond.get("reason") == "ProgressDeadlineExceeded":
            return "failed", f"ProgressDeadlineExceeded: {cond.get('message', '')}".rstrip(": ")
    if st.get("observedGeneration", 0) < meta.get("generation", 0):
        return "progressing", "waiting for the controller to observe the new generation"
    want = spec.get("replicas", 1)
    updated, total, available = st.get("updatedReplicas", 0), st.get("replicas", 0), st.get("availableReplicas", 0)
    if updated < want:
        return "progressing", f"{updated}/{want} replicas updated"
    if total > updated:
        return "progressing", f"{total - updated} old replicas pending termination"
    if available < want:
        return "progressing", f"{available}/{want} replicas available"
    return "ready", f"{available}/{want} replicas available"


def wait_for_rollouts(kube: Kube, objects: list[dict], timeout: float, out: TextIO) -> tuple[bool, str]:
    """Poll the Deployments among ``objects`` until every one is rolled out and available,
    one fails (ProgressDeadlineExceeded), or ``timeout`` seconds pass."""
    pending = [(o["apiVersion"], o["metadata"].get("namespace"), o["metadata"]["name"])
               for o in objects if o["kind"] == "Deployment"]
    if not pending:
        return True, "no Deployments to wait for"
    _say(out, f"waiting up to {timeout:g}s for {len(pending)} Deployment(s) to roll out")
    deadline = time.monotonic() + timeout
    details: dict[tuple, str] = {}
    while True:
        still = []
        for api_version, ns, name in pending:
            live = kube.get(api_version, "Deployment", ns, name)
            if live is None:
                return False, f"Deployment {ns}/{name} disappeared while waiting"
            state, detail = rollout_state(live)
            if state == "failed":
                return False, f"Deployment {ns}/{name} failed to roll out: {detail}"
            if state != "ready":
                still.append((api_version, ns, name))
                details[(ns, name)] = detail
            else:
                _say(out, f"  Deployment {ns}/{name} rolled out ({detail})")
        pending = still
        if not pending:
            return True, "all Deployments rolled out"
        left = deadline - time.monotonic()
        if left <= 0:
            waiting = "; ".join(f"{ns}/{name}: {details[(ns, name)]}" for _, ns, name in pending)
            return False, f"timed out after {timeout:g}s waiting for {waiting}"
        time.sleep(min(POLL_SECONDS, left))


# --------------------------------------------------------------------------- entry points

def deploy(build_dir: str, app: str, *, api_client=None, context: str | None = None, dry_run: bool | str = False,
           wait: bool = False, timeout: float = 600.0, versions: dict | None = None, out: TextIO = sys.stderr) -> int:
    """Make the cluster match ``<build_dir>/k8s/`` (see docs/deploy.md, "Deploy to Kubernetes").

    Returns 0 (done, or nothing to do), 1 (an apply was refused, or the rollout failed: the
    previous release was restored), 2 (no build, no connection to the API server).
    ``dry_run=True`` prints the plan only; ``dry_run="server"`` also sends each apply with
    ``dryRun=All`` so the API server validates it (nothing is persisted)."""
    try:
        desired = label_objects(load_manifests(build_dir), app)
    except (OSError, ValueError) as exc:
        _say(out, f"error: {exc}")
        return 2
    except Exception as exc:  # noqa: BLE001 - YAML errors
        _say(out, f"error: {build_dir}/k8s: {exc}")
        return 2
    try:
        kube = Kube(connect(api_client, context))
        _namespaced(kube, desired)
        namespace = _home_namespace(desired)
        history = _list_releases(kube, app, namespace)
        latest = history[-1] if history else None
        live = _live(kube, desired, app, latest.objects if latest else [], out)
    except KubeError as exc:
        _say(out, f"error: {exc}")
        return 2 if isinstance(exc, KubeUnreachable) else 1

    p = make_plan(desired, live, app)
    _say(out, render_plan(p))
    versions_changed = versions is not None and latest is not None and versions != latest.versions

    if dry_run:
        if dry_run == "server":
            bad = 0
            for action in p.applies:
                try:
                    kube.apply(action.obj, dry_run=True)
                except KubeError as exc:
                    bad += 1
                    _say(out, f"server dry run: {action.ref}: {exc}")
            _say(out, f"server dry run: {len(p.applies) - bad} of {len(p.applies)} applies accepted")
            if bad:
                return 1
        _say(out, "dry run: nothing was changed")
        return 0

    sha = manifest_sha256(build_dir)
    try:
        if not p.has_changes and latest is not None and not versions_changed:
            _say(out, "no changes")
            if wait:
                ok, message = wait_for_rollouts(kube, p.desired, timeout, out)
                _say(out, message)
                return 0 if ok else 1
            return 0
        if p.has_changes:
            try:
                _execute(kube, p, out)
            except _ApplyFailed as failure:
                return _report_failure(out, failure)
        elif latest is None:
            _say(out, "no changes to apply; recording the live state as the first release")
        else:
            _say(out, "no object changes; model versions changed")
        n = (history[-1].n if history else 0) + 1
        try:
            cm = _record(kube, app, n, namespace, p.desired, versions=versions, manifest=sha, source="deploy", out=out)
        except KubeError as exc:
            _say(out, f"error: every change was applied, but release record {n} could not be written: {exc}")
            return 2 if isinstance(exc, KubeUnreachable) else 1
        if not wait:
            return 0
        ok, message = wait_for_rollouts(kube, p.desired, timeout, out)
        _say(out, message)
        if ok:
            return 0
        cm["data"]["status"] = "failed"
        kube.apply(cm)
        _say(out, f"release {n} failed")
        previous = rel.previous_release(history + [rel.parse_release(cm)])
        if previous is None:
            _say(out, "no previous release to restore; the failed release stays applied")
            return 1
        _say(out, f"rolling back automatically to release {previous.n}")
        try:
            _restore(kube, app, previous, n + 1, namespace, source=f"auto-rollback of release {n}", out=out)
        except _ApplyFailed as failure:
            _say(out, f"error: the automatic rollback to release {previous.n} failed too")
            _report_failure(out, failure)
            return 2 if isinstance(failure.cause, KubeUnreachable) else 1
        _say(out, f"release {previous.n} restored (as release {n + 1}); the deploy failed")
        return 1
    except _ApplyFailed as failure:
        return _report_failure(out, failure)
    except KubeError as exc:
        _say(out, f"error: {exc}")
        return 2 if isinstance(exc, KubeUnreachable) else 1


def _restore(kube: Kube, app: str, release: rel.Release, n: int, namespace: str, *, source: str,
             out: TextIO) -> None:
    """Apply ``release``'s objects, prune what it lacks, record it as release ``n``."""
    desired = label_objects(release.objects, app)
    _namespaced(kube, desired)
    history = _list_releases(kube, app, namespace)
    current = history[-1].objects if history else []
    live = _live(kube, desired, app, current, out)
    p = make_plan(desired, live, app)
    _say(out, render_plan(p))
    _execute(kube, p, out)
    _record(kube, app, n, namespace, p.desired, versions=release.versions, manifest=release.manifest_sha256,
            source=source, out=out)


def rollback(app: str, *, to: int | None = None, api_client=None, context: str | None = None, wait: bool = False,
             timeout: float = 600.0, namespace: str | None = None, out: TextIO = sys.stderr) -> int:
    """Re-apply release ``to`` (default: the newest one before the latest that did not fail) as
    a new release record, pruning objects it lacks. ``namespace``: where the release records
    are (default: search every namespace). Returns 0, 1 (no such release, refused, rollout
    failed), 2 (no connection)."""
    try:
        kube = Kube(connect(api_client, context))
        history = _list_releases(kube, app, namespace)
        if not history:
            _say(out, f"error: no releases of {app} recorded" + (f" in {namespace}" if namespace else ""))
            return 1
        if to is None:
            target = rel.previous_release(history)
            if target is None:
                _say(out, f"error: release {history[-1].n} is the only release of {app}; nothing to roll back to")
                return 1
        else:
            target = next((r for r in history if r.n == to), None)
            if target is None:
                _say(out, f"error: no release {to} of {app} (releases: {', '.join(str(r.n) for r in history)})")
                return 1
        n = history[-1].n + 1
        _say(out, f"rolling back {app} to release {target.n} (as release {n})")
        _restore(kube, app, target, n, target.namespace or namespace or "default",
                 source=f"rollback to release {target.n}", out=out)
        if wait:
            ok, message = wait_for_rollouts(kube, label_objects(target.objects, app), timeout, out)
            _say(out, message)
            return 0 if ok else 1
        return 0
    except _ApplyFailed as failure:
        return _report_failure(out, failure)
    except KubeError as exc:
        _say(out, f"error: {exc}")
        return 2 if isinstance(exc, KubeUnreachable) else 1


def status(app: str, *, api_client=None, context: str | None = None, namespace: str | None = None) -> dict:
    """``{"app", "releases": [{n, created, status, source, versions, manifest_sha256, objects, ...}],
    "deployments": [{namespace, name, desired, ready, updated, available, state, detail}]}``.
    Deployments are those labelled as the application's in the namespaces of its latest release
    (or ``namespace``). Raises :class:`KubeError` / :class:`KubeUnreachable`."""
    kube = Kube(connect(api_client, context))
    history = _list_releases(kube, app, namespace)
    namespaces = {namespace} if namespace else set()
    if history:
        namespaces |= {o["metadata"].get("namespace") for o in history[-1].objects if o["metadata"].get("namespace")}
        namespaces.add(history[-1].namespace)
    deployments = []
    for ns in sorted(n for n in namespaces if n):
        for d in kube.list("apps/v1", "Deployment", ns, f"{PART_OF}={PART_OF_VALUE},{APP_LABEL}={app}"):
            st, spec = d.get("status") or {}, d.get("spec") or {}
            state, detail = rollout_state(d)
            deployments.append({"namespace": ns, "name": d["metadata"]["name"], "desired": spec.get("replicas", 1),
                                "ready": st.get("readyReplicas", 0), "updated": st.get("updatedReplicas", 0),
                                "available": st.get("availableReplicas", 0), "state": state, "detail": detail})
    return {"app": app, "releases": [r.summary() for r in history], "deployments": deployments}
