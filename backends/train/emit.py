"""Emit ``train/<model>_train.py`` per model, ``train/launch.sh`` and one Kubernetes manifest per
(model, shard): ``k8s/mpijob-<model>-<shard>.yaml`` (Kubeflow MPIJob ``kubeflow.org/v2beta1``) for
engine ``horovod``, ``k8s/train-job-<model>-<shard>.yaml`` (``batch/v1`` Job) for engine ``none``.

Pure: reads the IR, returns text. Spec strings reach the outputs only as Python literals
(``repr``), docstring-escaped text, escaped comments, ``shlex.quote``-d shell words or values in a
dict dumped by ``yaml.safe_dump``; never as code, shell syntax or YAML syntax.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any, NamedTuple

from mlc.backends.k8s_layout import DATA_CLAIM, DATA_VOLUME, IMAGE_BUILD_DIR, JOB_NAME_MAX, OUTPUT_ROOT
from mlc.backends.k8s_layout import labels as k8s_labels
from mlc.backends.templating import bounded_name
from mlc.backends.templating import comment_text as _comment
from mlc.backends.templating import environment
from mlc.core.ir import IR, ModelIR, ShardIR
from mlc.core.names import k8s_name
from mlc import __version__

# The shard a model's training set is written under when no shard serves it
# (as mlc.runtime.features.training_set._shards_for).
UNSERVED_SHARD = "main"
# Cluster layout: the job image holds the build tree at IMAGE_BUILD_DIR (as the Spark image) and
# has mlc[train] installed; training sets and models live on shared storage at OUTPUT_ROOT, the
# root the SparkApplication writes under (`<OUTPUT_ROOT>/<spec>/training`, `.../models`).
HOSTFILE = "/etc/mpi/hostfile"    # written by the MPI Operator (`<worker> slots=<n>` lines)
SSH_AUTH_MOUNT_PATH = "/root/.ssh"
SSHD = ("/usr/sbin/sshd", "-De")  # workers only serve ssh; the launcher's mpirun starts the ranks
RUN_POLICY = {"cleanPodPolicy": "Running", "backoffLimit": 2, "ttlSecondsAfterFinished": 86400}
JOB_BACKOFF_LIMIT = 2
JOB_TTL_SECONDS = 86400
LAUNCHER_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
NON_ROOT_UID = 1000               # engine none: any uid works, the image needs no user entry
JOB_HOME = "/home/mlc"            # engine none: a writable HOME (emptyDir) for that uid
MAX_JOB_NAME = JOB_NAME_MAX      # pod names `<job>-launcher-xxxxx` / `<job>-worker-<i>` stay DNS labels
PYTHON = "python"
# mpirun options of Kubeflow's Horovod examples: no core binding, ranks by slot, plain TCP.
MPIRUN_OPTIONS = ("-bind-to", "none", "-map-by", "slot", "-mca", "pml", "ob1", "-mca", "btl", "^openib")
# Ranks start through ssh and do not inherit the worker container's environment: forward these.
MPIRUN_FORWARD = ("PATH", "LD_LIBRARY_PATH", "PYTHONUNBUFFERED")


class Target(NamedTuple):
    """One training job: a model on the training set of one shard."""
    model: ModelIR
    shard: str
    resources: tuple[tuple[str, Any], ...]   # of that shard (the default shard's for UNSERVED_SHARD)


def _default_shard(ir: IR) -> ShardIR | None:
    shards = ir.deployment.shards
    return next((s for s in shards if s.is_default), shards[0] if shards else None)


def targets(ir: IR) -> list[Target]:
    """Every (model, shard) with a training set: the shards serving the model, in deployment
    order; a model no shard serves trains once, on shard `main` (as the feature job writes it)."""
    out = []
    for model in ir.models:
        serving = [s for s in ir.deployment.shards if model.name in s.models]
        if serving:
            out += [Target(model, s.name, s.resources) for s in serving]
        else:
            default = _default_shard(ir)
            out.append(Target(model, UNSERVED_SHARD, default.resources if default else ()))
    return out


def ranks(model: ModelIR) -> int:
    training = model.training
    return training.workers * training.slots_per_worker if training.engine == "horovod" else 1


def script_path(model: ModelIR | str) -> str:
    return f"train/{model if isinstance(model, str) else model.name}_train.py"


def manifest_path(target: Target) -> str:
    kind = "mpijob" if target.model.training.engine == "horovod" else "train-job"
    return f"k8s/{kind}-{target.model.name}-{target.shard}.yaml"


def job_name(ir: IR, target: Target) -> str:
    """``<spec>-<model>-<shard>-train`` with `_` as `-`; when two jobs of the spec would get the
    same name that way (`a_b`/`c` and `a`/`b_c`) both get a hash of (model, shard) appended."""
    def base(t: Target) -> str:
        return k8s_name(ir.name, t.model.name, t.shard, "train")

    name = base(target)
    if sum(1 for t in targets(ir) if base(t) == name) > 1:
        name += "-" + hashlib.sha256(f"{target.model.name}/{target.shard}".encode()).hexdigest()[:6]
    return bounded_name(name, MAX_JOB_NAME)


def _env():
    return environment("mlc.backends.train")


# ------------------------------------------------------------------------ train/<model>_train.py


def render_script(ir: IR, model: ModelIR) -> str:
    training = model.training
    shards = [t.shard for t in targets(ir) if t.model.name == model.name]
    return _env().get_template("train.py.j2").render(
        ir=ir, model=model, training=training, mlc_version=__version__, shards=shards,
        ranks=ranks(model), script=script_path(model),
        dense=", ".join(c.name for c in model.dense) or "(none)",
        sparse=", ".join(s.name for s in model.sparse) or "(none)",
        validation=", ".join(f"{k}={v}" for k, v in training.validation) or "none",
    )


# ------------------------------------------------------------------------ train/launch.sh


def launch_command(target: Target) -> str:
    """The shell command of one job in launch.sh; `$HOSTS`, `$PYTHON`, `$BUILD_DIR` and `"$@"`
    are the only expansions, everything from the spec is a quoted word."""
    script = '"$BUILD_DIR"/' + shlex.quote(script_path(target.model))
    tail = f"{script} --shard {shlex.quote(target.shard)} \"$@\""
    if target.model.training.engine != "horovod":
        return f'"$PYTHON" {tail}'
    n = ranks(target.model)
    return f'horovodrun -np {n} -H "${{HOSTS:-localhost:{n}}}" --gloo "$PYTHON" {tail}'


def render_launch(ir: IR) -> str:
    jobs = [{"key": shlex.quote(f"{t.model.name}/{t.shard}"), "model": t.model.name, "shard": t.shard,
             "listed": shlex.quote(f"{t.model.name} {t.shard}"), "engine": t.model.training.engine,
             "ranks": ranks(t.model), "command": launch_command(t)}
            for t in targets(ir)]
    return _env().get_template("launch.sh.j2").render(ir=ir, mlc_version=__version__, jobs=jobs)


# ------------------------------------------------------------------------ Kubernetes


def _labels(ir: IR, name: str) -> dict[str, str]:
    return k8s_labels(k8s_name(ir.name), "training", name)


def _resources(target: Target) -> dict[str, dict[str, Any]]:
    parts = {part: dict(values) for part, values in target.resources}
    return {part: parts[part] for part in ("requests", "limits") if parts.get(part)}


def train_arguments(ir: IR, target: Target) -> list[str]:
    root = f"{OUTPUT_ROOT}/{ir.name}"
    return [f"{IMAGE_BUILD_DIR}/{script_path(target.model)}", "--shard", target.shard,
            "--data", f"{root}/training", "--output", f"{root}/models"]


def _data_volume() -> tuple[list[dict], list[dict]]:
    return ([{"name": DATA_VOLUME, "mountPath": OUTPUT_ROOT}],
            [{"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": DATA_CLAIM}}])


def mpijob(ir: IR, target: Target) -> dict[str, Any]:
    """The MPIJob (kubeflow.org/v2beta1) of a horovod model on one shard, in a fixed key order."""
    name, training = job_name(ir, target), target.model.training
    labels, image = _labels(ir, name), dict(ir.deployment.images).get("training", "")
    mounts, volumes = _data_volume()
    args = ["-np", str(ranks(target.model)), *MPIRUN_OPTIONS]
    for variable in MPIRUN_FORWARD:
        args += ["-x", variable]
    args += [PYTHON, *train_arguments(ir, target)]
    launcher = {
        "name": "launcher", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["mpirun"], "args": args,
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"},
                {"name": "OMPI_ALLOW_RUN_AS_ROOT", "value": "1"},
                {"name": "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "value": "1"}],
        "resources": {part: dict(values) for part, values in LAUNCHER_RESOURCES.items()},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    worker = {
        "name": "worker", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": list(SSHD),
        "resources": _resources(target),
        "volumeMounts": mounts,
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    def template(container: dict, **extra: Any) -> dict[str, Any]:
        return {"metadata": {"labels": dict(labels)},
                "spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [container], **extra}}

    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": name, "namespace": ir.deployment.namespace, "labels": dict(labels)},
        "spec": {
            "slotsPerWorker": training.slots_per_worker,
            "runPolicy": dict(RUN_POLICY),
            "mpiImplementation": "OpenMPI",
            "sshAuthMountPath": SSH_AUTH_MOUNT_PATH,
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "template": template(launcher)},
                "Worker": {"replicas": training.workers, "template": template(worker, volumes=volumes)},
            },
        },
    }


def batch_job(ir: IR, target: Target) -> dict[str, Any]:
    """A batch/v1 Job training a single-process (engine none) model on one shard, non-root."""
    name = job_name(ir, target)
    labels, image = _labels(ir, name), dict(ir.deployment.images).get("training", "")
    mounts, volumes = _data_volume()
    script, *args = train_arguments(ir, target)
    container = {
        "name": "train", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": [PYTHON, script], "args": args,
        "env": [{"name": "HOME", "value": JOB_HOME}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "resources": _resources(target),
        "volumeMounts": mounts + [{"name": "home", "mountPath": JOB_HOME}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ir.deployment.namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": JOB_BACKOFF_LIMIT,
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": NON_ROOT_UID,
                                        "runAsGroup": NON_ROOT_UID, "fsGroup": NON_ROOT_UID,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": volumes + [{"name": "home", "emptyDir": {}}],
                },
            },
        },
    }


def job_manifest(ir: IR, target: Target) -> dict[str, Any]:
    return mpijob(ir, target) if target.model.training.engine == "horovod" else batch_job(ir, target)


def render_manifest(ir: IR, target: Target) -> str:
    import yaml

    kind = "MPIJob" if target.model.training.engine == "horovod" else "Job"
    header = (f"# {kind} training model `{_comment(target.model.name)}` of `{_comment(ir.name)}` on shard "
              f"`{_comment(target.shard)}`, generated by mlc {__version__} from mldl.json. Do not edit.\n")
    body = yaml.safe_dump(job_manifest(ir, target), sort_keys=False, default_flow_style=False,
                          allow_unicode=False, width=1000)
    return header + body


def emit(ir: IR) -> dict[str, str]:
    if not ir.models:
        return {}
    files = {script_path(model): render_script(ir, model) for model in ir.models}
    files["train/launch.sh"] = render_launch(ir)
    for target in targets(ir):
        files[manifest_path(target)] = render_manifest(ir, target)
    return files
