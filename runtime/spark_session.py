"""The import path generated Spark jobs use for their session's catalog settings.

The session code is :mod:`mlc.runtime.features.session`. This module is the stable surface
builds depend on (``catalog_conf``, ``catalog_dir``); nothing in mlc imports it.
"""

from mlc.runtime.features.session import catalog_conf, catalog_dir

__all__ = ["catalog_conf", "catalog_dir"]
