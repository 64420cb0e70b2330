"""The Spark backend: the PySpark feature job of a spec, a ``spark-submit`` script and a
spark-operator ``SparkApplication`` manifest; for a spec with stream sources also the streaming
job's wrapper, submit script and long-running ``SparkApplication``. The jobs themselves are
``mlc.runtime.features.job`` and ``mlc.runtime.stream_job``; what is emitted here only configures
the session and points the runtime at the build tree."""

from mlc.backends.spark.emit import (
    emit, job_path, render_application, render_job, render_stream_application, render_stream_job,
    render_stream_submit, render_submit, spark_cores, spark_memory, stream_job_path,
)

__all__ = ["emit", "job_path", "render_application", "render_job", "render_stream_application", "render_stream_job",
           "render_stream_submit", "render_submit", "spark_cores", "spark_memory", "stream_job_path"]
