"""The NumPy executor of generated preprocessing modules (online serving).

``NumpyOps(columns, n, fitted)`` evaluates a whole batch vectorised; see ``mlc.runtime.ops`` for
the interface and docs/semantics.md for the semantics it shares with the Spark executor.
Function implementations live in the modules of this package and register themselves in
``FUNCTIONS`` with :func:`implements`.
"""

from mlc.runtime.numpy_ops.core import FUNCTIONS, NumpyOps, implements
from mlc.runtime.numpy_ops.vec import Vec

__all__ = ["FUNCTIONS", "NumpyOps", "Vec", "implements"]
