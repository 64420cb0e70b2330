"""The training loop in one process (real TensorFlow): a synthetic training set drawn from a
known logistic model, early stopping, warm start (checkpoint and exported version), export,
the metric arithmetic behind the allreduce, and the entry point's errors.

``synthetic_set`` / ``clicks_model`` are shared with test_horovod.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import tensorflow  # noqa: E402,F401  (the train extra is part of dev: missing is a failure)
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

# A small classification model: 3 dense inputs and one sparse input of 20 buckets. The engine
# is horovod with 2 workers (test_horovod.py); these tests pass a LocalCluster explicitly.
CLICKS_SPEC = """\
version: 1
name: clicks
entities:
  user: {keys: [user_id]}
sources:
  events:
    kind: csv
    path: data/events.csv
    event_time: ts
    columns: {ts: timestamp, user_id: int64, x1: float64, x2: float64, x3: float64, slot: int64, clicked: int64}
preprocess:
  inputs:
    x1: {dtype: float64, default: 0.0}
    x2: {dtype: float64, default: 0.0}
    x3: {dtype: float64, default: 0.0}
    slot: {dtype: int64, default: 0}
  features:
    f1: fillna(x1, 0.0)
    f2: fillna(x2, 0.0)
    f3: fillna(x3, 0.0)
    slot_id: hash_bucket(slot, 20)
models:
  clicks_lr:
    type: lr
    task: classification
    label: clicked
    inputs: {dense: [f1, f2, f3], sparse: [slot_id]}
    training:
      source: events
      epochs: 4
      batch_size: 64
      optimizer: {name: adam, learning_rate: 0.02}
      validation: {last_fraction: 0.2}
      early_stopping: {metric: auc, patience: 2, min_delta: 0.0}
      warm_start: {enabled: true, source: checkpoint}
      distributed: {engine: horovod, workers: 2}
      seed: 3
"""

# The known model: logit = BIAS + W . (f1, f2, f3) + SLOT_EFFECT[slot_id]
BIAS = -0.4
WEIGHTS = np.array([1.3, -0.9, 0.6])
SLOT_EFFECT = np.linspace(-1.0, 1.0, 20)
T0 = np.datetime64("2024-06-01T00:00:00", "us")


def write_spec(directory: Path) -> Path:
    path = directory / "clicks.mlc.yaml"
    path.write_text(CLICKS_SPEC, encoding="utf-8")
    return path


def compile_build(spec: Path, build: Path) -> list[str]:
    """Compile ``spec`` into ``build/mldl.json`` (the runtime reads builds, never specs): the
    training entry point's ``--mldl`` and ``--spec-hash`` arguments."""
    from mlc.compiler.pipeline import build as compile_spec
    from mlc.core.ir import to_jsonable

    result = compile_spec(str(spec))
    assert result.ok, result.diagnostics
    build.mkdir(parents=True, exist_ok=True)
    (build / "mldl.json").write_text(json.dumps(to_jsonable(result.ir)), encoding="utf-8")
    return ["--mldl", str(build / "mldl.json"), "--spec-hash", result.spec_sha256()]


def clicks_ir(directory: Path):
    from mlc.compiler.pipeline import build

    result = build(str(write_spec(directory)))
    assert result.ok, result.diagnostics
    return result


def clicks_model(directory: Path, **training_changes):
    """The compiled ModelIR, with ``training`` fields replaced as given."""
    model = clicks_ir(directory).ir.model("clicks_lr")
    if training_changes:
        model = dataclasses.replace(model, training=dataclasses.replace(model.training, **training_changes))
    return model


def draw(rows: int, seed: int) -> dict:
    """Rows from the known model: features, true probability, sampled label."""
    rng = np.random.RandomState(seed)
    x = rng.standard_normal((rows, 3))
    slot = rng.randint(0, 20, size=rows)
    probability = 1.0 / (1.0 + np.exp(-(BIAS + x @ WEIGHTS + SLOT_EFFECT[slot])))
    clicked = (rng.uniform(size=rows) < probability).astype(np.int64)
    return {"f1": x[:, 0], "f2": x[:, 1], "f3": x[:, 2], "slot_id": slot.astype(np.int64),
            "clicked": clicked, "probability": probability}


def write_split(directory: Path, data: dict, start_minute: int, row_group_size: int) -> tuple[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    rows = len(data["clicked"])
    ts = T0 + (start_minute + np.arange(rows)).astype("timedelta64[m]")
    table = pa.table({"f1": data["f1"], "f2": data["f2"], "f3": data["f3"], "slot_id": data["slot_id"],
                      "clicked": data["clicked"], "ts": pa.array(ts, pa.timestamp("us"))})
    pq.write_table(table, str(directory / "part-00000.parquet"), row_group_size=row_group_size)
    return str(ts[0]) + "Z", str(ts[-1]) + "Z"


def synthetic_set(root: Path, train_rows: int = 4000, validation_rows: int = 1000, seed: int = 11,
                  row_group_size: int = 250) -> Path:
    """``<root>/clicks_lr/main/{train,validation}/part-00000.parquet`` + ``schema.json``, as
    ``training_set.write_training_sets`` lays them out; validation rows are later in time."""
    set_dir = root / "clicks_lr" / "main"
    train = draw(train_rows, seed)
    validation = draw(validation_rows, seed + 1)
    write_split(set_dir / "train", train, 0, row_group_size)
    write_split(set_dir / "validation", validation, train_rows, row_group_size)
    schema = {
        "model": "clicks_lr", "shard": "main", "task": "classification",
        "label": {"name": "clicked", "dtype": "int64"}, "event_time": "ts", "partition_key": None,
        "partitions": {"values": [], "is_default": True},
        "columns": [{"name": n, "dtype": d} for n, d in (("f1", "float64"), ("f2", "float64"), ("f3", "float64"),
                                                         ("slot_id", "int64"), ("clicked", "int64"), ("ts", "timestamp"))],
        "inputs": {"dense": [{"name": n, "dtype": "float64"} for n in ("f1", "f2", "f3")],
                   "sparse": [{"name": "slot_id", "dtype": "int64", "buckets": 20}]},
        "feature_groups": [], "split": {"last_fraction": 0.2}, "rows": {"train": train_rows, "validation": validation_rows},
    }
    (set_dir / "schema.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return set_dir


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties, NumPy only."""
    labels = np.asarray(labels).reshape(-1) >= 0.5
    scores = np.asarray(scores, np.float64).reshape(-1)
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), np.float64)
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    positives, negatives = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("training_loop")


@pytest.fixture(scope="module")
def set_dir(workdir):
    return synthetic_set(workdir / "sets")


@pytest.fixture(scope="module")
def trained(workdir, set_dir):
    """One 4-epoch run (early stopping on AUC can cut it short), exported."""
    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.trainer import train

    model = clicks_model(workdir)
    out = workdir / "run"
    return model, out, train(model, str(set_dir), str(out), cluster=LocalCluster(), spec_hash="abc123")


# ------------------------------------------------------------------ metric arithmetic


def test_grid_auc_matches_the_exact_auc_and_is_additive_over_shards():
    from mlc.runtime.training.trainer import Stats, auc_from_counts, confusion_counts, metrics_from_stats, stats_of

    rng = np.random.RandomState(0)
    labels = (rng.uniform(size=3000) < 0.3).astype(np.float64)
    scores = 1 / (1 + np.exp(-(rng.standard_normal(3000) + 1.2 * labels)))
    counts = confusion_counts(labels, scores)
    assert counts.shape == (4, 2001)
    assert (counts[0] + counts[3] == labels.sum()).all() and (counts[1] + counts[2] == 3000 - labels.sum()).all()
    assert abs(auc_from_counts(counts) - rank_auc(labels, scores)) < 1e-3
    # statistics of two shards, summed, give exactly the metrics of the union
    losses = -np.log(np.where(labels > 0, scores, 1 - scores))
    a, b = stats_of("classification", labels[:1234], scores[:1234], losses[:1234]), \
        stats_of("classification", labels[1234:], scores[1234:], losses[1234:])
    union = metrics_from_stats("classification", stats_of("classification", labels, scores, losses))
    summed = metrics_from_stats("classification", Stats(a.counts + b.counts, a.sums + b.sums))
    assert summed["auc"] == union["auc"] and summed["rows"] == 3000
    assert abs(summed["logloss"] - union["logloss"]) < 1e-12
    regression = metrics_from_stats("regression", stats_of("regression", np.array([1.0, 2.0, 4.0]),
                                                           np.array([2.0, 2.0, 1.0]), np.zeros(3)))
    assert regression["mae"] == pytest.approx(4 / 3) and regression["rmse"] == pytest.approx(math.sqrt(10 / 3))


def test_early_stopping_rule():
    from mlc.runtime.training.trainer import EarlyStopping

    auc = EarlyStopping("auc", patience=2, min_delta=0.001)
    decisions = [auc.update({"auc": v}, e) for e, v in enumerate([0.70, 0.75, 0.7505, 0.749], start=1)]
    assert decisions == [False, False, False, True] and (auc.best, auc.best_epoch) == (0.75, 2)
    assert auc.update({"auc": None}, 5) and auc.best_epoch == 2   # an undefined AUC never improves
    loss = EarlyStopping("loss", patience=1, min_delta=0.0)
    assert [loss.update({"loss": v}, e) for e, v in enumerate([0.5, 0.4, 0.45], start=1)] == [False, False, True]
    assert not EarlyStopping(None, 2, 0.0).update({"auc": 0.1}, 1)


def test_learning_rate_plan_scales_and_warms_up():
    from mlc.runtime.training.trainer import learning_rate_plan, warmup_learning_rate

    plan = learning_rate_plan(0.01, 4, steps_per_epoch=10)
    assert plan == {"base": 0.01, "scaled": 0.04, "warmup_steps": 10}
    assert [round(warmup_learning_rate(plan, s), 6) for s in (0, 5, 10, 99)] == [0.01, 0.025, 0.04, 0.04]
    assert learning_rate_plan(0.01, 1, 10)["warmup_steps"] == 0


# ------------------------------------------------------------------ the loop


def test_training_learns_the_known_model_and_exports(trained, set_dir):
    from mlc.runtime.training.data import read_split

    model, out, result = trained
    assert result.workers == 1 and result.first_epoch == 1 and result.steps_per_epoch == math.ceil(4000 / 64)
    assert result.learning_rate == {"base": 0.02, "scaled": 0.02, "warmup_steps": 0}
    assert 1 <= result.epochs_run <= 4 and [h["epoch"] for h in result.history] == list(range(1, result.epochs_run + 1))
    validation = read_split(str(set_dir), "validation", model)
    true_probability = draw(1000, 12)["probability"]
    bayes = rank_auc(validation.labels, true_probability)
    assert result.final_metrics["rows"] == 1000
    assert result.final_metrics["auc"] > bayes - 0.02, (result.final_metrics, bayes)
    # outputs
    history = json.loads((out / "runs" / "clicks_lr" / "main" / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [h["epoch"] for h in result.history]
    rank0 = json.loads((out / "runs" / "clicks_lr" / "main" / "rank0_final.json").read_text())
    assert rank0["weights_sha256"] == result.weights_sha256 and rank0["final_metrics"] == result.final_metrics
    version = out / "repository" / "clicks_lr" / "1"
    assert result.version == 1 and (version / "model.savedmodel").is_dir() and (version / "model.onnx").is_file()
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["spec_hash"] == "abc123" and metadata["workers"] == 1 and metadata["type"] == "lr"
    assert metadata["task"] == "classification" and metadata["epochs_run"] == result.epochs_run
    assert metadata["data"]["train"] == {"rows": 4000, "from": "2024-06-01T00:00:00Z", "to": "2024-06-03T18:39:00Z"}
    assert metadata["data"]["validation"]["from"] == "2024-06-03T18:40:00Z"
    assert metadata["metrics"]["final"] == result.final_metrics and metadata["metrics"]["best"]["metric"] == "auc"
    # the checkpoint of the last epoch holds the final weights
    from mlc.runtime.training.trainer import load_checkpoint_model, weights_sha256

    restored = load_checkpoint_model(model, str(out / "checkpoints" / "clicks_lr" / "main"))
    assert weights_sha256(restored) == result.weights_sha256


def test_early_stopping_stops_at_the_right_epoch(workdir, set_dir):
    """SGD with a learning rate of 1e-9 cannot move the AUC by min_delta: epoch 1 sets the best,
    epochs 2 and 3 do not improve, patience 2 -> stop after epoch 3 of 10."""
    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.trainer import train

    model = clicks_model(workdir, optimizer="sgd", learning_rate=1e-9, warm_start=(("enabled", False),),
                         early_stopping=(("metric", "auc"), ("min_delta", 0.01), ("patience", 2)))
    result = train(model, str(set_dir), str(workdir / "stop"), epochs=10, cluster=LocalCluster(), export=False)
    assert [h["epoch"] for h in result.history] == [1, 2, 3] and result.stopped_early
    assert result.best["epoch"] == 1 and result.best["value"] == result.history[0]["validation"]["auc"]
    assert not (workdir / "stop" / "repository").exists()


def test_warm_start_resumes_from_the_checkpoint(workdir, set_dir, trained):
    import tensorflow as tf

    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.trainer import train

    model, out, first = trained
    second = train(model, str(set_dir), str(out), epochs=2, cluster=LocalCluster(), export=True)
    assert second.warm_start["source"] == "checkpoint"
    assert second.warm_start["weights_sha256"] == first.weights_sha256      # weights continue
    assert (second.first_epoch, second.last_epoch) == (first.last_epoch + 1, first.last_epoch + 2)
    assert second.version == 2
    # the optimizer state continued too: its step counter covers both runs
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(out / "checkpoints" / "clicks_lr" / "main")))
    steps = first.steps_per_epoch * (first.epochs_run + second.epochs_run)
    assert reader.get_tensor("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE") == steps
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == second.last_epoch


def test_warm_start_from_the_latest_exported_version(workdir, set_dir, trained):
    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.trainer import train

    model, out, first = trained
    from_version = clicks_model(workdir, warm_start=(("enabled", True), ("source", "version")))
    repo = out / "repository"
    latest = max(int(p.name) for p in (repo / "clicks_lr").iterdir() if p.name.isdigit())
    expected = json.loads((repo / "clicks_lr" / str(latest) / "metadata.json").read_text())["weights_sha256"]
    result = train(from_version, str(set_dir), str(out), epochs=1, cluster=LocalCluster(), export=False)
    assert result.warm_start["source"] == "version" and result.warm_start["version"] == latest
    assert result.warm_start["weights_sha256"] == expected
    previous = json.loads((repo / "clicks_lr" / str(latest) / "metadata.json").read_text())["last_epoch"]
    assert result.first_epoch == previous + 1


# ------------------------------------------------------------------ entry point


def test_entry_point_trains_in_process(workdir, set_dir, capsys):
    from mlc.runtime.training.main import main

    spec = write_spec(workdir)
    out = workdir / "cli"
    code = main([*compile_build(spec, workdir / "build"), "--data", str(set_dir.parent.parent), "--model", "clicks_lr",
                 "--output", str(out), "--epochs", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "trained `clicks_lr` shard `main`" in captured.out and "exported version 1" in captured.out
    metadata = json.loads((out / "repository" / "clicks_lr" / "1" / "metadata.json").read_text())
    assert len(metadata["spec_hash"]) == 64 and metadata["epochs_run"] == 1


@pytest.mark.parametrize("args, message", [
    (["--model", "nope"], "unknown model `nope`"),
    (["--model", "clicks_lr", "--shard", "east"], "has no shard `east`"),
    (["--model", "clicks_lr", "--data", "MISSING"], "run `mlc run"),
])
def test_entry_point_errors_are_one_line(workdir, set_dir, capsys, args, message):
    from mlc.runtime.training.main import main

    spec = write_spec(workdir)
    data = str(set_dir.parent.parent)
    argv = [*compile_build(spec, workdir / "build"), "--data", data, "--output", str(workdir / "err")]
    if "--data" in args:
        i = args.index("--data")
        argv[argv.index("--data") + 1] = str(workdir / args[i + 1])
        args = args[:i] + args[i + 2:]
    code = main(argv + args)
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err, err
