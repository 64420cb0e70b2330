"""`mlc diff --format markdown`: a review as a pull-request comment (docs/review.md, Output).

In order: a title (``### mlc diff: base → head``), the summary line in bold, a line saying what
was cut (only when something was), a callout (``> [!CAUTION]`` with the dangerous and error
impacts, ``> [!NOTE]`` when nothing changed), the problems in fenced blocks, the impact table,
the affected part of the lineage as a mermaid diagram, the semantic diff and the artifact diff in
collapsible ``<details>`` blocks, and a footer (``<sub>mlc VERSION · exit code N</sub>``).

Everything taken from specs (labels, names, reasons, values) is escaped: in text and table cells
Markdown punctuation is backslash-escaped and ``& < > "`` become entities, so no name can open
HTML, a link, emphasis or a table cell; in fenced blocks the fence is longer than any backtick
run inside. The only raw HTML is ``<details>``, ``<summary>`` and ``<sub>``.

The comment stays within ``limit`` characters (GitHub's 65,536 by default): the collapsible
details are cut first (largest first, a line says how many lines were left out), then the
mermaid diagram is dropped, then the problems, impact table and callout are cut; the comment
stays well-formed (fences and ``<details>`` closed) and says what was cut under the summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .model import ADD, CHANGE, DANGEROUS, ERROR, REMOVE, ArtifactChange, Change, Impact, Problem, Review
from .render_text import (artifact_counts, change_line, changes_by_section, impact_words, printable,
                          printable_block, summary_of)
from .lineage import affected, to_mermaid
from .. import __version__

GITHUB_COMMENT_LIMIT = 65_536
MIN_LIMIT = 4_096                  # below this even the title, summary and footer may not fit
LABEL_WIDTH = 400                  # escaped characters of a side's label in the title
SUMMARY_WIDTH = 1_000              # escaped characters of the summary line
ELLIPSIS = "…"

# stages of cutting, in order: the collapsible details, then the diagram, then the rest
CUT_DETAILS, DROP_DIAGRAM, CUT_REST = 0, 1, 2

_MARKDOWN_PUNCTUATION = set("\\`*_[]|~!#$")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_BACKTICK_RUN = re.compile(r"`+")
_OP_WORDS = {ADD: "added", REMOVE: "removed", CHANGE: "changed"}
_LEVEL_CELLS = {DANGEROUS: "**DANGEROUS**", ERROR: "**ERROR**"}


# --- escaping ---------------------------------------------------------------------------------

def _escape_char(char: str) -> str:
    if char in _HTML_ENTITIES:
        return _HTML_ENTITIES[char]
    return "\\" + char if char in _MARKDOWN_PUNCTUATION else char


def md_text(text: object, width: int | None = None) -> str:
    """``text`` as inline Markdown that renders as exactly that text: on one line (control
    characters shown as escapes), punctuation escaped, ``& < > "`` as entities; cut with "…" so
    the escaped text has at most ``width`` characters."""
    escaped = [_escape_char(char) for char in printable(text)]
    if width is None or sum(map(len, escaped)) <= width:
        return "".join(escaped)
    out, size = [], 0
    for piece in escaped:
        if size + len(piece) > width - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + ELLIPSIS


_QUOTED = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def md_quoted(text: object) -> str:
    """Like :func:`md_text`, but `quoted` names (as impact reasons write them) become code
    spans. A code span's content is literal for Markdown and HTML alike; only ``|`` is
    escaped, because GitHub tables split cells on it even inside code spans."""
    plain = printable(text)
    out, last = [], 0
    for match in _QUOTED.finditer(plain):
        out.append(md_text(plain[last:match.start()]))
        out.append("`" + match.group(1).replace("|", "\\|") + "`")
        last = match.end()
    out.append(md_text(plain[last:]))
    return "".join(out)


def fence_for(lines: list[str]) -> str:
    """A backtick fence longer than any backtick run in ``lines`` (at least three)."""
    longest = max((len(run) for line in lines for run in _BACKTICK_RUN.findall(line)), default=0)
    return "`" * max(3, longest + 1)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


# --- blocks -----------------------------------------------------------------------------------

@dataclass
class _Block:
    """A part of the comment: ``head`` lines, then ``opening`` (a fence, a table's header),
    ``items`` (what can be cut) and ``close`` (the closing fence), left out together when every
    item is cut; then a note saying how many items were cut, then ``end`` (``</details>``).
    A block with ``stage`` None is never cut; ``drop_only`` blocks go whole (a diagram)."""
    name: str
    head: list[str]
    items: list[str] = field(default_factory=list)
    opening: list[str] = field(default_factory=list)
    close: list[str] = field(default_factory=list)
    end: list[str] = field(default_factory=list)
    stage: int | None = None
    unit: str = "lines"
    drop_only: bool = False
    kept: int = -1                 # items kept; -1 until cut
    dropped: bool = False

    def __post_init__(self) -> None:
        if self.kept < 0:
            self.kept = len(self.items)

    @property
    def cut(self) -> bool:
        return self.dropped or self.kept < len(self.items)

    def render(self) -> str:
        """The block as Markdown ("" when dropped)."""
        if self.dropped:
            return ""
        lines = list(self.head)
        if self.kept or not self.items:
            lines += self.opening + self.items[:self.kept] + self.close
        left_out = len(self.items) - self.kept
        if left_out:
            lines += ([""] if self.kept else []) + [f"{ELLIPSIS} {left_out:,} more {self.unit} not shown (comment limit)"]
        return "\n".join(lines + self.end)

    def can_shrink(self) -> bool:
        return not self.dropped and (self.drop_only or self.kept > 0)

    def shrink_by(self, chars: int) -> None:
        """Keep fewer items, so the block is at least ``chars`` shorter (or drop it whole)."""
        if self.drop_only:
            self.dropped = True
            return
        removed, keep = 0, self.kept
        while keep > 0 and removed < chars:
            keep -= 1
            removed += len(self.items[keep]) + 1
        self.kept = keep

    def what_was_cut(self) -> str:
        if self.dropped:
            return self.name
        return f"{self.name} ({self.kept:,} of {len(self.items):,} {self.unit} shown)"


def _title(review: Review) -> _Block:
    base = md_text(review.base_label, LABEL_WIDTH)
    head = md_text(review.head_label, LABEL_WIDTH)
    return _Block("title", [f"### mlc diff: {base} → {head}"])


def _summary(review: Review) -> _Block:
    return _Block("summary", [f"**{md_text(summary_of(review), SUMMARY_WIDTH)}**"])


def _impact_sentence(impact: Impact) -> str:
    """``**DANGEROUS** traffic — subjects: reason (W5104)``, escaped."""
    subjects, reason, code = impact_words(impact)
    text = f"**{md_text(impact.level.upper())}** {md_text(impact.kind)} — {md_text(subjects)}"
    text += f": {md_quoted(reason)}" if reason else ""
    return text + (f" ({md_text(code)})" if code else "")


def _callout(review: Review) -> _Block | None:
    """``> [!CAUTION]`` with the dangerous and error impacts, ``> [!NOTE]`` when nothing changed."""
    serious = [i for i in review.impacts if i.level in (DANGEROUS, ERROR)]
    if serious:
        head = ["> [!CAUTION]", "> This change needs attention before it is merged:"]
        return _Block("dangerous and error impacts", head, [f"> - {_impact_sentence(i)}" for i in serious],
                      opening=[">"], stage=CUT_REST, unit="impacts")
    if review.exit_code == 0:
        return _Block("note", ["> [!NOTE]", "> No changes. Both sides have the same IR and artifacts."])
    return None


def _problem(problem: Problem, first: bool) -> _Block:
    """A side that cannot be read: its label, then its diagnostics in a fenced block."""
    lines = printable_block(problem.text).rstrip("\n").split("\n")
    fence = fence_for(lines)
    head = (["#### Problems", ""] if first else []) + [
        f"**{md_text(problem.side)}** could not be read: {md_text(problem.label)}", ""]
    return _Block(f"problems of {printable(problem.side)}", head, lines, opening=[fence + "text"],
                  close=[fence], stage=CUT_REST)


def _cell(text: str) -> str:
    return md_text(text) or " "


def _impact_table(impacts: list[Impact]) -> _Block | None:
    """| impact | level | subjects | reason |, one row an impact."""
    if not impacts:
        return None
    rows = []
    for impact in impacts:
        subjects, reason, code = impact_words(impact)
        level = _LEVEL_CELLS.get(impact.level, md_text(impact.level))
        reason_cell = md_quoted(f"{reason} ({code})" if code else reason) or " "
        rows.append(f"| {_cell(impact.kind)} | {level} | {_cell(subjects)} | {reason_cell} |")
    header = ["| impact | level | subjects | reason |", "|---|---|---|---|"]
    return _Block("impact table", ["#### Impact", ""], rows, opening=header, stage=CUT_REST, unit="rows")


def _lineage(review: Review) -> _Block | None:
    """The affected part of the lineage as a mermaid diagram, changed nodes highlighted."""
    if review.graph is None or not review.changed_nodes:
        return None

    diagram = to_mermaid(affected(review.graph, review.changed_nodes), highlight=review.changed_nodes)
    lines = diagram.rstrip("\n").split("\n")
    fence = fence_for(lines)
    return _Block("lineage diagram", ["#### Lineage (affected part)", ""], lines, opening=[fence + "mermaid"],
                  close=[fence], stage=DROP_DIAGRAM, drop_only=True)


def _details(summary: str) -> list[str]:
    """The opening of a collapsible block (the blank line lets Markdown resume inside)."""
    return [f"<details><summary>{summary}</summary>", ""]


def _semantic_diff(changes: list[Change]) -> _Block | None:
    """The semantic diff in a collapsible ```diff block, a ``@@ section @@`` line per section."""
    if not changes:
        return None
    lines = []
    for section, in_section in changes_by_section(changes):
        lines.append(f"@@ {printable(section)} @@")
        lines += [change_line(change) for change in in_section]
    fence = fence_for(lines)
    head = _details(f"Semantic diff ({_plural(len(changes), 'change')})")
    return _Block("semantic diff", head, lines, opening=[fence + "diff"], close=[fence], end=["", "</details>"],
                  stage=CUT_DETAILS)


def _artifact_row(artifact: ArtifactChange) -> str:
    op = _OP_WORDS.get(artifact.op, md_text(artifact.op))
    return f"| {op} | {_cell(artifact.path)} | {_cell(artifact_counts(artifact))} |"


def _artifact_table(artifacts: list[ArtifactChange]) -> _Block | None:
    """The artifact diff in a collapsible table: change, path, lines added and removed."""
    if not artifacts:
        return None
    head = _details(f"Artifacts ({_plural(len(artifacts), 'file')})")
    header = ["| change | path | lines |", "|---|---|---|"]
    return _Block("artifact table", head, [_artifact_row(a) for a in artifacts], opening=header,
                  end=["", "</details>"], stage=CUT_DETAILS, unit="rows")


def _footer(review: Review) -> _Block:
    return _Block("footer", [f"<sub>mlc {md_text(__version__)} · exit code {review.exit_code}</sub>"])


def _cut_notice(blocks: list[_Block], limit: int) -> _Block:
    """The line under the summary that says what was cut and why."""
    where = "GitHub's 65,536-character" if limit == GITHUB_COMMENT_LIMIT else f"the {limit:,}-character"
    cut = "; ".join(b.what_was_cut() for b in blocks if b.cut)
    return _Block("notice", [f"Some details were cut to fit {where} comment limit; run mlc diff locally "
                             f"for the full output. Cut: {md_text(cut, 600)}."])


# --- assembly ---------------------------------------------------------------------------------

def _blocks(review: Review) -> list[_Block]:
    """Every block of the comment after the title and summary, in order, before any cut."""
    blocks = [_callout(review)]
    blocks += [_problem(p, first=(n == 0)) for n, p in enumerate(review.problems)]
    blocks += [_impact_table(review.impacts), _lineage(review), _semantic_diff(review.changes),
               _artifact_table(review.artifacts), _footer(review)]
    return [b for b in blocks if b is not None]


def _join(top: list[_Block], blocks: list[_Block], limit: int) -> str:
    """The comment: title and summary, the cut notice when anything was cut, then the blocks."""
    notice = [_cut_notice(blocks, limit)] if any(b.cut for b in blocks) else []
    parts = [b.render() for b in top + notice + blocks]
    return "\n\n".join(p for p in parts if p) + "\n"


def _fit(top: list[_Block], blocks: list[_Block], limit: int) -> str:
    """Cut blocks stage by stage, the largest first, until the comment fits in ``limit``."""
    text = _join(top, blocks, limit)
    for stage in (CUT_DETAILS, DROP_DIAGRAM, CUT_REST):
        while len(text) > limit:
            candidates = [b for b in blocks if b.stage == stage and b.can_shrink()]
            if not candidates:
                break
            largest = max(candidates, key=lambda b: len(b.render()))
            # the notice grows as blocks are cut: ask for some room beyond the excess
            largest.shrink_by(len(text) - limit + 300)
            text = _join(top, blocks, limit)
    if len(text) > limit:    # only the blocks that are never cut are left: keep the essentials
        for block in blocks:
            block.dropped = block.dropped or block.stage is not None
        text = _join(top, blocks, limit)
    return text


def render_markdown(review: Review, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The review as a pull-request comment of at most ``limit`` characters."""
    if limit < MIN_LIMIT:
        raise ValueError(f"a Markdown review needs a limit of at least {MIN_LIMIT:,} characters, not {limit:,}")
    return _fit([_title(review), _summary(review)], _blocks(review), limit)
