"""Backends: one package per target, each exposing ``emit(ir) -> {relative path: text}``.

Backends are pure: they read the IR and return files; ``mlc.compiler.artifacts`` assembles
the tree and the manifest, and ``mlc.compiler.writer`` is the only code that writes to disk.
"""

from __future__ import annotations

import importlib
from typing import Callable

# (name, module); each module has `emit(ir) -> dict[str, str]`. Order does not matter: the
# artifact tree is sorted, and two backends may not emit the same path.
BACKENDS: tuple[tuple[str, str], ...] = (
    ("mldl", "mlc.backends.mldl"),
    ("preprocess", "mlc.backends.preprocess"),
    ("spark", "mlc.backends.spark"),
    ("train", "mlc.backends.train"),
    ("triton", "mlc.backends.triton"),
    ("serving_k8s", "mlc.backends.serving_k8s"),
    ("experiments", "mlc.backends.experiments"),
)


def load(name: str, module: str) -> Callable:
    return importlib.import_module(module).emit
