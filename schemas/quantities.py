"""Kubernetes resource quantities (``500m``, ``4Gi``, ``1e3``), parsed as Kubernetes parses them.

Shared by the spec checks (E5027, ``mlc.compiler.checks``) and the backends that convert them
(``mlc.backends.spark``), so both apply the same rule.
"""

from __future__ import annotations

import re
from fractions import Fraction

from mlc.schemas import spec as S

# A quantity as Kubernetes parses it (resource.ParseQuantity), without a minus sign (resource
# amounts are never negative): a number (group 1), then a binary-SI suffix, a decimal-SI suffix or
# a decimal exponent (group 3). Its amount must fit int64, as Kubernetes caps it there.
_QUANTITY = re.compile(S.QUANTITY_PATTERN)
_SI_FACTORS = {"": 1, "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3,
               "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
               "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
MAX_QUANTITY_LENGTH = 64
_MAX_EXPONENT = 30


def quantity_value(text: str) -> Fraction:
    """The amount (cores, bytes) of a Kubernetes quantity: ``500m`` -> 1/2, ``1Ki`` -> 1024,
    ``1e3`` -> 1000. Raises ValueError saying what is wrong (completing "`TEXT` ...")."""
    match = _QUANTITY.fullmatch(text) if len(text) <= MAX_QUANTITY_LENGTH else None
    if match is None:
        negative = text.startswith("-") and _QUANTITY.fullmatch(text[1:]) is not None
        raise ValueError("is negative; resource amounts cannot be" if negative else "is not a Kubernetes quantity")
    suffix = match.group(3) or ""
    if suffix in _SI_FACTORS:
        factor = Fraction(_SI_FACTORS[suffix])
    elif abs(int(suffix[1:])) <= _MAX_EXPONENT:
        factor = Fraction(10) ** int(suffix[1:])
    else:
        raise ValueError(f"has an exponent beyond ±{_MAX_EXPONENT}")
    value = Fraction(match.group(1)) * factor
    if value > S.INT64_MAX:
        raise ValueError(f"is larger than Kubernetes allows ({S.INT64_MAX})")
    return value
