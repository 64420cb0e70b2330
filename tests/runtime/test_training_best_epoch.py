"""Early stopping exports the BEST epoch's weights, not the last one's, in one process and with
two Horovod ranks, and the export metadata and the registry record say which epoch it is.

The planted schedule: the train split's labels are the validation split's rule flipped, so every
epoch of training makes the validation logloss worse: epoch 1 is the best, training stops after
``patience`` more epochs, and the last epoch's weights are measurably worse than the best's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT_S = 240


def helpers():
    """test_training_loop.py's data helpers, loaded by path (as test_horovod.py does)."""
    path = Path(__file__).resolve().with_name("test_training_loop.py")
    spec = importlib.util.spec_from_file_location("_mlc_best_epoch_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def degrading_set(root: Path) -> Path:
    """The synthetic clicks set with the train labels flipped: training moves away from the
    validation rule, so the validation logloss gets worse every epoch."""
    h = helpers()
    set_dir = h.synthetic_set(root, train_rows=4000, validation_rows=1000)
    train = h.draw(4000, 11)
    train["clicked"] = 1 - train["clicked"]
    (set_dir / "train" / "part-00000.parquet").unlink()
    h.write_split(set_dir / "train", train, 0, 250)
    return set_dir


def exported_metrics(model, set_dir: Path, version_dir: Path) -> dict:
    """The validation metrics of the exported SavedModel, computed here in one process."""
    import tensorflow as tf

    from mlc.runtime.training.data import read_split
    from mlc.runtime.training.models import loss_for
    from mlc.runtime.training.trainer import compute_metrics

    validation = read_split(str(set_dir), "validation", model)
    serve = tf.saved_model.load(str(version_dir / "model.savedmodel")).signatures["serving_default"]
    output = serve(**{name: tf.constant(values) for name, values in validation.features.items()})
    probability = next(iter(output.values())).numpy().reshape(-1)
    return compute_metrics(model.task, validation.labels, probability, loss_for(model.task))


def logloss_of(history: list[dict], epoch: int) -> float:
    return next(e for e in history if e["epoch"] == epoch)["validation"]["logloss"]


def test_the_export_holds_the_best_epoch_not_the_last(tmp_path):
    from mlc.runtime.model_registry import open_registry
    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.trainer import train

    h = helpers()
    set_dir = degrading_set(tmp_path / "sets")
    model = h.clicks_model(tmp_path, warm_start=(("enabled", False),),
                           early_stopping=(("metric", "logloss"), ("min_delta", 0.0), ("patience", 2)))
    out = tmp_path / "out"
    result = train(model, str(set_dir), str(out), epochs=8, cluster=LocalCluster(), spec_hash="s")
    best = result.best["epoch"]
    losses = [e["validation"]["logloss"] for e in result.history]
    assert result.stopped_early and best < result.last_epoch == best + 2, losses
    assert logloss_of(result.history, result.last_epoch) > logloss_of(result.history, best) + 1e-3, losses
    # the exported model itself scores what the best epoch scored, not what the last one did
    version_dir = out / "repository" / "clicks_lr" / "1"
    measured = exported_metrics(model, set_dir, version_dir)
    assert measured["logloss"] == pytest.approx(logloss_of(result.history, best), abs=1e-5)
    assert abs(measured["logloss"] - logloss_of(result.history, result.last_epoch)) > 1e-3
    assert (result.exported_epoch, result.restored_best) == (best, True)
    assert result.exported_weights_sha256 != result.weights_sha256          # the last epoch's are not exported
    metadata = json.loads((version_dir / "metadata.json").read_text())
    assert metadata["exported_epoch"] == best and metadata["last_epoch"] == result.last_epoch
    assert metadata["metrics"]["exported"] == {"epoch": best, "restored_best": True,
                                               "validation": result.history[best - 1]["validation"]}
    assert metadata["metrics"]["best"]["epoch"] == best
    assert metadata["weights_sha256"] == result.exported_weights_sha256
    # every rank (here the only one) reports the exported weights and epoch
    rank0 = json.loads((out / "runs" / "clicks_lr" / "main" / "rank0_final.json").read_text())
    assert rank0["exported_epoch"] == best and rank0["exported_weights_sha256"] == metadata["weights_sha256"]
    history = json.loads((out / "runs" / "clicks_lr" / "main" / "history.json").read_text())
    assert history["exported"]["epoch"] == best
    # the registry record says which epoch was exported, and its metric
    registry = open_registry(f"sqlite:{tmp_path / 'registry.sqlite'}", "clicks")
    try:
        record, _ = registry.register_export(str(version_dir), "clicks_lr", "main")
    finally:
        registry.close()
    assert record.metrics["exported"]["epoch"] == best
    assert record.metrics["exported"]["validation"]["logloss"] == pytest.approx(logloss_of(result.history, best))


def test_without_early_stopping_the_last_epoch_is_exported(tmp_path):
    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.trainer import train

    h = helpers()
    set_dir = degrading_set(tmp_path / "sets")
    model = h.clicks_model(tmp_path, warm_start=(("enabled", False),), early_stopping=())
    result = train(model, str(set_dir), str(tmp_path / "out"), epochs=2, cluster=LocalCluster(), spec_hash="s")
    assert result.best is None and (result.exported_epoch, result.restored_best) == (2, False)
    assert result.exported_weights_sha256 == result.weights_sha256
    metadata = json.loads((tmp_path / "out" / "repository" / "clicks_lr" / "1" / "metadata.json").read_text())
    assert metadata["exported_epoch"] == 2 and metadata["weights_sha256"] == result.weights_sha256


def test_horovod_ranks_agree_on_the_best_epoch_and_rank_0_exports_it(tmp_path):
    """Two real Horovod ranks over Gloo: both restore the same best epoch (identical exported
    weights), rank 0 exports it, and the export scores the best epoch's allreduced metric."""
    from mlc.runtime.training.distributed import horovod_importable

    runner = Path(sys.executable).parent / "horovodrun"
    if not horovod_importable() or not runner.exists():
        pytest.fail("Horovod is not installed in this environment: run `sh scripts/install_horovod.sh`")
    h = helpers()
    set_dir = degrading_set(tmp_path / "sets")
    spec = tmp_path / "clicks.mlc.yaml"
    spec.write_text(h.CLICKS_SPEC.replace("metric: auc, patience: 2", "metric: logloss, patience: 2")
                    .replace("warm_start: {enabled: true, source: checkpoint}", "warm_start: {enabled: false}"))
    out = tmp_path / "out"
    command = [str(runner), "-np", "2", "-H", "localhost:2", "--gloo", "--network-interfaces", "lo",
               sys.executable, "-m", "mlc.runtime.training", *h.compile_build(spec, tmp_path / "build"), "--data", str(tmp_path / "sets"),
               "--model", "clicks_lr", "--output", str(out), "--epochs", "6"]
    env = {**os.environ, "HOROVOD_GLOO_IFACE": "lo", "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"horovodrun did not finish in {TIMEOUT_S} s (deadlock?):\n{(error.stderr or b'')[-4000:]}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    runs = out / "runs" / "clicks_lr" / "main"
    r0, r1 = (json.loads((runs / f"rank{r}_final.json").read_text()) for r in (0, 1))
    history = json.loads((runs / "history.json").read_text())
    best = history["best"]["epoch"]
    assert history["stopped_early"] and best < history["last_epoch"]
    measured = exported_metrics(h.clicks_model(tmp_path), set_dir, out / "repository" / "clicks_lr" / "1")
    assert measured["logloss"] == pytest.approx(logloss_of(history["epochs"], best), abs=1e-5)
    assert abs(measured["logloss"] - logloss_of(history["epochs"], history["last_epoch"])) > 1e-3
    assert r0["exported_epoch"] == r1["exported_epoch"] == best
    assert r0["exported_weights_sha256"] == r1["exported_weights_sha256"] != r0["weights_sha256"]
    metadata = json.loads((out / "repository" / "clicks_lr" / "1" / "metadata.json").read_text())
    assert metadata["exported_epoch"] == best and metadata["workers"] == 2
    assert metadata["weights_sha256"] == r0["exported_weights_sha256"]
