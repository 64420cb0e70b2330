"""Friendly explanations of Lark parse errors.

Lark reports the offending token and the terminals it expected; this module looks at the token
before it and at the brackets still open to say what the user most likely meant, e.g.
"expected an expression after `+`", "unclosed `(`", "unterminated string".
"""

from __future__ import annotations

from lark import Token
from lark.exceptions import LexError, UnexpectedCharacters, UnexpectedInput

from .errors import ExprIssue
from .parser import lexer

NEEDS_OPERAND = frozenset(
    {"PLUS", "MINUS", "STAR", "SLASH", "SLASHSLASH", "PERCENT", "COMPARE", "AND", "OR", "NOT", "IN", "LPAR", "LSQB", "COMMA"}
)
OPENERS = {"LPAR": "(", "LSQB": "["}
CLOSERS = {"RPAR": "LPAR", "RSQB": "LSQB"}
OPERAND_STARTS = frozenset({"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE", "NULL", "LPAR", "LSQB"})
CHARACTER_HINTS = {
    "=": "use `==` to compare",
    "!": "use `not` for negation or `!=` to compare",
    "&": "use `and`",
    "|": "use `or`",
    "`": "names are written without quotes; strings use '...' or \"...\"",
}


def explain(text: str, error: UnexpectedInput) -> ExprIssue:
    if isinstance(error, UnexpectedCharacters):
        return _bad_character(text, error.pos_in_stream)
    token = getattr(error, "token", None)
    at_end = token is None or token.type == "$END"
    position = len(text) if at_end else token.start_pos
    tokens = _tokens_before(text, position)
    previous = tokens[-1] if tokens else None
    still_open = _open_brackets(tokens)
    if at_end:
        return _unexpected_end(text, previous, still_open)
    before_previous = tokens[-2] if len(tokens) > 1 else None
    return _unexpected_token(token, previous, before_previous, still_open)


def _bad_character(text: str, position: int) -> ExprIssue:
    char = text[position]
    if char in "'\"":
        line_end = text.find("\n", position)
        end = len(text) if line_end < 0 else line_end
        return ExprIssue("E3004", "unterminated string", position, end, hint=f"close the string with {char}")
    hint = CHARACTER_HINTS.get(char)
    return ExprIssue("E3005", f"unexpected character `{char}`", position, position + 1, hint=hint)


def _tokens_before(text: str, position: int) -> list[Token]:
    tokens: list[Token] = []
    try:
        for token in lexer().lex(text[:position]):
            tokens.append(token)
    except LexError:
        pass
    return tokens


def _open_brackets(tokens: list[Token]) -> list[Token]:
    stack: list[Token] = []
    for token in tokens:
        if token.type in OPENERS:
            stack.append(token)
        elif token.type in CLOSERS and stack and stack[-1].type == CLOSERS[token.type]:
            stack.pop()
    return stack


def _at(token: Token, code: str, message: str, hint: str | None = None) -> ExprIssue:
    return ExprIssue(code, message, token.start_pos, token.end_pos, hint=hint)


def _unexpected_end(text: str, previous: Token | None, still_open: list[Token]) -> ExprIssue:
    end = len(text)
    if previous is None:
        return ExprIssue("E3008", "empty expression", 0, end)
    if previous.type == "DOT":
        return _at(previous, "E3001", "expected a name after `.`")
    if previous.type == "IN":
        return _at(previous, "E3002", "expected a list `[...]` after `in`")
    if previous.type in OPENERS or (previous.type not in NEEDS_OPERAND and still_open):
        opener = still_open[-1]
        closer = ")" if opener.type == "LPAR" else "]"
        return _at(opener, "E3003", f"unclosed `{opener.value}`", hint=f"add `{closer}`")
    if previous.type in NEEDS_OPERAND:
        return _at(previous, "E3002", f"expected an expression after `{previous.value}`")
    return ExprIssue("E3001", "unexpected end of expression", end, end)


def _unexpected_token(
    token: Token, previous: Token | None, before_previous: Token | None, still_open: list[Token]
) -> ExprIssue:
    shown = _show(token)
    if token.type in CLOSERS and not (still_open and still_open[-1].type == CLOSERS[token.type]):
        hint = f"`{still_open[-1].value}` at offset {still_open[-1].start_pos} is still open" if still_open else None
        return _at(token, "E3007", f"unmatched `{token.value}`", hint=hint)
    if previous is None:
        return _at(token, "E3002", f"expected an expression, found {shown}")
    if previous.type == "IN" and token.type != "LSQB":
        return _at(token, "E3002", f"expected a list `[...]` after `in`, found {shown}")
    if previous.type == "NOT" and before_previous is not None and before_previous.type not in NEEDS_OPERAND:
        return _at(token, "E3001", f"expected `in` after `not`, found {shown}", hint="write `x not in [...]`")
    if previous.type in NEEDS_OPERAND:
        return _at(token, "E3002", f"expected an expression after `{previous.value}`, found {shown}")
    if previous.type == "NAME" and token.type == "FLOAT" and token.value.startswith("."):
        return ExprIssue("E3001", "expected a name after `.`", token.start_pos, token.start_pos + 1)
    if previous.type == "DOT":
        return _at(token, "E3001", f"expected a name after `.`, found {shown}")
    if token.type in ("COMPARE", "IN") or (token.type == "NOT" and previous.type not in NEEDS_OPERAND):
        return _at(
            token, "E3009", "comparisons cannot be chained", hint="combine them with `and`: `a < b and b < c`"
        )
    if token.type in OPERAND_STARTS:
        in_call = bool(still_open)
        hint = "separate arguments and list items with `,`" if in_call else "is an operator missing?"
        return _at(token, "E3001", f"expected an operator before {shown}", hint=hint)
    return _at(token, "E3001", f"unexpected {shown}")


def _show(token: Token) -> str:
    value = str(token.value)
    if len(value) > 20:
        value = value[:17] + "..."
    return f"`{value}`"
