"""IANA timezone names, checked with the standard library's zoneinfo."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def is_timezone(name: str) -> bool:
    if name == "UTC":
        return True
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
