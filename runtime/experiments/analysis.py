"""Experiment analysis: `mlc experiment report` (docs/experiments.md "Analysis").

    outcomes = read_outcomes("outcomes.csv")                      # CSV or JSON lines
    report = analyse_layer(config, experiment, exposures, outcomes, None, "mean", 0.95)
    report = analyse_switchback(config, switchback, exposures, outcomes, ["eta_error"], 0.95)
    print(report.render_text()); json.dumps(report.to_json())

- **layer experiments**: the units are the distinct ``unit_id`` of the experiment's exposures; a
  unit logged in more than one variant is *contaminated* and excluded. A unit's value of a metric
  is the mean of its outcome rows (``aggregate="sum"``: the sum, 0 for a unit without rows).
  Every variant, and the holdout, is compared with control by Welch's t-test.
- **switchbacks**: every outcome row is placed in its region-slice by the schedule; rows outside
  the switchback's run, in uncovered regions or in a burn-in are dropped and counted. The
  difference to control is the least-squares coefficient of a treatment indicator with CR1
  standard errors clustered by region-slice, t with ``G - 1`` degrees of freedom.
- **sample ratio mismatch**: a chi-square test of units (region-slices) per group against the
  configured split, holdout included; p < 0.001 is a loud warning.

Problems the user can fix (unknown metric, missing column, no exposures, empty control) raise
:class:`AnalysisError`. Standard library only; see ``stats`` for the tests.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from mlc.runtime.experiments import stats
from mlc.backends.experiments.config import ExperimentConfig, ExperimentsConfig, SwitchbackConfig
from mlc.runtime.experiments.outcomes import KEY_COLUMNS, AnalysisError, read_outcomes  # noqa: F401  (public here too)
from mlc.runtime.experiments.report import (  # noqa: F401  (public here too)
    HOLDOUT, Comparison, GroupCount, GroupSummary, MetricReport, Report,
)
from mlc.runtime.experiments.switchback import Schedule
from mlc.core.suggest import did_you_mean

SRM_ALPHA = 0.001
BUCKETS = 10_000


# ============================================================================ shared steps


def _resolve_metrics(outcomes: list[dict[str, Any]], requested: Sequence[str] | None) -> list[str]:
    """The requested metrics (deduplicated, in order), or every numeric column except the keys
    (sorted). Unknown or non-numeric metrics raise AnalysisError."""
    columns = sorted({name for row in outcomes for name in row})
    numeric = [name for name in columns if name not in KEY_COLUMNS and _is_numeric_column(outcomes, name)]
    if not requested:
        if not numeric:
            found = ", ".join(columns) or "no columns"
            raise AnalysisError(f"the outcomes have no numeric metric column (found: {found})")
        return numeric
    metrics = list(dict.fromkeys(requested))
    for metric in metrics:
        if metric not in columns:
            hint = did_you_mean(metric, [c for c in columns if c not in KEY_COLUMNS], "metrics")
            raise AnalysisError(f"the outcomes have no column `{metric}`" + (f"; {hint}" if hint else ""))
        if metric in KEY_COLUMNS or metric not in numeric:
            raise AnalysisError(f"`{metric}` is not a numeric column ({_first_non_number(outcomes, metric)})")
    return metrics


def _is_numeric_column(outcomes: list[dict[str, Any]], name: str) -> bool:
    return all(_is_number_or_missing(row.get(name)) for row in outcomes)


def _is_number_or_missing(value: Any) -> bool:
    return value is None or isinstance(value, (int, float))      # bool is an int: 0/1 metrics


def _first_non_number(outcomes: list[dict[str, Any]], name: str) -> str:
    for number, row in enumerate(outcomes, start=1):
        if not _is_number_or_missing(row.get(name)):
            return f"outcomes row {number}: {row.get(name)!r}"
    return "a key column"


def _metric_value(row: dict[str, Any], metric: str) -> float | None:
    value = row.get(metric)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _require_column(outcomes: list[dict[str, Any]], column: str, why: str) -> None:
    if outcomes and not any(column in row for row in outcomes):
        hint = did_you_mean(column, {name for row in outcomes for name in row}, "columns")
        raise AnalysisError(f"the outcomes have no `{column}` column ({why})" + (f"; {hint}" if hint else ""))


def _unit_text(value: Any) -> str | None:
    """A unit id as text, as the exposure log writes it (7, 7.0 and "7" are the same unit)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _srm(counts: Sequence[GroupCount], what: str, name: str) -> tuple[stats.GoodnessOfFit, list[str]]:
    """The chi-square test of the counts against their shares, and its warning when p < 0.001."""
    fit = stats.chi_square_gof([c.observed for c in counts], [c.expected_share for c in counts])
    if fit.p >= SRM_ALPHA:
        return fit, []
    observed = ", ".join(f"{c.group} {c.observed}" for c in counts)
    expected = ", ".join(f"{c.group} {c.expected_share * 100:.2f}%" for c in counts)
    return fit, [f"SAMPLE RATIO MISMATCH in `{name}`: {what} per group ({observed}) do not match the "
                 f"configured split ({expected}); chi-square p = {fit.p:.2g}: do not trust these results "
                 "until the cause is found"]


def _summary(group: str, units: int, values: Sequence[float]) -> GroupSummary:
    mean = stats.mean(values) if values else None
    sd = math.sqrt(stats.variance(values)) if len(values) >= 2 else None
    return GroupSummary(group, units, len(values), mean, sd)


def _comparison(group: str, control: str, method: str, estimate: stats.Estimate, control_mean: float) -> Comparison:
    lift = estimate.estimate / control_mean if control_mean else None
    return Comparison(group, control, method, estimate.estimate, estimate.se, estimate.df,
                      estimate.ci_low, estimate.ci_high, estimate.p, lift)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise AnalysisError(f"confidence {confidence} is not between 0 and 1")


def _config_versions(exposures: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({str(e["config_version"]) for e in exposures if e.get("config_version")}))


# ============================================================================ layer experiments


@dataclass
class _LayerUnits:
    """The analysed units of a layer experiment: unit id -> group, and what was excluded."""

    group_of: dict[str, str]
    excluded: set[str] = field(default_factory=set)
    contaminated: int = 0
    unknown_variant: int = 0
    unknown_names: list[str] = field(default_factory=list)


def analyse_layer(config: ExperimentsConfig, experiment: ExperimentConfig, exposures: Iterable[dict[str, Any]],
                  outcomes: list[dict[str, Any]], metrics: Sequence[str] | None = None,
                  aggregate: str = "mean", confidence: float = 0.95) -> Report:
    """Per group: units, and per metric n, mean, sd and the Welch comparison with control."""
    _check_confidence(confidence)
    if aggregate not in ("mean", "sum"):
        raise AnalysisError(f"aggregate `{aggregate}` is not `mean` or `sum`")
    own = [e for e in exposures if e.get("experiment") == experiment.name and e.get("kind", "layer") == "layer"]
    if not own:
        raise AnalysisError(f"no exposures of experiment `{experiment.name}` in the exposure log")
    units = _layer_units(experiment, own)
    groups = _layer_groups(experiment, units)
    counts = _layer_counts(experiment, units, groups)
    if not next(c.observed for c in counts if c.group == experiment.control):
        raise AnalysisError(f"control `{experiment.control}` of `{experiment.name}` has no units")
    _require_column(outcomes, "unit_id", "layer outcomes are keyed by unit_id")
    chosen = _resolve_metrics(outcomes, metrics)
    rows_of, dropped_rows = _rows_by_unit(outcomes, units)
    metric_reports = tuple(_layer_metric(experiment, groups, units.group_of, rows_of, metric, aggregate, confidence)
                           for metric in chosen)
    fit, warnings = _srm(counts, "units", experiment.name)
    excluded = {"contaminated_units": units.contaminated, "unknown_variant_units": units.unknown_variant,
                **dropped_rows}
    return Report(
        kind="layer", experiment=experiment.name, layer=experiment.layer, unit=experiment.unit,
        control=experiment.control, confidence=confidence, aggregate=aggregate,
        config_version=config.config_version, exposure_config_versions=_config_versions(own),
        counts=counts, srm_chi2=fit.statistic, srm_df=fit.df, srm_p=fit.p,
        excluded={k: v for k, v in excluded.items() if v}, metrics=metric_reports,
        warnings=tuple(warnings + _layer_warnings(units)), notes=_version_notes(config, own),
    )


def _layer_units(experiment: ExperimentConfig, exposures: list[dict[str, Any]]) -> _LayerUnits:
    """Each unit's group; units logged in several groups (contaminated) or in a group the config
    does not know are left out and counted."""
    seen: dict[str, set[str]] = defaultdict(set)
    for exposure in exposures:
        unit = _unit_text(exposure.get("unit_id"))
        if unit is not None:
            seen[unit].add(str(exposure.get("variant")))
    known = {v.name for v in experiment.variants} | {HOLDOUT}
    units = _LayerUnits({})
    unknown: set[str] = set()
    for unit, variants in seen.items():
        if len(variants) > 1:
            units.contaminated += 1
            units.excluded.add(unit)
        elif not variants <= known:
            units.unknown_variant += 1
            units.excluded.add(unit)
            unknown |= variants
        else:
            units.group_of[unit] = next(iter(variants))
    units.unknown_names = sorted(unknown)
    return units


def _layer_groups(experiment: ExperimentConfig, units: _LayerUnits) -> list[str]:
    """The variants in config order, then the holdout when configured or observed."""
    groups = [v.name for v in experiment.variants]
    if experiment.holdout > 0 or HOLDOUT in units.group_of.values():
        groups.append(HOLDOUT)
    return groups


def _layer_counts(experiment: ExperimentConfig, units: _LayerUnits, groups: list[str]) -> tuple[GroupCount, ...]:
    observed = Counter(units.group_of.values())
    shares = _layer_shares(experiment)
    return tuple(GroupCount(group, observed.get(group, 0), shares.get(group, 0.0)) for group in groups)


def _layer_shares(experiment: ExperimentConfig) -> dict[str, float]:
    """Configured shares of the experiment's units: each variant's bucket range of the variant
    hash space (else (100 - holdout)% split by weight), the rest is the holdout."""
    if all(v.buckets is not None for v in experiment.variants):
        shares = {v.name: (v.buckets[1] - v.buckets[0]) / BUCKETS for v in experiment.variants}
    else:
        total_weight = math.fsum(v.weight for v in experiment.variants) or 1.0
        kept = (100.0 - experiment.holdout) / 100.0
        shares = {v.name: kept * v.weight / total_weight for v in experiment.variants}
    shares[HOLDOUT] = max(0.0, 1.0 - math.fsum(shares.values()))
    return shares


def _rows_by_unit(outcomes: list[dict[str, Any]], units: _LayerUnits) -> tuple[dict[str, list[dict]], Counter]:
    """Outcome rows of the analysed units, and counts of the rows of excluded units and of
    units without exposures."""
    rows_of: dict[str, list[dict]] = defaultdict(list)
    dropped: Counter = Counter()
    for row in outcomes:
        unit = _unit_text(row.get("unit_id"))
        if unit in units.group_of:
            rows_of[unit].append(row)
        elif unit in units.excluded:
            dropped["outcome_rows_of_excluded_units"] += 1
        else:
            dropped["outcome_rows_without_exposure"] += 1
    return rows_of, dropped


def _unit_value(rows: list[dict], metric: str, aggregate: str) -> float | None:
    values = [v for v in (_metric_value(row, metric) for row in rows) if v is not None]
    if aggregate == "sum":
        return math.fsum(values)
    return stats.mean(values) if values else None


def _layer_metric(experiment: ExperimentConfig, groups: list[str], group_of: dict[str, str],
                  rows_of: dict[str, list[dict]], metric: str, aggregate: str, confidence: float) -> MetricReport:
    units_in: Counter = Counter(group_of.values())
    values: dict[str, list[float]] = {group: [] for group in groups}
    for unit in sorted(group_of):
        value = _unit_value(rows_of.get(unit, []), metric, aggregate)
        if value is not None:
            values[group_of[unit]].append(value)
    summaries = tuple(_summary(group, units_in.get(group, 0), values[group]) for group in groups)
    control_values = values[experiment.control]
    comparisons = tuple(_welch_comparison(group, experiment.control, control_values, values[group], confidence)
                        for group in groups if group != experiment.control)
    return MetricReport(metric, summaries, comparisons)


def _welch_comparison(group: str, control: str, control_values: list[float], values: list[float],
                      confidence: float) -> Comparison:
    if len(control_values) < 2 or len(values) < 2:
        return Comparison(group, control, "welch", note="needs 2 units with a value in it and in control")
    estimate = stats.welch(control_values, values, confidence)
    return _comparison(group, control, "welch", estimate, stats.mean(control_values))


def _layer_warnings(units: _LayerUnits) -> list[str]:
    warnings = []
    if units.contaminated:
        warnings.append(f"{units.contaminated} unit(s) were logged in more than one variant (contaminated) "
                        "and are excluded")
    if units.unknown_variant:
        warnings.append(f"{units.unknown_variant} unit(s) were logged in variant(s) the config does not have "
                        f"({', '.join(units.unknown_names)}) and are excluded")
    return warnings


def _version_notes(config: ExperimentsConfig, exposures: list[dict[str, Any]]) -> tuple[str, ...]:
    versions = _config_versions(exposures)
    if versions and versions != (config.config_version,):
        return (f"exposures were assigned by config version(s) {', '.join(versions)}; "
                f"this config is {config.config_version}",)
    return ()


# ============================================================================ switchbacks


Cluster = tuple[str, datetime]             # (region, slice start in UTC)


@dataclass
class _Placed:
    """Outcome rows placed in region-slices: (cluster, group, row), and the drop counts."""

    rows: list[tuple[Cluster, str, dict]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


def analyse_switchback(config: ExperimentsConfig, switchback: SwitchbackConfig, exposures: Iterable[dict[str, Any]],
                       outcomes: list[dict[str, Any]], metrics: Sequence[str] | None = None,
                       confidence: float = 0.95) -> Report:
    """Per variant: region-slices, rows and mean; vs control: OLS with CR1 cluster-robust SE."""
    _check_confidence(confidence)
    own = [e for e in exposures
           if e.get("experiment") == switchback.name and e.get("kind", "switchback") == "switchback"]
    exposed, contaminated = _exposed_clusters(own)
    _require_column(outcomes, "region", "switchback outcomes are placed by region and ts")
    _require_column(outcomes, "ts", "switchback outcomes are placed by region and ts")
    chosen = _resolve_metrics(outcomes, metrics)
    placed = _place_rows(Schedule(switchback), outcomes, exposed, contaminated)
    groups = [v.name for v in switchback.variants]
    if exposed:
        cluster_groups = {cluster: next(iter(names)) for cluster, names in exposed.items()}
        notes: list[str] = []
    else:
        cluster_groups = {cluster: group for cluster, group, _ in placed.rows}
        notes = ["no exposures of this switchback: the sample-ratio test counts region-slices with outcomes"]
    counts = _switchback_counts(switchback, cluster_groups)
    if not any(group == switchback.control for _, group, _ in placed.rows):
        raise AnalysisError(f"control `{switchback.control}` of `{switchback.name}` has no outcome rows "
                            "in its region-slices")
    metric_reports = tuple(_switchback_metric(switchback.control, groups, placed, metric, confidence)
                           for metric in chosen)
    fit, warnings = _srm(counts, "region-slices", switchback.name)
    warnings += _switchback_warnings(placed, contaminated, cluster_groups, groups)
    excluded = dict(placed.dropped)
    if contaminated:
        excluded["contaminated_region_slices"] = len(contaminated)
    return Report(
        kind="switchback", experiment=switchback.name, layer=None, unit="region-slice",
        control=switchback.control, confidence=confidence, aggregate=None,
        config_version=config.config_version, exposure_config_versions=_config_versions(own),
        counts=counts, srm_chi2=fit.statistic, srm_df=fit.df, srm_p=fit.p,
        excluded=dict(sorted(excluded.items())), metrics=metric_reports,
        warnings=tuple(warnings), notes=tuple(notes) + _version_notes(config, own),
    )


def _exposed_clusters(exposures: list[dict[str, Any]]) -> tuple[dict[Cluster, set[str]], set[Cluster]]:
    """Region-slices of the exposure log -> their variants (one each), and those logged with
    more than one variant (contaminated, left out)."""
    seen: dict[Cluster, set[str]] = defaultdict(set)
    for number, exposure in enumerate(exposures, start=1):
        if exposure.get("region") is None or not exposure.get("slice_start"):
            continue
        start = _parse_time(exposure["slice_start"], f"exposure {number}: slice_start")
        seen[(_unit_text(exposure["region"]), start)].add(str(exposure.get("variant")))
    contaminated = {cluster for cluster, names in seen.items() if len(names) > 1}
    return {c: names for c, names in seen.items() if c not in contaminated}, contaminated


def _place_rows(schedule: Any, outcomes: list[dict[str, Any]], exposed: dict[Cluster, set[str]],
                contaminated: set[Cluster]) -> _Placed:
    """Each row's region-slice and variant by the schedule; rows without region or ts, in an
    uncovered region, outside the run, in a burn-in, in a contaminated region-slice or in one
    whose exposures logged another variant are dropped and counted."""
    placed = _Placed()
    for number, row in enumerate(outcomes, start=1):
        region, moment = _unit_text(row.get("region")), row.get("ts")
        if region is None or moment is None or moment == "":
            placed.dropped["rows_without_region_or_ts"] += 1
            continue
        at = _parse_time(moment, f"outcomes row {number}: ts")
        reason, cluster, group = _place(schedule, region, at, exposed, contaminated)
        if reason:
            placed.dropped[reason] += 1
        else:
            placed.rows.append((cluster, group, row))
    return placed


def _place(schedule: Any, region: str, at: datetime, exposed: dict[Cluster, set[str]],
           contaminated: set[Cluster]) -> tuple[str | None, Cluster | None, str | None]:
    """(reason the row is dropped or None, its cluster, its variant)."""
    if schedule.config.timezone_of(region) is None:
        return "rows_in_uncovered_regions", None, None
    assigned = schedule.assign(region, at)
    if assigned is None:
        return "rows_outside_the_run", None, None
    slice_, variant, in_burn_in = assigned
    if in_burn_in:
        return "rows_in_burn_in", None, None
    cluster = (slice_.region, slice_.start)
    if cluster in contaminated:
        return "rows_in_contaminated_region_slices", None, None
    logged = exposed.get(cluster)
    if logged is not None and variant.name not in logged:
        return "rows_where_exposures_disagree_with_the_schedule", None, None
    return None, cluster, variant.name


def _parse_time(value: Any, what: str) -> datetime:
    """An aware UTC datetime from ISO-8601 text (naive: UTC; `Z` accepted) or unix seconds."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        text = str(value).strip()
        try:
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        except ValueError:
            pass
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except (ValueError, OverflowError, OSError):
        raise AnalysisError(f"{what} {value!r} is neither ISO-8601 nor unix seconds") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _switchback_counts(switchback: SwitchbackConfig, cluster_groups: dict[Cluster, str]) -> tuple[GroupCount, ...]:
    """Region-slices per variant against the ticket shares; unknown variants as extra groups."""
    observed = Counter(cluster_groups.values())
    total_tickets = sum(switchback.tickets)
    counts = [GroupCount(v.name, observed.pop(v.name, 0), tickets / total_tickets)
              for v, tickets in zip(switchback.variants, switchback.tickets)]
    counts += [GroupCount(name, observed[name], 0.0) for name in sorted(observed)]
    return tuple(counts)


def _switchback_metric(control: str, groups: list[str], placed: _Placed, metric: str,
                       confidence: float) -> MetricReport:
    values: dict[str, list[tuple[Cluster, float]]] = {group: [] for group in groups}
    for cluster, group, row in placed.rows:
        value = _metric_value(row, metric)
        if value is not None and group in values:
            values[group].append((cluster, value))
    summaries = tuple(_summary(group, len({c for c, _ in values[group]}), [v for _, v in values[group]])
                      for group in groups)
    comparisons = tuple(_cluster_comparison(group, control, values[control], values[group], confidence)
                        for group in groups if group != control)
    return MetricReport(metric, summaries, comparisons)


def _cluster_comparison(group: str, control: str, control_rows: list[tuple[Cluster, float]],
                        rows: list[tuple[Cluster, float]], confidence: float) -> Comparison:
    clusters = {c for c, _ in control_rows} | {c for c, _ in rows}
    if not control_rows or not rows or len(clusters) < 2 or len(control_rows) + len(rows) < 3:
        return Comparison(group, control, "ols-cr1", note="needs region-slices with values in it and in control")
    y = [v for _, v in control_rows] + [v for _, v in rows]
    treated = [False] * len(control_rows) + [True] * len(rows)
    cluster_ids = [c for c, _ in control_rows] + [c for c, _ in rows]
    estimate = stats.cluster_ols(y, treated, cluster_ids, confidence)
    return _comparison(group, control, "ols-cr1", estimate, stats.mean([v for _, v in control_rows]))


def _switchback_warnings(placed: _Placed, contaminated: set[Cluster], cluster_groups: dict[Cluster, str],
                         groups: list[str]) -> list[str]:
    warnings = []
    if contaminated:
        warnings.append(f"{len(contaminated)} region-slice(s) were logged with more than one variant "
                        "(contaminated) and are excluded")
    disagree = placed.dropped.get("rows_where_exposures_disagree_with_the_schedule", 0)
    if disagree:
        warnings.append(f"{disagree} outcome row(s) fall in region-slices whose exposures logged another variant "
                        "than this config's schedule (was the schedule changed?); they are excluded")
    unknown = sorted({g for g in cluster_groups.values() if g not in groups})
    if unknown:
        warnings.append(f"exposures name variant(s) the config does not have: {', '.join(unknown)}")
    return warnings
