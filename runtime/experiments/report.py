"""The result of `mlc experiment report`: per-group counts, summaries and comparisons, with
``Report.to_json()`` (deterministic) and ``Report.render_text()`` (warnings first)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

HOLDOUT = "holdout"

@dataclass(frozen=True)
class GroupCount:
    """Units (region-slices) of one group and its configured share, for the SRM test."""

    group: str
    observed: int
    expected_share: float


@dataclass(frozen=True)
class GroupSummary:
    """One group's metric: ``units`` are units (region-slices) with a value, ``n`` the values
    averaged (units for layers, outcome rows for switchbacks)."""

    group: str
    units: int
    n: int
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class Comparison:
    """``group`` minus control; the fields are None when the test cannot be computed (``note``)."""

    group: str
    control: str
    method: str                    # "welch" or "ols-cr1"
    difference: float | None = None
    se: float | None = None
    df: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    lift: float | None = None      # difference / control mean
    note: str | None = None


@dataclass(frozen=True)
class MetricReport:
    metric: str
    groups: tuple[GroupSummary, ...]
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Report:
    kind: str                      # "layer" or "switchback"
    experiment: str
    layer: str | None
    unit: str                      # the unit field (layers) or "region-slice"
    control: str
    confidence: float
    aggregate: str | None          # layers: "mean" or "sum"
    config_version: str
    exposure_config_versions: tuple[str, ...]
    counts: tuple[GroupCount, ...]
    srm_chi2: float | None
    srm_df: int | None
    srm_p: float | None
    excluded: dict[str, int]
    metrics: tuple[MetricReport, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; keys in a fixed order, groups in variant order, counts sorted,
        non-finite numbers as null."""
        return {
            "kind": self.kind, "experiment": self.experiment, "layer": self.layer, "unit": self.unit,
            "control": self.control, "confidence": self.confidence, "aggregate": self.aggregate,
            "config_version": self.config_version,
            "exposure_config_versions": list(self.exposure_config_versions),
            "warnings": list(self.warnings), "notes": list(self.notes),
            "groups": [{"group": c.group, "observed": c.observed, "expected_share": _finite(c.expected_share)}
                       for c in self.counts],
            "srm": {"chi2": _finite(self.srm_chi2), "df": self.srm_df, "p": _finite(self.srm_p)},
            "excluded": dict(sorted(self.excluded.items())),
            "metrics": [_metric_json(m) for m in self.metrics],
        }

    def render_text(self) -> str:
        """A plain-text report: warnings first (``WARNING:``), then the groups, the sample-ratio
        test and one aligned table per metric."""
        lines = [f"WARNING: {warning}" for warning in self.warnings]
        if lines:
            lines.append("")
        lines += self._heading()
        lines += [""] + _table(["group", _plural(self.unit), "expected", "observed"],
                               [[c.group, str(c.observed), _percent(c.expected_share), _percent(self._share(c))]
                                for c in self.counts])
        lines.append(f"sample ratio: chi2 {_number(self.srm_chi2)}, df {_number(self.srm_df)}, "
                     f"p {_p_value(self.srm_p)}")
        for metric in self.metrics:
            lines += [""] + self._metric_lines(metric)
        return "\n".join(lines) + "\n"

    def _heading(self) -> list[str]:
        where = f" (layer {self.layer})" if self.layer else ""
        lines = [f"{self.kind} experiment `{self.experiment}`{where}: unit {self.unit}, control `{self.control}`",
                 f"config {self.config_version}, confidence {self.confidence:.4g}"
                 + (f", unit value: {self.aggregate} of its rows" if self.aggregate else "")]
        if self.excluded:
            excluded = sorted(self.excluded.items())
            lines.append("excluded: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in excluded))
        lines += [f"note: {note}" for note in self.notes]
        return lines

    def _share(self, count: GroupCount) -> float | None:
        total = sum(c.observed for c in self.counts)
        return count.observed / total if total else None

    def _metric_lines(self, metric: MetricReport) -> list[str]:
        versus = {c.group: c for c in metric.comparisons}
        level = f"{self.confidence * 100:.4g}% CI"
        rows = []
        for group in metric.groups:
            comparison = versus.get(group.group)
            label = f"{group.group} (no variant)" if group.group == HOLDOUT else group.group
            rows.append([label, str(group.units), str(group.n), _number(group.mean), _number(group.sd)]
                        + _comparison_cells(comparison, group.group == self.control))
        lines = [f"metric `{metric.metric}` (differences vs `{self.control}`)"]
        lines += _table(["group", _plural(self.unit), "n", "mean", "sd", "diff", level, "p", "lift"], rows)
        lines += [f"  {c.group}: {c.note}" for c in metric.comparisons if c.note]
        return lines


def _comparison_cells(comparison: Comparison | None, is_control: bool) -> list[str]:
    if is_control or comparison is None or comparison.difference is None:
        return ["(control)" if is_control else "-", "", "", ""]
    interval = f"[{_number(comparison.ci_low, signed=True)}, {_number(comparison.ci_high, signed=True)}]"
    lift = "-" if comparison.lift is None else f"{comparison.lift * 100:+.2f}%"
    return [_number(comparison.difference, signed=True), interval, _p_value(comparison.p), lift]


def _metric_json(metric: MetricReport) -> dict[str, Any]:
    return {
        "metric": metric.metric,
        "groups": [{"group": g.group, "units": g.units, "n": g.n, "mean": _finite(g.mean), "sd": _finite(g.sd)}
                   for g in metric.groups],
        "comparisons": [{"group": c.group, "control": c.control, "method": c.method,
                         "difference": _finite(c.difference), "se": _finite(c.se), "df": _finite(c.df),
                         "ci": [_finite(c.ci_low), _finite(c.ci_high)], "p": _finite(c.p),
                         "lift": _finite(c.lift), "note": c.note} for c in metric.comparisons],
    }


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell: the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [headers] + rows) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "  ".join(padded).rstrip()

    return [line(headers)] + [line(row) for row in rows]


def _finite(value: float | int | None) -> float | int | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _number(value: float | int | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def _p_value(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2e}" if p < 1e-4 else f"{p:.4f}"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.2f}%"


def _plural(unit: str) -> str:
    return unit if unit.endswith("s") else unit + "s"
