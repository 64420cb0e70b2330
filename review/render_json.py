"""`mlc diff --format json`: a review as data, for tools (docs/review.md, Output).

One JSON object, keys in a fixed order, indented, ending in a newline::

    {"base", "head", "summary", "exit_code", "dangerous", "plan": {"add", "change", "destroy"},
     "changes": [{"op", "path", "section", "entity", "property", "old", "new"}],
     "impacts": [{"kind", "level", "subjects", "reason", "code"}],
     "artifacts": [{"op", "path", "old_sha256", "new_sha256", "added_lines", "removed_lines"}],
     "problems": [{"side", "label", "text", "codes"}]}

``path`` is the dotted path users read (``models.ctr.training.epochs``); ``property`` the part
inside the item (``training.epochs``, "" when the whole item was added or removed). Values are
full, never cut.
"""

from __future__ import annotations

import json
from typing import Any

from .model import ArtifactChange, Change, Impact, Problem, Review
from .render_text import summary_of


def render_json(review: Review) -> str:
    """The review as one indented JSON object and a newline; the same review gives the same text."""
    return json.dumps(review_data(review), indent=2, sort_keys=False, ensure_ascii=False,
                      default=str) + "\n"


def review_data(review: Review) -> dict[str, Any]:
    """The review as JSON data, keys in the documented order."""
    return {
        "base": review.base_label,
        "head": review.head_label,
        "summary": summary_of(review),
        "exit_code": review.exit_code,
        "dangerous": review.dangerous,
        "plan": {"add": review.plan.add, "change": review.plan.change, "destroy": review.plan.destroy},
        "changes": [_change(c) for c in review.changes],
        "impacts": [_impact(i) for i in review.impacts],
        "artifacts": [_artifact(a) for a in review.artifacts],
        "problems": [_problem(p) for p in review.problems],
    }


def _change(change: Change) -> dict[str, Any]:
    return {"op": change.op, "path": change.dotted, "section": change.section, "entity": change.entity,
            "property": ".".join(str(p) for p in change.path), "old": change.old, "new": change.new}


def _impact(impact: Impact) -> dict[str, Any]:
    return {"kind": impact.kind, "level": impact.level, "subjects": list(impact.subjects),
            "reason": impact.reason, "code": impact.code}


def _artifact(artifact: ArtifactChange) -> dict[str, Any]:
    return {"op": artifact.op, "path": artifact.path, "old_sha256": artifact.old_sha256,
            "new_sha256": artifact.new_sha256, "added_lines": artifact.added_lines,
            "removed_lines": artifact.removed_lines}


def _problem(problem: Problem) -> dict[str, Any]:
    return {"side": problem.side, "label": problem.label, "text": problem.text,
            "codes": list(problem.codes)}
