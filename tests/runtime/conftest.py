"""One local Spark session for the whole test run (session-scoped), configured as the Spark
executor requires (UTC session time zone, ANSI off)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from mlc.runtime.spark_session import local_session

    session = local_session("mlc-tests", cores="2")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()
