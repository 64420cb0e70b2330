"""The model zoo (mlc.runtime.training.models) with real TensorFlow: every type builds from a
compiled spec, trains on synthetic data from a known model (loss goes down; classification
reaches AUC > 0.75 on held-out rows, where the generating model's own AUC is about 0.85), seeds
make initial weights reproducible, and sparse ids outside the table are guarded in-graph."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from specs import MINIMAL_SPEC

import tensorflow as tf  # noqa: E402

from mlc.compiler.pipeline import build  # noqa: E402
from mlc.runtime.training import models  # noqa: E402

from conftest import EXAMPLES  # noqa: E402

AUC_THRESHOLD = 0.75
HYPERPARAMETERS = {
    "lr": "{l2: 0.0001}",
    "fm": "{factor_dim: 4, l2: 0.0001}",
    "dnn": "{embedding_dim: 4, hidden_units: [16, 8], batch_norm: true, dropout: 0.1}",
    "wide_deep": "{embedding_dim: 4, hidden_units: [16, 8], wide: [city_id, load]}",
    "deepfm": "{embedding_dim: 4, hidden_units: [16, 8]}",
    "dcn": "{embedding_dim: 4, hidden_units: [16, 8], cross_layers: 2}",
}
CITY_BUCKETS = 100   # MINIMAL_SPEC: city_id = hash_bucket(city, 100)


def spec_model(tmp_path, model_type: str, task: str):
    """MINIMAL_SPEC's model `eta` as `model_type`/`task` (label `late` for classification)."""
    label = "late" if task == "classification" else "eta"
    text = MINIMAL_SPEC.replace("status: string}", "status: string, late: int64}").replace(
        "    type: dnn\n    task: regression\n    label: eta\n",
        f"    type: {model_type}\n    task: {task}\n    label: {label}\n"
        f"    hyperparameters: {HYPERPARAMETERS[model_type]}\n")
    path = tmp_path / f"{model_type}_{task}.mlc.yaml"
    path.write_text(text)
    result = build(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir.model("eta")


def synthetic(task: str, rows: int, seed: int) -> tuple[dict, np.ndarray]:
    """Features of MINIMAL_SPEC's model and labels from a known model:
    ``z = 1.5 dist_z - load + effect[city_id]``; ``y ~ Bernoulli(sigmoid(z))`` or ``z + N(0, 0.3)``."""
    rng = np.random.RandomState(seed)
    effect = np.random.RandomState(99).normal(0.0, 1.0, CITY_BUCKETS + 1)
    dist = rng.standard_normal(rows).astype(np.float32)
    load = rng.standard_normal(rows).astype(np.float32)
    city = rng.randint(0, CITY_BUCKETS + 1, rows).astype(np.int64)
    z = 1.5 * dist - load + effect[city]
    if task == "classification":
        y = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    else:
        y = (z + rng.normal(0.0, 0.3, rows)).astype(np.float32)
    features = {"dist_z": dist.reshape(-1, 1), "load": load.reshape(-1, 1), "city_id": city.reshape(-1, 1)}
    return features, y.reshape(-1, 1)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Rank-based (Mann-Whitney) AUC."""
    labels, scores = labels.ravel(), scores.ravel()
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="mergesort")] = np.arange(1, len(scores) + 1)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train(ir_model, features, labels, epochs: int = 4, lr: float = 0.02):
    keras_model = models.build_model(ir_model, seed=ir_model.training.seed,
                                     output_bias=models.initial_output_bias(ir_model.task, labels))
    keras_model.compile(models.make_optimizer("adam", lr), models.loss_for(ir_model.task))
    before = keras_model.evaluate(features, labels, batch_size=512, verbose=0)
    keras_model.fit(features, labels, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    after = keras_model.evaluate(features, labels, batch_size=512, verbose=0)
    return keras_model, before, after


@pytest.mark.parametrize("model_type", models.MODEL_TYPES)
def test_classification_model_learns_a_known_logistic_model(tmp_path, model_type):
    ir_model = spec_model(tmp_path, model_type, "classification")
    features, labels = synthetic("classification", 3000, seed=1)
    keras_model, before, after = train(ir_model, features, labels)
    assert after < before
    holdout_x, holdout_y = synthetic("classification", 2000, seed=2)
    predicted = keras_model.predict(holdout_x, batch_size=1024, verbose=0)
    assert predicted.shape == (2000, 1) and np.all((predicted >= 0) & (predicted <= 1))
    assert auc(holdout_y, predicted) > AUC_THRESHOLD


@pytest.mark.parametrize("model_type", ["lr", "dnn", "deepfm", "dcn"])
def test_regression_model_loss_decreases(tmp_path, model_type):
    ir_model = spec_model(tmp_path, model_type, "regression")
    features, labels = synthetic("regression", 2000, seed=3)
    _, before, after = train(ir_model, features, labels, epochs=3)
    assert after < 0.7 * before


@pytest.mark.parametrize("model_type", ["fm", "wide_deep", "dcn"])
def test_inputs_and_output_follow_the_signature(tmp_path, model_type):
    ir_model = spec_model(tmp_path, model_type, "classification")
    keras_model = models.build_model(ir_model, seed=1)
    assert [i.name for i in keras_model.inputs] == [t.name for t in ir_model.signature_inputs]
    assert [i.dtype.name for i in keras_model.inputs] == [t.dtype for t in ir_model.signature_inputs]
    assert all(tuple(i.shape) == (None, 1) for i in keras_model.inputs)
    assert keras_model.output_names == ["probability"] and tuple(keras_model.output.shape) == (None, 1)


@pytest.mark.parametrize("name", ["eta_dnn", "eta_wide_deep"])
def test_real_example_models_build(name):
    ir_model = build(str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml")).ir.model(name)
    keras_model = models.build_model(ir_model, seed=7)
    assert [i.name for i in keras_model.inputs] == [t.name for t in ir_model.signature_inputs]
    assert keras_model.output_names == [ir_model.signature_outputs[0].name] == ["prediction"]
    tables = {layer.name: layer.input_dim for layer in keras_model.layers if isinstance(layer, tf.keras.layers.Embedding)}
    for sparse in ir_model.sparse:
        assert tables[f"embedding_{sparse.name}"] == sparse.buckets + 1


@pytest.mark.parametrize("model_type", models.MODEL_TYPES)
def test_same_seed_same_initial_weights(tmp_path, model_type):
    ir_model = spec_model(tmp_path, model_type, "classification")
    first, second = models.build_model(ir_model, seed=11), models.build_model(ir_model, seed=11)
    other = models.build_model(ir_model, seed=12)
    assert [w.name for w in first.weights] == [w.name for w in second.weights]
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first.get_weights(), other.get_weights()))


def test_out_of_range_ids_use_the_null_row(tmp_path):
    ir_model = spec_model(tmp_path, "deepfm", "classification")
    keras_model = models.build_model(ir_model, seed=5)
    dense = np.zeros((4, 1), np.float32)
    ids = np.array([[-7], [CITY_BUCKETS + 1], [10 ** 9], [CITY_BUCKETS]], np.int64)
    out = keras_model({"dist_z": dense, "load": dense, "city_id": ids}, training=False).numpy()
    np.testing.assert_allclose(out, np.full((4, 1), out[3, 0]), rtol=0, atol=0)


def test_l2_regularises_looked_up_rows_only(tmp_path):
    ir_model = spec_model(tmp_path, "fm", "classification")
    keras_model = models.build_model(ir_model, seed=5)
    features, _ = synthetic("classification", 8, seed=0)
    keras_model(features, training=True)
    assert keras_model.losses, "lr/fm l2 adds regularisation losses"
    tables = [layer for layer in keras_model.layers if isinstance(layer, tf.keras.layers.Embedding)]
    assert tables and all(layer.embeddings_regularizer is None for layer in tables)


def test_optimizers_and_losses():
    for name in models.OPTIMIZERS:
        optimizer = models.make_optimizer(name, 0.01)
        assert isinstance(optimizer, tf.keras.optimizers.legacy.Optimizer)
        assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown optimizer"):
        models.make_optimizer("lamb", 0.01)
    assert isinstance(models.loss_for("classification"), tf.keras.losses.BinaryCrossentropy)
    assert isinstance(models.loss_for("regression"), tf.keras.losses.MeanSquaredError)
    assert [m.name for m in models.metrics_for("classification")] == ["auc", "logloss"]
    assert [m.name for m in models.metrics_for("regression")] == ["mae", "rmse"]
    assert models.initial_output_bias("classification", np.array([0, 0, 0, 1])) == pytest.approx(np.log(1 / 3))
    assert models.initial_output_bias("regression", np.array([2.0, 4.0])) == 3.0
