"""Tile sizes of real-time feature groups (a source with `stream:`).

A real-time window ``w`` is computed from per-entity partial aggregates over fixed tiles of
``tile_seconds(w)`` seconds aligned on the Unix epoch. At time ``T`` the window holds the events
with ``floor(T - w, tile) <= t < T``: the head is exact to the microsecond, the tail moves in
whole tiles (so the window is between ``w`` and ``w + tile`` long). The batch point-in-time
computation applies the same rule to the same groups, so training and serving agree exactly.

The sizes form a chain in which each divides the next (1 s, 1 min, 5 min, 1 h, 1 d), so a time
aligned to a group's largest tile is aligned to all of its tiles (the batch/stream boundary).
"""

from __future__ import annotations

TILE_LADDER = (            # (longest window, tile), seconds: at most about 300 tiles per window
    (5 * 60, 1),
    (2 * 3600, 60),
    (86_400, 300),
    (12 * 86_400, 3600),
)
DAY = 86_400


def tile_seconds(window_seconds: int) -> int:
    """The tile of a window: 1 s up to 5 min, 1 min up to 2 h, 5 min up to 1 d, 1 h up to 12 d,
    else 1 d (docs/spec.md, "Real-time feature groups")."""
    for longest, tile in TILE_LADDER:
        if window_seconds <= longest:
            return tile
    return DAY
