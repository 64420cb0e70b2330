"""The ``experiments/config.json`` backend: the document of ``mlc.backends.experiments_config``
(format 1, docs/experiments.md "config.json"), read by ``mlc.backends.experiments.config``."""

from __future__ import annotations

from mlc.backends.experiments_config import PATH, render
from mlc.core.ir import IR


def emit(ir: IR) -> dict[str, str]:
    """Always emitted, with empty lists when the spec has no experiments, so the runtime can
    rely on the file."""
    return {PATH: render(ir)}
