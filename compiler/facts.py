"""Small facts about a spec that the checks and the lowering both need, below both (so that
``checks``, which runs every check, is imported by none of them).
"""

from __future__ import annotations

from mlc.core.names import parse_timestamp
from mlc.schemas import spec as S


def default_fits(dtype: str, value: object) -> bool:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return False  # NaN and infinities cannot be written to mldl.json
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype == "int64":
        return isinstance(value, int) and not isinstance(value, bool)
    if dtype == "float64":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "timestamp":
        return isinstance(value, str) and parse_timestamp(value) is not None or isinstance(value, int)
    return True


def served_models(spec: S.Spec) -> list[str]:
    """The models the deployment serves, the default first: `deployment.models` as listed, else
    every model by name (declaration order of the `models` mapping means nothing)."""
    return list(spec.deployment.models) if spec.deployment.models is not None else sorted(spec.models)
