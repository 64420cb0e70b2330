"""Rebuild the vendored Kubernetes schemas in this folder (see README.md for provenance).

    .venv/bin/python tests/k8s_schemas/refresh.py

Needs only PyPI (``pip download``) and the files in ``sources/``. Every output is generated: do not
edit the JSON under ``core/`` or ``crds/`` by hand.
"""

from __future__ import annotations

import ast
import datetime
import importlib
import inspect
import json
import re
import subprocess
import sys
import tempfile
import typing
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KUBERNETES_VALIDATE = "1.37.0"     # PyPI kubernetes-validate: bundles the official k8s JSON schemas
K8S_VERSION = "v1.30.0"            # which of its Kubernetes versions we vendor
SPARK_API = "2.4.0"                # PyPI kubeflow-spark-api (= kubeflow/spark-operator v2.4.0 API)
CORE_KINDS = [                     # schema file names inside kubernetes-validate
    "configmap-v1.json",
    "deployment-apps-v1.json",
    "horizontalpodautoscaler-autoscaling-v2.json",
    "job-batch-v1.json",
    "poddisruptionbudget-policy-v1.json",
    "service-v1.json",
    "serviceaccount-v1.json",
]
CORE_DIR = HERE / "core" / K8S_VERSION.rsplit(".", 1)[0]
DRAFT = "https://json-schema.org/draft/2020-12/schema"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def download(spec: str, dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), spec],
                   check=True)
    name = spec.split("==")[0].replace("-", "_")
    return next(dest.glob(f"{name}-*.whl"))


def _refs(node, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _rewrite(node, mapping=lambda name: name):
    """Point every $ref at this document's own ``#/$defs/NAME``."""
    if isinstance(node, dict):
        out = {k: _rewrite(v, mapping) for k, v in node.items()}
        if isinstance(out.get("$ref"), str):
            out["$ref"] = "#/$defs/" + mapping(out["$ref"].rsplit("/", 1)[-1])
        return out
    if isinstance(node, list):
        return [_rewrite(v, mapping) for v in node]
    return node


def closure(roots: set[str], defs: dict) -> dict:
    """The named definitions plus everything they reference, transitively."""
    todo, seen = sorted(roots), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = defs[name]
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(sorted(found - set(seen)))
    return {name: _rewrite(seen[name]) for name in sorted(seen)}


def core(defs: dict, schemas: dict[str, dict]) -> None:
    CORE_DIR.mkdir(parents=True, exist_ok=True)
    for old in CORE_DIR.glob("*.json"):
        old.unlink()
    for file in CORE_KINDS:
        schema = schemas[file]
        found: set[str] = set()
        _refs(schema, found)
        out = _rewrite({k: v for k, v in schema.items() if k not in ("$id", "$schema")})
        out = {"$schema": DRAFT, **out, "$defs": closure(found, defs)}
        write(CORE_DIR / file, out)


# --- SparkApplication: from the kubeflow-spark-api models (generated from the operator's OpenAPI spec)

# CRD-only validation markers (``+kubebuilder:validation:...``) that the OpenAPI spec, and so the
# models, do not carry; copied from kubeflow/spark-operator api/v1beta2/sparkapplication_types.go
# (commit 07f3cecdbf9afe670d991dfbdb911334eb29930b). Keep in step with SPARK_API.
SPARK_MARKERS = {
    ("spark.v1beta2.SparkApplicationSpec", "type"): {"enum": ["Java", "Python", "Scala", "R"]},
    ("spark.v1beta2.SparkApplicationSpec", "mode"): {"enum": ["cluster", "client"]},
    ("spark.v1beta2.SparkApplicationSpec", "pythonVersion"): {"enum": ["2", "3"]},
    ("spark.v1beta2.RestartPolicy", "type"): {"enum": ["Never", "Always", "OnFailure"]},
    ("spark.v1beta2.RestartPolicy", "onSubmissionFailureRetries"): {"minimum": 0},
    ("spark.v1beta2.RestartPolicy", "onFailureRetries"): {"minimum": 0},
    ("spark.v1beta2.RestartPolicy", "onSubmissionFailureRetryInterval"): {"minimum": 1},
    ("spark.v1beta2.RestartPolicy", "onFailureRetryInterval"): {"minimum": 1},
}


def _spark_name(cls) -> str:
    return re.sub(r"^SparkV1beta2", "spark.v1beta2.", cls.__name__)


def spark(site: Path, defs: dict) -> None:
    sys.path.insert(0, str(site))
    models = importlib.import_module("kubeflow_spark_api.models")
    from pydantic import BaseModel

    k8s_by_class = {name.replace(".", "").replace("-", "").lower(): name for name in defs}
    spark_defs: dict[str, dict] = {}
    k8s_roots: set[str] = set()

    def ref(cls) -> dict:
        if cls.__name__.startswith("SparkV1beta2"):
            if _spark_name(cls) not in spark_defs:
                spark_defs[_spark_name(cls)] = {}      # placeholder against recursion
                spark_defs[_spark_name(cls)] = model(cls)
            return {"$ref": "#/$defs/" + _spark_name(cls)}
        name = k8s_by_class[cls.__name__.lower()]
        k8s_roots.add(name)
        return {"$ref": "#/$defs/" + name}

    def schema_of(tp) -> dict:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return schema_of(args[0])
        if origin is typing.Union:
            options = [a for a in args if a is not type(None)]
            return schema_of(options[0]) if len(options) == 1 else {"anyOf": [schema_of(a) for a in options]}
        if origin is list:
            return {"type": "array", "items": schema_of(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": schema_of(args[1])}
        if inspect.isclass(tp) and issubclass(tp, BaseModel):
            return ref(tp)
        simple = {str: "string", int: "integer", bool: "boolean", float: "number"}
        if tp in simple:
            return {"type": simple[tp]}
        if tp is datetime.datetime:
            return {"type": "string", "format": "date-time"}
        if tp is typing.Any or tp is object:
            return {}
        raise TypeError(f"unmapped annotation {tp!r}")

    def enums(cls) -> dict[str, list]:
        found = {}
        for decorator in cls.__pydantic_decorators__.field_validators.values():
            source = inspect.getsource(decorator.func)
            match = re.search(r"set\((\[.*?\])\)", source)
            if match:
                for field in decorator.info.fields:
                    found[field] = ast.literal_eval(match.group(1))
        return found

    def model(cls) -> dict:
        allowed = enums(cls)
        properties, required = {}, []
        for name, info in cls.model_fields.items():
            key = info.alias or name
            prop = schema_of(info.annotation)
            if name in allowed:
                prop = {**prop, "enum": allowed[name]}
            if info.description:
                prop = {"description": info.description, **prop}
            properties[key] = prop
            if info.is_required():
                required.append(key)
        out = {"description": inspect.cleandoc(cls.__doc__ or "").strip(), "type": "object",
               "properties": properties, "additionalProperties": False}
        if required:
            out["required"] = required
        return out

    root = model(models.SparkV1beta2SparkApplication)
    root["properties"]["apiVersion"]["enum"] = ["sparkoperator.k8s.io/v1beta2"]
    root["properties"]["kind"]["enum"] = ["SparkApplication"]
    root["required"] = ["apiVersion", "kind", "metadata", "spec"]
    for (definition, prop), extra in SPARK_MARKERS.items():
        spark_defs[definition]["properties"][prop].update(extra)
    all_defs = {**closure(k8s_roots | {OBJECT_META}, defs), **spark_defs}
    out = {"$schema": DRAFT, **root,
           "x-kubernetes-group-version-kind": [{"group": "sparkoperator.k8s.io", "kind": "SparkApplication",
                                               "version": "v1beta2"}],
           "$defs": dict(sorted(all_defs.items()))}
    write(HERE / "crds" / "sparkoperator.k8s.io_v1beta2_sparkapplication.json", out)


# --- MPIJob: from mpi-operator's own OpenAPI (swagger 2.0) definitions, vendored in sources/

MPI_K8S = {  # short names used by mpi-operator's swagger -> Kubernetes definitions
    "v1.PodTemplateSpec": "io.k8s.api.core.v1.PodTemplateSpec",
    "v1.ObjectMeta": OBJECT_META,
    "v1.ListMeta": "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
    "v1.LabelSelector": "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "v1.Time": "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "resource.Quantity": "io.k8s.apimachinery.pkg.api.resource.Quantity",
}


def _strict(node):
    """Structural-schema semantics: objects with declared properties reject unknown fields."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if "$ref" in out and len(out) > 1:        # draft 2020-12 allows siblings; drop swagger's defaults
            out.pop("default", None)
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def mpi(defs: dict) -> None:
    swagger = json.loads((HERE / "sources" / "mpi-operator_v2beta1_swagger.json").read_text())
    own = swagger["definitions"]
    mapping = lambda name: name if name in own else MPI_K8S[name]  # noqa: E731
    mine, todo = {}, ["v2beta1.MPIJob"]
    while todo:
        name = todo.pop()
        if name in mine:
            continue
        mine[name] = _strict(_rewrite(own[name], mapping))
        found: set[str] = set()
        _refs(own[name], found)
        todo.extend(sorted(n for n in found if n in own))
    k8s = {n for d in mine.values() for n in _ref_names(d) if n not in own}
    root = mine.pop("v2beta1.MPIJob")
    root["properties"]["apiVersion"]["enum"] = ["kubeflow.org/v2beta1"]
    root["properties"]["kind"]["enum"] = ["MPIJob"]
    root["required"] = ["apiVersion", "kind", "metadata", "spec"]
    all_defs = {**closure(k8s | {OBJECT_META}, defs), **mine}
    out = {"$schema": DRAFT, "description": "MPIJob (kubeflow.org/v2beta1)", **root,
           "x-kubernetes-group-version-kind": [{"group": "kubeflow.org", "kind": "MPIJob", "version": "v2beta1"}],
           "$defs": dict(sorted(all_defs.items()))}
    write(HERE / "crds" / "kubeflow.org_v2beta1_mpijob.json", out)


def _ref_names(node) -> set[str]:
    found: set[str] = set()
    _refs(node, found)
    return found


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(HERE)} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        kv = download(f"kubernetes-validate=={KUBERNETES_VALIDATE}", tmp_path)
        prefix = f"kubernetes_validate/kubernetes-json-schema/{K8S_VERSION}-local-strict/"
        with zipfile.ZipFile(kv) as wheel:
            defs = json.loads(wheel.read(prefix + "_definitions.json"))["$defs"]
            schemas = {f: json.loads(wheel.read(prefix + f)) for f in CORE_KINDS}
        core(defs, schemas)
        wheel_path = download(f"kubeflow-spark-api=={SPARK_API}", tmp_path)
        site = tmp_path / "site"
        with zipfile.ZipFile(wheel_path) as wheel:
            wheel.extractall(site)
        spark(site, defs)
        mpi(defs)


if __name__ == "__main__":
    main()
