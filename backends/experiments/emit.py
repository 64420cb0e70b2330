"""The ``experiments/config.json`` backend: the document of ``mlc.backends.experiments_config``
(format 1, docs/experiments.md "config.json"), read by ``mlc.backends.experiments.config``."""

from __future__ import annotations

from mlc.backends.experiments_config import FORMAT, PATH, config_version, document, render
from mlc.core.ir import IR

__all__ = ["FORMAT", "PATH", "config_version", "document", "emit", "render"]


def emit(ir: IR) -> dict[str, str]:
    """Always emitted, with empty lists when the spec has no experiments, so the runtime can
    rely on the file."""
    return {PATH: render(ir)}
