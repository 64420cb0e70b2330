"""Datetime formats of timestamp columns (`format:` of a column, `timestamp_format:` of a CSV source).

A format is written as a Spark datetime pattern, restricted to the fields mlc reads identically
offline (Spark, ``mlc.runtime.features.timestamp_formats``) and online (the predictor), with its own
matcher instead of Spark's parser (whose leniency depends on the Spark version and on
``spark.sql.legacy.timeParserPolicy``, and which fails a whole job on some values):

=========  =====================================================================
``yyyy``   year, exactly 4 digits (0001-9999)
``yy``     year 2000-2099, exactly 2 digits (Spark's base year 2000: `14` is 2014)
``MM``     month 01-12;  ``dd`` day of the month;  ``HH`` hour 00-23
``mm``     minute;  ``ss`` second (no leap second)
``S``..``SSSSSS``  fraction of the second: 1 up to that many digits (Spark reads `.12` with `SSS`)
``XXX``    zone offset: ``Z`` or ``+HH:MM`` / ``-HH:MM`` (subtracted; no offset means UTC)
``'text'`` literal text (``''`` is a quote); any other character except a letter, ``[ ] { } #``
           stands for itself
=========  =====================================================================

Each field at most once; fields that are absent take 1970, month 1, day 1, 0. Whitespace around
the value is ignored; the rest of the value must match the whole pattern. Dates that do not exist
(Feb 30) or fall outside years 0001-9999 UTC are not timestamps. A value made only of digits that
is shorter than a pattern made only of digit fields (``yyMMddHH``: 8) is left-padded with zeros
first, so an integer column keeps leading zeros it lost (``5010100`` is ``05010100``).

This module is pure Python (no Spark, no NumPy): the compiler checks a format with
:func:`compile_format`; the runtime builds both executors from the same :class:`DatetimeFormat`.
"""

from __future__ import annotations

from dataclasses import dataclass
from mlc.core.errors import MlcError

# field -> (pattern letter runs accepted, regex of the value)
_FIELDS = {
    "yyyy": ("year", "([0-9]{4})"),
    "yy": ("year2", "([0-9]{2})"),
    "MM": ("month", "([0-9]{2})"),
    "dd": ("day", "([0-9]{2})"),
    "HH": ("hour", "([0-9]{2})"),
    "mm": ("minute", "([0-9]{2})"),
    "ss": ("second", "([0-9]{2})"),
    "XXX": ("offset", "(Z|([+-])([0-9]{2}):([0-9]{2}))"),
}
SUPPORTED = "yyyy, yy, MM, dd, HH, mm, ss, S to SSSSSS, XXX, 'quoted text' and other non-letters"
# Letters Spark itself refuses (week-based fields since Spark 3.0, and letters it never had).
_SPARK_INVALID = set("YwWuecAnNpBq")
_SPECIAL = set("[]{}#")


class FormatError(MlcError, ValueError):
    """A format mlc does not read: ``message``, and the offending characters [start, end)."""

    def __init__(self, message: str, start: int, end: int):
        super().__init__(message)
        self.start, self.end = start, end


@dataclass(frozen=True)
class DatetimeFormat:
    pattern: str
    regex: str                      # the value without surrounding whitespace; capturing groups below
    groups: tuple[tuple[str, int], ...]   # field -> group index (1-based) in ``regex``
    digits_width: int | None        # the width of a pattern made only of digit fields, else None

    def group(self, field: str) -> int | None:
        return dict(self.groups).get(field)


def compile_format(pattern: str) -> DatetimeFormat:
    """The format of ``pattern``, or FormatError saying what is wrong and where."""
    parts, groups, seen = [], [], {}
    index, group, digits_only, width = 0, 0, True, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "'":
            text, index = _quoted(pattern, index)
            parts.append(_literal(text))
            digits_only = False
            continue
        if char.isascii() and char.isalpha():
            end = index
            while end < len(pattern) and pattern[end] == char:
                end += 1
            run = pattern[index:end]
            field, regex = _field(run, index, end)
            if field in seen or (field in ("year", "year2") and ({"year", "year2"} & set(seen))):
                raise FormatError(f"`{run}` repeats a field of format `{pattern}`", index, end)
            seen[field] = index
            _check_fraction_end(pattern, field, run, index, end)
            groups.append((field, group + 1))
            group += regex.count("(")
            parts.append(regex)
            digits_only = digits_only and field != "offset" and field != "fraction"
            width += len(run)
            index = end
            continue
        if char in _SPECIAL:
            why = ("optional sections `[...]` are not supported" if char in "[]"
                   else f"`{char}` is reserved in Spark datetime patterns")
            raise FormatError(f"{why}; quote literal text: `'{char}'`", index, index + 1)
        parts.append(_literal(char))
        digits_only = False
        index += 1
    if not groups:
        raise FormatError(f"format `{pattern}` has no date or time field; use {SUPPORTED}", 0, max(len(pattern), 1))
    return DatetimeFormat(pattern, "".join(parts), tuple(groups), width if digits_only else None)


def _field(run: str, start: int, end: int) -> tuple[str, str]:
    if run in _FIELDS:
        return _FIELDS[run]
    if run[0] == "S" and len(run) <= 6:
        return "fraction", f"([0-9]{{1,{len(run)}}})"
    letter = run[0]
    if letter in _SPARK_INVALID:
        why = "is a week-based field Spark refuses since 3.0" if letter in "YwWuec" else "is not a Spark pattern letter"
        raise FormatError(f"`{letter}` {why}; use {SUPPORTED}", start, end)
    raise FormatError(f"`{run}` is not a field mlc reads; use {SUPPORTED}", start, end)


def _check_fraction_end(pattern: str, field: str, run: str, start: int, end: int) -> None:
    """A fraction takes 1 to n digits: a digit field right after it would be ambiguous."""
    if field == "fraction" and end < len(pattern) and pattern[end] in "yMdHms":
        raise FormatError(f"`{run}` (a fraction of 1 to {len(run)} digits) must not be followed directly by "
                          "another number", start, end + 1)


def _quoted(pattern: str, index: int) -> tuple[str, int]:
    """``'...'`` starting at ``index`` -> (its text, the index after it); ``''`` is a quote."""
    if pattern.startswith("''", index):
        return "'", index + 2
    text, i = [], index + 1
    while i < len(pattern):
        if pattern[i] == "'":
            if pattern.startswith("''", i):
                text.append("'")
                i += 2
                continue
            return "".join(text), i + 1
        text.append(pattern[i])
        i += 1
    raise FormatError("the quoted text is not closed (write `''` for a quote)", index, len(pattern))


def _literal(text: str) -> str:
    """Regex text matching ``text`` literally, the same in Python ``re`` and ``java.util.regex``:
    ASCII punctuation and space escaped with a backslash, letters, digits and other characters as
    they are."""
    out = []
    for char in text:
        if char.isascii() and not char.isalnum():
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
