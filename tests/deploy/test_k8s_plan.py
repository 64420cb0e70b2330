"""Pure planning of ``mlc deploy --target k8s`` (mlc.runtime.deploy.k8s.plan/releases): fixtures of
live objects as the API server returns them, no server."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, run_mlc
from k8s_validate import validate_manifest
from mlc.runtime.deploy.k8s import (KubeError, label_objects, load_manifests, plan, render_plan, rollout_state)
from mlc.runtime.deploy.k8s.plan import KIND_ORDER, diff_object
from mlc.runtime.deploy.k8s.releases import (parse_release, previous_release, release_configmap, release_name,
                                             releases_of)

APP = "delivery_eta"
NS = "delivery-eta-prod"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("k8s-plan") / "build"
    result = run_mlc("compile", str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"), "-o", str(out), "--env", "prod")
    assert result.returncode == 0, result.stderr
    return out


def deployment(replicas: int = 3, **extra) -> dict:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "gw", "namespace": NS, "labels": {"app.kubernetes.io/name": "x"}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "gw"}},
                    "template": {"metadata": {"labels": {"app": "gw"}},
                                 "spec": {"containers": [{"name": "gw", "image": "python:3.11-slim",
                                                          "args": [],
                                                          "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                                        "limits": {"cpu": "1"}}}]}}}}
    obj["spec"].update(extra)
    return obj


def as_live(desired: dict, **status) -> dict:
    """What the API server returns for ``desired`` applied by field manager mlc: server metadata,
    controller annotations, defaulted fields, canonicalised quantities, status, managedFields."""
    live = copy.deepcopy(label_objects([desired], APP)[0])
    meta = live["metadata"]
    meta.update(uid="0b0e7c1e-1", resourceVersion="4711", generation=3, creationTimestamp="2024-07-01T00:00:00Z")
    meta["annotations"] = {"deployment.kubernetes.io/revision": "3"}
    meta["managedFields"] = [
        {"manager": "mlc", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in meta["labels"]}},
                      "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {}, "f:spec": {
                          "f:containers": {'k:{"name":"gw"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
         "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}]
    spec = live["spec"]
    spec.update(progressDeadlineSeconds=600, revisionHistoryLimit=10,
                strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    pod = spec["template"]["spec"]
    pod.update(restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default-scheduler",
               securityContext={}, terminationGracePeriodSeconds=30)
    container = pod["containers"][0]
    del container["args"]                                       # empty list: omitted by the server
    container.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File",
                     imagePullPolicy="IfNotPresent")
    container["resources"]["requests"]["cpu"] = "0.5"           # same quantity, other spelling
    container["resources"]["limits"]["cpu"] = "1000m"
    live["status"] = {"observedGeneration": 3, "replicas": spec["replicas"], "updatedReplicas": spec["replicas"],
                      "availableReplicas": spec["replicas"], **status}
    return live


def labelled(obj: dict, app: str = APP) -> dict:
    return label_objects([obj], app)[0]


def configmap(name: str, ns: str = NS, **labels) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "data": {"a": "1"}}


# --------------------------------------------------------------------------- diff and plan

def test_live_object_with_server_fields_is_unchanged():
    desired = deployment()
    p = plan([desired], [as_live(desired)], APP)
    assert [(a.op, a.kind, a.name, a.changed) for a in p.actions] == [("unchanged", "Deployment", "gw", [])]
    assert not p.has_changes
    assert render_plan(p) == "Plan: 0 to create, 0 to update, 0 to delete, 1 unchanged"


def test_changed_replicas_is_an_update_of_spec_replicas():
    live = as_live(deployment(replicas=3))
    p = plan([deployment(replicas=5)], [live], APP)
    (action,) = p.actions
    assert (action.op, action.changed) == ("update", ["spec.replicas"])
    assert action.obj["spec"]["replicas"] == 5
    assert render_plan(p).splitlines() == [f"~ update Deployment {NS}/gw (spec.replicas)",
                                           "Plan: 0 to create, 1 to update, 0 to delete, 0 unchanged"]


def test_nested_and_label_changes_are_named_by_path():
    desired = deployment()
    live = as_live(desired)
    desired = copy.deepcopy(desired)
    desired["spec"]["template"]["spec"]["containers"][0]["image"] = "python:3.12-slim"
    desired["metadata"]["labels"]["app.kubernetes.io/version"] = "2"
    assert diff_object(labelled(desired), live) == ['metadata.labels["app.kubernetes.io/version"]',
                                                    "spec.template.spec.containers[0].image"]


def test_a_field_mlc_applied_before_and_no_longer_sets_is_a_change():
    desired = deployment(minReadySeconds=5)
    live = as_live(desired)
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:minReadySeconds"] = {}
    assert plan([deployment()], [live], APP).actions[0].changed == ["spec.minReadySeconds"]
    # the same field set by someone else (not in mlc's managed fields) is left alone
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"].pop("f:minReadySeconds")
    assert plan([deployment()], [live], APP).actions[0].op == "unchanged"


def test_quantities_compare_by_value_only_where_they_are_quantities():
    desired = deployment()
    live = as_live(desired)
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "2"
    assert diff_object(labelled(desired), live) == ["spec.template.spec.containers[0].resources.limits.cpu"]
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": NS},
           "spec": {"ports": [{"port": 80, "targetPort": "8080"}]}}
    live_svc = labelled(copy.deepcopy(svc))
    live_svc["spec"]["ports"][0]["targetPort"] = 8080               # a number is not the named port "8080"
    assert diff_object(labelled(svc), live_svc) == ["spec.ports[0].targetPort"]


def test_prune_deletes_only_this_apps_labelled_objects_not_desired():
    keep = configmap("keep")
    live = [
        labelled(copy.deepcopy(keep)),
        labelled(configmap("gone")),                                    # ours, no longer built -> delete
        labelled(deployment()) | {"metadata": {"name": "old-gw", "namespace": NS,
                                               "labels": {"app.kubernetes.io/part-of": "mlc", "mlc.dev/app": APP}}},
        configmap("foreign"),                                            # no labels -> untouched
        labelled(configmap("other-app"), "ctr_criteo"),                  # another application -> untouched
        configmap("delivery-eta-release-1", **{"app.kubernetes.io/part-of": "mlc", "mlc.dev/app": APP,
                                               "mlc.dev/release": "1"}),  # release record -> untouched
        {"apiVersion": "v1", "kind": "Namespace",                         # never pruned
         "metadata": {"name": NS, "labels": {"app.kubernetes.io/part-of": "mlc", "mlc.dev/app": APP}}},
    ]
    p = plan([keep], live, APP)
    assert [(a.op, a.kind, a.name) for a in p.actions] == [
        ("unchanged", "ConfigMap", "keep"), ("delete", "Deployment", "old-gw"), ("delete", "ConfigMap", "gone")]
    assert render_plan(p).splitlines() == [f"- delete Deployment {NS}/old-gw", f"- delete ConfigMap {NS}/gone",
                                           "Plan: 0 to create, 0 to update, 2 to delete, 1 unchanged"]


def test_dependency_order_creates_then_deletes_in_reverse():
    def obj(api, kind, name):
        return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": {}}

    ordered = [obj(api, kind, kind.lower()) for api, kind in KIND_ORDER if kind != "Namespace"]
    ordered.insert(0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    shuffled = ordered[::-1][3:] + ordered[::-1][:3]
    p = plan(shuffled, [], APP)
    assert [a.kind for a in p.actions] == [kind for _, kind in KIND_ORDER]
    assert all(a.op == "create" for a in p.actions)
    live = [labelled(o) for o in ordered if o["kind"] != "Namespace"]
    p = plan([], live, APP)
    assert [a.kind for a in p.actions] == [kind for _, kind in KIND_ORDER[::-1] if kind != "Namespace"]
    assert all(a.op == "delete" for a in p.actions)


def test_plan_labels_desired_objects_without_touching_the_input():
    desired = deployment()
    before = copy.deepcopy(desired)
    (action,) = plan([desired], [], APP).actions
    assert desired == before
    assert action.obj["metadata"]["labels"] == {"app.kubernetes.io/name": "x", "app.kubernetes.io/part-of": "mlc",
                                                "mlc.dev/app": APP}
    with pytest.raises(ValueError, match="not a valid label value"):
        plan([desired], [], "bad app!")
    with pytest.raises(ValueError, match="appears twice"):
        plan([desired, desired], [], APP)


def test_compiled_example_against_an_empty_cluster_is_all_creates_in_order(compiled):
    desired = load_manifests(str(compiled))
    assert desired and all(validate_manifest(d) == [] for d in desired)
    p = plan(desired, [], APP)
    assert len(p.actions) == len(desired) and all(a.op == "create" for a in p.actions)
    kinds = [a.kind for a in p.actions]
    rank = {kind: i for i, (_, kind) in enumerate(KIND_ORDER)}
    assert [rank[k] for k in kinds] == sorted(rank[k] for k in kinds)
    assert kinds[0] == "ConfigMap" and kinds[-1] == "SparkApplication"
    assert {"Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "MPIJob"} <= set(kinds)
    text = render_plan(p)
    assert f"+ create ConfigMap {NS}/delivery-eta-routing" in text.splitlines()
    assert text.splitlines()[-1] == f"Plan: {len(desired)} to create, 0 to update, 0 to delete, 0 unchanged"
    # the objects the plan applies are labelled and still valid manifests
    assert all(validate_manifest(o) == [] for o in p.desired)
    assert all(o["metadata"]["labels"]["mlc.dev/app"] == APP for o in p.desired)


def test_load_manifests_reads_sorted_paths_and_skips_empty_documents(tmp_path):
    (tmp_path / "k8s" / "b").mkdir(parents=True)
    (tmp_path / "k8s" / "z.yaml").write_text("# only a comment\n---\napiVersion: v1\nkind: ConfigMap\n"
                                             "metadata: {name: z}\n---\n")
    (tmp_path / "k8s" / "b" / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "k8s" / "notes.txt").write_text("not a manifest")
    assert [d["metadata"]["name"] for d in load_manifests(str(tmp_path))] == ["a", "z"]
    (tmp_path / "k8s" / "bad.yaml").write_text("just: a mapping\n")
    with pytest.raises(ValueError, match="bad.yaml: document 1 is not a Kubernetes object"):
        load_manifests(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no k8s/ folder"):
        load_manifests(str(tmp_path / "nowhere"))


# --------------------------------------------------------------------------- rollout state, release records

@pytest.mark.parametrize("status, generation, expected", [
    ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, 2, "ready"),
    ({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, 2, "progressing"),
    ({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}, 2, "progressing"),
    ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}, 2, "progressing"),
    ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}, 2, "progressing"),
    ({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3,
      "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                      "message": "timed out"}]}, 2, "failed"),
])
def test_rollout_state(status, generation, expected):
    obj = {"metadata": {"generation": generation}, "spec": {"replicas": 3}, "status": status}
    assert rollout_state(obj)[0] == expected


def test_release_record_round_trips_and_is_a_valid_configmap():
    objects = label_objects([deployment(), configmap("routing")], APP)
    cm = release_configmap(APP, 7, NS, objects, versions={"eta_dnn": {"east": 3}}, manifest_sha256="ab" * 32)
    assert cm["metadata"]["name"] == release_name(APP, 7) == "delivery-eta-release-7"
    assert validate_manifest(cm) == []
    r = parse_release(yaml.safe_load(yaml.safe_dump(cm)))
    assert (r.n, r.namespace, r.status, r.source, r.versions, r.manifest_sha256) == \
        (7, NS, "deployed", "deploy", {"eta_dnn": {"east": 3}}, "ab" * 32)
    assert r.objects == objects


def test_large_release_records_are_compressed(monkeypatch):
    import mlc.runtime.deploy.k8s.releases as releases

    monkeypatch.setattr(releases, "COMPRESS_ABOVE", 100)
    objects = label_objects([deployment()], APP)
    cm = release_configmap(APP, 1, NS, objects, versions=None, manifest_sha256="")
    assert "objects.yaml" not in cm["data"] and "objects.yaml.gz" in cm["binaryData"]
    assert validate_manifest(cm) == []
    assert parse_release(cm).objects == objects


def test_previous_release_skips_failed_ones():
    cms = [release_configmap(APP, n, NS, [], versions=None, manifest_sha256="", status=s)
           for n, s in [(3, "deployed"), (1, "deployed"), (2, "failed"), (4, "deployed")]]
    cms.append(configmap("unrelated"))
    history = releases_of(cms, APP)
    assert [r.n for r in history] == [1, 2, 3, 4]
    assert previous_release(history).n == 3
    assert previous_release(history[:3]).n == 1
    assert previous_release(history[:1]) is None


def test_kube_errors_are_exported():
    assert issubclass(KubeError, Exception)
