"""A FAKE Kubernetes API server for the deploy tests. It is not Kubernetes and proves nothing
about a real cluster: it serves, from memory, just what ``mlc.runtime.deploy.k8s`` calls.

* discovery: ``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>/<version>`` for the kinds below
  (the CRD groups ``kubeflow.org/v2beta1`` and ``sparkoperator.k8s.io/v1beta2`` unless
  ``crds=False``);
* ``GET`` an object; ``GET`` a list (one namespace or all) with ``labelSelector`` (``k=v``,
  ``k!=v``, ``k``, ``!k``); list items carry no apiVersion/kind, as with the real server;
* ``PATCH`` with ``application/apply-patch+yaml`` (server-side apply): creates or replaces the
  fields of the object with the applied ones (one field manager only, no conflict detection, no
  merge with other managers), keeps uid/creationTimestamp/status, adds a few defaulted fields
  (a Deployment's ``progressDeadlineSeconds``, a container's ``terminationMessagePath``, a
  Service's ``clusterIP`` ...) and a controller annotation, bumps ``resourceVersion`` when the
  object changed and ``generation`` when its spec changed, records ``managedFields`` (manager,
  ``Apply``, a simplified ``fieldsV1`` where lists are atomic); ``dryRun=All`` stores nothing;
* ``DELETE``.

Deployment rollouts are simulated when a Deployment's generation changes: ``rollout`` (or
``rollout_for[name]``) is ``"ready"`` (status at once: observedGeneration, updated = available =
replicas), ``"fail"`` (condition ``Progressing=False, reason=ProgressDeadlineExceeded``) or
``"pending"`` (never available); ``ready_after_gets`` > 0 makes "ready" appear only after that
many GETs of the Deployment. ``drop_after_applies`` = N closes the connection without an answer
on every apply after the N-th (a server that went away mid-deploy).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

CORE = {"v1": [("Namespace", "namespaces", False), ("ConfigMap", "configmaps", True),
               ("Secret", "secrets", True), ("Service", "services", True),
               ("ServiceAccount", "serviceaccounts", True),
               ("PersistentVolumeClaim", "persistentvolumeclaims", True)]}
GROUPS = {"apps/v1": [("Deployment", "deployments", True), ("StatefulSet", "statefulsets", True)],
          "autoscaling/v2": [("HorizontalPodAutoscaler", "horizontalpodautoscalers", True)],
          "policy/v1": [("PodDisruptionBudget", "poddisruptionbudgets", True)],
          "batch/v1": [("Job", "jobs", True)]}
CRDS = {"kubeflow.org/v2beta1": [("MPIJob", "mpijobs", True)],
        "sparkoperator.k8s.io/v1beta2": [("SparkApplication", "sparkapplications", True)]}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields(value) -> dict:
    """Simplified FieldsV1 of an applied object: maps by key, lists atomic."""
    if isinstance(value, dict):
        return {f"f:{k}": _fields(v) for k, v in value.items()}
    return {}


def _selector_match(labels: dict, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeKube:
    def __init__(self, *, crds: bool = True):
        self.groups = {**CORE, **GROUPS, **(CRDS if crds else {})}
        self.kinds = {(gv, plural): (kind, namespaced)
                      for gv, rs in self.groups.items() for kind, plural, namespaced in rs}
        self.objects: dict[tuple[str, str, str, str], dict] = {}
        self.lock = threading.RLock()
        self.rollout = "ready"
        self.rollout_for: dict[str, str] = {}
        self.ready_after_gets = 0
        self.drop_after_applies: int | None = None
        self.applies = 0
        self.log: list[tuple[str, str, str]] = []          # (method, path, query)
        self.authorizations: set[str] = set()              # Authorization headers seen
        self._gets: dict[tuple, int] = {}
        self._ip = 0
        self._rv = 1000
        self.server = None
        self.thread = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "FakeKube":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # headers and body go in separate writes

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                fake.handle(self)

            do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def api_client(self):
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.url
        return client.ApiClient(cfg)

    # ---------------------------------------------------------------- test helpers
    def find(self, kind: str, namespace: str | None, name: str) -> dict | None:
        with self.lock:
            for (gv, plural, ns, n), obj in self.objects.items():
                if obj["kind"] == kind and (ns or None) == (namespace or None) and n == name:
                    return copy.deepcopy(obj)
        return None

    def all(self, kind: str | None = None) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(o) for o in self.objects.values() if kind is None or o["kind"] == kind]

    def count(self, method: str) -> int:
        return sum(1 for m, _, _ in self.log if m == method)

    # ---------------------------------------------------------------- HTTP
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            self.log.append((h.command, url.path, url.query))
            if h.headers.get("Authorization"):
                self.authorizations.add(h.headers["Authorization"])
            if h.command == "PATCH":
                self.applies += 1
                if self.drop_after_applies is not None and self.applies > self.drop_after_applies:
                    h.close_connection = True
                    h.connection.shutdown(2)
                    return
            try:
                code, payload = self.route(h.command, url.path, query, body, h.headers.get("Content-Type", ""))
            except Exception as exc:  # noqa: BLE001 - a bug in the fake: answer 500
                code, payload = 500, _status(500, f"fake server error: {exc!r}")
        data = json.dumps(payload).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def route(self, method, path, query, body, content_type):
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["api"]:
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if method == "GET" and parts == ["apis"]:
            groups = {}
            for gv in self.groups:
                if "/" in gv:
                    g, v = gv.split("/")
                    groups.setdefault(g, []).append({"groupVersion": gv, "version": v})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                         "groups": [{"name": g, "versions": vs, "preferredVersion": vs[0]} for g, vs in groups.items()]}
        if parts[:1] == ["api"] and len(parts) >= 2:
            gv, rest = parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return 404, _status(404, f"the server could not find the requested resource ({path})")
        if gv not in self.groups:
            return 404, _status(404, f"the server could not find the requested resource ({path})")
        if not rest:
            if method != "GET":
                return 405, _status(405, "method not allowed")
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                         "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": ns, "kind": kind,
                                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                                       for kind, plural, ns in self.groups[gv]]}
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
        if (gv, plural) not in self.kinds or len(rest) > 2:
            return 404, _status(404, f"the server could not find the requested resource ({path})")
        kind, namespaced = self.kinds[(gv, plural)]
        if name is not None and namespaced and namespace is None:
            return 404, _status(404, "namespaced object requested without a namespace")
        if name is None:
            if method != "GET":
                return 405, _status(405, "method not allowed")
            return 200, self._list(gv, plural, kind, namespace, query.get("labelSelector", ""))
        key = (gv, plural, namespace or "", name)
        if method == "GET":
            return self._get(key, kind)
        if method == "DELETE":
            obj = self.objects.pop(key, None)
            if obj is None:
                return 404, _status(404, f'{plural} "{name}" not found', name=name, kind=plural)
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                         "details": {"name": name, "kind": plural, "uid": obj["metadata"].get("uid")}}
        if method == "PATCH":
            if content_type.split(";")[0].strip() != "application/apply-patch+yaml":
                return 415, _status(415, f"the fake only supports server-side apply, not {content_type!r}")
            if not query.get("fieldManager"):
                return 400, _status(400, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value")
            return self._apply(key, gv, kind, namespace, name, body, query)
        return 405, _status(405, "method not allowed")

    def _get(self, key, kind):
        obj = self.objects.get(key)
        if obj is None:
            return 404, _status(404, f'{key[1]} "{key[3]}" not found', name=key[3], kind=key[1])
        if kind == "Deployment" and obj.get("_fake_pending_ready") is not None:
            n = self._gets[key] = self._gets.get(key, 0) + 1
            if n >= obj["_fake_pending_ready"]:
                obj.pop("_fake_pending_ready")
                self._set_rollout(obj, "ready")
        return 200, _public(obj)

    def _list(self, gv, plural, kind, namespace, selector):
        items = []
        for (g, p, ns, _), obj in sorted(self.objects.items()):
            if g == gv and p == plural and (namespace is None or ns == namespace) \
                    and _selector_match(obj["metadata"].get("labels") or {}, selector):
                item = _public(obj)
                item.pop("apiVersion", None)
                item.pop("kind", None)
                items.append(item)
        return {"kind": f"{kind}List", "apiVersion": gv, "metadata": {"resourceVersion": str(self._rv)},
                "items": items}

    def _apply(self, key, gv, kind, namespace, name, body, query):
        try:
            applied = yaml.safe_load(body.decode("utf-8"))
        except yaml.YAMLError as exc:
            return 400, _status(400, f"invalid YAML: {exc}")
        if not isinstance(applied, dict) or applied.get("apiVersion") != gv or applied.get("kind") != kind:
            return 400, _status(400, "apiVersion/kind of the body do not match the URL")
        meta = applied.get("metadata") or {}
        if meta.get("name") != name or (meta.get("namespace") or None) != namespace:
            return 400, _status(400, "metadata.name/namespace of the body do not match the URL")
        old = self.objects.get(key)
        new = copy.deepcopy(applied)
        new.pop("status", None)
        self._default(new, kind, old)
        new_meta = new["metadata"]
        if old is not None:
            for k in ("uid", "creationTimestamp", "resourceVersion", "generation"):
                new_meta[k] = old["metadata"][k]
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        else:
            new_meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1,
                            resourceVersion=str(self._next_rv()))
        spec_changed = old is None or _spec(old) != _spec(new)
        if old is not None and spec_changed:
            new_meta["generation"] = old["metadata"]["generation"] + 1
        if kind == "Deployment":
            new_meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(new_meta["generation"])
        entries = [{"manager": query["fieldManager"], "operation": "Apply", "apiVersion": gv, "time": _now(),
                    "fieldsType": "FieldsV1", "fieldsV1": _fields({k: v for k, v in applied.items()
                                                                   if k not in ("apiVersion", "kind")})}]
        if kind == "Deployment":
            entries.append({"manager": "kube-controller-manager", "operation": "Update", "apiVersion": gv,
                            "time": _now(), "fieldsType": "FieldsV1", "subresource": "status",
                            "fieldsV1": {"f:status": {}}})
        new_meta["managedFields"] = entries
        if old is not None and _comparable(old) != _comparable(new):
            new_meta["resourceVersion"] = str(self._next_rv())
        if kind == "Deployment" and spec_changed:
            mode = self.rollout_for.get(name, self.rollout)
            if mode == "ready" and self.ready_after_gets:
                self._set_rollout(new, "pending")
                new["_fake_pending_ready"] = self.ready_after_gets
                self._gets[key] = 0
            else:
                self._set_rollout(new, mode)
        if query.get("dryRun") == "All":
            return (200 if old is not None else 201), _public(new)
        self.objects[key] = new
        return (200 if old is not None else 201), _public(new)

    # ---------------------------------------------------------------- simulation details
    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _default(self, obj: dict, kind: str, old: dict | None) -> None:
        spec = obj.get("spec")
        if kind == "Deployment" and isinstance(spec, dict):
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("replicas", 1)
            pod = (spec.get("template") or {}).get("spec") or {}
            pod.setdefault("restartPolicy", "Always")
            pod.setdefault("dnsPolicy", "ClusterFirst")
            pod.setdefault("schedulerName", "default-scheduler")
            for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
        if kind == "Service" and isinstance(spec, dict):
            if old is not None and (old.get("spec") or {}).get("clusterIP"):
                ip = old["spec"]["clusterIP"]
            else:
                self._ip += 1
                ip = f"10.96.{self._ip // 250}.{self._ip % 250 + 1}"
            spec.setdefault("clusterIP", ip)
            spec.setdefault("clusterIPs", [ip])
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("ipFamilies", ["IPv4"])
        if kind == "HorizontalPodAutoscaler" and isinstance(spec, dict):
            spec.setdefault("behavior", {"scaleDown": {"stabilizationWindowSeconds": 300}})

    @staticmethod
    def _set_rollout(obj: dict, mode: str) -> None:
        gen = obj["metadata"]["generation"]
        want = (obj.get("spec") or {}).get("replicas", 1)
        old = obj.get("status") or {}
        if mode == "ready":
            obj["status"] = {"observedGeneration": gen, "replicas": want, "updatedReplicas": want,
                             "readyReplicas": want, "availableReplicas": want,
                             "conditions": [{"type": "Available", "status": "True",
                                             "reason": "MinimumReplicasAvailable"},
                                            {"type": "Progressing", "status": "True",
                                             "reason": "NewReplicaSetAvailable"}]}
        elif mode == "fail":
            obj["status"] = {"observedGeneration": gen, "replicas": want + 1, "updatedReplicas": 1,
                             "readyReplicas": old.get("readyReplicas", 0),
                             "availableReplicas": old.get("availableReplicas", 0),
                             "conditions": [{"type": "Progressing", "status": "False",
                                             "reason": "ProgressDeadlineExceeded",
                                             "message": f'ReplicaSet "{obj["metadata"]["name"]}-7d9f" '
                                                        "has timed out progressing."}]}
        elif mode == "pending":
            obj["status"] = {"observedGeneration": gen, "replicas": want, "updatedReplicas": 0,
                             "readyReplicas": old.get("readyReplicas", 0),
                             "availableReplicas": old.get("availableReplicas", 0),
                             "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
        else:
            raise ValueError(f"unknown rollout mode {mode!r}")


def _spec(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _comparable(obj: dict) -> dict:
    meta = {k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return {**_spec(obj), "metadata": meta}


def _public(obj: dict) -> dict:
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_fake")}


def _status(code: int, message: str, **details) -> dict:
    reasons = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 415: "UnsupportedMediaType",
               500: "InternalError"}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reasons.get(code, ""), "details": details, "code": code}
