"""The local Spark session mlc commands use (`mlc fit`, `mlc check-parity`, `mlc run`), and
where catalog (Hive) tables live when they are used.

Catalog: a spec with `kind: table` sources needs Spark's Hive support. Locally, the Derby
metastore (``metastore_db/``, ``derby.log``) and the warehouse live under ONE catalog directory,
never under the current working directory: ``--catalog-dir`` of the command, else the
``MLC_CATALOG_DIR`` environment variable, else ``~/.cache/mlc/catalog`` (``$XDG_CACHE_HOME``
when set). ``MLC_CATALOG_DIR=external`` means: use the Hive configuration of the environment
(``hive-site.xml`` of the cluster) -- what the generated cluster submissions set.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from mlc.runtime.spark_ops.core import required_conf


CATALOG_ENV = "MLC_CATALOG_DIR"
EXTERNAL_CATALOG = "external"


def catalog_dir(explicit: str | None = None) -> str | None:
    """The local catalog directory (absolute), or None for the environment's own Hive setup."""
    chosen = explicit or os.environ.get(CATALOG_ENV)
    if chosen == EXTERNAL_CATALOG:
        return None
    if not chosen:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        chosen = os.path.join(cache, "mlc", "catalog")
    return os.path.abspath(chosen)


def catalog_conf(directory: str) -> dict[str, str]:
    """Spark settings putting the Derby metastore, its log and the warehouse under ``directory``
    (created if needed). Static settings: they must be set before the session starts."""
    if any(c in directory for c in ';"\n'):
        raise ValueError(f"catalog directory `{directory}` must not contain `;`, `\"` or a newline")
    os.makedirs(directory, exist_ok=True)
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": os.path.join(directory, "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={os.path.join(directory, 'metastore_db')};create=true",
        "spark.driver.extraJavaOptions":
            f'-Dderby.system.home="{directory}" -Dderby.stream.error.file="{os.path.join(directory, "derby.log")}"',
    }


def uses_catalog(ir: Any) -> bool:
    return any(source.kind == "table" for source in ir.sources)


def local_session(app: str = "mlc", cores: str = "*", catalog: str | None = None) -> Any:
    """`local[*]` on loopback with the settings the Spark executor requires; with Hive support
    and its metastore and warehouse under ``catalog`` when a catalog directory is given."""
    from pyspark.sql import SparkSession

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
    if catalog is not None:
        builder = builder.enableHiveSupport()
        for key, value in catalog_conf(catalog).items():
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
