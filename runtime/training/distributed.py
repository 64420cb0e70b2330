"""Where a training process sits in its job: one process, or one Horovod rank of many.

    cluster = init_cluster(model.training.engine)     # logs one line: which mode, rank, size
    steps = int(cluster.allreduce_min(np.array([local_batches]))[0])
    tape = cluster.distributed_tape(tape)              # gradients averaged over the ranks
    cluster.broadcast_variables(model.variables + optimizer_variables(optimizer))

Two implementations of one small interface (``Cluster``):

- ``LocalCluster``: rank 0 of 1; every collective is the identity. Used when the process was
  not started by a Horovod launcher and the engine does not ask for Horovod, or when Horovod is
  not installed (a dev run of a ``horovod`` model then trains on one process, and says so).
- ``HorovodCluster``: ``hvd.init()`` and Horovod's collectives (Gloo or MPI, whatever the
  launcher set up). Used when Horovod is importable and either the process was started by
  ``horovodrun``/``mpirun`` (``launched_by_horovod``) or the engine is ``horovod`` (then a
  lone process is a Horovod world of size 1, exactly what ``hvd.init()`` does without a
  rendezvous server).

Collectives in eager mode are named from a per-cluster counter (``mlc.<kind>.<n>``): every rank
issues them in the same order, so the names match across ranks (Horovod pairs tensors by name).
Sums are done in float64 (int64 for integer input), so an allreduced count or sum is exact and
bit-identical on every rank. Nothing here imports TensorFlow or Horovod at module level.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterable, Mapping
from mlc.core.errors import MlcError

log = logging.getLogger("mlc.training")

# Environment variables a Horovod launcher sets on every worker: `horovodrun --gloo` sets the
# HOROVOD_* ones (horovod/runner/gloo_run.py), Open MPI the OMPI_* ones, MPICH/Intel MPI PMI_*.
# Without a rendezvous address, Horovod's Gloo context assumes a single process.
LAUNCHER_ENV = ("HOROVOD_GLOO_RENDEZVOUS_ADDR", "HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")


class ClusterError(MlcError, RuntimeError):
    """The process cannot join its training job as launched (Horovod missing under a launcher)."""


def launched_by_horovod(env: Mapping[str, str] | None = None) -> bool:
    """True when a Horovod launcher (horovodrun with Gloo, or mpirun) started this process."""
    env = os.environ if env is None else env
    return any(env.get(name) not in (None, "") for name in LAUNCHER_ENV)


def launcher_world_size(env: Mapping[str, str] | None = None) -> int | None:
    """The number of ranks the launcher started (None when unknown / not launched)."""
    env = os.environ if env is None else env
    for name in ("HOROVOD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        if (env.get(name) or "").isdigit():
            return int(env[name])
    return None


def horovod_importable() -> bool:
    """True when ``horovod.tensorflow`` imports (Horovod built with TensorFlow support)."""
    try:
        import horovod.tensorflow  # noqa: F401
    except Exception:   # ImportError, or a Horovod built against another TensorFlow
        return False
    return True


def optimizer_variables(optimizer: Any) -> list:
    """The optimizer's state variables (iterations, learning rate, slots) for Keras 2's new
    optimizers (a ``variables`` property) and legacy ones (a ``variables()`` method)."""
    variables = optimizer.variables
    return list(variables() if callable(variables) else variables)


class Cluster:
    """One process's view of its training job. Subclasses implement the collectives."""

    mode = "abstract"
    rank = 0
    size = 1
    local_rank = 0

    @property
    def is_chief(self) -> bool:
        """Rank 0 writes checkpoints, the history and the export."""
        return self.rank == 0

    def describe(self) -> str:
        return f"{self.mode}: rank {self.rank} of {self.size} (local rank {self.local_rank})"

    # --------------------------------------------------------------- collectives
    def allreduce_sum(self, value: Any) -> Any:
        raise NotImplementedError

    def allreduce_min(self, value: Any) -> Any:
        raise NotImplementedError

    def allreduce_max(self, value: Any) -> Any:
        raise NotImplementedError

    def broadcast_variables(self, variables: Iterable[Any], root: int = 0) -> None:
        raise NotImplementedError

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        raise NotImplementedError

    def allgather_object(self, obj: Any) -> list:
        raise NotImplementedError

    def distributed_tape(self, tape: Any) -> Any:
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def allreduce_mean_variables(self, variables: Iterable[Any]) -> None:
        """Replace each float variable by its mean over the ranks (e.g. batch-norm moving
        statistics, which gradient averaging does not keep in sync)."""
        import numpy as np

        for var in variables:
            if not var.dtype.is_floating:
                continue
            total = self.allreduce_sum(np.asarray(var.numpy(), dtype=np.float64))
            var.assign((total / self.size).astype(var.dtype.as_numpy_dtype))


def _as_reducible(value: Any) -> Any:
    """``value`` as a numpy array in a reduction dtype: int64 for integers/bools, else float64."""
    import numpy as np

    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if array.dtype.kind in "biu":
        return array.astype(np.int64)
    return array.astype(np.float64)


class LocalCluster(Cluster):
    """A single process: rank 0 of 1, every collective returns its input."""

    mode = "single process"

    def allreduce_sum(self, value: Any) -> Any:
        return _as_reducible(value)

    def allreduce_min(self, value: Any) -> Any:
        return _as_reducible(value)

    def allreduce_max(self, value: Any) -> Any:
        return _as_reducible(value)

    def broadcast_variables(self, variables: Iterable[Any], root: int = 0) -> None:
        return None

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        return obj

    def allgather_object(self, obj: Any) -> list:
        return [obj]

    def distributed_tape(self, tape: Any) -> Any:
        return tape

    def barrier(self) -> None:
        return None

    def allreduce_mean_variables(self, variables: Iterable[Any]) -> None:
        return None


class HorovodCluster(Cluster):
    """A Horovod rank: ``hvd.init()`` on construction; collectives through Horovod."""

    def __init__(self) -> None:
        import horovod.tensorflow as hvd

        hvd.init()
        self._hvd = hvd
        self.rank = hvd.rank()
        self.size = hvd.size()
        self.local_rank = hvd.local_rank()
        self._calls = 0
        backend = "gloo" if hvd.gloo_enabled() else ("mpi" if hvd.mpi_enabled() else "?")
        self.mode = f"horovod ({backend})"
        _pin_gpu(self.local_rank)

    def _name(self, kind: str) -> str:
        self._calls += 1
        return f"mlc.{kind}.{self._calls}"

    def _allreduce(self, value: Any, op: Any, kind: str) -> Any:
        import tensorflow as tf

        array = _as_reducible(value)
        result = self._hvd.allreduce(tf.constant(array), op=op, name=self._name(kind))
        return result.numpy()

    def allreduce_sum(self, value: Any) -> Any:
        return self._allreduce(value, self._hvd.Sum, "sum")

    def allreduce_min(self, value: Any) -> Any:
        return self._allreduce(value, self._hvd.Min, "min")

    def allreduce_max(self, value: Any) -> Any:
        return self._allreduce(value, self._hvd.Max, "max")

    def broadcast_variables(self, variables: Iterable[Any], root: int = 0) -> None:
        variables = list(variables)
        if variables:
            self._hvd.broadcast_variables(variables, root_rank=root)

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        return self._hvd.broadcast_object(obj, root_rank=root, name=self._name("bcast"))

    def allgather_object(self, obj: Any) -> list:
        return list(self._hvd.allgather_object(obj, name=self._name("gather")))

    def distributed_tape(self, tape: Any) -> Any:
        return self._hvd.DistributedGradientTape(tape)

    def barrier(self) -> None:
        self.allreduce_sum([0])      # Horovod's TensorFlow API has no barrier; a tiny allreduce is one


def _pin_gpu(local_rank: int) -> None:
    """One GPU per local rank (when there are GPUs), memory grown on demand."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return
    gpu = gpus[local_rank % len(gpus)]
    tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.set_visible_devices(gpu, "GPU")


def init_cluster(engine: str = "none", env: Mapping[str, str] | None = None) -> Cluster:
    """The cluster this process trains in (see the module docstring), logged in one line.

    Raises ``ClusterError`` when a Horovod launcher started the process but Horovod does not
    import: training alone on every worker would silently write the same outputs N times."""
    launched = launched_by_horovod(env)
    wants_horovod = launched or engine == "horovod"
    if wants_horovod and horovod_importable():
        cluster: Cluster = HorovodCluster()
        why = "launched by a Horovod launcher" if launched else "engine `horovod`, no launcher: a world of 1"
        expected = launcher_world_size(env) if launched else None
        if expected is not None and expected != cluster.size:
            raise ClusterError(f"the launcher started {expected} ranks but Horovod formed a world of {cluster.size} "
                               f"(Horovod built without MPI under mpirun? use `horovodrun --gloo`, or a Horovod "
                               f"built with MPI): the ranks would train independently")
    elif launched:
        raise ClusterError("this process was started by a Horovod launcher but `horovod.tensorflow` does not "
                           "import; install it with `sh scripts/install_horovod.sh`")
    else:
        cluster = LocalCluster()
        why = ("engine `horovod` but Horovod is not installed (sh scripts/install_horovod.sh)"
               if engine == "horovod" else f"engine `{engine}`")
    log.info("training cluster: %s [%s]", cluster.describe(), why)
    return cluster
