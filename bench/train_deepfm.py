"""Benchmark: the generated DeepFM (mlc) against DeepCTR's DeepFM, same data and settings.

    .venv/bin/python bench/train_deepfm.py [--rows 1000000] [--test-rows 200000] [--runs 3]
    .venv/bin/python bench/train_deepfm.py --rows 50000 --test-rows 10000 --runs 1   # quick

Both models are built for the same inputs: 26 sparse int64 ids with known bucket counts and 13
dense float32 values, embedding_dim 8, hidden units (256, 128), ReLU, no dropout, no batch norm,
no l2, Adam 1e-3, the same batch size and epochs, fixed seeds.

- mlc: a small spec (``spec_text``, written into bench/out/deepfm/) compiled with
  ``mlc.compiler.pipeline.build``; ``models.build_model(model_ir, seed, output_bias)`` with
  ``make_optimizer("adam", 1e-3)`` (Keras 2 legacy Adam) and ``loss_for``.
- DeepCTR 0.9.4: ``deepctr.models.DeepFM`` with ``SparseFeat(name, buckets + 1, 8, dtype=int64)``
  (the same ``buckets + 1`` rows as mlc's tables) and ``DenseFeat(name, 1)``, library defaults
  otherwise except ``l2_reg_linear = l2_reg_embedding = 0`` (mlc's DeepFM has no l2), compiled as
  DeepCTR's examples do (``"adam"``: the Keras 2.15 Adam, learning rate 1e-3).

Measured:
(a) model throughput under one Keras ``model.fit`` loop: identical numpy input dicts, same batch,
    ``shuffle=True``, no metrics; examples/s of epochs 2..N (epoch 1 traces and warms up),
    median over ``--runs`` runs, the two implementations interleaved (order alternates);
(b) mlc's own training loop end to end (``mlc.runtime.training.trainer.train``) on the same
    rows written in the training-set layout (``<root>/<model>/main/{train,validation}/*.parquet``
    + ``schema.json``), no export;
(c) AUC on the same held-out test rows (exact, rank-based), and on the synthetic set the
    Bayes-optimal AUC (the generating model's true probabilities) as the ceiling; the Criteo
    sample (200 rows, 80/20 split) with several seeds, since its AUC is noise.

Synthetic data (cached in bench/out/deepfm/): 26 fields with vocabularies log-spaced 10..100,000,
power-law (Zipf 1.1) id frequencies over a random id permutation; 13 dense N(0, 1) values; the
label ~ Bernoulli(sigmoid(b + first-order weights + FM pairwise interactions of 4-dim latent
vectors + a small tanh-MLP term of dense values and two fields)), b set for a ~22 % CTR.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "deepfm"
CRITEO = REPO.parent / "shared" / "data" / "criteo_sample.txt"

N_SPARSE, N_DENSE = 26, 13
EMBEDDING_DIM = 8
HIDDEN = (256, 128)
LR = 1e-3
SEED = 42


# ------------------------------------------------------------------ helpers


def log(*args) -> None:
    print(*args, flush=True)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney, ties averaged)."""
    y = np.asarray(labels).reshape(-1) >= 0.5
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def machine() -> dict:
    import tensorflow as tf

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import deepctr

    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "tensorflow": tf.__version__,
            "numpy": np.__version__, "deepctr": deepctr.__version__}


# ------------------------------------------------------------------ synthetic data


def vocab_sizes() -> list[int]:
    return [int(round(v)) for v in np.logspace(1, 5, N_SPARSE)]


def synthetic(rows: int, test_rows: int, seed: int = 7) -> dict:
    """Train + test rows from a known generating model (cached as .npz)."""
    path = OUT / f"synthetic_{rows}_{test_rows}_{seed}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    n = rows + test_rows
    vocabs = vocab_sizes()
    ids = np.empty((n, N_SPARSE), dtype=np.int64)
    for f, v in enumerate(vocabs):
        p = (np.arange(1, v + 1, dtype=np.float64)) ** -1.1
        p /= p.sum()
        ids[:, f] = rng.permutation(v)[rng.choice(v, size=n, p=p)]
    dense = rng.standard_normal((n, N_DENSE)).astype(np.float32)
    # the generating model
    k = 4
    w = [rng.normal(0, 0.15, v) for v in vocabs]                # first order
    lat = [rng.normal(0, 0.16, (v, k)) for v in vocabs]          # FM latent vectors
    u = rng.normal(0, 0.25, N_DENSE)                             # dense weights
    w1 = rng.normal(0, 0.5, (N_DENSE + 2 * k, 16))               # small MLP term
    w2 = rng.normal(0, 0.35, 16)
    logit = np.zeros(n)
    for start in range(0, n, 100_000):
        sl = slice(start, min(start + 100_000, n))
        fields = np.stack([lat[f][ids[sl, f]] for f in range(N_SPARSE)], axis=1)     # (b, F, k)
        fm = 0.5 * (np.square(fields.sum(1)) - np.square(fields).sum(1)).sum(1)
        first = sum(w[f][ids[sl, f]] for f in range(N_SPARSE))
        mlp_in = np.concatenate([dense[sl], fields[:, 0], fields[:, 5]], axis=1)
        mlp = np.tanh(mlp_in @ w1) @ w2
        logit[sl] = first + dense[sl] @ u + fm + mlp
    lo, hi = -10.0, 10.0                                          # bias for a 22 % positive rate
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(logit + mid).mean() < 0.22 else (lo, mid)
    prob = sigmoid(logit + (lo + hi) / 2)
    label = (rng.random(n) < prob).astype(np.int64)
    data = {"ids": ids, "dense": dense, "label": label, "prob": prob, "vocabs": np.array(vocabs),
            "rows": np.array(rows), "parts": np.array([np.std(first), np.std(fm), np.std(mlp)])}
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def criteo(seed: int = 2020) -> dict:
    """The 200-row Criteo sample as DeepCTR's example prepares it: categoricals label-encoded
    (missing -> "-1"), dense fillna(0) then min-max scaled; a seeded 80/20 split."""
    import pandas as pd

    df = pd.read_csv(CRITEO)
    sparse_cols = [f"C{i}" for i in range(1, 27)]
    dense_cols = [f"I{i}" for i in range(1, 14)]
    df[sparse_cols] = df[sparse_cols].fillna("-1")
    df[dense_cols] = df[dense_cols].fillna(0)
    ids = np.empty((len(df), len(sparse_cols)), dtype=np.int64)
    vocabs = []
    for f, c in enumerate(sparse_cols):
        uniq, inv = np.unique(df[c].astype(str).to_numpy(), return_inverse=True)
        ids[:, f] = inv
        vocabs.append(len(uniq))
    x = df[dense_cols].to_numpy(np.float64)
    span = x.max(0) - x.min(0)
    dense = ((x - x.min(0)) / np.where(span == 0, 1, span)).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(df))
    ids, dense, label = ids[order], dense[order], df["label"].to_numpy(np.int64)[order]
    return {"ids": ids, "dense": dense, "label": label, "vocabs": np.array(vocabs),
            "rows": np.array(int(round(len(df) * 0.8)))}


def arrays(data: dict, part: str) -> tuple[dict, np.ndarray]:
    """The model input dict (signature names c1..c26, i1..i13; (n, 1) int64 / float32) and labels."""
    rows = int(data["rows"])
    sl = slice(0, rows) if part == "train" else slice(rows, None)
    x = {f"c{f + 1}": np.ascontiguousarray(data["ids"][sl, f:f + 1]) for f in range(N_SPARSE)}
    x.update({f"i{j + 1}": np.ascontiguousarray(data["dense"][sl, j:j + 1]) for j in range(N_DENSE)})
    return x, data["label"][sl].astype(np.float32).reshape(-1, 1)


# ------------------------------------------------------------------ the two models


def spec_text(name: str, vocabs: list[int], batch_size: int, epochs: int) -> str:
    """A spec whose model `deepfm` has sparse inputs c1..c26 (hash_bucket: buckets = vocab, the
    ids written into the set are already in 0..vocab-1) and dense inputs i1..i13."""
    cols = [f"      raw_c{f + 1}: int64" for f in range(N_SPARSE)] + [f"      raw_i{j + 1}: float64" for j in range(N_DENSE)]
    inputs = [f"    raw_c{f + 1}: {{dtype: int64}}" for f in range(N_SPARSE)] + \
             [f"    raw_i{j + 1}: {{dtype: float64}}" for j in range(N_DENSE)]
    feats = [f"    c{f + 1}: hash_bucket(raw_c{f + 1}, {int(v)})" for f, v in enumerate(vocabs)] + \
            [f"    i{j + 1}: fillna(raw_i{j + 1}, 0.0)" for j in range(N_DENSE)]
    dense = ", ".join(f"i{j + 1}" for j in range(N_DENSE))
    sparse = ", ".join(f"c{f + 1}" for f in range(N_SPARSE))
    nl = "\n"
    return f"""version: 1
name: {name}
sources:
  events:
    kind: csv
    path: events.csv
    event_time: ts
    columns:
      ts: timestamp
      clicked: int64
{nl.join(cols)}
preprocess:
  inputs:
{nl.join(inputs)}
  features:
{nl.join(feats)}
models:
  deepfm:
    type: deepfm
    task: classification
    label: clicked
    inputs:
      dense: [{dense}]
      sparse: [{sparse}]
    hyperparameters: {{embedding_dim: {EMBEDDING_DIM}, hidden_units: [{', '.join(map(str, HIDDEN))}], activation: relu, dropout: 0.0, batch_norm: false}}
    training:
      source: events
      epochs: {epochs}
      batch_size: {batch_size}
      optimizer: {{name: adam, learning_rate: {LR}}}
      seed: {SEED}
"""


def compile_model(name: str, vocabs: list[int], batch_size: int, epochs: int):
    from mlc.compiler.pipeline import build

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.mlc.yaml"
    path.write_text(spec_text(name, vocabs, batch_size, epochs), encoding="utf-8")
    result = build(str(path))
    if not result.ok:
        raise SystemExit(f"{path} does not compile: {[d.message for d in result.diagnostics]}")
    model = result.ir.model("deepfm")
    assert [s.buckets for s in model.sparse] == [int(v) for v in vocabs]
    return model


def mlc_model(model_ir, labels: np.ndarray, optimizer: str = "legacy"):
    import tensorflow as tf

    from mlc.runtime.training.models import build_model, initial_output_bias, loss_for, make_optimizer

    keras_model = build_model(model_ir, seed=SEED, output_bias=initial_output_bias(model_ir.task, labels))
    opt = make_optimizer("adam", LR) if optimizer == "legacy" else tf.keras.optimizers.Adam(LR)
    keras_model.compile(optimizer=opt, loss=loss_for(model_ir.task))
    return keras_model


def deepctr_model(vocabs: list[int], optimizer: str = "default"):
    import tensorflow as tf
    from deepctr.feature_column import DenseFeat, SparseFeat
    from deepctr.models import DeepFM

    columns = [SparseFeat(f"c{f + 1}", vocabulary_size=int(v) + 1, embedding_dim=EMBEDDING_DIM, dtype="int64")
               for f, v in enumerate(vocabs)] + [DenseFeat(f"i{j + 1}", 1) for j in range(N_DENSE)]
    model = DeepFM(columns, columns, dnn_hidden_units=HIDDEN, l2_reg_linear=0.0, l2_reg_embedding=0.0,
                   l2_reg_dnn=0.0, seed=SEED, dnn_dropout=0.0, dnn_activation="relu", dnn_use_bn=False, task="binary")
    opt = "adam" if optimizer == "default" else tf.keras.optimizers.legacy.Adam(LR)
    model.compile(optimizer=opt, loss="binary_crossentropy")
    return model


class EpochTimer:
    def __new__(cls):
        import tensorflow as tf

        class _Timer(tf.keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._t)

        return _Timer()


def fit_and_score(make, x, y, x_test, y_test, batch: int, epochs: int) -> dict:
    import tensorflow as tf

    tf.keras.backend.clear_session()
    gc.collect()
    tf.keras.utils.set_random_seed(SEED)
    model = make()
    timer = EpochTimer()
    began = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    fit_seconds = time.perf_counter() - began
    p = model.predict(x_test, batch_size=4096, verbose=0).reshape(-1)
    rows = len(y)
    steady = timer.seconds[1:] or timer.seconds
    return {"epoch_seconds": [round(s, 3) for s in timer.seconds], "fit_seconds": round(fit_seconds, 3),
            "examples_per_s": rows * len(steady) / sum(steady), "auc": auc(y_test, p),
            "params": int(model.count_params())}


# ------------------------------------------------------------------ (a) + (c)


def compare(data: dict, name: str, runs: int, batch: int, epochs: int, variants: list[str]) -> dict:
    vocabs = [int(v) for v in data["vocabs"]]
    model_ir = compile_model(name, vocabs, batch, epochs)
    x, y = arrays(data, "train")
    xt, yt = arrays(data, "test")
    makers = {
        "mlc": lambda: mlc_model(model_ir, y),
        "deepctr": lambda: deepctr_model(vocabs),
        "mlc_new_adam": lambda: mlc_model(model_ir, y, optimizer="new"),
        "deepctr_legacy_adam": lambda: deepctr_model(vocabs, optimizer="legacy"),
        "mlc_no_id_guard": lambda: no_guard(lambda: mlc_model(model_ir, y)),
    }
    names = ["mlc", "deepctr"] + variants
    results: dict[str, list] = {n: [] for n in names}
    for r in range(runs):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            out = fit_and_score(makers[n], x, y, xt, yt, batch, epochs)
            results[n].append(out)
            log(f"[{name}] run {r + 1} {n}: {out['examples_per_s']:,.0f} ex/s (epochs {out['epoch_seconds']} s), "
                f"test AUC {out['auc']:.4f}")
    summary = {n: {"examples_per_s_median": statistics.median(o["examples_per_s"] for o in v),
                   "examples_per_s": [round(o["examples_per_s"]) for o in v],
                   "auc_median": statistics.median(o["auc"] for o in v), "auc": [round(o["auc"], 5) for o in v],
                   "params": v[0]["params"]} for n, v in results.items()}
    if "prob" in data:
        summary["bayes_auc"] = auc(yt, data["prob"][int(data["rows"]):])
    summary["rows"] = {"train": len(y), "test": len(yt), "positive_rate_train": float(y.mean())}
    return summary


def no_guard(make):
    """Build the mlc model with ``IdGuard`` as identity (profiling only: what the guard costs)."""
    from mlc.runtime.training import models

    original = models.IdGuard.call
    models.IdGuard.call = lambda self, ids: ids
    try:
        return make()
    finally:
        models.IdGuard.call = original


# ------------------------------------------------------------------ (b) mlc's training loop


def write_training_set(data: dict, model_ir, root: Path, row_group: int = 131072) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    set_dir = root / model_ir.name / "main"
    if (set_dir / "schema.json").exists():
        return set_dir
    rows = int(data["rows"])
    for split, sl in (("train", slice(0, rows)), ("validation", slice(rows, None))):
        cols = {f"i{j + 1}": pa.array(data["dense"][sl, j].astype(np.float64)) for j in range(N_DENSE)}
        cols.update({f"c{f + 1}": pa.array(data["ids"][sl, f]) for f in range(N_SPARSE)})
        cols["clicked"] = pa.array(data["label"][sl])
        (set_dir / split).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), set_dir / split / "part-00000.parquet", row_group_size=row_group)
    schema = {
        "model": model_ir.name, "shard": "main", "task": model_ir.task,
        "label": {"name": model_ir.label.name, "dtype": model_ir.label.dtype},
        "event_time": None, "partition_key": None, "partitions": {"values": [], "is_default": True},
        "columns": [{"name": c.name, "dtype": c.dtype} for c in model_ir.dense]
                   + [{"name": s.name, "dtype": s.dtype} for s in model_ir.sparse]
                   + [{"name": model_ir.label.name, "dtype": model_ir.label.dtype}],
        "inputs": {"dense": [{"name": c.name, "dtype": c.dtype} for c in model_ir.dense],
                   "sparse": [{"name": s.name, "dtype": s.dtype, "buckets": s.buckets} for s in model_ir.sparse]},
        "feature_groups": [], "split": None,
        "rows": {"train": rows, "validation": len(data["label"]) - rows},
    }
    (set_dir / "schema.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return set_dir


def trainer_run(data: dict, name: str, batch: int, epochs: int, run: int) -> dict:
    """``trainer.train`` end to end (no export), with ``_Loop._train_epoch`` and the whole call
    timed; then the last checkpoint predicts the test rows for the exact AUC."""
    import shutil

    import tensorflow as tf

    from mlc.runtime.training import trainer

    vocabs = [int(v) for v in data["vocabs"]]
    model_ir = compile_model(name, vocabs, batch, epochs)
    set_dir = write_training_set(data, model_ir, OUT / f"sets_{name}_{int(data['rows'])}_{len(data['label'])}")
    out_dir = OUT / f"train_{name}_{run}"
    shutil.rmtree(out_dir, ignore_errors=True)
    tf.keras.backend.clear_session()
    gc.collect()
    epoch_seconds: list[float] = []
    original = trainer._Loop._train_epoch

    def timed(self, epoch, step_in_run):
        began = time.perf_counter()
        try:
            return original(self, epoch, step_in_run)
        finally:
            epoch_seconds.append(time.perf_counter() - began)

    trainer._Loop._train_epoch = timed
    try:
        began = time.perf_counter()
        result = trainer.train(model_ir, str(set_dir), str(out_dir), epochs=epochs, export=False)
        total = time.perf_counter() - began
    finally:
        trainer._Loop._train_epoch = original
    keras_model = trainer.load_checkpoint_model(model_ir, result.paths["checkpoints"])
    xt, yt = arrays(data, "test")
    p = keras_model.predict(xt, batch_size=4096, verbose=0).reshape(-1)
    rows = int(data["rows"])
    steady = epoch_seconds[1:] or epoch_seconds
    return {"train_epoch_seconds": [round(s, 3) for s in epoch_seconds],
            "history_epoch_seconds": [h["seconds"] for h in result.history],
            "total_seconds": round(total, 3),
            "examples_per_s_epochs_2_n": rows * len(steady) / sum(steady),
            "examples_per_s_end_to_end": rows * epochs / total,
            "auc": auc(yt, p), "validation_auc_trainer": (result.final_metrics or {}).get("auc"),
            "steps_per_epoch": result.steps_per_epoch}


# ------------------------------------------------------------------ profile of the trainer's epoch


def profile_trainer(data: dict, name: str, batch: int) -> dict:
    """Where one epoch of ``trainer.train`` goes, one part at a time (examples/s, one epoch each
    after a warm-up epoch): the input pipeline alone (``data.make_dataset``: element-wise
    shuffle of the whole split, then batch), a batch-level alternative (shuffled row indices,
    batched, one gather per batch, as Keras' numpy adapter does), and the trainer's step
    (``make_train_step``) over batches already in memory, with and without the per-step
    ``float(loss)`` and learning-rate assignment that the loop does."""
    import tensorflow as tf

    from mlc.runtime.training import trainer
    from mlc.runtime.training.data import make_dataset, read_split
    from mlc.runtime.training.distributed import LocalCluster
    from mlc.runtime.training.models import build_model, loss_for, make_optimizer

    vocabs = [int(v) for v in data["vocabs"]]
    model_ir = compile_model(name, vocabs, batch, 2)
    set_dir = write_training_set(data, model_ir, OUT / f"sets_{name}_{int(data['rows'])}_{len(data['label'])}")
    began = time.perf_counter()
    split = read_split(str(set_dir), "train", model_ir)
    out: dict = {"read_split_seconds": round(time.perf_counter() - began, 3)}
    rows = split.rows

    def rate(fn) -> float:
        fn()                                    # warm-up epoch
        t = time.perf_counter()
        fn()
        return rows / (time.perf_counter() - t)

    def iterate(dataset_fn):
        def run():
            for _ in dataset_fn():
                pass
        return run

    out["pipeline_make_dataset"] = rate(iterate(lambda: make_dataset(split, batch, seed=1, shuffle=True)))

    features = {k: tf.constant(v) for k, v in split.features.items()}
    labels = tf.constant(split.labels)

    def gathered():
        ds = tf.data.Dataset.range(rows).shuffle(rows, seed=1).batch(batch)
        ds = ds.map(lambda i: ({k: tf.gather(v, i) for k, v in features.items()}, tf.gather(labels, i)))
        return ds.prefetch(tf.data.AUTOTUNE)

    out["pipeline_index_gather"] = rate(iterate(gathered))

    tf.keras.backend.clear_session()
    keras_model = build_model(model_ir, seed=SEED)
    optimizer = make_optimizer("adam", LR)
    step = trainer.make_train_step(keras_model, optimizer, loss_for("classification"), LocalCluster())
    batches = list(gathered())

    def steps_only(sync: bool):
        def run():
            loss = None
            for f, l in batches:
                if sync:
                    trainer.set_learning_rate(optimizer, LR)
                    float(step(f, l))
                else:
                    loss = step(f, l)
            if loss is not None:
                float(loss)
        return run

    out["train_step_in_memory_batches"] = rate(steps_only(False))
    out["train_step_with_float_and_lr_assign"] = rate(steps_only(True))
    return out


# ------------------------------------------------------------------ main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="synthetic train rows")
    p.add_argument("--test-rows", type=int, default=200_000, help="synthetic test rows")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--criteo-epochs", type=int, default=10)
    p.add_argument("--criteo-batch", type=int, default=32)
    p.add_argument("--criteo-runs", type=int, default=5)
    p.add_argument("--trainer-runs", type=int, default=1)
    p.add_argument("--variants", nargs="*", default=[],
                   choices=["mlc_new_adam", "deepctr_legacy_adam", "mlc_no_id_guard"],
                   help="extra implementations for profiling (synthetic set only)")
    p.add_argument("--skip", nargs="*", default=[], choices=["synthetic", "trainer", "criteo"])
    p.add_argument("--profile-trainer", action="store_true", help="time the parts of the trainer's epoch")
    args = p.parse_args(argv)

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    report: dict = {"machine": machine(), "args": vars(args)}
    log(json.dumps(report["machine"]))
    if "synthetic" not in args.skip or "trainer" not in args.skip or args.profile_trainer:
        began = time.perf_counter()
        data = synthetic(args.rows, args.test_rows)
        log(f"synthetic data: {args.rows} + {args.test_rows} rows, vocabs {list(data['vocabs'])}, "
            f"CTR {data['label'].mean():.4f}, logit part std (first, fm, mlp) {np.round(data['parts'], 3).tolist()} "
            f"({time.perf_counter() - began:.1f} s)")
    if "synthetic" not in args.skip:
        report["synthetic"] = compare(data, "bench_deepfm", args.runs, args.batch, args.epochs, args.variants)
        log(json.dumps(report["synthetic"], indent=1))
    if "trainer" not in args.skip:
        report["trainer"] = [trainer_run(data, "bench_deepfm", args.batch, args.epochs, r)
                             for r in range(args.trainer_runs)]
        log(json.dumps(report["trainer"], indent=1))
    if args.profile_trainer:
        report["trainer_profile"] = profile_trainer(data, "bench_deepfm", args.batch)
        log(json.dumps(report["trainer_profile"], indent=1))
    if "criteo" not in args.skip:
        runs = []
        for seed in range(args.criteo_runs):
            data_c = criteo(seed=2020 + seed)
            runs.append(compare(data_c, "bench_deepfm_criteo", 1, args.criteo_batch, args.criteo_epochs, []))
        report["criteo"] = {n: {"auc": [r[n]["auc_median"] for r in runs],
                                "auc_median": statistics.median(r[n]["auc_median"] for r in runs),
                                "examples_per_s_median": statistics.median(r[n]["examples_per_s_median"] for r in runs)}
                            for n in ("mlc", "deepctr")}
        report["criteo"]["rows"] = runs[0]["rows"]
        log(json.dumps(report["criteo"], indent=1))
    path = OUT / f"results_{args.rows}{'_profile' if args.profile_trainer else ''}.json"
    path.write_text(json.dumps(report, indent=1, default=float) + "\n", encoding="utf-8")
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
