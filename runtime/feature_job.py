"""The import path generated Spark jobs (`spark/<name>_features.py`) call: ``main``.

The job itself is :mod:`mlc.runtime.features.job`. This module is the stable surface builds
depend on, so a build compiled before the runtime moved keeps running; nothing in mlc imports it.
"""

from mlc.runtime.features.job import main

__all__ = ["main"]
