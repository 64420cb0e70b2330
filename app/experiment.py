"""The experiments of a spec: `assign` (a request's assignments, as serving computes them),
`schedule` (a switchback's slices and variants per region), `report` (an experiment analysed
from exposures and outcomes).

Each compiles the spec in memory and reads the same ``experiments/config.json`` the build
carries (``mlc.backends.experiments``), so what it says is what serving does. Problems are
MlcErrors: E7004 a bad time, E7009 an unknown experiment, E7010 exposures or outcomes that
cannot be read or analysed, E7011 a bad context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from mlc.app.common import built, Diagnostics, parse_time, unshown
from mlc.backends.experiments.config import ConfigError, ExperimentsConfig, SwitchbackConfig
from mlc.backends.experiments.emit import emit
from mlc.core.errors import MlcError
from mlc.core.suggest import did_you_mean
from mlc.runtime.experiments.analysis import analyse_layer, analyse_switchback, AnalysisError, read_outcomes
from mlc.runtime.experiments.assigner import Assigner
from mlc.runtime.experiments.exposures import exposure_record, read_exposures, utc_text
from mlc.runtime.experiments.switchback import balance, schedule_rows


def compiled(spec: str, env: str | None, diagnostics: Diagnostics = unshown) -> tuple[Any, Any]:
    """(build result, ExperimentsConfig) of the spec."""

    result = built(spec, env, diagnostics)
    (text,) = emit(result.ir).values()
    return result, ExperimentsConfig.from_json(json.loads(text))


def find(config: Any, name: str) -> Any:
    try:
        return config.find(name)
    except ConfigError as err:
        parts = str(err).split("; ", 1)
        raise MlcError(parts[0], code="E7009", hint=parts[1] if len(parts) > 1 else None) from None


def _time(text: str | None, default: datetime | None) -> datetime | None:
    return parse_time(text) if text is not None else default


def iso(at: datetime) -> str:
    return utc_text(at, milliseconds=False)


# --------------------------------------------------------------------------------- assign


@dataclass
class Assignments:
    at: datetime
    shard: str
    served: tuple
    records: list[dict]              # exposure records, one per assignment
    routed: Any                      # the assignment that routes the request, or None
    config_version: str


def context_fields(text: str) -> dict[str, Any]:
    """The request fields of ``--context`` (a JSON object)."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise MlcError(f"--context is not JSON: {err}", code="E7011", hint="""e.g. --context '{"user_id": 7}'""") from None
    if not isinstance(value, dict):
        raise MlcError("--context must be a JSON object of request fields", code="E7011",
                       hint="""e.g. --context '{"user_id": 7}'""")
    return value


def assign(spec: str, context: str, *, at: str | None = None, env: str | None = None,
           diagnostics: Diagnostics = unshown) -> Assignments:
    """The assignments of one request (``context``: its fields as JSON) at ``at`` (default: now)."""
    from mlc.runtime.serving.routing import Routing

    result, config = compiled(spec, env, diagnostics)
    fields = context_fields(context)
    when = _time(at, datetime.now(timezone.utc))
    assigner = Assigner(config)
    assignments = assigner.assign(fields, when)
    routing = Routing.from_ir(result.ir)
    shard = routing.shard_for(fields.get(routing.partition_key)) if routing.partition_key else routing.default
    served = routing.models.get(shard, ())
    routed = assigner.route(assignments, served, fields.get("model") if isinstance(fields.get("model"), str) else None)
    records = [exposure_record(a, ts=when, request_id=None, config_version=config.config_version,
                               routed=a is routed, shard=shard) for a in assignments]
    return Assignments(when, shard, served, records, routed, config.config_version)


# ------------------------------------------------------------------------------- schedule


@dataclass
class Schedule:
    switchback: Any
    rows: list[dict]
    balance: dict


def schedule(spec: str, name: str, *, start: str | None = None, end: str | None = None,
             regions: list[str] | None = None, env: str | None = None,
             diagnostics: Diagnostics = unshown) -> Schedule:
    """A switchback's slices and variants per region from ``start`` to ``end`` (default: its period)."""

    _, config = compiled(spec, env, diagnostics)
    switchback = find(config, name)
    if not isinstance(switchback, SwitchbackConfig):
        raise MlcError(f"`{name}` is a layer experiment, not a switchback", code="E7009",
                       hint="schedules are for switchbacks; `mlc experiment assign` shows a unit's variants")
    first, until = _time(start, switchback.start), _time(end, switchback.end)
    if first is None or until is None:
        raise MlcError(f"switchback `{switchback.name}` has no {'start' if first is None else 'end'}", code="E7004",
                       hint="give the period with --from and --to (ISO-8601)")
    if until <= first:
        raise MlcError(f"--to {iso(until)} is not after --from {iso(first)}", code="E7004")
    regions = regions or None
    if regions is None and not switchback.regions:
        raise MlcError(f"switchback `{switchback.name}` covers every region", code="E7009",
                       hint="name the regions to schedule with --region (repeatable)")
    unknown = [r for r in regions or () if switchback.timezone_of(r) is None]
    if unknown:
        raise MlcError(f"switchback `{switchback.name}` does not cover region `{unknown[0]}`", code="E7009",
                       hint=did_you_mean(unknown[0], switchback.regions, "regions"))
    rows = schedule_rows(switchback, first, until, regions)
    return Schedule(switchback, rows, balance(rows))


# --------------------------------------------------------------------------------- report


def report(spec: str, name: str, *, exposures: str, outcomes: str, metrics: list[str] | None = None,
           aggregate: str = "mean", confidence: float = 0.95, env: str | None = None,
           diagnostics: Diagnostics = unshown) -> Any:
    """The analysis of an experiment or switchback from an exposure log and outcomes."""

    _, config = compiled(spec, env, diagnostics)
    target = find(config, name)
    if not 0 < confidence < 1:
        raise MlcError(f"--confidence {confidence} is not between 0 and 1", code="E7010", hint="e.g. 0.95")
    try:
        exposed = [e for e in read_exposures(exposures) if e.get("experiment") == target.name]
        rows = read_outcomes(outcomes)
        if isinstance(target, SwitchbackConfig):
            return analyse_switchback(config, target, exposed, rows, metrics, confidence)
        return analyse_layer(config, target, exposed, rows, metrics, aggregate, confidence)
    except (AnalysisError, ValueError, OSError) as err:
        raise MlcError(str(err), code="E7010", hint="exposures: the gateway's JSON-lines log; outcomes: CSV or "
                                                    "JSON lines (docs/experiments.md \"Analysis\")") from None
