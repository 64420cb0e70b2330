"""The training backend: per model a thin training script (``train/<model>_train.py``), a
``horovodrun`` launch script for bare hosts (``train/launch.sh``) and per (model, shard) a
Kubeflow ``MPIJob`` (engine ``horovod``) or a ``batch/v1`` Job (engine ``none``). The training
itself is ``mlc.runtime.training``; what is emitted here only points it at the build tree."""

from mlc.backends.train.emit import (
    emit, job_manifest, job_name, manifest_path, render_launch, render_script, script_path, targets,
)

__all__ = ["emit", "job_manifest", "job_name", "manifest_path", "render_launch", "render_script",
           "script_path", "targets"]
