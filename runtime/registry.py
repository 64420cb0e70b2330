"""Per-executor tables of catalogue-function implementations.

Each executor package has one :class:`Registry`; its category modules register
``fn(ops, dtype, *args)`` with ``@REGISTRY.implements(name, ...)``. The modules are imported once,
on the executor's first use. A name that is not registered is refused at run time, so a
generated module can only run catalogue functions.
"""

from __future__ import annotations

import importlib
from typing import Callable
from mlc.core.errors import MlcError

CATEGORIES = ("operators", "conditionals", "math", "casts", "strings", "time", "hashing", "analyzers")


class UnknownFunction(MlcError):
    pass


class Registry:
    def __init__(self, package: str, executor: str):
        self.package = package
        self.executor = executor
        self.functions: dict[str, Callable] = {}
        self._loaded = False

    def implements(self, *names: str) -> Callable:
        """Register the decorated ``fn(ops, dtype, *args)`` for these catalogue names."""

        def register(fn: Callable) -> Callable:
            for name in names:
                self.functions[name] = fn
            return fn

        return register

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for category in CATEGORIES:
            importlib.import_module(f"{self.package}.{category}")

    def lookup(self, name: str) -> Callable:
        self.load()
        impl = self.functions.get(name)
        if impl is None:
            raise UnknownFunction(f"`{name}` is not implemented by the {self.executor} executor")
        return impl
