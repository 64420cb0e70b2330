"""The Spark backend: the PySpark feature job of a spec, a ``spark-submit`` script and a
spark-operator ``SparkApplication`` manifest. The job itself is ``mlc.runtime.features.job``;
what is emitted here only configures the session and points the runtime at the build tree."""

from mlc.backends.spark.emit import (
    emit, job_path, render_application, render_job, render_submit, spark_cores, spark_memory,
)

__all__ = ["emit", "job_path", "render_application", "render_job", "render_submit", "spark_cores", "spark_memory"]
