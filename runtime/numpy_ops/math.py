"""Math functions of the NumPy executor (semantics: docs/semantics.md).

``log``, ``log1p`` and ``exp`` are vectorised ports of fdlibm 5.3 (``e_log.c``, ``s_log1p.c``,
``e_exp.c``), the algorithms of ``java.lang.StrictMath`` that Spark calls, so both executors are
bit-identical (NumPy's own ``np.log``/``np.exp`` use SIMD or libm code that differs by 1 ulp on
a few percent of inputs). ``pow`` is ``np.power`` with Java's special cases: within 1 ulp of
Spark's ``StrictMath.pow``; ``sin``/``cos`` are ``np.sin``/``np.cos``, within 1 ulp of Spark's
``Math.sin``/``Math.cos``: the documented exceptions.
"""

from __future__ import annotations

import numpy as np

from mlc.runtime.numpy_ops.core import implements
from mlc.runtime.numpy_ops.operators import I64_MIN, compare_data, sub_int
from mlc.runtime.numpy_ops.vec import Vec, as_dtype, result

TWO_63 = 9223372036854775808.0   # 2**63, exact as a double
TWO_52 = 4503599627370496.0      # 2**52: every double at or above it is an integer


def _float(x: Vec) -> Vec:
    return as_dtype(x, "float64")


def _unary_float(fn, null_where=None):
    def apply(ops, dtype: str, x: Vec) -> Vec:
        x = _float(x)
        with np.errstate(all="ignore"):
            data = fn(x.data)
            valid = x.valid if null_where is None else x.valid & ~null_where(x.data, data)
        return result(data, valid, "float64")

    return apply


# ------------------------------------------------------------------ fdlibm ports

LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
LP = [6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
      1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01]


def _high(x):
    return (x.view(np.int64) >> 32).astype(np.int32)


def _with_high(x, hi):
    bits = x.view(np.int64)
    return ((hi.astype(np.int64) << 32) | (bits & 0xFFFFFFFF)).view(np.float64)


def fdlibm_log1p(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        hx = _high(x)
        ax = hx & 0x7FFFFFFF
        small = hx < 0x3FDA827A
        k0 = small & ((hx > 0) | (hx <= np.int32(-1076707645)))   # (int32)0xbfd2bec3
        big = x >= 9007199254740992.0                               # hx >= 0x43400000
        u = np.where(big, x, 1.0 + x)
        hu = _high(u)
        k = (hu >> 20) - 1023
        c = np.where(big, 0.0, np.where(k > 0, 1.0 - (u - x), x - (u - 1.0)) / u)
        hu = hu & 0x000FFFFF
        low = hu < 0x6A09E
        u = np.where(low, _with_high(u, hu | 0x3FF00000), _with_high(u, hu | 0x3FE00000))
        k = np.where(low, k, k + 1)
        hu = np.where(low, hu, (0x00100000 - hu) >> 2)
        f = u - 1.0
        # k = 0 path: f = x exactly
        f = np.where(k0, x, f)
        k = np.where(k0, 0, k)
        hu = np.where(k0, 1, hu)
        c = np.where(k0, 0.0, c)
        dk = k.astype(np.float64)
        hfsq = 0.5 * f * f
        # |f| < 2**-20
        r_tiny_zero = np.where(k == 0, 0.0, dk * LN2_HI + (c + dk * LN2_LO))
        R1 = hfsq * (1.0 - 0.66666666666666666 * f)
        r_tiny = np.where(k == 0, f - R1, dk * LN2_HI - ((R1 - (dk * LN2_LO + c)) - f))
        r_tiny = np.where(f == 0.0, r_tiny_zero, r_tiny)
        s = f / (2.0 + f)
        z = s * s
        R = z * (LP[0] + z * (LP[1] + z * (LP[2] + z * (LP[3] + z * (LP[4] + z * (LP[5] + z * LP[6]))))))
        r_main = np.where(k == 0, f - (hfsq - s * (hfsq + R)),
                          dk * LN2_HI - ((hfsq - (s * (hfsq + R) + (dk * LN2_LO + c))) - f))
        out = np.where(hu == 0, r_tiny, r_main)
        # special ranges
        tiny = small & (ax < 0x3E200000)
        out = np.where(tiny, np.where(ax < 0x3C900000, x, x - x * x * 0.5), out)
        out = np.where(small & (ax >= 0x3FF00000), np.where(x == -1.0, -np.inf, np.nan), out)
        out = np.where(hx >= 0x7FF00000, x + x, out)
    return out


LG = LP
TWO54 = 1.80143985094819840000e+16


def fdlibm_log(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        hx0 = _high(x)
        sub = hx0 < 0x00100000                       # subnormal, zero or negative
        xs = np.where(sub, x * TWO54, x)
        k = np.where(sub, -54, 0).astype(np.int32)
        hx = _high(xs)
        k = k + (hx >> 20) - 1023
        hx = hx & 0x000FFFFF
        i = (hx + 0x95F64) & 0x100000
        xn = _with_high(xs, hx | (i ^ 0x3FF00000))
        k = k + (i >> 20)
        f = xn - 1.0
        dk = k.astype(np.float64)
        # |f| < 2**-20
        R0 = f * f * (0.5 - 0.33333333333333333 * f)
        r_tiny = np.where(k == 0, f - R0, dk * LN2_HI - ((R0 - dk * LN2_LO) - f))
        r_tiny = np.where(f == 0.0, np.where(k == 0, 0.0, dk * LN2_HI + dk * LN2_LO), r_tiny)
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        ii = (hx - 0x6147A) | (0x6B851 - hx)
        t1 = w * (LG[1] + w * (LG[3] + w * LG[5]))
        t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])))
        R = t2 + t1
        hfsq = 0.5 * f * f
        r_a = np.where(k == 0, f - (hfsq - s * (hfsq + R)), dk * LN2_HI - ((hfsq - (s * (hfsq + R) + dk * LN2_LO)) - f))
        r_b = np.where(k == 0, f - s * (f - R), dk * LN2_HI - ((s * (f - R) - dk * LN2_LO) - f))
        out = np.where((0x000FFFFF & (2 + hx)) < 3, r_tiny, np.where(ii > 0, r_a, r_b))
        out = np.where(hx0 >= 0x7FF00000, x + x, out)
        out = np.where(x == 0.0, -np.inf, out)
        out = np.where(x < 0.0, np.nan, out)
    return out


O_THRESHOLD = 7.09782712893383973096e+02
U_THRESHOLD = -7.45133219101941108420e+02
INVLN2 = 1.44269504088896338700e+00
P = [1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05,
     -1.65339022054652515390e-06, 4.13813679705723846039e-08]
TWOM1000 = 9.33263618503218878990e-302


def fdlibm_exp(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        hx = _high(x)
        neg = hx < 0
        hx = hx & 0x7FFFFFFF
        sgn = np.where(neg, -1.0, 1.0)
        mid = hx < 0x3FF0A2B2
        # |x| in (0.5 ln2, 1.5 ln2)
        k_mid = np.where(neg, -1, 1)
        hi_mid = x - sgn * LN2_HI
        lo_mid = sgn * LN2_LO
        # larger |x|
        kf = np.trunc(INVLN2 * x + np.where(neg, -0.5, 0.5))
        kf = np.where(np.isfinite(kf) & (np.abs(kf) < 4096), kf, 0.0)
        hi_big = x - kf * LN2_HI
        lo_big = kf * LN2_LO
        reduce = hx > 0x3FD62E42
        k = np.where(reduce, np.where(mid, k_mid, kf.astype(np.int64)), 0).astype(np.int64)
        hi = np.where(mid, hi_mid, hi_big)
        lo = np.where(mid, lo_mid, lo_big)
        xr = np.where(reduce, hi - lo, x)
        t = xr * xr
        c = xr - t * (P[0] + t * (P[1] + t * (P[2] + t * (P[3] + t * P[4]))))
        r0 = 1.0 - ((xr * c) / (c - 2.0) - xr)
        y = 1.0 - ((lo - (xr * c) / (2.0 - c)) - hi)
        ybits = y.view(np.int64)
        normal = k >= -1021
        scaled = np.where(normal, ybits + (k << 52), ybits + ((k + 1000) << 52)).view(np.float64)
        scaled = np.where(normal, scaled, scaled * TWOM1000)
        out = np.where(k == 0, r0, scaled)
        out = np.where(~reduce & (hx < 0x3E300000), 1.0 + x, out)
        out = np.where(x > O_THRESHOLD, np.inf, out)
        out = np.where(x < U_THRESHOLD, 0.0, out)
        out = np.where(np.isnan(x), x, out)
    return out


implements("log")(_unary_float(fdlibm_log, lambda x, r: x <= 0))
implements("log1p")(_unary_float(fdlibm_log1p, lambda x, r: x <= -1))
# exp overflows (null) above the largest double whose exp is finite: decided on x, not on the
# (1-ulp-tolerant) result, so both executors null the same rows
EXP_MAX = 709.782712893384
implements("exp")(_unary_float(fdlibm_exp, lambda x, r: (x > EXP_MAX) & (x != np.inf)))
implements("sqrt")(_unary_float(np.sqrt, lambda x, r: x < 0))
# sin/cos: Spark calls java.lang.Math.sin/cos (a HotSpot intrinsic, not StrictMath/fdlibm), which no
# port can reproduce on every CPU; both are within 1 ulp of the exact value, hence of each other:
# the documented 1-ulp exception (runtime/parity_check.py ULP_TOLERANT). sin(+-inf) is NaN.
implements("sin")(_unary_float(np.sin))
implements("cos")(_unary_float(np.cos))


@implements("abs")
def abs_(ops, dtype: str, x: Vec) -> Vec:
    x = as_dtype(x, dtype)
    with np.errstate(all="ignore"):
        if dtype == "int64":
            return result(np.abs(x.data), x.valid & (x.data != I64_MIN), dtype)
        return result(np.abs(x.data), x.valid, dtype)


def java_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``StrictMath.pow`` where it is exact: fdlibm's fast paths (``y == 2``: ``x*x``; ``y == 0.5``:
    ``sqrt(x + 0.0)`` for ``x >= -MAX``; ``y == 1``: ``x``; ``y == -1``: ``1/x``), Java's special
    cases (a NaN exponent gives NaN, C gives ``pow(1, NaN) = 1``; ``pow(+-1, +-inf)`` is NaN, C
    gives 1), else ``np.power`` (within 1 ulp of fdlibm)."""
    with np.errstate(all="ignore"):
        r = np.power(a, b)
        r = np.where(b == 2.0, a * a, r)
        r = np.where((b == 0.5) & (a >= -np.finfo(np.float64).max), np.sqrt(a + 0.0), r)
        r = np.where(b == 1.0, a, r)
        r = np.where(b == -1.0, 1.0 / a, r)
    return np.where(np.isnan(b) | ((np.abs(a) == 1) & np.isinf(b)), np.nan, r)


@implements("pow")
def pow_(ops, dtype: str, base: Vec, exponent: Vec) -> Vec:
    a, b = _float(base), _float(exponent)
    r = java_pow(a.data, b.data)
    not_real = np.isnan(r) & ~np.isnan(a.data) & ~np.isnan(b.data)
    return result(r, a.valid & b.valid & ~not_real, "float64")


def _in_int64_range(x: np.ndarray) -> np.ndarray:
    """Finite doubles whose floor and ceil are int64 values: ``-2**63 <= x < 2**63``."""
    return (x >= -TWO_63) & (x < TWO_63)


def _rounder(fn):
    def apply(ops, dtype: str, x: Vec) -> Vec:
        if x.dtype == "int64":
            return x
        x = _float(x)
        ok = x.valid & _in_int64_range(x.data)
        with np.errstate(all="ignore"):
            data = np.where(ok, fn(x.data), 0.0).astype(np.int64)
        return result(data, ok, "int64")

    return apply


implements("floor")(_rounder(np.floor))
implements("ceil")(_rounder(np.ceil))


# ------------------------------------------------------------------ round


def round_float(x: np.ndarray, digits: int) -> np.ndarray:
    """Half away from zero at ``digits`` decimals, computed in float64 (docs/semantics.md):

    - ``digits >= 0``: ``t = |x| * 10**digits``; ``digits < 0``: ``t = |x| / 10**-digits``;
    - when ``t >= 2**52`` (or ``x`` is NaN/inf, or ``digits > 308``) the result is ``x``;
    - else ``r = floor(t) + (1 if t - floor(t) >= 0.5 else 0)`` and the result is ``r / 10**digits``
      (``r * 10**-digits``) with the sign of ``x`` (so ``round(-0.2) == -0.0``);
    - ``digits < -308``: zero with the sign of ``x``.
    """
    if digits > 308:
        return x.copy()
    if digits < -308:
        with np.errstate(all="ignore"):
            return np.where(np.isfinite(x), x * 0.0, x)
    scale = float(10 ** abs(digits))
    with np.errstate(all="ignore"):
        ax = np.abs(x)
        t = ax * scale if digits >= 0 else ax / scale
        keep = ~(t < TWO_52)                                   # also NaN and inf
        ts = np.where(keep, 0.0, t)
        f = np.floor(ts)
        r = f + np.where(ts - f >= 0.5, 1.0, 0.0)
        mag = r / scale if digits >= 0 else r * scale
    return np.where(keep, x, np.copysign(mag, x))


def round_int(x: np.ndarray, digits: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 ``round``: unchanged for ``digits >= 0``; else to a multiple of ``10**-digits``,
    halves away from zero, exact; overflow gives null. Returns (data, overflow)."""
    if digits >= 0:
        return x, np.zeros(len(x), dtype=bool)
    if digits == -19:          # 10**19 is not an int64: |x| >= 5e18 rounds to +-1e19 (overflow)
        big = (x >= 5 * 10**18) | (x <= -5 * 10**18)
        return np.zeros(len(x), dtype=np.int64), big
    if digits < -19:
        return np.zeros(len(x), dtype=np.int64), np.zeros(len(x), dtype=bool)
    scale = np.int64(10 ** -digits)
    with np.errstate(all="ignore"):
        n = np.where(x > 0, -x, x)                             # -|x| never overflows
        rem = np.fmod(n, scale)                                # in (-scale, 0]
        base = n - rem
        up = -rem * 2 >= scale
        down, overflow = sub_int(base, np.full(len(x), scale))
        m = np.where(up, down, base)
        return np.where(x > 0, -m, m), up & overflow


@implements("round")
def round_(ops, dtype: str, x: Vec, digits: int = 0) -> Vec:
    digits = int(digits)
    if dtype == "int64":
        x = as_dtype(x, "int64")
        data, overflow = round_int(x.data, digits)
        return result(data, x.valid & ~overflow, "int64")
    x = _float(x)
    return result(round_float(x.data, digits), x.valid, "float64")


# ------------------------------------------------------------------ least / greatest / clip


def _pick(op: str, dtype: str, values: list[Vec]) -> Vec:
    """Fold left: an argument replaces the running result when that is null or when the argument
    is strictly less (least) / greater (greatest) in Spark's order; so ties keep the earlier
    argument (``least(0.0, -0.0) == 0.0``) and NaN is the greatest value."""
    out = as_dtype(values[0], dtype)
    for value in values[1:]:
        value = as_dtype(value, dtype)
        better = compare_data(op, value.data, out.data, dtype)
        take = value.valid & (~out.valid | better)
        out = Vec(np.where(take, value.data, out.data), out.valid | value.valid, dtype)
    return out


@implements("least")
def least(ops, dtype: str, *values: Vec) -> Vec:
    return _pick("<", dtype, list(values))


@implements("greatest")
def greatest(ops, dtype: str, *values: Vec) -> Vec:
    return _pick(">", dtype, list(values))


@implements("clip")
def clip(ops, dtype: str, x: Vec, lo: Vec, hi: Vec) -> Vec:
    """``least(greatest(x, lo), hi)`` with null bounds skipped; null when ``x`` is null."""
    x = as_dtype(x, dtype)
    out = _pick("<", dtype, [_pick(">", dtype, [x, lo]), hi])
    return result(out.data, x.valid, dtype)

