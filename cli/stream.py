"""`mlc stream` (the streaming job, :mod:`mlc.app.stream`), `mlc events push`, and how a
streaming job's report prints (here and in `mlc status`)."""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import datetime, timezone
from typing import Any, Mapping

from mlc.app.stream import push_events, stream, StreamOptions
from mlc.cli.common import EXIT_OK, EXIT_USAGE, Parser, progress, shown
from mlc.runtime.streaming.status import BAD_REASONS


def register(commands) -> dict:
    run = commands.add_parser("stream", help="run the streaming job: real-time feature groups from the spec's "
                                             "stream sources into the online store (until Ctrl-C, or --once)")
    run.add_argument("spec", metavar="SPEC")
    run.add_argument("--store", metavar="URL", help="online store (default: sqlite .mlc/<name>/online.sqlite beside the spec)")
    run.add_argument("--source", action="append", metavar="NAME",
                     help="only this stream source (repeatable; default: every source with `stream:`)")
    run.add_argument("--once", action="store_true",
                     help="process the events the stream holds now, then stop (Spark's availableNow trigger)")
    run.add_argument("--state-dir", metavar="DIR",
                     help="checkpoints, progress and status.json (default: .mlc/<name>/stream beside the spec)")
    run.add_argument("--env", help="environment overlay to apply")

    events = commands.add_parser("events", help="append events to a `files` stream (for demos and tests)")
    actions = events.add_subparsers(dest="events_command", metavar="ACTION", parser_class=Parser)
    push = actions.add_parser("push", help="append JSON lines as one new file in the source's stream folder")
    push.add_argument("spec", metavar="SPEC")
    push.add_argument("source", metavar="SOURCE", help="a source with `stream: {kind: files, ...}`")
    push.add_argument("file", metavar="FILE", help="JSON lines, one event each; `-` reads stdin")
    push.add_argument("--env", help="environment overlay to apply")
    return {"stream": cmd_stream, "events": cmd_events}


def cmd_stream(args: argparse.Namespace) -> int:
    final = stream(StreamOptions(args.spec, env=args.env, store=args.store, sources=args.source or [],
                                 once=args.once, state_dir=args.state_dir),
                   progress=progress, diagnostics=shown, stop=threading.Event())
    lines = stream_lines(final.get("sources") or {}, final.get("groups") or {})
    if lines:
        sys.stdout.write("\n".join(["stream:"] + lines) + "\n")
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    if args.events_command != "push":
        sys.stderr.write("usage: mlc events push SPEC SOURCE FILE|-\n")
        return EXIT_USAGE
    pushed = push_events(args.spec, args.source, args.file, env=args.env, diagnostics=shown)
    if pushed.path is None:
        sys.stderr.write(f"warning: no events in {'stdin' if args.file == '-' else args.file}: nothing written\n")
        return EXIT_OK
    if pushed.not_objects:
        sys.stderr.write(f"warning: {pushed.not_objects} of {pushed.lines} line(s) are not JSON objects; "
                         f"the streaming job will count them as bad (not_json)\n")
    sys.stdout.write(f"pushed {pushed.lines} event(s) to {pushed.path}\n")
    return EXIT_OK


# ------------------------------------------------------------------------------ rendering


def render_stream(found: Mapping[str, Any]) -> str:
    """The `stream` part of `mlc status` (:func:`mlc.app.stream.stream_status`)."""
    job = found.get("job")
    if job:
        state = "running" if job.get("running") else "not running"
        head = f"stream job: pid {job.get('pid')} ({state}), log {job.get('log')}"
    else:
        head = "stream job: none started by `mlc run` (`mlc stream SPEC` runs one in the foreground)"
    lines = [head, f"  state {found.get('state_dir')}"]
    if not found.get("reported"):
        lines.append("  no status yet: the job writes status.json once its queries start")
    lines += stream_lines(found.get("sources") or {}, found.get("groups") or {})
    return "\n".join(lines) + "\n"


def stream_lines(sources: Mapping[str, Any], groups: Mapping[str, Any]) -> list[str]:
    """One line per stream source (counts, watermark) and per real-time group (freshness)."""
    lines = []
    for name, entry in sorted(sources.items()):
        bad = entry.get("bad") or {}
        total = sum(v for v in bad.values() if isinstance(v, (int, float)))
        reasons = ", ".join(f"{reason} {bad[reason]}" for reason in (*BAD_REASONS, *sorted(set(bad) - set(BAD_REASONS)))
                            if bad.get(reason))
        lines.append(f"  source {name}: {_count(entry.get('events'))} events, {_count(entry.get('applied'))} applied, "
                     f"{_count(entry.get('late'))} late, {_count(total)} bad" + (f" ({reasons})" if reasons else "")
                     + f", {_count(entry.get('quarantined'))} quarantined; watermark {_when(entry.get('watermark_us'))}")
    for name, entry in sorted(groups.items()):
        lines.append(f"  group {name}: {_count(entry.get('records'))} records, last event "
                     f"{_when(entry.get('last_event_us'))}, freshness p50 {_seconds(entry.get('freshness_p50_s'))}, "
                     f"p99 {_seconds(entry.get('freshness_p99_s'))}")
    return lines


def _count(value: Any) -> str:
    return str(int(value)) if isinstance(value, (int, float)) else "-"


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, (int, float)) else "-"


def _when(micros: Any) -> str:
    """Unix microseconds as UTC ISO-8601 (``-`` when unknown)."""
    if not isinstance(micros, (int, float)) or isinstance(micros, bool):
        return "-"
    try:
        moment = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(micros)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
