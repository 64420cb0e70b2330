"""One local Spark session for the whole test run (session-scoped), configured as the Spark
executor requires (UTC session time zone, ANSI off), with Hive support whose metastore and
warehouse live in a temporary catalog directory."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    """The session's catalog directory: Hive metastore (Derby) and warehouse for table sources."""
    return tmp_path_factory.mktemp("catalog")


@pytest.fixture(scope="session")
def spark(catalog):
    from mlc.runtime.features.session import local_session

    session = local_session("mlc-tests", cores="2", catalog=str(catalog))
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()
