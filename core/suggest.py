"""Did-you-mean suggestions shared by every stage."""

from __future__ import annotations

import difflib
from typing import Iterable


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate most similar to ``word``, or None when nothing is close."""
    pool = sorted(set(candidates))
    if not pool:
        return None
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], what: str = "") -> str | None:
    """A ready-to-print hint such as ``did you mean `clicks`?`` or a listing of valid names."""
    pool = sorted(set(candidates))
    match = closest(word, pool)
    if match is not None:
        return f"did you mean `{match}`?"
    if not pool:
        return None
    shown = ", ".join(f"`{c}`" for c in pool[:8])
    more = f" (and {len(pool) - 8} more)" if len(pool) > 8 else ""
    label = f"valid {what}" if what else "valid names"
    return f"{label}: {shown}{more}"
