"""Conditionals of the Spark executor: ``if``, ``coalesce`` (``fillna``), ``is_null``, ``nullif``."""

from __future__ import annotations

import math

from mlc.runtime.spark_ops.core import SVal, as_type, implements
from mlc.runtime.spark_ops.operators import compare


def _opposite_zeros(a: SVal, b: SVal) -> bool:
    return (isinstance(a.literal, float) and isinstance(b.literal, float) and a.literal == 0.0 == b.literal
            and math.copysign(1.0, a.literal) != math.copysign(1.0, b.literal))


@implements("if")
def if_(ops, dtype: str, condition: SVal, then: SVal, otherwise: SVal) -> SVal:
    from pyspark.sql import functions as F

    cond = as_type(condition, "bool").col
    if dtype == "float64" and _opposite_zeros(then, otherwise):
        # Spark's optimizer treats the literals -0.0 and 0.0 as equal and folds the CASE to one of
        # them (and pushes `CASE .. * 0.0` into the branches); choose the sign with a CASE over
        # +-1.0 and multiply it by the non-foldable zero `sign - sign`.
        sign = F.when(cond, F.lit(math.copysign(1.0, then.literal))).otherwise(F.lit(math.copysign(1.0, otherwise.literal)))
        return SVal(sign * (sign - sign), dtype)
    # CASE WHEN: a null condition is not true, so it takes `otherwise`
    return SVal(F.when(cond, as_type(then, dtype).col).otherwise(as_type(otherwise, dtype).col), dtype)


@implements("coalesce", "fillna")
def coalesce(ops, dtype: str, *values: SVal) -> SVal:
    from pyspark.sql import functions as F

    return SVal(F.coalesce(*[as_type(v, dtype).col for v in values]), dtype)


@implements("is_null")
def is_null(ops, dtype: str, x: SVal) -> SVal:
    return SVal(x.col.isNull(), "bool")


@implements("nullif")
def nullif(ops, dtype: str, x: SVal, value: SVal) -> SVal:
    from pyspark.sql import functions as F

    equal = compare("==", x, value).col          # Spark's double `=`: NaN = NaN, -0.0 = 0.0
    return SVal(F.when(equal, F.lit(None)).otherwise(as_type(x, dtype).col), dtype)
