"""Expression diagnostics: one located issue per problem, offsets inside the expression text.

Codes E3xxx are syntax problems (raised by the parser as :class:`ExprSyntaxError`);
codes E4xxx are name and type problems (collected by the typechecker and resolver, never raised).
The compiler maps an :class:`ExprIssue` onto a file position by adding the offset of the
expression inside the YAML scalar.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlc.core.codes import EXPRESSION_CODES as CODES  # E3xxx/E4xxx, listed with every other code
from mlc.core.errors import MlcError


@dataclass(frozen=True)
class ExprIssue:
    """One problem in an expression; ``start``/``end`` are 0-based half-open offsets in its text."""

    code: str
    message: str
    start: int
    end: int
    hint: str | None = None
    severity: str = "error"

    @property
    def title(self) -> str:
        return CODES.get(self.code, "")

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def shifted(self, offset: int) -> "ExprIssue":
        """The same issue with offsets moved by ``offset`` (e.g. into the enclosing YAML scalar)."""
        return ExprIssue(self.code, self.message, self.start + offset, self.end + offset, self.hint, self.severity)


class ExprSyntaxError(MlcError, ValueError):
    """Raised by :func:`mlc.dsl.parse_expression`; carries the located :class:`ExprIssue`."""

    def __init__(self, issue: ExprIssue) -> None:
        super().__init__(f"{issue.code} at {issue.start}: {issue.message}")
        self.issue = issue
