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


# --- time zones of expressions (`hour(ts, tz)` ...) --------------------------------------------
# Both executors read one tz database: Spark its JVM's (java.time), the NumPy executor the `tzdata`
# package (a dependency), never the operating system's files, whose pre-1970 history differs
# between builds (Debian keeps the `backzone` data that Java and `tzdata` merge away).


@lru_cache(maxsize=1)
def expression_timezones() -> frozenset[str]:
    """Names accepted by expressions: `UTC` and the `Area/Location` names of the `tzdata` package
    (not the legacy `EST5EDT`, `Cuba`, `ROC` ..., some of which Java does not know)."""
    from importlib import resources

    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(name for name in names if "/" in name) | {"UTC"}


@lru_cache(maxsize=64)
def tzdata_zone(name: str):
    """The `zoneinfo.ZoneInfo` of ``name`` read from the `tzdata` package (KeyError if unknown)."""
    import zoneinfo
    from importlib import resources

    if name not in expression_timezones():
        raise KeyError(f"unknown time zone `{name}`")
    with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
        return zoneinfo.ZoneInfo.from_file(data, key=name)
