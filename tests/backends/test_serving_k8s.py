"""The serving manifests (mlc.backends.serving_k8s): per shard Triton Deployment/Service/HPA/PDB, the
routing ConfigMap and the gateway, strictly schema-valid (kubernetes-validate, newest Kubernetes),
hardened, sized from the IR, free of inline secrets, literal for hostile spec strings, deterministic."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import EXAMPLES
from k8s_validate import K8S_VERSION, validate_manifest
from mlc.backends.serving_k8s import ObjectStoreRepository, ServingK8sError, emit, routing_table
from mlc.backends.serving_k8s.emit import (
    ASSEMBLE_SCRIPT, GATEWAY_PORT, HPA_MAX_FACTOR, REDIS_ENV, ROUTING_CHECKSUM, ROUTING_ENV, ROUTING_PATH,
    GATEWAY_PATH, routing_json, shard_path, triton_manifests, triton_name,
)
from mlc.backends.triton import repository_plan
from mlc.core.ir import IR
from mlc.compiler.pipeline import build

SPECS = {
    "ctr_criteo": (EXAMPLES / "ctr_criteo" / "ctr.mlc.yaml", None),
    "delivery_eta": (EXAMPLES / "delivery_eta" / "delivery.mlc.yaml", None),
    "delivery_eta-prod": (EXAMPLES / "delivery_eta" / "delivery.mlc.yaml", "prod"),
    "delivery_eta-dev": (EXAMPLES / "delivery_eta" / "delivery.mlc.yaml", "dev"),
}
HOSTILE = "x'; rm -rf /; ' \"$(touch pwned)\" `id` \\ ${HOME} \n: {a: b} # - *ref\n---\nkind: Secret"
# password=..., token: ..., scheme://user:pass@host, redis://:pass@host, AWS keys
SECRETISH = re.compile(r"(?i)(?<![a-z])(password|passwd|secret_?key|token|api_?key)\s*[:=]\s*\S|[a-z][a-z0-9+.-]*://[^/\s@]*:[^/\s@]*@"
                       r"|AKIA[0-9A-Z]{16}")


def compiled(case: str) -> IR:
    spec, env = SPECS[case]
    result = build(str(spec), env)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


@pytest.fixture(scope="module", params=sorted(SPECS))
def case(request) -> tuple[IR, dict[str, str]]:
    ir = compiled(request.param)
    return ir, emit(ir)


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def pod_specs(files: dict[str, str]):
    for path, text in files.items():
        for doc in docs(text):
            if doc["kind"] == "Deployment":
                yield path, doc, doc["spec"]["template"]["spec"]


def test_files(case):
    ir, files = case
    expected = {shard_path(s) for s in ir.deployment.shards} | {ROUTING_PATH, GATEWAY_PATH}
    assert set(files) == expected
    for shard in ir.deployment.shards:
        kinds = [d["kind"] for d in docs(files[shard_path(shard)])]
        assert kinds == ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert [d["kind"] for d in docs(files[GATEWAY_PATH])] == kinds
    assert [d["kind"] for d in docs(files[ROUTING_PATH])] == ["ConfigMap"]
    assert all(text.startswith("# ") and "Do not edit." in text.splitlines()[0] for text in files.values())


def test_every_manifest_validates_strictly(case):
    assert K8S_VERSION >= "v1.37"   # the newest version the pinned kubernetes-validate bundles
    _, files = case
    for path, text in files.items():
        for doc in docs(text):
            assert validate_manifest(doc) == [], (path, doc["kind"])


def test_validation_is_strict_on_emitted_manifests(case):
    _, files = case
    deployment = docs(files[GATEWAY_PATH])[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] = True
    assert any("'readOnlyRootFs' was unexpected" in e for e in validate_manifest(deployment))


def test_unsharded_spec_gets_the_implicit_main_shard():
    ir = compiled("ctr_criteo")
    files = emit(ir)
    assert set(files) == {"k8s/serving/main-triton.yaml", ROUTING_PATH, GATEWAY_PATH}
    table = routing_table(ir)
    assert table["partition_key"] is None and table["routes"] == {}
    assert table["default"]["shard"] == "main"
    assert table["default"]["service"] == "ctr-criteo-main-triton.ads-ranking.svc"
    assert table["default"]["models"] == ["ctr_lr", "ctr_deepfm"]
    init = docs(files["k8s/serving/main-triton.yaml"])[0]["spec"]["template"]["spec"]["initContainers"][0]
    # not sharded: training exports into <output>/repository itself
    assert init["args"][:3] == ["/opt/mlc/build", "/data/mlc/ctr_criteo/models/repository", "/models"]


def test_routing_table_of_the_sharded_example():
    ir = compiled("delivery_eta")
    files = emit(ir)
    (configmap,) = docs(files[ROUTING_PATH])
    assert configmap["metadata"]["name"] == "delivery-eta-routing"
    table = json.loads(configmap["data"]["routing.json"])
    assert table == routing_table(ir) and configmap["data"]["routing.json"] == routing_json(ir)
    assert table["partition_key"] == "city"
    expected = {"beijing": "north_west", "chengdu": "north_west", "shanghai": "east", "hangzhou": "east",
                "shenzhen": "south", "hong_kong": "south"}
    assert {value: route["shard"] for value, route in table["routes"].items()} == expected
    for shard in ir.deployment.shards:
        for value in shard.partitions:
            route = table["routes"][value]
            assert route == {"shard": shard.name, "service": f"{triton_name(ir, shard)}.delivery-eta.svc",
                             "port": 8000, "grpc_port": 8001, "models": list(shard.models)}
    assert table["default"]["shard"] == "east"            # `default: east` in the spec
    assert table["default"]["service"] == "delivery-eta-east-triton.delivery-eta.svc"
    # every service named in the table is one of the emitted Services, on a port it exposes
    services = {(d["metadata"]["name"], p["port"]) for text in files.values() for d in docs(text)
                if d["kind"] == "Service" for p in d["spec"]["ports"]}
    for route in [*table["routes"].values(), table["default"]]:
        name, namespace, svc = route["service"].split(".")
        assert (namespace, svc) == ("delivery-eta", "svc")
        assert (name, route["port"]) in services and (name, route["grpc_port"]) in services


def test_triton_deployment(case):
    ir, files = case
    images = dict(ir.deployment.images)
    for shard in ir.deployment.shards:
        deployment, service, hpa, pdb = docs(files[shard_path(shard)])
        name = triton_name(ir, shard)
        assert {d["metadata"]["name"] for d in (deployment, service, hpa, pdb)} == {name}
        assert all(d["metadata"]["namespace"] == ir.deployment.namespace for d in (deployment, service, hpa, pdb))
        spec = deployment["spec"]
        assert spec["replicas"] == shard.replicas
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"] == labels == service["spec"]["selector"] == \
            pdb["spec"]["selector"]["matchLabels"]
        assert labels["app.kubernetes.io/component"] == "serving" and labels["app.kubernetes.io/part-of"] == "mlc"
        assert labels["app.kubernetes.io/instance"] == name
        (triton,) = spec["template"]["spec"]["containers"]
        assert triton["image"] == images["serving"]
        assert triton["command"] == ["tritonserver"]
        assert "--model-repository=/models" in triton["args"] and "--strict-readiness=true" in triton["args"]
        ports = {p["name"]: p["containerPort"] for p in triton["ports"]}
        assert ports == {"http": 8000, "grpc": 8001, "metrics": 8002}
        assert {(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
            ("http", 8000, "http"), ("grpc", 8001, "grpc"), ("metrics", 8002, "metrics")}
        ready, live = triton["readinessProbe"]["httpGet"], triton["livenessProbe"]["httpGet"]
        assert (ready["path"], ports[ready["port"]]) == ("/v2/health/ready", 8000)
        assert (live["path"], ports[live["port"]]) == ("/v2/health/live", 8000)
        assert triton["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
        # resources exactly as the IR's shard resources
        parts = {part: dict(values) for part, values in shard.resources}
        assert triton["resources"] == {p: {k: v for k, v in parts[p].items() if v is not None}
                                       for p in ("requests", "limits") if parts.get(p)}
        assert triton["resources"]["requests"] and triton["resources"]["limits"]
        # HPA: min = replicas, max = HPA_MAX_FACTOR x replicas, CPU utilisation; PDB: one pod at a time
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (shard.replicas, HPA_MAX_FACTOR * shard.replicas)
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": labels}}


def test_model_repository_from_the_shared_claim_by_default(case):
    ir, files = case
    sharded = ir.deployment.partition_key is not None
    for shard in ir.deployment.shards:
        pod = docs(files[shard_path(shard)])[0]["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["command"] == ["python", "-c", ASSEMBLE_SCRIPT]
        versions = f"/data/mlc/{ir.name}/models/repository" + (f"/{shard.name}" if sharded else "")
        plan = [list(step) for step in repository_plan(ir, shard)]   # the Triton backend's plan
        assert init["args"] == ["/opt/mlc/build", versions, "/models", json.dumps(plan, separators=(",", ":"))]
        assert {target.split("/")[0] for _, _, target in plan} >= set(shard.models)
        assert init["image"] == dict(ir.deployment.images)["gateway"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "mlc-data", "readOnly": True}
        assert volumes["models"] == {"name": "models", "emptyDir": {}}
        assert {"name": "data", "mountPath": "/data/mlc", "readOnly": True} in init["volumeMounts"]
        triton_mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert triton_mounts["/models"]["readOnly"] is True


def test_assemble_script_follows_the_plan(tmp_path):
    """The initContainer's script, run for real: build files and every numeric exported version
    land where the plan says; temporary export directories are skipped; no version is an error;
    spec values are data to it."""
    build_dir, export, repo = tmp_path / "build", tmp_path / "export", tmp_path / "repo"
    for path in ("triton/s/m1/config.pbtxt", "triton/s/m1_pre/1/model.py", "mldl.json", "local/m1/model.py"):
        (build_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (build_dir / path).write_text(path)
    for path in ("m1/1/model.onnx", "m1/2/model.onnx", "m1/.3.tmp-x/model.onnx", "other/1/model.onnx"):
        (export / path).parent.mkdir(parents=True, exist_ok=True)
        (export / path).write_text(path)
    plan = [["build", "triton/s/m1/config.pbtxt", "m1/config.pbtxt"], ["export", "m1/*", "m1/*"],
            ["build", "local/m1/model.py", "m1/*/model.py"],
            ["build", "triton/s/m1_pre/1/model.py", "m1_pre/1/model.py"], ["build", "mldl.json", "m1_pre/1/mldl.json"]]

    def run(steps, export_dir=export):
        return subprocess.run([sys.executable, "-c", ASSEMBLE_SCRIPT, str(build_dir), str(export_dir), str(repo),
                               json.dumps(steps)], capture_output=True, text=True, timeout=60, cwd=tmp_path)

    result = run(plan)
    assert result.returncode == 0, result.stderr
    found = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    assert found == ["m1/1/model.onnx", "m1/1/model.py", "m1/2/model.onnx", "m1/2/model.py", "m1/config.pbtxt",
                     "m1_pre/1/mldl.json", "m1_pre/1/model.py"]
    assert (repo / "m1/2/model.py").read_text() == "local/m1/model.py"
    missing = run(plan + [["export", "m2/*", "m2/*"]])
    assert missing.returncode == 1 and "no exported version of m2" in missing.stderr
    evil = run(plan, export_dir=tmp_path / "$(touch pwned)")
    assert evil.returncode == 1 and not (tmp_path / "pwned").exists() and "$(touch pwned)" in evil.stderr


def test_object_storage_alternative():
    ir = compiled("delivery_eta")
    source = ObjectStoreRepository(uri="s3://models-bucket/delivery", secret="delivery-eta-models-s3")
    files = emit(ir, repository=source)
    for shard in ir.deployment.shards:
        deployment = docs(files[shard_path(shard)])[0]
        assert validate_manifest(deployment) == []
        pod = deployment["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["command"] == ["aws"]
        assert init["args"][:4] == ["s3", "sync", f"s3://models-bucket/delivery/{shard.name}/", "/models"]
        assert init["envFrom"] == [{"secretRef": {"name": "delivery-eta-models-s3"}}]
        assert "persistentVolumeClaim" not in json.dumps(pod)
        assert init["securityContext"]["readOnlyRootFilesystem"] is True
    for bad in ("s3://AKIA:secret@bucket/x", "https://bucket/x", "s3://b"):
        with pytest.raises(ServingK8sError):
            emit(ir, repository=ObjectStoreRepository(uri=bad, secret="s"))


def test_gateway(case):
    ir, files = case
    deployment, service, hpa, pdb = docs(files[GATEWAY_PATH])
    pod = deployment["spec"]["template"]["spec"]
    (gateway,) = pod["containers"]
    assert gateway["image"] == dict(ir.deployment.images)["gateway"]
    assert gateway["command"] == ["python", "-m", "mlc.runtime.serving.gateway"]
    env = {e["name"]: e for e in gateway["env"]}
    assert env[ROUTING_ENV] == {"name": ROUTING_ENV, "value": "/etc/mlc/routing.json"}
    assert env[REDIS_ENV] == {"name": REDIS_ENV, "valueFrom": {"secretKeyRef": {
        "name": f"{ir.name.replace('_', '-')}-redis", "key": "url"}}}
    assert gateway["ports"] == [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}]
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["routing"]["configMap"]["name"] == docs(files[ROUTING_PATH])[0]["metadata"]["name"]
    assert {"name": "routing", "mountPath": "/etc/mlc", "readOnly": True} in gateway["volumeMounts"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations[ROUTING_CHECKSUM])
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"] == pdb["metadata"]["name"]


def test_the_gateway_gets_the_experiments_config_and_logs_exposures_to_stdout(case):
    from mlc.backends.experiments_config import render
    from mlc.backends.experiments.config import ExperimentsConfig

    ir, files = case
    (configmap,) = docs(files[ROUTING_PATH])
    assert configmap["data"]["experiments.json"] == render(ir)          # the build's config.json
    ExperimentsConfig.from_json(json.loads(configmap["data"]["experiments.json"]))
    (deployment, *_) = docs(files[GATEWAY_PATH])
    (gateway,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    assert env["MLC_EXPERIMENTS"] == "/etc/mlc/experiments.json" and env["MLC_EXPOSURES"] == "-"
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "routing")
    assert {"key": "experiments.json", "path": "experiments.json"} in volume["configMap"]["items"]
    # an experiment change alone rolls the gateway
    changed = dataclasses.replace(ir, layers=(), experiments=(), switchbacks=())
    (other, *_) = docs(emit(changed)[GATEWAY_PATH])
    key = ROUTING_CHECKSUM
    if ir.experiments:
        assert other["spec"]["template"]["metadata"]["annotations"][key] != \
            deployment["spec"]["template"]["metadata"]["annotations"][key]


def test_every_pod_is_hardened(case):
    _, files = case
    for path, _, pod in pod_specs(files):
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 1000 != 0
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        writable = {m["mountPath"] for c in pod.get("initContainers", []) + pod["containers"]
                    for m in c.get("volumeMounts", []) if not m.get("readOnly")}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]}}, (path, container["name"])
            assert container["resources"]["requests"] and container["resources"]["limits"], path
            for mount in container.get("volumeMounts", []):
                if not mount.get("readOnly"):   # writable paths are scratch emptyDirs only
                    assert "emptyDir" in volumes[mount["name"]], (path, mount)
        assert "/tmp" in writable


def test_labels_everywhere(case):
    ir, files = case
    for text in files.values():
        for doc in docs(text):
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == ir.name.replace("_", "-")
            assert labels["app.kubernetes.io/instance"] == doc["metadata"]["name"]
            assert labels["app.kubernetes.io/part-of"] == "mlc"
            assert labels["app.kubernetes.io/component"] in {"serving", "gateway", "routing"}


def test_no_secret_inline(case):
    _, files = case
    text = "\n".join(files.values())
    assert not SECRETISH.search(text)
    assert "Secret" not in {doc["kind"] for t in files.values() for doc in docs(t)}
    for _, _, pod in pod_specs(files):
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):   # credentials only by reference
                if re.search(r"(?i)redis|password|secret|token|key", env["name"]):
                    assert set(env) == {"name", "valueFrom"} and "secretKeyRef" in env["valueFrom"], env
    assert SECRETISH.search("url: redis://:hunter2@redis:6379/0")      # the scan itself works
    assert SECRETISH.search("password: hunter2")


def test_gpu_resources_become_nvidia_gpus():
    ir = compiled("delivery_eta")
    shard = ir.deployment.shards[0]
    gpu_shard = dataclasses.replace(shard, resources=(("limits", (("cpu", "2"), ("gpu", 1), ("memory", "4Gi"))),
                                                      ("requests", (("cpu", "1"), ("memory", "2Gi")))))
    deployment = triton_manifests(ir, gpu_shard)[0]
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": 1},
                         "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1}}
    assert validate_manifest(deployment) == []


def test_hostile_spec_strings_stay_literal():
    ir = compiled("delivery_eta")
    images = tuple((k, HOSTILE) for k, _ in ir.deployment.images)
    shards = tuple(dataclasses.replace(s, partitions=(*s.partitions, HOSTILE + s.name)) for s in ir.deployment.shards)
    deployment = dataclasses.replace(ir.deployment, namespace=HOSTILE, images=images, shards=shards)
    evil = dataclasses.replace(ir, name="evil\n$(touch pwned)", deployment=deployment)
    files = emit(evil)
    for path, text in files.items():
        assert text.splitlines()[0].startswith("# ") and "\n# " not in text.split("---", 1)[0][1:], path
        parsed = docs(text)
        assert all(d["metadata"]["namespace"] == HOSTILE for d in parsed)
        assert "Secret" not in {d["kind"] for d in parsed}
    for _, _, pod in pod_specs(files):
        containers = pod.get("initContainers", []) + pod["containers"]
        assert all(c["image"] == HOSTILE for c in containers)
        for init in pod.get("initContainers", []):
            assert init["command"] == ["python", "-c", ASSEMBLE_SCRIPT]    # spec text only in args
            assert init["args"][1].startswith("/data/mlc/evil\n$(touch pwned)/models/repository/")
            assert json.loads(init["args"][3])
    table = json.loads(docs(files[ROUTING_PATH])[0]["data"]["routing.json"])
    assert table["spec"] == "evil\n$(touch pwned)" and table["namespace"] == HOSTILE
    for shard in shards:
        assert table["routes"][HOSTILE + shard.name]["shard"] == shard.name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_deterministic(name):
    first, second = emit(compiled(name)), emit(compiled(name))   # two independent compilations
    assert first == second and list(first) == list(second)


def test_nothing_to_serve_without_models():
    ir = compiled("ctr_criteo")
    assert emit(dataclasses.replace(ir, models=())) == {}


def test_no_hpa_without_a_cpu_request_or_limit():
    ir = compiled("delivery_eta")
    shard = dataclasses.replace(ir.deployment.shards[0], resources=(("limits", (("memory", "4Gi"),)),
                                                                    ("requests", (("memory", "2Gi"),))))
    manifests = triton_manifests(ir, shard)
    assert [d["kind"] for d in manifests] == ["Deployment", "Service", "PodDisruptionBudget"]
    assert all(validate_manifest(d) == [] for d in manifests)
