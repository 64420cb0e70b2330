"""Validate Kubernetes manifests: core kinds with ``kubernetes-validate``, custom resources against the
vendored CRD schemas (tests/k8s_schemas/, see its README).

    from k8s_validate import validate_manifest, validate_file
    assert validate_file(path) == []

The schema is picked by ``apiVersion``/``kind``; an unknown kind is an error, never a silent pass.

* Core kinds (Deployment, Service, ConfigMap, HorizontalPodAutoscaler, ...) are validated with the
  ``kubernetes-validate`` package (a ``dev`` dependency) in **strict** mode (unknown fields are
  errors) against the **newest** Kubernetes version it bundles (``K8S_VERSION``), and additionally
  against the vendored v1.30 schemas in ``tests/k8s_schemas/core/`` (``MIN_K8S_VERSION``, the oldest
  version mlc targets; the CRD schemas embed its types), so a field only newer clusters know is caught
  too. Errors found only by the older version say so (``[v1.30]``).
* Custom resources use their CRD schemas with structural-schema semantics (unknown fields are errors,
  as with ``kubectl apply``'s default strict field validation).

Besides the schema, ``metadata`` is checked the way the API server does: a name, DNS-1123
names/namespaces, well-formed label keys and values.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parent / "k8s_schemas"
MIN_K8S_VERSION = "v1.30"          # vendored core schemas: tests/k8s_schemas/core/<MIN_K8S_VERSION>/


def _kv_schema_dir() -> tuple[str, Path]:
    """(``v<major.minor>``, folder of the strict schemas) of the newest version kubernetes-validate
    bundles."""
    import importlib_resources
    import kubernetes_validate

    newest = kubernetes_validate.latest_version()          # e.g. "1.37.0"
    root = importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    return "v" + ".".join(newest.split(".")[:2]), Path(str(root.joinpath(f"v{newest}-local-strict")))


K8S_VERSION, KV_SCHEMAS = _kv_schema_dir()

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_DNS1035_KINDS = {("v1", "Service")}


def _k8s_extensions(node: Any, crd: bool) -> Any:
    """Turn the Kubernetes OpenAPI extensions into plain JSON Schema.

    * ``x-kubernetes-int-or-string: true`` -> integer or string;
    * ``nullable: true`` -> null is allowed too;
    * in CRDs (structural schemas) an object with ``properties`` and neither ``additionalProperties``
      nor ``x-kubernetes-preserve-unknown-fields`` rejects unknown fields (the API server prunes them,
      or rejects them under strict field validation, kubectl's default).
    """
    if isinstance(node, list):
        return [_k8s_extensions(v, crd) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in ("enum", "default", "example", "const") else _k8s_extensions(v, crd))
           for k, v in node.items()}
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (crd and "properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-preserve-unknown-fields") and out.get("additionalProperties") is False:
        out.pop("additionalProperties")
    return out


def _gvks(schema: dict) -> list[tuple[str, str]]:
    return [(f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"], gvk["kind"])
            for gvk in schema.get("x-kubernetes-group-version-kind", [])]


@lru_cache(maxsize=None)
def _catalog() -> dict[tuple[str, str], Path]:
    """(apiVersion, kind) -> vendored schema file (core at MIN_K8S_VERSION, and CRDs), from each
    file's ``x-kubernetes-group-version-kind``."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted((SCHEMAS / "core" / MIN_K8S_VERSION).glob("*.json")) + sorted((SCHEMAS / "crds").glob("*.json")):
        for key in _gvks(json.loads(path.read_text(encoding="utf-8"))):
            found[key] = path
    return found


def _kv_file(key: tuple[str, str]) -> Path:
    """kubernetes-validate's file name for a kind: ``<kind>-<group without domain>-<version>.json``."""
    api_version, kind = key
    group_version = re.sub(r"^([^./]*)(?:[.][^/]*)?/", r"\1-", api_version)
    return KV_SCHEMAS / f"{kind.lower()}-{group_version}.json"


@lru_cache(maxsize=None)
def _kv_schema(key: tuple[str, str]) -> dict | None:
    """The strict schema of a core kind at K8S_VERSION, or None when that version has no such kind
    (the file's own group-version-kind must match: `apps.example.com/v1` is not `apps/v1`)."""
    path = _kv_file(key)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    return schema if key in _gvks(schema) else None


@lru_cache(maxsize=None)
def _kv_registry():
    from referencing import Registry, Resource

    definitions = json.loads((KV_SCHEMAS / "_definitions.json").read_text(encoding="utf-8"))
    return Resource.from_contents(definitions) @ Registry()


@lru_cache(maxsize=None)
def _kv_validator(key: tuple[str, str]) -> jsonschema.protocols.Validator:
    from referencing import Resource

    schema = _kv_schema(key)
    registry = Resource.from_contents(schema) @ _kv_registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


@lru_cache(maxsize=None)
def _validator(path: Path) -> jsonschema.protocols.Validator:
    schema = _k8s_extensions(json.loads(path.read_text(encoding="utf-8")), crd=path.parent.name == "crds")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


@lru_cache(maxsize=None)
def _kv_kinds() -> frozenset[tuple[str, str]]:
    out = set()
    for path in KV_SCHEMAS.glob("*.json"):
        if not path.name.startswith("_") and path.name != "all.json":
            out.update(key for key in _gvks(json.loads(path.read_text(encoding="utf-8")))
                       if _kv_file(key) == path)
    return frozenset(out)


def known_kinds() -> list[tuple[str, str]]:
    """Every (apiVersion, kind) validated: the core kinds of K8S_VERSION and the vendored CRDs."""
    return sorted(set(_catalog()) | _kv_kinds())


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def _metadata(doc: dict, key: tuple[str, str]) -> list[str]:
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return []  # the schema reports the type / absence
    errors = []
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        errors.append("metadata: a name (or generateName) is required")
    elif isinstance(name, str):
        pattern, limit, what = ((_DNS1035_LABEL, 63, "a DNS-1035 label") if key in _DNS1035_KINDS
                                else (_DNS1123_SUBDOMAIN, 253, "a DNS-1123 subdomain"))
        if not pattern.match(name) or len(name) > limit:
            errors.append(f"metadata.name: {name!r} is not {what} (at most {limit} characters)")
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and (not _DNS1123_LABEL.match(namespace) or len(namespace) > 63):
        errors.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    for field in ("labels", "annotations"):
        for label, value in (meta.get(field) or {}).items() if isinstance(meta.get(field), dict) else ():
            prefix, _, base = str(label).rpartition("/")
            if (not _LABEL_NAME.match(base) or len(base) > 63
                    or (prefix and (not _DNS1123_SUBDOMAIN.match(prefix) or len(prefix) > 253))):
                errors.append(f"metadata.{field}: key {label!r} is not a qualified name")
            if field == "labels" and isinstance(value, str) and value and (
                    not _LABEL_NAME.match(value) or len(value) > 63):
                errors.append(f"metadata.labels.{label}: value {value!r} is not a valid label value")
    return errors


def validate_manifest(doc: Any) -> list[str]:
    """Errors (``path: message``) of one manifest; empty when it is valid."""
    if not isinstance(doc, dict):
        return [f"<document>: a manifest must be a mapping, not {type(doc).__name__}"]
    key = (doc.get("apiVersion"), doc.get("kind"))
    if not all(isinstance(part, str) and part for part in key):
        return ["<document>: apiVersion and kind are required strings"]
    vendored = _catalog().get(key)
    core = _kv_schema(key) is not None
    if vendored is None and not core:
        return [f"<document>: no schema for apiVersion={key[0]!r} kind={key[1]!r}: not a core kind of "
                f"Kubernetes {K8S_VERSION} (kubernetes-validate) and no CRD schema in tests/k8s_schemas/crds "
                f"(known CRDs: {', '.join(f'{a}/{k}' for a, k in sorted(_catalog()) if _kv_schema((a, k)) is None)})"]
    out: list[str] = []
    if core:
        out += _errors(_kv_validator(key), doc)
    if vendored is not None:   # the CRD schema, or for a core kind the MIN_K8S_VERSION one
        extra = _errors(_validator(vendored), doc)
        out += [e if not core else f"{e} [{MIN_K8S_VERSION}]" for e in extra if e not in out]
    return out + _metadata(doc, key)


def _errors(validator: jsonschema.protocols.Validator, doc: dict) -> list[str]:
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{_where(e.absolute_path)}: {_message(e)}" for e in errors]


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return f"{best.message} (no alternative matched)"
    message = error.message
    return message if len(message) <= 300 else message[:297] + "..."


def validate_file(path: str | Path) -> list[str]:
    """Errors of every document in a (multi-document) YAML file, prefixed with the file and index."""
    path = Path(path)
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        return [f"{path}: not YAML: {exc}"]
    docs = [d for d in docs if d is not None]
    if not docs:
        return [f"{path}: no manifest in the file"]
    out = []
    for index, doc in enumerate(docs):
        label = f"{path}#{index}" if len(docs) > 1 else str(path)
        if isinstance(doc, dict):
            label += f" ({doc.get('kind')} {((doc.get('metadata') or {}).get('name') if isinstance(doc.get('metadata'), dict) else None)})"
        out += [f"{label}: {error}" for error in validate_manifest(doc)]
    return out
