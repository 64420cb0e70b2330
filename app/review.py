"""Reviewing specs: `diff` (semantic diff, impact, artifacts of a spec change) and `graph` (the
lineage of a spec)."""

from __future__ import annotations

from typing import Any

from mlc.app.common import built, Diagnostics, unshown
from mlc.core.ir import to_jsonable
from mlc.review.lineage import lineage, to_dot, to_mermaid
from mlc.review.render_json import render_json
from mlc.review.render_markdown import render_markdown
from mlc.review.render_text import render_text


def diff(refs: list[str], base: str | None = None, env: str | None = None) -> Any:
    """The review of a change (``mlc.review.run.run_review``); UsageError for bad references."""
    from mlc.review.run import run_review

    return run_review(refs, base, env)


def render_review(review: Any, fmt: str, colour: bool) -> str:
    """The review as text, markdown or json."""
    if fmt == "markdown":
        return render_markdown(review)
    if fmt == "json":
        return render_json(review)

    return render_text(review, color=colour)


def graph(spec: str, fmt: str = "mermaid", env: str | None = None, diagnostics: Diagnostics = unshown) -> str:
    """The lineage of a spec as mermaid or dot."""

    result = built(spec, env, diagnostics)
    found = lineage(to_jsonable(result.ir))
    return to_dot(found) if fmt == "dot" else to_mermaid(found)
