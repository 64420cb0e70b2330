"""Emit ``spark/<name>_features.py``, ``spark/submit.sh`` and ``k8s/spark-application.yaml``; for a
spec with a stream source also ``spark/<name>_stream.py``, ``spark/submit_stream.sh`` and
``k8s/spark-stream-application.yaml`` (the long-running streaming job).

Pure: reads the IR, returns text. Spec strings reach the outputs only as Python literals
(``repr``), docstring-escaped text, ``shlex.quote``-d shell words or values in a dict dumped by
``yaml.safe_dump``; never as code, shell syntax or YAML syntax.
"""

from __future__ import annotations

import math
import shlex
from fractions import Fraction
from typing import Any

from mlc.backends.k8s_layout import (DATA_CLAIM, DATA_VOLUME, DEPLOYMENT_NAME_MAX, IMAGE_BUILD_DIR, IMAGE_DIST_DIR,
                                     OUTPUT_ROOT)
from mlc.backends.k8s_layout import labels as k8s_labels
from mlc.backends.templating import bounded_name, environment
from mlc.core.ir import IR, FeatureGroupIR, ShardIR, SourceIR
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
# Streaming job: Kafka needs Spark's connector (Scala 2.12 builds, as pyspark 3.5 ships), resolved
# with Ivy into a writable folder (the `spark` user of the images has no home directory).
KAFKA_PACKAGE = f"org.apache.spark:spark-sql-kafka-0-10_2.12:{SPARK_VERSION}"
IVY_DIR = "/tmp/.ivy2"
STORE_ENV = "MLC_ONLINE_STORE"           # the stream job's default for --store
# The online store's URL: the Secret `<spec>-redis`, key `url` -- the one the serving gateway reads
# (mlc.backends.serving_k8s.redis_secret; backends share no names, so the rule is repeated here).
STORE_SECRET_KEY = "url"
STREAM_RETRY_SECONDS, STREAM_SUBMISSION_RETRY_SECONDS = 10, 20

_MIB, _GIB = 2**20, 2**30


class SparkBackendError(MlcError, ValueError):
    pass


def job_path(ir: IR) -> str:
    return f"spark/{ir.name}_features.py"


def stream_job_path(ir: IR) -> str:
    return f"spark/{ir.name}_stream.py"


STREAM_SUBMIT_PATH = "spark/submit_stream.sh"
STREAM_APPLICATION_PATH = "k8s/spark-stream-application.yaml"


def stream_sources(ir: IR) -> list[SourceIR]:
    """The sources with a live side (``stream:``), in spec order."""
    return [source for source in ir.sources if source.stream is not None]


def uses_kafka(ir: IR) -> bool:
    return any(source.stream.kind == "kafka" for source in stream_sources(ir))


def stream_packages(ir: IR) -> list[str]:
    """Maven coordinates the streaming job needs on its classpath."""
    return [KAFKA_PACKAGE] if uses_kafka(ir) else []


def stream_state_dir(ir: IR) -> str:
    """The streaming job's state folder on the shared data volume (checkpoints, progress, dead
    letters, status.json)."""
    return f"{OUTPUT_ROOT}/stream/{ir.name}"


def store_secret(ir: IR) -> str:
    """The Secret holding the online store's URL (key STORE_SECRET_KEY): ``<spec>-redis``."""
    return bounded_name(k8s_name(ir.name, "redis"), DEPLOYMENT_NAME_MAX)


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


def _stream_group(group: FeatureGroupIR) -> dict[str, str]:
    tiles = ", ".join(f"{window} (tile {seconds}s)" for window, seconds in group.tiles)
    return {"name": group.name, "entity": group.entity, "source": group.source, "tiles": tiles}


def _stream_source(source: SourceIR) -> dict[str, str]:
    stream = source.stream
    return {"name": source.name, "kind": stream.kind, "format": stream.format,
            "where": "folder" if stream.kind == "files" else "topic", "location": stream.location}


def render_stream_job(ir: IR) -> str:
    sources = stream_sources(ir)
    return _env().get_template("stream.py.j2").render(
        ir=ir, mlc_version=__version__, spark_conf=SPARK_CONF, app_name=k8s_name(ir.name, "stream"),
        sources=[_stream_source(s) for s in sources],
        groups=[_stream_group(g) for g in ir.feature_groups if g.realtime],
        packages=stream_packages(ir), store_env=STORE_ENV,
        state_dir=stream_state_dir(ir), submit=STREAM_SUBMIT_PATH, example_source=sources[0].name,
    )


def submit_args(ir: IR, component: str = "features") -> list[tuple[str, ...]]:
    """The spark-submit options, one tuple of words per line (spec values still raw)."""
    images, resources, name = _images(ir), pod_resources(ir), k8s_name(ir.name, component)
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


def stream_submit_args(ir: IR) -> list[tuple[str, ...]]:
    """The streaming job's spark-submit options: the batch ones, plus the Kafka connector, the
    store URL from its Secret and the shared data volume (driver and executors)."""
    lines = submit_args(ir, "stream")
    packages = stream_packages(ir)
    if packages:
        lines += [("--packages", ",".join(packages)), ("--conf", f"spark.jars.ivy={IVY_DIR}")]
    volume = f"volumes.persistentVolumeClaim.{DATA_VOLUME}"
    for role in ("driver", "executor"):
        prefix = f"spark.kubernetes.{role}"
        lines += [
            ("--conf", f"{prefix}.secretKeyRef.{STORE_ENV}={store_secret(ir)}:{STORE_SECRET_KEY}"),
            ("--conf", f"{prefix}.{volume}.options.claimName={DATA_CLAIM}"),
            ("--conf", f"{prefix}.{volume}.mount.path={OUTPUT_ROOT}"),
        ]
    return lines


def _quoted_lines(lines: list[tuple[str, ...]]) -> list[str]:
    return [" ".join(shlex.quote(word) for word in words) for words in lines]


def render_submit(ir: IR) -> str:
    return _env().get_template("submit.sh.j2").render(
        ir=ir, mlc_version=__version__, option_lines=_quoted_lines(submit_args(ir)), default_master=DEFAULT_MASTER,
        build_uri=f"local://{IMAGE_BUILD_DIR}", job=job_path(ir), what="feature job", script="spark/submit.sh",
        usage="[--as-of TS] [--input SOURCE=PATH]... [--output DIR] [--step STEP]", default_args=[], notes=[],
    )


def render_stream_submit(ir: IR) -> str:
    return _env().get_template("submit.sh.j2").render(
        ir=ir, mlc_version=__version__, option_lines=_quoted_lines(stream_submit_args(ir)),
        default_master=DEFAULT_MASTER, build_uri=f"local://{IMAGE_BUILD_DIR}", job=stream_job_path(ir),
        what="streaming job", script=STREAM_SUBMIT_PATH,
        usage="[--state-dir DIR] [--source NAME]... [--input SOURCE=PATH]... [--available-now]",
        default_args=_quoted_lines([("--state-dir", stream_state_dir(ir))]), notes=_stream_submit_notes(ir),
    )


def _stream_submit_notes(ir: IR) -> list[str]:
    notes = [
        f"The job first gets --state-dir {stream_state_dir(ir)} (the volume claim {DATA_CLAIM}, mounted at "
        f"{OUTPUT_ROOT}); arguments given here come after it and win.",
        f"{STORE_ENV} (the online store URL, --store) comes from the Secret {store_secret(ir)}, key "
        f"{STORE_SECRET_KEY}.",
    ]
    if uses_kafka(ir):
        notes.append(f"Kafka sources: the connector {KAFKA_PACKAGE} is resolved with --packages (Ivy dir {IVY_DIR}).")
    return notes


def _application(ir: IR, component: str, job: str, arguments: list[str], driver_env: list[dict[str, Any]],
                 executor_env: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A SparkApplication (sparkoperator.k8s.io/v1beta2) running ``job`` as a dict in a fixed key
    order; ``spec`` (restartPolicy, deps) is merged after the common settings."""
    name = k8s_name(ir.name, component)
    labels = k8s_labels(k8s_name(ir.name), component)
    resources = pod_resources(ir)
    security = {"runAsNonRoot": True, "runAsUser": SPARK_UID}

    def pod(env: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        pod_spec: dict[str, Any] = {"cores": resources["cores"]}
        if resources["core_request"]:
            pod_spec["coreRequest"] = resources["core_request"]
        if resources["core_limit"]:
            pod_spec["coreLimit"] = resources["core_limit"]
        pod_spec["memory"] = resources["memory"]
        pod_spec.update(extra)
        if env:
            pod_spec["env"] = env
        pod_spec["labels"] = dict(labels)
        pod_spec["securityContext"] = dict(security)
        pod_spec["volumeMounts"] = [{"name": DATA_VOLUME, "mountPath": OUTPUT_ROOT}]
        return pod_spec

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
            "mainApplicationFile": f"local://{IMAGE_BUILD_DIR}/{job}",
            "arguments": arguments,
            "sparkVersion": SPARK_VERSION,
            "sparkConf": dict(SPARK_CONF),
            **spec,
            "volumes": [{"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": DATA_CLAIM}}],
            "driver": pod(driver_env, serviceAccount=SERVICE_ACCOUNT),
            "executor": pod(executor_env, instances=EXECUTOR_INSTANCES),
        },
    }


def _wheel() -> str:
    return f"local://{IMAGE_DIST_DIR}/mlc-{__version__}-py3-none-any.whl"


def application(ir: IR) -> dict[str, Any]:
    """The SparkApplication of the feature job: runs once (restartPolicy Never)."""
    return _application(
        ir, "features", job_path(ir), ["--output", f"{OUTPUT_ROOT}/{ir.name}"], _catalog_env(ir).get("env", []), [],
        deps={"pyFiles": [_wheel()]}, restartPolicy={"type": "Never"},
    )


def _store_env(ir: IR) -> dict[str, Any]:
    """The online store URL from its Secret, never a literal."""
    return {"name": STORE_ENV, "valueFrom": {"secretKeyRef": {"name": store_secret(ir), "key": STORE_SECRET_KEY}}}


def stream_application(ir: IR) -> dict[str, Any]:
    """The SparkApplication of the streaming job: long-running, restarted whenever it stops
    (restartPolicy Always), its state on the shared volume, the store URL from a Secret."""
    deps: dict[str, Any] = {"pyFiles": [_wheel()]}
    packages = stream_packages(ir)
    if packages:
        deps["packages"] = packages
    app = _application(
        ir, "stream", stream_job_path(ir), ["--state-dir", stream_state_dir(ir)],
        [*_catalog_env(ir).get("env", []), _store_env(ir)], [_store_env(ir)],
        deps=deps,
        restartPolicy={"type": "Always", "onFailureRetryInterval": STREAM_RETRY_SECONDS,
                       "onSubmissionFailureRetryInterval": STREAM_SUBMISSION_RETRY_SECONDS},
    )
    if packages:
        app["spec"]["sparkConf"]["spark.jars.ivy"] = IVY_DIR
    return app


def _render_manifest(ir: IR, doc: dict[str, Any], what: str) -> str:
    import yaml

    header = (f"# SparkApplication for the {what} of `{ir.name}`, generated by mlc {__version__}"
              " from mldl.json. Do not edit.\n")
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=False, width=1000)
    return header + body


def render_application(ir: IR) -> str:
    return _render_manifest(ir, application(ir), "feature job")


def render_stream_application(ir: IR) -> str:
    return _render_manifest(ir, stream_application(ir), "streaming job")


def emit(ir: IR) -> dict[str, str]:
    return {
        job_path(ir): render_job(ir),
        "spark/submit.sh": render_submit(ir),
        "k8s/spark-application.yaml": render_application(ir),
        **(stream_files(ir) if stream_sources(ir) else {}),
    }


def stream_files(ir: IR) -> dict[str, str]:
    """The streaming job's files (only for a spec with a stream source)."""
    return {
        stream_job_path(ir): render_stream_job(ir),
        STREAM_SUBMIT_PATH: render_stream_submit(ir),
        STREAM_APPLICATION_PATH: render_stream_application(ir),
    }
