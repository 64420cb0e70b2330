"""Emit the Kubernetes manifests of the serving side, under ``k8s/serving/``:

* ``<shard>-triton.yaml`` per shard: Deployment (Triton; the model repository assembled by an
  initContainer), Service, HorizontalPodAutoscaler (``autoscaling/v2``), PodDisruptionBudget
  (``policy/v1``), one multi-document file;
* ``routing-configmap.yaml``: the routing table (partition value -> shard service and models, and
  the default shard) and the experiments config, as JSON in a ConfigMap;
* ``gateway.yaml``: the predictor gateway (``python -m mlc.runtime.serving.gateway``): Deployment,
  Service, HorizontalPodAutoscaler, PodDisruptionBudget.

Pure: reads the IR, returns text. Spec strings reach the outputs only as values in dicts dumped by
``yaml.safe_dump`` / ``json.dumps``, escaped comments, or arguments of a fixed Python script
(``python -c SCRIPT ARG...``); never as YAML, JSON, shell or Python syntax. No secret value is ever
written: credentials come from Secret references only.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Union

from mlc.backends.experiments_config import render as render_experiments
from mlc.backends.k8s_layout import DATA_CLAIM, DATA_VOLUME, DEPLOYMENT_NAME_MAX, IMAGE_BUILD_DIR, OUTPUT_ROOT
from mlc.backends.k8s_layout import labels as k8s_labels
from mlc.backends.templating import bounded_name
from mlc.backends.templating import comment_text as _comment
from mlc.backends.triton_layout import repository_plan
from mlc.core.ir import IR, ShardIR
from mlc.core.names import k8s_name
from mlc.core.errors import MlcError
from mlc import __version__

DIR = "k8s/serving"
# Triton
MODEL_REPOSITORY = "/models"          # emptyDir the initContainer fills, Triton reads
HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
TRITON_UID = 1000                     # `triton-server` in the nvcr.io/nvidia/tritonserver images
SHM_SIZE = "512Mi"                    # /dev/shm for Python-backend models (runtime default is 64Mi)
# Gateway
GATEWAY_MODULE = "mlc.runtime.serving.gateway"
GATEWAY_PORT = 8080
GATEWAY_UID = 1000
ROUTING_DIR = "/etc/mlc"
ROUTING_FILE = "routing.json"
ROUTING_ENV, REDIS_ENV = "MLC_ROUTING", "MLC_REDIS_URL"
EXPERIMENTS_FILE = "experiments.json"
EXPERIMENTS_ENV, EXPOSURES_ENV = "MLC_EXPERIMENTS", "MLC_EXPOSURES"
FEATURE_LOG_ENV = "MLC_FEATURE_LOG"          # `-`: the feature log's JSON lines on stdout
REDIS_SECRET_KEY = "url"
ROUTING_CHECKSUM = "checksum/routing"
GATEWAY_RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
INIT_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
# Scaling and availability
HPA_MAX_FACTOR = 3                    # maxReplicas = HPA_MAX_FACTOR x replicas
HPA_CPU_UTILIZATION = 70              # percent of the CPU request
PDB_MAX_UNAVAILABLE = 1
MAX_NAME = DEPLOYMENT_NAME_MAX        # pod names `<deployment>-<10 chars>-<5 chars>` stay DNS labels
ROUTING_VERSION = 1


class ServingK8sError(MlcError, ValueError):
    pass


@dataclass(frozen=True)
class PvcRepository:
    """Default: exported versions from the shared ``mlc-data`` claim (where training writes
    ``<OUTPUT_ROOT>/<spec>/models/repository[/<shard>]/<model>/<version>/``), configs from the build
    tree in the gateway image (``<IMAGE_BUILD_DIR>/triton/<shard>/``)."""
    claim: str = DATA_CLAIM


@dataclass(frozen=True)
class ObjectStoreRepository:
    """Alternative: ``aws s3 sync <uri>/<shard>/ /models``; the prefix holds one complete Triton
    repository per shard (configs and versions). Credentials (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, optionally ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``) come from the
    Secret ``secret`` via ``envFrom``; never from the URI."""
    uri: str                           # s3://bucket/prefix
    secret: str
    image: str = "amazon/aws-cli:2.17.0"


Repository = Union[PvcRepository, ObjectStoreRepository]
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^@\s]*)?\Z")


# ------------------------------------------------------------------------ names and paths


def shard_path(shard: ShardIR | str) -> str:
    return f"{DIR}/{shard if isinstance(shard, str) else shard.name}-triton.yaml"


ROUTING_PATH = f"{DIR}/routing-configmap.yaml"
GATEWAY_PATH = f"{DIR}/gateway.yaml"


def triton_name(ir: IR, shard: ShardIR) -> str:
    """Deployment/Service/HPA/PDB name of a shard: ``<spec>-<shard>-triton`` (`_` -> `-`), at most
    MAX_NAME characters (else a prefix plus 8 hex digits of its sha256)."""
    return bounded_name(k8s_name(ir.name, shard.name, "triton"), MAX_NAME)


def gateway_name(ir: IR) -> str:
    return bounded_name(k8s_name(ir.name, "gateway"), MAX_NAME)


def routing_name(ir: IR) -> str:
    return bounded_name(k8s_name(ir.name, "routing"), MAX_NAME)


def redis_secret(ir: IR) -> str:
    return bounded_name(k8s_name(ir.name, "redis"), MAX_NAME)


def service_host(ir: IR, shard: ShardIR) -> str:
    """The shard's Service DNS name, independent of the cluster domain: ``<service>.<namespace>.svc``."""
    return f"{triton_name(ir, shard)}.{ir.deployment.namespace}.svc"


def versions_dir(ir: IR, shard: ShardIR) -> str:
    """Where training exports the shard's versions (mlc.runtime.training.trainer.repository_dir with
    ``--output <OUTPUT_ROOT>/<spec>/models``): one repository per shard when the deployment is sharded."""
    base = f"{OUTPUT_ROOT}/{ir.name}/models/repository"
    return f"{base}/{shard.name}" if ir.deployment.partition_key else base


# ------------------------------------------------------------------------ building blocks


def _labels(ir: IR, name: str, component: str) -> dict[str, str]:
    return k8s_labels(k8s_name(ir.name), component, name)


def _meta(ir: IR, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": ir.deployment.namespace, "labels": dict(labels)}


def resources(shard: ShardIR) -> dict[str, dict[str, Any]]:
    """Requests and limits as written for the shard; ``gpu: N`` becomes ``nvidia.com/gpu: N`` in
    both (an extended resource: requests must equal limits)."""
    parts = {part: dict(values) for part, values in shard.resources}
    gpus = next((parts[p]["gpu"] for p in ("limits", "requests") if parts.get(p, {}).get("gpu") is not None), None)
    out = {}
    for part in ("requests", "limits"):
        values = {k: v for k, v in parts.get(part, {}).items() if k != "gpu" and v is not None}
        if gpus:
            values["nvidia.com/gpu"] = gpus
        if values:
            out[part] = values
    return out


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}


def _pod_security(uid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _spread(labels: dict[str, str]) -> list[dict[str, Any]]:
    return [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": dict(labels)}}]


def _deployment(ir: IR, name: str, labels: dict[str, str], replicas: int, pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(ir, name, labels),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": dict(labels)},
            # never below the serving capacity during a rollout
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }


def _service(ir: IR, name: str, labels: dict[str, str], ports: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(ir, name, labels),
        "spec": {"type": "ClusterIP", "selector": dict(labels),
                 "ports": [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
                           for port_name, port in ports]},
    }


def _has_cpu(res: dict[str, dict[str, Any]]) -> bool:
    return any("cpu" in res.get(part, {}) for part in ("requests", "limits"))


def _hpa(ir: IR, name: str, labels: dict[str, str], replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(ir, name, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": replicas,
            "maxReplicas": HPA_MAX_FACTOR * replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": HPA_CPU_UTILIZATION}}}],
        },
    }


def _pdb(ir: IR, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(ir, name, labels),
        "spec": {"maxUnavailable": PDB_MAX_UNAVAILABLE, "selector": {"matchLabels": dict(labels)}},
    }


def _http_probe(path: str, port: str, period: int, failures: int, initial: int = 0) -> dict[str, Any]:
    probe = {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 5,
             "failureThreshold": failures}
    return {**({"initialDelaySeconds": initial} if initial else {}), **probe}


# ------------------------------------------------------------------------ Triton, per shard

# Python, fixed text (the gateway image has Python and mlc); every value from the spec arrives as an
# argument: argv[1] = the build tree, argv[2] = the shard's exported repository, argv[3] = the
# repository to fill, argv[4] = the plan (JSON list of [origin, source, target], from
# mlc.backends.triton.repository_plan). `*` in a plan path = every exported (numeric) version of the
# model named by the target's first component; a served model without one is an error.
ASSEMBLE_SCRIPT = """import json, os, shutil, sys
build, export, repository, plan = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
roots = {"build": build, "export": export}

def versions(model):
    path = os.path.join(export, model)
    names = os.listdir(path) if os.path.isdir(path) else []
    return sorted((n for n in names if n.isdigit() and os.path.isdir(os.path.join(path, n))), key=int)

def copy(source, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.isdir(source):
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, target)

missing = []
for origin, source, target in plan:
    model = target.split("/", 1)[0]
    if "*" not in target:
        copy(os.path.join(roots[origin], source), os.path.join(repository, target))
        continue
    found = versions(model)
    if not found and model not in missing:
        missing.append(model)
    for version in found:
        copy(os.path.join(roots[origin], source.replace("*", version)),
             os.path.join(repository, target.replace("*", version)))
if missing:
    sys.exit("mlc: no exported version of " + ", ".join(missing) + " under " + export)
print("mlc: model repository ready in " + repository)
"""


def assemble_plan(ir: IR, shard: ShardIR) -> list[list[str]]:
    """The Triton backend's plan for the shard's servable repository, as JSON-ready triples."""
    return [[step.origin, step.source, step.target] for step in repository_plan(ir, shard)]


def triton_args(ir: IR) -> list[str]:
    return [f"--model-repository={MODEL_REPOSITORY}", "--strict-readiness=true", "--exit-on-error=true",
            "--model-control-mode=none", "--disable-auto-complete-config",
            f"--http-port={HTTP_PORT}", f"--grpc-port={GRPC_PORT}", f"--metrics-port={METRICS_PORT}",
            "--allow-metrics=true"]


def _init_container(ir: IR, shard: ShardIR, repository: Repository) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The initContainer filling MODEL_REPOSITORY, and the extra volumes it needs."""
    base = {"imagePullPolicy": "IfNotPresent", "resources": {p: dict(v) for p, v in INIT_RESOURCES.items()},
            "securityContext": _container_security()}
    mounts = [{"name": "models", "mountPath": MODEL_REPOSITORY}, {"name": "tmp", "mountPath": "/tmp"}]
    if isinstance(repository, ObjectStoreRepository):
        if not _S3_URI.match(repository.uri):
            raise ServingK8sError(f"`{repository.uri}` is not an s3://bucket/prefix URI without credentials")
        source = repository.uri.rstrip("/") + f"/{shard.name}/"
        return {"name": "fetch-models", "image": repository.image, "command": ["aws"],
                "args": ["s3", "sync", source, MODEL_REPOSITORY, "--no-progress", "--only-show-errors"],
                "env": [{"name": "HOME", "value": "/tmp"}],
                "envFrom": [{"secretRef": {"name": repository.secret}}],
                **base, "volumeMounts": mounts}, []
    plan = json.dumps(assemble_plan(ir, shard), separators=(",", ":"), ensure_ascii=True)
    return {"name": "assemble-models", "image": dict(ir.deployment.images).get("gateway", ""),
            "command": ["python", "-c", ASSEMBLE_SCRIPT],
            "args": [IMAGE_BUILD_DIR, versions_dir(ir, shard), MODEL_REPOSITORY, plan],
            "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
            **base,
            "volumeMounts": mounts + [{"name": DATA_VOLUME, "mountPath": OUTPUT_ROOT, "readOnly": True}]}, [
        {"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": repository.claim, "readOnly": True}}]


def triton_manifests(ir: IR, shard: ShardIR, repository: Repository | None = None) -> list[dict[str, Any]]:
    """Deployment, Service, HorizontalPodAutoscaler (when the shard has a CPU request or limit) and
    PodDisruptionBudget of one shard, in that order."""
    repository = repository or PvcRepository()
    name = triton_name(ir, shard)
    labels = _labels(ir, name, "serving")
    res = resources(shard)
    init, extra_volumes = _init_container(ir, shard, repository)
    triton = {
        "name": "triton",
        "image": dict(ir.deployment.images).get("serving", ""),
        "imagePullPolicy": "IfNotPresent",
        "command": ["tritonserver"],
        "args": triton_args(ir),
        "env": [{"name": "HOME", "value": "/tmp"}],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                  {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": res,
        # loading every model may take minutes: liveness starts only once the server is up
        "startupProbe": _http_probe("/v2/health/live", "http", period=10, failures=60),
        "readinessProbe": _http_probe("/v2/health/ready", "http", period=5, failures=3),
        "livenessProbe": _http_probe("/v2/health/live", "http", period=10, failures=3),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "models", "mountPath": MODEL_REPOSITORY, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"},
                         {"name": "shm", "mountPath": "/dev/shm"}],
    }
    pod = {
        "securityContext": _pod_security(TRITON_UID),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "topologySpreadConstraints": _spread(labels),
        "initContainers": [init],
        "containers": [triton],
        "volumes": [{"name": "models", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}},
                    {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}}, *extra_volumes],
    }
    docs = [_deployment(ir, name, labels, shard.replicas, pod),
            _service(ir, name, labels, [("http", HTTP_PORT), ("grpc", GRPC_PORT), ("metrics", METRICS_PORT)])]
    if _has_cpu(res):
        docs.append(_hpa(ir, name, labels, shard.replicas))
    docs.append(_pdb(ir, name, labels))
    return docs


# ------------------------------------------------------------------------ routing table


def _route(ir: IR, shard: ShardIR) -> dict[str, Any]:
    return {"shard": shard.name, "service": service_host(ir, shard), "port": HTTP_PORT,
            "grpc_port": GRPC_PORT, "models": list(shard.models)}


def default_shard(ir: IR) -> ShardIR:
    shards = ir.deployment.shards
    if not shards:
        raise ServingK8sError(f"deployment of `{ir.name}` has no shard")
    return next((s for s in shards if s.is_default), shards[0])


def routing_table(ir: IR) -> dict[str, Any]:
    """Partition value -> where its requests go; ``default`` for every value not listed (and for
    every request when the deployment is not sharded: ``partition_key`` is null, ``routes`` empty)."""
    routes = {value: _route(ir, shard) for shard in ir.deployment.shards for value in shard.partitions}
    return {"version": ROUTING_VERSION, "spec": ir.name, "namespace": ir.deployment.namespace,
            "partition_key": ir.deployment.partition_key, "routes": routes,
            "default": _route(ir, default_shard(ir))}


def routing_json(ir: IR) -> str:
    return json.dumps(routing_table(ir), indent=2, ensure_ascii=True) + "\n"


def experiments_json(ir: IR) -> str:
    """The experiments config (mlc.backends.experiments), which the gateway assigns with."""
    return render_experiments(ir)


def routing_configmap(ir: IR) -> dict[str, Any]:
    name = routing_name(ir)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(ir, name, _labels(ir, name, "routing")),
            "data": {ROUTING_FILE: routing_json(ir), EXPERIMENTS_FILE: experiments_json(ir)}}


# ------------------------------------------------------------------------ gateway


def gateway_manifests(ir: IR) -> list[dict[str, Any]]:
    """Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget of the gateway."""
    name = gateway_name(ir)
    labels = _labels(ir, name, "gateway")
    replicas = default_shard(ir).replicas
    container = {
        "name": "gateway",
        "image": dict(ir.deployment.images).get("gateway", ""),
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", GATEWAY_MODULE],
        "env": [
            {"name": ROUTING_ENV, "value": f"{ROUTING_DIR}/{ROUTING_FILE}"},
            {"name": EXPERIMENTS_ENV, "value": f"{ROUTING_DIR}/{EXPERIMENTS_FILE}"},
            {"name": EXPOSURES_ENV, "value": "-"},            # JSON lines on stdout, logs on stderr
            {"name": REDIS_ENV, "valueFrom": {"secretKeyRef": {"name": redis_secret(ir), "key": REDIS_SECRET_KEY}}},
            {"name": "MLC_PORT", "value": str(GATEWAY_PORT)},
            {"name": "HOME", "value": "/tmp"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
        "resources": {part: dict(values) for part, values in GATEWAY_RESOURCES.items()},
        "readinessProbe": _http_probe("/readyz", "http", period=5, failures=3),
        "livenessProbe": _http_probe("/healthz", "http", period=10, failures=3, initial=10),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "routing", "mountPath": ROUTING_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    if ir.deployment.feature_log.sample_rate > 0:     # the sample rate itself is read from mldl.json
        container["env"].insert(3, {"name": FEATURE_LOG_ENV, "value": "-"})
    pod = {
        "securityContext": _pod_security(GATEWAY_UID),
        "automountServiceAccountToken": False,
        "topologySpreadConstraints": _spread(labels),
        "containers": [container],
        "volumes": [{"name": "routing", "configMap": {"name": routing_name(ir),
                                                       "items": [{"key": ROUTING_FILE, "path": ROUTING_FILE},
                                                                 {"key": EXPERIMENTS_FILE,
                                                                  "path": EXPERIMENTS_FILE}]}},
                    {"name": "tmp", "emptyDir": {}}],
    }
    deployment = _deployment(ir, name, labels, replicas, pod)
    # a changed routing table or experiments config rolls the gateway (pods also see the mounted
    # files change in place, but the gateway reads them at start)
    digest = hashlib.sha256((routing_json(ir) + experiments_json(ir)).encode()).hexdigest()
    deployment["spec"]["template"]["metadata"]["annotations"] = {ROUTING_CHECKSUM: digest}
    return [deployment,
            _service(ir, name, labels, [("http", GATEWAY_PORT)]),
            _hpa(ir, name, labels, replicas),
            _pdb(ir, name, labels)]


# ------------------------------------------------------------------------ files


def _dumper():
    import yaml

    class Dumper(yaml.SafeDumper):
        """SafeDumper writing multi-line strings (the init script, routing.json) as literal blocks;
        the emitter itself falls back to a quoted scalar for text a block cannot hold."""

    def text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    Dumper.add_representer(str, text)
    return Dumper


def _render(docs: list[dict[str, Any]], header: str) -> str:
    import yaml

    body = yaml.dump_all(docs, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                         allow_unicode=False, width=1000, explicit_start=True)
    return f"# {header}, generated by mlc {__version__} from mldl.json. Do not edit.\n" + body


def emit(ir: IR, repository: Repository | None = None) -> dict[str, str]:
    """``repository``: where Triton's model repository comes from (default PvcRepository())."""
    if not ir.models or not ir.deployment.shards:
        return {}
    spec = _comment(ir.name)
    files = {}
    for shard in ir.deployment.shards:
        files[shard_path(shard)] = _render(triton_manifests(ir, shard, repository),
                                           f"Triton serving shard `{_comment(shard.name)}` of `{spec}`")
    files[ROUTING_PATH] = _render([routing_configmap(ir)], f"Routing table of `{spec}`")
    files[GATEWAY_PATH] = _render(gateway_manifests(ir), f"Predictor gateway of `{spec}`")
    return files
