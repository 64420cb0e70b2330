"""`mlc diff --format text`: a review for a terminal (docs/review.md, Output).

Sections, in order: the header (``base -> head``), PROBLEMS (when a side cannot be read), the
semantic diff grouped by IR section, IMPACT, ARTIFACTS, and the summary line. Coloured with Rich
when ``color`` is true, plain text (no escape codes at all) otherwise.

The small helpers at the top (``printable``, ``value_text``, ``change_line``,
``changes_by_section``, ``summary_of``) are shared with the Markdown and JSON renderers, so the
three formats say the same thing in the same words.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Iterable

from .model import (ADD, CHANGE, DANGEROUS, ERROR, REMOVE, SECTIONS, ArtifactChange, Change,
                    Impact, Problem, Review)
from .impact import summary_line

VALUE_WIDTH = 120                  # a value longer than this (as compact JSON) is cut with "…"
ELLIPSIS = "…"
OP_STYLES = {ADD: "green", REMOVE: "red", CHANGE: "yellow"}
LEVEL_MARKERS = {DANGEROUS: "DANGEROUS", ERROR: "ERROR"}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# --- shared helpers (text, Markdown, JSON) ----------------------------------------------------

def _escape_control(match: re.Match) -> str:
    """A control character as a visible escape (``\\n``, ``\\x1b``)."""
    char = match.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")


def printable(text: Any) -> str:
    """``text`` on one line, every control character (newline, ESC ...) shown as an escape, so a
    name can neither break a line nor smuggle terminal codes."""
    return _CONTROL.sub(_escape_control, str(text))


def printable_block(text: str) -> str:
    """Multi-line ``text`` kept as it is, except control characters other than newline and tab
    (ESC, carriage return ...), which are shown as escapes."""
    return _CONTROL_BUT_LINES.sub(_escape_control, text.replace("\r\n", "\n"))


def truncate(text: str, width: int = VALUE_WIDTH) -> str:
    """``text`` cut to at most ``width`` characters, ending in "…" when cut."""
    return text if len(text) <= width else text[:width - 1] + ELLIPSIS


def value_text(value: Any, width: int = VALUE_WIDTH) -> str:
    """A value as compact JSON on one line (strings quoted, newlines escaped), cut at ``width``."""
    return truncate(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str), width)


def change_line(change: Change, width: int = VALUE_WIDTH) -> str:
    """``+ path: new``, ``- path: old`` or ``~ path: old -> new`` on one line."""
    path = printable(change.dotted)
    if change.op == ADD:
        return f"{ADD} {path}: {value_text(change.new, width)}"
    if change.op == REMOVE:
        return f"{REMOVE} {path}: {value_text(change.old, width)}"
    return f"{change.op} {path}: {value_text(change.old, width)} -> {value_text(change.new, width)}"


def changes_by_section(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    """Changes grouped by IR section: the sections in report order (``model.SECTIONS``), then any
    other section in order of first appearance; changes keep their order inside a section."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.section, []).append(change)
    known = [name for name, _ in SECTIONS if name in groups]
    others = [name for name in groups if name not in known]
    return [(name, groups[name]) for name in known + others]


def summary_of(review: Review) -> str:
    """The Terraform-style summary line (``review.impact.summary_line``)."""
    return summary_line(review.plan, review.impacts, compiled=not review.problems)


def impact_words(impact: Impact) -> tuple[str, str, str]:
    """(subjects, reason, code) of an impact as one-line text ("" for what is missing)."""
    subjects = ", ".join(printable(s) for s in impact.subjects)
    return subjects, printable(impact.reason), printable(impact.code) if impact.code else ""


def artifact_counts(artifact: ArtifactChange) -> str:
    """``+12 -3`` for a text file, "" when the line counts are unknown (binary, one side only)."""
    parts = []
    if artifact.added_lines is not None:
        parts.append(f"+{artifact.added_lines}")
    if artifact.removed_lines is not None:
        parts.append(f"-{artifact.removed_lines}")
    return " ".join(parts)


# --- the text renderer -----------------------------------------------------------------------

def render_text(review: Review, color: bool, width: int = 100) -> str:
    """The review as terminal text: coloured with Rich when ``color``, plain otherwise."""
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=color, no_color=not color, width=width,
                      highlight=False, markup=False, emoji=False, legacy_windows=False,
                      color_system="standard" if color else None)
    for block in _blocks(review):
        for line in block:
            console.print(line, soft_wrap=True)
        console.print()
    console.print(_styled(summary_of(review), "bold"), soft_wrap=True)
    return console.file.getvalue()


def _blocks(review: Review) -> list[list]:
    """The sections before the summary line, each a list of Rich Text lines (empty ones left out)."""
    blocks = [[_styled(f"{printable(review.base_label)} -> {printable(review.head_label)}", "bold")],
              _problem_lines(review.problems)]
    blocks += [_section_lines(section, changes) for section, changes in changes_by_section(review.changes)]
    blocks += [_impact_lines(review.impacts), _artifact_lines(review.artifacts)]
    return [block for block in blocks if block]


def _styled(text: str, style: str = ""):
    """One Rich Text line."""
    from rich.text import Text

    return Text(text, style=style)


def _heading(title: str):
    return _styled(title, "bold underline")


def _problem_lines(problems: list[Problem]) -> list:
    """PROBLEMS: which side could not be read, then its diagnostics verbatim."""
    if not problems:
        return []
    lines = [_heading("PROBLEMS")]
    for problem in problems:
        lines.append(_styled(f"{printable(problem.side)}: {printable(problem.label)}", "bold red"))
        lines += [_styled(line) for line in printable_block(problem.text).rstrip("\n").split("\n")]
    return lines


def _section_lines(section: str, changes: list[Change]) -> list:
    """One IR section's heading and its changes, the op coloured."""
    lines = [_heading(printable(section))]
    for change in changes:
        text = change_line(change)
        line = _styled("  ")
        line.append(text[:1], style="bold " + OP_STYLES.get(change.op, ""))
        line.append(text[1:], style=OP_STYLES.get(change.op, ""))
        lines.append(line)
    return lines


def _impact_lines(impacts: list[Impact]) -> list:
    """IMPACT: kind, level marker (dangerous and error only), subjects, reason, code."""
    if not impacts:
        return []
    kind_width = max(len(printable(i.kind)) for i in impacts)
    level_width = max((len(LEVEL_MARKERS.get(i.level, "")) for i in impacts), default=0)
    lines = [_heading("IMPACT")]
    for impact in impacts:
        subjects, reason, code = impact_words(impact)
        line = _styled("  ")
        line.append(printable(impact.kind).ljust(kind_width), style="bold")
        if level_width:
            line.append("  ")
            line.append(LEVEL_MARKERS.get(impact.level, "").ljust(level_width), style="bold red")
        line.append(f"  {subjects}", style="cyan")
        if reason:
            line.append(f"  {reason}")
        if code:
            line.append(f"  [{code}]", style="dim")
        lines.append(line)
    return lines


def _artifact_lines(artifacts: list[ArtifactChange]) -> list:
    """ARTIFACTS: op, path and line counts of each file that moved."""
    if not artifacts:
        return []
    lines = [_heading("ARTIFACTS")]
    for artifact in artifacts:
        line = _styled("  ")
        line.append(f"{artifact.op} {printable(artifact.path)}", style=OP_STYLES.get(artifact.op, ""))
        counts = artifact_counts(artifact)
        if counts:
            line.append(f"  {counts}", style="dim")
        lines.append(line)
    return lines
