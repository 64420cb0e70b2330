"""The model zoo: one Keras functional model per ``ModelIR.type``, built from the IR alone.

    keras_model = build_model(model_ir, seed=model_ir.training.seed)
    keras_model.compile(make_optimizer("adam", 1e-3), loss_for(model_ir.task), metrics_for(model_ir.task))

Every model has one ``tf.keras.Input(shape=(1,), name=<signature input>)`` per signature input,
in signature order (dense float32, sparse int64), and one output ``(None, 1)`` named after the
IR's signature output (``probability`` for classification: a sigmoid; ``prediction`` for
regression: linear). With ``x`` the dense values, ``e_i`` the embedding of sparse id ``i``
(tables of ``buckets + 1`` rows, the last one for null/unknown ids) and ``b`` a scalar bias:

- ``lr``: ``b + w·x + Σ_i w_i[id_i]`` (sparse weights are 1-dim embeddings); ``l2`` on ``w``
  and on the looked-up ``w_i``.
- ``fm``: ``lr + ½ Σ_k [(Σ_f v_fk)² − Σ_f v_fk²]`` over fields ``v_f``: sparse factors (dim
  ``factor_dim``) and dense fields ``x_j·u_j`` (one learned vector ``u_j`` per dense input);
  ``l2`` on the linear weights and the looked-up factors.
- ``dnn``: ``MLP([x, e_1, ..., e_S]) -> 1`` (``hidden_units``, ``activation``, ``dropout``,
  ``batch_norm``: Dense -> BatchNorm -> activation -> Dropout).
- ``wide_deep``: ``linear(wide inputs) + dnn`` (``wide``: inputs of the wide part, all sparse by
  default; a dense input listed there gets a linear weight). Separate wide weights.
- ``deepfm``: ``linear + FM(fields) + MLP([x, e_1..e_S])``; the FM and the MLP share the sparse
  embeddings (dim ``embedding_dim``); dense inputs enter the FM projected into the embedding
  space as fields ``x_j·u_j`` and the MLP as raw values.
- ``dcn``: ``x0 = [x, e_1..e_S]``; cross network (DCN-V2, ``cross_layers`` of
  ``x_{l+1} = x0 ⊙ (W_l x_l + c_l) + x_l``) in parallel with the MLP; ``Dense(1)`` on both.

The l2 of ``lr``/``fm`` is applied to looked-up rows only (Keras activity regularisation, per
example), never to whole tables, so gradients of million-row tables stay sparse. Sparse ids go
through ``IdGuard`` first: ids outside ``0..buckets`` become ``buckets`` in-graph, the same rule
as ``inputs.model_arrays``, so the exported model cannot index out of range. Weights are
initialised from per-layer seeds derived from ``seed`` (same seed -> identical weights); layer
names are explicit and stable, so checkpoints of two builds line up.

Optimizers are the Keras 2 *legacy* ones (``tf.keras.optimizers.legacy.*``): Horovod's
``DistributedOptimizer`` has required/tested them since Keras 2.11 (horovod#3725, #3822), the
new optimizers' save/load and jit_compile paths are where Horovod and sparse (IndexedSlices)
embedding gradients had trouble, and the legacy ones apply sparse updates natively.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from mlc.core.ir import ModelIR

MODEL_TYPES = ("lr", "fm", "dnn", "wide_deep", "deepfm", "dcn")
OPTIMIZERS = ("adam", "adagrad", "sgd", "ftrl", "rmsprop")


# ------------------------------------------------------------------ public API


def build_model(model: ModelIR, seed: int | None = None, output_bias: float | None = None) -> tf.keras.Model:
    """The Keras functional model of ``model`` (see the module docstring for each type).
    ``output_bias`` initialises the final bias (e.g. ``initial_output_bias`` of the labels)."""
    if model.type not in BUILDERS:
        raise ValueError(f"model `{model.name}`: unknown model type `{model.type}` (one of {MODEL_TYPES})")
    graph = _Graph(model, seed)
    logit = BUILDERS[model.type](graph)
    logit = Bias(float(output_bias or 0.0), name="output_bias")(logit)
    activation = "sigmoid" if model.task == "classification" else "linear"
    output = tf.keras.layers.Activation(activation, name=output_name(model))(logit)
    return tf.keras.Model(inputs=list(graph.inputs.values()), outputs=output, name=model.name)


def output_name(model: ModelIR) -> str:
    """The signature output name (``probability`` / ``prediction``)."""
    return model.signature_outputs[0].name


def loss_for(task: str) -> tf.keras.losses.Loss:
    """Binary cross-entropy on the sigmoid output for classification; MSE for regression."""
    if task == "classification":
        return tf.keras.losses.BinaryCrossentropy(name="logloss")
    if task == "regression":
        return tf.keras.losses.MeanSquaredError(name="mse")
    raise ValueError(f"unknown task `{task}`")


def metrics_for(task: str) -> list[tf.keras.metrics.Metric]:
    """Metrics named as ``early_stopping.metric`` spells them: auc/logloss or mae/rmse."""
    if task == "classification":
        return [tf.keras.metrics.AUC(name="auc", num_thresholds=1000),
                tf.keras.metrics.BinaryCrossentropy(name="logloss")]
    return [tf.keras.metrics.MeanAbsoluteError(name="mae"), tf.keras.metrics.RootMeanSquaredError(name="rmse")]


def make_optimizer(name: str, learning_rate: float) -> tf.keras.optimizers.legacy.Optimizer:
    """A Keras 2 legacy optimizer (see the module docstring for why legacy)."""
    legacy = tf.keras.optimizers.legacy
    factories = {"adam": legacy.Adam, "adagrad": legacy.Adagrad, "sgd": legacy.SGD,
                 "ftrl": legacy.Ftrl, "rmsprop": legacy.RMSprop}
    if name not in factories:
        raise ValueError(f"unknown optimizer `{name}` (one of {OPTIMIZERS})")
    return factories[name](learning_rate=learning_rate)


def initial_output_bias(task: str, labels: np.ndarray) -> float:
    """A starting bias for the output: log-odds of the positive rate, or the label mean."""
    values = np.asarray(labels, dtype=np.float64)
    if values.size == 0:
        return 0.0
    mean = float(values.mean())
    if task == "classification":
        rate = min(max(mean, 1e-4), 1 - 1e-4)
        return math.log(rate / (1 - rate))
    return mean


# ------------------------------------------------------------------ layers


@tf.keras.utils.register_keras_serializable(package="mlc")
class IdGuard(tf.keras.layers.Layer):
    """int64 ids outside ``0..buckets`` -> ``buckets`` (the null/unknown row)."""

    def __init__(self, buckets: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buckets = int(buckets)

    def call(self, ids: tf.Tensor) -> tf.Tensor:
        ids = tf.cast(ids, tf.int64)
        unknown = tf.logical_or(ids < 0, ids > self.buckets)
        return tf.where(unknown, tf.constant(self.buckets, tf.int64), ids)

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets}


@tf.keras.utils.register_keras_serializable(package="mlc")
class Bias(tf.keras.layers.Layer):
    """Adds one trainable scalar."""

    def __init__(self, initial: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial = float(initial)

    def build(self, input_shape: Any) -> None:
        self.bias = self.add_weight("bias", shape=(1,), initializer=tf.keras.initializers.Constant(self.initial))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x + self.bias

    def get_config(self) -> dict:
        return {**super().get_config(), "initial": self.initial}


@tf.keras.utils.register_keras_serializable(package="mlc")
class DenseFields(tf.keras.layers.Layer):
    """Dense values ``(b, n)`` as FM fields ``(b, n, dim)``: field ``j`` is ``x_j · u_j``."""

    def __init__(self, dim: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim, self.seed = int(dim), seed

    def build(self, input_shape: Any) -> None:
        self.vectors = self.add_weight("vectors", shape=(int(input_shape[-1]), self.dim),
                                       initializer=embedding_initializer(self.seed))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.expand_dims(x, -1) * tf.expand_dims(self.vectors, 0)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "seed": self.seed}


@tf.keras.utils.register_keras_serializable(package="mlc")
class FactorizationMachine(tf.keras.layers.Layer):
    """Second-order FM term of fields ``(b, F, k)``: ``½ Σ_k [(Σ_f v)² − Σ_f v²]`` -> ``(b, 1)``."""

    def call(self, fields: tf.Tensor) -> tf.Tensor:
        square_of_sum = tf.square(tf.reduce_sum(fields, axis=1))
        sum_of_squares = tf.reduce_sum(tf.square(fields), axis=1)
        return 0.5 * tf.reduce_sum(square_of_sum - sum_of_squares, axis=1, keepdims=True)


@tf.keras.utils.register_keras_serializable(package="mlc")
class CrossNetwork(tf.keras.layers.Layer):
    """DCN-V2 cross layers: ``x_{l+1} = x0 ⊙ (W_l x_l + c_l) + x_l``."""

    def __init__(self, layers: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_layers, self.seed = int(layers), seed

    def build(self, input_shape: Any) -> None:
        width = int(input_shape[-1])
        self.kernels = [self.add_weight(f"kernel_{i}", shape=(width, width),
                                        initializer=tf.keras.initializers.GlorotUniform(_offset(self.seed, i)))
                        for i in range(self.num_layers)]
        self.biases = [self.add_weight(f"bias_{i}", shape=(width,), initializer="zeros") for i in range(self.num_layers)]

    def call(self, x0: tf.Tensor) -> tf.Tensor:
        x = x0
        for kernel, bias in zip(self.kernels, self.biases):
            x = x0 * (tf.matmul(x, kernel) + bias) + x
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "layers": self.num_layers, "seed": self.seed}


CUSTOM_OBJECTS = {cls.__name__: cls for cls in (IdGuard, Bias, DenseFields, FactorizationMachine, CrossNetwork)}


def embedding_initializer(seed: int | None) -> tf.keras.initializers.Initializer:
    return tf.keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)


def _offset(seed: int | None, i: int) -> int | None:
    return None if seed is None else seed + i


# ------------------------------------------------------------------ graph pieces


class _Graph:
    """Inputs of one model plus the shared pieces the builders combine; hands out one fresh
    seed per initializer/dropout (``seed``, ``seed + 1``, ...) in build order."""

    def __init__(self, model: ModelIR, seed: int | None) -> None:
        self.model = model
        self.params = dict(model.hyperparameters)
        self._seed = seed
        self._count = 0
        self.shared: dict[str, Any] = {}
        self.buckets = {s.name: int(s.buckets) for s in model.sparse}
        self.inputs = {t.name: tf.keras.Input(shape=(1,), name=t.name, dtype=tf.as_dtype(t.dtype))
                       for t in model.signature_inputs}
        self.dense_names = [t.name for t in model.signature_inputs if t.name not in self.buckets]
        self.sparse_names = [t.name for t in model.signature_inputs if t.name in self.buckets]
        self.ids = {name: IdGuard(self.buckets[name], name=f"ids_{name}")(self.inputs[name])
                    for name in self.sparse_names}

    def next_seed(self) -> int | None:
        self._count += 1
        return None if self._seed is None else self._seed * 1000 + self._count

    def param(self, key: str, default: Any) -> Any:
        value = self.params.get(key)
        return default if value is None else value


def concat(tensors: list[tf.Tensor], name: str, axis: int = -1) -> tf.Tensor:
    return tensors[0] if len(tensors) == 1 else tf.keras.layers.Concatenate(axis=axis, name=name)(tensors)


def add_all(tensors: list[tf.Tensor], name: str) -> tf.Tensor:
    return tensors[0] if len(tensors) == 1 else tf.keras.layers.Add(name=name)(tensors)


def dense_matrix(g: _Graph, names: list[str] | None = None, name: str = "dense_values") -> tf.Tensor | None:
    """Dense inputs side by side ``(b, n)`` (all of them built once per model), or None."""
    if names is None:
        if "dense_values" not in g.shared:
            g.shared["dense_values"] = dense_matrix(g, g.dense_names, "dense_values")
        return g.shared["dense_values"]
    return concat([g.inputs[n] for n in names], name) if names else None


def embeddings(g: _Graph, dim: int, prefix: str, names: list[str] | None = None,
               l2: float = 0.0, initializer: Callable | None = None) -> list[tf.Tensor]:
    """One ``(b, 1, dim)`` embedding per sparse input (tables of ``buckets + 1`` rows)."""
    out = []
    for name in g.sparse_names if names is None else names:
        table = tf.keras.layers.Embedding(
            g.buckets[name] + 1, dim, name=f"{prefix}_{name}",
            embeddings_initializer=(initializer or embedding_initializer)(g.next_seed()),
            activity_regularizer=tf.keras.regularizers.L2(l2) if l2 else None)
        out.append(table(g.ids[name]))
    return out


def flat(fields: list[tf.Tensor], name: str) -> tf.Tensor:
    """``(b, 1, k)`` embeddings side by side as ``(b, F*k)``."""
    joined = concat(fields, f"{name}_concat", axis=-1)
    return tf.keras.layers.Flatten(name=name)(joined)


def linear(g: _Graph, prefix: str, dense_names: list[str], sparse_names: list[str], l2: float = 0.0) -> tf.Tensor:
    """``w·x + Σ_i w_i[id_i]`` -> ``(b, 1)``; sparse weights start at zero."""
    parts = []
    x = dense_matrix(g, dense_names, name=f"{prefix}_dense_values")
    if x is not None:
        parts.append(tf.keras.layers.Dense(
            1, use_bias=False, name=f"{prefix}_dense", kernel_regularizer=tf.keras.regularizers.L2(l2) if l2 else None,
            kernel_initializer=tf.keras.initializers.GlorotUniform(g.next_seed()))(x))
    weights = embeddings(g, 1, f"{prefix}_weight", sparse_names, l2=l2,
                         initializer=lambda seed: tf.keras.initializers.Zeros())
    parts.extend(tf.keras.layers.Reshape((1,), name=f"{prefix}_flat_{n}")(w) for n, w in zip(sparse_names, weights))
    return add_all(parts, f"{prefix}_sum")


def fm_fields(g: _Graph, sparse_fields: list[tf.Tensor], dim: int) -> tf.Tensor:
    """All FM fields ``(b, F, dim)``: the sparse embeddings, then the dense ``x_j·u_j``."""
    fields = list(sparse_fields)
    x = dense_matrix(g)
    if x is not None:
        fields.append(DenseFields(dim, seed=g.next_seed(), name="dense_fields")(x))
    return concat(fields, "fm_fields", axis=1)


def mlp(g: _Graph, x: tf.Tensor, prefix: str = "deep") -> tf.Tensor:
    """``hidden_units`` blocks of Dense -> [BatchNorm] -> activation -> [Dropout]."""
    batch_norm = bool(g.param("batch_norm", False))
    dropout = float(g.param("dropout", 0.0))
    activation = g.param("activation", "relu")
    for i, units in enumerate(g.param("hidden_units", [256, 128])):
        x = tf.keras.layers.Dense(int(units), use_bias=not batch_norm, name=f"{prefix}_dense_{i}",
                                  kernel_initializer=tf.keras.initializers.GlorotUniform(g.next_seed()))(x)
        if batch_norm:
            x = tf.keras.layers.BatchNormalization(name=f"{prefix}_batch_norm_{i}")(x)
        x = tf.keras.layers.Activation(activation, name=f"{prefix}_{activation}_{i}")(x)
        if dropout > 0:
            x = tf.keras.layers.Dropout(dropout, seed=g.next_seed(), name=f"{prefix}_dropout_{i}")(x)
    return x


def logit_of(g: _Graph, x: tf.Tensor, name: str) -> tf.Tensor:
    return tf.keras.layers.Dense(1, use_bias=False, name=name,
                                 kernel_initializer=tf.keras.initializers.GlorotUniform(g.next_seed()))(x)


def deep_input(g: _Graph, sparse_fields: list[tf.Tensor]) -> tf.Tensor:
    """``[x, e_1, ..., e_S]`` -> ``(b, n_dense + S*k)``."""
    parts = []
    x = dense_matrix(g)
    if x is not None:
        parts.append(x)
    if sparse_fields:
        parts.append(flat(sparse_fields, "sparse_embeddings"))
    return concat(parts, "deep_input")


# ------------------------------------------------------------------ builders (logit, no bias)


def build_lr(g: _Graph) -> tf.Tensor:
    return linear(g, "linear", g.dense_names, g.sparse_names, l2=float(g.param("l2", 0.0)))


def build_fm(g: _Graph) -> tf.Tensor:
    l2 = float(g.param("l2", 0.0))
    dim = int(g.param("factor_dim", 8))
    first_order = linear(g, "linear", g.dense_names, g.sparse_names, l2=l2)
    second_order = FactorizationMachine(name="fm")(fm_fields(g, embeddings(g, dim, "factor", l2=l2), dim))
    return add_all([first_order, second_order], "logit")


def build_dnn(g: _Graph) -> tf.Tensor:
    sparse = embeddings(g, int(g.param("embedding_dim", 8)), "embedding")
    return logit_of(g, mlp(g, deep_input(g, sparse)), "deep_logit")


def build_wide_deep(g: _Graph) -> tf.Tensor:
    wide = g.param("wide", None)
    wide = list(g.sparse_names) if wide is None else list(wide)
    unknown = [n for n in wide if n not in g.inputs]
    if unknown:
        raise ValueError(f"model `{g.model.name}`: wide inputs {unknown} are not inputs of the model")
    wide_part = linear(g, "wide", [n for n in g.dense_names if n in wide], [n for n in g.sparse_names if n in wide])
    return add_all([wide_part, build_dnn(g)], "logit")


def build_deepfm(g: _Graph) -> tf.Tensor:
    dim = int(g.param("embedding_dim", 8))
    shared = embeddings(g, dim, "embedding")
    first_order = linear(g, "linear", g.dense_names, g.sparse_names)
    second_order = FactorizationMachine(name="fm")(fm_fields(g, shared, dim))
    deep = logit_of(g, mlp(g, deep_input(g, shared)), "deep_logit")
    return add_all([first_order, second_order, deep], "logit")


def build_dcn(g: _Graph) -> tf.Tensor:
    x0 = deep_input(g, embeddings(g, int(g.param("embedding_dim", 8)), "embedding"))
    cross = CrossNetwork(int(g.param("cross_layers", 3)), seed=g.next_seed(), name="cross")(x0)
    deep = mlp(g, x0)
    return logit_of(g, concat([cross, deep], "cross_and_deep"), "logit")


BUILDERS: dict[str, Callable[[_Graph], tf.Tensor]] = {
    "lr": build_lr, "fm": build_fm, "dnn": build_dnn, "wide_deep": build_wide_deep,
    "deepfm": build_deepfm, "dcn": build_dcn,
}
