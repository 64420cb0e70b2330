"""The layout of a Triton model repository, shared by the backends (like ``templating``): the
Triton backend writes ``triton/<shard>/`` and ``triton_local/<shard>/`` with these names, and
``mlc.backends.serving_k8s`` (the init container) and the runtime (``mlc serve --local``) assemble a
servable repository with :func:`repository_plan`, so no backend imports another.
"""

from __future__ import annotations

from typing import NamedTuple

from mlc.core.ir import IR, ModelIR, ShardIR

ROOT, LOCAL_ROOT = "triton", "triton_local"
PREPROCESS_SUFFIX, PIPELINE_SUFFIX = "_preprocess", "_pipeline"
PREPROCESS_VERSION = 1           # the preprocess and pipeline models have exactly one version
# Files copied beside the preprocess model.py (into `<model>_preprocess/1/`) when a repository
# is assembled: the build's mldl.json (fitted) and its generated preprocessing module.
MLDL_FILE = "mldl.json"


def preprocess_module_file(ir: IR) -> str:
    """File name of the generated preprocessing module (``preprocess/<name>_preprocess.py``)."""
    return f"{ir.name}_preprocess.py"


def model_dir(shard: ShardIR | str, model: ModelIR | str, suffix: str = "", local: bool = False) -> str:
    shard_name = shard if isinstance(shard, str) else shard.name
    model_name = model if isinstance(model, str) else model.name
    return f"{LOCAL_ROOT if local else ROOT}/{shard_name}/{model_name}{suffix}"


# ------------------------------------------------------------------------------ assembly


class Copy(NamedTuple):
    """One step of assembling a shard's repository: ``source`` is relative to the build tree
    (``build``) or to the exported repository of the shard (``export``: the training job's
    ``repository/`` or ``repository/<shard>/``); ``target`` is relative to the repository root.
    A source ending in ``/*`` means every version directory of that exported model."""
    origin: str      # "build" or "export"
    source: str
    target: str


def repository_plan(ir: IR, shard: ShardIR, local: bool = False) -> list[Copy]:
    """How a servable repository for ``shard`` is put together from the build tree and the
    exported versions (production: ``triton/<shard>/``; ``local``: the ``triton_local`` model
    instead of the production one). Pure: callers (deploy scripts, ``mlc serve --local``) copy."""
    plan = []
    for name in shard.models:
        model = ir.model(name)
        python_model = local or ir.deployment.platform == "python"
        base = model_dir(shard, model, local=local)
        plan.append(Copy("build", f"{base}/config.pbtxt", f"{name}/config.pbtxt"))
        plan.append(Copy("export", f"{name}/*", f"{name}/*"))
        if python_model:
            plan.append(Copy("build", f"{base}/model.py", f"{name}/*/model.py"))
        pre = model_dir(shard, model, PREPROCESS_SUFFIX)
        target = f"{name}{PREPROCESS_SUFFIX}"
        plan.append(Copy("build", f"{pre}/config.pbtxt", f"{target}/config.pbtxt"))
        plan.append(Copy("build", f"{pre}/{PREPROCESS_VERSION}/model.py", f"{target}/{PREPROCESS_VERSION}/model.py"))
        plan.append(Copy("build", MLDL_FILE, f"{target}/{PREPROCESS_VERSION}/{MLDL_FILE}"))
        plan.append(Copy("build", f"preprocess/{preprocess_module_file(ir)}",
                         f"{target}/{PREPROCESS_VERSION}/{preprocess_module_file(ir)}"))
        pipe = model_dir(shard, model, PIPELINE_SUFFIX)
        plan.append(Copy("build", f"{pipe}/config.pbtxt", f"{name}{PIPELINE_SUFFIX}/config.pbtxt"))
        plan.append(Copy("build", f"{pipe}/{PREPROCESS_VERSION}/README.md",
                         f"{name}{PIPELINE_SUFFIX}/{PREPROCESS_VERSION}/README.md"))
    return plan
