"""Real Horovod over Gloo: two ranks on localhost train the synthetic clicks model through the
entry point (``horovodrun -np 2 -H localhost:2 --gloo python -m mlc.runtime.training``).

Asserts that both ranks finish with bit-identical weights, that their final metrics are
identical and equal the metrics of the final model computed in ONE process over the union of
the two validation shards (so the per-rank statistics really were allreduced: either shard
alone gives other numbers), that the run used 2 workers with the learning rate scaled, and that
the exported model ranks a held-out sample (never trained on) nearly as well as the true model.

Horovod is required, not optional: without it this test fails and says how to install it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def helpers():
    """test_training_loop.py's data helpers, loaded by path (a sys.path change would shadow
    tests/conftest.py for later modules) and only after the Horovod check, so that a missing
    Horovod is always this module's failure, never a skip."""
    path = Path(__file__).resolve().with_name("test_training_loop.py")
    spec = importlib.util.spec_from_file_location("_mlc_training_loop_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

INSTALL_HINT = "Horovod is not installed in this environment: run `sh scripts/install_horovod.sh`"
TIMEOUT_S = 240
HELD_OUT_MIN_AUC = 0.78      # the true model's AUC on the held-out rows is about 0.84
TRAIN_ROWS = 4100            # 17 row groups of <= 250 rows: rank 0 reads 9 (2100 rows), rank 1 8 (2000)


def horovodrun() -> str:
    from mlc.runtime.training.distributed import horovod_importable

    if not horovod_importable():
        pytest.fail(INSTALL_HINT)
    runner = Path(sys.executable).parent / "horovodrun"
    if not runner.exists():
        pytest.fail(f"{runner} is missing. {INSTALL_HINT}")
    return str(runner)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    runner = horovodrun()
    h = helpers()
    work = tmp_path_factory.mktemp("horovod")
    set_dir = h.synthetic_set(work / "sets", train_rows=TRAIN_ROWS)
    spec = h.write_spec(work)
    out = work / "out"
    command = [runner, "-np", "2", "-H", "localhost:2", "--gloo", "--network-interfaces", "lo",
               sys.executable, "-m", "mlc.runtime.training", *h.compile_build(spec, work / "build"), "--data", str(work / "sets"),
               "--model", "clicks_lr", "--output", str(out), "--epochs", "3"]
    env = {**os.environ, "HOROVOD_GLOO_IFACE": "lo", "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"horovodrun did not finish in {TIMEOUT_S} s (deadlock?):\n{(error.stderr or b'')[-4000:]}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    runs = out / "runs" / "clicks_lr" / "main"
    ranks = [json.loads((runs / f"rank{r}_final.json").read_text()) for r in (0, 1)]
    return {"helpers": h, "work": work, "set_dir": set_dir, "out": out, "ranks": ranks, "stdout": done.stdout,
            "stderr": done.stderr, "history": json.loads((runs / "history.json").read_text())}


def test_both_ranks_finish_in_lockstep_with_identical_weights(run):
    r0, r1 = run["ranks"]
    assert (r0["rank"], r1["rank"]) == (0, 1) and r0["workers"] == r1["workers"] == 2
    assert "rank 0 of 2" in run["stderr"] and "rank 1 of 2" in run["stderr"]
    # unequal shards, one common number of steps: min(ceil(2100/64), ceil(2000/64)) = 32
    assert (r0["train_rows"], r1["train_rows"]) == (2100, 2000)
    assert r0["steps_per_epoch"] == r1["steps_per_epoch"] == 32
    assert r0["last_epoch"] == r1["last_epoch"] == 3
    assert r0["weights_sha256"] == r1["weights_sha256"]
    assert r0["final_metrics"] == r1["final_metrics"]            # exactly: allreduced, not per-rank


def test_learning_rate_scaled_by_the_workers(run):
    r0, _ = run["ranks"]
    assert r0["learning_rate"] == {"base": 0.02, "scaled": 0.04, "warmup_steps": 32}
    history = run["history"]
    assert history["workers"] == 2 and history["engine"].startswith("horovod")
    # the rate of each epoch's last step: warmup 0.02 -> 0.04 over epoch 1's 32 steps, then 0.04
    assert [e["learning_rate"] for e in history["epochs"]] == pytest.approx([0.02 + 0.02 * 31 / 32, 0.04, 0.04])
    metadata = json.loads((run["out"] / "repository" / "clicks_lr" / "1" / "metadata.json").read_text())
    assert metadata["workers"] == 2 and metadata["learning_rate"]["scaled"] == 0.04
    assert metadata["data"]["train"]["rows"] == TRAIN_ROWS and metadata["data"]["validation"]["rows"] == 1000


def test_metrics_are_the_allreduce_of_both_validation_shards(run, tmp_path):
    """The final model (last checkpoint) evaluated in this process over the union of the two
    validation shards gives the ranks' metrics within 1e-6; each shard alone does not."""
    from mlc.runtime.training.data import read_split
    from mlc.runtime.training.models import loss_for
    from mlc.runtime.training.trainer import (compute_metrics, load_checkpoint_model, make_predict_step, predict,
                                              weights_sha256)

    model = run["helpers"].clicks_model(tmp_path)
    keras_model = load_checkpoint_model(model, str(run["out"] / "checkpoints" / "clicks_lr" / "main"))
    assert weights_sha256(keras_model) == run["ranks"][0]["weights_sha256"]
    step, loss = make_predict_step(keras_model), loss_for(model.task)
    shards = [read_split(str(run["set_dir"]), "validation", model, rank=r, size=2) for r in (0, 1)]
    assert [s.rows for s in shards] == [500, 500]
    predictions = [predict(step, s.features) for s in shards]
    union = compute_metrics(model.task, np.concatenate([s.labels for s in shards]), np.concatenate(predictions), loss)
    reported = run["ranks"][0]["final_metrics"]
    assert reported["rows"] == union["rows"] == 1000
    for name in ("auc", "logloss", "loss"):
        assert abs(reported[name] - union[name]) <= 1e-6, (name, reported, union)
    for shard, prediction in zip(shards, predictions):
        alone = compute_metrics(model.task, shard.labels, prediction, loss)
        assert abs(alone["auc"] - reported["auc"]) > 1e-6 and abs(alone["logloss"] - reported["logloss"]) > 1e-6


def test_exported_model_ranks_held_out_rows(run):
    import tensorflow as tf

    h = run["helpers"]
    held_out = h.draw(5000, seed=2024)         # same known model, rows never trained or validated on
    bayes = h.rank_auc(held_out["clicked"], held_out["probability"])
    serve = tf.saved_model.load(str(run["out"] / "repository" / "clicks_lr" / "1" / "model.savedmodel"))
    inputs = {name: tf.constant(held_out[name].reshape(-1, 1).astype(np.float32)) for name in ("f1", "f2", "f3")}
    inputs["slot_id"] = tf.constant(held_out["slot_id"].reshape(-1, 1))
    probability = serve.signatures["serving_default"](**inputs)["probability"].numpy().reshape(-1)
    auc = h.rank_auc(held_out["clicked"], probability)
    assert auc >= HELD_OUT_MIN_AUC and auc >= bayes - 0.03, (auc, bayes)
