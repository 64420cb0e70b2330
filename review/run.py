"""One review from two references: load both sides, diff, impact, lineage.

    result = run_review(["build/main", "specs/ctr.mlc.yaml"])             # BASE HEAD
    result = run_review(["specs/ctr.mlc.yaml"], base_rev="origin/main")   # HEAD at REV vs working tree

The sides are loaded by :mod:`mlc.review.sides`; everything after that is pure. A side that
cannot be read or does not compile becomes a :class:`~mlc.review.model.Problem` (exit 2); when
HEAD fails and BASE compiles, the removed names HEAD still uses are reported as deletion
errors.
"""

from __future__ import annotations

from typing import Sequence

from mlc.review.model import Review
from mlc.core.errors import MlcError
from mlc.review.sides import base_for, load_side
from mlc.review.artifacts import artifact_diff
from mlc.review.impact import deletion_errors, impacts
from mlc.review.lineage import changed_nodes, lineage, merge
from mlc.review.semantic import plan_of, semantic_diff


class UsageError(MlcError, ValueError):
    """Wrong references on the command line (not a problem of a side)."""


def references(refs: Sequence[str], base_rev: str | None) -> tuple[str, str]:
    """(BASE, HEAD) from the positional references and ``--base``."""
    if base_rev is not None:
        if len(refs) != 1:
            raise UsageError("with --base REV give only HEAD (a spec in the working tree)")
        return base_for(refs[0], base_rev), refs[0]
    if len(refs) != 2:
        raise UsageError("give BASE and HEAD (specs, build folders or REV:PATH), or HEAD with --base REV")
    return refs[0], refs[1]


def run_review(refs: Sequence[str], base_rev: str | None = None, env: str | None = None) -> Review:
    base_ref, head_ref = references(refs, base_rev)
    base, head = load_side(base_ref, "base", env), load_side(head_ref, "head", env)
    return compare_sides(base, head)


def compare_sides(base, head) -> Review:
    """The review of two loaded sides (:class:`mlc.review.sides.Side`)."""
    review = Review(base.label, head.label, problems=[s.problem for s in (base, head) if s.problem is not None])
    if base.mldl is not None and head.mldl is not None:
        review.changes = semantic_diff(base.mldl, head.mldl)
        review.plan = plan_of(review.changes)
        review.impacts = impacts(base.mldl, head.mldl, base.experiments, head.experiments, head.root)
        review.artifacts = artifact_diff(base.files, head.files)
    elif base.mldl is not None and head.problem is not None:
        review.impacts = deletion_errors(base.mldl, head.problem.codes, head.problem.text)
    graphs = [lineage(side.mldl) for side in (base, head) if side.mldl is not None]
    if len(graphs) == 2:
        review.graph = merge(*graphs)
        review.changed_nodes = frozenset(changed_nodes(review.changes, *graphs))
    elif graphs:
        review.graph = graphs[0]
    return review
