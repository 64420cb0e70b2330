"""Every Kubernetes manifest the examples compile to validates against the official schemas
(tests/k8s_schemas, see its README), and the validator demonstrably rejects bad manifests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import EXAMPLES, run_mlc
from k8s_validate import SCHEMAS, _k8s_extensions, known_kinds, validate_file, validate_manifest

CASES = {
    "ctr_criteo": ("ctr_criteo/ctr.mlc.yaml", None),
    "delivery_eta": ("delivery_eta/delivery.mlc.yaml", None),
    "delivery_eta-prod": ("delivery_eta/delivery.mlc.yaml", "prod"),
    "delivery_eta-dev": ("delivery_eta/delivery.mlc.yaml", "dev"),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def build_dir(request, tmp_path_factory) -> Path:
    spec, env = CASES[request.param]
    out = tmp_path_factory.mktemp(request.param) / "build"
    result = run_mlc("compile", str(EXAMPLES / spec), "-o", str(out), *(["--env", env] if env else []))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def spark_app() -> dict:
    out = Path(__file__).resolve().parents[1] / "golden" / "trees" / "ctr_criteo" / "k8s" / "spark-application.yaml"
    return yaml.safe_load(out.read_text(encoding="utf-8"))


def test_every_compiled_manifest_validates(build_dir):
    manifests = sorted(p for p in (build_dir / "k8s").rglob("*") if p.suffix in (".yaml", ".yml"))
    assert manifests, f"no manifests under {build_dir / 'k8s'}"
    assert "k8s/spark-application.yaml" in {p.relative_to(build_dir).as_posix() for p in manifests}
    errors = [error for path in manifests for error in validate_file(path)]
    assert errors == []


def test_schema_files_are_valid_self_contained_json_schemas():
    files = sorted(SCHEMAS.rglob("core/*/*.json")) + sorted((SCHEMAS / "crds").glob("*.json"))
    assert len(files) >= 9
    for path in files:
        schema = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        refs = set()

        def walk(node):
            if isinstance(node, dict):
                if isinstance(node.get("$ref"), str):
                    refs.add(node["$ref"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(schema)
        for ref in refs:  # no network, no other file: every $ref resolves inside the document
            assert ref.startswith("#/$defs/") and ref[len("#/$defs/"):] in schema["$defs"], (path.name, ref)
    assert {("sparkoperator.k8s.io/v1beta2", "SparkApplication"), ("kubeflow.org/v2beta1", "MPIJob"),
            ("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "ServiceAccount"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"), ("batch/v1", "Job"),
            ("policy/v1", "PodDisruptionBudget")} <= set(known_kinds())


# --- the validator rejects what the API server would reject (so the tests above cannot pass vacuously)

def test_generated_spark_application_is_valid(spark_app):
    assert validate_manifest(spark_app) == []


@pytest.mark.parametrize("mutate, where, what", [
    (lambda d: d["spec"]["driver"].__setitem__("cores", "2"), "spec.driver.cores", "is not of type 'integer'"),
    (lambda d: d["spec"]["executor"].__setitem__("instances", 2.5), "spec.executor.instances", "is not of type"),
    (lambda d: d["spec"]["driver"]["securityContext"].__setitem__("runAsUser", "185"),
     "spec.driver.securityContext.runAsUser", "is not of type"),
    (lambda d: d["spec"]["sparkConf"].__setitem__("spark.executor.cores", 2), "spec.sparkConf.spark.executor.cores",
     "is not of type 'string'"),
    (lambda d: d["spec"]["driver"].__setitem__("corez", 2), "spec.driver", "'corez' was unexpected"),
    (lambda d: d["spec"].__setitem__("pythonversion", "3"), "spec", "'pythonversion' was unexpected"),
    (lambda d: d["metadata"].__setitem__("label", {}), "metadata", "'label' was unexpected"),
    (lambda d: d["spec"].pop("sparkVersion"), "spec", "'sparkVersion' is a required property"),
    (lambda d: d["spec"].pop("driver"), "spec", "'driver' is a required property"),
    (lambda d: d.pop("spec"), "<document>", "'spec' is a required property"),
    (lambda d: d["spec"].__setitem__("type", "python"), "spec.type", "is not one of"),
    (lambda d: d["spec"]["restartPolicy"].__setitem__("type", "Sometimes"), "spec.restartPolicy.type", "is not one of"),
    (lambda d: d.__setitem__("apiVersion", "sparkoperator.k8s.io/v1beta1"), "<document>", "no schema for"),
    (lambda d: d["metadata"].__setitem__("name", "Ctr_Features"), "metadata.name", "DNS-1123"),
    (lambda d: d["metadata"].pop("name"), "metadata", "name"),
    (lambda d: d["metadata"]["labels"].__setitem__("app.kubernetes.io/name", "a b"), "metadata.labels", "label value"),
])
def test_validator_catches_bad_spark_application(spark_app, mutate, where, what):
    doc = copy.deepcopy(spark_app)
    mutate(doc)
    errors = validate_manifest(doc)
    assert any(e.startswith(where) and what in e for e in errors), errors


def test_unknown_kinds_are_errors():
    errors = validate_manifest({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    assert len(errors) == 1 and "no schema for" in errors[0]
    assert validate_manifest({"kind": "ConfigMap"}) == ["<document>: apiVersion and kind are required strings"]
    assert validate_manifest(["not", "a", "mapping"])


def _deployment() -> dict:
    labels = {"app.kubernetes.io/name": "ctr-criteo"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ctr-criteo-serving", "namespace": "ads-ranking", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{
                                  "name": "server", "image": "nvcr.io/nvidia/tritonserver:24.01-py3",
                                  "ports": [{"containerPort": 8000, "name": "http"}],
                                  "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                "limits": {"cpu": 2, "memory": "2Gi"}},
                                  "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}}}]}}},
    }


def _mpijob() -> dict:
    pod = {"spec": {"containers": [{"name": "worker", "image": "horovod/horovod:0.28.1",
                                    "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}
    return {
        "apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob",
        "metadata": {"name": "ctr-criteo-train", "namespace": "ads-ranking"},
        "spec": {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running"},
                 "mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": pod},
                                     "Worker": {"replicas": 2, "template": pod}}},
    }


SAMPLES = {
    "Deployment": _deployment,
    "Service": lambda: {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ctr-criteo"},
                        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": "http"},
                                                                     {"port": 81, "targetPort": 8001}]}},
    "ConfigMap": lambda: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                          "data": {"mldl.json": "{}"}},
    "ServiceAccount": lambda: {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "spark"}},
    "HorizontalPodAutoscaler": lambda: {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "hpa"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}, "minReplicas": 1,
                 "maxReplicas": 4, "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
    "Job": lambda: {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                    "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                   "containers": [{"name": "c", "image": "busybox"}]}}}},
    "PodDisruptionBudget": lambda: {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                    "metadata": {"name": "pdb"},
                                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}}},
    "MPIJob": _mpijob,
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_valid_samples_of_every_kind_pass(kind):
    assert validate_manifest(SAMPLES[kind]()) == []


@pytest.mark.parametrize("kind, mutate, where, what", [
    ("Deployment", lambda d: d["spec"].__setitem__("replicas", "2"), "spec.replicas", "is not of type"),
    ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("cpu", 1),
     "spec.template.spec.containers[0]", "'cpu' was unexpected"),
    ("Deployment", lambda d: d["spec"].pop("selector"), "spec", "'selector' is a required property"),
    ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].__setitem__(
        "cpu", [2]), "spec.template.spec.containers[0].resources.limits.cpu", "no alternative matched"),
    ("Service", lambda d: d["spec"]["ports"][0].__setitem__("targetPort", 1.5), "spec.ports[0].targetPort",
     "no alternative matched"),
    ("Service", lambda d: d["metadata"].__setitem__("name", "1-ctr"), "metadata.name", "DNS-1035"),
    ("MPIJob", lambda d: d["spec"].pop("mpiReplicaSpecs"), "spec", "'mpiReplicaSpecs' is a required property"),
    ("MPIJob", lambda d: d["spec"].__setitem__("slotsPerWorker", "1"), "spec.slotsPerWorker", "is not of type"),
    ("MPIJob", lambda d: d["spec"]["mpiReplicaSpecs"]["Worker"].__setitem__("replica", 2),
     "spec.mpiReplicaSpecs.Worker", "'replica' was unexpected"),
    ("MPIJob", lambda d: d["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].pop("name"),
     "spec.mpiReplicaSpecs.Worker.template.spec.containers[0]", "'name' is a required property"),
])
def test_validator_catches_bad_core_and_crd_manifests(kind, mutate, where, what):
    doc = SAMPLES[kind]()
    mutate(doc)
    errors = validate_manifest(doc)
    assert any(e.startswith(where) and what in e for e in errors), errors


def test_kubernetes_openapi_extensions():
    schema = _k8s_extensions({"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True, "type": "string"},
        "opt": {"type": "string", "nullable": True},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}}}}, crd=True)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"port": 8080, "opt": None, "free": {"a": 1, "b": 2}})
    assert validator.is_valid({"port": "http"})
    assert not validator.is_valid({"port": 1.5})
    assert not validator.is_valid({"other": 1})


def test_validate_file_handles_multi_document_yaml(tmp_path, spark_app):
    good, bad = SAMPLES["ConfigMap"](), copy.deepcopy(spark_app)
    bad["spec"]["driver"]["cores"] = "two"
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all([good, None, bad]), encoding="utf-8")
    errors = validate_file(path)
    assert len(errors) == 1 and errors[0].startswith(f"{path}#1 (SparkApplication ctr-criteo-features): "
                                                     "spec.driver.cores: 'two' is not of type 'integer'"), errors
    (tmp_path / "empty.yaml").write_text("---\n", encoding="utf-8")
    assert validate_file(tmp_path / "empty.yaml") == [f"{tmp_path / 'empty.yaml'}: no manifest in the file"]
