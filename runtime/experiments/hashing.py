"""The experiment hash (normative; docs/experiments.md "The hash").

    text(v)      = v for a string; decimal digits (leading '-') for an int64
    bucket(s, v) = uint64_big_endian(sha256(utf8(s) || 0x00 || utf8(text(v)))[0:8]) mod 10000

SHA-256 is in every language's standard library, so services in other languages assign
identically; ``docs/experiments-hash-vectors.json`` holds test vectors.
"""

from __future__ import annotations

import hashlib
from mlc.core.errors import MlcError

BUCKETS = 10_000
SEPARATOR = "\x00"


class UnitError(MlcError, ValueError):
    """A value that cannot be a randomisation unit (null, float, bool ...)."""


def unit_text(value: object) -> str:
    """The text a unit value is hashed as: strings as they are, integers in decimal."""
    if isinstance(value, bool) or value is None:
        raise UnitError(f"{value!r} cannot be a randomisation unit (use a string or an integer)")
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu":   # numpy integer
        return str(int(value))
    raise UnitError(f"{value!r} cannot be a randomisation unit (use a string or an integer)")


def hash64(text: str) -> int:
    """The first 8 bytes of sha256(utf8(text)) as a big-endian unsigned integer."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def bucket(salt: str, unit: object) -> int:
    """The bucket (0 .. 9,999) of a unit under a salt."""
    return text_bucket(salt, unit_text(unit))


def text_bucket(salt: str, text: str) -> int:
    """``bucket`` of a unit already turned into its text (``unit_text``)."""
    return hash64(salt + SEPARATOR + text) % BUCKETS
