"""Validate Kubernetes manifests against the vendored official schemas (tests/k8s_schemas/).

    from k8s_validate import validate_manifest, validate_file
    assert validate_file(path) == []

The schema is picked by ``apiVersion``/``kind``; an unknown kind is an error, never a silent pass.
Core kinds use the Kubernetes v1.30 schemas (strict: unknown fields are errors), custom resources
their CRD schemas with structural-schema semantics (unknown fields are errors, as with
``kubectl apply``'s default strict field validation). Besides the schema, ``metadata`` is checked
the way the API server does: a name, DNS-1123 names/namespaces, well-formed label keys and values.
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
K8S_VERSION = "v1.30"

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


@lru_cache(maxsize=None)
def _catalog() -> dict[tuple[str, str], Path]:
    """(apiVersion, kind) -> schema file, from each file's ``x-kubernetes-group-version-kind``."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted((SCHEMAS / "core" / K8S_VERSION).glob("*.json")) + sorted((SCHEMAS / "crds").glob("*.json")):
        for gvk in json.loads(path.read_text(encoding="utf-8")).get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            found[(api_version, gvk["kind"])] = path
    return found


@lru_cache(maxsize=None)
def _validator(path: Path) -> jsonschema.protocols.Validator:
    schema = _k8s_extensions(json.loads(path.read_text(encoding="utf-8")), crd=path.parent.name == "crds")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def known_kinds() -> list[tuple[str, str]]:
    return sorted(_catalog())


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
    path = _catalog().get(key)
    if path is None:
        return [f"<document>: no schema for apiVersion={key[0]!r} kind={key[1]!r} "
                f"(known: {', '.join(f'{a}/{k}' for a, k in known_kinds())}); vendor it in tests/k8s_schemas"]
    errors = sorted(_validator(path).iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    out = [f"{_where(e.absolute_path)}: {_message(e)}" for e in errors]
    return out + _metadata(doc, key)


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
