"""`mlc models list|show|promote|rollback SPEC ...`: the model registry from the command line.

The spec is built only for the application name (the registry's namespace) and to check the
model and shard names; the registry is ``--registry``, else ``$MLC_REGISTRY``, else
``sqlite:.mlc/<app>/registry.sqlite`` beside the spec. Problems are diagnostics (exit 1), never
tracebacks: E7201 unknown model/shard, E7202 ambiguous shard, E7203 registry unreachable,
E7204 the registry refused (unknown version, nothing to roll back to ...).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mlc.cli.runtime import RuntimeProblem
from mlc.runtime.urls import redact_url

KEY_METRICS = ("auc", "logloss", "mae", "rmse")


def cmd_models(args: Any, report) -> int:
    from mlc.compiler.pipeline import build

    fmt = getattr(args, "format", "text")
    result = build(args.spec, args.env)
    if not result.ok:
        report(result.diagnostics, result.sources, fmt)
        return 1
    report(result.diagnostics, result.sources, "text")    # warnings, on stderr
    handlers = {"list": _list, "show": _show, "promote": _promote, "rollback": _rollback}
    try:
        return handlers[args.models_command](args, result.ir, fmt)
    except RuntimeProblem as problem:
        report([problem.diagnostic], result.sources, fmt)
        return 1


# ------------------------------------------------------------------------- names


def _shards_of(ir: Any, model: str) -> list[str]:
    """The shards serving ``model`` (the implicit `main` when none does, as training does)."""
    found = [s.name for s in ir.deployment.shards if model in s.models]
    return sorted(found) if found else ["main"]


def _check_model(ir: Any, model: str) -> None:
    from mlc.core.suggest import did_you_mean

    names = [m.name for m in ir.models]
    if model not in names:
        raise RuntimeProblem("E7201", f"unknown model `{model}` in spec `{ir.name}`",
                             did_you_mean(model, names, "models"))


def _shard_for(ir: Any, model: str, shard: str | None) -> str:
    from mlc.core.suggest import did_you_mean

    _check_model(ir, model)
    shards = _shards_of(ir, model)
    if shard is None:
        if len(shards) == 1:
            return shards[0]
        raise RuntimeProblem("E7202", f"model `{model}` is served by {len(shards)} shards: pass --shard",
                             "one of " + ", ".join(f"`{s}`" for s in shards))
    if shard not in shards:
        raise RuntimeProblem("E7201", f"model `{model}` has no shard `{shard}`", did_you_mean(shard, shards, "shards"))
    return shard


def _open(args: Any, ir: Any) -> Any:
    from mlc.runtime.model_registry import default_registry_url, open_registry

    url = args.registry or default_registry_url(args.spec)
    return _call(lambda: open_registry(url, ir.name))


def _call(action):
    from mlc.runtime.model_registry import RegistryError, RegistryUnavailable

    try:
        return action()
    except RegistryUnavailable as err:
        raise RuntimeProblem("E7203", err.message, err.hint or "check --registry or MLC_REGISTRY") from None
    except RegistryError as err:
        raise RuntimeProblem("E7204", err.message, err.hint) from None


# ------------------------------------------------------------------------- commands


def _list(args: Any, ir: Any, fmt: str) -> int:
    from mlc.core.suggest import did_you_mean

    if args.model is not None:
        _check_model(ir, args.model)
    if args.shard is not None:
        shards = sorted({s for m in ir.models for s in _shards_of(ir, m.name)})
        if args.shard not in shards:
            raise RuntimeProblem("E7201", f"unknown shard `{args.shard}` in spec `{ir.name}`",
                                 did_you_mean(args.shard, shards, "shards"))
    registry = _open(args, ir)
    try:
        versions = _call(lambda: registry.versions(args.model, args.shard))
        aliases = {}
        for series in sorted({(v.model, v.shard) for v in versions}):
            aliases[series] = _call(lambda: registry.aliases(*series))
        url = registry.url
    finally:
        registry.close()
    marked = [(v, sorted(a for a, n in aliases[(v.model, v.shard)].items() if n == v.version)) for v in versions]
    if fmt == "json":
        doc = {"app": ir.name, "registry": redact_url(url),
               "versions": [{**v.to_json(), "aliases": names} for v, names in marked]}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return 0
    if not versions:
        sys.stdout.write(f"no versions registered for `{ir.name}` in {redact_url(url)}\n")
        return 0
    header = ("MODEL", "SHARD", "VERSION", "KIND", "PARENT", "DATA", "METRICS", "ALIASES", "REGISTERED")
    rows = [(v.model, v.shard, str(v.version), v.kind, _dash(v.parent), _range(v), _metrics(v.metrics),
             ",".join(names) or "-", v.registered_at) for v, names in marked]
    sys.stdout.write(_table(header, rows))
    return 0


def _show(args: Any, ir: Any, fmt: str) -> int:
    shard = _shard_for(ir, args.model, args.shard)
    registry = _open(args, ir)
    try:
        record = _call(lambda: registry.get(args.model, shard, args.version))
        aliases = _call(lambda: registry.aliases(args.model, shard))
        history = _call(lambda: registry.history(args.model, shard))
        url = registry.url
    finally:
        registry.close()
    if fmt == "json":
        doc = {"app": ir.name, "registry": redact_url(url), "version": record.to_json(), "aliases": aliases,
               "history": [e.to_json() for e in history]}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return 0
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
    return 0


def _promote(args: Any, ir: Any, fmt: str) -> int:
    shard = _shard_for(ir, args.model, args.shard)
    registry = _open(args, ir)
    try:
        before = _call(lambda: registry.resolve(args.model, shard, args.alias))
        event = _call(lambda: registry.promote(args.model, shard, args.version, args.alias, args.reason))
    finally:
        registry.close()
    if before == event.version:
        sys.stdout.write(f"{event.alias}: {args.model}@{shard} already at {event.version}\n")
    else:
        sys.stdout.write(_event_line(event) + "\n")
    return 0


def _rollback(args: Any, ir: Any, fmt: str) -> int:
    shard = _shard_for(ir, args.model, args.shard)
    registry = _open(args, ir)
    try:
        event = _call(lambda: registry.rollback(args.model, shard, args.alias, args.reason))
    finally:
        registry.close()
    sys.stdout.write(_event_line(event) + " (rollback)\n")
    return 0


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
