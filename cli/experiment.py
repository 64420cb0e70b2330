"""`mlc experiment assign|schedule|report` (:mod:`mlc.app.experiment`): the experiments of a
spec, from the command line, and how their answers print."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from mlc.app.experiment import assign, iso, report, schedule
from mlc.cli.common import EXIT_OK, EXIT_USAGE, Parser, shown


def register(commands) -> dict:
    experiment = commands.add_parser("experiment", help="assign, schedule and analyse a spec's experiments")
    actions = experiment.add_subparsers(dest="experiment_command", metavar="ACTION", parser_class=Parser)

    assign = actions.add_parser("assign", help="the assignments of one request (as serving computes them)")
    assign.add_argument("spec", metavar="SPEC")
    assign.add_argument("--context", required=True, metavar="JSON", help="request fields, e.g. '{\"user_id\": 7}'")
    assign.add_argument("--at", metavar="TS", help="request time, ISO-8601 (default: now)")
    assign.add_argument("--env", help="environment overlay to apply")
    assign.add_argument("--format", choices=("text", "json"), default="text")

    schedule = actions.add_parser("schedule", help="a switchback's slices and variants per region")
    schedule.add_argument("spec", metavar="SPEC")
    schedule.add_argument("name", metavar="NAME", help="the switchback")
    schedule.add_argument("--from", dest="from_", metavar="TS", help="first instant, ISO-8601")
    schedule.add_argument("--to", metavar="TS", help="end (exclusive), ISO-8601")
    schedule.add_argument("--region", action="append", metavar="R", help="only this region (repeatable)")
    schedule.add_argument("--format", choices=("text", "json", "csv"), default="text")
    schedule.add_argument("--env", help="environment overlay to apply")

    report_ = actions.add_parser("report", help="analyse an experiment from exposures and outcomes")
    report_.add_argument("spec", metavar="SPEC")
    report_.add_argument("name", metavar="NAME", help="the experiment or switchback")
    report_.add_argument("--exposures", required=True, metavar="FILE", help="exposure log (JSON lines)")
    report_.add_argument("--outcomes", required=True, metavar="FILE", help="outcomes (CSV or JSON lines)")
    report_.add_argument("--metric", action="append", metavar="M", help="metric column (repeatable; default: every numeric column)")
    report_.add_argument("--aggregate", choices=("mean", "sum"), default="mean",
                         help="a unit's value of a metric: the mean of its rows (default) or their sum")
    report_.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    report_.add_argument("--format", choices=("text", "json"), default="text")
    report_.add_argument("--env", help="environment overlay to apply")

    return {"experiment": cmd_experiment}


def cmd_experiment(args: argparse.Namespace) -> int:
    handlers = {"assign": cmd_assign, "schedule": cmd_schedule, "report": cmd_report}
    if args.experiment_command not in handlers:
        sys.stderr.write("usage: mlc experiment {assign,schedule,report} SPEC ...\n")
        return EXIT_USAGE
    return handlers[args.experiment_command](args)


# --------------------------------------------------------------------------------- assign


def cmd_assign(args: argparse.Namespace) -> int:
    found = assign(args.spec, args.context, at=args.at, env=args.env, diagnostics=shown)
    if args.format == "json":
        sys.stdout.write(json.dumps({"at": iso(found.at), "shard": found.shard, "assignments": found.records},
                                    indent=2) + "\n")
        return EXIT_OK
    sys.stdout.write(f"at {iso(found.at)}, shard `{found.shard}` (serves {', '.join(found.served)}); "
                     f"config {found.config_version}\n")
    if not found.records:
        sys.stdout.write("in no experiment: the normal route (the shard's first model)\n")
    for record in found.records:
        sys.stdout.write(_assignment_line(record) + "\n")
    if found.records and found.routed is None:
        sys.stdout.write("no assignment routes this request: the normal route (the shard's first model)\n")
    return EXIT_OK


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


# ------------------------------------------------------------------------------- schedule


def cmd_schedule(args: argparse.Namespace) -> int:
    found = schedule(args.spec, args.name, start=args.from_, end=args.to, regions=args.region, env=args.env,
                     diagnostics=shown)
    sys.stdout.write(_render_schedule(found.rows, args.format, found.switchback, found.balance))
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
    analysis = report(args.spec, args.name, exposures=args.exposures, outcomes=args.outcomes, metrics=args.metric,
                      aggregate=args.aggregate, confidence=args.confidence, env=args.env, diagnostics=shown)
    if args.format == "json":                  # the text report starts with its warnings
        for warning in analysis.warnings:
            sys.stderr.write(f"WARNING: {warning}\n")
        sys.stdout.write(json.dumps(analysis.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(analysis.render_text())
    return EXIT_OK
