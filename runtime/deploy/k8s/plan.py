"""Pure planning for ``mlc deploy --target k8s``: the compiled manifests (desired) against the
objects the API server returned (live) -> create / update (with the changed fields) / delete /
unchanged, in dependency order. No I/O except :func:`load_manifests`; no ``kubernetes`` import.

Comparison rules (what counts as a change):

* every field the desired object sets must be equal in the live object (lists element by
  element, same length); fields only the live object has are ignored: ``status``, server
  metadata (uid, resourceVersion, generation, creationTimestamp, managedFields), annotations and
  labels added by controllers, and fields the API server defaulted (``progressDeadlineSeconds``,
  a Service's ``clusterIP``, a container's ``terminationMessagePath`` ...);
* resource quantities compare by value (``cpu: 1000m`` equals ``cpu: "1"``), as the API server
  canonicalises them;
* a field that field manager ``mlc`` applied before (the live object's ``managedFields``) and
  the desired object no longer sets is a change too: server-side apply removes it.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from mlc.backends.k8s_layout import APP_LABEL, LABEL_VALUE_MAX, PART_OF, PART_OF_VALUE, RELEASE_LABEL

FIELD_MANAGER = "mlc"

# (apiVersion, kind) in the order objects are applied; deletes run in reverse.
KIND_ORDER: list[tuple[str, str]] = [
    ("v1", "Namespace"),
    ("v1", "ServiceAccount"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("batch/v1", "Job"),
    ("kubeflow.org/v2beta1", "MPIJob"),
    ("sparkoperator.k8s.io/v1beta2", "SparkApplication"),
]
_RANK = {kind: i for i, (_, kind) in enumerate(KIND_ORDER)}
# Never pruned even when labelled: deleting a namespace deletes everything in it (release records too).
NEVER_PRUNED = {"Namespace"}

_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")


@dataclass
class Action:
    op: str                                   # "create" | "update" | "delete" | "unchanged"
    kind: str
    namespace: str | None
    name: str
    changed: list[str] = field(default_factory=list)   # dotted field paths (update only)
    api_version: str = ""
    obj: dict | None = field(default=None, repr=False)  # desired (labelled) object; live one for delete

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass
class Plan:
    app: str
    actions: list[Action] = field(default_factory=list)

    def of(self, op: str) -> list[Action]:
        return [a for a in self.actions if a.op == op]

    @property
    def has_changes(self) -> bool:
        return any(a.op != "unchanged" for a in self.actions)

    @property
    def applies(self) -> list[Action]:
        """create and update actions, in dependency order."""
        return [a for a in self.actions if a.op in ("create", "update")]

    @property
    def desired(self) -> list[dict]:
        """The labelled desired objects, in dependency order."""
        return [a.obj for a in self.actions if a.op != "delete" and a.obj is not None]

    def summary(self) -> str:
        n = Counter(a.op for a in self.actions)
        return (f"Plan: {n['create']} to create, {n['update']} to update, {n['delete']} to delete, "
                f"{n['unchanged']} unchanged")


# --------------------------------------------------------------------------- manifests and labels

def load_manifests(build_dir: str) -> list[dict]:
    """Every YAML document under ``<build_dir>/k8s/`` (files ``*.yaml``/``*.yml`` in sorted path
    order, documents in file order); empty documents (comments only, ``---`` separators) are
    skipped. A document that is not a Kubernetes object (apiVersion, kind, metadata.name) is an
    error naming the file."""
    import yaml

    root = Path(build_dir) / "k8s"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no k8s/ folder in the build (run `mlc compile` first)")
    out: list[dict] = []
    files = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml")),
                   key=lambda p: p.relative_to(root).as_posix())
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for i, doc in enumerate(yaml.safe_load_all(fh)):
                if doc is None or doc == {}:
                    continue
                if not (isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")
                        and isinstance(doc.get("metadata"), dict) and doc["metadata"].get("name")):
                    raise ValueError(f"{path}: document {i + 1} is not a Kubernetes object "
                                     "(apiVersion, kind and metadata.name are required)")
                out.append(doc)
    return out


def check_app(app: str) -> None:
    if not app or len(app) > LABEL_VALUE_MAX or not _LABEL_VALUE.match(app):
        raise ValueError(f"application name {app!r} is not a valid label value "
                         f"({LABEL_VALUE_MAX} characters at most: letters, digits, '-', '_', '.')")


def label_objects(objects: list[dict], app: str) -> list[dict]:
    """Deep copies of ``objects`` labelled ``app.kubernetes.io/part-of: mlc`` and
    ``mlc.dev/app: <app>`` (the labels pruning selects on). The one place both the plan and the
    apply get their desired objects from."""
    check_app(app)
    out = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        labels = obj.setdefault("metadata", {}).get("labels") or {}
        obj["metadata"]["labels"] = {**labels, PART_OF: PART_OF_VALUE, APP_LABEL: app}
        out.append(obj)
    return out


def object_key(obj: dict) -> tuple[str, str, str, str]:
    """(API group, kind, namespace, name): the identity of an object (the version is not part
    of it: the same object served at another version is the same object)."""
    api_version = obj.get("apiVersion", "")
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    meta = obj.get("metadata") or {}
    return group, obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


def order_key(obj: dict) -> tuple:
    group, kind, namespace, name = object_key(obj)
    return _RANK.get(kind, len(_RANK)), kind, group, namespace, name


def is_managed(obj: dict, app: str) -> bool:
    """Labelled as an object of this application (and not a release record)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(PART_OF) == PART_OF_VALUE and labels.get(APP_LABEL) == app and RELEASE_LABEL not in labels


# --------------------------------------------------------------------------- diff

def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = str(key)
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?\Z")
_SUFFIX = {None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
           "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
           "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
           "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}
_QUANTITY_PARENTS = {"requests", "limits", "capacity", "hard", "overhead"}
_QUANTITY_KEYS = {"sizeLimit", "storage"}


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    try:
        number, suffix = Decimal(m.group(1)), m.group(2)
        if suffix and suffix[0] in "eE":
            return number * (Decimal(10) ** int(suffix[1:]))
        return number * _SUFFIX[suffix]
    except (InvalidOperation, KeyError, ValueError):
        return None


def _same_scalar(desired: Any, live: Any, keys: tuple) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)) \
            and not isinstance(desired, bool) and not isinstance(live, bool):
        return desired == live
    if keys and (keys[-1] in _QUANTITY_KEYS or (len(keys) > 1 and keys[-2] in _QUANTITY_PARENTS)):
        a, b = _quantity(desired), _quantity(live)
        return a is not None and a == b
    return False


def _empty(value: Any) -> bool:
    """null, {} and [] set nothing the API server keeps (it omits empty fields): absent is equal."""
    return value is None or value == {} or value == []


def _diff(desired: Any, live: Any, path: str, keys: tuple, out: list[str]) -> None:
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            out.append(path)
            return
        for k, v in desired.items():
            if k not in live:
                if not _empty(v):
                    out.append(_join(path, k))
                continue
            _diff(v, live[k], _join(path, k), keys + (k,), out)
    elif isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            out.append(path)
            return
        for i, (d, lv) in enumerate(zip(desired, live)):
            _diff(d, lv, _join(path, i), keys + (i,), out)
    elif not _same_scalar(desired, live, keys):
        out.append(path)


def _removed(fields: dict, desired: Any, path: str, out: list[str]) -> None:
    """Fields in a managedFields ``fieldsV1`` tree that ``desired`` no longer sets."""
    if not isinstance(fields, dict):
        return
    for key, sub in fields.items():
        if not key.startswith("f:"):
            continue          # ".", and "k:"/"v:"/"i:" list members: compared as whole lists
        name = key[2:]
        if not isinstance(desired, dict) or name not in desired:
            out.append(_join(path, name))
            continue
        value = desired[name]
        if isinstance(value, dict) and isinstance(sub, dict):
            _removed(sub, value, _join(path, name), out)


def _mlc_fields(live: dict) -> dict | None:
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply" \
                and not entry.get("subresource"):
            return entry.get("fieldsV1") or {}
    return None


def diff_object(desired: dict, live: dict) -> list[str]:
    """Dotted paths of the fields that differ (see the module docstring for the rules)."""
    out: list[str] = []
    d_meta = desired.get("metadata") or {}
    l_meta = live.get("metadata") or {}
    for part in ("labels", "annotations"):
        if d_meta.get(part):
            _diff(d_meta[part], l_meta.get(part) or {}, f"metadata.{part}", ("metadata", part), out)
    if desired.get("apiVersion") != live.get("apiVersion") and live.get("apiVersion"):
        out.append("apiVersion")
    for k, v in desired.items():
        if k in ("apiVersion", "kind", "metadata", "status"):
            continue
        if k not in live:
            if not _empty(v):
                out.append(k)
            continue
        _diff(v, live[k], k, (k,), out)
    fields = _mlc_fields(live)
    if fields:
        removed: list[str] = []
        meta_fields = fields.get("f:metadata") or {}
        for part in ("labels", "annotations"):
            if f"f:{part}" in meta_fields:
                _removed(meta_fields[f"f:{part}"], d_meta.get(part) or {}, f"metadata.{part}", removed)
        _removed({k: v for k, v in fields.items() if k not in ("f:metadata", "f:status", "f:apiVersion", "f:kind")},
                 desired, "", removed)
        out.extend(p for p in removed if p not in out)
    return out


# --------------------------------------------------------------------------- plan

def plan(desired: list[dict], live: list[dict], app: str) -> Plan:
    """Compare ``desired`` (the build's objects; labelled here with :func:`label_objects`)
    against ``live`` (objects read from the cluster: the desired ones that exist, and every
    object labelled ``part-of: mlc`` + ``mlc.dev/app: <app>``). Pure.

    Creates, updates and unchanged objects come in dependency order (:data:`KIND_ORDER`, then
    other kinds by name), deletes (labelled live objects the build no longer has; never
    Namespaces nor release records) after them in reverse dependency order."""
    labelled = label_objects(desired, app)
    wanted: dict[tuple, dict] = {}
    for obj in labelled:
        key = object_key(obj)
        if key in wanted:
            raise ValueError(f"{obj['kind']} {key[2]}/{key[3]} appears twice in the build")
        wanted[key] = obj
    current = {object_key(obj): obj for obj in live}

    actions: list[Action] = []
    for obj in sorted(labelled, key=order_key):
        key = object_key(obj)
        meta = obj["metadata"]
        base = dict(kind=obj["kind"], namespace=meta.get("namespace"), name=meta["name"],
                    api_version=obj["apiVersion"], obj=obj)
        if key not in current:
            actions.append(Action("create", **base))
            continue
        changed = diff_object(obj, current[key])
        actions.append(Action("update", changed=changed, **base) if changed else Action("unchanged", **base))

    doomed = [obj for key, obj in current.items()
              if key not in wanted and is_managed(obj, app) and obj.get("kind") not in NEVER_PRUNED]
    for obj in sorted(doomed, key=order_key, reverse=True):
        meta = obj["metadata"]
        actions.append(Action("delete", kind=obj["kind"], namespace=meta.get("namespace"), name=meta["name"],
                              api_version=obj.get("apiVersion", ""), obj=obj))
    return Plan(app=app, actions=actions)


def render_plan(plan: Plan, *, max_fields: int = 6) -> str:
    """One line per create / update (with its changed fields) / delete, then the summary."""
    lines = []
    for a in plan.actions:
        if a.op == "create":
            lines.append(f"+ create {a.ref}")
        elif a.op == "update":
            shown = ", ".join(a.changed[:max_fields])
            more = f", +{len(a.changed) - max_fields} more" if len(a.changed) > max_fields else ""
            lines.append(f"~ update {a.ref} ({shown}{more})")
        elif a.op == "delete":
            lines.append(f"- delete {a.ref}")
    lines.append(plan.summary())
    return "\n".join(lines)
