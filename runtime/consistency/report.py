"""The ``mlc consistency`` report: dataclasses and three renderings (text, JSON with sorted keys,
a Markdown table). Deterministic: features sorted by name, no time of the run, no path other
than the ones the user passed."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

SKEW_CAUSES = ("missing_record", "store_outage", "stale_record", "offline_lag", "null_vs_empty", "type", "value")


@dataclass
class Example:
    request_id: str
    item: int
    logged: Any
    offline: Any
    cause: str

    def to_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "item": self.item, "logged": shown(self.logged),
                "offline": shown(self.offline), "cause": self.cause}


@dataclass
class FeatureResult:
    name: str
    kind: str                   # group_output | model_input
    dtype: str
    compared: int = 0
    mismatches: int = 0
    causes: Counter = field(default_factory=Counter)
    examples: list[Example] = field(default_factory=list)
    abs_sum: float = 0.0
    abs_count: int = 0

    def add(self, cause: str, difference: float | None, example: Example, limit: int) -> None:
        self.mismatches += 1
        self.causes[cause] += 1
        if difference is not None:
            self.abs_sum += difference
            self.abs_count += 1
        if len(self.examples) < limit:
            self.examples.append(example)

    @property
    def rate(self) -> float:
        return self.mismatches / self.compared if self.compared else 0.0

    @property
    def mean_abs_difference(self) -> float | None:
        return self.abs_sum / self.abs_count if self.abs_count else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype, "rows_compared": self.compared,
                "mismatches": self.mismatches, "mismatch_rate": round(self.rate, 6),
                "mean_abs_difference": _rounded(self.mean_abs_difference),
                "causes": {c: self.causes[c] for c in SKEW_CAUSES if self.causes[c]},
                "examples": [e.to_json() for e in self.examples]}


@dataclass
class Report:
    app: str
    spec_hash: str                              # the hash of the spec compared with
    log: Mapping[str, Any]                      # LogSummary.to_json()
    served_under: Mapping[str, int]             # spec hash -> requests compared
    requests: int
    rows: int
    threshold: float
    any_spec_version: bool = False
    capped: int = 0                             # requests left out past max_requests
    max_requests: int = 0
    unknown_model: int = 0
    features: list[FeatureResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[FeatureResult]:
        return [f for f in self.features if f.rate > self.threshold]

    @property
    def mismatches(self) -> int:
        return sum(f.mismatches for f in self.features)

    @property
    def ok(self) -> bool:
        return not self.failing

    def verdict(self) -> str:
        if self.ok:
            return (f"consistent: {self.mismatches} mismatch(es); every feature's mismatch rate <= "
                    f"threshold {self.threshold:g}")
        return (f"skew: {len(self.failing)} feature(s) above the mismatch-rate threshold {self.threshold:g}: "
                + ", ".join(f.name for f in self.failing))

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "spec_hash": self.spec_hash, "any_spec_version": self.any_spec_version,
                "log": dict(self.log), "served_under": dict(sorted(self.served_under.items())),
                "requests": self.requests, "rows": self.rows, "capped": self.capped,
                "max_requests": self.max_requests, "unknown_model": self.unknown_model,
                "threshold": self.threshold, "mismatches": self.mismatches, "ok": self.ok,
                "verdict": self.verdict(), "notes": list(self.notes),
                "features": [f.to_json() for f in self.features]}


def shown(value: Any) -> Any:
    """A value as JSON shows it (non-finite floats as text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _rounded(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.9g}")


# ------------------------------------------------------------------------------ renderings


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def summary_lines(report: Report) -> list[str]:
    """The log and spec-version summary: files, lines, accepted, skipped per reason, hashes."""
    log = report.log
    lines = [f"feature log: {len(log.get('files') or [])} file(s), {log.get('lines', 0)} line(s), "
             f"{log.get('accepted', 0)} accepted"]
    skipped = log.get("skipped") or {}
    first = log.get("first_skipped") or {}
    for reason, count in skipped.items():
        lines.append(f"  skipped {count} {reason}" + (f" (first at {first[reason]})" if reason in first else ""))
    hashes = log.get("spec_hashes") or {}
    for spec_hash, count in sorted(hashes.items()):
        mark = " (this spec)" if spec_hash == report.spec_hash else ""
        used = report.served_under.get(spec_hash, 0)
        lines.append(f"  spec hash {spec_hash}{mark}: {count} record(s), {used} request(s) compared")
    if report.unknown_model:
        lines.append(f"  skipped {report.unknown_model} request(s) of a model the spec does not have")
    if report.capped:
        lines.append(f"  capped: {report.capped} request(s) past --max-requests {report.max_requests} not compared")
    return lines


def render_text(report: Report) -> str:
    lines = [f"consistency of `{report.app}` (spec hash {report.spec_hash})"] + summary_lines(report)
    lines.append(f"compared {report.requests} request(s), {report.rows} row(s)")
    lines += [f"note: {n}" for n in report.notes]
    lines.append("")
    for f in report.features:
        mad = f.mean_abs_difference
        causes = ", ".join(f"{c} {n}" for c, n in _causes(f))
        lines.append(f"{f.name} ({f.kind}, {f.dtype}): {f.compared} compared, {f.mismatches} mismatch(es), "
                     f"rate {f.rate:.4f}" + (f", mean |diff| {mad:.6g}" if mad is not None else "")
                     + (f"; causes: {causes}" if causes else ""))
        for e in f.examples:
            lines.append(f"    request {e.request_id} item {e.item}: logged {_text(e.logged)}, "
                         f"offline {_text(e.offline)} ({e.cause})")
    lines += ["", report.verdict()]
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    lines = [f"## Consistency of `{report.app}` (spec hash `{report.spec_hash}`)", ""]
    lines += [f"- {line.strip()}" for line in summary_lines(report)]
    lines += [f"- compared {report.requests} request(s), {report.rows} row(s)"]
    lines += [f"- note: {n}" for n in report.notes]
    lines += ["", "| feature | kind | rows | mismatches | rate | mean abs diff | causes |",
              "|---|---|---:|---:|---:|---:|---|"]
    for f in report.features:
        mad = f.mean_abs_difference
        causes = ", ".join(f"{c} {n}" for c, n in _causes(f)) or "-"
        lines.append(f"| `{f.name}` | {f.kind} | {f.compared} | {f.mismatches} | {f.rate:.4f} | "
                     f"{'-' if mad is None else f'{mad:.6g}'} | {causes} |")
    examples = [(f, e) for f in report.features for e in f.examples]
    if examples:
        lines += ["", "| feature | request | item | logged | offline | cause |", "|---|---|---:|---|---|---|"]
        lines += [f"| `{f.name}` | {_cell(e.request_id)} | {e.item} | {_cell(_text(e.logged))} | "
                  f"{_cell(_text(e.offline))} | {e.cause} |" for f, e in examples]
    lines += ["", f"**{report.verdict()}**"]
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str) -> str:
    return {"json": render_json, "markdown": render_markdown}.get(fmt, render_text)(report)


def _causes(f: FeatureResult) -> list[tuple[str, int]]:
    return [(c, f.causes[c]) for c in SKEW_CAUSES if f.causes[c]]


def _text(value: Any) -> str:
    return json.dumps(shown(value), ensure_ascii=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
