"""The data of one review (`mlc diff`): what changed, what it forces, what artifacts move.

Every stage fills these plain, frozen records; the renderers (text, Markdown, JSON) only read
them. Values are JSON data (``mlc.core.ir.to_jsonable`` form), never IR objects, so a result
renders the same from a spec, a build folder or a git revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ADD, REMOVE, CHANGE = "+", "-", "~"

# impact kinds, in the order they are reported
RETRAIN, BACKFILL, REMATERIALISE, CONTRACT, TRAFFIC, DELETION = (
    "retrain", "backfill", "re-materialise", "serving contract", "traffic", "deletion")
IMPACT_KINDS = (RETRAIN, BACKFILL, REMATERIALISE, CONTRACT, TRAFFIC, DELETION)

# impact levels
INFO, DANGEROUS, ERROR = "info", "dangerous", "error"

# exit codes (diff(1) style, plus 3)
EXIT_SAME, EXIT_CHANGED, EXIT_TROUBLE, EXIT_DANGEROUS = 0, 1, 2, 3

# IR sections, in report order, and the entity kind of their named items
SECTIONS = (
    ("sources", "source"), ("entities", "entity"), ("feature_groups", "feature group"),
    ("inputs", "input"), ("derived", "feature"), ("analyzers", "analyzer"), ("models", "model"),
    ("deployment", "deployment"), ("layers", "layer"), ("experiments", "experiment"),
    ("switchbacks", "switchback"), ("spec", "spec"),
)


@dataclass(frozen=True)
class Change:
    """One semantic change. ``section`` is an IR section (``models``); ``entity`` the name of the
    item the change is in (``ctr``; empty for a section-wide value such as ``deployment``);
    ``path`` the property path inside the item (``("training", "epochs")``; empty when the
    whole item is added or removed)."""
    op: str                        # ADD, REMOVE, CHANGE
    section: str
    entity: str
    path: tuple[str, ...]
    old: Any = None
    new: Any = None

    @property
    def dotted(self) -> str:
        """``models.ctr.training.epochs``: the property path as users read it."""
        parts = [self.section] + ([self.entity] if self.entity else []) + list(self.path)
        return ".".join(str(p) for p in parts)


@dataclass(frozen=True)
class Impact:
    """One thing the change forces. ``subjects``: what it applies to (``ctr@north``,
    ``user_activity``); ``reason``: why, in words, naming the change."""
    kind: str                      # one of IMPACT_KINDS
    level: str                     # INFO, DANGEROUS, ERROR
    subjects: tuple[str, ...]
    reason: str
    code: str | None = None        # a diagnostic code when one applies (W5104 ...)


@dataclass(frozen=True)
class ArtifactChange:
    op: str                        # ADD, REMOVE, CHANGE
    path: str
    old_sha256: str | None
    new_sha256: str | None
    added_lines: int | None = None     # text diff size when both texts are known
    removed_lines: int | None = None


@dataclass(frozen=True)
class Plan:
    """Terraform-style counts of named IR items (sources, groups, features, models, shards,
    experiments ...) added, changed and removed."""
    add: int = 0
    change: int = 0
    destroy: int = 0


@dataclass(frozen=True)
class Problem:
    """A spec that cannot be read or is invalid (exit 2): the rendered, located diagnostics."""
    side: str                      # "base" or "head"
    label: str                     # what was loaded (a path, `origin/main:specs/x.yaml`)
    text: str                      # diagnostics rendered as text (file:line:col, caret, hint)
    codes: tuple[str, ...] = ()


@dataclass
class Review:
    base_label: str
    head_label: str
    changes: list[Change] = field(default_factory=list)
    impacts: list[Impact] = field(default_factory=list)
    artifacts: list[ArtifactChange] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    problems: list[Problem] = field(default_factory=list)
    graph: Any = None              # mlc.review.lineage.Graph of HEAD (or BASE when HEAD is invalid)
    changed_nodes: frozenset[str] = frozenset()   # lineage node ids touched by the changes

    @property
    def dangerous(self) -> bool:
        return any(i.level == DANGEROUS for i in self.impacts)

    @property
    def exit_code(self) -> int:
        if self.problems or any(i.level == ERROR for i in self.impacts):
            return EXIT_TROUBLE
        if self.dangerous:
            return EXIT_DANGEROUS
        return EXIT_CHANGED if (self.changes or self.artifacts) else EXIT_SAME
