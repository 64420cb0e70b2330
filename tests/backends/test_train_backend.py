"""The training backend: importable thin training scripts, a quoted horovodrun launch script and
schema-valid MPIJobs / Jobs sized from the IR, byte-for-byte deterministic."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import types

import pytest
import yaml

from conftest import EXAMPLES, REPO
from k8s_validate import validate_manifest
from mlc.backends.train import emit, job_name, targets
from mlc.core.ir import IR
from mlc.compiler.pipeline import build

SPECS = {
    "ctr_criteo": (EXAMPLES / "ctr_criteo" / "ctr.mlc.yaml", None),
    "delivery_eta": (EXAMPLES / "delivery_eta" / "delivery.mlc.yaml", None),
    "delivery_eta-prod": (EXAMPLES / "delivery_eta" / "delivery.mlc.yaml", "prod"),
}
ALLOWED_IMPORTS = {"sys", "json", "pathlib", "mlc"}
HOSTILE = "x'; rm -rf /; ' \"$(touch pwned)\" `id` \\ ${HOME} \n: {a: b} # - *ref"
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


def compiled(case: str) -> IR:
    spec, env = SPECS[case]
    result = build(str(spec), env)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


@pytest.fixture(params=sorted(SPECS))
def ir(request) -> IR:
    return compiled(request.param)


def hostile(ir: IR) -> IR:
    images = tuple((k, HOSTILE if k == "training" else v) for k, v in ir.deployment.images)
    models = tuple(dataclasses.replace(m, type=HOSTILE, label=dataclasses.replace(m.label, name='"""; import os #'))
                   for m in ir.models)
    deployment = dataclasses.replace(ir.deployment, namespace=HOSTILE, images=images)
    return dataclasses.replace(ir, name="evil\n$(touch pwned)", deployment=deployment, models=models)


def hostile_names(ir: IR) -> IR:
    """Model and shard names no spec can have (they are validated identifiers), to prove that
    launch.sh quotes them anyway."""
    evil_model, evil_shard = "m'$(touch pwned)`id`", 'sh "$HOME" ;x'
    models = tuple(dataclasses.replace(m, name=evil_model) if i == 0 else m for i, m in enumerate(ir.models))
    shards = tuple(dataclasses.replace(s, name=evil_shard if s.is_default else s.name,
                                       models=tuple(evil_model if n == ir.models[0].name else n for n in s.models))
                   for s in ir.deployment.shards)
    return dataclasses.replace(ir, models=models, deployment=dataclasses.replace(ir.deployment, shards=shards))


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            modules.add(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"__import__", "eval", "exec", "compile", "open"}, ast.unparse(node)
    return modules


def assert_no_absolute_build_path(text: str) -> None:
    assert str(REPO) not in text and "/tmp" not in text


# ------------------------------------------------------------------------ files


def test_files_per_model_and_shard(ir):
    files = emit(ir)
    expected = {f"train/{m.name}_train.py" for m in ir.models} | {"train/launch.sh"}
    for model in ir.models:
        serving = [s.name for s in ir.deployment.shards if model.name in s.models] or ["main"]
        kind = "mpijob" if model.training.engine == "horovod" else "train-job"
        expected |= {f"k8s/{kind}-{model.name}-{shard}.yaml" for shard in serving}
    assert set(files) == expected
    assert len(targets(ir)) == len([p for p in files if p.startswith("k8s/")])


def test_delivery_example_has_an_mpijob_per_model_and_shard():
    files = emit(compiled("delivery_eta"))
    assert sorted(p for p in files if p.startswith("k8s/")) == [
        f"k8s/mpijob-{m}-{s}.yaml" for m in ("eta_dnn", "eta_wide_deep") for s in ("east", "north_west", "south")]


def test_engine_none_models_get_a_plain_job():
    files = emit(compiled("ctr_criteo"))
    assert sorted(p for p in files if p.startswith("k8s/")) == [
        "k8s/train-job-ctr_deepfm-main.yaml", "k8s/train-job-ctr_lr-main.yaml"]


def test_a_model_no_shard_serves_trains_on_main(ir):
    model = ir.models[0]
    shards = tuple(dataclasses.replace(s, models=tuple(n for n in s.models if n != model.name))
                   for s in ir.deployment.shards)
    unserved = dataclasses.replace(ir, deployment=dataclasses.replace(ir.deployment, shards=shards))
    assert [t.shard for t in targets(unserved) if t.model.name == model.name] == ["main"]


def test_no_models_no_files(ir):
    assert emit(dataclasses.replace(ir, models=())) == {}


# ------------------------------------------------------------------------ train/<model>_train.py


def test_training_script_parses_and_imports_only_allowed_modules(ir):
    files = emit(ir)
    for model in ir.models:
        source = files[f"train/{model.name}_train.py"]
        tree = ast.parse(source)
        modules = imported_modules(source)
        assert {m.split(".")[0] for m in modules} <= ALLOWED_IMPORTS, modules
        assert "mlc.runtime.training.main" in modules
        assert_no_absolute_build_path(source)
        namespace: dict = {"__file__": f"build/train/{model.name}_train.py", "__name__": "job"}
        exec(compile(tree, "job", "exec"), namespace)   # module level imports no TensorFlow, no runtime
        assert namespace["MODEL"] == model.name and namespace["SPEC_NAME"] == ir.name
        assert namespace["ENGINE"] == model.training.engine
        assert namespace["WORKERS"] == model.training.workers
        assert namespace["SLOTS_PER_WORKER"] == model.training.slots_per_worker
        assert namespace["SHARDS"] == [t.shard for t in targets(ir) if t.model.name == model.name]
        docstring = ast.get_docstring(tree)
        for option in ("--data", "--shard", "--output", "--epochs", "--spec-hash"):
            assert option in docstring


def test_training_script_passes_argv_through(tmp_path, monkeypatch):
    """Run main() against a stub `mlc.runtime.training.main`."""
    ir = compiled("delivery_eta")
    build_dir = tmp_path / "build"
    (build_dir / "train").mkdir(parents=True)
    script = build_dir / "train" / "eta_dnn_train.py"
    script.write_text(emit(ir)["train/eta_dnn_train.py"])
    calls = []
    stub = types.ModuleType("mlc.runtime.training.main")
    stub.main = lambda argv: calls.append(argv) or 0
    package = types.ModuleType("mlc.runtime.training")
    package.main = stub
    monkeypatch.setitem(sys.modules, "mlc.runtime.training", package)
    monkeypatch.setitem(sys.modules, "mlc.runtime.training.main", stub)
    namespace = {"__file__": str(script), "__name__": "job"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    mldl = str((build_dir / "mldl.json").resolve())

    monkeypatch.setattr(sys, "argv", [str(script), "--data", "d", "--shard", "east", "--output", "o"])
    assert namespace["main"]() == 0
    assert calls[-1] == ["--mldl", mldl, "--model", "eta_dnn", "--data", "d", "--shard", "east", "--output", "o"]

    (build_dir / "manifest.json").write_text(json.dumps({"spec": {"sha256": "abc123"}}))
    assert namespace["main"](["--data", "d", "--epochs", "2"]) == 0
    assert calls[-1] == ["--mldl", mldl, "--model", "eta_dnn", "--spec-hash", "abc123", "--data", "d", "--epochs", "2"]
    assert namespace["main"](["--spec-hash", "mine"]) == 0
    assert calls[-1] == ["--mldl", mldl, "--model", "eta_dnn", "--spec-hash", "mine"]
    for fixed in (["--model", "other"], ["--model=other"], ["--mldl", "x.json"]):
        with pytest.raises(SystemExit, match="is fixed"):
            namespace["main"](fixed)


def test_hostile_spec_strings_stay_literals_in_the_script(ir):
    evil = hostile(ir)
    for model in evil.models:
        source = emit(evil)[f"train/{model.name}_train.py"]
        tree = ast.parse(source)
        assert {m.split(".")[0] for m in imported_modules(source)} <= ALLOWED_IMPORTS
        assert "import os #" in ast.get_docstring(tree)
        namespace: dict = {"__file__": "build/train/x.py", "__name__": "job"}
        exec(compile(tree, "job", "exec"), namespace)
        assert namespace["SPEC_NAME"] == evil.name


# ------------------------------------------------------------------------ train/launch.sh


def run_launch(tmp_path, ir: IR, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, list]:
    """Run launch.sh from a build tree with stub `horovodrun` and Python recording their argv."""
    build_dir = tmp_path / "build"
    (build_dir / "train").mkdir(parents=True, exist_ok=True)
    (build_dir / "train" / "launch.sh").write_text(emit(ir)["train/launch.sh"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("horovodrun", "fakepython"):
        stub = bin_dir / name
        stub.write_text('#!/bin/sh\n{ printf "%s\\0" "$(basename "$0")"; for a in "$@"; do printf "%s\\0" "$a"; done; '
                        'printf "\\n"; } >> "$ARGS_OUT"\n')
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "args"
    if out.exists():
        out.unlink()
    full_env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ARGS_OUT": str(out),
                "HOME": str(tmp_path), "PYTHON": "fakepython", **(env or {})}
    run = subprocess.run(["sh", str(build_dir / "train" / "launch.sh"), *args], env=full_env, cwd=tmp_path,
                         capture_output=True, text=True)
    calls = [line.split("\0")[:-1] for line in out.read_text().split("\n") if line] if out.exists() else []
    return run, calls


def test_launch_script_is_valid_sh(ir, tmp_path):
    script = emit(ir)["train/launch.sh"]
    path = tmp_path / "launch.sh"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0
    assert script.startswith("#!/bin/sh\n") and "\nset -eu\n" in script
    assert_no_absolute_build_path(script)


def test_launch_runs_horovodrun_with_ranks_and_hosts(tmp_path):
    ir = compiled("delivery_eta-prod")
    build_dir = (tmp_path / "build").resolve()
    run, calls = run_launch(tmp_path, ir, "eta_dnn", "east", "--data", "a b", "--output", "o")
    assert run.returncode == 0, run.stderr
    assert calls == [["horovodrun", "-np", "8", "-H", "localhost:8", "--gloo", "fakepython",
                      f"{build_dir}/train/eta_dnn_train.py", "--shard", "east", "--data", "a b", "--output", "o"]]
    run, calls = run_launch(tmp_path, ir, "eta_dnn", "south", "--hosts", "h1:4,h2:4", "--epochs", "1")
    assert run.returncode == 0, run.stderr
    assert calls[0][3:5] == ["-H", "h1:4,h2:4"] and calls[0][-4:] == ["--shard", "south", "--epochs", "1"]
    run, calls = run_launch(tmp_path, ir, "eta_wide_deep", "north_west", env={"HOSTS": "h3:8"})
    assert calls[0][3:5] == ["-H", "h3:8"] and calls[0][7] == f"{build_dir}/train/eta_wide_deep_train.py"


def test_launch_runs_engine_none_in_one_process(tmp_path):
    run, calls = run_launch(tmp_path, compiled("ctr_criteo"), "ctr_lr", "main", "--data", "d", env={"HOSTS": "x:1"})
    assert run.returncode == 0, run.stderr
    build_dir = (tmp_path / "build").resolve()
    assert calls == [["fakepython", f"{build_dir}/train/ctr_lr_train.py", "--shard", "main", "--data", "d"]]


def test_launch_all_list_and_unknown(tmp_path):
    ir = compiled("delivery_eta")
    run, calls = run_launch(tmp_path, ir, "all", "--hosts", "h:2", "--data", "d")
    assert run.returncode == 0, run.stderr
    assert [(c[c.index("--shard") - 1].rsplit("/", 1)[1], c[c.index("--shard") + 1]) for c in calls] == [
        (f"{t.model.name}_train.py", t.shard) for t in targets(ir)]
    assert all(c[3:5] == ["-H", "h:2"] for c in calls)
    run, _ = run_launch(tmp_path, ir, "list")
    assert run.stdout.splitlines() == [f"{t.model.name} {t.shard}" for t in targets(ir)]
    run, calls = run_launch(tmp_path, ir, "eta_dnn", "west")
    assert run.returncode == 2 and "no training job" in run.stderr and calls == []
    run, _ = run_launch(tmp_path, ir)
    assert run.returncode == 2 and "usage" in run.stderr


def test_launch_quotes_hostile_names(tmp_path):
    ir = hostile_names(hostile(compiled("delivery_eta")))
    model, shard = ir.models[0].name, next(s.name for s in ir.deployment.shards if s.is_default)
    script = emit(ir)["train/launch.sh"]
    path = tmp_path / "launch.sh"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0
    run, calls = run_launch(tmp_path, ir, model, shard, "--data", "$(touch pwned2)")
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert calls[0][-4:] == ["--shard", shard, "--data", "$(touch pwned2)"]
    assert calls[0][7].endswith(f"/train/{model}_train.py")
    run, _ = run_launch(tmp_path, ir, "list")
    assert f"{model} {shard}" in run.stdout.splitlines()
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------------ Kubernetes


def manifests(ir: IR) -> dict[str, dict]:
    return {p: yaml.safe_load(t) for p, t in emit(ir).items() if p.startswith("k8s/")}


def test_manifests_validate(ir):
    for path, doc in manifests(ir).items():
        assert validate_manifest(doc) == [], path
        assert list(doc) == ["apiVersion", "kind", "metadata", "spec"]
    for path, text in emit(ir).items():
        assert "&id" not in text and "*id" not in text, path   # no YAML anchors


def test_mpijob_shape_comes_from_the_ir(ir):
    image = dict(ir.deployment.images)["training"]
    for target in targets(ir):
        if target.model.training.engine != "horovod":
            continue
        training = target.model.training
        doc = manifests(ir)[f"k8s/mpijob-{target.model.name}-{target.shard}.yaml"]
        assert (doc["apiVersion"], doc["kind"]) == ("kubeflow.org/v2beta1", "MPIJob")
        meta = doc["metadata"]
        assert meta["name"] == job_name(ir, target) and meta["namespace"] == ir.deployment.namespace
        assert len(meta["name"]) <= 48 and DNS_1123_LABEL.match(meta["name"])
        assert meta["labels"]["app.kubernetes.io/component"] == "training"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "mlc"
        spec = doc["spec"]
        assert spec["slotsPerWorker"] == training.slots_per_worker
        assert spec["runPolicy"]["cleanPodPolicy"] == "Running"
        replicas = spec["mpiReplicaSpecs"]
        assert replicas["Launcher"]["replicas"] == 1 and replicas["Worker"]["replicas"] == training.workers
        launcher = replicas["Launcher"]["template"]["spec"]["containers"][0]
        worker = replicas["Worker"]["template"]["spec"]["containers"][0]
        assert launcher["image"] == worker["image"] == image
        assert launcher["command"] == ["mpirun"]
        args = launcher["args"]
        assert args[:2] == ["-np", str(training.workers * training.slots_per_worker)]
        tail = args[args.index("python"):]
        assert tail == ["python", f"/opt/mlc/build/train/{target.model.name}_train.py", "--shard", target.shard,
                        "--data", f"/data/mlc/{ir.name}/training", "--output", f"/data/mlc/{ir.name}/models"]
        shard_resources = {part: dict(values) for part, values in target.resources}
        assert worker["resources"] == shard_resources
        assert worker["command"] == ["/usr/sbin/sshd", "-De"]
        for pod in (replicas["Launcher"], replicas["Worker"]):
            assert pod["template"]["metadata"]["labels"] == meta["labels"]
            for container in pod["template"]["spec"]["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert not any("secret" in str(e).lower() or "password" in str(e).lower()
                               for e in container.get("env", []))


def test_engine_none_job_is_non_root_and_sized_from_the_shard():
    ir = compiled("ctr_criteo")
    image = dict(ir.deployment.images)["training"]
    for target in targets(ir):
        doc = manifests(ir)[f"k8s/train-job-{target.model.name}-{target.shard}.yaml"]
        assert (doc["apiVersion"], doc["kind"]) == ("batch/v1", "Job")
        pod = doc["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        container = pod["containers"][0]
        assert container["image"] == image
        assert container["command"] == ["python", f"/opt/mlc/build/train/{target.model.name}_train.py"]
        assert container["args"][:2] == ["--shard", target.shard]
        assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_overridden_workers_and_slots_reach_the_mpijob():
    ir = compiled("delivery_eta")
    models = tuple(dataclasses.replace(m, training=dataclasses.replace(m.training, workers=3, slots_per_worker=4))
                   for m in ir.models)
    ir = dataclasses.replace(ir, models=models)
    doc = manifests(ir)["k8s/mpijob-eta_dnn-east.yaml"]
    assert doc["spec"]["slotsPerWorker"] == 4 and doc["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 3
    assert doc["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"][:2] == ["-np", "12"]
    assert validate_manifest(doc) == []
    assert "horovodrun -np 12 " in emit(ir)["train/launch.sh"]


def test_hostile_strings_stay_yaml_values(ir):
    evil = hostile(ir)
    for path, doc in manifests(evil).items():
        assert doc["metadata"]["namespace"] == HOSTILE
        pod = (doc["spec"]["mpiReplicaSpecs"]["Worker"] if doc["kind"] == "MPIJob" else doc["spec"])["template"]["spec"]
        assert pod["containers"][0]["image"] == HOSTILE
        assert doc["metadata"]["name"].startswith("evil")   # names pass k8s_name; the validator flags them


def test_long_and_colliding_names_stay_unique_dns_labels():
    ir = compiled("delivery_eta")
    long_name = "a" * 40
    models = (dataclasses.replace(ir.models[0], name="a_b"), dataclasses.replace(ir.models[1], name="a"))
    shards = (dataclasses.replace(ir.deployment.shards[0], name="c", models=("a_b",)),
              dataclasses.replace(ir.deployment.shards[1], name="b_c", models=("a",)),
              dataclasses.replace(ir.deployment.shards[2], name=long_name, models=("a", "a_b")))
    ir = dataclasses.replace(ir, name="x" * 40, models=models,
                             deployment=dataclasses.replace(ir.deployment, shards=shards))
    names = [job_name(ir, t) for t in targets(ir)]
    assert len(set(names)) == len(names) == 4
    for name in names:
        assert len(name) <= 48 and DNS_1123_LABEL.match(name), name
    for doc in manifests(ir).values():
        assert validate_manifest(doc) == []


# ------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("case", sorted(SPECS))
def test_emit_is_deterministic(case):
    first, second = emit(compiled(case)), emit(compiled(case))
    assert list(first) == list(second)
    assert {p: t.encode() for p, t in first.items()} == {p: t.encode() for p, t in second.items()}
    for text in first.values():
        assert text.endswith("\n") and not text.endswith("\n\n")
