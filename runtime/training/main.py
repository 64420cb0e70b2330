"""Command line of one training job: one model, one shard, one process or one Horovod rank.

    python -m mlc.runtime.training --mldl BUILD/mldl.json --data SETS_ROOT --model NAME \\
        [--shard NAME] --output DIR [--epochs N] [--spec-hash H]
    horovodrun -np 2 -H localhost:2 --gloo python -m mlc.runtime.training ...   # 2 ranks

``SETS_ROOT`` holds ``<model>/<shard>/{train,validation}/`` and ``schema.json`` (``mlc run SPEC
--step training``). Outputs go under ``DIR`` (``trainer`` module docstring): checkpoints,
``runs/<model>/<shard>/history.json`` and the exported version under ``DIR/repository``.

``main(argv) -> int`` runs in-process too (``mlc run --step train`` without Horovod). Expected
problems (unknown model or shard, missing training set, a set that does not fit the model, a
checkpoint that does not fit) print one ``error:`` line and return 1, no traceback; bad usage
returns 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

from mlc.runtime.training.distributed import LAUNCHER_ENV  # no TensorFlow/Horovod at import
from mlc.core.errors import MlcError
from mlc.core.ir import load_ir as read_mldl
from mlc.core.suggest import did_you_mean
from mlc.runtime.training.distributed import ClusterError

log = logging.getLogger("mlc.training")


class UsageProblem(MlcError):
    """A problem with what was asked (names, paths), reported as one line."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlc.runtime.training",
                                description="Train one model on one shard's training set (Horovod-aware).")
    p.add_argument("--mldl", required=True, metavar="FILE", help="mldl.json of a build (mlc compile / mlc fit)")
    p.add_argument("--data", required=True, metavar="DIR", help="training sets root: <model>/<shard>/")
    p.add_argument("--model", required=True, metavar="NAME", help="model to train")
    p.add_argument("--shard", metavar="NAME", help="shard (default: the model's only shard)")
    p.add_argument("--output", required=True, metavar="DIR", help="checkpoints, runs and repository go here")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs to run (default: training.epochs)")
    p.add_argument("--spec-hash", metavar="H", help="spec sha256 recorded in the export metadata")
    p.add_argument("--no-export", action="store_true", help="train and checkpoint only")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(argv) if argv is not None else None)
    if args.epochs is not None and args.epochs < 1:
        print("error: --epochs must be a positive integer", file=sys.stderr)
        return 2
    configure_logging()
    from mlc.runtime.training.trainer import TrainingError

    try:
        ir, spec_hash = load_ir(args)
        model = find_model(ir, args.model)
        shard = pick_shard(ir, model.name, args.shard)
        set_dir = training_set_dir(args, model.name, shard)
        from mlc.runtime.training.data import TrainingDataError
        from mlc.runtime.training.export import ExportError
        from mlc.runtime.training.trainer import train

        try:
            result = train(model, set_dir, args.output, epochs=args.epochs, spec_hash=args.spec_hash or spec_hash,
                           export=not args.no_export, shard=shard)
        except (TrainingDataError, ExportError) as error:
            raise UsageProblem(str(error)) from error
    except (UsageProblem, TrainingError, ClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report(result)
    return 0


def configure_logging() -> None:
    """INFO lines of ``mlc.training`` on stderr, prefixed with the rank under a launcher."""
    if log.handlers:
        return
    rank = next((os.environ[v] for v in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
                 if os.environ.get(v)), None)
    prefix = f"[rank {rank}] " if rank is not None and any(os.environ.get(v) for v in LAUNCHER_ENV) else ""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prefix}%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def load_ir(args: Any) -> tuple[Any, str | None]:
    """The IR of the build (``--mldl``), and no spec hash (``--spec-hash`` gives it)."""
    if not os.path.isfile(args.mldl):
        raise UsageProblem(f"{args.mldl}: no such file (compile the spec first: mlc compile SPEC -o BUILD)")
    try:
        return read_mldl(args.mldl), None
    except (ValueError, KeyError, TypeError) as error:
        raise UsageProblem(f"{args.mldl}: not a readable mldl.json ({error})") from error


def find_model(ir: Any, name: str) -> Any:
    names = [m.name for m in ir.models]
    if name not in names:
        raise UsageProblem(f"unknown model `{name}`" + _hint(name, names, "models"))
    return ir.model(name)


def model_shards(ir: Any, model_name: str) -> list[str]:
    """Shards whose training set exists for the model (as ``training_set`` writes them)."""
    shards = [s.name for s in ir.deployment.shards if model_name in s.models]
    return shards or ["main"]


def pick_shard(ir: Any, model_name: str, shard: str | None) -> str:
    shards = model_shards(ir, model_name)
    if shard is None:
        if len(shards) > 1:
            raise UsageProblem(f"model `{model_name}` is served by shards {shards}: choose one with --shard")
        return shards[0]
    if shard not in shards:
        raise UsageProblem(f"model `{model_name}` has no shard `{shard}`" + _hint(shard, shards, "shards"))
    return shard


def training_set_dir(args: Any, model_name: str, shard: str) -> str:
    set_dir = os.path.join(args.data, model_name, shard)
    if not os.path.isfile(os.path.join(set_dir, "schema.json")):
        raise UsageProblem(f"no training set for `{model_name}` shard `{shard}` at {set_dir}: "
                           "run `mlc run SPEC --step training` first")
    return set_dir


def report(result: Any) -> None:
    if result.rank != 0:
        return
    metrics = ", ".join(f"{k} {v:.5g}" for k, v in (result.final_metrics or {}).items()
                        if isinstance(v, float))
    best = f" (weights of the best epoch, {result.exported_epoch})" if getattr(result, "restored_best", False) else ""
    exported = f"; exported version {result.version}{best} to {result.export.path}" if result.export else ""
    print(f"trained `{result.model}` shard `{result.shard}` on {result.workers} worker(s): epochs "
          f"{result.first_epoch}..{result.last_epoch}" + (" (early stop)" if result.stopped_early else "")
          + (f"; validation {metrics}" if metrics else "") + exported)


def _hint(word: str, names: list[str], what: str) -> str:
    hint = did_you_mean(word, names, what)
    return f" ({hint})" if hint else ""
