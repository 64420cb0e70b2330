"""The local Spark session mlc commands use (`mlc fit`, `mlc check-parity`, `mlc run`)."""

from __future__ import annotations

import os
import sys
from typing import Any


def local_session(app: str = "mlc", cores: str = "*") -> Any:
    """`local[*]` on loopback with the settings the Spark executor requires."""
    from pyspark.sql import SparkSession

    from mlc.runtime.spark_ops.core import required_conf

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only
    builder = (SparkSession.builder.master(f"local[{cores}]").appName(app)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               # A preprocessing stage of many features compiles to one huge Java method that the
               # JIT refuses (> 8000 bytes of bytecode) and then runs interpreted, several times
               # slower; at this limit Spark splits such stages instead (bench/RESULTS.md).
               .config("spark.sql.codegen.hugeMethodLimit", "8000"))
    for key, value in required_conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
