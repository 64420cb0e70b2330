"""One error base for every failure mlc reports to a user at run time.

``MlcError`` carries what a diagnostic needs: a ``code`` (from :mod:`mlc.core.codes`), a one-line
``message``, an optional ``hint`` and, when known, a ``location`` (a :class:`Location` in a
file). Every runtime failure family subclasses it (store, registry, deploy, serving, sources,
experiments, training ...), often beside the built-in it always was (``ValueError``,
``RuntimeError``), so existing ``except`` clauses keep working. The CLI catches ``MlcError`` in
one place (``mlc.cli.main``) and prints it as a diagnostic; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlc.core.diagnostics import Diagnostic, Span

GENERIC_CODE = "E7000"


@dataclass(frozen=True)
class Location:
    """A place in a file: 1-based ``line`` and ``col`` when known."""

    path: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        return ":".join(str(part) for part in (self.path, self.line, self.col) if part is not None)


class MlcError(Exception):
    """A failure the user can act on. Subclasses set a class-level ``code`` or pass one."""

    code: str = GENERIC_CODE
    hint: str | None = None
    location: Location | None = None

    def __init__(self, *args: object, code: str | None = None, hint: str | None = None,
                 location: Location | None = None):
        super().__init__(*args)
        self.message = str(args[0]) if args else ""
        if code is not None:
            self.code = code
        if hint is not None:
            self.hint = hint
        if location is not None:
            self.location = location

    def diagnostic(self) -> Diagnostic:
        """This error as a diagnostic: code, message, hint, and its place when known."""
        where = self.location
        span = Span.point(where.path, where.line, where.col or 1) if where and where.line else None
        return Diagnostic(self.code, self.message or str(self), span=span, hint=self.hint)
