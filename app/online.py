"""The online store: `materialize` (feature-group snapshots loaded by Spark) and `features get`
(a feature group's values for entity keys, read as serving reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlc.app.common import (
    built, classified, default_store_url, Diagnostics, parse_time, Progress, quiet, require_spark, spark_session,
    spec_dir, unshown,
)
from mlc.core.errors import MlcError
from mlc.core.suggest import did_you_mean
from mlc.runtime.features.feature_groups import event_micros
from mlc.runtime.features.materialize import materialize as load
from mlc.runtime.features.sources import read_source
from mlc.runtime.urls import redact_url


def latest_event(spark: Any, ir: Any, spec_path: str) -> Any:
    """Default as-of time: just after the latest event of any feature-group source."""

    folder = spec_dir(spec_path)
    latest = 0
    for source in {s.name: s for s in ir.sources if s.name in {g.source for g in ir.feature_groups}}.values():
        df = read_source(spark, source, folder)
        value = df.select(event_micros(df, source.event_time).alias("t")).agg({"t": "max"}).collect()[0][0]
        latest = max(latest, value or 0)
    return latest // 1_000_000 + 1


def materialize(spec: str, *, store: str | None = None, as_of: str | None = None, incremental: bool = False,
                namespace: str | None = None, env: str | None = None, catalog_dir: str | None = None,
                progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> dict:
    """Load the feature-group snapshots as of ``as_of`` (default: just after the latest event) into
    the online store; entities per group."""

    result = built(spec, env, diagnostics)
    try:
        require_spark()
        spark = spark_session("mlc-materialize", result.ir, catalog_dir)
        when = parse_time(as_of) if as_of else latest_event(spark, result.ir, spec)
        store = store or default_store_url(spec)
        counts = load(spark, result.ir, spec_dir(spec), store, namespace or result.ir.name, when,
                      incremental=incremental)
    except Exception as exc:
        raise classified(exc) from None
    for group, count in counts.items():
        progress(f"materialized {group}: {count} entities")
    progress(f"store: {redact_url(store)}")
    return counts


@dataclass
class Features:
    """What `features get` read: the group (IR), the keys as given, the store's answer."""
    group: Any
    keys: list[str]
    fetched: Any


def features_get(spec: str, group: str, keys: list[str], *, store: str | None = None, namespace: str | None = None,
                 timeout: float = 1.0, env: str | None = None, diagnostics: Diagnostics = unshown) -> Features:
    """A feature group's values for entity keys (`a,b` for multi-column keys), read from the
    online store as serving reads them."""
    from mlc.runtime.online_store import get_features, open_store

    result = built(spec, env, diagnostics)
    groups = {g.name: g for g in result.ir.feature_groups}
    if group not in groups:
        raise MlcError(f"unknown feature group `{group}`", code="E5002",
                       hint=did_you_mean(group, groups, "feature groups"))
    found = groups[group]
    try:
        parsed = [parse_key(text, found) for text in keys]
        opened = open_store(store or default_store_url(spec), timeout=timeout, create=False)
    except Exception as exc:
        raise classified(exc) from None
    rows = {k.name: [key[i] for key in parsed] for i, k in enumerate(found.keys)}
    fetched = get_features(opened, result.ir, [found.name], rows, namespace or result.ir.name)
    opened.close()
    return Features(found, list(keys), fetched)


def parse_key(text: str, group: Any) -> list[Any]:
    """`KEY` or `PART,PART` for multi-column entity keys, typed by the key columns."""
    parts = text.split(",") if len(group.keys) > 1 else [text]
    if len(parts) != len(group.keys):
        names = ",".join(k.name for k in group.keys)
        raise MlcError(f"`{text}` does not match the entity key ({names})", code="E7006", hint=f"write {names}")
    values = []
    for part, column in zip(parts, group.keys):
        if column.dtype == "int64":
            try:
                values.append(int(part))
            except ValueError:
                raise MlcError(f"entity key `{column.name}` is int64, got `{part}`", code="E7006") from None
        else:
            values.append(part)
    return values


