"""Pure-Python statistics for experiment analysis (no SciPy): distributions and the tests that
``mlc.runtime.experiments.analysis`` reports.

- normal ``norm_cdf`` / ``norm_sf`` / ``norm_ppf`` (Wichura's AS 241, ~1e-16);
- Student t ``t_cdf`` / ``t_sf`` / ``t_ppf`` via the regularised incomplete beta function
  (Lentz continued fraction); the quantile by safeguarded Newton iteration on the tail;
- chi-square ``chi2_sf`` via the regularised upper incomplete gamma function;
- ``welch``: Welch's two-sample t-test (Welch–Satterthwaite degrees of freedom);
- ``cluster_ols``: least squares of y on a treatment indicator with CR1 cluster-robust
  standard errors (Liang–Zeger, small-sample factor ``G/(G-1) · (N-1)/(N-K)``), t with ``G - 1``
  degrees of freedom;
- ``chi_square_gof``: chi-square goodness of fit of counts against expected shares.

Every function agrees with SciPy to better than 1e-9 on the ranges experiments use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Sequence

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITERATIONS = 100_000


# ---------------------------------------------------------------------------------------------
# normal


def norm_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """The standard normal quantile (Wichura 1988, AS 241 PPND16)."""
    _check_probability(p)
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * _ratio(r, _AS241_CENTRAL_A, _AS241_CENTRAL_B)
    r = math.sqrt(-math.log(p if q < 0 else 1.0 - p))
    if r <= 5.0:
        value = _ratio(r - 1.6, _AS241_MIDDLE_C, _AS241_MIDDLE_D)
    else:
        value = _ratio(r - 5.0, _AS241_TAIL_E, _AS241_TAIL_F)
    return -value if q < 0 else value


def _ratio(r: float, numerator: Sequence[float], denominator: Sequence[float]) -> float:
    return _polynomial(r, numerator) / _polynomial(r, denominator)


def _polynomial(x: float, coefficients: Sequence[float]) -> float:
    """Horner evaluation; ``coefficients`` from the highest power down."""
    total = 0.0
    for coefficient in coefficients:
        total = total * x + coefficient
    return total


_AS241_CENTRAL_A = (2509.0809287301226727, 33430.575583588128105, 67265.770927008700853,
                    45921.953931549871457, 13731.693765509461125, 1971.5909503065514427,
                    133.14166789178437745, 3.387132872796366608)
_AS241_CENTRAL_B = (5226.495278852545925, 28729.085735721942674, 39307.89580009271061,
                    21213.794301586595867, 5394.1960214247511077, 687.1870074920579083,
                    42.313330701600911252, 1.0)
_AS241_MIDDLE_C = (7.7454501427834140764e-4, 0.0227238449892691845833, 0.24178072517745061177,
                   1.27045825245236838258, 3.64784832476320460504, 5.7694972214606914055,
                   4.6303378461565452959, 1.42343711074968357734)
_AS241_MIDDLE_D = (1.05075007164441684324e-9, 5.475938084995344946e-4, 0.0151986665636164571966,
                   0.14810397642748007459, 0.68976733498510000455, 1.6763848301838038494,
                   2.05319162663775882187, 1.0)
_AS241_TAIL_E = (2.01033439929228813265e-7, 2.71155556874348757815e-5, 0.0012426609473880784386,
                 0.026532189526576123093, 0.29656057182850489123, 1.7848265399172913358,
                 5.4637849111641143699, 6.6579046435011037772)
_AS241_TAIL_F = (2.04426310338993978564e-15, 1.4215117583164458887e-7, 1.8463183175100546818e-5,
                 7.868691311456132591e-4, 0.0148753612908506148525, 0.13692988092273580531,
                 0.59983220655588793769, 1.0)


# ---------------------------------------------------------------------------------------------
# incomplete beta and gamma


def betainc(a: float, b: float, x: float, one_minus_x: float | None = None) -> float:
    """The regularised incomplete beta function I_x(a, b). Pass ``one_minus_x`` when it is known
    more precisely than ``1 - x`` (t tails near 0)."""
    y = 1.0 - x if one_minus_x is None else one_minus_x
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log1p(-y) if x > 0.5 else math.log(x)
    log_y = math.log1p(-x) if y > 0.5 else math.log(y)
    log_front = a * log_x + b * log_y - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def _log_beta(a: float, b: float) -> float:
    """log B(a, b), precise also when one argument is large (t with many degrees of freedom)."""
    small, large = sorted((a, b))
    if large < 100.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return math.lgamma(small) - _log_gamma_ratio(large, small)


def _log_gamma_ratio(z: float, s: float) -> float:
    """log Γ(z + s) - log Γ(z) for z >= 100 by Stirling's series, without the cancellation of
    subtracting two large lgamma values."""
    return ((z + s - 0.5) * math.log1p(s / z) + s * math.log(z) - s
            + _stirling_tail(z + s) - _stirling_tail(z))


def _stirling_tail(z: float) -> float:
    """log Γ(z) - ((z - ½) log z - z + ½ log 2π), to ~1e-17 for z >= 100."""
    inverse, inverse2 = 1.0 / z, 1.0 / (z * z)
    return inverse * (1.0 / 12.0 - inverse2 * (1.0 / 360.0 - inverse2 / 1260.0))


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz; Numerical Recipes ``betacf``)."""
    c, d = 1.0, _nonzero(1.0 - (a + b) * x / (a + 1.0))
    d = 1.0 / d
    fraction = d
    for m in range(1, _MAX_ITERATIONS):
        even = m * (b - m) * x / ((a - 1.0 + 2 * m) * (a + 2 * m))
        d = 1.0 / _nonzero(1.0 + even * d)
        c = _nonzero(1.0 + even / c)
        fraction *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1.0 + 2 * m))
        d = 1.0 / _nonzero(1.0 + odd * d)
        c = _nonzero(1.0 + odd / c)
        step = d * c
        fraction *= step
        if abs(step - 1.0) < _EPS:
            return fraction
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def gammaincc(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x)."""
    if x <= 0.0:
        return 1.0
    if x < a + 1.0:
        return 1.0 - _gamma_series(a, x)
    return _gamma_fraction(a, x)


def _gamma_log_front(a: float, x: float) -> float:
    return -x + a * math.log(x) - math.lgamma(a)


def _gamma_series(a: float, x: float) -> float:
    """P(a, x) by its power series (for x < a + 1)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_ITERATIONS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            return total * math.exp(_gamma_log_front(a, x))
    raise ArithmeticError(f"incomplete gamma series did not converge (a={a}, x={x})")


def _gamma_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (for x >= a + 1; modified Lentz)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    fraction = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = 1.0 / _nonzero(an * d + b)
        c = _nonzero(b + an / c)
        step = d * c
        fraction *= step
        if abs(step - 1.0) < _EPS:
            return fraction * math.exp(_gamma_log_front(a, x))
    raise ArithmeticError(f"incomplete gamma fraction did not converge (a={a}, x={x})")


def _nonzero(value: float) -> float:
    return value if abs(value) >= _TINY else _TINY


# ---------------------------------------------------------------------------------------------
# Student t and chi-square


def t_pdf(t: float, df: float) -> float:
    _check_df(df)
    if math.isinf(df):
        return math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    log_density = (math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0)
                   - 0.5 * math.log(df * math.pi) - (df + 1.0) / 2.0 * math.log1p(t * t / df))
    return math.exp(log_density)


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (real, > 0) degrees of freedom."""
    tail = _t_upper_tail(abs(t), df)
    return tail if t >= 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    tail = _t_upper_tail(abs(t), df)
    return 1.0 - tail if t >= 0 else tail


def _t_upper_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0: ½ · I_{df/(df+t²)}(df/2, ½), computed without cancellation."""
    _check_df(df)
    if math.isnan(t):
        return math.nan
    if math.isinf(df):
        return norm_sf(t)
    if math.isinf(t):
        return 0.0
    if df > _LARGE_DF:
        return _t_upper_tail_large_df(t, df)
    t2 = t * t
    return 0.5 * betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


_LARGE_DF = 1e5     # above it the continued fraction loses digits and Fisher's expansion is exact


def _t_upper_tail_large_df(t: float, df: float) -> float:
    """Fisher's expansion P(T > t) = Q(t) + φ(t) · (g1(t)/ν + g2(t)/ν²) + O(ν⁻³), with
    g1 = (t³ + t)/4 and g2 = (3t⁷ - 7t⁵ - 5t³ - 3t)/96; relative error < 1e-10 for ν > 1e5."""
    density = math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    first = (t ** 3 + t) / 4.0
    second = (3 * t ** 7 - 7 * t ** 5 - 5 * t ** 3 - 3 * t) / 96.0
    return norm_sf(t) + density * (first / df + second / (df * df))


def t_ppf(p: float, df: float) -> float:
    """The quantile of Student's t: the t with ``t_cdf(t, df) == p``."""
    _check_probability(p)
    _check_df(df)
    if math.isinf(df):
        return norm_ppf(p)
    if p == 0.5:
        return 0.0
    if p in (0.0, 1.0):
        return -math.inf if p == 0.0 else math.inf
    tail = min(p, 1.0 - p)
    magnitude = _t_tail_inverse(tail, df)
    return magnitude if p > 0.5 else -magnitude


def _t_tail_inverse(tail: float, df: float) -> float:
    """The t >= 0 with P(T > t) == tail (tail < ½): Newton on the tail, kept inside a bracket
    that bisection shrinks whenever a Newton step would leave it."""
    low, high = 0.0, max(1.0, -norm_ppf(tail))
    while _t_upper_tail(high, df) > tail:
        low, high = high, high * 2.0
    t = 0.5 * (low + high)
    for _ in range(200):
        excess = _t_upper_tail(t, df) - tail      # decreasing in t
        if excess > 0:
            low = t
        else:
            high = t
        density = t_pdf(t, df)
        step_target = t + excess / density if density > 0 else math.nan
        t_next = step_target if low < step_target < high else 0.5 * (low + high)
        if abs(t_next - t) <= 1e-15 * max(1.0, abs(t)) or high - low <= 1e-15 * max(1.0, high):
            return t_next
        t = t_next
    return t


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square with ``df`` degrees of freedom."""
    _check_df(df)
    if math.isinf(x):
        return 0.0
    return gammaincc(df / 2.0, x / 2.0)


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} is not in [0, 1]")


def _check_df(df: float) -> None:
    if not df > 0:
        raise ValueError(f"degrees of freedom {df} must be positive")


# ---------------------------------------------------------------------------------------------
# tests


@dataclass(frozen=True)
class Estimate:
    """A difference (treatment - control) with its standard error and t-based inference."""

    estimate: float
    se: float
    df: float
    statistic: float            # estimate / se (±inf when se is 0 and the estimate is not)
    p: float                    # two-sided
    ci_low: float
    ci_high: float
    confidence: float


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def variance(values: Sequence[float]) -> float:
    """The sample variance (n - 1 in the denominator), two-pass."""
    centre = mean(values)
    return math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1)


def welch(control: Sequence[float], treatment: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Welch's t-test of mean(treatment) - mean(control); each group needs 2 values or more."""
    if len(control) < 2 or len(treatment) < 2:
        raise ValueError("Welch's test needs at least 2 values per group")
    return welch_from_summary(mean(control), variance(control), len(control),
                              mean(treatment), variance(treatment), len(treatment), confidence)


def welch_from_summary(control_mean: float, control_variance: float, control_n: int,
                       treatment_mean: float, treatment_variance: float, treatment_n: int,
                       confidence: float = 0.95) -> Estimate:
    control_share = control_variance / control_n
    treatment_share = treatment_variance / treatment_n
    se = math.sqrt(control_share + treatment_share)
    df = _welch_satterthwaite(control_share, control_n, treatment_share, treatment_n)
    return _t_estimate(treatment_mean - control_mean, se, df, confidence)


def _welch_satterthwaite(control_share: float, control_n: int,
                         treatment_share: float, treatment_n: int) -> float:
    denominator = control_share ** 2 / (control_n - 1) + treatment_share ** 2 / (treatment_n - 1)
    if denominator == 0.0:
        return float(control_n + treatment_n - 2)
    return (control_share + treatment_share) ** 2 / denominator


def cluster_ols(y: Sequence[float], treated: Sequence[bool], clusters: Sequence[Hashable],
                confidence: float = 0.95) -> Estimate:
    """OLS of ``y`` on an intercept and a treatment indicator with CR1 cluster-robust SE.

    The coefficient is mean(y | treated) - mean(y | control). With X = [1, d], the second row of
    (X'X)^-1 is [-1/N0, N/(N0·N1)], so the sandwich's variance of the coefficient reduces to
    ``Σ_g (U1_g/N1 - U0_g/N0)²`` where ``U1_g`` and ``U0_g`` sum the residuals of cluster g's
    treated and control rows; CR1 multiplies it by ``G/(G-1) · (N-1)/(N-2)``. The t reference
    has ``G - 1`` degrees of freedom.
    """
    if not len(y) == len(treated) == len(clusters):
        raise ValueError("y, treated and clusters must have the same length")
    treated_values = [v for v, d in zip(y, treated) if d]
    control_values = [v for v, d in zip(y, treated) if not d]
    n_treated, n_control, n = len(treated_values), len(control_values), len(y)
    groups = len(set(clusters))
    if n_treated == 0 or n_control == 0 or groups < 2 or n <= 2:
        raise ValueError("cluster OLS needs treated and control rows, 2 clusters and 3 rows or more")
    treated_mean, control_mean = mean(treated_values), mean(control_values)
    scores: dict[Hashable, list[float]] = {}
    for value, is_treated, cluster in zip(y, treated, clusters):
        score = scores.setdefault(cluster, [0.0, 0.0])
        if is_treated:
            score[1] += value - treated_mean
        else:
            score[0] += value - control_mean
    sandwich = math.fsum((u1 / n_treated - u0 / n_control) ** 2 for u0, u1 in scores.values())
    correction = groups / (groups - 1) * (n - 1) / (n - 2)
    se = math.sqrt(correction * sandwich)
    return _t_estimate(treated_mean - control_mean, se, float(groups - 1), confidence)


def _t_estimate(difference: float, se: float, df: float, confidence: float) -> Estimate:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} is not in (0, 1)")
    critical = t_ppf(0.5 + confidence / 2.0, df)
    if se > 0:
        statistic = difference / se
        p = min(1.0, 2.0 * t_sf(abs(statistic), df))
    else:
        statistic = 0.0 if difference == 0 else math.copysign(math.inf, difference)
        p = 1.0 if difference == 0 else 0.0
    return Estimate(difference, se, df, statistic, p, difference - critical * se,
                    difference + critical * se, confidence)


@dataclass(frozen=True)
class GoodnessOfFit:
    statistic: float
    df: int
    p: float


def chi_square_gof(observed: Sequence[int], shares: Sequence[float]) -> GoodnessOfFit:
    """Pearson's chi-square of counts against expected shares (normalised). A group expected to
    be empty but observed is an infinite statistic (p = 0); groups expected and observed empty
    do not count."""
    if len(observed) != len(shares):
        raise ValueError("observed and shares must have the same length")
    total, share_sum = sum(observed), math.fsum(shares)
    if total == 0 or share_sum <= 0:
        return GoodnessOfFit(0.0, 0, 1.0)
    df = sum(1 for share in shares if share > 0) - 1
    if any(count > 0 and share <= 0 for count, share in zip(observed, shares)):
        return GoodnessOfFit(math.inf, max(df, 1), 0.0)
    if df < 1:
        return GoodnessOfFit(0.0, 0, 1.0)
    statistic = math.fsum((count - total * share / share_sum) ** 2 / (total * share / share_sum)
                          for count, share in zip(observed, shares) if share > 0)
    return GoodnessOfFit(statistic, df, chi2_sf(statistic, df))
