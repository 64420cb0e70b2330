"""Experiment analysis (mlc.runtime.experiments.stats and .analysis; docs/experiments.md
"Analysis"): distributions against reference values computed independently (closed forms and
exact finite sums), the tests' properties, and analyses of synthetic data with a known effect,
A/A coverage, sample-ratio mismatch, readers and exclusions."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from mlc.runtime.experiments import stats
from mlc.runtime.experiments.analysis import (AnalysisError, analyse_layer, analyse_switchback,
                                              read_outcomes)
from mlc.backends.experiments.config import ExperimentsConfig
from mlc.runtime.experiments.switchback import Schedule

UTC = timezone.utc
RUN_START = datetime(2024, 7, 1, tzinfo=UTC)
RUN_END = datetime(2024, 7, 3, tzinfo=UTC)


# ============================================================================ fixtures


def _config(holdout: float = 10.0, regions: dict | None = None) -> ExperimentsConfig:
    kept = round((100 - holdout) * 100)
    half = kept // 2
    return ExperimentsConfig.from_json({
        "format": 1, "spec": "analysis_test", "config_version": "0123456789abcdef",
        "layers": [{"name": "ranking", "salt": "ranking", "experiments": [{
            "name": "lr_vs_deepfm", "unit": "user_id", "salt": "ranking:lr_vs_deepfm", "traffic": 100.0,
            "buckets": [0, 10000], "reserved": [0, 10000], "holdout": holdout, "control": "control",
            "targeting": None, "targeting_source": None, "variants": [
                {"name": "control", "model": "ctr_lr", "version": None, "alias": None, "weight": 50.0,
                 "buckets": [0, half]},
                {"name": "treatment", "model": "ctr_deepfm", "version": 3, "alias": None, "weight": 50.0,
                 "buckets": [half, kept]}]}]}],
        "switchbacks": [{
            "name": "dispatch_eta", "unit": "city", "slice_seconds": 1800, "burn_in_seconds": 300, "seed": 2024,
            "timezone": "Asia/Shanghai",
            "regions": regions if regions is not None else
            {"beijing": "Asia/Shanghai", "berlin": "Europe/Berlin", "riyadh": "Asia/Riyadh"},
            "start": "2024-07-01T00:00:00Z", "end": "2024-07-03T00:00:00Z", "control": "control",
            "targeting": None, "targeting_source": None, "tickets": [1, 1], "variants": [
                {"name": "control", "model": "eta_dnn", "version": None, "alias": None, "weight": 50.0},
                {"name": "treatment", "model": "eta_wide_deep", "version": None, "alias": None, "weight": 50.0}]}],
    })


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def layer_exposure(unit_id: str, variant: str, bucket: int = 0) -> dict:
    """An exposure line with the documented field set (docs/experiments.md "Exposure log")."""
    model = {"control": "ctr_lr", "treatment": "ctr_deepfm"}.get(variant)
    return {"ts": "2024-07-01T08:00:00.000Z", "request_id": f"r-{unit_id}", "config_version": "0123456789abcdef",
            "kind": "layer", "experiment": "lr_vs_deepfm", "layer": "ranking", "unit": "user_id",
            "unit_id": unit_id, "bucket": bucket, "variant": variant, "model": model,
            "version": 3 if variant == "treatment" else None, "alias": None, "routed": model is not None,
            "shard": "ctr", "region": None, "slice_start": None, "slice_index": None, "burn_in": None}


def switchback_exposure(region: str, slice_start: datetime, slice_index: int, variant: str,
                        at: datetime | None = None, burn_in: bool = False) -> dict:
    return {"ts": _z(at or slice_start + timedelta(minutes=10)), "request_id": None,
            "config_version": "0123456789abcdef", "kind": "switchback", "experiment": "dispatch_eta",
            "layer": None, "unit": "city", "unit_id": region, "bucket": None, "variant": variant,
            "model": {"control": "eta_dnn", "treatment": "eta_wide_deep"}[variant], "version": None, "alias": None,
            "routed": True, "shard": "eta", "region": region,
            "slice_start": slice_start.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z",
            "slice_index": slice_index, "burn_in": burn_in}


def _layer_data(n_units: int, effect: float, seed: int, metrics: int = 1, holdout_share: float = 0.1):
    """Units split control/treatment/holdout at random; metric m of unit u is N(0, 1) + effect
    (treatment only), over one or two outcome rows per unit."""
    rng = random.Random(seed)
    exposures, outcomes = [], []
    for unit in range(n_units):
        draw = rng.random()
        group = "holdout" if draw < holdout_share else "control" if draw < (1 + holdout_share) / 2 else "treatment"
        exposures.append(layer_exposure(str(unit), group))
        value = {f"m{k}": rng.gauss(0.0, 1.0) + (effect if group == "treatment" else 0.0) for k in range(metrics)}
        outcomes.append({"unit_id": unit, **value})
    return exposures, outcomes


def _switchback_rows(seed: int, effect: float, rows_per_slice: int, metrics: int, region_sd: float,
                     slice_sd: float, row_sd: float = 1.0, after_burn_in: bool = True):
    """Outcome rows of every region-slice of the run: metric = region effect + slice noise
    (shared by the slice's rows) + row noise + effect (treatment slices). Returns the rows and,
    per row, (cluster, variant) as the schedule assigns them."""
    config = _config()
    switchback = config.switchbacks[0]
    schedule = Schedule(switchback)
    rng = random.Random(seed)
    rows, truth = [], []
    for region in sorted(switchback.regions):
        region_effect = [rng.gauss(0.0, region_sd) for _ in range(metrics)]
        for slice_, variant in schedule.slices(region, RUN_START, RUN_END):
            slice_noise = [rng.gauss(0.0, slice_sd) for _ in range(metrics)]
            lo = max(slice_.start, RUN_START) + (timedelta(seconds=300) if after_burn_in else timedelta(0))
            hi = min(slice_.end, RUN_END)
            for _ in range(rows_per_slice):
                at = lo + (hi - lo) * rng.random()
                lift = effect if variant.name == "treatment" else 0.0
                row = {"region": region, "ts": _z(at)}
                row.update({f"m{k}": region_effect[k] + slice_noise[k] + rng.gauss(0.0, row_sd) + lift
                            for k in range(metrics)})
                rows.append(row)
                truth.append(((region, slice_.start), variant.name))
    return config, rows, truth


def _comparison(report, metric: str = "m0", group: str = "treatment"):
    found = next(m for m in report.metrics if m.metric == metric)
    return next(c for c in found.comparisons if c.group == group)


def _group(report, metric: str, group: str):
    found = next(m for m in report.metrics if m.metric == metric)
    return next(g for g in found.groups if g.group == group)


# ============================================================================ distributions


def _chi2_sf_exact(x: float, df: int) -> float:
    """chi2.sf for integer df by exact finite sums: a Poisson sum (even df) or erfc plus the
    half-integer recurrence (odd df), each term in log space."""
    y = x / 2.0
    if df % 2 == 0:
        terms = [math.exp(-y + j * math.log(y) - math.lgamma(j + 1)) for j in range(df // 2)]
        return math.fsum(terms)
    terms = [math.exp(-y + (j - 0.5) * math.log(y) - math.lgamma(j + 0.5)) for j in range(1, (df - 1) // 2 + 1)]
    return math.erfc(math.sqrt(y)) + math.fsum(terms)


def _t_cdf_even_df(t: float, df: int) -> float:
    """Student t cdf for even df by its closed form (½ + sinθ/2 · Σ C(2k,k)/4^k cos^{2k}θ)."""
    sin_theta, cos2 = t / math.sqrt(df + t * t), df / (df + t * t)
    return 0.5 + sin_theta / 2.0 * math.fsum(math.comb(2 * k, k) / 4 ** k * cos2 ** k for k in range(df // 2))


def test_reference_values():
    # t.ppf(0.975, 10): 2.228138851986274 (the even-df closed form gives cdf = 0.975 there to 1e-17;
    # the often quoted 2.2281388519649 is 2e-11 off)
    assert stats.t_ppf(0.975, 10) == pytest.approx(2.228138851986274, abs=1e-12)
    assert _t_cdf_even_df(stats.t_ppf(0.975, 10), 10) == pytest.approx(0.975, abs=1e-15)
    assert stats.t_ppf(0.975, 10) == pytest.approx(2.2281388519649, abs=1e-9)
    assert stats.chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, abs=1e-14)
    assert stats.t_cdf(-2.0, 5) == pytest.approx(0.05096973941492914, abs=1e-15)
    assert stats.chi2_sf(10000, 9999) == pytest.approx(_chi2_sf_exact(10000, 9999), abs=1e-10)
    assert stats.chi2_sf(10000, 9999) == pytest.approx(0.4952983945, abs=1e-9)
    assert stats.chi2_sf(10000, 10000) == pytest.approx(_chi2_sf_exact(10000, 10000), abs=1e-10)
    assert stats.norm_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-15)
    assert stats.norm_ppf(1e-10) == pytest.approx(-6.361340902404056, abs=1e-12)
    assert stats.t_ppf(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-13)   # Cauchy
    assert stats.t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-15)


@pytest.mark.parametrize("df", [2, 4, 10, 30])
def test_t_cdf_matches_closed_form(df):
    for t in (-40.0, -3.0, -1.0, -0.1, 0.0, 0.7, 2.5, 12.0):
        assert stats.t_cdf(t, df) == pytest.approx(_t_cdf_even_df(t, df), abs=1e-14)


@pytest.mark.parametrize("df", [1, 2, 3, 7, 50, 501])
def test_chi2_sf_matches_exact_sums(df):
    for x in (0.01, 0.5, 1.0, df * 0.5, float(df), df + 3 * math.sqrt(2 * df), df * 4.0 + 20):
        expected = _chi2_sf_exact(x, df)
        assert stats.chi2_sf(x, df) == pytest.approx(expected, rel=1e-10, abs=1e-15)
    assert stats.chi2_sf(6.0, 2) == pytest.approx(math.exp(-3.0), rel=1e-14)


def test_t_ppf_inverts_t_cdf():
    for df in (1, 2.5, 7.3, 30, 999.5, 20000, 99999.0, 100001.0, 1e6, 1e9):
        for p in (1e-10, 1e-4, 0.025, 0.3, 0.5, 0.77, 0.975, 0.999999):
            t = stats.t_ppf(p, df)
            assert stats.t_cdf(t, df) == pytest.approx(p, rel=1e-9), (p, df)
            assert (t < 0) == (p < 0.5)
    assert stats.t_ppf(0.975, 1e12) == pytest.approx(stats.norm_ppf(0.975), abs=1e-9)
    assert stats.t_ppf(0.975, math.inf) == stats.norm_ppf(0.975)


def test_welch_equals_pooled_t_with_equal_variances_and_sizes():
    rng = random.Random(3)
    control = [rng.gauss(10.0, 2.0) for _ in range(40)]
    treatment = [11.0 - (x - 10.0) for x in control]          # a mirror: the same variance
    n = len(control)
    result = stats.welch(control, treatment, 0.9)
    mean_c, mean_t = sum(control) / n, sum(treatment) / n
    pooled = (sum((x - mean_c) ** 2 for x in control) + sum((x - mean_t) ** 2 for x in treatment)) / (2 * n - 2)
    se = math.sqrt(pooled * 2 / n)
    assert result.estimate == pytest.approx(mean_t - mean_c, abs=1e-12)
    assert result.se == pytest.approx(se, rel=1e-12)
    assert result.df == pytest.approx(2 * n - 2, rel=1e-12)
    statistic = (mean_t - mean_c) / se
    assert result.p == pytest.approx(2 * stats.t_sf(abs(statistic), 2 * n - 2), rel=1e-12)
    half = stats.t_ppf(0.95, 2 * n - 2) * se
    assert (result.ci_low, result.ci_high) == pytest.approx((mean_t - mean_c - half, mean_t - mean_c + half))


def test_welch_degrees_of_freedom_with_unequal_variances():
    control, treatment = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    v1, v2 = 5.0 / 3.0 / 4, 350.0 / 6                          # variance / n
    expected_df = (v1 + v2) ** 2 / (v1 ** 2 / 3 + v2 ** 2 / 5)
    result = stats.welch(control, treatment)
    assert result.se == pytest.approx(math.sqrt(v1 + v2))
    assert result.df == pytest.approx(expected_df)


def _sandwich_by_hand(y, d, clusters, factor):
    """(X'X)^-1 [Σ_g X_g'u_g u_g'X_g] (X'X)^-1 [1, 1] · factor with explicit 2x2 algebra."""
    n, n1 = len(y), sum(d)
    sy, sdy = sum(y), sum(v for v, t in zip(y, d) if t)
    det = n * n1 - n1 * n1
    inverse = [[n1 / det, -n1 / det], [-n1 / det, n / det]]
    a = inverse[0][0] * sy + inverse[0][1] * sdy
    b = inverse[1][0] * sy + inverse[1][1] * sdy
    scores = {}
    for value, t, g in zip(y, d, clusters):
        u = value - a - b * t
        s = scores.setdefault(g, [0.0, 0.0])
        s[0] += u
        s[1] += t * u
    meat = [[sum(s[i] * s[j] for s in scores.values()) for j in range(2)] for i in range(2)]
    row = inverse[1]
    return b, math.sqrt(factor * sum(row[i] * meat[i][j] * row[j] for i in range(2) for j in range(2)))


def test_cr1_with_singleton_clusters_is_hc1():
    rng = random.Random(5)
    d = [i % 3 == 0 for i in range(61)]
    y = [rng.gauss(1.0, 1.0 + 2.0 * t) + 0.5 * t for t in d]
    n = len(y)
    coefficient, hc1 = _sandwich_by_hand(y, [int(t) for t in d], range(n), n / (n - 2))
    result = stats.cluster_ols(y, d, list(range(n)))
    assert result.estimate == pytest.approx(coefficient, abs=1e-12)
    assert result.se == pytest.approx(hc1, rel=1e-12)
    assert result.df == n - 1


def test_cr1_with_clusters_matches_the_sandwich():
    rng = random.Random(6)
    clusters = [i // 7 for i in range(140)]
    d = [(c * 7919) % 5 < 2 for c in clusters]
    y = [rng.gauss(0, 1) + (c % 4) * 0.3 + 0.2 * t for c, t in zip(clusters, d)]
    n, g = len(y), len(set(clusters))
    coefficient, se = _sandwich_by_hand(y, [int(t) for t in d], clusters, g / (g - 1) * (n - 1) / (n - 2))
    result = stats.cluster_ols(y, d, clusters, 0.95)
    assert result.estimate == pytest.approx(coefficient, abs=1e-12)
    assert result.se == pytest.approx(se, rel=1e-12)
    assert result.df == g - 1
    assert result.ci_high - result.estimate == pytest.approx(stats.t_ppf(0.975, g - 1) * se, rel=1e-12)


def test_chi_square_goodness_of_fit():
    fit = stats.chi_square_gof([10, 20, 30], [1, 1, 1])
    assert (fit.statistic, fit.df) == (pytest.approx(10.0), 2)
    assert fit.p == pytest.approx(math.exp(-5.0), rel=1e-12)
    assert stats.chi_square_gof([5, 3], [1.0, 0.0]).p == 0.0        # an unexpected group
    assert stats.chi_square_gof([5, 0], [1.0, 0.0]).p == 1.0


# ============================================================================ layer experiments


def test_layer_known_effect_is_recovered():
    exposures, outcomes = _layer_data(20_000, 0.3, seed=11)
    config = _config()
    report = analyse_layer(config, config.experiments[0], exposures, outcomes, None, "mean", 0.95)
    effect = _comparison(report)
    assert effect.method == "welch"
    assert effect.ci_low < 0.3 < effect.ci_high
    assert effect.ci_low > 0 and effect.p < 1e-20
    assert sum(g.units for g in next(iter(report.metrics)).groups) == 20_000
    holdout = _comparison(report, group="holdout")             # compared with control too, labelled
    assert holdout.ci_low < 0 < holdout.ci_high
    assert [c.group for c in report.counts] == ["control", "treatment", "holdout"]
    assert report.srm_p > 0.001 and not report.warnings
    assert "holdout (no variant)" in report.render_text()


def test_layer_aa_coverage():
    exposures, outcomes = _layer_data(600, 0.0, seed=12, metrics=200, holdout_share=0.0)
    config = _config(holdout=0.0)
    report = analyse_layer(config, config.experiments[0], exposures, outcomes, None, "mean", 0.95)
    assert len(report.metrics) == 200
    covered = sum(_comparison(report, m.metric).ci_low < 0 < _comparison(report, m.metric).ci_high
                  for m in report.metrics)
    assert 0.92 <= covered / 200 <= 0.98


def test_layer_unit_values_mean_and_sum():
    config = _config(holdout=0.0)
    exposures = [layer_exposure(u, "control") for u in ("1", "2", "3")]
    exposures += [layer_exposure(u, "treatment") for u in ("4", "5", "6")]
    outcomes = [{"unit_id": "1", "x": 1.0}, {"unit_id": "1", "x": 3.0}, {"unit_id": 2, "x": 4.0},
                {"unit_id": "3", "x": None}, {"unit_id": 4.0, "x": 1.0}, {"unit_id": "5", "x": 2.0},
                {"unit_id": "6", "x": 6.0}, {"unit_id": "99", "x": 100.0}]
    mean_report = analyse_layer(config, config.experiments[0], exposures, outcomes, ["x"], "mean", 0.95)
    control = _group(mean_report, "x", "control")
    assert (control.units, control.n, control.mean) == (3, 2, 3.0)     # unit 3 has no value
    assert mean_report.excluded == {"outcome_rows_without_exposure": 1}
    sum_report = analyse_layer(config, config.experiments[0], exposures, outcomes, ["x"], "sum", 0.95)
    control = _group(sum_report, "x", "control")
    assert (control.n, control.mean) == (3, pytest.approx((4.0 + 4.0 + 0.0) / 3))
    assert _comparison(sum_report, "x").difference == pytest.approx(3.0 - 8.0 / 3)


def test_contaminated_units_are_excluded_and_counted():
    config = _config(holdout=0.0)
    exposures = [layer_exposure(str(u), "control" if u % 2 else "treatment") for u in range(40)]
    exposures += [layer_exposure("0", "control"), layer_exposure("1", "treatment"), layer_exposure("2", "treatment")]
    outcomes = [{"unit_id": str(u), "y": float(u % 5)} for u in range(40)]
    report = analyse_layer(config, config.experiments[0], exposures, outcomes, None, "mean", 0.95)
    assert report.excluded == {"contaminated_units": 2, "outcome_rows_of_excluded_units": 2}
    assert [c.observed for c in report.counts] == [19, 19]
    assert any("contaminated" in w for w in report.warnings)


# ============================================================================ sample ratio mismatch


def _srm_report(counts: dict[str, int], holdout: float = 0.0):
    config = _config(holdout=holdout)
    exposures, unit = [], 0
    for group, count in counts.items():
        for _ in range(count):
            exposures.append(layer_exposure(str(unit), group))
            unit += 1
    outcomes = [{"unit_id": str(u), "y": float(u % 3)} for u in range(unit)]
    return analyse_layer(config, config.experiments[0], exposures, outcomes, None, "mean", 0.95)


def test_srm_balanced_counts_do_not_warn():
    report = _srm_report({"control": 5000, "treatment": 5000})
    assert report.srm_p == pytest.approx(1.0) and not report.warnings
    assert "WARNING" not in report.render_text()


def test_srm_ten_percent_imbalance_warns_loudly():
    report = _srm_report({"control": 5250, "treatment": 4750})
    assert report.srm_p < 1e-6
    assert report.srm_p == pytest.approx(stats.chi2_sf(25.0, 1), rel=1e-12)
    assert any(w.startswith("SAMPLE RATIO MISMATCH") and "do not trust these results" in w for w in report.warnings)
    text = report.render_text()
    assert text.startswith("WARNING: SAMPLE RATIO MISMATCH")


def test_srm_counts_the_holdout():
    report = _srm_report({"control": 4500, "treatment": 4500, "holdout": 1000}, holdout=10.0)
    assert [(c.group, c.expected_share) for c in report.counts] == [
        ("control", 0.45), ("treatment", 0.45), ("holdout", pytest.approx(0.10))]
    assert report.srm_df == 2 and report.srm_p == pytest.approx(1.0) and not report.warnings
    missing_holdout = _srm_report({"control": 4500, "treatment": 4500}, holdout=10.0)
    assert missing_holdout.srm_p < 1e-100 and missing_holdout.warnings


# ============================================================================ switchbacks


def test_switchback_known_effect_with_clustered_noise():
    config, rows, truth = _switchback_rows(seed=21, effect=2.0, rows_per_slice=20, metrics=1,
                                           region_sd=3.0, slice_sd=2.0)
    report = analyse_switchback(config, config.switchbacks[0], [], rows, None, 0.95)
    effect = _comparison(report)
    assert effect.method == "ols-cr1"
    assert effect.ci_low < 2.0 < effect.ci_high
    assert not report.excluded                                  # every row is after its burn-in
    clusters = {cluster for cluster, _ in truth}
    assert effect.df == len(clusters) - 1
    naive = stats.welch([r["m0"] for r, (_, v) in zip(rows, truth) if v == "control"],
                        [r["m0"] for r, (_, v) in zip(rows, truth) if v == "treatment"])
    assert effect.difference == pytest.approx(naive.estimate, abs=1e-9)
    assert effect.se > 2 * naive.se
    assert sum(c.observed for c in report.counts) == len(clusters)
    assert report.srm_p > 0.001


def test_switchback_aa_coverage_of_cr1():
    config, rows, _ = _switchback_rows(seed=22, effect=0.0, rows_per_slice=5, metrics=100,
                                       region_sd=0.5, slice_sd=1.0)
    report = analyse_switchback(config, config.switchbacks[0], [], rows, None, 0.95)
    covered = sum(_comparison(report, m.metric).ci_low < 0 < _comparison(report, m.metric).ci_high
                  for m in report.metrics)
    assert 0.88 <= covered / 100 <= 0.99


def test_switchback_drops_burn_in_uncovered_and_outside_rows():
    config = _config()
    switchback = config.switchbacks[0]
    schedule = Schedule(switchback)
    slices = list(schedule.slices("berlin", RUN_START + timedelta(hours=4), RUN_START + timedelta(hours=8)))
    rows = []
    for k, (slice_, variant) in enumerate(slices):
        rows.append({"region": "berlin", "ts": _z(slice_.start + timedelta(seconds=299)), "y": 100.0})  # burn-in
        rows.append({"region": "berlin", "ts": _z(slice_.start + timedelta(seconds=60)), "y": 100.0})   # burn-in
        rows.append({"region": "berlin", "ts": (slice_.start + timedelta(seconds=300)).timestamp(),      # unix s
                     "y": float(k)})
    rows.append({"region": "paris", "ts": "2024-07-01T10:00:00Z", "y": 1.0})
    rows.append({"region": "berlin", "ts": "2024-07-03T00:00:00Z", "y": 1.0})           # the end is open
    rows.append({"region": "berlin", "ts": "2024-06-30T23:59:59+00:00", "y": 1.0})
    rows.append({"region": "berlin", "ts": None, "y": 1.0})
    report = analyse_switchback(config, switchback, [], rows, ["y"], 0.95)
    assert report.excluded == {"rows_in_burn_in": 2 * len(slices), "rows_in_uncovered_regions": 1,
                               "rows_outside_the_run": 2, "rows_without_region_or_ts": 1}
    groups = {g.group: g for g in next(iter(report.metrics)).groups}
    assert groups["control"].n + groups["treatment"].n == len(slices)
    assert max(groups["control"].mean, groups["treatment"].mean) < 100.0
    assert "rows in burn in" in report.render_text()


def test_switchback_srm_from_exposures_and_contaminated_slices():
    config = _config()
    switchback = config.switchbacks[0]
    schedule = Schedule(switchback)
    exposures, rows = [], []
    for region in sorted(switchback.regions):
        for slice_, variant in schedule.slices(region, RUN_START, RUN_START + timedelta(hours=12)):
            exposures.append(switchback_exposure(region, slice_.start, slice_.index, variant.name, burn_in=False))
            exposures.append(switchback_exposure(region, slice_.start, slice_.index, variant.name,
                                                 at=slice_.start + timedelta(minutes=1), burn_in=True))
            rows.append({"region": region, "ts": _z(slice_.start + timedelta(minutes=20)),
                         "y": 1.0 + (variant.name == "treatment")})
    balanced = analyse_switchback(config, switchback, exposures, rows, None, 0.95)
    assert not balanced.warnings and balanced.srm_p > 0.5
    assert sum(c.observed for c in balanced.counts) == len(rows)
    assert _comparison(balanced, "y").difference == pytest.approx(1.0)
    # one region-slice logged with both variants: left out of the counts and the rows
    first = exposures[0]
    other = "treatment" if first["variant"] == "control" else "control"
    contaminated = exposures + [dict(first, variant=other, model="eta_dnn" if other == "control" else "eta_wide_deep")]
    report = analyse_switchback(config, switchback, contaminated, rows, None, 0.95)
    assert report.excluded == {"contaminated_region_slices": 1, "rows_in_contaminated_region_slices": 1}
    assert sum(c.observed for c in report.counts) == len(rows) - 1
    assert any("contaminated" in w for w in report.warnings)


def test_switchback_srm_imbalance_warns():
    config = _config()
    switchback = config.switchbacks[0]
    schedule = Schedule(switchback)
    exposures, rows = [], []
    for region in sorted(switchback.regions):
        for slice_, variant in schedule.slices(region, RUN_START, RUN_END):
            if variant.name == "treatment" and slice_.index % 2:
                continue                                        # half the treatment slices never logged
            exposures.append(switchback_exposure(region, slice_.start, slice_.index, variant.name))
            rows.append({"region": region, "ts": _z(slice_.start + timedelta(minutes=20)), "y": 1.0})
    report = analyse_switchback(config, switchback, exposures, rows, None, 0.95)
    assert report.srm_p < 0.001
    assert report.warnings[0].startswith("SAMPLE RATIO MISMATCH in `dispatch_eta`")


# ============================================================================ readers and errors


def test_read_csv_outcomes(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("unit_id,clicks,revenue,country\n7,1,2.5,DE\n008,,3,FR\n\n9,2,-1e-3,DE\n", encoding="utf-8")
    rows = read_outcomes(str(path))
    assert rows == [{"unit_id": "7", "clicks": 1.0, "revenue": 2.5, "country": "DE"},
                    {"unit_id": "008", "clicks": None, "revenue": 3.0, "country": "FR"},
                    {"unit_id": "9", "clicks": 2.0, "revenue": -0.001, "country": "DE"}]


def test_read_json_lines_outcomes(tmp_path):
    path = tmp_path / "outcomes.jsonl"
    path.write_text('{"unit_id": 7, "clicks": 1}\n\n{"unit_id": "8", "clicks": null}\n', encoding="utf-8")
    assert read_outcomes(str(path)) == [{"unit_id": 7, "clicks": 1}, {"unit_id": "8", "clicks": None}]
    sniffed = tmp_path / "outcomes.log"
    sniffed.write_text('{"unit_id": 1, "y": 2}\n', encoding="utf-8")
    assert read_outcomes(str(sniffed)) == [{"unit_id": 1, "y": 2}]
    as_csv = tmp_path / "outcomes.txt"
    as_csv.write_text("unit_id,y\n1,2\n", encoding="utf-8")
    assert read_outcomes(str(as_csv)) == [{"unit_id": "1", "y": 2.0}]


def test_readers_name_the_bad_line(tmp_path):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"unit_id": 1}\n{"unit_id": 2\n', encoding="utf-8")
    with pytest.raises(AnalysisError, match=rf"{bad_json}:2: not valid JSON"):
        read_outcomes(str(bad_json))
    not_object = tmp_path / "list.ndjson"
    not_object.write_text('{"unit_id": 1}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(AnalysisError, match=rf"{not_object}:3: expected a JSON object"):
        read_outcomes(str(not_object))
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("unit_id,y\n1,2\n2,3,4\n", encoding="utf-8")
    with pytest.raises(AnalysisError, match=rf"{bad_csv}:3: 3 fields, the header has 2"):
        read_outcomes(str(bad_csv))
    with pytest.raises(AnalysisError, match="cannot read outcomes"):
        read_outcomes(str(tmp_path / "missing.csv"))


def test_user_facing_errors():
    config = _config(holdout=0.0)
    experiment = config.experiments[0]
    exposures = [layer_exposure("1", "control"), layer_exposure("2", "treatment")]
    outcomes = [{"unit_id": "1", "clicks": 1.0, "label": "a"}, {"unit_id": "2", "clicks": 0.0, "label": "b"}]
    with pytest.raises(AnalysisError, match="no column `click`; did you mean `clicks`"):
        analyse_layer(config, experiment, exposures, outcomes, ["click"], "mean", 0.95)
    with pytest.raises(AnalysisError, match="`label` is not a numeric column"):
        analyse_layer(config, experiment, exposures, outcomes, ["label"], "mean", 0.95)
    with pytest.raises(AnalysisError, match="no `unit_id` column"):
        analyse_layer(config, experiment, exposures, [{"user": "1", "clicks": 1.0}], None, "mean", 0.95)
    with pytest.raises(AnalysisError, match="no exposures of experiment `lr_vs_deepfm`"):
        analyse_layer(config, experiment, [], outcomes, None, "mean", 0.95)
    with pytest.raises(AnalysisError, match="control `control` of `lr_vs_deepfm` has no units"):
        analyse_layer(config, experiment, exposures[1:], outcomes, None, "mean", 0.95)
    switchback = config.switchbacks[0]
    with pytest.raises(AnalysisError, match="no `ts` column"):
        analyse_switchback(config, switchback, [], [{"region": "berlin", "y": 1.0}], None, 0.95)
    with pytest.raises(AnalysisError, match="outcomes row 1: ts 'yesterday'"):
        analyse_switchback(config, switchback, [], [{"region": "berlin", "ts": "yesterday", "y": 1.0}], None, 0.95)


def test_report_json_and_text_are_deterministic():
    exposures, outcomes = _layer_data(400, 0.5, seed=31, metrics=2)
    config = _config()
    exposures.append(layer_exposure("0", "treatment" if exposures[0]["variant"] != "treatment" else "control"))
    first = analyse_layer(config, config.experiments[0], exposures, outcomes, None, "mean", 0.9)
    second = analyse_layer(config, config.experiments[0], list(reversed(exposures)), list(reversed(outcomes)),
                           None, "mean", 0.9)
    assert json.dumps(first.to_json()) == json.dumps(second.to_json())
    assert first.render_text() == second.render_text()
    document = first.to_json()
    assert [m["metric"] for m in document["metrics"]] == ["m0", "m1"]
    assert document["excluded"] == {"contaminated_units": 1, "outcome_rows_of_excluded_units": 1}
    text = first.render_text().splitlines()
    assert text[0].startswith("WARNING: 1 unit(s) were logged in more than one variant")
    header = next(line for line in text if line.startswith("group") and "90% CI" in line)
    treatment = next(line for line in text[text.index(header):] if line.startswith("treatment"))
    assert len(treatment) <= len(header) and header.index("lift") + 4 == len(header)
