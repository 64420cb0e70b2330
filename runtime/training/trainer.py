"""The training loop: one model, one shard's training set, one process or many Horovod ranks.

    result = train(ir, "out/training/ctr_lr/main", "out/train", spec_hash=build.spec_sha256())
    result.final_metrics        # {"auc": 0.81, "logloss": 0.45, "loss": 0.45, "rows": 2000}
    result.version              # the exported version (rank 0), under out/train/repository/

A custom loop (``tf.GradientTape`` in a ``tf.function``), written so that N Horovod ranks stay in
lockstep and end bit-identical (README.md, "Training loop"):

1. Cluster (``distributed.init_cluster``); seeds (python/numpy/TF) from ``training.seed``.
2. Data: rank ``r`` of ``n`` reads its disjoint shard of train and of validation
   (``data.read_split``). Steps per epoch = min over ranks of ``ceil(rows_r / batch_size)``
   (allreduced), so every rank runs the same number of collective steps (no deadlock); a rank
   with more batches skips its last one(s) that epoch, a different random subset each epoch
   since the shuffle seed changes per epoch.
3. Model and optimizer: ``models.build_model`` (output bias at the global label mean), the
   optimizer's slots created up front, then every model and optimizer variable broadcast from
   rank 0, after a warm start restored them there.
4. Learning rate: ``lr * n`` (linear scaling rule: the global batch is ``n * batch_size``),
   reached by a linear warmup from ``lr`` over the run's first epoch (``warmup_steps`` = steps
   per epoch; no warmup on one worker).
5. Each step: ``DistributedGradientTape`` averages gradients over the ranks (sparse embedding
   gradients by allgather), every rank applies the same update.
6. Each epoch: float non-trainable variables (batch-norm statistics) are averaged over ranks;
   validation runs on every rank over its validation shard and the metric statistics are
   allreduced (classification: TP/FP/TN/FN counts at ``AUC_THRESHOLDS`` fixed thresholds ->
   AUC, logloss sums; regression: absolute and squared error sums), plus the mean loss, so
   every rank computes the identical metrics. Early stopping is decided from them, and rank 0's
   decision is broadcast. Rank 0 checkpoints model + optimizer + epoch.
7. End: with early stopping, the best epoch's weights are put back (rank 0 kept a copy at that
   epoch and broadcasts it; the best epoch itself is broadcast from rank 0 every epoch), so the
   export holds the best epoch, not the last; rank 0 writes ``history.json`` and exports as the
   next version (``exported_epoch``, ``metrics.exported`` in its metadata); every rank writes
   ``rank<r>_final.json`` (weights sha256, its view of the final metrics, the exported epoch).

Paths under ``output_dir``: ``checkpoints/<model>/<shard>/``, ``runs/<model>/<shard>/``,
``repository/<model>/<version>/`` (sharded deployments: ``repository/<shard>/<model>/<version>/``,
one Triton repository per shard).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlc.core.ir import IR, ModelIR
from mlc.runtime.training.distributed import Cluster, init_cluster, optimizer_variables
from mlc.core.errors import MlcError

log = logging.getLogger("mlc.training")

AUC_THRESHOLDS = 2001          # fixed grid: -eps, 1/2000, ..., 1999/2000, 1+eps
EVAL_BATCH_SIZE = 4096         # validation batch (prediction only)
CHECKPOINTS_KEPT = 3
HIGHER_IS_BETTER = {"auc": True, "logloss": False, "loss": False, "mae": False, "rmse": False}


class TrainingError(MlcError, RuntimeError):
    """Training cannot run as asked (too little data for the workers, a checkpoint that does
    not fit the model, ...). The message is meant for the user; no traceback needed."""
    code = "E7008"


class NoTrainingRows(TrainingError):
    """The train split of the (model, shard) is empty; the message says why (``data.no_training_rows``:
    partitions that match no row, a time split that put every row in validation)."""


@dataclass
class TrainResult:
    model: str
    shard: str
    rank: int
    workers: int
    first_epoch: int                   # global epoch number of the run's first epoch
    last_epoch: int                    # global epoch number of the run's last epoch
    epochs_run: int
    stopped_early: bool
    steps_per_epoch: int
    learning_rate: dict                # base, scaled, warmup_steps
    history: list[dict]
    final_metrics: dict | None         # validation metrics after the last epoch (allreduced)
    best: dict | None                  # {"metric", "value", "epoch"} when early stopping is on
    weights_sha256: str                # the last epoch's weights
    warm_start: dict | None            # what was restored, if anything
    version: int | None = None         # exported version (rank 0)
    export: Any = None                 # export_model's result (rank 0)
    exported_epoch: int | None = None  # whose weights are exported: the best epoch with early stopping, else the last
    exported_metrics: dict | None = None       # that epoch's validation metrics (allreduced)
    exported_weights_sha256: str | None = None  # == weights_sha256 unless the best epoch was restored
    restored_best: bool = False        # the best epoch was not the last: its weights were put back
    paths: dict = field(default_factory=dict)


# ------------------------------------------------------------------ entry


def train(ir_or_model: IR | ModelIR, set_dir: str, output_dir: str, *, epochs: int | None = None,
          cluster: Cluster | None = None, spec_hash: str | None = None, export: bool = True,
          shard: str | None = None) -> TrainResult:
    """Train the model of the training set at ``set_dir`` (``<root>/<model>/<shard>``) and, on
    rank 0, export it into ``<output_dir>/repository``. ``epochs`` overrides ``training.epochs``
    (epochs run by this call; a warm start continues the epoch counter)."""
    from mlc.runtime.training.data import read_schema

    schema = read_schema(set_dir)
    model = resolve_model(ir_or_model, schema)
    shard = shard or schema.get("shard") or os.path.basename(os.path.normpath(set_dir))
    cluster = cluster or init_cluster(model.training.engine)
    loop = _Loop(model, shard, set_dir, output_dir, cluster, spec_hash, sharded=bool(schema.get("partition_key")))
    return loop.run(int(epochs if epochs is not None else model.training.epochs), export=export)


def repository_dir(output_dir: str, shard: str, sharded: bool) -> str:
    """Where versions are exported: ``<output_dir>/repository`` without sharding; one repository
    per shard, ``<output_dir>/repository/<shard>``, when the deployment is sharded (each shard
    runs its own Triton, and two shards' versions of one model must not interleave)."""
    base = os.path.join(output_dir, "repository")
    return os.path.join(base, shard) if sharded else base


def resolve_model(ir_or_model: IR | ModelIR, schema: dict) -> ModelIR:
    if isinstance(ir_or_model, ModelIR):
        return ir_or_model
    name = schema.get("model")
    names = [m.name for m in ir_or_model.models]
    if name not in names:
        raise TrainingError(f"the training set is for model `{name}`, which the spec does not define ({names})")
    return ir_or_model.model(name)


def set_seeds(seed: int) -> None:
    """python, numpy and TensorFlow seeds (identical on every rank)."""
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    tf.random.set_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The shuffle seed of one rank's epoch: fixed by (seed, epoch, rank), different per epoch."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{rank}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


# ------------------------------------------------------------------ the loop


class _Loop:
    """State of one training run (model, optimizer, data, paths) and its phases."""

    def __init__(self, model: ModelIR, shard: str, set_dir: str, output_dir: str, cluster: Cluster,
                 spec_hash: str | None, sharded: bool = False) -> None:
        self.model, self.shard, self.set_dir, self.cluster = model, shard, set_dir, cluster
        self.spec_hash = spec_hash
        self.training = model.training
        self.paths = {
            "checkpoints": os.path.join(output_dir, "checkpoints", model.name, shard),
            "runs": os.path.join(output_dir, "runs", model.name, shard),
            "repository": repository_dir(output_dir, shard, sharded),
        }
        self.stopping = dict(self.training.early_stopping or ())
        self.warm = dict(self.training.warm_start or ())

    # -------------------------------------------------------------- phases
    def run(self, epochs: int, export: bool) -> TrainResult:
        from mlc.runtime.training.data import read_split

        set_seeds(self.training.seed)
        c = self.cluster
        self.train_data = read_split(self.set_dir, "train", self.model, c.rank, c.size)
        self.val_data = read_split(self.set_dir, "validation", self.model, c.rank, c.size)
        self.train_rows, self.val_rows = (int(n) for n in c.allreduce_sum([self.train_data.rows, self.val_data.rows]))
        if self.train_rows == 0:                 # the same on every rank: all raise, no collective waits
            from mlc.runtime.training.data import no_training_rows

            raise NoTrainingRows(no_training_rows(self.set_dir) or
                                 f"model `{self.model.name}` shard `{self.shard}`: the train split is empty")
        self.steps = self._steps_per_epoch()
        self._build()
        warm = self._warm_start()
        start = int(self.epoch_var.numpy())
        self.lr = learning_rate_plan(self.training.learning_rate, c.size, self.steps)
        log.info("model `%s` shard `%s`: %d train rows on this rank, %d steps/epoch, lr %g -> %g (warmup %d steps)",
                 self.model.name, self.shard, self.train_data.rows, self.steps, self.lr["base"],
                 self.lr["scaled"], self.lr["warmup_steps"])
        history, stop_state = [], EarlyStopping.from_ir(self.stopping, self.model.task, self.val_rows)
        step_in_run = 0
        self._best_weights = None                   # rank 0: the best epoch's weights so far
        for epoch in range(start + 1, start + epochs + 1):
            began = time.monotonic()
            train_loss, step_in_run = self._train_epoch(epoch, step_in_run)
            c.allreduce_mean_variables(self.keras_model.non_trainable_variables)
            metrics = self._validate()
            stop = stop_state.update(metrics, epoch)
            # every rank decided on the same allreduced metrics; rank 0's decision is the one kept
            stop, stop_state.best_epoch = c.broadcast_object((bool(stop), stop_state.best_epoch), root=0)
            if c.is_chief and stop_state.best_epoch == epoch:
                self._best_weights = self.keras_model.get_weights()      # copies
            self.epoch_var.assign(epoch)
            record = {"epoch": epoch, "train_loss": train_loss, "validation": metrics,
                      "learning_rate": current_learning_rate(self.optimizer), "steps": self.steps,
                      "seconds": round(time.monotonic() - began, 3)}
            history.append(record)
            self._log_epoch(record, stop_state)
            self._checkpoint(epoch)
            if stop:
                break
        result = self._result(history, stop_state, warm, start, epochs)
        self._restore_best(result)
        if c.is_chief:
            self._write_json("history.json", self._history_doc(result))
        self._write_json(f"rank{c.rank}_final.json", self._rank_doc(result))
        # The last collective: after it only rank 0 works (the export can take minutes), and
        # the other ranks exit; no collective may wait on rank 0 (Horovod's stall warnings).
        c.barrier()
        if c.is_chief and export:
            result.export, result.version = self._export(result)
        return result

    def _restore_best(self, result: TrainResult) -> None:
        """With early stopping the export holds the BEST epoch's weights, not the last one's: rank 0
        kept a copy at the best epoch (``_best_weights``), puts it back and broadcasts every model
        variable, so all ranks hold and report the exported weights. The best epoch was broadcast
        from rank 0 every epoch, so every rank takes the same branch here (same collectives)."""
        best = (result.best or {}).get("epoch")
        restore = best is not None and best != result.last_epoch
        if restore:
            if self.cluster.is_chief:
                self.keras_model.set_weights(self._best_weights)
            self.cluster.broadcast_variables(self.keras_model.variables, root=0)
            log.info("model `%s` shard `%s`: restored the best epoch %d (%s %s) over the last epoch %d",
                     self.model.name, self.shard, best, result.best["metric"], result.best["value"], result.last_epoch)
        self._best_weights = None
        epoch = best if best is not None else result.last_epoch
        record = next((h for h in result.history if h["epoch"] == epoch), None)
        result.exported_epoch = epoch if record else None
        result.exported_metrics = record["validation"] if record else None
        result.restored_best = restore
        result.exported_weights_sha256 = weights_sha256(self.keras_model) if restore else result.weights_sha256

    def _steps_per_epoch(self) -> int:
        batch = self.training.batch_size
        local = math.ceil(self.train_data.rows / batch)
        steps = int(self.cluster.allreduce_min([local])[0])
        if steps < 1:        # rows exist (checked before), but fewer than the workers
            raise TrainingError(f"model `{self.model.name}` shard `{self.shard}`: {self.train_rows} training row(s) "
                                f"for {self.cluster.size} workers, a rank got none; train on at most "
                                f"{self.train_rows} worker(s) or on more data")
        return steps

    def _build(self) -> None:
        import tensorflow as tf

        from mlc.runtime.training.models import build_model, initial_output_bias, loss_for, make_optimizer

        c = self.cluster
        sums = c.allreduce_sum([float(self.train_data.labels.astype(np.float64).sum()), float(self.train_data.rows)])
        mean_label = float(sums[0] / max(sums[1], 1.0))
        bias = initial_output_bias(self.model.task, np.array([mean_label]))
        self.keras_model = build_model(self.model, seed=self.training.seed, output_bias=bias)
        self.optimizer = make_optimizer(self.training.optimizer, self.training.learning_rate)
        create_optimizer_slots(self.optimizer, self.keras_model.trainable_variables)
        self.loss_fn = loss_for(self.model.task)
        self.epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.checkpoint = tf.train.Checkpoint(model=self.keras_model, optimizer=self.optimizer, epoch=self.epoch_var)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.paths["checkpoints"], max_to_keep=CHECKPOINTS_KEPT,
                                                  checkpoint_name="ckpt") if c.is_chief else None
        self.train_step = make_train_step(self.keras_model, self.optimizer, self.loss_fn, c)
        self.predict_step = make_predict_step(self.keras_model)

    def _all_state(self) -> list:
        return list(self.keras_model.variables) + optimizer_variables(self.optimizer) + [self.epoch_var]

    def _warm_start(self) -> dict | None:
        """Rank 0 restores (checkpoint or exported version) when warm start is on; then every
        variable is broadcast from rank 0, so all ranks start from one state either way."""
        restored = None
        if self.cluster.is_chief and self.warm.get("enabled"):
            restored = self._restore()
        self.cluster.broadcast_variables(self._all_state(), root=0)
        restored = self.cluster.broadcast_object(restored, root=0)
        if restored:
            restored["weights_sha256"] = weights_sha256(self.keras_model)   # the state every rank starts from
            log.info("warm start from %s %s (epoch %d)", restored["source"], restored["path"], int(self.epoch_var.numpy()))
        elif self.warm.get("enabled"):
            log.info("warm start: nothing to start from yet (%s), training from scratch", self.warm.get("source"))
        return restored

    def _restore(self) -> dict | None:
        source = self.warm.get("source", "checkpoint")
        if source == "version":
            restored = restore_version(self.keras_model, self.model, self.paths["repository"])
            if restored and restored.get("last_epoch"):
                self.epoch_var.assign(int(restored["last_epoch"]))    # the epoch counter continues
            return restored
        return restore_checkpoint(self.checkpoint, self.paths["checkpoints"], self.model.name)

    def _train_epoch(self, epoch: int, step_in_run: int) -> tuple[float, int]:
        from mlc.runtime.training.data import make_dataset

        seed = epoch_seed(self.training.seed, epoch, self.cluster.rank)
        dataset = make_dataset(self.train_data, self.training.batch_size, seed=seed, shuffle=True).take(self.steps)
        total = 0.0
        for features, labels in dataset:
            set_learning_rate(self.optimizer, warmup_learning_rate(self.lr, step_in_run))
            total += float(self.train_step(features, labels))
            step_in_run += 1
        mean = self.cluster.allreduce_sum([total, float(self.steps)])
        return float(mean[0] / mean[1]), step_in_run

    def _validate(self) -> dict | None:
        if self.val_rows == 0:
            return None
        stats = split_stats(self.predict_step, self.loss_fn, self.model.task, self.val_data)
        total = Stats(self.cluster.allreduce_sum(stats.counts) if stats.counts is not None else None,
                      self.cluster.allreduce_sum(stats.sums))
        return metrics_from_stats(self.model.task, total)

    def _checkpoint(self, epoch: int) -> None:
        """Rank 0 saves model + optimizer + epoch as ``ckpt-<epoch>`` (the last few kept)."""
        if self.manager is not None:
            self.manager.save(checkpoint_number=epoch)

    def _log_epoch(self, record: dict, stop_state: "EarlyStopping") -> None:
        if not self.cluster.is_chief:
            return
        shown = ", ".join(f"{k} {v:.5g}" for k, v in (record["validation"] or {}).items()
                          if isinstance(v, float) and k != "rows")
        best = f" | best {stop_state.metric} {stop_state.best:.5g} @ epoch {stop_state.best_epoch}" \
            if stop_state.enabled and stop_state.best_epoch else ""
        log.info("epoch %d: train loss %.5g | validation %s%s", record["epoch"], record["train_loss"],
                 shown or "(none)", best)

    # -------------------------------------------------------------- outputs
    def _result(self, history: list[dict], stop_state: "EarlyStopping", warm: dict | None, start: int,
                epochs: int) -> TrainResult:
        last = history[-1]["epoch"] if history else start
        return TrainResult(
            model=self.model.name, shard=self.shard, rank=self.cluster.rank, workers=self.cluster.size,
            first_epoch=start + 1, last_epoch=last, epochs_run=len(history),
            stopped_early=len(history) < epochs, steps_per_epoch=self.steps, learning_rate=dict(self.lr),
            history=history, final_metrics=history[-1]["validation"] if history else None,
            best=stop_state.summary(), weights_sha256=weights_sha256(self.keras_model), warm_start=warm,
            paths=dict(self.paths))

    def _time_ranges(self) -> dict:
        """Rows (all ranks) and event-time range (whole split, ``data.read_split``) per split."""
        out = {}
        for split, data, rows in (("train", self.train_data, self.train_rows),
                                  ("validation", self.val_data, self.val_rows)):
            rng = data.time_range
            out[split] = {"rows": rows, "from": rng[0] if rng else None, "to": rng[1] if rng else None}
        return out

    def _history_doc(self, result: TrainResult) -> dict:
        return {"model": result.model, "shard": result.shard, "workers": result.workers,
                "engine": self.cluster.mode, "steps_per_epoch": result.steps_per_epoch,
                "batch_size": self.training.batch_size, "learning_rate": result.learning_rate,
                "first_epoch": result.first_epoch, "last_epoch": result.last_epoch,
                "stopped_early": result.stopped_early, "best": result.best, "warm_start": result.warm_start,
                "exported": self._exported_doc(result), "epochs": result.history}

    @staticmethod
    def _exported_doc(result: TrainResult) -> dict:
        """Which epoch's weights the export holds, and that epoch's validation metrics."""
        return {"epoch": result.exported_epoch, "restored_best": result.restored_best,
                "validation": result.exported_metrics}

    def _rank_doc(self, result: TrainResult) -> dict:
        return {"rank": result.rank, "workers": result.workers, "weights_sha256": result.weights_sha256,
                "final_metrics": result.final_metrics, "last_epoch": result.last_epoch,
                "epochs_run": result.epochs_run, "train_rows": self.train_data.rows,
                "validation_rows": self.val_data.rows, "steps_per_epoch": result.steps_per_epoch,
                "learning_rate": result.learning_rate, "exported_epoch": result.exported_epoch,
                "exported_weights_sha256": result.exported_weights_sha256}

    def _export(self, result: TrainResult) -> tuple[Any, int]:
        from mlc.runtime.training.export import export_model, next_version

        repository = self.paths["repository"]
        version = next_version(repository, self.model.name)
        metadata = {   # export_model adds model, version, type (model type), task, signature
            "shard": self.shard, "spec_hash": self.spec_hash, "data": self._time_ranges(),
            "metrics": {"final": result.final_metrics, "best": result.best, "exported": self._exported_doc(result)},
            "exported_epoch": result.exported_epoch,
            "epochs_run": result.epochs_run, "first_epoch": result.first_epoch, "last_epoch": result.last_epoch,
            "stopped_early": result.stopped_early, "workers": result.workers,
            "batch_size": self.training.batch_size, "learning_rate": result.learning_rate,
            "optimizer": self.training.optimizer, "seed": self.training.seed,
            "warm_start": portable_warm_start(result.warm_start),
            "weights_sha256": result.exported_weights_sha256,
        }
        exported = export_model(self.keras_model, self.model, repository, version, metadata)
        log.info("exported `%s` version %d (weights of epoch %s) to %s", self.model.name, version,
                 result.exported_epoch, repository)
        return exported, version

    def _write_json(self, name: str, doc: dict) -> None:
        os.makedirs(self.paths["runs"], exist_ok=True)
        path = os.path.join(self.paths["runs"], name)
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, indent=2, sort_keys=True, default=_jsonable) + "\n")
        os.replace(path + ".tmp", path)


def portable_warm_start(warm: dict | None) -> dict | None:
    """What a warm start restored, without absolute paths (export metadata is run-independent)."""
    if not warm:
        return None
    out = {k: v for k, v in warm.items() if k != "path"}
    if warm.get("source") == "checkpoint":
        out["checkpoint"] = os.path.basename(warm["path"])
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ------------------------------------------------------------------ optimizer and steps


def create_optimizer_slots(optimizer: Any, variables: list) -> None:
    """Create the optimizer's state (iterations, hyperparameters, slots) before the first step,
    so it can be restored and broadcast like the model's variables."""
    if hasattr(optimizer, "_create_all_weights"):        # Keras 2 legacy optimizers
        optimizer._create_all_weights(variables)
    elif hasattr(optimizer, "build"):                     # Keras 2.11+ optimizers
        optimizer.build(variables)


def learning_rate_plan(base: float, workers: int, steps_per_epoch: int) -> dict:
    """Linear scaling rule: ``base * workers``, reached by a linear warmup from ``base`` over
    the first epoch's steps (Goyal et al., 2017); no warmup on one worker."""
    return {"base": float(base), "scaled": float(base) * workers,
            "warmup_steps": int(steps_per_epoch) if workers > 1 else 0}


def warmup_learning_rate(plan: dict, step: int) -> float:
    """The learning rate of the run's ``step``-th step (0-based)."""
    if plan["warmup_steps"] <= 0 or step >= plan["warmup_steps"]:
        return plan["scaled"]
    return plan["base"] + (plan["scaled"] - plan["base"]) * step / plan["warmup_steps"]


def current_learning_rate(optimizer: Any) -> float:
    value = optimizer.learning_rate
    return float(value.numpy() if hasattr(value, "numpy") else value)


def set_learning_rate(optimizer: Any, value: float) -> None:
    current = optimizer.learning_rate
    if hasattr(current, "assign"):
        current.assign(value)
    else:
        optimizer.learning_rate = value


def prediction_of(outputs: Any) -> Any:
    """The model's single output tensor (a dict/list of one, or the tensor itself)."""
    if isinstance(outputs, dict):
        return next(iter(outputs.values()))
    if isinstance(outputs, (list, tuple)):
        return outputs[0]
    return outputs


def make_train_step(keras_model: Any, optimizer: Any, loss_fn: Any, cluster: Cluster) -> Any:
    """A ``tf.function`` step: loss (+ regularisation losses), gradients averaged over the ranks
    (``cluster.distributed_tape``), one optimizer update. Returns the batch loss."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(features: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            predictions = prediction_of(keras_model(features, training=True))
            loss = loss_fn(labels, predictions)
            if keras_model.losses:
                loss = loss + tf.add_n(keras_model.losses)
        tape = cluster.distributed_tape(tape)
        variables = keras_model.trainable_variables
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    return step


def make_predict_step(keras_model: Any) -> Any:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def predict(features: Any) -> Any:
        return prediction_of(keras_model(features, training=False))

    return predict


def predict(predict_step: Any, features: dict, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """Predictions ``(n,)`` float64 over ``features`` in batches of ``batch_size`` (rows
    ``[0, b), [b, 2b), ...``: the same batches give the same bits)."""
    rows = len(next(iter(features.values()))) if features else 0
    out = []
    for start in range(0, rows, batch_size):
        batch = {k: v[start:start + batch_size] for k, v in features.items()}
        out.append(np.asarray(predict_step(batch), dtype=np.float64).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)


def example_losses(loss_fn: Any, labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """The training loss per example (float64 ``(n,)``), so sums do not depend on batching."""
    import tensorflow as tf

    if isinstance(loss_fn, tf.keras.losses.Loss):
        loss_fn = loss_fn.__class__.from_config({**loss_fn.get_config(), "reduction": "none"})
    y = tf.constant(np.asarray(labels, np.float32).reshape(-1, 1))
    p = tf.constant(np.asarray(predictions, np.float32).reshape(-1, 1))
    return np.asarray(loss_fn(y, p), dtype=np.float64).reshape(-1)


# ------------------------------------------------------------------ metrics


@dataclass
class Stats:
    """Additive validation statistics: allreducing them (sum) and then computing the metrics
    gives exactly the metrics of the union of the shards.

    ``counts``: classification only, int64 ``(4, AUC_THRESHOLDS)``: TP, FP, TN, FN at each
    threshold (predicted positive iff ``p > t``). ``sums``: float64 ``[rows, loss_sum,
    logloss_sum]`` (classification) or ``[rows, loss_sum, abs_error_sum, squared_error_sum]``."""

    counts: np.ndarray | None
    sums: np.ndarray


def auc_thresholds(n: int = AUC_THRESHOLDS) -> np.ndarray:
    """``-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps``: the ROC runs from (1, 1) to (0, 0)."""
    grid = np.arange(n, dtype=np.float64) / (n - 1)
    grid[0], grid[-1] = -1e-7, 1.0 + 1e-7
    return grid


def confusion_counts(labels: np.ndarray, predictions: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """int64 ``(4, T)``: TP, FP, TN, FN at each threshold; a label >= 0.5 is positive."""
    thresholds = auc_thresholds() if thresholds is None else thresholds
    positive = np.asarray(labels, np.float64).reshape(-1) >= 0.5
    # number of thresholds strictly below p = how many thresholds predict this row positive
    above = np.searchsorted(thresholds, np.asarray(predictions, np.float64).reshape(-1), side="left")
    t = len(thresholds)
    pos_hist = np.bincount(above[positive], minlength=t + 1)
    neg_hist = np.bincount(above[~positive], minlength=t + 1)
    # row predicted positive at threshold k iff above > k
    tp = np.cumsum(pos_hist[::-1])[::-1][1:]
    fp = np.cumsum(neg_hist[::-1])[::-1][1:]
    fn = positive.sum() - tp
    tn = (~positive).sum() - fp
    return np.stack([tp, fp, tn, fn]).astype(np.int64)


def auc_from_counts(counts: np.ndarray) -> float:
    """ROC AUC (trapezoidal) from ``confusion_counts``; NaN without both classes."""
    tp, fp, tn, fn = (counts[i].astype(np.float64) for i in range(4))
    positives, negatives = tp[0] + fn[0], fp[0] + tn[0]
    if positives == 0 or negatives == 0:
        return math.nan
    tpr, fpr = tp / positives, fp / negatives          # decreasing along the thresholds
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2.0))


def stats_of(task: str, labels: np.ndarray, predictions: np.ndarray, losses: np.ndarray) -> Stats:
    y = np.asarray(labels, np.float64).reshape(-1)
    p = np.asarray(predictions, np.float64).reshape(-1)
    loss_sum = float(np.sum(losses, dtype=np.float64))
    if task == "classification":
        q = np.clip(p, 1e-7, 1 - 1e-7)
        logloss = -(y * np.log(q) + (1 - y) * np.log(1 - q))
        return Stats(confusion_counts(y, p), np.array([len(y), loss_sum, logloss.sum()], np.float64))
    error = p - y
    return Stats(None, np.array([len(y), loss_sum, np.abs(error).sum(), np.square(error).sum()], np.float64))


def metrics_from_stats(task: str, stats: Stats) -> dict:
    """``{"rows", "loss", "auc", "logloss"}`` or ``{"rows", "loss", "mae", "rmse"}``; a metric
    without data is None."""
    rows = float(stats.sums[0])
    mean = (lambda s: float(s / rows)) if rows > 0 else (lambda s: None)
    out: dict = {"rows": int(rows), "loss": mean(stats.sums[1])}
    if task == "classification":
        auc = auc_from_counts(stats.counts) if rows > 0 else math.nan
        out.update(auc=None if math.isnan(auc) else auc, logloss=mean(stats.sums[2]))
    else:
        mse = mean(stats.sums[3])
        out.update(mae=mean(stats.sums[2]), rmse=None if mse is None else math.sqrt(mse))
    return out


def split_stats(predict_step: Any, loss_fn: Any, task: str, data: Any) -> Stats:
    """This rank's validation statistics over its shard ``data`` (a ``SplitData``)."""
    predictions = predict(predict_step, data.features)
    return stats_of(task, data.labels, predictions, example_losses(loss_fn, data.labels, predictions))


def compute_metrics(task: str, labels: np.ndarray, predictions: np.ndarray, loss_fn: Any) -> dict:
    """The validation metrics of ``predictions`` in one process (what the ranks' allreduced
    statistics add up to)."""
    return metrics_from_stats(task, stats_of(task, labels, predictions, example_losses(loss_fn, labels, predictions)))


# ------------------------------------------------------------------ early stopping


class EarlyStopping:
    """Patience on one validation metric, fed the allreduced metrics (same on every rank)."""

    def __init__(self, metric: str | None, patience: int, min_delta: float) -> None:
        self.metric, self.patience, self.min_delta = metric, patience, min_delta
        self.enabled = metric is not None
        self.higher = HIGHER_IS_BETTER.get(metric or "", False)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0

    @classmethod
    def from_ir(cls, pairs: dict, task: str, validation_rows: int) -> "EarlyStopping":
        metric = pairs.get("metric")
        if metric and validation_rows == 0:
            log.warning("early stopping on `%s` is off: the validation split is empty", metric)
            metric = None
        return cls(metric, int(pairs.get("patience", 2)), float(pairs.get("min_delta", 0.0)))

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best + self.min_delta if self.higher else value < self.best - self.min_delta

    def update(self, metrics: dict | None, epoch: int) -> bool:
        """Record one epoch; True when training should stop now."""
        if not self.enabled:
            return False
        value = (metrics or {}).get(self.metric)
        if value is not None and self.improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    def summary(self) -> dict | None:
        if not self.enabled:
            return None
        return {"metric": self.metric, "value": self.best, "epoch": self.best_epoch,
                "patience": self.patience, "min_delta": self.min_delta}


# ------------------------------------------------------------------ warm start and weights


def restore_checkpoint(checkpoint: Any, directory: str, model_name: str) -> dict | None:
    """Restore the latest checkpoint in ``directory`` (None when there is none)."""
    import tensorflow as tf

    path = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
    if path is None:
        return None
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise TrainingError(f"checkpoint {path} does not fit model `{model_name}` (did its inputs or type change?); "
                            f"delete {directory} or turn warm_start off: {str(error).splitlines()[0]}") from error
    return {"source": "checkpoint", "path": path}


def restore_version(keras_model: Any, model: ModelIR, repository: str) -> dict | None:
    """Load the weights of the latest exported version (its SavedModel) into ``keras_model``
    (None when nothing was exported yet). The optimizer state starts fresh; the epoch counter
    continues from the version's ``last_epoch`` (metadata.json) when it has one."""
    from mlc.runtime.training.export import latest_version

    version = latest_version(repository, model.name)
    if version is None:
        return None
    directory = os.path.join(repository, model.name, str(version))
    path = os.path.join(directory, "model.savedmodel")
    restore_savedmodel_weights(keras_model, path, model.name)
    last_epoch = None
    try:
        with open(os.path.join(directory, "metadata.json"), encoding="utf-8") as fh:
            last_epoch = json.load(fh).get("last_epoch")
    except (OSError, ValueError):
        pass
    return {"source": "version", "path": path, "version": int(version), "last_epoch": last_epoch}


def restore_savedmodel_weights(keras_model: Any, path: str, model_name: str) -> None:
    """The model's weights from an export's SavedModel. Its variables file is an object-based
    checkpoint whose root has the Keras model as attribute ``model`` (``export.save_savedmodel``),
    so a ``Checkpoint(model=...)`` restores it by object structure, not by variable name."""
    import tensorflow as tf

    try:
        tf.train.Checkpoint(model=keras_model).read(os.path.join(path, "variables", "variables")) \
            .assert_existing_objects_matched().expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise TrainingError(f"{path} does not fit model `{model_name}` (did its inputs or type change?): "
                            f"{str(error).splitlines()[0]}") from error


def weights_sha256(keras_model: Any) -> str:
    """sha256 of every model weight as float32 bytes, in model order."""
    digest = hashlib.sha256()
    for weight in keras_model.weights:
        digest.update(np.ascontiguousarray(weight.numpy(), dtype=np.float32).tobytes())
    return digest.hexdigest()


def load_checkpoint_model(model: ModelIR, directory: str) -> Any:
    """A fresh Keras model of ``model`` with the weights of the latest checkpoint in
    ``directory`` (for evaluation; optimizer state ignored)."""
    import tensorflow as tf

    from mlc.runtime.training.models import build_model

    path = tf.train.latest_checkpoint(directory)
    if path is None:
        raise TrainingError(f"no checkpoint in {directory}")
    keras_model = build_model(model, seed=model.training.seed)
    tf.train.Checkpoint(model=keras_model).restore(path).expect_partial()
    return keras_model
