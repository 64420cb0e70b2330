"""`mlc experiment assign|schedule|report`: the experiments of a spec, from the command line.

Each command compiles the spec in memory and reads the same ``experiments/config.json`` the
build carries (``mlc.backends.experiments``), so what it prints is what serving does.
Problems are diagnostics (exit 1): E7004 a bad time, E7009 an unknown experiment,
E7010 exposures or outcomes that cannot be read or analysed, E7011 a bad ``--context``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import datetime, timezone
from typing import Any

from mlc.cli.runtime import RuntimeProblem, _parse_time

EXIT_OK, EXIT_ERRORS = 0, 1


def _report():
    from mlc.cli.main import report

    return report


def _compiled(args: argparse.Namespace) -> tuple[Any, Any]:
    """(build result, ExperimentsConfig) of the spec; (result, None) when it does not compile."""
    from mlc.backends.experiments.emit import emit
    from mlc.compiler.pipeline import build
    from mlc.runtime.experiments.config import ExperimentsConfig

    result = build(args.spec, args.env)
    _report()(result.diagnostics, result.sources, "text")
    if not result.ok:
        return result, None
    (text,) = emit(result.ir).values()
    return result, ExperimentsConfig.from_json(json.loads(text))


def _run(args: argparse.Namespace, body) -> int:
    result, config = _compiled(args)
    if config is None:
        return EXIT_ERRORS
    try:
        return body(result, config)
    except RuntimeProblem as problem:
        _report()([problem.diagnostic], result.sources, "text")
        return EXIT_ERRORS


def _find(config: Any, name: str) -> Any:
    from mlc.runtime.experiments.config import ConfigError

    try:
        return config.find(name)
    except ConfigError as err:
        raise RuntimeProblem("E7009", str(err).split("; ")[0], _hint(err)) from None


def _hint(err: Exception) -> str | None:
    parts = str(err).split("; ", 1)
    return parts[1] if len(parts) > 1 else None


def _time(text: str | None, default: datetime | None) -> datetime | None:
    return _parse_time(text) if text is not None else default


# --------------------------------------------------------------------------------- assign


def cmd_assign(args: argparse.Namespace) -> int:
    return _run(args, lambda result, config: _assign(args, result.ir, config))


def _assign(args: argparse.Namespace, ir: Any, config: Any) -> int:
    from mlc.runtime.experiments.assigner import Assigner
    from mlc.runtime.experiments.exposures import exposure_record
    from mlc.runtime.serving.predictor import Routing

    fields = _context(args.context)
    at = _time(args.at, datetime.now(timezone.utc))
    assigner = Assigner(config)
    assignments = assigner.assign(fields, at)
    routing = Routing.from_ir(ir)
    shard = routing.shard_for(fields.get(routing.partition_key)) if routing.partition_key else routing.default
    served = routing.models.get(shard, ())
    routed = assigner.route(assignments, served, fields.get("model") if isinstance(fields.get("model"), str) else None)
    records = [exposure_record(a, ts=at, request_id=None, config_version=config.config_version,
                               routed=a is routed, shard=shard) for a in assignments]
    if args.format == "json":
        sys.stdout.write(json.dumps({"at": _iso(at), "shard": shard, "assignments": records}, indent=2) + "\n")
        return EXIT_OK
    sys.stdout.write(f"at {_iso(at)}, shard `{shard}` (serves {', '.join(served)}); config {config.config_version}\n")
    if not records:
        sys.stdout.write("in no experiment: the normal route (the shard's first model)\n")
    for record in records:
        sys.stdout.write(_assignment_line(record) + "\n")
    if records and routed is None:
        sys.stdout.write("no assignment routes this request: the normal route (the shard's first model)\n")
    return EXIT_OK


def _context(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise RuntimeProblem("E7011", f"--context is not JSON: {err}", """e.g. --context '{"user_id": 7}'""") from None
    if not isinstance(value, dict):
        raise RuntimeProblem("E7011", "--context must be a JSON object of request fields", """e.g. --context '{"user_id": 7}'""")
    return value


def _assignment_line(record: dict[str, Any]) -> str:
    target = record["model"] or "(no model)"
    if record["version"] is not None:
        target += f" v{record['version']}"
    elif record["alias"] is not None:
        target += f" @{record['alias']}"
    where = (f"layer `{record['layer']}`, bucket {record['bucket']}" if record["kind"] == "layer"
             else f"region `{record['region']}`, slice {record['slice_index']} from {record['slice_start']}"
             + (", burn-in" if record["burn_in"] else ""))
    routed = "  <- routes" if record["routed"] else ""
    return (f"{record['kind']:<10} {record['experiment']}: variant `{record['variant']}` -> {target}  "
            f"({record['unit']}={record['unit_id']}; {where}){routed}")


def _iso(at: datetime) -> str:
    from mlc.runtime.experiments.exposures import utc_text

    return utc_text(at, milliseconds=False)


# ------------------------------------------------------------------------------- schedule


def cmd_schedule(args: argparse.Namespace) -> int:
    return _run(args, lambda result, config: _schedule(args, config))


def _schedule(args: argparse.Namespace, config: Any) -> int:
    from mlc.runtime.experiments.config import SwitchbackConfig
    from mlc.runtime.experiments.switchback import balance, schedule_rows

    switchback = _find(config, args.name)
    if not isinstance(switchback, SwitchbackConfig):
        raise RuntimeProblem("E7009", f"`{args.name}` is a layer experiment, not a switchback",
                             "schedules are for switchbacks; `mlc experiment assign` shows a unit's variants")
    start, end = _time(args.from_, switchback.start), _time(args.to, switchback.end)
    if start is None or end is None:
        raise RuntimeProblem("E7004", f"switchback `{switchback.name}` has no {'start' if start is None else 'end'}",
                             "give the period with --from and --to (ISO-8601)")
    if end <= start:
        raise RuntimeProblem("E7004", f"--to {_iso(end)} is not after --from {_iso(start)}")
    regions = args.region or None
    if regions is None and not switchback.regions:
        raise RuntimeProblem("E7009", f"switchback `{switchback.name}` covers every region",
                             "name the regions to schedule with --region (repeatable)")
    unknown = [r for r in regions or () if switchback.timezone_of(r) is None]
    if unknown:
        from mlc.core.suggest import did_you_mean

        raise RuntimeProblem("E7009", f"switchback `{switchback.name}` does not cover region `{unknown[0]}`",
                             did_you_mean(unknown[0], switchback.regions, "regions"))
    rows = schedule_rows(switchback, start, end, regions)
    sys.stdout.write(_render_schedule(rows, args.format, switchback, balance(rows)))
    return EXIT_OK


def _render_schedule(rows: list[dict], fmt: str, switchback: Any, counts: dict) -> str:
    if fmt == "json":
        return json.dumps({"switchback": switchback.name, "slices": rows, "balance": counts}, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["region"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    lines = [f"switchback `{switchback.name}`: {switchback.slice_seconds // 60}-minute slices, "
             f"burn-in {switchback.burn_in_seconds // 60} min, seed {switchback.seed}", ""]
    header = f"{'region':<14} {'slice':>5}  {'local start':<25} {'UTC start':<20} variant -> model"
    lines += [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['region']:<14} {row['slice_index']:>5}  {row['local_start']:<25} {row['start']:<20} "
                     f"{row['variant']} -> {row['model']}")
    lines += ["", "slices per variant:"]
    for region, per_variant in counts.items():
        lines.append(f"  {region}: " + ", ".join(f"{name} {n}" for name, n in per_variant.items()))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    return _run(args, lambda result, config: _analyse(args, config))


def _analyse(args: argparse.Namespace, config: Any) -> int:
    from mlc.runtime.experiments.analysis import AnalysisError, analyse_layer, analyse_switchback, read_outcomes
    from mlc.runtime.experiments.config import SwitchbackConfig
    from mlc.runtime.experiments.exposures import read_exposures

    target = _find(config, args.name)
    if not 0 < args.confidence < 1:
        raise RuntimeProblem("E7010", f"--confidence {args.confidence} is not between 0 and 1", "e.g. 0.95")
    try:
        exposures = [e for e in read_exposures(args.exposures) if e.get("experiment") == target.name]
        outcomes = read_outcomes(args.outcomes)
        if isinstance(target, SwitchbackConfig):
            report = analyse_switchback(config, target, exposures, outcomes, args.metric, args.confidence)
        else:
            report = analyse_layer(config, target, exposures, outcomes, args.metric, args.aggregate, args.confidence)
    except (AnalysisError, ValueError, OSError) as err:
        raise RuntimeProblem("E7010", str(err), "exposures: the gateway's JSON-lines log; outcomes: CSV or "
                                                "JSON lines (docs/experiments.md \"Analysis\")") from None
    if args.format == "json":                  # the text report starts with its warnings
        for warning in report.warnings:
            sys.stderr.write(f"WARNING: {warning}\n")
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(report.render_text())
    return EXIT_OK
