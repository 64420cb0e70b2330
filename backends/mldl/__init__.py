"""The `mldl.json` backend: the IR serialised, versioned and deterministic."""

from mlc.backends.mldl.emit import emit, render

__all__ = ["emit", "render"]
