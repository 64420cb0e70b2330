"""Expression diagnostics: one located issue per problem, offsets inside the expression text.

Codes E3xxx are syntax problems (raised by the parser as :class:`ExprSyntaxError`);
codes E4xxx are name and type problems (collected by the typechecker and resolver, never raised).
The compiler maps an :class:`ExprIssue` onto a file position by adding the offset of the
expression inside the YAML scalar.
"""

from __future__ import annotations

from dataclasses import dataclass

CODES: dict[str, str] = {
    "E3001": "syntax error",
    "E3002": "expected an expression",
    "E3003": "unclosed bracket",
    "E3004": "unterminated string",
    "E3005": "unexpected character",
    "E3006": "invalid escape sequence",
    "E3007": "unmatched closing bracket",
    "E3008": "empty expression",
    "E3009": "chained comparison",
    "E3010": "expression nested too deeply",
    "E3011": "expression too large",
    "E4001": "unknown name",
    "E4002": "unknown function",
    "E4003": "wrong number of arguments",
    "E4004": "argument type mismatch",
    "E4005": "argument must be a constant",
    "E4006": "invalid constant",
    "E4007": "cycle between derived features",
    "E4008": "aggregate used outside a feature-group definition",
    "E4009": "analyzer used outside preprocess",
    "E4010": "condition must be bool",
    "E4011": "incompatible branch types",
    "E4012": "operator type mismatch",
    "E4013": "aggregation must be one aggregate call",
    "E4014": "nested aggregate or analyzer",
    "E4015": "unsupported datetime pattern",
    "E4016": "unknown time zone",
    "E4017": "a list where a single value is needed",
}


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


class ExprSyntaxError(ValueError):
    """Raised by :func:`mlc.dsl.parse_expression`; carries the located :class:`ExprIssue`."""

    def __init__(self, issue: ExprIssue) -> None:
        super().__init__(f"{issue.code} at {issue.start}: {issue.message}")
        self.issue = issue
