"""The Spark executor of generated preprocessing modules (offline jobs).

``SparkOps(df, fitted)`` builds native ``pyspark.sql.Column`` expressions only: no Python UDF
or pandas UDF. See ``mlc.runtime.ops`` for the interface and docs/semantics.md for semantics.
Function implementations live in the modules of this package and register in ``FUNCTIONS``.
"""

from mlc.runtime.spark_ops.core import FUNCTIONS, SparkOps, SVal, implements

__all__ = ["FUNCTIONS", "SparkOps", "SVal", "implements"]
