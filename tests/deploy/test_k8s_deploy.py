"""``deploy`` / ``rollback`` / ``status`` of mlc.runtime.deploy.k8s against the FAKE API server of
fake_kube.py (an in-memory stand-in started per test; not Kubernetes: see its docstring)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import shutil
import socket
import sys
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, run_mlc
from mlc.runtime.deploy import k8s
from mlc.runtime.deploy.k8s import apply as k8s_apply

APP = "delivery_eta"
NS = "delivery-eta-prod"


def _load_fake():
    name = "mlc_tests_fake_kube"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("fake_kube.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


FakeKube = _load_fake().FakeKube


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("k8s-deploy") / "build"
    result = run_mlc("compile", str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"), "-o", str(out), "--env", "prod")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def build(compiled, tmp_path) -> Path:
    """A private copy of the compiled build, to edit."""
    return Path(shutil.copytree(compiled, tmp_path / "build"))


@pytest.fixture
def fake():
    server = FakeKube().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(k8s_apply, "POLL_SECONDS", 0.01)


def run(fn, *args, **kwargs) -> tuple[int, str]:
    out = io.StringIO()
    rc = fn(*args, out=out, **kwargs)
    return rc, out.getvalue()


def deploy(fake, build, **kwargs) -> tuple[int, str]:
    return run(k8s.deploy, str(build), APP, api_client=fake.api_client(), **kwargs)


def releases(fake) -> dict[int, dict]:
    return {int(cm["metadata"]["labels"]["mlc.dev/release"]): cm for cm in fake.all("ConfigMap")
            if "mlc.dev/release" in cm["metadata"].get("labels", {})}


def release_objects(cm) -> list[dict]:
    return [o for o in yaml.safe_load_all(cm["data"]["objects.yaml"]) if o]


def edit(path: Path, kind: str, name: str, change) -> None:
    """Apply ``change`` to one document of a multi-document manifest file."""
    docs = list(yaml.safe_load_all(path.read_text()))
    hits = [d for d in docs if d and d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1
    change(hits[0])
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def replicas(fake, name="delivery-eta-gateway") -> int:
    return fake.find("Deployment", NS, name)["spec"]["replicas"]


def set_gateway_replicas(build: Path, n: int) -> None:
    edit(build / "k8s" / "serving" / "gateway.yaml", "Deployment", "delivery-eta-gateway",
         lambda d: d["spec"].__setitem__("replicas", n))


# --------------------------------------------------------------------------- deploy

def test_first_deploy_creates_everything_and_records_release_1(fake, build):
    desired = k8s.load_manifests(str(build))
    rc, out = deploy(fake, build, versions={"eta_dnn": {"east": 3}})
    assert rc == 0, out
    assert f"Plan: {len(desired)} to create, 0 to update, 0 to delete, 0 unchanged" in out
    for d in desired:
        live = fake.find(d["kind"], NS, d["metadata"]["name"])
        assert live is not None, d["metadata"]["name"]
        assert live["metadata"]["labels"]["mlc.dev/app"] == APP
        assert live["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlc"
        assert live["metadata"]["managedFields"][0]["manager"] == "mlc"
    patches = [q for m, p, q in fake.log if m == "PATCH"]
    assert patches and all("fieldManager=mlc" in q and "force=true" in q for q in patches)
    # applied in dependency order
    order = [p.split("/")[-2] for m, p, q in fake.log if m == "PATCH"]
    assert order.index("configmaps") < order.index("services") < order.index("deployments") \
        < order.index("horizontalpodautoscalers") < order.index("poddisruptionbudgets") < order.index("mpijobs") \
        < order.index("sparkapplications")
    (n, cm), = releases(fake).items()
    assert n == 1 and cm["metadata"]["name"] == "delivery-eta-release-1" and cm["metadata"]["namespace"] == NS
    assert "release 1 recorded" in out
    assert cm["data"]["manifest_sha256"] == hashlib.sha256((build / "manifest.json").read_bytes()).hexdigest()
    assert json.loads(cm["data"]["versions.json"]) == {"eta_dnn": {"east": 3}}
    assert len(release_objects(cm)) == len(desired)


def test_second_deploy_of_the_same_build_changes_nothing(fake, build):
    assert deploy(fake, build)[0] == 0
    patches, rv = fake.count("PATCH"), {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in fake.all()}
    rc, out = deploy(fake, build)
    assert rc == 0
    assert "no changes" in out.splitlines()
    assert "0 to create, 0 to update, 0 to delete" in out
    assert fake.count("PATCH") == patches and fake.count("DELETE") == 0
    assert {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in fake.all()} == rv
    assert list(releases(fake)) == [1]


def test_changed_replicas_update_and_record_release_2(fake, build):
    assert deploy(fake, build)[0] == 0
    generation = fake.find("Deployment", NS, "delivery-eta-gateway")["metadata"]["generation"]
    set_gateway_replicas(build, 3)
    rc, out = deploy(fake, build)
    assert rc == 0, out
    assert f"~ update Deployment {NS}/delivery-eta-gateway (spec.replicas)" in out
    assert "0 to create, 1 to update, 0 to delete" in out
    assert replicas(fake) == 3
    assert fake.find("Deployment", NS, "delivery-eta-gateway")["metadata"]["generation"] == generation + 1
    assert sorted(releases(fake)) == [1, 2]
    assert "release 2 recorded" in out


def test_object_removed_from_the_build_is_pruned(fake, build):
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-ours", "namespace": NS}, "data": {}}
    assert deploy(fake, build)[0] == 0
    fake.api_client().call_api(f"/api/v1/namespaces/{NS}/configmaps/not-ours", "PATCH",
                               query_params=[("fieldManager", "someone")], body=foreign,
                               header_params={"Content-Type": "application/apply-patch+yaml"})
    gone = "delivery-eta-eta-dnn-south-train"
    (build / "k8s" / "mpijob-eta_dnn-south.yaml").unlink()
    rc, out = deploy(fake, build)
    assert rc == 0, out
    assert f"- delete MPIJob {NS}/{gone}" in out
    assert "0 to create, 0 to update, 1 to delete" in out
    assert fake.find("MPIJob", NS, gone) is None
    assert fake.find("ConfigMap", NS, "not-ours") is not None         # unlabelled: never pruned
    assert fake.find("ConfigMap", NS, "delivery-eta-release-1") is not None
    assert gone not in {o["metadata"]["name"] for o in release_objects(releases(fake)[2])}


def test_dry_run_prints_the_plan_and_changes_nothing(fake, build):
    rc, out = deploy(fake, build, dry_run=True)
    assert rc == 0 and "+ create Deployment" in out and "dry run: nothing was changed" in out
    assert fake.all() == [] and fake.count("PATCH") == 0
    assert deploy(fake, build)[0] == 0
    set_gateway_replicas(build, 2)
    (build / "k8s" / "mpijob-eta_dnn-south.yaml").unlink()
    before = fake.all()
    rc, out = deploy(fake, build, dry_run=True)
    assert rc == 0
    assert "~ update Deployment delivery-eta-prod/delivery-eta-gateway (spec.replicas)" in out
    assert "- delete MPIJob delivery-eta-prod/delivery-eta-eta-dnn-south-train" in out
    assert fake.all() == before and list(releases(fake)) == [1]
    # the server dry run sends the applies with dryRun=All: validated, not persisted
    patches = fake.count("PATCH")
    rc, out = deploy(fake, build, dry_run="server")
    assert rc == 0 and "server dry run: 1 of 1 applies accepted" in out
    assert [q for m, _, q in fake.log if m == "PATCH"][patches:] == ["fieldManager=mlc&force=true&dryRun=All"]
    assert fake.all() == before


def test_wait_succeeds_once_deployments_are_available(fake, build):
    fake.ready_after_gets = 3
    rc, out = deploy(fake, build, wait=True, timeout=30)
    assert rc == 0, out
    assert "all Deployments rolled out" in out
    assert "rolled out (12/12 replicas available)" in out
    gets = [p for m, p, _ in fake.log if m == "GET" and p.endswith("/deployments/delivery-eta-gateway")]
    assert len(gets) >= 4                                   # it polled until ready


def test_failed_rollout_restores_the_previous_release(fake, build):
    assert deploy(fake, build)[0] == 0
    set_gateway_replicas(build, 20)
    fake.rollout = "fail"
    rc, out = deploy(fake, build, wait=True, timeout=30)
    assert rc == 1
    assert "Deployment delivery-eta-prod/delivery-eta-gateway failed to roll out: ProgressDeadlineExceeded" in out
    assert "rolling back automatically to release 1" in out
    assert replicas(fake) == 12
    history = releases(fake)
    assert sorted(history) == [1, 2, 3]
    assert history[2]["data"]["status"] == "failed"
    assert history[3]["data"]["source"] == "auto-rollback of release 2"
    assert release_objects(history[3]) == release_objects(history[1])


def test_rollout_timeout_restores_the_previous_release(fake, build):
    assert deploy(fake, build)[0] == 0
    set_gateway_replicas(build, 4)
    fake.rollout = "pending"
    rc, out = deploy(fake, build, wait=True, timeout=0.2)
    assert rc == 1
    assert "timed out after 0.2s waiting for delivery-eta-prod/delivery-eta-gateway" in out
    assert "rolling back automatically to release 1" in out and replicas(fake) == 12


def test_rollback_to_1_reapplies_release_1_as_release_3(fake, build):
    assert deploy(fake, build, versions={"eta_dnn": 1})[0] == 0
    set_gateway_replicas(build, 5)
    pruned = "delivery-eta-eta-dnn-south-train"
    (build / "k8s" / "mpijob-eta_dnn-south.yaml").unlink()
    assert deploy(fake, build, versions={"eta_dnn": 2})[0] == 0
    assert replicas(fake) == 5 and fake.find("MPIJob", NS, pruned) is None
    rc, out = run(k8s.rollback, APP, to=1, api_client=fake.api_client())
    assert rc == 0, out
    assert "rolling back delivery_eta to release 1 (as release 3)" in out
    assert replicas(fake) == 12 and fake.find("MPIJob", NS, pruned) is not None
    history = releases(fake)
    assert sorted(history) == [1, 2, 3]
    assert history[3]["data"]["source"] == "rollback to release 1"
    assert json.loads(history[3]["data"]["versions.json"]) == {"eta_dnn": 1}
    # default: the release before the latest (2), as release 4, pruning what 2 lacks
    rc, out = run(k8s.rollback, APP, api_client=fake.api_client(), wait=True, timeout=30)
    assert rc == 0, out
    assert replicas(fake) == 5 and fake.find("MPIJob", NS, pruned) is None
    assert sorted(releases(fake)) == [1, 2, 3, 4]
    rc, out = run(k8s.rollback, APP, to=9, api_client=fake.api_client())
    assert rc == 1 and "no release 9 of delivery_eta (releases: 1, 2, 3, 4)" in out


def test_status_reports_releases_and_deployments(fake, build):
    assert deploy(fake, build, versions={"eta_dnn": 7})[0] == 0
    report = k8s.status(APP, api_client=fake.api_client())
    assert [(r["n"], r["status"], r["versions"]) for r in report["releases"]] == [(1, "deployed", {"eta_dnn": 7})]
    assert report["releases"][0]["created"]
    gateway = next(d for d in report["deployments"] if d["name"] == "delivery-eta-gateway")
    assert (gateway["ready"], gateway["desired"], gateway["state"]) == (12, 12, "ready")
    assert len(report["deployments"]) == 4


# --------------------------------------------------------------------------- errors

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_one_clear_line_and_exit_2(build):
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{_closed_port()}"
    rc, out = run(k8s.deploy, str(build), APP, api_client=client.ApiClient(cfg))
    assert rc == 2
    assert out.startswith(f"error: cannot reach the Kubernetes API at {cfg.host}")
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
    rc, out = run(k8s.rollback, APP, api_client=client.ApiClient(cfg))
    assert rc == 2 and "cannot reach the Kubernetes API" in out
    with pytest.raises(k8s.KubeUnreachable):
        k8s.status(APP, api_client=client.ApiClient(cfg))


def test_connection_lost_mid_deploy_says_what_was_applied(fake, build):
    fake.drop_after_applies = 3
    rc, out = deploy(fake, build)
    assert rc == 2
    lines = out.splitlines()
    applied = next(line for line in lines if line.startswith("applied before the error: "))
    assert applied.count("create ") == 3 and "create ConfigMap delivery-eta-prod/delivery-eta-routing" in applied
    assert any(line.startswith("not applied: create Service") for line in lines)
    assert "no release was recorded" in out
    assert releases(fake) == {}


def test_missing_crd_is_refused_before_anything_is_applied(build):
    fake = FakeKube(crds=False).start()
    try:
        rc, out = run(k8s.deploy, str(build), APP, api_client=fake.api_client())
        assert rc == 1
        assert "the cluster does not serve MPIJob (kubeflow.org/v2beta1)" in out and "CRD" in out
        assert fake.count("PATCH") == 0
    finally:
        fake.stop()


def test_missing_build_is_exit_2(tmp_path, fake):
    rc, out = deploy(fake, tmp_path)
    assert rc == 2 and "no k8s/ folder in the build" in out


def test_kubeconfig_context_is_used_when_no_client_is_given(fake, build, tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "broken",
        "clusters": [{"name": "fake", "cluster": {"server": fake.url}},
                     {"name": "broken", "cluster": {"server": f"http://127.0.0.1:{_closed_port()}"}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}},
                     {"name": "broken", "context": {"cluster": "broken", "user": "u"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    from kubernetes import client
    monkeypatch.setattr(client.Configuration, "_default", None)         # load_kube_config sets it globally
    rc, out = run(k8s.deploy, str(build), APP, context="fake")
    assert rc == 0, out
    assert fake.authorizations == {"Bearer t0ken"}
    assert fake.find("ConfigMap", NS, "delivery-eta-release-1") is not None
    assert k8s.status(APP, context="fake")["releases"][0]["n"] == 1
    rc, out = run(k8s.deploy, str(build), APP)                          # the current context: unreachable
    assert rc == 2 and "cannot reach the Kubernetes API" in out


def test_no_kubeconfig_and_not_in_a_cluster_is_exit_2(build, tmp_path, monkeypatch):
    from kubernetes import client
    monkeypatch.setattr(client.Configuration, "_default", None)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    rc, out = run(k8s.deploy, str(build), APP, context="prod")
    assert rc == 2
    assert out.startswith("error: no Kubernetes configuration: kubeconfig (context 'prod')")
    assert len(out.strip().splitlines()) == 1
