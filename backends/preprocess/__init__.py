"""The shared-preprocessing backend: ONE readable Python module per spec, written against the
``ops`` interface (``mlc.runtime.ops``) and run unchanged by the Spark and NumPy executors."""

from mlc.backends.preprocess.emit import emit, module_path, render

__all__ = ["emit", "module_path", "render"]
