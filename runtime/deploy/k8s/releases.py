"""Release records of ``mlc deploy --target k8s``: one ConfigMap ``<app>-release-<n>`` per
release (like Helm's release secrets), in the namespace of the application's objects.

Labels: ``app.kubernetes.io/part-of: mlc``, ``mlc.dev/app: <app>``, ``mlc.dev/release: <n>``
(records are never pruned: the label ``mlc.dev/release`` excludes them). Data:

* ``objects.yaml`` — the applied objects (labelled, as applied), multi-document YAML; above
  ~900 kB they go gzip-compressed into ``binaryData["objects.yaml.gz"]`` instead (a ConfigMap
  holds at most 1 MiB);
* ``versions.json`` — the model versions of the release (JSON object, ``{}`` when unknown);
* ``manifest_sha256`` — sha256 of the build's ``manifest.json`` ("" for a rollback of a record
  that had none);
* ``status`` — ``deployed`` or ``failed`` (a ``--wait`` that failed);
* ``source`` — ``deploy``, ``rollback to release N`` or ``auto-rollback of release N``;
* ``created`` — UTC timestamp (ISO 8601).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mlc.backends.k8s_layout import APP_LABEL, PART_OF, PART_OF_VALUE, RELEASE_LABEL

COMPRESS_ABOVE = 900_000


def app_dns_name(app: str) -> str:
    """``delivery_eta`` -> ``delivery-eta`` (object names must be DNS-1123 subdomains)."""
    name = re.sub(r"[^a-z0-9.-]+", "-", app.lower()).strip("-.")
    return name or "app"


def release_name(app: str, n: int) -> str:
    return f"{app_dns_name(app)}-release-{n}"


def release_selector(app: str) -> str:
    return f"{PART_OF}={PART_OF_VALUE},{APP_LABEL}={app},{RELEASE_LABEL}"


@dataclass
class Release:
    n: int
    name: str
    namespace: str
    created: str
    status: str
    source: str
    versions: dict
    manifest_sha256: str
    objects: list[dict] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        return {"n": self.n, "name": self.name, "namespace": self.namespace, "created": self.created,
                "status": self.status, "source": self.source, "versions": self.versions,
                "manifest_sha256": self.manifest_sha256, "objects": len(self.objects)}


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def release_configmap(app: str, n: int, namespace: str, objects: list[dict], *, versions: dict | None,
                      manifest_sha256: str, status: str = "deployed", source: str = "deploy",
                      created: str | None = None) -> dict:
    import yaml

    text = yaml.safe_dump_all(objects, sort_keys=False)
    data = {"versions.json": json.dumps(versions or {}, sort_keys=True),
            "manifest_sha256": manifest_sha256 or "", "status": status, "source": source,
            "created": created or now()}
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": release_name(app, n), "namespace": namespace,
                       "labels": {PART_OF: PART_OF_VALUE, APP_LABEL: app, RELEASE_LABEL: str(n)}},
          "data": data}
    if len(text.encode("utf-8")) > COMPRESS_ABOVE:
        cm["binaryData"] = {"objects.yaml.gz": base64.b64encode(gzip.compress(text.encode("utf-8"))).decode()}
    else:
        data["objects.yaml"] = text
    return cm


def parse_release(cm: dict) -> Release:
    """A release record ConfigMap -> :class:`Release` (ValueError when it is not one)."""
    import yaml

    meta = cm.get("metadata") or {}
    labels = meta.get("labels") or {}
    try:
        n = int(labels[RELEASE_LABEL])
    except (KeyError, ValueError):
        raise ValueError(f"ConfigMap {meta.get('name')} is not an mlc release record") from None
    data = cm.get("data") or {}
    if "objects.yaml" in data:
        text = data["objects.yaml"]
    elif "objects.yaml.gz" in (cm.get("binaryData") or {}):
        text = gzip.decompress(base64.b64decode(cm["binaryData"]["objects.yaml.gz"])).decode("utf-8")
    else:
        text = ""
    objects = [o for o in yaml.safe_load_all(text) if o]
    try:
        versions = json.loads(data.get("versions.json") or "{}")
    except json.JSONDecodeError:
        versions = {}
    return Release(n=n, name=meta.get("name", ""), namespace=meta.get("namespace", ""),
                   created=data.get("created") or meta.get("creationTimestamp", ""),
                   status=data.get("status", "deployed"), source=data.get("source", ""),
                   versions=versions, manifest_sha256=data.get("manifest_sha256", ""), objects=objects)


def releases_of(configmaps: list[dict], app: str) -> list[Release]:
    """The application's release records among ``configmaps``, by release number."""
    out = []
    for cm in configmaps:
        labels = (cm.get("metadata") or {}).get("labels") or {}
        if labels.get(APP_LABEL) != app or labels.get(PART_OF) != PART_OF_VALUE or RELEASE_LABEL not in labels:
            continue
        try:
            out.append(parse_release(cm))
        except ValueError:
            continue
    return sorted(out, key=lambda r: r.n)


def previous_release(releases: list[Release]) -> Release | None:
    """The release ``mlc rollback`` restores by default: the newest one before the latest that
    did not fail."""
    for r in reversed(releases[:-1]):
        if r.status != "failed":
            return r
    return None
