"""Emit ``spark/<name>_features.py``, ``spark/submit.sh`` and ``k8s/spark-application.yaml``.

Pure: reads the IR, returns text. Spec strings reach the outputs only as Python literals
(``repr``), docstring-escaped text, ``shlex.quote``-d shell words or values in a dict dumped by
``yaml.safe_dump``; never as code, shell syntax or YAML syntax.
"""

from __future__ import annotations

import math
import shlex
from fractions import Fraction
from typing import Any

from mlc.backends.k8s_layout import DATA_CLAIM, DATA_VOLUME, IMAGE_BUILD_DIR, IMAGE_DIST_DIR, OUTPUT_ROOT
from mlc.backends.k8s_layout import labels as k8s_labels
from mlc.backends.templating import environment
from mlc.core.ir import IR, ShardIR
from mlc.core.names import k8s_name
from mlc.core.errors import MlcError
from mlc.schemas.quantities import quantity_value
from mlc import __version__

# Session settings mlc's Spark executor (mlc.runtime.spark_ops) requires; every output sets them.
SPARK_CONF: tuple[tuple[str, str], ...] = (
    ("spark.sql.session.timeZone", "UTC"),
    ("spark.sql.ansi.enabled", "false"),
    ("spark.sql.codegen.hugeMethodLimit", "8000"),
)
SPARK_VERSION = "3.5.1"
DEFAULT_MASTER = "k8s://https://kubernetes.default.svc"
SERVICE_ACCOUNT = "spark"
SPARK_UID = 185                # the `spark` user of the apache/spark images
EXECUTOR_INSTANCES = 2         # Spark's own default for spark.executor.instances
DEFAULT_MEMORY = "1g"          # Spark's default driver/executor memory
DEFAULT_CORES = 1

_MIB, _GIB = 2**20, 2**30


class SparkBackendError(MlcError, ValueError):
    pass


def job_path(ir: IR) -> str:
    return f"spark/{ir.name}_features.py"


def _quantity(text: str) -> Fraction:
    """The amount of a Kubernetes quantity, parsed by the same rules the spec checks apply (E5027)."""
    try:
        return quantity_value(text)
    except ValueError as problem:
        raise SparkBackendError(f"`{text}` {problem}") from None


def spark_memory(quantity: str) -> str:
    """A Kubernetes memory quantity as a Spark (JVM) size: ``4Gi`` -> ``4g``, ``512Mi`` ->
    ``512m``, ``1.5Gi`` -> ``1536m``. Decimal units are exact bytes rounded UP to whole MiB
    (``1G`` -> ``954m``); at least ``1m``."""
    size = _quantity(quantity)
    if size >= _GIB and size % _GIB == 0:
        return f"{size // _GIB}g"
    return f"{max(1, math.ceil(size / _MIB))}m"


def spark_cores(quantity: str) -> int:
    """A Kubernetes CPU quantity as Spark's whole cores, rounded up: ``500m`` -> 1, ``2`` -> 2."""
    return max(1, math.ceil(_quantity(quantity)))


def _shard(ir: IR) -> ShardIR | None:
    shards = ir.deployment.shards
    return next((s for s in shards if s.is_default), shards[0] if shards else None)


def pod_resources(ir: IR) -> dict[str, Any]:
    """Driver/executor sizing from the deployment's resources (those of the default shard):
    cores = requests.cpu rounded up (coreRequest keeps the exact request), coreLimit =
    limits.cpu, memory = requests.memory (else limits.memory) as a Spark size."""
    shard = _shard(ir)
    resources = {part: dict(values) for part, values in (shard.resources if shard else ())}
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    cpu_request = requests.get("cpu") or limits.get("cpu")
    memory = requests.get("memory") or limits.get("memory")
    return {
        "cores": spark_cores(cpu_request) if cpu_request else DEFAULT_CORES,
        "core_request": cpu_request,
        "core_limit": limits.get("cpu"),
        "memory": spark_memory(memory) if memory else DEFAULT_MEMORY,
    }


def _images(ir: IR) -> dict[str, str]:
    return dict(ir.deployment.images)


def _env():
    return environment("mlc.backends.spark")


CATALOG_ENV, EXTERNAL_CATALOG = "MLC_CATALOG_DIR", "external"   # as mlc.runtime.features.session


def uses_tables(ir: IR) -> bool:
    return any(source.kind == "table" for source in ir.sources)


def _catalog_env(ir: IR) -> dict[str, Any]:
    """Cluster runs read catalog tables through the cluster's Hive configuration."""
    return {"env": [{"name": CATALOG_ENV, "value": EXTERNAL_CATALOG}]} if uses_tables(ir) else {}


def render_job(ir: IR) -> str:
    groups = [
        {"name": g.name, "entity": g.entity, "source": g.source,
         "windows": ", ".join(w.name for w in g.windows), "outputs": len(g.outputs)}
        for g in ir.feature_groups
    ]
    sources = [{"name": s.name, "kind": s.kind, "location": s.location} for s in ir.sources]
    return _env().get_template("features.py.j2").render(
        ir=ir, mlc_version=__version__, groups=groups, sources=sources,
        spark_conf=SPARK_CONF, app_name=k8s_name(ir.name, "features"), uses_catalog=uses_tables(ir),
        example_source=ir.sources[0].name if ir.sources else "SOURCE",
    )


def submit_args(ir: IR) -> list[tuple[str, ...]]:
    """The spark-submit options, one tuple of words per line (spec values still raw)."""
    images, resources, name = _images(ir), pod_resources(ir), k8s_name(ir.name, "features")
    lines: list[tuple[str, ...]] = [("--deploy-mode", "cluster"), ("--name", name)]
    lines += [("--conf", f"{key}={value}") for key, value in SPARK_CONF]
    lines += [
        ("--conf", f"spark.kubernetes.container.image={images.get('spark', '')}"),
        ("--conf", "spark.kubernetes.container.image.pullPolicy=IfNotPresent"),
        ("--conf", f"spark.kubernetes.namespace={ir.deployment.namespace}"),
        ("--conf", f"spark.kubernetes.authenticate.driver.serviceAccountName={SERVICE_ACCOUNT}"),
        *([("--conf", f"spark.kubernetes.driverEnv.{CATALOG_ENV}={EXTERNAL_CATALOG}")] if uses_tables(ir) else []),
        ("--driver-cores", str(resources["cores"])),
        ("--driver-memory", resources["memory"]),
        ("--executor-cores", str(resources["cores"])),
        ("--executor-memory", resources["memory"]),
    ]
    return lines


def render_submit(ir: IR) -> str:
    lines = [" ".join(shlex.quote(word) for word in words) for words in submit_args(ir)]
    return _env().get_template("submit.sh.j2").render(
        ir=ir, mlc_version=__version__, option_lines=lines, default_master=DEFAULT_MASTER,
        build_uri=f"local://{IMAGE_BUILD_DIR}", job=job_path(ir),
    )


def application(ir: IR) -> dict[str, Any]:
    """The SparkApplication (sparkoperator.k8s.io/v1beta2) as a dict in a fixed key order."""
    name = k8s_name(ir.name, "features")
    labels = k8s_labels(k8s_name(ir.name), "features")
    resources = pod_resources(ir)
    security = {"runAsNonRoot": True, "runAsUser": SPARK_UID}

    def pod(**extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {"cores": resources["cores"]}
        if resources["core_request"]:
            spec["coreRequest"] = resources["core_request"]
        if resources["core_limit"]:
            spec["coreLimit"] = resources["core_limit"]
        spec["memory"] = resources["memory"]
        spec.update(extra)
        spec["labels"] = dict(labels)
        spec["securityContext"] = dict(security)
        spec["volumeMounts"] = [{"name": DATA_VOLUME, "mountPath": OUTPUT_ROOT}]
        return spec

    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": ir.deployment.namespace, "labels": dict(labels)},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": _images(ir).get("spark", ""),
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": f"local://{IMAGE_BUILD_DIR}/{job_path(ir)}",
            "arguments": ["--output", f"{OUTPUT_ROOT}/{ir.name}"],
            "sparkVersion": SPARK_VERSION,
            "sparkConf": dict(SPARK_CONF),
            "deps": {"pyFiles": [f"local://{IMAGE_DIST_DIR}/mlc-{__version__}-py3-none-any.whl"]},
            "restartPolicy": {"type": "Never"},
            "volumes": [{"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": DATA_CLAIM}}],
            "driver": pod(serviceAccount=SERVICE_ACCOUNT, **_catalog_env(ir)),
            "executor": pod(instances=EXECUTOR_INSTANCES),
        },
    }


def render_application(ir: IR) -> str:
    import yaml

    header = (f"# SparkApplication for the feature job of `{ir.name}`, generated by mlc {__version__}"
              " from mldl.json. Do not edit.\n")
    body = yaml.safe_dump(application(ir), sort_keys=False, default_flow_style=False,
                          allow_unicode=False, width=1000)
    return header + body


def emit(ir: IR) -> dict[str, str]:
    return {
        job_path(ir): render_job(ir),
        "spark/submit.sh": render_submit(ir),
        "k8s/spark-application.yaml": render_application(ir),
    }
