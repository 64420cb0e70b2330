"""Training every selected (model, shard) from the run's training sets (`mlc run --step train`,
the pipeline's train step): in this process, or with Horovod on localhost when several ranks are
asked for and Horovod works. TensorFlow is loaded by the training runtime, never at import.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mlc.app.common import Progress, quiet
from mlc.backends.train import targets
from mlc.core.errors import MlcError
from mlc.core.suggest import did_you_mean
from mlc.runtime.features.job import write_run_mldl
from mlc.runtime.training.main import main as train
from mlc.runtime.training.skipped import record_skipped

INSTALL_HOROVOD = "sh scripts/install_horovod.sh"


def training_jobs(ir: Any, model: str | None = None, shard: str | None = None) -> list:
    """The (model, shard) jobs to train (``mlc.backends.train.targets``), filtered by the
    --model/--shard options; unknown names are diagnostics."""

    jobs = targets(ir)
    if model is not None:
        names = [m.name for m in ir.models]
        if model not in names:
            raise MlcError(f"unknown model `{model}`", code="E5002", hint=did_you_mean(model, names, "models"))
        jobs = [t for t in jobs if t.model.name == model]
    if shard is not None:
        shards = [t.shard for t in jobs]
        if shard not in shards:
            what = f"model `{model}`" if model else "any model"
            raise MlcError(f"no training set of {what} for shard `{shard}`", code="E5002",
                           hint=did_you_mean(shard, shards, "shards"))
        jobs = [t for t in jobs if t.shard == shard]
    return jobs


def missing_sets(jobs: list, sets: str) -> list[str]:
    return [f"{t.model.name}/{t.shard}" for t in jobs
            if not os.path.isfile(os.path.join(sets, t.model.name, t.shard, "schema.json"))]


def require_training() -> None:
    import importlib.util

    for module, hint in (("tensorflow", "install the train extra: pip install 'mlc[train]'"),
                         ("mlc.runtime.training", "this mlc has no training runtime (mlc.runtime.training)")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MlcError(f"training needs {module}", code="E7001", hint=hint)


def horovod_launcher(ranks: int) -> tuple[str | None, str]:
    """(horovodrun executable, "") when `ranks` > 1 and Horovod works here; else (None, why not),
    `why` being empty for a single rank. Probes `import horovod.tensorflow` in a subprocess, so
    this process does not load TensorFlow for it."""
    import importlib.util
    import shutil
    import subprocess

    if ranks <= 1:
        return None, ""
    if importlib.util.find_spec("horovod") is None:
        return None, f"Horovod not installed: {INSTALL_HOROVOD}"
    probe = subprocess.run([sys.executable, "-c", "import horovod.tensorflow"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
        return None, f"Horovod not importable ({last[:200]}): {INSTALL_HOROVOD}"
    beside = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    runner = beside if os.access(beside, os.X_OK) else shutil.which("horovodrun")
    if runner is None:
        return None, "horovodrun not found beside Python or on PATH"
    return runner, ""


def run_mldl(ir: Any, output: str) -> str:
    """The run's ``<output>/mldl.json``: written by the feature job next to the training sets
    (analyzers fitted as they were for the sets); a spec whose analyzers are all fitted (or that
    has none) is written there when it is missing."""
    path = os.path.join(output, "mldl.json")
    if os.path.isfile(path):
        return path
    if any(a.fitted is None for a in ir.analyzers):
        raise MlcError(f"no fitted mldl.json in {output}", code="E7007",
                       hint="rebuild the training sets: mlc run SPEC --step training (it writes mldl.json)")

    return write_run_mldl(ir, output)


def run_training(options: Any, result: Any, output: str, progress: Progress = quiet,
                 only: set[tuple[str, str]] | None = None) -> None:
    """Train every selected (model, shard) from ``<output>/training`` into ``<output>/models``:
    with Horovod (``horovodrun --gloo`` on localhost) when more than one rank is asked for and
    Horovod works, else in this process. A (model, shard) whose training set has no training
    rows is skipped with the reason (recorded in ``<output>/models/skipped.json``), the others
    still train; E7260 when every selected one is skipped."""
    ir = result.ir
    if not ir.models:
        progress("no models in the spec: nothing to train")
        return
    jobs = training_jobs(ir, options.model, options.shard)
    if only is not None:                # the (model, shard) pairs built this run (training sets from a log)
        jobs = [j for j in jobs if (j.model.name, j.shard) in only]
    sets = os.path.join(os.path.abspath(output), "training")
    missing = missing_sets(jobs, sets)
    if missing:
        shown = ", ".join(f"`{m}`" for m in missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        output_flag = f" --output {options.output}" if options.output else ""
        raise MlcError(f"no training set for {shown} under {sets}", code="E7007",
                       hint=f"build them first: mlc run {options.spec} --step training{output_flag}")
    require_training()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")   # TensorFlow's C++ INFO lines, here and in the ranks
    mldl = run_mldl(ir, os.path.abspath(output))
    models = os.path.join(os.path.abspath(output), "models")
    workers, epochs = options.workers, options.epochs
    trained, skipped = [], {}
    try:
        for job in jobs:
            reason = empty_training_set(os.path.join(sets, job.model.name, job.shard))
            if reason:
                skipped[(job.model.name, job.shard)] = reason
                progress(f"skipped {job.model.name}/{job.shard}: no training rows: {reason}")
                continue
            argv = ["--mldl", mldl, "--data", sets, "--model", job.model.name, "--shard", job.shard,
                    "--output", models, "--spec-hash", result.spec_sha256()]
            _train_job(job, argv + (["--epochs", str(epochs)] if epochs else []), workers, progress)
            trained.append((job.model.name, job.shard))
    finally:
        record_skipped(models, trained, skipped)
    if skipped and not trained:
        shown = "; ".join(skipped.values())
        raise MlcError(f"nothing to train: {shown}", code="E7260",
                       hint="fix the data or the spec (shard partitions, `validation`), then rebuild the training "
                             f"sets: mlc run {options.spec} --step training")
    progress(f"trained {len(trained)} model(s) -> {models}"
             + (f"; skipped {len(skipped)} without training rows" if skipped else ""))


def empty_training_set(set_dir: str) -> str | None:
    """Why the training set at ``set_dir`` has no training rows (its schema.json records 0), or None."""
    import json

    try:
        with open(os.path.join(set_dir, "schema.json"), encoding="utf-8") as handle:
            rows = (json.load(handle).get("rows") or {}).get("train")
    except (OSError, ValueError, AttributeError):
        return None
    if rows != 0:
        return None
    from mlc.runtime.training.data import no_training_rows

    return no_training_rows(set_dir) or f"the train split of {set_dir} is empty"


def _train_job(job: Any, argv: list[str], workers: int | None, progress: Progress) -> None:
    """Train one (model, shard): Horovod on localhost for several ranks when it works, else here."""
    import subprocess

    training = job.model.training
    ranks = workers or (training.workers if training.engine == "horovod" else 1)
    runner, why = horovod_launcher(ranks)
    label = f"{job.model.name}/{job.shard}"
    if runner is not None:
        progress(f"training {label} with Horovod: {ranks} ranks over Gloo on localhost")
        command = [runner, "-np", str(ranks), "-H", f"localhost:{ranks}", "--gloo",
                   sys.executable, "-m", "mlc.runtime.training", *argv]
        code = subprocess.run(command).returncode
    else:
        progress(f"training {label} single process" + (f" ({why})" if why else ""))
        code = train(argv)
    if code != 0:
        raise MlcError(f"training `{job.model.name}` on shard `{job.shard}` failed (exit code {code})",
                       code="E7008", hint="see the training output above")
