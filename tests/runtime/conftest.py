"""One local Spark session for the whole test run (session-scoped), configured as the Spark
executor requires (UTC session time zone, ANSI off)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def spark():
    pyspark = pytest.importorskip("pyspark", reason="install the `spark` extra to run Spark tests")
    from pyspark.sql import SparkSession

    from mlc.runtime.spark_ops.core import required_conf

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only
    builder = (SparkSession.builder.master("local[2]").appName("mlc-tests")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1"))
    for key, value in required_conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
