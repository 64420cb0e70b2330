"""`mlc models list|show|promote|rollback SPEC ...` (:mod:`mlc.app.models`): the model registry
from the command line, and how its answers print. Problems are diagnostics in the command's
``--format`` (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mlc.app.models import list_versions, promote, rollback, show
from mlc.cli.common import add_registry, EXIT_OK, EXIT_USAGE, Parser, positive, shown
from mlc.runtime.urls import redact_url

KEY_METRICS = ("auc", "logloss", "mae", "rmse")


def register(commands) -> dict:
    models = commands.add_parser("models", help="the model registry: versions, aliases, promote, rollback")
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=Parser)
    listing = actions.add_parser("list", help="every registered version (aliases marked)")
    listing.add_argument("spec", metavar="SPEC")
    listing.add_argument("--model", metavar="M")
    listing.add_argument("--shard", metavar="S")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_registry(listing)
    show = actions.add_parser("show", help="one version: metadata, aliases, alias history")
    show.add_argument("spec", metavar="SPEC")
    show.add_argument("model", metavar="MODEL")
    show.add_argument("version", type=positive, metavar="VERSION")
    show.add_argument("--shard", metavar="S")
    show.add_argument("--format", choices=("text", "json"), default="text")
    add_registry(show)
    promote = actions.add_parser("promote", help="point an alias at a version (atomic, recorded in the history)")
    promote.add_argument("spec", metavar="SPEC")
    promote.add_argument("model", metavar="MODEL")
    promote.add_argument("version", type=positive, metavar="VERSION")
    promote.add_argument("--shard", metavar="S")
    promote.add_argument("--alias", default="production", help="alias to move (default: production)")
    promote.add_argument("--reason", default="", help="why, kept in the alias history")
    add_registry(promote)
    rollback = actions.add_parser("rollback", help="point an alias back at the version it held before")
    rollback.add_argument("spec", metavar="SPEC")
    rollback.add_argument("model", metavar="MODEL")
    rollback.add_argument("--shard", metavar="S")
    rollback.add_argument("--alias", default="production", help="alias to move back (default: production)")
    rollback.add_argument("--reason", default="", help="why, kept in the alias history")
    add_registry(rollback)

    return {"models": cmd_models}


def cmd_models(args: argparse.Namespace) -> int:
    if args.models_command is None:
        sys.stderr.write("usage: mlc models {list,show,promote,rollback} SPEC ...\n")
        return EXIT_USAGE
    args.diagnostics_format = getattr(args, "format", "text")    # problems print as the answer would
    handlers = {"list": _list, "show": _show, "promote": _promote, "rollback": _rollback}
    return handlers[args.models_command](args)


def _list(args: argparse.Namespace) -> int:
    listing = list_versions(args.spec, model=args.model, shard=args.shard, registry=args.registry, env=args.env,
                            diagnostics=shown)
    if args.format == "json":
        doc = {"app": listing.app, "registry": redact_url(listing.url),
               "versions": [{**v.to_json(), "aliases": names} for v, names in listing.versions]}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    if not listing.versions:
        sys.stdout.write(f"no versions registered for `{listing.app}` in {redact_url(listing.url)}\n")
        return EXIT_OK
    header = ("MODEL", "SHARD", "VERSION", "KIND", "PARENT", "DATA", "METRICS", "ALIASES", "REGISTERED")
    rows = [(v.model, v.shard, str(v.version), v.kind, _dash(v.parent), _range(v), _metrics(v.metrics),
             ",".join(names) or "-", v.registered_at) for v, names in listing.versions]
    sys.stdout.write(_table(header, rows))
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    found = show(args.spec, args.model, args.version, shard=args.shard, registry=args.registry, env=args.env,
                 diagnostics=shown)
    record, aliases, history = found.record, found.aliases, found.history
    if args.format == "json":
        doc = {"app": found.app, "registry": redact_url(found.url), "version": record.to_json(), "aliases": aliases,
               "history": [e.to_json() for e in history]}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    here = sorted(a for a, n in aliases.items() if n == record.version)
    lines = [f"{record.model}@{record.shard} version {record.version}"]
    fields = [("artifact", record.artifact),
              ("kind", record.kind + (f" (parent {record.parent})" if record.parent is not None else "")),
              ("data", _range(record)),
              ("metrics", json.dumps(record.metrics, sort_keys=True) if record.metrics else "-"),
              ("aliases", ",".join(here) or "-"),
              ("spec_sha256", _dash(record.spec_sha256)), ("mldl_sha256", _dash(record.mldl_sha256)),
              ("content_sha256", record.content_sha256), ("registered_at", record.registered_at)]
    lines += [f"  {name:<15}{value}" for name, value in fields]
    lines.append(f"aliases of {record.model}@{record.shard}: "
                 + (", ".join(f"{a}={n}" for a, n in aliases.items()) or "none"))
    lines.append(f"alias history of {record.model}@{record.shard}:" + ("" if history else " none"))
    lines += [f"  {e.at}  {e.alias}: {_dash(e.previous)} -> {e.version}" + (f"  ({e.reason})" if e.reason else "")
              for e in history]
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _promote(args: argparse.Namespace) -> int:
    moved = promote(args.spec, args.model, args.version, shard=args.shard, alias=args.alias, reason=args.reason,
                    registry=args.registry, env=args.env, diagnostics=shown)
    event = moved.event
    if moved.before == event.version:
        sys.stdout.write(f"{event.alias}: {args.model}@{moved.shard} already at {event.version}\n")
    else:
        sys.stdout.write(_event_line(event) + "\n")
    return EXIT_OK


def _rollback(args: argparse.Namespace) -> int:
    moved = rollback(args.spec, args.model, shard=args.shard, alias=args.alias, reason=args.reason,
                     registry=args.registry, env=args.env, diagnostics=shown)
    sys.stdout.write(_event_line(moved.event) + " (rollback)\n")
    return EXIT_OK


# ------------------------------------------------------------------------- formatting


def _event_line(event: Any) -> str:
    return f"{event.alias}: {event.model}@{event.shard} {_dash(event.previous)} -> {event.version}"


def _dash(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _range(v: Any) -> str:
    if v.data_from is None and v.data_to is None:
        return "-"
    return f"{_dash(v.data_from)}..{_dash(v.data_to)}"


def _metrics(metrics: dict) -> str:
    """The key validation metrics (auc/logloss or mae/rmse) of the exported epoch (the best one with
    early stopping), else of the final epoch (versions exported before `metrics.exported`)."""
    exported = metrics.get("exported") if isinstance(metrics.get("exported"), dict) else {}
    final = exported.get("validation") if isinstance(exported.get("validation"), dict) else \
        metrics.get("final") if isinstance(metrics.get("final"), dict) else metrics
    shown = [(k, final[k]) for k in KEY_METRICS if isinstance(final.get(k), (int, float))]
    if not shown:
        shown = [(k, v) for k, v in sorted(final.items())
                 if k != "rows" and isinstance(v, (int, float)) and not isinstance(v, bool)][:2]
    return " ".join(f"{k}={v:.4g}" for k, v in shown) or "-"


def _table(header: tuple, rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() + "\n" for r in [header, *rows])
